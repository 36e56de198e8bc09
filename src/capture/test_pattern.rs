//! The `test` video source: a moving pattern with the frame number, the media time and the
//! A/V sync marker drawn on it.
//!
//! The sync marker is a square of side H/8 at the top-left corner (x and y in 0..H/8): white on
//! the first frame at or after each whole second of media time, black on every other frame. The
//! `tone` audio source beeps at each whole second, so a recording shows any A/V offset as the
//! distance between the white square and the beep's onset.

use super::font::{Caption, draw_text};
use super::{CaptureError, SourceDevices, VideoSource};
use crate::media::{MediaTime, VideoFrame};

/// Studio-range luma for black and white.
pub const LUMA_BLACK: u8 = 16;
pub const LUMA_WHITE: u8 = 235;

pub struct TestPattern {
    width: u32,
    height: u32,
    frame_number: u64,
    /// The whole second whose marker frame has been shown already.
    marked_second: Option<i64>,
    /// One row of the moving colour bars (luma and chroma), rebuilt per frame then copied down.
    luma_row: Vec<u8>,
    chroma_rows: (Vec<u8>, Vec<u8>),
}

/// Colour bars in studio-range YCbCr: white, yellow, cyan, green, magenta, red, blue, grey.
const BARS: [(u8, u8, u8); 8] = [
    (180, 128, 128),
    (162, 44, 142),
    (131, 156, 44),
    (112, 72, 58),
    (84, 184, 198),
    (65, 100, 212),
    (35, 212, 114),
    (100, 128, 128),
];

impl TestPattern {
    pub fn new(width: u32, height: u32) -> Self {
        Self {
            width,
            height,
            frame_number: 0,
            marked_second: None,
            luma_row: vec![0; width as usize],
            chroma_rows: (vec![0; width as usize / 2], vec![0; width as usize / 2]),
        }
    }

    /// Side of the sync square in pixels (H/8, even so that chroma covers it exactly).
    pub fn marker_side(height: u32) -> usize {
        (height as usize / 8) & !1
    }

    /// Whether the frame at `pts` carries the white marker (and records that it did).
    fn take_marker(&mut self, pts: MediaTime) -> bool {
        let second = pts.as_secs_floor();
        if self.marked_second == Some(second) {
            return false;
        }
        self.marked_second = Some(second);
        true
    }
}

impl SourceDevices for TestPattern {}

