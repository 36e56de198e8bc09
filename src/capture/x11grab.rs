//! X11 screen grabbing on one persistent connection (Linux).
//!
//! ```text
//!  X server ──MIT-SHM GetImage (ZPixmap, all planes)──▶ shared segment (memfd, mapped once)
//!                                                        └─▶ Picture: BGRX rows, borrowed
//!           ──GetImage (no MIT-SHM, or not local)─────▶ the reply's own buffer
//! ```
//! One connection for the grabber's life, not one per grab. With MIT-SHM (1.2: the segment is
//! a memfd passed over the Unix socket) the server writes each picture straight into a segment
//! mapped once, reused frame after frame, so a grab allocates nothing and the caller converts
//! from the segment itself. A server without MIT-SHM, or one reached over TCP (no fd passing),
//! gets plain GetImage on the same connection. A monitor's size change (RandR event, or a grab
//! that no longer fits) re-reads the geometry and, when it grew, re-creates the segment.
//!
//! Monitors are RandR 1.5 monitors in the server's order (the whole root window when the
//! server has no RandR); a window is grabbed from its own drawable, clipped to the screen.

use std::os::fd::OwnedFd;

use x11rb::connection::{Connection, RequestConnection};
use x11rb::errors::{ConnectError, ConnectionError, ReplyError, ReplyOrIdError};
use x11rb::protocol::Event;
use x11rb::protocol::randr::{self, ConnectionExt as _};
use x11rb::protocol::shm::{self, ConnectionExt as _};
use x11rb::protocol::xproto::{
    self, ChangeWindowAttributesAux, ConnectionExt as _, EventMask, ImageFormat, ImageOrder,
    MapState, VisualClass,
};
use x11rb::rust_connection::RustConnection;
use x11rb::x11_utils::X11Error;

use super::convert::Rgba32;

/// Why a grab (or opening the grabber) failed.
#[derive(Debug, thiserror::Error)]
pub enum GrabError {
    #[error("cannot connect to the X server: {0}")]
    Connect(#[from] ConnectError),
    #[error("X11: {0}")]
    X11(#[from] ReplyOrIdError),
    #[error("no monitor {index} on this X server (it has {count})")]
    NoSuchMonitor { index: usize, count: usize },
    #[error("window {id} is not on screen (unmapped, minimised or moved off the screen)")]
    NotVisible { id: u32 },
    #[error("unsupported pixel format: {detail}")]
    Unsupported { detail: String },
    #[error("cannot set up the shared memory segment for MIT-SHM: {0}")]
    Segment(#[source] std::io::Error),
}

impl From<ReplyError> for GrabError {
    fn from(e: ReplyError) -> Self {
        Self::X11(e.into())
    }
}

impl From<ConnectionError> for GrabError {
    fn from(e: ConnectionError) -> Self {
        Self::X11(e.into())
    }
}

impl From<X11Error> for GrabError {
    fn from(e: X11Error) -> Self {
        Self::X11(e.into())
    }
}

impl GrabError {
    /// An X error of kind `Match`: the requested area does not fit the drawable (any more).
    fn is_match(&self) -> bool {
        matches!(self, Self::X11(ReplyOrIdError::X11Error(e))
            if e.error_kind == x11rb::protocol::ErrorKind::Match)
    }
}

/// What to grab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A monitor by its index in [`monitors`].
    Monitor(usize),
    /// A top-level window by its X id.
    Window(u32),
}

/// How pictures travel from the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// MIT-SHM when the server offers it (1.2, local), else GetImage.
    Auto,
    /// Plain GetImage (the fallback), even when MIT-SHM is there.
    GetImage,
}

/// A monitor as RandR describes it, in root-window pixels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Monitor {
    pub name: String,
    pub x: i16,
    pub y: i16,
    pub width: u16,
    pub height: u16,
    pub primary: bool,
}

/// One grabbed picture: `height` rows of `stride` bytes, 4 bytes per pixel in `order`.
#[derive(Debug)]
pub struct Picture<'a> {
    pub data: &'a [u8],
    pub stride: usize,
    pub width: u32,
    pub height: u32,
    pub order: Rgba32,
}

/// The area of a drawable to grab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Area {
    drawable: xproto::Drawable,
    x: i16,
    y: i16,
    width: u16,
    height: u16,
}

enum Transport {
    Shm(Segment),
    GetImage(Vec<u8>),
}

