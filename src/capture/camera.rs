//! Camera capture with nokhwa (V4L2 on Linux, Media Foundation on Windows, AVFoundation on
//! macOS): the best mode for the preset, raw frames decoded here (MJPEG with zune-jpeg, YUYV and
//! NV12 by [`super::convert`]) to I420 on the camera's own thread, handed over as the latest
//! frame; reopened every 2 s after a loss.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded};
use nokhwa::pixel_format::RgbFormat;
use nokhwa::utils::{
    ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType,
};

use super::convert::{MjpegDecoder, nv12_to_i420, rgb24_to_i420, yuyv_to_i420};
use super::latest::LatestFrame;
use super::{CameraTarget, CaptureError, REOPEN_INTERVAL, SourceCounters, Worker, sleep_unless};
use crate::media::{MediaTime, VideoFrame};

/// The pixel formats a camera may deliver that onair converts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CamPixels {
    Mjpeg,
    Yuyv,
    Nv12,
    Rgb24,
}

/// One mode a camera offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CamMode {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub pixels: CamPixels,
}

/// Picks the mode for a `want_w` x `want_h` program at `want_fps`: first the frame rate (at
/// least the program's), then the size (the smallest that covers the program, else the
/// largest), then the cheapest format to convert (NV12, YUYV, RGB, then MJPEG).
pub fn choose_mode(modes: &[CamMode], want_w: u32, want_h: u32, want_fps: u32) -> Option<CamMode> {
    let rank = |p: CamPixels| match p {
        CamPixels::Nv12 => 3,
        CamPixels::Yuyv => 2,
        CamPixels::Rgb24 => 1,
        CamPixels::Mjpeg => 0,
    };
    modes.iter().copied().max_by_key(|m| {
        let area = i64::from(m.width) * i64::from(m.height);
        let covers = m.width >= want_w && m.height >= want_h;
        (
            m.fps >= want_fps,
            m.fps.min(want_fps),
            covers,
            if covers { -area } else { area },
            rank(m.pixels),
        )
    })
}

fn pixels_of(f: FrameFormat) -> Option<CamPixels> {
    match f {
        FrameFormat::MJPEG => Some(CamPixels::Mjpeg),
        FrameFormat::YUYV => Some(CamPixels::Yuyv),
        FrameFormat::NV12 => Some(CamPixels::Nv12),
        FrameFormat::RAWRGB => Some(CamPixels::Rgb24),
        _ => None,
    }
}

/// Converts one raw camera frame to I420.
pub fn decode(
    pixels: CamPixels,
    data: &[u8],
    width: u32,
    height: u32,
    mjpeg: &mut MjpegDecoder,
    out: &mut VideoFrame,
) -> Result<(), CaptureError> {
    match pixels {
        CamPixels::Mjpeg => mjpeg.decode(data, out),
        CamPixels::Yuyv => yuyv_to_i420(data, width, height, out),
        CamPixels::Nv12 => nv12_to_i420(data, width, height, out),
        CamPixels::Rgb24 => rgb24_to_i420(data, width as usize * 3, width, height, out),
    }
}

/// The cameras: (index, name) for `onair devices`. No camera is an empty list.
pub fn list() -> Result<Vec<(String, String)>, CaptureError> {
    let cams = nokhwa::query(ApiBackend::Auto).map_err(|e| CaptureError::Open {
        kind: "camera",
        name: "any".into(),
        detail: e.to_string(),
    })?;
    Ok(cams
        .iter()
        .map(|c| (c.index().as_string(), c.human_name()))
        .collect())
}

