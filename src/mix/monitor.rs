//! Monitoring: what the monitored strips (and the program, if asked) sound like, played
//! through an output device with cpal, never stalling the engine.
//!
//! ```text
//! Mixer (src-audio) ──MonitorFeed::push──▶ ring (200 ms, lock-free SPSC) ──▶ cpal callback
//!   full: the block is dropped (counted)                  empty: silence (counted)
//! ```
//! The device is opened on a thread of its own (`mon-audio`) only while something is
//! monitored, and closed a second after nothing is; a device that fails is reopened every 2 s.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, SampleFormat, SizedSample};
use serde::Serialize;

use crate::capture::microphone::{QuietAlsa, map_err};
use crate::capture::{CaptureError, REOPEN_INTERVAL, Worker, sleep_unless};
use crate::media::frame::AUDIO_RATE_HZ;

/// The ring between the mixer and the device: 200 ms of 48 kHz stereo. It holds what the
/// device has not played yet, so it bounds the monitoring's added latency too.
const RING_SAMPLES: usize = AUDIO_RATE_HZ as usize / 5 * 2;
/// The most the ring may hold when the device takes from it, beyond what the device asks
/// for: 100 ms. More is stale (it piled up while the device opened, or the engine's clock
/// runs ahead of the device's) and is skipped, counted as dropped, so monitoring's added
/// latency stays under this.
const MAX_QUEUED_SAMPLES: usize = AUDIO_RATE_HZ as usize / 10 * 2;
/// Nothing monitored for this long: the device is closed.
const IDLE_CLOSE: Duration = Duration::from_secs(1);

/// What monitoring did, for the stats and the window.
#[derive(Debug, Default)]
pub struct MonitorCounters {
    /// 0 off, 1 playing, 2 failed (see `last_error`).
    state: AtomicU8,
    /// Frames the mixer could not queue (the device fell behind), or skipped as stale (see
    /// `MAX_QUEUED_SAMPLES`).
    pub dropped_frames: AtomicU64,
    /// Frames of silence the device played for want of mixed sound.
    pub underrun_frames: AtomicU64,
    last_error: Mutex<Option<String>>,
}

/// The monitoring's state as plain data (`audio.monitor` in the stats).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonitorSnapshot {
    /// `off`, `playing` or `failed`.
    pub state: &'static str,
    pub dropped_frames: u64,
    pub underrun_frames: u64,
    pub last_error: Option<String>,
}

impl MonitorCounters {
    fn set_state(&self, s: u8) {
        self.state.store(s, Relaxed);
    }

    pub fn snapshot(&self) -> MonitorSnapshot {
        MonitorSnapshot {
            state: match self.state.load(Relaxed) {
                0 => "off",
                1 => "playing",
                _ => "failed",
            },
            dropped_frames: self.dropped_frames.load(Relaxed),
            underrun_frames: self.underrun_frames.load(Relaxed),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }
}

/// Shared between the mixer's feed and the device thread.
struct Shared {
    /// Something is monitored (set by the mixer at each block).
    active: AtomicBool,
    /// The device wanted (empty: the default output), and a counter bumped when it changes.
    device: Mutex<String>,
    device_changes: AtomicU64,
    /// The mixer is gone: the device thread ends.
    closed: AtomicBool,
    counters: Arc<MonitorCounters>,
}

/// The mixer's end.
pub struct MonitorFeed {
    producer: rtrb::Producer<f32>,
    shared: Arc<Shared>,
    device: String,
}

impl MonitorFeed {
    /// Queues one block (interleaved stereo) for the device, or notes that nothing is
    /// monitored (`None`). Never waits: a full ring drops the block (counted).
    pub fn push(&mut self, block: Option<&[f32]>) {
        self.shared.active.store(block.is_some(), Relaxed);
        let Some(block) = block else {
            return;
        };
        match self.producer.write_chunk_uninit(block.len()) {
            Ok(chunk) => {
                let _written = chunk.fill_from_iter(block.iter().map(|s| s.clamp(-1.0, 1.0)));
            }
            Err(_) => {
                self.shared
                    .counters
                    .dropped_frames
                    .fetch_add(block.len() as u64 / 2, Relaxed);
            }
        }
    }

