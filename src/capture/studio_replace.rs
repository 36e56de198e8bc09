//! The studio's live update: a new collection taken between frames, keeping what did not
//! change open.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use super::*;
use crate::capture::scene::Source;

/// A collection on its way to the studio, with a slot for each of its devices new to the
/// studio (fed once the engine opens them: [`SceneControl::take_new_devices`]).
pub(super) struct Handoff {
    collection: Collection,
    current: String,
    slots: Vec<(Source, Arc<LatestFrame>)>,
}

/// What the control knows of the studio's devices.
#[derive(Default)]
pub(super) struct DeviceBook {
    /// The device sources (screen, window, camera) of the newest collection.
    sources: Vec<Source>,
    /// Slots of new devices the engine has not opened yet: at most one per device source of
    /// the newest collection (a source gone from it takes its slot away).
    to_open: Vec<(Source, Arc<LatestFrame>)>,
}

impl std::fmt::Debug for Handoff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handoff")
            .field("current", &self.current)
            .field("new_devices", &self.slots.len())
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for DeviceBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceBook")
            .field("sources", &self.sources)
            .field("to_open", &self.to_open.len())
            .finish()
    }
}

impl DeviceBook {
    pub(super) fn of(collection: &Collection) -> DeviceBook {
        DeviceBook {
            sources: device_sources(collection),
            to_open: Vec::new(),
        }
    }
}

fn is_device(kind: &SourceKind) -> bool {
    matches!(kind, SourceKind::Screen(_) | SourceKind::Camera(_))
}

fn device_sources(collection: &Collection) -> Vec<Source> {
    collection
        .sources
        .iter()
        .filter(|s| is_device(&s.kind))
        .cloned()
        .collect()
}

/// An empty slot for a device source, named as its device loop names it in the stats.
fn device_slot(kind: &SourceKind) -> Arc<LatestFrame> {
    let (label, kind_name) = match kind {
        SourceKind::Screen(t) => (screen::label(t), "screen"),
        SourceKind::Camera(t) => (camera::label(t), "camera"),
        other => (other.name().to_owned(), other.name()),
    };
    Arc::new(LatestFrame::new(Arc::new(SourceCounters::new(
        label, kind_name,
    ))))
}

impl SceneControl {
    /// Gives the studio a new collection (validated), taken at its next frame: sources the
    /// same by name and kind stay open; the program shows scene `current` (a cut; a scene
    /// renamed keeps showing), else the scene of the name shown before, else the first.
    /// A screen, window or camera new to the studio gets a slot here, which the studio shows
    /// (nothing until its first picture) and the engine's owner opens off the media thread
    /// ([`take_new_devices`](Self::take_new_devices)): the studio never waits for a device.
    pub fn replace(&self, collection: Collection, current: &str) {
        *lock(&self.names) = (
            collection.scenes.iter().map(|s| s.name.clone()).collect(),
            collection.transition,
        );
        let mut handoff = lock(&self.collection);
        let mut book = lock(&self.devices);
        let wanted = device_sources(&collection);
        // Slots of a collection the studio has not taken yet still stand for its devices.
        let mut slots: Vec<(Source, Arc<LatestFrame>)> = handoff
            .take()
            .map(|h| h.slots)
            .unwrap_or_default()
            .into_iter()
            .filter(|(s, _)| wanted.contains(s))
            .collect();
        for s in &wanted {
            if !book.sources.contains(s) && !slots.iter().any(|(g, _)| g == s) {
                let slot = device_slot(&s.kind);
                book.to_open.push((s.clone(), slot.clone()));
                slots.push((s.clone(), slot));
            }
        }
        book.to_open.retain(|(s, _)| wanted.contains(s));
        book.sources = wanted;
        *handoff = Some(Handoff {
            collection,
            current: current.to_owned(),
            slots,
        });
    }

    /// The devices new to the studio that nobody has opened yet, each with the slot the
    /// studio shows it from: the caller starts their device loops
    /// ([`start_device`]), which may wait for the device.
    pub fn take_new_devices(&self) -> Vec<(Source, Arc<LatestFrame>)> {
        std::mem::take(&mut lock(&self.devices).to_open)
    }

    /// The sound of each video file the running studio opened since the last call, named as
    /// its source: the caller attaches each to the mixer (the picture already plays).
    pub fn take_new_sounds(&self) -> Vec<(String, ClipAudio)> {
        std::mem::take(&mut lock(&self.new_sounds))
    }

    /// Lets go of every slot not taken by the studio (it has stopped): their device loops
    /// end.
    pub fn release(&self) {
        let _untaken = lock(&self.collection).take();
        lock(&self.devices).to_open.clear();
    }
}

