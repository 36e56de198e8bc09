//! The desktop app with real devices: a screen under Xvfb and a microphone of a private
//! PulseAudio's (listed by the sound server's names, a missing one flagged), picked in the
//! window from the device lists the app made, recorded, with the meters, the mute and the
//! fader acting on the sound going out.
//!
//! One test in this binary: it points the whole process at its own display and sound server
//! (xcap and ALSA read `DISPLAY` and `PULSE_SERVER`) before the app starts any thread.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report
#![allow(unsafe_code)] // `set_var` before any other thread of this binary exists

#[path = "it/common/mod.rs"]
#[allow(dead_code)] // this binary uses a few of the shared helpers
mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::desktop::{Pulse, Xvfb, mean_rgb, rgb_frame_at, stop_child, write_sine_wav};
use common::gui::{harness, run_until};
use common::*;
use eframe::egui;
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT as _, Queryable as _};
use onair::pipeline::stats::SILENCE_DBFS;
use onair::ui::OnairApp;

/// Opens the combo box labelled `combo` and picks the entry whose text contains `entry`.
fn pick(h: &mut Harness<'static, OnairApp>, combo: &str, entry: &str) {
    h.get_by_role_and_label(Role::ComboBox, combo).click();
    h.run_steps(2);
    // The popup's entry is the last match (the closed combo may show the same text).
    let entries: Vec<_> = h.query_all_by_label_contains(entry).collect();
    assert!(!entries.is_empty(), "no `{entry}` in the {combo} list");
    entries.last().unwrap().click();
    h.run_steps(2);
}

/// The newest level reading's peak (both channels), if a reading newer than `after` exists.
fn peak_after(app: &OnairApp, after: u64) -> Option<(f32, u64)> {
    let ([l, r], window) = app.view().levels.as_ref()?.get()?;
    (window > after).then_some((l.peak_dbfs.max(r.peak_dbfs), window))
}

/// The held peak of the mixer strip `name`'s meters (both channels), while it runs.
fn strip_held(app: &OnairApp, name: &str) -> Option<f32> {
    let [l, r] = app.app().strip_meters().get(name)?;
    Some(l.held_dbfs.max(r.held_dbfs))
}

