//! The window's parts, one file each: the action bar, the program (preset and sources) with
//! its audio mixer, the destinations, the program preview, the stats with their graphs, the
//! log, the settings window (with the preset editor), the stop confirmation and the
//! notifications. Each draws from the app's state and pushes [`Action`]s; fields bound to the
//! settings, keys and preset form are edited in place (saved after the frame).

mod action_bar;
mod confirm;
mod destinations;
pub mod hotkeys;
mod log;
mod mixer;
mod presets;
mod preview;
mod program;
mod scenes;
mod scenes_overlay;
mod scenes_props;
mod settings;
mod stats;
mod toasts;

use eframe::egui::{self, Color32};

use super::OnairApp;
use crate::app::{Action, Activity};
use crate::output::{OutputSnapshot, OutputState};

const WARN: Color32 = Color32::from_rgb(0xe0, 0xb0, 0x30);
const ALARM: Color32 = Color32::from_rgb(0xe0, 0x40, 0x40);
const GOOD: Color32 = Color32::from_rgb(0x50, 0xc0, 0x60);

/// The setup column's width, points: by default, at least, at most, and at most this share of
/// the window.
const SETUP_DEFAULT: f32 = 380.0;
const SETUP_MIN: f32 = 300.0;
const SETUP_MAX: f32 = 520.0;
const SETUP_MAX_SHARE: f32 = 0.4;

pub fn show(w: &mut OnairApp, ui: &mut egui::Ui, actions: &mut Vec<Action>) {
    let OnairApp {
        app,
        texture,
        preview_px,
        panels_paint_background,
        ..
    } = w;
    // Once per frame: the presets the panels below look up.
    let presets = app.presets();
    let fill = if *panels_paint_background {
        ui.visuals().panel_fill
    } else {
        Color32::TRANSPARENT
    };
    let side = egui::Frame::side_top_panel(ui.style()).fill(fill);
    let central = egui::Frame::central_panel(ui.style()).fill(fill);
    egui::Panel::top("actions").frame(side).show(ui, |ui| {
        use crate::app::StatusOf;
        let notes =
            [StatusOf::Live, StatusOf::Recording, StatusOf::Preview].map(|of| app.status_note(of));
        action_bar::show(ui, app.view(), notes, app.open_failure(), actions);
    });
    if app.log_open() {
        egui::Panel::bottom("log")
            .frame(side)
            .resizable(true)
            .default_size(160.0)
            .show(ui, |ui| {
                let dialog_open = app.file_dialog_open();
                log::show(
                    ui,
                    app.log_lines(),
                    || app.log_text(),
                    (dialog_open, app.log_saved()),
                    actions,
                );
            });
    }
    // The setup column keeps a sensible width whatever it holds (long texts wrap or are cut
    // short): at most 40 % of the window, so the picture always keeps the larger share.
    let window = ui.available_width();
    let max = (window * SETUP_MAX_SHARE).clamp(SETUP_MIN, SETUP_MAX);
    egui::Panel::left("setup")
        .frame(side)
        .resizable(true)
        .default_size(SETUP_DEFAULT.min(max))
        .size_range(SETUP_MIN.min(max)..=max)
        .show(ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| {
                program::show(ui, app, &presets, actions);
                ui.separator();
                mixer::show(ui, app, actions);
                ui.separator();
                destinations::show(ui, app, actions);
            });
        });
    egui::CentralPanel::default().frame(central).show(ui, |ui| {
        egui::ScrollArea::vertical().show(ui, |ui| {
            let preset = presets.iter().find(|p| p.name == app.settings.preset);
            let program = preview::show(ui, preset, texture.as_ref(), &mut *preview_px, actions);
            scenes_overlay::show(ui, program, app, actions);
            ui.separator();
            scenes::show(ui, app, actions);
            ui.separator();
            let recording = app.last_recording().map(|f| (f, app.shown()));
            stats::show(ui, app.view(), recording, &presets, actions);
        });
    });
    let ctx = ui.ctx().clone();
    settings::show(&ctx, app, actions);
    mixer::filters_window(&ctx, app, actions);
    let asking = confirm::Asking {
        stop_live: app.confirm_stop_live(),
        stop_recording: app.confirm_stop_recording(),
        quit: app.confirm_quit(),
    };
    confirm::show(&ctx, asking, actions);
    toasts::show(&ctx, app, actions);
}

fn elapsed(a: &Activity) -> String {
    let s = a.since.map_or(0, |t| t.elapsed().as_secs());
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

fn bytes(b: u64) -> String {
    match b {
        b if b >= 1 << 30 => format!("{:.2} GB", b as f64 / f64::from(1u32 << 30)),
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / f64::from(1u32 << 20)),
        b => format!("{} kB", b / 1024),
    }
}

/// What a live destination is doing, in words.
fn live_state(o: Option<&OutputSnapshot>) -> (String, Color32) {
    let Some(o) = o else {
        return ("starting".into(), WARN);
    };
    match o.state {
        OutputState::Starting | OutputState::Connecting => ("connecting…".into(), WARN),
        OutputState::Live | OutputState::Recording => ("live".into(), GOOD),
        OutputState::Reconnecting => {
            let wait = o.retry_in_ms.map_or(0, |ms| ms.div_ceil(1000));
            let why = o.last_error.as_deref().unwrap_or("connection lost");
            (
                format!(
                    "reconnecting (attempt {}, in {wait} s): {why}",
                    o.retry_attempt
                ),
                WARN,
            )
        }
        OutputState::Finishing => ("finishing…".into(), WARN),
        OutputState::Stopped => ("stopped".into(), Color32::GRAY),
        OutputState::Failed => (
            format!("failed: {}", o.last_error.as_deref().unwrap_or("error")),
            ALARM,
        ),
    }
}
