//! Bitrate presets and the user's config file.
//!
//! Built-in presets are a const table; user presets come from a TOML file in the platform's
//! config directory (`--config FILE` overrides). The file is validated once, on load, into
//! [`Preset`] values that later stages never re-check.

pub mod file;
pub mod mixer;
mod preset;
pub mod scenes;

pub use file::{At, CONFIG_DIR_ENV, CONFIG_FILE, CONFIG_VERSION, config_dir};
pub use preset::{BUILTIN_PRESETS, DEFAULT_PRESET, Preset, PresetSpec};

use file::{Step, locate};

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::output::rtmp::{ReconnectPolicy, RtmpUrl};
use crate::output::whip::WhipTarget;

/// Why a config could not be used. Each variant names the file and what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {message}")]
    Parse { path: At, message: String },
    #[error("config file {path}: preset \"{preset}\": {field} {problem}")]
    InvalidPreset {
        path: At,
        preset: String,
        field: &'static str,
        problem: String,
    },
    #[error("unknown preset \"{name}\"; `onair presets` lists the {count} available")]
    UnknownPreset { name: String, count: usize },
    #[error(
        "config file {}: [program] preset \"{name}\" is not a preset; choose one in the window or pass --preset",
        path.display()
    )]
    UnknownProgramPreset { name: String, path: PathBuf },
    #[error("config file {path}: destination \"{destination}\": {problem}")]
    InvalidDestination {
        path: At,
        destination: String,
        problem: String,
    },
    #[error("config file {path}: [mixer] {problem}")]
    InvalidMixer {
        path: At,
        problem: mixer::MixerProblem,
    },
    #[error("config file {path}: {problem}")]
    InvalidScenes {
        path: At,
        problem: crate::capture::scene::SceneProblem,
    },
    #[error("config file {path}: [reconnect] {field} {problem}")]
    InvalidReconnect {
        path: At,
        field: &'static str,
        problem: String,
    },
}

/// The config file's shape. Unknown keys are refused so that a typo is an error, not silence.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    /// User presets, `[[preset]]` tables.
    #[serde(default)]
    preset: Vec<PresetSpec>,
    /// Named RTMP destinations, `[[destination]]` tables.
    #[serde(default)]
    destination: Vec<DestinationSpec>,
    #[serde(default)]
    reconnect: ReconnectSpec,
    #[serde(default)]
    webrtc: WebRtcSpec,
    /// The file's format; absent: 1. A newer one is refused ([`file::check_version`]).
    #[allow(dead_code)]
    version: Option<i64>,
    /// The audio mixer, as the window saves it.
    mixer: Option<mixer::MixerSettings>,
    /// The window's program, recording, preview and hotkey settings: read and checked by the
    /// window (app/settings), kept as they are here.
    program: Option<toml::Table>,
    #[allow(dead_code)]
    recording: Option<toml::Table>,
    #[allow(dead_code)]
    hls: Option<toml::Table>,
    #[allow(dead_code)]
    hotkeys: Option<toml::Table>,
    /// Sources that scenes show, `[[sources]]` tables.
    #[serde(default)]
    sources: Vec<scenes::SourceFile>,
    /// Scenes, `[[scenes]]` tables with `[[scenes.layers]]`, bottom layer first.
    #[serde(default)]
    scenes: Vec<scenes::SceneFile>,
    /// What a scene switch does: `kind` cut or fade, `duration_ms`.
    transition: Option<scenes::TransitionFile>,
}

/// `[webrtc]`: settings of every WHIP destination.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebRtcSpec {
    /// STUN servers (`host:port`, or `stun:host:port`) for a server-reflexive candidate.
    #[serde(default)]
    stun: Vec<String>,
}

