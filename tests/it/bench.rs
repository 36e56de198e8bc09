//! `onair bench` (a short smoke run: its JSON is complete and consistent) and the `y4m:FILE`
//! source (bad files are one line; a broadcast of a Y4M keeps every frame and its pixels).
//! No wall-clock figure is asserted: only presence, consistency and counts.

use std::path::Path;
use std::process::Command;

use crate::common::*;
use serde_json::Value;

/// Makes a Y4M with ffmpeg's testsrc2: `frames` frames of `size` at 30 fps in `pix_fmt`.
fn make_y4m(path: &Path, size: &str, frames: u32, pix_fmt: &str) {
    run_ok(
        Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-f", "lavfi", "-i"])
            .arg(format!("testsrc2=size={size}:rate=30"))
            .args(["-frames:v", &frames.to_string(), "-pix_fmt", pix_fmt])
            .arg(path),
    );
}

fn bench_json(args: &[&str]) -> Value {
    let out = run_ok(onair().arg("bench").args(args));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "bench printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn positive(v: &Value, what: &str) -> f64 {
    let x = v
        .as_f64()
        .unwrap_or_else(|| panic!("{what} is not a number: {v}"));
    assert!(x > 0.0, "{what} = {x}");
    x
}

#[test]
fn bench_prints_consistent_figures_for_every_stage_and_output() {
    let j = bench_json(&["--preset", "480p30", "--frames", "60"]);
    assert_eq!(j["frames"], 60, "{j:#}");
    assert_eq!(j["pipeline"]["frames"], 60);
    assert_eq!(j["encoder_alone"]["frames"], 60);
    assert_eq!(j["encoder_alone_just_written"]["frames"], 60);
    assert_eq!(j["dropped"], 0);
    assert_eq!(
        (j["width"].as_u64(), j["height"].as_u64()),
        (Some(854), Some(480))
    );
    let pipeline_fps = positive(&j["pipeline"]["fps"], "pipeline fps");
    let alone_fps = positive(&j["encoder_alone"]["fps"], "encoder-alone fps");
    let ratio = positive(&j["throughput_ratio"], "ratio");
    assert!(ratio <= 1.5, "ratio {ratio}");
    assert!((ratio - pipeline_fps / alone_fps).abs() < 1e-6 * ratio.max(1.0));
    let hot_fps = positive(&j["encoder_alone_just_written"]["fps"], "just-written fps");
    let hot_ratio = positive(
        &j["throughput_ratio_vs_just_written"],
        "ratio vs just written",
    );
    assert!((hot_ratio - pipeline_fps / hot_fps).abs() < 1e-6 * hot_ratio.max(1.0));
    for stage in ["convert", "encode", "mux", "write"] {
        positive(&j["stage_ms_per_frame"][stage], stage);
    }
    positive(&j["encoder_alone_ms_per_frame"], "encoder alone per frame");
    positive(&j["video_bitrate_kbps"], "bitrate");
    let outputs = j["per_output"].as_array().unwrap();
    let kinds: Vec<&str> = outputs
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["recording", "null", "hls"]);
    for o in outputs {
        assert_eq!(o["dropped"], 0, "{o}");
        // 60 video packets and 2 s of audio (about 94 AAC packets) reach every output.
        assert!(o["packets"].as_u64().unwrap() >= 60 + 90, "{o}");
        positive(&o["bytes"], "bytes");
        positive(&o["mux_ms_per_frame"], "mux");
    }
}

/// `--audio none` takes its value (it once parsed as a flag and refused `none`): video only,
/// so each output gets exactly the 60 video packets.
#[test]
fn bench_without_audio_sends_video_only() {
    let j = bench_json(&["--preset", "480p30", "--frames", "60", "--audio", "none"]);
    assert_eq!(j["pipeline"]["frames"], 60, "{j:#}");
    for o in j["per_output"].as_array().unwrap() {
        assert_eq!(o["packets"], 60, "{o}");
    }
}

#[test]
fn bench_reads_a_y4m_file_to_its_end_by_default() {
    let dir = tempdir();
    let src = path_in(&dir, "clip.y4m");
    make_y4m(&src, "854x480", 24, "yuv420p");
    let arg = format!("y4m:{}", src.display());
    let j = bench_json(&["--preset", "480p30", "--video", &arg, "--outputs", "flv"]);
    assert_eq!(j["frames"], 24, "{j:#}");
    assert_eq!(j["source"], arg);
    assert_eq!(j["per_output"].as_array().unwrap().len(), 1);
}

fn one_line_failure(args: &[&str], expected: &str) {
    let out = onair().args(args).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{args:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(expected),
        "expected {expected:?} in {stderr}"
    );
}

#[test]
fn a_bad_y4m_is_one_line_and_exit_1() {
    one_line_failure(
        &["bench", "--frames", "10", "--video", "y4m:missing.y4m"],
        "missing.y4m",
    );
    let dir = tempdir();
    let wrong_chroma = path_in(&dir, "c422.y4m");
    make_y4m(&wrong_chroma, "854x480", 2, "yuv422p");
    let arg = format!("y4m:{}", wrong_chroma.display());
    one_line_failure(
        &["bench", "--preset", "480p30", "--video", &arg],
        "C422 is not supported",
    );
    let wrong_size = path_in(&dir, "small.y4m");
    make_y4m(&wrong_size, "320x240", 2, "yuv420p");
    let arg = format!("y4m:{}", wrong_size.display());
    let rec = path_in(&dir, "never.mp4");
    one_line_failure(
        &[
            "broadcast",
            "--preset",
            "480p30",
            "--video",
            &arg,
            "--record",
            rec.to_str().unwrap(),
        ],
        "320x240 but the preset is 854x480",
    );
    assert!(!rec.exists(), "nothing is created when the source is wrong");
}

/// A Y4M broadcast in real time into an MP4: every frame arrives, in order, and the pictures
/// are the file's (PSNR against the source, frame by frame).
#[test]
fn a_y4m_broadcast_keeps_every_frame_and_its_pixels() {
    let dir = tempdir();
    let src = path_in(&dir, "clip.y4m");
    make_y4m(&src, "854x480", 60, "yuv420p");
    let rec = path_in(&dir, "take.mp4");
    run_ok(onair().args([
        "broadcast",
        "--preset",
        "480p30",
        "--video",
        &format!("y4m:{}", src.display()),
        "--audio",
        "none",
        "--duration",
        "2",
        "--record",
        rec.to_str().unwrap(),
    ]));
    let p = probe(&rec);
    let v = stream(&p, "video");
    assert_eq!(v["width"], 854);
    assert_eq!(num(&v["nb_read_frames"]), 60.0, "{v}");
    let out = run_ok(
        Command::new("ffmpeg")
            .args(["-nostdin", "-v", "info", "-i"])
            .arg(&rec)
            .arg("-i")
            .arg(&src)
            .args(["-lavfi", "[0:v][1:v]psnr", "-f", "null", "-"]),
    );
    let log = String::from_utf8_lossy(&out.stderr);
    let average: f64 = log
        .lines()
        .find_map(|l| l.split("average:").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no PSNR in ffmpeg's log:\n{log}"));
    assert!(average > 30.0, "PSNR {average} dB");
}
