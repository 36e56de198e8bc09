//! The HLS preview: the real binary writes LL-HLS and serves it; the playlist is read over
//! HTTP, every segment is judged by ffprobe/ffmpeg, and Debian's headless Chromium plays the
//! page with the vendored hls.js.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use crate::common::peers::free_port;
use crate::common::*;
use serde_json::Value;

fn spawn_hls(dir: &Path, port: u16, extra: &[&str]) -> Child {
    let serve = format!("127.0.0.1:{port}");
    let hls = ["--hls", dir.to_str().unwrap(), "--serve", &serve];
    spawn_broadcast(hls.iter().chain(extra))
}

fn wait_playlist(port: u16) -> String {
    let mut text = String::new();
    wait_for(Duration::from_secs(30), "the first playlist", || {
        let Some((code, _, body)) = try_http(port, "GET", "/live.m3u8") else {
            return false;
        };
        text = String::from_utf8_lossy(&body).into_owned();
        code == 200
    });
    text
}

/// The value of `#TAG:` in a playlist.
fn tag<'a>(playlist: &'a str, name: &str) -> Option<&'a str> {
    playlist
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
}

/// Seconds in a decimal attribute or EXTINF value.
fn secs(s: &str) -> f64 {
    s.trim_end_matches(',').parse().unwrap()
}

/// (EXTINF seconds, URI) of every whole segment listed.
fn segments(playlist: &str) -> Vec<(f64, String)> {
    let lines: Vec<&str> = playlist.lines().collect();
    lines
        .windows(2)
        .filter_map(|w| Some((secs(w[0].strip_prefix("#EXTINF:")?), w[1].to_owned())))
        .collect()
}

/// (DURATION seconds, URI) of every part listed.
fn parts(playlist: &str) -> Vec<(f64, String)> {
    playlist
        .lines()
        .filter_map(|l| l.strip_prefix("#EXT-X-PART:"))
        .map(|attrs| {
            let d = attrs
                .split(',')
                .find_map(|a| a.strip_prefix("DURATION="))
                .unwrap();
            let uri = attrs.split('"').nth(1).unwrap();
            (secs(d), uri.to_owned())
        })
        .collect()
}

/// (segment, part) from a part name `PREFIX-M.P.m4s`.
fn part_numbers(uri: &str) -> (u64, u64) {
    let stem = uri.rsplit('-').next().unwrap().trim_end_matches(".m4s");
    let (m, p) = stem.split_once('.').unwrap();
    (m.parse().unwrap(), p.parse().unwrap())
}

fn preload_hint(playlist: &str) -> Option<String> {
    let attrs = tag(playlist, "#EXT-X-PRELOAD-HINT")?;
    Some(attrs.split('"').nth(1)?.to_owned())
}

/// A blocking reload for the part `playlist` hints at: (the hint, the playlist answered);
/// `None` when it hints at none.
fn reload_for_hint(port: u16, playlist: &str) -> Option<(String, String)> {
    let hint = preload_hint(playlist)?;
    let (msn, part) = part_numbers(&hint);
    let (code, _, body) = http(
        port,
        "GET",
        &format!("/live.m3u8?_HLS_msn={msn}&_HLS_part={part}"),
    );
    assert_eq!(code, 200);
    Some((hint, String::from_utf8(body).unwrap()))
}

