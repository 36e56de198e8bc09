//! What a 1080p program frame costs: screen capture (our X11 grabber over MIT-SHM and its
//! GetImage fallback, and xcap for comparison, when a display is there), RGBA/BGRX to I420,
//! camera formats to I420, and composing screen (plus camera) into the program frame.
//!
//!     cargo run --release --example capture_cost            # conversions and composition
//!     Xvfb :9 -screen 0 1920x1080x24 -noreset &
//!     DISPLAY=:9 cargo run --release --example capture_cost # also the X11 grabs of screen 0

#![allow(clippy::unwrap_used)] // a measuring tool: a panic is the report

use std::sync::Arc;
use std::time::{Duration, Instant};

use onair::capture::camera::{CamPixels, decode};
use onair::capture::compose::{Compositor, Layer};
use onair::capture::convert::{MjpegDecoder, Rgba32, ensure_size, rgb32_to_i420};
use onair::capture::latest::LatestFrame;
use onair::capture::{PipLayout, SourceCounters, VideoSource};
use onair::media::{MediaTime, VideoFrame};

const W: u32 = 1920;
const H: u32 = 1080;

fn time(what: &str, n: u32, mut f: impl FnMut()) -> Duration {
    f(); // warm up (first-use allocations)
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    let per = start.elapsed() / n;
    println!("{what:<58} {:>7.3} ms", per.as_secs_f64() * 1000.0);
    per
}

