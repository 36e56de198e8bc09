//! The window's hand-offs to the desktop, with the desktop's side faked where the app talks to
//! it: "Show file" selects a saved recording in the file manager (a fake
//! `org.freedesktop.FileManager1` on a private D-Bus session bus, served here with zbus), else
//! opens its folder (a fake `xdg-open` first on PATH, recording its arguments); the log view
//! shows local times (TZ set to a zone with a half-hour offset), and its Copy (the clipboard
//! text) and Save… (a fake `zenity`: rfd's dialog when no desktop portal answers) hold every
//! line with its full time and offset.
//!
//! One test in this binary: it points the whole process at its own bus, PATH and time zone
//! (`set_var`) before the app starts any thread.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report
#![allow(unsafe_code)] // `set_var` before any other thread of this binary exists

#[path = "it/common/mod.rs"]
#[allow(dead_code)] // this binary uses a few of the shared helpers
mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use common::bus::SessionBus;
use common::gui::run_until;
use common::*;
use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT as _, Queryable as _};
use onair::app::keystore::KeyringUse;
use onair::app::log::{LogRing, RingLayer};
use onair::ui::OnairApp;
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// A zone with a half-hour offset and no daylight saving: a time shown in UTC, or labelled
/// with another offset, cannot pass for it.
const ZONE: &str = "Asia/Kolkata";
const OFFSET: &str = "+05:30";
const OFFSET_SECONDS: u64 = 5 * 3600 + 30 * 60;
const FILE_MANAGER: &str = "org.freedesktop.FileManager1";

/// The fake file manager: keeps the URIs of each `ShowItems` call.
struct FileManager(Arc<Mutex<Vec<Vec<String>>>>);

#[zbus::interface(name = "org.freedesktop.FileManager1")]
impl FileManager {
    fn show_items(&self, uris: Vec<String>, _startup_id: &str) {
        self.0.lock().unwrap().push(uris);
    }
}