/// A destination as written: a full `url`, or OBS's `server` and `key`; or a WHIP endpoint
/// (`whip`) and its bearer `token`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DestinationSpec {
    name: String,
    url: Option<String>,
    server: Option<String>,
    key: Option<String>,
    /// A WHIP (WebRTC) endpoint, `http[s]://...`, instead of an RTMP server.
    whip: Option<String>,
    /// The WHIP endpoint's bearer token.
    token: Option<String>,
    /// Extra CA certificate (PEM) for an `rtmps://` server with a private certificate.
    ca_file: Option<PathBuf>,
    /// Lower the video bitrate when this destination's link cannot carry it.
    #[serde(default)]
    dynamic_bitrate: bool,
    /// Which stored key (keyring or `keys.toml`, by this id) is the stream key or token of a
    /// destination made in the window, which has no `key` here.
    id: Option<u64>,
    /// The window's service choice (Twitch, YouTube, ...): only the window reads it.
    #[allow(dead_code)]
    service: Option<String>,
    /// Whether the window's Go live includes it; `onair broadcast` goes where it is told.
    #[allow(dead_code)]
    enabled: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReconnectSpec {
    max_delay_s: Option<u64>,
    max_attempts: Option<u32>,
}

/// A named RTMP destination from the config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub name: String,
    pub url: RtmpUrl,
    pub ca_file: Option<PathBuf>,
    pub dynamic_bitrate: bool,
}

/// A named WHIP destination from the config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhipDestination {
    pub name: String,
    /// The endpoint and token (masked in `Display` and `Debug`).
    pub target: WhipTarget,
    pub dynamic_bitrate: bool,
}

/// A destination made in the window: its stream key (or WHIP token) is not in the file but
/// stored under `id`, in the platform keyring or `keys.toml` (app::keystore).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKeyDestination {
    pub name: String,
    pub id: u64,
    /// The RTMP server without the key, or the WHIP endpoint.
    pub server: String,
    pub whip: bool,
    pub ca_file: Option<PathBuf>,
    pub dynamic_bitrate: bool,
}

impl StoredKeyDestination {
    /// The RTMP URL with `key`; the error never shows the key.
    pub fn rtmp_url(&self, key: &str) -> Result<RtmpUrl, String> {
        RtmpUrl::with_key(&self.server, key).map_err(|e| e.to_string())
    }
}

/// The loaded configuration: built-in presets plus the user's.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the user presets came from, if a file was read.
    pub source: Option<PathBuf>,
    pub presets: Vec<Preset>,
    pub destinations: Vec<Destination>,
    pub whip_destinations: Vec<WhipDestination>,
    /// Destinations whose key is stored apart (made in the window).
    pub stored_key_destinations: Vec<StoredKeyDestination>,
    pub reconnect: ReconnectPolicy,
    /// STUN servers for WHIP destinations (`host:port`).
    pub stun_servers: Vec<String>,
    /// The audio mixer, if the file has one (`[mixer]`).
    pub mixer: Option<mixer::MixerSettings>,
    /// The scenes and their sources, if the file has `[[scenes]]`.
    pub scenes: Option<crate::capture::scene::Collection>,
    /// The window's `[program]` choice, which the command line follows when not told.
    pub program: ProgramChoice,
}

/// The preset and scene the window last had on its program (`[program]`): `onair broadcast`
/// and `onair scenes` use them when `--preset` / `--scene` are not given.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProgramChoice {
    pub preset: Option<String>,
    pub scene: Option<String>,
}

impl Config {
    /// The built-in presets only.
    pub fn builtin() -> Self {
        Self {
            source: None,
            presets: BUILTIN_PRESETS.iter().map(|p| p.to_preset()).collect(),
            destinations: Vec::new(),
            whip_destinations: Vec::new(),
            stored_key_destinations: Vec::new(),
            reconnect: ReconnectPolicy::default(),
            stun_servers: Vec::new(),
            mixer: None,
            scenes: None,
            program: ProgramChoice::default(),
        }
    }

    /// The default config file: `config.toml` in the config folder ([`config_dir`]: the
    /// window's too; `$XDG_CONFIG_HOME/onair/config.toml` on Linux).
    pub fn default_path() -> Option<PathBuf> {
        config_dir().map(|d| d.join(CONFIG_FILE))
    }

