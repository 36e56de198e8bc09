use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use super::draw::place;
use super::text::expand;
use super::*;
use crate::capture::SourceCounters;
use crate::capture::scene::{
    Collection, Crop, Fit, Layer, Rgba, Scene, Source, SourceKind, Transition,
};
use crate::capture::studio::start_device;

fn colour(name: &str, rgb: [u8; 3]) -> Source {
    Source {
        name: name.into(),
        kind: SourceKind::Colour(Rgba([rgb[0], rgb[1], rgb[2], 255])),
    }
}

fn two_scenes(transition: Transition) -> Collection {
    Collection {
        sources: vec![colour("red", [200, 0, 0]), colour("blue", [0, 0, 200])],
        scenes: vec![
            Scene {
                name: "A".into(),
                layers: vec![Layer::full(0)],
            },
            Scene {
                name: "B".into(),
                layers: vec![Layer::full(1)],
            },
        ],
        transition,
        builtin: false,
    }
}

fn luma(f: &VideoFrame, x: u32, y: u32) -> u8 {
    f.planes().0[(y * f.width + x) as usize]
}

const FRAME: MediaTime = MediaTime::from_nanos(33_333_333);

#[test]
fn a_fade_of_500_ms_at_30_fps_spans_15_monotonic_frames_and_a_cut_one() {
    let (y_a, y_b) = (
        crate::capture::raster::yuv_of(200, 0, 0).0,
        crate::capture::raster::yuv_of(0, 0, 200).0,
    );
    assert!(y_a > y_b + 20);
    let fade = Transition::Fade(MediaTime::from_millis(500));
    let mut s = Studio::open(two_scenes(fade), 0, 64, 36, 30).unwrap();
    let control = s.control();
    let mut frame = VideoFrame::black(64, 36, MediaTime::ZERO);
    let mut seen = Vec::new();
    let mut fading = Vec::new();
    for n in 0..40i64 {
        if n == 5 {
            control.switch("B", None).unwrap();
        }
        s.fill(FRAME * n, &mut frame).unwrap();
        seen.push(luma(&frame, 10, 10));
        fading.push(control.fading_from());
    }
    // The fade's 15 frames say where they fade from (the window shows "A" -> "B").
    assert!(
        fading[5..5 + 15].iter().all(|f| f.as_deref() == Some("A")),
        "{fading:?}"
    );
    assert!(
        fading[..5]
            .iter()
            .chain(&fading[5 + 15..])
            .all(Option::is_none),
        "{fading:?}"
    );
    assert!(seen[..5].iter().all(|&v| v == y_a), "{seen:?}");
    let mixed: Vec<u8> = seen[5..]
        .iter()
        .copied()
        .take_while(|&v| v != y_b)
        .collect();
    assert_eq!(mixed.len(), 14, "{seen:?}");
    assert_eq!(seen[5 + 14], y_b, "the 15th frame is B alone");
    assert!(mixed.windows(2).all(|w| w[1] < w[0]), "{mixed:?}");
    assert!(seen[5 + 15..].iter().all(|&v| v == y_b));
    assert_eq!(control.current(), "B");
    assert_eq!(control.switches.load(Relaxed), 1);

    // A cut: the next frame is A alone.
    control.switch("A", Some(Transition::Cut)).unwrap();
    s.fill(FRAME * 40, &mut frame).unwrap();
    assert_eq!(luma(&frame, 10, 10), y_a);
    // An unknown scene is refused, naming the scenes.
    let e = control.switch("C", None).unwrap_err().to_string();
    assert_eq!(e, "no scene \"C\"; the scenes are: A, B");
    // A newer request replaces one not yet taken.
    control.switch("B", Some(Transition::Cut)).unwrap();
    control.switch("A", Some(Transition::Cut)).unwrap();
    assert_eq!(control.replaced.load(Relaxed), 1);
}

