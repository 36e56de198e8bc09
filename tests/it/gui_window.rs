//! The real binary opens its window on a virtual display (Xvfb), draws something, and quits
//! cleanly from the keyboard, as a person would.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::*;

/// A private X server (race-free display number, no reset), and commands run on it.
struct Display(crate::common::desktop::Xvfb);

impl Display {
    fn start() -> Display {
        Display(crate::common::desktop::Xvfb::start(1280, 800))
    }

    /// The real binary with its window on this display and its settings in `config`.
    fn open_app(&self, config: &std::path::Path) -> std::process::Child {
        self.command(env!("CARGO_BIN_EXE_onair"))
            .env("ONAIR_CONFIG_DIR", config)
            // Warnings, the renderer line, and a line per repaint (see `repaints_per_second`).
            .env("RUST_LOG", "warn,onair::ui=trace,onair::app=info")
            .env("NO_COLOR", "1")
            .env_remove("WAYLAND_DISPLAY")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("DISPLAY", format!(":{}", self.0.number()));
        c
    }
}

/// The id of the window named `onair`, once it is mapped.
fn find_window(display: &Display) -> String {
    let mut id = String::new();
    wait_for(Duration::from_secs(30), "the onair window", || {
        let out = display
            .command("xdotool")
            .args(["search", "--onlyvisible", "--name", "^onair$"])
            .output()
            .unwrap();
        id = String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .to_owned();
        !id.is_empty()
    });
    id
}

