//! The stream keys in the desktop's keyring: the real app under egui_kittest, over a real
//! Secret Service (GNOME Keyring on a private D-Bus session bus, unlocked as a login does),
//! checked from outside with libsecret's `secret-tool`.
//!
//! One test in this binary: it points the whole process at its own session bus (zbus reads
//! `DBUS_SESSION_BUS_ADDRESS`) before the app starts any thread.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report
#![allow(unsafe_code)] // `set_var` before any other thread of this binary exists

#[path = "it/common/mod.rs"]
#[allow(dead_code)] // this binary uses a few of the shared helpers
mod common;

use std::io::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::bus::SessionBus;
use common::desktop::stop_child;
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
    let saved = std::fs::read_to_string(config.path().join("config.toml")).unwrap();
    assert!(!saved.contains("live_"), "no key in config.toml");

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

/// A private D-Bus session bus with GNOME Keyring's Secret Service on it, its login keyring
/// created and unlocked with a known password, as a desktop login does. The bus has no
/// service activation, so once the keyring is killed nothing starts another.
pub struct Keyring {
    bus: SessionBus,
    daemon: Option<Child>,
    dir: tempfile::TempDir,
}

impl Keyring {
    pub fn start() -> Keyring {
        let dir = tempfile::Builder::new()
            .prefix("onair-keyring-")
            .tempdir()
            .expect("tempdir");
        let d = dir.path();
        for sub in ["home/data", "run"] {
            std::fs::create_dir_all(d.join(sub)).expect("mkdir");
        }
        let mut k = Keyring {
            bus: SessionBus::start(),
            daemon: None,
            dir,
        };
        let mut daemon = k
            .command("gnome-keyring-daemon")
            .args(["--foreground", "--unlock", "--components=secrets"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start gnome-keyring-daemon (apt-get install gnome-keyring)");
        // The login keyring's password, then end of input, as PAM gives it at login.
        let mut stdin = daemon.stdin.take().expect("stdin");
        stdin.write_all(b"onair-test").expect("write password");
        drop(stdin);
        k.daemon = Some(daemon);
        let start = Instant::now();
        while !k.serving() {
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "gnome-keyring-daemon did not take org.freedesktop.secrets"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        k
    }

    /// `DBUS_SESSION_BUS_ADDRESS` for clients.
    pub fn address(&self) -> String {
        self.bus.address()
    }

    /// A command on this bus, with the keyring's own home.
    fn command(&self, program: &str) -> Command {
        let d = self.dir.path();
        let mut c = Command::new(program);
        c.env("DBUS_SESSION_BUS_ADDRESS", self.address())
            .env("HOME", d.join("home"))
            .env("XDG_DATA_HOME", d.join("home/data"))
            .env("XDG_RUNTIME_DIR", d.join("run"));
        c
    }

    /// Whether the Secret Service's name is owned on the bus.
    pub fn serving(&self) -> bool {
        let out = self
            .command("dbus-send")
            .args([
                "--session",
                "--print-reply",
                "--dest=org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus.NameHasOwner",
                "string:org.freedesktop.secrets",
            ])
            .output()
            .expect("run dbus-send (apt-get install dbus-bin)");
        String::from_utf8_lossy(&out.stdout).contains("boolean true")
    }

    /// The secret stored under these attributes, read by libsecret's `secret-tool`: another
    /// client than the app's, so what it finds is really in the keyring.
    pub fn lookup(&self, attributes: &[(&str, &str)]) -> Option<String> {
        let mut c = self.command("secret-tool");
        c.arg("lookup");
        for (k, v) in attributes {
            c.args([k, v]);
        }
        let out = c
            .output()
            .expect("run secret-tool (apt-get install libsecret-tools)");
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Stops the Secret Service (the bus stays): as a desktop without a keyring daemon.
    pub fn kill_daemon(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            stop_child(&mut d);
        }
    }
}

impl Drop for Keyring {
    fn drop(&mut self) {
        // The keyring first, then its bus (a field, dropped after this).
        self.kill_daemon();
    }
}
