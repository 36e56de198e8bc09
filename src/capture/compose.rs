//! The program picture: device pictures scaled into their places (screen full frame, camera
//! as picture-in-picture, or one of them alone), and a "source lost" slate where a device is
//! gone. Runs on the engine's video thread at the program's frame rate; every buffer is kept
//! between frames, and a picture that has not changed is not scaled again.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use crossbeam_channel::Receiver;

use super::convert::{BLACK, PlaneScaler, Rect, even, fill_rect};
use super::font::{Caption, GLYPH_H, GLYPH_W, draw_text};
use super::latest::LatestFrame;
use super::{CaptureError, Corner, PipLayout, SourceCounters, SourceDevices, VideoSource, Worker};
use crate::media::time::Clock;
use crate::media::{MediaTime, VideoFrame};

/// Slate colours (limited-range luma): dark grey ground, white text.
pub const SLATE_LUMA: u8 = 40;
pub const SLATE_TEXT_LUMA: u8 = 235;

/// One device picture and where it goes.
pub struct Layer {
    slot: Arc<LatestFrame>,
    area: Rect,
    label: String,
    front: VideoFrame,
    has_frame: bool,
    scaler: PlaneScaler,
}

impl Layer {
    pub fn new(slot: Arc<LatestFrame>, area: Rect, label: impl Into<String>) -> Self {
        Self {
            slot,
            area,
            label: label.into().to_ascii_uppercase(),
            front: VideoFrame::black(2, 2, MediaTime::ZERO),
            has_frame: false,
            scaler: PlaneScaler::default(),
        }
    }
}

/// Draws the layers bottom to top into each program frame.
pub struct Compositor {
    width: u32,
    height: u32,
    layers: Vec<Layer>,
    workers: Vec<Worker>,
    pending: Vec<Receiver<Result<(), CaptureError>>>,
}

impl Compositor {
    pub fn new(width: u32, height: u32, layers: Vec<Layer>, workers: Vec<Worker>) -> Self {
        Self {
            width,
            height,
            layers,
            workers,
            pending: Vec::new(),
        }
    }

    /// Also waits for this device thread's first open in [`VideoSource::wait_ready`].
    pub fn wait_for(&mut self, first_open: Receiver<Result<(), CaptureError>>) {
        self.pending.push(first_open);
    }

    /// The whole program picture.
    pub fn full(width: u32, height: u32) -> Rect {
        Rect {
            x: 0,
            y: 0,
            w: even(width),
            h: even(height),
        }
    }

    /// The picture-in-picture box: `width_percent` of the program width, the program's aspect
    /// ratio, in `corner` with a margin of 1/40 of the width.
    pub fn pip_rect(width: u32, height: u32, pip: PipLayout) -> Rect {
        let pct = u32::from(pip.width_percent.clamp(5, 100));
        let w = even(width * pct / 100).max(2);
        let h = even((u64::from(w) * u64::from(height) / u64::from(width.max(1))) as u32).max(2);
        let m = even(width / 40);
        let (left, top) = (m, m);
        let right = width.saturating_sub(w + m);
        let bottom = height.saturating_sub(h + m);
        let (x, y) = match pip.corner {
            Corner::TopLeft => (left, top),
            Corner::TopRight => (right, top),
            Corner::BottomLeft => (left, bottom),
            Corner::BottomRight => (right, bottom),
        };
        Rect {
            x: even(x),
            y: even(y),
            w,
            h,
        }
    }
}

/// Waits for each device's first open (at most 10 s each); the first failure is the error.
pub(super) fn wait_opened(
    pending: &mut Vec<Receiver<Result<(), CaptureError>>>,
) -> Result<(), CaptureError> {
    for rx in pending.drain(..) {
        match rx.recv_timeout(std::time::Duration::from_secs(10)) {
            Ok(r) => r?,
            Err(_) => {
                return Err(CaptureError::Open {
                    kind: "video device",
                    name: "?".into(),
                    detail: "did not open within 10 s".into(),
                });
            }
        }
    }
    Ok(())
}