/// A persistent X connection grabbing one monitor or window.
pub struct Grabber {
    conn: RustConnection,
    root: xproto::Window,
    target: Target,
    area: Area,
    /// Bytes per row for the drawable's depth (bits per pixel and scanline pad).
    bits_per_pixel: u8,
    scanline_pad: u8,
    order: Rgba32,
    transport: Transport,
    /// An event said the geometry may have changed: re-read it before the next grab.
    stale: bool,
}

/// Connects to `display` (`None`: `$DISPLAY`).
fn connect(display: Option<&str>) -> Result<(RustConnection, xproto::Window), GrabError> {
    let (conn, screen) = x11rb::connect(display)?;
    let root = conn
        .setup()
        .roots
        .get(screen)
        .map(|s| s.root)
        .ok_or_else(|| GrabError::Unsupported {
            detail: format!("the X server has no screen {screen}"),
        })?;
    Ok((conn, root))
}

/// Whether the server offers RandR 1.5 (monitors); announces our version to it.
fn has_randr_monitors(conn: &RustConnection) -> Result<bool, GrabError> {
    if conn
        .extension_information(randr::X11_EXTENSION_NAME)?
        .is_none()
    {
        return Ok(false);
    }
    let v = conn.randr_query_version(1, 5)?.reply()?;
    Ok((v.major_version, v.minor_version) >= (1, 5))
}

fn list_monitors(conn: &RustConnection, root: xproto::Window) -> Result<Vec<Monitor>, GrabError> {
    if has_randr_monitors(conn)? {
        let reply = conn.randr_get_monitors(root, true)?.reply()?;
        if !reply.monitors.is_empty() {
            let mut out = Vec::with_capacity(reply.monitors.len());
            for m in reply.monitors {
                let name = conn.get_atom_name(m.name)?.reply()?.name;
                out.push(Monitor {
                    name: String::from_utf8_lossy(&name).into_owned(),
                    x: m.x,
                    y: m.y,
                    width: m.width,
                    height: m.height,
                    primary: m.primary,
                });
            }
            return Ok(out);
        }
    }
    // No RandR (or no monitor in it): the whole root window is the one monitor.
    let g = conn.get_geometry(root)?.reply()?;
    Ok(vec![Monitor {
        name: "default".into(),
        x: 0,
        y: 0,
        width: g.width,
        height: g.height,
        primary: true,
    }])
}

/// The monitors of `display` (`None`: `$DISPLAY`), in the order `screen:N` counts them.
pub fn monitors(display: Option<&str>) -> Result<Vec<Monitor>, GrabError> {
    let (conn, root) = connect(display)?;
    list_monitors(&conn, root)
}

/// Whether the connection is a Unix socket (file descriptors can be passed over it).
fn is_local(conn: &RustConnection) -> bool {
    socket2::SockRef::from(conn.stream())
        .local_addr()
        .is_ok_and(|a| a.is_unix())
}

/// Whether the server offers MIT-SHM with fd passing (1.2).
fn shm_usable(conn: &RustConnection) -> Result<bool, GrabError> {
    if !is_local(conn)
        || conn
            .extension_information(shm::X11_EXTENSION_NAME)?
            .is_none()
    {
        return Ok(false);
    }
    let v = conn.shm_query_version()?.reply()?;
    Ok((v.major_version, v.minor_version) >= (1, 2))
}

/// The byte position of an 8-bit channel `mask` in a 32-bit pixel stored in `order`.
fn byte_of(mask: u32, order: ImageOrder) -> Option<u32> {
    let shift = mask.trailing_zeros();
    if mask != 0xff << (shift & 31) || !shift.is_multiple_of(8) {
        return None;
    }
    let lsb = shift / 8;
    Some(if order == ImageOrder::LSB_FIRST {
        lsb
    } else {
        3 - lsb
    })
}

