//! The filters of a source's chain and the program's limiter: pure signal processing on
//! interleaved stereo `f32` blocks at 48 kHz, allocation-free once built.

use nnnoiseless::DenoiseState;

use crate::config::mixer::{Compressor as CompressorSettings, Filter, NoiseGate as GateSettings};
use crate::media::frame::AUDIO_RATE_HZ;

const RATE: f32 = AUDIO_RATE_HZ as f32;
/// Frames per block the mixer processes: 10 ms, RNNoise's frame.
pub const BLOCK_FRAMES: usize = 480;
const _: () = assert!(BLOCK_FRAMES == DenoiseState::FRAME_SIZE);

/// dB to a linear factor.
pub fn db_to_linear(db: f32) -> f32 {
    10f32.powf(db / 20.0)
}

/// A linear amplitude to dB (floored at -200).
pub fn linear_to_db(v: f32) -> f32 {
    if v <= 1e-10 { -200.0 } else { 20.0 * v.log10() }
}

/// The one-pole coefficient that moves 63 % of the way in `ms`.
fn coefficient(ms: f32) -> f32 {
    if ms <= 0.0 {
        0.0
    } else {
        (-1.0 / (ms / 1000.0 * RATE)).exp()
    }
}

/// One filter with its state.
pub enum FilterState {
    Gain(f32),
    Gate(Gate),
    Suppression(Box<Suppression>),
    Compressor(Compressor),
}

impl FilterState {
    /// A filter as its settings say, with fresh state (RNNoise's allocates its network state).
    pub fn new(settings: &Filter) -> Self {
        match settings {
            Filter::Gain { db } => FilterState::Gain(db_to_linear(*db)),
            Filter::NoiseGate(g) => FilterState::Gate(Gate::new(g)),
            Filter::NoiseSuppression {} => FilterState::Suppression(Box::new(Suppression::new())),
            Filter::Compressor(c) => FilterState::Compressor(Compressor::new(c)),
        }
    }

    /// Takes new settings of the same kind, keeping the state; false if the kind differs.
    pub fn update(&mut self, settings: &Filter) -> bool {
        match (self, settings) {
            (FilterState::Gain(g), Filter::Gain { db }) => *g = db_to_linear(*db),
            (FilterState::Gate(g), Filter::NoiseGate(s)) => g.set(s),
            (FilterState::Suppression(_), Filter::NoiseSuppression {}) => {}
            (FilterState::Compressor(c), Filter::Compressor(s)) => c.set(s),
            _ => return false,
        }
        true
    }

    /// How many frames late the filter gives its input back.
    pub fn latency_frames(&self) -> i64 {
        match self {
            FilterState::Suppression(_) => BLOCK_FRAMES as i64,
            _ => 0,
        }
    }

    /// Processes one block in place. `mono`: both channels are the same (half the work for
    /// noise suppression).
    pub fn process(&mut self, block: &mut [f32], mono: bool) {
        match self {
            FilterState::Gain(g) => block.iter_mut().for_each(|s| *s *= *g),
            FilterState::Gate(g) => g.process(block),
            FilterState::Suppression(s) => s.process(block, mono),
            FilterState::Compressor(c) => c.process(block),
        }
    }
}

/// OBS's noise gate: opens at once above the open threshold (the gain rising over the attack
/// time), closes when the level falls under the close threshold and stays there for the hold
/// time (the gain falling over the release time).
pub struct Gate {
    open: f32,
    close: f32,
    attack_step: f32,
    release_step: f32,
    hold_frames: u32,
    /// Level follower: the peak, decaying.
    level: f32,
    decay: f32,
    is_open: bool,
    held: u32,
    gain: f32,
}

impl Gate {
    fn new(s: &GateSettings) -> Self {
        let mut g = Self {
            open: 0.0,
            close: 0.0,
            attack_step: 1.0,
            release_step: 1.0,
            hold_frames: 0,
            level: 0.0,
            // The level follower falls 63 % in 1.5 ms (OBS's), so it tracks the envelope.
            decay: coefficient(1.5),
            is_open: false,
            held: 0,
            gain: 0.0,
        };
        g.set(s);
        g
    }

    fn set(&mut self, s: &GateSettings) {
        self.open = db_to_linear(s.open_db);
        self.close = db_to_linear(s.close_db);
        let step = |ms: f32| {
            if ms <= 0.0 {
                1.0
            } else {
                1.0 / (ms / 1000.0 * RATE)
            }
        };
        self.attack_step = step(s.attack_ms);
        self.release_step = step(s.release_ms);
        self.hold_frames = (s.hold_ms / 1000.0 * RATE) as u32;
    }

