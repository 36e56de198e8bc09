//! An input fed by another part of the engine (a video file's decoded sound, say): the feeder
//! hands samples with their time on the engine clock, on its own thread and at its own pace;
//! the mixer takes them by sample index.
//!
//! ```text
//! feeder thread ──ExternalFeed::push(pts, samples)──▶ slot (2 s, by sample index) ──▶ ExternalInput::fill
//!   a gap is silence; late samples (their time already mixed) and overflow are dropped, counted
//! ```

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};

use crate::capture::{AudioInput, SourceCounters, SourceDevices};
use crate::media::{MediaTime, Timebase};

/// What the slot holds at most: 2 s of 48 kHz stereo. A feeder further ahead loses the
/// oldest (counted as dropped).
const SLOT_FRAMES: usize = 96_000;

struct Slot {
    /// Interleaved stereo; `samples[0..2]` is frame `start`.
    samples: VecDeque<f32>,
    start: u64,
    /// The frame the mixer asks for next: anything before it is too late.
    next_read: u64,
}

struct Shared {
    slot: Mutex<Slot>,
    counters: Arc<SourceCounters>,
    closed: AtomicBool,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The feeder's end.
#[derive(Clone)]
pub struct ExternalFeed {
    shared: Arc<Shared>,
}

/// The mixer's end (an [`AudioInput`]).
pub struct ExternalInput {
    shared: Arc<Shared>,
    delay: MediaTime,
    /// Heard only while this holds (a video source on the program), faded over 10 ms.
    gate: Option<Arc<AtomicBool>>,
    gain: f32,
}

/// A new external input called `name`; the mixer asks for sample `n` `delay` after its time
/// (the longest the feeder takes to hand a sample over, after the sample's time).
pub fn external(name: &str, delay: MediaTime) -> (ExternalFeed, ExternalInput) {
    let counters = SourceCounters::new(name, "external");
    counters.set_live(true);
    let shared = Arc::new(Shared {
        slot: Mutex::new(Slot {
            samples: VecDeque::with_capacity(SLOT_FRAMES * 2),
            start: 0,
            next_read: 0,
        }),
        counters: Arc::new(counters),
        closed: AtomicBool::new(false),
    });
    (
        ExternalFeed {
            shared: shared.clone(),
        },
        ExternalInput {
            shared,
            delay,
            gate: None,
            gain: 1.0,
        },
    )
}

impl ExternalInput {
    /// Makes the input heard only while `open` holds (read at each fill).
    pub fn gate(&mut self, open: Arc<AtomicBool>) {
        self.gain = if open.load(Relaxed) { 1.0 } else { 0.0 };
        self.gate = Some(open);
    }
}

impl ExternalFeed {
    /// Hands over `samples` (48 kHz interleaved stereo f32) whose first is at engine time
    /// `pts`. Never waits on the mixer beyond a copy. Returns false once the mixer dropped
    /// the input (the feeder may stop).
    pub fn push(&self, pts: MediaTime, samples: &[f32]) -> bool {
        if self.shared.closed.load(Relaxed) {
            return false;
        }
        let counters = &self.shared.counters;
        counters
            .captured
            .fetch_add(samples.len() as u64 / 2, Relaxed);
        let at = Timebase::AUDIO_48K.time_to_ticks(pts).max(0) as u64;
        let mut slot = self.shared.lock();
        let mut samples = samples;
        let mut at = at;
        // Too late: the mixer has passed these.
        if at < slot.next_read {
            let late = ((slot.next_read - at) as usize).min(samples.len() / 2);
            counters.dropped_samples.fetch_add(late as u64, Relaxed);
            samples = &samples[late * 2..];
            at += late as u64;
        }
        let end = slot.start + slot.samples.len() as u64 / 2;
        if slot.samples.is_empty() || at > end + SLOT_FRAMES as u64 {
            slot.samples.clear();
            slot.start = at;
        } else if at < end {
            // Overlaps what is there already: keep what was there.
            let overlap = ((end - at) as usize).min(samples.len() / 2);
            counters.dropped_samples.fetch_add(overlap as u64, Relaxed);
            samples = &samples[overlap * 2..];
        } else {
            // A gap: silence in it.
            let gap = (at - end) as usize * 2;
            slot.samples.extend(std::iter::repeat_n(0.0, gap));
        }
        slot.samples.extend(samples.iter().copied());
        let over = (slot.samples.len() / 2).saturating_sub(SLOT_FRAMES);
        if over > 0 {
            slot.samples.drain(..over * 2);
            slot.start += over as u64;
            counters.dropped_samples.fetch_add(over as u64, Relaxed);
        }
        counters
            .buffered_samples
            .store(slot.samples.len() as u64 / 2, Relaxed);
        true
    }
}

impl crate::capture::AudioFeed for ExternalFeed {
    fn push(&self, pts: MediaTime, samples: &[f32]) -> bool {
        ExternalFeed::push(self, pts, samples)
    }
}

impl AudioInput for ExternalInput {
    fn fill(&mut self, first_sample: u64, out: &mut [f32]) {
        let frames = out.len() / 2;
        let mut slot = self.shared.lock();
        // What is before the asked range will never be used.
        if slot.start < first_sample {
            let old = ((first_sample - slot.start) as usize).min(slot.samples.len() / 2);
            slot.samples.drain(..old * 2);
            slot.start += old as u64;
            if slot.samples.is_empty() {
                slot.start = first_sample;
            }
        }
        let mut missing = 0u64;
        for (k, frame) in out.chunks_exact_mut(2).enumerate() {
            let i = first_sample + k as u64;
            let at = i.checked_sub(slot.start).map(|d| d as usize * 2);
            match at {
                Some(a) if a + 1 < slot.samples.len() => {
                    frame[0] = slot.samples[a];
                    frame[1] = slot.samples[a + 1];
                }
                _ => {
                    frame[0] = 0.0;
                    frame[1] = 0.0;
                    missing += 1;
                }
            }
        }
        slot.next_read = first_sample + frames as u64;
        drop(slot);
        if let Some(gate) = &self.gate {
            let target = if gate.load(Relaxed) { 1.0 } else { 0.0 };
            if target != self.gain || target == 0.0 {
                // 10 ms from silent to heard and back.
                let step = (target - self.gain).signum() / 480.0;
                for frame in out.chunks_exact_mut(2) {
                    if self.gain != target {
                        self.gain = (self.gain + step).clamp(0.0, 1.0);
                        if (step > 0.0 && self.gain >= target)
                            || (step < 0.0 && self.gain <= target)
                        {
                            self.gain = target;
                        }
                    }
                    frame[0] *= self.gain;
                    frame[1] *= self.gain;
                }
            }
        }
        if missing > 0 {
            let c = &self.shared.counters;
            c.underrun_samples.fetch_add(missing, Relaxed);
        }
    }

