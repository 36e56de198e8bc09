//! `onair bench --quality`: what viewers get, judged in-process.
//!
//! The pipeline's FLV recording (the very bytes an RTMP output sends) is read back, every
//! picture is decoded with OpenH264's decoder and compared with the source picture it was made
//! from: PSNR-Y per frame (and over the clip from the mean squared error, as ffmpeg's `psnr`
//! filter reports it), SSIM as ffmpeg's `ssim` filter computes it (8x8 windows on a 4-pixel
//! grid, x264's integer sums; `ssim` weighs Y, U and V by their sizes like its `All`), and the
//! bitrate: the mean, and the highest over any 2 s of consecutive frames, which is what an
//! uplink sized for the preset has to carry.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::capture::{CaptureError, VideoSource};
use crate::media::{MediaTime, Timebase, VideoFrame};

/// The window the peak bitrate is taken over.
pub const PEAK_WINDOW_SECONDS: u32 = 2;
/// PSNR given to a frame identical to its source (JSON has no infinity).
const PSNR_IDENTICAL: f64 = 100.0;

#[derive(Debug, thiserror::Error)]
pub enum QualityError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not an FLV file this bench wrote: {reason}")]
    Flv { path: PathBuf, reason: String },
    #[error("frame {frame} does not decode: {reason}")]
    Decode { frame: usize, reason: String },
    #[error("frame {frame} decodes to {got_w}x{got_h}, not the source's {want_w}x{want_h}")]
    Size {
        frame: usize,
        got_w: usize,
        got_h: usize,
        want_w: u32,
        want_h: u32,
    },
    #[error(transparent)]
    Source(#[from] CaptureError),
}

/// One picture's figures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FrameScore {
    pub bytes: usize,
    pub keyframe: bool,
    pub mse_y: f64,
    pub psnr_y: f64,
    pub ssim_y: f64,
    /// Y, U and V weighted by their sizes (ffmpeg's `All`).
    pub ssim: f64,
}

/// What `onair bench --quality` adds to the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QualityReport {
    pub frames: usize,
    pub keyframes: usize,
    /// Video bytes over the clip's duration (AVCC payload: what every output carries).
    pub mean_kbps: f64,
    /// The highest bitrate over any [`PEAK_WINDOW_SECONDS`] of consecutive frames (the whole
    /// clip when it is shorter).
    pub max_2s_kbps: f64,
    /// The first frame of that window.
    pub max_2s_first_frame: usize,
    /// `max_2s_kbps` over the preset's (or the asked) bitrate.
    pub max_2s_over_target: f64,
    pub mean_over_target: f64,
    /// From the mean squared error over every frame (ffmpeg's `psnr` summary).
    pub psnr_y: f64,
    /// The mean of the frames' PSNR-Y.
    pub psnr_y_frame_mean: f64,
    /// The 5th percentile of the frames' PSNR-Y (1 frame in 20 is worse).
    pub psnr_y_p5: f64,
    pub psnr_y_min: f64,
    pub ssim: f64,
    pub ssim_y: f64,
    pub largest_frame_bytes: usize,
}

impl QualityReport {
    /// Summarises per-frame figures of a clip at `fps`, against `target_bps`.
    pub fn new(scores: &[FrameScore], fps: u32, target_bps: u32) -> Self {
        let n = scores.len().max(1);
        let sizes: Vec<usize> = scores.iter().map(|s| s.bytes).collect();
        let total: usize = sizes.iter().sum();
        let seconds = scores.len() as f64 / f64::from(fps.max(1));
        let mean_kbps = if seconds > 0.0 {
            total as f64 * 8.0 / seconds / 1e3
        } else {
            0.0
        };
        let window = (PEAK_WINDOW_SECONDS * fps) as usize;
        let (first, peak_bytes) = peak_window(&sizes, window);
        let window_seconds = window.min(sizes.len()).max(1) as f64 / f64::from(fps.max(1));
        let max_2s_kbps = peak_bytes as f64 * 8.0 / window_seconds / 1e3;
        let mean_mse = scores.iter().map(|s| s.mse_y).sum::<f64>() / n as f64;
        let mut psnr: Vec<f64> = scores.iter().map(|s| s.psnr_y).collect();
        psnr.sort_by(f64::total_cmp);
        let target_kbps = f64::from(target_bps.max(1)) / 1e3;
        Self {
            frames: scores.len(),
            keyframes: scores.iter().filter(|s| s.keyframe).count(),
            mean_kbps,
            max_2s_kbps,
            max_2s_first_frame: first,
            max_2s_over_target: max_2s_kbps / target_kbps,
            mean_over_target: mean_kbps / target_kbps,
            psnr_y: psnr_from_mse(mean_mse),
            psnr_y_frame_mean: psnr.iter().sum::<f64>() / n as f64,
            psnr_y_p5: psnr
                .get((psnr.len().saturating_sub(1)) / 20)
                .copied()
                .unwrap_or(0.0),
            psnr_y_min: psnr.first().copied().unwrap_or(0.0),
            ssim: scores.iter().map(|s| s.ssim).sum::<f64>() / n as f64,
            ssim_y: scores.iter().map(|s| s.ssim_y).sum::<f64>() / n as f64,
            largest_frame_bytes: sizes.iter().copied().max().unwrap_or(0),
        }
    }
}