    fn process(&mut self, block: &mut [f32]) {
        for frame in block.chunks_exact_mut(2) {
            let cur = frame[0].abs().max(frame[1].abs());
            if cur > self.open && !self.is_open {
                self.is_open = true;
            }
            if self.level < self.close && self.is_open {
                self.held = 0;
                self.is_open = false;
            }
            self.level = cur.max(self.level * self.decay);
            if self.is_open {
                self.gain = (self.gain + self.attack_step).min(1.0);
            } else {
                self.held = self.held.saturating_add(1);
                if self.held > self.hold_frames {
                    self.gain = (self.gain - self.release_step).max(0.0);
                }
            }
            frame[0] *= self.gain;
            frame[1] *= self.gain;
        }
    }
}

/// RNNoise (nnnoiseless) on each channel, or once when both are the same. Its output lags its
/// input by one block (10 ms).
pub struct Suppression {
    left: Box<DenoiseState<'static>>,
    right: Box<DenoiseState<'static>>,
    input: [f32; BLOCK_FRAMES],
    output: [f32; BLOCK_FRAMES],
}

impl Suppression {
    fn new() -> Self {
        Self {
            left: DenoiseState::new(),
            right: DenoiseState::new(),
            input: [0.0; BLOCK_FRAMES],
            output: [0.0; BLOCK_FRAMES],
        }
    }

    fn process(&mut self, block: &mut [f32], mono: bool) {
        if block.len() != BLOCK_FRAMES * 2 {
            return; // the mixer always hands whole blocks
        }
        let channels: &mut [&mut Box<DenoiseState<'static>>] = if mono {
            &mut [&mut self.left]
        } else {
            &mut [&mut self.left, &mut self.right]
        };
        for (c, state) in channels.iter_mut().enumerate() {
            // RNNoise works in 16-bit units.
            for (i, v) in self.input.iter_mut().enumerate() {
                *v = block[2 * i + c] * 32768.0;
            }
            state.process_frame(&mut self.output, &self.input);
            for (i, v) in self.output.iter().enumerate() {
                block[2 * i + c] = v / 32768.0;
            }
        }
        if mono {
            for frame in block.chunks_exact_mut(2) {
                frame[1] = frame[0];
            }
        }
    }
}

/// A feed-forward compressor, stereo-linked: the louder channel's level, followed with the
/// attack and release times, sets one gain for both.
pub struct Compressor {
    threshold_db: f32,
    slope: f32,
    attack: f32,
    release: f32,
    output: f32,
    /// The followed level, linear.
    envelope: f32,
}

impl Compressor {
    fn new(s: &CompressorSettings) -> Self {
        let mut c = Self {
            threshold_db: 0.0,
            slope: 0.0,
            attack: 0.0,
            release: 0.0,
            output: 1.0,
            envelope: 0.0,
        };
        c.set(s);
        c
    }

    fn set(&mut self, s: &CompressorSettings) {
        self.threshold_db = s.threshold_db;
        self.slope = 1.0 - 1.0 / s.ratio.max(1.0);
        self.attack = coefficient(s.attack_ms);
        self.release = coefficient(s.release_ms);
        self.output = db_to_linear(s.output_db);
    }

    fn process(&mut self, block: &mut [f32]) {
        for frame in block.chunks_exact_mut(2) {
            let cur = frame[0].abs().max(frame[1].abs());
            let k = if cur > self.envelope {
                self.attack
            } else {
                self.release
            };
            self.envelope = cur + k * (self.envelope - cur);
            let over = linear_to_db(self.envelope) - self.threshold_db;
            let gain = if over > 0.0 {
                db_to_linear(-over * self.slope)
            } else {
                1.0
            } * self.output;
            frame[0] *= gain;
            frame[1] *= gain;
        }
    }
}

/// Frames the limiter looks ahead: 5 ms (its delay).
pub const LOOKAHEAD_FRAMES: usize = 240;
const WINDOW: usize = LOOKAHEAD_FRAMES + 1;

