//! Going live: the real binary publishes to a real nginx with the RTMP module, and ffprobe /
//! ffmpeg judge what nginx recorded.

use std::path::Path;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use crate::common::peers::{Nginx, NginxOptions, ThrottleProxy};
use crate::common::*;
use serde_json::Value;

fn nginx() -> Nginx {
    Nginx::start(NginxOptions::default())
}

/// nginx's recordings of stream `key`, oldest first.
fn recordings_of(nginx: &Nginx, key: &str) -> Vec<std::path::PathBuf> {
    nginx
        .recordings()
        .into_iter()
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(key))
        .collect()
}

fn stats_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn rtmp_output(stats: &Value) -> &Value {
    stats["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == "rtmp")
        .expect("an rtmp output")
}

fn spawn_live(args: &[&str], stats: &Path) -> Child {
    let stats = stats.to_str().unwrap();
    spawn_broadcast(args.iter().copied().chain(["--stats", stats]))
}

fn stop(child: Child) -> Output {
    terminate(child)
}

/// SIGTERM to a run whose destination never went live: it exits 1 and says so (issue 14).
fn stop_never_live(child: Child) -> Output {
    run_ok(Command::new("kill").args(["-TERM", &child.id().to_string()]));
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("never went live"), "{err}");
    out
}

fn wait_stats(stats: &Path, what: &str, mut cond: impl FnMut(&Value) -> bool) -> Value {
    let mut last = None;
    wait_for(Duration::from_secs(60), what, || {
        last = last_stats(stats);
        last.as_ref().is_some_and(&mut cond)
    });
    last.unwrap()
}

/// 10 s of 720p30 reach nginx whole: every frame, clean decode, keyframe first, in sync. The
/// stream key shows up nowhere: not in logs at the most verbose level, not in the stats.
#[test]
fn ten_seconds_reach_nginx_whole_in_sync_and_the_key_never_leaks() {
    let nginx = nginx();
    let dir = tempdir();
    let stats = path_in(&dir, "stats.jsonl");
    let key = "k3y-7f3a9c41d2";
    let out = run_ok(
        onair()
            .env("RUST_LOG", "trace")
            .args([
                "broadcast",
                "--preset",
                "720p30",
                "--duration",
                "10",
                "--rtmp",
                &nginx.rtmp_url("live", key),
            ])
            .arg("--stats")
            .arg(&stats),
    );
    nginx.wait_recording_closed(Duration::from_secs(10));
    let recs = recordings_of(&nginx, key);
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_clean_h264_aac(&recs[0], 298.0, 302.0);
    assert_in_sync(&recs[0], 720, 10);

    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(logs.contains("live"), "trace logs were captured");
    assert!(!logs.contains(key), "the stream key leaked into the logs");
    let stats_text = std::fs::read_to_string(&stats).unwrap();
    assert!(
        !stats_text.contains(key),
        "the stream key leaked into the stats"
    );
    let last = stats_lines(&stats).pop().unwrap();
    let o = rtmp_output(&last);
    assert_eq!(o["state"], "stopped");
    assert_eq!(o["dropped_network"], 0);
    assert_eq!(o["reconnects"], 0);
    assert!(o["name"].as_str().unwrap().ends_with("/live/****"), "{o}");
    assert!(o["bytes"].as_u64().unwrap() > 300_000);
}

/// One encode, three outputs: two destinations and a local recording all complete.
#[test]
fn two_destinations_and_a_recording_at_once() {
    let nginx = nginx();
    let dir = tempdir();
    let local = path_in(&dir, "local.mp4");
    run_ok(
        onair()
            .args(["broadcast", "--preset", "720p30", "--duration", "5"])
            .args([
                "--rtmp",
                &nginx.rtmp_url("live", "first"),
                "--rtmp",
                &nginx.rtmp_url("live", "second"),
            ])
            .arg("--record")
            .arg(&local),
    );
    nginx.wait_recording_closed(Duration::from_secs(10));
    for key in ["first", "second"] {
        let recs = recordings_of(&nginx, key);
        assert_eq!(recs.len(), 1, "{key}: {recs:?}");
        assert_clean_h264_aac(&recs[0], 148.0, 152.0);
    }
    assert_clean_h264_aac(&local, 150.0, 150.0);
}

