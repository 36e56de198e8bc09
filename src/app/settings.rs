//! What the desktop app remembers between runs, and the stream keys, kept apart.
//!
//! `config.toml` in the config folder, the one file `onair broadcast` reads too, holds the
//! custom presets, the destinations without their keys, the mixer, the program's choice and
//! the recording and preview settings ([`store`]); `window.toml` beside it the window's own
//! state (its size, the preview rate). `keys.toml` holds the stream keys, by destination id,
//! in a file created with mode 0600 (only the user can read it), when there is no platform
//! keyring: see [`super::keystore`], which keeps them in the keyring where one answers.

mod merge;
pub mod store;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::services::Service;
use super::studio::{OldChoice, SceneSet, from_choice};
use crate::capture::{Corner, PipLayout, ScreenTarget};
use crate::config::PresetSpec;
use crate::config::mixer::{FADER_MAX_DB, FADER_MIN_DB, MixerSettings, SourceKind, SourceSettings};
use crate::config::scenes::{SceneFile, SourceFile, TransitionFile};
use crate::output::RecordingFormat;
use crate::output::hls::DEFAULT_SERVE_ADDR;

pub use crate::config::{CONFIG_DIR_ENV, config_dir};

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid: {message}; fix or delete it (the defaults are used meanwhile)")]
    Parse { path: PathBuf, message: String },
    /// The config file was refused: the message names the file, the line and the field.
    #[error("{0}")]
    Refused(String),
    #[error("cannot save {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Which picture the program carried in files from before scenes (read to migrate them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum VideoChoice {
    TestPattern,
    Screen,
    Camera,
    /// The screen with the camera as picture-in-picture.
    ScreenAndCamera,
    None,
}

/// The screen captured in files from before scenes, as `onair devices` names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScreenChoice {
    /// A monitor by index.
    Monitor(usize),
    /// A window by id.
    Window(String),
}