/// The largest sum of `window` consecutive sizes, and where it starts (the whole list when it
/// is shorter than the window).
pub fn peak_window(sizes: &[usize], window: usize) -> (usize, usize) {
    let window = window.clamp(1, sizes.len().max(1));
    let mut sum: usize = sizes.iter().take(window).sum();
    let (mut best, mut at) = (sum, 0);
    for i in window..sizes.len() {
        sum = sum + sizes[i] - sizes[i - window];
        if sum > best {
            (best, at) = (sum, i + 1 - window);
        }
    }
    (at, best)
}

pub fn psnr_from_mse(mse: f64) -> f64 {
    if mse <= 0.0 {
        PSNR_IDENTICAL
    } else {
        (10.0 * (255.0 * 255.0 / mse).log10()).min(PSNR_IDENTICAL)
    }
}

/// Mean squared error between two `w` x `h` planes with their own strides.
pub fn plane_mse(a: &[u8], a_stride: usize, b: &[u8], b_stride: usize, w: usize, h: usize) -> f64 {
    let mut sum: u64 = 0;
    for y in 0..h {
        let ra = &a[y * a_stride..y * a_stride + w];
        let rb = &b[y * b_stride..y * b_stride + w];
        sum += ra
            .iter()
            .zip(rb)
            .map(|(&p, &q)| {
                let d = i32::from(p) - i32::from(q);
                (d * d) as u64
            })
            .sum::<u64>();
    }
    sum as f64 / (w * h).max(1) as f64
}

/// SSIM of two planes as x264 and ffmpeg's `ssim` filter compute it: sums over 4x4 blocks,
/// combined into 8x8 windows on a 4-pixel grid, averaged over the windows.
pub fn plane_ssim(a: &[u8], a_stride: usize, b: &[u8], b_stride: usize, w: usize, h: usize) -> f64 {
    let (bw, bh) = (w / 4, h / 4);
    if bw < 2 || bh < 2 {
        return 1.0;
    }
    // Per 4x4 block: sum a, sum b, sum a^2 + b^2, sum a*b.
    let block_row = |by: usize, out: &mut [[i64; 4]]| {
        for (bx, sums) in out.iter_mut().enumerate() {
            let mut s = [0i64; 4];
            for y in by * 4..by * 4 + 4 {
                for x in bx * 4..bx * 4 + 4 {
                    let p = i64::from(a[y * a_stride + x]);
                    let q = i64::from(b[y * b_stride + x]);
                    s[0] += p;
                    s[1] += q;
                    s[2] += p * p + q * q;
                    s[3] += p * q;
                }
            }
            *sums = s;
        }
    };
    let mut above = vec![[0i64; 4]; bw];
    let mut below = vec![[0i64; 4]; bw];
    block_row(0, &mut above);
    let mut total = 0.0;
    for by in 1..bh {
        block_row(by, &mut below);
        for bx in 0..bw - 1 {
            let mut s = [0i64; 4];
            for block in [above[bx], above[bx + 1], below[bx], below[bx + 1]] {
                for (acc, v) in s.iter_mut().zip(block) {
                    *acc += v;
                }
            }
            total += ssim_window(s);
        }
        std::mem::swap(&mut above, &mut below);
    }
    total / ((bw - 1) * (bh - 1)) as f64
}

/// One 8x8 window's SSIM from its sums (x264's `ssim_end1`, 8-bit constants).
fn ssim_window([s1, s2, ss, s12]: [i64; 4]) -> f64 {
    const C1: f64 = 416.0; // (.01 * 255)^2 * 64, rounded as x264 does
    const C2: f64 = 235_963.0; // (.03 * 255)^2 * 64 * 63
    let vars = (ss * 64 - s1 * s1 - s2 * s2) as f64;
    let covar = (s12 * 64 - s1 * s2) as f64;
    let (s1, s2) = (s1 as f64, s2 as f64);
    (2.0 * s1 * s2 + C1) * (2.0 * covar + C2) / ((s1 * s1 + s2 * s2 + C1) * (vars + C2))
}

