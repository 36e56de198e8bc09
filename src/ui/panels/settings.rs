//! The settings window: recording folder and format, the browser preview's folder and
//! address, the window preview's rate, and the presets.

use eframe::egui::{self, RichText};

use super::{ALARM, presets};
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
                    record_folder(ui, app, label.id, actions);
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
                    ui.label("");
                    ui.checkbox(
                        &mut app.settings.confirm_stop_recording,
                        "Ask before stopping a recording",
                    );
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
            ui.separator();
            egui::CollapsingHeader::new("Hotkeys").show(ui, |ui| {
                super::hotkeys::show(ui, app, actions);
            });
        });
    if !open {
        app.close_settings();
    }
}

/// The recordings folder: typed (taken when the field is left, or with Enter: created if
/// missing, or why not said beside it), chosen in the desktop's dialog, or opened.
fn record_folder(ui: &mut egui::Ui, app: &AppState, label: egui::Id, actions: &mut Vec<Action>) {
    ui.vertical(|ui| {
        ui.horizontal(|ui| {
            // What is being typed lives in the field until it is left: a half-typed path is
            // never created.
            let typing = egui::Id::unique("record_folder_typed");
            let mut text = ui
                .data(|d| d.get_temp::<String>(typing))
                .unwrap_or_else(|| app.settings.record_folder.display().to_string());
            let field = ui
                .add(egui::TextEdit::singleline(&mut text).desired_width(300.0))
                .labelled_by(label);
            if field.lost_focus() {
                ui.data_mut(|d| d.remove::<String>(typing));
                actions.push(Action::SetRecordFolder(text.trim().into()));
            } else if field.has_focus() {
                ui.data_mut(|d| d.insert_temp(typing, text));
            }
            if ui
                .add_enabled(!app.file_dialog_open(), egui::Button::new("Choose…"))
                .on_hover_text("Choose the folder in the desktop's dialog")
                .clicked()
            {
                actions.push(Action::PickRecordFolder);
            }
            if ui.button("Open").clicked() {
                actions.push(Action::Open(
                    app.settings.record_folder.display().to_string(),
                ));
            }
        });
        if let Some(why) = app.record_folder_error() {
            ui.add(egui::Label::new(RichText::new(why).color(ALARM)).wrap());
        }
    });
}
