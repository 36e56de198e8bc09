//! The studio's compositor per 1080p60 frame: a scene of a screen (a new 1080p picture every
//! frame), a 720p camera scaled into a corner (new every frame), a PNG-like logo with alpha
//! and a text layer; and the same during a fade to a second scene (both drawn, then mixed).
//! Device pictures come through their `LatestFrame` slots as from capture threads.
//! `studio_load`: a scene collection of 20 scenes and 50 layers from config text to an open
//! studio (parse, validate, open the sources that are not devices).

#![allow(clippy::unwrap_used)] // a bench: a panic is the failure report

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};

use onair::capture::latest::LatestFrame;
use onair::capture::scene::{
    Collection, Layer, Rgba, Scene, Source, SourceKind, TextSpec, Transition,
};
use onair::capture::studio::Studio;
use onair::capture::{SourceCounters, VideoSource};
use onair::media::{MediaTime, VideoFrame};

const W: u32 = 1920;
const H: u32 = 1080;

fn picture(w: u32, h: u32, seed: u8) -> VideoFrame {
    let mut f = VideoFrame::black(w, h, MediaTime::ZERO);
    for (i, v) in f.data.iter_mut().enumerate() {
        *v = (i as u8).wrapping_mul(31).wrapping_add(seed);
    }
    f
}