/// Standard deviation of the screen's grey levels (0 for a blank screen), from ImageMagick.
fn screen_spread(display: &Display, png: &std::path::Path) -> f64 {
    run_ok(display.command("import").args(["-window", "root"]).arg(png));
    let out = run_ok(Command::new("convert").arg(png).args([
        "-colorspace",
        "Gray",
        "-format",
        "%[fx:standard_deviation]",
        "info:",
    ]));
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[test]
fn the_window_opens_renders_and_quits_cleanly() {
    let display = Display::start();
    let config = tempdir();
    let shot = config.path().join("screen.png");
    let child = display.open_app(config.path());
    let window = find_window(&display);
    // Give it a few frames to draw: a blank screen has a spread of exactly 0.
    let mut spread = 0.0;
    wait_for(Duration::from_secs(20), "the window to draw", || {
        spread = screen_spread(&display, &shot);
        spread > 0.02
    });
    println!("screen grey-level spread with the window drawn: {spread:.3}");

    // Ctrl+Q closes it; it exits 0 and leaves its settings behind.
    // No window manager on Xvfb: give the window the input focus directly, then type.
    run_ok(
        display
            .command("xdotool")
            .args(["windowfocus", "--sync", &window]),
    );
    run_ok(display.command("xdotool").args(["key", "ctrl+q"]));
    let out = wait_success(child);
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("ERROR"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(config.path().join("config.toml").exists());
    assert!(config.path().join("window.toml").exists());
}

#[test]
fn sigterm_closes_the_window_cleanly() {
    let display = Display::start();
    let config = tempdir();
    let child = display
        .command(env!("CARGO_BIN_EXE_onair"))
        .env("ONAIR_CONFIG_DIR", config.path())
        .env_remove("WAYLAND_DISPLAY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    find_window(&display);
    terminate(child);
}

#[test]
fn without_a_display_the_error_says_what_to_do() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_onair"))
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot open the window") && err.contains("onair broadcast"),
        "{err}"
    );
}

/// Closing the window while recording asks first, as OBS does: with a window manager
/// (openbox), neither Ctrl+Q nor the window manager's close (Alt+F4) ends the recording; the
/// window stays and the file goes on growing. SIGTERM then closes it without asking, and what
/// was recorded is a whole, playable MP4 (finished first). While it records, the window
/// repaints at its preview rate and no faster: the CPU it takes follows its repaints. Xvfb has
/// no GPU, so the window is drawn by Mesa's llvmpipe, which the app detects: the automatic
/// preview rate is then 5 fps, not 15.
#[test]
fn closing_the_window_mid_recording_asks_and_leaves_a_finished_file() {
    let display = Display::start();
    let _wm = display.0.window_manager();
    let config = tempdir();
    let takes = tempdir();
    std::fs::write(
        config.path().join("gui.toml"),
        format!(
            "preset = \"480p30\"\nrecord_folder = \"{}\"\n",
            takes.path().display()
        ),
    )
    .unwrap();
    let child = display.open_app(config.path());
    let window = find_window(&display);
    run_ok(
        display
            .command("xdotool")
            .args(["windowfocus", "--sync", &window]),
    );
    run_ok(display.command("xdotool").args(["key", "ctrl+r"]));
    // Recording: the file grows past its first fragments.
    let file = || first_mp4(takes.path());
    wait_for(Duration::from_secs(30), "3 s of recording", || {
        file().is_some_and(|f| {
            let p = probe_quiet(&f);
            p.is_some_and(|d| d >= 3.0)
        })
    });
    let mut child = child;
    // Steady recording until now: the repaint rate is measured before the keys below.
    let steady_until = std::time::SystemTime::now();
    let size = |f: &std::path::Path| std::fs::metadata(f).map_or(0, |m| m.len());
    for close in ["ctrl+q", "alt+F4"] {
        let before = size(&file().unwrap());
        run_ok(
            display
                .command("xdotool")
                .args(["windowfocus", "--sync", &window]),
        );
        run_ok(display.command("xdotool").args(["key", close]));
        // Asked, not closed: the window stays and the recording goes on.
        wait_for(
            Duration::from_secs(20),
            "the recording to go on growing",
            || size(&file().unwrap()) > before + 50_000,
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "{close} closed the window while recording without asking"
        );
        // Escape dismisses the question (Cancel).
        run_ok(display.command("xdotool").args(["key", "Escape"]));
    }
    let out = terminate(child);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("ERROR"), "{stderr}");
    assert!(
        stderr.contains("drawn by a software rasterizer") && stderr.contains("llvmpipe"),
        "the software rasterizer is not detected:\n{stderr}"
    );
    let rate = repaints_per_second(&stderr, steady_until);
    println!("repaints per second while recording: {rate}");
    // 5 for the preview, plus the controller's view (4 a second, not always riding on a
    // preview frame) and a notification's fade (2 a second while one shows: 8 to 10.5 measured
    // with a window manager); at 15 fps it would be 15 or more. (A busy machine only lowers it.)
    assert!(rate <= 12.0, "{rate} repaints per second:\n{stderr}");
    let f = file().unwrap();
    let p = probe(&f);
    let v = stream(&p, "video");
    assert!(num(&v["nb_read_frames"]) >= 90.0, "{p}");
    assert_eq!(stream(&p, "audio")["codec_name"], "aac");
    // Finalized, not just crash-safe: the fragments are hidden and a full index (`moov`) is
    // the last top-level box.
    let boxes = top_level_boxes(&std::fs::read(&f).unwrap());
    assert!(!boxes.iter().any(|b| b == "moof"), "{boxes:?}");
    assert_eq!(boxes.last().map(String::as_str), Some("moov"), "{boxes:?}");
    let errors = decode_errors(&f, &[]);
    assert!(errors.is_empty(), "{errors}");
}

/// The duration ffprobe reads from a file being written, if it can read one yet.
fn probe_quiet(path: &std::path::Path) -> Option<f64> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "quiet",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// The types of an MP4's top-level boxes, in order.
fn top_level_boxes(data: &[u8]) -> Vec<String> {
    let mut at = 0;
    let mut types = Vec::new();
    while at + 8 <= data.len() {
        let mut size = u64::from(u32::from_be_bytes(data[at..at + 4].try_into().unwrap()));
        if size == 1 {
            size = u64::from_be_bytes(data[at + 8..at + 16].try_into().unwrap());
        }
        types.push(String::from_utf8_lossy(&data[at + 4..at + 8]).into_owned());
        assert!(size >= 8, "box size {size} at {at}");
        at += size as usize;
    }
    assert_eq!(at, data.len(), "boxes end with the file");
    types
}