/// A refused key (nginx's on_publish answering 403 closes the socket): a clear error at once,
/// one attempt only, a non-zero exit since no destination is left, and the key not shown.
#[test]
fn a_rejected_key_is_one_clear_error_and_no_retry_storm() {
    let nginx = nginx();
    let dir = tempdir();
    let started = Instant::now();
    let out = onair()
        .args([
            "broadcast",
            "--duration",
            "30",
            "--rtmp",
            &nginx.rtmp_url("auth", "wrong-k3y-991"),
        ])
        .arg("--stats")
        .arg(path_in(&dir, "s.jsonl"))
        .output()
        .unwrap();
    let took = started.elapsed();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the server rejected the stream")
            && stderr.contains("check the stream key"),
        "{stderr}"
    );
    assert!(
        stderr.contains("every destination failed before anything was sent"),
        "{stderr}"
    );
    assert!(!stderr.contains("wrong-k3y-991"), "{stderr}");
    let access = std::fs::read_to_string(nginx.dir().join("access.log")).unwrap();
    assert_eq!(
        access.matches("/on_publish").count(),
        1,
        "one publish attempt only:\n{access}"
    );
    println!(
        "rejected key reported and exited after {} ms",
        took.as_millis()
    );
    // The good key on the same application works (the rejection was about the key).
    run_ok(onair().args([
        "broadcast",
        "--duration",
        "2",
        "--rtmp",
        &nginx.rtmp_url("auth", "goodkey"),
    ]));
}

/// The server dies mid-stream and comes back: the output reconnects with backoff and resumes
/// at a keyframe; the local recording never notices.
#[test]
fn the_stream_resumes_after_the_server_restarts_and_the_recording_keeps_every_frame() {
    let mut nginx = nginx();
    let dir = tempdir();
    let (stats, local) = (path_in(&dir, "stats.jsonl"), path_in(&dir, "local.mp4"));
    let child = spawn_live(
        &[
            "--rtmp",
            &nginx.rtmp_url("live", "resume"),
            "--record",
            local.to_str().unwrap(),
        ],
        &stats,
    );
    wait_stats(&stats, "live for 3 s", |s| {
        s["time_ms"].as_i64().unwrap() >= 3_000 && rtmp_output(s)["state"] == "live"
    });
    nginx.kill();
    let down = wait_stats(&stats, "reconnecting", |s| {
        rtmp_output(s)["state"] == "reconnecting"
    });
    assert!(rtmp_output(&down)["last_error"].as_str().is_some());
    std::thread::sleep(Duration::from_secs(2));
    nginx.restart();
    let back = wait_stats(&stats, "live again", |s| {
        rtmp_output(s)["state"] == "live" && rtmp_output(s)["reconnects"] == 1
    });
    let back_at = back["time_ms"].as_i64().unwrap();
    wait_stats(&stats, "4 s after the return", |s| {
        s["time_ms"].as_i64().unwrap() >= back_at + 4_000
    });
    let _ = stop(child);
    nginx.wait_recording_closed(Duration::from_secs(10));

    let recs = recordings_of(&nginx, "resume");
    assert!(recs.len() >= 2, "{recs:?}");
    // The recording after the restart: starts with a keyframe, decodes cleanly, about 4 s.
    assert_clean_h264_aac(recs.last().unwrap(), 90.0, 400.0);
    // The local recording has every picture sent out (frames encoded, and repeats for the
    // slots of frames dropped before the encoder), at strictly increasing times.
    let last = last_stats(&stats).unwrap();
    let packets = video_packets(&local);
    assert_eq!(
        packets.len() as u64,
        last["video"]["encoded"].as_u64().unwrap() + last["video"]["repeated"].as_u64().unwrap()
    );
    assert!(packets.windows(2).all(|w| w[1].0 > w[0].0));
    assert!(decode_errors(&local, &[]).is_empty());
    let o = rtmp_output(&last);
    assert!(
        o["dropped_network"].as_u64().unwrap() > 0,
        "frames were lost while the server was down"
    );
}