/// How pixels of `visual` lie in memory: B,G,R,X (the usual little-endian TrueColor) or
/// R,G,B,X; anything else (8/16-bit depths, odd masks) is unsupported.
fn pixel_layout(
    conn: &RustConnection,
    visual: xproto::Visualid,
) -> Result<(u8, u8, u8, Rgba32), GrabError> {
    let setup = conn.setup();
    let found = setup
        .roots
        .iter()
        .flat_map(|s| &s.allowed_depths)
        .find_map(|d| {
            d.visuals
                .iter()
                .find(|v| v.visual_id == visual)
                .map(|v| (d.depth, v))
        });
    let Some((depth, v)) = found else {
        return Err(GrabError::Unsupported {
            detail: format!("visual {visual:#x} is not in the server's list"),
        });
    };
    let format = setup.pixmap_formats.iter().find(|f| f.depth == depth);
    let bpp = format.map_or(0, |f| f.bits_per_pixel);
    let pad = format.map_or(0, |f| f.scanline_pad);
    let unsupported = || GrabError::Unsupported {
        detail: format!(
            "depth {depth}, {bpp} bits per pixel, masks R {:#x} G {:#x} B {:#x}, class {:?} \
             (only 24/32-bit TrueColor is grabbed directly)",
            v.red_mask, v.green_mask, v.blue_mask, v.class
        ),
    };
    if bpp != 32
        || pad % 32 != 0
        || !matches!(v.class, VisualClass::TRUE_COLOR | VisualClass::DIRECT_COLOR)
    {
        return Err(unsupported());
    }
    let bo = setup.image_byte_order;
    let at = (
        byte_of(v.red_mask, bo),
        byte_of(v.green_mask, bo),
        byte_of(v.blue_mask, bo),
    );
    let order = match at {
        (Some(2), Some(1), Some(0)) => Rgba32::Bgra,
        (Some(0), Some(1), Some(2)) => Rgba32::Rgba,
        _ => return Err(unsupported()),
    };
    Ok((depth, bpp, pad, order))
}

impl Grabber {
    /// Connects to `$DISPLAY` and prepares grabs of `target` (MIT-SHM when it can).
    pub fn open(target: Target) -> Result<Self, GrabError> {
        Self::open_on(None, target, Method::Auto)
    }

    /// Connects to `display` (`None`: `$DISPLAY`) and prepares grabs of `target` by `method`.
    pub fn open_on(
        display: Option<&str>,
        target: Target,
        method: Method,
    ) -> Result<Self, GrabError> {
        let (conn, root) = connect(display)?;
        let visual = match target {
            Target::Monitor(_) => {
                // Tell us when monitors change (size, arrangement); ignored without RandR.
                if has_randr_monitors(&conn)? {
                    let mask = randr::NotifyMask::SCREEN_CHANGE
                        | randr::NotifyMask::CRTC_CHANGE
                        | randr::NotifyMask::OUTPUT_CHANGE;
                    conn.randr_select_input(root, mask)?.check()?;
                }
                conn.setup()
                    .roots
                    .iter()
                    .find(|s| s.root == root)
                    .map_or(0, |s| s.root_visual)
            }
            Target::Window(id) => {
                let attrs = conn.get_window_attributes(id)?.reply()?;
                // Tell us when it is resized, moved, unmapped.
                let events =
                    ChangeWindowAttributesAux::new().event_mask(EventMask::STRUCTURE_NOTIFY);
                conn.change_window_attributes(id, &events)?.check()?;
                attrs.visual
            }
        };
        let (_depth, bits_per_pixel, scanline_pad, order) = pixel_layout(&conn, visual)?;
        let shm = method == Method::Auto && shm_usable(&conn)?;
        let mut g = Grabber {
            conn,
            root,
            target,
            area: Area {
                drawable: root,
                x: 0,
                y: 0,
                width: 0,
                height: 0,
            },
            bits_per_pixel,
            scanline_pad,
            order,
            transport: Transport::GetImage(Vec::new()),
            stale: false,
        };
        g.refresh()?;
        if shm {
            match Segment::new(&g.conn, g.stride() * usize::from(g.area.height)) {
                Ok(s) => g.transport = Transport::Shm(s),
                Err(e) => tracing::info!("MIT-SHM unusable ({e}); grabbing with GetImage"),
            }
        }
        tracing::debug!(target = ?target, method = g.method(), area = ?g.area, "X11 grabber open");
        Ok(g)
    }

