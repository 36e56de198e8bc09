//! Real sources against real peers: the screen of a private Xvfb with windows of known
//! colour, a microphone fed by a private PulseAudio null sink, the A/V sync of the two, and the
//! camera path below the device (no camera can be attached here): format conversion against
//! ffmpeg's own, and the error when there is none.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::desktop::*;
use crate::common::*;

/// The broadcast command for a source test, on `display` and `pulse` (either may be absent:
/// then the variable is removed, as on a machine without them).
fn broadcast(display: Option<&str>, pulse: Option<&str>, args: &[&str]) -> Command {
    let mut c = onair();
    c.arg("broadcast").args(args);
    c.env_remove("WAYLAND_DISPLAY");
    match display {
        Some(d) => c.env("DISPLAY", d),
        None => c.env_remove("DISPLAY"),
    };
    match pulse {
        Some(p) => c.env("PULSE_SERVER", p),
        None => c.env("PULSE_SERVER", "unix:/nonexistent/onair-test/native"),
    };
    c
}

fn is_red(c: [f64; 3]) -> bool {
    c[0] > 200.0 && c[1] < 40.0 && c[2] < 40.0
}

/// Records 3 s of `--video VIDEO` (with the tone) on display `x`, with stats, and checks the
/// file is whole: 90 frames of clean H.264 and AAC. Returns the folder, the recording and the
/// stats file.
fn record_3s(x: &Xvfb, video: &str) -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempdir();
    let rec = path_in(&dir, "take.mp4");
    let stats = path_in(&dir, "stats.jsonl");
    run_ok(&mut broadcast(
        Some(&x.display),
        None,
        &[
            "--video",
            video,
            "--audio",
            "tone",
            "--duration",
            "3",
            "--record",
            rec.to_str().unwrap(),
            "--stats",
            stats.to_str().unwrap(),
        ],
    ));
    assert_clean_h264_aac(&rec, 88.0, 92.0);
    (dir, rec, stats)
}

#[test]
fn screen_capture_puts_the_red_window_where_it_is() {
    let x = Xvfb::start(1280, 720);
    let _red = x.window(200, 150, 60, 15, "red");
    let (_dir, rec, stats) = record_3s(&x, "screen");
    let frame = rgb_frame_at(&rec, 2.0);
    // The window's inside is red; its surroundings are the black root window.
    let inside = mean_rgb(&frame, 230, 180, 200, 80);
    assert!(is_red(inside), "window area {inside:?}");
    let left = mean_rgb(&frame, 150, 180, 40, 80);
    let above = mean_rgb(&frame, 230, 100, 200, 40);
    let far = mean_rgb(&frame, 900, 500, 200, 100);
    for c in [left, above, far] {
        assert!(c.iter().all(|&v| v < 30.0), "outside the window {c:?}");
    }
    // The stats name the source, live, with frames captured and the capture cost.
    let s = last_stats(&stats).unwrap();
    let src = &s["sources"][0];
    assert_eq!(src["kind"], "screen");
    assert_eq!(src["state"], "live");
    assert!(src["captured"].as_u64().unwrap() >= 60, "{src}");
    println!(
        "screen capture + convert, 1280x720 under Xvfb: {} us mean",
        src["capture_micros_mean"]
    );
}

/// One grabbed picture, copied out of the grabber: (width, height, stride, bytes).
#[cfg(target_os = "linux")]
fn grab(g: &mut onair::capture::x11grab::Grabber) -> (u32, u32, usize, Vec<u8>) {
    let p = g.grab().unwrap();
    assert_eq!(
        p.order,
        onair::capture::convert::Rgba32::Bgra,
        "Xvfb: B,G,R,X"
    );
    (p.width, p.height, p.stride, p.data.to_vec())
}

/// (R, G, B) at `x,y` of a B,G,R,X picture.
#[cfg(target_os = "linux")]
fn rgb_at(p: &(u32, u32, usize, Vec<u8>), x: usize, y: usize) -> [u8; 3] {
    let i = y * p.2 + x * 4;
    [p.3[i + 2], p.3[i + 1], p.3[i]]
}

