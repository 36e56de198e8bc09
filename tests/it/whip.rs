//! WebRTC out: the real binary publishes over WHIP to aiortc (a WebRTC implementation no one
//! here wrote) behind a small aiohttp endpoint (`tests/whip/whip_server.py`), which decodes
//! what it receives and sums it up in JSON: frames, the sync square's and the beep's times
//! (on the sender's clock, through each track's RTCP sender reports, as a browser lines tracks
//! up), the codecs it answered, decode errors.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::peers::free_port;
use crate::common::*;
use serde_json::Value;

/// The test's Python with aiortc (`packaging/setup.sh --test` makes it).
fn python() -> PathBuf {
    let p = std::env::var_os("ONAIR_WHIP_PYTHON").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/whip/.venv/bin/python"),
        PathBuf::from,
    );
    assert!(
        p.exists(),
        "{} is missing: run `bash packaging/setup.sh --test` (it installs aiortc)",
        p.display()
    );
    p
}

/// The WHIP endpoint and its aiortc receiver, on 127.0.0.1.
struct WhipServer {
    child: Option<Child>,
    port: u16,
    summary: PathBuf,
}

impl WhipServer {
    fn start(dir: &Path, args: &[&str]) -> Self {
        Self::start_on(free_port(), dir, "summary.json", args)
    }

    fn start_on(port: u16, dir: &Path, name: &str, args: &[&str]) -> Self {
        let summary = dir.join(name);
        let mut child = Command::new(python())
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/whip/whip_server.py"))
            .args(["--port", &port.to_string(), "--out"])
            .arg(&summary)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the WHIP test server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "the WHIP test server did not start");
        Self {
            child: Some(child),
            port,
            summary,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/whip/test", self.port)
    }

    fn summary(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(&self.summary).unwrap()).unwrap()
    }

    /// SIGKILL: the server vanishes without a word (no DELETE, no DTLS close).
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            run_ok(Command::new("kill").args(["-KILL", &c.id().to_string()]));
            let _ = c.wait();
        }
    }

    /// SIGTERM, and the final summary.
    fn stop(&mut self) -> Value {
        if let Some(mut c) = self.child.take() {
            run_ok(Command::new("kill").args(["-TERM", &c.id().to_string()]));
            let _ = c.wait();
        }
        self.summary()
    }
}

