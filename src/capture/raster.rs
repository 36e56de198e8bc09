//! Pictures with alpha for the studio, and the per-frame kernels.
//!
//! Images are decoded once and text is rasterized when its words change, into straight-alpha
//! RGBA; an [`Overlay`] is that picture scaled to its layer's size and turned into I420 with
//! an alpha plane (and a half-size one for chroma), made again only when the picture or the
//! layer changes. Per frame the studio only copies, fills, blends and mixes, in place, on
//! integers (the compiler vectorises the row loops); blending in Y'CbCr is the same as in
//! R'G'B' since one is an affine map of the other.

use std::path::Path;

use ab_glyph::{Font, FontRef, PxScale, ScaleFont, point};
use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{PixelType, ResizeOptions, Resizer};

use super::CaptureError;
use super::scene::{Align, Rgba, TextSpec};
use crate::media::{MediaTime, VideoFrame};

/// DejaVu Sans Bold (Bitstream Vera licence, `assets/fonts/DejaVuSans-LICENSE.txt`).
const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf");

/// A straight-alpha RGBA picture.
#[derive(Debug, Clone, Default)]
pub struct RgbaImage {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u8>,
}

/// Decodes a PNG, JPEG, WebP or GIF (its first frame) into RGBA.
pub fn load_image(path: &Path, source_name: &str) -> Result<RgbaImage, CaptureError> {
    let bad = |detail: String| CaptureError::Image {
        source_name: source_name.to_owned(),
        path: path.to_owned(),
        detail,
    };
    let reader = image::ImageReader::open(path)
        .map_err(|e| bad(e.to_string()))?
        .with_guessed_format()
        .map_err(|e| bad(e.to_string()))?;
    let img = reader.decode().map_err(|e| bad(e.to_string()))?.to_rgba8();
    let (width, height) = img.dimensions();
    if width < 2 || height < 2 {
        return Err(bad(format!("{width}x{height} is too small (at least 2x2)")));
    }
    Ok(RgbaImage {
        width,
        height,
        pixels: img.into_raw(),
    })
}

/// Lays out and rasterizes text with the bundled font.
pub struct TextRenderer {
    font: FontRef<'static>,
}

impl Default for TextRenderer {
    fn default() -> Self {
        Self {
            // The bundled font is checked by the tests; a broken build is caught there.
            #[allow(clippy::expect_used)]
            font: FontRef::try_from_slice(FONT).expect("the bundled font parses"),
        }
    }
}

impl TextRenderer {
    /// Draws `text` (lines split at `\n`) as `spec` says into `out` (resized to fit, even
    /// sizes): a margin of a quarter of the size, the background box if any.
    pub fn render(&self, spec: &TextSpec, text: &str, out: &mut RgbaImage) {
        let font = self.font.as_scaled(PxScale::from(spec.size as f32));
        let line_h = (font.ascent() - font.descent() + font.line_gap()).ceil();
        let outline = spec.outline.map_or(0, |(_, w)| w);
        let pad = ((spec.size / 4).max(1) + outline) as f32;
        let line_width = |line: &str| {
            let mut w = 0.0;
            let mut prev = None;
            for c in line.chars() {
                let id = font.glyph_id(c);
                if let Some(p) = prev {
                    w += font.kern(p, id);
                }
                w += font.h_advance(id);
                prev = Some(id);
            }
            w
        };
        let widest = text.lines().map(line_width).fold(0.0f32, f32::max);
        let lines = text.lines().count().max(1) as f32;
        let even_up = |v: f32| ((v.ceil() as u32).max(2) + 1) & !1;
        let (w, h) = (
            even_up(widest + 2.0 * pad),
            even_up(lines * line_h + 2.0 * pad),
        );
        out.width = w;
        out.height = h;
        out.pixels.clear();
        let bg = spec.background.unwrap_or(Rgba([0, 0, 0, 0])).0;
        out.pixels
            .extend(std::iter::repeat_n(bg, (w * h) as usize).flatten());
        // The letters' coverage first, then the outline (the coverage spread by its width)
        // and the letters over the box.
        let mut cover = vec![0f32; (w * h) as usize];
        for (i, line) in text.lines().enumerate() {
            let lw = line_width(line);
            let x0 = pad
                + match spec.align {
                    Align::Left => 0.0,
                    Align::Center => (widest - lw) / 2.0,
                    Align::Right => widest - lw,
                };
            let baseline = pad + i as f32 * line_h + font.ascent();
            let mut x = x0;
            let mut prev = None;
            for c in line.chars() {
                let id = font.glyph_id(c);
                if let Some(p) = prev {
                    x += font.kern(p, id);
                }
                let glyph = id.with_scale_and_position(font.scale(), point(x, baseline));
                x += font.h_advance(id);
                prev = Some(id);
                let Some(outlined) = font.outline_glyph(glyph) else {
                    continue;
                };
                let b = outlined.px_bounds();
                let cover_at = &mut cover;
                outlined.draw(|gx, gy, c| {
                    let (px, py) = (
                        b.min.x as i64 + i64::from(gx),
                        b.min.y as i64 + i64::from(gy),
                    );
                    if px < 0 || py < 0 || px >= i64::from(w) || py >= i64::from(h) {
                        return;
                    }
                    let at = (py as usize) * w as usize + px as usize;
                    cover_at[at] = cover_at[at].max(c.clamp(0.0, 1.0));
                });
            }
        }
        if let Some((colour, width)) = spec.outline {
            let spread = dilate(&cover, w as usize, h as usize, width as usize);
            for (px, &c) in out.pixels.chunks_exact_mut(4).zip(&spread) {
                if c > 0.0 {
                    over(px, colour.0, c);
                }
            }
        }
        for (px, &c) in out.pixels.chunks_exact_mut(4).zip(&cover) {
            if c > 0.0 {
                over(px, spec.colour.0, c);
            }
        }
    }
}

