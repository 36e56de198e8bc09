//! The engine: owns every thread and every channel. The only API a front end (CLI, GUI) calls.
//!
//! ```text
//! src-video ──frames──▶ enc-h264 ─┐                      ┌─▶ out-0 (recording) ─▶ file
//!   (paced by the clock)          ├─▶ Fanout::send ──────┼─▶ out-1 ...
//! src-audio ──chunks──▶ enc-aac ──┘   (try_send each)    └─▶ out-N
//! ```
//!
//! Stopping: the sources stop (at `duration`, or when asked), which closes the encoders'
//! queues; the encoders flush and exit; then the fan-out drops every output's sender, and each
//! output drains its queue, finalizes its file and exits. [`EngineHandle::stop`] joins them all.

pub mod cputime;
pub mod fanout;
mod keyframes;
mod pool;
pub mod preview;
pub mod stats;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering::Relaxed};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};

use crate::capture::{
    AudioInput, AudioSource, CaptureError, VideoSource, VideoSourceKind, Worker, devices,
};
use crate::config::Preset;
use crate::config::mixer::{MixerSettings, SourceSettings};
use crate::encode::{AacEncoder, EncodeError, H264Encoder, OpusEncoder, VideoEncodeSettings};
use crate::media::frame::{AUDIO_CHANNELS, AUDIO_RATE_HZ};
use crate::media::time::Clock;
use crate::media::{AudioChunk, MediaTime, Timebase, VideoFrame};
use crate::mix::{Mixer, MixerControls, MixerError};
use crate::output::runner::{open_sink, run_output};
use crate::output::{OutputError, OutputSink, OutputSpec};

pub use crate::output::{OutputCounters, OutputMsg, OutputSnapshot, OutputState};
pub use fanout::{Fanout, OutputId};
pub use preview::{PreviewImage, ProgramPreview};
pub use stats::{EngineCounters, StatsReport, StatsSnapshot};

/// Frames between the video source and the H.264 encoder: a few frames absorb scheduling
/// jitter; more would only add latency. When full, the newest frame is dropped and counted
/// (the source never waits: OBS's "skipped frames, encoding lag").
const VIDEO_QUEUE_FRAMES: usize = 8;
/// Audio chunks (10 ms each) between the audio source and the AAC encoder: 3 s, so that a stall
/// of a couple of seconds (the process frozen, then the source catching up at once) drops
/// nothing: 576 KB at most, allocated only as the queue fills, where video cannot afford it.
/// When full, the chunk is dropped and counted, and the encoder puts silence of its exact
/// length in its place (audio time stays the sample clock).
const AUDIO_QUEUE_CHUNKS: usize = 300;
/// Audio is read from the source in 10 ms chunks.
const AUDIO_CHUNK_FRAMES: usize = AUDIO_RATE_HZ as usize / 100;
/// Packets queued per output. A recording's queue holds about 20 s of 30 fps video plus audio,
/// so a slow disk stalls nothing; when full, packets are dropped for that output only, counted,
/// logged as errors, and video resumes at the next keyframe.
const OUTPUT_QUEUE_PACKETS: usize = 2_048;
/// Keyframes that WebRTC receivers ask for (PLI/FIR, after a loss NACK could not repair) are
/// granted at most this often; requests in between are dropped (the receiver asks again).
const KEYFRAME_REQUEST_INTERVAL: MediaTime = MediaTime::from_secs(1);
/// Free-running: how often a waiting audio source looks at the video's progress again.
const FREE_RUN_POLL: Duration = Duration::from_micros(500);

/// How the sources are paced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pacing {
    /// Live: each frame and audio chunk is produced at its time on the engine clock, and a
    /// full queue drops (and counts) rather than delaying capture.
    #[default]
    RealTime,
    /// Benchmark: the video source produces as fast as the encoder takes frames, audio follows
    /// the video's encoded progress, and every engine queue (source to encoder, fan-out to
    /// output) blocks instead of dropping, so nothing is lost. Meant for file outputs: an RTMP
    /// destination's send queue keeps its own congestion policy. While a send blocks, the
    /// fan-out is locked: add or remove outputs only in real time.
    FreeRunning,
}