/// Scores a decoded picture (planes with strides) against its source frame.
pub fn score(
    source: &VideoFrame,
    decoded: [(&[u8], usize); 3],
    bytes: usize,
    keyframe: bool,
) -> FrameScore {
    let (w, h) = (source.width as usize, source.height as usize);
    let (sy, su, sv) = source.planes();
    let [(dy, y_stride), (du, u_stride), (dv, v_stride)] = decoded;
    let mse_y = plane_mse(sy, w, dy, y_stride, w, h);
    let ssim_y = plane_ssim(sy, w, dy, y_stride, w, h);
    let ssim_u = plane_ssim(su, w / 2, du, u_stride, w / 2, h / 2);
    let ssim_v = plane_ssim(sv, w / 2, dv, v_stride, w / 2, h / 2);
    FrameScore {
        bytes,
        keyframe,
        mse_y,
        psnr_y: psnr_from_mse(mse_y),
        ssim_y,
        // 4:2:0: Y has 4 of the 6 quarter-planes.
        ssim: (4.0 * ssim_y + ssim_u + ssim_v) / 6.0,
    }
}

/// One video frame of an FLV file: keyframe flag and AVCC payload.
pub struct FlvVideoFrame {
    pub keyframe: bool,
    pub avcc: Vec<u8>,
}

/// The video of an FLV file: the decoder configuration record (the last one seen before each
/// frame is the one in force; this bench writes one) and the frames in order.
pub struct FlvVideo {
    pub config_record: Vec<u8>,
    pub frames: Vec<FlvVideoFrame>,
}