/// The largest coverage within `r` pixels (a disc) of each pixel of a `w` x `h` mask.
fn dilate(cover: &[f32], w: usize, h: usize, r: usize) -> Vec<f32> {
    // Per row offset of the disc: how far it reaches sideways.
    let reach: Vec<usize> = (0..=r)
        .map(|dy| (((r * r + r) as f64 - (dy * dy) as f64).max(0.0)).sqrt() as usize)
        .collect();
    let mut out = vec![0f32; w * h];
    for y in 0..h {
        for x in 0..w {
            let mut m = 0f32;
            for (dy, &dx) in reach.iter().enumerate() {
                for yy in [y.checked_sub(dy), (y + dy < h).then_some(y + dy)]
                    .into_iter()
                    .flatten()
                {
                    let row = &cover[yy * w + x.saturating_sub(dx)..=yy * w + (x + dx).min(w - 1)];
                    m = row.iter().copied().fold(m, f32::max);
                }
            }
            out[y * w + x] = m;
        }
    }
    out
}

/// Straight-alpha "over": `fg` at `cover` of its alpha onto `dst`.
fn over(dst: &mut [u8], fg: [u8; 4], cover: f32) {
    let sa = f32::from(fg[3]) / 255.0 * cover;
    let da = f32::from(dst[3]) / 255.0;
    let oa = sa + da * (1.0 - sa);
    if oa <= 0.0 {
        return;
    }
    for c in 0..3 {
        let v = (f32::from(fg[c]) * sa + f32::from(dst[c]) * da * (1.0 - sa)) / oa;
        dst[c] = v.round().clamp(0.0, 255.0) as u8;
    }
    dst[3] = (oa * 255.0).round() as u8;
}

