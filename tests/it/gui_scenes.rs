//! Editing scenes in the window, driven by egui_kittest over the real app: a scene made, an
//! image added, dragged and resized in the preview by its handles (in program pixels), scenes
//! switched, edits undone; keys typed in a text field edit nothing.

use std::path::Path;

use crate::common::desktop::{mean_rgb, rgb_frame_at};
use crate::common::gui::{harness_sized, run_until};
use crate::common::*;
use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use onair::app::keystore::KeyringUse;
use onair::config::scenes::LayerFile;
use onair::ui::OnairApp;

/// The current scene's first layer.
fn layer(h: &Harness<'static, OnairApp>) -> LayerFile {
    let s = h.state().settings();
    let scene = s.scenes.iter().find(|c| c.name == s.scene).unwrap();
    scene.layers[0].clone()
}

/// Presses at `from`, moves to `to` in steps (Shift held if asked), releases.
fn drag(h: &mut Harness<'static, OnairApp>, from: egui::Pos2, to: egui::Pos2, shift: bool) {
    let modifiers = if shift {
        egui::Modifiers::SHIFT
    } else {
        egui::Modifiers::NONE
    };
    h.event(egui::Event::ModifiersChanged(modifiers));
    h.hover_at(from);
    h.event(egui::Event::PointerButton {
        pos: from,
        button: egui::PointerButton::Primary,
        pressed: true,
        modifiers,
    });
    h.run_steps(1);
    for k in 1..=4 {
        h.hover_at(from + (to - from) * (k as f32 / 4.0));
        h.run_steps(1);
    }
    h.event(egui::Event::PointerButton {
        pos: to,
        button: egui::PointerButton::Primary,
        pressed: false,
        modifiers,
    });
    h.event(egui::Event::ModifiersChanged(egui::Modifiers::NONE));
    h.run_steps(2);
}

#[test]
fn a_scene_is_made_and_its_image_moved_resized_switched_and_undone_in_the_window() {
    let config = tempdir();
    let image = config.path().join("logo.png");
    image::RgbaImage::from_pixel(200, 100, image::Rgba([255, 0, 0, 255]))
        .save(&image)
        .unwrap();
    std::fs::write(
        config.path().join("gui.toml"),
        format!(
            "preset = \"480p30\"\nrecord_folder = \"{}\"\n",
            config.path().display()
        ),
    )
    .unwrap();
    let mut h = harness_sized(config.path(), KeyringUse::Off, egui::vec2(1280.0, 1400.0));
    h.run_steps(2);
    assert_eq!(h.state().settings().scene, "Test pattern");
    h.get_by_label("Add scene").click();
    h.run_steps(2);
    assert_eq!(h.state().settings().scene, "Scene");
    h.get_by_label("Add to scene").click();
    h.run_steps(2);
    h.get_by_label("New Image").click();
    h.run_steps(2);
    // No file yet: said in red, the program keeps the last good scenes.
    // (Beside the image and in the notice that the file was not saved while it does not
    // validate.)
    assert!(
        h.query_all_by_label_contains("give the image file")
            .next()
            .is_some()
    );
    h.get_by_label("Image file").click();
    h.run_steps(1);
    h.get_by_label("Image file")
        .type_text(&image.display().to_string());
    h.run_steps(2);
    // The red line beside the source is gone (the earlier notice may still be showing).
    assert!(h.state().app().studio().problem.is_none());
    assert!(h.query_by_label_contains("cannot be read").is_none());
    assert_eq!(
        h.state().settings().sources[1].path.as_deref(),
        Some(Path::new(&image))
    );
    // An arrow typed in the field moves the cursor, not the layer.
    h.key_press(egui::Key::ArrowLeft);
    h.key_press(egui::Key::ArrowUp);
    h.run_steps(2);
    assert_eq!((layer(&h).x, layer(&h).y), (0, 0));

    // The picture: 854 program pixels across its width.
    let picture = h.get_by_label("Program picture").rect();
    let scale = 854.0 / picture.width();
    let program = |p: egui::Pos2| {
        (
            ((p.x - picture.min.x) * scale).round() as i32,
            ((p.y - picture.min.y) * scale).round() as i32,
        )
    };
    let at = |x: f32, y: f32| picture.min + egui::vec2(x, y) / scale;
    // Drag the image by its middle, by about (+100, +60) program pixels.
    let (from, to) = (at(100.0, 50.0), at(200.0, 110.0));
    drag(&mut h, from, to, false);
    let (dx, dy) = (
        program(to).0 - program(from).0,
        program(to).1 - program(from).1,
    );
    assert!((95..=105).contains(&dx), "{dx}");
    let moved = layer(&h);
    assert_eq!((moved.x, moved.y), (dx, dy), "moved by the drag");
    assert_eq!((moved.width, moved.height), (None, None));
    // Out of the field, an arrow nudges by a pixel.
    h.key_press(egui::Key::ArrowRight);
    h.run_steps(2);
    assert_eq!(layer(&h).x, dx + 1);
    // Its bottom right handle, with Shift, by about (+50, +10): 2:1 kept, the width leads.
    let (x, y) = (dx + 1, dy);
    let (from, to) = (
        at((x + 200) as f32, (y + 100) as f32),
        at((x + 250) as f32, (y + 110) as f32),
    );
    drag(&mut h, from, to, true);
    let grow = program(to).0 - program(from).0;
    let resized = layer(&h);
    assert_eq!((resized.x, resized.y), (x, y), "the top left corner stays");
    assert_eq!(resized.width, Some((200 + grow) as u32));
    assert_eq!(resized.height, Some(((200 + grow) as u32).div_ceil(2)));
    // Switch back to the first scene, then undo: the resize, the nudge, the move go.
    h.get_by_label("Test pattern").click();
    h.run_steps(2);
    assert_eq!(h.state().settings().scene, "Test pattern");
    let scene = |h: &Harness<'static, OnairApp>| h.state().settings().scenes[1].layers[0].clone();
    for want in [(x, y, None), (dx, dy, None), (0, 0, None)] {
        h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
        h.run_steps(2);
        let l = scene(&h);
        assert_eq!((l.x, l.y, l.width), want);
    }
    // Saved in config.toml's tables.
    let gui = std::fs::read_to_string(config.path().join("config.toml")).unwrap();
    assert!(
        gui.contains("[[scenes.layers]]") && gui.contains("logo.png"),
        "{gui}"
    );
}

