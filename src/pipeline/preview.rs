//! The program picture for a front end's preview: a small RGBA copy of what is being encoded,
//! refreshed at a modest rate.
//!
//! The H.264 thread offers every frame; at most `fps` per second are kept, each scaled down
//! (nearest neighbour, to the width the front end shows it at, [`PREVIEW_MAX_WIDTH`] until it
//! says, never wider than the program) and converted from I420 to RGBA
//! (BT.601, limited range, as the encoder signals) into a buffer reused from one picture to the
//! next. A reader takes the newest picture by sequence number; nothing queues up.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

use crate::media::{MediaTime, VideoFrame};

/// The preview's width until a front end asks for another.
pub const PREVIEW_MAX_WIDTH: u32 = 640;
/// The widths a front end may ask for.
pub const PREVIEW_WIDTHS: std::ops::RangeInclusive<u32> = 16..=1920;

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

/// The newest picture, with the source column of each of its columns (kept to reuse).
#[derive(Debug, Default)]
struct Picture {
    image: PreviewImage,
    columns: Vec<usize>,
}

/// The newest preview picture; shared by the H.264 thread and the front end.
#[derive(Debug, Default)]
pub struct ProgramPreview {
    image: Mutex<Picture>,
    seq: AtomicU64,
    /// Pictures per second to keep (0: none).
    fps: AtomicU32,
    /// The widest picture to make, pixels.
    width: AtomicU32,
    next_due: Mutex<MediaTime>,
}

impl ProgramPreview {
    pub fn new(fps: u32) -> Self {
        Self {
            fps: AtomicU32::new(fps),
            width: AtomicU32::new(PREVIEW_MAX_WIDTH),
            ..Self::default()
        }
    }

    /// Makes the next pictures `width` pixels wide (within [`PREVIEW_WIDTHS`], and never wider
    /// than the program), so that a front end can show them pixel for pixel, unscaled.
    pub fn set_width(&self, width: u32) {
        let width = width.clamp(*PREVIEW_WIDTHS.start(), *PREVIEW_WIDTHS.end());
        self.width.store(width, Relaxed);
    }

    pub fn set_fps(&self, fps: u32) {
        self.fps.store(fps, Relaxed);
    }

    /// The sequence number of the newest picture (0 before the first).
    pub fn seq(&self) -> u64 {
        self.seq.load(Relaxed)
    }

    /// `read` applied to the newest picture if it is newer than `seen`, without copying it
    /// first. `read` runs with the picture locked, as the copy did: should the H.264 thread be
    /// due a picture meanwhile, it waits for `read` to return, so keep `read` to one copy.
    pub fn with_newer<R>(&self, seen: u64, read: impl FnOnce(&PreviewImage) -> R) -> Option<R> {
        if self.seq() <= seen {
            return None;
        }
        self.image.lock().ok().map(|p| read(&p.image))
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
        let Ok(mut picture) = self.image.lock() else {
            return;
        };
        let Picture { image, columns } = &mut *picture;
        scale_to_rgba(frame, self.width.load(Relaxed), image, columns);
        image.pts = frame.pts;
        image.seq = self.seq.fetch_add(1, Relaxed) + 1;
    }
}

