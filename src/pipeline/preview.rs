//! The program picture for a front end's preview: a small RGBA copy of what is being encoded,
//! refreshed at a modest rate.
//!
//! The H.264 thread offers every frame; at most `fps` per second are kept, each scaled down
//! (nearest neighbour, at most [`PREVIEW_MAX_WIDTH`] wide) and converted from I420 to RGBA
//! (BT.601, limited range, as the encoder signals) into a buffer reused from one picture to the
//! next. A reader takes the newest picture by sequence number; nothing queues up.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

use crate::media::{MediaTime, VideoFrame};

/// The preview is at most this wide (the window shows it smaller or scaled).
pub const PREVIEW_MAX_WIDTH: u32 = 640;

/// One preview picture.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreviewImage {
    pub width: u32,
    pub height: u32,
    /// Row-major RGBA, 4 bytes per pixel.
    pub rgba: Vec<u8>,
    pub pts: MediaTime,
    pub seq: u64,
}

/// The newest preview picture; shared by the H.264 thread and the front end.
#[derive(Debug, Default)]
pub struct ProgramPreview {
    image: Mutex<PreviewImage>,
    seq: AtomicU64,
    /// Pictures per second to keep (0: none).
    fps: AtomicU32,
    next_due: Mutex<MediaTime>,
}

impl ProgramPreview {
    pub fn new(fps: u32) -> Self {
        Self {
            fps: AtomicU32::new(fps),
            ..Self::default()
        }
    }

    pub fn set_fps(&self, fps: u32) {
        self.fps.store(fps, Relaxed);
    }

    /// The sequence number of the newest picture (0 before the first).
    pub fn seq(&self) -> u64 {
        self.seq.load(Relaxed)
    }

    /// A copy of the newest picture if it is newer than `seen`.
    pub fn newer_than(&self, seen: u64) -> Option<PreviewImage> {
        if self.seq() <= seen {
            return None;
        }
        self.image.lock().ok().map(|i| i.clone())
    }

    /// Called by the H.264 thread with every frame; keeps it if one is due.
    pub fn offer(&self, frame: &VideoFrame) {
        let fps = self.fps.load(Relaxed);
        if fps == 0 {
            return;
        }
        {
            let Ok(mut due) = self.next_due.lock() else {
                return;
            };
            if frame.pts < *due {
                return;
            }
            // The next one is due one interval after this one was due, so the rate holds
            // whatever the frame rate; after a gap, one interval after this frame.
            let interval = MediaTime::from_nanos(1_000_000_000 / i64::from(fps));
            let next = *due + interval;
            *due = if next > frame.pts {
                next
            } else {
                frame.pts + interval
            };
        }
        let Ok(mut image) = self.image.lock() else {
            return;
        };
        scale_to_rgba(frame, &mut image);
        image.pts = frame.pts;
        image.seq = self.seq.fetch_add(1, Relaxed) + 1;
    }
}

/// Nearest-neighbour downscale of an I420 frame into `out` (its buffer reused), BT.601
/// limited range to RGB.
fn scale_to_rgba(frame: &VideoFrame, out: &mut PreviewImage) {
    let (sw, sh) = (frame.width.max(1), frame.height.max(1));
    let w = sw.min(PREVIEW_MAX_WIDTH);
    let h = (u64::from(sh) * u64::from(w) / u64::from(sw)).max(1) as u32;
    out.width = w;
    out.height = h;
    out.rgba.resize((w * h * 4) as usize, 255);
    let (y_plane, u_plane, v_plane) = frame.planes();
    let cw = sw.div_ceil(2) as usize;
    for row in 0..h {
        let sy = (u64::from(row) * u64::from(sh) / u64::from(h)) as usize;
        for col in 0..w {
            let sx = (u64::from(col) * u64::from(sw) / u64::from(w)) as usize;
            let y = i32::from(y_plane[sy * sw as usize + sx]) - 16;
            let ci = (sy / 2) * cw + sx / 2;
            let u = i32::from(u_plane[ci]) - 128;
            let v = i32::from(v_plane[ci]) - 128;
            // Fixed point (x256) BT.601 limited range.
            let c = 298 * y;
            let r = (c + 409 * v + 128) >> 8;
            let g = (c - 100 * u - 208 * v + 128) >> 8;
            let b = (c + 516 * u + 128) >> 8;
            let o = ((row * w + col) * 4) as usize;
            out.rgba[o] = r.clamp(0, 255) as u8;
            out.rgba[o + 1] = g.clamp(0, 255) as u8;
            out.rgba[o + 2] = b.clamp(0, 255) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grey(pts_ms: i64, luma: u8) -> VideoFrame {
        let mut f = VideoFrame::black(1280, 720, MediaTime::from_millis(pts_ms));
        let (y, _, _) = f.planes_mut();
        y.fill(luma);
        f
    }

    #[test]
    fn keeps_at_most_fps_pictures_scaled_and_converted() {
        let p = ProgramPreview::new(10);
        assert!(p.newer_than(0).is_none());
        for i in 0..30 {
            p.offer(&grey(i * 33, 235)); // one second at 30 fps
        }
        assert_eq!(p.seq(), 10);
        let img = p.newer_than(0).unwrap();
        assert_eq!((img.width, img.height), (640, 360));
        assert_eq!(img.rgba.len(), 640 * 360 * 4);
        // Limited-range white (Y 235, neutral chroma) is RGB white.
        assert_eq!(&img.rgba[..4], &[255, 255, 255, 255]);
        assert!(p.newer_than(10).is_none());
        p.set_fps(0);
        p.offer(&grey(5_000, 16));
        assert_eq!(p.seq(), 10);
    }
}
