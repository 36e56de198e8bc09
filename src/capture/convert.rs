//! Pixel conversions into the engine's I420 (BT.601, limited range), and letterboxed scaling.
//!
//! Pure functions over caller-owned buffers: a [`VideoFrame`] is only reallocated when the
//! picture size changes, so steady capture allocates nothing per frame. Colour conversion is
//! the `yuv` crate's SIMD code; scaling is `fast_image_resize` on each plane.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use yuv::{BufferStoreMut, YuvConversionMode, YuvPlanarImageMut, YuvRange, YuvStandardMatrix};

use super::CaptureError;
use crate::media::{MediaTime, VideoFrame};

const RANGE: YuvRange = YuvRange::Limited;
const MATRIX: YuvStandardMatrix = YuvStandardMatrix::Bt601;

/// Byte order of a 4-byte-per-pixel picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rgba32 {
    /// R, G, B, A (xcap's `RgbaImage`).
    Rgba,
    /// B, G, R, A/X (X11 ZPixmap on little-endian machines, Windows DIBs).
    Bgra,
}

/// Resizes `frame` to `width` x `height` (both even), reallocating only when the size changes.
pub fn ensure_size(frame: &mut VideoFrame, width: u32, height: u32) {
    if frame.width != width || frame.height != height {
        *frame = VideoFrame::black(width, height, MediaTime::ZERO);
    }
}

/// The largest even size not above `v` (a picture of odd size loses its last column or row).
pub fn even(v: u32) -> u32 {
    v & !1
}

fn too_small(what: &'static str, width: u32, height: u32) -> CaptureError {
    CaptureError::BadFrame {
        what,
        detail: format!("{width}x{height} is too small (at least 2x2)"),
    }
}

fn short(what: &'static str, got: usize, want: usize) -> CaptureError {
    CaptureError::BadFrame {
        what,
        detail: format!("{got} bytes, expected at least {want}"),
    }
}

fn planar(frame: &mut VideoFrame) -> YuvPlanarImageMut<'_, u8> {
    let (w, h) = (frame.width, frame.height);
    let (y, u, v) = frame.planes_mut();
    YuvPlanarImageMut {
        y_plane: BufferStoreMut::Borrowed(y),
        y_stride: w,
        u_plane: BufferStoreMut::Borrowed(u),
        u_stride: w / 2,
        v_plane: BufferStoreMut::Borrowed(v),
        v_stride: w / 2,
        width: w,
        height: h,
    }
}

fn yuv_err(what: &'static str, e: yuv::YuvError) -> CaptureError {
    CaptureError::BadFrame {
        what,
        detail: e.to_string(),
    }
}

/// The even size a packed RGB picture converts at, once its rows (`stride` bytes apart,
/// `bytes_per_pixel` each) are known to be all there.
fn packed_size(
    pixels: &[u8],
    stride: usize,
    width: u32,
    height: u32,
    bytes_per_pixel: usize,
) -> Result<(u32, u32), CaptureError> {
    let (w, h) = (even(width), even(height));
    if w < 2 || h < 2 {
        return Err(too_small("RGB picture", width, height));
    }
    let row = w as usize * bytes_per_pixel;
    let need = stride * (h as usize - 1) + row;
    if pixels.len() < need || stride < row {
        return Err(short("RGB picture", pixels.len(), need));
    }
    Ok((w, h))
}

/// Converts a 32-bit RGB picture (`stride` bytes per row) to I420 in `out`, resized to the
/// picture's even size.
pub fn rgb32_to_i420(
    pixels: &[u8],
    stride: usize,
    width: u32,
    height: u32,
    order: Rgba32,
    out: &mut VideoFrame,
) -> Result<(), CaptureError> {
    let (w, h) = packed_size(pixels, stride, width, height, 4)?;
    ensure_size(out, w, h);
    let mut img = planar(out);
    let f = match order {
        Rgba32::Rgba => yuv::rgba_to_yuv420,
        Rgba32::Bgra => yuv::bgra_to_yuv420,
    };
    f(
        &mut img,
        pixels,
        stride as u32,
        RANGE,
        MATRIX,
        YuvConversionMode::Balanced,
    )
    .map_err(|e| yuv_err("RGB picture", e))
}

