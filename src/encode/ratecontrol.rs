//! onair's rate control around OpenH264: a QP per frame that keeps every 2 s of video within
//! the preset's bitrate, with no frame skipped.
//!
//! Why not OpenH264's own (BENCHMARKS.md, "Picture quality"): without frame skipping its
//! bitrate mode has nothing that bounds a window of time. Its max-bitrate check only ever
//! skips frames; each 8-frame "virtual GOP" gets its share and an overrun is carried into the
//! next one at most; a P frame is given at least 55 % of its share however far over the stream
//! is; a frame's QP may move only a few steps from the last one's; and an IDR's QP is held to
//! a range picked from bits per pixel (22-34 at the presets' rates), so a keyframe of text or
//! fine detail takes what it takes. Measured: 36 % over on scrolling text, 53 % over on a
//! fractal zoom with its screen-content mode.
//!
//! So OpenH264 runs with its rate control off, at the QP this module picks for each frame
//! (one QP for the whole frame: OpenH264 2.7 has adaptive quantization turned off):
//! - the mean: the P frames' QP moves a tenth of the way a frame (at most [`MAX_QP_STEP`])
//!   to the QP at which the last 2 s of P frames would have spent what the keyframes left of
//!   [`MEAN_AIM`] of the bitrate: their bits-weighted QP moved 6 steps per doubling of their
//!   spending over that share. Spending and QPs are of the same frames, so the target does not
//!   lag behind the QP's own moves (a slow integral control on the spending alone settled at
//!   87.8 % of the bitrate on the noisy camera clip: the first keyframe made the first 2 s look
//!   expensive, the QP climbed 4 steps and came back at 1 step in 50 frames), and the P
//!   frames' rounding is carried over from frame to frame (30.6 is coded as 30s and 31s, not
//!   31). A keyframe is [`KEYFRAME_QP_OFFSET`] finer. The first QP comes from the bits a
//!   pixel may take. A model of the current picture drove the mean at first: it swung 6 QP
//!   between a scrolled and a still picture;
//! - the window: a model per frame type predicts a frame's bits from a cost measured on the
//!   source picture before encoding ([`CostMeter`]: block differences with the previous
//!   picture and within the picture, on a sparse grid) and the QP, `bits = coeff * cost /
//!   qstep(qp)`, with the second costliest `coeff` of the last second's frames (a single
//!   scene cut, 5x the others, does not hold the frames after it coarse). The frames of the
//!   last 2 s minus one are known, so a frame may take only part of what they leave of the
//!   bitrate (a P frame half, a keyframe all of it: the P frames leave it its room, and a
//!   keyframe held coarser than the P frames makes the next P frame re-code what it
//!   dropped); one predicted bigger gets a coarser QP. The window is planned at
//!   [`PLANNED_WINDOW`] of the bitrate: the 5 % up to [`WINDOW_LIMIT`] absorb a frame bigger
//!   than predicted. While the window holds the P frames above the mean's QP, that QP does not
//!   fall further (it would come out all at once when the window frees). While the first
//!   window fills, the P frames still to come keep a share of what it has left, and the mean
//!   moves faster, from its last P frames only (its first QP is a guess);
//! - a frame's QP falls at most [`MAX_QP_FALL`] below the last picture's: a finer frame
//!   re-codes the picture before it, which its cost does not show (and its model does not
//!   learn from it).
//!
//! The encoder says which pictures are keyframes (its media-time cadence, forced ones, a
//! keyframe slot filled after a stall) before each is encoded, and gives every picture's size
//! after: the repeats that fill a stall's empty slots ([`WindowRateControl::repeated`]) are
//! frames of the window too, of a few bytes, so a stall lowers the spending as it does the
//! stream's bitrate.
//!
//! The dynamic-bitrate path changes the bitrate here ([`WindowRateControl::set_bitrate`]):
//! the window then holds the new rate from the next frame, which is what a congested link
//! needs.

use std::collections::VecDeque;