fn find(target: &CameraTarget) -> Result<(CameraIndex, String), CaptureError> {
    let cams = nokhwa::query(ApiBackend::Auto).unwrap_or_default();
    if cams.is_empty() {
        return Err(CaptureError::NoDevice {
            kind: "camera",
            hint: if cfg!(target_os = "linux") {
                " (no /dev/video* device)".into()
            } else {
                String::new()
            },
        });
    }
    let found = match target {
        CameraTarget::Index(i) => cams.get(*i as usize),
        CameraTarget::Name(n) => {
            let lower = n.to_lowercase();
            cams.iter()
                .find(|c| c.human_name().to_lowercase().contains(&lower))
        }
    };
    found
        .map(|c| (c.index().clone(), c.human_name()))
        .ok_or_else(|| CaptureError::NoSuchDevice {
            kind: "camera",
            wanted: match target {
                CameraTarget::Index(i) => i.to_string(),
                CameraTarget::Name(n) => n.clone(),
            },
            available: cams
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{i} \"{}\"", c.human_name()))
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// A short name for slates and stats.
pub fn label(target: &CameraTarget) -> String {
    match target {
        CameraTarget::Index(i) => format!("camera {i}"),
        CameraTarget::Name(n) => format!("camera {n}"),
    }
}

struct Opened {
    camera: nokhwa::Camera,
    mode: CamMode,
}

fn open_camera(
    index: &CameraIndex,
    name: &str,
    want: (u32, u32, u32),
) -> Result<Opened, CaptureError> {
    let err = |e: nokhwa::NokhwaError| {
        let detail = e.to_string();
        if detail.to_lowercase().contains("permission") {
            CaptureError::PermissionDenied {
                kind: "camera",
                name: name.to_owned(),
                detail,
            }
        } else {
            CaptureError::Open {
                kind: "camera",
                name: name.to_owned(),
                detail,
            }
        }
    };
    let mut camera = nokhwa::Camera::new(
        index.clone(),
        RequestedFormat::new::<RgbFormat>(RequestedFormatType::None),
    )
    .map_err(err)?;
    let formats = camera.compatible_camera_formats().map_err(err)?;
    let modes: Vec<(CamMode, CameraFormat)> = formats
        .iter()
        .filter_map(|f| {
            Some((
                CamMode {
                    width: f.width(),
                    height: f.height(),
                    fps: f.frame_rate(),
                    pixels: pixels_of(f.format())?,
                },
                *f,
            ))
        })
        .collect();
    let only: Vec<CamMode> = modes.iter().map(|m| m.0).collect();
    let mode = choose_mode(&only, want.0, want.1, want.2).ok_or_else(|| CaptureError::Open {
        kind: "camera",
        name: name.to_owned(),
        detail: "it offers no MJPEG, YUYV, NV12 or RGB mode".into(),
    })?;
    let format = modes
        .iter()
        .find(|m| m.0 == mode)
        .map(|m| m.1)
        .ok_or_else(|| CaptureError::Open {
            kind: "camera",
            name: name.to_owned(),
            detail: "mode vanished".into(),
        })?;
    camera
        .set_camera_requset(RequestedFormat::new::<RgbFormat>(
            RequestedFormatType::Exact(format),
        ))
        .map_err(err)?;
    camera.open_stream().map_err(err)?;
    tracing::info!(camera = %name, ?mode, "camera open");
    Ok(Opened { camera, mode })
}

/// Where a device thread reports its first open (one message).
pub type FirstOpen = Receiver<Result<(), CaptureError>>;

/// Finds the camera (failing before anything starts when there is none) and returns the slot
/// it will fill, the device loop, and where the loop reports its first open.
pub fn open(
    target: &CameraTarget,
    width: u32,
    height: u32,
    fps: u32,
) -> Result<(Arc<LatestFrame>, Worker, FirstOpen), CaptureError> {
    let (index, name) = find(target)?;
    let counters = Arc::new(SourceCounters::new(label(target), "camera"));
    let slot = Arc::new(LatestFrame::new(counters));
    let (tx, rx) = bounded(1);
    let run = {
        let slot = slot.clone();
        move || camera_loop(&index, &name, (width, height, fps), &slot, &tx)
    };
    Ok((
        slot,
        Worker {
            name: "cap-camera".into(),
            run: Box::new(run),
        },
        rx,
    ))
}

fn camera_loop(
    index: &CameraIndex,
    name: &str,
    want: (u32, u32, u32),
    slot: &Arc<LatestFrame>,
    first: &Sender<Result<(), CaptureError>>,
) {
    match open_camera(index, name, want) {
        Ok(d) => {
            let _sent = first.try_send(Ok(()));
            slot.counters().set_live(true);
            capture_loop(index, name, want, slot, d);
        }
        Err(e) => {
            let _sent = first.try_send(Err(e));
        }
    }
}

/// [`open`] into the slot a running studio already shows. Never fails: a camera missing or
/// failing now marks the slot lost (the slate) and is looked for again every
/// [`REOPEN_INTERVAL`] by the loop; the error (if it is missing) comes beside it, to be told.
pub fn start_into(
    target: &CameraTarget,
    want: (u32, u32, u32),
    slot: &Arc<LatestFrame>,
) -> (Worker, Option<CaptureError>) {
    let missing = find(target).err();
    if let Some(e) = &missing {
        slot.counters().set_error(&e.to_string());
        slot.set_lost(true);
    }
    let run = {
        let slot = slot.clone();
        let target = target.clone();
        move || retry_loop(&target, want, &slot)
    };
    let worker = Worker {
        name: "cap-camera".into(),
        run: Box::new(run),
    };
    (worker, missing)
}

/// Finds and opens the camera, every [`REOPEN_INTERVAL`] until it opens (the slot lost
/// meanwhile), then captures as [`capture_loop`] does.
fn retry_loop(target: &CameraTarget, want: (u32, u32, u32), slot: &Arc<LatestFrame>) {
    let gone = || Arc::strong_count(slot) <= 1;
    while !gone() {
        let opened = find(target)
            .and_then(|(index, name)| Ok((open_camera(&index, &name, want)?, index, name)));
        match opened {
            Ok((device, index, name)) => return capture_loop(&index, &name, want, slot, device),
            Err(e) => {
                slot.counters().set_error(&e.to_string());
                slot.set_lost(true);
                if !sleep_unless(&gone, REOPEN_INTERVAL) {
                    return;
                }
            }
        }
    }
}

/// Captures from the open `device` until the slot's consumer is gone (its `Arc` count drops
/// to one); on a failure shows the slate and reopens every [`REOPEN_INTERVAL`].
fn capture_loop(
    index: &CameraIndex,
    name: &str,
    want: (u32, u32, u32),
    slot: &Arc<LatestFrame>,
    device: Opened,
) {
    let gone = || Arc::strong_count(slot) <= 1;
    let counters = slot.counters().clone();
    let mut device = Some(device);
    let mut mjpeg = MjpegDecoder::default();
    let mut work = VideoFrame::black(2, 2, MediaTime::ZERO);
    while !gone() {
        let Some(dev) = device.as_mut() else {
            match open_camera(index, name, want) {
                Ok(d) => {
                    counters.reopened.fetch_add(1, Relaxed);
                    device = Some(d);
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
        let (w, h, pixels) = (dev.mode.width, dev.mode.height, dev.mode.pixels);
        let result = dev
            .camera
            .frame_raw()
            .map_err(|e| e.to_string())
            .and_then(|raw| {
                decode(pixels, &raw, w, h, &mut mjpeg, &mut work).map_err(|e| e.to_string())
            });
        match result {
            Ok(()) => {
                counters
                    .capture_nanos
                    .fetch_add(started.elapsed().as_nanos() as u64, Relaxed);
                slot.publish(&mut work);
            }
            Err(e) => {
                tracing::error!(camera = %name, "camera lost: {e}; retrying every 2 s");
                counters.set_error(&e);
                slot.set_lost(true);
                device = None;
                if !sleep_unless(&gone, Duration::from_millis(100)) {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(width: u32, height: u32, fps: u32, pixels: CamPixels) -> CamMode {
        CamMode {
            width,
            height,
            fps,
            pixels,
        }
    }

    #[test]
    fn picks_rate_then_size_then_cheapest_format() {
        // A typical USB 2 webcam: raw YUYV is slow at large sizes, MJPEG is fast.
        let modes = [
            m(1920, 1080, 5, CamPixels::Yuyv),
            m(1920, 1080, 30, CamPixels::Mjpeg),
            m(1280, 720, 10, CamPixels::Yuyv),
            m(1280, 720, 30, CamPixels::Mjpeg),
            m(640, 480, 30, CamPixels::Yuyv),
            m(640, 480, 30, CamPixels::Mjpeg),
        ];
        assert_eq!(
            choose_mode(&modes, 1280, 720, 30),
            Some(m(1280, 720, 30, CamPixels::Mjpeg))
        );
        assert_eq!(
            choose_mode(&modes, 1920, 1080, 30),
            Some(m(1920, 1080, 30, CamPixels::Mjpeg))
        );
        // A small program: the smallest mode covering it, raw preferred at equal size.
        assert_eq!(
            choose_mode(&modes, 640, 360, 30),
            Some(m(640, 480, 30, CamPixels::Yuyv))
        );
        // Nothing at the rate: the fastest there is.
        let slow = [
            m(1280, 720, 10, CamPixels::Nv12),
            m(640, 480, 15, CamPixels::Nv12),
        ];
        assert_eq!(
            choose_mode(&slow, 1280, 720, 30),
            Some(m(640, 480, 15, CamPixels::Nv12))
        );
        // Nothing covers the size: the largest.
        let small = [
            m(640, 480, 30, CamPixels::Nv12),
            m(320, 240, 30, CamPixels::Nv12),
        ];
        assert_eq!(
            choose_mode(&small, 1920, 1080, 30),
            Some(m(640, 480, 30, CamPixels::Nv12))
        );
        assert_eq!(choose_mode(&[], 1, 1, 1), None);
    }
}
