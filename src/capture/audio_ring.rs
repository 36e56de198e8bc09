//! A device's audio on its way to the mixer: a ring the device fills at its own pace and rate,
//! and [`RingSource`], the engine's side, which takes it out resampled to 48 kHz stereo f32.
//! Microphones (cpal) and desktop audio (PulseAudio's protocol, or cpal's loopback) share it.
//!
//! ```text
//! device (its own thread) ──▶ Ring (device rate, stereo f32, 1 s) ──▶ RingSource::fill
//!   any format, any channel count   drops oldest when full (counted)     (the mixer, on the
//!                                                                         engine's clock)
//! ```
//! The engine pulls at its clock's pace; the device pushes at its own. `fill` resamples with
//! rubato (`Async` polynomial, fixed output) from the device rate to 48 kHz, and keeps the ring
//! at its aim by nudging the ratio (at most ±0.1 %): the ring's fill is the difference between
//! the two clocks, so this is the drift correction, and sync holds for hours. A ring that runs
//! dry gives silence (counted) until it is back at its aim; one that runs far over (after a
//! stall) drops down to the aim (counted). Audio time stays the engine's sample count.
//!
//! The aim puts each sample at its capture time: every delivery's capture instant (the
//! delivery's instant less the latency the device reports) is mapped onto the engine clock, so
//! the ring knows when its oldest sample was captured, and the aim is the fill at which that
//! is the time of the next sample the engine asks for. The engine asks [`DEVICE_DELAY`] after
//! a sample's time, which leaves the device that long to deliver it. Until the engine's clock
//! is known (unit tests) the aim is the fixed [`TARGET_FILL`].

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use cpal::{FromSample, SizedSample};
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Adjustable, Async, FixedAsync, PolynomialDegree, Resampler};

use super::{AudioInput, CaptureError, SourceCounters, SourceDevices, Worker};
use crate::media::frame::AUDIO_RATE_HZ;
use crate::media::time::Clock;
use crate::media::{MediaTime, Timebase};

/// Device audio the ring holds at most: one second. When full, the oldest is dropped.
const RING_SECONDS: usize = 1;
/// The fill the drift correction aims for without the engine's clock: enough to ride out a
/// late callback.
pub const TARGET_FILL: Duration = Duration::from_millis(40);
/// How long after a sample's time the engine asks for it ([`AudioInput::delay`]): the device's
/// latency (PulseAudio's ALSA plugin reports 0-30 ms), up to one 10 ms period not yet
/// delivered, and a cushion against a callback thread that runs late on a busy machine (the
/// ring keeps about this much less the device's latency). Every sample then goes out at its
/// capture time; the cost is this much more latency in the outputs, which wait for audio.
pub const DEVICE_DELAY: MediaTime = MediaTime::from_millis(60);
/// How fast the capture-time estimate may move later by itself, per second of audio (see
/// `push_frames`): faster than any device clock drifts (~100 ppm), slow enough that a late
/// callback barely moves it.
const CAPTURE_CREEP_PER_SEC: MediaTime = MediaTime::from_millis(1);
/// Smoothing of the device's reported latency: each callback moves the estimate 1/64 of the
/// way (about half a second at 10 ms periods).
const AGE_SMOOTHING: i64 = 64;
/// Smoothed fill above target by this much (a start-up backlog, a stall upstream): drop down
/// to the target at once.
const RESYNC_EXCESS: Duration = Duration::from_millis(30);
/// Output frames per resampler call (10 ms at 48 kHz).
const CHUNK_FRAMES: usize = 480;
/// Largest ratio correction: 0.1 % (1000 ppm; real clocks drift well under 100 ppm, and a
/// pitch change of 0.1 % is inaudible).
const MAX_CORRECTION: f64 = 0.001;
/// No callback for this long while running: the device is lost.
pub(crate) const STALL: Duration = Duration::from_secs(1);
/// A new stream gets this long to deliver its first callback (PulseAudio's ALSA plugin takes
/// about a second).
pub(crate) const FIRST_CALLBACK: Duration = Duration::from_secs(5);
/// Callbacks larger than this are catch-up bursts, not the device's period.
const MAX_BURST: Duration = Duration::from_millis(100);

