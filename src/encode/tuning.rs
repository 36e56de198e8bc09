//! How OpenH264 is set up beyond the preset: profile and entropy coding, the content kind
//! (camera or screen tools), effort, references, background detection, deblocking, and who
//! holds the bitrate. (Adaptive quantization is not among them: OpenH264 2.7 turns it off
//! whatever it is asked, encoder_ext.cpp's ParamValidation.) The defaults are what `BENCHMARKS.md` (section
//! "Picture quality") measured to pay; `onair bench --quality --tune ...` tries the others.

use std::fmt;
use std::str::FromStr;

/// H.264 profile. Main and High code with CABAC (OpenH264 forces CAVLC in Baseline); OpenH264
/// has no 8x8 transform, so High codes as Main does and only the SPS differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum H264Profile {
    Baseline,
    Main,
    High,
}

/// Which of OpenH264's tool sets: camera (natural pictures) or screen content (text,
/// windows: its screen tools and their own rate control).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentKind {
    Camera,
    Screen,
}

/// OpenH264's effort.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effort {
    Low,
    Medium,
    High,
}

/// Who holds the bitrate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateControl {
    /// OpenH264's own bitrate mode (frame skipping off), as onair did before.
    OpenH264,
    /// onair's: OpenH264 at a QP chosen per frame so that every 2 s stays within the preset
    /// (see [`super::ratecontrol`]).
    Window,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoTuning {
    pub profile: H264Profile,
    pub content: ContentKind,
    pub effort: Effort,
    /// Reference frames (1-16).
    pub ref_frames: u8,
    pub long_term_refs: bool,
    /// Camera content only (OpenH264 turns it off for screen content).
    pub background_detection: bool,
    pub deblocking: bool,
    pub rate_control: RateControl,
}

impl Default for VideoTuning {
    fn default() -> Self {
        Self {
            profile: H264Profile::Main,
            content: ContentKind::Camera,
            effort: Effort::Medium,
            ref_frames: 1,
            long_term_refs: false,
            background_detection: true,
            deblocking: true,
            rate_control: RateControl::Window,
        }
    }
}

impl VideoTuning {
    /// The settings for a video source at the program's `width` x `height` and `fps`: the
    /// screen-content tools when a screen or window is the picture (for scenes: screen or
    /// window layers cover at least half of the first scene shown), the camera tools
    /// otherwise; the effort and background detection [`EncoderLoad::for_rate`] chooses.
    pub fn for_source(
        source: &crate::capture::VideoSourceKind,
        width: u32,
        height: u32,
        fps: u32,
    ) -> Self {
        use crate::capture::VideoSourceKind as Kind;
        let screen = match source {
            Kind::Screen(_) | Kind::ScreenWithCamera { .. } => true,
            Kind::Scenes { collection, start } => {
                collection.screen_area(*start, width, height) * 2
                    >= u64::from(width) * u64::from(height)
            }
            _ => false,
        };
        let load = EncoderLoad::for_rate(width, height, fps);
        Self {
            content: if screen {
                ContentKind::Screen
            } else {
                ContentKind::Camera
            },
            effort: load.effort,
            background_detection: load.background_detection,
            ..Self::default()
        }
    }

    /// onair's settings before the quality work (issue 13): Constrained Baseline, camera
    /// tools, medium effort, OpenH264's rate control.
    pub fn before() -> Self {
        Self {
            profile: H264Profile::Baseline,
            content: ContentKind::Camera,
            effort: Effort::Medium,
            ref_frames: 1,
            long_term_refs: false,
            background_detection: true,
            deblocking: true,
            rate_control: RateControl::OpenH264,
        }
    }
}

/// Pixels per second above which a preset is 1080p60-class (1080p30's: 62.2 M/s). Measured
/// in `BENCHMARKS.md` (sections 2 and 14): at 1080p60 one OpenH264 thread at medium effort
/// takes more than a frame interval on game-like content on 2 cores; at 1080p30 it keeps up.
pub const HIGH_PIXEL_RATE: u64 = 1920 * 1080 * 30;

/// How hard the encoder works by default for a picture size and rate: slices (threads),
/// effort and background detection. `--encoder-threads` and `--tune` choose otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncoderLoad {
    pub threads: u16,
    pub effort: Effort,
    pub background_detection: bool,
}

