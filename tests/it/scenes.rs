//! Scenes against the real binary: a recording of colour + image with alpha + text judged
//! by its decoded pixels, scene switches while recording (a fade's frames mix, a cut is one
//! frame), config errors as one line, `onair scenes`.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::desktop::{mean_rgb, rgb_frame_at};
use crate::common::{
    last_stats, onair, path_in, run_ok, tempdir, terminate, wait_for, wait_success,
};

const PRESET: &str =
    "[[preset]]\nname = \"small\"\nwidth = 320\nheight = 180\nfps = 30\nvideo_kbps = 4000\n\n";

/// A 64x64 PNG: left half opaque red, right half white at alpha 128.
fn write_logo(path: &Path) {
    let img = image::RgbaImage::from_fn(64, 64, |x, _| {
        if x < 32 {
            image::Rgba([255, 0, 0, 255])
        } else {
            image::Rgba([255, 255, 255, 128])
        }
    });
    img.save(path).unwrap();
}

fn near(got: [f64; 3], want: [f64; 3], tol: f64, what: &str) {
    assert!(
        got.iter().zip(want).all(|(g, w)| (g - w).abs() <= tol),
        "{what}: got {got:?}, want {want:?} ± {tol}"
    );
}

#[test]
fn a_scene_of_colour_image_and_text_records_each_layer_in_its_place() {
    let dir = tempdir();
    write_logo(&dir.path().join("logo.png"));
    let config = path_in(&dir, "config.toml");
    std::fs::write(
        &config,
        format!(
            "{PRESET}\
[[sources]]\nname = \"bg\"\nkind = \"colour\"\ncolour = \"#204080\"\n\n\
[[sources]]\nname = \"logo\"\nkind = \"image\"\npath = \"logo.png\"\n\n\
[[sources]]\nname = \"title\"\nkind = \"text\"\ntext = \"ON AIR\"\nsize = 40\ncolour = \"#ffff00\"\nbackground = \"#000000\"\n\n\
[[scenes]]\nname = \"Show\"\n\
[[scenes.layers]]\nsource = \"bg\"\n\
[[scenes.layers]]\nsource = \"logo\"\nx = 100\ny = 60\n\
[[scenes.layers]]\nsource = \"title\"\nx = 160\ny = 120\n"
        ),
    )
    .unwrap();
    let out = path_in(&dir, "show.mp4");
    run_ok(
        onair()
            .args([
                "broadcast",
                "--preset",
                "small",
                "--duration",
                "2",
                "--config",
            ])
            .arg(&config)
            .args(["--scene", "Show", "--record"])
            .arg(&out),
    );
    let frame = rgb_frame_at(&out, 1.0);
    assert_eq!((frame.0, frame.1), (320, 180));
    let bg = [32.0, 64.0, 128.0];
    near(mean_rgb(&frame, 10, 10, 40, 30), bg, 6.0, "background");
    // The logo's opaque half, and the places just outside it (within 4 px of its edges).
    near(
        mean_rgb(&frame, 106, 66, 20, 52),
        [255.0, 0.0, 0.0],
        10.0,
        "logo, opaque",
    );
    near(mean_rgb(&frame, 90, 66, 6, 52), bg, 8.0, "left of the logo");
    near(mean_rgb(&frame, 106, 50, 52, 6), bg, 8.0, "above the logo");
    // Its half-transparent half: white at 128/255 over the background.
    let blend = bg.map(|c| c + (255.0 - c) * 128.0 / 255.0);
    near(
        mean_rgb(&frame, 138, 66, 20, 52),
        blend,
        8.0,
        "logo, alpha 128",
    );
    near(
        mean_rgb(&frame, 168, 66, 6, 40),
        bg,
        8.0,
        "right of the logo",
    );
    // The text: a black box from (160, 120) with yellow letters in it.
    near(
        mean_rgb(&frame, 161, 121, 6, 6),
        [0.0, 0.0, 0.0],
        10.0,
        "text box corner",
    );
    near(
        mean_rgb(&frame, 150, 125, 6, 6),
        bg,
        8.0,
        "left of the text box",
    );
    let yellow = (120..170)
        .flat_map(|y| (160..320).map(move |x| (x, y)))
        .filter(|&(x, y)| {
            let i = ((y * 320 + x) * 3) as usize;
            let p = &frame.2[i..i + 3];
            p[0] > 200 && p[1] > 200 && p[2] < 80
        })
        .count();
    assert!(yellow > 300, "{yellow} yellow text pixels");
}

