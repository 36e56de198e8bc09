//! The session controller: the `app-control` thread that owns the [`EngineHandle`] and drives
//! it for the window.
//!
//! The window never waits on media or the network. It sends [`Command`]s through a bounded
//! channel (`try_send`: when full, the click is refused with a notice and counted, never
//! blocking) to the controller thread, which runs the program from the window's start
//! ([`Command::SetProgram`]; started again when it changes while no output runs; a device
//! added to its scenes while one runs is opened into the running program), adds and
//! removes outputs (the engine's encoders run only while one does; removing one may take
//! seconds: RTMP flushes), and publishes a [`SessionView`] four times a second while the
//! program runs, each time asking the window to repaint. Without a program, it sleeps.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError, bounded};

mod program;

use super::sysinfo;
use crate::capture::VideoSourceKind;
use crate::capture::devices::{self, Devices};
use crate::config::Preset;
use crate::config::mixer::{MixerSettings, SourceSettings};
use crate::mix::MixerControls;
use crate::output::hls::HlsOptions;
use crate::output::rtmp::{ReconnectPolicy, RtmpOptions, RtmpUrl};
use crate::output::whip::{WhipOptions, WhipTarget};
use crate::output::{OutputSpec, RecordingFormat};
use crate::pipeline::stats::AudioLevels;
use crate::pipeline::{
    EngineConfig, EngineHandle, OutputId, OutputSnapshot, OutputState, ProgramPreview,
    StatsSnapshot,
};

/// Commands queued from the window to the controller. When full, a click is refused.
const COMMAND_QUEUE: usize = 16;
/// How often the view is refreshed while the engine runs.
const TICK: Duration = Duration::from_millis(250);
/// Rates (fps, encode time, bitrates) are averaged over this long.
const RATE_WINDOW_MS: i64 = 2_000;
/// Graph history: 5 minutes of one sample per tick.
pub const HISTORY_SAMPLES: usize = 5 * 60 * 4;

/// What the program is made of; fixed while an output runs (but the mixer's settings,
/// which change live through [`SessionView::mixer`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    pub preset: Preset,
    pub video: VideoSourceKind,
    pub audio: MixerSettings,
    /// A WHIP destination is switched on: encoders start in Constrained Baseline, so that it
    /// can join a recording or stream already running (WebRTC peers refuse Main).
    pub webrtc: bool,
}

/// One destination to go live to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveTarget {
    /// What the window calls it (never holds the key).
    pub name: String,
    pub server: LiveServer,
}

/// Where a live target goes: an RTMP(S) URL with its key, or a WHIP endpoint with its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveServer {
    Rtmp(RtmpUrl),
    Whip(WhipTarget),
}

#[derive(Debug, Clone)]
pub enum Command {
    GoLive {
        program: Program,
        targets: Vec<LiveTarget>,
    },
    StopLive,
    /// Retry every reconnecting destination now.
    RetryNow,
    StartRecording {
        program: Program,
        path: PathBuf,
        format: RecordingFormat,
    },
    StopRecording,
    StartPreview {
        program: Program,
        dir: PathBuf,
        addr: SocketAddr,
    },
    StopPreview,
    /// Preview pictures per second in the window.
    PreviewRate(u32),
    /// List the screens, windows, cameras and microphones again.
    ListDevices,
    /// A mixer source (new, or with another device) joins the running engine's mixer,
    /// replacing one of the same name.
    AttachAudioSource(SourceSettings),
    /// Run this program (started now, or again if what it shows changed, once no output
    /// runs).
    SetProgram(Program),
    /// Stop everything and end the controller thread.
    Shutdown,
}

/// A destination as the window shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveView {
    pub name: String,
    pub output: Option<OutputSnapshot>,
}

/// Something the window should tell the person, once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub error: bool,
    pub text: String,
    /// The file it is about (a saved recording), for its Open buttons.
    pub file: Option<PathBuf>,
}

/// The activity of one of the three buttons.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Activity {
    /// Since when it runs (None: idle).
    pub since: Option<Instant>,
    /// Being stopped (outputs finishing).
    pub stopping: bool,
}

/// One point of the graphs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistoryPoint {
    /// Seconds since the engine started (for the plot's x axis only).
    pub t: f64,
    pub encode_ms: f64,
    /// kbit/s per output name.
    pub bitrates: Vec<(String, f64)>,
}