/// A window may carry at most this much over the bitrate (the 105 %); planned at
/// [`PLANNED_WINDOW`].
pub const WINDOW_LIMIT: f64 = 1.05;
/// The window is planned at this (a frame may come out bigger than its model predicted).
pub const PLANNED_WINDOW: f64 = 1.0;
/// The mean aims a little under the bitrate, so that prediction errors stay under it.
pub const MEAN_AIM: f64 = 0.95;
/// A keyframe's QP under the P frames' (x264's ipratio 1.4 is 2.9 steps).
pub const KEYFRAME_QP_OFFSET: f64 = 3.0;
/// How fast the P frames' QP follows the mean's target: the share of the way it moves a frame,
/// and the most it moves in one frame.
const MEAN_GAIN: f64 = 0.1;
const MAX_QP_STEP: f64 = 0.25;
/// The same while the first window fills: the first QP is a guess from the bits a pixel may
/// take (7 QP off on the 1080p game clip, which at 0.25 a frame left its first 2 s at half
/// the bitrate), and the first window's reserve holds what a wrong move would overspend.
const FIRST_WINDOW_GAIN: f64 = 0.5;
const FIRST_WINDOW_MAX_QP_STEP: f64 = 2.0;
const FIRST_WINDOW_P_FRAMES: usize = 8;
/// QP steps that halve a frame's bits, as the mean's target assumes (H.264's step doubles every
/// 6; noisy pictures halve in fewer, which the next targets correct).
const QP_PER_HALVING: f64 = 6.0;
/// Share of the window's room a P frame may be planned to take; a keyframe's.
const P_SHARE_OF_ROOM: f64 = 0.5;
const KEY_SHARE_OF_ROOM: f64 = 1.0;
/// The most a frame's QP may fall below the last picture's (x264's qpstep is 4): a picture
/// coded coarser than the next one's QP is re-coded by it, which its cost does not show (after
/// a scroll held at QP 51, the still frame after it took 613 kbit at QP 31, a fifth of a 2 s
/// window at 3000 kbit/s).
const MAX_QP_FALL: f64 = 4.0;
/// While the first window fills, each P frame still to come in it is kept this share of a
/// frame's budget, or less if the window has less left (without it the first frames of hard
/// content took the whole window and the rest came out at QP 51 and over it).
const FIRST_WINDOW_RESERVE: f64 = 0.8;
pub const MIN_QP: u8 = 12;
pub const MAX_QP: u8 = 51;
/// Weight of the older frames in a model, a frame: P frames are many and vary (a scrolled
/// picture, then still ones), keyframes are few.
const P_MODEL_DECAY: f64 = 0.95;
const KEY_MODEL_DECAY: f64 = 0.5;

/// H.264's quantizer step for a QP (doubles every 6).
pub fn qstep(qp: f64) -> f64 {
    0.625 * (qp / 6.0).exp2()
}

fn qp_of_qstep(step: f64) -> f64 {
    6.0 * (step / 0.625).log2()
}

/// Cost of a picture, measured before encoding it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameCost {
    /// As a keyframe: differences between neighbouring samples.
    pub intra: f64,
    /// As a P frame: per block, the smaller of its difference with the previous picture and
    /// its intra cost.
    pub inter: f64,
}

/// Measures [`FrameCost`] on the luma plane, on a grid of every `step`-th sample (4 at 720p
/// and above: 57 600 samples at 720p), in blocks of 8x8 grid samples.
pub struct CostMeter {
    step: usize,
    cols: usize,
    rows: usize,
    previous: Vec<u8>,
    current: Vec<u8>,
    has_previous: bool,
}

/// Per grid sample, so that a flat picture still costs something (a P frame of a still
/// picture has headers and skips; a model divides by the cost).
const COST_FLOOR_PER_SAMPLE: f64 = 0.5;
const BLOCK: usize = 8;

impl CostMeter {
    pub fn new(width: u32, height: u32) -> Self {
        let step = if width >= 1280 { 4 } else { 2 };
        let cols = (width as usize / step) / BLOCK * BLOCK;
        let rows = (height as usize / step) / BLOCK * BLOCK;
        Self {
            step,
            cols,
            rows,
            previous: vec![0; cols * rows],
            current: vec![0; cols * rows],
            has_previous: false,
        }
    }

