//! `onair bench`: the real engine, free-running, for a fixed number of frames, against the raw
//! encoder on the same frames in the same run.
//!
//! First the encoder alone: a fresh [`H264Encoder`] with the preset's settings encodes the N
//! frames the source makes (only the encode calls are timed; the source fills untimed). It
//! reads each frame from memory, as it would from any source: the source fills a ring of
//! [`ALONE_RING`] frames, larger than a core's L2 cache, seven frames ahead of the encoder.
//! The encoder fed each frame straight after the same core wrote it (still in its L2) is
//! measured too, as `encoder_alone_just_written`: 3-15 % faster here, a speed no source gives
//! it (a capture or decode thread writes the frame on another core). Then
//! the pipeline: an [`EngineHandle`] started with [`Pacing::FreeRunning`] runs the same source
//! for the same N frames into the chosen outputs, from start to the last output finalized.
//! The ratio of the two rates is the pipeline's overhead. Nothing is a copy of the pipeline:
//! the engine, its threads, queues, fan-out and outputs are those `broadcast` runs.

pub mod quality;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::capture::test_pattern::TestPattern;
use crate::capture::y4m::Y4mSource;
use crate::capture::{CaptureError, VideoSource, VideoSourceKind};
use crate::config::Preset;
use crate::config::mixer::{MixerSettings, SourceKind, SourceSettings};
use crate::encode::{EncodeError, H264Encoder, VideoEncodeSettings, VideoTuning};
use crate::media::{MediaTime, VideoFrame};
use crate::output::hls::HlsOptions;
use crate::output::{OutputSpec, RecordingFormat};
use crate::pipeline::{EngineConfig, EngineError, EngineHandle, Pacing, StatsSnapshot, cputime};

/// An output `onair bench` can drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BenchOutput {
    /// A hybrid MP4 recording into the bench folder.
    Record,
    /// The FLV muxer into nothing (what an RTMP output muxes, without a network).
    Flv,
    /// LL-HLS parts, segments and playlists into the bench folder.
    Hls,
}

#[derive(Debug, Clone)]
pub struct BenchConfig {
    pub preset: Preset,
    pub video: VideoSourceKind,
    /// With the sync tone (the only audio that runs faster than real time), or no audio.
    pub audio: bool,
    pub frames: u64,
    pub outputs: Vec<BenchOutput>,
    /// A new or empty folder for the recording and the HLS files.
    pub dir: PathBuf,
    pub encoder_threads: u16,
    /// Also run the encoder alone on the same frames first (for the overhead ratio).
    pub encoder_alone: bool,
    /// Rounds of (encoder alone, pipeline), alternated; the fastest of each is reported, the
    /// one least disturbed by other work on the machine (at least 1).
    pub rounds: u32,
    /// How OpenH264 is set up (`None`: as `broadcast` sets it up for this source).
    pub tuning: Option<VideoTuning>,
    /// Also record FLV and judge every picture against its source ([`quality`]).
    pub quality: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("bench needs video: --video test or y4m:FILE")]
    NoVideo,
    #[error("bench needs at least 1 frame")]
    NoFrames,
    #[error("bench needs at least one output (record, flv, hls)")]
    NoOutputs,
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error("the pipeline encoded {encoded} of {expected} frames; see the log for the cause")]
    Incomplete { encoded: u64, expected: u64 },
    #[error("output {name} failed: {reason}")]
    OutputFailed { name: String, reason: String },
    #[error(transparent)]
    Quality(#[from] quality::QualityError),
}

/// Frames per second over a span, and the CPU time used meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rate {
    pub frames: u64,
    pub seconds: f64,
    pub fps: f64,
    /// CPU time of the whole process over the span (every thread, on every core).
    pub cpu_seconds: f64,
}

impl Rate {
    fn new(frames: u64, span: Duration, cpu: Duration) -> Self {
        let seconds = span.as_secs_f64();
        Self {
            frames,
            seconds,
            fps: if seconds > 0.0 {
                frames as f64 / seconds
            } else {
                0.0
            },
            cpu_seconds: cpu.as_secs_f64(),
        }
    }
}

