//! Scenes and sources as data: what the studio ([`super::studio`]) opens and draws.
//!
//! A [`Collection`] holds named sources, each opened once however many scenes show it, and
//! named scenes, each an ordered list of layers (bottom first). Values here are validated
//! (names unique, every layer's source known, sizes at least 2 px); the config file builds
//! them, the built-in collection stands in when it has none.

use std::path::PathBuf;

use super::{CameraTarget, Corner, PipLayout, ScreenTarget};
use crate::media::MediaTime;

/// An RGBA colour, straight (not premultiplied) alpha.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgba(pub [u8; 4]);

impl Rgba {
    pub const WHITE: Rgba = Rgba([255, 255, 255, 255]);

    /// `#RRGGBB` or `#RRGGBBAA`.
    pub fn parse(s: &str) -> Option<Rgba> {
        let hex = s.strip_prefix('#')?;
        if !(hex.len() == 6 || hex.len() == 8) || !hex.is_ascii() {
            return None;
        }
        let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
        let a = if hex.len() == 8 { byte(6)? } else { 255 };
        Some(Rgba([byte(0)?, byte(2)?, byte(4)?, a]))
    }
}

/// Where a text's lines sit against each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Align {
    #[default]
    Left,
    Center,
    Right,
}

/// A text source: its words (with live fields), font size and colours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextSpec {
    /// The text; `{clock}` is the local time (HH:MM:SS), `{elapsed}` the program's time,
    /// `{countdown}` what is left of [`TextSpec::countdown`] (MM:SS, H:MM:SS from an hour).
    pub text: String,
    /// Font size in program pixels (the height of a line).
    pub size: u32,
    pub colour: Rgba,
    /// A box behind the text (with a margin of a quarter of the size), if any.
    pub background: Option<Rgba>,
    /// A line around the letters: its colour and width in pixels (1 to 50).
    pub outline: Option<(Rgba, u32)>,
    /// `{countdown}`'s length: it starts each time the text comes onto the program (as
    /// OBS's countdown script does) and stops at 00:00.
    pub countdown: Option<MediaTime>,
    pub align: Align,
}

impl TextSpec {
    /// Plain text of `size` in `colour`: no box, no outline, no countdown, left-aligned.
    pub fn plain(text: &str, size: u32, colour: Rgba) -> TextSpec {
        TextSpec {
            text: text.into(),
            size,
            colour,
            background: None,
            outline: None,
            countdown: None,
            align: Align::Left,
        }
    }
}

/// What a source shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    /// A monitor or a window.
    Screen(ScreenTarget),
    Camera(CameraTarget),
    /// The moving test pattern at the program's size.
    Test,
    /// A still picture (PNG, JPEG, WebP, GIF's first frame), alpha kept.
    Image(PathBuf),
    /// One colour (alpha allowed), as large as its layer.
    Colour(Rgba),
    Text(TextSpec),
    /// An MP4 of H.264 and AAC played in a loop; its sound joins the mixer.
    Video(PathBuf),
}

impl SourceKind {
    /// The kind's name as the config file spells it.
    pub fn name(&self) -> &'static str {
        match self {
            SourceKind::Screen(ScreenTarget::Monitor(_)) => "screen",
            SourceKind::Screen(ScreenTarget::Window(_)) => "window",
            SourceKind::Camera(_) => "camera",
            SourceKind::Test => "test",
            SourceKind::Image(_) => "image",
            SourceKind::Colour(_) => "colour",
            SourceKind::Text(_) => "text",
            SourceKind::Video(_) => "video",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub name: String,
    pub kind: SourceKind,
}

/// How a source's picture fills its layer's box.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fit {
    /// Whole picture, aspect kept, centred; what it does not cover shows the layers below.
    #[default]
    Fit,
    /// The box covered, aspect kept, the overflow cut off (centred).
    Fill,
    /// The box covered, aspect not kept.
    Stretch,
}

/// Pixels cut off each side of the source's picture (in the source's pixels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Crop {
    pub left: u32,
    pub top: u32,
    pub right: u32,
    pub bottom: u32,
}

