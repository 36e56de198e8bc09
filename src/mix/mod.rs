//! The audio mixer: every audio source (microphones, desktop audio, the tone, inputs fed by
//! other parts of the engine) through its strip (sync offset, mono, balance, filters, fader,
//! meter, mute), summed in sample time on the engine clock into the program (48 kHz stereo),
//! with a master fader and a limiter; and monitoring through an output device.
//!
//! ```text
//! input ─▶ Strip (delay line ─ offset ─ mono/balance ─ filters ─ fader ─ meter ─ mute) ─┐
//! input ─▶ Strip ...                                                                  ├─▶ Σ program ─ master ─ limiter ─▶ i16 chunk
//!                                                  monitored strips (and the program) ─┴─▶ Σ monitor ─▶ ring ─▶ mon-audio (cpal)
//! ```
//!
//! The [`Mixer`] is the engine's audio source: `src-audio` asks it for program sample `n` once
//! its clock reads `n`'s time plus [`Mixer::delay`] (the largest of the inputs' delays plus
//! how far its strip reads ahead: a negative offset, noise suppression's 10 ms; plus the
//! limiter's 5 ms look-ahead, so that every latency is made up for). Each input is pulled as far as it can give
//! at that moment (the clock less its own delay) into its strip's delay line, and read back
//! at its offset: time is the sample count, never the wall clock. The mixer works in blocks of
//! 480 frames (10 ms, RNNoise's frame) and allocates nothing per block.
//!
//! Front ends change the mixer through [`MixerControls`] (the settings behind a mutex the
//! mixer only `try_lock`s, with a generation counter) and read the meters from atomics; an
//! input joins while running through [`MixerControls::attach`] (a bounded queue).

pub mod dsp;
pub mod external;
pub mod meter;
pub mod monitor;
mod strip;

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};

use crossbeam_channel::{Receiver, Sender, bounded};
use serde::Serialize;

use crate::capture::{
    AudioInput, AudioSource, CaptureError, SourceCounters, SourceDevices, SourceSnapshot, Worker,
};
use crate::config::mixer::{MAX_SOURCES, MixerProblem, MixerSettings, SourceSettings};
use crate::media::time::Clock;
use crate::media::{MediaTime, Timebase};
use dsp::{BLOCK_FRAMES, LOOKAHEAD_FRAMES, Limiter, db_to_linear};
pub use meter::{LevelReading, Levels};
use monitor::{Monitor, MonitorFeed};
pub use strip::Strip;

const BLOCK: usize = BLOCK_FRAMES * 2;
/// Inputs waiting to join a running mixer. Full: [`MixerControls::attach`] says so (the caller
/// tries again); never blocks the mixer.
const JOINING: usize = 4;
/// The limiter holds the program's samples this far under `limiter_dbfs`, so that the encoded
/// audio stays under it too: AAC's decoded output overshoots its input by a few hundredths
/// of a dB on tones and by tenths on dense material.
pub const CODEC_HEADROOM_DB: f32 = 0.5;

/// What a front end sees of one strip.
#[derive(Clone)]
pub struct StripHandle {
    pub name: String,
    pub levels: Arc<Levels>,
    pub counters: Arc<SourceCounters>,
}

/// The mixer's settings and meters, shared between the mixer (on `src-audio`) and front ends.
pub struct MixerControls {
    settings: Mutex<MixerSettings>,
    generation: AtomicU64,
    strips: Mutex<Vec<StripHandle>>,
    joining: (Sender<Strip>, Receiver<Strip>),
    /// The limiter's lowest gain in the last block, `f32` bits (1: not limiting).
    limiter_gain: AtomicU32,
    pub monitor: Arc<monitor::MonitorCounters>,
}

/// Why an input could not join.
#[derive(Debug, thiserror::Error)]
pub enum MixerError {
    #[error("{0}")]
    Invalid(MixerProblem),
    #[error("the mixer takes at most {MAX_SOURCES} sources")]
    Full,
    #[error("the mixer is busy taking other sources; try again")]
    Busy,
    #[error(transparent)]
    Capture(#[from] CaptureError),
}

/// One source in the stats (`sources`): its settings and levels.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StripSnapshot {
    pub volume_db: f32,
    pub muted: bool,
    pub sync_offset_ms: i32,
    pub mono: bool,
    pub balance: f32,
    pub monitoring: &'static str,
    pub filters: Vec<&'static str>,
    /// Levels after the filters and the fader, before the mute; `None` before the first
    /// 100 ms.
    pub level: Option<LevelReading>,
}