/// Everything the window shows about the session; published by the controller.
#[derive(Debug, Clone, Default)]
pub struct SessionView {
    pub engine_running: bool,
    /// The encoders run (an output does).
    pub encoding: bool,
    /// The scene on the program (`None` unless made of scenes).
    pub current_scene: Option<String>,
    /// During a fade, the scene faded from.
    pub fading_from: Option<String>,
    /// The preset the running engine uses.
    pub preset: Option<String>,
    pub live: Activity,
    pub destinations: Vec<LiveView>,
    pub recording: Activity,
    pub recording_path: Option<PathBuf>,
    pub recording_output: Option<OutputSnapshot>,
    pub preview: Activity,
    pub preview_url: Option<String>,
    pub preview_output: Option<OutputSnapshot>,
    pub stats: Option<StatsSnapshot>,
    /// Per-second rates from the last two snapshots.
    pub fps: f64,
    pub encode_ms: f64,
    /// This process's share of the machine (all its cores), percent, while the engine runs.
    pub cpu_percent: Option<f64>,
    /// The cores the machine offers this process.
    pub cpu_cores: usize,
    pub memory_bytes: Option<u64>,
    pub history: VecDeque<HistoryPoint>,
    /// Notices not yet taken by the window.
    pub notices: Vec<Notice>,
    pub picture: Option<Arc<ProgramPreview>>,
    /// The program audio's level while the engine runs (read by the meters every frame).
    pub levels: Option<Arc<AudioLevels>>,
    /// The mixer while the engine runs: its settings (changed from the window, live) and its
    /// sources' meters.
    pub mixer: Option<Arc<MixerControls>>,
    /// The studio's switches and live edits while the engine runs.
    pub scenes: Option<Arc<crate::capture::studio::SceneControl>>,
    /// The devices found by the last listing (`None` until the first is done).
    pub devices: Option<Arc<Devices>>,
    /// A listing is under way.
    pub listing_devices: bool,
    /// Bumped at every change, so the window copies the view only when it changed (it
    /// repaints faster than the controller publishes, for the preview picture).
    pub generation: u64,
}

/// The window's handle on the controller.
pub struct Session {
    tx: Sender<Command>,
    view: Arc<Mutex<SessionView>>,
    thread: Option<JoinHandle<()>>,
    /// Commands refused because the queue was full (each also told as a notice).
    refused: AtomicU64,
}

impl Session {
    /// Starts the controller thread; `repaint` is called whenever the view changed.
    pub fn start(repaint: Arc<dyn Fn() + Send + Sync>, reconnect: ReconnectPolicy) -> Self {
        let (tx, rx) = bounded(COMMAND_QUEUE);
        let view = Arc::new(Mutex::new(SessionView::default()));
        let controller = Controller {
            rx,
            view: view.clone(),
            repaint,
            reconnect,
            engine: None,
            program: None,
            failed: None,
            live: Vec::new(),
            recording: None,
            preview: None,
            preview_fps: 15,
            cpu: sysinfo::CpuMeter::default(),
            window: VecDeque::new(),
        };
        let thread = std::thread::Builder::new()
            .name("app-control".into())
            .spawn(move || controller.run())
            .map_err(|e| tracing::error!("cannot start the app's controller: {e}"))
            .ok();
        Self {
            tx,
            view,
            thread,
            refused: AtomicU64::new(0),
        }
    }

