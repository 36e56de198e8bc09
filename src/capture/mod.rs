//! Sources: where raw frames and samples come from.
//!
//! A source fills buffers on request; pacing belongs to the engine (`pipeline`), which asks for
//! frame `n` at its time on the engine clock. Device sources (screen, camera, microphone) never
//! make the engine wait: their device loop runs on a thread of its own (a [`Worker`] that the
//! pipeline spawns and names), which hands frames over through a [`latest::LatestFrame`] slot or
//! samples through an [`audio_ring`] ring, and reopens the device when it comes back. Audio
//! inputs ([`AudioInput`]) feed the mixer (`mix`), which makes the program's sound.

pub mod audio_ring;
pub mod camera;
pub mod compose;
pub mod convert;
pub mod desktop;
pub mod devices;
mod font;
pub mod latest;
pub mod microphone;
pub mod raster;
pub mod scene;
pub mod screen;
pub mod studio;
pub mod test_pattern;
pub mod tone;
pub mod video_file;
mod video_file_aac;
#[cfg(target_os = "linux")]
pub mod x11grab;
pub mod y4m;

use std::path::PathBuf;

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use serde::Serialize;

use crate::media::time::Clock;
use crate::media::{MediaTime, VideoFrame};

/// How long a device thread waits before trying to reopen a lost device.
pub const REOPEN_INTERVAL: Duration = Duration::from_secs(2);

/// Which screen to capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScreenTarget {
    /// A monitor by its index in `onair devices` (0 = the first).
    Monitor(usize),
    /// A window by its id (decimal, from `onair devices`) or a part of its title.
    Window(String),
}

/// Which camera to capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CameraTarget {
    /// By index in `onair devices` (0 = the first).
    Index(u32),
    /// By a part of its name.
    Name(String),
}

/// Which microphone to capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MicTarget {
    /// The system's default input.
    Default,
    /// An input whose name (or id) contains this text.
    Name(String),
}

/// Which output's sound to capture as desktop audio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DesktopTarget {
    /// What the default output plays (Linux: the default sink's monitor, as the sound server
    /// names it).
    Default,
    /// The output (sink) whose name or description contains this text.
    Name(String),
}

/// A corner of the program picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Corner {
    TopLeft,
    TopRight,
    BottomLeft,
    BottomRight,
}

/// Where the camera goes over the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipLayout {
    pub corner: Corner,
    /// Width of the camera box as a percentage of the program width (5..=100).
    pub width_percent: u8,
}

impl Default for PipLayout {
    fn default() -> Self {
        Self {
            corner: Corner::BottomRight,
            width_percent: 25,
        }
    }
}

/// Which picture the program shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoSourceKind {
    /// The moving test pattern with frame number, media time and the A/V sync marker.
    Test,
    /// Pictures read from a YUV4MPEG2 file (8-bit 4:2:0, the preset's size), looped.
    Y4m(PathBuf),
    /// A monitor or a window.
    Screen(ScreenTarget),
    /// A camera alone.
    Camera(CameraTarget),
    /// The screen with the camera as picture-in-picture.
    ScreenWithCamera {
        screen: ScreenTarget,
        camera: CameraTarget,
        pip: PipLayout,
    },
    /// Scenes made of sources ([`studio::Studio`]), starting on scene `start`.
    Scenes {
        collection: Box<scene::Collection>,
        start: usize,
    },
    /// No video track.
    None,
}

/// An audio input the mixer can open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioInputKind {
    /// A microphone (any format, converted to 48 kHz stereo).
    Microphone(MicTarget),
    /// What an output device plays.
    Desktop(DesktopTarget),
    /// The 1 kHz sync tone (100 ms at every whole second).
    Tone,
}

/// Why a source could not produce media, or could not start.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error(
        "{source_name}: frame size {got_w}x{got_h} does not match the program's {want_w}x{want_h}"
    )]
    SizeMismatch {
        source_name: &'static str,
        got_w: u32,
        got_h: u32,
        want_w: u32,
        want_h: u32,
    },
    #[error("cannot read the Y4M file {path}: {source}")]
    Y4mIo {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Y4mFormat { path: PathBuf, reason: String },
    #[error("{what}: {detail}")]
    BadFrame { what: &'static str, detail: String },
    #[error(
        "no display: neither DISPLAY nor WAYLAND_DISPLAY is set (screen capture needs a desktop session)"
    )]
    NoDisplay,
    #[error("no {kind} matches \"{wanted}\"; available: {available}")]
    NoSuchDevice {
        kind: &'static str,
        wanted: String,
        available: String,
    },
    #[error("no {kind} found{hint}")]
    NoDevice { kind: &'static str, hint: String },
    #[error("permission denied for the {kind} \"{name}\": {detail}")]
    PermissionDenied {
        kind: &'static str,
        name: String,
        detail: String,
    },
    #[error(
        "no sound server or audio input available: {detail} (start PulseAudio/PipeWire, or check the input device)"
    )]
    NoSoundServer { detail: String },
    #[error("no scene \"{name}\"; the scenes are: {available}")]
    UnknownScene { name: String, available: String },
    #[error("source \"{source_name}\": cannot read the image {path}: {detail}")]
    Image {
        source_name: String,
        path: PathBuf,
        detail: String,
    },
    #[error("source \"{source_name}\": the video file {path} {detail}")]
    Video {
        source_name: String,
        path: PathBuf,
        detail: String,
    },
    #[error("cannot open the {kind} \"{name}\": {detail}")]
    Open {
        kind: &'static str,
        name: String,
        detail: String,
    },
}