/// Every frame of a recording (RGB24, `w` x `h`).
fn all_frames(path: &Path, w: usize, h: usize) -> Vec<Vec<u8>> {
    let out = run_ok(
        Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-i"])
            .arg(path)
            .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"]),
    );
    out.stdout
        .chunks_exact(w * h * 3)
        .map(<[u8]>::to_vec)
        .collect()
}

#[test]
fn switching_while_recording_fades_frame_by_frame_and_cuts_in_one() {
    let dir = tempdir();
    let config = path_in(&dir, "config.toml");
    std::fs::write(
        &config,
        format!(
            "{PRESET}\
[[sources]]\nname = \"red\"\nkind = \"colour\"\ncolour = \"#c00000\"\n\n\
[[sources]]\nname = \"blue\"\nkind = \"colour\"\ncolour = \"#0000c0\"\n\n\
[[scenes]]\nname = \"A\"\n[[scenes.layers]]\nsource = \"red\"\n\n\
[[scenes]]\nname = \"B\"\n[[scenes.layers]]\nsource = \"blue\"\n\n\
[transition]\nkind = \"fade\"\nduration_ms = 500\n"
        ),
    )
    .unwrap();
    let out = path_in(&dir, "switch.mp4");
    let stats = path_in(&dir, "stats.jsonl");
    let mut child = onair()
        .args(["broadcast", "--preset", "small", "--config"])
        .arg(&config)
        .args(["--scene", "A", "--stats"])
        .arg(&stats)
        .arg("--record")
        .arg(&out)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // A second of scene A on the program first.
    wait_for(Duration::from_secs(60), "a second of program", || {
        last_stats(&stats).is_some_and(|v| v["time_ms"].as_i64() >= Some(1000))
    });
    assert_eq!(
        last_stats(&stats).unwrap()["scene"],
        "A",
        "stats name the scene"
    );
    writeln!(stdin, "scene B").unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    wait_for(Duration::from_secs(10), "the stats to name scene B", || {
        last_stats(&stats).is_some_and(|v| v["scene"] == "B")
    });
    writeln!(stdin, "cut A").unwrap();
    writeln!(stdin, "scene Nope").unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    let done = terminate(child);
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert!(stderr.contains("scene: \"B\""), "{stderr}");
    assert!(
        stderr.contains("error: no scene \"Nope\"; the scenes are: A, B"),
        "{stderr}"
    );

    let frames = all_frames(&out, 320, 180);
    // Red and blue at the centre of each frame.
    let rb: Vec<(f64, f64)> = frames
        .iter()
        .map(|f| {
            let m = mean_rgb(&(320, 180, f.clone()), 150, 80, 20, 20);
            (m[0], m[2])
        })
        .collect();
    let is_a = |(r, b): (f64, f64)| r > 180.0 && b < 20.0;
    let is_b = |(r, b): (f64, f64)| b > 180.0 && r < 20.0;
    let first_not_a = rb.iter().position(|&p| !is_a(p)).expect("the switch to B");
    assert!(first_not_a >= 10, "scene A first: {rb:?}");
    let first_b = first_not_a + rb[first_not_a..].iter().position(|&p| is_b(p)).expect("B");
    let mixes = &rb[first_not_a..first_b];
    // 500 ms at 30 fps: 15 frames, the 15th is B alone.
    assert!(
        (13..=15).contains(&mixes.len()),
        "{} mixed frames: {mixes:?}",
        mixes.len()
    );
    for pair in mixes.windows(2) {
        assert!(
            pair[1].0 < pair[0].0 && pair[1].1 > pair[0].1,
            "not monotonic: {mixes:?}"
        );
    }
    // The middle of the fade is half of each (0xc0 = 192).
    let mid = mixes[mixes.len() / 2];
    assert!(
        (mid.0 - 96.0).abs() < 20.0 && (mid.1 - 96.0).abs() < 20.0,
        "middle {mid:?}"
    );
    // Then B, then the cut back to A: one frame from B to A.
    let back = first_b
        + rb[first_b..]
            .iter()
            .position(|&p| !is_b(p))
            .expect("the cut");
    assert!(back - first_b >= 10, "B held: {rb:?}");
    assert!(
        is_a(rb[back]),
        "a cut has no mixed frame: {:?}",
        &rb[back - 1..]
    );
    assert!(rb[back..].iter().all(|&p| is_a(p)), "A to the end");
}

