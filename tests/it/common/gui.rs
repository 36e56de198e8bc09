//! The desktop app under egui_kittest: the real `OnairApp` over the real engine.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eframe::egui;
use egui_kittest::Harness;
use onair::app::keystore::KeyringUse;
use onair::app::log::LogRing;
use onair::ui::OnairApp;

/// The app at 1280x800 with its settings in `config_dir`, its stream keys in `keys.toml`
/// (never in the keyring of the desktop the tests run on).
pub fn harness(config_dir: &Path) -> Harness<'static, OnairApp> {
    harness_with(config_dir, KeyringUse::Off)
}

/// [`harness`], choosing whether the platform keyring is used.
pub fn harness_with(config_dir: &Path, keyring: KeyringUse) -> Harness<'static, OnairApp> {
    harness_sized(config_dir, keyring, egui::vec2(1280.0, 800.0))
}

/// [`harness`] in a window of `size` points.
pub fn harness_sized(
    config_dir: &Path,
    keyring: KeyringUse,
    size: egui::Vec2,
) -> Harness<'static, OnairApp> {
    let dir = config_dir.to_owned();
    Harness::builder().with_size(size).build_eframe(move |cc| {
        OnairApp::new(
            &cc.egui_ctx,
            Some(dir),
            Arc::new(LogRing::default()),
            keyring,
        )
    })
}

/// Steps the app in real time until `cond` holds on it (the engine runs on its own threads).
pub fn run_until(h: &mut Harness<'static, OnairApp>, what: &str, cond: impl Fn(&OnairApp) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        h.step();
        if cond(h.state()) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Tells the app its window was asked to close (the close button, the window manager), as
/// the platform does, and draws a frame.
pub fn request_close(h: &mut Harness<'static, OnairApp>) {
    h.input_mut()
        .viewports
        .entry(egui::ViewportId::ROOT)
        .or_default()
        .events
        .push(egui::ViewportEvent::Close);
    h.step();
}

/// Whether the app's last frame told the window to close (`Close`) or not to (`CancelClose`).
pub fn sent_command(h: &Harness<'static, OnairApp>, command: &egui::ViewportCommand) -> bool {
    h.output()
        .viewport_output
        .get(&egui::ViewportId::ROOT)
        .is_some_and(|v| v.commands.contains(command))
}