impl ScreenChoice {
    pub fn target(&self) -> ScreenTarget {
        match self {
            ScreenChoice::Monitor(i) => ScreenTarget::Monitor(*i),
            ScreenChoice::Window(id) => ScreenTarget::Window(id.clone()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecordFormat {
    Mp4,
    Flv,
}

impl RecordFormat {
    pub fn extension(self) -> &'static str {
        match self {
            RecordFormat::Mp4 => "mp4",
            RecordFormat::Flv => "flv",
        }
    }
    pub fn format(self) -> RecordingFormat {
        match self {
            RecordFormat::Mp4 => RecordingFormat::Mp4,
            RecordFormat::Flv => RecordingFormat::Flv,
        }
    }
}

/// A destination as the app keeps it; its key lives in [`Keys`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestinationSettings {
    /// Stable id: the key file's index.
    pub id: u64,
    pub name: String,
    pub service: Service,
    /// The ingest server URL (`rtmp[s]://host[:port]/app`), without the key.
    pub server: String,
    pub enabled: bool,
}

impl DestinationSettings {
    /// The service's first ingest server (none for a custom service): what a destination
    /// gets when its service is chosen.
    pub fn reset_server(&mut self) {
        self.server = self
            .service
            .ingests()
            .first()
            .map_or(String::new(), |i| i.url.to_owned());
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub preset: String,
    pub custom_presets: Vec<PresetSpec>,
    /// The program's picture: sources, scenes of layers and the transition, in the shape of
    /// config.toml's `[[sources]]`, `[[scenes]]` and `[transition]`.
    pub sources: Vec<SourceFile>,
    pub scenes: Vec<SceneFile>,
    pub transition: TransitionFile,
    /// The scene on the program.
    pub scene: String,
    /// No picture: the program is sound only.
    pub audio_only: bool,
    /// The program's sound: the mixer's sources, faders, filters and monitoring (the same
    /// shape as the CLI config's `[mixer]`).
    pub mixer: MixerSettings,
    pub destinations: Vec<DestinationSettings>,
    pub record_folder: PathBuf,
    pub record_format: RecordFormat,
    /// Ask "Stop recording?" before stopping one.
    pub confirm_stop_recording: bool,
    pub hls_folder: PathBuf,
    pub preview_addr: String,
    /// Program preview refresh in the window, frames per second; `None`: automatic
    /// ([`Settings::preview_rate`]).
    pub preview_fps: Option<u32>,
    pub window_size: [f32; 2],
    /// Key combinations for scenes and actions (set in Settings).
    pub hotkeys: Vec<super::hotkeys::Hotkey>,
}

impl Default for Settings {
    fn default() -> Self {
        let (first, first_scene) = Legacy::default().scenes((1280, 720));
        Self {
            preset: crate::config::DEFAULT_PRESET.to_owned(),
            custom_presets: Vec::new(),
            sources: first.sources,
            scenes: first.scenes,
            transition: first.transition,
            scene: first_scene,
            audio_only: false,
            mixer: MixerSettings::with_sources(vec![SourceSettings::new(
                TONE_NAME,
                SourceKind::Tone,
                "",
            )]),
            destinations: Vec::new(),
            record_folder: videos_folder(),
            record_format: RecordFormat::Mp4,
            confirm_stop_recording: true,
            hls_folder: std::env::temp_dir().join("onair-preview"),
            preview_addr: DEFAULT_SERVE_ADDR.to_owned(),
            preview_fps: None,
            window_size: [1280.0, 800.0],
            hotkeys: Vec::new(),
        }
    }
}

/// The window's preview rate by default, frames per second.
pub const PREVIEW_FPS: u32 = 15;
/// ... and by default under software rendering.
pub const PREVIEW_FPS_SOFTWARE: u32 = 5;
/// The rates one may choose.
pub const PREVIEW_FPS_RANGE: std::ops::RangeInclusive<u32> = 1..=30;

/// The mixer's names for a new microphone, desktop audio and tone (OBS's first two).
pub const MIC_NAME: &str = "Mic/Aux";
pub const DESKTOP_NAME: &str = "Desktop Audio";
pub const TONE_NAME: &str = "Sync tone";

/// The name a new source of `kind` gets (before numbering: `Mic/Aux 2`).
pub fn source_name(kind: SourceKind) -> &'static str {
    match kind {
        SourceKind::Microphone => MIC_NAME,
        SourceKind::Desktop => DESKTOP_NAME,
        SourceKind::Tone => TONE_NAME,
        SourceKind::External => "External",
    }
}

impl Settings {
    /// The sources, scenes and transition.
    pub fn scene_set(&self) -> SceneSet {
        SceneSet {
            sources: self.sources.clone(),
            scenes: self.scenes.clone(),
            transition: self.transition.clone(),
        }
    }

    pub fn set_scene_set(&mut self, set: SceneSet) {
        self.sources = set.sources;
        self.scenes = set.scenes;
        self.transition = set.transition;
    }

    /// The program's sound as the engine takes it: the mixer's sources.
    pub fn mixer(&self) -> MixerSettings {
        self.mixer.clone()
    }
}

/// The picture choice of files from before scenes.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Legacy {
    video: Option<VideoChoice>,
    screen: Option<ScreenChoice>,
    camera: Option<u32>,
    pip_corner: Option<Corner>,
    pip_percent: Option<u8>,
}

impl Legacy {
    /// Takes the old keys out of `table`.
    fn take(table: &mut toml::Table) -> Legacy {
        let mut old = toml::Table::new();
        for key in ["video", "screen", "camera", "pip_corner", "pip_percent"] {
            if let Some(v) = table.remove(key) {
                old.insert(key.into(), v);
            }
        }
        // A value of the wrong shape is left out, as before (the defaults stood in).
        toml::Value::Table(old).try_into().unwrap_or_default()
    }