    /// The cost of this picture (`y`: the luma plane, `stride` bytes a row); it becomes the
    /// previous picture of the next call.
    pub fn measure(&mut self, y: &[u8], stride: usize) -> FrameCost {
        let (cols, rows, step) = (self.cols, self.rows, self.step);
        for r in 0..rows {
            let row = &y[r * step * stride..];
            for c in 0..cols {
                self.current[r * cols + c] = row[c * step];
            }
        }
        let (mut intra_total, mut inter_total) = (0u64, 0u64);
        for by in (0..rows).step_by(BLOCK) {
            for bx in (0..cols).step_by(BLOCK) {
                let (mut intra, mut inter) = (0u32, 0u32);
                for r in by..by + BLOCK {
                    for c in bx..bx + BLOCK {
                        let at = r * cols + c;
                        let p = i32::from(self.current[at]);
                        let left = if c > 0 {
                            self.current[at - 1]
                        } else {
                            self.current[at]
                        };
                        let up = if r > 0 {
                            self.current[at - cols]
                        } else {
                            self.current[at]
                        };
                        intra += (p - i32::from(left)).unsigned_abs()
                            + (p - i32::from(up)).unsigned_abs();
                        inter += (p - i32::from(self.previous[at])).unsigned_abs();
                    }
                }
                intra_total += u64::from(intra);
                inter_total += u64::from(if self.has_previous {
                    inter.min(intra)
                } else {
                    intra
                });
            }
        }
        std::mem::swap(&mut self.previous, &mut self.current);
        self.has_previous = true;
        let floor = COST_FLOOR_PER_SAMPLE * (cols * rows) as f64;
        FrameCost {
            intra: intra_total as f64 + floor,
            inter: inter_total as f64 + floor,
        }
    }
}

/// Predicts a frame's bits from its cost and QP: `coeff * cost / qstep(qp)`, `coeff` the
/// ratio of the recent frames' sums (bits x qstep over cost), so that the big frames, which
/// carry the bits, weigh the most.
#[derive(Debug, Clone)]
struct Model {
    /// Decayed sums of bits x qstep and of cost.
    num: f64,
    den: f64,
    decay: f64,
    /// The coefficients of the last `span` frames (0 for one that cost under a quarter of the
    /// mean):
    /// the window plans with the second largest, so that a picture costlier than its cost says
    /// (text scrolled out of the motion search's reach, again and again) does not overflow
    /// it, while a single one (a scene cut: 5x the others on the game clip) does not hold
    /// the frames after it coarse (it did, for 20 frames at QP 44-36, with the largest).
    peaks: VecDeque<f64>,
    span: usize,
}

impl Model {
    /// `coeff`: the first guess, worth one frame of cost `cost`; the peaks are the last `span`
    /// frames'.
    fn new(coeff: f64, cost: f64, decay: f64, span: usize) -> Self {
        let span = span.max(2);
        Self {
            num: coeff * cost,
            den: cost,
            decay,
            peaks: VecDeque::with_capacity(span + 1),
            span,
        }
    }
    fn peak(&self) -> f64 {
        let (mut first, mut second) = (0.0f64, 0.0f64);
        for &c in &self.peaks {
            if c > first {
                second = first;
                first = c;
            } else if c > second {
                second = c;
            }
        }
        second
    }
    fn coeff(&self) -> f64 {
        self.num / self.den.max(1e-9)
    }
    /// The QP at which the worst recent frames predict `bits`.
    fn qp_for(&self, cost: f64, bits: f64) -> f64 {
        qp_of_qstep(self.peak().max(self.coeff()) * cost / bits.max(1.0))
    }
    fn learn(&mut self, bits: f64, cost: f64, qp: f64) {
        let mean_cost = self.den * (1.0 - self.decay);
        self.num = self.num * self.decay + bits * qstep(qp);
        self.den = self.den * self.decay + cost;
        self.peaks.push_back(if cost >= 0.25 * mean_cost {
            bits * qstep(qp) / cost.max(1.0)
        } else {
            0.0
        });
        while self.peaks.len() > self.span {
            self.peaks.pop_front();
        }
    }
}

/// A frame of the window: its bits, the P frames' QP it stands for (a keyframe's plus
/// [`KEYFRAME_QP_OFFSET`]) and whether it was a keyframe.
#[derive(Debug, Clone, Copy)]
struct Spent {
    bits: f64,
    qp: f64,
    keyframe: bool,
}

/// What was planned for the frame being encoded.
#[derive(Debug, Clone, Copy)]
struct Plan {
    cost: FrameCost,
    qp: f64,
    /// Finer than the last picture: it re-codes part of it, which its cost does not show, so
    /// its model does not learn from it.
    recodes: bool,
}

/// The per-frame QP choice; see the module's documentation.
pub struct WindowRateControl {
    fps: f64,
    bitrate: f64,
    /// Frames in the 2 s window.
    window: usize,
    /// The last `window - 1` frames, and the sum of their bits.
    recent: VecDeque<Spent>,
    recent_sum: f64,
    /// The last P frame's QP was raised by the window.
    capped: bool,
    p_model: Model,
    key_model: Model,
    /// The P frames' QP the mean asked for last (before the window's limit).
    base_qp: Option<f64>,
    /// The first frame's base QP, from the bits a pixel may take.
    first_qp: f64,
    /// The P frames' rounding error so far (see [`Self::qp_for`]).
    carry: f64,
    /// The last picture's QP.
    last_qp: Option<f64>,
    plan: Option<Plan>,
}

