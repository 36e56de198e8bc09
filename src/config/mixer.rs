//! The audio mixer as data: its sources (each with fader, mute, sync offset, mono, balance,
//! monitoring and filters), the master fader, the program limiter and monitoring. The same
//! shape in the config file (`[mixer]`, `[[mixer.source]]`, `[[mixer.source.filter]]`) and in
//! the window's settings; validated once ([`MixerSettings::validate`]) before the engine takes it.

use serde::{Deserialize, Serialize};

use crate::capture::{AudioInputKind, DesktopTarget, MicTarget};

/// Faders go from this (silence for every purpose: -100 dB) ...
pub const FADER_MIN_DB: f32 = -100.0;
/// ... to this (OBS's advanced audio properties also allow +26 dB).
pub const FADER_MAX_DB: f32 = 26.0;
/// A source's sync offset: -1000 ms (heard earlier) to +2000 ms (heard later), OBS's range
/// for a late camera and its microphone.
pub const OFFSET_MIN_MS: i32 = -1_000;
pub const OFFSET_MAX_MS: i32 = 2_000;
/// The most sources one mixer takes (each holds about 1.3 MB of delay line).
pub const MAX_SOURCES: usize = 16;
/// The most filters on one source.
pub const MAX_FILTERS: usize = 8;
/// The program limiter's ceiling by default: peaks stay at or under -1 dBFS.
pub const LIMITER_DEFAULT_DBFS: f32 = -1.0;

/// What a source is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// An audio input (its `device`: an id or part of a name from `onair devices`; empty: the
    /// system's default input).
    Microphone,
    /// What an output device plays (Linux: the PulseAudio/PipeWire monitor of the default
    /// sink, or of the sink `device` names).
    Desktop,
    /// The 1 kHz sync beep at every whole second.
    Tone,
    /// Fed by another part of the engine (a video file's sound); not openable from a config.
    External,
}

impl SourceKind {
    pub fn label(self) -> &'static str {
        match self {
            SourceKind::Microphone => "microphone",
            SourceKind::Desktop => "desktop",
            SourceKind::Tone => "tone",
            SourceKind::External => "external",
        }
    }
}

/// Whether a source is heard through the monitoring device (OBS's "audio monitoring").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Monitoring {
    /// Only in the program.
    #[default]
    Off,
    /// Only in the monitoring device, not in the program.
    MonitorOnly,
    /// In both.
    MonitorAndOutput,
}

impl Monitoring {
    pub fn label(self) -> &'static str {
        match self {
            Monitoring::Off => "off",
            Monitoring::MonitorOnly => "monitor_only",
            Monitoring::MonitorAndOutput => "monitor_and_output",
        }
    }
    pub fn to_program(self) -> bool {
        self != Monitoring::MonitorOnly
    }
    pub fn to_monitor(self) -> bool {
        self != Monitoring::Off
    }
}

/// A noise gate (OBS's): opens above `open_db`, closes below `close_db` after `hold_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NoiseGate {
    pub open_db: f32,
    pub close_db: f32,
    pub attack_ms: f32,
    pub hold_ms: f32,
    pub release_ms: f32,
}

impl NoiseGate {
    /// OBS's defaults.
    pub const DEFAULT: NoiseGate = NoiseGate {
        open_db: -26.0,
        close_db: -32.0,
        attack_ms: 25.0,
        hold_ms: 200.0,
        release_ms: 150.0,
    };
}

impl Default for NoiseGate {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A compressor (OBS's): above `threshold_db`, the level rises 1/`ratio` as fast.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Compressor {
    pub ratio: f32,
    pub threshold_db: f32,
    pub attack_ms: f32,
    pub release_ms: f32,
    pub output_db: f32,
}

impl Compressor {
    /// OBS's defaults.
    pub const DEFAULT: Compressor = Compressor {
        ratio: 10.0,
        threshold_db: -18.0,
        attack_ms: 6.0,
        release_ms: 60.0,
        output_db: 0.0,
    };
}

impl Default for Compressor {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// One filter of a source's chain, applied in the chain's order.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Filter {
    Gain {
        #[serde(default)]
        db: f32,
    },
    NoiseGate(NoiseGate),
    /// RNNoise (nnnoiseless): no parameters.
    NoiseSuppression {},
    Compressor(Compressor),
}

impl Filter {
    /// The filters one can add, with their defaults, in menu order.
    pub const ALL: [Filter; 4] = [
        Filter::Gain { db: 0.0 },
        Filter::NoiseGate(NoiseGate::DEFAULT),
        Filter::NoiseSuppression {},
        Filter::Compressor(Compressor::DEFAULT),
    ];