    /// The scenes equivalent to the old choice (the test pattern by default).
    fn scenes(&self, program: (u32, u32)) -> (SceneSet, String) {
        let choice = match self.video {
            Some(VideoChoice::Screen) => OldChoice::Screen,
            Some(VideoChoice::Camera) => OldChoice::Camera,
            Some(VideoChoice::ScreenAndCamera) => OldChoice::ScreenAndCamera,
            Some(VideoChoice::TestPattern | VideoChoice::None) | None => OldChoice::TestPattern,
        };
        let screen = match self.screen.as_ref().map(ScreenChoice::target) {
            Some(ScreenTarget::Window(id)) => SourceFile {
                name: "Window".into(),
                kind: "window".into(),
                window: Some(id),
                ..SourceFile::default()
            },
            Some(ScreenTarget::Monitor(i)) => SourceFile {
                name: "Screen".into(),
                kind: "screen".into(),
                monitor: Some(i),
                ..SourceFile::default()
            },
            None => SourceFile {
                name: "Screen".into(),
                kind: "screen".into(),
                monitor: Some(0),
                ..SourceFile::default()
            },
        };
        let pip = PipLayout::default();
        from_choice(
            choice,
            &screen,
            self.camera.unwrap_or(0),
            (
                self.pip_corner.unwrap_or(pip.corner),
                self.pip_percent.unwrap_or(pip.width_percent),
            ),
            program,
        )
    }
}

/// The program's size for preset `name` (built-in or custom), 1280x720 if unknown.
fn preset_size(name: &str, custom: &[PresetSpec]) -> (u32, u32) {
    if let Some(p) = custom.iter().find(|p| p.name == name) {
        return (p.width, p.height);
    }
    crate::config::Config::builtin()
        .presets
        .iter()
        .find(|p| p.name == name)
        .map_or((1280, 720), |p| (p.width, p.height))
}

/// Turns the audio choice of files from before the mixer (`audio`, `microphone`,
/// `mic_gain_db`, `mic_muted`) into a `[mixer]` table, and drops those keys. A file that has
/// a `[mixer]` already keeps it; one with none of the old keys gets the default mixer.
fn migrate(table: &mut toml::Table) {
    let audio = table.remove("audio");
    let microphone = table.remove("microphone");
    let gain = table.remove("mic_gain_db");
    let muted = table.remove("mic_muted");
    if table.contains_key("mixer")
        || (audio.is_none() && microphone.is_none() && gain.is_none() && muted.is_none())
    {
        return;
    }
    // ALSA's `pulse` and `default` devices were the system's default input.
    let device = match microphone.as_ref().and_then(toml::Value::as_str) {
        None | Some("alsa:pulse" | "alsa:default") => "",
        Some(id) => id,
    };
    let mut mic = SourceSettings::new(MIC_NAME, SourceKind::Microphone, device);
    let db = gain.and_then(|g| g.as_float().or_else(|| g.as_integer().map(|i| i as f64)));
    mic.volume_db = db.map_or(0.0, |db| (db as f32).clamp(FADER_MIN_DB, FADER_MAX_DB));
    mic.muted = muted.and_then(|m| m.as_bool()).unwrap_or(false);
    let tone = SourceSettings::new(TONE_NAME, SourceKind::Tone, "");
    // The old default was the tone.
    let sources = match audio.as_ref().and_then(toml::Value::as_str) {
        Some("Microphone") => vec![mic],
        Some("MicrophoneAndTone") => vec![mic, tone],
        Some("None") => Vec::new(),
        _ => vec![tone],
    };
    if let Ok(mixer) = toml::Value::try_from(MixerSettings::with_sources(sources)) {
        table.insert("mixer".into(), mixer);
    }
}

/// Where recordings go unless chosen: the platform's Videos folder (XDG's `XDG_VIDEOS_DIR`
/// where the desktop names one, else `Videos` in the home folder); created when a recording
/// starts.
pub fn videos_folder() -> PathBuf {
    if let Some(dir) = directories::UserDirs::new().and_then(|d| d.video_dir().map(Path::to_owned))
    {
        return dir;
    }
    directories::BaseDirs::new()
        .map(|d| d.home_dir().join("Videos"))
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Makes sure `dir` is a folder recordings can be written to: created (with its parents)
/// if missing. The error says why not and what to do.
pub fn prepare_folder(dir: &Path) -> Result<(), String> {
    if dir.as_os_str().is_empty() {
        return Err("choose a folder".into());
    }
    if !dir.is_absolute() {
        return Err(format!(
            "`{}` is not a full path: choose a folder",
            dir.display()
        ));
    }
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(format!("`{}` is a file, not a folder", dir.display())),
        Err(_) => std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?,
    }
    let readonly = std::fs::metadata(dir).is_ok_and(|m| m.permissions().readonly());
    if readonly {
        return Err(format!(
            "`{}` is read-only: choose another folder",
            dir.display()
        ));
    }
    Ok(())
}

/// Reads an old `gui.toml` (the window's settings before one configuration); a missing file
/// gives the defaults; a file from before the mixer has its audio choice turned into the
/// mixer ([`migrate`]).
pub fn load_gui_toml(path: &Path) -> Result<Settings, SettingsError> {
    let parse = |e: toml::de::Error| SettingsError::Parse {
        path: path.to_owned(),
        message: e.message().to_owned(),
    };
    let mut table: toml::Table = match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text).map_err(parse)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Settings::default()),
        Err(source) => {
            return Err(SettingsError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    migrate(&mut table);
    let legacy = Legacy::take(&mut table);
    let had_scenes = table.contains_key("scenes");
    let mut settings: Settings = toml::Value::Table(table).try_into().map_err(parse)?;
    if !had_scenes {
        // A file from before scenes: the old choice's scene, current.
        let size = preset_size(&settings.preset, &settings.custom_presets);
        let (set, scene) = legacy.scenes(size);
        settings.set_scene_set(set);
        settings.scene = scene;
        settings.audio_only = legacy.video == Some(VideoChoice::None);
    }
    Ok(settings)
}

impl Settings {
    /// Loads the settings from `dir` ([`Settings::load_all`]), errors aside (tests, tools).
    pub fn load(dir: &Path) -> Result<Self, SettingsError> {
        let loaded = Self::load_all(dir);
        match loaded.refused {
            Some(message) => Err(SettingsError::Refused(message)),
            None => Ok(loaded.settings),
        }
    }

    /// Saves the settings into `dir` ([`Settings::save_all`]).
    pub fn save(&self, dir: &Path) -> Result<(), SettingsError> {
        self.save_all(dir, false)
    }

    /// The window's size as last saved in `dir` (`window.toml`, else an old `gui.toml`).
    pub fn saved_window_size(dir: &Path) -> [f32; 2] {
        let window = dir.join(store::WINDOW_FILE);
        if window.exists() {
            return store::load_window(dir).window_size;
        }
        load_gui_toml(&dir.join(store::OLD_FILE))
            .unwrap_or_default()
            .window_size
    }

    /// The window's preview rate, frames per second: the chosen one, or automatically
    /// [`PREVIEW_FPS`], or [`PREVIEW_FPS_SOFTWARE`] when the window is drawn by a software
    /// rasterizer (there every repaint is CPU taken from the encoder: BENCHMARKS.md, section 0).
    pub fn preview_rate(&self, software_rendering: bool) -> u32 {
        match self.preview_fps {
            Some(fps) => fps.clamp(*PREVIEW_FPS_RANGE.start(), *PREVIEW_FPS_RANGE.end()),
            None if software_rendering => PREVIEW_FPS_SOFTWARE,
            None => PREVIEW_FPS,
        }
    }

    /// An id no destination has.
    pub fn next_destination_id(&self) -> u64 {
        self.destinations
            .iter()
            .map(|d| d.id + 1)
            .max()
            .unwrap_or(1)
    }
}

/// Stream keys by destination id, in `keys.toml` (mode 0600). Never logged: `Debug` prints
/// only how many there are.
#[derive(Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Keys {
    keys: BTreeMap<String, String>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keys({} stored)", self.keys.len())
    }
}

