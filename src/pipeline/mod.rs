//! The engine: owns every thread and every channel. The only API a front end (CLI, GUI) calls.
//!
//! ```text
//! src-video ──frames──▶ enc-h264 ─┐                      ┌─▶ out-0 (recording) ─▶ file
//!   (paced by the clock)          ├─▶ Fanout::send ──────┼─▶ out-1 ...
//! src-audio ──chunks──▶ enc-aac ──┘   (try_send each)    └─▶ out-N
//! ```
//!
//! The program (sources, mixer, preview) runs from the start; the encoders only while an
//! output does (see `encoders`).
//!
//! Stopping: the sources stop (at `duration`, or when asked), which closes the encoders'
//! queues; the encoders flush and exit; then the fan-out drops every output's sender, and each
//! output drains its queue, finalizes its file and exits. [`EngineHandle::stop`] joins them all.

pub mod cputime;
mod encoders;
pub mod fanout;
mod keyframes;
mod pool;
pub mod preview;
pub mod stats;
mod workers;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering::Relaxed};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};

use crate::capture::studio::{self, SceneControl};
use crate::capture::video_file::{self, ClipAudio};
use crate::capture::{
    AudioInput, AudioSource, CaptureError, VideoSource, VideoSourceKind, Worker, devices,
};
use crate::config::Preset;
use crate::config::mixer::{MixerSettings, SourceSettings};
use crate::encode::{
    AacEncoder, EncodeError, H264Encoder, OpusEncoder, VideoEncodeSettings, VideoTuning,
};
use crate::media::frame::{AUDIO_CHANNELS, AUDIO_RATE_HZ};
use crate::media::time::Clock;
use crate::media::{AudioChunk, MediaTime, Timebase, VideoFrame};
use crate::mix::{Mixer, MixerControls, MixerError};
use crate::output::runner::{open_sink, run_output};
use crate::output::{OutputError, OutputSink, OutputSpec};
use workers::{
    EncoderOut, Pace, SourceCtx, VideoOut, run_audio_encoder, run_audio_source, run_video_encoder,
    run_video_source,
};

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
    /// How OpenH264 is set up; `None`: the defaults for the video source
    /// ([`VideoTuning::for_source`]).
    pub video_tuning: Option<VideoTuning>,
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
    #[error(
        "a WebRTC (WHIP) output cannot join the running H.264 {profile} stream (WebRTC needs Constrained Baseline): stop recording and streaming, then start the WHIP output first or with them"
    )]
    WebRtcNeedsBaseline { profile: &'static str },
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
    /// Scene switches (`None` unless the video is a studio of scenes).
    scenes: Option<Arc<SceneControl>>,
    /// The encoders: running only while an output is.
    encoders: encoders::Encoders,
    outputs: Vec<OutputThread>,
    /// Outputs removed while running, whose threads are still finishing.
    finished_outputs: Vec<Arc<OutputCounters>>,
}