impl EncoderLoad {
    /// Up to [`HIGH_PIXEL_RATE`]: one thread (the least CPU and bits per frame), medium
    /// effort, background detection. Above it: two threads (slices, each on its own core),
    /// low effort and no background detection, which together took 30-45 % less CPU per
    /// 1080p60 frame for at most 0.05 dB less PSNR-Y (more on the zoom), so that a frame fits
    /// its interval on 2 cores.
    pub fn for_rate(width: u32, height: u32, fps: u32) -> Self {
        let rate = u64::from(width)
            .saturating_mul(u64::from(height))
            .saturating_mul(u64::from(fps));
        if rate > HIGH_PIXEL_RATE {
            Self {
                threads: 2,
                effort: Effort::Low,
                background_detection: false,
            }
        } else {
            Self {
                threads: 1,
                effort: Effort::Medium,
                background_detection: true,
            }
        }
    }
}

/// The keys `--tune` takes, with their values.
pub const TUNE_HELP: &str = "before (the pre-tuning settings, first if given), profile=baseline|main|high, content=camera|screen, effort=low|medium|high, refs=1-16, ltr=on|off, bgd=on|off, deblock=on|off, rc=window|openh264";

impl FromStr for VideoTuning {
    type Err = String;

    /// `key=value` pairs separated by commas, applied over the defaults (or over `before`).
    fn from_str(s: &str) -> Result<Self, String> {
        VideoTuning::default().with(s)
    }
}

impl VideoTuning {
    /// `key=value` pairs separated by commas (`--tune`), applied over `self` (or over
    /// [`VideoTuning::before`] if `before` comes first).
    pub fn with(self, s: &str) -> Result<Self, String> {
        let mut t = self;
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            if item == "before" {
                t = VideoTuning::before();
                continue;
            }
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| format!("`{item}` is not key=value; keys: {TUNE_HELP}"))?;
            let bad = || format!("`{value}` is not a value for {key}; keys: {TUNE_HELP}");
            let on_off = || match value {
                "on" | "1" | "true" => Ok(true),
                "off" | "0" | "false" => Ok(false),
                _ => Err(bad()),
            };
            match key {
                "profile" => {
                    t.profile = match value {
                        "baseline" => H264Profile::Baseline,
                        "main" => H264Profile::Main,
                        "high" => H264Profile::High,
                        _ => return Err(bad()),
                    }
                }
                "content" => {
                    t.content = match value {
                        "camera" => ContentKind::Camera,
                        "screen" => ContentKind::Screen,
                        _ => return Err(bad()),
                    }
                }
                "effort" => {
                    t.effort = match value {
                        "low" => Effort::Low,
                        "medium" => Effort::Medium,
                        "high" => Effort::High,
                        _ => return Err(bad()),
                    }
                }
                "refs" => {
                    t.ref_frames = value
                        .parse()
                        .ok()
                        .filter(|r| (1..=16).contains(r))
                        .ok_or_else(bad)?
                }
                "ltr" => t.long_term_refs = on_off()?,
                "bgd" => t.background_detection = on_off()?,
                "deblock" => t.deblocking = on_off()?,
                "rc" => {
                    t.rate_control = match value {
                        "window" => RateControl::Window,
                        "openh264" => RateControl::OpenH264,
                        _ => return Err(bad()),
                    }
                }
                _ => return Err(format!("`{key}` is not a tuning key; keys: {TUNE_HELP}")),
            }
        }
        Ok(t)
    }
}