fn main() {
    let n = 100;
    // A busy RGBA picture (gradients), as a screen grab delivers.
    let rgba: Vec<u8> = (0..W * H)
        .flat_map(|i| {
            let (x, y) = (i % W, i / W);
            [(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8, 255]
        })
        .collect();
    let mut screen = VideoFrame::black(2, 2, MediaTime::ZERO);
    let convert = time("RGBA 1920x1080 -> I420 (yuv)", n, || {
        rgb32_to_i420(&rgba, W as usize * 4, W, H, Rgba32::Rgba, &mut screen).unwrap();
    });

    let yuyv: Vec<u8> = (0..W * H * 2).map(|i| (i % 251) as u8).collect();
    let nv12: Vec<u8> = (0..W * H * 3 / 2).map(|i| (i % 251) as u8).collect();
    let mut cam = VideoFrame::black(2, 2, MediaTime::ZERO);
    let mut mjpeg = MjpegDecoder::default();
    time("camera YUYV 1920x1080 -> I420", n, || {
        decode(CamPixels::Yuyv, &yuyv, W, H, &mut mjpeg, &mut cam).unwrap();
    });
    time("camera NV12 1920x1080 -> I420", n, || {
        decode(CamPixels::Nv12, &nv12, W, H, &mut mjpeg, &mut cam).unwrap();
    });
    if let Some(path) = std::env::args().nth(1) {
        let jpeg = std::fs::read(path).unwrap();
        time("camera MJPEG (file given) -> I420", 30, || {
            decode(CamPixels::Mjpeg, &jpeg, W, H, &mut mjpeg, &mut cam).unwrap();
        });
    }

    // Composition: screen full frame, camera (1280x720) as picture-in-picture, a new device
    // frame before every program frame (the worst case: everything scaled every frame).
    let counters = |name: &str| Arc::new(SourceCounters::new(name, "bench"));
    let screen_slot = Arc::new(LatestFrame::new(counters("screen")));
    let cam_slot = Arc::new(LatestFrame::new(counters("camera")));
    let full = Compositor::full(W, H);
    let pip = Compositor::pip_rect(W, H, PipLayout::default());
    let mut comp = Compositor::new(
        W,
        H,
        vec![
            Layer::new(screen_slot.clone(), full, "screen"),
            Layer::new(cam_slot.clone(), pip, "camera"),
        ],
        Vec::new(),
    );
    let mut program = VideoFrame::black(W, H, MediaTime::ZERO);
    let mut s_work = screen.clone();
    let mut c_work = VideoFrame::black(1280, 720, MediaTime::ZERO);
    let compose = time("compose 1080p screen + 720p camera PiP -> 1080p", n, || {
        // Device frames as a capture thread makes them: every rotating buffer at full size
        // (the slot hands back its previous buffer, which `ensure_size` brings to size once).
        ensure_size(&mut s_work, W, H);
        ensure_size(&mut c_work, 1280, 720);
        screen_slot.publish(&mut s_work);
        cam_slot.publish(&mut c_work);
        comp.fill(MediaTime::ZERO, &mut program).unwrap();
    });
    let only_slot = Arc::new(LatestFrame::new(counters("screen")));
    let mut only = Compositor::new(
        W,
        H,
        vec![Layer::new(only_slot.clone(), full, "screen")],
        Vec::new(),
    );
    let compose_screen = time("compose 1080p screen alone -> 1080p", n, || {
        ensure_size(&mut s_work, W, H);
        only_slot.publish(&mut s_work);
        only.fill(MediaTime::ZERO, &mut program).unwrap();
    });
    let mut s720 = VideoFrame::black(1280, 720, MediaTime::ZERO);
    time(
        "compose 720p screen (upscaled) + 720p camera -> 1080p",
        n,
        || {
            ensure_size(&mut s720, 1280, 720);
            ensure_size(&mut c_work, 1280, 720);
            screen_slot.publish(&mut s720);
            cam_slot.publish(&mut c_work);
            comp.fill(MediaTime::ZERO, &mut program).unwrap();
        },
    );
    time("compose, device frames unchanged (repeat)", n, || {
        comp.fill(MediaTime::ZERO, &mut program).unwrap();
    });

    if std::env::var_os("DISPLAY").is_some() {
        x11(convert, compose_screen, compose);
    } else {
        println!(
            "{:<58} {:>7.3} ms  (no DISPLAY: grab not measured)",
            "=> convert + compose per 1080p frame",
            (convert + compose).as_secs_f64() * 1000.0
        );
    }
}

/// The X11 grabs of screen 0: ours (MIT-SHM, then GetImage), then xcap's as the screen source
/// used it before (bands of at most 2 MB, a connection per band).
#[cfg(target_os = "linux")]
fn x11(rgba_convert: Duration, compose_screen: Duration, compose_pip: Duration) {
    use onair::capture::x11grab::{Grabber, Method, Target};
    let mut frame = VideoFrame::black(2, 2, MediaTime::ZERO);
    let mut results = Vec::new();
    for method in [Method::Auto, Method::GetImage] {
        let mut g = Grabber::open_on(None, Target::Monitor(0), method).unwrap();
        let (mw, mh) = g.size();
        let name = g.method();
        let grab = time(
            &format!("X11 grab of screen 0 ({mw}x{mh}), {name}"),
            n_grabs(),
            || {
                g.grab().unwrap();
            },
        );
        let p = g.grab().unwrap();
        let (data, stride, w, h, order) = (p.data, p.stride, p.width, p.height, p.order);
        let convert = time(
            &format!("  BGRX -> I420 straight from the {name} picture"),
            100,
            || {
                rgb32_to_i420(data, stride, w, h, order, &mut frame).unwrap();
            },
        );
        let both = time(
            &format!("  {name}: grab + convert (as the screen thread does)"),
            n_grabs(),
            || {
                let p = g.grab().unwrap();
                rgb32_to_i420(p.data, p.stride, p.width, p.height, p.order, &mut frame).unwrap();
            },
        );
        results.push((name, grab, convert, both));
    }
    let monitor = &xcap::Monitor::all().unwrap()[0];
    let (mw, mh) = (monitor.width().unwrap(), monitor.height().unwrap());
    let band = (2u32 << 20) / (mw * 4);
    let xcap = time(
        &format!("xcap grab of screen 0 ({mw}x{mh}), in bands (before)"),
        n_grabs(),
        || {
            let mut y = 0;
            while y < mh {
                let rows = band.min(mh - y);
                monitor.capture_region(0, y, mw, rows).unwrap();
                y += rows;
            }
        },
    );
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    for (name, _, _, both) in &results {
        println!(
            "{:<58} {:>7.3} ms",
            format!("=> {name} grab + convert + compose (screen alone)"),
            ms(*both + compose_screen)
        );
        println!(
            "{:<58} {:>7.3} ms",
            format!("=> {name} grab + convert + compose (+ camera PiP)"),
            ms(*both + compose_pip)
        );
    }
    println!(
        "{:<58} {:>7.3} ms",
        "=> xcap grab + RGBA convert + compose (+ PiP), before",
        ms(xcap + rgba_convert + compose_pip)
    );
}

#[cfg(not(target_os = "linux"))]
fn x11(_: Duration, _: Duration, _: Duration) {}

/// Grabs per measurement (each grab is a round trip to the X server).
#[cfg(target_os = "linux")]
fn n_grabs() -> u32 {
    60
}
