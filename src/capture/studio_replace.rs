//! The studio's live update: a new collection taken between frames, keeping what did not
//! change open.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use super::*;

impl Studio {
    /// Takes a new collection from the control, if any: keeps the sources whose name and
    /// kind did not change (and their devices), opens the other generated ones, shows the
    /// slate for new devices, drops the rest (their device loops end with them).
    pub(super) fn take_collection(&mut self) {
        let Some((new, wanted)) = lock(&self.control.collection).take() else {
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
            let content = match &s.kind {
                SourceKind::Screen(_) | SourceKind::Camera(_) => {
                    tracing::warn!(
                        source = %s.name,
                        "a screen or camera added while running opens when the program starts again"
                    );
                    let counters = Arc::new(SourceCounters::new(s.name.clone(), s.kind.name()));
                    let slot = Arc::new(LatestFrame::new(counters));
                    slot.set_lost(true);
                    device(slot, &s.name)
                }
                SourceKind::Video(path) => self.open_video_live(path, &s.name),
                kind => match generated(kind, &s.name, self.width, self.height) {
                    Ok(c) => c,
                    Err(e) => {
                        // Checked by the window before; a file gone since shows nothing.
                        tracing::warn!("{e}");
                        Content::Colour(Rgba([0, 0, 0, 0]))
                    }
                },
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