/// Our X11 grabber on a private Xvfb: MIT-SHM and the GetImage fallback give the same bytes for
/// the same screen (a red-to-blue gradient and two solid windows), B,G,R,X in memory; and both
/// follow the screen when RandR resizes it (smaller, then larger again: a new segment).
#[cfg(target_os = "linux")]
#[test]
fn x11_grab_by_mit_shm_and_by_getimage_gives_the_same_pixels_through_a_resize() {
    use onair::capture::x11grab::{Grabber, Method, Target};
    let x = Xvfb::start(1280, 720);
    let _red = x.window(100, 100, 20, 5, "red");
    let _green = x.window(400, 100, 20, 5, "green");
    let _gradient = x.picture(700, 100, "300x200", "gradient:red-blue");
    let open = |method| Grabber::open_on(Some(&x.display), Target::Monitor(0), method).unwrap();
    let (mut shm, mut plain) = (open(Method::Auto), open(Method::GetImage));
    assert_eq!(shm.method(), "MIT-SHM");
    assert_eq!(plain.method(), "GetImage");
    for (w, h) in [(1280, 720), (1024, 576), (1280, 720)] {
        if (w, h) != shm.size() {
            x.resize(w, h);
        }
        // The same screen for both: wait until it is still (the windows may still be
        // drawing), i.e. two MIT-SHM grabs around the GetImage one agree.
        let mut tries = 0;
        let (a, b) = loop {
            let a = grab(&mut shm);
            let b = grab(&mut plain);
            if grab(&mut shm).3 == a.3 || tries == 50 {
                break (a, b);
            }
            tries += 1;
            std::thread::sleep(Duration::from_millis(100));
        };
        assert_eq!(
            (a.0, a.1, a.2),
            (w, h, w as usize * 4),
            "MIT-SHM picture size"
        );
        assert_eq!(
            (b.0, b.1, b.2),
            (w, h, w as usize * 4),
            "GetImage picture size"
        );
        let differ = a.3.iter().zip(&b.3).filter(|(p, q)| p != q).count();
        assert_eq!(
            differ, 0,
            "{w}x{h}: bytes differ between MIT-SHM and GetImage"
        );
        assert_eq!(rgb_at(&a, 120, 120), [255, 0, 0], "red window");
        assert_eq!(rgb_at(&a, 420, 120), [0, 255, 0], "green window");
        assert_eq!(rgb_at(&a, 50, 50), [0, 0, 0], "root window");
        let top = rgb_at(&a, 850, 103);
        let bottom = rgb_at(&a, 850, 296);
        assert!(top[0] > 240 && top[2] < 15, "gradient top {top:?}");
        assert!(
            bottom[2] > 240 && bottom[0] < 15,
            "gradient bottom {bottom:?}"
        );
        let middle = rgb_at(&a, 850, 200);
        assert!(
            middle[0] > 90 && middle[0] < 165,
            "gradient middle {middle:?}"
        );
    }
}

/// A display reached over TCP (as a remote one is) cannot share memory or pass a file
/// descriptor: the grabber takes plain GetImage on its one connection, and the pixels are
/// right.
#[cfg(target_os = "linux")]
#[test]
fn x11_grab_of_a_display_over_tcp_falls_back_to_getimage() {
    use onair::capture::x11grab::{Grabber, Method, Target};
    let x = Xvfb::start_tcp(640, 480);
    assert!(x.display.starts_with("127.0.0.1:"), "{}", x.display);
    let _red = x.window(100, 100, 20, 5, "red");
    let mut g = Grabber::open_on(Some(&x.display), Target::Monitor(0), Method::Auto).unwrap();
    assert_eq!(g.method(), "GetImage");
    for _ in 0..3 {
        let p = grab(&mut g);
        assert_eq!((p.0, p.1), (640, 480));
        assert_eq!(rgb_at(&p, 120, 120), [255, 0, 0], "red window");
        assert_eq!(rgb_at(&p, 50, 50), [0, 0, 0], "root window");
    }
}

