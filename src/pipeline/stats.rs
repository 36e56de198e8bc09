//! Counters shared with the capture and encode threads (atomics) and the plain snapshots made
//! from them, with each output's own snapshot ([`crate::output::counters`]) inside.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::capture::{SourceCounters, SourceSnapshot};
use crate::mix::monitor::MonitorSnapshot;
use crate::mix::{MixerControls, StripSnapshot};
use crate::output::OutputSnapshot;

/// Counters of the capture and encode stages. Every drop, at every edge, is counted here or
/// in an output's [`OutputCounters`](crate::output::OutputCounters).
#[derive(Debug, Default)]
pub struct EngineCounters {
    pub video_captured: AtomicU64,
    /// Frames produced after their time had passed by more than one frame interval.
    pub video_late: AtomicU64,
    /// Frames dropped because the encoder's queue was full (OBS: "skipped, encoding lag").
    pub video_dropped_encoder_queue: AtomicU64,
    pub video_encoded: AtomicU64,
    /// Frames the encoder returned no picture for.
    pub video_encoder_skipped: AtomicU64,
    /// Pictures put in slots that dropped frames left empty: repeats of the picture before
    /// (a few bytes each), or that picture encoded again on a keyframe time.
    pub video_repeated: AtomicU64,
    pub video_encode_nanos: AtomicU64,
    /// Time the video source spent producing frames (the test pattern's fill, a Y4M read).
    pub video_source_nanos: AtomicU64,
    /// CPU time of the H.264 thread, set when it ends.
    pub video_encoder_thread_cpu_nanos: AtomicU64,
    pub video_bytes: AtomicU64,
    /// The H.264 encoder's current target (the preset's, or lower under dynamic bitrate).
    pub video_target_bitrate_bps: AtomicU64,
    /// Encoded frames' buffers the pool had no room for, freed instead of reused (cannot
    /// happen: the pool holds every frame in flight).
    pub video_buffers_freed: AtomicU64,
    pub audio_captured_samples: AtomicU64,
    pub audio_dropped_encoder_queue: AtomicU64,
    /// Samples of silence the encoder put in place of dropped chunks (their exact length).
    pub audio_silence_filled_samples: AtomicU64,
    pub audio_encoded: AtomicU64,
    pub audio_bytes: AtomicU64,
    /// Encoded chunks' sample buffers the source had no room for, freed instead of reused.
    pub audio_buffers_freed: AtomicU64,
    /// Opus packets (encoded only while a WebRTC output exists).
    pub opus_encoded: AtomicU64,
    pub opus_bytes: AtomicU64,
    /// Keyframes forced because a WebRTC receiver asked (PLI/FIR), at most one a second.
    pub video_requested_keyframes: AtomicU64,
    /// Program audio level per channel over the last [`LEVEL_WINDOW_SAMPLES`] (the meters).
    pub audio_levels: Arc<AudioLevels>,
    /// The video device sources (screen, camera) feeding the program.
    pub sources: Mutex<Vec<Arc<SourceCounters>>>,
    /// The audio mixer (its sources, their levels), once the engine has one.
    pub mixer: std::sync::OnceLock<Arc<MixerControls>>,
    /// The studio's scene switches, once the program is made of scenes.
    pub scenes: std::sync::OnceLock<Arc<crate::capture::studio::SceneControl>>,
}

impl EngineCounters {
    pub fn add_sources(&self, sources: Vec<Arc<SourceCounters>>) {
        if let Ok(mut s) = self.sources.lock() {
            s.extend(sources);
        }
    }
}

/// Levels are published per window of this many sample frames (100 ms at 48 kHz): a meter
/// refreshed at up to 10 Hz.
pub const LEVEL_WINDOW_SAMPLES: u32 = 4_800;
/// The floor reported for silence.
pub const SILENCE_DBFS: f32 = -100.0;