/// A link that carries half the stream: the send queue stays bounded, only non-key video is
/// dropped (audio continuous, every keyframe kept), and it recovers when the link does.
#[test]
fn a_throttled_link_drops_only_non_key_video_and_recovers() {
    let nginx = nginx();
    let target = format!("127.0.0.1:{}", nginx.rtmp_port()).parse().unwrap();
    // The test pattern encodes at about 560 kbit/s with audio: allow about half of it.
    let proxy = ThrottleProxy::start(target, Some(36_000));
    let dir = tempdir();
    let stats = path_in(&dir, "stats.jsonl");
    let url = format!("rtmp://127.0.0.1:{}/live/throttled", proxy.port());
    let child = spawn_live(&["--rtmp", &url], &stats);
    let pid = child.id();
    let rss = || {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    wait_stats(&stats, "5 s", |s| s["time_ms"].as_i64().unwrap() >= 5_000);
    let rss_early = rss();
    let congested = wait_stats(&stats, "congestion drops", |s| {
        rtmp_output(s)["dropped_network"].as_u64().unwrap() > 30
    });
    let at = congested["time_ms"].as_i64().unwrap();
    wait_stats(&stats, "6 s more of congestion", |s| {
        s["time_ms"].as_i64().unwrap() >= at + 6_000
    });
    let rss_congested = rss();
    proxy.set_rate(None);
    let lifted_at = last_stats(&stats).unwrap()["time_ms"].as_i64().unwrap();
    let recovered = wait_stats(&stats, "recovery", |s| {
        s["time_ms"].as_i64().unwrap() >= lifted_at + 6_000
            && rtmp_output(s)["buffered_ms"].as_u64().unwrap() < 300
    });
    let _ = stop(child);
    nginx.wait_recording_closed(Duration::from_secs(10));

    // Bounded: the queue never held more than its cap, and memory did not grow with the backlog.
    for line in stats_lines(&stats) {
        assert!(
            rtmp_output(&line)["buffered_ms"].as_u64().unwrap() <= 5_000,
            "{line}"
        );
    }
    assert!(
        rss_congested < rss_early + 30_000,
        "RSS grew from {rss_early} kB to {rss_congested} kB"
    );
    let congestion = rtmp_output(&recovered)["congestion_milli"]
        .as_u64()
        .unwrap();
    assert!(congestion < 400, "congestion {congestion} after recovery");

    let recs = recordings_of(&nginx, "throttled");
    assert_eq!(recs.len(), 1, "{recs:?}");
    let rec = &recs[0];
    assert!(decode_errors(rec, &[]).is_empty());
    // Audio continuous: no gap between AAC frames beyond one frame (21.3 ms).
    let audio = run_ok(
        Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-select_streams",
                "a:0",
                "-show_entries",
                "packet=pts_time",
                "-of",
                "csv=p=0",
            ])
            .arg(rec),
    );
    let times: Vec<f64> = String::from_utf8_lossy(&audio.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    let worst = times.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
    assert!(worst < 0.030, "audio gap of {worst} s");
    // Every keyframe arrived: one every 2 s over the whole recording.
    let video = video_packets(rec);
    let keys: Vec<f64> = video.iter().filter(|(_, k)| *k).map(|(t, _)| *t).collect();
    let span = video.last().unwrap().0 - video[0].0;
    assert!(
        keys.len() as f64 >= (span / 2.0).floor(),
        "{} keyframes over {span} s",
        keys.len()
    );
    // Non-key video was dropped while congested, and flows fully again after the lift.
    let frames = video.len() as f64;
    assert!(
        frames < span * 30.0 - 30.0,
        "{frames} frames over {span} s: nothing was dropped?"
    );
    let tail: Vec<&(f64, bool)> = video.iter().filter(|(t, _)| *t >= span - 3.0).collect();
    assert!(
        tail.len() >= 80,
        "only {} frames in the last 3 s after recovery",
        tail.len()
    );
}

