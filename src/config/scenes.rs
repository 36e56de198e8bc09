//! `[[sources]]`, `[[scenes]]` (with `[[scenes.layers]]`) and `[transition]` in the config
//! file, validated into a [`Collection`].

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::capture::scene::{
    Align, Collection, Crop, Fit, Layer, Rgba, Scene, SceneProblem, Source, SourceKind, TextSpec,
    Transition,
};
use crate::capture::{CameraTarget, ScreenTarget};
use crate::media::MediaTime;

/// A `[[sources]]` table (the window edits these as they are written).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SourceFile {
    pub name: String,
    /// screen, window, camera, test, image, video, colour, text.
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monitor: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub camera: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    #[serde(alias = "color", skip_serializing_if = "Option::is_none")]
    pub colour: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub background: Option<String>,
    /// The outline's colour (text), and its width in pixels (default 2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outline: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outline_width: Option<u32>,
    /// `{countdown}`'s length (text): `MM:SS`, `H:MM:SS` or seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub countdown: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub align: Option<String>,
}

/// A `[[scenes]]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SceneFile {
    pub name: String,
    #[serde(default)]
    pub layers: Vec<LayerFile>,
}

/// A `[[scenes.layers]]` table, bottom layer first.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LayerFile {
    pub source: String,
    #[serde(default)]
    pub x: i32,
    #[serde(default)]
    pub y: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(default)]
    pub crop: CropFile,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fit: Option<String>,
    #[serde(default = "yes")]
    pub visible: bool,
    /// Locked in the window's editor (not moved by a click or a drag); the program ignores it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub locked: bool,
}

impl LayerFile {
    /// A layer showing `source` at the source's own size (the program's for devices).
    pub fn new(source: &str) -> LayerFile {
        LayerFile {
            source: source.to_owned(),
            x: 0,
            y: 0,
            width: None,
            height: None,
            crop: CropFile::default(),
            fit: None,
            visible: true,
            locked: false,
        }
    }
}

fn yes() -> bool {
    true
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CropFile {
    #[serde(default)]
    pub left: u32,
    #[serde(default)]
    pub top: u32,
    #[serde(default)]
    pub right: u32,
    #[serde(default)]
    pub bottom: u32,
}

/// The `[transition]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TransitionFile {
    /// cut or fade (default fade).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The fade's length (default 300).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<i64>,
}

fn problem(place: String, field: &'static str, problem: impl Into<String>) -> SceneProblem {
    SceneProblem {
        place,
        field,
        problem: problem.into(),
    }
}

fn colour(place: &str, field: &'static str, s: &str) -> Result<Rgba, SceneProblem> {
    Rgba::parse(s).ok_or_else(|| {
        problem(
            place.to_owned(),
            field,
            format!("\"{s}\" is not a colour; write #RRGGBB or #RRGGBBAA"),
        )
    })
}

impl SourceFile {
    fn validate(self, base: &Path) -> Result<Source, SceneProblem> {
        let place = format!("source \"{}\"", self.name);
        let missing =
            |field, what: &str| problem(place.clone(), field, format!("is missing; {what}"));
        let kind = match self.kind.as_str() {
            "screen" => SourceKind::Screen(ScreenTarget::Monitor(self.monitor.unwrap_or(0))),
            "window" => {
                SourceKind::Screen(ScreenTarget::Window(self.window.ok_or_else(|| {
                    missing("window", "give the window's id or part of its title")
                })?))
            }
            "camera" => SourceKind::Camera(match self.camera {
                None => CameraTarget::Index(0),
                Some(c) => match c.parse() {
                    Ok(i) => CameraTarget::Index(i),
                    Err(_) => CameraTarget::Name(c),
                },
            }),
            "test" => SourceKind::Test,
            "image" => {
                let path = self.path.ok_or_else(|| {
                    missing("path", "give the image file (PNG, JPEG, WebP or GIF)")
                })?;
                SourceKind::Image(if path.is_absolute() {
                    path
                } else {
                    base.join(path)
                })
            }
            "video" => {
                let path = self.path.ok_or_else(|| {
                    missing("path", "give the video file (an MP4 of H.264 and AAC)")
                })?;
                SourceKind::Video(if path.is_absolute() {
                    path
                } else {
                    base.join(path)
                })
            }
            "colour" | "color" => SourceKind::Colour(colour(
                &place,
                "colour",
                self.colour
                    .as_deref()
                    .ok_or_else(|| missing("colour", "write #RRGGBB or #RRGGBBAA"))?,
            )?),
            "text" => SourceKind::Text(TextSpec {
                text: self
                    .text
                    .ok_or_else(|| missing("text", "give the words to show"))?,
                size: self.size.unwrap_or(48),
                colour: match &self.colour {
                    Some(c) => colour(&place, "colour", c)?,
                    None => Rgba::WHITE,
                },
                background: self
                    .background
                    .as_deref()
                    .map(|c| colour(&place, "background", c))
                    .transpose()?,
                outline: match (&self.outline, self.outline_width) {
                    (Some(c), w) => Some((colour(&place, "outline", c)?, w.unwrap_or(2))),
                    (None, None) => None,
                    (None, Some(_)) => {
                        return Err(problem(place, "outline", "is missing; give its colour"));
                    }
                },
                countdown: self
                    .countdown
                    .as_deref()
                    .map(|c| {
                        parse_duration(c).ok_or_else(|| {
                            problem(
                                place.clone(),
                                "countdown",
                                format!("\"{c}\" is not a length; write MM:SS, H:MM:SS or seconds"),
                            )
                        })
                    })
                    .transpose()?,
                align: match self.align.as_deref() {
                    None | Some("left") => Align::Left,
                    Some("center" | "centre") => Align::Center,
                    Some("right") => Align::Right,
                    Some(other) => {
                        return Err(problem(
                            place,
                            "align",
                            format!("\"{other}\" is not left, center or right"),
                        ));
                    }
                },
            }),
            other => {
                return Err(problem(
                    place,
                    "kind",
                    format!(
                        "\"{other}\" is not a source kind; use screen, window, camera, test, \
                         image, video, colour or text"
                    ),
                ));
            }
        };
        Ok(Source {
            name: self.name,
            kind,
        })
    }
}