/// The program audio's level, left and right, as of the last complete window: what the
/// stats and the window's meters read. Written by the audio source thread, read by anyone,
/// never waited on.
#[derive(Debug, Default)]
pub struct AudioLevels {
    /// Per channel, `f32` dBFS bits (0 = nothing measured yet).
    peak_bits: [AtomicU32; 2],
    rms_bits: [AtomicU32; 2],
    /// Windows published so far (a meter tells a fresh reading from a repeated one).
    windows: AtomicU64,
}

/// One channel's level over a window, in dBFS ([`SILENCE_DBFS`] for silence).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChannelLevel {
    pub peak_dbfs: f32,
    pub rms_dbfs: f32,
}

impl AudioLevels {
    /// Left and right as of the last window, and that window's number; `None` before the first.
    pub fn get(&self) -> Option<([ChannelLevel; 2], u64)> {
        let windows = self.windows.load(Relaxed);
        if windows == 0 {
            return None;
        }
        let ch = |c: usize| ChannelLevel {
            peak_dbfs: f32::from_bits(self.peak_bits[c].load(Relaxed)),
            rms_dbfs: f32::from_bits(self.rms_bits[c].load(Relaxed)),
        };
        Some(([ch(0), ch(1)], windows))
    }

    /// Both channels as one: the higher peak, and the RMS over both.
    fn combined(&self) -> Option<ChannelLevel> {
        let ([l, r], _) = self.get()?;
        let power = |db: f32| 10f64.powf(f64::from(db) / 10.0);
        let rms = ((power(l.rms_dbfs) + power(r.rms_dbfs)) / 2.0).sqrt() * 32768.0;
        Some(ChannelLevel {
            peak_dbfs: l.peak_dbfs.max(r.peak_dbfs),
            rms_dbfs: dbfs(rms),
        })
    }
}

/// Peak and RMS of the program audio per channel, published per window.
#[derive(Debug, Default)]
pub struct LevelMeter {
    peak: [u16; 2],
    sum_squares: [f64; 2],
    count: u32,
}

impl LevelMeter {
    /// Measures interleaved stereo samples; publishes into `levels` at each full window.
    pub fn push(&mut self, interleaved: &[i16], levels: &AudioLevels) {
        for frame in interleaved.chunks_exact(2) {
            for (c, &v) in frame.iter().enumerate() {
                self.peak[c] = self.peak[c].max(v.unsigned_abs());
                self.sum_squares[c] += f64::from(v) * f64::from(v);
            }
        }
        self.count += (interleaved.len() / 2) as u32;
        if self.count >= LEVEL_WINDOW_SAMPLES {
            let n = f64::from(self.count);
            for c in 0..2 {
                let rms = (self.sum_squares[c] / n).sqrt();
                levels.peak_bits[c].store(dbfs(f64::from(self.peak[c])).to_bits(), Relaxed);
                levels.rms_bits[c].store(dbfs(rms).to_bits(), Relaxed);
            }
            levels.windows.fetch_add(1, Relaxed);
            *self = Self::default();
        }
    }
}

/// Amplitude (i16 full scale = 32768) in dBFS, floored at [`SILENCE_DBFS`]. A full-scale sine
/// has a peak of 0 dBFS and an RMS of -3 dBFS.
pub fn dbfs(amplitude: f64) -> f32 {
    if amplitude <= 0.0 {
        return SILENCE_DBFS;
    }
    ((20.0 * (amplitude / 32768.0).log10()) as f32).max(SILENCE_DBFS)
}

/// Totals since the engine started, as plain data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatsSnapshot {
    /// Engine time of the snapshot, in milliseconds.
    pub time_ms: i64,
    pub video: VideoStats,
    pub audio: AudioStats,
    pub outputs: Vec<OutputSnapshot>,
    /// The scene on the program (the one faded to, during a fade); `None` unless the program
    /// is made of scenes.
    pub scene: Option<String>,
    /// Sources: video devices (state `live`/`lost`, frames, repeats), then the mixer's audio
    /// sources (state, underruns, drift, and their fader, mute, offset, filters and levels).
    pub sources: Vec<SourceReport>,
}

