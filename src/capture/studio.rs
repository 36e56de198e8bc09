//! The studio: the program picture made from a [`Collection`] of scenes.
//!
//! Every source is opened once, when the studio is made, and shared by every layer of every
//! scene that shows it: a device's latest picture is taken once per program frame, the test
//! pattern drawn once per frame, text rasterized when its words change, images decoded once.
//! Each layer keeps its own scaled copy (or [`Overlay`]) and makes it again only when its
//! source has a new picture or its placement changed, so a steady scene costs copies and
//! blends per frame, and nothing is allocated. A switch asked for through [`SceneControl`]
//! (one slot, newest wins) is taken at the next frame: a cut, or a fade mixing the two scenes
//! frame by frame.

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, PoisonError};

use crossbeam_channel::Receiver;
use fast_image_resize::Resizer;

use super::compose::wait_opened;
use super::latest::LatestFrame;
use super::raster::{Overlay, RgbaImage, TextRenderer, load_image};
use super::scene::{Collection, Rgba, SourceKind, TextSpec, Transition};
use super::test_pattern::TestPattern;
use super::video_file::{self, ClipAudio};
use super::{CaptureError, SourceCounters, SourceDevices, VideoSource, Worker, camera, screen};
use crate::media::time::Clock;
use crate::media::{MediaTime, VideoFrame};

/// Scene switches and new collections asked for while running; read by the studio at its
/// next frame.
#[derive(Debug)]
pub struct SceneControl {
    /// The scene names and the default transition of the newest collection.
    names: Mutex<(Vec<String>, Transition)>,
    /// One slot: a newer request replaces one not yet taken (counted in `replaced`).
    pending: Mutex<Option<(String, Transition)>>,
    /// One slot: a newer collection replaces one not yet taken (not counted: the newest is
    /// the whole truth); with it, the slots of its devices new to the studio.
    collection: Mutex<Option<Handoff>>,
    /// The devices of the newest collection, and the new ones waiting to be opened.
    devices: Mutex<DeviceBook>,
    current: Mutex<String>,
    /// During a fade, the scene faded from.
    fading_from: Mutex<Option<String>>,
    /// The sound of video files the studio opened while running, waiting for the mixer (at
    /// most [`MAX_SOURCES`](crate::config::mixer::MAX_SOURCES); more are left out, logged).
    new_sounds: Mutex<Vec<(String, ClipAudio)>>,
    /// Switches done.
    pub switches: AtomicU64,
    /// Requests replaced by a newer one before a frame took them.
    pub replaced: AtomicU64,
    /// Collections taken by the studio.
    pub replacements: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SceneControl {
    fn new(collection: &Collection, start: usize) -> SceneControl {
        let names: Vec<String> = collection.scenes.iter().map(|s| s.name.clone()).collect();
        SceneControl {
            current: Mutex::new(names.get(start).cloned().unwrap_or_default()),
            names: Mutex::new((names, collection.transition)),
            pending: Mutex::new(None),
            collection: Mutex::new(None),
            devices: Mutex::new(DeviceBook::of(collection)),
            fading_from: Mutex::new(None),
            new_sounds: Mutex::new(Vec::new()),
            switches: AtomicU64::new(0),
            replaced: AtomicU64::new(0),
            replacements: AtomicU64::new(0),
        }
    }

    /// Asks for scene `name` with `transition` (the collection's default if `None`).
    pub fn switch(&self, name: &str, transition: Option<Transition>) -> Result<(), CaptureError> {
        let transition = {
            let names = lock(&self.names);
            if !names.0.iter().any(|n| n == name) {
                return Err(CaptureError::UnknownScene {
                    name: name.to_owned(),
                    available: names.0.join(", "),
                });
            }
            transition.unwrap_or(names.1)
        };
        if lock(&self.pending)
            .replace((name.to_owned(), transition))
            .is_some()
        {
            self.replaced.fetch_add(1, Relaxed);
        }
        Ok(())
    }

    /// The scene on the program (the one faded to, during a fade).
    pub fn current(&self) -> String {
        lock(&self.current).clone()
    }

    /// During a fade, the scene faded from (the program shows it mixed into `current`).
    pub fn fading_from(&self) -> Option<String> {
        lock(&self.fading_from).clone()
    }

    pub fn names(&self) -> Vec<String> {
        lock(&self.names).0.clone()
    }

    fn take(&self) -> Option<(String, Transition)> {
        lock(&self.pending).take()
    }
}

/// An opened source and its latest picture.
enum Content {
    Device {
        slot: Arc<LatestFrame>,
        front: VideoFrame,
        has_frame: bool,
        label: String,
        /// A new picture came for this frame.
        fresh: bool,
        /// Shown in this frame (to count a repeat once however many layers show it).
        shown: bool,
        /// Its pictures carry their own time (a video file): none is taken before it.
        timed: bool,
        /// A video file's: set while a layer on the program shows it (its sound is heard).
        on_air: Option<Arc<std::sync::atomic::AtomicBool>>,
    },
    Test {
        pattern: TestPattern,
        frame: VideoFrame,
        drawn_at: Option<MediaTime>,
    },
    Still(RgbaImage),
    Text {
        spec: TextSpec,
        image: RgbaImage,
        /// The second the words were made for (`None`: not yet).
        made_for: Option<i64>,
        words: String,
        /// When it came onto the program this time (the countdown's start), and the last
        /// frame it was drawn in.
        since: MediaTime,
        drawn: Option<MediaTime>,
    },
    Colour(Rgba),
}

struct OpenSource {
    content: Content,
    /// What it was opened as (a new collection keeps it when name and kind are the same).
    kind: SourceKind,
    /// Bumped at each new picture: a layer's copy made from an older one is stale.
    version: u64,
}

/// Where a layer's picture goes: the part of the source (x, y, w, h) and the box it is
/// scaled to (x, y, w, h; even).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Placement {
    crop: [f64; 4],
    x: i32,
    y: i32,
    w: u32,
    h: u32,
}