/// What the callback and `fill` share.
pub(crate) struct Shared {
    ring: Mutex<Ring>,
    pub(crate) counters: Arc<SourceCounters>,
    /// Set by the error callback; the device thread reopens.
    pub(crate) failed: AtomicBool,
    /// Set when the engine's side (`RingSource`) is dropped: the device thread ends.
    pub(crate) closed: AtomicBool,
    /// Milliseconds since `epoch` of the last callback.
    last_callback_ms: AtomicU64,
    /// The engine's clock, once it has started (capture instants are mapped onto it).
    pub(crate) clock: OnceLock<Clock>,
    /// The largest callback seen on the current stream, in frames: the ring's target is at
    /// least twice that, so bursty devices do not underrun between callbacks.
    max_burst: AtomicU64,
    epoch: Instant,
}

struct Ring {
    /// Interleaved stereo f32 at `rate`.
    samples: VecDeque<f32>,
    rate: u32,
    /// Bumped when a new stream starts (its rate may differ).
    generation: u64,
    /// Frames the current stream has delivered (dropped ones included).
    pushed: u64,
    /// When the current stream's frame 0 was captured, on the engine clock (smoothed): frame
    /// `n` was captured at `capture_base + n / rate`. Unknown until the engine's clock is.
    capture_base: Option<MediaTime>,
    /// How long before its callback the last frame of a callback was captured (smoothed).
    end_age: Option<MediaTime>,
}

impl Shared {
    /// A ring for a device source named `name` (the mixer's name for it) of `kind`.
    pub(crate) fn new(name: &str, kind: &'static str) -> Arc<Self> {
        Arc::new(Shared {
            ring: Mutex::new(Ring {
                samples: VecDeque::new(),
                rate: AUDIO_RATE_HZ,
                generation: 0,
                pushed: 0,
                capture_base: None,
                end_age: None,
            }),
            counters: Arc::new(SourceCounters::new(name, kind)),
            failed: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            max_burst: AtomicU64::new(0),
            last_callback_ms: AtomicU64::new(0),
            clock: OnceLock::new(),
            epoch: Instant::now(),
        })
    }

    /// A new stream at `rate` is about to deliver: the ring starts over (a new generation).
    pub(crate) fn begin_stream(&self, rate: u32) {
        {
            let mut ring = self.lock();
            ring.samples.clear();
            ring.samples.reserve(rate as usize * 2 * RING_SECONDS);
            ring.rate = rate;
            ring.generation += 1;
            ring.pushed = 0;
            ring.capture_base = None;
            ring.end_age = None;
        }
        self.counters.device_rate_hz.store(u64::from(rate), Relaxed);
        self.failed.store(false, Relaxed);
        self.max_burst.store(0, Relaxed);
        // "Last callback" a little in the future: the first callback may take a while.
        let grace = FIRST_CALLBACK.saturating_sub(STALL).as_millis() as u64;
        self.last_callback_ms
            .store(self.epoch.elapsed().as_millis() as u64 + grace, Relaxed);
    }