/// Every property Apple's and the LL-HLS rules ask of one live playlist.
fn assert_playlist_rules(p: &str) {
    assert!(p.starts_with("#EXTM3U\n"), "{p}");
    let target = secs(tag(p, "#EXT-X-TARGETDURATION").unwrap());
    assert_eq!(target, 2.0, "keyframe interval of 720p30: {p}");
    let control = tag(p, "#EXT-X-SERVER-CONTROL").unwrap();
    assert!(control.contains("CAN-BLOCK-RELOAD=YES"), "{p}");
    let part_target = secs(
        tag(p, "#EXT-X-PART-INF")
            .unwrap()
            .strip_prefix("PART-TARGET=")
            .unwrap(),
    );
    assert!((0.3..=0.5).contains(&part_target), "{part_target}");
    let hold_back = secs(control.split("PART-HOLD-BACK=").nth(1).unwrap());
    assert!(hold_back >= 3.0 * part_target - 1e-6, "{p}");
    assert!(tag(p, "#EXT-X-MEDIA-SEQUENCE").is_some(), "{p}");
    assert!(p.contains("\n#EXT-X-INDEPENDENT-SEGMENTS\n"), "{p}");
    assert!(
        tag(p, "#EXT-X-MAP").unwrap().ends_with("-init.mp4\""),
        "{p}"
    );
    assert!(tag(p, "#EXT-X-PROGRAM-DATE-TIME").is_some(), "{p}");
    for (d, uri) in segments(p) {
        // RFC 8216: rounded, at most the target; Apple: at most target + 0.5 s.
        assert!(d.round() <= target && d <= target + 0.5, "{uri}: {d}");
    }
    for (d, uri) in parts(p) {
        assert!(d <= part_target, "{uri}: {d} > {part_target}");
    }
    if !p.contains("#EXT-X-ENDLIST") {
        assert!(preload_hint(p).is_some(), "{p}");
    }
}

/// Fetches `uri` over HTTP and writes it into `dir`.
fn fetch(port: u16, uri: &str, dir: &Path) -> PathBuf {
    let (code, head, body) = http(port, "GET", &format!("/{uri}"));
    assert_eq!(code, 200, "{uri}: {head}");
    let path = dir.join(uri);
    std::fs::write(&path, body).unwrap();
    path
}

fn concat(parts: &[&Path], out: &Path) {
    let bytes: Vec<u8> = parts
        .iter()
        .flat_map(|p| std::fs::read(p).unwrap())
        .collect();
    std::fs::write(out, bytes).unwrap();
}