    /// `"MIT-SHM"` or `"GetImage"`: how pictures arrive.
    pub fn method(&self) -> &'static str {
        match self.transport {
            Transport::Shm(_) => "MIT-SHM",
            Transport::GetImage(_) => "GetImage",
        }
    }

    /// The size the next grab will have (before any change the server has not told us of).
    pub fn size(&self) -> (u32, u32) {
        (u32::from(self.area.width), u32::from(self.area.height))
    }

    fn stride(&self) -> usize {
        let bits = usize::from(self.area.width) * usize::from(self.bits_per_pixel);
        let pad = usize::from(self.scanline_pad.max(8));
        bits.div_ceil(pad) * pad / 8
    }

    /// Re-reads the target's geometry.
    fn refresh(&mut self) -> Result<(), GrabError> {
        self.stale = false;
        self.area = match self.target {
            Target::Monitor(index) => {
                let all = list_monitors(&self.conn, self.root)?;
                let m = all.get(index).ok_or(GrabError::NoSuchMonitor {
                    index,
                    count: all.len(),
                })?;
                Area {
                    drawable: self.root,
                    x: m.x,
                    y: m.y,
                    width: m.width,
                    height: m.height,
                }
            }
            Target::Window(id) => {
                let attrs = self.conn.get_window_attributes(id)?.reply()?;
                if attrs.map_state != MapState::VIEWABLE {
                    return Err(GrabError::NotVisible { id });
                }
                let g = self.conn.get_geometry(id)?.reply()?;
                let at = self
                    .conn
                    .translate_coordinates(id, self.root, 0, 0)?
                    .reply()?;
                let screen = self.conn.get_geometry(self.root)?.reply()?;
                // The part of the window on the screen (GetImage refuses anything outside).
                let (x0, y0) = (i32::from(at.dst_x), i32::from(at.dst_y));
                let left = x0.max(0);
                let top = y0.max(0);
                let right = (x0 + i32::from(g.width)).min(i32::from(screen.width));
                let bottom = (y0 + i32::from(g.height)).min(i32::from(screen.height));
                if right - left < 2 || bottom - top < 2 {
                    return Err(GrabError::NotVisible { id });
                }
                Area {
                    drawable: id,
                    x: (left - x0) as i16,
                    y: (top - y0) as i16,
                    width: (right - left) as u16,
                    height: (bottom - top) as u16,
                }
            }
        };
        Ok(())
    }

    /// Takes what the server sent since the last grab; notes a geometry change.
    fn poll_events(&mut self) -> Result<(), GrabError> {
        while let Some(event) = self.conn.poll_for_event()? {
            match event {
                Event::RandrScreenChangeNotify(_)
                | Event::RandrNotify(_)
                | Event::ConfigureNotify(_)
                | Event::MapNotify(_)
                | Event::UnmapNotify(_)
                | Event::DestroyNotify(_)
                | Event::ReparentNotify(_) => self.stale = true,
                Event::Error(e) => return Err(e.into()),
                _ => {}
            }
        }
        Ok(())
    }

    fn fetch(&mut self) -> Result<(), GrabError> {
        let a = self.area;
        let bytes = self.stride() * usize::from(a.height);
        match &mut self.transport {
            Transport::Shm(segment) => {
                if segment.len < bytes {
                    // Larger than before (first grab, or the monitor grew): a new segment.
                    let old = std::mem::replace(segment, Segment::new(&self.conn, bytes)?);
                    old.detach(&self.conn);
                }
                let reply = self
                    .conn
                    .shm_get_image(
                        a.drawable,
                        a.x,
                        a.y,
                        a.width,
                        a.height,
                        !0,
                        ImageFormat::Z_PIXMAP.into(),
                        segment.seg,
                        0,
                    )?
                    .reply()?;
                if (reply.size as usize) < bytes {
                    return Err(GrabError::Unsupported {
                        detail: format!("MIT-SHM wrote {} bytes, expected {bytes}", reply.size),
                    });
                }
            }
            Transport::GetImage(data) => {
                let reply = self
                    .conn
                    .get_image(
                        ImageFormat::Z_PIXMAP,
                        a.drawable,
                        a.x,
                        a.y,
                        a.width,
                        a.height,
                        !0,
                    )?
                    .reply()?;
                if reply.data.len() < bytes {
                    return Err(GrabError::Unsupported {
                        detail: format!(
                            "GetImage sent {} bytes, expected {bytes}",
                            reply.data.len()
                        ),
                    });
                }
                *data = reply.data;
            }
        }
        Ok(())
    }

    /// Grabs the target's current picture. With MIT-SHM nothing is allocated or copied: the
    /// picture borrows the shared segment until the next grab.
    pub fn grab(&mut self) -> Result<Picture<'_>, GrabError> {
        self.poll_events()?;
        if self.stale {
            self.refresh()?;
        }
        match self.fetch() {
            Ok(()) => {}
            // The area no longer fits (a resize whose event has not arrived): look again.
            Err(e) if e.is_match() => {
                self.refresh()?;
                self.fetch()?;
            }
            Err(e) => return Err(e),
        }
        let stride = self.stride();
        let len = stride * usize::from(self.area.height);
        let data = match &self.transport {
            Transport::Shm(segment) => &segment.bytes()[..len],
            Transport::GetImage(data) => &data[..len],
        };
        Ok(Picture {
            data,
            stride,
            width: u32::from(self.area.width),
            height: u32::from(self.area.height),
            order: self.order,
        })
    }
}