impl std::fmt::Debug for MixerControls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MixerControls")
            .field("generation", &self.generation.load(Relaxed))
            .finish_non_exhaustive()
    }
}

impl MixerControls {
    fn new(settings: MixerSettings) -> Arc<Self> {
        Arc::new(Self {
            settings: Mutex::new(settings),
            generation: AtomicU64::new(1),
            strips: Mutex::new(Vec::new()),
            joining: bounded(JOINING),
            limiter_gain: AtomicU32::new(1f32.to_bits()),
            monitor: Arc::default(),
        })
    }

    /// The settings now (a copy).
    pub fn settings(&self) -> MixerSettings {
        self.settings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Changes the settings: `change` edits a copy, which must validate; the mixer takes it
    /// at its next block. A source no longer in the settings leaves the mixer.
    pub fn update(&self, change: impl FnOnce(&mut MixerSettings)) -> Result<(), MixerProblem> {
        let mut s = self.settings.lock().unwrap_or_else(PoisonError::into_inner);
        let mut new = s.clone();
        change(&mut new);
        new.validate()?;
        if let Ok(mut strips) = self.strips.lock() {
            strips.retain(|h| new.source(&h.name).is_some());
        }
        *s = new;
        self.generation.fetch_add(1, Relaxed);
        Ok(())
    }

    /// Adds a source while the mixer runs: its settings (replacing any of the same name) and
    /// its input, already started (its device threads running, its clock set).
    pub fn attach(
        &self,
        settings: SourceSettings,
        input: Box<dyn AudioInput>,
    ) -> Result<(), MixerError> {
        let name = settings.name.clone();
        let strip = Strip::new(&settings, input);
        let handle = StripHandle {
            name: name.clone(),
            levels: strip.levels().clone(),
            counters: strip.counters().clone(),
        };
        let existed = {
            let s = self.settings.lock().unwrap_or_else(PoisonError::into_inner);
            if s.source(&name).is_none() && s.sources.len() >= MAX_SOURCES {
                return Err(MixerError::Full);
            }
            s.source(&name).is_some()
        };
        // The settings first, so the mixer keeps the strip when it takes it.
        self.update(|s| match s.source_mut(&name) {
            Some(old) => *old = settings,
            None => s.sources.push(settings),
        })
        .map_err(MixerError::Invalid)?;
        if self.joining.0.try_send(strip).is_err() {
            if !existed {
                let _back = self.update(|s| s.sources.retain(|x| x.name != name));
            }
            return Err(MixerError::Busy);
        }
        if let Ok(mut strips) = self.strips.lock() {
            strips.retain(|h| h.name != name);
            strips.push(handle);
        }
        Ok(())
    }

    /// The strips as they are now: names, meters, device counters.
    pub fn strips(&self) -> Vec<StripHandle> {
        self.strips.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The level of the strip called `name`.
    pub fn levels(&self, name: &str) -> Option<LevelReading> {
        let strips = self.strips.lock().ok()?;
        strips.iter().find(|h| h.name == name)?.levels.get()
    }

    /// The limiter's gain reduction in the last block, dB (0: not limiting).
    pub fn limiter_reduction_db(&self) -> f32 {
        dsp::linear_to_db(f32::from_bits(self.limiter_gain.load(Relaxed))).min(0.0)
    }

    /// Every source for the stats: device counters, settings and levels.
    pub fn snapshot(&self) -> Vec<(SourceSnapshot, StripSnapshot)> {
        let settings = self.settings();
        self.strips()
            .iter()
            .filter_map(|h| {
                let s = settings.source(&h.name)?;
                Some((
                    h.counters.snapshot(),
                    StripSnapshot {
                        volume_db: s.volume_db,
                        muted: s.muted,
                        sync_offset_ms: s.sync_offset_ms,
                        mono: s.mono,
                        balance: s.balance,
                        monitoring: s.monitoring.label(),
                        filters: s.filters.iter().map(|f| f.kind()).collect(),
                        level: h.levels.get(),
                    },
                ))
            })
            .collect()
    }
}

/// The program's audio: every strip mixed on the engine clock. The engine's [`AudioSource`].
pub struct Mixer {
    controls: Arc<MixerControls>,
    strips: Vec<Strip>,
    seen: u64,
    /// Frames the program runs behind the engine clock (see the module's doc).
    delay_frames: i64,
    master: f32,
    master_target: f32,
    limiter: Limiter,
    monitor_program: bool,
    monitor: MonitorFeed,
    monitor_worker: Option<Worker>,
    program: [f32; BLOCK],
    monitored: [f32; BLOCK],
    source: [f32; BLOCK],
    /// The block made last, and how much of it is handed out.
    carry: [f32; BLOCK],
    carry_at: usize,
    /// The program frame the next block starts at.
    next_block: u64,
    /// The program frame the next `fill` should ask for.
    next_fill: u64,
    /// Whether the limiter's look-ahead holds the frames before `next_block`.
    primed: bool,
}

impl Mixer {
    /// A mixer as `settings` say, over `inputs` (one per source, in order; a source whose
    /// input is `None` is left out of the running mixer).
    pub fn new(
        settings: MixerSettings,
        inputs: Vec<(SourceSettings, Box<dyn AudioInput>)>,
    ) -> Self {
        let strips: Vec<Strip> = inputs
            .into_iter()
            .map(|(s, input)| Strip::new(&s, input))
            .collect();
        let controls = MixerControls::new(settings.clone());
        if let Ok(mut handles) = controls.strips.lock() {
            handles.extend(strips.iter().map(|s| StripHandle {
                name: s.name().to_owned(),
                levels: s.levels().clone(),
                counters: s.counters().clone(),
            }));
        }
        let (monitor, feed) =
            Monitor::new(settings.monitor_device.clone(), controls.monitor.clone());
        let mut strips_with_room = Vec::with_capacity(MAX_SOURCES);
        strips_with_room.extend(strips);
        let mut m = Self {
            controls,
            strips: strips_with_room,
            seen: 0,
            delay_frames: 0,
            master: 1.0,
            master_target: 1.0,
            limiter: Limiter::new(settings.limiter_dbfs - CODEC_HEADROOM_DB),
            monitor_program: false,
            monitor: feed,
            monitor_worker: Some(monitor.worker()),
            program: [0.0; BLOCK],
            monitored: [0.0; BLOCK],
            source: [0.0; BLOCK],
            carry: [0.0; BLOCK],
            carry_at: BLOCK,
            next_block: 0,
            next_fill: 0,
            primed: false,
        };
        m.reconcile();
        m.master = m.master_target;
        m
    }

    /// The handle front ends change the mixer through.
    pub fn controls(&self) -> Arc<MixerControls> {
        self.controls.clone()
    }

    /// Takes the latest settings and the inputs waiting to join, if the settings are free;
    /// otherwise tries again at the next block (never waits).
    fn reconcile(&mut self) {
        let generation = self.controls.generation.load(Relaxed);
        let joined = !self.controls.joining.1.is_empty();
        if generation == self.seen && !joined {
            return;
        }
        let Ok(settings) = self.controls.settings.try_lock() else {
            return;
        };
        while let Ok(strip) = self.controls.joining.1.try_recv() {
            self.strips.retain(|s| s.name() != strip.name());
            if self.strips.len() < MAX_SOURCES {
                self.strips.push(strip);
            }
        }
        self.strips.retain(|s| settings.source(s.name()).is_some());
        for strip in &mut self.strips {
            if let Some(s) = settings.source(strip.name()) {
                strip.apply(s);
            }
        }
        self.master_target = if settings.master_muted {
            0.0
        } else {
            db_to_linear(settings.master_db)
        };
        self.limiter
            .set_ceiling(settings.limiter_dbfs - CODEC_HEADROOM_DB);
        self.monitor_program = settings.monitor_program;
        self.monitor.set_device(&settings.monitor_device);
        // Behind the clock by the slowest input, plus the furthest a strip reads ahead (its
        // filters' latency, a negative offset), plus the limiter's look-ahead.
        self.delay_frames = self
            .strips
            .iter()
            .map(|s| s.input_delay + s.read_ahead().max(0))
            .max()
            .unwrap_or(0)
            + LOOKAHEAD_FRAMES as i64;
        self.seen = generation;
    }

    /// Sums every strip's block starting at input frame `first` into `program` (and the
    /// monitored ones into `monitored`); whether anything is monitored.
    fn mix_strips(&mut self, first: i64) -> bool {
        self.program.fill(0.0);
        self.monitored.fill(0.0);
        let mut monitoring = self.monitor_program;
        for strip in &mut self.strips {
            strip.process(
                first,
                self.delay_frames - LOOKAHEAD_FRAMES as i64,
                &mut self.source,
            );
            if strip.monitoring.to_program() {
                for (p, s) in self.program.iter_mut().zip(&self.source) {
                    *p += s;
                }
            }
            if strip.monitoring.to_monitor() {
                monitoring = true;
                for (m, s) in self.monitored.iter_mut().zip(&self.source) {
                    *m += s;
                }
            }
        }
        monitoring
    }

    /// Makes the next program block into `carry`.
    fn make_block(&mut self) {
        self.reconcile();
        // The strips run the limiter's look-ahead ahead of the program, so that program
        // sample `n` is every input's sample `n` (at its offset).
        let ahead = self.next_block as i64 + LOOKAHEAD_FRAMES as i64;
        if !self.primed {
            // The limiter gives each frame back LOOKAHEAD_FRAMES late: first fill it with the
            // program's first frames, from the strips' block that ends where the next one
            // starts (frames before zero are silence), so the program starts whole.
            self.primed = true;
            self.mix_strips(ahead - BLOCK_FRAMES as i64);
            for s in &mut self.program {
                *s *= self.master;
            }
            self.limiter.process(&mut self.program);
        }
        let monitoring = self.mix_strips(ahead);
        // The master fader, ramped over the block, then the limiter.
        let step = (self.master_target - self.master) / BLOCK_FRAMES as f32;
        for frame in self.program.chunks_exact_mut(2) {
            self.master += step;
            frame[0] *= self.master;
            frame[1] *= self.master;
        }
        self.master = self.master_target;
        self.limiter.process(&mut self.program);
        self.controls
            .limiter_gain
            .store(self.limiter.reduction.to_bits(), Relaxed);
        if self.monitor_program {
            for (m, p) in self.monitored.iter_mut().zip(&self.program) {
                *m += p;
            }
        }
        self.monitor.push(monitoring.then_some(&self.monitored[..]));
        self.carry = self.program;
        self.carry_at = 0;
        self.next_block += BLOCK_FRAMES as u64;
    }
}

impl AudioSource for Mixer {
    fn fill(&mut self, first_sample: u64, out: &mut [i16]) {
        if first_sample != self.next_fill {
            // Not where the last call ended: start the program over there.
            tracing::warn!(
                expected = self.next_fill,
                asked = first_sample,
                "the mixer was asked out of order"
            );
            self.next_block = first_sample;
            self.carry_at = BLOCK;
            self.primed = false;
        }
        let mut done = 0;
        while done < out.len() {
            if self.carry_at == BLOCK {
                self.make_block();
            }
            let n = (out.len() - done).min(BLOCK - self.carry_at);
            for (o, s) in out[done..done + n]
                .iter_mut()
                .zip(&self.carry[self.carry_at..self.carry_at + n])
            {
                *o = (s * 32768.0).round().clamp(-32768.0, 32767.0) as i16;
            }
            self.carry_at += n;
            done += n;
        }
        self.next_fill = first_sample + (out.len() / 2) as u64;
    }

    /// Changes with the sync offsets (a negative one makes the program wait for that input).
    fn delay(&self) -> MediaTime {
        Timebase::AUDIO_48K.ticks_to_time(self.delay_frames)
    }
}

impl SourceDevices for Mixer {
    fn take_workers(&mut self) -> Vec<Worker> {
        let mut w: Vec<Worker> = self
            .strips
            .iter_mut()
            .flat_map(|s| s.input_mut().take_workers())
            .collect();
        w.extend(self.monitor_worker.take());
        w
    }

    fn wait_ready(&mut self) -> Result<(), CaptureError> {
        for s in &mut self.strips {
            s.input_mut().wait_ready()?;
        }
        Ok(())
    }

    fn device_counters(&self) -> Vec<Arc<SourceCounters>> {
        self.strips.iter().map(|s| s.counters().clone()).collect()
    }

    fn set_clock(&mut self, clock: Clock) {
        for s in &mut self.strips {
            s.input_mut().set_clock(clock);
        }
    }
}

#[cfg(test)]
mod tests;