/// Reads the H.264 video of an FLV file (the tags [`crate::format::flv`] writes).
pub fn read_flv_video(path: &Path) -> Result<FlvVideo, QualityError> {
    let data = std::fs::read(path).map_err(|source| QualityError::Read {
        path: path.to_owned(),
        source,
    })?;
    let bad = |reason: &str| QualityError::Flv {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    if data.len() < 13 || &data[..3] != b"FLV" {
        return Err(bad("no FLV header"));
    }
    let mut at = u32::from_be_bytes([data[5], data[6], data[7], data[8]]) as usize + 4;
    let mut video = FlvVideo {
        config_record: Vec::new(),
        frames: Vec::new(),
    };
    while at + 11 <= data.len() {
        let tag_type = data[at] & 0x1f;
        let size = u32::from_be_bytes([0, data[at + 1], data[at + 2], data[at + 3]]) as usize;
        let body = data
            .get(at + 11..at + 11 + size)
            .ok_or_else(|| bad("a tag runs past the end"))?;
        at += 11 + size + 4;
        if tag_type != 9 || body.len() < 5 {
            continue;
        }
        if body[0] & 0x0f != 7 {
            return Err(bad("video that is not H.264"));
        }
        match body[1] {
            0 => video.config_record = body[5..].to_vec(),
            1 => video.frames.push(FlvVideoFrame {
                keyframe: body[0] >> 4 == 1,
                avcc: body[5..].to_vec(),
            }),
            _ => {}
        }
    }
    if video.config_record.is_empty() {
        return Err(bad("no AVC sequence header"));
    }
    Ok(video)
}

/// The SPS and PPS of an AVCDecoderConfigurationRecord as Annex B.
pub fn config_record_to_annexb(record: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut at = 5;
    for _set in 0..2 {
        let count = usize::from(*record.get(at)? & if out.is_empty() { 0x1f } else { 0xff });
        at += 1;
        for _ in 0..count {
            let len = usize::from(u16::from_be_bytes([*record.get(at)?, *record.get(at + 1)?]));
            out.extend_from_slice(&[0, 0, 0, 1]);
            out.extend_from_slice(record.get(at + 2..at + 2 + len)?);
            at += 2 + len;
        }
    }
    Some(out)
}

/// AVCC (4-byte lengths) to Annex B, appended to `out`.
pub fn avcc_to_annexb(avcc: &[u8], out: &mut Vec<u8>) -> Option<()> {
    let mut at = 0;
    while at < avcc.len() {
        let len = u32::from_be_bytes(avcc.get(at..at + 4)?.try_into().ok()?) as usize;
        out.extend_from_slice(&[0, 0, 0, 1]);
        out.extend_from_slice(avcc.get(at + 4..at + 4 + len)?);
        at += 4 + len;
    }
    Some(())
}

/// Decodes every frame of `video` and scores it against frame n of `source` (filled at the
/// time of frame n, as the pipeline filled it).
pub fn judge(
    video: &FlvVideo,
    source: &mut dyn VideoSource,
    width: u32,
    height: u32,
    frame_timebase: Timebase,
) -> Result<Vec<FrameScore>, QualityError> {
    let mut decoder = openh264::decoder::Decoder::new().map_err(|e| QualityError::Decode {
        frame: 0,
        reason: e.to_string(),
    })?;
    let mut reference = VideoFrame::black(width, height, MediaTime::ZERO);
    let parameter_sets =
        config_record_to_annexb(&video.config_record).ok_or_else(|| QualityError::Decode {
            frame: 0,
            reason: "the AVC sequence header is truncated".into(),
        })?;
    let mut annexb = Vec::new();
    let mut scores = Vec::with_capacity(video.frames.len());
    for (n, frame) in video.frames.iter().enumerate() {
        let fail = |reason: String| QualityError::Decode { frame: n, reason };
        annexb.clear();
        if n == 0 {
            annexb.extend_from_slice(&parameter_sets);
        }
        avcc_to_annexb(&frame.avcc, &mut annexb)
            .ok_or_else(|| fail("a NAL unit length runs past the frame".into()))?;
        source.fill(frame_timebase.ticks_to_time(n as i64), &mut reference)?;
        let picture = decoder
            .decode(&annexb)
            .map_err(|e| fail(e.to_string()))?
            .ok_or_else(|| fail("no picture came out".into()))?;
        use openh264::formats::YUVSource;
        let (dw, dh) = picture.dimensions();
        if (dw, dh) != (width as usize, height as usize) {
            return Err(QualityError::Size {
                frame: n,
                got_w: dw,
                got_h: dh,
                want_w: width,
                want_h: height,
            });
        }
        let (ys, us, vs) = picture.strides();
        scores.push(score(
            &reference,
            [(picture.y(), ys), (picture.u(), us), (picture.v(), vs)],
            frame.avcc.len(),
            frame.keyframe,
        ));
    }
    Ok(scores)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn peak_window_finds_the_heaviest_run() {
        let sizes = [1, 1, 9, 9, 1, 1, 5];
        assert_eq!(peak_window(&sizes, 2), (2, 18));
        assert_eq!(peak_window(&sizes, 3), (1, 19));
        // Shorter than the window: the whole clip.
        assert_eq!(peak_window(&sizes, 100), (0, 27));
        assert_eq!(peak_window(&[], 4), (0, 0));
    }

    #[test]
    fn identical_planes_are_perfect_and_noise_costs() {
        let (w, h) = (64usize, 48usize);
        let a: Vec<u8> = (0..w * h).map(|i| (i * 7 % 251) as u8).collect();
        assert_eq!(plane_mse(&a, w, &a, w, w, h), 0.0);
        assert!((plane_ssim(&a, w, &a, w, w, h) - 1.0).abs() < 1e-12);
        assert_eq!(psnr_from_mse(0.0), 100.0);
        // +-2 on every pixel: MSE 4, PSNR 42.11 dB.
        let b: Vec<u8> = a
            .iter()
            .enumerate()
            .map(|(i, &p)| {
                if i % 2 == 0 {
                    p.saturating_add(2)
                } else {
                    p.saturating_sub(2)
                }
            })
            .collect();
        let mse = plane_mse(&a, w, &b, w, w, h);
        assert!((mse - 4.0).abs() < 0.2, "{mse}");
        assert!((psnr_from_mse(4.0) - 42.11).abs() < 0.01);
        let ssim = plane_ssim(&a, w, &b, w, w, h);
        assert!(ssim < 1.0 && ssim > 0.9, "{ssim}");
    }

    #[test]
    fn a_stride_wider_than_the_picture_is_skipped() {
        let (w, h) = (16usize, 8usize);
        let a = vec![100u8; w * h];
        let mut b = vec![0u8; (w + 8) * h];
        for y in 0..h {
            b[y * (w + 8)..y * (w + 8) + w].fill(100);
        }
        assert_eq!(plane_mse(&a, w, &b, w + 8, w, h), 0.0);
        assert!((plane_ssim(&a, w, &b, w + 8, w, h) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn the_config_record_and_frames_convert_to_annexb() {
        // version, profile, compat, level, 0xFF, 1 SPS of 3 bytes, 1 PPS of 2 bytes.
        let record = [
            1, 66, 0xc0, 31, 0xff, 0xe1, 0, 3, 0x67, 1, 2, 1, 0, 2, 0x68, 9,
        ];
        assert_eq!(
            config_record_to_annexb(&record).unwrap(),
            [0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 1, 0x68, 9]
        );
        assert!(config_record_to_annexb(&record[..10]).is_none());
        let mut out = Vec::new();
        avcc_to_annexb(&[0, 0, 0, 2, 0x65, 7, 0, 0, 0, 1, 0x06], &mut out).unwrap();
        assert_eq!(out, [0, 0, 0, 1, 0x65, 7, 0, 0, 0, 1, 0x06]);
        assert!(avcc_to_annexb(&[0, 0, 0, 9, 1], &mut out).is_none());
    }
}