/// Converts packed 24-bit RGB (`stride` bytes per row) to I420.
pub fn rgb24_to_i420(
    pixels: &[u8],
    stride: usize,
    width: u32,
    height: u32,
    out: &mut VideoFrame,
) -> Result<(), CaptureError> {
    let (w, h) = packed_size(pixels, stride, width, height, 3)?;
    ensure_size(out, w, h);
    let mut img = planar(out);
    yuv::rgb_to_yuv420(
        &mut img,
        pixels,
        stride as u32,
        RANGE,
        MATRIX,
        YuvConversionMode::Balanced,
    )
    .map_err(|e| yuv_err("RGB picture", e))
}

/// Converts YUYV 4:2:2 (Y0 U Y1 V; a camera's raw format) to I420: luma copied, chroma of
/// each row pair averaged.
pub fn yuyv_to_i420(
    data: &[u8],
    width: u32,
    height: u32,
    out: &mut VideoFrame,
) -> Result<(), CaptureError> {
    let (w, h) = (even(width), even(height));
    if w < 2 || h < 2 {
        return Err(too_small("YUYV frame", width, height));
    }
    let stride = width as usize * 2;
    let need = stride * height as usize;
    if data.len() < need {
        return Err(short("YUYV frame", data.len(), need));
    }
    ensure_size(out, w, h);
    let (wu, hu) = (w as usize, h as usize);
    let (yp, up, vp) = out.planes_mut();
    for row in 0..hu / 2 {
        let a = &data[2 * row * stride..][..wu * 2];
        let b = &data[(2 * row + 1) * stride..][..wu * 2];
        let (ya, yb) = yp[2 * row * wu..(2 * row + 2) * wu].split_at_mut(wu);
        let urow = &mut up[row * wu / 2..(row + 1) * wu / 2];
        let vrow = &mut vp[row * wu / 2..(row + 1) * wu / 2];
        for (i, (qa, qb)) in a.chunks_exact(4).zip(b.chunks_exact(4)).enumerate() {
            ya[2 * i] = qa[0];
            ya[2 * i + 1] = qa[2];
            yb[2 * i] = qb[0];
            yb[2 * i + 1] = qb[2];
            urow[i] = (u16::from(qa[1]) + u16::from(qb[1])).div_ceil(2) as u8;
            vrow[i] = (u16::from(qa[3]) + u16::from(qb[3])).div_ceil(2) as u8;
        }
    }
    Ok(())
}

/// Converts NV12 (Y plane, then interleaved U/V at half size) to I420.
pub fn nv12_to_i420(
    data: &[u8],
    width: u32,
    height: u32,
    out: &mut VideoFrame,
) -> Result<(), CaptureError> {
    let (w, h) = (even(width), even(height));
    if w < 2 || h < 2 {
        return Err(too_small("NV12 frame", width, height));
    }
    let (sw, sh) = (width as usize, height as usize);
    let need = sw * sh + sw.div_ceil(2) * 2 * sh.div_ceil(2);
    if data.len() < need {
        return Err(short("NV12 frame", data.len(), need));
    }
    ensure_size(out, w, h);
    let (wu, hu) = (w as usize, h as usize);
    let uv_stride = sw.div_ceil(2) * 2;
    let (src_y, src_uv) = data.split_at(sw * sh);
    let (yp, up, vp) = out.planes_mut();
    for row in 0..hu {
        yp[row * wu..(row + 1) * wu].copy_from_slice(&src_y[row * sw..row * sw + wu]);
    }
    for row in 0..hu / 2 {
        let uv = &src_uv[row * uv_stride..row * uv_stride + wu];
        let urow = &mut up[row * wu / 2..(row + 1) * wu / 2];
        let vrow = &mut vp[row * wu / 2..(row + 1) * wu / 2];
        for ((pair, u), v) in uv.chunks_exact(2).zip(urow).zip(vrow) {
            *u = pair[0];
            *v = pair[1];
        }
    }
    Ok(())
}

/// Decodes Motion-JPEG frames (zune-jpeg) to I420, keeping its RGB scratch between frames.
#[derive(Default)]
pub struct MjpegDecoder {
    rgb: Vec<u8>,
}

