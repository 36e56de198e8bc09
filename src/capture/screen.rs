//! Screen capture: a monitor or a window, at the program's frame rate, on a device thread of
//! its own; converted to I420 there (yuv's SIMD code) and handed over as the latest frame.
//!
//! On X11 (Linux without a Wayland session) our own grabber ([`super::x11grab`]): one
//! persistent connection, MIT-SHM into a segment reused every frame, converted straight from
//! the segment (BGRX to I420, no intermediate copy); plain GetImage when the server has no
//! MIT-SHM. On Wayland, Windows and macOS (and for an X11 pixel format the grabber does not
//! take), xcap's back ends, whose RGBA picture is converted the same way.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use super::convert::{Rgba32, rgb32_to_i420};
use super::latest::LatestFrame;
#[cfg(target_os = "linux")]
use super::x11grab;
use super::{CaptureError, REOPEN_INTERVAL, ScreenTarget, SourceCounters, Worker, sleep_unless};
use crate::media::{MediaTime, Timebase, VideoFrame};

/// A grab is timed to end this long before the program frame that will show it (on top of
/// the grab's own recent cost): slack for the capture thread waking late.
const GRAB_MARGIN: MediaTime = MediaTime::from_millis(4);

/// When to start the next grab, on the engine clock: `lead` (the grab's cost and a margin)
/// before the first program frame time (a multiple of `frame`) that lets it start after `now`.
/// Timed so, a picture is at most `lead` old when the engine composes it, instead of up to a
/// frame interval older (grabbing on a free-running timer of the same rate).
fn next_grab(now: MediaTime, lead: MediaTime, frame: Timebase) -> MediaTime {
    let n = frame.time_to_ticks_floor(now + lead) + 1;
    frame.ticks_to_time(n) - lead
}

/// What the capture thread holds open.
enum Device {
    /// Our X11 grabber (persistent connection, MIT-SHM or GetImage).
    #[cfg(target_os = "linux")]
    X11(Box<x11grab::Grabber>),
    Monitor(xcap::Monitor),
    Window(xcap::Window),
}

/// Why a capture gave no picture.
enum Failure {
    /// The device failed: the source is lost (slate, reopen).
    Lost(String),
    /// The picture could not be converted (the device is fine).
    Frame(CaptureError),
}

impl Device {
    /// Grabs one picture and converts it into `out` (`rgba` holds xcap's pictures).
    fn capture(&mut self, rgba: &mut Vec<u8>, out: &mut VideoFrame) -> Result<(), Failure> {
        let (w, h) = match self {
            #[cfg(target_os = "linux")]
            Device::X11(g) => {
                let p = g.grab().map_err(|e| Failure::Lost(e.to_string()))?;
                return rgb32_to_i420(p.data, p.stride, p.width, p.height, p.order, out)
                    .map_err(Failure::Frame);
            }
            Device::Monitor(m) => take(m.capture_image(), rgba)?,
            Device::Window(w) => take(w.capture_image(), rgba)?,
        };
        rgb32_to_i420(rgba, w as usize * 4, w, h, Rgba32::Rgba, out).map_err(Failure::Frame)
    }
}

fn take(
    img: Result<xcap::image::RgbaImage, xcap::XCapError>,
    rgba: &mut Vec<u8>,
) -> Result<(u32, u32), Failure> {
    let img = img.map_err(|e| Failure::Lost(e.to_string()))?;
    let size = img.dimensions();
    *rgba = img.into_raw();
    Ok(size)
}

/// Whether screens are grabbed with our X11 grabber: Linux, `DISPLAY` set, and not a Wayland
/// session (there X11 sees only XWayland's windows; xcap goes through the portal instead).
/// The same test as xcap's own.
fn use_x11() -> bool {
    if !cfg!(target_os = "linux") {
        return false;
    }
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    let wayland = var("XDG_SESSION_TYPE") == "wayland"
        || var("WAYLAND_DISPLAY").to_lowercase().contains("wayland");
    !wayland && !var("DISPLAY").is_empty()
}

