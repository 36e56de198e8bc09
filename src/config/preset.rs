//! Bitrate presets: size, frame rate, bitrates and keyframe interval, as data.

use serde::{Deserialize, Serialize};

use crate::media::{MediaTime, Timebase};

/// A validated preset. Construct through [`PresetSpec::validate`] or the built-in table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Preset {
    pub name: String,
    pub width: u32,
    pub height: u32,
    /// Frames per second (whole numbers: every streaming service asks for 24/25/30/50/60).
    pub fps: u32,
    pub video_kbps: u32,
    pub audio_kbps: u32,
    /// Seconds between keyframes (2 s is what Twitch, YouTube and Facebook ask for).
    pub keyframe_interval_s: u32,
    pub builtin: bool,
}

impl Preset {
    /// One frame interval as a timebase: `1/fps` seconds.
    pub fn frame_timebase(&self) -> Timebase {
        Timebase::per_second(self.fps)
    }
    pub fn frame_interval(&self) -> MediaTime {
        self.frame_timebase().ticks_to_time(1)
    }
    /// Frames between keyframes.
    pub fn keyframe_interval_frames(&self) -> u32 {
        self.fps * self.keyframe_interval_s
    }
}

/// A preset as written in the config file, before validation.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PresetSpec {
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub video_kbps: u32,
    #[serde(default = "default_audio_kbps")]
    pub audio_kbps: u32,
    #[serde(default = "default_keyframe_interval_s")]
    pub keyframe_interval_s: u32,
}

fn default_audio_kbps() -> u32 {
    160
}
fn default_keyframe_interval_s() -> u32 {
    2
}

/// Limits a preset must respect. OpenH264 encodes up to 3840x2160 (level 5.2).
pub const MAX_WIDTH: u32 = 3840;
pub const MAX_HEIGHT: u32 = 2160;
pub const MIN_SIDE: u32 = 16;

impl PresetSpec {
    /// Checks every field; on failure returns the field's name and what is wrong with it.
    pub fn validate(&self, existing: &[Preset]) -> Result<Preset, (&'static str, String)> {
        let name = self.name.trim();
        if name.is_empty() {
            return Err(("name", "must not be empty".into()));
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err((
                "name",
                "may use only letters, digits, '-', '_' and '.'".into(),
            ));
        }
        if existing.iter().any(|p| p.name == name) {
            return Err(("name", "is already taken; choose another".into()));
        }
        check_side("width", self.width, MAX_WIDTH)?;
        check_side("height", self.height, MAX_HEIGHT)?;
        check_range("fps", self.fps, 1, 120)?;
        check_range("video_kbps", self.video_kbps, 100, 50_000)?;
        check_range("audio_kbps", self.audio_kbps, 32, 320)?;
        check_range("keyframe_interval_s", self.keyframe_interval_s, 1, 10)?;
        Ok(Preset {
            name: name.to_owned(),
            width: self.width,
            height: self.height,
            fps: self.fps,
            video_kbps: self.video_kbps,
            audio_kbps: self.audio_kbps,
            keyframe_interval_s: self.keyframe_interval_s,
            builtin: false,
        })
    }
}

fn check_side(field: &'static str, v: u32, max: u32) -> Result<(), (&'static str, String)> {
    if !v.is_multiple_of(2) {
        return Err((field, format!("{v} must be even")));
    }
    check_range(field, v, MIN_SIDE, max)
}

fn check_range(
    field: &'static str,
    v: u32,
    lo: u32,
    hi: u32,
) -> Result<(), (&'static str, String)> {
    if v < lo || v > hi {
        return Err((field, format!("{v} must be between {lo} and {hi}")));
    }
    Ok(())
}

/// A built-in preset, as a const row.
pub struct BuiltinPreset {
    pub name: &'static str,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub video_kbps: u32,
    pub audio_kbps: u32,
    pub keyframe_interval_s: u32,
}

impl BuiltinPreset {
    pub fn to_preset(&self) -> Preset {
        Preset {
            name: self.name.to_owned(),
            width: self.width,
            height: self.height,
            fps: self.fps,
            video_kbps: self.video_kbps,
            audio_kbps: self.audio_kbps,
            keyframe_interval_s: self.keyframe_interval_s,
            builtin: true,
        }
    }
}

/// The preset used when none is named.
pub const DEFAULT_PRESET: &str = "720p30";

/// Twitch's recommended ladder (REFERENCE.md), 160 kbit/s AAC as OBS's default, 2 s keyframes.
pub const BUILTIN_PRESETS: &[BuiltinPreset] = &[
    BuiltinPreset {
        name: "480p30",
        width: 854,
        height: 480,
        fps: 30,
        video_kbps: 1000,
        audio_kbps: 128,
        keyframe_interval_s: 2,
    },
    BuiltinPreset {
        name: "720p30",
        width: 1280,
        height: 720,
        fps: 30,
        video_kbps: 3000,
        audio_kbps: 160,
        keyframe_interval_s: 2,
    },
    BuiltinPreset {
        name: "720p60",
        width: 1280,
        height: 720,
        fps: 60,
        video_kbps: 4500,
        audio_kbps: 160,
        keyframe_interval_s: 2,
    },
    BuiltinPreset {
        name: "1080p30",
        width: 1920,
        height: 1080,
        fps: 30,
        video_kbps: 4500,
        audio_kbps: 160,
        keyframe_interval_s: 2,
    },
    BuiltinPreset {
        name: "1080p60",
        width: 1920,
        height: 1080,
        fps: 60,
        video_kbps: 6000,
        audio_kbps: 160,
        keyframe_interval_s: 2,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    /// The built-in table passes the same validation as user presets (OBS checks its
    /// services.json against a schema the same way).
    #[test]
    fn builtins_are_valid_and_unique() {
        let mut seen: Vec<Preset> = Vec::new();
        for b in BUILTIN_PRESETS {
            let spec = PresetSpec {
                name: b.name.into(),
                width: b.width,
                height: b.height,
                fps: b.fps,
                video_kbps: b.video_kbps,
                audio_kbps: b.audio_kbps,
                keyframe_interval_s: b.keyframe_interval_s,
            };
            let p = spec
                .validate(&seen)
                .unwrap_or_else(|e| panic!("{}: {e:?}", b.name));
            seen.push(p);
        }
        assert!(seen.iter().any(|p| p.name == DEFAULT_PRESET));
    }

    #[test]
    fn frame_interval_is_exact() {
        let p = BUILTIN_PRESETS[1].to_preset();
        assert_eq!(p.frame_interval().as_nanos(), 33_333_333);
        assert_eq!(p.keyframe_interval_frames(), 60);
    }
}