/// Everything the engine needs to start; built and validated by the front end.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub preset: Preset,
    pub video: VideoSourceKind,
    /// The audio mixer and its sources (validated); no sources: no audio track. Changeable
    /// while running through [`EngineHandle::mixer`].
    pub audio: MixerSettings,
    /// Media time after which the sources stop; `None` runs until [`EngineHandle::stop`].
    pub duration: Option<MediaTime>,
    pub outputs: Vec<OutputSpec>,
    pub pacing: Pacing,
    /// OpenH264 threads (1: one slice per frame; more: that many slices, one thread each).
    pub encoder_threads: u16,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("nothing to broadcast: both video and audio are `none`")]
    NoStreams,
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error("audio: {0}")]
    Mixer(#[from] MixerError),
    #[error("cannot start thread {name}: {source}")]
    Spawn {
        name: String,
        source: std::io::Error,
    },
}

/// `name`, or `name (2)`, `name (3)`… if a running output has it: two destinations on one
/// server differ only in their (masked) stream keys, and stats tell outputs apart by name.
fn unique_name(taken: &[impl AsRef<str>], name: String) -> String {
    let free = |n: &str| !taken.iter().any(|t| t.as_ref() == n);
    if free(&name) {
        return name;
    }
    let mut i = 2;
    loop {
        let numbered = format!("{name} ({i})");
        if free(&numbered) {
            return numbered;
        }
        i += 1;
    }
}

struct OutputThread {
    id: OutputId,
    counters: Arc<OutputCounters>,
    thread: JoinHandle<()>,
    /// The output's network thread, if it has one; ends after `thread` (it drains the queue).
    worker: Option<JoinHandle<()>>,
}

impl OutputThread {
    fn join(self) -> Arc<OutputCounters> {
        join_named(self.thread);
        if let Some(w) = self.worker {
            join_named(w);
        }
        self.counters
    }
}

/// A running engine.
pub struct EngineHandle {
    clock: Clock,
    stop: Arc<AtomicBool>,
    counters: Arc<EngineCounters>,
    fanout: Arc<Fanout>,
    preview: Arc<ProgramPreview>,
    sources: Vec<JoinHandle<()>>,
    /// Device threads (screen, camera, microphone); each ends once its source is dropped.
    devices: Vec<JoinHandle<()>>,
    /// The mixer's settings and meters (`None` without audio).
    mixer: Option<Arc<MixerControls>>,
    encoders: Vec<JoinHandle<()>>,
    outputs: Vec<OutputThread>,
    /// Outputs removed while running, whose threads are still finishing.
    finished_outputs: Vec<Arc<OutputCounters>>,
}