    /// Its name in the stats and the config file.
    pub fn kind(&self) -> &'static str {
        match self {
            Filter::Gain { .. } => "gain",
            Filter::NoiseGate(_) => "noise_gate",
            Filter::NoiseSuppression {} => "noise_suppression",
            Filter::Compressor(_) => "compressor",
        }
    }

    /// Its name in the window.
    pub fn title(&self) -> &'static str {
        match self {
            Filter::Gain { .. } => "Gain",
            Filter::NoiseGate(_) => "Noise gate",
            Filter::NoiseSuppression {} => "Noise suppression",
            Filter::Compressor(_) => "Compressor",
        }
    }

    fn validate(&self) -> Result<(), (&'static str, String)> {
        let range = |field: &'static str, v: f32, lo: f32, hi: f32| {
            if v.is_finite() && (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err((field, format!("{v} must be between {lo} and {hi}")))
            }
        };
        match *self {
            Filter::Gain { db } => range("db", db, -30.0, 30.0),
            Filter::NoiseGate(g) => {
                range("open_db", g.open_db, -96.0, 0.0)?;
                range("close_db", g.close_db, -96.0, 0.0)?;
                if g.close_db > g.open_db {
                    return Err((
                        "close_db",
                        format!("{} must not be above open_db {}", g.close_db, g.open_db),
                    ));
                }
                range("attack_ms", g.attack_ms, 0.0, 10_000.0)?;
                range("hold_ms", g.hold_ms, 0.0, 10_000.0)?;
                range("release_ms", g.release_ms, 0.0, 10_000.0)
            }
            Filter::NoiseSuppression {} => Ok(()),
            Filter::Compressor(c) => {
                range("ratio", c.ratio, 1.0, 32.0)?;
                range("threshold_db", c.threshold_db, -60.0, 0.0)?;
                range("attack_ms", c.attack_ms, 0.0, 500.0)?;
                range("release_ms", c.release_ms, 1.0, 1_000.0)?;
                range("output_db", c.output_db, -32.0, 32.0)
            }
        }
    }
}

/// One source of the mixer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSettings {
    /// Shown in the window and the stats; unique in the mixer.
    pub name: String,
    pub kind: SourceKind,
    /// Microphone: an id or part of a name (`onair devices`); desktop: a sink's name or part
    /// of its description; empty: the system's default.
    #[serde(default)]
    pub device: String,
    /// The fader, dB.
    #[serde(default)]
    pub volume_db: f32,
    #[serde(default)]
    pub muted: bool,
    /// Positive: heard later (a microphone ahead of a late camera); negative: earlier.
    #[serde(default)]
    pub sync_offset_ms: i32,
    /// Both channels as one, in both.
    #[serde(default)]
    pub mono: bool,
    /// -1 (left only) to 1 (right only); 0 leaves both as they are.
    #[serde(default)]
    pub balance: f32,
    #[serde(default)]
    pub monitoring: Monitoring,
    #[serde(default, rename = "filter", skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<Filter>,
}