#[test]
fn a_20_s_broadcast_over_http_follows_the_hls_rules_and_every_segment_decodes() {
    let tmp = tempdir();
    let dir = tmp.path().join("hls");
    let take = path_in(&tmp, "take.mp4");
    std::fs::write(tmp.path().join("secret.txt"), "do not serve").unwrap();
    let port = free_port();
    let child = spawn_hls(
        &dir,
        port,
        &["--duration", "20", "--record", take.to_str().unwrap()],
    );

    let first = wait_playlist(port);
    assert_playlist_rules(&first);
    let (code, head, _) = http(port, "HEAD", "/live.m3u8");
    assert_eq!(code, 200);
    assert!(
        head.contains("content-type: application/vnd.apple.mpegurl"),
        "{head}"
    );
    assert!(head.contains("cache-control: no-cache"), "{head}");
    let (code, head, page) = http(port, "GET", "/");
    assert_eq!(code, 200);
    assert!(head.contains("content-type: text/html"), "{head}");
    assert!(String::from_utf8_lossy(&page).contains("hls.min.js"));
    assert_eq!(http(port, "POST", "/live.m3u8").0, 405);

    // No way out of the folder, in any encoding.
    for path in [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/..%2fsecret.txt",
        "/%2e%2e%5csecret.txt",
        "/%252e%252e%252fsecret.txt",
        "/hls/../../secret.txt",
        "/.onair-hls",
    ] {
        let (code, _, body) = http(port, "GET", path);
        assert!(code == 400 || code == 404, "{path}: {code}");
        assert!(
            !String::from_utf8_lossy(&body).contains("do not serve"),
            "{path}"
        );
    }

    // A blocking reload for the hinted part returns once it exists, and no later: the answer
    // lists it as its newest part.
    let mut sequences = Vec::new();
    let mut held = 0;
    let mut playlist = first;
    while !playlist.contains("#EXT-X-ENDLIST") {
        assert_playlist_rules(&playlist);
        sequences.push(secs(tag(&playlist, "#EXT-X-MEDIA-SEQUENCE").unwrap()) as u64);
        let Some((hint, next)) = reload_for_hint(port, &playlist) else {
            break;
        };
        playlist = next;
        if !playlist.contains("#EXT-X-ENDLIST") {
            let newest = parts(&playlist).last().unwrap().1.clone();
            assert_eq!(newest, hint, "held past the part asked for");
            held += 1;
        }
    }
    // About 3 parts per second for 20 s.
    assert!(held >= 40, "{held} blocking reloads answered");
    assert!(sequences.windows(2).all(|w| w[0] <= w[1]), "{sequences:?}");
    assert!(
        *sequences.last().unwrap() >= 3,
        "the window slides: {sequences:?}"
    );

    // The final playlist: ENDLIST, no hint, and every segment it lists decodes with the init
    // segment, holds 2 s of 30 fps video and decodes without an error.
    assert!(playlist.ends_with("#EXT-X-ENDLIST\n"), "{playlist}");
    assert!(!playlist.contains("PRELOAD-HINT"));
    let map = tag(&playlist, "#EXT-X-MAP")
        .unwrap()
        .split('"')
        .nth(1)
        .unwrap();
    let got = tempdir();
    let init = fetch(port, map, got.path());
    let (code, head, _) = http(port, "HEAD", &format!("/{map}"));
    assert_eq!(code, 200);
    assert!(head.contains("content-type: video/mp4"), "{head}");
    let listed = segments(&playlist);
    assert!(listed.len() >= 6, "{playlist}");
    let media_sequence = secs(tag(&playlist, "#EXT-X-MEDIA-SEQUENCE").unwrap()) as usize;
    assert_eq!(
        media_sequence + listed.len(),
        10,
        "20 s in 2 s segments: {playlist}"
    );
    // Every file first: the server answers for 3 s after the end, which judging each one
    // with ffprobe and ffmpeg can outlast on a busy machine.
    let mut fetched = Vec::new();
    for (_, uri) in &listed {
        fetched.push(fetch(port, uri, got.path()));
        let (_, head, _) = http(port, "HEAD", &format!("/{uri}"));
        assert!(head.contains("content-type: video/iso.segment"), "{head}");
    }
    let mut files = vec![init.clone()];
    let mut listed_frames = 0.0;
    for ((duration, uri), seg) in listed.iter().zip(fetched) {
        let one = got.path().join(format!("{uri}.mp4"));
        concat(&[&init, &seg], &one);
        let p = probe(&one);
        let v = stream(&p, "video");
        assert_eq!(
            (v["width"].as_u64(), v["height"].as_u64()),
            (Some(1280), Some(720))
        );
        assert_eq!(
            num(&v["nb_read_frames"]),
            (duration * 30.0).round(),
            "{uri}"
        );
        assert!(num(&stream(&p, "audio")["nb_read_frames"]) > 0.0, "{uri}");
        let errors = decode_errors(&one, &[]);
        assert!(errors.is_empty(), "{uri}: {errors}");
        assert!(video_packets(&one)[0].1, "{uri} starts with a keyframe");
        files.push(seg);
        listed_frames += (duration * 30.0).round();
    }
    // The listed segments back to back: one clean stream holding every frame they list (2 s
    // each, but a segment that lost late frames on a busy machine lists less).
    let all = got.path().join("all.mp4");
    concat(
        &files.iter().map(PathBuf::as_path).collect::<Vec<_>>(),
        &all,
    );
    assert_clean_h264_aac(&all, listed_frames, listed_frames);

    let out = wait_success(child);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("preview: http://127.0.0.1:{port}/")),
        "{stderr}"
    );
    // The recording from the same encode is whole too.
    assert_clean_h264_aac(&take, 598.0, 602.0);
    // The folder holds the listed files and no temporary file.
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
    for (_, uri) in &listed {
        assert!(names.contains(uri), "{uri} missing from {names:?}");
    }
}