impl EngineHandle {
    /// Starts the sources, encoders and every output in `config`. Every output file is created
    /// and every encoder initialised before any thread starts, so a bad path fails here.
    pub fn start(config: EngineConfig) -> Result<Self, EngineError> {
        let want_video = config.video != VideoSourceKind::None;
        let free_running = config.pacing == Pacing::FreeRunning;
        let want_audio = !config.audio.sources.is_empty();
        let preset = &config.preset;
        if !want_video && !want_audio {
            return Err(EngineError::NoStreams);
        }
        // Devices first: a missing or refused device is an error before any file exists.
        let mut video_source =
            devices::video_source(&config.video, preset.width, preset.height, preset.fps)?;
        let mixer = want_audio.then(|| mixer_for(&config.audio));
        let mixer_controls = mixer.as_ref().map(Mixer::controls);
        let mut audio_source = mixer.map(|m| Box::new(m) as Box<dyn AudioSource>);
        let mut device_threads = Vec::new();
        let started = start_devices(
            video_source.as_deref_mut(),
            audio_source.as_deref_mut(),
            &mut device_threads,
        );
        if let Err(e) = started {
            drop((video_source, audio_source));
            for t in device_threads {
                join_named(t);
            }
            return Err(e);
        }
        let counters = Arc::new(EngineCounters::default());
        for s in video_source.iter().map(|v| v.device_counters()) {
            counters.add_sources(s);
        }
        if let Some(m) = &mixer_controls {
            let _first = counters.mixer.set(m.clone());
        }
        let stop_devices = |v: Option<Box<dyn VideoSource>>,
                            a: Option<Box<dyn AudioSource>>,
                            threads: Vec<JoinHandle<()>>| {
            drop((v, a));
            for t in threads {
                join_named(t);
            }
        };
        let video_encoder = match want_video
            .then(|| {
                H264Encoder::new(VideoEncodeSettings {
                    width: preset.width,
                    height: preset.height,
                    fps: preset.fps,
                    bitrate_bps: preset.video_kbps * 1000,
                    keyframe_interval_frames: preset.keyframe_interval_frames(),
                    threads: config.encoder_threads.max(1),
                })
            })
            .transpose()
        {
            Ok(e) => e,
            Err(e) => {
                stop_devices(video_source, audio_source, device_threads);
                return Err(e.into());
            }
        };
        let audio_encoder = match want_audio
            .then(|| AacEncoder::new(preset.audio_kbps * 1000))
            .transpose()
        {
            Ok(e) => e,
            Err(e) => {
                stop_devices(video_source, audio_source, device_threads);
                return Err(e.into());
            }
        };
        // The clock starts before the outputs open: the HLS output maps engine time to the
        // wall clock from it. Opening takes milliseconds, well inside the sources' slack.
        let clock = Clock::start();
        let mut sinks = Vec::new();
        let mut names = Vec::new();
        for spec in &config.outputs {
            let name = unique_name(&names, spec.display_name());
            names.push(name.clone());
            let counters = Arc::new(OutputCounters::new(name, spec.kind()));
            match open_sink(spec, clock, &counters) {
                Ok(sink) => sinks.push((spec.clone(), sink, counters)),
                Err(e) => {
                    drop(sinks);
                    remove_empty_files(&config.outputs);
                    stop_devices(video_source, audio_source, device_threads);
                    return Err(e.into());
                }
            }
        }

        let stop = Arc::new(AtomicBool::new(false));
        let fanout = Arc::new(Fanout::new(want_video, want_audio, free_running));
        // Free-running: how far video has been encoded (audio waits for it); MAX when there
        // is no video or it has ended.
        let video_progress = Arc::new(AtomicI64::new(if want_video { 0 } else { i64::MAX }));
        let mut handle = Self {
            clock,
            stop: stop.clone(),
            counters: counters.clone(),
            fanout: fanout.clone(),
            preview: Arc::new(ProgramPreview::new(0)),
            sources: Vec::new(),
            devices: device_threads,
            mixer: mixer_controls,
            encoders: Vec::new(),
            outputs: Vec::new(),
            finished_outputs: Vec::new(),
        };
        for (spec, sink, counters) in sinks {
            handle.spawn_output(&spec, sink, counters)?;
        }
        let pace = if free_running {
            Pace::FreeRunning(video_progress.clone())
        } else {
            Pace::RealTime
        };

        // Outputs start at the first keyframe sent once every stream is described: the audio's
        // description must be there before the video thread can encode its first picture, or
        // a loaded machine loses that keyframe and the output starts one interval late.
        if let (Some(encoder), Some(_)) = (&audio_encoder, &audio_source) {
            fanout.set_audio_config(encoder.config().clone());
            // Known before any Opus encoder runs, so a WebRTC output starts at once.
            fanout.set_audio_config(OpusEncoder::stream_config(preset.audio_kbps * 1000));
        }
        if let (Some(encoder), Some(mut source)) = (video_encoder, video_source) {
            source.set_clock(clock);
            let (tx, rx) = bounded(VIDEO_QUEUE_FRAMES);
            // Queued, being encoded, kept as the last picture, being filled.
            let (pool, recycle) =
                pool::FramePool::new(preset.width, preset.height, VIDEO_QUEUE_FRAMES + 3);
            let ctx = SourceCtx {
                clock,
                stop: stop.clone(),
                counters: counters.clone(),
                end: config.duration,
                pace: pace.clone(),
            };
            let frame_tb = preset.frame_timebase();
            handle.encoders.push(spawn("enc-h264", {
                let (counters, fanout) = (counters.clone(), fanout.clone());
                let preview = handle.preview.clone();
                move || {
                    let out = EncoderOut {
                        counters: &counters,
                        fanout: &fanout,
                        progress: &video_progress,
                        preview: &preview,
                    };
                    run_video_encoder(encoder, &rx, &recycle, &out);
                }
            })?);
            handle.sources.push(spawn("src-video", move || {
                run_video_source(source, frame_tb, pool, &tx, &ctx)
            })?);
        }
        if let (Some(encoder), Some(mut source)) = (audio_encoder, audio_source) {
            source.set_clock(clock);
            let (tx, rx) = bounded(AUDIO_QUEUE_CHUNKS);
            // Sample buffers go back to the source (full: the buffer is freed).
            let (recycle_tx, recycle_rx) = bounded(AUDIO_QUEUE_CHUNKS + 2);
            let ctx = SourceCtx {
                clock,
                stop: stop.clone(),
                counters: counters.clone(),
                end: config.duration,
                pace,
            };
            handle.encoders.push(spawn("enc-aac", {
                let (counters, fanout) = (counters.clone(), fanout.clone());
                let opus_bps = preset.audio_kbps * 1000;
                move || run_audio_encoder(encoder, opus_bps, &rx, &recycle_tx, &counters, &fanout)
            })?);
            handle.sources.push(spawn("src-audio", move || {
                run_audio_source(source, &tx, &recycle_rx, &ctx)
            })?);
        }
        tracing::info!(preset = %config.preset.name, outputs = config.outputs.len(), "engine started");
        Ok(handle)
    }