impl SourceSettings {
    /// A source with everything at rest: 0 dB, not muted, no offset, no filters.
    pub fn new(name: impl Into<String>, kind: SourceKind, device: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            kind,
            device: device.into(),
            volume_db: 0.0,
            muted: false,
            sync_offset_ms: 0,
            mono: false,
            balance: 0.0,
            monitoring: Monitoring::Off,
            filters: Vec::new(),
        }
    }

    /// The device to open, for the capture module.
    pub fn input(&self) -> Option<AudioInputKind> {
        let device = self.device.trim();
        match self.kind {
            SourceKind::Tone => Some(AudioInputKind::Tone),
            SourceKind::Microphone => Some(AudioInputKind::Microphone(if device.is_empty() {
                MicTarget::Default
            } else {
                MicTarget::Name(device.to_owned())
            })),
            SourceKind::Desktop => Some(AudioInputKind::Desktop(if device.is_empty() {
                DesktopTarget::Default
            } else {
                DesktopTarget::Name(device.to_owned())
            })),
            SourceKind::External => None,
        }
    }

    /// Checks every field; on failure the field's name and what is wrong with it.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
            return Err((
                "name",
                "must be 1 to 64 characters, without control characters".into(),
            ));
        }
        if !self.volume_db.is_finite() || !(FADER_MIN_DB..=FADER_MAX_DB).contains(&self.volume_db) {
            return Err((
                "volume_db",
                format!(
                    "{} must be between {FADER_MIN_DB} and {FADER_MAX_DB}",
                    self.volume_db
                ),
            ));
        }
        if !(OFFSET_MIN_MS..=OFFSET_MAX_MS).contains(&self.sync_offset_ms) {
            return Err((
                "sync_offset_ms",
                format!(
                    "{} must be between {OFFSET_MIN_MS} and {OFFSET_MAX_MS}",
                    self.sync_offset_ms
                ),
            ));
        }
        if !self.balance.is_finite() || !(-1.0..=1.0).contains(&self.balance) {
            return Err((
                "balance",
                format!("{} must be between -1 and 1", self.balance),
            ));
        }
        if self.filters.len() > MAX_FILTERS {
            return Err((
                "filter",
                format!("at most {MAX_FILTERS} filters per source"),
            ));
        }
        for f in &self.filters {
            f.validate()?;
        }
        Ok(())
    }
}

/// The whole mixer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MixerSettings {
    /// The master fader, dB.
    pub master_db: f32,
    /// The program is silent (the master muted; meters before it go on moving).
    pub master_muted: bool,
    /// The program limiter's ceiling, dBFS: no program sample goes above it.
    pub limiter_dbfs: f32,
    /// Where monitoring is heard: an output device's id or part of its name; empty: the
    /// system's default output.
    pub monitor_device: String,
    /// Hear the program (after the limiter) through the monitoring device.
    pub monitor_program: bool,
    #[serde(rename = "source")]
    pub sources: Vec<SourceSettings>,
}

impl Default for MixerSettings {
    fn default() -> Self {
        Self {
            master_db: 0.0,
            master_muted: false,
            limiter_dbfs: LIMITER_DEFAULT_DBFS,
            monitor_device: String::new(),
            monitor_program: false,
            sources: Vec::new(),
        }
    }
}

/// What is wrong with a mixer: the source (if one), the field, the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MixerProblem {
    pub source: Option<String>,
    pub field: &'static str,
    pub problem: String,
}

impl std::fmt::Display for MixerProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.source {
            Some(s) => write!(f, "source \"{s}\": {} {}", self.field, self.problem),
            None => write!(f, "{} {}", self.field, self.problem),
        }
    }
}

impl MixerSettings {
    /// A mixer with these sources and everything else at its default.
    pub fn with_sources(sources: Vec<SourceSettings>) -> Self {
        Self {
            sources,
            ..Self::default()
        }
    }

    /// The source called `name`.
    pub fn source(&self, name: &str) -> Option<&SourceSettings> {
        self.sources.iter().find(|s| s.name == name)
    }

    pub fn source_mut(&mut self, name: &str) -> Option<&mut SourceSettings> {
        self.sources.iter_mut().find(|s| s.name == name)
    }

    /// A name not yet taken: `base`, else `base 2`, `base 3`...
    pub fn free_name(&self, base: &str) -> String {
        if self.source(base).is_none() {
            return base.to_owned();
        }
        (2..)
            .map(|n| format!("{base} {n}"))
            .find(|n| self.source(n).is_none())
            .unwrap_or_else(|| base.to_owned())
    }