    /// Queues a command; false (and a notice) if the controller is busy or gone.
    pub fn send(&self, command: Command) -> bool {
        match self.tx.try_send(command) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                self.notify(
                    true,
                    "busy: the last commands are still being carried out; try again",
                );
                false
            }
            Err(TrySendError::Disconnected(_)) => {
                self.notify(true, "the engine controller has stopped; restart onair");
                false
            }
        }
    }

    fn notify(&self, error: bool, text: &str) {
        if let Ok(mut v) = self.view.lock() {
            v.notices.push(Notice {
                error,
                text: text.to_owned(),
                file: None,
            });
            v.generation += 1;
        }
    }

    /// Commands refused so far because the controller was busy (its queue full).
    pub fn refused_commands(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// A copy of the view, with its notices taken, if it changed since generation `seen`.
    pub fn view_if_newer(&self, seen: u64) -> Option<SessionView> {
        let mut v = self.view.lock().ok()?;
        if v.generation == seen {
            return None;
        }
        let copy = v.clone();
        v.notices.clear();
        Some(copy)
    }

    /// Stops every output (finishing files and streams) and waits for the controller.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        let refused = self.refused_commands();
        if refused > 0 && self.thread.is_some() {
            tracing::warn!("{refused} commands were refused while the controller was busy");
        }
        // A blocking send: at exit the window may wait for files to be finalized.
        let _sent = self.tx.send(Command::Shutdown);
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            tracing::error!("the app's controller panicked");
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

struct Controller {
    rx: Receiver<Command>,
    view: Arc<Mutex<SessionView>>,
    repaint: Arc<dyn Fn() + Send + Sync>,
    reconnect: ReconnectPolicy,
    /// The engine and the program it runs.
    engine: Option<(EngineHandle, Program)>,
    /// The program the window asked for last (run as soon as no output runs).
    program: Option<Program>,
    /// The program that failed to start last (not tried again until it changes).
    failed: Option<Program>,
    live: Vec<(String, OutputId)>,
    recording: Option<(OutputId, PathBuf)>,
    preview: Option<OutputId>,
    preview_fps: u32,
    cpu: sysinfo::CpuMeter,
    /// The snapshots of the last [`RATE_WINDOW`]: rates are averaged over it (OBS refreshes
    /// its stats every 2 s), so fragment-sized writes do not make the bitrate flicker.
    window: VecDeque<StatsSnapshot>,
}

impl Controller {
    fn run(mut self) {
        loop {
            let command = if self.engine.is_some() {
                match self.rx.recv_timeout(TICK) {
                    Ok(c) => Some(c),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => Some(Command::Shutdown),
                }
            } else {
                Some(self.rx.recv().unwrap_or(Command::Shutdown))
            };
            if let Some(command) = command {
                if matches!(command, Command::Shutdown) {
                    self.stop_engine();
                    self.publish();
                    return;
                }
                self.handle(command);
            }
            self.open_scene_devices();
            self.publish();
        }
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::GoLive { program, targets } => {
                if !self.live.is_empty() {
                    return;
                }
                if targets.is_empty() {
                    self.notice(
                        true,
                        "no destination is switched on: add one and switch it on".into(),
                    );
                    return;
                }
                let specs: Vec<OutputSpec> = targets
                    .iter()
                    .map(|target| match &target.server {
                        LiveServer::Rtmp(url) => OutputSpec::Rtmp {
                            url: url.clone(),
                            options: RtmpOptions {
                                ca_file: None,
                                reconnect: self.reconnect,
                                dynamic_bitrate: false,
                            },
                        },
                        LiveServer::Whip(target) => OutputSpec::Whip {
                            target: target.clone(),
                            options: WhipOptions {
                                reconnect: self.reconnect,
                                ..WhipOptions::default()
                            },
                        },
                    })
                    .collect();
                let ids = self.add(&program, &specs);
                self.live = targets.into_iter().map(|t| t.name).zip(ids).collect();
                if !self.live.is_empty() {
                    self.update(|v| v.live.since = Some(Instant::now()));
                }
            }
            Command::StopLive => {
                self.update(|v| v.live.stopping = true);
                self.publish();
                for (_, id) in std::mem::take(&mut self.live) {
                    self.remove(id);
                }
                self.update(|v| v.live = Activity::default());
            }
            Command::RetryNow => {
                if let Some((engine, _)) = &self.engine {
                    for (_, id) in &self.live {
                        engine.retry_now(*id);
                    }
                }
            }
            Command::StartRecording {
                program,
                path,
                format,
            } => {
                if self.recording.is_some() {
                    return;
                }
                let spec = OutputSpec::Recording {
                    path: path.clone(),
                    format,
                };
                if let Some(&id) = self.add(&program, &[spec]).first() {
                    self.recording = Some((id, path.clone()));
                    self.update(|v| {
                        v.recording.since = Some(Instant::now());
                        v.recording_path = Some(path);
                    });
                }
            }
            Command::StopRecording => {
                if let Some((id, path)) = self.recording.take() {
                    self.update(|v| v.recording.stopping = true);
                    self.publish();
                    self.remove(id);
                    let text = format!("recording saved: {}", path.display());
                    self.update(|v| {
                        v.notices.push(Notice {
                            error: false,
                            text,
                            file: Some(path),
                        });
                    });
                    self.update(|v| v.recording = Activity::default());
                }
            }
            Command::StartPreview { program, dir, addr } => {
                if self.preview.is_some() {
                    return;
                }
                let spec = OutputSpec::Hls {
                    dir,
                    options: HlsOptions {
                        serve: Some(addr),
                        ..HlsOptions::default()
                    },
                };
                if let Some(&id) = self.add(&program, &[spec]).first() {
                    self.preview = Some(id);
                    self.update(|v| v.preview.since = Some(Instant::now()));
                }
            }
            Command::StopPreview => {
                if let Some(id) = self.preview.take() {
                    self.update(|v| v.preview.stopping = true);
                    self.publish();
                    self.remove(id);
                    self.update(|v| {
                        v.preview = Activity::default();
                        v.preview_url = None;
                    });
                }
            }
            Command::PreviewRate(fps) => {
                self.preview_fps = fps;
                if let Some((engine, _)) = &self.engine {
                    engine.preview().set_fps(fps);
                }
            }
            Command::ListDevices => {
                self.update(|v| v.listing_devices = true);
                self.publish();
                let found = Arc::new(devices::list());
                for e in &found.errors {
                    tracing::info!("device listing: {e}");
                }
                self.update(|v| {
                    v.devices = Some(found);
                    v.listing_devices = false;
                });
            }
            Command::AttachAudioSource(source) => {
                let name = source.name.clone();
                if let Some((engine, _)) = self.engine.as_mut()
                    && let Err(e) = engine.add_audio_source(source, None)
                {
                    self.notice(true, format!("audio source \"{name}\": {e}"));
                }
            }
            Command::SetProgram(program) => self.program = Some(program),
            Command::Shutdown => {}
        }
        if self.live.is_empty() && self.recording.is_none() && self.preview.is_none() {
            self.run_program();
        }
    }

    /// Adds outputs, starting the engine first if none runs (or the program changed and no
    /// output runs), and returns the ids of those added, in order: all of them, or those
    /// before the first that failed (with a notice). The first output starts the encoders
    /// (its first picture a keyframe); later ones begin at their next keyframe.
    fn add(&mut self, program: &Program, specs: &[OutputSpec]) -> Vec<OutputId> {
        self.program = Some(program.clone());
        let idle = self.live.is_empty() && self.recording.is_none() && self.preview.is_none();
        if idle
            && self
                .engine
                .as_ref()
                .is_some_and(|(_, p)| p.differs_from(program))
        {
            self.stop_engine();
        }
        if self.engine.is_none() {
            // The outputs join below, as they join a program already on.
            match EngineHandle::start(program.engine_config()) {
                Ok(engine) => self.started(engine, program),
                Err(e) => {
                    self.notice(true, e.to_string());
                    return Vec::new();
                }
            }
        } else if let Some((_, running)) = &self.engine
            && running.preset.name != program.preset.name
        {
            self.notice(
                false,
                format!(
                    "still using preset {} while something runs; the new one applies once everything is stopped",
                    running.preset.name
                ),
            );
        }
        if let Some((engine, _)) = self.engine.as_mut() {
            // Read when the first output starts the encoders; later outputs join them.
            engine.set_webrtc_may_join(program.webrtc);
        }
        let mut ids = Vec::new();
        for spec in specs {
            let Some((engine, _)) = self.engine.as_mut() else {
                break;
            };
            match engine.add_output(spec) {
                Ok(id) => ids.push(id),
                Err(e) => {
                    self.notice(true, e.to_string());
                    break;
                }
            }
        }
        ids
    }

    fn remove(&mut self, id: OutputId) {
        if let Some((engine, _)) = self.engine.as_mut() {
            engine.remove_output(id);
        }
    }

    fn stop_engine(&mut self) {
        self.live.clear();
        self.recording = None;
        self.preview = None;
        if let Some((engine, _)) = self.engine.take() {
            let last = engine.stop();
            for o in last
                .outputs
                .iter()
                .filter(|o| o.state == OutputState::Failed)
            {
                let why = o.last_error.as_deref().unwrap_or("failed");
                self.notice(true, format!("{}: {why}", o.name));
            }
        }
        self.window.clear();
        self.update(|v| {
            v.engine_running = false;
            v.encoding = false;
            v.current_scene = None;
            v.preset = None;
            v.live = Activity::default();
            v.recording = Activity::default();
            v.preview = Activity::default();
            v.destinations.clear();
            v.recording_output = None;
            v.preview_output = None;
            v.preview_url = None;
            v.picture = None;
            v.levels = None;
            v.mixer = None;
            v.scenes = None;
        });
    }

    fn notice(&self, error: bool, text: String) {
        if error {
            tracing::warn!("{text}");
        }
        self.update(|v| {
            v.notices.push(Notice {
                error,
                text,
                file: None,
            });
        });
    }

    fn update(&self, f: impl FnOnce(&mut SessionView)) {
        if let Ok(mut v) = self.view.lock() {
            f(&mut v);
            v.generation += 1;
        }
    }

    /// Refreshes the stats part of the view and asks for a repaint.
    fn publish(&mut self) {
        let cpu = self.cpu.sample();
        let memory = sysinfo::resident_bytes();
        let mut fresh = None;
        if let Some((engine, _)) = &self.engine {
            let snap = engine.snapshot();
            let destinations: Vec<LiveView> = self
                .live
                .iter()
                .map(|(name, id)| LiveView {
                    name: name.clone(),
                    output: engine.output_snapshot(*id),
                })
                .collect();
            let recording = self
                .recording
                .as_ref()
                .and_then(|(id, _)| engine.output_snapshot(*id));
            let preview = self.preview.and_then(|id| engine.output_snapshot(id));
            let scene = engine
                .scenes()
                .map(|s| (s.current().to_owned(), s.fading_from()));
            fresh = Some((
                snap,
                destinations,
                recording,
                preview,
                engine.encoding(),
                scene,
            ));
        }
        let oldest = self.window.front().cloned();
        let mut newest = None;
        self.update(|v| {
            // A share of the whole machine (`sample` is of one core), and only while running:
            // a reading from before a stop would stand frozen.
            let cores = std::thread::available_parallelism().map_or(1, usize::from);
            v.cpu_cores = cores;
            v.cpu_percent = if fresh.is_some() {
                cpu.map(|c| c / cores as f64).or(v.cpu_percent)
            } else {
                None
            };
            v.memory_bytes = memory;
            let Some((snap, destinations, recording, preview, encoding, scene)) = fresh else {
                return;
            };
            v.encoding = encoding;
            v.fading_from = scene.as_ref().and_then(|s| s.1.clone());
            v.current_scene = scene.map(|s| s.0);
            // Rates and graphs are the encoders' (idle, they do not run).
            if let Some(prev) = oldest.as_ref().filter(|_| encoding) {
                let dt = (snap.time_ms - prev.time_ms) as f64 / 1000.0;
                if dt > 0.0 {
                    let frames = snap.video.encoded.saturating_sub(prev.video.encoded);
                    v.fps = frames as f64 / dt;
                    let nanos = snap
                        .video
                        .encode_nanos_total
                        .saturating_sub(prev.video.encode_nanos_total);
                    v.encode_ms = if frames > 0 {
                        nanos as f64 / frames as f64 / 1e6
                    } else {
                        0.0
                    };
                    let bitrates = snap
                        .outputs
                        .iter()
                        .filter_map(|o| {
                            let before = prev.outputs.iter().find(|p| p.name == o.name)?;
                            let bits = o.bytes.saturating_sub(before.bytes) as f64 * 8.0;
                            Some((o.name.clone(), bits / dt / 1000.0))
                        })
                        .collect();
                    if v.history.len() == HISTORY_SAMPLES {
                        v.history.pop_front();
                    }
                    v.history.push_back(HistoryPoint {
                        t: snap.time_ms as f64 / 1000.0,
                        encode_ms: v.encode_ms,
                        bitrates,
                    });
                }
            }
            v.preview_url = preview.as_ref().and_then(|p| p.url.clone());
            v.destinations = destinations;
            v.recording_output = recording;
            v.preview_output = preview;
            if encoding {
                newest = Some(snap.clone());
            }
            v.stats = Some(snap);
        });
        if newest.is_none() {
            self.window.clear();
        }
        if let Some(snap) = newest {
            while self
                .window
                .front()
                .is_some_and(|f| snap.time_ms - f.time_ms >= RATE_WINDOW_MS)
            {
                self.window.pop_front();
            }
            self.window.push_back(snap);
        }
        (self.repaint)();
    }
}