/// A device loop for the pipeline to run on a thread of its own (named `name`). It returns
/// soon after its source is dropped.
pub struct Worker {
    pub name: String,
    pub run: Box<dyn FnOnce() + Send>,
}

/// What the engine does with any source before and around its `fill`s: start its device
/// loops, wait for the devices' first open, give it the clock, read its devices' counters.
/// Generated sources (test pattern, tone, Y4M) have no devices and keep the defaults.
pub trait SourceDevices: Send {
    /// The device loops this source needs running (once; later calls return nothing).
    fn take_workers(&mut self) -> Vec<Worker> {
        Vec::new()
    }

    /// Once its workers run: waits for the devices' first open and returns its error.
    fn wait_ready(&mut self) -> Result<(), CaptureError> {
        Ok(())
    }

    /// The counters of the devices behind this source (for the stats).
    fn device_counters(&self) -> Vec<std::sync::Arc<SourceCounters>> {
        Vec::new()
    }

    /// The engine's clock, given once before the first `fill`: a screen times its grabs to
    /// the frame times on it, a microphone maps its capture instants onto it.
    fn set_clock(&mut self, _clock: Clock) {}
}

/// A producer of raw pictures, called by the engine at each frame time.
pub trait VideoSource: SourceDevices {
    /// Fills `frame` (already sized to the program's width and height) with the picture for
    /// engine time `pts`, and sets `frame.pts`. Never waits for a device.
    fn fill(&mut self, pts: MediaTime, frame: &mut VideoFrame) -> Result<(), CaptureError>;

    /// Where scene switches are asked for, if this source is a studio.
    fn scenes(&self) -> Option<std::sync::Arc<studio::SceneControl>> {
        None
    }

    /// The sound this source makes (video files), each to join the mixer as a strip of its
    /// own: its name and where the mixer's input is set (once; later calls return nothing).
    fn audio_outputs(&mut self) -> Vec<(String, video_file::ClipAudio)> {
        Vec::new()
    }
}

/// Sound handed to the mixer by a source's thread (a video file's): 48 kHz interleaved
/// stereo `f32` whose first sample is at engine time `pts`. Never waits beyond a copy; false
/// once the mixer dropped the input.
pub trait AudioFeed: Send + Sync {
    fn push(&self, pts: MediaTime, samples: &[f32]) -> bool;
}

/// One sound for the mixer, before mixing: 48 kHz interleaved stereo `f32`, full scale ±1.
pub trait AudioInput: SourceDevices + Send {
    /// Fills `out` with the samples that start at sample index `first_sample` (sample `n` is
    /// at engine time `n / 48 kHz`); asked for in order, each call going on where the last
    /// ended. Never waits for a device: missing samples are silence.
    fn fill(&mut self, first_sample: u64, out: &mut [f32]);

    /// How long after a sample's time the input can give it (see [`AudioSource::delay`]).
    fn delay(&self) -> MediaTime {
        MediaTime::ZERO
    }
}

/// The program's audio in the engine's format (48 kHz interleaved stereo i16): the mixer.
pub trait AudioSource: SourceDevices {
    /// Fills `out` with the samples that start at sample index `first_sample` of the stream
    /// (sample `n` is at engine time `n / 48 kHz`). Never waits for a device: missing samples
    /// are silence.
    fn fill(&mut self, first_sample: u64, out: &mut [i16]);

    /// How long after a sample's time the source can give it: in real time the engine asks
    /// for the samples up to `t` once its clock reads `t + delay()`, read again before every
    /// chunk (the mixer's changes with its sources' sync offsets). A device source needs the
    /// time its samples take to arrive (device latency, callback period, a cushion); a
    /// generated one needs none.
    fn delay(&self) -> MediaTime {
        MediaTime::ZERO
    }
}

