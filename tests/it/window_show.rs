//! A show made in the window goes live with `onair broadcast`: a preset, an RTMP destination
//! and a scene (a colour under an image at a known place) made in the window (kittest over the
//! real app), saved in config.toml, then used by the command line to a real nginx-rtmp, whose
//! recording has the preset's size and rate and the scene's pixels where the window put them.

use std::time::Duration;

use crate::common::desktop::{mean_rgb, rgb_frame_at};
use crate::common::gui::harness_sized;
use crate::common::peers::{Nginx, NginxOptions};
use crate::common::*;
use crate::config::{make_preset_and_destination, onair_in};
use eframe::egui;
use egui::accesskit::Role;
use egui_kittest::kittest::Queryable as _;
use onair::app::keystore::KeyringUse;
use onair::config::PresetSpec;

/// Where the window puts the image: 160x90 program pixels, the left half red, the right half
/// green, its top left corner here.
const IMAGE_AT: (u32, u32) = (200, 100);

fn is_near(got: [f64; 3], want: [f64; 3], levels: f64) -> bool {
    got.iter().zip(want).all(|(g, w)| (g - w).abs() <= levels)
}

#[test]
fn a_preset_destination_and_scene_made_in_the_window_are_used_by_broadcast() {
    let nginx = Nginx::start(NginxOptions::default());
    let config = tempdir();
    let image = config.path().join("halves.png");
    image::RgbaImage::from_fn(160, 90, |x, _| {
        if x < 80 {
            image::Rgba([255, 0, 0, 255])
        } else {
            image::Rgba([0, 255, 0, 255])
        }
    })
    .save(&image)
    .unwrap();
    let mut h = harness_sized(config.path(), KeyringUse::Off, egui::vec2(1280.0, 1400.0));
    h.run_steps(2);
    let preset = PresetSpec {
        name: "window-show".into(),
        width: 640,
        height: 360,
        fps: 25,
        video_kbps: 1200,
        audio_kbps: 96,
        keyframe_interval_s: 1,
    };
    make_preset_and_destination(h.state_mut().app_mut(), preset, &nginx, "showkey");
    h.run_steps(2);

    // The scene, as a streamer makes it: a new scene, a colour (the whole picture), an image
    // from its file, placed by its Position fields.
    h.get_by_label("Add scene").click();
    h.run_steps(2);
    assert_eq!(h.state().settings().scene, "Scene");
    for kind in ["New Colour", "New Image"] {
        h.get_by_label("Add to scene").click();
        h.run_steps(2);
        h.get_by_label(kind).click();
        h.run_steps(2);
    }
    h.get_by_label("Image file").click();
    h.run_steps(1);
    h.get_by_label("Image file")
        .type_text(&image.display().to_string());
    h.run_steps(2);
    let position: Vec<_> = h
        .get_all_by_role_and_label(Role::SpinButton, "Position")
        .collect();
    assert_eq!(position.len(), 2, "x and y");
    position[0].set_value_accesskit(f64::from(IMAGE_AT.0));
    position[1].set_value_accesskit(f64::from(IMAGE_AT.1));
    h.run_steps(3);
    let settings = h.state().settings().clone();
    let scene = settings.scenes.iter().find(|s| s.name == "Scene").unwrap();
    let placed: Vec<_> = scene.layers.iter().map(|l| (l.x, l.y)).collect();
    assert_eq!(
        placed,
        [(0, 0), (IMAGE_AT.0 as i32, IMAGE_AT.1 as i32)],
        "{scene:?}"
    );
    assert!(h.state().app().studio().problem.is_none());
    h.state_mut().app_mut().exit();
    drop(h);
    let saved = std::fs::read_to_string(config.path().join("config.toml")).unwrap();
    for part in [
        "name = \"window-show\"",
        "name = \"My nginx\"",
        "name = \"Scene\"",
        "halves.png",
    ] {
        assert!(saved.contains(part), "no {part:?} in:\n{saved}");
    }
    assert!(!saved.contains("showkey"), "a key in config.toml:\n{saved}");

    let out = run_ok(onair_in(config.path()).args([
        "broadcast",
        "--preset",
        "window-show",
        "--scene",
        "Scene",
        "--rtmp",
        "My nginx",
        "--duration",
        "3",
    ]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("showkey"), "{stderr}");
    nginx.wait_recording_closed(Duration::from_secs(10));
    let rec = nginx.recordings();
    assert_eq!(rec.len(), 1, "{rec:?}");
    let name = rec[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("showkey-"), "published under {name}");

    // The preset's size and rate.
    let p = probe(&rec[0]);
    let v = stream(&p, "video");
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(640), Some(360))
    );
    let pts: Vec<f64> = video_packets(&rec[0]).iter().map(|&(t, _)| t).collect();
    let span = pts[pts.len() - 1] - pts[0];
    let per_second = (pts.len() - 1) as f64 / span;
    assert!(
        (per_second - 25.0).abs() < 0.5,
        "{per_second:.2} frames a second over {span:.2} s"
    );
    let errors = decode_errors(&rec[0], &[]);
    assert!(errors.is_empty(), "{errors}");

    // The scene's pixels at their places: the colour around, the image's halves within 2 px
    // of where the window put them.
    let frame = rgb_frame_at(&rec[0], 1.5);
    let grey = [209.0, 209.0, 209.0];
    let (x, y) = IMAGE_AT;
    let area = |x0: u32, y0: u32, w: u32, h: u32| mean_rgb(&frame, x0, y0, w, h);
    for (what, got, want) in [
        ("the colour far from the image", area(20, 20, 150, 60), grey),
        (
            "the colour below the image",
            area(x, y + 100, 160, 40),
            grey,
        ),
        (
            "the red half",
            area(x + 6, y + 6, 68, 78),
            [255.0, 0.0, 0.0],
        ),
        (
            "the green half",
            area(x + 86, y + 6, 68, 78),
            [0.0, 255.0, 0.0],
        ),
        ("left of the image", area(x - 4, y + 10, 2, 70), grey),
        (
            "its left edge inside",
            area(x + 2, y + 10, 2, 70),
            [255.0, 0.0, 0.0],
        ),
        ("above the image", area(x + 10, y - 4, 60, 2), grey),
        (
            "its top edge inside",
            area(x + 10, y + 2, 60, 2),
            [255.0, 0.0, 0.0],
        ),
        (
            "its right edge inside",
            area(x + 156, y + 10, 2, 70),
            [0.0, 255.0, 0.0],
        ),
        ("right of the image", area(x + 162, y + 10, 2, 70), grey),
    ] {
        assert!(is_near(got, want, 24.0), "{what}: {got:?}, want {want:?}");
    }
}
