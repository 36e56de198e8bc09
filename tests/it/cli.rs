//! Bad input on the command line: one clear line, a non-zero exit, nothing started, nothing
//! overwritten.

use crate::common::*;

fn fails_with(args: &[&str], expected: &str) -> String {
    let out = onair().args(args).output().expect("run onair");
    assert!(!out.status.success(), "{args:?} should fail");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        stderr.contains(expected),
        "{args:?}: expected {expected:?} in:\n{stderr}"
    );
    stderr
}

#[test]
fn unknown_preset_is_one_line_naming_it() {
    let dir = tempdir();
    let rec = path_in(&dir, "x.mp4");
    let err = fails_with(
        &[
            "broadcast",
            "--preset",
            "4k120",
            "--record",
            rec.to_str().unwrap(),
        ],
        "unknown preset \"4k120\"",
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!rec.exists(), "nothing is created when the preset is wrong");
}

#[test]
fn an_existing_file_is_never_overwritten() {
    let dir = tempdir();
    let rec = path_in(&dir, "keep.mp4");
    std::fs::write(&rec, b"an earlier take").unwrap();
    fails_with(
        &[
            "broadcast",
            "--duration",
            "1",
            "--record",
            rec.to_str().unwrap(),
        ],
        "already exists",
    );
    assert_eq!(std::fs::read(&rec).unwrap(), b"an earlier take");
}

#[test]
fn unwritable_or_unknown_record_paths_fail_before_starting() {
    let dir = tempdir();
    let missing = path_in(&dir, "no/such/dir/x.mp4");
    fails_with(
        &[
            "broadcast",
            "--duration",
            "1",
            "--record",
            missing.to_str().unwrap(),
        ],
        "cannot create",
    );
    fails_with(
        &["broadcast", "--duration", "1", "--record", "take.mkv"],
        "must end in .mp4 or .flv",
    );
    // A second output that cannot be opened leaves no empty first file behind.
    let first = path_in(&dir, "first.mp4");
    fails_with(
        &[
            "broadcast",
            "--duration",
            "1",
            "--record",
            first.to_str().unwrap(),
            "--record",
            missing.to_str().unwrap(),
        ],
        "cannot create",
    );
    assert!(!first.exists());
}

#[test]
fn flags_are_checked() {
    fails_with(
        &["broadcast", "--video", "webcam"],
        "invalid value 'webcam'",
    );
    fails_with(
        &["broadcast", "--duration", "soon", "--record", "x.mp4"],
        "not a number of seconds",
    );
    fails_with(
        &[
            "broadcast",
            "--video",
            "none",
            "--audio",
            "none",
            "--record",
            "/tmp/x.mp4",
        ],
        "nothing to broadcast",
    );
    fails_with(&["broadcast", "--duration", "1"], "no output");
}

#[test]
fn config_presets_are_listed_and_validated() {
    let dir = tempdir();
    let good = path_in(&dir, "good.toml");
    std::fs::write(
        &good,
        "[[preset]]\nname = \"my-540p\"\nwidth = 960\nheight = 540\nfps = 30\nvideo_kbps = 2000\n",
    )
    .unwrap();
    let out = run_ok(onair().args(["presets", "--json", "--config"]).arg(&good));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "480p30", "720p30", "720p60", "1080p30", "1080p60", "my-540p"
        ]
    );
    assert_eq!(list[5]["keyframe_interval_s"], 2);

    let bad = path_in(&dir, "bad.toml");
    std::fs::write(
        &bad,
        "[[preset]]\nname = \"wide\"\nwidth = 1920\nheight = 1080\nfps = 30\nvideo_kbps = 90000\n",
    )
    .unwrap();
    let err = fails_with(
        &[
            "broadcast",
            "--config",
            bad.to_str().unwrap(),
            "--record",
            "/tmp/never.mp4",
        ],
        "preset \"wide\": video_kbps 90000 must be between 100 and 50000",
    );
    assert_eq!(err.trim().lines().count(), 1);
    fails_with(
        &["presets", "--config", "/nonexistent/onair.toml"],
        "cannot read config file /nonexistent/onair.toml",
    );
}

#[test]
fn a_user_preset_drives_the_encoder() {
    let dir = tempdir();
    let cfg = path_in(&dir, "c.toml");
    std::fs::write(&cfg, "[[preset]]\nname = \"tiny\"\nwidth = 320\nheight = 180\nfps = 25\nvideo_kbps = 300\naudio_kbps = 96\nkeyframe_interval_s = 1\n").unwrap();
    let rec = path_in(&dir, "tiny.flv");
    run_ok(
        onair()
            .args([
                "broadcast",
                "--preset",
                "tiny",
                "--duration",
                "2",
                "--config",
            ])
            .arg(&cfg)
            .arg("--record")
            .arg(&rec),
    );
    let p = probe(&rec);
    let v = stream(&p, "video");
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(320), Some(180))
    );
    assert_eq!(num(&v["nb_read_frames"]), 50.0);
    let keys: Vec<f64> = video_packets(&rec)
        .iter()
        .filter(|(_, k)| *k)
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(keys, [0.0, 1.0]);
}

