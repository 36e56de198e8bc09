//! The preset form: a custom preset being typed, as text (so a half-typed number is shown,
//! not lost), validated as you type by the same code that validates the config file's presets.

use crate::config::{Preset, PresetSpec};

/// The fields being typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresetForm {
    /// Index into the custom presets being edited, or `None` for a new one.
    pub editing: Option<usize>,
    pub name: String,
    pub width: String,
    pub height: String,
    pub fps: String,
    pub video_kbps: String,
    pub audio_kbps: String,
    pub keyframe_s: String,
}

impl Default for PresetForm {
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

impl PresetForm {
    /// The form filled with custom preset `index` to edit it.
    pub fn load(&mut self, index: usize, spec: &PresetSpec) {
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

    /// The typed preset, validated against the others; the error names the field by its
    /// label in the form.
    pub fn check(&self, others: &[Preset]) -> Result<PresetSpec, String> {
        let number = |field: &str, text: &str| -> Result<u32, String> {
            text.trim()
                .parse()
                .map_err(|_| format!("{}: `{text}` is not a whole number", label(field)))
        };
        let spec = PresetSpec {
            name: self.name.trim().to_owned(),
            width: number("width", &self.width)?,
            height: number("height", &self.height)?,
            fps: number("fps", &self.fps)?,
            video_kbps: number("video_kbps", &self.video_kbps)?,
            audio_kbps: number("audio_kbps", &self.audio_kbps)?,
            keyframe_interval_s: number("keyframe_interval_s", &self.keyframe_s)?,
        };
        spec.validate(others)
            .map(|_| spec.clone())
            .map_err(|(field, why)| format!("{}: {why}", label(field)))
    }

    /// Nothing typed yet: a new form as it opens (its errors are not shown yet).
    pub fn untouched(&self) -> bool {
        *self == Self::default()
    }

    /// What the typed preset is checked against: the built-ins plus every valid custom preset
    /// but the one being edited.
    pub fn others(&self, builtin: &[Preset], custom: &[PresetSpec]) -> Vec<Preset> {
        let mut others = builtin.to_vec();
        for (i, spec) in custom.iter().enumerate() {
            if Some(i) != self.editing
                && let Ok(p) = spec.validate(&others)
            {
                others.push(p);
            }
        }
        others
    }

    /// Deletes custom preset `index`; the selection falls back to the default preset when it
    /// was the deleted one, and the form empties when it was editing it.
    pub fn delete(&mut self, index: usize, custom: &mut Vec<PresetSpec>, selected: &mut String) {
        if index >= custom.len() {
            return;
        }
        let gone = custom.remove(index);
        if *selected == gone.name {
            *selected = crate::config::DEFAULT_PRESET.to_owned();
        }
        if self.editing == Some(index) {
            *self = Self::default();
        }
    }

    /// Saves `spec` as a new custom preset, or over the one being edited (the selection
    /// follows a rename); the form empties.
    pub fn save(&mut self, spec: PresetSpec, custom: &mut Vec<PresetSpec>, selected: &mut String) {
        match self.editing {
            Some(i) if i < custom.len() => {
                if *selected == custom[i].name {
                    selected.clone_from(&spec.name);
                }
                custom[i] = spec;
            }
            _ => custom.push(spec),
        }
        *self = Self::default();
    }
}

/// The form's label of a preset field (the config file's key).
pub fn label(field: &str) -> &str {
    match field {
        "name" => "Name",
        "width" => "Width",
        "height" => "Height",
        "fps" => "Frames per second",
        "video_kbps" => "Video kbit/s",
        "audio_kbps" => "Audio kbit/s",
        "keyframe_interval_s" => "Keyframe every (s)",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn the_form_names_the_bad_field() {
        let builtin = Config::builtin().presets;
        let mut e = PresetForm {
            name: "wide".into(),
            ..PresetForm::default()
        };
        assert!(e.check(&builtin).is_ok());
        e.width = "1921".into();
        assert_eq!(e.check(&builtin).unwrap_err(), "Width: 1921 must be even");
        e.width = "19x".into();
        assert_eq!(
            e.check(&builtin).unwrap_err(),
            "Width: `19x` is not a whole number"
        );
        e.width = "1920".into();
        e.video_kbps = "10".into();
        assert_eq!(
            e.check(&builtin).unwrap_err(),
            "Video kbit/s: 10 must be between 100 and 50000"
        );
        e.video_kbps = "4500".into();
        e.name = "720p30".into();
        assert!(
            e.check(&builtin)
                .unwrap_err()
                .starts_with("Name: is already taken")
        );
        assert!(PresetForm::default().untouched() && !e.untouched());
    }
}