impl WindowRateControl {
    /// `pixels`: a picture's (its first QP comes from the bits a pixel may take).
    pub fn new(bitrate_bps: u32, fps: u32, pixels: u32) -> Self {
        let fps = f64::from(fps.max(1));
        let window = (2.0 * fps).round() as usize;
        // 0.1 bit a pixel (720p30 at 3000 kbit/s) starts at QP 30; twice as many, 6 finer.
        let bits_per_pixel = f64::from(bitrate_bps.max(1)) / fps / f64::from(pixels.max(1));
        let first_qp = 30.0 - 6.0 * (bits_per_pixel / 0.1).log2();
        // First guesses (bits per cost unit at QP 28), from the benchmark clips; each counts
        // as one frame of a typical 720p cost and is soon outweighed.
        let typical = 1e6;
        Self {
            fps,
            bitrate: f64::from(bitrate_bps.max(1)),
            window,
            recent: VecDeque::new(),
            recent_sum: 0.0,
            capped: false,
            // Neither guess is a peak: made at 720p, they are 4-25x a noisy 480p picture's and
            // held the first frames at QP 44-51 (the P frames after them re-coded the picture);
            // the first window's reserve keeps the first scrolls of text in it instead.
            p_model: Model::new(0.6 * qstep(28.0), typical, P_MODEL_DECAY, window / 2),
            key_model: Model::new(0.9 * qstep(28.0), typical, KEY_MODEL_DECAY, 4),
            base_qp: None,
            first_qp: first_qp.clamp(20.0, 40.0),
            carry: 0.0,
            last_qp: None,
            plan: None,
        }
    }

    /// The bitrate from the next frame on (dynamic bitrate). What was spent over the old
    /// schedule is forgotten; the window holds the new rate at once.
    pub fn set_bitrate(&mut self, bitrate_bps: u32) {
        self.bitrate = f64::from(bitrate_bps.max(1));
    }

    pub fn bitrate(&self) -> u32 {
        self.bitrate as u32
    }

    /// The first 2 s window is still filling.
    fn first_window(&self) -> bool {
        self.recent.len() + 1 < self.window
    }

    fn frame_budget(&self) -> f64 {
        self.bitrate * MEAN_AIM / self.fps
    }

    /// The QP for the next frame.
    pub fn qp_for(&mut self, keyframe: bool, cost: FrameCost) -> u8 {
        let budget = self.frame_budget();
        // The mean: the P frames' QP moves a share of the way to the QP at which the window's
        // frames would have spent the aim (see [`Self::mean_target`]), so that it stays steady
        // from frame to frame.
        let base = match (self.base_qp, self.mean_target(budget)) {
            (None, _) => self.first_qp,
            (Some(last), None) => last,
            (Some(last), Some(target)) => {
                let (gain, most) = if self.first_window() {
                    (FIRST_WINDOW_GAIN, FIRST_WINDOW_MAX_QP_STEP)
                } else {
                    (MEAN_GAIN, MAX_QP_STEP)
                };
                let mut step = (gain * (target - last)).clamp(-most, most);
                // While the window holds the P frames above the mean's QP, that QP does not
                // fall further (it would come out all at once when the window has room again).
                if self.capped {
                    step = step.max(0.0);
                }
                last + step
            }
        }
        .clamp(f64::from(MIN_QP), f64::from(MAX_QP));
        self.base_qp = Some(base);
        let (model, frame_cost, mut qp) = if keyframe {
            (&self.key_model, cost.intra, base - KEYFRAME_QP_OFFSET)
        } else {
            (&self.p_model, cost.inter, base)
        };
        // The window: what the last window - 1 frames left of the bitrate (the planned limit;
        // the 5 % above it absorb a frame bigger than predicted).
        let limit = PLANNED_WINDOW * self.bitrate * self.window as f64 / self.fps;
        // While the first window fills, the P frames still to come in it keep a share of what
        // is left (not the first keyframe: its model's first guess is rough, and a reserve held
        // it at QP 46 on the noisy clip, which the P frames after it re-coded).
        let left = limit - self.recent_sum;
        let to_come = if keyframe {
            0.0
        } else {
            (self.window - 1).saturating_sub(self.recent.len()) as f64
        };
        let reserve = (FIRST_WINDOW_RESERVE * budget).min(0.9 * left.max(0.0) / (to_come + 1.0));
        let room = (left - to_come * reserve).max(0.1 * budget);
        let share = if keyframe {
            KEY_SHARE_OF_ROOM
        } else {
            P_SHARE_OF_ROOM
        };
        let window_qp = model.qp_for(frame_cost, room * share);
        self.capped = !keyframe && window_qp > qp + 1.0;
        tracing::trace!(base, window_qp, room, target = ?self.mean_target(budget), "rate plan");
        qp = qp.max(window_qp);
        if let (false, Some(last)) = (keyframe, self.last_qp) {
            qp = qp.max(last - MAX_QP_FALL);
        }
        let qp = qp.clamp(f64::from(MIN_QP), f64::from(MAX_QP));
        // A P frame's QP is rounded with the last ones' rounding errors carried over, so that
        // the frames average the QP asked for (30.6 as 31 for good left the mean 5 % low).
        let qp = if keyframe {
            qp.round()
        } else {
            let rounded = (qp + self.carry).round();
            self.carry = (self.carry + qp - rounded).clamp(-0.5, 0.5);
            rounded.clamp(f64::from(MIN_QP), f64::from(MAX_QP))
        };
        let recodes = !keyframe && self.last_qp.is_some_and(|last| qp < last - 1.0);
        self.plan = Some(Plan { cost, qp, recodes });
        qp as u8
    }

