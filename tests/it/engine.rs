//! The engine through its library API, as the GUI will drive it.

use std::time::Duration;

use crate::common::*;
use onair::capture::VideoSourceKind;
use onair::config::Config;
use onair::config::mixer::{MixerSettings, SourceKind, SourceSettings};
use onair::output::{OutputSpec, RecordingFormat};
use onair::pipeline::{EngineConfig, EngineHandle, OutputState, Pacing};

/// A recording started mid-stream begins at the next keyframe, at its own time zero, and
/// decodes; the recording that was already running is untouched by the join.
#[test]
fn an_output_joins_mid_stream_at_a_keyframe_and_its_own_zero() {
    let dir = tempdir();
    let (first, second) = (path_in(&dir, "first.mp4"), path_in(&dir, "second.flv"));
    let preset = Config::builtin().preset("480p30").unwrap().clone();
    let mut engine = EngineHandle::start(EngineConfig {
        preset,
        video: VideoSourceKind::Test,
        audio: MixerSettings::with_sources(vec![SourceSettings::new("Tone", SourceKind::Tone, "")]),
        duration: None,
        outputs: vec![OutputSpec::Recording {
            path: first.clone(),
            format: RecordingFormat::Mp4,
        }],
        pacing: Pacing::RealTime,
        encoder_threads: 1,
        video_tuning: None,
    })
    .unwrap();
    wait_for(Duration::from_secs(30), "2.5 s of media", || {
        engine.now().as_millis_floor() >= 2_500
    });
    let id = engine
        .add_output(&OutputSpec::Recording {
            path: second.clone(),
            format: RecordingFormat::Flv,
        })
        .unwrap();
    wait_for(Duration::from_secs(30), "6.5 s of media", || {
        engine.now().as_millis_floor() >= 6_500
    });
    engine.remove_output(id);
    let joined = engine.snapshot();
    assert_eq!(joined.outputs.len(), 2);
    assert_eq!(
        joined
            .outputs
            .iter()
            .find(|o| o.name.ends_with("second.flv"))
            .unwrap()
            .state,
        OutputState::Stopped
    );
    wait_for(Duration::from_secs(30), "7 s of media", || {
        engine.now().as_millis_floor() >= 7_000
    });
    let last = engine.stop();
    assert!(
        last.outputs
            .iter()
            .all(|o| o.state == OutputState::Stopped && o.dropped_queue_full == 0),
        "{last:?}"
    );

    // The joined file: starts at its own zero with the 4 s keyframe, about 2.5 s long, clean.
    let packets = video_packets(&second);
    assert!(
        packets[0].1,
        "first packet of the joined output is a keyframe"
    );
    assert_eq!(packets[0].0, 0.0);
    let p = probe(&second);
    let duration = num(&p["format"]["duration"]);
    assert!(
        (2.0..=3.0).contains(&duration),
        "joined output lasted {duration} s"
    );
    assert!(decode_errors(&second, &[]).is_empty());

    // The first file never missed a frame: continuous 30 fps from 0, across the join.
    let first_packets = video_packets(&first);
    // Every slot holds a picture: encoded, or a repeat where the machine stalled the engine.
    let pictures = (last.video.encoded + last.video.repeated) as usize;
    assert_eq!(first_packets.len(), pictures, "{:?}", last.video);
    for (n, (t, _)) in first_packets.iter().enumerate() {
        assert!((t - n as f64 / 30.0).abs() < 0.001, "frame {n} at {t}");
    }
    assert!(decode_errors(&first, &[]).is_empty());
    // The join forced no keyframe: the running file keeps its 2 s cadence.
    let keys: Vec<f64> = first_packets
        .iter()
        .filter(|(_, k)| *k)
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(
        keys,
        [0.0, 2.0, 4.0, 6.0],
        "keyframes of the running output"
    );
}

/// The engine runs with no output: the program (sources, mixer, preview) goes on, no encoder
/// runs. The first output starts the encoders: its file begins with a keyframe at its own
/// zero, with its audio whole from there (AAC pre-roll) and in sync; the last output's leaving
/// stops them, and an output after that starts them again, the same way. The engine's clock
/// runs on across all of it.
#[test]
fn the_encoders_start_with_the_first_output_and_stop_with_the_last() {
    let dir = tempdir();
    let (first, second) = (path_in(&dir, "first.mp4"), path_in(&dir, "second.mp4"));
    let preset = Config::builtin().preset("480p30").unwrap().clone();
    let mut engine = EngineHandle::start(EngineConfig {
        preset,
        video: VideoSourceKind::Test,
        audio: MixerSettings::with_sources(vec![SourceSettings::new("Tone", SourceKind::Tone, "")]),
        duration: None,
        outputs: Vec::new(),
        pacing: Pacing::RealTime,
        encoder_threads: 1,
        video_tuning: None,
    })
    .unwrap();
    engine.preview().set_fps(10);
    wait_for(Duration::from_secs(30), "1.3 s of program", || {
        engine.now().as_millis_floor() >= 1_300
    });
    let idle = engine.snapshot();
    assert!(!engine.encoding());
    assert_eq!(idle.video.encoded, 0, "{idle:?}");
    assert!(idle.video.captured >= 30, "{idle:?}");
    assert!(engine.preview().seq() > 0, "no preview picture while idle");
    let levels = engine.audio_levels();
    wait_for(Duration::from_secs(5), "the program's audio level", || {
        levels.get().is_some()
    });
    for (path, from) in [(&first, 1_300), (&second, 5_700)] {
        wait_for(Duration::from_secs(30), "the next start", || {
            engine.now().as_millis_floor() >= from
        });
        let id = engine
            .add_output(&OutputSpec::Recording {
                path: path.clone(),
                format: RecordingFormat::Mp4,
            })
            .unwrap();
        assert!(engine.encoding());
        wait_for(Duration::from_secs(30), "3.2 s of recording", || {
            engine.now().as_millis_floor() >= from + 3_200
        });
        engine.remove_output(id);
        assert!(!engine.encoding(), "the encoders run on without an output");
    }
    let last = engine.stop();
    assert!(
        last.outputs
            .iter()
            .all(|o| o.state == OutputState::Stopped && o.dropped_queue_full == 0),
        "{last:?}"
    );
    for path in [&first, &second] {
        let packets = video_packets(path);
        assert!(packets[0].1, "{path:?} starts with a keyframe");
        assert_eq!(packets[0].0, 0.0, "{path:?}");
        assert!(
            (85..=110).contains(&packets.len()),
            "{path:?}: {} frames",
            packets.len()
        );
        assert!(decode_errors(path, &[]).is_empty(), "{path:?}");
        // Audio from the file's zero (the pre-roll hidden by the edit list).
        let (_, start) = audio_samples(path);
        assert!(
            (-0.043..0.001).contains(&start),
            "{path:?}: audio starts at {start} s"
        );
        // The engine's whole seconds (white square, beep) stay together in the file.
        let squares = markers(path, 480).squares.len();
        assert!(squares >= 2, "{path:?}: {squares} white squares");
        assert_in_sync(path, 480, squares);
    }
}
