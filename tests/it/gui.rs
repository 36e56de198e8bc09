//! The desktop app, driven by egui_kittest: the real `OnairApp` over the real engine with the
//! test sources, clicked like a person would, judged by ffprobe and a real nginx-rtmp.
//! Rendering (for the image snapshots) is wgpu on Mesa's lavapipe: no display needed.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::gui::{harness, harness_sized, request_close, run_until, sent_command};
use crate::common::peers::{Nginx, NginxOptions};
use crate::common::*;
use eframe::egui;
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT as _, Queryable as _};
use onair::app::keystore::KeyringUse;
use onair::pipeline::OutputState;
use onair::ui::OnairApp;

/// Writes the app's settings (and keys) into `dir` before it starts.
fn write_settings(dir: &Path, gui: &str, keys: &str) {
    std::fs::write(dir.join("gui.toml"), gui).unwrap();
    if !keys.is_empty() {
        std::fs::write(dir.join("keys.toml"), keys).unwrap();
    }
}

/// An image snapshot that tolerates a few pixels (a figure's antialiasing at a mask's edge),
/// far fewer than any real change of the view (one masked key is hundreds).
fn snapshot(h: &mut Harness<'static, OnairApp>, name: &str) {
    h.snapshot_options(
        name,
        &egui_kittest::SnapshotOptions::new().max_failed_pixels(100),
    );
}

/// Masks the CPU and memory figures, which change from run to run.
fn mask_figures(h: &mut Harness<'static, OnairApp>) {
    for label in ["CPU usage", "Memory"] {
        let r = h.get_by_label(label).rect();
        h.mask(egui::Rect::from_min_max(
            egui::pos2(r.right(), r.top() - 2.0),
            egui::pos2(r.right() + 200.0, r.bottom() + 2.0),
        ));
    }
}

/// Masks what the program makes, which moves: its picture and the meters.
fn mask_program(h: &mut Harness<'static, OnairApp>) {
    run_until(h, "the program's first picture", |a| {
        a.view().picture.as_ref().is_some_and(|p| p.seq() > 0)
    });
    h.run_steps(2);
    let picture = h.get_by_label("Program picture").rect();
    h.mask(picture);
    let labels: Vec<egui::Rect> = ["Program L", "Program R", "L", "R"]
        .into_iter()
        .flat_map(|l| h.get_all_by_label(l).map(|n| n.rect()).collect::<Vec<_>>())
        .collect();
    for r in labels {
        h.mask(egui::Rect::from_min_max(
            egui::pos2(r.right() + 2.0, r.top() - 2.0),
            egui::pos2(r.right() + 310.0, r.bottom() + 2.0),
        ));
    }
}

fn settings_with(record_folder: &Path, extra: &str) -> String {
    format!(
        "preset = \"480p30\"\nrecord_folder = \"{}\"\nhls_folder = \"{}\"\n{extra}",
        record_folder.display(),
        record_folder.join("hls").display()
    )
}

#[test]
fn record_then_stop_leaves_a_playable_file() {
    let config = tempdir();
    let takes = tempdir();
    write_settings(config.path(), &settings_with(takes.path(), ""), "");
    let mut h = harness(config.path());
    h.run_steps(2);
    h.get_by_label("Record").click();
    run_until(&mut h, "3 s of recording", |a| {
        a.view()
            .recording
            .since
            .is_some_and(|t| t.elapsed() >= Duration::from_secs(3))
            && a.view()
                .recording_output
                .as_ref()
                .is_some_and(|o| o.bytes > 0)
    });
    assert!(h.query_by_label_contains("REC 0:00:0").is_some());
    h.get_by_label("Stop recording").click();
    h.run_steps(4);
    // Stopping asks first.
    let stop = h.get_all_by_label("Stop recording").collect::<Vec<_>>();
    assert_eq!(stop.len(), 2, "no question before stopping");
    stop.last().unwrap().click();
    run_until(&mut h, "the engine to stop", |a| {
        !a.view().encoding && a.view().recording.since.is_none()
    });
    assert!(h.query_by_label("Record").is_some());
    let files: Vec<_> = std::fs::read_dir(takes.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "mp4"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let p = probe(&files[0]);
    let v = stream(&p, "video");
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(854), Some(480))
    );
    assert!(num(&v["nb_read_frames"]) >= 90.0, "{p}");
    assert_eq!(stream(&p, "audio")["codec_name"], "aac");
    let errors = decode_errors(&files[0], &[]);
    assert!(errors.is_empty(), "{errors}");
}