    /// Loads `path` if given (it must exist), else the default file if it exists, else the
    /// built-ins alone.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        match path {
            Some(p) => Self::load_file(p),
            None => match Self::default_path() {
                Some(p) if p.exists() => Self::load_file(&p),
                _ => Ok(Self::builtin()),
            },
        }
    }

    pub fn load_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text, path)
    }

    /// Parses and validates config text; `path` is only for messages, which name the line.
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let at = |steps: &[Step]| At {
            path: path.to_owned(),
            line: locate(text, steps),
        };
        file::check_version(text).map_err(|(line, message)| ConfigError::Parse {
            path: At {
                path: path.to_owned(),
                line,
            },
            message,
        })?;
        let file: ConfigFile = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: At {
                path: path.to_owned(),
                line: e.span().map(|s| file::line_of(text, s.start)),
            },
            message: e.message().trim_end().to_owned(),
        })?;
        let mut config = Self::builtin();
        config.source = Some(path.to_owned());
        for (i, spec) in file.preset.into_iter().enumerate() {
            let preset = spec.validate(&config.presets).map_err(|(field, problem)| {
                ConfigError::InvalidPreset {
                    path: at(&[Step::Key("preset"), Step::Index(i), Step::Key(field)]),
                    preset: spec.name.clone(),
                    field,
                    problem,
                }
            })?;
            config.presets.push(preset);
        }
        for (i, spec) in file.destination.into_iter().enumerate() {
            let invalid = |problem| ConfigError::InvalidDestination {
                path: at(&[Step::Key("destination"), Step::Index(i)]),
                destination: spec.name.clone(),
                problem,
            };
            if config.destination(&spec.name).is_some()
                || config.whip_destination(&spec.name).is_some()
                || config.stored_key_destination(&spec.name).is_some()
            {
                return Err(invalid("name is already taken; choose another".into()));
            }
            if let Some(stored) = spec.stored_key().map_err(invalid)? {
                config.stored_key_destinations.push(stored);
            } else if spec.whip.is_some() {
                config
                    .whip_destinations
                    .push(spec.validate_whip().map_err(invalid)?);
            } else {
                let destination = spec.validate(&config.destinations).map_err(invalid)?;
                config.destinations.push(destination);
            }
        }
        for server in file.webrtc.stun {
            let hostport = server.strip_prefix("stun:").unwrap_or(&server);
            if hostport
                .rsplit_once(':')
                .is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err())
            {
                return Err(ConfigError::Parse {
                    path: at(&[Step::Key("webrtc"), Step::Key("stun")]),
                    message: format!(
                        "[webrtc] stun: \"{server}\" is not host:port (e.g. \"stun.example.net:3478\")"
                    ),
                });
            }
            config.stun_servers.push(hostport.to_owned());
        }
        let bad = |field, problem: String| ConfigError::InvalidReconnect {
            path: at(&[Step::Key("reconnect"), Step::Key(field)]),
            field,
            problem,
        };
        if let Some(secs) = file.reconnect.max_delay_s {
            if !(2..=86_400).contains(&secs) {
                return Err(bad(
                    "max_delay_s",
                    format!("{secs} must be between 2 and 86400"),
                ));
            }
            config.reconnect.max_delay = Duration::from_secs(secs);
        }
        if let Some(n) = file.reconnect.max_attempts {
            if !(1..=10_000).contains(&n) {
                return Err(bad(
                    "max_attempts",
                    format!("{n} must be between 1 and 10000"),
                ));
            }
            config.reconnect.max_attempts = n;
        }
        if let Some(m) = file.mixer {
            let bad = |problem: mixer::MixerProblem| ConfigError::InvalidMixer {
                path: match &problem.source {
                    Some(name) => at(&[
                        Step::Key("mixer"),
                        Step::Key("source"),
                        Step::Named(name),
                        Step::Key(problem.field),
                    ]),
                    None => at(&[Step::Key("mixer"), Step::Key(problem.field)]),
                },
                problem,
            };
            m.validate().map_err(bad)?;
            if let Some(s) = m
                .sources
                .iter()
                .find(|s| s.kind == mixer::SourceKind::External)
            {
                return Err(bad(mixer::MixerProblem {
                    source: Some(s.name.clone()),
                    field: "kind",
                    problem: "\"external\" sources are made by the engine; use microphone, \
                              desktop or tone"
                        .into(),
                }));
            }
            config.mixer = Some(m);
        }
        let text_of = |key| {
            let t = file.program.as_ref()?;
            t.get(key)?.as_str().map(str::to_owned)
        };
        config.program = ProgramChoice {
            preset: text_of("preset").filter(|p| !p.is_empty()),
            scene: text_of("scene").filter(|s| !s.is_empty()),
        };
        if !(file.scenes.is_empty() && file.sources.is_empty() && file.transition.is_none()) {
            let base = path.parent().unwrap_or(Path::new("."));
            let collection = scenes::collection(file.sources, file.scenes, file.transition, base)
                .map_err(|problem| ConfigError::InvalidScenes {
                path: at(&scene_steps(&problem)),
                problem,
            })?;
            config.scenes = Some(collection);
        }
        Ok(config)
    }

    /// The destination called `name`, if the config has one.
    pub fn destination(&self, name: &str) -> Option<&Destination> {
        self.destinations.iter().find(|d| d.name == name)
    }

    /// The destination made in the window called `name`, if the config has one.
    pub fn stored_key_destination(&self, name: &str) -> Option<&StoredKeyDestination> {
        self.stored_key_destinations.iter().find(|d| d.name == name)
    }

    /// The WHIP destination called `name`, if the config has one.
    pub fn whip_destination(&self, name: &str) -> Option<&WhipDestination> {
        self.whip_destinations.iter().find(|d| d.name == name)
    }

    pub fn preset(&self, name: &str) -> Result<&Preset, ConfigError> {
        self.presets
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| ConfigError::UnknownPreset {
                name: name.to_owned(),
                count: self.presets.len(),
            })
    }

    /// The preset named `name`, or the window's (`[program] preset`), or [`DEFAULT_PRESET`].
    pub fn preset_or_program(&self, name: Option<&str>) -> Result<&Preset, ConfigError> {
        match (name, &self.program.preset) {
            (Some(n), _) => self.preset(n),
            (None, Some(n)) => self.preset(n).map_err(|_| ConfigError::UnknownProgramPreset {
                name: n.clone(),
                path: self.source.clone().unwrap_or_default(),
            }),
            (None, None) => self.preset(DEFAULT_PRESET),
        }
    }
}