impl Drop for WhipServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn stats_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn whip_output(stats: &Value) -> &Value {
    stats["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == "whip")
        .expect("a whip output")
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// `profile-level-id` as ffprobe reports the recorded stream (profile name and level).
fn profile_level_id_of(path: &Path) -> String {
    let p = probe(path);
    let v = stream(&p, "video");
    let profile = match v["profile"].as_str().unwrap() {
        "Constrained Baseline" => "42c0",
        "Baseline" => "4200",
        "Main" => "4d00",
        "High" => "6400",
        other => panic!("profile {other}"),
    };
    format!("{profile}{:02x}", v["level"].as_u64().unwrap())
}

/// 10 s of 720p30 over WHIP: at least 290 frames decode at 1280x720, the audio is Opus at
/// 48 kHz stereo, each second's white square and beep agree within a frame, the offer's
/// profile-level-id is the encoder's, the token is sent, DELETE arrives on stop, and the stats
/// show the capture-to-RTP latency for video and audio.
#[test]
fn ten_seconds_of_720p30_arrive_decodable_with_opus_in_sync() {
    let dir = tempdir();
    let mut server = WhipServer::start(dir.path(), &["--token", "s3cret-t0ken"]);
    let stats = path_in(&dir, "stats.jsonl");
    let local = path_in(&dir, "local.mp4");
    let child = spawn_broadcast([
        "--duration",
        "10",
        "--whip",
        &server.url(),
        "--whip-token",
        "s3cret-t0ken",
        "--record",
        local.to_str().unwrap(),
        "--stats",
        stats.to_str().unwrap(),
    ]);
    let out = wait_success(child);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("s3cret-t0ken"), "{stderr}");
    // The receiver's last frames are decoded a moment after the DELETE.
    std::thread::sleep(Duration::from_millis(500));
    let s = server.stop();
    println!("receiver: {s}");
    assert_eq!(
        (s["posts"].as_u64(), s["refused"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(s["deletes"], 1, "DELETE on stop");
    let frames = s["video_frames"].as_u64().unwrap();
    assert!(frames >= 290, "{frames} frames decoded");
    assert_eq!(s["video_size"], serde_json::json!([1280, 720]));
    assert_eq!(s["decode_errors"], 0, "{}", s["decode_messages"]);
    assert_eq!(
        (s["audio_rate"].as_u64(), s["audio_channels"].as_u64()),
        (Some(48_000), Some(2))
    );
    let codecs: Vec<&str> = s["answer_codecs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(
        codecs
            .iter()
            .any(|c| c.eq_ignore_ascii_case("opus/48000/2")),
        "{codecs:?}"
    );
    assert!(
        codecs.iter().any(|c| c.starts_with("H264/90000")),
        "{codecs:?}"
    );
    assert!(!codecs.iter().any(|c| c.starts_with("VP8")), "{codecs:?}");
    assert_eq!(
        s["offer_profile"].as_str().unwrap(),
        profile_level_id_of(&local),
        "profile-level-id is the encoder's"
    );

    // A/V sync: every white square has a beep within one frame (each track's RTP time mapped
    // to the sender's clock by its sender reports).
    let marks = f64s(&s["video_marks"]);
    let onsets = f64s(&s["audio_onsets"]);
    // The square shows for a few frames at each whole second: take each run's first frame.
    let mut firsts: Vec<f64> = Vec::new();
    for m in marks {
        if firsts.last().is_none_or(|l| m - l > 0.5) {
            firsts.push(m);
        }
    }
    assert!(firsts.len() >= 9, "squares at {firsts:?}");
    let mut offsets = Vec::new();
    // The stream's first beep (at its first frame) decodes ~40 ms late at aiortc: libopus's
    // start-up; it is printed, not judged. Every later second is.
    for (i, v) in firsts.iter().enumerate() {
        let a = onsets
            .iter()
            .copied()
            .min_by(|x, y| (x - v).abs().total_cmp(&(y - v).abs()))
            .unwrap_or(f64::NAN);
        assert!(
            i == 0 || (a - v).abs() <= 1.0 / 30.0,
            "square at {v:.4} s, nearest beep at {a:.4} s (beeps {onsets:?})"
        );
        offsets.push(format!("{:+.1}", (a - v) * 1000.0));
    }
    println!("audio - video per second (ms): {}", offsets.join(" "));

    let lines = stats_lines(&stats);
    let last = whip_output(lines.last().unwrap());
    assert_eq!(last["state"], "stopped", "{last}");
    // One session the whole run: once live, live every second until the stop.
    assert_eq!(last["reconnects"], 0, "{last}");
    let states: Vec<&str> = lines
        .iter()
        .map(|l| whip_output(l)["state"].as_str().unwrap())
        .collect();
    let first_live = states.iter().position(|s| *s == "live").unwrap();
    assert!(
        states[first_live..states.len() - 1]
            .iter()
            .all(|s| *s == "live"),
        "{states:?}"
    );
    let (p50, p99) = (
        last["latency"]["p50_us"].as_u64().unwrap(),
        last["latency"]["p99_us"].as_u64().unwrap(),
    );
    // Media captured while live is measured (what was encoded while connecting is not: its
    // wait for the connection says nothing about the path): most of the 10 s.
    assert!(
        last["latency"]["samples"].as_u64().unwrap() >= 150,
        "{last}"
    );
    assert!(p50 > 0 && p99 >= p50, "{last}");
    assert!(
        last["audio_latency"]["samples"].as_u64().unwrap() >= 250,
        "{last}"
    );
    println!(
        "WHIP latency, capture to RTP: video p50 {p50} us p99 {p99} us; audio p50 {} us p99 {} us",
        last["audio_latency"]["p50_us"], last["audio_latency"]["p99_us"]
    );
    assert!(
        lines.last().unwrap()["audio"]["opus_encoded"]
            .as_u64()
            .unwrap()
            >= 450
    );
    assert_clean_h264_aac(&local, 298.0, 302.0);
}

/// A refused token: one POST, the words "the server refused the token", no retries, a
/// non-zero exit (no destination left), and the token never shown.
#[test]
fn a_wrong_token_is_one_clear_error_and_no_retry_storm() {
    let dir = tempdir();
    let server = WhipServer::start(dir.path(), &["--token", "right"]);
    let started = Instant::now();
    let out = onair()
        .args([
            "broadcast",
            "--duration",
            "8",
            "--whip",
            &server.url(),
            "--whip-token",
            "wr0ng-t0ken",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the server refused the token"), "{stderr}");
    assert!(!stderr.contains("wr0ng-t0ken"), "{stderr}");
    let s = server.summary();
    assert_eq!(
        (s["posts"].as_u64(), s["refused"].as_u64()),
        (Some(1), Some(1)),
        "{s}"
    );
    println!(
        "refused token reported after {} ms",
        started.elapsed().as_millis()
    );
}

/// The server vanishes mid-stream (SIGKILL): onair notices, says so, retries with backoff
/// until a server answers again on the same address, and streams there; the local recording
/// made beside it is whole.
#[test]
fn the_server_going_away_is_reconnected_and_the_recording_stays_whole() {
    let dir = tempdir();
    let mut first = WhipServer::start(dir.path(), &[]);
    let port = first.port;
    let stats = path_in(&dir, "stats.jsonl");
    let local = path_in(&dir, "local.mp4");
    let child = spawn_broadcast([
        "--duration",
        "18",
        "--whip",
        &first.url(),
        "--record",
        local.to_str().unwrap(),
        "--stats",
        stats.to_str().unwrap(),
    ]);
    wait_for(
        Duration::from_secs(30),
        "frames at the first server",
        || first.summary()["video_frames"].as_u64().unwrap_or(0) >= 60,
    );
    first.kill();
    let gone = Instant::now();
    // Restarted at once on the same port: onair must first notice the old session is dead.
    let second = WhipServer::start_on(port, dir.path(), "second.json", &[]);
    wait_for(Duration::from_secs(20), "a reconnection", || {
        second.summary()["video_frames"].as_u64().unwrap_or(0) >= 30
    });
    println!(
        "streaming again {} ms after the kill",
        gone.elapsed().as_millis()
    );
    let out = wait_success(child);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ICE consent expired") || stderr.contains("stopped answering"),
        "{stderr}"
    );
    let s = second.summary();
    assert_eq!(s["decode_errors"], 0, "{}", s["decode_messages"]);
    let lines = stats_lines(&stats);
    let last = whip_output(lines.last().unwrap());
    assert!(last["reconnects"].as_u64().unwrap() >= 1, "{last}");
    assert_clean_h264_aac(&local, 538.0, 542.0);
}

/// The endpoint moved (307) and the server is still starting (503 to the first offer):
/// onair follows the redirect, says what the server answered, retries after RTMP's backoff,
/// streams, and DELETEs the session at the relative Location resolved against the URL it
/// was redirected to.
#[test]
fn a_redirect_is_followed_and_a_server_error_is_retried() {
    let dir = tempdir();
    let mut server = WhipServer::start(dir.path(), &["--fail-posts", "1"]);
    let moved = format!("http://127.0.0.1:{}/whip/moved/test", server.port);
    let out = wait_success(spawn_broadcast(["--duration", "6", "--whip", &moved]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the server failed (HTTP 503)"), "{stderr}");
    std::thread::sleep(Duration::from_millis(500));
    let s = server.stop();
    println!("receiver: {s}");
    assert_eq!(s["redirects"], 2, "each offer goes to the old URL first");
    assert_eq!(s["posts"], 2, "one refused with 503, one taken: {s}");
    assert_eq!(s["deletes"], 1, "{s}");
    assert!(s["video_frames"].as_u64().unwrap() >= 60, "{s}");
    assert_eq!(s["decode_errors"], 0, "{}", s["decode_messages"]);
}

/// The server ends the session (DTLS close_notify, as a server kicking a publisher does):
/// onair says so at once (not after the 5 s silence timeout), offers again and streams to
/// the new session.
#[test]
fn the_server_ending_the_session_is_reconnected_at_once() {
    let dir = tempdir();
    let mut server = WhipServer::start(dir.path(), &["--end-after", "2"]);
    let stats = path_in(&dir, "stats.jsonl");
    let out = wait_success(spawn_broadcast([
        "--duration",
        "8",
        "--whip",
        &server.url(),
        "--stats",
        stats.to_str().unwrap(),
    ]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the server ended the session"), "{stderr}");
    assert!(!stderr.contains("ICE consent expired"), "{stderr}");
    std::thread::sleep(Duration::from_millis(500));
    let s = server.stop();
    println!("receiver: {s}");
    assert_eq!(s["ended_by_server"], 1, "{s}");
    assert_eq!(s["sessions"], 2, "{s}");
    // The first session's ~60 frames and the second's ~90 (the run is 8 s, the backoff 2 s):
    // more than the first session alone could bring.
    assert!(s["video_frames"].as_u64().unwrap() >= 100, "{s}");
    assert_eq!(s["decode_errors"], 0, "{}", s["decode_messages"]);
    let lines = stats_lines(&stats);
    let last = whip_output(lines.last().unwrap());
    assert_eq!(last["reconnects"], 1, "{last}");
}

/// Packet loss between the two (a relay drops every 25th video RTP packet): NACKs get them
/// resent from onair's history, and every frame still decodes.
#[test]
fn lost_packets_are_repaired_by_nack() {
    let dir = tempdir();
    let mut server = WhipServer::start(dir.path(), &["--relay-drop", "25"]);
    let child = spawn_broadcast(["--duration", "8", "--whip", &server.url()]);
    wait_success(child);
    std::thread::sleep(Duration::from_millis(500));
    let s = server.stop();
    println!("receiver: {s}");
    let dropped = s["relay_dropped"].as_u64().unwrap();
    assert!(dropped >= 20, "the relay dropped only {dropped} packets");
    // The repairs went through the relay as RTX (payload type 103).
    let resent = s["relay_resent"].as_u64().unwrap();
    assert!(
        resent >= dropped / 2,
        "{resent} resent for {dropped} dropped"
    );
    let frames = s["video_frames"].as_u64().unwrap();
    assert!(frames >= 230, "{frames} frames decoded of 240");
    assert_eq!(s["decode_errors"], 0, "{}", s["decode_messages"]);
}

/// A WHIP output added while a recording already runs (the encoders started with it): on the
/// default H.264 Main stream it is refused at once with one clear line, before any request
/// reaches the server, and the recording goes on whole. With `set_webrtc_may_join` (a WHIP
/// destination is set up), the recording started first codes Constrained Baseline, and the
/// WHIP output added to it joins: aiortc decodes what it receives without an error.
#[test]
fn a_whip_output_joining_a_recording_needs_a_baseline_stream() {
    use onair::capture::VideoSourceKind;
    use onair::config::Config;
    use onair::config::mixer::{MixerSettings, SourceKind, SourceSettings};
    use onair::output::whip::{WhipOptions, WhipTarget};
    use onair::output::{OutputSpec, RecordingFormat};
    use onair::pipeline::{EngineConfig, EngineHandle, Pacing};

    let dir = tempdir();
    let mut server = WhipServer::start(dir.path(), &[]);
    // The window's order: the program runs with no output, then Record, then Go live to WHIP.
    let run = |may_join: bool, file: &str| {
        let recording = path_in(&dir, file);
        let mut engine = EngineHandle::start(EngineConfig {
            preset: Config::builtin().preset("480p30").unwrap().clone(),
            video: VideoSourceKind::Test,
            audio: MixerSettings::with_sources(vec![SourceSettings::new(
                "Tone",
                SourceKind::Tone,
                "",
            )]),
            duration: None,
            outputs: Vec::new(),
            pacing: Pacing::RealTime,
            encoder_threads: 1,
            video_tuning: None,
        })
        .unwrap();
        engine.set_webrtc_may_join(may_join);
        engine
            .add_output(&OutputSpec::Recording {
                path: recording.clone(),
                format: RecordingFormat::Mp4,
            })
            .unwrap();
        let joined_at = engine.now().as_millis_floor() + 1_000;
        wait_for(Duration::from_secs(30), "1 s of recording", || {
            engine.now().as_millis_floor() >= joined_at
        });
        let joined = engine.add_output(&OutputSpec::Whip {
            target: WhipTarget::new(&server.url(), None).unwrap(),
            options: WhipOptions::default(),
        });
        let joined = joined.map_err(|e| e.to_string());
        wait_for(Duration::from_secs(30), "5 s of recording", || {
            engine.now().as_millis_floor() >= joined_at + 4_000
        });
        engine.stop();
        (joined, recording)
    };

    let (refused, main_file) = run(false, "main.mp4");
    let e = refused.expect_err("a WHIP output joined a Main stream");
    println!("{e}");
    assert!(!e.contains('\n'), "{e}");
    assert!(
        e.contains("WHIP") && e.contains("Main") && e.contains("Constrained Baseline"),
        "{e}"
    );
    assert_eq!(
        server.summary()["posts"],
        0,
        "nothing was sent to the server"
    );
    // The recording went on untouched: about 5 s of Main, whole.
    assert_eq!(profile_level_id_of(&main_file)[..4], *"4d00");
    let duration = num(&probe(&main_file)["format"]["duration"]);
    assert!((4.0..=6.5).contains(&duration), "{duration} s");

    let (joined, base_file) = run(true, "baseline.mp4");
    joined.expect("a WHIP output joins a Baseline stream");
    std::thread::sleep(Duration::from_millis(500));
    let s = server.stop();
    println!("receiver: {s}");
    assert_eq!(profile_level_id_of(&base_file)[..4], *"42c0");
    assert_eq!(s["posts"], 1);
    assert_eq!(s["offer_profile"].as_str().unwrap()[..4], *"42c0");
    let frames = s["video_frames"].as_u64().unwrap();
    // Joined 1 s in, stopped 4 s later: from the next keyframe (at most 2 s on) 60-120 frames.
    assert!(frames >= 50, "{frames} frames decoded");
    assert_eq!(s["video_size"], serde_json::json!([854, 480]));
    assert_eq!(s["decode_errors"], 0, "{}", s["decode_messages"]);
}

/// The window's order, as a streamer does it: a WHIP destination switched on, Record, then Go
/// live. The recording's encoders start in Constrained Baseline (the destination could join
/// later), so the WHIP output joins them and aiortc decodes it; on Main it was refused.
#[test]
fn in_the_window_go_live_to_whip_while_recording() {
    use crate::common::gui::{harness, run_until};
    use egui_kittest::kittest::Queryable as _;
    use onair::app::Action;
    use onair::ui::OnairApp;

    let dir = tempdir();
    let config = tempdir();
    let takes = tempdir();
    let mut server = WhipServer::start(dir.path(), &[]);
    std::fs::write(
        config.path().join("config.toml"),
        format!(
            "[program]\npreset = \"480p30\"\n[recording]\nfolder = \"{}\"\n",
            takes.path().display()
        ),
    )
    .unwrap();
    let mut h = harness(config.path());
    h.run_steps(2);
    let app = h.state_mut().app_mut();
    let before = app.edits();
    app.apply(Action::AddDestination);
    let d = app.settings.destinations.last_mut().unwrap();
    d.name = "My WHIP".into();
    d.service = onair::app::services::Service::Whip;
    d.server = server.url();
    d.enabled = true;
    app.after_edits(before);
    h.run_steps(2);

    let recorded_for = |secs: f32| {
        move |a: &OnairApp| {
            a.view()
                .recording
                .since
                .is_some_and(|t| t.elapsed().as_secs_f32() >= secs)
        }
    };
    h.get_by_label("Record").click();
    run_until(&mut h, "1 s of recording", recorded_for(1.0));
    h.get_by_label("Go live").click();
    run_until(&mut h, "live", |a| a.view().live.since.is_some());
    run_until(&mut h, "5 s of recording", recorded_for(5.0));
    h.get_by_label("Stop streaming").click();
    h.run_steps(4);
    if let Some(confirm) = h.get_all_by_label("Stop streaming").nth(1) {
        confirm.click();
    }
    run_until(&mut h, "not live", |a| a.view().live.since.is_none());
    h.get_by_label("Stop recording").click();
    h.run_steps(4);
    if let Some(confirm) = h.get_all_by_label("Stop recording").nth(1) {
        confirm.click();
    }
    run_until(&mut h, "the encoders to stop", |a| !a.view().encoding);
    drop(h);
    std::thread::sleep(Duration::from_millis(500));
    let s = server.stop();
    println!("receiver: {s}");
    let file = std::fs::read_dir(takes.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "mp4"))
        .expect("the recording");
    assert_eq!(profile_level_id_of(&file)[..4], *"42c0");
    assert_eq!(s["posts"], 1);
    assert_eq!(s["offer_profile"].as_str().unwrap()[..4], *"42c0");
    let frames = s["video_frames"].as_u64().unwrap();
    // Live for about 4 s, from the next keyframe (at most 2 s on): 60-120 frames at 30 fps.
    assert!(frames >= 50, "{frames} frames decoded");
    assert_eq!(s["video_size"], serde_json::json!([854, 480]));
    assert_eq!(s["decode_errors"], 0, "{}", s["decode_messages"]);
}