/// Fills `area` with the slate: dark grey, "SOURCE LOST" and the source's label.
pub fn draw_slate(frame: &mut VideoFrame, area: Rect, label: &str) {
    fill_rect(frame, area, (SLATE_LUMA, 128, 128));
    let stride = frame.width as usize;
    let lines = ["SOURCE LOST", label, "RECONNECTING"];
    let longest = lines.iter().map(|l| l.chars().count()).max().unwrap_or(1);
    let advance = GLYPH_W + 1;
    // Largest scale at which the longest line takes at most 80% of the width.
    let scale = ((area.w as usize * 4 / 5) / (longest * advance + 1))
        .min(area.h as usize / ((GLYPH_H + 3) * lines.len() * 2))
        .max(1);
    let line_h = (GLYPH_H + 3) * scale;
    let top = area.y as usize + (area.h as usize).saturating_sub(line_h * lines.len()) / 2;
    let (yp, _, _) = frame.planes_mut();
    for (i, text) in lines.iter().enumerate() {
        let text_w = (text.chars().count() * advance + 1) * scale;
        let x = area.x as usize + (area.w as usize).saturating_sub(text_w) / 2;
        let caption = Caption {
            x,
            y: top + i * line_h,
            scale,
            fg: SLATE_TEXT_LUMA,
            bg: SLATE_LUMA,
        };
        draw_text(yp, stride, text, &caption);
    }
}

impl VideoSource for Compositor {
    fn fill(&mut self, pts: MediaTime, frame: &mut VideoFrame) -> Result<(), CaptureError> {
        if (frame.width, frame.height) != (self.width, self.height) {
            return Err(CaptureError::SizeMismatch {
                source_name: "compositor",
                got_w: frame.width,
                got_h: frame.height,
                want_w: self.width,
                want_h: self.height,
            });
        }
        frame.pts = pts;
        for layer in &mut self.layers {
            let fresh = layer.slot.take(&mut layer.front);
            let lost = layer.slot.is_lost();
            if fresh {
                layer.has_frame = true;
            } else if layer.has_frame && !lost {
                layer.slot.counters().repeated.fetch_add(1, Relaxed);
            }
            if lost {
                draw_slate(frame, layer.area, &layer.label);
            } else if layer.has_frame {
                layer.scaler.draw(&layer.front, fresh, frame, layer.area)?;
            } else {
                fill_rect(frame, layer.area, BLACK);
            }
        }
        Ok(())
    }
}

impl SourceDevices for Compositor {
    fn take_workers(&mut self) -> Vec<Worker> {
        std::mem::take(&mut self.workers)
    }

    fn set_clock(&mut self, clock: Clock) {
        for layer in &self.layers {
            layer.slot.set_clock(clock);
        }
    }

    fn device_counters(&self) -> Vec<Arc<SourceCounters>> {
        self.layers
            .iter()
            .map(|l| l.slot.counters().clone())
            .collect()
    }

