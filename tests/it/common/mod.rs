//! Helpers shared by the integration tests: the real binary, and ffprobe/ffmpeg as judges.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The `onair` binary built for this test run, quiet unless a test asks for logs.
#[allow(dead_code)] // used by tests/keyring.rs and tests/desktop_handlers.rs
pub mod bus;
pub mod desktop;
pub mod gui;
pub mod peers;

pub fn onair() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_onair"));
    c.env("RUST_LOG", "warn");
    c
}

/// `onair broadcast --preset 720p30 ARGS`, running, stderr captured.
pub fn spawn_broadcast<I, S>(args: I) -> std::process::Child
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    onair()
        .args(["broadcast", "--preset", "720p30"])
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start onair")
}

/// Waits for the process, which must exit 0.
pub fn wait_success(child: std::process::Child) -> Output {
    let out = child.wait_with_output().expect("wait for onair");
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// SIGTERM, then [`wait_success`].
pub fn terminate(child: std::process::Child) -> Output {
    run_ok(Command::new("kill").args(["-TERM", &child.id().to_string()]));
    wait_success(child)
}

/// Freezes the process for `how_long` (SIGSTOP, then SIGCONT), as a loaded machine's scheduler
/// can: every thread stops, the clock runs on.
pub fn freeze(child: &std::process::Child, how_long: Duration) {
    freeze_pid(child.id(), how_long);
}

/// [`freeze`] by process id.
pub fn freeze_pid(pid: u32, how_long: Duration) {
    let pid = pid.to_string();
    run_ok(Command::new("kill").args(["-STOP", &pid]));
    let frozen = Instant::now();
    std::thread::sleep(how_long);
    run_ok(Command::new("kill").args(["-CONT", &pid]));
    println!("process {pid} frozen for {:?}", frozen.elapsed());
}

pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run command");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `ffprobe -show_streams -show_format` (with frame counting) as JSON.
pub fn probe(path: &Path) -> Value {
    let out = run_ok(
        Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-count_frames",
                "-show_streams",
                "-show_format",
                "-of",
                "json",
            ])
            .arg(path),
    );
    serde_json::from_slice(&out.stdout).expect("ffprobe JSON")
}

pub fn stream<'a>(probe: &'a Value, codec_type: &str) -> &'a Value {
    probe["streams"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["codec_type"] == codec_type))
        .unwrap_or_else(|| panic!("no {codec_type} stream in {probe}"))
}

pub fn num(v: &Value) -> f64 {
    match v {
        Value::String(s) => s.parse().unwrap_or_else(|_| panic!("not a number: {v}")),
        Value::Number(n) => n.as_f64().expect("f64"),
        _ => panic!("not a number: {v}"),
    }
}

/// What `ffmpeg -v error` prints while decoding the whole file (empty means no error).
pub fn decode_errors(path: &Path, extra_input_args: &[&str]) -> String {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error"])
        .args(extra_input_args)
        .arg("-i")
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .expect("run ffmpeg");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Presentation times (seconds) and key flags of the video packets, in file order.
pub fn video_packets(path: &Path) -> Vec<(f64, bool)> {
    let out = run_ok(
        Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-select_streams",
                "v:0",
                "-show_entries",
                "packet=pts_time,flags",
                "-of",
                "csv=p=0",
            ])
            .arg(path),
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut f = l.split(',');
            let t: f64 = f.next().and_then(|t| t.parse().ok()).expect("pts_time");
            (t, f.next().is_some_and(|fl| fl.contains('K')))
        })
        .collect()
}

/// The top-level MP4 box types, in order.
pub fn top_level_boxes(path: &Path) -> Vec<String> {
    let data = std::fs::read(path).expect("read mp4");
    let mut at = 0usize;
    let mut out = Vec::new();
    while at + 8 <= data.len() {
        let mut size = u32::from_be_bytes(data[at..at + 4].try_into().unwrap()) as u64;
        let kind = String::from_utf8_lossy(&data[at + 4..at + 8]).into_owned();
        if size == 1 {
            size = u64::from_be_bytes(data[at + 8..at + 16].try_into().unwrap());
        }
        out.push(kind);
        if size < 8 {
            break;
        }
        at += size as usize;
    }
    out
}

/// A temporary directory for one test.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("onair-test-")
        .tempdir()
        .expect("tempdir")
}

