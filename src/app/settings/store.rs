//! The window's settings on disk: `config.toml` (the configuration, shared with the command
//! line) and `window.toml` (the window's own state), and moving an old `gui.toml` in.
//!
//! - **Load.** `config.toml` is checked by the same code as `onair broadcast`'s
//!   ([`Config::from_toml`]), then the window's sections are read from it ([`Sections`]). A
//!   file that is refused (bad TOML, a bad field, a newer `version`) is never written: the
//!   window runs with the defaults and says why, with the file and the line.
//! - **Save.** Only the sections the window owns ([`OWNED`]) are replaced, and only those
//!   whose values changed; everything else in the file (comments, `[[sources]]`, `[[scenes]]`,
//!   `[reconnect]`, `[webrtc]`, destinations written with their key) is kept as written
//!   (toml_edit). The file is written whole: temporary file, fsync, rename.
//! - **gui.toml** (before one configuration): merged in on the first start; the sections
//!   `config.toml` already has win; then renamed `gui.toml.migrated`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{DestinationSettings, RecordFormat, Settings, SettingsError};
use crate::app::services::Service;
use crate::config::file::write_atomic;
use crate::config::mixer::MixerSettings;
use crate::config::scenes::{SceneFile, SourceFile, TransitionFile};
use crate::config::{CONFIG_FILE, CONFIG_VERSION, Config, PresetSpec};

/// The window's own state, beside the configuration.
pub const WINDOW_FILE: &str = "window.toml";
/// The window's settings file before one configuration.
pub const OLD_FILE: &str = "gui.toml";
/// What a moved-in `gui.toml` is renamed to.
pub const MIGRATED_FILE: &str = "gui.toml.migrated";

/// The top-level keys of `config.toml` the window writes (the rest it keeps as they are).
/// A section the window starts to edit is added here and to [`Sections`] (hotkeys are the
/// window's own, in `window.toml`).
pub const OWNED: &[&str] = &[
    "version",
    "preset",
    "destination",
    "mixer",
    "sources",
    "scenes",
    "transition",
    "program",
    "recording",
    "hls",
];

/// `config.toml` as the window reads and writes it: its sections, in the file's shape.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Sections {
    #[serde(default)]
    pub version: Option<i64>,
    /// The custom presets, `[[preset]]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preset: Vec<PresetSpec>,
    /// `[[destination]]`: those made in the window (an `id`, the key stored apart), and those
    /// written with their key, which the window keeps in the file but does not show.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destination: Vec<DestinationEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mixer: Option<MixerSettings>,
    /// The window's scene collection, `[[sources]]`, `[[scenes]]`, `[transition]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sources: Option<Vec<SourceFile>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenes: Option<Vec<SceneFile>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transition: Option<TransitionFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<ProgramSection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording: Option<RecordingSection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hls: Option<HlsSection>,
}

/// A `[[destination]]` as written. A window destination is `name`, `service`, `server` (or
/// `whip` for a WHIP one), `id` (its stored key), `enabled`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DestinationEntry {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<Service>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub whip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Present: a destination written with its secret in the file; the window leaves it be.
    #[serde(skip_serializing)]
    pub url: Option<toml::Value>,
    #[serde(skip_serializing)]
    pub key: Option<toml::Value>,
    #[serde(skip_serializing)]
    pub token: Option<toml::Value>,
    #[serde(skip_serializing)]
    pub ca_file: Option<toml::Value>,
    #[serde(skip_serializing)]
    pub dynamic_bitrate: Option<toml::Value>,
}

impl DestinationEntry {
    /// Made in the window: an id, its secret stored apart (the same rule as the CLI's).
    fn is_window(&self) -> bool {
        self.id.is_some() && self.url.is_none() && self.key.is_none() && self.token.is_none()
    }

    fn to_settings(&self) -> Option<DestinationSettings> {
        if !self.is_window() {
            return None;
        }
        let (service, server) = match (&self.whip, &self.server) {
            (Some(w), _) => (Service::Whip, w.clone()),
            (None, s) => (
                self.service
                    .filter(|s| *s != Service::Whip)
                    .unwrap_or(Service::Custom),
                s.clone().unwrap_or_default(),
            ),
        };
        Some(DestinationSettings {
            id: self.id?,
            name: self.name.clone(),
            service,
            server,
            enabled: self.enabled.unwrap_or(true),
        })
    }