    fn delay(&self) -> MediaTime {
        self.delay
    }
}

impl SourceDevices for ExternalInput {
    fn device_counters(&self) -> Vec<Arc<SourceCounters>> {
        vec![self.shared.counters.clone()]
    }
}

impl Drop for ExternalInput {
    fn drop(&mut self) {
        self.shared.closed.store(true, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(from: usize, n: usize) -> Vec<f32> {
        (from..from + n)
            .flat_map(|i| [i as f32, -(i as f32)])
            .collect()
    }

    #[test]
    fn samples_come_out_at_their_time_with_gaps_silent_and_late_ones_dropped() {
        let (feed, mut input) = external("clip", MediaTime::from_millis(20));
        // Frames 480.. at 10 ms, then 1440.. at 30 ms (a gap of 480 frames).
        assert!(feed.push(MediaTime::from_millis(10), &frames(480, 480)));
        assert!(feed.push(MediaTime::from_millis(30), &frames(1440, 480)));
        let mut out = vec![9.0f32; 960];
        input.fill(0, &mut out);
        assert!(out.iter().all(|&v| v == 0.0), "before the first: silence");
        input.fill(480, &mut out);
        assert_eq!((out[0], out[1], out[958]), (480.0, -480.0, 959.0));
        input.fill(960, &mut out);
        assert!(out.iter().all(|&v| v == 0.0), "the gap: silence");
        input.fill(1440, &mut out);
        assert_eq!(out[0], 1440.0);
        // Late: frames 0.. arrive after the mixer passed them.
        feed.push(MediaTime::ZERO, &frames(0, 480));
        let c = input.device_counters()[0].clone();
        assert_eq!(c.dropped_samples.load(Relaxed), 480);
        assert_eq!(
            c.underrun_samples.load(Relaxed),
            480,
            "only before the first"
        );
        drop(input);
        assert!(!feed.push(MediaTime::from_millis(50), &frames(2400, 480)));
    }

    #[test]
    fn a_closed_gate_silences_the_input_and_opening_fades_it_in() {
        let (feed, mut input) = external("clip", MediaTime::from_millis(20));
        let open = Arc::new(AtomicBool::new(false));
        input.gate(open.clone());
        let ones = vec![1.0f32; 4800 * 2];
        assert!(feed.push(MediaTime::ZERO, &ones));
        let mut out = vec![9.0f32; 960];
        input.fill(0, &mut out);
        assert!(out.iter().all(|&v| v == 0.0), "closed: silent");
        open.store(true, Relaxed);
        input.fill(480, &mut out);
        assert!(out[0] > 0.0 && out[0] < 0.01, "fades in: {}", out[0]);
        assert!(
            (out[958] - 1.0).abs() < 1e-6,
            "whole after 10 ms: {}",
            out[958]
        );
        input.fill(960, &mut out);
        assert!(out.iter().all(|&v| (v - 1.0).abs() < 1e-6));
        open.store(false, Relaxed);
        input.fill(1440, &mut out);
        assert!(out[958].abs() < 1e-6 && out[0] > 0.99, "fades out");
    }
}