    /// The P frames' QP at which the window's frames would have spent the aim: the QP they were
    /// coded at (weighted by their bits, which they are the sum of), moved by what they spent
    /// against the aim ([`QP_PER_HALVING`] per doubling). The spending and the QPs are of the
    /// same frames, so the target does not lag behind the QP's own moves (a control on the
    /// spending alone did: it settled at 87 % of the bitrate on a noisy clip). Until the window
    /// is full, its missing frames count as P frames like those so far (one keyframe a window:
    /// the first keyframe alone does not make the first 2 s look expensive). `None` before the
    /// first P frame.
    fn mean_target(&self, budget: f64) -> Option<f64> {
        let (mut key_bits, mut keys, mut p_bits, mut p_frames, mut qp_bits) =
            (0.0, 0usize, 0.0, 0usize, 0.0);
        // While the first window fills, its last P frames only: the first QP was a guess, and
        // the frames coded at it held the target back (the 1080p game clip's first 2 s at 70 %).
        let first_window = self.first_window();
        for f in self.recent.iter().rev() {
            if f.keyframe {
                key_bits += f.bits;
                keys += 1;
            } else if !first_window || p_frames < FIRST_WINDOW_P_FRAMES {
                p_bits += f.bits;
                p_frames += 1;
                qp_bits += f.qp * f.bits;
            }
        }
        if p_frames == 0 {
            return None;
        }
        let slots = self.recent.len().max(self.window - 1) as f64;
        let p_slots = (slots - keys as f64).max(1.0);
        let p_budget = ((budget * slots - key_bits) / p_slots).max(0.1 * budget);
        let p_spent = p_bits / p_frames as f64;
        let qp = qp_bits / p_bits.max(1.0);
        Some(qp + QP_PER_HALVING * (p_spent.max(1.0) / p_budget).log2())
    }

    /// The frame planned by the last [`Self::qp_for`] came out at `bytes`, a keyframe or not
    /// (the model of what it was learns from it).
    pub fn encoded(&mut self, bytes: usize, keyframe: bool) {
        let bits = bytes as f64 * 8.0;
        let mut qp = self.base_qp.unwrap_or(self.first_qp);
        if let Some(plan) = self.plan.take() {
            qp = plan.qp + if keyframe { KEYFRAME_QP_OFFSET } else { 0.0 };
            self.last_qp = Some(plan.qp);
            if keyframe {
                self.key_model.learn(bits, plan.cost.intra, plan.qp);
            } else if !plan.recodes {
                self.p_model.learn(bits, plan.cost.inter, plan.qp);
            }
            tracing::trace!(
                qp = plan.qp,
                keyframe,
                bits,
                inter = plan.cost.inter,
                intra = plan.cost.intra,
                "rate control"
            );
        }
        self.push(Spent { bits, qp, keyframe });
    }

    /// A repeat picture of `bytes` filled an empty slot (no encoding, nothing to learn): a
    /// frame of the window all the same.
    pub fn repeated(&mut self, bytes: usize) {
        self.push(Spent {
            bits: bytes as f64 * 8.0,
            qp: self.base_qp.unwrap_or(self.first_qp),
            keyframe: false,
        });
    }