/// Under a window manager (openbox), `onair devices` lists the windows, and `--video
/// window:ID` records that window alone: a red xterm, scaled up to the program picture with
/// its aspect ratio (black bars left and right), whatever else is on the screen.
#[cfg(target_os = "linux")]
#[test]
fn window_capture_records_the_window_alone() {
    let x = Xvfb::start(1280, 720);
    let _wm = x.window_manager();
    let _blue = x.window(600, 300, 60, 15, "blue");
    let red = x.window(100, 100, 30, 8, "red");
    let id = x.window_id(&red.title);
    let out = run_ok(
        onair()
            .args(["devices", "--json"])
            .env("DISPLAY", &x.display)
            .env_remove("WAYLAND_DISPLAY")
            .env("PULSE_SERVER", "unix:/nonexistent/onair-test/native"),
    );
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let windows = d["windows"].as_array().unwrap();
    assert!(
        windows
            .iter()
            .any(|w| w["id"].as_str() == Some(id.to_string().as_str())),
        "window {id} not listed: {d}"
    );
    let (_dir, rec, stats) = record_3s(&x, &format!("window:{id}"));
    let frame = rgb_frame_at(&rec, 2.0);
    // The xterm is wider than 16:9 or narrower: either way the middle of the picture is its
    // inside, red, and no blue from the other window anywhere.
    let middle = mean_rgb(&frame, 440, 260, 400, 200);
    assert!(is_red(middle), "middle of the picture {middle:?}");
    let whole = mean_rgb(&frame, 0, 0, 1280, 720);
    assert!(whole[2] < 40.0, "blue in the picture {whole:?}");
    let s = last_stats(&stats).unwrap();
    let src = &s["sources"][0];
    assert_eq!(src["state"], "live", "{src}");
    assert!(src["captured"].as_u64().unwrap() >= 60, "{src}");
}

/// Without a window manager nothing lists the windows, but an X window id (from `xwininfo`)
/// still names one: the grabber takes the window's own pixels, and `--video window:ID`
/// records them.
#[cfg(target_os = "linux")]
#[test]
fn a_window_is_captured_by_its_x_id_without_a_window_manager() {
    use onair::capture::x11grab::{Grabber, Method, Target};
    let x = Xvfb::start(1280, 720);
    let _blue = x.window(600, 300, 60, 15, "blue");
    let red = x.window(100, 100, 30, 8, "red");
    let id = x.window_id(&red.title);
    let mut g = Grabber::open_on(Some(&x.display), Target::Window(id), Method::Auto).unwrap();
    assert_eq!(g.method(), "MIT-SHM");
    let p = grab(&mut g);
    assert!(
        p.0 > 100 && p.0 < 400 && p.1 > 50 && p.1 < 300,
        "{}x{}",
        p.0,
        p.1
    );
    for (x, y) in [(0, 0), (p.0 - 1, p.1 - 1), (p.0 / 2, p.1 / 2)] {
        assert_eq!(
            rgb_at(&p, x as usize, y as usize),
            [255, 0, 0],
            "at {x},{y}"
        );
    }
    let dir = tempdir();
    let rec = path_in(&dir, "window.mp4");
    let video = format!("window:{id}");
    run_ok(&mut broadcast(
        Some(&x.display),
        None,
        &[
            "--video",
            &video,
            "--audio",
            "none",
            "--duration",
            "2",
            "--record",
            rec.to_str().unwrap(),
        ],
    ));
    let middle = mean_rgb(&rgb_frame_at(&rec, 1.5), 440, 260, 400, 200);
    assert!(is_red(middle), "middle of the picture {middle:?}");
}