/// The program's brickwall limiter: no sample leaves above the ceiling. The gain each sample
/// needs is known [`LOOKAHEAD_FRAMES`] before it leaves; the gain applied is the moving
/// average, over `WINDOW` samples, of the running minimum over `WINDOW` samples of those
/// needs (with a release), so it bends down smoothly ahead of a peak and never lets one
/// through: every term of the average covers the departing sample, so none is above what it
/// needs.
pub struct Limiter {
    ceiling: f32,
    /// The samples in the look-ahead (stereo), a ring.
    delay: [[f32; 2]; LOOKAHEAD_FRAMES],
    /// The needed gains of the last `WINDOW` samples (a ring, by sample number) ...
    needs: [f32; WINDOW],
    /// ... and a monotonic queue of sample numbers (smallest need at the front).
    queue: [u64; WINDOW],
    queue_head: usize,
    queue_len: usize,
    /// The released minimum of the last `WINDOW` samples, for the moving average (a ring).
    released: [f32; WINDOW],
    sum: f64,
    /// The last released value, rising back towards 1 at the release rate.
    last: f32,
    release: f32,
    /// Samples processed so far.
    count: u64,
    /// The lowest gain applied in the last block (1: none), for the stats.
    pub reduction: f32,
}

impl Limiter {
    /// A limiter at `ceiling_dbfs` (e.g. -1.0) with a 60 ms release.
    pub fn new(ceiling_dbfs: f32) -> Self {
        Self {
            ceiling: db_to_linear(ceiling_dbfs),
            delay: [[0.0; 2]; LOOKAHEAD_FRAMES],
            needs: [1.0; WINDOW],
            queue: [0; WINDOW],
            queue_head: 0,
            queue_len: 0,
            released: [1.0; WINDOW],
            sum: WINDOW as f64,
            last: 1.0,
            release: coefficient(60.0),
            count: 0,
            reduction: 1.0,
        }
    }

    pub fn set_ceiling(&mut self, ceiling_dbfs: f32) {
        self.ceiling = db_to_linear(ceiling_dbfs);
    }

    /// Limits one block in place (delayed by [`LOOKAHEAD_FRAMES`]).
    pub fn process(&mut self, block: &mut [f32]) {
        let mut lowest = 1.0f32;
        for frame in block.chunks_exact_mut(2) {
            let n = self.count;
            let peak = frame[0].abs().max(frame[1].abs());
            let need = if peak > self.ceiling {
                self.ceiling / peak
            } else {
                1.0
            };
            // The running minimum of the needs of samples n-WINDOW+1 ..= n.
            while self.queue_len > 0 && self.queue[self.queue_head] + WINDOW as u64 <= n {
                self.queue_head = (self.queue_head + 1) % WINDOW;
                self.queue_len -= 1;
            }
            let slot = (n % WINDOW as u64) as usize;
            self.needs[slot] = need;
            while self.queue_len > 0 {
                let back = self.queue[(self.queue_head + self.queue_len - 1) % WINDOW];
                if self.needs[(back % WINDOW as u64) as usize] >= need {
                    self.queue_len -= 1;
                } else {
                    break;
                }
            }
            self.queue[(self.queue_head + self.queue_len) % WINDOW] = n;
            self.queue_len += 1;
            let minimum = self.needs[(self.queue[self.queue_head] % WINDOW as u64) as usize];
            // Released: falls at once, rises back at the release rate; never above the minimum.
            let released = minimum.min(minimum + self.release * (self.last - minimum));
            self.last = released;
            self.sum += f64::from(released) - f64::from(self.released[slot]);
            self.released[slot] = released;
            let gain = ((self.sum / WINDOW as f64) as f32).min(1.0);
            // The sample leaving entered LOOKAHEAD_FRAMES samples ago.
            let d = (n % LOOKAHEAD_FRAMES as u64) as usize;
            let out = self.delay[d];
            self.delay[d] = [frame[0], frame[1]];
            frame[0] = (out[0] * gain).clamp(-self.ceiling, self.ceiling);
            frame[1] = (out[1] * gain).clamp(-self.ceiling, self.ceiling);
            lowest = lowest.min(gain);
            self.count += 1;
        }
        self.reduction = lowest;
    }