    /// Follows the settings' device; the device thread reopens on the new one.
    pub fn set_device(&mut self, device: &str) {
        if self.device == device {
            return;
        }
        // Taken only if free: otherwise the next block tries again.
        if let Ok(mut d) = self.shared.device.try_lock() {
            device.clone_into(&mut d);
            device.clone_into(&mut self.device);
            self.shared.device_changes.fetch_add(1, Relaxed);
        }
    }
}

impl Drop for MonitorFeed {
    fn drop(&mut self) {
        self.shared.closed.store(true, Relaxed);
    }
}

/// The device's end, until its thread starts.
pub struct Monitor {
    consumer: rtrb::Consumer<f32>,
    shared: Arc<Shared>,
}

impl Monitor {
    pub fn new(device: String, counters: Arc<MonitorCounters>) -> (Monitor, MonitorFeed) {
        let (producer, consumer) = rtrb::RingBuffer::new(RING_SAMPLES);
        let shared = Arc::new(Shared {
            active: AtomicBool::new(false),
            device: Mutex::new(device.clone()),
            device_changes: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            counters,
        });
        (
            Monitor {
                consumer,
                shared: shared.clone(),
            },
            MonitorFeed {
                producer,
                shared,
                device,
            },
        )
    }

    /// The device thread's body (`mon-audio`).
    pub fn worker(self) -> Worker {
        Worker {
            name: "mon-audio".into(),
            run: Box::new(move || device_loop(self.consumer, &self.shared)),
        }
    }
}

fn device_loop(consumer: rtrb::Consumer<f32>, shared: &Arc<Shared>) {
    let _quiet = QuietAlsa::new();
    let consumer = Arc::new(Mutex::new(consumer));
    let failed = Arc::new(AtomicBool::new(false));
    let gone = || shared.closed.load(Relaxed);
    let mut stream: Option<cpal::Stream> = None;
    let mut idle_since: Option<Instant> = None;
    let mut changes = shared.device_changes.load(Relaxed);
    let counters = &shared.counters;
    while sleep_unless(&gone, Duration::from_millis(50)) {
        let active = shared.active.load(Relaxed);
        let moved = shared.device_changes.load(Relaxed) != changes;
        if stream.is_some() {
            idle_since = if active {
                None
            } else {
                idle_since.or(Some(Instant::now()))
            };
            let idle = idle_since.is_some_and(|t| t.elapsed() >= IDLE_CLOSE);
            if idle || moved || failed.load(Relaxed) {
                if failed.load(Relaxed) {
                    tracing::warn!("monitoring device failed; retrying every 2 s");
                    counters.set_state(2);
                } else {
                    counters.set_state(0);
                }
                stream = None;
            }
            continue;
        }
        changes = shared.device_changes.load(Relaxed);
        if !active {
            continue;
        }
        let device = shared
            .device
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        failed.store(false, Relaxed);
        match open(&device, &consumer, &failed, counters) {
            Ok(s) => {
                counters.set_state(1);
                *counters
                    .last_error
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = None;
                idle_since = None;
                stream = Some(s);
            }
            Err(e) => {
                tracing::warn!("monitoring: {e}");
                counters.set_state(2);
                *counters
                    .last_error
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(e.to_string());
                if !sleep_unless(&gone, REOPEN_INTERVAL) {
                    return;
                }
            }
        }
    }
}

/// Opens the output device `wanted` (an id or part of a name; empty: the default) at 48 kHz.
fn open(
    wanted: &str,
    consumer: &Arc<Mutex<rtrb::Consumer<f32>>>,
    failed: &Arc<AtomicBool>,
    counters: &Arc<MonitorCounters>,
) -> Result<cpal::Stream, CaptureError> {
    let kind = "monitoring device";
    let host = cpal::default_host();
    let device = if wanted.trim().is_empty() {
        host.default_output_device().ok_or(CaptureError::NoDevice {
            kind,
            hint: " (no default audio output)".into(),
        })?
    } else {
        let lower = wanted.to_lowercase();
        let mut names = Vec::new();
        let mut found = None;
        for d in host
            .output_devices()
            .map_err(|e| map_err(kind, wanted, &e))?
        {
            let name = d.to_string();
            let id = d.id().map(|i| i.to_string()).unwrap_or_default();
            if name.to_lowercase().contains(&lower) || id == wanted {
                found = Some(d);
                break;
            }
            names.push(name);
        }
        found.ok_or_else(|| CaptureError::NoSuchDevice {
            kind,
            wanted: wanted.to_owned(),
            available: names.join(", "),
        })?
    };
    let name = device.to_string();
    let configs = device
        .supported_output_configs()
        .map_err(|e| map_err(kind, &name, &e))?;
    let rate = AUDIO_RATE_HZ;
    let mut best: Option<cpal::SupportedStreamConfig> = None;
    for range in configs {
        if !(range.min_sample_rate()..=range.max_sample_rate()).contains(&rate)
            || !matches!(range.sample_format(), SampleFormat::F32 | SampleFormat::I16)
        {
            continue;
        }
        let score = |c: &cpal::SupportedStreamConfig| {
            (c.channels() == 2, c.sample_format() == SampleFormat::F32)
        };
        let candidate = range.with_sample_rate(rate);
        if best.as_ref().is_none_or(|b| score(&candidate) > score(b)) {
            best = Some(candidate);
        }
    }
    let config = best.ok_or_else(|| CaptureError::Open {
        kind,
        name: name.clone(),
        detail: "it plays neither 32-bit float nor 16-bit audio at 48 kHz".into(),
    })?;
    // What is queued is stale: start from now.
    {
        let mut c = consumer.lock().unwrap_or_else(PoisonError::into_inner);
        let queued = c.slots();
        if let Ok(chunk) = c.read_chunk(queued) {
            chunk.commit_all();
        }
    }
    let stream = match config.sample_format() {
        SampleFormat::I16 => build::<i16>(&device, &config.config(), consumer, failed, counters),
        _ => build::<f32>(&device, &config.config(), consumer, failed, counters),
    }
    .map_err(|e| map_err(kind, &name, &e))?;
    stream.play().map_err(|e| map_err(kind, &name, &e))?;
    tracing::info!(device = %name, channels = config.channels(), "monitoring");
    Ok(stream)
}

fn build<T>(
    device: &cpal::Device,
    config: &cpal::StreamConfig,
    consumer: &Arc<Mutex<rtrb::Consumer<f32>>>,
    failed: &Arc<AtomicBool>,
    counters: &Arc<MonitorCounters>,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample + FromSample<f32> + Send + 'static,
{
    let channels = usize::from(config.channels).max(1);
    let consumer = consumer.clone();
    let counters = counters.clone();
    let on_error = failed.clone();
    device.build_output_stream::<T, _, _>(
        *config,
        move |data: &mut [T], _: &cpal::OutputCallbackInfo| {
            let mut c = consumer.lock().unwrap_or_else(PoisonError::into_inner);
            let wanted = data.len() / channels * 2;
            let stale = c.slots().saturating_sub(wanted + MAX_QUEUED_SAMPLES) & !1;
            if stale > 0
                && let Ok(chunk) = c.read_chunk(stale)
            {
                chunk.commit_all();
                counters.dropped_frames.fetch_add(stale as u64 / 2, Relaxed);
            }
            let mut short = 0u64;
            for frame in data.chunks_exact_mut(channels) {
                let (l, r) = match (c.pop(), c.pop()) {
                    (Ok(l), Ok(r)) => (l, r),
                    _ => {
                        short += 1;
                        (0.0, 0.0)
                    }
                };
                if channels == 1 {
                    frame[0] = T::from_sample_(0.5 * (l + r));
                    continue;
                }
                frame[0] = T::from_sample_(l);
                frame[1] = T::from_sample_(r);
                for s in &mut frame[2..] {
                    *s = T::from_sample_(0.0f32);
                }
            }
            if short > 0 {
                counters.underrun_frames.fetch_add(short, Relaxed);
            }
        },
        move |e| {
            if !on_error.swap(true, Relaxed) {
                tracing::warn!("monitoring device error: {e}");
            }
        },
        Some(Duration::from_secs(5)),
    )
}