#[test]
fn screen_and_microphone_picked_in_the_window_are_recorded_and_meters_and_mute_follow_the_sound() {
    let x = Xvfb::start(1280, 720);
    let _red = x.window(200, 150, 60, 15, "red");
    let pulse = Pulse::start_with_named_microphone();
    let wav = pulse.dir().join("tone.wav");
    // 440 Hz at -12 dBFS, longer than the test.
    write_sine_wav(&wav, 440.0, 8231.0, 120);
    let mut player = pulse.play(&wav);
    // SAFETY: the only test of this binary, and no thread of its own has started yet (the
    // servers above are child processes).
    unsafe {
        std::env::set_var("DISPLAY", &x.display);
        std::env::remove_var("WAYLAND_DISPLAY");
        std::env::set_var("PULSE_SERVER", pulse.server());
    }

    let config = tempdir();
    let takes = tempdir();
    // The window's file from before scenes, with the screen chosen and the mixer as saved with
    // a microphone that is no longer there (moved into config.toml at the start).
    std::fs::write(
        config.path().join("gui.toml"),
        format!(
            "preset = \"720p30\"\nvideo = \"Screen\"\nrecord_folder = \"{}\"\nhls_folder = \"{}\"\n\
             [mixer]\n[[mixer.source]]\nname = \"Mic/Aux\"\nkind = \"microphone\"\n\
             device = \"gone_mic\"\n",
            takes.path().display(),
            takes.path().join("hls").display()
        ),
    )
    .unwrap();
    let mut h = harness(config.path());
    run_until(&mut h, "the device list", |a| a.view().devices.is_some());
    let devices = h.state().view().devices.clone().unwrap();
    assert_eq!(devices.screens.len(), 1, "{devices:?}");
    // The sound server's inputs by its own names: no ALSA plugin, no output's monitor.
    let mics: Vec<(&str, &str)> = devices
        .microphones
        .iter()
        .map(|d| (d.id.as_str(), d.name.as_str()))
        .collect();
    assert_eq!(mics, [("testmic", "Test-Microphone")], "{devices:?}");

    // The old choice is the scene on the program; the microphone's device is picked in its
    // strip's properties (the scenes' Properties heading has the same words).
    assert_eq!(h.state().settings().scene, "Screen");
    h.get_all_by_label("Properties")
        .find(|n| n.accesskit_node().role() != Role::Label)
        .unwrap()
        .click();
    h.run_steps(2);
    let missing = "This microphone is not connected";
    assert!(
        h.query_by_label_contains(missing).is_some(),
        "the missing device is not flagged"
    );
    pick(&mut h, "Device", "Test-Microphone");
    assert_eq!(h.state().settings().mixer.sources[0].device, "testmic");
    assert!(h.query_by_label_contains(missing).is_none());

    h.get_by_label("Record").click();
    // The program's and the strip's meters show the tone at its level (-12 dBFS peak).
    run_until(&mut h, "the tone on the meters", |a| {
        peak_after(a, 0).is_some_and(|(p, _)| (p + 12.0).abs() < 1.5)
            && strip_held(a, "Mic/Aux").is_some_and(|p| (p + 12.0).abs() < 1.5)
    });
    let meter = h.state().meters()[0];
    assert!(
        (meter.held_dbfs + 12.0).abs() < 1.5,
        "meter held {:.1} dBFS",
        meter.held_dbfs
    );
    // The meters' figures (the program's and the strip's, left and right): the held peak.
    let figures: Vec<String> = h
        .query_all_by_label_contains(" dB")
        .filter_map(|n| n.accesskit_node().value())
        .filter(|v| v.starts_with("-1"))
        .collect();
    assert!(figures.len() >= 4, "{figures:?}");

    // Mute: the program falls silent while recording goes on; unmute: the tone is back.
    h.get_all_by_label("Mute").next().unwrap().click(); // the strip's (then the master's)
    h.run_steps(1);
    assert!(h.state().settings().mixer.sources[0].muted);
    let silent = |a: &OnairApp| peak_after(a, 0).is_some_and(|(p, _)| p == SILENCE_DBFS);
    run_until(&mut h, "silence while muted", silent);
    let mut seen = peak_after(h.state(), 0).map_or(0, |(_, w)| w);
    h.get_all_by_label("Mute").next().unwrap().click(); // the strip's (then the master's)
    run_until(&mut h, "the tone again after unmuting", |a| {
        peak_after(a, seen).is_some_and(|(p, _)| (p + 12.0).abs() < 1.5)
    });
    // The fader acts live too: to -6 dB.
    h.get_by_role_and_label(Role::Slider, "Fader")
        .set_value_accesskit(-6.0);
    h.run_steps(2);
    assert_eq!(h.state().settings().mixer.sources[0].volume_db, -6.0);
    seen = peak_after(h.state(), 0).map_or(seen, |(_, w)| w);
    run_until(&mut h, "the tone 6 dB lower", |a| {
        peak_after(a, seen + 1).is_some_and(|(p, _)| (p + 18.0).abs() < 1.5)
    });

    // Another 2 s at that gain, so the file ends with it.
    let lowered = Instant::now();
    run_until(&mut h, "2 s more", |_| {
        lowered.elapsed() >= Duration::from_secs(2)
    });
    h.get_by_label("Stop recording").click();
    h.run_steps(4);
    // Stopping asks first; the question's button is the last "Stop recording".
    let stop = h.get_all_by_label("Stop recording").collect::<Vec<_>>();
    assert_eq!(stop.len(), 2, "no question before stopping");
    stop.last().unwrap().click();
    run_until(&mut h, "the engine to stop", |a| !a.view().encoding);
    stop_child(&mut player);

    let files: Vec<_> = std::fs::read_dir(takes.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "mp4"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    judge(&files[0]);
    // The choices were saved for the next start, in the one configuration.
    let saved = std::fs::read_to_string(config.path().join("config.toml")).unwrap();
    assert!(
        saved.contains("kind = \"screen\"") && saved.contains("device = \"testmic\""),
        "{saved}"
    );
}

/// The recording is the screen (the red window where it is) with the microphone's sound.
fn judge(path: &Path) {
    assert_clean_h264_aac(path, 60.0, f64::MAX);
    let frame = rgb_frame_at(path, 1.0);
    let inside = mean_rgb(&frame, 230, 180, 200, 80);
    assert!(
        inside[0] > 200.0 && inside[1] < 40.0 && inside[2] < 40.0,
        "window area {inside:?}"
    );
    let far = mean_rgb(&frame, 900, 500, 200, 100);
    assert!(far.iter().all(|&c| c < 30.0), "outside the window {far:?}");
    let (samples, _) = audio_samples(path);
    // The file ends at the lowered gain: the tone 6 dB under what was played.
    let n = samples.len();
    assert!(n > 96_000, "{n} samples");
    // The median of the last 1.5 s in 100 ms windows (the very end may be cut mid-window).
    let mut levels: Vec<f64> = samples[n - 72_000..]
        .chunks_exact(4_800)
        .map(|w| 20.0 * (common::desktop::tone_amplitude(w, 440.0, 48_000.0) / 32768.0).log10())
        .collect();
    levels.sort_by(f64::total_cmp);
    let db = levels[levels.len() / 2];
    assert!(
        (db + 18.0).abs() < 1.0,
        "440 Hz at {db:.1} dBFS: {levels:?}"
    );
}