/// An edit while recording reaches the recorded pixels: a full-frame red layer hidden from
/// its row leaves the program black from then on.
#[test]
fn an_edit_while_recording_shows_in_the_recorded_pixels() {
    let config = tempdir();
    let takes = tempdir();
    std::fs::write(
        config.path().join("gui.toml"),
        format!(
            "preset = \"480p30\"\nrecord_folder = \"{}\"\nscene = \"Show\"\n\
             [[sources]]\nname = \"bg\"\nkind = \"colour\"\ncolour = \"#FF0000\"\n\
             [[scenes]]\nname = \"Show\"\n[[scenes.layers]]\nsource = \"bg\"\n",
            takes.path().display()
        ),
    )
    .unwrap();
    let mut h = harness_sized(config.path(), KeyringUse::Off, egui::vec2(1280.0, 1400.0));
    h.run_steps(2);
    h.get_by_label("Record").click();
    let recorded_for = |secs: f32| {
        move |a: &OnairApp| {
            a.view()
                .recording
                .since
                .is_some_and(|t| t.elapsed().as_secs_f32() >= secs)
        }
    };
    run_until(&mut h, "2 s of recording", recorded_for(2.0));
    h.get_by_label("Hide layer").click();
    h.run_steps(1);
    assert!(!h.state().settings().scenes[0].layers[0].visible);
    run_until(&mut h, "4 s of recording", recorded_for(4.0));
    h.get_by_label("Stop recording").click();
    h.run_steps(4);
    let stop = h.get_all_by_label("Stop recording").collect::<Vec<_>>();
    stop.last().unwrap().click();
    run_until(&mut h, "the encoders to stop", |a| !a.view().encoding);
    let file = std::fs::read_dir(takes.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "mp4"))
        .unwrap();
    let duration = num(&probe(&file)["format"]["duration"]);
    assert!(duration > 3.0, "{duration}");
    let before = rgb_frame_at(&file, 0.5);
    let after = rgb_frame_at(&file, duration - 0.5);
    let [r, g, b] = mean_rgb(&before, 100, 100, 200, 200);
    assert!(r > 200.0 && g < 40.0 && b < 40.0, "red before: {r} {g} {b}");
    let [r, g, b] = mean_rgb(&after, 100, 100, 200, 200);
    assert!(
        r < 30.0 && g < 30.0 && b < 30.0,
        "black after hiding: {r} {g} {b}"
    );
}