impl MjpegDecoder {
    pub fn decode(&mut self, jpeg: &[u8], out: &mut VideoFrame) -> Result<(), CaptureError> {
        use zune_jpeg::zune_core::bytestream::ZCursor;
        use zune_jpeg::zune_core::colorspace::ColorSpace;
        use zune_jpeg::zune_core::options::DecoderOptions;
        let bad = |detail: String| CaptureError::BadFrame {
            what: "MJPEG frame",
            detail,
        };
        let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGB);
        let mut dec = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(jpeg), options);
        dec.decode_headers().map_err(|e| bad(e.to_string()))?;
        let info = dec.info().ok_or_else(|| bad("no image header".into()))?;
        let size = dec
            .output_buffer_size()
            .ok_or_else(|| bad("image too large".into()))?;
        if self.rgb.len() != size {
            self.rgb.resize(size, 0);
        }
        dec.decode_into(&mut self.rgb)
            .map_err(|e| bad(e.to_string()))?;
        let (w, h) = (u32::from(info.width), u32::from(info.height));
        rgb24_to_i420(&self.rgb, w as usize * 3, w, h, out)
    }
}

/// An even-aligned rectangle in a program picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

impl Rect {
    /// The largest even rectangle with the aspect ratio `src_w:src_h` that fits in `self`,
    /// centred (the rest is the letterbox or pillarbox).
    pub fn fit(self, src_w: u32, src_h: u32) -> Rect {
        if src_w == 0 || src_h == 0 || self.w < 2 || self.h < 2 {
            return Rect { w: 0, h: 0, ..self };
        }
        let (sw, sh) = (u64::from(src_w), u64::from(src_h));
        let (bw, bh) = (u64::from(self.w), u64::from(self.h));
        // Width-limited if src is relatively wider than the box.
        let (w, h) = if sw * bh >= sh * bw {
            (bw, (bw * sh + sw / 2) / sw)
        } else {
            ((bh * sw + sh / 2) / sh, bh)
        };
        let (w, h) = (even(w.min(bw) as u32).max(2), even(h.min(bh) as u32).max(2));
        Rect {
            x: self.x + even((self.w - w) / 2),
            y: self.y + even((self.h - h) / 2),
            w,
            h,
        }
    }
}

/// Scales an I420 picture into a rectangle of a program frame, letterboxed with black, with
/// reusable scratch: the scaled copy is kept and reused while the same picture repeats.
#[derive(Default)]
pub struct PlaneScaler {
    resizer: Resizer,
    scaled: Option<VideoFrame>,
}

impl PlaneScaler {
    /// Draws `src` into `dst` at `area`, fitted (aspect kept) with black bars around it.
    /// `fresh` tells whether `src` changed since the last call with the same `area`.
    pub fn draw(
        &mut self,
        src: &VideoFrame,
        fresh: bool,
        dst: &mut VideoFrame,
        area: Rect,
    ) -> Result<(), CaptureError> {
        let fit = area.fit(src.width, src.height);
        if fit.w == 0 {
            fill_rect(dst, area, BLACK);
            return Ok(());
        }
        // Black bars only where the picture does not go.
        let bars = [
            Rect {
                h: fit.y - area.y,
                ..area
            },
            Rect {
                y: fit.y + fit.h,
                h: area.y + area.h - fit.y - fit.h,
                ..area
            },
            Rect {
                y: fit.y,
                h: fit.h,
                w: fit.x - area.x,
                ..area
            },
            Rect {
                x: fit.x + fit.w,
                y: fit.y,
                w: area.x + area.w - fit.x - fit.w,
                h: fit.h,
            },
        ];
        for bar in bars.into_iter().filter(|b| b.w > 0 && b.h > 0) {
            fill_rect(dst, bar, BLACK);
        }
        if (fit.w, fit.h) == (src.width, src.height) {
            blit(src, dst, fit);
            return Ok(());
        }
        let scaled = self
            .scaled
            .get_or_insert_with(|| VideoFrame::black(fit.w, fit.h, MediaTime::ZERO));
        let stale = (scaled.width, scaled.height) != (fit.w, fit.h);
        if stale {
            ensure_size(scaled, fit.w, fit.h);
        }
        if fresh || stale {
            let options =
                ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear));
            let (sy, su, sv) = src.planes();
            let (dy, du, dv) = scaled.planes_mut();
            let planes = [
                (sy, dy, src.width, src.height, fit.w, fit.h),
                (su, du, src.width / 2, src.height / 2, fit.w / 2, fit.h / 2),
                (sv, dv, src.width / 2, src.height / 2, fit.w / 2, fit.h / 2),
            ];
            for (s, d, sw, sh, dw, dh) in planes {
                let from = ImageRef::new(sw, sh, s, PixelType::U8).map_err(scale_err)?;
                let mut to = Image::from_slice_u8(dw, dh, d, PixelType::U8).map_err(scale_err)?;
                self.resizer
                    .resize(&from, &mut to, &options)
                    .map_err(scale_err)?;
            }
        }
        blit(scaled, dst, fit);
        Ok(())
    }
}