    /// The gain it applies without a peak near (1), for a test that nothing is limited.
    pub fn ceiling(&self) -> f32 {
        self.ceiling
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(hz: f32, amp: f32, frames: usize) -> Vec<f32> {
        (0..frames)
            .flat_map(|i| {
                let v = amp * (std::f32::consts::TAU * hz * i as f32 / RATE).sin();
                [v, v]
            })
            .collect()
    }

    fn peak(x: &[f32]) -> f32 {
        x.iter().fold(0.0, |m, v| m.max(v.abs()))
    }

    fn rms(x: &[f32]) -> f32 {
        (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt()
    }

    fn run(f: &mut dyn FnMut(&mut [f32]), x: &mut [f32]) {
        for b in x.chunks_mut(BLOCK_FRAMES * 2) {
            f(b);
        }
    }

    #[test]
    fn the_limiter_holds_the_ceiling_and_leaves_quiet_sound_alone() {
        let mut l = Limiter::new(-1.0);
        // Quiet: passes unchanged (delayed).
        let mut x = sine(440.0, 0.5, 48_000);
        let original = x.clone();
        run(&mut |b| l.process(b), &mut x);
        let d = LOOKAHEAD_FRAMES * 2;
        for (a, b) in x[d..].iter().zip(&original) {
            assert!((a - b).abs() < 1e-6);
        }
        // Loud bursts, sudden: never above -1 dBFS, and full level returns after them.
        let mut l = Limiter::new(-1.0);
        let mut x = sine(1000.0, 0.3, 96_000);
        for (i, v) in x.iter_mut().enumerate() {
            let t = i / 2;
            if (24_000..30_000).contains(&t) || (60_000..60_010).contains(&t) {
                *v *= 7.0;
            }
        }
        run(&mut |b| l.process(b), &mut x);
        let ceiling = db_to_linear(-1.0);
        assert!(peak(&x) <= ceiling + 1e-6, "{}", linear_to_db(peak(&x)));
        assert!(
            peak(&x) > ceiling * 0.98,
            "a loud burst reaches the ceiling"
        );
        // 100 ms after the burst the quiet sine is back to full level.
        let after = &x[2 * 36_000..2 * 40_000];
        assert!((peak(after) - 0.3).abs() < 0.01, "{}", peak(after));
    }

    #[test]
    fn the_compressor_reduces_by_its_ratio_above_the_threshold() {
        let mut c = FilterState::new(&Filter::Compressor(CompressorSettings {
            ratio: 4.0,
            threshold_db: -20.0,
            attack_ms: 1.0,
            release_ms: 50.0,
            output_db: 0.0,
        }));
        // A -8 dBFS peak sine is 12 dB over: comes out 3 dB over, at -17 dBFS peak (the
        // follower tracks the peak envelope closely, so within a dB or so).
        let mut x = sine(200.0, db_to_linear(-8.0), 48_000);
        run(&mut |b| c.process(b, false), &mut x);
        let out = linear_to_db(peak(&x[48_000..]));
        assert!((out - -17.0).abs() < 1.5, "{out}");
        // Under the threshold: unchanged.
        let mut x = sine(200.0, db_to_linear(-30.0), 24_000);
        run(&mut |b| c.process(b, false), &mut x);
        assert!((linear_to_db(peak(&x[24_000..])) - -30.0).abs() < 0.2);
    }

    #[test]
    fn the_gate_closes_on_quiet_and_opens_on_loud() {
        let mut g = FilterState::new(&Filter::NoiseGate(GateSettings::DEFAULT));
        let mut quiet = sine(300.0, db_to_linear(-40.0), 48_000);
        run(&mut |b| g.process(b, false), &mut quiet);
        assert!(peak(&quiet[48_000..]) < 1e-6, "closed under -32 dB");
        let mut loud = sine(300.0, db_to_linear(-12.0), 24_000);
        run(&mut |b| g.process(b, false), &mut loud);
        let tail = &loud[24_000..];
        assert!(
            (linear_to_db(peak(tail)) - -12.0).abs() < 0.1,
            "open above -26 dB"
        );
    }

    #[test]
    fn gain_is_a_factor() {
        let mut f = FilterState::new(&Filter::Gain { db: -6.0 });
        let mut x = vec![0.5f32; BLOCK_FRAMES * 2];
        f.process(&mut x, false);
        assert!((x[0] - 0.5 * db_to_linear(-6.0)).abs() < 1e-6);
        assert!(f.update(&Filter::Gain { db: 0.0 }));
        assert!(!f.update(&Filter::NoiseSuppression {}));
    }

    #[test]
    fn noise_suppression_lowers_steady_white_noise() {
        // Pseudo-random white noise at -35 dBFS RMS for 5 s, judged over the last 2. With no
        // speech at all RNNoise lowers it only ~5 dB (5.3 measured); with speech it takes the
        // noise between words down by over 20 dB (tests/it/mixer.rs, espeak-ng in white noise).
        // This checks that the filter is wired (its 16-bit units, both channels).
        let mut seed = 1u32;
        let mut noise = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
        };
        let amp = db_to_linear(-35.0) * 3f32.sqrt();
        let mut x: Vec<f32> = (0..5 * 96_000).map(|_| noise() * amp).collect();
        let before = rms(&x[3 * 96_000..]);
        let mut s = FilterState::new(&Filter::NoiseSuppression {});
        run(&mut |b| s.process(b, false), &mut x);
        let after = rms(&x[3 * 96_000..]);
        let fall = linear_to_db(before) - linear_to_db(after);
        assert!(fall > 3.0, "white noise fell {fall:.1} dB");
    }
}