/// The process frozen for 0.8 s (SIGSTOP, as a loaded scheduler does) 4 s in: every playlist
/// published, before and after, follows the rules (no part longer than PART-TARGET, no segment
/// over the target duration), and the segments keep time: every beep on its second, every
/// white square with its beep, both tracks ending together.
#[test]
fn a_stall_breaks_no_hls_rule_and_the_segments_keep_time() {
    let tmp = tempdir();
    let dir = tmp.path().join("hls");
    let port = free_port();
    let child = spawn_hls(
        &dir,
        port,
        &["--duration", "12", "--video", "test", "--audio", "tone"],
    );
    let pid = child.id();
    let mut playlist = wait_playlist(port);
    let freezer = std::thread::Builder::new()
        .name("freezer".into())
        .spawn(move || {
            std::thread::sleep(Duration::from_millis(3_500));
            freeze_pid(pid, Duration::from_millis(800));
        })
        .unwrap();
    // Each file is fetched as soon as it is listed: the server stops 3 s after the end, which a
    // loaded machine can outlast while fetching them all at the end.
    let got = tempdir();
    let mut fetched = std::collections::HashMap::new();
    let mut fetch_listed = |playlist: &str| {
        let map = tag(playlist, "#EXT-X-MAP")
            .unwrap()
            .split('"')
            .nth(1)
            .unwrap();
        for uri in
            std::iter::once(map.to_owned()).chain(segments(playlist).into_iter().map(|s| s.1))
        {
            if let std::collections::hash_map::Entry::Vacant(e) = fetched.entry(uri) {
                let path = fetch(port, e.key(), got.path());
                e.insert(path);
            }
        }
    };
    let mut checked = 0;
    while !playlist.contains("#EXT-X-ENDLIST") {
        assert_playlist_rules(&playlist);
        fetch_listed(&playlist);
        checked += 1;
        let Some((_, next)) = reload_for_hint(port, &playlist) else {
            break;
        };
        playlist = next;
    }
    fetch_listed(&playlist);
    assert_playlist_rules(&playlist);
    freezer.join().unwrap();
    // A playlist per part: about 3 a second.
    assert!(checked >= 30, "{checked} playlists checked");
    // Every keyframe on time: six segments of exactly 2 s.
    let listed = segments(&playlist);
    let durations: Vec<f64> = listed.iter().map(|s| s.0).collect();
    assert_eq!(durations, [2.0; 6], "{playlist}");

    let map = tag(&playlist, "#EXT-X-MAP")
        .unwrap()
        .split('"')
        .nth(1)
        .unwrap();
    let mut files = vec![fetched[map].clone()];
    files.extend(listed.iter().map(|(_, uri)| fetched[uri].clone()));
    let all = got.path().join("all.mp4");
    concat(
        &files.iter().map(PathBuf::as_path).collect::<Vec<_>>(),
        &all,
    );
    assert_clean_h264_aac(&all, 360.0, 360.0);
    assert_keeps_time_across_stalls(&all, 12, 1);
    // The init segment's edit list hides the audio pre-roll: whole from 0.
    assert_audio_starts_whole(&all);
    wait_success(child);
}

/// The Node.js driver for Chromium, installed by `packaging/setup.sh --test`.
fn browser_driver() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: run `bash packaging/setup.sh --test` (npm ci in tests/browser)"
    );
    dir.join("play.mjs")
}

/// The driver's report, whose page, console and player reported no error; and its samples.
fn report_without_errors(stdout: &[u8]) -> (Value, Vec<Value>) {
    let report: Value = serde_json::from_slice(stdout).unwrap();
    assert_eq!(report["pageErrors"], Value::Array(vec![]), "{report}");
    assert_eq!(report["consoleErrors"], Value::Array(vec![]), "{report}");
    let samples = report["samples"].as_array().unwrap().clone();
    for s in &samples {
        assert_eq!(s["errors"], Value::Array(vec![]), "{s}");
    }
    (report, samples)
}