impl EngineHandle {
    /// Starts the sources and every output in `config`, and the encoders if there is one (else
    /// they start with the first output [`add_output`](Self::add_output) adds). Every output
    /// file is created and every encoder initialised before any thread starts, so a bad path
    /// fails here.
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
        // Video files' sound joins the mixer (which runs for it even without other sources).
        let clips = video_source
            .as_mut()
            .map(|v| v.audio_outputs())
            .unwrap_or_default();
        let want_audio = want_audio || !clips.is_empty();
        let mixer = want_audio.then(|| mixer_for(&config.audio, clips));
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
        let scenes = video_source.as_ref().and_then(|v| v.scenes());
        let counters = Arc::new(EngineCounters::default());
        for s in video_source.iter().map(|v| v.device_counters()) {
            counters.add_sources(s);
        }
        if let Some(m) = &mixer_controls {
            let _first = counters.mixer.set(m.clone());
        }
        if let Some(s) = &scenes {
            let _first = counters.scenes.set(s.clone());
        }
        let stop_devices = |v: Option<Box<dyn VideoSource>>,
                            a: Option<Box<dyn AudioSource>>,
                            threads: Vec<JoinHandle<()>>| {
            drop((v, a));
            for t in threads {
                join_named(t);
            }
        };
        let fanout = Arc::new(Fanout::new(want_video, want_audio, free_running));
        // Free-running: how far video has been encoded (audio waits for it); MAX when there
        // is no video or it has ended.
        let video_progress = Arc::new(AtomicI64::new(if want_video { 0 } else { i64::MAX }));
        // Queued, being encoded, kept as the last picture, being filled.
        let (pool, video_recycle) =
            pool::FramePool::new(preset.width, preset.height, VIDEO_QUEUE_FRAMES + 3);
        // Sample buffers go back to the source (full: the buffer is freed).
        let (audio_recycle, audio_recycled) = bounded(AUDIO_QUEUE_CHUNKS + 2);
        let encoders = encoders::Encoders {
            preset: preset.clone(),
            threads: config.encoder_threads,
            tuning: config.video_tuning.unwrap_or_else(|| {
                VideoTuning::for_source(&config.video, preset.width, preset.height, preset.fps)
            }),
            video_tap: Arc::default(),
            audio_tap: Arc::default(),
            video_recycle: video_source.is_some().then_some(video_recycle),
            audio_recycle: audio_source.is_some().then_some(audio_recycle),
            progress: video_progress.clone(),
            counters: counters.clone(),
            fanout: fanout.clone(),
            running: Vec::new(),
            running_profile: None,
            webrtc_may_join: false,
        };
        // Encoders only with an output (made before any file is, so a bad setting fails
        // first); without, the program runs alone until one joins.
        let made = if config.outputs.is_empty() {
            None
        } else {
            let whip = config
                .outputs
                .iter()
                .any(|o| matches!(o, OutputSpec::Whip { .. }));
            match encoders.make(whip) {
                Ok(m) => Some(m),
                Err(e) => {
                    stop_devices(video_source, audio_source, device_threads);
                    return Err(e);
                }
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
        let (video_tap, audio_tap) = (encoders.video_tap.clone(), encoders.audio_tap.clone());
        let mut handle = Self {
            clock,
            stop: stop.clone(),
            counters: counters.clone(),
            fanout,
            preview: Arc::new(ProgramPreview::new(0)),
            sources: Vec::new(),
            devices: device_threads,
            mixer: mixer_controls,
            scenes,
            encoders,
            outputs: Vec::new(),
            finished_outputs: Vec::new(),
        };
        for (spec, sink, counters) in sinks {
            handle.spawn_output(&spec, sink, counters)?;
        }
        if made.is_some() {
            handle.encoders.start(made, false)?;
        }
        let pace = if free_running {
            Pace::FreeRunning(video_progress)
        } else {
            Pace::RealTime
        };
        if let Some(mut source) = video_source {
            source.set_clock(clock);
            let ctx = SourceCtx {
                clock,
                stop: stop.clone(),
                counters: counters.clone(),
                end: config.duration,
                pace: pace.clone(),
            };
            let frame_tb = preset.frame_timebase();
            let preview = handle.preview.clone();
            handle.sources.push(spawn("src-video", move || {
                let out = VideoOut {
                    pool,
                    tap: &video_tap,
                    preview: &preview,
                };
                run_video_source(source, frame_tb, out, &ctx)
            })?);
        }
        if let Some(mut source) = audio_source {
            source.set_clock(clock);
            let ctx = SourceCtx {
                clock,
                stop: stop.clone(),
                counters: counters.clone(),
                end: config.duration,
                pace,
            };
            handle.sources.push(spawn("src-audio", move || {
                run_audio_source(source, &audio_tap, &audio_recycled, &ctx)
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
        if matches!(spec, OutputSpec::Whip { .. }) {
            self.encoders.refuse_webrtc()?;
        }
        let counters = Arc::new(OutputCounters::new(name, spec.kind()));
        let sink = open_sink(spec, self.clock, &counters)?;
        let id = self.spawn_output(spec, sink, counters)?;
        // The first output starts the encoders (after it joined the fan-out, so that it
        // starts at their first keyframe).
        let whip = matches!(spec, OutputSpec::Whip { .. });
        if let Err(e) = self.encoders.start(None, whip) {
            self.remove_output(id);
            return Err(e);
        }
        Ok(id)
    }

    /// Whether a WebRTC (WHIP) output may join outputs that run without it (a WHIP destination
    /// is set up and enabled): the encoders started from now on code Constrained Baseline, so
    /// that it can (see [`EngineError::WebRtcNeedsBaseline`]). Running encoders keep theirs.
    pub fn set_webrtc_may_join(&mut self, may: bool) {
        self.encoders.webrtc_may_join = may;
    }

    /// True while the encoders run (while an output does).
    pub fn encoding(&self) -> bool {
        self.encoders.is_running()
    }

    /// Stops one output: it writes what it has queued, finalizes, and its thread ends. The
    /// last one stops the encoders first, so that it gets their last packets.
    pub fn remove_output(&mut self, id: OutputId) {
        if self.outputs.iter().all(|o| o.id == id) {
            self.encoders.stop();
        }
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

    /// Scene switches while running; `None` unless the video is a studio of scenes.
    pub fn scenes(&self) -> Option<Arc<SceneControl>> {
        self.scenes.clone()
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

    /// Starts the device loops of screens, windows and cameras added to the running studio's
    /// scenes ([`SceneControl::take_new_devices`]), here on the caller's thread (a device may
    /// take a moment to open), never on the media thread, which shows each from its slot as
    /// soon as it has a picture. Nothing else restarts: encoders, outputs and the clock go on.
    /// A device that cannot be opened now shows the slate and is tried again every 2 s; its
    /// error is returned, to be told.
    pub fn open_scene_devices(&mut self) -> Vec<EngineError> {
        let Some(scenes) = self.scenes.clone() else {
            return Vec::new();
        };
        let mut errors = self.attach_new_sounds(&scenes);
        let new = scenes.take_new_devices();
        if new.is_empty() {
            return errors;
        }
        self.join_finished_devices();
        let p = &self.encoders.preset;
        for (source, slot) in new {
            let Some((worker, error)) =
                studio::start_device(&source.kind, &slot, p.width, p.height, p.fps)
            else {
                continue;
            };
            slot.set_clock(self.clock);
            self.counters.add_sources(vec![slot.counters().clone()]);
            match spawn(&worker.name, worker.run) {
                Ok(t) => self.devices.push(t),
                Err(e) => errors.push(e),
            }
            tracing::info!(source = %source.name, kind = source.kind.name(), "device opened while running");
            errors.extend(error.map(EngineError::from));
        }
        errors
    }

    /// Gives the sound of each video file the running studio opened its strip in the mixer
    /// (named as the source, or a free name beside another kind's strip of that name), fed on
    /// the engine clock like one opened at the start, so it is in sync wherever it joins.
    fn attach_new_sounds(&mut self, scenes: &SceneControl) -> Vec<EngineError> {
        use crate::config::mixer::SourceKind;
        let mut errors = Vec::new();
        for (name, clip) in scenes.take_new_sounds() {
            let Some(mixer) = self.mixer.clone() else {
                tracing::warn!(source = %name, "this program has no sound: the video is not heard");
                continue;
            };
            let settings = mixer.settings();
            let name = match settings.source(&name) {
                Some(s) if s.kind != SourceKind::External => settings.free_name(&name),
                _ => name,
            };
            let strip = SourceSettings::new(name, SourceKind::External, "");
            let (feed, mut input) =
                crate::mix::external::external(&strip.name, video_file::AUDIO_DELAY);
            input.gate(clip.on_air);
            let _set = clip.feed.set(Box::new(feed));
            if let Err(e) = self.add_audio_source(strip, Some(Box::new(input))) {
                errors.push(e);
            }
        }
        errors
    }

    /// Joins the device threads that have ended (their source was removed from the scenes).
    fn join_finished_devices(&mut self) {
        let (done, running) = std::mem::take(&mut self.devices)
            .into_iter()
            .partition(JoinHandle::is_finished);
        self.devices = running;
        for t in done {
            join_named(t);
        }
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
        // Slots the studio never took would keep their device loops running.
        if let Some(scenes) = &self.scenes {
            scenes.release();
        }
        for t in self.devices.drain(..) {
            join_named(t);
        }
        // The sources emptied their taps as they ended.
        self.encoders.stop();
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

/// The mixer for `settings`, each source's input made (devices not yet opened), and a strip
/// for each of `clips` (video files' sound, named as their source): with the settings of the
/// "external" source of that name, else the defaults under a free name.
fn mixer_for(settings: &MixerSettings, clips: Vec<(String, ClipAudio)>) -> Mixer {
    let mut settings = settings.clone();
    // "external" sources with no video playing are left out.
    settings.sources.retain(|s| {
        s.kind != crate::config::mixer::SourceKind::External
            || clips.iter().any(|(name, _)| *name == s.name)
    });
    let mut inputs: Vec<(SourceSettings, Box<dyn AudioInput>)> = settings
        .sources
        .iter()
        .filter_map(|s| {
            let kind = s.input()?;
            Some((s.clone(), devices::audio_input(&kind, &s.name)))
        })
        .collect();
    for (name, clip) in clips {
        if settings.sources.len() >= crate::config::mixer::MAX_SOURCES {
            tracing::error!(source = %name, "the mixer is full: this video's sound is left out");
            continue;
        }
        let set = settings
            .source(&name)
            .filter(|s| s.kind == crate::config::mixer::SourceKind::External)
            .cloned();
        let s = set.unwrap_or_else(|| {
            let s = SourceSettings::new(
                settings.free_name(&name),
                crate::config::mixer::SourceKind::External,
                "",
            );
            settings.sources.push(s.clone());
            s
        });
        let (feed, mut input) = crate::mix::external::external(&s.name, video_file::AUDIO_DELAY);
        input.gate(clip.on_air);
        let _set = clip.feed.set(Box::new(feed));
        inputs.push((s, Box::new(input)));
    }
    Mixer::new(settings, inputs)
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