/// One source in a scene, placed in program pixels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// Index into [`Collection::sources`].
    pub source: usize,
    /// Top-left corner in program pixels (may be off the picture; what is outside is cut).
    pub x: i32,
    pub y: i32,
    /// The box's size; `None`: the source's own size (images, text), else the program's.
    pub size: Option<(u32, u32)>,
    pub crop: Crop,
    pub fit: Fit,
    pub visible: bool,
}

impl Layer {
    /// A layer showing `source` over the whole program.
    pub fn full(source: usize) -> Layer {
        Layer {
            source,
            x: 0,
            y: 0,
            size: None,
            crop: Crop::default(),
            fit: Fit::Fit,
            visible: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scene {
    pub name: String,
    /// Bottom first.
    pub layers: Vec<Layer>,
}

/// How the program goes from one scene to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Cut,
    /// The two scenes mixed frame by frame over this long.
    Fade(MediaTime),
}

impl Transition {
    /// OBS's default: a fade of 300 ms.
    pub const DEFAULT: Transition = Transition::Fade(MediaTime::from_millis(300));
    /// The longest fade accepted.
    pub const MAX_FADE: MediaTime = MediaTime::from_secs(10);
}

impl std::fmt::Display for Transition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transition::Cut => write!(f, "cut"),
            Transition::Fade(d) => write!(f, "fade {} ms", d.as_nanos() / 1_000_000),
        }
    }
}

/// Sources and scenes, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collection {
    pub sources: Vec<Source>,
    pub scenes: Vec<Scene>,
    /// What a scene switch does unless told otherwise.
    pub transition: Transition,
    /// Made by onair (no `[[scenes]]` in the config file).
    pub builtin: bool,
}

/// What is wrong with a collection, in the words of the config file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{place}: {field} {problem}")]
pub struct SceneProblem {
    /// `source "logo"`, `scene "Live" layer 2 (source "logo")`, `[transition]`.
    pub place: String,
    pub field: &'static str,
    pub problem: String,
}

impl Collection {
    /// Program pixels that visible screen or window layers of scene `index` cover (overlaps
    /// counted twice, boxes clipped to the program), in a program of `width` x `height`.
    pub fn screen_area(&self, index: usize, width: u32, height: u32) -> u64 {
        let Some(scene) = self.scenes.get(index) else {
            return 0;
        };
        scene
            .layers
            .iter()
            .filter(|l| {
                l.visible
                    && self
                        .sources
                        .get(l.source)
                        .is_some_and(|s| matches!(s.kind, SourceKind::Screen(_)))
            })
            .map(|l| {
                let (w, h) = l.size.unwrap_or((width, height));
                let span = |at: i32, len: u32, limit: u32| {
                    let start = i64::from(at).clamp(0, i64::from(limit));
                    let end = (i64::from(at) + i64::from(len)).clamp(0, i64::from(limit));
                    (end - start) as u64
                };
                span(l.x, w, width) * span(l.y, h, height)
            })
            .sum()
    }

    pub fn scene(&self, name: &str) -> Option<usize> {
        self.scenes.iter().position(|s| s.name == name)
    }

    pub fn source(&self, name: &str) -> Option<usize> {
        self.sources.iter().position(|s| s.name == name)
    }

    /// The scene names, comma-separated (for messages).
    pub fn scene_names(&self) -> String {
        let names: Vec<&str> = self.scenes.iter().map(|s| s.name.as_str()).collect();
        names.join(", ")
    }

    /// Only `scene`, and the sources it shows (the built-in collection opens no device that
    /// the chosen scene does not show).
    pub fn only(&self, scene: usize) -> Collection {
        let mut sources = Vec::new();
        let mut map = vec![None; self.sources.len()];
        let mut layers = self.scenes[scene].layers.clone();
        for layer in &mut layers {
            let new = *map[layer.source].get_or_insert_with(|| {
                sources.push(self.sources[layer.source].clone());
                sources.len() - 1
            });
            layer.source = new;
        }
        Collection {
            sources,
            scenes: vec![Scene {
                name: self.scenes[scene].name.clone(),
                layers,
            }],
            transition: self.transition,
            builtin: self.builtin,
        }
    }