#[test]
fn a_lost_screen_shows_the_slate_then_comes_back_by_itself() {
    let mut x = Xvfb::start_on(Some(Xvfb::spare_number()), 1280, 720);
    let number = x.number();
    let red = x.window(100, 100, 80, 24, "red");
    let dir = tempdir();
    let rec = path_in(&dir, "lost.mp4");
    let stats = path_in(&dir, "stats.jsonl");
    let child = broadcast(
        Some(&x.display),
        None,
        &[
            "--video",
            "screen",
            "--audio",
            "tone",
            "--duration",
            "9",
            "--record",
            rec.to_str().unwrap(),
            "--stats",
            stats.to_str().unwrap(),
        ],
    )
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    std::thread::sleep(Duration::from_millis(2_000));
    drop(red);
    x.stop(); // the display goes away: the program shows the slate, recording goes on
    wait_for(
        Duration::from_secs(5),
        "the source to be reported lost",
        || last_stats(&stats).is_some_and(|s| s["sources"][0]["state"] == "lost"),
    );
    std::thread::sleep(Duration::from_millis(1_000));
    let x2 = Xvfb::start_on(Some(number), 1280, 720);
    let _blue = x2.window(100, 100, 80, 24, "blue");
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_clean_h264_aac(&rec, 268.0, 272.0);
    let red_then = mean_rgb(&rgb_frame_at(&rec, 1.0), 200, 200, 200, 100);
    assert!(is_red(red_then), "before the loss {red_then:?}");
    // Somewhere in the gap the slate: dark grey (Y 40 is RGB ~28) with white letters.
    let mut saw_slate = false;
    for t in [3.0, 3.5, 4.0, 4.5] {
        let f = rgb_frame_at(&rec, t);
        let whole = mean_rgb(&f, 0, 0, 1280, 720);
        let grey = (whole[0] - whole[1]).abs() < 5.0 && (whole[1] - whole[2]).abs() < 5.0;
        if grey && whole[0] > 20.0 && whole[0] < 60.0 {
            saw_slate = true;
        }
    }
    assert!(saw_slate, "no slate while the display was gone");
    let blue_now = mean_rgb(&rgb_frame_at(&rec, 8.5), 200, 200, 200, 100);
    assert!(
        blue_now[2] > 200.0 && blue_now[0] < 40.0,
        "after the display came back {blue_now:?}"
    );
    let s = last_stats(&stats).unwrap();
    let src = &s["sources"][0];
    assert_eq!(src["losses"], 1, "{src}");
    assert_eq!(src["reopened"], 1, "{src}");
    assert_eq!(src["state"], "live", "{src}");
}

#[test]
fn no_display_and_no_such_screen_are_one_line_errors_before_anything_starts() {
    let dir = tempdir();
    let rec = path_in(&dir, "x.mp4");
    let out = broadcast(
        None,
        None,
        &["--video", "screen", "--record", rec.to_str().unwrap()],
    )
    .output()
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("no display"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!rec.exists());

    let x = Xvfb::start(640, 480);
    let out = broadcast(
        Some(&x.display),
        None,
        &["--video", "screen:3", "--record", rec.to_str().unwrap()],
    )
    .output()
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("no screen matches \"3\""), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!rec.exists());
}