/// Nearest-neighbour downscale of an I420 frame into `out` (its buffer reused), BT.601
/// limited range to RGB. The source column of each output column is worked out once per
/// picture into `columns` (reused), not per pixel: this runs on the H.264 thread.
fn scale_to_rgba(frame: &VideoFrame, width: u32, out: &mut PreviewImage, columns: &mut Vec<usize>) {
    let (sw, sh) = (frame.width as usize, frame.height as usize);
    // Chroma is a quarter of the picture, rows and columns rounded down (`VideoFrame`).
    let (cw, ch) = (sw / 2, sh / 2);
    if cw == 0 || ch == 0 {
        return;
    }
    let w = sw.min(width.max(1) as usize);
    let h = (sh * w / sw).max(1);
    out.width = w as u32;
    out.height = h as u32;
    out.rgba.resize(w * h * 4, 255);
    let (y_plane, u_plane, v_plane) = frame.planes();
    columns.clear();
    columns.extend((0..w).map(|col| (col * sw / w).min(2 * cw - 1)));
    for (row, line) in out.rgba.chunks_exact_mut(w * 4).enumerate() {
        let sy = row * sh / h;
        let ys = &y_plane[sy * sw..][..sw];
        let cy = (sy / 2).min(ch - 1);
        let us = &u_plane[cy * cw..][..cw];
        let vs = &v_plane[cy * cw..][..cw];
        for (px, &sx) in line.chunks_exact_mut(4).zip(columns.iter()) {
            let y = i32::from(ys[sx]) - 16;
            let u = i32::from(us[sx / 2]) - 128;
            let v = i32::from(vs[sx / 2]) - 128;
            // Fixed point (x256) BT.601 limited range.
            let c = 298 * y;
            px[0] = ((c + 409 * v + 128) >> 8).clamp(0, 255) as u8;
            px[1] = ((c - 100 * u - 208 * v + 128) >> 8).clamp(0, 255) as u8;
            px[2] = ((c + 516 * u + 128) >> 8).clamp(0, 255) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A copy of the newest picture if it is newer than `seen`.
    fn newer_than(p: &ProgramPreview, seen: u64) -> Option<PreviewImage> {
        p.with_newer(seen, PreviewImage::clone)
    }

    fn grey(pts_ms: i64, luma: u8) -> VideoFrame {
        let mut f = VideoFrame::black(1280, 720, MediaTime::from_millis(pts_ms));
        let (y, _, _) = f.planes_mut();
        y.fill(luma);
        f
    }

    #[test]
    fn keeps_at_most_fps_pictures_scaled_and_converted() {
        let p = ProgramPreview::new(10);
        assert!(newer_than(&p, 0).is_none());
        for i in 0..30 {
            p.offer(&grey(i * 33, 235)); // one second at 30 fps
        }
        assert_eq!(p.seq(), 10);
        let img = newer_than(&p, 0).unwrap();
        assert_eq!((img.width, img.height), (640, 360));
        assert_eq!(img.rgba.len(), 640 * 360 * 4);
        // Limited-range white (Y 235, neutral chroma) is RGB white.
        assert_eq!(&img.rgba[..4], &[255, 255, 255, 255]);
        assert!(newer_than(&p, 10).is_none());
        p.set_fps(0);
        p.offer(&grey(5_000, 16));
        assert_eq!(p.seq(), 10);
    }

    #[test]
    fn makes_pictures_as_wide_as_asked_but_never_wider_than_the_program() {
        let p = ProgramPreview::new(30);
        p.set_width(881);
        p.offer(&grey(0, 235));
        let img = newer_than(&p, 0).unwrap();
        assert_eq!((img.width, img.height), (881, 495));
        p.set_width(4000);
        p.offer(&grey(1_000, 235));
        let img = newer_than(&p, 1).unwrap();
        assert_eq!(
            (img.width, img.height),
            (1280, 720),
            "never wider than the program"
        );
        p.set_width(0);
        p.offer(&grey(2_000, 235));
        assert_eq!(newer_than(&p, 2).unwrap().width, *PREVIEW_WIDTHS.start());
    }

    /// The straightforward per-pixel conversion the fast one must match.
    fn reference(frame: &VideoFrame) -> (u32, u32, Vec<u8>) {
        let (sw, sh) = (frame.width, frame.height);
        let w = sw.min(PREVIEW_MAX_WIDTH);
        let h = (sh * w / sw).max(1);
        let (yp, up, vp) = frame.planes();
        let cw = (sw / 2) as usize;
        let mut out = Vec::new();
        for row in 0..h {
            let sy = (row * sh / h) as usize;
            for col in 0..w {
                let sx = (col * sw / w) as usize;
                let y = f64::from(yp[sy * sw as usize + sx]) - 16.0;
                let u = f64::from(up[(sy / 2) * cw + sx / 2]) - 128.0;
                let v = f64::from(vp[(sy / 2) * cw + sx / 2]) - 128.0;
                let rgb = [
                    1.164 * y + 1.596 * v,
                    1.164 * y - 0.391 * u - 0.813 * v,
                    1.164 * y + 2.018 * u,
                ];
                out.extend(rgb.map(|c| c.round().clamp(0.0, 255.0) as u8));
                out.push(255);
            }
        }
        (w, h, out)
    }

    #[test]
    fn matches_a_per_pixel_bt601_conversion_at_any_scale() {
        for (w, h) in [(1282, 722), (334, 198), (640, 360), (1920, 1080), (2, 2)] {
            let mut f = VideoFrame::black(w, h, MediaTime::ZERO);
            let (y, u, v) = f.planes_mut();
            // Distinct values everywhere, so a wrong row or column shows.
            for (i, b) in y.iter_mut().enumerate() {
                *b = (16 + (i * 7 + i / 13) % 220) as u8;
            }
            for (i, b) in u.iter_mut().enumerate() {
                *b = (16 + (i * 11) % 225) as u8;
            }
            for (i, b) in v.iter_mut().enumerate() {
                *b = (16 + (i * 5 + 3) % 225) as u8;
            }
            let p = ProgramPreview::new(30);
            p.offer(&f);
            let img = newer_than(&p, 0).unwrap();
            let (rw, rh, rgba) = reference(&f);
            assert_eq!((img.width, img.height), (rw, rh), "{w}x{h}");
            let worst = img
                .rgba
                .iter()
                .zip(&rgba)
                .map(|(a, b)| a.abs_diff(*b))
                .max()
                .unwrap();
            // Fixed point against floating point: off by at most 2 in a channel.
            assert!(worst <= 2, "{w}x{h}: a channel differs by {worst}");
        }
    }
}
