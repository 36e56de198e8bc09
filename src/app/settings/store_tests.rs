use super::*;
use crate::app::settings::{MIC_NAME, load_gui_toml};
use crate::config::mixer::{SourceKind, SourceSettings};

/// A gui.toml as the window wrote it before one configuration (main at f587832: every field,
/// none at its default).
pub(crate) const OLD_GUI_TOML: &str = include_str!("../../../tests/fixtures/gui.toml");

fn sample() -> Settings {
    let mut s = Settings::default();
    s.custom_presets.push(PresetSpec {
        name: "mine".into(),
        width: 640,
        height: 360,
        fps: 30,
        video_kbps: 800,
        audio_kbps: 96,
        keyframe_interval_s: 2,
    });
    s.preset = "mine".into();
    s.destinations.push(DestinationSettings {
        id: 3,
        name: "Twitch".into(),
        service: Service::Twitch,
        server: "rtmp://live.twitch.tv/app".into(),
        enabled: true,
    });
    s.destinations.push(DestinationSettings {
        id: 5,
        name: "W".into(),
        service: Service::Whip,
        server: "https://h/whip".into(),
        enabled: false,
    });
    s.mixer
        .sources
        .insert(0, SourceSettings::new(MIC_NAME, SourceKind::Microphone, ""));
    s.record_format = RecordFormat::Flv;
    s.preview_fps = Some(9);
    s.window_size = [1000.0, 700.0];
    s
}

#[test]
fn the_settings_round_trip_through_config_toml_and_window_toml() {
    let dir = tempfile::tempdir().unwrap();
    let s = sample();
    s.save_all(dir.path(), false).unwrap();
    let loaded = Settings::load_all(dir.path());
    assert_eq!(loaded.refused, None);
    assert_eq!(loaded.settings, s);
    let config = std::fs::read_to_string(dir.path().join(CONFIG_FILE)).unwrap();
    let window = std::fs::read_to_string(dir.path().join(WINDOW_FILE)).unwrap();
    assert!(config.starts_with("version = 1\n"), "{config}");
    for section in [
        "[[preset]]",
        "[[destination]]",
        "[mixer]",
        "[program]",
        "[recording]",
        "[hls]",
    ] {
        assert!(config.contains(section), "{section} missing:\n{config}");
    }
    assert!(
        !config.contains("window_size") && !config.contains("preview_fps"),
        "{config}"
    );
    assert!(
        window.contains("window_size") && window.contains("preview_fps = 9"),
        "{window}"
    );
    // The command line reads the same file: the preset, and the destinations by name with
    // their keys stored apart.
    let cli = Config::load_file(&dir.path().join(CONFIG_FILE)).unwrap();
    assert_eq!(cli.preset("mine").unwrap().width, 640);
    let d = cli.stored_key_destination("Twitch").unwrap();
    assert_eq!(
        (d.id, d.whip, d.server.as_str()),
        (3, false, "rtmp://live.twitch.tv/app")
    );
    assert!(cli.stored_key_destination("W").unwrap().whip);
    assert_eq!(cli.mixer.as_ref().unwrap().sources.len(), 2);
}