    /// The scenes of today's `--video` choices: `test`, `screen`, `camera` and
    /// `screen+camera` (the camera at a quarter of the width, bottom right), for a program of
    /// `width` x `height`.
    pub fn builtin(width: u32, height: u32) -> Collection {
        let pip = super::compose::Compositor::pip_rect(width, height, PipLayout::default());
        let source = |name: &str, kind| Source {
            name: name.into(),
            kind,
        };
        let pip_layer = Layer {
            x: pip.x as i32,
            y: pip.y as i32,
            size: Some((pip.w, pip.h)),
            ..Layer::full(2)
        };
        debug_assert_eq!(PipLayout::default().corner, Corner::BottomRight);
        Collection {
            sources: vec![
                source("test pattern", SourceKind::Test),
                source("screen 0", SourceKind::Screen(ScreenTarget::Monitor(0))),
                source("camera 0", SourceKind::Camera(CameraTarget::Index(0))),
            ],
            scenes: vec![
                Scene {
                    name: "test".into(),
                    layers: vec![Layer::full(0)],
                },
                Scene {
                    name: "screen".into(),
                    layers: vec![Layer::full(1)],
                },
                Scene {
                    name: "camera".into(),
                    layers: vec![Layer::full(2)],
                },
                Scene {
                    name: "screen+camera".into(),
                    layers: vec![Layer::full(1), pip_layer],
                },
            ],
            transition: Transition::DEFAULT,
            builtin: true,
        }
    }

    /// Checks what the types cannot: unique non-empty names, known sources, sizes.
    pub fn validate(&self) -> Result<(), SceneProblem> {
        for (i, s) in self.sources.iter().enumerate() {
            let place = || format!("source \"{}\"", s.name);
            let bad = |field, problem: String| SceneProblem {
                place: place(),
                field,
                problem,
            };
            if s.name.trim().is_empty() {
                return Err(SceneProblem {
                    place: format!("source {}", i + 1),
                    field: "name",
                    problem: "is empty; give every source a name".into(),
                });
            }
            if self.sources[..i].iter().any(|o| o.name == s.name) {
                return Err(bad("name", "is taken by another source".into()));
            }
            if let SourceKind::Text(t) = &s.kind {
                if !(4..=1000).contains(&t.size) {
                    return Err(bad("size", format!("{} must be 4 to 1000 pixels", t.size)));
                }
                if let Some((_, w)) = t.outline
                    && !(1..=50).contains(&w)
                {
                    return Err(bad("outline_width", format!("{w} must be 1 to 50 pixels")));
                }
                if let Some(d) = t.countdown
                    && !(MediaTime::from_secs(1) <= d && d <= MediaTime::from_secs(86_400))
                {
                    return Err(bad("countdown", "must be 1 second to 24 hours".into()));
                }
                if t.text.chars().count() > 1000 {
                    return Err(bad("text", "is longer than 1000 characters".into()));
                }
            }
        }
        if self.scenes.is_empty() {
            return Err(SceneProblem {
                place: "[[scenes]]".into(),
                field: "scenes",
                problem: "are missing; add at least one scene".into(),
            });
        }
        for (i, scene) in self.scenes.iter().enumerate() {
            let at = format!("scene \"{}\"", scene.name);
            if scene.name.trim().is_empty() {
                return Err(SceneProblem {
                    place: format!("scene {}", i + 1),
                    field: "name",
                    problem: "is empty; give every scene a name".into(),
                });
            }
            if self.scenes[..i].iter().any(|o| o.name == scene.name) {
                return Err(SceneProblem {
                    place: at,
                    field: "name",
                    problem: "is taken by another scene".into(),
                });
            }
            for (j, layer) in scene.layers.iter().enumerate() {
                let Some(source) = self.sources.get(layer.source) else {
                    return Err(SceneProblem {
                        place: format!("{at} layer {}", j + 1),
                        field: "source",
                        problem: "is unknown".into(),
                    });
                };
                let place = format!("{at} layer {} (source \"{}\")", j + 1, source.name);
                if let Some((w, h)) = layer.size
                    && (w < 2 || h < 2 || w > 16_384 || h > 16_384)
                {
                    return Err(SceneProblem {
                        place,
                        field: "width/height",
                        problem: format!("{w}x{h} must be 2 to 16384 pixels each"),
                    });
                }
                let c = layer.crop;
                if [c.left, c.top, c.right, c.bottom]
                    .iter()
                    .any(|&v| v > 16_384)
                {
                    return Err(SceneProblem {
                        place,
                        field: "crop",
                        problem: "must be at most 16384 pixels a side".into(),
                    });
                }
                if layer.x.unsigned_abs() > 32_768 || layer.y.unsigned_abs() > 32_768 {
                    return Err(SceneProblem {
                        place,
                        field: "x/y",
                        problem: "must be within ±32768 pixels".into(),
                    });
                }
            }
        }
        if let Transition::Fade(d) = self.transition
            && !(MediaTime::ZERO < d && d <= Transition::MAX_FADE)
        {
            return Err(SceneProblem {
                place: "[transition]".into(),
                field: "duration_ms",
                problem: "must be 1 to 10000".into(),
            });
        }
        Ok(())
    }
}