fn scale_err(e: impl std::fmt::Display) -> CaptureError {
    CaptureError::BadFrame {
        what: "scaled picture",
        detail: e.to_string(),
    }
}

/// Limited-range black: Y 16, U and V 128.
pub const BLACK: (u8, u8, u8) = (16, 128, 128);

/// Fills an even rectangle of `dst` with one colour (clipped to the frame).
pub fn fill_rect(dst: &mut VideoFrame, r: Rect, (y, u, v): (u8, u8, u8)) {
    let (fw, fh) = (dst.width as usize, dst.height as usize);
    let x0 = (r.x as usize).min(fw);
    let x1 = (r.x as usize + r.w as usize).min(fw);
    let y0 = (r.y as usize).min(fh);
    let y1 = (r.y as usize + r.h as usize).min(fh);
    if x0 >= x1 || y0 >= y1 {
        return;
    }
    let (yp, up, vp) = dst.planes_mut();
    for row in y0..y1 {
        yp[row * fw + x0..row * fw + x1].fill(y);
    }
    let cw = fw / 2;
    for row in y0 / 2..y1 / 2 {
        up[row * cw + x0 / 2..row * cw + x1 / 2].fill(u);
        vp[row * cw + x0 / 2..row * cw + x1 / 2].fill(v);
    }
}

