//! The preset editor, in Settings: the presets (built-in ones read-only, custom ones with Edit
//! and Delete) and the form for a new or edited one, checked as you type.

use eframe::egui;

use crate::app::{Action, AppState};

pub fn show(ui: &mut egui::Ui, app: &mut AppState, actions: &mut Vec<Action>) {
    ui.heading("Presets");
    egui::Grid::new("presets").striped(true).show(ui, |ui| {
        for label in ["name", "size", "fps", "video", "audio", "keyframe", ""] {
            ui.strong(label);
        }
        ui.end_row();
        for p in app.builtin_presets() {
            row(
                ui,
                &p.name,
                p.width,
                p.height,
                p.fps,
                p.video_kbps,
                p.audio_kbps,
                p.keyframe_interval_s,
            );
            ui.weak("built-in");
            ui.end_row();
        }
        for (i, p) in app.settings.custom_presets.iter().enumerate() {
            row(
                ui,
                &p.name,
                p.width,
                p.height,
                p.fps,
                p.video_kbps,
                p.audio_kbps,
                p.keyframe_interval_s,
            );
            ui.horizontal(|ui| {
                if ui.small_button("Edit").clicked() {
                    actions.push(Action::EditPreset(i));
                }
                if ui.small_button("Delete").clicked() {
                    actions.push(Action::DeletePreset(i));
                }
            });
            ui.end_row();
        }
    });
    ui.separator();
    let others = app
        .preset_form
        .others(app.builtin_presets(), &app.settings.custom_presets);
    let form = &mut app.preset_form;
    ui.label(match form.editing {
        Some(_) => "Edit preset",
        None => "New preset",
    });
    egui::Grid::new("preset_editor").show(ui, |ui| {
        for (label, text) in [
            ("Name", &mut form.name),
            ("Width", &mut form.width),
            ("Height", &mut form.height),
            ("Frames per second", &mut form.fps),
            ("Video kbit/s", &mut form.video_kbps),
            ("Audio kbit/s", &mut form.audio_kbps),
            ("Keyframe every (s)", &mut form.keyframe_s),
        ] {
            let label = ui.label(label);
            // A fixed size: a grid cell alone would give the field only a few characters.
            ui.add_sized(
                [FIELD_WIDTH, ui.spacing().interact_size.y],
                egui::TextEdit::singleline(text),
            )
            .labelled_by(label.id);
            ui.end_row();
        }
    });
    let checked = form.check(&others);
    ui.horizontal(|ui| {
        let label = if form.editing.is_some() {
            "Save preset"
        } else {
            "Add preset"
        };
        if ui
            .add_enabled(checked.is_ok(), egui::Button::new(label))
            .clicked()
            && let Ok(spec) = &checked
        {
            actions.push(Action::SavePreset(spec.clone()));
        }
        if form.editing.is_some() && ui.button("Cancel").clicked() {
            actions.push(Action::CancelPresetEdit);
        }
    });
    match checked {
        // A form as it opens is not wrong yet: it says what to do first.
        Err(_) if form.untouched() => {
            ui.weak("Type a name for the new preset.");
        }
        Err(e) => {
            ui.colored_label(ui.visuals().error_fg_color, e);
        }
        Ok(_) => {}
    }
}

/// Width of the form's fields, points: room for "1920" and more, and a name.
const FIELD_WIDTH: f32 = 160.0;

#[allow(clippy::too_many_arguments)]
fn row(ui: &mut egui::Ui, name: &str, w: u32, h: u32, fps: u32, video: u32, audio: u32, key: u32) {
    ui.label(name);
    ui.label(format!("{w}×{h}"));
    ui.label(fps.to_string());
    ui.label(format!("{video} kbit/s"));
    ui.label(format!("{audio} kbit/s"));
    ui.label(format!("{key} s"));
}