/// Checks that a display is there at all (X11 or Wayland), before any xcap call: without one,
/// xcap's errors say nothing a user can act on.
pub fn check_display() -> Result<(), CaptureError> {
    #[cfg(all(unix, not(target_os = "macos")))]
    {
        let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
        if !set("DISPLAY") && !set("WAYLAND_DISPLAY") {
            return Err(CaptureError::NoDisplay);
        }
    }
    Ok(())
}

/// A monitor as `onair devices` lists it.
pub struct MonitorInfo {
    pub name: String,
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
    pub primary: bool,
}

/// The monitors, in the order `screen:N` counts them (the grabber's own list on X11).
pub fn monitors() -> Result<Vec<MonitorInfo>, CaptureError> {
    check_display()?;
    #[cfg(target_os = "linux")]
    if use_x11() {
        let list = x11grab::monitors(None).map_err(|e| CaptureError::Open {
            kind: "screen",
            name: "any".into(),
            detail: e.to_string(),
        })?;
        return Ok(list
            .into_iter()
            .map(|m| MonitorInfo {
                name: m.name,
                x: i32::from(m.x),
                y: i32::from(m.y),
                width: u32::from(m.width),
                height: u32::from(m.height),
                primary: m.primary,
            })
            .collect());
    }
    let list = xcap::Monitor::all().map_err(|e| open_err(&ScreenTarget::Monitor(0), &e))?;
    Ok(list
        .iter()
        .map(|m| MonitorInfo {
            name: m.name().unwrap_or_default(),
            x: m.x().unwrap_or(0),
            y: m.y().unwrap_or(0),
            width: m.width().unwrap_or(0),
            height: m.height().unwrap_or(0),
            primary: m.is_primary().unwrap_or(false),
        })
        .collect())
}

/// Finds the monitor or window `target` names.
fn find(target: &ScreenTarget) -> Result<Device, CaptureError> {
    check_display()?;
    #[cfg(target_os = "linux")]
    if use_x11() {
        let (grab, unlisted) = match target {
            ScreenTarget::Monitor(index) => (x11grab::Target::Monitor(*index), None),
            ScreenTarget::Window(wanted) => match find_window(wanted) {
                Ok((id, _)) => (x11grab::Target::Window(id), None),
                // Not listed (without a window manager nothing is): an X id still names one.
                Err(e) => match wanted.parse::<u32>() {
                    Ok(id) => (x11grab::Target::Window(id), Some(e)),
                    Err(_) => return Err(e),
                },
            },
        };
        match (x11grab::Grabber::open(grab), unlisted) {
            (Ok(g), _) => return Ok(Device::X11(Box::new(g))),
            // Neither listed nor an X window: "no window matches", with what there is.
            (Err(_), Some(e)) => return Err(e),
            (Err(x11grab::GrabError::NoSuchMonitor { index, count }), None) => {
                return Err(no_such_screen(index, count));
            }
            // An odd pixel format (8/16-bit depth): xcap converts any.
            (Err(e @ x11grab::GrabError::Unsupported { .. }), None) => {
                tracing::info!("{e}; capturing {} with xcap", label(target));
            }
            (Err(e), None) => return Err(x11_open_err(target, &e)),
        }
    }
    match target {
        ScreenTarget::Monitor(index) => {
            let monitors = xcap::Monitor::all().map_err(|e| open_err(target, &e))?;
            let count = monitors.len();
            monitors
                .into_iter()
                .nth(*index)
                .map(Device::Monitor)
                .ok_or_else(|| no_such_screen(*index, count))
        }
        ScreenTarget::Window(wanted) => find_window(wanted).map(|(_, w)| Device::Window(w)),
    }
}

fn no_such_screen(index: usize, count: usize) -> CaptureError {
    CaptureError::NoSuchDevice {
        kind: "screen",
        wanted: index.to_string(),
        available: if count == 0 {
            "none".into()
        } else {
            format!("0..{}", count - 1)
        },
    }
}

