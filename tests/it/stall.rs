//! A stall: the whole process frozen (SIGSTOP) for a moment, as a loaded machine's scheduler
//! does, then resumed. Every output must keep time across it: audio is never shortened, video
//! keeps a picture per frame interval and its keyframes every 2 s of stream time.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use crate::common::peers::{Nginx, NginxOptions};
use crate::common::*;
use serde_json::Value;

/// Seconds recorded.
const SECONDS: usize = 12;

/// One 12 s 720p30 broadcast to MP4, FLV and nginx, frozen for 1.2 s from about 4.5 s in.
struct Take {
    _dir: tempfile::TempDir,
    _nginx: Nginx,
    mp4: PathBuf,
    flv: PathBuf,
    rtmp: PathBuf,
    stats: Value,
}

fn take() -> &'static Take {
    static TAKE: OnceLock<Take> = OnceLock::new();
    TAKE.get_or_init(|| {
        let nginx = Nginx::start(NginxOptions::default());
        let dir = tempdir();
        let (mp4, flv, stats) = (
            path_in(&dir, "take.mp4"),
            path_in(&dir, "take.flv"),
            path_in(&dir, "stats.jsonl"),
        );
        let path = |p: &PathBuf| p.to_str().unwrap().to_owned();
        let url = nginx.rtmp_url("live", "stall");
        let child = spawn_broadcast([
            "--video".to_owned(),
            "test".into(),
            "--audio".into(),
            "tone".into(),
            "--duration".into(),
            SECONDS.to_string(),
            "--record".into(),
            path(&mp4),
            "--record".into(),
            path(&flv),
            "--rtmp".into(),
            url,
            "--stats".into(),
            path(&stats),
        ]);
        std::thread::sleep(Duration::from_millis(4_500));
        freeze(&child, Duration::from_millis(1_200));
        wait_success(child);
        nginx.wait_recording_closed(Duration::from_secs(10));
        let rtmp = nginx
            .recordings()
            .into_iter()
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("stall")
            })
            .expect("nginx recorded the stream");
        Take {
            stats: last_stats(&stats).unwrap(),
            _dir: dir,
            _nginx: nginx,
            mp4,
            flv,
            rtmp,
        }
    })
}

/// The stall happened: the queue before the H.264 encoder overflowed, and those slots were
/// filled; audio lost nothing.
#[test]
fn the_stall_dropped_frames_before_the_encoder_and_no_audio() {
    let s = &take().stats;
    let dropped = s["video"]["dropped_encoder_queue"].as_u64().unwrap();
    assert!(dropped > 0, "no frame dropped: no stall? {s}");
    assert_eq!(s["video"]["repeated"].as_u64(), Some(dropped), "{s}");
    assert_eq!(s["audio"]["dropped_encoder_queue"], 0, "{s}");
    assert_eq!(s["audio"]["silence_filled_samples"], 0, "{s}");
}

#[test]
fn after_a_stall_the_mp4_keeps_time() {
    let t = take();
    assert_clean_h264_aac(&t.mp4, 359.0, 361.0);
    assert_keeps_time_across_stalls(&t.mp4, SECONDS, 1);
}

#[test]
fn after_a_stall_the_flv_keeps_time() {
    let t = take();
    assert_clean_h264_aac(&t.flv, 359.0, 361.0);
    assert_keeps_time_across_stalls(&t.flv, SECONDS, 1);
}

/// The MP4's audio starts whole at 0 (the first 20 ms): the encoder's priming packet is kept
/// as pre-roll and the edit list hides it. (FLV can hold neither: its first frame fades in.)
#[test]
fn the_mp4_audio_starts_whole_at_zero() {
    assert_audio_starts_whole(&take().mp4);
}

/// What nginx recorded keeps time too, every frame there: the stall's backlog reaches the
/// RTMP send queue at once, more media than its 900 ms congestion threshold, but a link that
/// takes it at once is not congested (nothing had waited), so no frame is dropped.
#[test]
fn after_a_stall_the_rtmp_stream_keeps_time() {
    let t = take();
    assert_clean_h264_aac(&t.rtmp, 359.0, 361.0);
    assert_keeps_time_across_stalls(&t.rtmp, SECONDS, 1);
    let rtmp = t.stats["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == "rtmp")
        .unwrap();
    assert_eq!(rtmp["dropped_network"], 0, "{rtmp}");
}

/// A picture every frame interval and a keyframe every 2 s of stream time, across the stall.
#[test]
fn after_a_stall_keyframes_stay_two_seconds_apart() {
    for path in [&take().mp4, &take().flv] {
        let packets = video_packets(path);
        for (n, (t, key)) in packets.iter().enumerate() {
            assert!(
                (t - n as f64 / 30.0).abs() < 0.002,
                "{path:?}: frame {n} at {t}"
            );
            assert_eq!(*key, n % 60 == 0, "{path:?}: frame {n}");
        }
    }
}