#[test]
fn microphone_records_the_tone_played_into_the_sound_server() {
    let pulse = Pulse::start();
    let wav = pulse.dir().join("tone.wav");
    // 440 Hz at -12 dBFS (peak 8231), longer than the recording.
    write_sine_wav(&wav, 440.0, 8231.0, 20);
    let mut player = pulse.play(&wav);
    std::thread::sleep(Duration::from_millis(500));
    let dir = tempdir();
    let rec = path_in(&dir, "mic.mp4");
    let stats = path_in(&dir, "stats.jsonl");
    run_ok(&mut broadcast(
        None,
        Some(&pulse.server()),
        &[
            "--video",
            "test",
            "--audio",
            "mic",
            "--duration",
            "4",
            "--record",
            rec.to_str().unwrap(),
            "--stats",
            stats.to_str().unwrap(),
        ],
    ));
    stop_child(&mut player);
    assert_clean_h264_aac(&rec, 118.0, 122.0);
    let (samples, _) = audio_samples(&rec);
    // The last two seconds (well after the start-up), in 100 ms windows (10 Hz bins: the
    // drift correction may move the pitch by up to 0.1 %).
    let tail = &samples[samples.len() - 96_000..samples.len() - 2_400];
    let windows: Vec<&[i16]> = tail.chunks_exact(4_800).collect();
    let at = |hz: f64| {
        windows
            .iter()
            .map(|w| tone_amplitude(w, hz, 48_000.0))
            .sum::<f64>()
            / windows.len() as f64
    };
    let peak = at(440.0);
    let level_db = 20.0 * (peak / 32768.0).log10();
    println!("microphone: 440 Hz at {level_db:.2} dBFS (played at -12.00)");
    assert!(
        (level_db + 12.0).abs() < 1.0,
        "440 Hz at {level_db:.2} dBFS"
    );
    for other in [200.0, 300.0, 600.0, 880.0, 1000.0] {
        assert!(
            at(other) < peak / 30.0,
            "{other} Hz: {} vs {peak}",
            at(other)
        );
    }
    let s = last_stats(&stats).unwrap();
    let rms = s["audio"]["level_rms_dbfs"].as_f64().unwrap();
    let pk = s["audio"]["level_peak_dbfs"].as_f64().unwrap();
    assert!(
        (rms + 15.0).abs() < 1.0 && (pk + 12.0).abs() < 1.0,
        "{}",
        s["audio"]
    );
    let src = &s["sources"][0];
    assert_eq!(src["kind"], "microphone");
    assert_eq!(src["state"], "live");
    assert_eq!(src["device_rate_hz"], 48_000, "{src}");
    println!("microphone source stats: {src}");
}