    fn from_settings(d: &DestinationSettings) -> Self {
        let whip = d.service == Service::Whip;
        Self {
            name: d.name.clone(),
            service: Some(d.service),
            server: (!whip).then(|| d.server.clone()),
            whip: whip.then(|| d.server.clone()),
            id: Some(d.id),
            enabled: Some(d.enabled),
            ..Self::default()
        }
    }
}

/// `[program]`: the window's preset and the scene on its program.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProgramSection {
    /// The preset the window streams and records with.
    pub preset: String,
    /// The scene on the program.
    pub scene: String,
    /// No picture: the program is sound only.
    pub audio_only: bool,
}

/// `[recording]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecordingSection {
    pub folder: PathBuf,
    pub format: RecordFormat,
    /// Ask "Stop recording?" before stopping one.
    pub confirm_stop: bool,
}

/// `[hls]`: the browser preview.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HlsSection {
    pub folder: PathBuf,
    /// The address the preview is served on.
    pub serve: String,
}

macro_rules! section_default {
    ($t:ty, $f:expr) => {
        impl Default for $t {
            fn default() -> Self {
                $f(&Settings::default())
            }
        }
    };
}
section_default!(ProgramSection, ProgramSection::of);
section_default!(RecordingSection, RecordingSection::of);
section_default!(HlsSection, HlsSection::of);

impl ProgramSection {
    fn of(s: &Settings) -> Self {
        Self {
            preset: s.preset.clone(),
            scene: s.scene.clone(),
            audio_only: s.audio_only,
        }
    }
}

impl RecordingSection {
    fn of(s: &Settings) -> Self {
        Self {
            folder: s.record_folder.clone(),
            format: s.record_format,
            confirm_stop: s.confirm_stop_recording,
        }
    }
}

impl HlsSection {
    fn of(s: &Settings) -> Self {
        Self {
            folder: s.hls_folder.clone(),
            serve: s.preview_addr.clone(),
        }
    }
}

/// `window.toml`: the window's state, not configuration (it changes with every resize, and
/// belongs to this machine's screen, not to the show).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WindowState {
    pub window_size: [f32; 2],
    /// The window's preview refresh, frames per second; absent: automatic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview_fps: Option<u32>,
    /// The window's hotkeys (`[[hotkeys]]`): this keyboard's, not the show's; the command line
    /// has none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hotkeys: Vec<crate::app::hotkeys::Hotkey>,
}

impl Default for WindowState {
    fn default() -> Self {
        let s = Settings::default();
        Self {
            window_size: s.window_size,
            preview_fps: s.preview_fps,
            hotkeys: s.hotkeys,
        }
    }
}

impl Sections {
    /// The window's sections of `s`.
    pub fn of(s: &Settings, file_only: &[DestinationEntry]) -> Self {
        let mut destination: Vec<DestinationEntry> = s
            .destinations
            .iter()
            .map(DestinationEntry::from_settings)
            .collect();
        destination.extend(file_only.iter().cloned());
        Self {
            version: Some(CONFIG_VERSION),
            preset: s.custom_presets.clone(),
            destination,
            mixer: Some(s.mixer.clone()),
            sources: Some(s.sources.clone()),
            scenes: Some(s.scenes.clone()),
            transition: Some(s.transition.clone()),
            program: Some(ProgramSection::of(s)),
            recording: Some(RecordingSection::of(s)),
            hls: Some(HlsSection::of(s)),
        }
    }

    /// Settings from these sections and the window's state; a section the file lacks keeps
    /// the default.
    pub fn apply(&self, s: &mut Settings) {
        s.custom_presets.clone_from(&self.preset);
        s.destinations = self
            .destination
            .iter()
            .filter_map(DestinationEntry::to_settings)
            .collect();
        if let Some(m) = &self.mixer {
            s.mixer = m.clone();
        }
        if let (Some(sources), Some(scenes)) = (&self.sources, &self.scenes) {
            s.sources.clone_from(sources);
            s.scenes.clone_from(scenes);
        }
        if let Some(t) = &self.transition {
            s.transition = t.clone();
        }
        if let Some(p) = &self.program {
            s.preset.clone_from(&p.preset);
            s.scene.clone_from(&p.scene);
            s.audio_only = p.audio_only;
        }
        if let Some(r) = &self.recording {
            s.record_folder.clone_from(&r.folder);
            s.record_format = r.format;
            s.confirm_stop_recording = r.confirm_stop;
        }
        if let Some(h) = &self.hls {
            s.hls_folder.clone_from(&h.folder);
            s.preview_addr.clone_from(&h.serve);
        }
    }
}