    /// No delivery for [`STALL`] (or the device said it failed): the device is lost.
    pub(crate) fn stalled(&self) -> bool {
        let silent_ms = (self.epoch.elapsed().as_millis() as u64)
            .saturating_sub(self.last_callback_ms.load(Relaxed));
        self.failed.load(Relaxed) || silent_ms > STALL.as_millis() as u64
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Stereo from any channel count: mono is copied to both sides; beyond two, the first two.
/// `latency`: what the device reports between the capture of the first frame of `data` and
/// this callback, which runs at `now`.
pub(crate) fn push_frames<T>(
    shared: &Shared,
    data: &[T],
    channels: usize,
    latency: Option<Duration>,
    now: Instant,
) where
    T: SizedSample,
    f32: FromSample<T>,
{
    let mut ring = shared.lock();
    let cap = ring.rate as usize * 2 * RING_SECONDS;
    let frames = data.len() / channels.max(1);
    if let (Some(latency), Some(clock)) = (latency, shared.clock.get()) {
        // How much older than this callback the last frame of `data` is: what the device
        // reports for the first frame less the frames after it, never negative (PulseAudio's
        // ALSA plugin reports next to nothing for data it has delivered, and spikes of 10-30
        // ms now and then), smoothed so that a spike barely moves it.
        let device = Timebase::per_second(ring.rate);
        let age = (MediaTime::from_duration(latency) - device.ticks_to_time(frames as i64))
            .max(MediaTime::ZERO);
        let smoothed = match ring.end_age {
            Some(old) => old + MediaTime::from_nanos((age - old).as_nanos() / AGE_SMOOTHING),
            None => age,
        };
        ring.end_age = Some(smoothed);
        let end = clock.time_of(now) - smoothed;
        let base = end - device.ticks_to_time((ring.pushed + frames as u64) as i64);
        // A callback that runs late makes its frames look newer than they are, never older:
        // keep the earliest estimate, allowed to creep later as slowly as a device clock may
        // drift.
        let creep = CAPTURE_CREEP_PER_SEC.as_nanos() * frames as i64 / i64::from(ring.rate.max(1));
        ring.capture_base = Some(match ring.capture_base {
            Some(old) => (old + MediaTime::from_nanos(creep)).min(base),
            None => base,
        });
    }
    ring.pushed += frames as u64;
    for frame in data.chunks_exact(channels.max(1)) {
        let l = f32::from_sample_(frame[0]);
        let r = frame.get(1).map_or(l, |&s| f32::from_sample_(s));
        ring.samples.push_back(l);
        ring.samples.push_back(r);
    }
    let over = ring.samples.len().saturating_sub(cap);
    if over > 0 {
        ring.samples.drain(..over);
        shared
            .counters
            .dropped_samples
            .fetch_add(over as u64 / 2, Relaxed);
    }
    shared
        .counters
        .buffered_samples
        .store(ring.samples.len() as u64 / 2, Relaxed);
    let rate = ring.rate;
    drop(ring);
    // A catch-up burst (a stream starting, a stall) says nothing about the device's period.
    if frames as u64 <= u64::from(rate) * MAX_BURST.as_millis() as u64 / 1000 {
        shared.max_burst.fetch_max(frames as u64, Relaxed);
    }
    shared.counters.captured.fetch_add(frames as u64, Relaxed);
    shared
        .last_callback_ms
        .store(shared.epoch.elapsed().as_millis() as u64, Relaxed);
}

/// The engine's side of a device's ring.
pub struct RingSource {
    shared: Arc<Shared>,
    resampler: Option<Async<f32>>,
    generation: u64,
    /// Device frames for one resampler call (interleaved stereo).
    input: Vec<f32>,
    /// One resampler output chunk (interleaved stereo).
    output: Vec<f32>,
    /// Resampled samples not yet handed to the engine.
    carry: VecDeque<f32>,
    /// The ring has reached its target since the last underrun.
    primed: bool,
    smoothed_fill: Option<f64>,
    worker: Option<Worker>,
    first_open: Option<crossbeam_channel::Receiver<Result<(), CaptureError>>>,
}

impl RingSource {
    /// The engine's side of `shared`, whose device `worker` runs (on a thread the pipeline
    /// spawns) and reports its first open through `first_open`.
    pub(crate) fn new(
        shared: Arc<Shared>,
        worker: Option<Worker>,
        first_open: Option<crossbeam_channel::Receiver<Result<(), CaptureError>>>,
    ) -> Self {
        Self {
            shared,
            resampler: None,
            generation: 0,
            input: Vec::new(),
            output: vec![0.0; CHUNK_FRAMES * 2],
            carry: VecDeque::with_capacity(CHUNK_FRAMES * 4),
            primed: false,
            smoothed_fill: None,
            worker,
            first_open,
        }
    }

    pub fn counters(&self) -> &Arc<SourceCounters> {
        &self.shared.counters
    }

    /// After the pipeline has started the device thread: waits (at most 10 s) for the first
    /// open and returns its error, if any.
    fn wait_open(&mut self) -> Result<(), CaptureError> {
        let Some(rx) = self.first_open.take() else {
            return Ok(());
        };
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(r) => r,
            Err(_) => Err(CaptureError::NoSoundServer {
                detail: "the audio device did not open within 10 s".into(),
            }),
        }
    }

    /// Produces one resampled chunk into `carry`, starting at output sample `index`: from the
    /// ring, or silence on underrun.
    fn produce_chunk(&mut self, index: u64) {
        let counters = self.shared.counters.clone();
        let mut ring = self.shared.lock();
        let rate = ring.rate;
        if self.resampler.is_none() || self.generation != ring.generation {
            self.generation = ring.generation;
            self.primed = false;
            self.smoothed_fill = None;
            self.resampler = Async::<f32>::new_poly(
                f64::from(AUDIO_RATE_HZ) / f64::from(rate),
                1.0 + 2.0 * MAX_CORRECTION,
                PolynomialDegree::Cubic,
                CHUNK_FRAMES,
                2,
                FixedAsync::Output,
            )
            .map_err(|e| tracing::error!(source = %self.shared.counters.name, "resampler: {e}"))
            .ok();
        }
        let Some(resampler) = self.resampler.as_mut() else {
            self.carry
                .extend(std::iter::repeat_n(0.0, CHUNK_FRAMES * 2));
            return;
        };
        let fill = ring.samples.len() / 2;
        // Device frames this chunk takes (before the drift correction).
        let chunk_in = (CHUNK_FRAMES as u64 * u64::from(rate) / u64::from(AUDIO_RATE_HZ)) as i64;
        let floor = 2 * self.shared.max_burst.load(Relaxed) as i64;
        // The fill to keep after this chunk's input is taken (see the module's doc).
        let aligned = ring.capture_base.map(|base| {
            let device = Timebase::per_second(rate);
            let ring_end = base + device.ticks_to_time(ring.pushed as i64);
            let wanted = Timebase::AUDIO_48K.ticks_to_time(index as i64);
            device.time_to_ticks(ring_end - wanted) - chunk_in
        });
        let fixed = (u64::from(rate) * TARGET_FILL.as_millis() as u64 / 1000) as i64;
        let target = aligned.unwrap_or(fixed).max(floor).max(0) as usize;
        // Drift: steer the fill toward the target; the full ±0.1 % at 2 ms off. Set before
        // asking how much input the next chunk needs (the ratio changes that).
        if self.primed {
            // What will be left after this chunk's input is taken.
            let after =
                fill as f64 - CHUNK_FRAMES as f64 * f64::from(rate) / f64::from(AUDIO_RATE_HZ);
            let avg = self.smoothed_fill.map_or(after, |a| a + 0.01 * (after - a));
            self.smoothed_fill = Some(avg);
            let err_s = (avg - target as f64) / f64::from(rate);
            let correction = (err_s * 0.5).clamp(-MAX_CORRECTION, MAX_CORRECTION);
            if let Err(e) = resampler.set_resample_ratio_relative(1.0 / (1.0 + correction), true) {
                tracing::warn!("drift correction: {e}");
            }
            counters
                .drift_ppm
                .store((correction * 1e6).round() as i64 as u64, Relaxed);
        }
        let need = resampler.input_frames_next();
        let prime_at = if aligned.is_some() {
            target + chunk_in as usize
        } else {
            target
        };
        if !self.primed && fill >= prime_at.max(need) {
            self.primed = true;
            // Start at the capture time: what is older than it is the start-up backlog.
            let backlog = fill - prime_at.max(need);
            if aligned.is_some() && backlog > 0 {
                ring.samples.drain(..backlog * 2);
                counters.dropped_samples.fetch_add(backlog as u64, Relaxed);
                self.smoothed_fill = None;
            }
        }
        let fill = ring.samples.len() / 2;
        if !self.primed || fill < need {
            drop(ring);
            if self.primed {
                self.primed = false;
                counters.underruns.fetch_add(1, Relaxed);
            }
            if counters.captured.load(Relaxed) > 0 {
                counters
                    .underrun_samples
                    .fetch_add(CHUNK_FRAMES as u64, Relaxed);
            }
            self.carry
                .extend(std::iter::repeat_n(0.0, CHUNK_FRAMES * 2));
            return;
        }
        // Steadily over the target (a start-up backlog, a stall upstream): more than the
        // ratio can drain in reasonable time (1 ms per second at most), so drop down to the
        // target at once (counted). Judged on the smoothed fill, so bursts do not trigger it.
        let excess = (u64::from(rate) * RESYNC_EXCESS.as_millis() as u64 / 1000) as f64;
        if let Some(avg) = self.smoothed_fill
            && avg > target as f64 + excess
        {
            let drop_frames = ((avg - target as f64) as usize).min(fill - need);
            ring.samples.drain(..drop_frames * 2);
            counters
                .dropped_samples
                .fetch_add(drop_frames as u64, Relaxed);
            self.smoothed_fill = None;
        }
        self.input.clear();
        self.input.extend(ring.samples.drain(..need * 2));
        let left = ring.samples.len() / 2;
        drop(ring);
        counters.buffered_samples.store(left as u64, Relaxed);

        let result = InterleavedSlice::new(&self.input, 2, need)
            .map_err(|e| e.to_string())
            .and_then(|input| {
                let mut output = InterleavedSlice::new_mut(&mut self.output, 2, CHUNK_FRAMES)
                    .map_err(|e| e.to_string())?;
                resampler
                    .process_into_buffer(&input, &mut output, None)
                    .map_err(|e| e.to_string())
            });
        match result {
            Ok((_, written)) => self.carry.extend(&self.output[..written * 2]),
            Err(e) => {
                tracing::warn!("resampling: {e}");
                self.carry
                    .extend(std::iter::repeat_n(0.0, CHUNK_FRAMES * 2));
            }
        }
    }
}

impl Drop for RingSource {
    fn drop(&mut self) {
        self.shared.closed.store(true, Relaxed);
    }
}

impl AudioInput for RingSource {
    fn fill(&mut self, first_sample: u64, out: &mut [f32]) {
        while self.carry.len() < out.len() {
            // The chunk starts after what is already resampled.
            self.produce_chunk(first_sample + self.carry.len() as u64 / 2);
        }
        let n = out.len();
        for (o, s) in out.iter_mut().zip(self.carry.drain(..n)) {
            *o = s;
        }
    }