/// Counters of one device source, shared between its device thread, the engine thread that
/// pulls from it and the stats snapshot.
#[derive(Debug)]
pub struct SourceCounters {
    pub name: String,
    pub kind: &'static str,
    live: AtomicBool,
    /// Frames (video) or callbacks (audio) delivered by the device.
    pub captured: AtomicU64,
    /// Video: device frames overwritten before the engine took them.
    pub replaced: AtomicU64,
    /// Video: program frames that showed the previous device frame again (device late).
    pub repeated: AtomicU64,
    /// Times the device was lost.
    pub losses: AtomicU64,
    /// Times it was reopened after a loss.
    pub reopened: AtomicU64,
    /// Nanoseconds spent capturing and converting on the device thread (total).
    pub capture_nanos: AtomicU64,
    /// Audio: samples (per channel, 48 kHz) of silence put in for want of device samples.
    pub underrun_samples: AtomicU64,
    /// Audio: underrun events.
    pub underruns: AtomicU64,
    /// Audio: device samples (per channel) dropped: ring full, or too far ahead of the clock.
    pub dropped_samples: AtomicU64,
    /// Audio: ring buffer fill in device samples per channel, and the device's rate.
    pub buffered_samples: AtomicU64,
    pub device_rate_hz: AtomicU64,
    /// Audio: the resampler's correction in parts per million (as i64 bits).
    pub drift_ppm: AtomicU64,
    /// Audio: capture-to-callback delay the device reports for its latest callback.
    pub device_latency_micros: AtomicU64,
    pub last_error: Mutex<Option<String>>,
}

impl SourceCounters {
    pub fn new(name: impl Into<String>, kind: &'static str) -> Self {
        Self {
            name: name.into(),
            kind,
            live: AtomicBool::new(false),
            captured: AtomicU64::new(0),
            replaced: AtomicU64::new(0),
            repeated: AtomicU64::new(0),
            losses: AtomicU64::new(0),
            reopened: AtomicU64::new(0),
            capture_nanos: AtomicU64::new(0),
            underrun_samples: AtomicU64::new(0),
            underruns: AtomicU64::new(0),
            dropped_samples: AtomicU64::new(0),
            buffered_samples: AtomicU64::new(0),
            device_rate_hz: AtomicU64::new(0),
            drift_ppm: AtomicU64::new(0),
            device_latency_micros: AtomicU64::new(0),
            last_error: Mutex::new(None),
        }
    }
    pub fn set_live(&self, live: bool) {
        self.live.store(live, Relaxed);
    }
    pub fn set_error(&self, e: &str) {
        if let Ok(mut l) = self.last_error.lock() {
            *l = Some(e.to_owned());
        }
    }
    pub fn snapshot(&self) -> SourceSnapshot {
        let captured = self.captured.load(Relaxed);
        let rate = self.device_rate_hz.load(Relaxed);
        SourceSnapshot {
            name: self.name.clone(),
            kind: self.kind,
            state: if self.live.load(Relaxed) {
                "live"
            } else {
                "lost"
            },
            captured,
            replaced: self.replaced.load(Relaxed),
            repeated: self.repeated.load(Relaxed),
            losses: self.losses.load(Relaxed),
            reopened: self.reopened.load(Relaxed),
            capture_micros_mean: self
                .capture_nanos
                .load(Relaxed)
                .checked_div(captured)
                .map_or(0, |n| n / 1000),
            underruns: self.underruns.load(Relaxed),
            underrun_samples: self.underrun_samples.load(Relaxed),
            dropped_samples: self.dropped_samples.load(Relaxed),
            buffered_ms: (rate > 0).then(|| self.buffered_samples.load(Relaxed) * 1000 / rate),
            device_rate_hz: (rate > 0).then_some(rate),
            drift_ppm: self.drift_ppm.load(Relaxed) as i64,
            device_latency_ms: (rate > 0).then(|| self.device_latency_micros.load(Relaxed) / 1000),
            last_error: self.last_error.lock().ok().and_then(|e| e.clone()),
        }
    }
}

/// A device source's counters as plain data (in the stats JSON under `sources`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceSnapshot {
    pub name: String,
    pub kind: &'static str,
    /// `live` or `lost` (the program shows the "source lost" slate; reopening every 2 s).
    pub state: &'static str,
    pub captured: u64,
    pub replaced: u64,
    pub repeated: u64,
    pub losses: u64,
    pub reopened: u64,
    pub capture_micros_mean: u64,
    pub underruns: u64,
    pub underrun_samples: u64,
    pub dropped_samples: u64,
    pub buffered_ms: Option<u64>,
    pub device_rate_hz: Option<u64>,
    pub drift_ppm: i64,
    /// Audio: what the device reports between capture and delivery, in milliseconds.
    pub device_latency_ms: Option<u64>,
    pub last_error: Option<String>,
}

/// Sleeps `total` in short steps, returning early (false) once `stop()` holds.
pub(crate) fn sleep_unless(stop: &dyn Fn() -> bool, total: Duration) -> bool {
    let step = Duration::from_millis(20);
    let deadline = std::time::Instant::now() + total;
    loop {
        if stop() {
            return false;
        }
        let now = std::time::Instant::now();
        if now >= deadline {
            return true;
        }
        std::thread::sleep(step.min(deadline - now));
    }
}
