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

use std::fmt::Write as _;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, PoisonError};

use crossbeam_channel::Receiver;
use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

use super::compose::{draw_slate, wait_opened};
use super::convert::{Rect, ensure_size};
use super::latest::LatestFrame;
use super::raster::{
    Overlay, RgbaImage, TextRenderer, blend, blit, fill, load_image, mix, scale_err,
};
use super::scene::{Collection, Crop, Fit, Layer, Rgba, SourceKind, TextSpec, Transition};
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

    /// Takes a pending switch, if any.
    fn take_switch(&mut self, pts: MediaTime) {
        let Some((name, transition)) = self.control.take() else {
            return;
        };
        let Some(to) = self.collection.scene(&name) else {
            return;
        };
        if to == self.current {
            return;
        }
        self.fade = match transition {
            Transition::Cut => None,
            Transition::Fade(length) => Some(Fade {
                from: self.current,
                start: pts,
                length,
            }),
        };
        tracing::info!(
            from = %self.collection.scenes[self.current].name,
            to = %self.collection.scenes[to].name,
            %transition,
            "scene switch"
        );
        *lock(&self.control.fading_from) = self
            .fade
            .as_ref()
            .map(|f| self.collection.scenes[f.from].name.clone());
        self.current = to;
        *lock(&self.control.current) = name;
        self.control.switches.fetch_add(1, Relaxed);
    }

    /// Takes the devices' new pictures (a timed one's only once its time has come).
    fn update_devices(&mut self, pts: MediaTime) {
        let until = pts + self.frame_time / 2;
        for s in &mut self.sources {
            if let Content::Device {
                slot,
                front,
                has_frame,
                fresh,
                shown,
                timed,
                ..
            } = &mut s.content
            {
                *shown = false;
                *fresh = if *timed {
                    slot.take_until(front, until)
                } else {
                    slot.take(front)
                };
                if *fresh {
                    *has_frame = true;
                    s.version += 1;
                }
            }
        }
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

/// The source's own size, if it has one a layer takes by default (images, text).
fn natural_size(content: &Content) -> Option<(u32, u32)> {
    match content {
        Content::Still(img) | Content::Text { image: img, .. } => Some((img.width, img.height)),
        _ => None,
    }
}

/// Where `layer` puts a picture of `src_w` x `src_h` in a program of `pw` x `ph`.
fn place(layer: &Layer, src: (u32, u32), box_size: (u32, u32)) -> Option<Placement> {
    let Crop {
        left,
        top,
        right,
        bottom,
    } = layer.crop;
    let cw = src.0.saturating_sub(left.saturating_add(right));
    let ch = src.1.saturating_sub(top.saturating_add(bottom));
    if cw < 2 || ch < 2 {
        return None;
    }
    let (bw, bh) = box_size;
    let mut crop = [
        f64::from(left),
        f64::from(top),
        f64::from(cw),
        f64::from(ch),
    ];
    let (mut x, mut y, mut w, mut h) = (i64::from(layer.x), i64::from(layer.y), bw, bh);
    let (sw, sh) = (u64::from(cw), u64::from(ch));
    let (bw64, bh64) = (u64::from(bw), u64::from(bh));
    match layer.fit {
        Fit::Stretch => {}
        Fit::Fit => {
            // Width-limited if the source is relatively wider than the box.
            if sw * bh64 >= sh * bw64 {
                h = ((bw64 * sh + sw / 2) / sw) as u32;
                y += (i64::from(bh) - i64::from(h)) / 2;
            } else {
                w = ((bh64 * sw + sh / 2) / sh) as u32;
                x += (i64::from(bw) - i64::from(w)) / 2;
            }
        }
        Fit::Fill => {
            // Cut the source to the box's aspect, centred.
            if sw * bh64 >= sh * bw64 {
                let keep = f64::from(ch) * f64::from(bw) / f64::from(bh);
                crop[0] += (crop[2] - keep) / 2.0;
                crop[2] = keep;
            } else {
                let keep = f64::from(cw) * f64::from(bh) / f64::from(bw);
                crop[1] += (crop[3] - keep) / 2.0;
                crop[3] = keep;
            }
        }
    }
    let (w, h) = ((w & !1).max(2), (h & !1).max(2));
    Some(Placement {
        crop,
        x: (x as i32) & !1,
        y: (y as i32) & !1,
        w,
        h,
    })
}

/// Scales the I420 `src` (its part `p.crop`) into `out` at `p.w` x `p.h`.
fn scale_i420(
    resizer: &mut Resizer,
    src: &VideoFrame,
    p: &Placement,
    out: &mut VideoFrame,
) -> Result<(), CaptureError> {
    ensure_size(out, p.w, p.h);
    let (sy, su, sv) = src.planes();
    let (dy, du, dv) = out.planes_mut();
    let c = p.crop;
    let planes = [
        (sy, dy, src.width, src.height, p.w, p.h, 1.0),
        (su, du, src.width / 2, src.height / 2, p.w / 2, p.h / 2, 0.5),
        (sv, dv, src.width / 2, src.height / 2, p.w / 2, p.h / 2, 0.5),
    ];
    for (s, d, sw, sh, dw, dh, k) in planes {
        let from = ImageRef::new(sw, sh, s, PixelType::U8).map_err(scale_err)?;
        let mut to = Image::from_slice_u8(dw, dh, d, PixelType::U8).map_err(scale_err)?;
        let options = ResizeOptions::new()
            .resize_alg(ResizeAlg::Convolution(FilterType::Bilinear))
            .crop(c[0] * k, c[1] * k, c[2] * k, c[3] * k);
        resizer
            .resize(&from, &mut to, &options)
            .map_err(scale_err)?;
    }
    Ok(())
}

/// Draws scene `scene` into `frame`.
#[allow(clippy::too_many_arguments)]
fn draw_scene(
    collection: &Collection,
    scene: usize,
    sources: &mut [OpenSource],
    caches: &mut [LayerCache],
    text: &TextRenderer,
    resizer: &mut Resizer,
    pts: MediaTime,
    frame: &mut VideoFrame,
) -> Result<(), CaptureError> {
    let (pw, ph) = (frame.width, frame.height);
    // The picture starts black, unless the first layer drawn covers it all, opaque.
    let mut first = true;
    let covers = |x: i32, y: i32, w: u32, h: u32| {
        x <= 0
            && y <= 0
            && i64::from(x) + i64::from(w) >= i64::from(pw)
            && i64::from(y) + i64::from(h) >= i64::from(ph)
    };
    for (layer, cache) in collection.scenes[scene].layers.iter().zip(caches) {
        if !layer.visible {
            continue;
        }
        let source = &mut sources[layer.source];
        prepare(source, text, pts)?;
        let box_size = layer
            .size
            .or_else(|| natural_size(&source.content))
            .unwrap_or((pw, ph));
        let version = source.version;
        match &mut source.content {
            Content::Colour(c) => {
                let opaque = c.0[3] == 255 && covers(layer.x, layer.y, box_size.0, box_size.1);
                begin(&mut first, frame, opaque);
                fill(
                    frame,
                    *c,
                    layer.x & !1,
                    layer.y & !1,
                    box_size.0 & !1,
                    box_size.1 & !1,
                );
            }
            Content::Device {
                slot,
                front,
                has_frame,
                label,
                shown,
                ..
            } => {
                *shown = true;
                let lost = slot.is_lost();
                if !lost && !*has_frame {
                    // Nothing until its first picture (a device still opening).
                    continue;
                }
                let Some(p) = place(layer, (front.width, front.height), box_size) else {
                    continue;
                };
                let covered = if lost {
                    covers(layer.x, layer.y, box_size.0, box_size.1)
                } else {
                    covers(p.x, p.y, p.w, p.h)
                };
                begin(&mut first, frame, covered);
                if lost {
                    // The slate over the layer's box.
                    if let Some(area) = clip_rect(pw, ph, layer.x, layer.y, box_size) {
                        draw_slate(frame, area, label);
                    }
                    continue;
                }
                draw_opaque(front, version, &p, cache, resizer, frame)?;
            }
            Content::Test { frame: tf, .. } => {
                let Some(p) = place(layer, (tf.width, tf.height), box_size) else {
                    continue;
                };
                begin(&mut first, frame, covers(p.x, p.y, p.w, p.h));
                draw_opaque(tf, version, &p, cache, resizer, frame)?;
            }
            Content::Still(img) | Content::Text { image: img, .. } => {
                let Some(p) = place(layer, (img.width, img.height), box_size) else {
                    continue;
                };
                begin(&mut first, frame, false);
                if cache.made != Some((version, p)) {
                    cache.overlay.make(img, p.crop, (p.w, p.h), resizer)?;
                    cache.made = Some((version, p));
                }
                blend(frame, &cache.overlay, p.x, p.y);
            }
        }
    }
    begin(&mut first, frame, false);
    Ok(())
}

/// Before the first layer drawn: black, unless that layer covers the picture, opaque.
fn begin(first: &mut bool, frame: &mut VideoFrame, covered: bool) {
    if std::mem::take(first) && !covered {
        let (w, h) = (frame.width, frame.height);
        fill(frame, Rgba([0, 0, 0, 255]), 0, 0, w, h);
    }
}

/// The layer's box cut to the program, even, for the slate.
fn clip_rect(pw: u32, ph: u32, x: i32, y: i32, (w, h): (u32, u32)) -> Option<Rect> {
    let x0 = i64::from(x).max(0) & !1;
    let y0 = i64::from(y).max(0) & !1;
    let x1 = (i64::from(x) + i64::from(w)).min(i64::from(pw)) & !1;
    let y1 = (i64::from(y) + i64::from(h)).min(i64::from(ph)) & !1;
    (x1 - x0 >= 2 && y1 - y0 >= 2).then(|| Rect {
        x: x0 as u32,
        y: y0 as u32,
        w: (x1 - x0) as u32,
        h: (y1 - y0) as u32,
    })
}

/// An opaque picture into its place: straight from the source when it needs no scaling,
/// else from the layer's scaled copy (made again when stale).
fn draw_opaque(
    src: &VideoFrame,
    version: u64,
    p: &Placement,
    cache: &mut LayerCache,
    resizer: &mut Resizer,
    frame: &mut VideoFrame,
) -> Result<(), CaptureError> {
    let whole = p.crop == [0.0, 0.0, f64::from(src.width), f64::from(src.height)];
    if whole && (p.w, p.h) == (src.width, src.height) {
        blit(frame, src, p.x, p.y);
        return Ok(());
    }
    let scaled = cache
        .scaled
        .get_or_insert_with(|| VideoFrame::black(p.w, p.h, MediaTime::ZERO));
    if cache.made != Some((version, *p)) {
        scale_i420(resizer, src, p, scaled)?;
        cache.made = Some((version, *p));
    }
    blit(frame, scaled, p.x, p.y);
    Ok(())
}

/// Brings a generated source up to `pts`: the test pattern drawn once per frame, the text's
/// live fields once per second.
fn prepare(
    source: &mut OpenSource,
    text: &TextRenderer,
    pts: MediaTime,
) -> Result<(), CaptureError> {
    match &mut source.content {
        Content::Test {
            pattern,
            frame,
            drawn_at,
        } if *drawn_at != Some(pts) => {
            pattern.fill(pts, frame)?;
            *drawn_at = Some(pts);
            source.version += 1;
        }
        Content::Text {
            spec,
            image,
            made_for,
            words,
            since,
            drawn,
        } => {
            // Not drawn in the last frames: it comes onto the program now.
            if drawn.is_none_or(|d| pts - d > SHOWN_AGAIN || pts < d) {
                *since = pts;
            }
            let countdown = spec.countdown.map(|d| (d, *since));
            *drawn = Some(pts);
            let live = spec.text.contains("{clock}")
                || spec.text.contains("{elapsed}")
                || spec.text.contains("{countdown}");
            let now = if spec.text.contains("{clock}") {
                jiff::Timestamp::now().as_second()
            } else if let Some((d, start)) = countdown {
                // The words change with the seconds left (and the elapsed time, if shown).
                remaining_secs(d, start, pts)
                    .wrapping_mul(1_000_003)
                    .wrapping_add(pts.as_secs_floor())
            } else {
                pts.as_secs_floor()
            };
            let key = if live { now } else { 0 };
            if *made_for != Some(key) {
                *made_for = Some(key);
                words.clear();
                expand(&spec.text, pts, countdown, words);
                text.render(spec, words, image);
                source.version += 1;
            }
        }
        _ => {}
    }
    Ok(())
}

/// A text not drawn for longer than this comes onto the program again when next drawn (its
/// countdown starts over).
const SHOWN_AGAIN: MediaTime = MediaTime::from_millis(250);

/// Whole seconds left of a countdown of `length` started at `start`, at `pts` (rounded up:
/// it shows the full length at its start and 00:00 only at its end).
fn remaining_secs(length: MediaTime, start: MediaTime, pts: MediaTime) -> i64 {
    let left = (length - (pts - start)).as_nanos().max(0);
    (left + 999_999_999) / 1_000_000_000
}

/// The text with its live fields filled in; `countdown`: its length and start.
fn expand(
    template: &str,
    pts: MediaTime,
    countdown: Option<(MediaTime, MediaTime)>,
    out: &mut String,
) {
    let mut rest = template;
    while let Some(at) = rest.find('{') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("{clock}") {
            let now = jiff::Zoned::now();
            let _ = write!(out, "{}", now.strftime("%H:%M:%S"));
            rest = after;
        } else if let Some(after) = tail.strip_prefix("{elapsed}") {
            let s = pts.as_secs_floor().max(0);
            let _ = write!(out, "{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
            rest = after;
        } else if let Some(after) = tail.strip_prefix("{countdown}") {
            let s = countdown.map_or(0, |(d, start)| remaining_secs(d, start, pts));
            if s >= 3600 {
                let _ = write!(out, "{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
            } else {
                let _ = write!(out, "{:02}:{:02}", s / 60, s % 60);
            }
            rest = after;
        } else {
            out.push('{');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
}

impl VideoSource for Studio {
    fn fill(&mut self, pts: MediaTime, frame: &mut VideoFrame) -> Result<(), CaptureError> {
        if (frame.width, frame.height) != (self.width, self.height) {
            return Err(CaptureError::SizeMismatch {
                source_name: "studio",
                got_w: frame.width,
                got_h: frame.height,
                want_w: self.width,
                want_h: self.height,
            });
        }
        frame.pts = pts;
        self.take_collection();
        self.take_switch(pts);
        self.update_devices(pts);
        let (current, caches) = (self.current, &mut self.caches);
        draw_scene(
            &self.collection,
            current,
            &mut self.sources,
            &mut caches[current],
            &self.text,
            &mut self.resizer,
            pts,
            frame,
        )?;
        if let Some(fade) = &self.fade {
            // Frame k after the switch shows k/n of the new scene; the n-th is the new alone.
            let into = (pts - fade.start + self.frame_time).as_nanos();
            let w = (into.max(0) * 256 / fade.length.as_nanos().max(1)).min(256);
            if w >= 256 || fade.from == current {
                self.fade = None;
                *lock(&self.control.fading_from) = None;
            } else {
                let from = fade.from;
                draw_scene(
                    &self.collection,
                    from,
                    &mut self.sources,
                    &mut caches[from],
                    &self.text,
                    &mut self.resizer,
                    pts,
                    &mut self.scratch,
                )?;
                mix(&mut frame.data, &self.scratch.data, (256 - w) as u16);
            }
        }
        self.count_repeats();
        for s in &self.sources {
            if let Content::Device {
                on_air: Some(flag),
                shown,
                ..
            } = &s.content
            {
                flag.store(*shown, Relaxed);
            }
        }
        Ok(())
    }

    fn scenes(&self) -> Option<Arc<SceneControl>> {
        Some(self.control.clone())
    }

    fn audio_outputs(&mut self) -> Vec<(String, ClipAudio)> {
        std::mem::take(&mut self.audio)
    }
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

    /// Each shown device that had no new picture for this frame: one repeat.
    fn count_repeats(&self) {
        for s in &self.sources {
            if let Content::Device {
                slot,
                has_frame: true,
                shown: true,
                fresh: false,
                ..
            } = &s.content
                && !slot.is_lost()
            {
                slot.counters().repeated.fetch_add(1, Relaxed);
            }
        }
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

#[path = "studio_replace.rs"]
mod replace;
pub use replace::start_device;
use replace::{DeviceBook, Handoff, generated, new_caches};

#[cfg(test)]
#[path = "studio_tests.rs"]
mod tests;