#[test]
fn go_live_to_a_local_nginx_then_stop_after_confirming() {
    let nginx = Nginx::start(NginxOptions::default());
    let config = tempdir();
    let takes = tempdir();
    let server = format!("rtmp://127.0.0.1:{}/live", nginx.rtmp_port());
    let destination = format!(
        "[[destinations]]\nid = 1\nname = \"Local nginx\"\nservice = \"Custom\"\nserver = \"{server}\"\nenabled = true\n"
    );
    write_settings(
        config.path(),
        &settings_with(takes.path(), &destination),
        "[keys]\n1 = \"guikey\"\n",
    );
    let mut h = harness(config.path());
    h.run_steps(2);
    h.get_by_label("Go live").click();
    // Live (connected and publishing) for 3 s: at least 3 s of media reached nginx.
    let live_at = std::cell::Cell::new(None::<Instant>);
    run_until(&mut h, "live for 3 s", |a| {
        let live = a
            .view()
            .destinations
            .first()
            .and_then(|d| d.output.as_ref())
            .is_some_and(|o| o.state == OutputState::Live);
        if live && live_at.get().is_none() {
            live_at.set(Some(Instant::now()));
        }
        live && live_at
            .get()
            .is_some_and(|t| t.elapsed() >= Duration::from_secs(3))
    });
    assert!(
        h.query_all_by_label("live").count() >= 1,
        "the destination shows it is live"
    );
    assert!(h.query_by_label_contains("guikey").is_none());
    // Ctrl+L asks before stopping.
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::L);
    h.run_steps(2);
    assert!(h.query_by_label("Stop streaming?").is_some());
    let stop_buttons = h.get_all_by_label("Stop streaming").collect::<Vec<_>>();
    stop_buttons.last().unwrap().click();
    run_until(&mut h, "the stream to stop", |a| !a.view().encoding);
    nginx.wait_recording_closed(Duration::from_secs(10));
    let recordings = nginx.recordings();
    assert_eq!(recordings.len(), 1, "{recordings:?}");
    let p = probe(&recordings[0]);
    assert!(num(&stream(&p, "video")["nb_read_frames"]) >= 60.0, "{p}");
    let errors = decode_errors(&recordings[0], &[]);
    assert!(errors.is_empty(), "{errors}");
}

/// The app, started, with no destination and fixed folder names (a picture may show them;
/// nothing is recorded there).
fn app_with_fixed_folders(config: &Path) -> Harness<'static, OnairApp> {
    // No video: nothing moves in the picture (the Settings window hides the meters).
    write_settings(
        config,
        &settings_with(Path::new("/tmp/onair-gui-test"), "video = \"None\"\n"),
        "",
    );
    let mut h = harness(config);
    h.run_steps(2);
    h
}

#[test]
fn an_invalid_preset_shows_its_error_as_you_type() {
    let config = tempdir();
    let mut h = app_with_fixed_folders(config.path());
    h.get_by_label("Settings").click();
    // A window opens over a few frames (sizing, then drawn).
    h.run_steps(4);
    // The new-preset form starts empty: no error yet, but what to type first.
    assert!(
        h.query_by_label("Type a name for the new preset.")
            .is_some()
    );
    assert!(h.query_by_label_contains("must not be empty").is_none());
    h.get_by_label("Name").click();
    h.run_steps(1);
    h.get_by_label("Name").type_text("wide-1080p");
    h.run_steps(2);
    assert!(h.query_by_label_contains("Name:").is_none());
    h.get_by_label("Width").click();
    h.run_steps(1);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.get_by_label("Width").type_text("1921");
    h.run_steps(2);
    assert!(
        h.query_by_label("Width: 1921 must be even").is_some(),
        "no width error shown"
    );
    // The preset cannot be added while it is invalid.
    assert!(h.get_by_label("Add preset").accesskit_node().is_disabled());
    // Click away so no text cursor blinks in the picture.
    h.get_by_label("Presets").click();
    h.run_steps(2);
    mask_figures(&mut h);
    snapshot(&mut h, "settings_invalid_preset");
}