/// One source in the stats: its device's counters and, for an audio source, the mixer's view.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceReport {
    #[serde(flatten)]
    pub device: SourceSnapshot,
    #[serde(flatten)]
    pub mixer: Option<StripSnapshot>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VideoStats {
    pub captured: u64,
    pub late: u64,
    pub dropped_encoder_queue: u64,
    pub encoded: u64,
    pub encoder_skipped: u64,
    /// Pictures in slots that dropped frames left empty (one picture per frame interval).
    pub repeated: u64,
    pub encode_nanos_total: u64,
    /// Time spent producing the I420 frames the encoder reads (source fill).
    pub source_nanos_total: u64,
    /// CPU time of the H.264 encoder thread (known once it has ended, 0 before).
    pub encoder_thread_cpu_nanos: u64,
    pub bytes: u64,
    pub target_bitrate_bps: u64,
    /// Frame buffers freed instead of reused (no frame is lost; 0 when all is well).
    pub buffers_freed: u64,
    /// Keyframes forced for WebRTC receivers (PLI/FIR), besides the scheduled ones.
    pub requested_keyframes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AudioStats {
    pub captured_samples: u64,
    pub dropped_encoder_queue: u64,
    /// Silence in place of the dropped chunks, in samples: audio is never shortened.
    pub silence_filled_samples: u64,
    pub encoded: u64,
    pub bytes: u64,
    /// Sample buffers freed instead of reused (no audio is lost).
    pub buffers_freed: u64,
    /// Opus packets and bytes (only while a WebRTC output exists).
    pub opus_encoded: u64,
    pub opus_bytes: u64,
    /// Program audio over the last 100 ms, in dBFS (-100 = silence; `None` before the first).
    pub level_peak_dbfs: Option<f32>,
    pub level_rms_dbfs: Option<f32>,
    /// The program limiter's gain reduction in its last 10 ms, dB (0: not limiting).
    pub limiter_reduction_db: Option<f32>,
    /// Monitoring through an output device: state, frames dropped and played as silence.
    pub monitor: Option<MonitorSnapshot>,
}

impl EngineCounters {
    pub fn snapshot(&self, time_ms: i64, outputs: Vec<OutputSnapshot>) -> StatsSnapshot {
        StatsSnapshot {
            time_ms,
            video: VideoStats {
                captured: self.video_captured.load(Relaxed),
                late: self.video_late.load(Relaxed),
                dropped_encoder_queue: self.video_dropped_encoder_queue.load(Relaxed),
                encoded: self.video_encoded.load(Relaxed),
                encoder_skipped: self.video_encoder_skipped.load(Relaxed),
                repeated: self.video_repeated.load(Relaxed),
                encode_nanos_total: self.video_encode_nanos.load(Relaxed),
                source_nanos_total: self.video_source_nanos.load(Relaxed),
                encoder_thread_cpu_nanos: self.video_encoder_thread_cpu_nanos.load(Relaxed),
                bytes: self.video_bytes.load(Relaxed),
                target_bitrate_bps: self.video_target_bitrate_bps.load(Relaxed),
                buffers_freed: self.video_buffers_freed.load(Relaxed),
                requested_keyframes: self.video_requested_keyframes.load(Relaxed),
            },
            audio: AudioStats {
                captured_samples: self.audio_captured_samples.load(Relaxed),
                dropped_encoder_queue: self.audio_dropped_encoder_queue.load(Relaxed),
                silence_filled_samples: self.audio_silence_filled_samples.load(Relaxed),
                encoded: self.audio_encoded.load(Relaxed),
                bytes: self.audio_bytes.load(Relaxed),
                buffers_freed: self.audio_buffers_freed.load(Relaxed),
                opus_encoded: self.opus_encoded.load(Relaxed),
                opus_bytes: self.opus_bytes.load(Relaxed),
                level_peak_dbfs: self.audio_levels.combined().map(|l| l.peak_dbfs),
                level_rms_dbfs: self.audio_levels.combined().map(|l| l.rms_dbfs),
                limiter_reduction_db: self.mixer.get().map(|m| m.limiter_reduction_db()),
                monitor: self.mixer.get().map(|m| m.monitor.snapshot()),
            },
            outputs,
            scene: self.scenes.get().map(|s| s.current().to_owned()),
            sources: self
                .sources
                .lock()
                .map(|s| {
                    s.iter()
                        .map(|c| SourceReport {
                            device: c.snapshot(),
                            mixer: None,
                        })
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
                .into_iter()
                .chain(self.mixer.get().into_iter().flat_map(|m| {
                    m.snapshot()
                        .into_iter()
                        .map(|(device, strip)| SourceReport {
                            device,
                            mixer: Some(strip),
                        })
                }))
                .collect(),
        }
    }
}

/// What changed between two snapshots: the per-second figures a stats panel shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatsReport {
    #[serde(flatten)]
    pub totals: StatsSnapshot,
    /// Frames encoded per second over the interval, in thousandths (29_970 = 29.97 fps).
    pub fps_milli: u64,
    /// Mean time inside the H.264 encoder per frame over the interval, in microseconds.
    pub encode_micros_per_frame: u64,
    /// Per output, in the order of `outputs`: bits per second over the interval.
    pub output_bitrate_bps: Vec<u64>,
}

/// Rates over a shorter span than this are not rates but noise (the last report of a run may
/// come milliseconds after the one before, its bytes those of a whole fragment).
pub const MIN_RATE_SPAN_MS: i64 = 500;

impl StatsReport {
    /// The snapshot to take rates from for a report at `now`: the newest of `earlier` (oldest
    /// first) at least [`MIN_RATE_SPAN_MS`] before it; `None` (since the start) when there is
    /// none.
    pub fn baseline<'a>(
        earlier: impl DoubleEndedIterator<Item = &'a StatsSnapshot>,
        now: &StatsSnapshot,
    ) -> Option<&'a StatsSnapshot> {
        earlier
            .rev()
            .find(|s| now.time_ms - s.time_ms >= MIN_RATE_SPAN_MS)
    }

    pub fn between(prev: Option<&StatsSnapshot>, now: StatsSnapshot) -> Self {
        let span_ms = prev.map_or(now.time_ms, |p| now.time_ms - p.time_ms).max(1) as u64;
        let (frames, nanos) = match prev {
            Some(p) => (
                now.video.encoded.saturating_sub(p.video.encoded),
                now.video
                    .encode_nanos_total
                    .saturating_sub(p.video.encode_nanos_total),
            ),
            None => (now.video.encoded, now.video.encode_nanos_total),
        };
        let output_bitrate_bps = now
            .outputs
            .iter()
            .map(|o| {
                let before = prev
                    .and_then(|p| p.outputs.iter().find(|q| q.name == o.name))
                    .map_or(0, |q| q.bytes);
                o.bytes.saturating_sub(before) * 8 * 1000 / span_ms
            })
            .collect();
        Self {
            fps_milli: frames * 1_000_000 / span_ms,
            encode_micros_per_frame: nanos.checked_div(frames).map_or(0, |n| n / 1000),
            output_bitrate_bps,
            totals: now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::OutputCounters;

    #[test]
    fn report_derives_rates_from_two_snapshots() {
        let c = EngineCounters::default();
        let out = OutputCounters::new("record:a.mp4".into(), "recording");
        out.bytes_written.store(1_000, Relaxed);
        let first = c.snapshot(1_000, vec![out.snapshot()]);
        c.video_encoded.store(30, Relaxed);
        c.video_encode_nanos.store(30 * 4_000_000, Relaxed);
        out.bytes_written.store(1_000 + 375_000, Relaxed);
        let second = c.snapshot(2_000, vec![out.snapshot()]);
        let r = StatsReport::between(Some(&first), second);
        assert_eq!(r.fps_milli, 30_000);
        assert_eq!(r.encode_micros_per_frame, 4_000);
        assert_eq!(r.output_bitrate_bps, vec![3_000_000]);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["video"]["encoded"], 30);
        assert_eq!(json["outputs"][0]["state"], "starting");
        assert!(json["audio"]["level_peak_dbfs"].is_null());
    }

    /// Issue 14: the last line of a run, 1 ms after the one before, showed 115 Mbit/s for a
    /// 1 Mbit/s stream (a fragment's bytes over 1 ms). Rates come from at least 500 ms.
    #[test]
    fn a_report_right_after_another_takes_its_rates_over_a_longer_span() {
        let c = EngineCounters::default();
        let out = OutputCounters::new("record:a.mp4".into(), "recording");
        let at = |ms: i64, bytes: u64, frames: u64| {
            out.bytes_written.store(bytes, Relaxed);
            c.video_encoded.store(frames, Relaxed);
            c.snapshot(ms, vec![out.snapshot()])
        };
        let history = [at(1_000, 125_000, 30), at(2_000, 250_000, 60)];
        let last = at(2_001, 264_437, 61);
        let base = StatsReport::baseline(history.iter(), &last);
        assert_eq!(base.map(|b| b.time_ms), Some(1_000));
        let r = StatsReport::between(base, last);
        assert_eq!(r.output_bitrate_bps, vec![1_114_381]);
        assert_eq!(r.fps_milli, 30_969);
        // With no earlier snapshot far enough back: since the start.
        assert_eq!(
            StatsReport::baseline(history[1..].iter(), &at(2_400, 0, 0)),
            None
        );
    }

    #[test]
    fn meter_reports_peak_and_rms_in_dbfs() {
        let c = EngineCounters::default();
        let mut m = LevelMeter::default();
        // A -6 dBFS sine (peak 16384): RMS -9 dBFS.
        let sine: Vec<i16> = (0..4_800)
            .flat_map(|i| {
                let v = (16384.0 * (std::f64::consts::TAU * i as f64 / 48.0).sin()) as i16;
                [v, v]
            })
            .collect();
        m.push(&sine[..4_000], &c.audio_levels);
        assert_eq!(c.snapshot(0, vec![]).audio.level_peak_dbfs, None);
        m.push(&sine[4_000..], &c.audio_levels);
        let a = c.snapshot(0, vec![]).audio;
        assert!((a.level_peak_dbfs.unwrap() + 6.02).abs() < 0.05, "{a:?}");
        assert!((a.level_rms_dbfs.unwrap() + 9.03).abs() < 0.05, "{a:?}");
        m.push(&[0i16; 9_600], &c.audio_levels);
        assert_eq!(
            c.snapshot(0, vec![]).audio.level_peak_dbfs,
            Some(SILENCE_DBFS)
        );
    }

    #[test]
    fn meter_measures_each_channel_on_its_own() {
        let levels = AudioLevels::default();
        let mut m = LevelMeter::default();
        // Left: a -6 dBFS sine; right: silence.
        let samples: Vec<i16> = (0..LEVEL_WINDOW_SAMPLES)
            .flat_map(|i| {
                let v = (16384.0 * (std::f64::consts::TAU * f64::from(i) / 48.0).sin()) as i16;
                [v, 0]
            })
            .collect();
        assert_eq!(levels.get(), None);
        m.push(&samples, &levels);
        let ([l, r], windows) = levels.get().unwrap();
        assert_eq!(windows, 1);
        assert!((l.peak_dbfs + 6.02).abs() < 0.05, "{l:?}");
        assert!((l.rms_dbfs + 9.03).abs() < 0.05, "{l:?}");
        assert_eq!(r.peak_dbfs, SILENCE_DBFS);
        assert_eq!(r.rms_dbfs, SILENCE_DBFS);
        // Both as one: the left's peak, and half the power (-3 dB) in the RMS.
        let both = levels.combined().unwrap();
        assert_eq!(both.peak_dbfs, l.peak_dbfs);
        assert!(
            (both.rms_dbfs - (l.rms_dbfs - 3.01)).abs() < 0.05,
            "{both:?}"
        );
    }
}