    fn push(&mut self, frame: Spent) {
        self.recent.push_back(frame);
        self.recent_sum += frame.bits;
        while self.recent.len() >= self.window {
            self.recent_sum -= self.recent.pop_front().map_or(0.0, |f| f.bits);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn qstep_doubles_every_six() {
        assert!((qstep(28.0) / qstep(22.0) - 2.0).abs() < 1e-9);
        assert!((qp_of_qstep(qstep(31.0)) - 31.0).abs() < 1e-9);
    }

    /// A stand-in for OpenH264: `bits = coeff * cost / qstep(qp)`, `coeff` 4x the model's
    /// first guess (content harder than it expects).
    fn bits(qp: u8, cost: f64) -> f64 {
        4.0 * 0.6 * qstep(28.0) * cost / qstep(f64::from(qp))
    }

    /// 720p30 at 3000 kbit/s, keyframes every 60 frames and a forced one at 100: every 2 s
    /// window stays within 105 % (the first one was at 107.7 % before its reserve), and the
    /// mean is near the aim.
    #[test]
    fn every_window_holds_the_bitrate() {
        let mut rc = WindowRateControl::new(3_000_000, 30, 1280 * 720);
        let mut sizes = Vec::new();
        for n in 0..300 {
            let key = n % 60 == 0 || n == 100;
            let cost = FrameCost {
                intra: 3e5,
                inter: if n % 7 == 0 { 2e5 } else { 1e5 },
            };
            let qp = rc.qp_for(key, cost);
            let b = bits(qp, if key { cost.intra } else { cost.inter });
            rc.encoded((b / 8.0) as usize, key);
            sizes.push(b);
        }
        let windows: Vec<f64> = sizes
            .windows(60)
            .map(|w| w.iter().sum::<f64>() / 2.0)
            .collect();
        let peak = windows.iter().copied().fold(0.0, f64::max);
        assert!(peak <= 1.05 * 3e6, "2 s peak {peak} bit/s");
        let mean = sizes[60..].iter().sum::<f64>() / 8.0;
        assert!(mean > 0.7 * 3e6, "mean {mean} bit/s");
    }

    /// Repeats (a stall) are frames of the window: they push the oldest frames out of it, and
    /// the next picture gets no coarser a QP than it would without them.
    #[test]
    fn repeats_count_as_small_frames() {
        let run = |repeats: usize| {
            let mut rc = WindowRateControl::new(3_000_000, 30, 1280 * 720);
            let cost = FrameCost {
                intra: 3e5,
                inter: 2e5,
            };
            let mut sizes = Vec::new();
            for n in 0..59 {
                let qp = rc.qp_for(n == 0, cost);
                let b = ((bits(qp, if n == 0 { cost.intra } else { cost.inter })) / 8.0) as usize;
                rc.encoded(b, n == 0);
                sizes.push(b as f64 * 8.0);
            }
            for _ in 0..repeats {
                rc.repeated(20);
            }
            sizes.extend(std::iter::repeat_n(160.0, repeats));
            assert_eq!(rc.recent.len(), 59, "the window minus the next frame");
            let kept: f64 = sizes[sizes.len() - 59..].iter().sum();
            assert!(
                (rc.recent_sum - kept).abs() < 1.0,
                "{} vs {kept}",
                rc.recent_sum
            );
            rc.qp_for(false, cost)
        };
        assert!(run(15) <= run(0), "{} vs {}", run(15), run(0));
    }

    /// Noisy camera-like content as OpenH264 codes it (fitted to the camera clip's trace at
    /// 720p30, BENCHMARKS section 14): a P frame's bits fall with qstep^1.6 (noise is coded
    /// at every step), a keyframe's with qstep^0.8, and the P frame after a keyframe coarser
    /// than it costs more (it re-codes what the keyframe dropped). Deterministic jitter +-10 %.
    fn noisy_frame(n: usize, qp: u8, key: bool, key_qp: u8) -> f64 {
        let rel = qstep(30.0) / qstep(f64::from(qp));
        let jitter = 1.0 + 0.1 * ((n as f64) * 2.4).sin();
        if key {
            1.7e6 * rel.powf(0.8) * jitter
        } else {
            let after_key = f64::from(key_qp.saturating_sub(qp)) * 0.75;
            70e3 * rel.powf(1.6) * jitter * after_key.exp2()
        }
    }

    /// 10 s of the noisy stand-in: the mean settles within 90-100 % of the bitrate and every
    /// 2 s window (the first included) stays within 105 %; the model starts 2x off.
    #[test]
    fn noisy_content_gets_its_mean_and_holds_every_window() {
        let mut rc = WindowRateControl::new(3_000_000, 30, 1280 * 720);
        let cost = FrameCost {
            intra: 2.95e6,
            inter: 1.3e6,
        };
        let (mut sizes, mut key_qp, mut qps) = (Vec::new(), 0u8, Vec::new());
        for n in 0..300 {
            let key = n % 60 == 0;
            let qp = rc.qp_for(key, cost);
            if key {
                key_qp = qp;
            }
            let b = noisy_frame(n, qp, key, if n % 60 == 1 { key_qp } else { 0 });
            rc.encoded((b / 8.0) as usize, key);
            sizes.push(b);
            qps.push(qp);
        }
        let peak = sizes
            .windows(60)
            .map(|w| w.iter().sum::<f64>() / 2.0)
            .fold(0.0, f64::max);
        let mean = sizes.iter().sum::<f64>() / 10.0;
        let qps = format!("{qps:?}");
        assert!(
            (0.9 * 3e6..=1.0 * 3e6).contains(&mean),
            "mean {:.1} % of the bitrate; QPs {qps}",
            mean / 3e4
        );
        assert!(peak <= 1.05 * 3e6, "2 s peak {peak} bit/s; QPs {qps}");
    }

    /// Runs `frames` frames through the controller at `bitrate` and `fps` (keyframes every 2 s),
    /// the stand-in `frame(n, qp, last_qp, key)` giving each one's bits; returns the bits.
    fn run(
        bitrate: u32,
        fps: u32,
        pixels: u32,
        frames: usize,
        cost: impl Fn(usize) -> FrameCost,
        frame: impl Fn(usize, u8, u8, bool) -> f64,
    ) -> (Vec<f64>, Vec<u8>) {
        let mut rc = WindowRateControl::new(bitrate, fps, pixels);
        let (mut sizes, mut qps, mut last_qp) = (Vec::new(), Vec::new(), 51u8);
        for n in 0..frames {
            let key = n % (2 * fps as usize) == 0;
            let qp = rc.qp_for(key, cost(n));
            let b = frame(n, qp, last_qp, key);
            rc.encoded((b / 8.0) as usize, key);
            sizes.push(b);
            qps.push(qp);
            last_qp = qp;
        }
        (sizes, qps)
    }

    /// Every 2 s window's bits over the bitrate, the first included.
    fn windows(sizes: &[f64], fps: usize, bitrate: f64) -> Vec<f64> {
        sizes
            .windows(2 * fps)
            .map(|w| w.iter().sum::<f64>() / 2.0 / bitrate)
            .collect()
    }

    /// A fast game with a scene cut every 61 frames (fitted to the 480p game clip's trace:
    /// the cut is coded as a P frame of intra blocks, 5x what its cost says; the cost meter
    /// sees fast motion and a cut alike). The frames after a cut are not held coarse: the mean
    /// stays within 90-100 %, every window within 105 %, and the 20 frames after a cut within
    /// 2 QP of the median. (Planning with the largest recent coefficient held them at up to
    /// 8 QP over it, 42 for 34.)
    #[test]
    fn a_scene_cut_does_not_hold_the_frames_after_it_coarse() {
        // The clip's motion slows over each 61-frame shot: the cost falls from 0.95 to 0.45 M.
        let cost = |n: usize| {
            let shot = ((n + 60) % 61) as f64 / 60.0;
            FrameCost {
                intra: 0.63e6 * (2.0 - shot),
                inter: if n % 61 == 1 {
                    1.04e6
                } else {
                    0.95e6 - 0.5e6 * shot
                },
            }
        };
        let frame = |n: usize, qp: u8, _: u8, key: bool| {
            let c = cost(n);
            let q = qstep(f64::from(qp));
            if key {
                3.7 * c.intra / q
            } else if n % 61 == 1 {
                5.9 * c.inter / q
            } else {
                1.25 * (1.0 + 0.1 * ((n as f64) * 2.4).sin()) * c.inter / q
            }
        };
        let (sizes, qps) = run(1_000_000, 30, 854 * 480, 300, cost, frame);
        let mean = sizes.iter().sum::<f64>() / 10.0 / 1e6;
        let peak = windows(&sizes, 30, 1e6).into_iter().fold(0.0, f64::max);
        assert!((0.9..=1.0).contains(&mean), "mean {mean:.3}; QPs {qps:?}");
        assert!(peak <= 1.05, "2 s peak {peak:.3}; QPs {qps:?}");
        // Once settled (after two shots): the 20 frames after a cut within 2 of the P frames'
        // median. (A cut into a full window holds the frames after it, as it must.)
        let mut p_qps: Vec<u8> = (60..300).filter(|n| n % 60 != 0).map(|n| qps[n]).collect();
        p_qps.sort_unstable();
        let median = p_qps[p_qps.len() / 2];
        for cut in (123..300).step_by(61) {
            let worst = qps[cut + 1..(cut + 21).min(300)].iter().max().copied();
            assert!(
                worst.is_some_and(|q| q <= median + 2),
                "after the cut at {cut}: QP {worst:?}, median {median}; QPs {qps:?}"
            );
        }
    }

    /// Scrolling text coded with the camera tools (fitted to the 720p text clip's trace): a
    /// scroll every 4th frame costs 10 bits a cost unit at qstep 1, a still frame next to
    /// nothing, and a frame finer than the one before re-codes it (613 kbit at QP 31 after a
    /// scroll held at QP 51), which its cost does not show. Every 2 s window, the first
    /// included, stays within 105 % (109 % before the QP's fall was bounded).
    #[test]
    fn a_picture_held_coarse_is_not_re_coded_at_once() {
        let cost = |n: usize| FrameCost {
            intra: 2.2e6,
            inter: if n.is_multiple_of(4) {
                1.03e6
            } else {
                28_160.0
            },
        };
        let frame = |n: usize, qp: u8, last_qp: u8, key: bool| {
            let q = qstep(f64::from(qp));
            let recode = 15.3e6 * (1.0 / q - 1.0 / qstep(f64::from(last_qp))).max(0.0);
            if key {
                5.1 * 2.2e6 / q
            } else if n.is_multiple_of(4) {
                10.0 * 1.03e6 / q + recode
            } else {
                0.5 * 28_160.0 / q + recode
            }
        };
        let (sizes, qps) = run(3_000_000, 30, 1280 * 720, 300, cost, frame);
        let peak = windows(&sizes, 30, 3e6).into_iter().fold(0.0, f64::max);
        assert!(peak <= 1.05, "2 s peak {peak:.3}; QPs {qps:?}");
        let falls = qps.windows(2).filter(|w| w[1] + 4 < w[0]).count();
        assert_eq!(falls, 0, "QPs {qps:?}");
    }

    /// Hard content the first guesses think easy (a fractal zoom: 5x the P model's guess): the
    /// first 2 s stay within 100 % (before the reserve for the frames still to come, the
    /// first frames took the window and the rest came out at QP 51 and over it: 105 %).
    #[test]
    fn the_first_window_keeps_room_for_its_last_frames() {
        let cost = |_: usize| FrameCost {
            intra: 5.5e5,
            inter: 2.4e5,
        };
        let frame = |n: usize, qp: u8, _: u8, key: bool| {
            let grow = 1.0 + n as f64 / 100.0;
            if key {
                6.0 * 5.5e5 / qstep(f64::from(qp))
            } else {
                5.1 * grow * 2.4e5 / qstep(f64::from(qp))
            }
        };
        let (sizes, qps) = run(1_000_000, 30, 854 * 480, 120, cost, frame);
        let first = windows(&sizes, 30, 1e6)[0];
        assert!(first <= 1.0, "first 2 s {first:.3}; QPs {qps:?}");
        assert!(qps[..60].iter().all(|&q| q < 51), "QPs {qps:?}");
    }

    /// Content far easier than the first QP's guess (the 1080p30 game clip: the guess is QP 33,
    /// the stream settles at 25), its motion slowing over each 2 s shot: the first 2 s get at
    /// least 80 % of the bitrate and no more than 100 % (70 % when the mean's target counted
    /// every frame coded near the guess).
    #[test]
    fn the_first_window_finds_the_content_quickly() {
        let cost = |n: usize| {
            let shot = (n % 60) as f64 / 60.0;
            FrameCost {
                intra: 1.2e6,
                inter: 1.1e6 - 0.6e6 * shot,
            }
        };
        let frame = |n: usize, qp: u8, _: u8, key: bool| {
            let c = cost(n);
            let q = qstep(f64::from(qp));
            if key {
                8.0 * c.intra / q
            } else {
                1.5 * c.inter / q
            }
        };
        let (sizes, qps) = run(4_500_000, 30, 1920 * 1080, 120, cost, frame);
        let first = windows(&sizes, 30, 4.5e6)[0];
        assert!(
            (0.8..=1.0).contains(&first),
            "first 2 s {first:.3}; QPs {qps:?}"
        );
    }
}