/// A device source in two layers of two scenes: one slot, taken once per frame.
#[test]
fn a_device_shown_twice_is_one_source_and_its_loss_shows_the_slate_in_each_layer() {
    let slot = Arc::new(LatestFrame::new(Arc::new(SourceCounters::new(
        "cam", "camera",
    ))));
    let mut c = two_scenes(Transition::Cut);
    c.sources.push(Source {
        name: "cam".into(),
        kind: SourceKind::Test,
    });
    c.scenes[0].layers.push(Layer {
        x: 0,
        y: 0,
        size: Some((32, 18)),
        ..Layer::full(2)
    });
    c.scenes[0].layers.push(Layer {
        x: 32,
        y: 18,
        size: Some((32, 18)),
        ..Layer::full(2)
    });
    let mut s = Studio::open(c, 0, 64, 36, 30).unwrap();
    // A slot stands in for the device (the studio opens real devices itself).
    s.attach(2, slot.clone(), "cam");
    let mut pic = VideoFrame::black(64, 36, MediaTime::ZERO);
    pic.planes_mut().0.fill(200);
    slot.publish(&mut pic);
    let mut frame = VideoFrame::black(64, 36, MediaTime::ZERO);
    s.fill(MediaTime::ZERO, &mut frame).unwrap();
    assert_eq!(luma(&frame, 5, 5), 200);
    assert_eq!(luma(&frame, 40, 25), 200);
    assert_ne!(luma(&frame, 40, 5), 200, "the red background between");
    s.fill(FRAME, &mut frame).unwrap();
    assert_eq!(
        slot.counters().repeated.load(Relaxed),
        1,
        "once, not per layer"
    );
    slot.set_lost(true);
    s.fill(FRAME * 2, &mut frame).unwrap();
    let box_a: Vec<u8> = (0..18)
        .flat_map(|y| (0..32).map(move |x| (x, y)))
        .map(|(x, y)| luma(&frame, x, y))
        .collect();
    assert!(
        box_a
            .iter()
            .filter(|&&v| v == crate::capture::compose::SLATE_LUMA)
            .count()
            > 200
    );
    assert_eq!(s.device_counters().len(), 1);
}

#[test]
fn crop_fill_and_stretch_place_the_picture() {
    // An image: left half white, right half black, 40x20.
    let img = RgbaImage {
        width: 40,
        height: 20,
        pixels: (0..20 * 40)
            .flat_map(|i| {
                if i % 40 < 20 {
                    [255, 255, 255, 255]
                } else {
                    [0, 0, 0, 255]
                }
            })
            .collect(),
    };
    let layer = |fit, crop| Layer {
        x: 10,
        y: 4,
        size: Some((20, 20)),
        crop,
        fit,
        ..Layer::full(0)
    };
    let p = place(&layer(Fit::Fit, Crop::default()), (40, 20), (20, 20)).unwrap();
    assert_eq!((p.x, p.y, p.w, p.h), (10, 8, 20, 10), "fit: letterboxed");
    let p = place(&layer(Fit::Fill, Crop::default()), (40, 20), (20, 20)).unwrap();
    assert_eq!((p.x, p.y, p.w, p.h), (10, 4, 20, 20));
    assert_eq!(p.crop, [10.0, 0.0, 20.0, 20.0], "fill: the middle square");
    let crop = Crop {
        left: 20,
        ..Crop::default()
    };
    let p = place(&layer(Fit::Stretch, crop), (40, 20), (20, 20)).unwrap();
    assert_eq!(p.crop, [20.0, 0.0, 20.0, 20.0]);
    assert!(
        place(
            &layer(Fit::Fit, Crop { left: 39, ..crop }),
            (40, 20),
            (20, 20)
        )
        .is_none()
    );
    // Drawn: the cropped (black) half stretched over the box.
    let mut s = Studio::open(
        Collection {
            sources: vec![colour("white", [255, 255, 255])],
            scenes: vec![Scene {
                name: "S".into(),
                layers: vec![Layer::full(0), layer(Fit::Stretch, crop)],
            }],
            transition: Transition::Cut,
            builtin: false,
        },
        0,
        64,
        36,
        30,
    )
    .unwrap();
    s.sources[0].content = Content::Still(img);
    let mut frame = VideoFrame::black(64, 36, MediaTime::ZERO);
    s.fill(MediaTime::ZERO, &mut frame).unwrap();
    assert_eq!(luma(&frame, 20, 14), 16, "black inside the box");
    // The bottom layer is the same image at its own size: white on the left.
    assert_eq!(luma(&frame, 2, 2), 235);
}