    /// Adds an output while running; it starts at the next scheduled keyframe, at its own time
    /// zero.
    pub fn add_output(&mut self, spec: &OutputSpec) -> Result<OutputId, EngineError> {
        let taken: Vec<&str> = self
            .outputs
            .iter()
            .map(|o| o.counters.name.as_str())
            .collect();
        let name = unique_name(&taken, spec.display_name());
        let counters = Arc::new(OutputCounters::new(name, spec.kind()));
        let sink = open_sink(spec, self.clock, &counters)?;
        self.spawn_output(spec, sink, counters)
    }

    /// Stops one output: it writes what it has queued, finalizes, and its thread ends.
    pub fn remove_output(&mut self, id: OutputId) {
        self.fanout.remove(id);
        if let Some(i) = self.outputs.iter().position(|o| o.id == id) {
            let counters = self.outputs.remove(i).join();
            self.finished_outputs.push(counters);
        }
    }

    fn spawn_output(
        &mut self,
        spec: &OutputSpec,
        mut sink: Box<dyn OutputSink>,
        counters: Arc<OutputCounters>,
    ) -> Result<OutputId, EngineError> {
        let (tx, rx) = bounded(OUTPUT_QUEUE_PACKETS);
        let n = self.outputs.len() + self.finished_outputs.len();
        let worker = match sink.take_worker() {
            Some(work) => Some(spawn(&format!("out-{n}-{}-net", spec.kind()), work)?),
            None => None,
        };
        let thread = spawn(&format!("out-{n}-{}", spec.kind()), {
            let counters = counters.clone();
            let clock = self.clock;
            move || run_output(sink, &rx, &counters, clock)
        })?;
        let id = self.fanout.add(tx, counters.clone(), spec.audio_codec());
        self.outputs.push(OutputThread {
            id,
            counters,
            thread,
            worker,
        });
        Ok(id)
    }

    /// The running outputs, in the order they were added (those of [`EngineConfig::outputs`]
    /// first).
    pub fn output_ids(&self) -> Vec<OutputId> {
        self.outputs.iter().map(|o| o.id).collect()
    }

    /// The stats of one running output.
    pub fn output_snapshot(&self, id: OutputId) -> Option<OutputSnapshot> {
        self.outputs
            .iter()
            .find(|o| o.id == id)
            .map(|o| o.counters.snapshot())
    }

    /// Asks a reconnecting output to try again now instead of waiting out its backoff.
    pub fn retry_now(&self, id: OutputId) {
        if let Some(o) = self.outputs.iter().find(|o| o.id == id) {
            o.counters.request_retry();
        }
    }

    /// The program picture for a preview; off until its rate is set
    /// ([`ProgramPreview::set_fps`]).
    pub fn preview(&self) -> Arc<ProgramPreview> {
        self.preview.clone()
    }

    /// The program audio's level per channel, for meters.
    pub fn audio_levels(&self) -> Arc<stats::AudioLevels> {
        self.counters.audio_levels.clone()
    }

    /// The audio mixer's settings and meters, changeable while running; `None` without audio.
    pub fn mixer(&self) -> Option<Arc<MixerControls>> {
        self.mixer.clone()
    }