/// Repaints per second over the 2 s before the last half second before `until` (the keys that
/// close the window), while recording went on steadily.
fn repaints_per_second(log: &str, until: std::time::SystemTime) -> f64 {
    let times: Vec<std::time::SystemTime> = log
        .lines()
        .filter(|l| l.contains(" repaint "))
        .filter_map(|l| humantime::parse_rfc3339(l.split_whitespace().next()?).ok())
        .collect();
    assert!(!times.is_empty(), "repaint lines in the log");
    let last = until;
    let before = |t: &std::time::SystemTime| last.duration_since(*t).unwrap_or_default();
    let steady = times
        .iter()
        .filter(|t| (Duration::from_millis(500)..Duration::from_millis(2_500)).contains(&before(t)))
        .count();
    steady as f64 / 2.0
}

/// "Preview in browser" opens the page with the desktop's handler: a fake `xdg-open` first on
/// PATH records the address it is given, which serves the player page. With a handler that
/// fails, the window says so (and the log names the address).
#[test]
fn preview_in_browser_opens_the_page_with_the_desktops_handler() {
    let display = Display::start();
    for handler_works in [true, false] {
        let config = tempdir();
        let bin = tempdir();
        let opened = config.path().join("opened.txt");
        let script = if handler_works {
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$@\" >> '{}'\n",
                opened.display()
            )
        } else {
            "#!/bin/sh\necho 'xdg-open: no method available for opening' >&2\nexit 3\n".into()
        };
        let xdg_open = bin.path().join("xdg-open");
        std::fs::write(&xdg_open, script).unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&xdg_open, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let port = crate::common::peers::free_port();
        std::fs::write(
            config.path().join("gui.toml"),
            format!(
                "preset = \"480p30\"\nhls_folder = \"{}\"\npreview_addr = \"127.0.0.1:{port}\"\n",
                config.path().join("hls").display()
            ),
        )
        .unwrap();
        // Only the fake handler can be found: no real browser is started.
        let child = display
            .command(env!("CARGO_BIN_EXE_onair"))
            .env("ONAIR_CONFIG_DIR", config.path())
            .env("PATH", bin.path())
            .env("RUST_LOG", "warn,onair::app=info")
            .env_remove("WAYLAND_DISPLAY")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let window = find_window(&display);
        run_ok(
            display
                .command("xdotool")
                .args(["windowfocus", "--sync", &window]),
        );
        run_ok(display.command("xdotool").args(["key", "ctrl+p"]));
        let url = format!("http://127.0.0.1:{port}/");
        if handler_works {
            wait_for(Duration::from_secs(30), "xdg-open to be called", || {
                std::fs::read_to_string(&opened).is_ok_and(|t| !t.is_empty())
            });
            let got = std::fs::read_to_string(&opened).unwrap();
            assert_eq!(got.trim(), url, "xdg-open was given {got:?}");
            let page = http_text(port, "/");
            assert!(page.contains("<video") || page.contains("hls"), "{page}");
        } else {
            wait_for(Duration::from_secs(30), "the preview to be served", || {
                try_http(port, "GET", "/").is_some_and(|(code, _, _)| code == 200)
            });
            // The handler's failure arrives within a few seconds (OPEN_WAIT).
            std::thread::sleep(Duration::from_secs(4));
        }
        let out = terminate(child);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if handler_works {
            assert!(stderr.contains(&format!("opened {url}")), "{stderr}");
        } else {
            assert!(
                stderr.contains(&format!("cannot open {url}")),
                "the failure is not told:\n{stderr}"
            );
        }
    }
}