/// The window's preview rate is automatic until chosen: 15 fps, 5 when the window is drawn by a
/// software rasterizer (the real window reads OpenGL's renderer; here it is told one). Choosing
/// a rate is saved; ticking Automatic again forgets it.
#[test]
fn the_preview_rate_is_automatic_until_chosen() {
    let config = tempdir();
    let mut h = app_with_fixed_folders(config.path());
    assert_eq!(h.state().preview_rate(), 15);
    h.state_mut()
        .set_renderer("llvmpipe (LLVM 15.0.6, 256 bits)");
    assert_eq!(h.state().preview_rate(), 5);
    h.get_by_label("Settings").click();
    // The click asks for the window (applied after the frame); it draws over the next frames.
    h.run_steps(4);
    assert!(
        h.query_by_label_contains("5 fps here, as the window is drawn in software (llvmpipe")
            .is_some(),
        "the reason for the lower rate is not shown"
    );
    // The slider and its number field are greyed out while automatic.
    let rate_disabled = |h: &Harness<'static, OnairApp>| {
        let nodes: Vec<bool> = h
            .query_all_by_label("Window preview (fps)")
            .map(|n| n.accesskit_node().is_disabled())
            .collect();
        assert!(!nodes.is_empty(), "no preview rate control");
        nodes.iter().all(|d| *d)
    };
    assert!(rate_disabled(&h));
    h.get_by_label("Automatic").click();
    h.run_steps(2);
    assert!(!rate_disabled(&h));
    // Unticked, the rate in force becomes the chosen one, and is saved.
    assert_eq!(h.state().settings().preview_fps, Some(5));
    let saved = std::fs::read_to_string(config.path().join("window.toml")).unwrap();
    assert!(saved.contains("preview_fps = 5"), "{saved}");
    h.get_by_label("Automatic").click();
    h.run_steps(2);
    assert_eq!(h.state().settings().preview_fps, None);
    let saved = std::fs::read_to_string(config.path().join("window.toml")).unwrap();
    assert!(!saved.contains("preview_fps"), "{saved}");
    // A GPU: the automatic rate is 15 again.
    h.state_mut()
        .set_renderer("Mesa Intel(R) UHD Graphics 620 (KBL GT2)");
    assert_eq!(h.state().preview_rate(), 15);
}

#[test]
fn the_stream_key_is_masked_until_shown() {
    let config = tempdir();
    let takes = tempdir();
    let destination = "[[destinations]]\nid = 7\nname = \"Twitch\"\nservice = \"Twitch\"\nserver = \"rtmp://live.twitch.tv/app\"\nenabled = true\n";
    write_settings(
        config.path(),
        &settings_with(takes.path(), destination),
        "[keys]\n7 = \"live_123_secret\"\n",
    );
    let mut h = harness(config.path());
    h.run_steps(3);
    assert!(h.query_by_label_contains("live_123_secret").is_none());
    assert_eq!(h.query_all_by_value("live_123_secret").count(), 0);
    // The program first: its wait steps the app, which drops masks made before.
    mask_program(&mut h);
    mask_figures(&mut h);
    snapshot(&mut h, "main_window_key_masked");
    h.get_by_label("Show").click();
    h.run_steps(2);
    assert!(h.query_all_by_value("live_123_secret").count() >= 1);
    h.get_by_label("Hide").click();
    h.run_steps(2);
    assert_eq!(h.query_all_by_value("live_123_secret").count(), 0);
    // Settings keep the key apart from everything else.
    let gui = std::fs::read_to_string(config.path().join("config.toml")).unwrap();
    assert!(!gui.contains("secret"));
}

/// Starts a recording with the Record button and waits until it records.
fn start_recording(h: &mut Harness<'static, OnairApp>) {
    h.get_by_label("Record").click();
    run_until(h, "the recording to start", |a| {
        a.view()
            .recording_output
            .as_ref()
            .is_some_and(|o| o.bytes > 0)
    });
}

/// Closing the window (its close button, the window manager, Ctrl+Q) while recording asks
/// first, as OBS does; Cancel keeps it open and recording, Quit closes it.
#[test]
fn closing_while_recording_asks_first() {
    let config = tempdir();
    let takes = tempdir();
    write_settings(config.path(), &settings_with(takes.path(), ""), "");
    let mut h = harness(config.path());
    h.run_steps(2);
    // Idle, it closes at once.
    request_close(&mut h);
    assert!(!sent_command(&h, &egui::ViewportCommand::CancelClose));
    assert!(h.query_by_label("Quit onair?").is_none());
    start_recording(&mut h);
    request_close(&mut h);
    assert!(
        sent_command(&h, &egui::ViewportCommand::CancelClose),
        "the window closed while recording without asking"
    );
    h.run_steps(2);
    assert!(h.query_by_label("Quit onair?").is_some());
    assert!(h.query_by_label_contains("You are recording").is_some());
    h.get_by_label("Cancel").click();
    h.run_steps(2);
    assert!(h.query_by_label("Quit onair?").is_none());
    assert!(
        h.state().view().recording.since.is_some(),
        "still recording"
    );
    // Ctrl+Q asks the same.
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Q);
    h.run_steps(1);
    request_close(&mut h);
    h.run_steps(2);
    assert!(h.query_by_label("Quit onair?").is_some());
    h.get_by_label("Quit").click();
    h.step();
    assert!(sent_command(&h, &egui::ViewportCommand::Close));
    request_close(&mut h);
    assert!(!sent_command(&h, &egui::ViewportCommand::CancelClose));
}