/// What loading found.
#[derive(Debug, Default)]
pub struct Loaded {
    pub settings: Settings,
    /// Why `config.toml` was refused (file, line, field): it must not be written this run.
    pub refused: Option<String>,
    /// What happened that the user should know (a `gui.toml` moved in), also logged.
    pub notes: Vec<String>,
    /// Other problems (an old `gui.toml` that could not be read or moved in).
    pub errors: Vec<String>,
}

/// Reads and checks `config.toml`'s text; `Ok(None)` when there is no file.
fn read_config(path: &Path) -> Result<Option<(String, Sections)>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    Config::from_toml(&text, path).map_err(|e| e.to_string())?;
    let sections = toml::from_str::<Sections>(&text).map_err(|e| {
        let at = crate::config::At {
            path: path.to_owned(),
            line: e
                .span()
                .map(|s| crate::config::file::line_of(&text, s.start)),
        };
        format!("config file {at} is not valid: {}", e.message().trim_end())
    })?;
    Ok(Some((text, sections)))
}

/// What to do with a refused file, said once.
fn refused_note(why: &str) -> String {
    format!(
        "{why}; onair runs with the defaults and will not write over the file until it is fixed"
    )
}

impl Settings {
    /// Loads `dir/config.toml` and `dir/window.toml`, moving an old `dir/gui.toml` in first.
    pub fn load_all(dir: &Path) -> Loaded {
        let mut loaded = Loaded::default();
        let path = dir.join(CONFIG_FILE);
        let (text, sections) = match read_config(&path) {
            Ok(Some((t, s))) => (Some(t), s),
            Ok(None) => (None, Sections::default()),
            Err(why) => {
                tracing::error!("{}", refused_note(&why));
                loaded.refused = Some(why);
                loaded.settings.apply_window(&load_window(dir));
                return loaded;
            }
        };
        sections.apply(&mut loaded.settings);
        loaded.settings.apply_window(&load_window(dir));
        let old = dir.join(OLD_FILE);
        if old.exists() {
            match move_in(dir, text.as_deref(), &sections) {
                Ok(settings) => {
                    loaded.settings = settings;
                    let note = format!(
                        "moved the window's settings from {} into {} and {}; the old file is kept as {}",
                        old.display(),
                        CONFIG_FILE,
                        WINDOW_FILE,
                        MIGRATED_FILE
                    );
                    tracing::info!("{note}");
                    loaded.notes.push(note);
                }
                Err(why) => {
                    tracing::error!("{why}");
                    loaded.errors.push(why);
                }
            }
        }
        loaded
    }

    fn apply_window(&mut self, w: &WindowState) {
        self.window_size = w.window_size;
        self.preview_fps = w.preview_fps;
        self.hotkeys = w.hotkeys.clone();
    }