    /// Checks every field of the mixer and of each source.
    pub fn validate(&self) -> Result<(), MixerProblem> {
        let top = |field, problem| MixerProblem {
            source: None,
            field,
            problem,
        };
        if !self.master_db.is_finite() || !(FADER_MIN_DB..=FADER_MAX_DB).contains(&self.master_db) {
            return Err(top(
                "master_db",
                format!(
                    "{} must be between {FADER_MIN_DB} and {FADER_MAX_DB}",
                    self.master_db
                ),
            ));
        }
        if !self.limiter_dbfs.is_finite() || !(-30.0..=0.0).contains(&self.limiter_dbfs) {
            return Err(top(
                "limiter_dbfs",
                format!("{} must be between -30 and 0", self.limiter_dbfs),
            ));
        }
        if self.sources.len() > MAX_SOURCES {
            return Err(top(
                "source",
                format!("{} sources: at most {MAX_SOURCES}", self.sources.len()),
            ));
        }
        for (i, s) in self.sources.iter().enumerate() {
            s.validate().map_err(|(field, problem)| MixerProblem {
                source: Some(s.name.clone()),
                field,
                problem,
            })?;
            if self.sources[..i].iter().any(|o| o.name == s.name) {
                return Err(MixerProblem {
                    source: Some(s.name.clone()),
                    field: "name",
                    problem: "is used by another source; give each a name of its own".into(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mixer_reads_back_as_written() {
        let text = r#"
            master_db = -2.5
            [[source]]
            name = "Mic"
            kind = "microphone"
            volume_db = -3
            sync_offset_ms = 120
            monitoring = "monitor_and_output"
            [[source.filter]]
            type = "noise_suppression"
            [[source.filter]]
            type = "compressor"
            ratio = 4
            [[source]]
            name = "Desktop Audio"
            kind = "desktop"
            muted = true
        "#;
        let m: MixerSettings = toml::from_str(text).unwrap();
        m.validate().unwrap();
        assert_eq!(m.master_db, -2.5);
        assert_eq!(m.limiter_dbfs, -1.0);
        let mic = m.source("Mic").unwrap();
        assert_eq!(mic.sync_offset_ms, 120);
        assert_eq!(mic.monitoring, Monitoring::MonitorAndOutput);
        assert_eq!(mic.filters[0], Filter::NoiseSuppression {});
        let Filter::Compressor(c) = mic.filters[1] else {
            panic!("{:?}", mic.filters[1]);
        };
        assert_eq!((c.ratio, c.threshold_db), (4.0, -18.0));
        assert!(m.source("Desktop Audio").unwrap().muted);
        let again: MixerSettings = toml::from_str(&toml::to_string(&m).unwrap()).unwrap();
        assert_eq!(again, m);
    }

    #[test]
    fn bad_values_name_their_source_and_field() {
        let mut m = MixerSettings::with_sources(vec![SourceSettings::new(
            "Mic",
            SourceKind::Microphone,
            "",
        )]);
        m.sources[0].sync_offset_ms = 2_500;
        assert_eq!(
            m.validate().unwrap_err().to_string(),
            "source \"Mic\": sync_offset_ms 2500 must be between -1000 and 2000"
        );
        m.sources[0].sync_offset_ms = -1_000;
        m.sources[0].filters.push(Filter::NoiseGate(NoiseGate {
            open_db: -40.0,
            close_db: -30.0,
            ..NoiseGate::default()
        }));
        assert!(m.validate().unwrap_err().to_string().contains("close_db"));
        m.sources[0].filters.clear();
        m.sources.push(m.sources[0].clone());
        assert!(
            m.validate()
                .unwrap_err()
                .to_string()
                .contains("another source")
        );
        m.sources.pop();
        m.master_db = f32::NAN;
        assert!(
            m.validate()
                .unwrap_err()
                .to_string()
                .starts_with("master_db")
        );
        for bad in [
            "[[source]]\nname = \"x\"\nkind = \"camera\"",
            "[[source]]\nname = \"x\"\nkind = \"tone\"\nvolume = 3",
            "[[source]]\nname = \"x\"\nkind = \"tone\"\n[[source.filter]]\ntype = \"reverb\"",
        ] {
            assert!(toml::from_str::<MixerSettings>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn free_names_count_up() {
        let mut m = MixerSettings::default();
        assert_eq!(m.free_name("Mic"), "Mic");
        m.sources
            .push(SourceSettings::new("Mic", SourceKind::Microphone, ""));
        m.sources
            .push(SourceSettings::new("Mic 2", SourceKind::Microphone, ""));
        assert_eq!(m.free_name("Mic"), "Mic 3");
    }
}
