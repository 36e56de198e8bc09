//! One configuration: what the window saves in `config.toml` is what `onair broadcast` uses;
//! an old `gui.toml` is moved in; a refused file is never written.

use std::path::Path;
use std::process::Command;

use crate::common::gui::harness;
use crate::common::peers::{Nginx, NginxOptions};
use crate::common::*;
use egui_kittest::kittest::Queryable as _;
use onair::app::services::Service;
use onair::app::{Action, AppState};
use onair::config::PresetSpec;

/// `onair` reading the config folder `dir` (its keys in `keys.toml`, not a keyring).
pub(crate) fn onair_in(dir: &Path) -> Command {
    let mut c = onair();
    c.env("ONAIR_CONFIG_DIR", dir).env("ONAIR_KEYRING", "off");
    c
}

/// Makes `preset` and the RTMP destination "My nginx" (to `nginx`'s `live` application, its
/// stream key `key` in the key store, not the file) through the window's actions, as its
/// presets and destinations panels push them, and saves.
pub(crate) fn make_preset_and_destination(
    app: &mut AppState,
    preset: PresetSpec,
    nginx: &Nginx,
    key: &str,
) {
    let before = app.edits();
    app.apply(Action::SavePreset(preset));
    app.apply(Action::AddDestination);
    let d = app.settings.destinations.last_mut().unwrap();
    d.name = "My nginx".into();
    d.service = Service::Custom;
    d.server = format!("rtmp://127.0.0.1:{}/live", nginx.rtmp_port());
    let id = d.id;
    app.keys.set(id, key.into());
    app.after_edits(before);
}

/// The average colour of the first frame of `file`, RGB.
fn mean_rgb(file: &Path) -> [u8; 3] {
    let out = run_ok(
        Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(file)
            .args([
                "-vf",
                "scale=1:1:flags=area",
                "-frames:v",
                "1",
                "-f",
                "rawvideo",
                "-pix_fmt",
                "rgb24",
                "-",
            ]),
    );
    [out.stdout[0], out.stdout[1], out.stdout[2]]
}

/// A preset and a destination made through the window's actions (its stream key in the key
/// store, not the file), beside a scene written in config.toml with comments: the window's
/// save keeps the scene and the comments, and `onair broadcast --preset P --rtmp NAME --scene
/// S` goes live to nginx with that key, at that size, showing that scene.
#[test]
fn what_the_window_saves_is_what_broadcast_uses() {
    let nginx = Nginx::start(NginxOptions::default());
    let config = tempdir();
    let path = config.path().join("config.toml");
    let hand = "# My show.\n\
                [[sources]]\nname = \"backdrop\"\nkind = \"colour\"\ncolour = \"#c03020\"\n\n\
                # Shown before the show starts.\n\
                [[scenes]]\nname = \"Starting soon\"\n[[scenes.layers]]\nsource = \"backdrop\"\n";
    std::fs::write(&path, hand).unwrap();
    let mut h = harness(config.path());
    h.run_steps(2);
    let app = h.state_mut().app_mut();
    let preset = PresetSpec {
        name: "window-small".into(),
        width: 320,
        height: 180,
        fps: 15,
        video_kbps: 400,
        audio_kbps: 96,
        keyframe_interval_s: 1,
    };
    make_preset_and_destination(app, preset, &nginx, "fromwindow");
    app.exit();
    drop(h);

    let saved = std::fs::read_to_string(&path).unwrap();
    for kept in [
        "# My show.",
        "# Shown before the show starts.",
        "[[scenes.layers]]",
    ] {
        assert!(saved.contains(kept), "lost {kept:?}:\n{saved}");
    }
    assert!(saved.contains("name = \"window-small\""), "{saved}");
    assert!(saved.contains("name = \"My nginx\""), "{saved}");
    assert!(
        !saved.contains("fromwindow"),
        "a key in config.toml:\n{saved}"
    );
    let keys = std::fs::read_to_string(config.path().join("keys.toml")).unwrap();
    assert!(keys.contains("fromwindow"));

    let out = run_ok(onair_in(config.path()).args([
        "broadcast",
        "--preset",
        "window-small",
        "--rtmp",
        "My nginx",
        "--scene",
        "Starting soon",
        "--duration",
        "2",
    ]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("fromwindow"), "{stderr}");
    nginx.wait_recording_closed(std::time::Duration::from_secs(10));
    let rec = nginx.recordings();
    assert_eq!(rec.len(), 1, "{rec:?}");
    let name = rec[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("fromwindow-"), "published under {name}");
    let p = probe(&rec[0]);
    let v = stream(&p, "video");
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(320), Some(180))
    );
    // The scene's colour, not the test pattern.
    let [r, g, b] = mean_rgb(&rec[0]);
    assert!(
        r.abs_diff(0xc0) < 12 && g.abs_diff(0x30) < 12 && b.abs_diff(0x20) < 12,
        "{r} {g} {b}"
    );
}