/// The window's shortcuts never act while a text field has the keyboard: Ctrl+R typed while
/// editing a destination's name records nothing. Out of the field it records; stopping then
/// asks first.
#[test]
fn shortcuts_do_nothing_while_typing_and_stopping_a_recording_asks() {
    let config = tempdir();
    let takes = tempdir();
    let destination = "[[destinations]]\nid = 3\nname = \"Twitch\"\nservice = \"Twitch\"\nserver = \"rtmp://live.twitch.tv/app\"\nenabled = true\n";
    write_settings(
        config.path(),
        &settings_with(takes.path(), destination),
        "[keys]\n3 = \"live_k\"\n",
    );
    let mut h = harness(config.path());
    h.run_steps(2);
    h.get_by_label("Name").click();
    h.run_steps(1);
    for key in [egui::Key::R, egui::Key::L, egui::Key::P] {
        h.key_press_modifiers(egui::Modifiers::COMMAND, key);
        h.run_steps(1);
    }
    // Give the controller time to act on anything sent.
    let until = Instant::now() + Duration::from_millis(700);
    while Instant::now() < until {
        h.step();
        std::thread::sleep(Duration::from_millis(50));
    }
    let v = h.state().view();
    assert!(
        v.recording.since.is_none() && v.live.since.is_none() && v.preview.since.is_none(),
        "a shortcut acted while typing in a field"
    );
    assert!(h.query_by_label("Stop streaming?").is_none());
    assert_eq!(h.state().settings().destinations[0].name, "Twitch");
    // Out of the field, Ctrl+R records.
    h.get_by_label("Program").click();
    h.run_steps(1);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::R);
    run_until(&mut h, "Ctrl+R to record", |a| {
        a.view().recording.since.is_some()
    });
    // Stopping asks.
    h.get_by_label("Stop recording").click();
    h.run_steps(4);
    assert!(h.query_by_label("Stop recording?").is_some());
    h.get_by_label("Keep recording").click();
    h.run_steps(2);
    assert!(h.state().view().recording.since.is_some());
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::R);
    h.run_steps(4);
    assert!(h.query_by_label("Stop recording?").is_some());
    let stop = h.get_all_by_label("Stop recording").collect::<Vec<_>>();
    stop.last().unwrap().click();
    run_until(&mut h, "the recording to stop", |a| !a.view().encoding);
}

/// Remove takes a destination away at once; its notice puts it back, with its stream key.
#[test]
fn remove_can_be_undone_from_its_notice() {
    let config = tempdir();
    let takes = tempdir();
    let destination = "[[destinations]]\nid = 5\nname = \"My channel\"\nservice = \"Twitch\"\nserver = \"rtmp://live.twitch.tv/app\"\nenabled = true\n";
    write_settings(
        config.path(),
        &settings_with(takes.path(), destination),
        "[keys]\n5 = \"live_undo\"\n",
    );
    let mut h = harness(config.path());
    h.run_steps(2);
    h.get_by_label("Remove").click();
    h.run_steps(4);
    assert!(h.state().settings().destinations.is_empty());
    assert!(
        h.query_by_label_contains("Removed destination “My channel”")
            .is_some()
    );
    h.get_by_label("Undo").click();
    h.run_steps(2);
    let d = &h.state().settings().destinations;
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].name, "My channel");
    assert_eq!(h.state().app().keys.get(5), "live_undo");
    assert!(h.query_by_label("Undo").is_none());
    let saved = std::fs::read_to_string(config.path().join("config.toml")).unwrap();
    assert!(saved.contains("My channel"), "{saved}");
}

