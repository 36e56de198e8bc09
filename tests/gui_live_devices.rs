//! A screen added to the scene while recording, in the window (kittest over the real app and
//! engine, a screen of a private Xvfb): it shows in the recording within moments of the edit,
//! in the same continuous file, the encoders and the recording never restarted; removed, its
//! capture thread ends and the scene is as before.
//!
//! One test in this binary: it points the whole process at its own display (the screen
//! grabber reads `DISPLAY`) before the app starts any thread.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report
#![allow(unsafe_code)] // `set_var` before any other thread of this binary exists

#[path = "it/common/mod.rs"]
#[allow(dead_code)] // this binary uses a few of the shared helpers
mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::desktop::Xvfb;
use common::gui::{harness_sized, run_until};
use common::*;
use eframe::egui;
use egui_kittest::kittest::Queryable as _;
use onair::app::keystore::KeyringUse;
use onair::ui::OnairApp;

/// The decoded pictures are judged at a quarter of the program's size (854x480 -> 214x120).
const SMALL: (usize, usize) = (214, 120);

/// What a decoded picture shows, judged by two areas: inside the red window on the screen,
/// and far from it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Seen {
    /// The scene before the edit: its blue background everywhere.
    Blue,
    /// The screen: the red window where it is, the black screen around it.
    Screen,
    Other([[u8; 3]; 2]),
}

fn mean(frame: &[u8], (x0, y0, x1, y1): (usize, usize, usize, usize)) -> [u8; 3] {
    let mut sum = [0u64; 3];
    for y in y0..y1 {
        for x in x0..x1 {
            let i = (y * SMALL.0 + x) * 3;
            for (c, s) in sum.iter_mut().enumerate() {
                *s += u64::from(frame[i + c]);
            }
        }
    }
    let n = ((x1 - x0) * (y1 - y0)) as u64;
    sum.map(|s| (s / n) as u8)
}

fn judge(frame: &[u8]) -> Seen {
    // The red window is at (200, 150), 300x200 screen pixels: (50, 37)..(125, 87) here.
    let inside = mean(frame, (60, 47, 115, 78));
    let far = mean(frame, (150, 95, 210, 117));
    let is = |[r, g, b]: [u8; 3], want: [u8; 3]| {
        r.abs_diff(want[0]) < 50 && g.abs_diff(want[1]) < 50 && b.abs_diff(want[2]) < 50
    };
    let blue = [0, 0, 255];
    if is(inside, blue) && is(far, blue) {
        Seen::Blue
    } else if is(inside, [255, 0, 0]) && is(far, [0, 0, 0]) {
        Seen::Screen
    } else {
        Seen::Other([inside, far])
    }
}

/// How many threads of this process capture a screen (`cap-screen`).
fn screen_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim() == "cap-screen")
        .count()
}

/// Every decoded picture of `path`, at [`SMALL`] size, RGB24.
fn small_frames(path: &Path) -> Vec<Vec<u8>> {
    let out = run_ok(
        Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-i"])
            .arg(path)
            .args([
                "-vf",
                &format!("scale={}:{}:flags=area", SMALL.0, SMALL.1),
                "-fps_mode",
                "passthrough",
                "-f",
                "rawvideo",
                "-pix_fmt",
                "rgb24",
                "-",
            ]),
    );
    out.stdout
        .chunks_exact(SMALL.0 * SMALL.1 * 3)
        .map(<[u8]>::to_vec)
        .collect()
}

