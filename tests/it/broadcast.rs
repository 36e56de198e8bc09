//! The headless engine end to end: the real binary records the test sources, and ffprobe /
//! ffmpeg judge the files.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use crate::common::*;

/// One 10 s 720p30 broadcast recorded to MP4 and FLV at once, shared by the tests below.
struct Take {
    _dir: tempfile::TempDir,
    mp4: PathBuf,
    flv: PathBuf,
    stats: PathBuf,
}

fn take() -> &'static Take {
    static TAKE: OnceLock<Take> = OnceLock::new();
    TAKE.get_or_init(|| {
        let dir = tempdir();
        let (mp4, flv, stats) = (
            path_in(&dir, "take.mp4"),
            path_in(&dir, "take.flv"),
            path_in(&dir, "stats.jsonl"),
        );
        run_ok(
            onair()
                .args([
                    "broadcast",
                    "--video",
                    "test",
                    "--audio",
                    "tone",
                    "--preset",
                    "720p30",
                    "--duration",
                    "10",
                ])
                .arg("--record")
                .arg(&mp4)
                .arg("--record")
                .arg(&flv)
                .arg("--stats")
                .arg(&stats),
        );
        Take {
            _dir: dir,
            mp4,
            flv,
            stats,
        }
    })
}

fn assert_720p30_ten_seconds(path: &PathBuf) {
    let p = assert_clean_h264_aac(path, 299.0, 301.0);
    let duration = num(&p["format"]["duration"]);
    assert!(
        (duration - 10.0).abs() <= 0.1,
        "duration {duration} in {path:?}"
    );

    // Keyframes exactly every 2 s, starting with the first frame.
    let packets = video_packets(path);
    let keys: Vec<f64> = packets
        .iter()
        .filter(|(_, k)| *k)
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(keys.len(), 5, "keyframes at {keys:?}");
    for pair in keys.windows(2) {
        assert!(
            (pair[1] - pair[0] - 2.0).abs() < 0.001,
            "keyframes at {keys:?}"
        );
    }
    // Timestamps strictly increase.
    assert!(
        packets.windows(2).all(|w| w[1].0 > w[0].0),
        "video pts not increasing in {path:?}"
    );
}

#[test]
fn mp4_recording_is_h264_720p_aac_48k_stereo_ten_seconds() {
    let t = take();
    assert_720p30_ten_seconds(&t.mp4);
    // Finalized after a clean stop: a plain MP4 (fragment headers blanked, full moov at the end).
    let boxes = top_level_boxes(&t.mp4);
    assert_eq!(boxes.first().map(String::as_str), Some("ftyp"));
    assert_eq!(boxes.last().map(String::as_str), Some("moov"), "{boxes:?}");
    assert!(!boxes.iter().any(|b| b == "moof"), "{boxes:?}");
}

#[test]
fn flv_recording_is_h264_720p_aac_48k_stereo_ten_seconds() {
    assert_720p30_ten_seconds(&take().flv);
}

#[test]
fn av_sync_markers_agree_within_one_frame_in_mp4() {
    assert_in_sync(&take().mp4, 720, 10);
}

#[test]
fn av_sync_markers_agree_within_one_frame_in_flv() {
    assert_in_sync(&take().flv, 720, 10);
}