fn studio(transition: Transition) -> (Studio, Arc<LatestFrame>, Arc<LatestFrame>) {
    let dir = std::env::temp_dir().join(format!("onair-bench-studio-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let logo = dir.join("logo.png");
    image::RgbaImage::from_fn(256, 128, |x, y| {
        image::Rgba([255, x as u8, y as u8, (x % 256) as u8])
    })
    .save(&logo)
    .unwrap();
    let text = TextSpec {
        background: Some(Rgba([0, 0, 0, 128])),
        ..TextSpec::plain("LIVE {elapsed}", 48, Rgba::WHITE)
    };
    let src = |name: &str, kind| Source {
        name: name.into(),
        kind,
    };
    let collection = Collection {
        sources: vec![
            src("screen", SourceKind::Test),
            src("camera", SourceKind::Test),
            src("logo", SourceKind::Image(logo.clone())),
            src("text", SourceKind::Text(text)),
            src("bg", SourceKind::Colour(Rgba([20, 30, 40, 255]))),
        ],
        scenes: vec![
            Scene {
                name: "live".into(),
                layers: vec![
                    Layer::full(0),
                    Layer {
                        x: 1392,
                        y: 762,
                        size: Some((480, 270)),
                        ..Layer::full(1)
                    },
                    Layer {
                        x: 40,
                        y: 40,
                        ..Layer::full(2)
                    },
                    Layer {
                        x: 40,
                        y: 960,
                        ..Layer::full(3)
                    },
                ],
            },
            Scene {
                name: "brb".into(),
                layers: vec![
                    Layer::full(4),
                    Layer {
                        x: 800,
                        y: 500,
                        ..Layer::full(3)
                    },
                ],
            },
        ],
        transition,
        builtin: false,
    };
    let mut s = Studio::open(collection, 0, W, H, 60).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    let screen = Arc::new(LatestFrame::new(Arc::new(SourceCounters::new(
        "screen", "screen",
    ))));
    let camera = Arc::new(LatestFrame::new(Arc::new(SourceCounters::new(
        "camera", "camera",
    ))));
    s.attach(0, screen.clone(), "screen");
    s.attach(1, camera.clone(), "camera");
    (s, screen, camera)
}

fn bench(c: &mut Criterion) {
    let frame_time = MediaTime::from_nanos(16_666_667);
    let mut group = c.benchmark_group("studio_1080p");
    for (name, fading) in [
        ("screen+camera+logo+text", false),
        ("fade_between_two_scenes", true),
    ] {
        let (mut s, screen, camera) = studio(Transition::Fade(MediaTime::from_secs(10)));
        let control = s.control();
        let mut shots = [picture(W, H, 1), picture(W, H, 2)];
        let mut cams = [picture(1280, 720, 3), picture(1280, 720, 4)];
        let mut frame = VideoFrame::black(W, H, MediaTime::ZERO);
        let mut n = 0i64;
        group.bench_function(name, |b| {
            b.iter(|| {
                // New device pictures every frame (the worst case: every layer rescaled).
                // (The slots start with 2x2 buffers; once through the rotation, all are full.)
                let (shot, cam) = (&mut shots[(n % 2) as usize], &mut cams[(n % 2) as usize]);
                if shot.width != W {
                    *shot = picture(W, H, 1);
                }
                if cam.width != 1280 {
                    *cam = picture(1280, 720, 3);
                }
                screen.publish(shot);
                camera.publish(cam);
                if fading && n % 300 == 0 {
                    let to = if control.current() == "live" {
                        "brb"
                    } else {
                        "live"
                    };
                    control.switch(to, None).unwrap();
                }
                s.fill(frame_time * n, &mut frame).unwrap();
                n += 1;
                black_box(&frame);
            });
        });
    }
    group.finish();
}

/// Config text of 12 sources (4 PNG images of 256x256 in `dir`, 4 texts with a box or an
/// outline, 3 colours, the test pattern) and 20 scenes of 50 layers in all (2 or 3 each).
fn collection_text(dir: &std::path::Path) -> String {
    let mut t = String::from(
        "[[preset]]\nname = \"p\"\nwidth = 1920\nheight = 1080\nfps = 60\nvideo_kbps = 6000\n\n",
    );
    for i in 0..4 {
        let path = dir.join(format!("image{i}.png"));
        image::RgbaImage::from_fn(256, 256, |x, y| {
            image::Rgba([x as u8, y as u8, (i * 60) as u8, (x ^ y) as u8])
        })
        .save(&path)
        .unwrap();
        t += &format!(
            "[[sources]]\nname = \"image {i}\"\nkind = \"image\"\npath = {:?}\n\n",
            path.display().to_string()
        );
        t += &format!(
            "[[sources]]\nname = \"text {i}\"\nkind = \"text\"\ntext = \"Title {i} {{clock}}\"\n\
             size = 48\n{}\n\n",
            if i % 2 == 0 {
                "background = \"#00000080\""
            } else {
                "outline = \"#000000\"\noutline_width = 3"
            }
        );
    }
    for i in 0..3 {
        t += &format!(
            "[[sources]]\nname = \"colour {i}\"\nkind = \"colour\"\ncolour = \"#20{i}0{i}0\"\n\n"
        );
    }
    t += "[[sources]]\nname = \"pattern\"\nkind = \"test\"\n\n";
    let mut layers = 0;
    for scene in 0..20 {
        t += &format!("[[scenes]]\nname = \"Scene {scene}\"\n");
        let n = if scene < 10 { 3 } else { 2 };
        for l in 0..n {
            let source = match (scene + l) % 3 {
                0 => format!("colour {}", scene % 3),
                1 => format!("image {}", (scene + l) % 4),
                _ => format!("text {}", scene % 4),
            };
            t += &format!(
                "[[scenes.layers]]\nsource = \"{source}\"\nx = {}\ny = {}\n",
                l * 100,
                l * 50
            );
            layers += 1;
        }
        t += "\n";
    }
    assert_eq!(layers, 50);
    t
}

fn load(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("onair-bench-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = collection_text(&dir);
    let path = dir.join("config.toml");
    c.bench_function("studio_load/20_scenes_50_layers", |b| {
        b.iter(|| {
            let config = onair::config::Config::from_toml(&text, &path).unwrap();
            let collection = config.scenes.unwrap();
            assert_eq!(collection.scenes.len(), 20);
            black_box(Studio::open(collection, 0, W, H, 60).unwrap())
        });
    });
    std::fs::remove_dir_all(&dir).ok();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1));
    targets = bench, load
}
criterion_main!(benches);