#[test]
fn no_sound_server_is_a_one_line_error_before_anything_starts() {
    let dir = tempdir();
    let rec = path_in(&dir, "x.mp4");
    let out = broadcast(
        None,
        None,
        &["--audio", "mic", "--record", rec.to_str().unwrap()],
    )
    .output()
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("no sound server") || err.contains("no microphone found"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!rec.exists());

    let pulse = Pulse::start();
    let out = broadcast(
        None,
        Some(&pulse.server()),
        &[
            "--audio",
            "mic:no-such-microphone",
            "--record",
            rec.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("no microphone matches \"no-such-microphone\""),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn no_camera_is_a_one_line_error_before_anything_starts() {
    let dir = tempdir();
    let rec = path_in(&dir, "x.mp4");
    let x = Xvfb::start(640, 480);
    for video in ["camera", "camera:1", "screen+camera"] {
        let out = broadcast(
            Some(&x.display),
            None,
            &[
                "--video",
                video,
                "--audio",
                "tone",
                "--record",
                rec.to_str().unwrap(),
            ],
        )
        .output()
        .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{video}");
        assert!(err.contains("no camera found"), "{video}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(!rec.exists());
    }
}

#[test]
fn devices_lists_screens_and_microphones() {
    let x = Xvfb::start(1024, 768);
    let pulse = Pulse::start_with_named_microphone();
    let out = run_ok(
        onair()
            .args(["devices", "--json"])
            .env("DISPLAY", &x.display)
            .env_remove("WAYLAND_DISPLAY")
            .env("PULSE_SERVER", pulse.server()),
    );
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let screens = d["screens"].as_array().unwrap();
    assert_eq!(screens.len(), 1, "{d}");
    assert_eq!(screens[0]["id"], "0");
    assert!(
        screens[0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("1024x768"),
        "{d}"
    );
    assert!(d["cameras"].as_array().unwrap().is_empty(), "{d}");
    // The sound server's inputs by their names, not ALSA's plugin list nor its monitors.
    let mics = d["microphones"].as_array().unwrap();
    assert_eq!(mics.len(), 1, "{d}");
    assert_eq!(mics[0]["id"], "testmic", "{d}");
    assert_eq!(mics[0]["name"], "Test-Microphone", "{d}");
    assert_eq!(d["desktop_audio"][0]["id"], "nullsink", "{d}");
    // The table names the same things.
    let out = run_ok(
        onair()
            .arg("devices")
            .env("DISPLAY", &x.display)
            .env("PULSE_SERVER", pulse.server()),
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("screen:0") && table.contains("cameras:\n  (none)"),
        "{table}"
    );
}

/// How far a beep's time may be outside the span in which its flash was captured (ms; see
/// `screen_and_microphone_stay_in_sync`), for the median flash (any one flash: 4 times as
/// far, for a grab stalled a few frames on this loaded machine). What can put it there without anything being wrong:
/// the microphone's capture-time estimate (PulseAudio's ALSA plugin reports its latency
/// loosely; a few ms), the drift correction's slow pull (at most 1 ms per second after a
/// change of that estimate), a screen grab woken late on this loaded machine, and the onset
/// detection (a sample). 30 ms is under a frame: an error a viewer notices (EBU R37 allows
/// 40 ms early, 60 ms late) fails, and before the capture-time fix every beep was 11-54 ms
/// late.
const SYNC_TOLERANCE_MS: f64 = 30.0;

/// A/V sync with real devices: a corner of the screen the test turns white for 100 ms at each
/// whole second of its own clock, and a 1 kHz beep written into the sound server's microphone
/// (a fifo source, which hands samples on as they are written) at the same moments. The
/// recording must hold both, decode cleanly, have audio and video of the same length (within a
/// frame), and put each beep where its flash was captured.
///
/// Where that is: a flash first shows in program frame `k` (pts `v_k`), so the screen grab for
/// frame `k` saw it and the one for frame `k-1` did not; each grab ends a few milliseconds
/// before its frame's time (`capture::screen`). The flash happened in `(v_{k-1} - lead, v_k]`,
/// `lead` at most 10 ms, and a beep written with it belongs there too. The error is the beep's
/// distance outside that span; its raw offset `beep - v_k` is printed as well.
///
/// Measured (beep minus first white frame, ms, 7 flashes per run), before the microphone's
/// samples were put at their capture time and the screen grabs timed to the program frames:
/// +11..+17 and +21..+54 (every beep 11-54 ms after the frame showing its flash); after:
/// -27..-29, -7..-42, -35 (every beep inside its flash's span, error 0). The earlier "+340 ms
/// late" (a null sink fed by `pacat`) was mostly the test rig: `pacat`'s stdin pipe held
/// ~310 ms of audio piled up while its stream started.
#[test]
fn screen_and_microphone_stay_in_sync() {
    let x = Xvfb::start(1280, 720);
    let pulse = Pulse::start_with_fifo_microphone();
    let dir = tempdir();
    let flash = Flasher::new(&x, 64);
    let mut mic = std::fs::OpenOptions::new()
        .write(true)
        .open(pulse.mic_fifo())
        .unwrap();
    let rec = path_in(&dir, "sync.mp4");
    let stats = path_in(&dir, "stats.jsonl");
    let broadcast = || {
        broadcast(
            Some(&x.display),
            Some(&pulse.server()),
            &[
                "--video",
                "screen",
                "--audio",
                "mic",
                "--duration",
                "7",
                "--record",
                rec.to_str().unwrap(),
                "--stats",
                stats.to_str().unwrap(),
            ],
        )
        .spawn()
        .unwrap()
    };
    // 10 ms blocks: silence, or 1 kHz at -6 dBFS for the 10 blocks after each whole second.
    let beep: Vec<u8> = (0..480)
        .flat_map(|i| {
            let v = (16384.0 * (std::f64::consts::TAU * f64::from(i) / 48.0).sin()) as i16;
            [v.to_le_bytes(), v.to_le_bytes()].concat()
        })
        .collect();
    let silence = vec![0u8; 480 * 4];
    let start = Instant::now();
    let mut block = 0u32;
    let mut child = None;
    // Like a real microphone's, each 10 ms block is delivered when it has ended (the beep's
    // first block at 10 ms past the flash), from before the broadcast starts (its microphone
    // needs samples flowing) until it ends.
    let status = loop {
        let due = start + Duration::from_millis(10 * u64::from(block));
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        if block == 30 {
            child = Some(broadcast());
        }
        if let Some(status) = child.as_mut().and_then(|c| c.try_wait().unwrap()) {
            break status;
        }
        assert!(block < 3_000, "the broadcast did not end");
        // The block that has just ended, then the flash for the one starting.
        let ended = block.wrapping_sub(1) % 100;
        let beeping = block > 100 && ended < 10;
        if block > 0 {
            mic.write_all(if beeping { &beep } else { &silence })
                .unwrap();
        }
        if block.is_multiple_of(100) && block > 0 {
            flash.set(true);
        }
        if block % 100 == 10 {
            flash.set(false);
        }
        block += 1;
    };
    assert!(status.success());

    let p = probe(&rec);
    let v = stream(&p, "video");
    let a = stream(&p, "audio");
    let errors = decode_errors(&rec, &[]);
    assert!(errors.is_empty(), "{errors}");
    let (vd, ad) = (num(&v["duration"]), num(&a["duration"]));
    let last = last_stats(&stats).unwrap();
    assert!(
        (vd - ad).abs() <= 1.0 / 30.0 + 0.03,
        "video {vd} s, audio {ad} s; {}",
        last["audio"]
    );

    // Video: the frames where the corner turned white, and the frame before each.
    let luma = corner_luma(&rec, 64);
    let packets = video_packets(&rec);
    assert_eq!(luma.len(), packets.len());
    let mut video_marks = Vec::new();
    for i in 1..luma.len() {
        if luma[i] > 128.0 && luma[i - 1] <= 128.0 {
            video_marks.push((packets[i - 1].0, packets[i].0));
        }
    }
    // Audio: beep onsets (first sample above a quarter of the beep's amplitude after quiet).
    let (samples, astart) = audio_samples(&rec);
    let mut audio_marks = Vec::new();
    let mut last_loud: Option<usize> = None;
    for (i, s) in samples.iter().enumerate() {
        if s.unsigned_abs() > 4_000 {
            if last_loud.is_none_or(|l| i - l > 24_000) {
                audio_marks.push(astart + i as f64 / 48_000.0);
            }
            last_loud = Some(i);
        }
    }
    assert!(video_marks.len() >= 4, "white flashes at {video_marks:?}");
    assert!(audio_marks.len() >= 4, "beeps at {audio_marks:?}");
    let lead = 0.010;
    let (mut offsets, mut errors) = (Vec::new(), Vec::new());
    for &(before, shown) in &video_marks {
        let a = *audio_marks
            .iter()
            .min_by(|a, b| (*a - shown).abs().total_cmp(&(*b - shown).abs()))
            .unwrap();
        offsets.push((a - shown) * 1000.0);
        let error = if a < before - lead {
            a - (before - lead)
        } else if a > shown {
            a - shown
        } else {
            0.0
        };
        errors.push(error * 1000.0);
    }
    let show = |v: &[f64]| v.iter().map(|o| format!("{o:+.0}")).collect::<Vec<_>>();
    let mean = offsets.iter().sum::<f64>() / offsets.len() as f64;
    println!(
        "A/V sync, screen + microphone: beep - first white frame (ms): {} (mean {mean:+.0}); \
         beep outside the span its flash was captured in (ms): {}",
        show(&offsets).join(" "),
        show(&errors).join(" ")
    );
    if let Some(s) = last_stats(&stats) {
        println!("sync test microphone stats: {}", s["sources"][1]);
    }
    // The typical flash within the tolerance; every one within a few frames (a grab woken
    // late on a busy machine shows one flash a frame or two later: a stall, not a skew).
    let mut sorted: Vec<f64> = errors.iter().map(|e| e.abs()).collect();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    assert!(
        median <= SYNC_TOLERANCE_MS && sorted.iter().all(|&e| e <= 4.0 * SYNC_TOLERANCE_MS),
        "beeps outside their flashes' span (ms): {:?}",
        show(&errors)
    );
}