/// At 1024x700 a 300-character error on a destination's card wraps inside the setup
/// column, which stays at most 40 % of the window: the picture keeps the larger share. The
/// error quotes the server as typed (only a key would be masked) and stays until fixed.
#[test]
fn a_long_error_wraps_on_its_card_and_the_picture_keeps_the_larger_share() {
    let config = tempdir();
    let takes = tempdir();
    let server = format!("rtmp//{}.example.com/app", "x".repeat(280));
    let destination = format!(
        "[[destinations]]\nid = 9\nname = \"Own server\"\nservice = \"Custom\"\nserver = \"{server}\"\nenabled = true\n"
    );
    write_settings(
        config.path(),
        &settings_with(takes.path(), &destination),
        "[keys]\n9 = \"live_9\"\n",
    );
    let mut h = harness_sized(config.path(), KeyringUse::Off, egui::vec2(1024.0, 700.0));
    h.run_steps(3);
    let error = h.get_by_label_contains("is not an RTMP URL");
    assert!(
        h.query_by_label_contains(&format!("`{server}/****` is not an RTMP URL"))
            .is_some(),
        "the server is not quoted as typed"
    );
    assert!(h.query_by_label_contains("live_9").is_none());
    let rect = error.rect();
    assert!(
        rect.right() <= 1024.0 * 0.4 + 1.0,
        "the error runs out of the column: {rect:?}"
    );
    assert!(rect.height() > 40.0, "the error does not wrap: {rect:?}");
    let picture = h.state().preview_width();
    println!(
        "setup column ends at {:.0}, picture {picture} px wide",
        rect.right()
    );
    assert!(picture >= 1024 / 2, "the picture is {picture} px of 1024");
    // Going live goes nowhere, and says why.
    h.get_by_label("Go live").click();
    h.run_steps(4);
    assert!(
        h.query_by_label_contains("cannot go live: Own server:")
            .is_some()
    );
    assert!(!h.state().view().encoding);
    // On its card and on the Live status line.
    assert_eq!(
        h.query_all_by_label_contains("is not an RTMP URL").count(),
        2
    );
    // Fixed, the error goes.
    let server_field = h.get_by_label("Server");
    server_field.click();
    h.run_steps(1);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.get_by_label("Server").type_text("rtmp://127.0.0.1/live");
    h.run_steps(2);
    // Gone from the card and from the Live status line (it was about the old server).
    assert_eq!(
        h.query_all_by_label_contains("is not an RTMP URL").count(),
        0
    );
    let d = h.state().settings().destinations[0].clone();
    assert_eq!(h.state().app().destination_problem(&d), None);
}

/// A recordings folder typed in Settings is taken when the field is left: created if missing,
/// or why not shown beside it (here: a file where the folder should be). Recording into a
/// folder that cannot be made is refused with that reason, not started.
#[test]
fn a_typed_recordings_folder_is_created_or_says_why_not() {
    let config = tempdir();
    let takes = tempdir();
    write_settings(config.path(), &settings_with(takes.path(), ""), "");
    let mut h = harness(config.path());
    h.run_steps(2);
    h.get_by_label("Settings").click();
    // A window opens over a few frames (sizing, then drawn).
    h.run_steps(4);
    let type_folder = |h: &mut Harness<'static, OnairApp>, path: &Path| {
        h.get_by_label("Folder").click();
        h.run_steps(1);
        h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
        h.get_by_label("Folder")
            .type_text(&path.display().to_string());
        h.run_steps(1);
        // Half typed: nothing is created yet.
        assert!(!path.exists() || path.is_file());
        h.key_press(egui::Key::Enter);
        h.run_steps(3);
    };
    let new = takes.path().join("new").join("takes");
    type_folder(&mut h, &new);
    assert!(new.is_dir(), "the chosen folder was not created");
    assert_eq!(h.state().settings().record_folder, new);
    let file = takes.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    type_folder(&mut h, &file);
    assert!(
        h.query_by_label_contains("is a file, not a folder")
            .is_some()
    );
    // The action bar's Settings (the window's title is the second) closes it.
    h.get_all_by_label("Settings").next().unwrap().click();
    h.run_steps(3);
    h.get_by_label("Record").click();
    h.run_steps(4);
    assert!(h.query_by_label_contains("cannot record:").is_some());
    assert!(!h.state().view().encoding);
}

/// A WHIP destination made in the window: picked from the services, its endpoint typed in, its
/// key field called "Bearer token" and masked until shown; the settings keep the kind and the
/// endpoint, the token only in the key store (keys.toml here).
#[test]
fn a_whip_destination_keeps_its_kind_and_masks_its_token() {
    let config = tempdir();
    let takes = tempdir();
    write_settings(config.path(), &settings_with(takes.path(), ""), "");
    let mut h = harness(config.path());
    h.run_steps(3);
    // A click's Action is applied after its frame; the next frames draw the result.
    h.get_by_label("Add destination").click();
    h.run_steps(3);
    h.get_by_role_and_label(Role::ComboBox, "Service").click();
    h.run_steps(2);
    // The popup's entry is the last match.
    let entries: Vec<_> = h
        .query_all_by_label_contains("WHIP (WebRTC) server")
        .collect();
    entries.last().expect("a WHIP service").click();
    h.run_steps(2);
    let endpoint = "https://whip.example.com/whip/my-stream";
    h.get_by_label("Server").click();
    h.run_steps(1);
    h.get_by_label("Server").type_text(endpoint);
    h.run_steps(2);
    h.get_by_label("Bearer token").click();
    h.run_steps(1);
    h.get_by_label("Bearer token")
        .type_text("whip_t0ken_secret");
    h.run_steps(2);
    assert!(h.query_by_label("Stream key").is_none());
    assert_eq!(h.query_all_by_value("whip_t0ken_secret").count(), 0);
    assert!(h.query_by_label_contains("whip_t0ken_secret").is_none());
    h.get_by_label("Show").click();
    h.run_steps(2);
    assert!(h.query_all_by_value("whip_t0ken_secret").count() >= 1);
    h.get_by_label("Hide").click();
    h.run_steps(2);
    assert_eq!(h.query_all_by_value("whip_t0ken_secret").count(), 0);

    let gui = std::fs::read_to_string(config.path().join("config.toml")).unwrap();
    assert!(gui.contains("service = \"Whip\""), "{gui}");
    assert!(gui.contains(endpoint), "{gui}");
    assert!(!gui.contains("t0ken"), "{gui}");
    // The key store writes on its own thread.
    let keys = config.path().join("keys.toml");
    run_until(&mut h, "the token saved", |_| {
        std::fs::read_to_string(&keys).is_ok_and(|k| k.contains("whip_t0ken_secret"))
    });
    // Read back as a WHIP target by a new window over the same settings.
    drop(h);
    let h = harness(config.path());
    let d = &h.state().settings().destinations;
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].service, onair::app::services::Service::Whip);
}

