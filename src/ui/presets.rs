//! The preset editor: create, edit and delete custom presets, validated as you type by the
//! same code that validates the config file's presets.

use eframe::egui;

use crate::config::{Preset, PresetSpec};

/// The fields being typed, as text (so a half-typed number is shown, not lost).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Editor {
    /// Index into the custom presets being edited, or `None` for a new one.
    editing: Option<usize>,
    name: String,
    width: String,
    height: String,
    fps: String,
    video_kbps: String,
    audio_kbps: String,
    keyframe_s: String,
}

impl Default for Editor {
    fn default() -> Self {
        Self {
            editing: None,
            name: String::new(),
            width: "1920".into(),
            height: "1080".into(),
            fps: "30".into(),
            video_kbps: "4500".into(),
            audio_kbps: "160".into(),
            keyframe_s: "2".into(),
        }
    }
}

impl Editor {
    fn load(&mut self, index: usize, spec: &PresetSpec) {
        *self = Self {
            editing: Some(index),
            name: spec.name.clone(),
            width: spec.width.to_string(),
            height: spec.height.to_string(),
            fps: spec.fps.to_string(),
            video_kbps: spec.video_kbps.to_string(),
            audio_kbps: spec.audio_kbps.to_string(),
            keyframe_s: spec.keyframe_interval_s.to_string(),
        };
    }

    /// The typed preset, validated against the others; the error names the field.
    pub fn check(&self, others: &[Preset]) -> Result<PresetSpec, String> {
        let number = |field: &str, text: &str| -> Result<u32, String> {
            text.trim()
                .parse()
                .map_err(|_| format!("{field}: `{text}` is not a whole number"))
        };
        let spec = PresetSpec {
            name: self.name.trim().to_owned(),
            width: number("width", &self.width)?,
            height: number("height", &self.height)?,
            fps: number("fps", &self.fps)?,
            video_kbps: number("video kbit/s", &self.video_kbps)?,
            audio_kbps: number("audio kbit/s", &self.audio_kbps)?,
            keyframe_interval_s: number("keyframe interval", &self.keyframe_s)?,
        };
        spec.validate(others)
            .map(|_| spec.clone())
            .map_err(|(field, why)| format!("{field}: {why}"))
    }

    /// Draws the editor; changes `custom` (and `selected`, when the selected preset is renamed
    /// or deleted). `builtin` are the presets that cannot be edited.
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        builtin: &[Preset],
        custom: &mut Vec<PresetSpec>,
        selected: &mut String,
    ) {
        ui.heading("Presets");
        egui::Grid::new("presets").striped(true).show(ui, |ui| {
            for label in ["name", "size", "fps", "video", "audio", "keyframe", ""] {
                ui.strong(label);
            }
            ui.end_row();
            for p in builtin {
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
            let mut delete = None;
            for (i, p) in custom.iter().enumerate() {
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
                        self.load(i, p);
                    }
                    if ui.small_button("Delete").clicked() {
                        delete = Some(i);
                    }
                });
                ui.end_row();
            }
            if let Some(i) = delete {
                let gone = custom.remove(i);
                if *selected == gone.name {
                    *selected = crate::config::DEFAULT_PRESET.to_owned();
                }
                if self.editing == Some(i) {
                    *self = Self::default();
                }
            }
        });
        ui.separator();
        ui.label(match self.editing {
            Some(_) => "Edit preset",
            None => "New preset",
        });
        egui::Grid::new("preset_editor").show(ui, |ui| {
            for (label, text) in [
                ("Name", &mut self.name),
                ("Width", &mut self.width),
                ("Height", &mut self.height),
                ("Frames per second", &mut self.fps),
                ("Video kbit/s", &mut self.video_kbps),
                ("Audio kbit/s", &mut self.audio_kbps),
                ("Keyframe every (s)", &mut self.keyframe_s),
            ] {
                let label = ui.label(label);
                ui.add(egui::TextEdit::singleline(text).desired_width(120.0))
                    .labelled_by(label.id);
                ui.end_row();
            }
        });
        // The others: built-ins plus every custom preset but the one being edited.
        let mut others = builtin.to_vec();
        for (i, spec) in custom.iter().enumerate() {
            if Some(i) != self.editing
                && let Ok(p) = spec.validate(&others)
            {
                others.push(p);
            }
        }
        let checked = self.check(&others);
        ui.horizontal(|ui| {
            let label = if self.editing.is_some() {
                "Save preset"
            } else {
                "Add preset"
            };
            if ui
                .add_enabled(checked.is_ok(), egui::Button::new(label))
                .clicked()
                && let Ok(spec) = &checked
            {
                match self.editing {
                    Some(i) if i < custom.len() => {
                        if *selected == custom[i].name {
                            selected.clone_from(&spec.name);
                        }
                        custom[i] = spec.clone();
                    }
                    _ => custom.push(spec.clone()),
                }
                *self = Self::default();
            }
            if self.editing.is_some() && ui.button("Cancel").clicked() {
                *self = Self::default();
            }
        });
        if let Err(e) = checked {
            ui.colored_label(ui.visuals().error_fg_color, e);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn row(ui: &mut egui::Ui, name: &str, w: u32, h: u32, fps: u32, video: u32, audio: u32, key: u32) {
    ui.label(name);
    ui.label(format!("{w}×{h}"));
    ui.label(fps.to_string());
    ui.label(format!("{video} kbit/s"));
    ui.label(format!("{audio} kbit/s"));
    ui.label(format!("{key} s"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn the_editor_names_the_bad_field() {
        let builtin = Config::builtin().presets;
        let mut e = Editor {
            name: "wide".into(),
            ..Editor::default()
        };
        assert!(e.check(&builtin).is_ok());
        e.width = "1921".into();
        assert_eq!(e.check(&builtin).unwrap_err(), "width: 1921 must be even");
        e.width = "19x".into();
        assert_eq!(
            e.check(&builtin).unwrap_err(),
            "width: `19x` is not a whole number"
        );
        e.width = "1920".into();
        e.name = "720p30".into();
        assert!(
            e.check(&builtin)
                .unwrap_err()
                .starts_with("name: is already taken")
        );
    }
}