/// A broken file and one from a newer onair: the window starts with the defaults and says why
/// (file and line), saves nothing over it, and the command line exits 1 with that one line.
#[test]
fn a_refused_config_stays_byte_for_byte_and_is_one_line() {
    for (text, line, what) in [
        (
            "# mine\n[[preset]]\nname = \"x\"\nwidth = 641\nheight = 360\nfps = 30\nvideo_kbps = 800\n",
            "line 4",
            "width 641 must be even",
        ),
        (
            "version = 9\n[[studio]]\nname = \"x\"\n",
            "line 1",
            "written by a newer onair",
        ),
    ] {
        let config = tempdir();
        let path = config.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        let at = format!("{} {line}", path.display());
        let mut h = harness(config.path());
        h.run_steps(3);
        assert!(
            h.query_by_label_contains(&at).is_some(),
            "the window does not show {at:?}"
        );
        let app = h.state_mut().app_mut();
        let before = app.edits();
        app.apply(Action::AddDestination);
        app.after_edits(before);
        app.exit();
        drop(h);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        let take = config.path().join("x.mp4");
        let take = take.to_str().unwrap();
        for args in [
            &["presets"][..],
            &["scenes"],
            &["broadcast", "--record", take],
        ] {
            let out = onair_in(config.path()).args(args).output().unwrap();
            assert_eq!(out.status.code(), Some(1), "{args:?}");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(stderr.lines().count(), 1, "{stderr}");
            assert!(stderr.contains(&at) && stderr.contains(what), "{stderr}");
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        assert!(!Path::new(take).exists());
    }
}

/// A gui.toml from before one configuration is moved in on the first start, and the command
/// line sees its presets and destinations.
#[test]
fn an_old_gui_toml_is_moved_in_on_the_first_start() {
    let config = tempdir();
    let old = include_str!("../fixtures/gui.toml");
    std::fs::write(config.path().join("gui.toml"), old).unwrap();
    let h = harness(config.path());
    let s = h.state().settings().clone();
    drop(h);
    assert_eq!(s.preset, "mine");
    assert_eq!(s.record_folder, Path::new("/home/me/Takes"));
    assert_eq!(s.window_size, [1400.0, 900.0]);
    assert_eq!(s.destinations.len(), 2);
    assert!(!config.path().join("gui.toml").exists());
    assert_eq!(
        std::fs::read_to_string(config.path().join("gui.toml.migrated")).unwrap(),
        old
    );
    let out = run_ok(onair_in(config.path()).args(["presets", "--json"]));
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"mine\""));
}

/// Without `--preset` and `--scene`, `onair broadcast` shows what the window last had on its
/// program (`[program]`): its preset's size and its scene, not 720p30 and the first scene. A
/// `[program]` preset that is not one is refused in one line naming it.
#[test]
fn broadcast_follows_the_window_program_when_not_told() {
    let config = tempdir();
    let path = config.path().join("config.toml");
    let show = "[program]\npreset = \"tiny\"\nscene = \"Live\"\n\n\
                [[preset]]\nname = \"tiny\"\nwidth = 320\nheight = 180\nfps = 15\nvideo_kbps = 300\n\n\
                [[sources]]\nname = \"red\"\nkind = \"colour\"\ncolour = \"#c03020\"\n\n\
                [[sources]]\nname = \"blue\"\nkind = \"colour\"\ncolour = \"#2040c0\"\n\n\
                [[scenes]]\nname = \"Starting soon\"\n[[scenes.layers]]\nsource = \"red\"\n\n\
                [[scenes]]\nname = \"Live\"\n[[scenes.layers]]\nsource = \"blue\"\n";
    std::fs::write(&path, show).unwrap();
    // `onair broadcast` told neither preset nor scene, recording 1 s to `file`.
    let untold = |file: &Path| {
        let mut c = onair_in(config.path());
        c.args([
            "broadcast",
            "--audio",
            "none",
            "--duration",
            "1",
            "--record",
        ])
        .arg(file);
        c
    };
    let rec = config.path().join("show.mp4");
    run_ok(&mut untold(&rec));
    let p = probe(&rec);
    let v = stream(&p, "video");
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(320), Some(180))
    );
    let [r, g, b] = mean_rgb(&rec);
    assert!(
        r.abs_diff(0x20) < 12 && g.abs_diff(0x40) < 12 && b.abs_diff(0xc0) < 12,
        "not the Live scene's blue: {r} {g} {b}"
    );

    std::fs::write(
        &path,
        show.replace("preset = \"tiny\"", "preset = \"gone\""),
    )
    .unwrap();
    let out = untold(&config.path().join("never.mp4")).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("[program] preset \"gone\"") && stderr.contains("--preset"),
        "{stderr}"
    );
    assert!(!config.path().join("never.mp4").exists());
}
