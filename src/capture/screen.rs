//! Screen capture with xcap: a monitor or a window, at the program's frame rate, on a device
//! thread of its own; converted to I420 there (yuv's SIMD code) and handed over as the latest
//! frame. On Linux this is X11 (and Wayland through xcap's portal back end when the desktop
//! offers it); on Windows and macOS, xcap's own back ends.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use super::convert::{Rgba32, rgb32_to_i420};
use super::latest::LatestFrame;
use super::{CaptureError, REOPEN_INTERVAL, ScreenTarget, SourceCounters, Worker, sleep_unless};
use crate::media::{MediaTime, VideoFrame};

/// What the capture thread holds open.
enum Device {
    Monitor(xcap::Monitor),
    Window(xcap::Window),
}

/// Bytes per grab on X11: a monitor is grabbed in bands of at most 2 MB (one GetImage reply
/// each) and put together, so a large monitor never needs one huge reply. (xcap opens an X
/// connection per grab; an X server that resets when its last client leaves, like a bare Xvfb
/// without `-noreset`, refuses those connections while it resets.)
const BAND_BYTES: u32 = 2 << 20;

impl Device {
    /// Grabs one picture into `rgba` (tightly packed RGBA) and returns its size.
    fn capture(&self, rgba: &mut Vec<u8>) -> Result<(u32, u32), xcap::XCapError> {
        match self {
            Device::Monitor(m) if cfg!(target_os = "linux") => {
                let (w, h) = (m.width()?, m.height()?);
                let band = (BAND_BYTES / (w.max(1) * 4)).clamp(2, h.max(2));
                rgba.resize(w as usize * h as usize * 4, 0);
                let mut y = 0;
                while y < h {
                    let rows = band.min(h - y);
                    let part = m.capture_region(0, y, w, rows)?;
                    let at = y as usize * w as usize * 4;
                    rgba[at..at + part.as_raw().len()].copy_from_slice(part.as_raw());
                    y += rows;
                }
                Ok((w, h))
            }
            Device::Monitor(m) => take(m.capture_image()?, rgba),
            Device::Window(w) => take(w.capture_image()?, rgba),
        }
    }
}

fn take(img: xcap::image::RgbaImage, rgba: &mut Vec<u8>) -> Result<(u32, u32), xcap::XCapError> {
    let size = img.dimensions();
    *rgba = img.into_raw();
    Ok(size)
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

fn describe(e: &xcap::XCapError) -> String {
    e.to_string()
}

/// Finds the monitor or window `target` names.
fn find(target: &ScreenTarget) -> Result<Device, CaptureError> {
    check_display()?;
    match target {
        ScreenTarget::Monitor(index) => {
            let monitors = xcap::Monitor::all().map_err(|e| open_err(target, &e))?;
            let count = monitors.len();
            monitors
                .into_iter()
                .nth(*index)
                .map(Device::Monitor)
                .ok_or_else(|| CaptureError::NoSuchDevice {
                    kind: "screen",
                    wanted: index.to_string(),
                    available: if count == 0 {
                        "none".into()
                    } else {
                        format!("0..{}", count - 1)
                    },
                })
        }
        ScreenTarget::Window(wanted) => {
            let windows = xcap::Window::all().map_err(|e| open_err(target, &e))?;
            let by_id = wanted.parse::<u32>().ok();
            let lower = wanted.to_lowercase();
            let mut titles = Vec::new();
            for w in windows {
                let id = w.id().ok();
                let title = w.title().unwrap_or_default();
                if by_id.is_some() && id == by_id || title.to_lowercase().contains(&lower) {
                    return Ok(Device::Window(w));
                }
                titles.push(format!("{} \"{title}\"", id.unwrap_or(0)));
            }
            Err(CaptureError::NoSuchDevice {
                kind: "window",
                wanted: wanted.clone(),
                available: if titles.is_empty() {
                    "none (listing windows needs a window manager)".into()
                } else {
                    titles.join(", ")
                },
            })
        }
    }
}

fn open_err(target: &ScreenTarget, e: &xcap::XCapError) -> CaptureError {
    let detail = describe(e);
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
    let device = find(target)?;
    let mut rgba = Vec::new();
    let size = device
        .capture(&mut rgba)
        .map_err(|e| open_err(target, &e))?;
    let counters = Arc::new(SourceCounters::new(label(target), "screen"));
    let slot = Arc::new(LatestFrame::new(counters));
    let mut work = VideoFrame::black(2, 2, MediaTime::ZERO);
    if convert(&rgba, size, &mut work).is_ok() {
        slot.publish(&mut work);
    }
    let run = {
        let slot = slot.clone();
        let target = target.clone();
        move || capture_loop(Some(device), &target, fps, &slot, work, rgba)
    };
    slot.counters().set_live(true);
    Ok((
        slot,
        Worker {
            name: "cap-screen".into(),
            run: Box::new(run),
        },
    ))
}

fn convert(rgba: &[u8], (w, h): (u32, u32), out: &mut VideoFrame) -> Result<(), CaptureError> {
    rgb32_to_i420(rgba, w as usize * 4, w, h, Rgba32::Rgba, out)
}

/// Captures at `fps` until the slot's consumer is gone (its `Arc` count drops to one); on a failure shows the slate and retries every [`REOPEN_INTERVAL`].
fn capture_loop(
    mut device: Option<Device>,
    target: &ScreenTarget,
    fps: u32,
    slot: &Arc<LatestFrame>,
    mut work: VideoFrame,
    mut rgba: Vec<u8>,
) {
    let interval = Duration::from_nanos(1_000_000_000 / u64::from(fps.max(1)));
    let mut next = Instant::now();
    let counters = slot.counters().clone();
    loop {
        let gone = || Arc::strong_count(slot) <= 1;
        if gone() {
            return;
        }
        let Some(dev) = device.as_ref() else {
            match find(target).and_then(|d| {
                d.capture(&mut rgba).map_err(|e| open_err(target, &e))?;
                Ok(d)
            }) {
                Ok(d) => {
                    tracing::info!(source = %counters.name, "screen source is back");
                    counters.reopened.fetch_add(1, Relaxed);
                    device = Some(d);
                    next = Instant::now();
                }
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
        match dev.capture(&mut rgba) {
            Ok(size) => match convert(&rgba, size, &mut work) {
                Ok(()) => {
                    counters
                        .capture_nanos
                        .fetch_add(started.elapsed().as_nanos() as u64, Relaxed);
                    slot.publish(&mut work);
                }
                Err(e) => tracing::warn!(source = %counters.name, "{e}"),
            },
            Err(e) => {
                tracing::error!(source = %counters.name, "screen source lost: {e}; retrying every 2 s");
                counters.set_error(&e.to_string());
                slot.set_lost(true);
                device = None;
                continue;
            }
        }
        next += interval;
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