#[test]
fn live_fields_expand() {
    let mut out = String::new();
    expand(
        "up {elapsed} {x}",
        MediaTime::from_secs(3725),
        None,
        &mut out,
    );
    assert_eq!(out, "up 01:02:05 {x}");
    out.clear();
    expand("{clock}", MediaTime::ZERO, None, &mut out);
    assert_eq!(out.len(), 8, "{out}");
    assert_eq!(out.as_bytes()[2], b':');
}

#[test]
fn a_countdown_shows_what_is_left_and_starts_over_when_shown_again() {
    let at = |ms: i64| MediaTime::from_millis(ms);
    let mut out = String::new();
    let mut words = |length: MediaTime, start: MediaTime, pts: MediaTime| {
        out.clear();
        expand("Back in {countdown}", pts, Some((length, start)), &mut out);
        out.clone()
    };
    let five = MediaTime::from_secs(300);
    assert_eq!(words(five, at(10_000), at(10_000)), "Back in 05:00");
    assert_eq!(words(five, at(10_000), at(10_500)), "Back in 05:00");
    assert_eq!(words(five, at(10_000), at(11_000)), "Back in 04:59");
    assert_eq!(words(five, at(10_000), at(309_001)), "Back in 00:01");
    assert_eq!(words(five, at(10_000), at(310_000)), "Back in 00:00");
    assert_eq!(words(five, at(10_000), at(900_000)), "Back in 00:00");
    let long = MediaTime::from_secs(5400);
    assert_eq!(words(long, at(0), at(1)), "Back in 1:30:00");

    // In the studio: it starts when its scene first shows, and again when shown again.
    let text = TextSpec {
        countdown: Some(MediaTime::from_secs(60)),
        ..TextSpec::plain("{countdown}", 10, Rgba::WHITE)
    };
    let c = Collection {
        sources: vec![
            Source {
                name: "bg".into(),
                kind: SourceKind::Colour(Rgba([0, 0, 0, 255])),
            },
            Source {
                name: "soon".into(),
                kind: SourceKind::Text(text),
            },
        ],
        scenes: vec![
            Scene {
                name: "Live".into(),
                layers: vec![Layer::full(0)],
            },
            Scene {
                name: "Soon".into(),
                layers: vec![Layer::full(0), Layer::full(1)],
            },
        ],
        transition: Transition::Cut,
        builtin: false,
    };
    let mut s = Studio::open(c, 0, 64, 36, 30).unwrap();
    let shown = |s: &Studio| match &s.sources[1].content {
        Content::Text { words, .. } => words.clone(),
        _ => unreachable!(),
    };
    let mut frame = VideoFrame::black(64, 36, MediaTime::ZERO);
    let mut run = |s: &mut Studio, from_ms: i64, to_ms: i64| {
        let mut t = from_ms;
        while t <= to_ms {
            s.fill(at(t), &mut frame).unwrap();
            t += 33;
        }
    };
    run(&mut s, 0, 5_000);
    s.control().switch("Soon", None).unwrap();
    run(&mut s, 5_016, 5_016);
    assert_eq!(shown(&s), "01:00", "starts when first shown");
    run(&mut s, 5_049, 15_100);
    assert_eq!(shown(&s), "00:50");
    s.control().switch("Live", None).unwrap();
    run(&mut s, 15_133, 20_000);
    s.control().switch("Soon", None).unwrap();
    run(&mut s, 20_033, 21_500);
    assert_eq!(shown(&s), "00:59", "starts over when shown again");
}