/// Copies `src` (exactly `at.w` x `at.h`) into `dst` at `at`.
fn blit(src: &VideoFrame, dst: &mut VideoFrame, at: Rect) {
    let (fw, sw) = (dst.width as usize, src.width as usize);
    let (x, y) = (at.x as usize, at.y as usize);
    let (w, h) = (
        sw.min(fw.saturating_sub(x)),
        (src.height as usize).min((dst.height as usize).saturating_sub(y)),
    );
    let (sy, su, sv) = src.planes();
    let (dy, du, dv) = dst.planes_mut();
    for row in 0..h {
        dy[(y + row) * fw + x..][..w].copy_from_slice(&sy[row * sw..][..w]);
    }
    let (fcw, scw) = (fw / 2, sw / 2);
    for row in 0..h / 2 {
        let d = (y / 2 + row) * fcw + x / 2;
        du[d..d + w / 2].copy_from_slice(&su[row * scw..][..w / 2]);
        dv[d..d + w / 2].copy_from_slice(&sv[row * scw..][..w / 2]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame() -> VideoFrame {
        VideoFrame::black(2, 2, MediaTime::ZERO)
    }

    #[test]
    fn primaries_convert_to_bt601_limited() {
        // Pure red, green, blue, white, black: textbook BT.601 limited-range values (+-1).
        let cases = [
            ([255, 0, 0], (81, 90, 240)),
            ([0, 255, 0], (145, 54, 34)),
            ([0, 0, 255], (41, 240, 110)),
            ([255, 255, 255], (235, 128, 128)),
            ([0, 0, 0], (16, 128, 128)),
        ];
        for (rgb, (y, u, v)) in cases {
            let mut px = Vec::new();
            for _ in 0..4 {
                px.extend_from_slice(&[rgb[0], rgb[1], rgb[2], 255]);
            }
            let mut out = frame();
            rgb32_to_i420(&px, 8, 2, 2, Rgba32::Rgba, &mut out).unwrap();
            let (py, pu, pv) = out.planes();
            let close = |a: u8, b: u8| a.abs_diff(b) <= 1;
            assert!(
                close(py[0], y) && close(pu[0], u) && close(pv[0], v),
                "{rgb:?} -> {:?}",
                (py[0], pu[0], pv[0])
            );
            // BGRA of the same colour gives the same result.
            let bgra: Vec<u8> = px
                .chunks_exact(4)
                .flat_map(|p| [p[2], p[1], p[0], p[3]])
                .collect();
            let mut out2 = frame();
            rgb32_to_i420(&bgra, 8, 2, 2, Rgba32::Bgra, &mut out2).unwrap();
            assert_eq!(out.data, out2.data);
        }
    }

    #[test]
    fn odd_sizes_lose_the_last_column_and_row() {
        let px = vec![200u8; 5 * 3 * 4];
        let mut out = frame();
        rgb32_to_i420(&px, 5 * 4, 5, 3, Rgba32::Rgba, &mut out).unwrap();
        assert_eq!((out.width, out.height), (4, 2));
        assert!(rgb32_to_i420(&px, 20, 1, 3, Rgba32::Rgba, &mut out).is_err());
        assert!(rgb32_to_i420(&px[..10], 20, 5, 3, Rgba32::Rgba, &mut out).is_err());
    }

    #[test]
    fn yuyv_and_nv12_keep_luma_and_average_chroma() {
        // 4x2 YUYV: row 0 U=100 V=200, row 1 U=110 V=210.
        let yuyv = [
            1, 100, 2, 200, 3, 100, 4, 200, //
            5, 110, 6, 210, 7, 110, 8, 210,
        ];
        let mut out = frame();
        yuyv_to_i420(&yuyv, 4, 2, &mut out).unwrap();
        assert_eq!(out.planes().0, &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(out.planes().1, &[105, 105]);
        assert_eq!(out.planes().2, &[205, 205]);
        let nv12 = [1, 2, 3, 4, 5, 6, 7, 8, 100, 200, 101, 201];
        nv12_to_i420(&nv12, 4, 2, &mut out).unwrap();
        assert_eq!(
            out.planes(),
            (
                &[1, 2, 3, 4, 5, 6, 7, 8][..],
                &[100, 101][..],
                &[200, 201][..]
            )
        );
        assert!(nv12_to_i420(&nv12[..10], 4, 2, &mut out).is_err());
    }

    #[test]
    fn fit_letterboxes_and_pillarboxes_on_even_pixels() {
        let program = Rect {
            x: 0,
            y: 0,
            w: 1280,
            h: 720,
        };
        // 4:3 into 16:9: bars left and right.
        assert_eq!(
            program.fit(640, 480),
            Rect {
                x: 160,
                y: 0,
                w: 960,
                h: 720
            }
        );
        // 21:9-ish into 16:9: bars top and bottom.
        assert_eq!(
            program.fit(2560, 1080),
            Rect {
                x: 0,
                y: 90,
                w: 1280,
                h: 540
            }
        );
        assert_eq!(program.fit(1920, 1080), program);
        let odd = program.fit(1001, 333);
        assert!(
            [odd.w, odd.h, odd.x, odd.y]
                .iter()
                .all(|v| v.is_multiple_of(2))
        );
    }

    #[test]
    fn scaler_draws_inside_the_fitted_area_and_black_around() {
        let mut src = VideoFrame::black(64, 64, MediaTime::ZERO);
        src.planes_mut().0.fill(200);
        let mut dst = VideoFrame::black(160, 90, MediaTime::ZERO);
        dst.data.fill(77);
        let mut scaler = PlaneScaler::default();
        let area = Rect {
            x: 0,
            y: 0,
            w: 160,
            h: 90,
        };
        scaler.draw(&src, true, &mut dst, area).unwrap();
        let fit = area.fit(64, 64);
        assert_eq!((fit.x, fit.w), (34, 90));
        let y = dst.planes().0;
        assert_eq!(y[45 * 160 + 80], 200, "centre is the picture");
        assert_eq!(y[45 * 160 + 10], 16, "left bar is black");
        assert_eq!(y[45 * 160 + 150], 16, "right bar is black");
        assert_eq!(dst.planes().1[20 * 80 + 5], 128);
    }
}