impl fmt::Display for VideoTuning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let on = |b: bool| if b { "on" } else { "off" };
        write!(
            f,
            "profile={},content={},effort={},refs={},ltr={},bgd={},deblock={},rc={}",
            match self.profile {
                H264Profile::Baseline => "baseline",
                H264Profile::Main => "main",
                H264Profile::High => "high",
            },
            match self.content {
                ContentKind::Camera => "camera",
                ContentKind::Screen => "screen",
            },
            match self.effort {
                Effort::Low => "low",
                Effort::Medium => "medium",
                Effort::High => "high",
            },
            self.ref_frames,
            on(self.long_term_refs),
            on(self.background_detection),
            on(self.deblocking),
            match self.rate_control {
                RateControl::Window => "window",
                RateControl::OpenH264 => "openh264",
            },
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// The window's program is always scenes: a scene that is a screen gets the screen tools
    /// (issue 13 chose them for screen sources), a camera scene or a small screen box does not.
    #[test]
    fn scenes_get_the_screen_tools_when_a_screen_covers_half_the_program() {
        use crate::capture::VideoSourceKind;
        use crate::capture::scene::{Collection, Layer};
        let tools = |start: usize, edit: &dyn Fn(&mut Collection)| {
            let mut collection = Collection::builtin(1280, 720);
            edit(&mut collection);
            let source = VideoSourceKind::Scenes {
                collection: Box::new(collection),
                start,
            };
            VideoTuning::for_source(&source, 1280, 720, 30).content
        };
        let none = &|_: &mut Collection| {};
        assert_eq!(tools(1, none), ContentKind::Screen); // "screen"
        assert_eq!(tools(3, none), ContentKind::Screen); // "screen+camera"
        assert_eq!(tools(0, none), ContentKind::Camera); // "test"
        assert_eq!(tools(2, none), ContentKind::Camera); // "camera"
        // A screen in a corner box (a quarter), or hidden, or mostly off the picture.
        let boxed = |x: i32, visible: bool| {
            move |c: &mut Collection| {
                c.scenes[1].layers[0] = Layer {
                    x,
                    y: 0,
                    size: Some((640, 720)),
                    visible,
                    ..Layer::full(1)
                }
            }
        };
        assert_eq!(tools(1, &boxed(0, true)), ContentKind::Screen); // exactly half
        assert_eq!(tools(1, &boxed(641, true)), ContentKind::Camera);
        assert_eq!(tools(1, &boxed(0, false)), ContentKind::Camera);
        assert_eq!(tools(1, &boxed(-1, true)), ContentKind::Camera);
    }

    #[test]
    fn high_pixel_rates_get_two_threads_at_low_effort() {
        let light = EncoderLoad {
            threads: 1,
            effort: Effort::Medium,
            background_detection: true,
        };
        let heavy = EncoderLoad {
            threads: 2,
            effort: Effort::Low,
            background_detection: false,
        };
        for (w, h, fps, want) in [
            (1920, 1080, 60, heavy),
            (2560, 1440, 30, heavy),
            (1920, 1080, 50, heavy),
            (1920, 1080, 31, heavy),
            (1920, 1080, 30, light),
            (1280, 720, 60, light),
            (1280, 720, 30, light),
            (854, 480, 30, light),
            (0, 0, 0, light),
        ] {
            assert_eq!(EncoderLoad::for_rate(w, h, fps), want, "{w}x{h}@{fps}");
        }
        // No overflow at the largest sizes.
        assert_eq!(EncoderLoad::for_rate(u32::MAX, u32::MAX, u32::MAX), heavy);
        let source = crate::capture::VideoSourceKind::Test;
        let t = VideoTuning::for_source(&source, 1920, 1080, 60);
        assert_eq!((t.effort, t.background_detection), (Effort::Low, false));
        assert_eq!(
            VideoTuning::for_source(&source, 1280, 720, 30),
            VideoTuning::default()
        );
    }

    #[test]
    fn tuning_parses_over_the_defaults_and_prints_back() {
        let t: VideoTuning = "profile=high, refs=4,bgd=off".parse().unwrap();
        assert_eq!(t.profile, H264Profile::High);
        assert_eq!(t.ref_frames, 4);
        assert!(!t.background_detection);
        assert_eq!(t.content, VideoTuning::default().content);
        assert_eq!(t.to_string().parse::<VideoTuning>().unwrap(), t);
        let b: VideoTuning = "before,content=screen".parse().unwrap();
        assert_eq!(b.rate_control, RateControl::OpenH264);
        assert_eq!(b.content, ContentKind::Screen);
        assert_eq!("".parse::<VideoTuning>().unwrap(), VideoTuning::default());
        // Over other settings (the automatic ones): only the keys given change.
        let low = VideoTuning {
            effort: Effort::Low,
            ..VideoTuning::default()
        };
        assert_eq!(low.with("refs=2").unwrap().effort, Effort::Low);
        assert_eq!(low.with("effort=medium").unwrap().effort, Effort::Medium);
        for bad in [
            "profile",
            "profile=extended",
            "refs=0",
            "refs=17",
            "speed=1",
            "aq=on",
            "bgd=maybe",
        ] {
            let e = bad.parse::<VideoTuning>().unwrap_err();
            assert!(e.contains("keys:"), "{bad}: {e}");
        }
    }
}