#[test]
fn stats_are_one_json_object_per_second_and_add_up() {
    let t = take();
    let text = std::fs::read_to_string(&t.stats).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert!(
        (10..=12).contains(&lines.len()),
        "{} stats lines",
        lines.len()
    );
    let last = lines.last().unwrap();
    let v = &last["video"];
    let captured = v["captured"].as_u64().unwrap();
    assert_eq!(captured, 300);
    // Every captured frame is either encoded or counted as dropped.
    assert_eq!(
        captured,
        v["encoded"].as_u64().unwrap()
            + v["dropped_encoder_queue"].as_u64().unwrap()
            + v["encoder_skipped"].as_u64().unwrap()
    );
    assert_eq!(last["audio"]["captured_samples"].as_u64(), Some(480_000));
    let outputs = last["outputs"].as_array().unwrap();
    assert_eq!(outputs.len(), 2);
    for (o, path) in outputs.iter().zip([&t.mp4, &t.flv]) {
        assert_eq!(o["state"], "stopped");
        assert_eq!(
            o["bytes"].as_u64(),
            Some(std::fs::metadata(path).unwrap().len()),
            "{o}"
        );
        assert_eq!(o["dropped_queue_full"].as_u64(), Some(0));
    }
    // Per-second lines carry the encode time per frame.
    assert!(lines[2]["encode_micros_per_frame"].as_u64().unwrap() > 0);
    assert!(lines[2]["fps_milli"].as_u64().unwrap() > 20_000);
}

/// Starts a broadcast with no duration, recording MP4 and FLV, and waits until the stats say
/// `secs` of media have passed.
fn start_until(
    dir: &tempfile::TempDir,
    secs: i64,
) -> (std::process::Child, PathBuf, PathBuf, PathBuf) {
    let (mp4, flv, stats) = (
        path_in(dir, "live.mp4"),
        path_in(dir, "live.flv"),
        path_in(dir, "stats.jsonl"),
    );
    let child = onair()
        .args(["broadcast", "--preset", "720p30"])
        .arg("--record")
        .arg(&mp4)
        .arg("--record")
        .arg(&flv)
        .arg("--stats")
        .arg(&stats)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start onair");
    wait_for(Duration::from_secs(60), "stats", || {
        last_stats(&stats).is_some_and(|s| s["time_ms"].as_i64().unwrap_or(0) >= secs * 1000)
    });
    (child, mp4, flv, stats)
}

#[test]
fn kill_9_leaves_files_that_play_up_to_the_last_fragment() {
    let dir = tempdir();
    let (mut child, mp4, flv, _) = start_until(&dir, 6);
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    for path in [&mp4, &flv] {
        let p = probe(path);
        let frames = num(&stream(&p, "video")["nb_read_frames"]);
        assert!(frames >= 120.0, "{path:?}: only {frames} frames survived");
        assert_eq!(stream(&p, "audio")["codec_name"], "aac");
        // The first 4 s decode without a single error.
        let errors = decode_errors(path, &["-t", "4"]);
        assert!(errors.is_empty(), "{path:?}: {errors}");
    }
    // The MP4 is still fragmented (no clean stop happened): ftyp, moov, then moof/mdat pairs.
    let boxes = top_level_boxes(&mp4);
    assert_eq!(&boxes[..3], ["ftyp", "moov", "moof"], "{boxes:?}");
}

#[test]
fn sigterm_stops_cleanly_with_every_frame_in_a_finalized_file() {
    let dir = tempdir();
    let (child, mp4, flv, stats) = start_until(&dir, 4);
    terminate(child);
    let last = last_stats(&stats).expect("final stats line");
    // Every picture sent out: the frames encoded, and the repeats that filled the slots of
    // frames dropped before the encoder (a loaded machine).
    let encoded = (last["video"]["encoded"].as_u64().unwrap()
        + last["video"]["repeated"].as_u64().unwrap()) as f64;
    assert!(encoded >= 120.0);
    for path in [&mp4, &flv] {
        let p = probe(path);
        let frames = num(&stream(&p, "video")["nb_read_frames"]);
        assert_eq!(
            frames, encoded,
            "{path:?}: every encoded or repeated picture is in the file"
        );
        let duration = num(&p["format"]["duration"]);
        assert!(
            (duration - encoded / 30.0).abs() < 0.1,
            "{path:?}: {duration} s for {encoded} frames"
        );
        assert!(decode_errors(path, &[]).is_empty());
    }
    let boxes = top_level_boxes(&mp4);
    assert_eq!(boxes.last().map(String::as_str), Some("moov"), "{boxes:?}");
    assert!(!boxes.iter().any(|b| b == "moof"), "{boxes:?}");
}