/// rtmps:// through nginx's stream module with a self-signed certificate: works with the CA
/// given, fails with a clear TLS error (and no retries) without it.
#[test]
fn rtmps_works_with_the_private_ca_and_fails_clearly_without() {
    let nginx = Nginx::start(NginxOptions { tls: true });
    let url = nginx.rtmps_url("live", "tlskey");
    run_ok(
        onair()
            .args(["broadcast", "--duration", "4", "--rtmp", &url, "--rtmp-ca"])
            .arg(nginx.ca_path()),
    );
    nginx.wait_recording_closed(Duration::from_secs(10));
    let recs = recordings_of(&nginx, "tlskey");
    assert_eq!(recs.len(), 1);
    assert_clean_h264_aac(&recs[0], 118.0, 122.0);

    let out = onair()
        .args(["broadcast", "--duration", "20", "--rtmp", &url])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("TLS with localhost failed") && stderr.contains("--rtmp-ca"),
        "{stderr}"
    );
    assert!(!stderr.contains("tlskey"));

    let missing = onair()
        .args([
            "broadcast",
            "--duration",
            "1",
            "--rtmp",
            &url,
            "--rtmp-ca",
            "/nonexistent/ca.pem",
        ])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr)
            .contains("cannot use the CA file /nonexistent/ca.pem")
    );
}

/// Nothing listening: connection refused is said in words, retried with backoff (not given up
/// at once), and the state shows the attempt and the countdown.
#[test]
fn connection_refused_is_retried_with_backoff_and_shown() {
    let dir = tempdir();
    let stats = path_in(&dir, "stats.jsonl");
    let port = crate::common::peers::free_port();
    let child = spawn_live(
        &["--rtmp", &format!("rtmp://127.0.0.1:{port}/live/nobody")],
        &stats,
    );
    let s = wait_stats(&stats, "second attempt", |s| {
        rtmp_output(s)["retry_attempt"].as_u64() == Some(2)
    });
    let o = rtmp_output(&s);
    assert_eq!(o["state"], "reconnecting");
    assert!(
        o["last_error"]
            .as_str()
            .unwrap()
            .contains(&format!("connection to 127.0.0.1:{port} refused")),
        "{o}"
    );
    let wait = o["retry_in_ms"].as_u64().unwrap();
    assert!(
        wait <= 3_300,
        "second retry after 3 s plus jitter, got {wait} ms"
    );
    let _ = stop_never_live(child);
}

/// A second encoder on a key that is already live: nginx refuses it with
/// NetStream.Publish.BadName; the second one says so and keeps retrying (the first session may
/// be a stale one the server has not dropped yet), while the first stream is untouched.
#[test]
fn already_publishing_is_said_in_words_and_retried() {
    let nginx = nginx();
    let dir = tempdir();
    let (first_stats, second_stats) = (path_in(&dir, "a.jsonl"), path_in(&dir, "b.jsonl"));
    let url = nginx.rtmp_url("live", "dup");
    let first = spawn_live(&["--rtmp", &url], &first_stats);
    wait_stats(&first_stats, "first live", |s| {
        rtmp_output(s)["state"] == "live" && s["time_ms"].as_i64().unwrap() > 1_000
    });
    let second = spawn_live(&["--rtmp", &url], &second_stats);
    let s = wait_stats(&second_stats, "second refused", |s| {
        rtmp_output(s)["state"] == "reconnecting"
    });
    let err = rtmp_output(&s)["last_error"].as_str().unwrap().to_owned();
    assert!(
        err.contains("another encoder is already publishing to this stream key"),
        "{err}"
    );
    let _ = stop_never_live(second);
    let last = last_stats(&first_stats).unwrap();
    assert_eq!(rtmp_output(&last)["state"], "live");
    assert_eq!(rtmp_output(&last)["reconnects"], 0);
    let _ = stop(first);
}