/// Where a scene problem is in the file: `source "logo"` or `scene "Live" layer 2 (...)`
/// name their table; the field is looked up in it.
fn scene_steps(problem: &crate::capture::scene::SceneProblem) -> Vec<Step<'_>> {
    let quoted = |s: &'static str| {
        let rest = problem.place.strip_prefix(s)?.strip_prefix(" \"")?;
        rest.split_once('"').map(|(name, _)| name)
    };
    if let Some(name) = quoted("source") {
        vec![
            Step::Key("sources"),
            Step::Named(name),
            Step::Key(problem.field),
        ]
    } else if let Some(name) = quoted("scene") {
        vec![Step::Key("scenes"), Step::Named(name)]
    } else if problem.place.contains("transition") {
        vec![Step::Key("transition"), Step::Key(problem.field)]
    } else {
        Vec::new()
    }
}

impl DestinationSpec {
    /// A destination made in the window (an `id`, no key or token in the file), checked; `None`
    /// for a destination written with its key.
    fn stored_key(&self) -> Result<Option<StoredKeyDestination>, String> {
        let Some(id) = self.id else {
            return Ok(None);
        };
        if self.key.is_some() || self.token.is_some() || self.url.is_some() {
            return Ok(None);
        }
        if self.name.trim().is_empty() {
            return Err("name must not be empty".into());
        }
        let (server, whip) = match (&self.server, &self.whip) {
            (Some(s), None) => (s.clone(), false),
            (None, Some(w)) => (w.clone(), true),
            _ => return Err("give either `server` or `whip`".into()),
        };
        Ok(Some(StoredKeyDestination {
            name: self.name.clone(),
            id,
            server,
            whip,
            ca_file: self.ca_file.clone(),
            dynamic_bitrate: self.dynamic_bitrate,
        }))
    }

    fn validate_whip(&self) -> Result<WhipDestination, String> {
        if self.name.trim().is_empty() {
            return Err("name must not be empty".into());
        }
        if self.url.is_some()
            || self.server.is_some()
            || self.key.is_some()
            || self.ca_file.is_some()
        {
            return Err(
                "a `whip` destination takes `token` (and `dynamic_bitrate`), not `url`, `server`, `key` or `ca_file`".into(),
            );
        }
        let url = self.whip.as_deref().unwrap_or_default();
        let target = WhipTarget::new(url, self.token.clone()).map_err(|e| e.to_string())?;
        Ok(WhipDestination {
            name: self.name.clone(),
            target,
            dynamic_bitrate: self.dynamic_bitrate,
        })
    }