    /// Adds an audio source while running: a device source as `settings` say (opened here,
    /// on the caller's thread, which waits for the device up to 10 s), or `input`, fed by
    /// another part of the engine (see [`crate::mix::external`]).
    pub fn add_audio_source(
        &mut self,
        settings: SourceSettings,
        input: Option<Box<dyn AudioInput>>,
    ) -> Result<(), EngineError> {
        let Some(mixer) = self.mixer.clone() else {
            return Err(MixerError::Invalid(crate::config::mixer::MixerProblem {
                source: Some(settings.name),
                field: "source",
                problem: "cannot join: this engine was started without audio".into(),
            })
            .into());
        };
        settings.validate().map_err(|(field, problem)| {
            MixerError::Invalid(crate::config::mixer::MixerProblem {
                source: Some(settings.name.clone()),
                field,
                problem,
            })
        })?;
        let mut input = match (input, settings.input()) {
            (Some(i), _) => i,
            (None, Some(kind)) => devices::audio_input(&kind, &settings.name),
            (None, None) => {
                return Err(MixerError::Invalid(crate::config::mixer::MixerProblem {
                    source: Some(settings.name),
                    field: "kind",
                    problem: "an external source needs its input".into(),
                })
                .into());
            }
        };
        let mut threads = Vec::new();
        for w in input.take_workers() {
            threads.push(spawn(&w.name, w.run)?);
        }
        let ready = input.wait_ready();
        input.set_clock(self.clock);
        let attached = ready
            .map_err(EngineError::from)
            .and_then(|()| mixer.attach(settings, input).map_err(EngineError::from));
        // The device threads end once their input is dropped (on failure, now).
        self.devices.extend(threads);
        attached
    }

    /// Engine time now.
    pub fn now(&self) -> MediaTime {
        self.clock.now()
    }

    /// True once every source has stopped (its duration reached, or it failed).
    pub fn sources_finished(&self) -> bool {
        self.sources.iter().all(JoinHandle::is_finished)
    }

    /// Totals so far.
    pub fn snapshot(&self) -> StatsSnapshot {
        self.stats_view().snapshot()
    }

    /// What [`snapshot`](Self::snapshot) reads, for another thread to take snapshots while the
    /// engine stops (outputs added later are not in it).
    pub fn stats_view(&self) -> StatsView {
        StatsView {
            clock: self.clock,
            counters: self.counters.clone(),
            outputs: self
                .finished_outputs
                .iter()
                .cloned()
                .chain(self.outputs.iter().map(|o| o.counters.clone()))
                .collect(),
        }
    }

    /// Stops the sources, lets the encoders flush and every output finalize, and waits for all
    /// of them. Returns the final totals.
    pub fn stop(self) -> StatsSnapshot {
        self.stop.store(true, Relaxed);
        self.finish()
    }

    /// [`stop`](Self::stop) on a thread of its own (`engine-stop`), so that the caller can go on
    /// (writing stats, say) while outputs flush and finalize.
    pub fn stop_in_background(self) -> Result<Stopping, EngineError> {
        let name = "engine-stop";
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || self.stop())
            .map(|thread| Stopping { thread })
            .map_err(|source| EngineError::Spawn {
                name: name.to_owned(),
                source,
            })
    }

    /// Waits for the sources to end by themselves (at `duration`, which must be set, or on a
    /// source error), then lets the encoders flush and every output finalize, as
    /// [`EngineHandle::stop`] does. Returns the final totals.
    pub fn finish(mut self) -> StatsSnapshot {
        for t in self.sources.drain(..) {
            join_named(t);
        }
        for t in self.devices.drain(..) {
            join_named(t);
        }
        for t in self.encoders.drain(..) {
            join_named(t);
        }
        self.fanout.close();
        for o in std::mem::take(&mut self.outputs) {
            let counters = o.join();
            self.finished_outputs.push(counters);
        }
        let snapshot = self.snapshot();
        tracing::info!("engine stopped");
        snapshot
    }
}

/// An engine stopping on its own thread ([`EngineHandle::stop_in_background`]).
pub struct Stopping {
    thread: JoinHandle<StatsSnapshot>,
}

impl Stopping {
    /// True once every thread has ended.
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }

    /// The final totals, once stopped; `None` if stopping panicked.
    pub fn join(self) -> Option<StatsSnapshot> {
        self.thread.join().ok()
    }
}

/// The engine's and its outputs' counters, readable from any thread, also while the engine
/// stops.
#[derive(Clone)]
pub struct StatsView {
    clock: Clock,
    counters: Arc<EngineCounters>,
    outputs: Vec<Arc<OutputCounters>>,
}

impl StatsView {
    /// Totals so far.
    pub fn snapshot(&self) -> StatsSnapshot {
        let outputs = self.outputs.iter().map(|c| c.snapshot()).collect();
        self.counters
            .snapshot(self.clock.now().as_millis_floor(), outputs)
    }

    /// Engine time now.
    pub fn now(&self) -> MediaTime {
        self.clock.now()
    }
}

/// The mixer for `settings`, each source's input made (devices not yet opened).
fn mixer_for(settings: &MixerSettings) -> Mixer {
    let inputs = settings
        .sources
        .iter()
        .filter_map(|s| {
            let kind = s.input()?;
            Some((s.clone(), devices::audio_input(&kind, &s.name)))
        })
        .collect();
    Mixer::new(settings.clone(), inputs)
}