/// The names of a process's threads, from `/proc/PID/task/*/comm`.
fn thread_names(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| {
            d.filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
                .map(|n| n.trim().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The window, as `import` reads it: width, height and RGB rows.
fn window_pixels(
    display: &Display,
    window: &str,
    dir: &std::path::Path,
) -> (usize, usize, Vec<u8>) {
    let png = dir.join("window.png");
    run_ok(
        display
            .command("import")
            .args(["-window", window])
            .arg(&png),
    );
    let size = run_ok(
        Command::new("identify")
            .args(["-format", "%w %h"])
            .arg(&png),
    );
    let size = String::from_utf8_lossy(&size.stdout).to_string();
    let mut wh = size.split_whitespace().map(|n| n.parse::<usize>().unwrap());
    let (w, h) = (wh.next().unwrap(), wh.next().unwrap());
    let rgb = run_ok(
        Command::new("convert")
            .arg(&png)
            .args(["-depth", "8", "rgb:-"]),
    )
    .stdout;
    assert_eq!(rgb.len(), w * h * 3);
    (w, h, rgb)
}

/// The pixels of the test pattern's three clearest bars (yellow, cyan, magenta) in the
/// window right of the setup column (x from 380: the meters left of it can be yellow), and
/// where they start.
struct Bars {
    counts: [usize; 3],
    left: usize,
    top: usize,
}

fn bars(w: usize, h: usize, rgb: &[u8]) -> Bars {
    let mut counts = [0; 3];
    let (mut left, mut top) = (w, h);
    for y in 0..h {
        for x in 380..w {
            let p = &rgb[(y * w + x) * 3..][..3];
            let (r, g, b) = (i32::from(p[0]), i32::from(p[1]), i32::from(p[2]));
            let hi = |c: i32| c > 140;
            let lo = |c: i32| c < 70;
            let which = if hi(r) && hi(g) && lo(b) {
                0
            } else if lo(r) && hi(g) && hi(b) {
                1
            } else if hi(r) && lo(g) && hi(b) {
                2
            } else {
                continue;
            };
            counts[which] += 1;
            left = left.min(x);
            top = top.min(y);
        }
    }
    Bars { counts, left, top }
}

/// Bright green pixels (a meter's lit part) left of `right`.
fn lit_meter_pixels(w: usize, h: usize, rgb: &[u8], right: usize) -> usize {
    (0..h)
        .flat_map(|y| (0..right.min(w)).map(move |x| (x, y)))
        .filter(|&(x, y)| {
            let p = &rgb[(y * w + x) * 3..][..3];
            p[1] > 150 && p[0] < 120 && p[2] < 120
        })
        .count()
}

/// The program is on from the moment the window opens, nothing live: the real window under
/// Xvfb shows the test pattern's bars in its preview (with its sync square at the picture's
/// top-left corner) and the mixer's meters lit by the tone, and no encoder thread exists.
/// Recording starts the encoders (their threads appear) and the file starts with a keyframe at
/// its own time zero, although the program had been running for seconds; once stopped, the
/// encoder threads are gone again and the program goes on.
#[test]
fn the_program_is_on_with_nothing_live_and_encoders_run_only_while_recording() {
    let display = Display::start();
    let config = tempdir();
    let takes = tempdir();
    std::fs::write(
        config.path().join("gui.toml"),
        format!(
            "preset = \"480p30\"\nrecord_folder = \"{}\"\nconfirm_stop_recording = false\n",
            takes.path().display()
        ),
    )
    .unwrap();
    let child = display.open_app(config.path());
    let pid = child.id();
    let window = find_window(&display);
    // The picture: the bars fill the preview, right of the setup column.
    let mut seen = None;
    wait_for(Duration::from_secs(30), "the program's picture", || {
        let (w, h, rgb) = window_pixels(&display, &window, config.path());
        let b = bars(w, h, &rgb);
        let ok = b.counts.iter().all(|&c| c > 2_000);
        seen = Some((w, h, rgb, b));
        ok
    });
    let (w, h, rgb, b) = seen.unwrap();
    println!(
        "bar pixels (yellow, cyan, magenta): {:?}, from ({}, {})",
        b.counts, b.left, b.top
    );
    // The bars scroll, so the first of these three can be a bar or two in: the picture's
    // left edge is where the row below its top stops being the panel's background (the sync
    // square is there). The preview box starts 8 px right of the column's edge, 92 px down.
    let at = |x: usize, y: usize| &rgb[(y * w + x) * 3..][..3];
    let row = b.top + 10;
    let background = at(382, row).to_vec();
    let left = (382..w)
        .find(|&x| {
            at(x, row)
                .iter()
                .zip(&background)
                .any(|(a, b)| a.abs_diff(*b) > 10)
        })
        .unwrap();
    assert!(
        (380..420).contains(&left) && (80..120).contains(&b.top) && left <= b.left,
        "the picture starts at ({left}, {}), the bars at x {}",
        b.top,
        b.left
    );
    // The sync square: black (or white, once a second), at the picture's top-left corner.
    let corner = at(left + 8, b.top + 8);
    let grey = corner.iter().max().unwrap() - corner.iter().min().unwrap() < 12;
    let dark_or_white = corner[0] < 50 || corner[0] > 200;
    assert!(
        grey && dark_or_white,
        "the sync square's pixel is {corner:?}"
    );
    assert!(h > b.top + 100);
    // The meters move with the tone (it beeps each second): lit in one of a few looks.
    let mut lit = 0;
    wait_for(Duration::from_secs(10), "a lit meter", || {
        let (w, h, rgb) = window_pixels(&display, &window, config.path());
        lit = lit_meter_pixels(w, h, &rgb, b.left);
        lit > 200
    });
    println!("lit meter pixels: {lit}");
    // Nothing live: the program's threads run, no encoder's.
    let names = thread_names(pid);
    assert!(names.iter().any(|n| n == "src-video"), "{names:?}");
    assert!(names.iter().any(|n| n == "src-audio"), "{names:?}");
    assert!(
        !names.iter().any(|n| n.starts_with("enc-")),
        "idle: {names:?}"
    );

    // Record: the encoders start with the output.
    run_ok(
        display
            .command("xdotool")
            .args(["windowfocus", "--sync", &window]),
    );
    run_ok(display.command("xdotool").args(["key", "ctrl+r"]));
    let file = || first_mp4(takes.path());
    wait_for(Duration::from_secs(30), "2 s of recording", || {
        file().is_some_and(|f| probe_quiet(&f).is_some_and(|d| d >= 2.0))
    });
    let names = thread_names(pid);
    assert!(
        names.iter().any(|n| n == "enc-h264"),
        "recording: {names:?}"
    );
    assert!(names.iter().any(|n| n == "enc-aac"), "recording: {names:?}");
    run_ok(display.command("xdotool").args(["key", "ctrl+r"]));
    wait_for(Duration::from_secs(30), "the encoders to stop", || {
        !thread_names(pid).iter().any(|n| n.starts_with("enc-"))
    });
    let names = thread_names(pid);
    assert!(
        names.iter().any(|n| n == "src-video"),
        "the program stopped: {names:?}"
    );
    let f = file().unwrap();
    wait_for(Duration::from_secs(10), "the file to be finalized", || {
        top_level_boxes(&std::fs::read(&f).unwrap())
            .last()
            .map(String::as_str)
            == Some("moov")
    });
    let packets = video_packets(&f);
    assert!(packets.len() >= 50, "{} video packets", packets.len());
    assert!(
        packets[0].1,
        "the first picture is not a keyframe: {:?}",
        &packets[..3]
    );
    assert!(
        packets[0].0.abs() < 1e-3,
        "the first picture is at {} s, not 0",
        packets[0].0
    );
    let errors = decode_errors(&f, &[]);
    assert!(errors.is_empty(), "{errors}");
    let out = terminate(child);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("ERROR"), "{stderr}");
}

/// The first MP4 file in `dir`, if one is there yet.
fn first_mp4(dir: &std::path::Path) -> Option<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "mp4"))
}