/// Starts the device loop of a screen, window or camera source added to a running studio,
/// feeding `slot` (the one [`SceneControl::take_new_devices`] gave). Never fails: a device
/// that cannot be opened now marks the slot lost (the studio shows the slate) and is tried
/// again every 2 s; its error comes beside the loop, to be told. `None` for other kinds.
pub fn start_device(
    kind: &SourceKind,
    slot: &Arc<LatestFrame>,
    width: u32,
    height: u32,
    fps: u32,
) -> Option<(Worker, Option<CaptureError>)> {
    match kind {
        SourceKind::Screen(t) => Some(screen::start_into(t, fps, slot)),
        SourceKind::Camera(t) => Some(camera::start_into(t, (width, height, fps), slot)),
        _ => None,
    }
}

impl Studio {
    /// Takes a new collection from the control, if any: keeps the sources whose name and
    /// kind did not change (and their devices), shows new devices from the slots that came
    /// with it, opens the other generated ones, drops the rest (their device loops end with
    /// them).
    pub(super) fn take_collection(&mut self) {
        let Some(Handoff {
            collection: new,
            current: wanted,
            mut slots,
        }) = lock(&self.control.collection).take()
        else {
            return;
        };
        self.control.replacements.fetch_add(1, Relaxed);
        let mut old: Vec<Option<(String, OpenSource)>> = self
            .collection
            .sources
            .iter()
            .map(|s| s.name.clone())
            .zip(self.sources.drain(..))
            .map(Some)
            .collect();
        let mut sources = Vec::with_capacity(new.sources.len());
        for s in &new.sources {
            if let Some(i) = slots.iter().position(|(g, _)| g == s) {
                // A device new to the studio (a kept one of that name and kind is dropped).
                let (_, slot) = slots.swap_remove(i);
                sources.push(OpenSource {
                    content: device(slot, &s.name),
                    kind: s.kind.clone(),
                    version: 0,
                });
                continue;
            }
            let kept = old.iter_mut().find(|o| {
                o.as_ref()
                    .is_some_and(|(name, open)| *name == s.name && open.kind == s.kind)
            });
            if let Some((_, mut open)) = kept.and_then(Option::take) {
                // Layers may now show it where they showed another: their copies are stale.
                open.version += 1;
                sources.push(open);
                continue;
            }
            let content = if is_device(&s.kind) {
                // Not expected: every device new to the studio comes with a slot.
                tracing::warn!(source = %s.name, "a device came without its slot");
                let slot = device_slot(&s.kind);
                slot.set_lost(true);
                device(slot, &s.name)
            } else if let SourceKind::Video(path) = &s.kind {
                self.open_video_live(path, &s.name)
            } else {
                match generated(&s.kind, &s.name, self.width, self.height) {
                    Ok(c) => c,
                    Err(e) => {
                        // Checked by the window before; a file gone since shows nothing.
                        tracing::warn!("{e}");
                        Content::Colour(Rgba([0, 0, 0, 0]))
                    }
                }
            };
            sources.push(OpenSource {
                content,
                kind: s.kind.clone(),
                version: 0,
            });
        }
        self.sources = sources;
        let current_name = &self.collection.scenes[self.current].name;
        let current = new
            .scene(&wanted)
            .or_else(|| new.scene(current_name))
            .unwrap_or(0);
        self.fade = self.fade.take().and_then(|f| {
            let from = new.scene(&self.collection.scenes[f.from].name)?;
            Some(Fade { from, ..f })
        });
        if self.fade.is_none() {
            *lock(&self.control.fading_from) = None;
        }
        self.caches = new_caches(&new);
        self.current = current;
        *lock(&self.control.current) = new.scenes[current].name.clone();
        self.collection = new;
    }
}

/// A source that needs no device, opened.
pub(super) fn generated(
    kind: &SourceKind,
    name: &str,
    width: u32,
    height: u32,
) -> Result<Content, CaptureError> {
    Ok(match kind {
        SourceKind::Test => Content::Test {
            pattern: TestPattern::new(width, height),
            frame: VideoFrame::black(width, height, MediaTime::ZERO),
            drawn_at: None,
        },
        SourceKind::Image(path) => Content::Still(load_image(path, name)?),
        SourceKind::Colour(c) => Content::Colour(*c),
        SourceKind::Text(spec) => Content::Text {
            spec: spec.clone(),
            image: RgbaImage::default(),
            made_for: None,
            words: String::new(),
            since: MediaTime::ZERO,
            drawn: None,
        },
        // Devices are opened by their modules; nothing stands in here.
        SourceKind::Screen(_) | SourceKind::Camera(_) | SourceKind::Video(_) => {
            Content::Colour(Rgba([0, 0, 0, 0]))
        }
    })
}

pub(super) fn new_caches(collection: &Collection) -> Vec<Vec<LayerCache>> {
    collection
        .scenes
        .iter()
        .map(|s| s.layers.iter().map(|_| LayerCache::default()).collect())
        .collect()
}