/// CPU time per frame: figures that other work on a shared machine disturbs far less than wall
/// time (a thread waiting for a core uses none).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CpuFigures {
    /// The encoder alone: CPU per frame in the encode calls (OpenH264's slice threads included).
    pub encoder_alone_ms_per_frame: f64,
    /// The whole pipeline process: CPU per frame, every thread.
    pub pipeline_ms_per_frame: f64,
    /// The pipeline's H.264 thread alone (without OpenH264's extra slice threads).
    pub pipeline_encoder_thread_ms_per_frame: f64,
    /// Cores this process may use.
    pub cores: u32,
    /// The pipeline's rate on an otherwise idle machine, estimated from CPU time: limited by
    /// its busiest thread (the encoder's) or by all its CPU spread over every core, whichever
    /// is slower. A model, not a measurement: compare it with `pipeline.fps`.
    pub pipeline_fps_idle_estimate: f64,
    /// `pipeline_fps_idle_estimate` over the encoder alone's CPU-bound rate
    /// (1000 / `encoder_alone_ms_per_frame`, which uses one core unless threads > 1).
    pub throughput_ratio_idle_estimate: f64,
}

/// Mean time per video frame in each stage, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StageTimes {
    /// Producing the I420 frame the encoder reads: the test pattern's fill or the Y4M read
    /// (no colour conversion exists yet: sources make I420 directly).
    pub convert: f64,
    /// Inside OpenH264 (the pipeline's encoder thread).
    pub encode: f64,
    /// In the outputs' muxers (MP4 fragmenter, FLV tags, HLS playlist), all outputs together.
    pub mux: f64,
    /// In file writes, renames and syncs, all outputs together.
    pub write: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutputFigures {
    pub name: String,
    pub kind: &'static str,
    pub packets: u64,
    pub bytes: u64,
    pub mux_ms_per_frame: f64,
    pub write_ms_per_frame: f64,
    pub dropped: u64,
}

/// What `onair bench` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchReport {
    pub preset: String,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub video_kbps: u32,
    pub source: String,
    pub audio: bool,
    pub outputs: Vec<BenchOutput>,
    pub encoder_threads: u16,
    /// Video frames through the whole pipeline (encoded and written by every output).
    pub frames: u64,
    /// The whole pipeline, from engine start to the last output finalized (the fastest
    /// round).
    pub pipeline: Rate,
    /// Every round's pipeline rate, in order.
    pub pipeline_fps_rounds: Vec<f64>,
    /// Every round's encoder-alone rate, in order.
    pub encoder_alone_fps_rounds: Vec<f64>,
    /// The encoder alone on the same frames, encode calls only, each frame read from memory
    /// as from a source (absent with --pipeline-only).
    pub encoder_alone: Option<Rate>,
    /// `pipeline.fps / encoder_alone.fps`.
    pub throughput_ratio: Option<f64>,
    /// The encoder alone fed each frame straight after its own core wrote it (still in its
    /// cache): faster than any source lets it be; reported so the difference is seen.
    pub encoder_alone_just_written: Option<Rate>,
    /// Every round's rate of the encoder fed just-written frames, in order.
    pub encoder_alone_just_written_fps_rounds: Vec<f64>,
    /// `pipeline.fps / encoder_alone_just_written.fps`.
    pub throughput_ratio_vs_just_written: Option<f64>,
    pub stage_ms_per_frame: StageTimes,
    /// The encoder alone, per frame (compare with `stage_ms_per_frame.encode`).
    pub encoder_alone_ms_per_frame: Option<f64>,
    /// CPU time per frame, and the idle-machine estimate made from it (absent with
    /// --pipeline-only).
    pub cpu: Option<CpuFigures>,
    pub per_output: Vec<OutputFigures>,
    /// Everything dropped anywhere (must be 0: free-running queues block instead).
    pub dropped: u64,
    /// Mean video bitrate of what the pipeline encoded.
    pub video_bitrate_kbps: f64,
    /// The encoder's settings (`--tune`'s syntax).
    pub tuning: String,
    /// With `--quality`: bitrate over time and picture quality against the source.
    pub quality: Option<quality::QualityReport>,
}

fn open_source(
    kind: &VideoSourceKind,
    preset: &Preset,
) -> Result<Box<dyn VideoSource>, BenchError> {
    match kind {
        VideoSourceKind::Test => Ok(Box::new(TestPattern::new(preset.width, preset.height))),
        VideoSourceKind::Y4m(path) => Ok(Box::new(Y4mSource::open(
            path,
            preset.width,
            preset.height,
        )?)),
        // Live devices cannot run faster than real time: bench takes files and the pattern.
        _ => Err(BenchError::NoVideo),
    }
}

fn encode_settings(preset: &Preset, threads: u16, tuning: VideoTuning) -> VideoEncodeSettings {
    VideoEncodeSettings {
        width: preset.width,
        height: preset.height,
        fps: preset.fps,
        bitrate_bps: preset.video_kbps * 1000,
        keyframe_interval_frames: preset.keyframe_interval_frames(),
        threads: threads.max(1),
        tuning,
    }
}