impl Drop for Grabber {
    fn drop(&mut self) {
        if let Transport::Shm(segment) = &self.transport {
            segment.detach(&self.conn);
        }
    }
}

/// A MIT-SHM segment: a memfd the server attached, mapped here read-only.
struct Segment {
    seg: shm::Seg,
    map: mapping::Mapping,
    len: usize,
}

impl Segment {
    /// A segment of `len` bytes (at least one page), attached to the server.
    fn new(conn: &RustConnection, len: usize) -> Result<Self, GrabError> {
        let len = len.max(4096);
        let (map, fd): (mapping::Mapping, OwnedFd) =
            mapping::Mapping::new(len).map_err(GrabError::Segment)?;
        let seg = conn.generate_id()?;
        // The server maps the fd itself (read-write: it writes the pictures); ours is closed
        // once sent.
        conn.shm_attach_fd(seg, fd, false)?.check()?;
        Ok(Segment { seg, map, len })
    }

    fn bytes(&self) -> &[u8] {
        self.map.bytes()
    }

    fn detach(&self, conn: &RustConnection) {
        // Best effort: the server frees it anyway when the connection closes.
        if let Ok(cookie) = conn.shm_detach(self.seg) {
            cookie.ignore_error();
        }
    }
}

#[allow(unsafe_code)] // memfd_create, ftruncate, mmap, munmap: the segment's memory; see SAFETY
mod mapping {
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::ptr::NonNull;

    /// A shared, read-only mapping of a memfd of `len` bytes.
    pub(super) struct Mapping {
        ptr: NonNull<u8>,
        len: usize,
    }

    // SAFETY: the mapping is plain memory owned by this value; moving it to another thread
    // moves that ownership (it is never shared: `bytes` borrows it).
    unsafe impl Send for Mapping {}

    impl Mapping {
        /// A new memfd of `len` bytes, mapped here; returns the fd for the X server.
        pub(super) fn new(len: usize) -> io::Result<(Mapping, OwnedFd)> {
            // SAFETY: a NUL-terminated name and valid flags; the returned fd is ours alone.
            let raw = unsafe { libc::memfd_create(c"onair-x11grab".as_ptr(), libc::MFD_CLOEXEC) };
            if raw < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: `raw` is a fresh, open fd nothing else owns.
            let fd = unsafe { OwnedFd::from_raw_fd(raw) };
            let size = libc::off_t::try_from(len).map_err(io::Error::other)?;
            // SAFETY: an open fd and a non-negative size.
            if unsafe { libc::ftruncate(fd.as_raw_fd(), size) } != 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: a new shared read-only mapping of `len` bytes of an fd of that size; the
            // kernel picks the address; failure is MAP_FAILED, checked below.
            let ptr = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ,
                    libc::MAP_SHARED,
                    fd.as_raw_fd(),
                    0,
                )
            };
            if ptr == libc::MAP_FAILED {
                return Err(io::Error::last_os_error());
            }
            let ptr =
                NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap gave null"))?;
            Ok((Mapping { ptr, len }, fd))
        }

        pub(super) fn bytes(&self) -> &[u8] {
            // SAFETY: `ptr` is a live mapping of `len` readable bytes until `drop`. The X
            // server writes into it only while a MIT-SHM GetImage is pending, and the grabber
            // waits for that reply before handing out this slice, whose borrow of the grabber
            // (`&self` here, `&mut Grabber` for the next grab) rules out a new request while
            // it lives.
            unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
        }
    }

    impl Drop for Mapping {
        fn drop(&mut self) {
            // SAFETY: exactly the region `new` mapped; no slice of it outlives `self`.
            unsafe {
                libc::munmap(self.ptr.as_ptr().cast(), self.len);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_bytes_follow_the_server_byte_order() {
        let lsb = ImageOrder::LSB_FIRST;
        let msb = ImageOrder::MSB_FIRST;
        assert_eq!(byte_of(0x00ff_0000, lsb), Some(2));
        assert_eq!(byte_of(0x0000_00ff, lsb), Some(0));
        assert_eq!(byte_of(0x00ff_0000, msb), Some(1));
        assert_eq!(byte_of(0xff00_0000, msb), Some(0));
        // 16-bit (5-6-5) and misaligned masks are not 8-bit channels.
        assert_eq!(byte_of(0xf800, lsb), None);
        assert_eq!(byte_of(0x07e0, lsb), None);
        assert_eq!(byte_of(0x0ff0, lsb), None);
        assert_eq!(byte_of(0, lsb), None);
    }
}