/// Runs each source's device loops on threads of their own (named by the source: `cap-screen`,
/// `cap-camera`, `cap-mic`), then waits for every device's first open.
fn start_devices(
    video: Option<&mut (dyn VideoSource + 'static)>,
    audio: Option<&mut (dyn AudioSource + 'static)>,
    threads: &mut Vec<JoinHandle<()>>,
) -> Result<(), EngineError> {
    let mut run = |workers: Vec<Worker>| -> Result<(), EngineError> {
        for w in workers {
            threads.push(spawn(&w.name, w.run)?);
        }
        Ok(())
    };
    if let Some(v) = video {
        run(v.take_workers())?;
        v.wait_ready()?;
    }
    if let Some(a) = audio {
        run(a.take_workers())?;
        a.wait_ready()?;
    }
    Ok(())
}

/// After a failed start: removes the output files this start created and left empty.
fn remove_empty_files(specs: &[OutputSpec]) {
    for spec in specs {
        let OutputSpec::Recording { path, .. } = spec else {
            continue;
        };
        if std::fs::metadata(path).is_ok_and(|m| m.len() == 0) {
            let _ignored = std::fs::remove_file(path);
        }
    }
}

fn spawn<F: FnOnce() + Send + 'static>(name: &str, f: F) -> Result<JoinHandle<()>, EngineError> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let span =
                tracing::info_span!("thread", name = %std::thread::current().name().unwrap_or("?"));
            let _entered = span.enter();
            f();
        })
        .map_err(|source| EngineError::Spawn {
            name: name.to_owned(),
            source,
        })
}

fn join_named(t: JoinHandle<()>) {
    let name = t.thread().name().unwrap_or("?").to_owned();
    if t.join().is_err() {
        tracing::error!(thread = %name, "thread panicked");
    }
}

#[derive(Clone)]
enum Pace {
    RealTime,
    /// The video's encoded progress (engine time, nanoseconds): audio waits for it.
    FreeRunning(Arc<AtomicI64>),
}

struct SourceCtx {
    clock: Clock,
    stop: Arc<AtomicBool>,
    counters: Arc<EngineCounters>,
    end: Option<MediaTime>,
    pace: Pace,
}

impl SourceCtx {
    fn should_stop(&self, t: MediaTime) -> bool {
        self.stop.load(Relaxed) || self.end.is_some_and(|end| t >= end)
    }

    /// Real time: sleeps until the engine clock reads `t`. Free-running: waits until the
    /// video has been encoded up to `t` (so audio never runs far ahead of video).
    fn wait_for(&self, t: MediaTime) {
        match &self.pace {
            Pace::RealTime => self.clock.sleep_until(t),
            Pace::FreeRunning(progress) => {
                while progress.load(Relaxed) < t.as_nanos() && !self.stop.load(Relaxed) {
                    std::thread::sleep(FREE_RUN_POLL);
                }
            }
        }
    }

    fn free_running(&self) -> bool {
        matches!(self.pace, Pace::FreeRunning(_))
    }
}

fn run_video_source(
    mut source: Box<dyn VideoSource>,
    frame_tb: Timebase,
    mut pool: pool::FramePool,
    tx: &Sender<VideoFrame>,
    ctx: &SourceCtx,
) {
    let interval = frame_tb.ticks_to_time(1);
    for n in 0.. {
        let pts = frame_tb.ticks_to_time(n);
        if ctx.should_stop(pts) {
            break;
        }
        let mut frame = pool.take();
        if !ctx.free_running() {
            ctx.clock.sleep_until(pts);
            if ctx.clock.now() - pts > interval {
                ctx.counters.video_late.fetch_add(1, Relaxed);
            }
        }
        let started = Instant::now();
        if let Err(e) = source.fill(pts, &mut frame) {
            tracing::error!("video source failed: {e}");
            break;
        }
        ctx.counters
            .video_source_nanos
            .fetch_add(started.elapsed().as_nanos() as u64, Relaxed);
        ctx.counters.video_captured.fetch_add(1, Relaxed);
        if ctx.free_running() {
            // Nothing may be dropped: wait for the encoder.
            if tx.send(frame).is_err() {
                break;
            }
            continue;
        }
        match tx.try_send(frame) {
            Ok(()) => {}
            Err(TrySendError::Full(frame)) => {
                ctx.counters
                    .video_dropped_encoder_queue
                    .fetch_add(1, Relaxed);
                if !pool.give_back(frame) {
                    ctx.counters.video_buffers_freed.fetch_add(1, Relaxed);
                }
            }
            Err(TrySendError::Disconnected(_)) => break,
        }
    }
}

