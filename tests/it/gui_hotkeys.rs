//! Hotkeys in the window, driven by egui_kittest over the real engine: set in Settings by
//! pressing the combination, saved, acting on the running program, and never firing while a
//! text field has the keyboard.

use std::time::{Duration, Instant};

use crate::common::gui::{harness, run_until};
use crate::common::*;
use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use onair::app::hotkeys::{Combo, Target};
use onair::ui::OnairApp;

/// Steps the app for `ms` in real time (the controller acts on its own thread).
fn settle(h: &mut Harness<'static, OnairApp>, ms: u64) {
    let until = Instant::now() + Duration::from_millis(ms);
    while Instant::now() < until {
        h.step();
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn tone_muted_live(a: &OnairApp) -> Option<bool> {
    let m = a.view().mixer.as_ref()?.settings();
    Some(m.source("Sync tone")?.muted)
}

#[test]
fn a_bound_hotkey_acts_and_the_same_key_typed_in_a_field_does_nothing() {
    let config = tempdir();
    let takes = tempdir();
    let gui = format!(
        "preset = \"480p30\"\nrecord_folder = \"{}\"\nconfirm_stop_recording = false\n\
         [[destinations]]\nid = 3\nname = \"Twitch\"\nservice = \"Twitch\"\n\
         server = \"rtmp://live.twitch.tv/app\"\nenabled = true\n\
         [[hotkeys]]\ntarget = {{ scene = \"BRB\" }}\nkeys = {{ key = \"F5\" }}\n\
         [[hotkeys]]\ntarget = \"mute_master\"\nkeys = {{ key = \"F6\", shift = true }}\n",
        takes.path().display()
    );
    std::fs::write(config.path().join("gui.toml"), gui).unwrap();
    let mut h = harness(config.path());
    h.run_steps(2);
    run_until(&mut h, "the program to run", |a| a.view().mixer.is_some());

    // Set in Settings: the row's Set, then the combination. The rows: the three actions,
    // the master, each mixer source, then the scenes.
    h.get_by_label("Settings").click();
    h.run_steps(2);
    assert!(h.state().app().settings_open(), "Settings did not open");
    // The window shows after its first frames.
    h.run_steps(4);
    h.get_by_label("Hotkeys").click();
    h.run_steps(2);
    assert!(h.query_by_label("Mute Sync tone").is_some());
    assert!(h.query_by_label("Scene: BRB").is_some());
    h.get_all_by_label("Set").nth(4).unwrap().click();
    h.run_steps(2);
    assert!(h.query_by_label_contains("Press keys").is_some());
    // While it listens, a bound key binds instead of acting.
    h.key_press_modifiers(egui::Modifiers::CTRL, egui::Key::M);
    h.run_steps(2);
    h.get_all_by_label("Set").nth(1).unwrap().click();
    h.run_steps(2);
    h.key_press(egui::Key::F9);
    h.run_steps(2);
    let ctrl_m = Combo {
        ctrl: true,
        key: "M".into(),
        ..Combo::default()
    };
    let f9 = Combo {
        key: "F9".into(),
        ..Combo::default()
    };
    let bound = |a: &OnairApp, t: &Target| {
        a.settings()
            .hotkeys
            .iter()
            .find(|k| &k.target == t)
            .map(|k| k.keys.clone())
    };
    assert_eq!(
        bound(h.state(), &Target::Mute("Sync tone".into())),
        Some(ctrl_m)
    );
    assert_eq!(bound(h.state(), &Target::Record), Some(f9));
    assert!(
        h.query_by_label("Ctrl+M").is_some(),
        "Settings shows the combination"
    );
    assert!(h.state().view().recording.since.is_none());
    // Hotkeys are the window's own: window.toml, not config.toml.
    let saved = std::fs::read_to_string(config.path().join("window.toml")).unwrap();
    assert!(
        saved.contains("F9") && saved.contains("Sync tone"),
        "{saved}"
    );
    // The action bar's Settings (the window's title is the second) closes it.
    h.get_all_by_label("Settings").next().unwrap().click();
    h.run_steps(2);

    // Typed in a text field: nothing happens.
    h.get_by_label("Name").click();
    h.run_steps(1);
    for (m, k) in [
        (egui::Modifiers::CTRL, egui::Key::M),
        (egui::Modifiers::NONE, egui::Key::F9),
        (egui::Modifiers::NONE, egui::Key::F5),
        (egui::Modifiers::SHIFT, egui::Key::F6),
    ] {
        h.key_press_modifiers(m, k);
        h.run_steps(1);
    }
    settle(&mut h, 700);
    let a = h.state();
    assert!(!a.settings().mixer.sources[0].muted, "muted while typing");
    assert!(
        !a.settings().mixer.master_muted,
        "master muted while typing"
    );
    assert!(a.view().recording.since.is_none(), "recording while typing");
    assert!(h.query_by_label_contains("not made of scenes").is_none());
    assert_eq!(tone_muted_live(h.state()), Some(false));

    // Out of the field, each acts: mute reaches the running mixer.
    h.get_by_label("Program").click();
    h.run_steps(1);
    h.key_press_modifiers(egui::Modifiers::CTRL, egui::Key::M);
    run_until(
        &mut h,
        "Ctrl+M to mute the tone in the running mixer",
        |a| tone_muted_live(a) == Some(true),
    );
    assert!(h.state().settings().mixer.sources[0].muted);
    h.key_press_modifiers(egui::Modifiers::SHIFT, egui::Key::F6);
    run_until(&mut h, "Shift+F6 to mute the master", |a| {
        a.view()
            .mixer
            .as_ref()
            .is_some_and(|m| m.settings().master_muted)
    });
    // No scene is called "BRB": the switch is refused aloud.
    h.key_press(egui::Key::F5);
    run_until(&mut h, "F5's scene switch to be answered", |_| true);
    settle(&mut h, 500);
    assert!(
        h.query_by_label_contains("cannot switch to scene \"BRB\"")
            .is_some()
    );
    h.key_press(egui::Key::F9);
    run_until(&mut h, "F9 to record", |a| {
        a.view().recording.since.is_some() && a.view().encoding
    });
    h.key_press(egui::Key::F9);
    run_until(&mut h, "F9 to stop recording", |a| {
        a.view().recording.since.is_none() && !a.view().encoding
    });
    assert!(h.state().view().engine_running, "the program goes on");
}