impl BenchConfig {
    fn tuning(&self) -> VideoTuning {
        self.tuning.unwrap_or_else(|| {
            VideoTuning::for_source(
                &self.video,
                self.preset.width,
                self.preset.height,
                self.preset.fps,
            )
        })
    }
}

/// The FLV recording `--quality` judges (the bytes an RTMP output would send).
const QUALITY_RECORDING: &str = "quality.flv";

/// Frames the encoder-alone source fills ahead of the encoder: 8 frames are 11 MB at 720p and
/// 3.7 MB at 480p, more than a core's L2 (2 MB on this machine's EPYC), so each frame is read
/// from memory or the shared L3, as the pipeline's encoder reads what the source thread wrote.
pub const ALONE_RING: usize = 8;

/// Where the encoder alone finds each frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AloneInput {
    /// Filled [`ALONE_RING`] - 1 frames earlier: out of this core's cache, as from a source.
    FromMemory,
    /// Filled by the same core just before: still in its cache.
    JustWritten,
}

/// The encoder alone: N frames from a fresh source, only the encode calls timed.
pub fn encoder_alone(
    preset: &Preset,
    video: &VideoSourceKind,
    frames: u64,
    threads: u16,
    tuning: VideoTuning,
    input: AloneInput,
) -> Result<Rate, BenchError> {
    let mut source = open_source(video, preset)?;
    let mut encoder = H264Encoder::new(encode_settings(preset, threads, tuning))?;
    let ring_len = match input {
        AloneInput::FromMemory => ALONE_RING,
        AloneInput::JustWritten => 1,
    };
    let mut ring: Vec<VideoFrame> = (0..ring_len)
        .map(|_| VideoFrame::black(preset.width, preset.height, MediaTime::ZERO))
        .collect();
    // Frame n is encoded once frame n + lag has been filled.
    let lag = ring_len as u64 - 1;
    let tb = preset.frame_timebase();
    let mut busy = Duration::ZERO;
    let mut cpu = Duration::ZERO;
    let mut encoded = 0;
    for n in 0..frames + lag {
        if n < frames {
            source.fill(tb.ticks_to_time(n as i64), &mut ring[n as usize % ring_len])?;
        }
        let Some(next) = n.checked_sub(lag) else {
            continue;
        };
        let frame = &ring[next as usize % ring_len];
        let cpu_before = cputime::process().unwrap_or_default();
        let started = Instant::now();
        let picture = encoder.encode(frame, false)?;
        busy += started.elapsed();
        cpu += cputime::process()
            .unwrap_or_default()
            .saturating_sub(cpu_before);
        encoded += u64::from(picture.is_some());
    }
    Ok(Rate::new(encoded, busy, cpu))
}

/// Runs the encoder alone, then the pipeline, on the same N frames.
pub fn run(config: &BenchConfig) -> Result<BenchReport, BenchError> {
    if config.frames == 0 {
        return Err(BenchError::NoFrames);
    }
    if config.outputs.is_empty() && !config.quality {
        return Err(BenchError::NoOutputs);
    }
    let preset = &config.preset;
    let mut alone_runs: Vec<Rate> = Vec::new();
    let mut hot_runs: Vec<Rate> = Vec::new();
    let mut pipeline_runs: Vec<Rate> = Vec::new();
    let mut best: Option<(Rate, StatsSnapshot)> = None;
    for round in 0..config.rounds.max(1) {
        if config.encoder_alone {
            for (input, runs) in [
                (AloneInput::FromMemory, &mut alone_runs),
                (AloneInput::JustWritten, &mut hot_runs),
            ] {
                runs.push(encoder_alone(
                    preset,
                    &config.video,
                    config.frames,
                    config.encoder_threads,
                    config.tuning(),
                    input,
                )?);
            }
        }
        let dir = if config.rounds > 1 {
            config.dir.join(format!("round-{round}"))
        } else {
            config.dir.clone()
        };
        let (rate, last) = pipeline(config, &dir)?;
        pipeline_runs.push(rate);
        if best.as_ref().is_none_or(|(b, _)| rate.fps > b.fps) {
            best = Some((rate, last));
        }
    }
    let fastest = |runs: &[Rate]| runs.iter().copied().max_by(|a, b| a.fps.total_cmp(&b.fps));
    let alone = fastest(&alone_runs);
    let Some((pipeline, last)) = best else {
        return Err(BenchError::NoFrames);
    };
    let mut report = report(config, &last, pipeline, alone);
    if config.quality {
        // Every round encoded the same frames the same way: the last one's recording is judged.
        let dir = if config.rounds > 1 {
            config.dir.join(format!("round-{}", config.rounds - 1))
        } else {
            config.dir.clone()
        };
        let video = quality::read_flv_video(&dir.join(QUALITY_RECORDING))?;
        let mut source = open_source(&config.video, preset)?;
        let scores = quality::judge(
            &video,
            source.as_mut(),
            preset.width,
            preset.height,
            preset.frame_timebase(),
        )?;
        if scores.len() as u64 != config.frames {
            return Err(BenchError::Incomplete {
                encoded: scores.len() as u64,
                expected: config.frames,
            });
        }
        report.quality = Some(quality::QualityReport::new(
            &scores,
            preset.fps,
            preset.video_kbps * 1000,
        ));
    }
    report.pipeline_fps_rounds = pipeline_runs.iter().map(|r| r.fps).collect();
    report.encoder_alone_fps_rounds = alone_runs.iter().map(|r| r.fps).collect();
    report.encoder_alone_just_written_fps_rounds = hot_runs.iter().map(|r| r.fps).collect();
    report.encoder_alone_just_written = fastest(&hot_runs);
    report.throughput_ratio_vs_just_written = report
        .encoder_alone_just_written
        .filter(|a| a.fps > 0.0)
        .map(|a| pipeline.fps / a.fps);
    Ok(report)
}

