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
