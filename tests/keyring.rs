//! The stream keys in the desktop's keyring: the real app under egui_kittest, over a real
//! Secret Service (GNOME Keyring on a private D-Bus session bus, unlocked as a login does),
//! checked from outside with libsecret's `secret-tool`.
//!
//! One test in this binary: it points the whole process at its own session bus (zbus reads
//! `DBUS_SESSION_BUS_ADDRESS`) before the app starts any thread.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report
#![allow(unsafe_code)] // `set_var` before any other thread of this binary exists

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::desktop::Keyring;
use common::gui::{harness_with, run_until};
use common::*;
use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use onair::app::keystore::{KeyringUse, Place};
use onair::ui::OnairApp;

const ITEM: &[(&str, &str)] = &[("service", "onair"), ("username", "stream-keys")];

fn open(config: &Path) -> Harness<'static, OnairApp> {
    let mut h = harness_with(config, KeyringUse::Auto);
    run_until(&mut h, "the stream keys to load", |a| {
        a.keys_place().is_some()
    });
    h.run_steps(2);
    h
}

/// Replaces the text of the (only) stream key field.
fn type_key(h: &mut Harness<'static, OnairApp>, key: &str) {
    h.get_by_label("Stream key").click();
    h.run_steps(1);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.get_by_label("Stream key").type_text(key);
    h.run_steps(2);
}

#[test]
fn stream_keys_live_in_the_system_keyring() {
    let mut ring = Keyring::start();
    // SAFETY: no other thread of this test binary exists yet.
    unsafe { std::env::set_var("DBUS_SESSION_BUS_ADDRESS", ring.address()) };
    let config = tempdir();
    let keys_file = config.path().join("keys.toml");
    std::fs::write(
        config.path().join("gui.toml"),
        "[[destinations]]\nid = 1\nname = \"Twitch\"\nservice = \"Twitch\"\n\
         server = \"rtmp://live.twitch.tv/app\"\nenabled = true\n",
    )
    .unwrap();
    // A key saved by a run without a keyring.
    std::fs::write(&keys_file, "[keys]\n1 = \"live_legacy_1234\"\n").unwrap();

    // The app moves it into the keyring: there, and only there.
    let mut h = open(config.path());
    assert_eq!(
        h.state().keys_place(),
        Some(&Place::Keyring("Secret Service"))
    );
    assert!(!keys_file.exists(), "keys.toml is deleted once moved");
    let stored = ring.lookup(ITEM).expect("an onair item in the keyring");
    assert!(stored.contains("live_legacy_1234"), "{stored}");
    assert!(
        h.query_by_label_contains("moved 1 stream key from")
            .is_some(),
        "a notification says the key moved"
    );
    assert!(
        h.query_by_label("Stream keys are kept in the system keyring (Secret Service)")
            .is_some()
    );
    // Still masked in the window.
    assert_eq!(h.query_all_by_value("live_legacy_1234").count(), 0);

    // A key typed in the window reaches the keyring, not a file, and never gui.toml.
    type_key(&mut h, "live_new_5678");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ring
        .lookup(ITEM)
        .is_some_and(|s| s.contains("live_new_5678"))
    {
        assert!(
            Instant::now() < deadline,
            "the new key never reached the keyring"
        );
        h.run_steps(1);
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!keys_file.exists());
    drop(h);
    let gui = std::fs::read_to_string(config.path().join("gui.toml")).unwrap();
    assert!(!gui.contains("live_"), "no key in gui.toml");

    // The next start reads it back from the keyring.
    let mut h = open(config.path());
    assert_eq!(h.query_all_by_value("live_new_5678").count(), 0);
    h.get_by_label("Show").click();
    h.run_steps(2);
    assert!(h.query_all_by_value("live_new_5678").count() >= 1);
    drop(h);

    // Without a Secret Service, the keys go to keys.toml, readable by the user only, and the
    // window says so.
    ring.kill_daemon();
    let mut h = open(config.path());
    assert!(matches!(h.state().keys_place(), Some(Place::File(_))));
    assert!(
        h.query_by_label(
            "Stream keys are kept in keys.toml in the config folder (readable only by you)"
        )
        .is_some()
    );
    type_key(&mut h, "live_file_9012");
    drop(h);
    let text = std::fs::read_to_string(&keys_file).expect("keys.toml written");
    assert!(text.contains("live_file_9012"), "{text}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&keys_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