/// The window `wanted` names (its id, or a part of its title), with its id.
fn find_window(wanted: &str) -> Result<(u32, xcap::Window), CaptureError> {
    let target = ScreenTarget::Window(wanted.to_owned());
    let windows = xcap::Window::all().map_err(|e| open_err(&target, &e))?;
    let by_id = wanted.parse::<u32>().ok();
    let lower = wanted.to_lowercase();
    let mut titles = Vec::new();
    for w in windows {
        let id = w.id().ok();
        let title = w.title().unwrap_or_default();
        if by_id.is_some() && id == by_id || title.to_lowercase().contains(&lower) {
            return Ok((id.unwrap_or(0), w));
        }
        titles.push(format!("{} \"{title}\"", id.unwrap_or(0)));
    }
    Err(CaptureError::NoSuchDevice {
        kind: "window",
        wanted: wanted.to_owned(),
        available: if titles.is_empty() {
            "none (listing windows needs a window manager)".into()
        } else {
            titles.join(", ")
        },
    })
}

#[cfg(target_os = "linux")]
fn x11_open_err(target: &ScreenTarget, e: &x11grab::GrabError) -> CaptureError {
    CaptureError::Open {
        kind: "screen",
        name: label(target),
        detail: e.to_string(),
    }
}

fn open_err(target: &ScreenTarget, e: &xcap::XCapError) -> CaptureError {
    let detail = e.to_string();
    let name = label(target);
    if detail.to_lowercase().contains("permission") || detail.to_lowercase().contains("denied") {
        CaptureError::PermissionDenied {
            kind: "screen",
            name,
            detail,
        }
    } else {
        CaptureError::Open {
            kind: "screen",
            name,
            detail,
        }
    }
}

/// A short name for slates and stats: `screen 0`, `window firefox`.
pub fn label(target: &ScreenTarget) -> String {
    match target {
        ScreenTarget::Monitor(i) => format!("screen {i}"),
        ScreenTarget::Window(w) => format!("window {w}"),
    }
}

/// Opens the screen once to check it can be captured (so a bad choice fails before anything
/// starts) and returns the slot it will fill and the device loop to run.
pub fn open(target: &ScreenTarget, fps: u32) -> Result<(Arc<LatestFrame>, Worker), CaptureError> {
    let counters = Arc::new(SourceCounters::new(label(target), "screen"));
    let slot = Arc::new(LatestFrame::new(counters));
    let (device, work, rgba) = first_grab(target, &slot)?;
    let worker = worker(target, fps, &slot, Some(device), work, rgba);
    Ok((slot, worker))
}

/// [`open`] into the slot a running studio already shows. Never fails: a screen that cannot
/// be captured now marks the slot lost (the slate) and is tried again every
/// [`REOPEN_INTERVAL`] by the loop; the error comes beside it, to be told.
pub fn start_into(
    target: &ScreenTarget,
    fps: u32,
    slot: &Arc<LatestFrame>,
) -> (Worker, Option<CaptureError>) {
    match first_grab(target, slot) {
        Ok((device, work, rgba)) => (worker(target, fps, slot, Some(device), work, rgba), None),
        Err(e) => {
            slot.counters().set_error(&e.to_string());
            slot.set_lost(true);
            let work = VideoFrame::black(2, 2, MediaTime::ZERO);
            (worker(target, fps, slot, None, work, Vec::new()), Some(e))
        }
    }
}

/// Finds the screen and grabs it once into `slot`: the device and the buffers to go on with.
fn first_grab(
    target: &ScreenTarget,
    slot: &LatestFrame,
) -> Result<(Device, VideoFrame, Vec<u8>), CaptureError> {
    let mut device = find(target)?;
    let mut rgba = Vec::new();
    let mut work = VideoFrame::black(2, 2, MediaTime::ZERO);
    match device.capture(&mut rgba, &mut work) {
        Ok(()) => slot.publish(&mut work),
        Err(Failure::Lost(detail)) => {
            return Err(CaptureError::Open {
                kind: "screen",
                name: label(target),
                detail,
            });
        }
        Err(Failure::Frame(_)) => {}
    }
    slot.counters().set_live(true);
    Ok((device, work, rgba))
}

/// The device loop ([`capture_loop`]) as a worker; `device: None` starts by reopening.
fn worker(
    target: &ScreenTarget,
    fps: u32,
    slot: &Arc<LatestFrame>,
    device: Option<Device>,
    work: VideoFrame,
    rgba: Vec<u8>,
) -> Worker {
    let run = {
        let slot = slot.clone();
        let target = target.clone();
        move || capture_loop(device, &target, fps, &slot, work, rgba)
    };
    Worker {
        name: "cap-screen".into(),
        run: Box::new(run),
    }
}