#[test]
fn saving_keeps_what_the_window_does_not_own_and_comments() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(CONFIG_FILE);
    let hand = "# My show: keep this comment.\n\
                [reconnect]\nmax_attempts = 7   # seven tries\n\n\
                [[sources]]\nname = \"bg\"\nkind = \"colour\"\ncolour = \"#203040\"\n\n\
                # The scenes I switch between.\n\
                [[scenes]]\nname = \"Starting soon\"\n\
                [[scenes.layers]]\nsource = \"bg\"\n\n\
                # Written by hand, key inline: kept for onair broadcast.\n\
                [[destination]]\nname = \"backup\"\nurl = \"rtmp://h/app/secret-key\"\n\n\
                [[preset]]\nname = \"tiny\"\nwidth = 320\nheight = 180\nfps = 15\nvideo_kbps = 300\n";
    std::fs::write(&path, hand).unwrap();
    let mut s = Settings::load_all(dir.path()).settings;
    assert_eq!(s.custom_presets.len(), 1);
    assert!(
        s.destinations.is_empty(),
        "a destination with its key inline is not shown"
    );
    // Saving what was loaded adds the window's sections, and changes nothing else.
    s.save_all(dir.path(), false).unwrap();
    let first = std::fs::read_to_string(&path).unwrap();
    for kept in [
        "# My show: keep this comment.",
        "max_attempts = 7   # seven tries",
        "# The scenes I switch between.",
        "[[scenes.layers]]",
        "url = \"rtmp://h/app/secret-key\"",
        "# Written by hand, key inline",
        "video_kbps = 300\n",
    ] {
        assert!(first.contains(kept), "lost {kept:?}:\n{first}");
    }
    // A save with no change writes nothing.
    let before = std::fs::metadata(&path).unwrap().modified().unwrap();
    s.save_all(dir.path(), false).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), first);
    assert_eq!(
        std::fs::metadata(&path).unwrap().modified().unwrap(),
        before
    );
    // A destination added, then edited: the hand-written one stays first, with its key.
    s.destinations.push(DestinationSettings {
        id: 1,
        name: "Twitch".into(),
        service: Service::Twitch,
        server: "rtmp://a/app".into(),
        enabled: true,
    });
    s.save_all(dir.path(), false).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let cli = Config::from_toml(&text, &path).unwrap();
    assert!(cli.destination("backup").is_some() && cli.stored_key_destination("Twitch").is_some());
    s.destinations[0].server = "rtmp://b/app".into();
    s.save_all(dir.path(), false).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("rtmp://b/app") && !text.contains("rtmp://a/app"),
        "{text}"
    );
    assert!(text.find("backup") < text.find("Twitch"), "{text}");
    assert!(text.contains("# The scenes I switch between."), "{text}");
    assert_eq!(Settings::load_all(dir.path()).settings, s);
    // Deleted in the window: gone from the file; the hand-written one stays.
    s.destinations.clear();
    s.save_all(dir.path(), false).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        !text.contains("Twitch") && text.contains("secret-key"),
        "{text}"
    );
    Config::from_toml(&text, &path).unwrap();
}

#[test]
fn a_broken_or_newer_file_is_refused_with_its_line_and_never_written() {
    for (text, line, what) in [
        (
            "[program]\npreset = \"720p30\"\n\n[[preset]]\nname = \"x\"\nwidth = 641\nheight = 360\nfps = 30\nvideo_kbps = 800\n",
            "line 6",
            "width 641 must be even",
        ),
        (
            "[recording]\nformat = \"Mp4\"\nfolderr = \"/tmp\"\n",
            "line 3",
            "unknown field `folderr`",
        ),
        ("[hls]\nserve = 8787\n", "line 2", "invalid type"),
        (
            "# from the future\nversion = 2\n[[studio]]\nname = \"x\"\n",
            "line 2",
            "newer onair",
        ),
        ("[[preset]\nname = \"x\"\n", "line 1", "is not valid"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CONFIG_FILE);
        std::fs::write(&path, text).unwrap();
        let loaded = Settings::load_all(dir.path());
        let why = loaded.refused.clone().unwrap_or_default();
        assert!(
            why.contains(&format!("{} {line}", path.display())) && why.contains(what),
            "{why:?} for\n{text}"
        );
        assert!(!why.contains('\n'), "one line: {why}");
        assert_eq!(loaded.settings, Settings::default());
        // Saved as the window does with the file refused: the file stays byte for byte.
        let mut s = loaded.settings;
        s.custom_presets = sample().custom_presets;
        s.save_all(dir.path(), true).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        // And a save that was not told still refuses to replace a broken file.
        assert!(s.save_all(dir.path(), false).is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }
}

#[test]
fn an_old_gui_toml_is_moved_in_with_every_field() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(OLD_FILE), OLD_GUI_TOML).unwrap();
    let old = load_gui_toml(&dir.path().join(OLD_FILE)).unwrap();
    // Every field differs from the defaults, so none can be lost unseen.
    let d = Settings::default();
    // The old video choice (screen + camera, a window, camera 1, top left, 30 %) became the
    // scene collection (issue 17's migration), which is moved in whole.
    assert!(old.preset != d.preset && old.sources != d.sources && old.scenes != d.scenes);
    assert!(old.record_folder != d.record_folder && old.record_format != d.record_format);
    assert!(
        old.confirm_stop_recording != d.confirm_stop_recording && old.hls_folder != d.hls_folder
    );
    assert!(old.preview_addr != d.preview_addr && old.preview_fps != d.preview_fps);
    assert!(old.window_size != d.window_size && old.mixer != d.mixer);
    assert_eq!((old.custom_presets.len(), old.destinations.len()), (1, 2));
    let loaded = Settings::load_all(dir.path());
    assert_eq!(loaded.refused, None);
    assert_eq!(loaded.errors, Vec::<String>::new());
    assert_eq!(loaded.settings, old);
    assert!(
        loaded.notes[0].contains("gui.toml.migrated"),
        "{:?}",
        loaded.notes
    );
    assert!(!dir.path().join(OLD_FILE).exists());
    assert_eq!(
        std::fs::read_to_string(dir.path().join(MIGRATED_FILE)).unwrap(),
        OLD_GUI_TOML
    );
    // The next start reads the new files alone, the same settings.
    assert_eq!(Settings::load_all(dir.path()).settings, old);
    let cli = Config::load_file(&dir.path().join(CONFIG_FILE)).unwrap();
    assert!(cli.preset("mine").is_ok());
    assert!(cli.stored_key_destination("Own WHIP").unwrap().whip);
}