#[test]
fn a_screen_added_while_recording_shows_at_once_in_the_same_recording() {
    let x = Xvfb::start(854, 480);
    let _red = x.picture(200, 150, "300x200", "xc:#ff0000");
    // SAFETY: the only test of this binary, and no thread of its own has started yet (the
    // servers above are child processes).
    unsafe {
        std::env::set_var("DISPLAY", &x.display);
        std::env::remove_var("WAYLAND_DISPLAY");
    }
    let config = tempdir();
    let takes = tempdir();
    std::fs::write(
        config.path().join("gui.toml"),
        format!(
            "preset = \"480p30\"\nrecord_folder = \"{}\"\nscene = \"Show\"\n\
             [[sources]]\nname = \"bg\"\nkind = \"colour\"\ncolour = \"#0000FF\"\n\
             [[scenes]]\nname = \"Show\"\n[[scenes.layers]]\nsource = \"bg\"\n",
            takes.path().display()
        ),
    )
    .unwrap();
    let mut h = harness_sized(config.path(), KeyringUse::Off, egui::vec2(1280.0, 1400.0));
    h.run_steps(2);
    assert_eq!(screen_threads(), 0);
    h.get_by_label("Record").click();
    let recording_for = |a: &OnairApp| a.view().recording.since.map(|t| t.elapsed());
    run_until(&mut h, "2 s of recording", |a| {
        recording_for(a).is_some_and(|t| t >= Duration::from_secs(2))
    });

    // Add to scene -> New Screen: monitor 0, on top, at the program's size.
    h.get_by_label("Add to scene").click();
    h.run_steps(2);
    h.get_by_label("New Screen").click();
    let edited_at = recording_for(h.state()).unwrap();
    h.run_steps(1);
    let scene = &h.state().settings().scenes[0];
    assert_eq!(scene.layers.len(), 2, "{scene:?}");
    run_until(&mut h, "the screen opened", |_| screen_threads() == 1);
    let added = Instant::now();
    run_until(&mut h, "3 s more", |_| {
        added.elapsed() >= Duration::from_secs(3)
    });
    // Removed (the new layer is the selected one): the screen is closed, the scene is blue
    // again.
    h.get_by_label("Remove layer").click();
    h.run_steps(2);
    assert_eq!(h.state().settings().scenes[0].layers.len(), 1);
    run_until(&mut h, "the screen closed", |_| screen_threads() == 0);
    let removed = Instant::now();
    run_until(&mut h, "1.5 s more", |_| {
        removed.elapsed() >= Duration::from_millis(1500)
    });
    assert!(
        h.state().view().recording.since.is_some(),
        "still recording"
    );
    h.get_by_label("Stop recording").click();
    h.run_steps(4);
    let stop = h.get_all_by_label("Stop recording").collect::<Vec<_>>();
    stop.last().unwrap().click();
    run_until(&mut h, "the encoders to stop", |a| !a.view().encoding);
    drop(h);

    let files: Vec<_> = std::fs::read_dir(takes.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "mp4"))
        .collect();
    assert_eq!(files.len(), 1, "one recording: {files:?}");
    let file = &files[0];

    // One continuous file: one video track, every frame of the grid there, in order.
    let p = probe(file);
    let videos = p["streams"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["codec_type"] == "video")
        .count();
    assert_eq!(videos, 1, "{p}");
    let errors = decode_errors(file, &[]);
    assert!(errors.is_empty(), "{errors}");
    let mut pts: Vec<f64> = video_packets(file).iter().map(|&(t, _)| t).collect();
    pts.sort_by(f64::total_cmp);
    let span = pts[pts.len() - 1] - pts[0];
    assert!(span > 6.0, "{span} s recorded");
    for w in pts.windows(2) {
        let step = w[1] - w[0];
        assert!(
            (0.02..0.05).contains(&step),
            "a gap or a repeat of {step:.3} s at {:.3} s",
            w[0]
        );
    }
    let frames = num(&stream(&p, "video")["nb_read_frames"]) as usize;
    assert_eq!(frames, pts.len());
    assert_eq!(frames, (span * 30.0).round() as usize + 1, "one per 1/30 s");

    // Blue before the edit; then the screen (the red window where it is on the black
    // screen), from within moments of the edit to the end: no slate, no black in between.
    let seen: Vec<Seen> = small_frames(file).iter().map(|f| judge(f)).collect();
    assert_eq!(seen.len(), frames);
    let first_screen = seen
        .iter()
        .position(|s| *s == Seen::Screen)
        .unwrap_or_else(|| panic!("the screen never shows: {:?}", &seen[seen.len() - 3..]));
    let at = pts[first_screen] - pts[0];
    println!(
        "edit at about {:.3} s of recording; first screen frame {first_screen} at {at:.3} s",
        edited_at.as_secs_f64()
    );
    assert!(
        at > 1.5 && at < edited_at.as_secs_f64() + 1.0,
        "the screen shows at {at:.3} s, the edit was at {:.3} s",
        edited_at.as_secs_f64()
    );
    let before = &seen[..first_screen];
    let others = before.iter().filter(|s| **s != Seen::Blue).count();
    assert!(others <= 1, "before the screen: {before:?}");
    let last_screen = seen.iter().rposition(|s| *s == Seen::Screen).unwrap();
    let shown = &seen[first_screen..=last_screen];
    assert!(
        shown.iter().all(|s| *s == Seen::Screen),
        "while the screen was in the scene: {:?}",
        shown
            .iter()
            .filter(|s| **s != Seen::Screen)
            .collect::<Vec<_>>()
    );
    assert!(shown.len() >= 60, "{} frames of the screen", shown.len());
    // After the removal: blue to the end.
    let after = &seen[last_screen + 1..];
    assert!(
        after.len() >= 30,
        "{} frames after the removal",
        after.len()
    );
    let others = after.iter().filter(|s| **s != Seen::Blue).count();
    assert!(others <= 1, "after the removal: {after:?}");
}