/// Dynamic bitrate: on a link carrying about 290 kbit/s, the encoder's target comes down to
/// what fits (rounded down to 100 kbit/s, after the audio), and steps back up by 10 % of the
/// preset every 4 s once the link recovers. The stream stays decodable throughout.
#[test]
fn dynamic_bitrate_follows_a_throttled_link_down_and_back_up() {
    let nginx = nginx();
    let target = format!("127.0.0.1:{}", nginx.rtmp_port()).parse().unwrap();
    let proxy = ThrottleProxy::start(target, Some(36_000));
    let dir = tempdir();
    let stats = path_in(&dir, "stats.jsonl");
    let url = format!("rtmp://127.0.0.1:{}/live/dbr", proxy.port());
    let child = spawn_live(&["--rtmp", &url, "--dynamic-bitrate"], &stats);
    let target_bps = |s: &Value| s["video"]["target_bitrate_bps"].as_u64().unwrap();
    let low = wait_stats(&stats, "a lower bitrate", |s| target_bps(s) < 3_000_000);
    let lowest = target_bps(&low);
    assert!(
        lowest <= 300_000,
        "the link carries ~290 kbit/s with audio; target {lowest}"
    );
    assert_eq!(
        rtmp_output(&low)["bitrate_request_bps"].as_u64(),
        Some(lowest)
    );
    proxy.set_rate(None);
    let up = wait_stats(&stats, "two steps back up", |s| {
        target_bps(s) >= lowest + 600_000
    });
    assert!(target_bps(&up) <= 3_000_000);
    let _ = stop(child);
    nginx.wait_recording_closed(Duration::from_secs(10));
    let recs = recordings_of(&nginx, "dbr");
    assert_eq!(recs.len(), 1);
    assert!(decode_errors(&recs[0], &[]).is_empty());
}

/// A host that cannot exist (RFC 6761 `.invalid`): "not found" in words, and retried (DNS
/// failures are often passing).
#[test]
fn an_unknown_host_is_said_in_words_and_retried() {
    let dir = tempdir();
    let stats = path_in(&dir, "stats.jsonl");
    let child = spawn_live(&["--rtmp", "rtmp://onair-test.invalid/live/k3y"], &stats);
    let s = wait_stats(&stats, "first retry", |s| {
        rtmp_output(s)["retry_attempt"].as_u64() == Some(1)
    });
    let o = rtmp_output(&s);
    assert_eq!(o["state"], "reconnecting");
    let err = o["last_error"].as_str().unwrap();
    assert_eq!(
        err,
        "host onair-test.invalid not found: check the server address and the network"
    );
    let _ = stop_never_live(child);
}

/// A server that accepts the connection and then says nothing: "did not answer" in words
/// after the 15 s publish timeout, then retried.
#[test]
fn a_silent_server_times_out_in_words() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = std::thread::Builder::new()
        .name("silent-server".into())
        .spawn(move || {
            // Accept and hold the connections, never answering; ends with the test process.
            let mut conns = Vec::new();
            for c in listener.incoming().take(2) {
                conns.push(c);
            }
            std::thread::sleep(Duration::from_secs(60));
        })
        .unwrap();
    let dir = tempdir();
    let stats = path_in(&dir, "stats.jsonl");
    let child = spawn_live(
        &["--rtmp", &format!("rtmp://127.0.0.1:{port}/live/k3y")],
        &stats,
    );
    let s = wait_stats(&stats, "the timeout", |s| {
        rtmp_output(s)["retry_attempt"].as_u64() == Some(1)
    });
    assert_eq!(
        rtmp_output(&s)["last_error"],
        "the server did not answer for 15 s"
    );
    assert_eq!(rtmp_output(&s)["state"], "reconnecting");
    let _ = stop_never_live(child);
    drop(held);
}