#[test]
fn an_old_gui_toml_joins_an_existing_config_toml() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(OLD_FILE), OLD_GUI_TOML).unwrap();
    let cli_file = "# CLI user\n[[preset]]\nname = \"mine\"\nwidth = 1280\nheight = 720\nfps = 30\nvideo_kbps = 2500\n\n\
                    [[destination]]\nname = \"Twitch\"\nserver = \"rtmp://x/app\"\nkey = \"k\"\n";
    std::fs::write(dir.path().join(CONFIG_FILE), cli_file).unwrap();
    let loaded = Settings::load_all(dir.path());
    assert_eq!(loaded.errors, Vec::<String>::new());
    let s = loaded.settings;
    // config.toml's preset of the same name wins; the window's destination of a taken name
    // is renamed, not dropped.
    assert_eq!(s.custom_presets.len(), 1);
    assert_eq!(s.custom_presets[0].width, 1280);
    let names: Vec<_> = s.destinations.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["Twitch (2)", "Own WHIP"]);
    let text = std::fs::read_to_string(dir.path().join(CONFIG_FILE)).unwrap();
    assert!(
        text.starts_with("version = 1\n")
            && text.contains("# CLI user\n[[preset]]")
            && text.contains("key = \"k\""),
        "{text}"
    );
    let cli = Config::from_toml(&text, Path::new("c")).unwrap();
    assert!(
        cli.destination("Twitch").is_some() && cli.stored_key_destination("Twitch (2)").is_some()
    );
    assert_eq!(s.window_size, [1400.0, 900.0]);
}

#[test]
fn a_broken_gui_toml_is_left_where_it_is() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(OLD_FILE), "preset = 3\n").unwrap();
    let loaded = Settings::load_all(dir.path());
    assert!(
        loaded.errors[0].contains("was not moved"),
        "{:?}",
        loaded.errors
    );
    assert!(dir.path().join(OLD_FILE).exists() && !dir.path().join(MIGRATED_FILE).exists());
    assert!(!dir.path().join(CONFIG_FILE).exists());
}

#[test]
fn an_interrupted_write_leaves_the_old_file_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(CONFIG_FILE);
    let s = sample();
    s.save_all(dir.path(), false).unwrap();
    let before = std::fs::read(&path).unwrap();
    // The temporary file cannot be created (a folder is in its place).
    std::fs::create_dir(dir.path().join(".config.toml.tmp")).unwrap();
    let mut changed = s.clone();
    changed.custom_presets.clear();
    assert!(changed.save_all(dir.path(), false).is_err());
    assert_eq!(std::fs::read(&path).unwrap(), before);
    std::fs::remove_dir(dir.path().join(".config.toml.tmp")).unwrap();
    // The rename fails (the target is a non-empty folder): the temporary file is removed.
    let other = dir.path().join("other");
    std::fs::create_dir_all(other.join(CONFIG_FILE).join("x")).unwrap();
    let err = crate::config::file::write_atomic(&other.join(CONFIG_FILE), b"new", 0o644);
    assert!(err.is_err());
    assert!(!other.join(".config.toml.tmp").exists());
    // Permissions are kept.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        changed.save_all(dir.path(), false).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_ne!(std::fs::read(&path).unwrap(), before);
    }
}