/// Captures at `fps` until the slot's consumer is gone (its `Arc` count drops to one); on a
/// failure shows the slate and retries every [`REOPEN_INTERVAL`]. Once the engine's clock is
/// known, each grab is timed to end just before a program frame ([`next_grab`]).
fn capture_loop(
    mut device: Option<Device>,
    target: &ScreenTarget,
    fps: u32,
    slot: &Arc<LatestFrame>,
    mut work: VideoFrame,
    mut rgba: Vec<u8>,
) {
    let frame = Timebase::per_second(fps.max(1));
    let interval = frame.ticks_to_time(1).to_duration();
    let mut next = Instant::now();
    // The grab's recent cost (grab and convert), smoothed.
    let mut cost = MediaTime::ZERO;
    let counters = slot.counters().clone();
    loop {
        let gone = || Arc::strong_count(slot) <= 1;
        if gone() {
            return;
        }
        let Some(dev) = device.as_mut() else {
            match find(target) {
                Ok(mut d) => match d.capture(&mut rgba, &mut work) {
                    Err(Failure::Lost(e)) => {
                        counters.set_error(&e);
                        if !sleep_unless(&gone, REOPEN_INTERVAL) {
                            return;
                        }
                    }
                    got => {
                        tracing::info!(source = %counters.name, "screen source is back");
                        counters.reopened.fetch_add(1, Relaxed);
                        if got.is_ok() {
                            slot.publish(&mut work);
                        }
                        device = Some(d);
                        next = Instant::now();
                    }
                },
                Err(e) => {
                    counters.set_error(&e.to_string());
                    if !sleep_unless(&gone, REOPEN_INTERVAL) {
                        return;
                    }
                }
            }
            continue;
        };
        let started = Instant::now();
        match dev.capture(&mut rgba, &mut work) {
            Ok(()) => {
                let took = started.elapsed();
                counters
                    .capture_nanos
                    .fetch_add(took.as_nanos() as u64, Relaxed);
                cost = cost
                    + MediaTime::from_nanos((MediaTime::from_duration(took) - cost).as_nanos() / 8);
                slot.publish(&mut work);
            }
            Err(Failure::Frame(e)) => tracing::warn!(source = %counters.name, "{e}"),
            Err(Failure::Lost(e)) => {
                tracing::error!(source = %counters.name, "screen source lost: {e}; retrying every 2 s");
                counters.set_error(&e);
                slot.set_lost(true);
                device = None;
                continue;
            }
        }
        next = match slot.clock() {
            Some(clock) => clock.instant_at(next_grab(clock.now(), cost + GRAB_MARGIN, frame)),
            None => next + interval,
        };
        let now = Instant::now();
        if next > now {
            if !sleep_unless(&gone, next - now) {
                return;
            }
        } else {
            // Capture slower than the frame rate: start again from now instead of bursting.
            next = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grabs_end_just_before_the_program_frames() {
        let fps30 = Timebase::per_second(30);
        let ms = MediaTime::from_millis;
        let lead = ms(5);
        // Frame 1 is at 33.33 ms: a grab may start at 28.33 ms.
        assert_eq!(
            next_grab(ms(0), lead, fps30),
            MediaTime::from_nanos(28_333_333)
        );
        assert_eq!(
            next_grab(ms(20), lead, fps30),
            MediaTime::from_nanos(28_333_333)
        );
        // Too late for frame 1: frame 2 (66.67 ms).
        assert_eq!(
            next_grab(ms(29), lead, fps30),
            MediaTime::from_nanos(61_666_667)
        );
        // Right after a grab for frame 1 ended (at 29.3 ms), the next is for frame 2.
        assert_eq!(
            next_grab(ms(30), lead, fps30),
            MediaTime::from_nanos(61_666_667)
        );
        // A grab costing more than a frame interval: the next frame it can still make.
        assert_eq!(
            next_grab(ms(40), ms(50), fps30),
            MediaTime::from_nanos(50_000_000)
        );
    }
}