/// A new collection is taken at the next frame: an attached device stays open (same name
/// and kind), a changed colour shows, a renamed current scene stays on the program.
#[test]
fn a_replaced_collection_keeps_unchanged_sources_open_and_the_scene_shown() {
    let slot = Arc::new(LatestFrame::new(Arc::new(SourceCounters::new(
        "cam", "camera",
    ))));
    let mut c = two_scenes(Transition::Cut);
    c.sources.push(Source {
        name: "cam".into(),
        kind: SourceKind::Test,
    });
    c.scenes[1].layers.push(Layer {
        size: Some((32, 18)),
        ..Layer::full(2)
    });
    let mut s = Studio::open(c.clone(), 1, 64, 36, 30).unwrap();
    s.attach(2, slot.clone(), "cam");
    let control = s.control();
    let mut frame = VideoFrame::black(64, 36, MediaTime::ZERO);
    s.fill(MediaTime::ZERO, &mut frame).unwrap();
    assert_eq!(Arc::strong_count(&slot), 2, "the studio holds the device");
    // Scene B renamed "Live", its colour green, the device moved.
    let mut new = c.clone();
    new.scenes[1].name = "Live".into();
    new.sources[1] = colour("blue", [0, 200, 0]);
    new.scenes[1].layers[1].x = 32;
    control.replace(new, "Live");
    assert_eq!(control.names(), ["A", "Live"]);
    s.fill(FRAME, &mut frame).unwrap();
    assert_eq!(control.current(), "Live");
    assert_eq!(control.replacements.load(Relaxed), 1);
    assert_eq!(
        luma(&frame, 40, 30),
        crate::capture::raster::yuv_of(0, 200, 0).0,
        "the new colour"
    );
    assert_eq!(Arc::strong_count(&slot), 2, "the device stayed open");
    // A collection without the device lets it go (its loop ends with the last holder).
    let mut fewer = c.clone();
    fewer.sources.pop();
    fewer.scenes[1].layers.pop();
    control.replace(fewer, "B");
    s.fill(FRAME * 2, &mut frame).unwrap();
    assert_eq!(Arc::strong_count(&slot), 1);
    assert_eq!(control.current(), "B");
}

/// The collection `two_scenes` with a screen source "desk" shown at the top left of scene A.
fn with_desk() -> Collection {
    let mut c = two_scenes(Transition::Cut);
    c.sources.push(Source {
        name: "desk".into(),
        kind: SourceKind::Screen(crate::capture::ScreenTarget::Monitor(0)),
    });
    c.scenes[0].layers.push(Layer {
        size: Some((32, 18)),
        ..Layer::full(2)
    });
    c
}

/// A screen added to a running studio: its slot comes with the collection, the engine's
/// owner takes it once to open the device, the studio shows nothing from it until its first
/// picture, then the picture; removed, the studio lets the slot go (its loop ends).
#[test]
fn a_device_added_while_running_shows_from_its_slot_and_goes_when_removed() {
    let mut s = Studio::open(two_scenes(Transition::Cut), 0, 64, 36, 30).unwrap();
    let control = s.control();
    let red = crate::capture::raster::yuv_of(200, 0, 0).0;
    control.replace(with_desk(), "A");
    let new = control.take_new_devices();
    assert_eq!(new.len(), 1);
    assert!(control.take_new_devices().is_empty(), "taken once");
    let (source, slot) = new.into_iter().next().unwrap();
    assert_eq!(source.name, "desk");
    let mut frame = VideoFrame::black(64, 36, MediaTime::ZERO);
    s.fill(MediaTime::ZERO, &mut frame).unwrap();
    assert_eq!(
        luma(&frame, 5, 5),
        red,
        "nothing from the device before its picture"
    );
    let mut pic = VideoFrame::black(64, 36, MediaTime::ZERO);
    pic.planes_mut().0.fill(200);
    slot.publish(&mut pic);
    s.fill(FRAME, &mut frame).unwrap();
    assert_eq!(luma(&frame, 5, 5), 200, "the device's picture");
    assert_eq!(luma(&frame, 40, 30), red, "outside its layer");
    assert_eq!(Arc::strong_count(&slot), 2, "the studio holds it");
    // The same device in the next edit stays; gone from the scenes, it is let go.
    let mut moved = with_desk();
    moved.scenes[0].layers[1].x = 32;
    control.replace(moved, "A");
    assert!(control.take_new_devices().is_empty(), "already open");
    s.fill(FRAME * 2, &mut frame).unwrap();
    assert_eq!(Arc::strong_count(&slot), 2);
    control.replace(two_scenes(Transition::Cut), "A");
    s.fill(FRAME * 3, &mut frame).unwrap();
    assert_eq!(Arc::strong_count(&slot), 1);
    // Added again: a new slot (the old loop has ended).
    control.replace(with_desk(), "A");
    let again = control.take_new_devices();
    assert_eq!(again.len(), 1);
    assert!(!Arc::ptr_eq(&again[0].1, &slot));
    // A slot lost (the device could not be opened) shows the slate over its layer.
    again[0].1.set_lost(true);
    s.fill(FRAME * 4, &mut frame).unwrap();
    let slate = (0..18)
        .flat_map(|y| (0..32).map(move |x| (x, y)))
        .filter(|&(x, y)| luma(&frame, x, y) == crate::capture::compose::SLATE_LUMA)
        .count();
    assert!(slate > 200, "{slate} slate pixels");
}

