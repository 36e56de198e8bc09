//! The settings window: recording folder and format, the browser preview's folder and
//! address, the window preview's rate, and the presets.

use eframe::egui::{self, RichText};

use super::presets;
use crate::app::settings::{PREVIEW_FPS, PREVIEW_FPS_RANGE, PREVIEW_FPS_SOFTWARE, RecordFormat};
use crate::app::{Action, AppState};

pub fn show(ctx: &egui::Context, app: &mut AppState, actions: &mut Vec<Action>) {
    let mut open = app.settings_open();
    if !open {
        return;
    }
    let preview_rate = app.preview_rate();
    let software_renderer = app.software_renderer().map(str::to_owned);
    egui::Window::new("Settings")
        .open(&mut open)
        .default_width(560.0)
        .show(ctx, |ui| {
            ui.heading("Recording");
            egui::Grid::new("record_settings")
                .num_columns(2)
                .show(ui, |ui| {
                    let label = ui.label("Folder");
                    let mut folder = app.settings.record_folder.display().to_string();
                    if ui
                        .text_edit_singleline(&mut folder)
                        .labelled_by(label.id)
                        .changed()
                    {
                        app.settings.record_folder = folder.into();
                    }
                    ui.end_row();
                    ui.label("Format");
                    ui.horizontal(|ui| {
                        ui.radio_value(
                            &mut app.settings.record_format,
                            RecordFormat::Mp4,
                            "MP4 (crash-safe)",
                        );
                        ui.radio_value(&mut app.settings.record_format, RecordFormat::Flv, "FLV");
                    });
                    ui.end_row();
                });
            ui.separator();
            ui.heading("Browser preview");
            egui::Grid::new("preview_settings")
                .num_columns(2)
                .show(ui, |ui| {
                    let label = ui.label("HLS folder");
                    let mut folder = app.settings.hls_folder.display().to_string();
                    if ui
                        .text_edit_singleline(&mut folder)
                        .labelled_by(label.id)
                        .changed()
                    {
                        app.settings.hls_folder = folder.into();
                    }
                    ui.end_row();
                    let label = ui.label("Address");
                    ui.text_edit_singleline(&mut app.settings.preview_addr)
                        .labelled_by(label.id);
                    ui.end_row();
                    let label = ui.label("Window preview (fps)");
                    ui.horizontal(|ui| {
                        let mut auto = app.settings.preview_fps.is_none();
                        let mut fps = preview_rate;
                        let slider = ui
                            .add_enabled(!auto, egui::Slider::new(&mut fps, PREVIEW_FPS_RANGE))
                            .labelled_by(label.id);
                        if ui.checkbox(&mut auto, "Automatic").changed() {
                            app.settings.preview_fps = (!auto).then_some(fps);
                        } else if slider.changed() {
                            app.settings.preview_fps = Some(fps);
                        }
                    });
                    ui.end_row();
                    ui.label("");
                    let why = match &software_renderer {
                        Some(name) => format!(
                            "Automatic: {PREVIEW_FPS_SOFTWARE} fps here, as the window is drawn \
                             in software ({name}), which costs CPU the encoder needs; \
                             {PREVIEW_FPS} with a GPU"
                        ),
                        None => format!(
                            "Automatic: {PREVIEW_FPS} fps; {PREVIEW_FPS_SOFTWARE} when the \
                             window is drawn in software"
                        ),
                    };
                    ui.add(egui::Label::new(RichText::new(why).small().weak()).wrap());
                    ui.end_row();
                });
            ui.separator();
            presets::show(ui, app, actions);
        });
    if !open {
        app.close_settings();
    }
}