/// A layer's own copy of its source, scaled to its placement.
#[derive(Default)]
struct LayerCache {
    made: Option<(u64, Placement)>,
    scaled: Option<VideoFrame>,
    overlay: Overlay,
}

/// The program picture made from scenes.
pub struct Studio {
    width: u32,
    height: u32,
    frame_time: MediaTime,
    collection: Collection,
    sources: Vec<OpenSource>,
    /// Per scene, per layer.
    caches: Vec<Vec<LayerCache>>,
    current: usize,
    fade: Option<Fade>,
    /// The scene faded from, drawn here during a fade.
    scratch: VideoFrame,
    control: Arc<SceneControl>,
    resizer: Resizer,
    text: TextRenderer,
    workers: Vec<Worker>,
    pending: Vec<Receiver<Result<(), CaptureError>>>,
    /// Video files' sound, for the mixer (taken once).
    audio: Vec<(String, ClipAudio)>,
    /// The engine's clock (given once), for video files opened while running.
    clock: Option<Clock>,
    /// The loops of video files opened while running (joined when the studio goes).
    live_loops: Vec<std::thread::JoinHandle<()>>,
}

struct Fade {
    from: usize,
    start: MediaTime,
    length: MediaTime,
}

impl Studio {
    /// Opens every source of `collection` (a device that cannot be opened is an error naming
    /// the source) and starts on scene `start`.
    pub fn open(
        collection: Collection,
        start: usize,
        width: u32,
        height: u32,
        fps: u32,
    ) -> Result<Studio, CaptureError> {
        let mut workers = Vec::new();
        let mut pending = Vec::new();
        let mut audio = Vec::new();
        let text = TextRenderer::default();
        let mut sources = Vec::with_capacity(collection.sources.len());
        for s in &collection.sources {
            let content = match &s.kind {
                SourceKind::Screen(t) => {
                    let (slot, worker) = screen::open(t, fps)?;
                    workers.push(worker);
                    device(slot, &s.name)
                }
                SourceKind::Camera(t) => {
                    let (slot, worker, first) = camera::open(t, width, height, fps)?;
                    workers.push(worker);
                    pending.push(first);
                    device(slot, &s.name)
                }
                SourceKind::Video(path) => {
                    let (d, worker, sound) = open_video(path, &s.name)?;
                    workers.push(worker);
                    if let Some(a) = sound {
                        audio.push((s.name.clone(), a));
                    }
                    d
                }
                kind => generated(kind, &s.name, width, height)?,
            };
            sources.push(OpenSource {
                content,
                kind: s.kind.clone(),
                version: 0,
            });
        }
        let caches = new_caches(&collection);
        let control = Arc::new(SceneControl::new(&collection, start));
        Ok(Studio {
            width,
            height,
            frame_time: MediaTime::from_nanos(1_000_000_000 / i64::from(fps.max(1))),
            collection,
            sources,
            caches,
            current: start,
            fade: None,
            scratch: VideoFrame::black(width, height, MediaTime::ZERO),
            control,
            resizer: Resizer::new(),
            text,
            workers,
            pending,
            audio,
            clock: None,
            live_loops: Vec::new(),
        })
    }

