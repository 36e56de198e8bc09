//! The command line's parsing: flags, lists and their errors.

use super::*;

#[test]
fn audio_lists_make_mixers_keeping_the_config_files_sources() {
    let config: MixerSettings = toml::from_str(
        r#"
        master_db = -3
        [[source]]
        name = "Voice"
        kind = "microphone"
        sync_offset_ms = 80
        [[source.filter]]
        type = "noise_suppression"
        [[source]]
        name = "Game"
        kind = "desktop"
        "#,
    )
    .unwrap();
    // No --audio: the file's mixer as it is; --mute mutes its microphones.
    let m = mixer_settings(Some(&config), None, None, true).unwrap();
    assert_eq!(m.sources.len(), 2);
    assert!(m.sources[0].muted && !m.sources[1].muted);
    // --audio: its sources, the file's settings for those it has.
    let list = parse_audio("tone@-20,mic@-6,mic:USB").unwrap().0;
    let m = mixer_settings(Some(&config), Some(&list), Some(-3.0), false).unwrap();
    let names: Vec<&str> = m.sources.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["Tone", "Voice", "Mic (USB)"]);
    assert_eq!(m.master_db, -3.0);
    assert_eq!(m.sources[0].volume_db, -20.0);
    assert_eq!(
        (m.sources[1].volume_db, m.sources[1].sync_offset_ms),
        (-6.0, 80)
    );
    assert_eq!(m.sources[1].filters.len(), 1);
    assert_eq!(m.sources[2].volume_db, -3.0, "--mic-gain for the rest");
    // Nothing at all: the tone, as before.
    let m = mixer_settings(None, None, None, false).unwrap();
    assert_eq!(m.sources[0].kind, SourceKind::Tone);
    let twice = parse_audio("mic,mic").unwrap().0;
    let m = mixer_settings(None, Some(&twice), None, false).unwrap();
    assert_eq!(m.sources[1].name, "Mic 2");
}

#[test]
fn seconds_parse_exactly() {
    assert_eq!(parse_seconds("10").unwrap(), MediaTime::from_secs(10));
    assert_eq!(parse_seconds("2.5").unwrap(), MediaTime::from_millis(2_500));
    assert_eq!(parse_seconds("0.040").unwrap(), MediaTime::from_millis(40));
    assert_eq!(parse_seconds(".5").unwrap(), MediaTime::from_millis(500));
    for bad in [
        "",
        ".",
        "-1",
        "1.2.3",
        "abc",
        "1.-5",
        "0",
        "9223372036854775807",
    ] {
        assert!(parse_seconds(bad).is_err(), "{bad}");
    }
}

#[test]
fn sources_parse() {
    assert_eq!(
        parse_video("screen").unwrap(),
        VideoSourceKind::Screen(ScreenTarget::Monitor(0))
    );
    assert_eq!(
        parse_video("screen:2").unwrap(),
        VideoSourceKind::Screen(ScreenTarget::Monitor(2))
    );
    assert_eq!(
        parse_video("window:Firefox").unwrap(),
        VideoSourceKind::Screen(ScreenTarget::Window("Firefox".into()))
    );
    assert_eq!(
        parse_video("camera:Logitech C920").unwrap(),
        VideoSourceKind::Camera(CameraTarget::Name("Logitech C920".into()))
    );
    assert_eq!(
        parse_video("screen:1+camera:0").unwrap(),
        VideoSourceKind::ScreenWithCamera {
            screen: ScreenTarget::Monitor(1),
            camera: CameraTarget::Index(0),
            pip: PipLayout::default()
        }
    );
    for bad in ["screen:x", "window", "cam", "screen+mic", ""] {
        assert!(parse_video(bad).is_err(), "{bad}");
    }
    let item = |kind, device: &str, gain_db| AudioItem {
        kind,
        device: device.into(),
        gain_db,
    };
    assert_eq!(
        parse_audio("mic").unwrap().0,
        [item(SourceKind::Microphone, "", None)]
    );
    assert_eq!(
        parse_audio("mic:USB+tone").unwrap().0,
        [
            item(SourceKind::Microphone, "USB", None),
            item(SourceKind::Tone, "", None)
        ]
    );
    assert_eq!(
        parse_audio("mic,desktop@-10,tone@-20").unwrap().0,
        [
            item(SourceKind::Microphone, "", None),
            item(SourceKind::Desktop, "", Some(-10.0)),
            item(SourceKind::Tone, "", Some(-20.0))
        ]
    );
    assert_eq!(
        parse_audio("mic:a@b@3").unwrap().0,
        [item(SourceKind::Microphone, "a@b", Some(3.0))]
    );
    assert!(parse_audio("none").unwrap().0.is_empty());
    for bad in [
        "microphone",
        "mic,",
        "tone@loud",
        "tone@-200",
        "none,mic",
        "tone:x",
        "",
    ] {
        assert!(parse_audio(bad).is_err(), "{bad}");
    }
    assert_eq!(
        parse_pip("top-left:30").unwrap(),
        PipLayout {
            corner: Corner::TopLeft,
            width_percent: 30
        }
    );
    assert!(parse_pip("middle").is_err() && parse_pip("top-left:200").is_err());
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

    /// Every flag parser of user text: an answer, never a panic (`--serve` is left out: it
    /// resolves host names).
    #[test]
    fn flag_parsers_answer_any_text(
        text in "\\PC{0,24}",
        number in "-?[0-9]{0,22}(\\.[0-9]{0,12})?",
        source in "(screen|window|camera|mic|y4m|tone|test|none|\\PC{0,4})(:\\PC{0,6})?(\\+(camera|tone|mic|\\PC{0,3})(:\\PC{0,4})?)?",
        pip in "(top-left|bottom-right|\\PC{0,6})(:(-?[0-9]{0,5}|\\PC{0,3}))?",
    ) {
        for t in [&text, &number, &source, &pip] {
            if let Ok(d) = parse_seconds(t) {
                proptest::prop_assert!(d > MediaTime::ZERO);
            }
            let _ = parse_video(t);
            let _ = parse_audio(t);
            if let Ok(p) = parse_pip(t) {
                proptest::prop_assert!((5..=100).contains(&p.width_percent));
            }
        }
    }
}