/// One free-running run of the engine into `dir`.
fn pipeline(config: &BenchConfig, dir: &Path) -> Result<(Rate, StatsSnapshot), BenchError> {
    let preset = &config.preset;
    if dir != config.dir {
        std::fs::create_dir_all(dir).map_err(|source| {
            EngineError::Output(crate::output::OutputError::Create {
                path: dir.to_owned(),
                source,
            })
        })?;
    }
    let mut outputs: Vec<OutputSpec> = config
        .outputs
        .iter()
        .map(|o| output_spec(*o, dir))
        .collect();
    if config.quality {
        outputs.push(OutputSpec::Recording {
            path: dir.join(QUALITY_RECORDING),
            format: RecordingFormat::Flv,
        });
    }
    let duration = preset.frame_timebase().ticks_to_time(config.frames as i64);
    let cpu_before = cputime::process().unwrap_or_default();
    let started = Instant::now();
    let engine = EngineHandle::start(EngineConfig {
        preset: preset.clone(),
        video: config.video.clone(),
        audio: if config.audio {
            MixerSettings::with_sources(vec![SourceSettings::new("Tone", SourceKind::Tone, "")])
        } else {
            MixerSettings::default()
        },
        duration: Some(duration),
        outputs,
        pacing: Pacing::FreeRunning,
        encoder_threads: config.encoder_threads,
        video_tuning: Some(config.tuning()),
    })?;
    let last = engine.finish();
    let rate = Rate::new(
        last.video.encoded,
        started.elapsed(),
        cputime::process()
            .unwrap_or_default()
            .saturating_sub(cpu_before),
    );
    check(&last, config.frames)?;
    Ok((rate, last))
}

fn cpu_figures(alone: Rate, pipeline: &Rate, last: &StatsSnapshot) -> CpuFigures {
    let frames = pipeline.frames.max(1) as f64;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    let encoder_thread = last.video.encoder_thread_cpu_nanos as f64 / 1e9;
    let bound_seconds = encoder_thread.max(pipeline.cpu_seconds / f64::from(cores));
    let idle_fps = if bound_seconds > 0.0 {
        frames / bound_seconds
    } else {
        0.0
    };
    let alone_ms = alone.cpu_seconds * 1e3 / alone.frames as f64;
    CpuFigures {
        encoder_alone_ms_per_frame: alone_ms,
        pipeline_ms_per_frame: pipeline.cpu_seconds * 1e3 / frames,
        pipeline_encoder_thread_ms_per_frame: encoder_thread * 1e3 / frames,
        cores,
        pipeline_fps_idle_estimate: idle_fps,
        throughput_ratio_idle_estimate: idle_fps * alone_ms / 1e3,
    }
}

fn output_spec(o: BenchOutput, dir: &Path) -> OutputSpec {
    match o {
        BenchOutput::Record => OutputSpec::Recording {
            path: dir.join("bench.mp4"),
            format: RecordingFormat::Mp4,
        },
        BenchOutput::Flv => OutputSpec::Discard {
            format: RecordingFormat::Flv,
        },
        BenchOutput::Hls => OutputSpec::Hls {
            dir: dir.join("hls"),
            options: HlsOptions::default(),
        },
    }
}