/// Parses a switch command as the headless `broadcast` reads it on standard input:
/// `scene NAME` (the collection's transition), `cut NAME`, `fade MS NAME`.
pub fn parse_command(line: &str) -> Result<(String, Option<Transition>), String> {
    let line = line.trim();
    let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let rest = rest.trim();
    let need_name = |name: &str| {
        if name.is_empty() {
            Err(format!("\"{line}\": which scene? e.g. `scene Live`"))
        } else {
            Ok(name.to_owned())
        }
    };
    match word {
        "scene" => Ok((need_name(rest)?, None)),
        "cut" => Ok((need_name(rest)?, Some(Transition::Cut))),
        "fade" => {
            let (ms, name) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            let ms: i64 = ms
                .parse()
                .ok()
                .filter(|ms| (1..=10_000).contains(ms))
                .ok_or_else(|| {
                    format!("\"{line}\": fade takes 1 to 10000 ms, e.g. `fade 500 Live`")
                })?;
            Ok((
                need_name(name.trim())?,
                Some(Transition::Fade(MediaTime::from_millis(ms))),
            ))
        }
        _ => Err(format!(
            "\"{line}\" is not a command; use `scene NAME`, `cut NAME` or `fade MS NAME`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_parse_or_refuse() {
        assert_eq!(Rgba::parse("#ff8000"), Some(Rgba([255, 128, 0, 255])));
        assert_eq!(Rgba::parse("#FF800080"), Some(Rgba([255, 128, 0, 128])));
        for bad in ["ff8000", "#ff80", "#gg0000", "#ff8000801", "#ééé"] {
            assert_eq!(Rgba::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn commands_parse() {
        assert_eq!(
            parse_command("scene Be right back\n").unwrap(),
            ("Be right back".into(), None)
        );
        assert_eq!(
            parse_command("cut Live").unwrap(),
            ("Live".into(), Some(Transition::Cut))
        );
        assert_eq!(
            parse_command("fade 500 Live").unwrap(),
            (
                "Live".into(),
                Some(Transition::Fade(MediaTime::from_millis(500)))
            )
        );
        for bad in [
            "",
            "scene",
            "fade Live",
            "fade 0 Live",
            "fade 500",
            "jump Live",
        ] {
            assert!(parse_command(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn builtin_scenes_are_valid_and_only_keeps_what_a_scene_shows() {
        let c = Collection::builtin(1280, 720);
        c.validate().unwrap();
        let names: Vec<_> = c.scenes.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["test", "screen", "camera", "screen+camera"]);
        let one = c.only(3);
        assert_eq!(one.sources.len(), 2);
        assert_eq!(one.scenes[0].layers[1].source, 1);
        assert_eq!(one.sources[1].kind.name(), "camera");
        one.validate().unwrap();
    }

    #[test]
    fn problems_name_the_scene_layer_and_field() {
        let mut c = Collection::builtin(1280, 720);
        c.scenes[3].layers[1].size = Some((0, 10));
        let e = c.validate().unwrap_err().to_string();
        assert_eq!(
            e,
            "scene \"screen+camera\" layer 2 (source \"camera 0\"): width/height 0x10 must be 2 to 16384 pixels each"
        );
        let mut c = Collection::builtin(1280, 720);
        c.scenes[1].name = "test".into();
        assert!(c.validate().unwrap_err().to_string().contains("taken"));
    }
}
