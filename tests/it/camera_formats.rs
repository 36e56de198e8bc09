//! The camera path below the device (no camera can be attached here): MJPEG, YUYV and NV12
//! frames made by ffmpeg, converted by onair to I420 and compared with ffmpeg's own conversion
//! of the same picture.

use std::process::Command;

use crate::common::*;
use onair::capture::camera::{CamPixels, decode};
use onair::capture::convert::MjpegDecoder;
use onair::media::{MediaTime, VideoFrame};

const W: u32 = 640;
const H: u32 = 480;

/// ffmpeg's test picture (colour bars, gradients, text) as raw `pix_fmt`, or as one JPEG.
fn testsrc(args: &[&str]) -> Vec<u8> {
    run_ok(
        Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-f", "lavfi", "-i"])
            .arg(format!("testsrc2=size={W}x{H}:rate=1"))
            .args(["-frames:v", "1"])
            .args(args)
            .arg("-"),
    )
    .stdout
}

fn psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    let mse = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum::<f64>()
        / a.len() as f64;
    10.0 * (255.0 * 255.0 / mse.max(1e-9)).log10()
}

fn check(pixels: CamPixels, raw: &[u8], min_psnr_y: f64, min_psnr_c: f64) {
    // Reference: ffmpeg's I420 of the same frame.
    let reference = testsrc(&["-pix_fmt", "yuv420p", "-f", "rawvideo"]);
    let mut out = VideoFrame::black(2, 2, MediaTime::ZERO);
    let mut mjpeg = MjpegDecoder::default();
    decode(pixels, raw, W, H, &mut mjpeg, &mut out).unwrap();
    assert_eq!((out.width, out.height), (W, H));
    let y_len = (W * H) as usize;
    let (y, u, v) = out.planes();
    let py = psnr(y, &reference[..y_len]);
    let pu = psnr(u, &reference[y_len..y_len + y_len / 4]);
    let pv = psnr(v, &reference[y_len + y_len / 4..]);
    println!("{pixels:?} vs ffmpeg: PSNR Y {py:.1} dB, U {pu:.1} dB, V {pv:.1} dB");
    assert!(py >= min_psnr_y, "{pixels:?}: Y PSNR {py:.1}");
    assert!(
        pu >= min_psnr_c && pv >= min_psnr_c,
        "{pixels:?}: chroma PSNR {pu:.1}/{pv:.1}"
    );
    // Reusing the output buffer: a second frame decodes into the same allocation.
    let ptr = out.data.as_ptr();
    decode(pixels, raw, W, H, &mut mjpeg, &mut out).unwrap();
    assert_eq!(out.data.as_ptr(), ptr);
}

#[test]
fn yuyv_matches_ffmpeg() {
    let raw = testsrc(&["-pix_fmt", "yuyv422", "-f", "rawvideo"]);
    assert_eq!(raw.len(), (W * H * 2) as usize);
    check(CamPixels::Yuyv, &raw, 99.0, 40.0);
}

#[test]
fn nv12_matches_ffmpeg() {
    let raw = testsrc(&["-pix_fmt", "nv12", "-f", "rawvideo"]);
    assert_eq!(raw.len(), (W * H * 3 / 2) as usize);
    check(CamPixels::Nv12, &raw, 99.0, 99.0);
}

#[test]
fn mjpeg_matches_ffmpeg() {
    // A camera's MJPEG: 4:2:2 full-range JPEG at high quality.
    let jpeg = testsrc(&["-pix_fmt", "yuvj422p", "-q:v", "2", "-f", "mjpeg"]);
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8], "a JPEG");
    check(CamPixels::Mjpeg, &jpeg, 42.0, 32.0);
}

#[test]
fn truncated_frames_are_errors_not_panics() {
    let mut out = VideoFrame::black(2, 2, MediaTime::ZERO);
    let mut mjpeg = MjpegDecoder::default();
    let yuyv = testsrc(&["-pix_fmt", "yuyv422", "-f", "rawvideo"]);
    assert!(decode(CamPixels::Yuyv, &yuyv[..1000], W, H, &mut mjpeg, &mut out).is_err());
    let jpeg = testsrc(&["-pix_fmt", "yuvj422p", "-f", "mjpeg"]);
    assert!(decode(CamPixels::Mjpeg, &jpeg[..20], W, H, &mut mjpeg, &mut out).is_err());
    assert!(decode(CamPixels::Mjpeg, b"not a jpeg", W, H, &mut mjpeg, &mut out).is_err());
}
