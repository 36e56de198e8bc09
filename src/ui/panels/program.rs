//! The program: the preset (fixed while anything runs), with why a wanted kind of device is
//! missing (the scenes' sources are in the scenes panel, the audio sources in the mixer).

use eframe::egui::{self, RichText};

use super::WARN;
use crate::app::{Action, AppState};
use crate::config::Preset;
use crate::config::mixer::SourceKind;

pub fn show(ui: &mut egui::Ui, app: &mut AppState, presets: &[Preset], actions: &mut Vec<Action>) {
    ui.heading("Program");
    // The program runs from the start; its preset and sources stay while an output runs.
    let running = app.view().outputs_running();
    let devices = app.view().devices.clone();
    let listing = app.view().listing_devices;
    // The mixer has sources whose devices are listed (their choices are in the mixer).
    let audio_devices = app
        .settings
        .mixer
        .sources
        .iter()
        .any(|s| matches!(s.kind, SourceKind::Microphone | SourceKind::Desktop));
    egui::Grid::new("program").num_columns(2).show(ui, |ui| {
        let label = ui.label("Preset");
        ui.add_enabled_ui(!running, |ui| {
            egui::ComboBox::from_id_salt("preset")
                .selected_text(&app.settings.preset)
                .show_ui(ui, |ui| {
                    for p in presets {
                        let text = format!(
                            "{}  ({}×{} {} fps, {} kbit/s)",
                            p.name, p.width, p.height, p.fps, p.video_kbps
                        );
                        ui.selectable_value(&mut app.settings.preset, p.name.clone(), text);
                    }
                })
                .response
                .labelled_by(label.id);
        });
        ui.end_row();

        // The scenes' devices are chosen in their sources' properties.
        let kinds = |k: &[&str]| {
            app.settings
                .sources
                .iter()
                .any(|s| k.contains(&s.kind.as_str()))
        };
        let screen = kinds(&["screen", "window"]);
        let camera = kinds(&["camera"]);
        if screen || camera || audio_devices {
            ui.label("");
            ui.horizontal(|ui| {
                if ui
                    .add_enabled(!listing, egui::Button::new("Rescan devices"))
                    .clicked()
                {
                    actions.push(Action::ListDevices);
                }
                if listing {
                    ui.spinner();
                }
            });
            ui.end_row();
        }
    });
    // Why a wanted kind of device is missing, in the lister's words.
    if let Some(d) = &devices {
        let kinds = |k: &[&str]| {
            app.settings
                .sources
                .iter()
                .any(|s| k.contains(&s.kind.as_str()))
        };
        let wanted = |prefix: &str| match prefix {
            "screens" | "windows" => kinds(&["screen", "window"]),
            "cameras" => kinds(&["camera"]),
            "microphones" | "desktop audio" | "outputs" => audio_devices,
            _ => false,
        };
        for e in &d.errors {
            let kind = e.split(':').next().unwrap_or_default();
            if wanted(kind) {
                ui.label(RichText::new(e).color(WARN));
            }
        }
    }
    if running {
        ui.weak("The preset applies once everything is stopped.");
    }
}