#[test]
fn show_file_selects_the_recording_and_the_log_is_copied_and_saved_in_local_time() {
    let bus = SessionBus::start();
    let fakes = tempdir();
    let bin = fakes.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let opened = fakes.path().join("xdg-open.txt");
    let asked = fakes.path().join("zenity.txt");
    let saved = fakes.path().join("saved-log.txt");
    script(
        &bin.join("xdg-open"),
        &format!("printf '%s\\n' \"$@\" >> '{}'\n", opened.display()),
    );
    script(
        &bin.join("zenity"),
        &format!(
            "printf '%s\\n' \"$@\" >> '{}'\nprintf '%s\\n' '{}'\n",
            asked.display(),
            saved.display()
        ),
    );
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // SAFETY: no other thread of this test binary exists yet.
    unsafe {
        std::env::set_var("DBUS_SESSION_BUS_ADDRESS", bus.address());
        std::env::set_var("PATH", path);
        std::env::set_var("TZ", ZONE);
    }
    // The app's lines and this test's (the window's crates log multi-line text of their own).
    let ring = Arc::new(LogRing::default());
    let ours = Targets::new()
        .with_target("onair", tracing::Level::INFO)
        .with_target("desktop_handlers", tracing::Level::INFO);
    tracing_subscriber::registry()
        .with(RingLayer::new(ring.clone(), tracing::Level::INFO).with_filter(ours))
        .init();
    let calls = Arc::new(Mutex::new(Vec::new()));
    let manager = zbus::blocking::connection::Builder::address(bus.address().as_str())
        .unwrap()
        .name(FILE_MANAGER)
        .unwrap()
        .serve_at("/org/freedesktop/FileManager1", FileManager(calls.clone()))
        .unwrap()
        .build()
        .unwrap();

    let config = tempdir();
    let takes = tempdir();
    std::fs::write(
        config.path().join("gui.toml"),
        format!(
            "preset = \"480p30\"\nrecord_folder = \"{}\"\nhls_folder = \"{}\"\n",
            takes.path().display(),
            takes.path().join("hls").display()
        ),
    )
    .unwrap();
    let dir = config.path().to_owned();
    let mut h = Harness::builder()
        .with_size(egui::vec2(1280.0, 1000.0))
        .build_eframe(move |cc| OnairApp::new(&cc.egui_ctx, Some(dir), ring, KeyringUse::Off));
    h.run_steps(2);

    // A short recording, saved.
    h.get_by_label("Record").click();
    run_until(&mut h, "1 s of recording", |a| {
        a.view()
            .recording
            .since
            .is_some_and(|t| t.elapsed() >= Duration::from_secs(1))
            && a.view()
                .recording_output
                .as_ref()
                .is_some_and(|o| o.bytes > 0)
    });
    h.get_by_label("Stop recording").click();
    h.run_steps(4);
    h.get_all_by_label("Stop recording").last().unwrap().click();
    run_until(&mut h, "the recording to be saved", |a| {
        !a.view().encoding && a.view().recording.since.is_none()
    });
    h.run_steps(2);
    let file = std::fs::read_dir(takes.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "mp4"))
        .expect("a recording");

    // "Show file" on the saved notice and in the stats; the file manager selects it.
    assert_eq!(
        h.query_all_by_label("Show file").count(),
        2,
        "\"Show file\" on the saved notice and in the stats"
    );
    h.get_all_by_label("Show file").next().unwrap().click();
    step_until_label(&mut h, "Selected in the file manager.");
    let uri = url::Url::from_file_path(std::fs::canonicalize(&file).unwrap()).unwrap();
    assert_eq!(*calls.lock().unwrap(), [vec![uri.to_string()]]);
    assert!(
        !opened.exists(),
        "xdg-open ran although the file manager answered"
    );

    // No file manager on the bus: its folder is opened instead, and the window says so.
    drop(manager);
    let probe = zbus::blocking::Connection::session().unwrap();
    let names = zbus::blocking::fdo::DBusProxy::new(&probe).unwrap();
    wait_for(Duration::from_secs(10), "the file manager to leave", || {
        !names
            .name_has_owner(FILE_MANAGER.try_into().unwrap())
            .unwrap()
    });
    h.get_all_by_label("Show file").next().unwrap().click();
    step_until_label(
        &mut h,
        "Opened its folder instead: no file manager that can select files is running",
    );
    let folder = std::fs::canonicalize(takes.path()).unwrap();
    assert_eq!(
        std::fs::read_to_string(&opened).unwrap().trim(),
        folder.display().to_string()
    );
    assert_eq!(calls.lock().unwrap().len(), 1);

    // The log view: local times.
    tracing::info!("a line from the test");
    h.get_by_label("Log").click();
    h.run_steps(3);
    let shown = label_text(&h, "INFO a line from the test");
    let clock = shown.split(' ').next().unwrap().to_owned();
    let lines_before: Vec<String> = h
        .state()
        .app()
        .log_lines()
        .iter()
        .map(|l| l.text.clone())
        .collect();
    assert!(lines_before.len() >= 3, "{lines_before:?}");

    // Copy: every line, with its full local time and offset.
    h.get_by_label("Copy").click();
    let mut copied = None;
    for _ in 0..3 {
        h.step();
        copied = h
            .output()
            .platform_output
            .commands
            .iter()
            .find_map(|c| match c {
                egui::OutputCommand::CopyText(t) => Some(t.clone()),
                _ => None,
            });
        if copied.is_some() {
            break;
        }
    }
    let copied = copied.expect("Copy put nothing on the clipboard");
    let mut texts = lines_before.iter();
    let mut next = texts.next();
    for line in copied.lines() {
        let (stamp, rest) = line.split_once(' ').unwrap();
        assert!(stamp.ends_with(OFFSET), "not local time: {line}");
        let _: jiff::Timestamp = stamp.parse().unwrap();
        if next.is_some_and(|t| rest.trim_start().ends_with(t.as_str())) {
            next = texts.next();
        }
    }
    assert_eq!(next, None, "a line of the view is missing from:\n{copied}");
    let ours = copied
        .lines()
        .find(|l| l.ends_with("INFO a line from the test"))
        .unwrap();
    let stamp: jiff::Timestamp = ours.split(' ').next().unwrap().parse().unwrap();
    let at = SystemTime::from(stamp);
    let age = SystemTime::now().duration_since(at).unwrap_or_default();
    assert!(
        age < Duration::from_secs(600) && at <= SystemTime::now() + Duration::from_secs(1),
        "{ours} is not now"
    );
    // The view shows the same time of day, in the zone (not UTC).
    let local = at.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() + OFFSET_SECONDS;
    let expected = format!(
        "{:02}:{:02}:{:02}",
        local / 3600 % 24,
        local / 60 % 60,
        local % 60
    );
    assert_eq!(clock, expected, "shown: {shown}; copied: {ours}");
    assert_eq!(&ours[11..19], expected);

    // Save…: the desktop's save dialog (zenity here) names the file; it holds every line.
    h.get_by_label("Save…").click();
    // The outcome beside Save… (not a notification).
    step_until_label(&mut h, &format!("saved to {}", saved.display()));
    let text = std::fs::read_to_string(&saved).unwrap();
    assert!(
        text.starts_with(&copied),
        "the saved log lacks copied lines:\n{text}\n---\n{copied}"
    );
    assert!(
        text.lines()
            .all(|l| l.split(' ').next().is_some_and(|s| s.ends_with(OFFSET)))
    );
    let dialog = std::fs::read_to_string(&asked).unwrap();
    assert!(dialog.contains("--save"), "{dialog}");
    drop(h);
    drop(bus);
}

/// Steps the app in real time until a label containing `part` shows (60 s at most).
fn step_until_label(h: &mut Harness<'static, OnairApp>, part: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        h.step();
        if h.query_all_by_label_contains(part).next().is_some() {
            return;
        }
        assert!(Instant::now() < deadline, "no label with {part:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The text of the first label containing `part`.
fn label_text(h: &Harness<'static, OnairApp>, part: &str) -> String {
    h.query_all_by_label_contains(part)
        .next()
        .and_then(|n| {
            let node = n.accesskit_node();
            node.label().or_else(|| node.value())
        })
        .unwrap_or_else(|| panic!("no label with {part:?}"))
}

/// An executable shell script.
fn script(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(path, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}