impl Keys {
    pub fn load(dir: &Path) -> Result<Self, SettingsError> {
        load_toml(&dir.join("keys.toml"))
    }

    pub fn save(&self, dir: &Path) -> Result<(), SettingsError> {
        write_private(&dir.join("keys.toml"), self.to_toml().as_bytes(), true)
    }

    pub fn get(&self, id: u64) -> &str {
        self.keys.get(&id.to_string()).map_or("", String::as_str)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Takes every key of `newer`, replacing this one's for the same destination.
    pub fn merge(&mut self, newer: Keys) {
        self.keys.extend(newer.keys);
    }

    /// The keys as `keys.toml` holds them (also the keyring item's text).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// Parses [`Keys::to_toml`]'s text; the error never quotes the text (it holds keys).
    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e: toml::de::Error| {
            let at = e
                .span()
                .map(|s| format!(" at byte {}", s.start))
                .unwrap_or_default();
            format!("not valid TOML{at}")
        })
    }

    pub fn set(&mut self, id: u64, key: String) {
        if key.is_empty() {
            self.keys.remove(&id.to_string());
        } else {
            self.keys.insert(id.to_string(), key);
        }
    }
}

/// Reads a TOML file; a missing file gives the defaults.
fn load_toml<T: Default + serde::de::DeserializeOwned>(path: &Path) -> Result<T, SettingsError> {
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text).map_err(|e| SettingsError::Parse {
            path: path.to_owned(),
            message: e.message().to_owned(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(source) => Err(SettingsError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Writes a file whole (temporary file, then rename); `private` makes it readable by the user
/// only (0600) from the moment it exists.
fn write_private(path: &Path, bytes: &[u8], private: bool) -> Result<(), SettingsError> {
    let err = |source| SettingsError::Write {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let tmp = path.with_extension("toml.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    let mut file = options.open(&tmp).map_err(err)?;
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(err)?;
    }
    file.write_all(bytes).map_err(err)?;
    file.sync_all().map_err(err)?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preview_rate_is_lower_under_software_rendering_unless_chosen() {
        let auto = Settings::default();
        assert_eq!(auto.preview_fps, None);
        assert_eq!(auto.preview_rate(false), 15);
        assert_eq!(auto.preview_rate(true), 5);
        let chosen = Settings {
            preview_fps: Some(12),
            ..Settings::default()
        };
        assert_eq!(
            (chosen.preview_rate(false), chosen.preview_rate(true)),
            (12, 12)
        );
        // Absent from gui.toml (files from before) is automatic; a rate written there is kept,
        // and one out of range is brought into it.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("gui.toml"), "preset = \"720p30\"\n").unwrap();
        assert_eq!(Settings::load(dir.path()).unwrap().preview_fps, None);
        std::fs::write(dir.path().join("gui.toml"), "preview_fps = 99\n").unwrap();
        assert_eq!(Settings::load(dir.path()).unwrap().preview_rate(false), 30);
        chosen.save(dir.path()).unwrap();
        assert_eq!(Settings::load(dir.path()).unwrap().preview_fps, Some(12));
        auto.save(dir.path()).unwrap();
        assert_eq!(Settings::load(dir.path()).unwrap().preview_fps, None);
    }

    #[test]
    fn an_old_video_choice_becomes_its_scene_and_the_default_is_the_test_pattern() {
        let s = Settings::default();
        assert_eq!(s.scene, "Test pattern");
        let c = s.scene_set().validate(Path::new("/")).unwrap();
        assert_eq!(c.scenes.len(), 1);
        assert_eq!(c.sources[0].kind, crate::capture::scene::SourceKind::Test);
        // The tone by default, so a first recording has sound on any machine.
        let m = s.mixer();
        assert_eq!(m.sources.len(), 1);
        assert_eq!(
            (m.sources[0].kind, m.sources[0].name.as_str()),
            (SourceKind::Tone, TONE_NAME)
        );
        let dir = tempfile::tempdir().unwrap();
        let load = |text: &str| {
            std::fs::write(dir.path().join("gui.toml"), text).unwrap();
            load_gui_toml(&dir.path().join("gui.toml")).unwrap()
        };
        // Screen + camera, a window, the camera top right at 30 % of a 1080p program.
        let old = load(
            "preset = \"1080p30\"\nvideo = \"ScreenAndCamera\"\ncamera = 2\n\
             pip_corner = \"TopRight\"\npip_percent = 30\n[screen]\nWindow = \"77\"\n",
        );
        assert_eq!(old.scene, "Screen + camera");
        let c = old.scene_set().validate(Path::new("/")).unwrap();
        assert_eq!(
            c.sources[0].kind,
            crate::capture::scene::SourceKind::Screen(ScreenTarget::Window("77".into()))
        );
        assert_eq!(
            c.sources[1].kind,
            crate::capture::scene::SourceKind::Camera(crate::capture::CameraTarget::Index(2))
        );
        let pip = crate::capture::compose::Compositor::pip_rect(
            1920,
            1080,
            PipLayout {
                corner: Corner::TopRight,
                width_percent: 30,
            },
        );
        let l = &c.scenes[0].layers[1];
        assert_eq!(
            (l.x, l.y, l.size),
            (pip.x as i32, pip.y as i32, Some((pip.w, pip.h)))
        );
        // Saved, the old keys are gone and the scenes read back the same.
        let _ = std::fs::remove_file(dir.path().join("gui.toml"));
        old.save(dir.path()).unwrap();
        let text = std::fs::read_to_string(dir.path().join("config.toml")).unwrap();
        assert!(
            text.contains("[[scenes]]") && !text.contains("video ="),
            "{text}"
        );
        assert_eq!(Settings::load(dir.path()).unwrap(), old);
        // Each old choice.
        assert_eq!(load("video = \"Screen\"\n").scene, "Screen");
        assert_eq!(load("video = \"Camera\"\n").scene, "Camera");
        let none = load("video = \"None\"\n");
        assert!(none.audio_only);
        assert_eq!(none.scene, "Test pattern");
        assert!(!load("video = \"TestPattern\"\n").audio_only);
    }

    #[test]
    fn an_old_audio_choice_becomes_the_mixer_and_is_saved_as_one() {
        let dir = tempfile::tempdir().unwrap();
        let load = |text: &str| {
            std::fs::write(dir.path().join("gui.toml"), text).unwrap();
            load_gui_toml(&dir.path().join("gui.toml")).unwrap()
        };
        let old = load(
            "preset = \"720p30\"\naudio = \"MicrophoneAndTone\"\nmicrophone = \"alsa:hw:CARD=USB\"\n\
             mic_gain_db = -4.5\nmic_muted = true\n",
        );
        assert_eq!(old.preset, "720p30");
        let m = &old.mixer;
        assert_eq!(m.sources.len(), 2, "{m:?}");
        let mic = &m.sources[0];
        assert_eq!(
            (mic.name.as_str(), mic.kind, mic.device.as_str()),
            (MIC_NAME, SourceKind::Microphone, "alsa:hw:CARD=USB")
        );
        assert_eq!((mic.volume_db, mic.muted), (-4.5, true));
        // ALSA's pulse plugin was the default input: it is the default input again.
        let pulse = load("audio = \"Microphone\"\nmicrophone = \"alsa:pulse\"\n");
        assert_eq!(pulse.mixer.sources[0].device, "");
        assert_eq!(
            (m.sources[1].name.as_str(), m.sources[1].kind),
            (TONE_NAME, SourceKind::Tone)
        );
        m.validate().unwrap();
        // Each old choice, and a whole-number gain.
        let kinds = |s: Settings| s.mixer.sources.iter().map(|s| s.kind).collect::<Vec<_>>();
        assert_eq!(kinds(load("audio = \"Tone\"\n")), [SourceKind::Tone]);
        assert_eq!(kinds(load("audio = \"None\"\n")), []);
        let mic_only = load("audio = \"Microphone\"\nmic_gain_db = 6\n");
        assert_eq!(kinds(mic_only.clone()), [SourceKind::Microphone]);
        assert_eq!(mic_only.mixer.sources[0].volume_db, 6.0);
        // Saved, the file holds the mixer and none of the old keys, and reads back the same.
        std::fs::remove_file(dir.path().join("gui.toml")).unwrap();
        old.save(dir.path()).unwrap();
        let text = std::fs::read_to_string(dir.path().join("config.toml")).unwrap();
        assert!(text.contains("[[mixer.source]]"), "{text}");
        assert!(
            !text.contains("mic_gain_db") && !text.contains("audio ="),
            "{text}"
        );
        assert_eq!(Settings::load(dir.path()).unwrap(), old);
        // A file with a mixer keeps it, whatever old keys it also holds.
        let both = load(
            "audio = \"None\"\n[mixer]\nmaster_db = -3.0\n[[mixer.source]]\nname = \"Desk\"\nkind = \"desktop\"\n",
        );
        assert_eq!(both.mixer.master_db, -3.0);
        assert_eq!(kinds(both), [SourceKind::Desktop]);
    }

    #[test]
    fn settings_and_keys_round_trip_and_keys_stay_private() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Settings::default();
        s.destinations.push(DestinationSettings {
            id: 1,
            name: "Twitch".into(),
            service: Service::Twitch,
            server: "rtmp://live.twitch.tv/app".into(),
            enabled: true,
        });
        s.scenes[0].layers[0].x = 40;
        s.scenes[0].layers[0].locked = true;
        s.transition.kind = Some("cut".into());
        let mut mic = SourceSettings::new(MIC_NAME, SourceKind::Microphone, "alsa:pulse");
        mic.volume_db = -4.5;
        mic.muted = true;
        mic.filters
            .push(crate::config::mixer::Filter::NoiseSuppression {});
        s.mixer.sources.insert(0, mic);
        s.save(dir.path()).unwrap();
        assert_eq!(Settings::load(dir.path()).unwrap(), s);
        let mut keys = Keys::default();
        keys.set(1, "live_123_secret".into());
        keys.save(dir.path()).unwrap();
        assert_eq!(Keys::load(dir.path()).unwrap().get(1), "live_123_secret");
        assert_eq!(format!("{keys:?}"), "Keys(1 stored)");
        let config = std::fs::read_to_string(dir.path().join("config.toml")).unwrap();
        assert!(!config.contains("secret"), "{config}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("keys.toml"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn recordings_go_to_the_videos_folder_which_is_created_when_missing() {
        let home = tempfile::tempdir().unwrap();
        let videos = home.path().join("Videos");
        assert!(!videos.exists());
        prepare_folder(&videos).unwrap();
        assert!(videos.is_dir());
        prepare_folder(&videos).unwrap();
        let file = videos.join("a-file");
        std::fs::write(&file, b"x").unwrap();
        assert!(
            prepare_folder(&file)
                .unwrap_err()
                .contains("is a file, not a folder")
        );
        assert!(
            prepare_folder(Path::new("relative/dir"))
                .unwrap_err()
                .contains("not a full path")
        );
        assert!(
            prepare_folder(&file.join("sub"))
                .unwrap_err()
                .starts_with("cannot create")
        );
        // Never the home folder itself, as it was when no desktop named a Videos folder.
        let default = Settings::default().record_folder;
        let home_dir = directories::BaseDirs::new().map(|d| d.home_dir().to_owned());
        assert_ne!(Some(default), home_dir);
    }

    #[test]
    fn a_broken_file_says_which_and_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("gui.toml"), "preset = 3").unwrap();
        let err = load_gui_toml(&dir.path().join("gui.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("gui.toml is not valid") && err.contains("fix or delete it"),
            "{err}"
        );
        std::fs::write(dir.path().join("config.toml"), "\n[program]\npreset = 3").unwrap();
        let err = Settings::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("config.toml line 3 is not valid"), "{err}");
        assert_eq!(
            Settings::load(&dir.path().join("none")).unwrap(),
            Settings::default()
        );
    }
}