    fn validate(&self, existing: &[Destination]) -> Result<Destination, String> {
        if self.name.trim().is_empty() {
            return Err("name must not be empty".into());
        }
        if existing.iter().any(|d| d.name == self.name) {
            return Err("name is already taken; choose another".into());
        }
        if self.token.is_some() {
            return Err("`token` belongs to a `whip` destination; an RTMP one takes `key`".into());
        }
        let url = match (&self.url, &self.server, &self.key) {
            (Some(url), None, None) => RtmpUrl::parse(url),
            (None, Some(server), Some(key)) => RtmpUrl::with_key(server, key),
            _ => return Err("give either `url`, or both `server` and `key`".into()),
        }
        .map_err(|e| e.to_string())?;
        Ok(Destination {
            name: self.name.clone(),
            url,
            ca_file: self.ca_file.clone(),
            dynamic_bitrate: self.dynamic_bitrate,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml(text, Path::new("test.toml"))
    }

    #[test]
    fn user_presets_join_the_builtins() {
        let c = load(
            r#"
            [[preset]]
            name = "my-720p"
            width = 1280
            height = 720
            fps = 30
            video_kbps = 2500
            audio_kbps = 128
            keyframe_interval_s = 2
            "#,
        )
        .unwrap();
        assert_eq!(c.presets.len(), BUILTIN_PRESETS.len() + 1);
        let p = c.preset("my-720p").unwrap();
        assert_eq!(
            (p.width, p.height, p.fps, p.video_kbps),
            (1280, 720, 30, 2500)
        );
        assert!(c.preset("720p30").is_ok());
    }

    #[test]
    fn errors_name_the_preset_and_the_field() {
        let err = load(
            r#"
            [[preset]]
            name = "odd"
            width = 1281
            height = 720
            fps = 30
            video_kbps = 2500
            "#,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "config file test.toml line 4: preset \"odd\": width 1281 must be even"
        );

        let err = load(
            "[[preset]]\nname = \"x\"\nwidth = 640\nheight = 360\nfps = 0\nvideo_kbps = 800\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("preset \"x\": fps 0 must be between 1 and 120"),
            "{err}"
        );

        let err = load("[[preset]]\nname = \"720p30\"\nwidth = 640\nheight = 360\nfps = 30\nvideo_kbps = 800\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("preset \"720p30\": name is already taken"),
            "{err}"
        );
    }

    #[test]
    fn typos_and_bad_toml_are_errors() {
        let err = load("[[preset]]\nname = \"x\"\nwidht = 640\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("config file test.toml line 3 is not valid: unknown field `widht`"),
            "{err}"
        );
        assert!(load("[[preset]\n").is_err());
    }

    #[test]
    fn destinations_take_a_url_or_server_and_key_and_never_show_the_key() {
        let c = load(
            r#"
            [[destination]]
            name = "twitch"
            server = "rtmp://live.twitch.tv/app"
            key = "live_123_secret"

            [[destination]]
            name = "own"
            url = "rtmps://stream.example.org:8443/live/k3y"
            ca_file = "/etc/onair/ca.pem"

            [reconnect]
            max_delay_s = 60
            max_attempts = 5
            "#,
        )
        .unwrap();
        let t = c.destination("twitch").unwrap();
        assert_eq!(t.url.to_string(), "rtmp://live.twitch.tv:1935/app/****");
        let own = c.destination("own").unwrap();
        assert_eq!((own.url.tls, own.url.port), (true, 8443));
        assert_eq!(c.reconnect.max_delay, Duration::from_secs(60));
        assert_eq!(c.reconnect.max_attempts, 5);

        let err =
            load("[[destination]]\nname = \"x\"\nserver = \"http://h/app\"\nkey = \"s3cret\"\n")
                .unwrap_err()
                .to_string();
        assert!(
            err.starts_with("config file test.toml line 1: destination \"x\": `http://h/app/****`"),
            "{err}"
        );
        assert!(!err.contains("s3cret"));
        let err = load("[[destination]]\nname = \"x\"\nserver = \"rtmp://h/app\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("give either `url`, or both `server` and `key`"),
            "{err}"
        );
        let err = load("[reconnect]\nmax_attempts = 0\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "config file test.toml line 2: [reconnect] max_attempts 0 must be between 1 and 10000"
        );
    }