/// Where the H.264 thread's results go.
#[derive(Clone, Copy)]
struct EncoderOut<'a> {
    counters: &'a EngineCounters,
    fanout: &'a Fanout,
    /// Media time encoded so far (free-running audio waits on it).
    progress: &'a AtomicI64,
    /// The program picture for a front end's preview.
    preview: &'a ProgramPreview,
}

fn run_video_encoder(
    mut encoder: H264Encoder,
    rx: &Receiver<VideoFrame>,
    recycle: &Sender<VideoFrame>,
    out: &EncoderOut<'_>,
) {
    let EncoderOut {
        counters,
        fanout,
        progress,
        preview,
    } = *out;
    // Whatever ends this loop, audio waiting for video's progress must not wait forever, and
    // the thread's CPU time is recorded (for `onair bench`).
    struct Ended<'a>(&'a AtomicI64, &'a EngineCounters);
    impl Drop for Ended<'_> {
        fn drop(&mut self) {
            self.0.store(i64::MAX, Relaxed);
            if let Some(cpu) = cputime::thread() {
                self.1
                    .video_encoder_thread_cpu_nanos
                    .store(cpu.as_nanos() as u64, Relaxed);
            }
        }
    }
    let _ended = Ended(progress, counters);
    let nominal = u64::from(encoder.settings().bitrate_bps);
    let mut target = nominal;
    // Keyframes asked for by WebRTC receivers (PLI/FIR), the cadence kept.
    let mut keyframe_requests = keyframes::KeyframeRequests::new(KEYFRAME_REQUEST_INTERVAL);
    counters.video_target_bitrate_bps.store(target, Relaxed);
    let deliver = |picture: crate::encode::h264::EncodedPicture| {
        if let Some(config) = picture.new_config {
            fanout.set_video_config(config);
        }
        counters
            .video_encode_nanos
            .fetch_add(picture.encode_time.as_nanos() as u64, Relaxed);
        counters
            .video_bytes
            .fetch_add(picture.packet.data.len() as u64, Relaxed);
        let reached = picture.packet.pts + picture.packet.duration;
        fanout.send(&picture.packet);
        progress.fetch_max(reached.as_nanos(), Relaxed);
    };
    // The frame encoded last: a keyframe time among the slots a stall left empty encodes it
    // again.
    let mut last: Option<VideoFrame> = None;
    for frame in rx {
        // Dynamic bitrate: follow the lowest request of any output, never above the preset.
        let wanted = fanout
            .lowest_bitrate_request()
            .map_or(nominal, |r| r.min(nominal));
        if wanted != target && counters.video_encoded.load(Relaxed) > 0 {
            match encoder.set_bitrate(wanted as u32) {
                Ok(()) => {
                    tracing::info!(bitrate_bps = wanted, "video bitrate changed");
                    target = wanted;
                    counters.video_target_bitrate_bps.store(target, Relaxed);
                }
                Err(e) => tracing::warn!("{e}"),
            }
        }
        // Slots that dropped frames left empty: every output still gets a picture per slot.
        match encoder.fill_empty_slots(frame.pts, last.as_ref()) {
            Ok(pictures) => {
                for picture in pictures {
                    counters.video_repeated.fetch_add(1, Relaxed);
                    deliver(picture);
                }
            }
            Err(e) => {
                tracing::error!("{e}; video stops");
                break;
            }
        }
        preview.offer(&frame);
        let granted = keyframe_requests.next_frame(frame.pts, fanout.take_keyframe_request());
        if granted {
            counters.video_requested_keyframes.fetch_add(1, Relaxed);
        }
        match encoder.encode(&frame, granted) {
            Ok(Some(picture)) => {
                counters.video_encoded.fetch_add(1, Relaxed);
                deliver(picture);
            }
            Ok(None) => {
                counters.video_encoder_skipped.fetch_add(1, Relaxed);
            }
            Err(e) => {
                tracing::error!("{e}; video stops");
                break;
            }
        }
        // Full recycle queue: the pool has enough; let this buffer go (counted).
        if let Some(previous) = last.replace(frame)
            && let Err(TrySendError::Full(_)) = recycle.try_send(previous)
        {
            counters.video_buffers_freed.fetch_add(1, Relaxed);
        }
    }
}