fn fails(config_text: &str, extra: &[&str]) -> String {
    let dir = tempdir();
    let config = path_in(&dir, "config.toml");
    std::fs::write(&config, config_text).unwrap();
    let out = onair()
        .args(["broadcast", "--config"])
        .arg(&config)
        .args(extra)
        .args(["--duration", "1", "--record"])
        .arg(path_in(&dir, "x.mp4"))
        .output()
        .unwrap();
    assert!(!out.status.success(), "must fail");
    assert!(
        !path_in(&dir, "x.mp4").exists(),
        "no file for a refused start"
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    err
}

#[test]
fn bad_scene_configs_are_refused_in_one_line_naming_the_place() {
    let colour = "[[sources]]\nname = \"bg\"\nkind = \"colour\"\ncolour = \"#102030\"\n";
    let e = fails(
        &format!("{colour}[[scenes]]\nname = \"Live\"\n[[scenes.layers]]\nsource = \"nope\"\n"),
        &[],
    );
    assert!(
        e.contains(
            "scene \"Live\" layer 1 (source \"nope\"): source is not one of the [[sources]]"
        ),
        "{e}"
    );
    let e = fails(
        &format!(
            "{colour}[[scenes]]\nname = \"Live\"\n[[scenes.layers]]\nsource = \"bg\"\n\
             [[scenes.layers]]\nsource = \"bg\"\nfit = \"squash\"\n"
        ),
        &[],
    );
    assert!(
        e.contains(
            "scene \"Live\" layer 2 (source \"bg\"): fit \"squash\" is not fit, fill or stretch"
        ),
        "{e}"
    );
    let e = fails(
        "[[sources]]\nname = \"bg\"\nkind = \"colour\"\ncolour = \"blue\"\n[[scenes]]\nname = \"S\"\n",
        &[],
    );
    assert!(
        e.contains("source \"bg\": colour \"blue\" is not a colour"),
        "{e}"
    );
    let e = fails(
        &format!(
            "{colour}[[scenes]]\nname = \"S\"\n[[scenes.layers]]\nsource = \"bg\"\nwidth = 0\nheight = 10\n"
        ),
        &[],
    );
    assert!(
        e.contains("scene \"S\" layer 1 (source \"bg\"): width/height 0x10"),
        "{e}"
    );
    let e = fails(
        &format!("{colour}[[scenes]]\nname = \"S\"\n"),
        &["--scene", "Other"],
    );
    assert!(e.contains("no scene \"Other\"; the scenes are: S"), "{e}");
    let e = fails(
        "[[sources]]\nname = \"logo\"\nkind = \"image\"\npath = \"missing.png\"\n\
         [[scenes]]\nname = \"S\"\n[[scenes.layers]]\nsource = \"logo\"\n",
        &[],
    );
    assert!(e.contains("source \"logo\": cannot read the image"), "{e}");
}

#[test]
fn scenes_lists_the_built_in_and_the_configured_scenes() {
    let dir = tempdir();
    let empty = path_in(&dir, "empty.toml");
    std::fs::write(&empty, "").unwrap();
    let out = run_ok(onair().args(["scenes", "--json", "--config"]).arg(&empty));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["builtin"], true);
    let names: Vec<&str> = v["scenes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["test", "screen", "camera", "screen+camera"]);
    assert_eq!(v["scenes"][3]["layers"][1]["kind"], "camera");
    assert_eq!(v["transition"], "fade 300 ms");

    let config = path_in(&dir, "config.toml");
    std::fs::write(
        &config,
        "[[sources]]\nname = \"bg\"\nkind = \"colour\"\ncolour = \"#102030\"\n\
         [[scenes]]\nname = \"Starting soon\"\n[[scenes.layers]]\nsource = \"bg\"\nvisible = false\n",
    )
    .unwrap();
    let out = run_ok(onair().args(["scenes", "--config"]).arg(&config));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("Starting soon\n  bg"), "{text}");
    assert!(text.contains("colour  at 0,0 full fit (hidden)"), "{text}");

    // The built-in `test` scene records as `--video test` did.
    let rec = path_in(&dir, "test.mp4");
    let child = onair()
        .args([
            "broadcast",
            "--preset",
            "480p30",
            "--duration",
            "1",
            "--scene",
            "test",
            "--config",
        ])
        .arg(&empty)
        .arg("--record")
        .arg(&rec)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_success(child);
    let probe = crate::common::probe(&rec);
    let v = crate::common::stream(&probe, "video");
    assert_eq!(v["height"], 480);
}