/// `onair --help` says that plain `onair` opens the window (a new user types `--help` first).
#[test]
fn help_says_plain_onair_opens_the_window() {
    for flag in ["--help", "-h"] {
        let out = run_ok(onair().arg(flag));
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(
            help.contains("Run `onair` with no command to open the window"),
            "{flag}:\n{help}"
        );
        // Written to a pipe: no colour codes.
        assert!(
            !help.contains('\u{1b}'),
            "{flag}: colour codes in\n{help:?}"
        );
    }
}

/// A run with stderr to a file or pipe writes plain text: no colour codes (also with a
/// terminal, NO_COLOR would turn them off), and no line from OpenH264 itself.
#[test]
fn stderr_to_a_pipe_is_plain_and_openh264_is_quiet() {
    let dir = tempdir();
    let rec = path_in(&dir, "plain.mp4");
    let out = run_ok(
        onair()
            .env("RUST_LOG", "info")
            .env_remove("NO_COLOR")
            .args([
                "broadcast",
                "--preset",
                "480p30",
                "--duration",
                "1",
                "--record",
            ])
            .arg(&rec),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("engine started"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "colour codes in {stderr:?}");
    assert!(!stderr.contains("OpenH264"), "{stderr}");
}

/// Slices per picture of an H.264 recording, from ffmpeg's `trace_headers` (one
/// `first_mb_in_slice` per slice header).
fn slices_per_picture(rec: &std::path::Path) -> Vec<usize> {
    let out = run_ok(
        std::process::Command::new("ffmpeg")
            .args(["-nostdin", "-hide_banner", "-i"])
            .arg(rec)
            .args(["-c:v", "copy", "-bsf:v", "trace_headers", "-f", "null", "-"]),
    );
    let mut pictures: Vec<usize> = Vec::new();
    for line in String::from_utf8_lossy(&out.stderr).lines() {
        if let Some(value) = line
            .contains("first_mb_in_slice")
            .then(|| line.rsplit('=').next())
            .flatten()
        {
            if value.trim() == "0" {
                pictures.push(1);
            } else if let Some(last) = pictures.last_mut() {
                *last += 1;
            }
        }
    }
    pictures
}

/// Without `--encoder-threads` a 1080p60-class preset gets two slices (threads) at low effort
/// without background detection, a smaller one a single slice at medium effort; the flags given
/// win over the automatic choice, and 0 or 9 threads are refused.
#[test]
fn the_encoder_load_follows_the_pixel_rate_unless_given() {
    let bench = |args: &[&str]| -> (u64, String) {
        let out = run_ok(
            onair()
                .args(["bench", "--frames", "2", "--audio", "none"])
                .args(["--outputs", "flv", "--pipeline-only"])
                .args(args),
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (
            v["encoder_threads"].as_u64().unwrap(),
            v["tuning"].as_str().unwrap().to_owned(),
        )
    };
    let (threads, tuning) = bench(&["--preset", "1080p60"]);
    assert_eq!(threads, 2, "{tuning}");
    assert!(
        tuning.contains("effort=low,") && tuning.contains("bgd=off"),
        "{tuning}"
    );
    let (threads, tuning) = bench(&["--preset", "720p30"]);
    assert_eq!(threads, 1, "{tuning}");
    assert!(
        tuning.contains("effort=medium,") && tuning.contains("bgd=on"),
        "{tuning}"
    );
    // Given: they win; --tune changes only its own keys.
    let (threads, tuning) = bench(&[
        "--preset",
        "1080p60",
        "--encoder-threads",
        "1",
        "--tune",
        "effort=medium",
    ]);
    assert_eq!(threads, 1, "{tuning}");
    assert!(
        tuning.contains("effort=medium,") && tuning.contains("bgd=off"),
        "{tuning}"
    );
    for bad in ["0", "9"] {
        fails_with(
            &["bench", "--encoder-threads", bad],
            "--encoder-threads must be between 1 and 8",
        );
        fails_with(
            &[
                "broadcast",
                "--encoder-threads",
                bad,
                "--record",
                "/tmp/never.mp4",
            ],
            "--encoder-threads must be between 1 and 8",
        );
    }
    // broadcast: the stream itself has two slices a picture at 1080p60 unless told one.
    let dir = tempdir();
    for (threads, want) in [(None, 2), (Some("1"), 1)] {
        let rec = path_in(&dir, &format!("{want}.mp4"));
        let mut cmd = onair();
        cmd.args(["broadcast", "--preset", "1080p60", "--video", "test"])
            .args(["--audio", "none", "--duration", "0.5", "--record"])
            .arg(&rec);
        if let Some(t) = threads {
            cmd.args(["--encoder-threads", t]);
        }
        run_ok(&mut cmd);
        let slices = slices_per_picture(&rec);
        assert!(
            !slices.is_empty(),
            "no slice headers traced in {}",
            rec.display()
        );
        assert!(slices.iter().all(|&n| n == want), "{threads:?}: {slices:?}");
    }
}