    fn delay(&self) -> MediaTime {
        DEVICE_DELAY
    }
}

impl SourceDevices for RingSource {
    fn set_clock(&mut self, clock: Clock) {
        let _first = self.shared.clock.set(clock);
    }

    fn take_workers(&mut self) -> Vec<Worker> {
        self.worker.take().into_iter().collect()
    }

    fn wait_ready(&mut self) -> Result<(), CaptureError> {
        self.wait_open()
    }

    fn device_counters(&self) -> Vec<Arc<SourceCounters>> {
        vec![self.shared.counters.clone()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source whose device is simulated: the test pushes device frames into the ring as a
    /// callback would.
    fn fake(rate: u32) -> RingSource {
        let m = RingSource::new(Shared::new("mic", "microphone"), None, None);
        m.shared.lock().rate = rate;
        m.shared.lock().generation = 1;
        m
    }

    /// `fill` into i16, as the program gets it.
    fn fill(m: &mut RingSource, first: u64, out: &mut [i16]) {
        let mut f = vec![0f32; out.len()];
        AudioInput::fill(m, first, &mut f);
        for (o, v) in out.iter_mut().zip(f) {
            *o = (v * 32768.0).round().clamp(-32768.0, 32767.0) as i16;
        }
    }

    fn sine(rate: u32, hz: f32, amp: f32, from: usize, n: usize) -> Vec<f32> {
        (from..from + n)
            .flat_map(|i| {
                let v = amp * (std::f32::consts::TAU * hz * i as f32 / rate as f32).sin();
                [v, v]
            })
            .collect()
    }

    fn goertzel(x: &[i16], hz: f64, rate: f64) -> f64 {
        let w = std::f64::consts::TAU * hz / rate;
        let (mut s1, mut s2) = (0.0, 0.0);
        for &v in x {
            let s = f64::from(v) + 2.0 * w.cos() * s1 - s2;
            s2 = s1;
            s1 = s;
        }
        let power = s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2;
        2.0 * power.sqrt() / x.len() as f64 // amplitude
    }

    #[test]
    fn resamples_44100_mono_i16_to_48k_stereo_at_the_same_pitch_and_level() {
        let mut m = fake(44_100);
        // 3 s of 1 kHz at half scale, delivered as mono i16 callbacks of 441 frames.
        let mono: Vec<i16> = (0..3 * 44_100)
            .map(|i| {
                (16384.0 * (std::f64::consts::TAU * 1000.0 * i as f64 / 44_100.0).sin()) as i16
            })
            .collect();
        let mut out = vec![0i16; 960];
        let mut left = Vec::new();
        for (k, cb) in mono.chunks(441).enumerate() {
            push_frames(&m.shared, cb, 1, None, Instant::now());
            if k >= 4 {
                fill(&mut m, 0, &mut out);
                left.extend(out.iter().step_by(2));
                assert!(
                    out.chunks_exact(2).all(|p| p[0] == p[1]),
                    "mono to both sides"
                );
            }
        }
        let tail = &left[left.len() - 24_000..];
        let amp = goertzel(tail, 1000.0, 48_000.0);
        let c = m.counters();
        eprintln!(
            "underruns {} silence {} dropped {} drift {} peak {}",
            c.underruns.load(Relaxed),
            c.underrun_samples.load(Relaxed),
            c.dropped_samples.load(Relaxed),
            c.drift_ppm.load(Relaxed) as i64,
            tail.iter().map(|v| v.unsigned_abs()).max().unwrap()
        );
        assert!((amp - 16384.0).abs() < 300.0, "1 kHz amplitude {amp}");
        assert!(goertzel(tail, 1088.0, 48_000.0) < 300.0, "no pitch shift");
    }

    #[test]
    fn underrun_is_silence_and_counted_then_resumes() {
        let mut m = fake(48_000);
        let mut out = vec![7i16; 960];
        fill(&mut m, 0, &mut out);
        assert!(out.iter().all(|&v| v == 0), "nothing yet: silence");
        let data = sine(48_000, 500.0, 0.5, 0, 4_800);
        for cb in data.chunks(960) {
            push_frames(&m.shared, cb, 2, None, Instant::now());
        }
        for _ in 0..5 {
            fill(&mut m, 0, &mut out); // 100 ms of device audio, 50 ms taken
        }
        assert!(out.iter().any(|&v| v.abs() > 1000));
        for _ in 0..10 {
            fill(&mut m, 0, &mut out); // runs dry
        }
        assert_eq!(m.counters().underruns.load(Relaxed), 1);
        assert!(m.counters().underrun_samples.load(Relaxed) > 0);
        assert!(out.iter().all(|&v| v == 0));
    }

    #[test]
    fn a_fast_device_clock_is_absorbed_by_the_ratio_not_by_drops() {
        // Device clock 0.05 % fast (500 ppm, far more than real hardware): 48 024 frames per
        // engine second. Over 60 engine seconds the ring must stay near its target, with no
        // drops and no underruns after the start.
        let mut m = fake(48_000);
        let mut out = vec![0i16; 960];
        let per_10ms = 480.24f64;
        let mut pushed = 0usize;
        let mut owed = 0.0f64;
        let mut fills = Vec::new();
        for step in 0..6_000 {
            owed += per_10ms;
            let n = owed as usize - pushed;
            let data = sine(48_000, 440.0, 0.25, pushed, n);
            push_frames(&m.shared, &data, 2, None, Instant::now());
            pushed += n;
            fill(&mut m, 0, &mut out);
            if step > 3_000 {
                fills.push(m.shared.lock().samples.len() / 2);
            }
        }
        let target = 48_000 * TARGET_FILL.as_millis() as usize / 1000;
        let worst = fills.iter().map(|&f| f.abs_diff(target)).max().unwrap();
        assert!(
            worst < 48_000 / 40,
            "fill strayed {worst} frames from {target}"
        );
        assert_eq!(m.counters().dropped_samples.load(Relaxed), 0);
        assert_eq!(m.counters().underruns.load(Relaxed), 0);
        let ppm = m.counters().drift_ppm.load(Relaxed) as i64;
        assert!(
            (300..800).contains(&ppm),
            "correction {ppm} ppm for a 500 ppm drift"
        );
    }

    #[test]
    fn samples_come_out_at_their_capture_time() {
        let mut m = fake(48_000);
        let clock = Clock::start();
        m.set_clock(clock);
        // The device: 480 frames captured over each 10 ms, delivered 5 ms after the last was
        // captured, reporting 15 ms for the first. The sound: silence, then half scale from
        // capture time 1 s.
        let mut out = vec![0i16; 960];
        let mut heard = Vec::new();
        let mut next = 0u64;
        for k in 0..300i64 {
            let data: Vec<f32> = (0..480)
                .flat_map(|i| {
                    let v = if k * 480 + i >= 48_000 { 0.5 } else { 0.0 };
                    [v, v]
                })
                .collect();
            let arrives = MediaTime::from_millis(10 * k + 15);
            let latency = Some(Duration::from_millis(15));
            push_frames(&m.shared, &data, 2, latency, clock.instant_at(arrives));
            // The engine asks for each chunk once its end is DEVICE_DELAY past.
            let chunk_end = |n: u64| Timebase::AUDIO_48K.ticks_to_time(n as i64 + 480);
            while chunk_end(next) + DEVICE_DELAY <= arrives {
                fill(&mut m, next, &mut out);
                heard.extend(out.iter().step_by(2).copied());
                next += 480;
            }
        }
        let step = heard.iter().position(|&v| v > 8_000).unwrap();
        assert!(
            step.abs_diff(48_000) <= 48,
            "the step captured at 1 s came out at sample {step} (48000 expected)"
        );
        let c = m.counters();
        assert_eq!(c.underruns.load(Relaxed), 0);
        assert_eq!(c.dropped_samples.load(Relaxed), 0);
    }
}