    fn wait_ready(&mut self) -> Result<(), CaptureError> {
        wait_opened(&mut self.pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solid(w: u32, h: u32, (y, u, v): (u8, u8, u8)) -> VideoFrame {
        let mut f = VideoFrame::black(w, h, MediaTime::ZERO);
        let (py, pu, pv) = f.planes_mut();
        py.fill(y);
        pu.fill(u);
        pv.fill(v);
        f
    }

    fn slot(name: &str) -> Arc<LatestFrame> {
        Arc::new(LatestFrame::new(Arc::new(SourceCounters::new(
            name, "test",
        ))))
    }

    /// Mean luma of a rectangle.
    fn mean(f: &VideoFrame, r: Rect) -> f64 {
        let y = f.planes().0;
        let mut sum = 0u64;
        for row in r.y..r.y + r.h {
            for col in r.x..r.x + r.w {
                sum += u64::from(y[(row * f.width + col) as usize]);
            }
        }
        sum as f64 / f64::from(r.w * r.h)
    }

    #[test]
    fn camera_lands_in_its_corner_over_the_screen() {
        let (w, h) = (1280, 720);
        let screen = slot("screen");
        let camera = slot("camera");
        let pip = PipLayout {
            corner: Corner::BottomRight,
            width_percent: 25,
        };
        let pip_rect = Compositor::pip_rect(w, h, pip);
        assert_eq!(
            pip_rect,
            Rect {
                x: 1280 - 320 - 32,
                y: 720 - 180 - 32,
                w: 320,
                h: 180
            }
        );
        let mut c = Compositor::new(
            w,
            h,
            vec![
                Layer::new(screen.clone(), Compositor::full(w, h), "screen"),
                Layer::new(camera.clone(), pip_rect, "camera"),
            ],
            Vec::new(),
        );
        // Screen: red-ish luma 81 at 1920x1080 (scaled down); camera: luma 200 at 640x360.
        screen.publish(&mut solid(1920, 1080, (81, 90, 240)));
        camera.publish(&mut solid(640, 360, (200, 128, 128)));
        let mut frame = VideoFrame::black(w, h, MediaTime::ZERO);
        c.fill(MediaTime::from_millis(40), &mut frame).unwrap();
        assert_eq!(frame.pts, MediaTime::from_millis(40));
        let inset = |r: Rect| Rect {
            x: r.x + 4,
            y: r.y + 4,
            w: r.w - 8,
            h: r.h - 8,
        };
        assert!((mean(&frame, inset(pip_rect)) - 200.0).abs() < 1.0);
        // Everything outside the camera box is the screen.
        let left = Rect {
            x: 0,
            y: 0,
            w: pip_rect.x - 2,
            h,
        };
        let above = Rect {
            x: 0,
            y: 0,
            w,
            h: pip_rect.y - 2,
        };
        assert!((mean(&frame, left) - 81.0).abs() < 1.0);
        assert!((mean(&frame, above) - 81.0).abs() < 1.0);
        // Chroma of the screen region too (V = 240 for red).
        assert_eq!(frame.planes().2[10], 240);

        // Next frame with no new device frame: the same picture again, counted as repeats.
        let before = frame.data.clone();
        frame.data.fill(0);
        c.fill(MediaTime::from_millis(80), &mut frame).unwrap();
        assert_eq!(frame.data, before);
        assert_eq!(screen.counters().repeated.load(Relaxed), 1);
        assert_eq!(camera.counters().repeated.load(Relaxed), 1);
    }

    #[test]
    fn a_lost_source_shows_the_slate_in_its_place_only() {
        let (w, h) = (640, 360);
        let screen = slot("screen");
        let camera = slot("camera");
        let pip = PipLayout {
            corner: Corner::TopLeft,
            width_percent: 30,
        };
        let pip_rect = Compositor::pip_rect(w, h, pip);
        let mut c = Compositor::new(
            w,
            h,
            vec![
                Layer::new(screen.clone(), Compositor::full(w, h), "screen 0"),
                Layer::new(camera.clone(), pip_rect, "camera 0"),
            ],
            Vec::new(),
        );
        screen.publish(&mut solid(640, 360, (150, 128, 128)));
        camera.publish(&mut solid(320, 240, (100, 128, 128)));
        camera.set_lost(true);
        let mut frame = VideoFrame::black(w, h, MediaTime::ZERO);
        c.fill(MediaTime::ZERO, &mut frame).unwrap();
        // The camera box is the slate: mostly dark grey with white letters.
        let y = frame.planes().0;
        let in_box: Vec<u8> = (pip_rect.y..pip_rect.y + pip_rect.h)
            .flat_map(|r| (pip_rect.x..pip_rect.x + pip_rect.w).map(move |c| (r, c)))
            .map(|(r, c)| y[(r * w + c) as usize])
            .collect();
        let grey = in_box.iter().filter(|&&v| v == SLATE_LUMA).count();
        let text = in_box.iter().filter(|&&v| v == SLATE_TEXT_LUMA).count();
        assert!(grey > in_box.len() / 2, "{grey} of {}", in_box.len());
        assert!(text > 100, "{text} text pixels");
        // The screen is untouched outside the box.
        let right = Rect {
            x: pip_rect.x + pip_rect.w + 2,
            y: 0,
            w: w - pip_rect.x - pip_rect.w - 2,
            h,
        };
        assert!((mean(&frame, right) - 150.0).abs() < 0.5);
        // Back: the camera shows again.
        camera.publish(&mut solid(320, 240, (100, 128, 128)));
        c.fill(MediaTime::ZERO, &mut frame).unwrap();
        let fit = pip_rect.fit(320, 240);
        let centre = ((fit.y + fit.h / 2) * w + fit.x + fit.w / 2) as usize;
        assert_eq!(frame.planes().0[centre], 100);
    }

    #[test]
    fn nothing_yet_is_black_not_garbage() {
        let s = slot("screen");
        let mut c = Compositor::new(
            64,
            36,
            vec![Layer::new(s, Compositor::full(64, 36), "screen")],
            Vec::new(),
        );
        let mut frame = VideoFrame::black(64, 36, MediaTime::ZERO);
        frame.data.fill(99);
        c.fill(MediaTime::ZERO, &mut frame).unwrap();
        assert!(frame.planes().0.iter().all(|&v| v == 16));
        assert!(frame.planes().1.iter().all(|&v| v == 128));
    }
}
