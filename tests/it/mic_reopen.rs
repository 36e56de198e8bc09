//! The microphone's sound server dies in the middle of a recording and comes back: the
//! recording goes on without a gap (silence while the device is gone), the source is reported
//! lost, then reopens by itself and the sound is recorded again.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::desktop::{Pulse, stop_child, tone_amplitude, write_sine_wav};
use crate::common::*;

/// Waits until the last stats line satisfies `cond`; returns that line.
fn wait_stats(path: &std::path::Path, what: &str, cond: impl Fn(&serde_json::Value) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if last_stats(path).is_some_and(|s| cond(&s)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {:?}",
            last_stats(path)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn tone_level(s: &serde_json::Value) -> bool {
    s["audio"]["level_peak_dbfs"]
        .as_f64()
        .is_some_and(|p| (p + 12.0).abs() < 1.5)
}

#[test]
fn a_lost_microphone_leaves_silence_then_comes_back_by_itself() {
    let mut pulse = Pulse::start();
    let wav = pulse.dir().join("tone.wav");
    write_sine_wav(&wav, 440.0, 8231.0, 60); // -12 dBFS
    let mut player = pulse.play(&wav);
    let dir = tempdir();
    let rec = path_in(&dir, "mic.mp4");
    let stats = path_in(&dir, "stats.jsonl");
    let child = onair()
        .args(["broadcast", "--video", "test", "--audio", "mic"])
        .args(["--duration", "16", "--record"])
        .arg(&rec)
        .arg("--stats")
        .arg(&stats)
        .env_remove("DISPLAY")
        .env("PULSE_SERVER", pulse.server())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let source = |s: &serde_json::Value| s["sources"][0].clone();
    wait_stats(&stats, "the tone", |s| {
        source(s)["state"] == "live" && tone_level(s)
    });

    // The sound server goes away: the source is lost, the program falls silent.
    stop_child(&mut player);
    pulse.kill();
    wait_stats(&stats, "the microphone lost", |s| {
        source(s)["state"] == "lost" && s["audio"]["level_peak_dbfs"] == -100.0
    });

    // It comes back: the source reopens by itself and the tone is heard again.
    pulse.restart();
    let mut player = pulse.play(&wav);
    wait_stats(&stats, "the microphone back", |s| {
        source(s)["state"] == "live" && source(s)["reopened"].as_u64() >= Some(1) && tone_level(s)
    });
    let out = wait_success(child);
    stop_child(&mut player);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("microphone lost"), "{log}");

    // 16 s recorded whole: every video frame, and audio as long as the video (silence filled
    // the gap, so audio time never jumped).
    let p = assert_clean_h264_aac(&rec, 478.0, 482.0);
    let video = num(&stream(&p, "video")["duration"]);
    let audio = num(&stream(&p, "audio")["duration"]);
    assert!(
        (video - audio).abs() < 0.1,
        "video {video} s, audio {audio} s"
    );
    let s = last_stats(&stats).unwrap();
    assert!(source(&s)["losses"].as_u64() >= Some(1), "{s}");
    // The sound before and after the loss, and silence somewhere between.
    let (samples, _) = audio_samples(&rec);
    let level = |w: &[i16]| 20.0 * (tone_amplitude(w, 440.0, 48_000.0) / 32768.0).log10();
    let windows: Vec<f64> = samples.chunks_exact(4_800).map(level).collect();
    let loud = |db: &f64| (db + 12.0).abs() < 1.5;
    let first_loud = windows.iter().position(loud).unwrap();
    let last_loud = windows.iter().rposition(loud).unwrap();
    assert!(
        windows[first_loud..last_loud].iter().any(|db| *db < -60.0),
        "no silence between the tone before and after: {windows:?}"
    );
    assert!(last_loud > first_loud + 20, "{windows:?}");
}