/// Collections replaced before the studio took them: a new device's slot goes on with the
/// newest (so the studio, whichever it takes, shows the slot that is opened); slots never
/// taken are let go when the engine stops (`release`).
#[test]
fn a_new_device_keeps_its_slot_across_collections_the_studio_did_not_take() {
    let mut s = Studio::open(two_scenes(Transition::Cut), 0, 64, 36, 30).unwrap();
    let control = s.control();
    control.replace(with_desk(), "A");
    let mut green = with_desk();
    green.sources[0] = colour("red", [0, 200, 0]);
    control.replace(green, "A");
    let mut new = control.take_new_devices();
    assert_eq!(new.len(), 1, "one slot for the device of both");
    let (_, slot) = new.remove(0);
    let mut pic = VideoFrame::black(64, 36, MediaTime::ZERO);
    pic.planes_mut().0.fill(200);
    slot.publish(&mut pic);
    let mut frame = VideoFrame::black(64, 36, MediaTime::ZERO);
    s.fill(MediaTime::ZERO, &mut frame).unwrap();
    assert_eq!(luma(&frame, 5, 5), 200);
    assert_eq!(
        luma(&frame, 40, 30),
        crate::capture::raster::yuv_of(0, 200, 0).0
    );
    // Removed and added back before a frame: a new slot, which the studio takes.
    control.replace(two_scenes(Transition::Cut), "A");
    control.replace(with_desk(), "A");
    let back = control.take_new_devices();
    assert_eq!(back.len(), 1);
    s.fill(FRAME, &mut frame).unwrap();
    assert_eq!(Arc::strong_count(&slot), 1, "the first slot let go");
    assert_eq!(
        Arc::strong_count(&back[0].1),
        2,
        "the studio shows the new one"
    );
    // Given but never taken: released when the engine stops.
    let mut other = with_desk();
    other.sources[2].name = "desk 2".into();
    control.replace(other, "A");
    let untaken = control.take_new_devices();
    assert_eq!(untaken.len(), 1);
    control.release();
    assert_eq!(Arc::strong_count(&untaken[0].1), 1);
}

/// A camera added while running that cannot be found: the slate at once, the error to tell,
/// and a loop that looks for it every 2 s until the studio lets the slot go.
#[test]
fn a_camera_added_while_running_that_cannot_open_shows_the_slate_and_keeps_looking() {
    let kind = SourceKind::Camera(crate::capture::CameraTarget::Name(
        "no camera has this name".into(),
    ));
    let slot = Arc::new(LatestFrame::new(Arc::new(SourceCounters::new(
        "camera x", "camera",
    ))));
    let (worker, error) = start_device(&kind, &slot, 64, 36, 30).unwrap();
    assert!(error.is_some());
    assert!(slot.is_lost());
    assert_eq!(worker.name, "cap-camera");
    let thread = std::thread::Builder::new()
        .name("cap-camera".into())
        .spawn(worker.run)
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(!thread.is_finished(), "it keeps looking");
    drop(slot);
    thread.join().unwrap();
    assert!(
        start_device(
            &SourceKind::Test,
            &Arc::new(LatestFrame::new(Arc::new(SourceCounters::new("t", "test")))),
            64,
            36,
            30
        )
        .is_none()
    );
}