fn check(last: &StatsSnapshot, expected: u64) -> Result<(), BenchError> {
    if let Some(o) = last
        .outputs
        .iter()
        .find(|o| o.state == crate::pipeline::OutputState::Failed)
    {
        return Err(BenchError::OutputFailed {
            name: o.name.clone(),
            reason: o.last_error.clone().unwrap_or_default(),
        });
    }
    if last.video.encoded != expected {
        return Err(BenchError::Incomplete {
            encoded: last.video.encoded,
            expected,
        });
    }
    Ok(())
}

fn millis_per(nanos: u64, frames: u64) -> f64 {
    if frames == 0 {
        return 0.0;
    }
    nanos as f64 / 1e6 / frames as f64
}

fn report(
    config: &BenchConfig,
    last: &StatsSnapshot,
    pipeline: Rate,
    alone: Option<Rate>,
) -> BenchReport {
    let preset = &config.preset;
    let frames = last.video.encoded;
    let per_output: Vec<OutputFigures> = last
        .outputs
        .iter()
        .map(|o| OutputFigures {
            name: o.name.clone(),
            kind: o.kind,
            packets: o.packets,
            bytes: o.bytes,
            mux_ms_per_frame: millis_per(o.sink_nanos.saturating_sub(o.io_nanos), frames),
            write_ms_per_frame: millis_per(o.io_nanos, frames),
            dropped: o.dropped_queue_full + o.dropped_resync + o.dropped_network,
        })
        .collect();
    let mux_nanos: u64 = last
        .outputs
        .iter()
        .map(|o| o.sink_nanos.saturating_sub(o.io_nanos))
        .sum();
    let io_nanos: u64 = last.outputs.iter().map(|o| o.io_nanos).sum();
    let media_secs = preset.frame_interval().as_nanos() as f64 * frames as f64 / 1e9;
    BenchReport {
        preset: preset.name.clone(),
        width: preset.width,
        height: preset.height,
        fps: preset.fps,
        video_kbps: preset.video_kbps,
        source: match &config.video {
            VideoSourceKind::Test => "test".to_owned(),
            VideoSourceKind::Y4m(p) => format!("y4m:{}", p.display()),
            other => format!("{other:?}"),
        },
        audio: config.audio,
        outputs: config.outputs.clone(),
        encoder_threads: config.encoder_threads.max(1),
        frames,
        throughput_ratio: alone.filter(|a| a.fps > 0.0).map(|a| pipeline.fps / a.fps),
        pipeline,
        pipeline_fps_rounds: Vec::new(),
        encoder_alone_fps_rounds: Vec::new(),
        encoder_alone_just_written: None,
        encoder_alone_just_written_fps_rounds: Vec::new(),
        throughput_ratio_vs_just_written: None,
        encoder_alone: alone,
        stage_ms_per_frame: StageTimes {
            convert: millis_per(last.video.source_nanos_total, frames),
            encode: millis_per(last.video.encode_nanos_total, frames),
            mux: millis_per(mux_nanos, frames),
            write: millis_per(io_nanos, frames),
        },
        encoder_alone_ms_per_frame: alone
            .filter(|a| a.frames > 0)
            .map(|a| a.seconds * 1e3 / a.frames as f64),
        cpu: alone
            .filter(|a| a.frames > 0 && a.cpu_seconds > 0.0 && frames > 0)
            .map(|a| cpu_figures(a, &pipeline, last)),
        dropped: last.video.dropped_encoder_queue
            + last.audio.dropped_encoder_queue
            + per_output.iter().map(|o| o.dropped).sum::<u64>(),
        per_output,
        video_bitrate_kbps: if media_secs > 0.0 {
            last.video.bytes as f64 * 8.0 / 1e3 / media_secs
        } else {
            0.0
        },
        tuning: config.tuning().to_string(),
        quality: None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::config::Config;

    #[test]
    fn the_encoder_alone_encodes_every_frame_from_either_input() {
        let preset = Config::builtin()
            .presets
            .into_iter()
            .find(|p| p.name == "480p30")
            .unwrap();
        // Fewer frames than the ring, and more.
        for frames in [3, ALONE_RING as u64 + 5] {
            for input in [AloneInput::FromMemory, AloneInput::JustWritten] {
                let rate = encoder_alone(
                    &preset,
                    &VideoSourceKind::Test,
                    frames,
                    1,
                    VideoTuning::default(),
                    input,
                )
                .unwrap();
                assert_eq!(rate.frames, frames, "{input:?}");
            }
        }
    }
}