impl VideoSource for TestPattern {
    fn fill(&mut self, pts: MediaTime, frame: &mut VideoFrame) -> Result<(), CaptureError> {
        if (frame.width, frame.height) != (self.width, self.height) {
            return Err(CaptureError::SizeMismatch {
                source_name: "test pattern",
                got_w: frame.width,
                got_h: frame.height,
                want_w: self.width,
                want_h: self.height,
            });
        }
        let (w, h) = (self.width as usize, self.height as usize);
        let n = self.frame_number;
        self.frame_number += 1;
        frame.pts = pts;

        // Bars scroll left by 4 px per frame.
        let bar_w = (w / BARS.len()).max(1);
        let shift = (n as usize * 4) % w;
        for x in 0..w {
            let (y, u, v) = BARS[((x + shift) / bar_w) % BARS.len()];
            self.luma_row[x] = y;
            if x % 2 == 0 {
                self.chroma_rows.0[x / 2] = u;
                self.chroma_rows.1[x / 2] = v;
            }
        }
        let marker = self.take_marker(pts);
        let side = Self::marker_side(self.height);
        let (yp, up, vp) = frame.planes_mut();
        for row in yp.chunks_exact_mut(w) {
            row.copy_from_slice(&self.luma_row);
        }
        for row in up.chunks_exact_mut(w / 2) {
            row.copy_from_slice(&self.chroma_rows.0);
        }
        for row in vp.chunks_exact_mut(w / 2) {
            row.copy_from_slice(&self.chroma_rows.1);
        }

        // A grey box bouncing along the bottom third, so motion is visible at a glance.
        let box_side = (h / 6).max(2);
        let travel = w.saturating_sub(box_side).max(1);
        let phase = (n as usize * 8) % (2 * travel);
        let bx = if phase < travel {
            phase
        } else {
            2 * travel - phase
        };
        let by = h - box_side - h / 12;
        for row in by..by + box_side {
            yp[row * w + bx..row * w + bx + box_side].fill(200);
        }

        // The sync marker: the whole square, luma and chroma, so nothing else bleeds into it.
        let luma = if marker { LUMA_WHITE } else { LUMA_BLACK };
        for row in 0..side {
            yp[row * w..row * w + side].fill(luma);
        }
        for row in 0..side / 2 {
            up[row * (w / 2)..row * (w / 2) + side / 2].fill(128);
            vp[row * (w / 2)..row * (w / 2) + side / 2].fill(128);
        }

        // Captions: frame number and media time, right of the marker.
        let scale = (h / 180).max(1);
        let ms = pts.as_millis_floor().max(0);
        let text = format!(
            "#{n:06} {:02}:{:02}:{:02}.{:03}",
            ms / 3_600_000,
            ms / 60_000 % 60,
            ms / 1000 % 60,
            ms % 1000
        );
        let caption = Caption {
            x: side + 2 * scale,
            y: 2 * scale,
            scale,
            fg: LUMA_WHITE,
            bg: LUMA_BLACK,
        };
        draw_text(yp, w, &text, &caption);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::Timebase;

    fn mean_marker_luma(f: &VideoFrame) -> u32 {
        let side = TestPattern::marker_side(f.height);
        let w = f.width as usize;
        let (y, _, _) = f.planes();
        let mut sum = 0u32;
        for row in 0..side {
            sum += y[row * w..row * w + side]
                .iter()
                .map(|&v| u32::from(v))
                .sum::<u32>();
        }
        sum / (side * side) as u32
    }

    #[test]
    fn marker_is_white_once_per_second_at_30_fps() {
        let mut src = TestPattern::new(1280, 720);
        let mut frame = VideoFrame::black(1280, 720, MediaTime::ZERO);
        let tb = Timebase::per_second(30);
        let mut white = Vec::new();
        for n in 0..95 {
            src.fill(tb.ticks_to_time(n), &mut frame).unwrap();
            if mean_marker_luma(&frame) == u32::from(LUMA_WHITE) {
                white.push(n);
            } else {
                assert_eq!(mean_marker_luma(&frame), u32::from(LUMA_BLACK), "frame {n}");
            }
        }
        assert_eq!(white, vec![0, 30, 60, 90]);
    }

    #[test]
    fn marker_follows_media_time_not_frame_count() {
        // A late frame that lands past a second boundary still carries the marker, and the
        // next one does not.
        let mut src = TestPattern::new(320, 240);
        let mut frame = VideoFrame::black(320, 240, MediaTime::ZERO);
        let times = [0, 980, 1_013, 1_046, 2_100];
        let marks: Vec<bool> = times
            .iter()
            .map(|&ms| {
                src.fill(MediaTime::from_millis(ms), &mut frame).unwrap();
                mean_marker_luma(&frame) == u32::from(LUMA_WHITE)
            })
            .collect();
        assert_eq!(marks, vec![true, false, true, false, true]);
    }

    #[test]
    fn consecutive_frames_differ_and_sizes_are_checked() {
        let mut src = TestPattern::new(320, 240);
        let mut a = VideoFrame::black(320, 240, MediaTime::ZERO);
        let mut b = a.clone();
        src.fill(MediaTime::ZERO, &mut a).unwrap();
        src.fill(MediaTime::from_millis(33), &mut b).unwrap();
        assert_ne!(a.data, b.data);
        let mut wrong = VideoFrame::black(640, 480, MediaTime::ZERO);
        assert!(src.fill(MediaTime::ZERO, &mut wrong).is_err());
    }
}