/// A video file in a new collection: the same name and file stays open (its loop keeps
/// running), a new one is opened and its loop started at once (its picture shows), and the
/// loops end with the studio.
#[test]
fn a_replaced_collection_keeps_a_video_file_open_and_opens_a_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let clip_of = |colour: &str| {
        let path = dir.path().join(format!("{colour}.mp4"));
        let made = std::process::Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi"])
            .args(["-i", &format!("color=c=0x{colour}:s=64x36:r=30:d=1")])
            .args(["-c:v", "libx264", "-bf", "0", "-pix_fmt", "yuv420p"])
            .arg(&path)
            .status()
            .unwrap();
        assert!(made.success());
        path
    };
    let (red, green) = (clip_of("C80000"), clip_of("00C800"));
    let video = |name: &str, path: &std::path::Path| Source {
        name: name.into(),
        kind: SourceKind::Video(path.to_owned()),
    };
    let mut c = two_scenes(Transition::Cut);
    c.sources.push(video("clip", &red));
    c.scenes[1].layers.push(Layer::full(2));
    let mut s = Studio::open(c.clone(), 1, 64, 36, 30).unwrap();
    let clock = crate::media::time::Clock::start();
    s.set_clock(clock);
    let worker = s.take_workers().pop().unwrap();
    let first_loop = std::thread::Builder::new()
        .name(worker.name)
        .spawn(worker.run)
        .unwrap();
    let slot = |s: &Studio, i: usize| match &s.sources[i].content {
        Content::Device { slot, timed, .. } => {
            assert!(*timed);
            slot.clone()
        }
        _ => panic!("source {i} is not a video"),
    };
    let control = s.control();
    let mut frame = VideoFrame::black(64, 36, MediaTime::ZERO);
    s.fill(clock.now(), &mut frame).unwrap();
    let clip = slot(&s, 2);
    // Same name and file, a colour changed: the same slot, no new loop.
    let mut new = c.clone();
    new.sources[1] = colour("blue", [0, 200, 0]);
    control.replace(new.clone(), "B");
    s.fill(clock.now(), &mut frame).unwrap();
    assert!(Arc::ptr_eq(&clip, &slot(&s, 2)), "the file stayed open");
    assert!(s.live_loops.is_empty());
    // A second video source on top: opened and played now.
    new.sources.push(video("clip 2", &green));
    new.scenes[1].layers.push(Layer {
        size: Some((32, 18)),
        ..Layer::full(3)
    });
    control.replace(new, "B");
    s.fill(clock.now(), &mut frame).unwrap();
    assert_eq!(s.live_loops.len(), 1, "its loop runs");
    let want = crate::capture::raster::yuv_of(0, 200, 0).0;
    let mut shown = false;
    for _ in 0..500 {
        std::thread::sleep(std::time::Duration::from_millis(20));
        s.fill(clock.now(), &mut frame).unwrap();
        if matches!(
            s.sources[3].content,
            Content::Device {
                has_frame: true,
                ..
            }
        ) && luma(&frame, 4, 4).abs_diff(want) <= 6
        {
            shown = true;
            break;
        }
    }
    assert!(shown, "the new file's picture shows in its layer");
    drop((clip, control));
    drop(s);
    first_loop.join().unwrap();
}

/// A collection of 20 scenes and 50 layers over 5 shared sources opens each source once, and
/// a source shown by several layers is drawn once per frame (the test pattern's version).
#[test]
fn twenty_scenes_of_fifty_layers_share_their_sources() {
    let mut c = two_scenes(Transition::Cut);
    c.sources.push(Source {
        name: "pattern".into(),
        kind: SourceKind::Test,
    });
    c.sources.push(colour("grey", [100, 100, 100]));
    c.sources.push(Source {
        name: "title".into(),
        kind: SourceKind::Text(TextSpec::plain("Title", 12, Rgba::WHITE)),
    });
    c.scenes = (0..20)
        .map(|i| Scene {
            name: format!("Scene {i}"),
            layers: (0..if i < 10 { 3 } else { 2 })
                .map(|l| Layer {
                    x: l * 8,
                    size: Some((16, 10)),
                    ..Layer::full(((i + l) % 5) as usize)
                })
                .collect(),
        })
        .collect();
    let layers: usize = c.scenes.iter().map(|s| s.layers.len()).sum();
    assert_eq!(layers, 50);
    // Scene 2 shows the pattern in all three of its layers.
    c.scenes[2].layers = vec![Layer::full(2), Layer::full(2), Layer::full(2)];
    let mut s = Studio::open(c, 2, 64, 36, 30).unwrap();
    assert_eq!(s.sources.len(), 5, "one open source each");
    assert_eq!(s.caches.iter().map(Vec::len).sum::<usize>(), 50);
    let mut frame = VideoFrame::black(64, 36, MediaTime::ZERO);
    for n in 0..3 {
        s.fill(FRAME * n, &mut frame).unwrap();
        assert_eq!(
            s.sources[2].version,
            n as u64 + 1,
            "the pattern drawn once per frame for its three layers"
        );
    }
}