#[test]
fn the_preview_page_plays_in_chromium_with_low_latency() {
    let driver = browser_driver();
    let tmp = tempdir();
    let port = free_port();
    let child = spawn_hls(&tmp.path().join("hls"), port, &["--duration", "40"]);
    wait_playlist(port);

    let shot = tmp.path().join("page.png");
    let out = run_ok(
        Command::new("node")
            .arg(&driver)
            .arg(format!("http://127.0.0.1:{port}/"))
            .arg("12")
            .arg(&shot),
    );
    terminate(child);

    let (report, samples) = report_without_errors(&out.stdout);
    let last = samples.last().unwrap();
    let playing: Vec<&Value> = samples
        .iter()
        .filter(|s| num(&s["currentTime"]) > 0.0)
        .collect();
    let advanced = num(&last["currentTime"]) - num(&playing[0]["currentTime"]);
    assert!(
        advanced >= 3.0,
        "currentTime advanced {advanced} s: {report}"
    );
    assert_eq!(
        (last["videoWidth"].as_u64(), last["videoHeight"].as_u64()),
        (Some(1280), Some(720))
    );
    assert!(num(&last["totalVideoFrames"]) > num(&playing[0]["totalVideoFrames"]));
    assert!(
        num(&last["audioBytes"]) > num(&playing[0]["audioBytes"]),
        "{report}"
    );
    assert_eq!(last["paused"], false);
    assert_eq!(last["state"], "live");
    // What the page shows a person.
    assert_eq!(last["shown"]["resolution"], "1280×720");
    assert!(last["shown"]["latency"].as_str().unwrap().ends_with(" s"));
    assert!(
        last["shown"]["bitrate"]
            .as_str()
            .unwrap()
            .ends_with(" kbit/s")
    );
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000);

    // The figure: capture to picture, from EXT-X-PROGRAM-DATE-TIME against the wall clock.
    let mut latencies: Vec<f64> = samples
        .iter()
        .filter(|s| !s["latencyMs"].is_null())
        .map(|s| num(&s["latencyMs"]))
        .collect();
    latencies.sort_by(f64::total_cmp);
    assert!(
        !latencies.is_empty(),
        "the page measured no latency: {report}"
    );
    println!(
        "LL-HLS capture-to-picture latency in Chromium: median {} ms, max {} ms over {} samples",
        latencies[latencies.len() / 2],
        latencies.last().unwrap(),
        latencies.len()
    );
}

/// Chromium goes on playing after the process froze for 0.8 s: no error, and the picture and
/// the sound advance again.
#[test]
fn the_preview_page_plays_on_across_a_stall() {
    let driver = browser_driver();
    let tmp = tempdir();
    let port = free_port();
    let child = spawn_hls(&tmp.path().join("hls"), port, &["--duration", "25"]);
    wait_playlist(port);
    let player = Command::new("node")
        .arg(&driver)
        .arg(format!("http://127.0.0.1:{port}/"))
        .arg("12")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(5));
    freeze(&child, Duration::from_millis(800));
    let out = player.wait_with_output().unwrap();
    assert!(out.status.success(), "the driver failed");
    terminate(child);

    let (report, samples) = report_without_errors(&out.stdout);
    // The last 4 s, well after the stall: playing, time and frames advancing.
    let (before, last) = (&samples[samples.len() - 5], samples.last().unwrap());
    let advanced = num(&last["currentTime"]) - num(&before["currentTime"]);
    assert!(
        advanced >= 3.0,
        "currentTime advanced {advanced} s: {report}"
    );
    assert!(num(&last["totalVideoFrames"]) > num(&before["totalVideoFrames"]));
    assert!(
        num(&last["audioBytes"]) > num(&before["audioBytes"]),
        "{report}"
    );
    assert_eq!(last["paused"], false);
    assert_eq!(last["state"], "live");
}

#[test]
fn bad_hls_arguments_are_one_line_errors() {
    let tmp = tempdir();
    let foreign = tmp.path().join("mine");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), "mine").unwrap();
    let fail = |args: &[&str]| {
        let out = onair()
            .args(["broadcast", "--duration", "1"])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        err
    };
    let err = fail(&["--hls", foreign.to_str().unwrap()]);
    assert!(
        err.contains("holds files that are not onair's HLS output (notes.txt)"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(foreign.join("notes.txt")).unwrap(),
        "mine"
    );

    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let hls = tmp.path().join("hls");
    let err = fail(&["--hls", hls.to_str().unwrap(), "--serve", &port.to_string()]);
    assert!(
        err.contains(&format!("cannot serve the preview on 127.0.0.1:{port}"))
            && err.contains("choose another address with --serve"),
        "{err}"
    );
    // Issue 14: the port is checked before anything is created (it left `.onair-hls` behind).
    assert!(!hls.exists(), "a busy port left {hls:?} behind");
    let err = fail(&["--hls", hls.to_str().unwrap(), "--hls-window", "3"]);
    assert!(err.contains("at least 6 segments"), "{err}");

    // --serve needs --hls: clap says so (exit 2, usage).
    let out = onair()
        .args(["broadcast", "--serve", "8787"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--hls"));
}