/// `SS`, `MM:SS` or `H:MM:SS` (each part a whole number).
fn parse_duration(s: &str) -> Option<MediaTime> {
    let parts: Vec<&str> = s.trim().split(':').collect();
    if parts.len() > 3 {
        return None;
    }
    let mut secs: i64 = 0;
    for (i, p) in parts.iter().enumerate() {
        let v: i64 = p.trim().parse().ok()?;
        if v < 0 || (i > 0 && v >= 60) {
            return None;
        }
        secs = secs.checked_mul(60)?.checked_add(v)?;
    }
    (secs <= 86_400).then(|| MediaTime::from_secs(secs))
}

/// Builds and checks the collection; `base` is the config file's folder (image paths are
/// relative to it).
pub fn collection(
    sources: Vec<SourceFile>,
    scenes: Vec<SceneFile>,
    transition: Option<TransitionFile>,
    base: &Path,
) -> Result<Collection, SceneProblem> {
    let sources = sources
        .into_iter()
        .map(|s| s.validate(base))
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = Collection {
        sources,
        scenes: Vec::new(),
        transition: Transition::DEFAULT,
        builtin: false,
    };
    for scene in scenes {
        let mut layers = Vec::new();
        for (i, l) in scene.layers.into_iter().enumerate() {
            let place = format!(
                "scene \"{}\" layer {} (source \"{}\")",
                scene.name,
                i + 1,
                l.source
            );
            let source = out.source(&l.source).ok_or_else(|| {
                problem(
                    place.clone(),
                    "source",
                    "is not one of the [[sources]]; add it there or fix the name",
                )
            })?;
            let size = match (l.width, l.height) {
                (Some(w), Some(h)) => Some((w, h)),
                (None, None) => None,
                _ => {
                    return Err(problem(place, "width/height", "give both, or neither"));
                }
            };
            let fit = match l.fit.as_deref() {
                None | Some("fit") => Fit::Fit,
                Some("fill") => Fit::Fill,
                Some("stretch") => Fit::Stretch,
                Some(other) => {
                    return Err(problem(
                        place,
                        "fit",
                        format!("\"{other}\" is not fit, fill or stretch"),
                    ));
                }
            };
            let c = l.crop;
            layers.push(Layer {
                source,
                x: l.x,
                y: l.y,
                size,
                crop: Crop {
                    left: c.left,
                    top: c.top,
                    right: c.right,
                    bottom: c.bottom,
                },
                fit,
                visible: l.visible,
            });
        }
        out.scenes.push(Scene {
            name: scene.name,
            layers,
        });
    }
    if let Some(t) = transition {
        let ms = t.duration_ms.unwrap_or(300);
        out.transition = match t.kind.as_deref() {
            None | Some("fade") => {
                if !(1..=10_000).contains(&ms) {
                    return Err(problem(
                        "[transition]".into(),
                        "duration_ms",
                        format!("{ms} must be 1 to 10000"),
                    ));
                }
                Transition::Fade(MediaTime::from_millis(ms))
            }
            Some("cut") => Transition::Cut,
            Some(other) => {
                return Err(problem(
                    "[transition]".into(),
                    "kind",
                    format!("\"{other}\" is not cut or fade"),
                ));
            }
        };
    }
    out.validate()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countdown_lengths_parse() {
        assert_eq!(parse_duration("5:00"), Some(MediaTime::from_secs(300)));
        assert_eq!(parse_duration("1:30:00"), Some(MediaTime::from_secs(5400)));
        assert_eq!(parse_duration("90"), Some(MediaTime::from_secs(90)));
        for bad in ["", "5:60", "a:00", "-1", "1:2:3:4", "25:00:00"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