fn run_audio_source(
    mut source: Box<dyn AudioSource>,
    tx: &Sender<AudioChunk>,
    recycled: &Receiver<Vec<i16>>,
    ctx: &SourceCtx,
) {
    let tb = Timebase::AUDIO_48K;
    let end_sample = ctx.end.map(|e| tb.time_to_ticks(e));
    let mut first: i64 = 0;
    let mut meter = stats::LevelMeter::default();
    loop {
        let mut last = first + AUDIO_CHUNK_FRAMES as i64;
        if let Some(end) = end_sample {
            last = last.min(end);
        }
        if last <= first || ctx.stop.load(Relaxed) {
            break;
        }
        // A chunk is "captured" once its last sample's time has passed, like a microphone's;
        // in real time a device source gets its delay on top, for its samples to arrive.
        let due = tb.ticks_to_time(last);
        // Read each time: the mixer's follows its sources' sync offsets.
        let delay = source.delay();
        ctx.wait_for(if ctx.free_running() { due } else { due + delay });
        // A buffer the encoder gave back, or a new one while the pool fills up.
        let mut samples = recycled.try_recv().unwrap_or_default();
        samples.resize((last - first) as usize * AUDIO_CHANNELS, 0);
        source.fill(first as u64, &mut samples);
        meter.push(&samples, &ctx.counters.audio_levels);
        ctx.counters
            .audio_captured_samples
            .fetch_add((last - first) as u64, Relaxed);
        let chunk = AudioChunk {
            pts: tb.ticks_to_time(first),
            samples,
        };
        if ctx.free_running() {
            if tx.send(chunk).is_err() {
                break;
            }
            first = last;
            continue;
        }
        match tx.try_send(chunk) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                ctx.counters
                    .audio_dropped_encoder_queue
                    .fetch_add(1, Relaxed);
            }
            Err(TrySendError::Disconnected(_)) => break,
        }
        first = last;
    }
}

/// The audio thread: AAC always; Opus as well while an output takes it (WebRTC), started when
/// the first such output appears and dropped with the last one. Each from the same chunks.
fn run_audio_encoder(
    mut encoder: AacEncoder,
    opus_bitrate_bps: u32,
    rx: &Receiver<AudioChunk>,
    recycle: &Sender<Vec<i16>>,
    counters: &EngineCounters,
    fanout: &Fanout,
) {
    let send = |packets: Vec<crate::media::EncodedPacket>| {
        for p in &packets {
            counters.audio_encoded.fetch_add(1, Relaxed);
            counters.audio_bytes.fetch_add(p.data.len() as u64, Relaxed);
            fanout.send(p);
        }
    };
    let mut opus: Option<OpusEncoder> = None;
    // After a failure to start libopus, do not try again for every chunk.
    let mut opus_failed = false;
    for chunk in rx {
        match encoder.encode(&chunk) {
            Ok(packets) => send(packets),
            Err(e) => {
                tracing::error!("{e}; audio stops");
                return;
            }
        }
        counters
            .audio_silence_filled_samples
            .store(encoder.filled_samples(), Relaxed);
        if fanout.wants_opus() && !opus_failed {
            if opus.is_none() {
                match OpusEncoder::new(opus_bitrate_bps) {
                    Ok(o) => {
                        tracing::info!("Opus encoder started (a WebRTC output is on)");
                        opus = Some(o);
                    }
                    Err(e) => {
                        tracing::error!("{e}; WebRTC outputs get no audio");
                        opus_failed = true;
                    }
                }
            }
            if let Some(o) = opus.as_mut() {
                match o.encode(&chunk) {
                    Ok(packets) => {
                        for p in &packets {
                            counters.opus_encoded.fetch_add(1, Relaxed);
                            counters.opus_bytes.fetch_add(p.data.len() as u64, Relaxed);
                            fanout.send_opus(p);
                        }
                    }
                    Err(e) => {
                        tracing::error!("{e}; WebRTC outputs get no more audio");
                        opus = None;
                        opus_failed = true;
                    }
                }
            }
        } else if opus.take().is_some() {
            tracing::info!("Opus encoder stopped (no WebRTC output left)");
        }
        // Full: the source has enough buffers; let this one go (counted).
        if let Err(TrySendError::Full(_)) = recycle.try_send(chunk.samples) {
            counters.audio_buffers_freed.fetch_add(1, Relaxed);
        }
    }
    match encoder.flush() {
        Ok(packets) => send(packets),
        Err(e) => tracing::error!("{e} while flushing the last audio"),
    }
}