/// BT.601 limited-range Y'CbCr of an R'G'B' colour (the engine's I420).
pub fn yuv_of(r: u8, g: u8, b: u8) -> (u8, u8, u8) {
    let (r, g, b) = (i32::from(r), i32::from(g), i32::from(b));
    let y = ((66 * r + 129 * g + 25 * b + 128) >> 8) + 16;
    let u = ((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128;
    let v = ((112 * r - 94 * g - 18 * b + 128) >> 8) + 128;
    (y as u8, u.clamp(0, 255) as u8, v.clamp(0, 255) as u8)
}

/// A picture with alpha in the program's format: I420 and alpha at full and half size.
pub struct Overlay {
    pub frame: VideoFrame,
    pub alpha: Vec<u8>,
    pub chroma_alpha: Vec<u8>,
    /// Scratch for the scaled RGBA.
    rgba: Vec<u8>,
}

impl Default for Overlay {
    fn default() -> Self {
        Self {
            frame: VideoFrame::black(2, 2, MediaTime::ZERO),
            alpha: Vec::new(),
            chroma_alpha: Vec::new(),
            rgba: Vec::new(),
        }
    }
}

impl Overlay {
    /// Makes the overlay: `src`'s part `crop` (x, y, w, h in its pixels) scaled to `w` x `h`
    /// (even), alpha-correct (the resizer premultiplies).
    pub fn make(
        &mut self,
        src: &RgbaImage,
        crop: [f64; 4],
        (w, h): (u32, u32),
        resizer: &mut Resizer,
    ) -> Result<(), CaptureError> {
        super::convert::ensure_size(&mut self.frame, w, h);
        let (wu, hu) = (w as usize, h as usize);
        self.rgba.resize(wu * hu * 4, 0);
        let from = ImageRef::new(src.width, src.height, &src.pixels, PixelType::U8x4)
            .map_err(scale_err)?;
        let mut to =
            Image::from_slice_u8(w, h, &mut self.rgba, PixelType::U8x4).map_err(scale_err)?;
        let options = ResizeOptions::new().crop(crop[0], crop[1], crop[2], crop[3]);
        resizer
            .resize(&from, &mut to, &options)
            .map_err(scale_err)?;
        self.alpha.resize(wu * hu, 0);
        self.chroma_alpha.resize((wu / 2) * (hu / 2), 0);
        let rgba = &self.rgba;
        let (yp, up, vp) = self.frame.planes_mut();
        for (i, px) in rgba.chunks_exact(4).enumerate() {
            yp[i] = yuv_of(px[0], px[1], px[2]).0;
            self.alpha[i] = px[3];
        }
        // Chroma: the alpha-weighted mean colour of each 2x2 block, and its mean alpha.
        for cy in 0..hu / 2 {
            for cx in 0..wu / 2 {
                let mut sum = [0u32; 4];
                for (dy, dx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                    let p = &rgba[((cy * 2 + dy) * wu + cx * 2 + dx) * 4..][..4];
                    let a = u32::from(p[3]);
                    for c in 0..3 {
                        sum[c] += u32::from(p[c]) * a;
                    }
                    sum[3] += a;
                }
                let ci = cy * (wu / 2) + cx;
                let (u, v) = if sum[3] == 0 {
                    (128, 128)
                } else {
                    let m = |c: u32| ((c + sum[3] / 2) / sum[3]) as u8;
                    let (_, u, v) = yuv_of(m(sum[0]), m(sum[1]), m(sum[2]));
                    (u, v)
                };
                up[ci] = u;
                vp[ci] = v;
                self.chroma_alpha[ci] = ((sum[3] + 2) / 4) as u8;
            }
        }
        Ok(())
    }
}

pub(crate) fn scale_err(e: impl std::fmt::Display) -> CaptureError {
    CaptureError::BadFrame {
        what: "scaled picture",
        detail: e.to_string(),
    }
}

/// The part of a `w` x `h` picture placed at (`x`, `y`) that lies inside `dst`: (first
/// column and row in the picture, where it lands, its size); `None` when nothing does.
/// Positions are even, so chroma lines up.
fn clip(dst: &VideoFrame, x: i32, y: i32, w: u32, h: u32) -> Option<[usize; 6]> {
    let (fw, fh) = (i64::from(dst.width), i64::from(dst.height));
    let (x, y) = (i64::from(x & !1), i64::from(y & !1));
    let x0 = x.max(0);
    let y0 = y.max(0);
    let x1 = (x + i64::from(w)).min(fw) & !1;
    let y1 = (y + i64::from(h)).min(fh) & !1;
    if x0 >= x1 || y0 >= y1 {
        return None;
    }
    Some([
        (x0 - x) as usize,
        (y0 - y) as usize,
        x0 as usize,
        y0 as usize,
        (x1 - x0) as usize,
        (y1 - y0) as usize,
    ])
}

/// Copies the opaque `src` into `dst` with its top-left corner at (`x`, `y`), cut to `dst`.
pub fn blit(dst: &mut VideoFrame, src: &VideoFrame, x: i32, y: i32) {
    let Some([sx, sy, dx, dy, w, h]) = clip(dst, x, y, src.width, src.height) else {
        return;
    };
    let (fw, sw) = (dst.width as usize, src.width as usize);
    let (s_y, s_u, s_v) = src.planes();
    let (d_y, d_u, d_v) = dst.planes_mut();
    for row in 0..h {
        d_y[(dy + row) * fw + dx..][..w].copy_from_slice(&s_y[(sy + row) * sw + sx..][..w]);
    }
    let (fcw, scw) = (fw / 2, sw / 2);
    for row in 0..h / 2 {
        let d = (dy / 2 + row) * fcw + dx / 2;
        let s = (sy / 2 + row) * scw + sx / 2;
        d_u[d..d + w / 2].copy_from_slice(&s_u[s..s + w / 2]);
        d_v[d..d + w / 2].copy_from_slice(&s_v[s..s + w / 2]);
    }
}

/// `d = (s·a + d·(255 − a)) / 255`, rounded, on a row.
#[inline]
fn blend_row(d: &mut [u8], s: &[u8], a: &[u8]) {
    for ((d, &s), &a) in d.iter_mut().zip(s).zip(a) {
        let (s, a, dv) = (u16::from(s), u16::from(a), u16::from(*d));
        let v = s * a + dv * (255 - a) + 128;
        *d = ((v + (v >> 8)) >> 8) as u8;
    }
}

/// Blends `ov` over `dst` at (`x`, `y`), cut to `dst`.
pub fn blend(dst: &mut VideoFrame, ov: &Overlay, x: i32, y: i32) {
    let src = &ov.frame;
    let Some([sx, sy, dx, dy, w, h]) = clip(dst, x, y, src.width, src.height) else {
        return;
    };
    let (fw, sw) = (dst.width as usize, src.width as usize);
    let (s_y, s_u, s_v) = src.planes();
    let (d_y, d_u, d_v) = dst.planes_mut();
    for row in 0..h {
        let s = (sy + row) * sw + sx;
        blend_row(
            &mut d_y[(dy + row) * fw + dx..][..w],
            &s_y[s..s + w],
            &ov.alpha[s..s + w],
        );
    }
    let (fcw, scw) = (fw / 2, sw / 2);
    for row in 0..h / 2 {
        let d = (dy / 2 + row) * fcw + dx / 2;
        let s = (sy / 2 + row) * scw + sx / 2;
        let a = &ov.chroma_alpha[s..s + w / 2];
        blend_row(&mut d_u[d..d + w / 2], &s_u[s..s + w / 2], a);
        blend_row(&mut d_v[d..d + w / 2], &s_v[s..s + w / 2], a);
    }
}

/// Fills a `w` x `h` box at (`x`, `y`) with `colour` (alpha blended), cut to `dst`.
pub fn fill(dst: &mut VideoFrame, colour: Rgba, x: i32, y: i32, w: u32, h: u32) {
    let Some([_, _, dx, dy, w, h]) = clip(dst, x, y, w, h) else {
        return;
    };
    let [r, g, b, a] = colour.0;
    let (cy, cu, cv) = yuv_of(r, g, b);
    let fw = dst.width as usize;
    let (d_y, d_u, d_v) = dst.planes_mut();
    let put = |row: &mut [u8], c: u8| {
        if a == 255 {
            row.fill(c);
        } else {
            let (c, a) = (u16::from(c), u16::from(a));
            for d in row {
                let v = c * a + u16::from(*d) * (255 - a) + 128;
                *d = ((v + (v >> 8)) >> 8) as u8;
            }
        }
    };
    for row in 0..h {
        put(&mut d_y[(dy + row) * fw + dx..][..w], cy);
    }
    for row in 0..h / 2 {
        let d = (dy / 2 + row) * (fw / 2) + dx / 2;
        put(&mut d_u[d..d + w / 2], cu);
        put(&mut d_v[d..d + w / 2], cv);
    }
}

/// `dst = (dst·(256 − w) + other·w) / 256`: a fade's mix, `w` in 0..=256.
pub fn mix(dst: &mut [u8], other: &[u8], w: u16) {
    let w = w.min(256);
    for (d, &o) in dst.iter_mut().zip(other) {
        *d = ((u16::from(*d) * (256 - w) + u16::from(o) * w + 128) >> 8) as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solid(w: u32, h: u32, rgba: [u8; 4]) -> RgbaImage {
        RgbaImage {
            width: w,
            height: h,
            pixels: std::iter::repeat_n(rgba, (w * h) as usize)
                .flatten()
                .collect(),
        }
    }

    #[test]
    fn colours_convert_as_the_engine_does() {
        assert_eq!(yuv_of(0, 0, 0), (16, 128, 128));
        assert_eq!(yuv_of(255, 255, 255), (235, 128, 128));
        let (y, u, v) = yuv_of(255, 0, 0);
        assert_eq!((y, u, v), (82, 90, 240));
    }

    #[test]
    fn half_transparent_overlay_blends_half_way_and_clips_at_the_edges() {
        let mut frame = VideoFrame::black(64, 32, MediaTime::ZERO);
        fill(&mut frame, Rgba([255, 255, 255, 255]), 0, 0, 64, 32);
        assert!(frame.planes().0.iter().all(|&v| v == 235));
        let mut ov = Overlay::default();
        let mut resizer = Resizer::new();
        let img = solid(20, 10, [0, 0, 0, 128]);
        ov.make(&img, [0.0, 0.0, 20.0, 10.0], (20, 10), &mut resizer)
            .unwrap();
        // Half off the left edge, half off the bottom.
        blend(&mut frame, &ov, -10, 26);
        let y = frame.planes().0;
        let at = |x: usize, row: usize| y[row * 64 + x];
        // (16·128 + 235·127) / 255 = 125.1
        assert_eq!(at(0, 31), 125);
        assert_eq!(at(9, 26), 125);
        assert_eq!(at(10, 26), 235, "right of the overlay");
        assert_eq!(at(0, 25), 235, "above the overlay");
    }

    #[test]
    fn mixing_weights_the_two_frames() {
        let mut a = vec![0u8, 100, 255];
        mix(&mut a, &[255, 100, 0], 128);
        assert_eq!(a, [128, 100, 128]);
        let mut a = vec![10u8];
        mix(&mut a, &[200], 0);
        assert_eq!(a, [10]);
        mix(&mut a, &[200], 256);
        assert_eq!(a, [200]);
    }

    #[test]
    fn text_is_drawn_in_its_colour_on_its_box() {
        let r = TextRenderer::default();
        let spec = TextSpec {
            background: Some(Rgba([0, 0, 255, 255])),
            align: Align::Center,
            ..TextSpec::plain("", 40, Rgba([255, 0, 0, 255]))
        };
        let mut out = RgbaImage::default();
        r.render(&spec, "HI\nthere", &mut out);
        assert!(
            out.width > 60 && out.height >= 80,
            "{}x{}",
            out.width,
            out.height
        );
        assert_eq!(out.width % 2, 0);
        let px = |i: usize| &out.pixels[i * 4..i * 4 + 4];
        let n = (out.width * out.height) as usize;
        let red = (0..n).filter(|&i| px(i) == [255, 0, 0, 255]).count();
        let blue = (0..n).filter(|&i| px(i) == [0, 0, 255, 255]).count();
        assert!(red > 200, "{red} text pixels");
        assert!(blue > n / 2, "{blue} box pixels");
        // A longer text is wider.
        let w1 = out.width;
        r.render(&spec, "HI there, everyone", &mut out);
        assert!(out.width > w1);
    }

    #[test]
    fn an_outline_rings_the_letters_in_its_colour_and_width() {
        let r = TextRenderer::default();
        let white = Rgba([255, 255, 255, 255]);
        let plain = TextSpec::plain("IL", 40, white);
        let ringed = TextSpec {
            outline: Some((Rgba([255, 0, 0, 255]), 3)),
            ..plain.clone()
        };
        let (mut a, mut b) = (RgbaImage::default(), RgbaImage::default());
        r.render(&plain, "IL", &mut a);
        r.render(&ringed, "IL", &mut b);
        // Wider and taller by the outline on each side.
        assert_eq!((b.width, b.height), (a.width + 6, a.height + 6));
        let (w, h) = (b.width as usize, b.height as usize);
        let px = |x: usize, y: usize| &b.pixels[(y * w + x) * 4..(y * w + x) * 4 + 4];
        let is = |p: &[u8], c: [u8; 4]| p == c;
        let letters: Vec<(usize, usize)> = (0..h)
            .flat_map(|y| (0..w).map(move |x| (x, y)))
            .filter(|&(x, y)| is(px(x, y), [255, 255, 255, 255]))
            .collect();
        let red: Vec<(usize, usize)> = (0..h)
            .flat_map(|y| (0..w).map(move |x| (x, y)))
            .filter(|&(x, y)| is(px(x, y), [255, 0, 0, 255]))
            .collect();
        assert!(letters.len() > 200, "{} letter pixels", letters.len());
        assert!(red.len() > 150, "{} outline pixels", red.len());
        // Every outline pixel is within its width (and a pixel of antialiasing) of a letter,
        // and each letter pixel at a letter's left edge has red 2 px to its left.
        let near = |(x, y): (usize, usize)| {
            letters
                .iter()
                .any(|&(lx, ly)| (lx as f64 - x as f64).hypot(ly as f64 - y as f64) <= 4.5)
        };
        assert!(
            red.iter().all(|&p| near(p)),
            "an outline pixel far from the letters"
        );
        let edges: Vec<_> = letters
            .iter()
            .filter(|&&(x, y)| x >= 3 && px(x - 1, y)[1] < 255)
            .collect();
        assert!(!edges.is_empty());
        assert!(
            edges
                .iter()
                .all(|&&(x, y)| is(px(x - 2, y), [255, 0, 0, 255])),
            "outline left of the letters"
        );
        // Without an outline, no red at all.
        assert!(!a.pixels.chunks_exact(4).any(|p| p == [255, 0, 0, 255]));
    }
}
