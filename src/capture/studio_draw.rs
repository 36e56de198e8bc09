//! The studio's program frame: the pending switch and the devices' new pictures taken, the
//! scene drawn layer by layer bottom-up (each layer's scaled copy kept), a fade mixed in.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions};

use super::text::prepare;
use super::*;
use crate::capture::compose::draw_slate;
use crate::capture::convert::{Rect, ensure_size};
use crate::capture::raster::{blend, blit, fill, mix, scale_err};
use crate::capture::scene::{Crop, Fit, Layer};

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

/// The source's own size, if it has one a layer takes by default (images, text).
fn natural_size(content: &Content) -> Option<(u32, u32)> {
    match content {
        Content::Still(img) | Content::Text { image: img, .. } => Some((img.width, img.height)),
        _ => None,
    }
}

/// Where `layer` puts a picture of `src_w` x `src_h` in a program of `pw` x `ph`.
pub(super) fn place(layer: &Layer, src: (u32, u32), box_size: (u32, u32)) -> Option<Placement> {
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