    /// Feeds source `index` from `slot` instead of what it opened (for benchmarks and tests,
    /// which have no devices): it becomes a device source named `name`.
    pub fn attach(&mut self, index: usize, slot: Arc<LatestFrame>, name: &str) {
        if let Some(s) = self.sources.get_mut(index) {
            s.content = device(slot, name);
        }
    }

    pub fn control(&self) -> Arc<SceneControl> {
        self.control.clone()
    }
}

fn device(slot: Arc<LatestFrame>, name: &str) -> Content {
    Content::Device {
        slot,
        front: VideoFrame::black(2, 2, MediaTime::ZERO),
        has_frame: false,
        label: name.to_ascii_uppercase(),
        fresh: false,
        shown: false,
        timed: false,
        on_air: None,
    }
}

/// A video file opened: its content (timed, with its on-program flag), its loop and sound.
fn open_video(
    path: &std::path::Path,
    name: &str,
) -> Result<(Content, Worker, Option<ClipAudio>), CaptureError> {
    let (slot, worker, sound) = video_file::open(path, name)?;
    let mut d = device(slot, name);
    if let Content::Device { timed, on_air, .. } = &mut d {
        *timed = true;
        *on_air = sound.as_ref().map(|a| a.on_air.clone());
    }
    Ok((d, worker, sound))
}
impl Studio {
    /// A video file added while running: opened and its loop started here (a file is read,
    /// not waited for). Its sound waits in the control for the engine to give it a strip
    /// ([`SceneControl::take_new_sounds`]); a file that cannot be opened shows nothing.
    fn open_video_live(&mut self, path: &std::path::Path, name: &str) -> Content {
        let (content, worker, sound) = match open_video(path, name) {
            Ok(opened) => opened,
            Err(e) => {
                tracing::warn!("{e}");
                return Content::Colour(Rgba([0, 0, 0, 0]));
            }
        };
        if let (Content::Device { slot, .. }, Some(clock)) = (&content, self.clock) {
            slot.set_clock(clock);
        }
        match std::thread::Builder::new()
            .name(worker.name)
            .spawn(worker.run)
        {
            Ok(thread) => self.live_loops.push(thread),
            Err(e) => tracing::warn!(source = %name, "cannot start its loop: {e}"),
        }
        if let Some(sound) = sound {
            let mut waiting = lock(&self.control.new_sounds);
            if waiting.len() < crate::config::mixer::MAX_SOURCES {
                waiting.push((name.to_owned(), sound));
            } else {
                tracing::error!(source = %name, "too many sounds waiting: this video is not heard");
            }
        }
        content
    }
}

impl Drop for Studio {
    fn drop(&mut self) {
        // The loops end when their pictures' slots go.
        self.sources.clear();
        for t in self.live_loops.drain(..) {
            let _ignored = t.join();
        }
    }
}

impl SourceDevices for Studio {
    fn take_workers(&mut self) -> Vec<Worker> {
        std::mem::take(&mut self.workers)
    }

    fn set_clock(&mut self, clock: Clock) {
        self.clock = Some(clock);
        for s in &self.sources {
            if let Content::Device { slot, .. } = &s.content {
                slot.set_clock(clock);
            }
        }
    }

    fn device_counters(&self) -> Vec<Arc<SourceCounters>> {
        self.sources
            .iter()
            .filter_map(|s| match &s.content {
                Content::Device { slot, .. } => Some(slot.counters().clone()),
                _ => None,
            })
            .collect()
    }

    fn wait_ready(&mut self) -> Result<(), CaptureError> {
        wait_opened(&mut self.pending)
    }
}

#[path = "studio_draw.rs"]
mod draw;
#[path = "studio_replace.rs"]
mod replace;
#[path = "studio_text.rs"]
mod text;
pub use replace::start_device;
use replace::{DeviceBook, Handoff, generated, new_caches};

#[cfg(test)]
#[path = "studio_tests.rs"]
mod tests;