    #[test]
    fn whip_destinations_and_stun_servers_load_and_never_show_the_token() {
        let c = load(
            "[[destination]]\nname = \"w\"\nwhip = \"https://h:8443/whip/k\"\ntoken = \"t0k\"\n\n\
             [[destination]]\nname = \"r\"\nurl = \"rtmp://h/app/key\"\n\n\
             [webrtc]\nstun = [\"stun:stun.example.net:3478\", \"10.0.0.1:19302\"]\n",
        )
        .unwrap();
        let w = c.whip_destination("w").unwrap();
        assert!(w.target.has_token());
        assert!(!format!("{w:?}").contains("t0k"));
        assert!(c.destination("r").is_some() && c.whip_destination("r").is_none());
        assert_eq!(c.stun_servers, ["stun.example.net:3478", "10.0.0.1:19302"]);
        let err = load("[[destination]]\nname = \"w\"\nwhip = \"https://h/x\"\nkey = \"k\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("a `whip` destination takes `token`"), "{err}");
        let err = load("[[destination]]\nname = \"w\"\nwhip = \"ftp://h/x\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("http:// or https://"), "{err}");
        let err = load("[webrtc]\nstun = [\"nohost\"]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not host:port"), "{err}");
        let err = load(
            "[[destination]]\nname = \"a\"\nwhip = \"https://h/x\"\n[[destination]]\nname = \"a\"\nurl = \"rtmp://h/app/k\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("already taken"), "{err}");
    }

    #[test]
    fn a_destination_made_in_the_window_has_its_key_stored_apart() {
        let c = load(
            "[[destination]]\nname = \"T\"\nservice = \"Twitch\"\nserver = \"rtmp://h/app\"\nid = 3\nenabled = false\n\
             [[destination]]\nname = \"W\"\nwhip = \"https://h/whip\"\nid = 4\n\
             [[destination]]\nname = \"inline\"\nserver = \"rtmp://h/app\"\nkey = \"k\"\nid = 5\n",
        )
        .unwrap();
        let t = c.stored_key_destination("T").unwrap();
        assert_eq!((t.id, t.whip), (3, false));
        assert_eq!(
            t.rtmp_url("s3cret").unwrap().to_string(),
            "rtmp://h:1935/app/****"
        );
        assert!(c.stored_key_destination("W").unwrap().whip);
        // A key in the file makes it the file's, whatever its id.
        assert!(c.destination("inline").is_some() && c.stored_key_destination("inline").is_none());
        let err = load("[[destination]]\nname = \"x\"\nserver = \"rtmp://h/a\"\nwhip = \"https://h\"\nid = 1\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "config file test.toml line 1: destination \"x\": give either `server` or `whip`"
        );
        let err = load("[[destination]]\nname = \"T\"\nserver = \"rtmp://h/a\"\nid = 1\n[[destination]]\nname = \"T\"\nurl = \"rtmp://h/a/k\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 5") && err.contains("already taken"),
            "{err}"
        );
    }

    #[test]
    fn unknown_preset_says_how_to_list_them() {
        let err = Config::builtin().preset("4k").unwrap_err().to_string();
        assert!(
            err.contains("unknown preset \"4k\"") && err.contains("onair presets"),
            "{err}"
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Any text, and config-shaped TOML with arbitrary values: a config or one error line.
        #[test]
        fn any_config_text_loads_or_is_one_error_line(
            text in "\\PC{0,200}",
            name in "\\PC{0,10}",
            number in proptest::prelude::any::<i64>(),
            url in "(rtmp://|rtmps://|)\\PC{0,30}",
            key in "\\PC{0,10}",
        ) {
            let shaped = format!(
                "[[preset]]\nname = {name:?}\nwidth = {number}\nheight = 720\nfps = {number}\n\
                 video_kbps = {number}\nkeyframe_interval_s = {number}\n\
                 [[destination]]\nname = {name:?}\nurl = {url:?}\n\
                 [[destination]]\nname = \"b\"\nserver = {url:?}\nkey = {key:?}\n\
                 [reconnect]\nmax_delay_s = {number}\nmax_attempts = {number}\n"
            );
            for text in [text.as_str(), shaped.as_str()] {
                if let Err(e) = load(text) {
                    let line = e.to_string();
                    proptest::prop_assert!(line.starts_with("config file test.toml"), "{}", line);
                    proptest::prop_assert!(!line.contains("PW"), "{}", line);
                }
            }
        }
    }
}