/// Waits until `cond` holds, polling; panics with `what` after `limit`.
pub fn wait_for(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The last complete JSON line of a `--stats` file.
pub fn last_stats(path: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .rfind(|l| l.ends_with('}'))
        .and_then(|l| serde_json::from_str(l).ok())
}

pub fn path_in(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

/// Decoded mono 16-bit samples of the first audio stream, and its start time in seconds.
pub fn audio_samples(path: &Path) -> (Vec<i16>, f64) {
    let start = num(&stream(&probe(path), "audio")["start_time"]);
    let out = run_ok(
        Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-i"])
            .arg(path)
            .args([
                "-map",
                "0:a:0",
                "-ac",
                "1",
                "-f",
                "s16le",
                "-acodec",
                "pcm_s16le",
                "-",
            ]),
    );
    let samples = out
        .stdout
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    (samples, start)
}

/// Mean luma of the top-left `side` x `side` square of every decoded video frame.
pub fn corner_luma(path: &Path, side: u32) -> Vec<f64> {
    let out = run_ok(
        Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-i"])
            .arg(path)
            .args([
                "-map",
                "0:v:0",
                "-vf",
                &format!("crop={side}:{side}:0:0"),
                "-fps_mode",
                "passthrough",
            ])
            .args(["-f", "rawvideo", "-pix_fmt", "gray", "-"]),
    );
    let n = (side * side) as usize;
    out.stdout
        .chunks_exact(n)
        .map(|f| f.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64)
        .collect()
}

/// Where the test sources' sync markers are in a file, in seconds: the white square at the
/// top-left (video frames whose corner is white) and the beep onsets (audio: the first sample
/// above a third of the tone's amplitude after half a second below it); and where each track
/// ends (its last frame's end, its last decoded sample).
#[derive(Debug, Clone)]
pub struct Markers {
    pub squares: Vec<f64>,
    pub beeps: Vec<f64>,
    pub video_end: f64,
    pub audio_end: f64,
}

pub fn markers(path: &Path, height: u32) -> Markers {
    let side = height / 8 - 2; // inside the H/8 square
    let luma = corner_luma(path, side);
    let packets = video_packets(path);
    assert_eq!(
        luma.len(),
        packets.len(),
        "decoded frames vs packets in {path:?}"
    );
    let squares = luma
        .iter()
        .zip(&packets)
        .filter(|(l, _)| **l > 128.0)
        .map(|(_, (t, _))| *t)
        .collect();
    let (samples, start) = audio_samples(path);
    let mut beeps = Vec::new();
    let mut quiet = 24_000;
    for (i, s) in samples.iter().enumerate() {
        if s.unsigned_abs() > 2_700 {
            if quiet >= 24_000 {
                beeps.push(start + i as f64 / 48_000.0);
            }
            quiet = 0;
        } else {
            quiet += 1;
        }
    }
    let last_pts = packets.iter().map(|p| p.0).fold(f64::MIN, f64::max);
    Markers {
        squares,
        beeps,
        video_end: last_pts + 1.0 / 30.0,
        audio_end: start + samples.len() as f64 / 48_000.0,
    }
}

/// The sync check a user runs: each white square (video) and the beep onset nearest it (audio)
/// must be within one frame interval (at 30 fps) of each other. Returns the offsets in ms.
pub fn assert_in_sync(path: &Path, height: u32, expected: usize) -> Vec<f64> {
    let m = markers(path, height);
    assert_eq!(
        m.squares.len(),
        expected,
        "white squares at {:?} in {path:?}",
        m.squares
    );
    let frame = 1.0 / 30.0;
    let mut offsets = Vec::new();
    for v in &m.squares {
        let a = m
            .beeps
            .iter()
            .copied()
            .min_by(|a, b| (a - v).abs().total_cmp(&(b - v).abs()))
            .unwrap_or_else(|| panic!("{path:?}: no tone near {v} s"));
        assert!(
            (v - a).abs() <= frame,
            "{path:?}: video marker {v:.4} s vs audio onset {a:.4} s"
        );
        offsets.push((a - v) * 1000.0);
    }
    let shown: Vec<String> = offsets.iter().map(|o| format!("{o:+.1}")).collect();
    println!(
        "{}: audio - video per second (ms): {}",
        path.display(),
        shown.join(" ")
    );
    offsets
}

/// After a stall (the process frozen) the file still keeps time: a beep at every whole second
/// of its `seconds` (audio is never shortened), every white square on a whole second (at most
/// `missing` of them absent: shown while frames were being dropped), each within one frame of
/// its beep, and the two tracks end within 0.1 s of each other.
pub fn assert_keeps_time_across_stalls(path: &Path, seconds: usize, missing: usize) -> Markers {
    let m = markers(path, 720);
    let frame = 1.0 / 30.0;
    let beeps: Vec<String> = m.beeps.iter().map(|b| format!("{b:.3}")).collect();
    assert_eq!(m.beeps.len(), seconds, "{path:?}: beeps at {beeps:?}");
    for (k, b) in m.beeps.iter().enumerate() {
        assert!(
            (b - k as f64).abs() <= frame,
            "{path:?}: the beep of second {k} plays at {b:.4} s (beeps at {beeps:?})"
        );
    }
    assert!(
        m.squares.len() + missing >= seconds && m.squares.len() <= seconds,
        "{path:?}: white squares at {:?}",
        m.squares
    );
    for v in &m.squares {
        let beep = m.beeps.get(v.round() as usize).copied().unwrap_or(f64::NAN);
        assert!(
            (v - v.round()).abs() <= frame && (v - beep).abs() <= frame,
            "{path:?}: white square at {v:.4} s, beep at {beep:.4} s"
        );
    }
    assert!(
        (m.video_end - m.audio_end).abs() <= 0.1,
        "{path:?}: video ends at {:.3} s, audio at {:.3} s",
        m.video_end,
        m.audio_end
    );
    println!(
        "{}: beeps {beeps:?}; squares {:?}; video ends {:.3} s, audio {:.3} s",
        path.display(),
        m.squares,
        m.video_end,
        m.audio_end
    );
    m
}

/// The first 20 ms: the file's audio is whole from time 0. The tone beeps from sample 0 of
/// each second, so the first millisecond from 0 must already reach the tone's level: without
/// the encoder's priming packet as pre-roll (hidden by the MP4 edit list), the first AAC frame
/// decodes faded in and the beep of second 0 starts about 10 ms late. A final MP4 starts at 0;
/// fragments (HLS) keep the pre-roll packet, which ffmpeg decodes and stamps before 0.
pub fn assert_audio_starts_whole(path: &Path) {
    let (samples, start) = audio_samples(path);
    assert!(
        (-0.043..0.001).contains(&start),
        "{path:?}: audio starts at {start} s"
    );
    let zero = (-start * 48_000.0).round().max(0.0) as usize;
    let first_ms = &samples[zero.min(samples.len())..(zero + 48).min(samples.len())];
    let peak = first_ms.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0);
    assert!(
        peak > 7_000,
        "{path:?}: the first millisecond of audio peaks at {peak} (the tone: 8231)"
    );
}

/// The file holds H.264 1280x720 with a frame count in the range, AAC 48 kHz stereo, decodes
/// without a single error, and starts with a keyframe. Returns ffprobe's report.
pub fn assert_clean_h264_aac(path: &Path, min_frames: f64, max_frames: f64) -> Value {
    let p = probe(path);
    let v = stream(&p, "video");
    assert_eq!(v["codec_name"], "h264", "{path:?}");
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(1280), Some(720))
    );
    let frames = num(&v["nb_read_frames"]);
    assert!(
        (min_frames..=max_frames).contains(&frames),
        "{frames} frames in {path:?}"
    );
    let a = stream(&p, "audio");
    assert_eq!(
        (
            a["codec_name"].as_str(),
            a["sample_rate"].as_str(),
            a["channels"].as_u64()
        ),
        (Some("aac"), Some("48000"), Some(2))
    );
    let errors = decode_errors(path, &[]);
    assert!(errors.is_empty(), "{path:?}: {errors}");
    let packets = video_packets(path);
    assert!(packets[0].1, "{path:?} starts with a keyframe");
    p
}

/// One HTTP/1.1 request to 127.0.0.1:`port`, the path sent exactly as given (no
/// normalisation, unlike curl): (status, lowercased head, body).
pub fn http(port: u16, method: &str, path: &str) -> (u16, String, Vec<u8>) {
    try_http(port, method, path).expect("connect")
}

/// [`http`], or `None` when nothing listens on the port (yet).
pub fn try_http(port: u16, method: &str, path: &str) -> Option<(u16, String, Vec<u8>)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read response");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let body = raw.get(split + 4..).unwrap_or_default().to_vec();
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Some((code, head, body))
}

/// GET that must answer 200; the body as text.
pub fn http_text(port: u16, path: &str) -> String {
    let (code, head, body) = http(port, "GET", path);
    assert_eq!(code, 200, "GET {path}: {head}");
    String::from_utf8(body).expect("UTF-8 body")
}