    /// Saves the window's sections into `dir/config.toml` (keeping the rest of the file) and
    /// its state into `dir/window.toml`. `refused`: the config file was refused at load and is
    /// left alone.
    pub fn save_all(&self, dir: &Path, refused: bool) -> Result<(), SettingsError> {
        let window = WindowState {
            window_size: self.window_size,
            preview_fps: self.preview_fps,
            hotkeys: self.hotkeys.clone(),
        };
        let err = |path: PathBuf| move |source| SettingsError::Write { path, source };
        let wpath = dir.join(WINDOW_FILE);
        let text = toml::to_string_pretty(&window).unwrap_or_default();
        if std::fs::read_to_string(&wpath).ok().as_deref() != Some(text.as_str()) {
            write_atomic(&wpath, text.as_bytes(), 0o644).map_err(err(wpath))?;
        }
        if refused {
            return Ok(());
        }
        let path = dir.join(CONFIG_FILE);
        let old = match std::fs::read_to_string(&path) {
            Ok(t) => Some(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => return Err(SettingsError::Read { path, source }),
        };
        // The file may have been edited since it was loaded: a broken one is not replaced.
        let file_only = match &old {
            Some(t) => match Config::from_toml(t, &path)
                .map_err(|e| e.to_string())
                .and_then(|_| toml::from_str::<Sections>(t).map_err(|e| e.to_string()))
            {
                Ok(s) => s
                    .destination
                    .into_iter()
                    .filter(|d| !d.is_window())
                    .collect(),
                Err(message) => return Err(SettingsError::Parse { path, message }),
            },
            None => Vec::new(),
        };
        let new = Sections::of(self, &file_only);
        let text = super::merge::merge(old.as_deref().unwrap_or(""), &new);
        if old.as_deref() == Some(text.as_str()) {
            return Ok(());
        }
        // Never write a file the next start (or `onair broadcast`) would refuse.
        if let Err(e) = Config::from_toml(&text, &path) {
            return Err(SettingsError::Refused(format!(
                "not saved ({e}); the file keeps its last good settings"
            )));
        }
        write_atomic(&path, text.as_bytes(), 0o644).map_err(err(path))
    }
}

/// `window.toml`; missing or unreadable: the defaults (it is only the window's state, and is
/// written again on exit).
pub fn load_window(dir: &Path) -> WindowState {
    let path = dir.join(WINDOW_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text).unwrap_or_else(|e| {
            tracing::warn!(
                "{} is not valid ({}); the window's size and preview rate start from the defaults",
                path.display(),
                e.message().trim_end()
            );
            WindowState::default()
        }),
        Err(_) => WindowState::default(),
    }
}

/// Moves `dir/gui.toml` in: its settings joined with `config.toml`'s (what `config.toml`
/// has wins: its presets and destinations by name, its sections), written to both files,
/// then the old file renamed. On any failure nothing is renamed.
fn move_in(dir: &Path, config_text: Option<&str>, sections: &Sections) -> Result<Settings, String> {
    let old_path = dir.join(OLD_FILE);
    let old = super::load_gui_toml(&old_path)
        .map_err(|e| format!("{e}; it was not moved into {CONFIG_FILE}"))?;
    let mut merged = old.clone();
    if config_text.is_some() {
        let mut from_config = Settings::default();
        sections.apply(&mut from_config);
        let mut presets = from_config.custom_presets.clone();
        for p in &old.custom_presets {
            if !presets.iter().any(|q| q.name == p.name) {
                presets.push(p.clone());
            }
        }
        merged.custom_presets = presets;
        let taken = |name: &str| sections.destination.iter().any(|d| d.name == name);
        let mut destinations = from_config.destinations.clone();
        for d in &old.destinations {
            let mut d = d.clone();
            let base = d.name.clone();
            let mut n = 2;
            while taken(&d.name) || destinations.iter().any(|e| e.name == d.name) {
                d.name = format!("{base} ({n})");
                n += 1;
            }
            destinations.push(d);
        }
        merged.destinations = destinations;
        if sections.mixer.is_some() {
            merged.mixer = from_config.mixer.clone();
        }
        if sections.scenes.is_some() && sections.sources.is_some() {
            merged.sources = from_config.sources.clone();
            merged.scenes = from_config.scenes.clone();
            merged.scene = from_config.scene.clone();
        }
        if sections.transition.is_some() {
            merged.transition = from_config.transition.clone();
        }
        if let Some(p) = &sections.program {
            merged.preset.clone_from(&p.preset);
            merged.scene.clone_from(&p.scene);
            merged.audio_only = p.audio_only;
        }
        if sections.recording.is_some() {
            merged.record_folder = from_config.record_folder.clone();
            merged.record_format = from_config.record_format;
            merged.confirm_stop_recording = from_config.confirm_stop_recording;
        }
        if sections.hls.is_some() {
            merged.hls_folder = from_config.hls_folder.clone();
            merged.preview_addr = from_config.preview_addr.clone();
        }
    }
    merged
        .save_all(dir, false)
        .map_err(|e| format!("{e}; {OLD_FILE} was not moved into {CONFIG_FILE}"))?;
    std::fs::rename(&old_path, dir.join(MIGRATED_FILE)).map_err(|e| {
        format!(
            "{OLD_FILE} was copied into {CONFIG_FILE} but cannot be renamed to {MIGRATED_FILE} ({e}); \
             delete it, or it will be merged in again"
        )
    })?;
    Ok(merged)
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