/// The tone's strip level in the running engine: the peak held over the last 3 s (the tone
/// beeps once a second), both channels.
fn tone_hold(a: &OnairApp, name: &str) -> Option<f32> {
    let r = a.view().mixer.as_ref()?.levels(name)?;
    Some(r.peak_hold_dbfs[0].max(r.peak_hold_dbfs[1]))
}

/// The filters of every strip of the running mixer, as the stats show them.
fn running_filters(a: &OnairApp) -> Option<Vec<Vec<&'static str>>> {
    let m = a.view().mixer.as_ref()?;
    Some(m.snapshot().into_iter().map(|(_, s)| s.filters).collect())
}

#[test]
fn the_mixer_panel_moves_a_fader_and_adds_filters_and_sources_while_recording() {
    let tone = onair::app::settings::TONE_NAME;
    let config = tempdir();
    let takes = tempdir();
    write_settings(config.path(), &settings_with(takes.path(), ""), "");
    let mut h = harness(config.path());
    h.run_steps(2);
    h.get_by_label("Record").click();
    // 3.5 s in, the held peak covers three beeps.
    run_until(&mut h, "the tone's level on its strip", |a| {
        a.view()
            .recording
            .since
            .is_some_and(|t| t.elapsed() >= Duration::from_millis(3_500))
            && tone_hold(a, tone).is_some_and(|p| p > -40.0)
    });
    let at_rest = tone_hold(h.state(), tone).unwrap();

    // The fader to -10 dB: the strip's level in the engine falls by 10 dB.
    h.get_by_role_and_label(Role::Slider, "Fader")
        .set_value_accesskit(-10.0);
    h.run_steps(2);
    assert_eq!(h.state().settings().mixer.sources[0].volume_db, -10.0);
    run_until(&mut h, "the strip 10 dB lower", |a| {
        tone_hold(a, tone).is_some_and(|p| (p - (at_rest - 10.0)).abs() < 0.5)
    });
    let stats = h.state().view().mixer.as_ref().unwrap().snapshot();
    assert_eq!(stats[0].1.volume_db, -10.0);

    // The filters window adds noise suppression to the running strip, then removes it.
    h.get_by_label("Filters").click();
    h.run_steps(4);
    assert!(h.query_by_label_contains("Filters: Sync tone").is_some());
    h.get_by_label("Add filter").click();
    h.run_steps(2);
    h.get_by_label("Noise suppression").click();
    run_until(&mut h, "noise suppression on the running strip", |a| {
        running_filters(a) == Some(vec![vec!["noise_suppression"]])
    });
    // The window grows to show the filter over a few frames.
    h.run_steps(4);
    assert!(h.query_by_label("Filters (1)").is_some());
    // The window opens clear of the action bar (at egui's default place it covered Go live).
    let window = h
        .get_by_label_contains("Filters: Sync tone")
        .rect()
        .union(h.get_by_label("Remove filter").rect());
    for button in ["Go live", "Stop recording"] {
        let b = h.get_by_label(button).rect();
        assert!(!window.intersects(b), "the filters window {window:?} covers {button} {b:?}");
    }
    h.get_by_label("Remove filter").click();
    run_until(&mut h, "no filter on the running strip", |a| {
        running_filters(a) == Some(vec![vec![]])
    });
    h.run_steps(2);
    h.get_by_label("Filters").click();
    h.run_steps(2);
    assert!(h.query_by_label_contains("Filters: Sync tone").is_none());

    // A second tone joins the running mixer, with a meter of its own, and leaves it.
    h.get_by_label("Add source").click();
    h.run_steps(2);
    let entries: Vec<_> = h.query_all_by_label("Sync tone").collect();
    entries.last().unwrap().click();
    run_until(&mut h, "the new source's level", |a| {
        tone_hold(a, "Sync tone 2").is_some_and(|p| p > -40.0)
            && a.app().strip_meters().get("Sync tone 2").is_some()
    });
    let removes: Vec<_> = h.query_all_by_label("Remove source").collect();
    assert_eq!(removes.len(), 2);
    removes.last().unwrap().click();
    run_until(&mut h, "the new source gone", |a| {
        a.view()
            .mixer
            .as_ref()
            .is_some_and(|m| m.strips().len() == 1)
    });

    h.get_by_label("Stop recording").click();
    h.run_steps(4);
    let stop = h.get_all_by_label("Stop recording").collect::<Vec<_>>();
    assert_eq!(stop.len(), 2, "no question before stopping");
    stop.last().unwrap().click();
    run_until(&mut h, "the engine to stop", |a| !a.view().encoding);
    // The mixer as edited is saved for the next start.
    let gui = std::fs::read_to_string(config.path().join("config.toml")).unwrap();
    assert!(gui.contains("volume_db = -10.0"), "{gui}");
}

/// Going live with three destinations switched on (issue 15, items 7 and 8): one nginx takes
/// (key `goodkey`), one whose key nginx refuses, one typed wrong. The stream reaches nginx for
/// the good one (ffprobe reads it there, live), the refused one's error shows on its own card,
/// and the mistyped one is named on the Live status line (not a notification) and is not sent.
/// The stats name each output by its destination (never the URL), give the CPU as a share of
/// the machine with its core count (at most 100 %), "–" once stopped (not a frozen figure),
/// and the bitrate graph has a legend naming the destinations.
#[test]
fn going_live_reaches_the_good_destination_and_shows_each_bad_ones_error_on_its_card() {
    let nginx = Nginx::start(NginxOptions::default());
    let config = tempdir();
    let takes = tempdir();
    let port = nginx.rtmp_port();
    let auth = format!("rtmp://127.0.0.1:{port}/auth");
    let destination = |id: u32, name: &str, server: &str| {
        format!(
            "[[destinations]]\nid = {id}\nname = \"{name}\"\nservice = \"Custom\"\nserver = \"{server}\"\nenabled = true\n"
        )
    };
    let destinations = [
        destination(1, "Good nginx", &auth),
        destination(2, "Refused key", &auth),
        destination(3, "Typo", "rtmp//127.0.0.1/auth"),
    ]
    .concat();
    write_settings(
        config.path(),
        &settings_with(takes.path(), &destinations),
        "[keys]\n1 = \"goodkey\"\n2 = \"badkey\"\n3 = \"typokey\"\n",
    );
    // Tall enough for the stats and both graphs below the picture.
    let mut h = harness_sized(config.path(), KeyringUse::Off, egui::vec2(1280.0, 1500.0));
    run_until(&mut h, "the keys to load", |a| a.keys_place().is_some());
    h.run_steps(2);
    h.get_by_label("Go live").click();
    let output = |a: &OnairApp, name: &str| {
        a.view()
            .destinations
            .iter()
            .find(|d| d.name == name)
            .and_then(|d| d.output.clone())
    };
    let live_at = std::cell::Cell::new(None::<Instant>);
    run_until(
        &mut h,
        "live to the good one for 3 s, the refused one failed",
        |a| {
            let live = output(a, "Good nginx").is_some_and(|o| o.state == OutputState::Live);
            if live && live_at.get().is_none() {
                live_at.set(Some(Instant::now()));
            }
            live && live_at
                .get()
                .is_some_and(|t| t.elapsed() >= Duration::from_secs(3))
                && output(a, "Refused key").is_some_and(|o| o.last_error.is_some())
                && a.view().history.len() > 2
        },
    );
    h.run_steps(2);
    // Sent to the two well-typed ones only; nginx took the good key's stream alone.
    let names: Vec<String> = h
        .state()
        .view()
        .destinations
        .iter()
        .map(|d| d.name.clone())
        .collect();
    assert_eq!(names, ["Good nginx", "Refused key"]);
    assert_eq!(
        nginx.publishing_streams(),
        [("auth".to_owned(), "goodkey".to_owned())]
    );
    // ffprobe reads the stream from nginx while it is live.
    let out = run_ok(
        Command::new("timeout")
            .args([
                "20",
                "ffprobe",
                "-v",
                "error",
                "-show_streams",
                "-of",
                "json",
            ])
            .arg(format!("{auth}/goodkey")),
    );
    let p: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let v = stream(&p, "video");
    assert_eq!(v["codec_name"], "h264", "{p}");
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(854), Some(480))
    );
    assert_eq!(stream(&p, "audio")["codec_name"], "aac", "{p}");

    // Each error on its own card: cards stack in order, each starting at its name field.
    let top_of = |h: &Harness<'static, OnairApp>, name: &str| {
        h.query_all_by_value(name)
            .find(|n| n.accesskit_node().role() == Role::TextInput)
            .unwrap_or_else(|| panic!("no name field {name}"))
            .rect()
            .top()
    };
    let (good, refused, typo) = (
        top_of(&h, "Good nginx"),
        top_of(&h, "Refused key"),
        top_of(&h, "Typo"),
    );
    let add = h.get_by_label("Add destination").rect().top();
    assert!(good < refused && refused < typo && typo < add);
    // In the setup column (the stats table repeats an output's state on the right).
    let on_card = |h: &Harness<'static, OnairApp>, part: &str, from: f32, to: f32| {
        h.query_all_by_label_contains(part)
            .map(|n| n.rect())
            .any(|r| r.right() <= 1280.0 * 0.4 + 1.0 && (from..to).contains(&r.top()))
    };
    assert!(
        on_card(&h, "check the stream key", refused, typo),
        "the refused key's error is not on its card (cards at {good}, {refused}, {typo})"
    );
    assert!(
        !on_card(&h, "check the stream key", good, refused),
        "the refused key's error is on the good card"
    );
    assert!(
        on_card(&h, "is not an RTMP URL", typo, add),
        "the typo is not on its card"
    );
    // The one not sent is named on the Live status line, not in a notification.
    assert!(h.query_by_label_contains("not live to Typo: ").is_some());
    assert!(
        !h.state().app().toasts().any(|n| n.text.contains("Typo")),
        "a notification instead of the status line"
    );
    assert!(h.query_by_label_contains("typokey").is_none());
    assert!(h.query_by_label_contains("badkey").is_none());

    // The stats: rows and the graph's legend by destination name, never the URL.
    // One row each (two outputs on one server differ only in their masked keys).
    for name in ["Good nginx", "Refused key"] {
        assert_eq!(
            h.query_all_by_role_and_label(Role::Label, name).count(),
            1,
            "stats rows named {name}"
        );
    }
    assert_eq!(
        h.query_all_by_label_contains(&format!("127.0.0.1:{port}"))
            .count(),
        0,
        "an output is named by its URL"
    );
    assert!(
        h.query_by_label("Bitrate per output (kbit/s), last 5 minutes")
            .is_some()
    );
    for name in ["Good nginx", "Refused key"] {
        assert!(
            h.query_by_role_and_label(Role::CheckBox, name).is_some(),
            "the bitrate graph's legend does not name {name}"
        );
    }
    // CPU: a share of the whole machine, with its cores.
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let of = if cores == 1 {
        "1 core".to_owned()
    } else {
        format!("{cores} cores")
    };
    let cpu = label_text(&h, "% of the machine (");
    let percent: f64 = cpu.split(' ').next().unwrap().parse().unwrap();
    assert!(
        cpu.ends_with(&format!("% of the machine ({of})")) && (0.0..=100.0).contains(&percent),
        "{cpu}"
    );

    // Stopped: the program runs on (its cost is what the CPU figure shows now), the encoders
    // do not.
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::L);
    h.run_steps(2);
    let stop_buttons = h.get_all_by_label("Stop streaming").collect::<Vec<_>>();
    stop_buttons.last().unwrap().click();
    run_until(&mut h, "the stream to stop", |a| !a.view().encoding);
    assert!(h.state().view().engine_running);
    run_until(&mut h, "the CPU figure of the program alone", |a| {
        a.view().cpu_percent.is_some()
    });
    nginx.wait_recording_closed(Duration::from_secs(10));
    let recordings = nginx.recordings();
    assert_eq!(recordings.len(), 1, "{recordings:?}");
    assert!(
        recordings[0].to_string_lossy().contains("goodkey"),
        "{recordings:?}"
    );
    let p = probe(&recordings[0]);
    assert!(num(&stream(&p, "video")["nb_read_frames"]) >= 60.0, "{p}");
}

/// The text of the (first) label containing `part`.
fn label_text(h: &Harness<'static, OnairApp>, part: &str) -> String {
    let node = h.get_by_label_contains(part);
    let node = node.accesskit_node();
    node.label().or_else(|| node.value()).unwrap_or_default()
}
