//! One source in the mixer: its input pulled at the input's own pace into a delay line, read
//! back at its sync offset, then mono, balance, filters, fader, meter and mute, one block at a
//! time. Everything is allocated when the strip is made; a block allocates nothing.

use std::sync::Arc;

use super::dsp::{BLOCK_FRAMES, FilterState, LOOKAHEAD_FRAMES, db_to_linear};
use super::meter::{Levels, Meter};
use crate::capture::{AudioInput, SourceCounters};
use crate::config::mixer::{
    Filter, MAX_FILTERS, Monitoring, OFFSET_MAX_MS, OFFSET_MIN_MS, SourceSettings,
};
use crate::media::Timebase;

const BLOCK: usize = BLOCK_FRAMES * 2;
/// The most an input may say it needs ([`AudioInput::delay`]) for the delay line's size.
const MAX_INPUT_DELAY_MS: i64 = 200;
/// The delay line: enough for the largest offset either way, the inputs' delay, the filters'
/// and the limiter's latency (read ahead) and a block.
pub(super) const HISTORY_FRAMES: usize =
    ((OFFSET_MAX_MS as i64 - OFFSET_MIN_MS as i64 + MAX_INPUT_DELAY_MS) * 48
        + (MAX_FILTERS * BLOCK_FRAMES + LOOKAHEAD_FRAMES) as i64
        + 2 * BLOCK_FRAMES as i64) as usize;

fn ms_to_frames(ms: i64) -> i64 {
    ms * 48
}

/// One source with its processing state.
pub struct Strip {
    pub(super) name: String,
    input: Box<dyn AudioInput>,
    /// The input's delay, in frames (it can give sample `n` that long after `n`'s time).
    pub(super) input_delay: i64,
    /// The input's last frames (interleaved stereo), a ring indexed by input frame number.
    history: Vec<f32>,
    /// Input frames pulled so far.
    pulled: u64,
    /// The frames pulled per call (a block at most).
    pull: Vec<f32>,
    /// Positive: the source is heard later.
    pub(super) offset_frames: i64,
    /// How late the filters give their input back (noise suppression: a block each); the
    /// strip reads its input that much ahead, so its sound stays in sync.
    filter_latency: i64,
    mono: bool,
    /// Per-channel balance factors.
    balance: [f32; 2],
    filters: Vec<FilterState>,
    filter_settings: Vec<Filter>,
    /// The fader's factor now and where it is going (a block's ramp).
    fader: f32,
    fader_target: f32,
    /// The mute's factor now (0 or 1 when still) and its target.
    unmuted: f32,
    unmuted_target: f32,
    pub(super) monitoring: Monitoring,
    meter: Meter,
    pub(super) levels: Arc<Levels>,
    pub(super) counters: Arc<SourceCounters>,
}

impl Strip {
    /// A strip for `input` as `settings` say (everything allocated here).
    pub fn new(settings: &SourceSettings, input: Box<dyn AudioInput>) -> Self {
        let counters = input
            .device_counters()
            .into_iter()
            .next()
            .unwrap_or_else(|| {
                let c = SourceCounters::new(settings.name.clone(), settings.kind.label());
                c.set_live(true);
                Arc::new(c)
            });
        let input_delay = Timebase::AUDIO_48K
            .time_to_ticks(input.delay())
            .clamp(0, ms_to_frames(MAX_INPUT_DELAY_MS));
        let mut strip = Self {
            name: settings.name.clone(),
            input,
            input_delay,
            history: vec![0.0; HISTORY_FRAMES * 2],
            pulled: 0,
            pull: vec![0.0; BLOCK],
            offset_frames: 0,
            filter_latency: 0,
            mono: false,
            balance: [1.0, 1.0],
            filters: Vec::with_capacity(MAX_FILTERS),
            filter_settings: Vec::with_capacity(MAX_FILTERS),
            fader: 1.0,
            fader_target: 1.0,
            unmuted: 1.0,
            unmuted_target: 1.0,
            monitoring: Monitoring::Off,
            meter: Meter::default(),
            levels: Arc::new(Levels::default()),
            counters,
        };
        strip.apply(settings);
        // Start where the settings are, not ramping from 0 dB.
        strip.fader = strip.fader_target;
        strip.unmuted = strip.unmuted_target;
        strip
    }

    pub fn input_mut(&mut self) -> &mut dyn AudioInput {
        self.input.as_mut()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn levels(&self) -> &Arc<Levels> {
        &self.levels
    }

    pub fn counters(&self) -> &Arc<SourceCounters> {
        &self.counters
    }

    /// Takes new settings: scalars at once (the fader and mute ramp over the next block),
    /// filters kept with their state where the kind at a place is unchanged. Allocates only
    /// when the filter list changes.
    pub fn apply(&mut self, s: &SourceSettings) {
        self.fader_target = db_to_linear(s.volume_db);
        self.unmuted_target = if s.muted { 0.0 } else { 1.0 };
        self.offset_frames = ms_to_frames(i64::from(
            s.sync_offset_ms.clamp(OFFSET_MIN_MS, OFFSET_MAX_MS),
        ));
        self.mono = s.mono;
        let b = s.balance.clamp(-1.0, 1.0);
        self.balance = [(1.0 - b).min(1.0), (1.0 + b).min(1.0)];
        self.monitoring = s.monitoring;
        if self.filter_settings == s.filters {
            return;
        }
        let same_kinds = self.filters.len() == s.filters.len()
            && self
                .filter_settings
                .iter()
                .zip(&s.filters)
                .all(|(a, b)| a.kind() == b.kind());
        if same_kinds {
            for (f, new) in self.filters.iter_mut().zip(&s.filters) {
                f.update(new);
            }
        } else {
            // Keep the state of each filter that survives (the first of its kind not yet
            // taken, in order), make the new ones.
            let mut old: Vec<Option<(Filter, FilterState)>> =
                std::mem::take(&mut self.filter_settings)
                    .into_iter()
                    .zip(std::mem::take(&mut self.filters))
                    .map(Some)
                    .collect();
            for new in s.filters.iter().take(MAX_FILTERS) {
                let kept = old
                    .iter_mut()
                    .find(|o| o.as_ref().is_some_and(|(f, _)| f.kind() == new.kind()))
                    .and_then(Option::take);
                let state = match kept {
                    Some((_, mut state)) => {
                        state.update(new);
                        state
                    }
                    None => FilterState::new(new),
                };
                self.filters.push(state);
            }
        }
        self.filter_settings.clear();
        self.filter_settings
            .extend(s.filters.iter().take(MAX_FILTERS).copied());
        self.filter_latency = self.filters.iter().map(FilterState::latency_frames).sum();
    }

    /// Pulls the input up to frame `until` (exclusive), a block at a time, into the delay line.
    fn pull_to(&mut self, until: u64) {
        while self.pulled < until {
            let frames = ((until - self.pulled) as usize).min(BLOCK_FRAMES);
            let buf = &mut self.pull[..frames * 2];
            self.input.fill(self.pulled, buf);
            for (k, frame) in buf.chunks_exact(2).enumerate() {
                let at = ((self.pulled + k as u64) % HISTORY_FRAMES as u64) as usize * 2;
                self.history[at] = frame[0];
                self.history[at + 1] = frame[1];
            }
            self.pulled += frames as u64;
        }
    }

    /// How far ahead of the program (frames) this strip reads its input: its filters' latency
    /// less its sync offset (negative: it reads behind).
    pub(super) fn read_ahead(&self) -> i64 {
        self.filter_latency - self.offset_frames
    }

    /// Makes this source's block for program frames `first .. first + BLOCK_FRAMES` into
    /// `out`, the program running `mixer_delay` frames behind its clock: the input is pulled
    /// as far as it can give (the clock less its delay) and read back at its offset. Returns
    /// the block after the fader and mute (`out`), metered before the mute.
    pub fn process(&mut self, first: i64, mixer_delay: i64, out: &mut [f32]) {
        let ready = first + BLOCK_FRAMES as i64 + mixer_delay - self.input_delay;
        self.pull_to(ready.max(0) as u64);
        // Read input frames first - offset .. (silence where there are none).
        let start = first + self.read_ahead();
        let oldest = self.pulled as i64 - HISTORY_FRAMES as i64;
        for (k, frame) in out.chunks_exact_mut(2).enumerate() {
            let i = start + k as i64;
            if i < 0 || i < oldest || i >= self.pulled as i64 {
                frame[0] = 0.0;
                frame[1] = 0.0;
            } else {
                let at = (i as u64 % HISTORY_FRAMES as u64) as usize * 2;
                frame[0] = self.history[at];
                frame[1] = self.history[at + 1];
            }
        }
        if self.mono {
            for frame in out.chunks_exact_mut(2) {
                let m = 0.5 * (frame[0] + frame[1]);
                frame[0] = m;
                frame[1] = m;
            }
        }
        if self.balance != [1.0, 1.0] {
            for frame in out.chunks_exact_mut(2) {
                frame[0] *= self.balance[0];
                frame[1] *= self.balance[1];
            }
        }
        let mono = self.mono && self.balance[0] == self.balance[1];
        for f in &mut self.filters {
            f.process(out, mono);
        }
        ramp(out, &mut self.fader, self.fader_target);
        self.meter.push(out, &self.levels);
        ramp(out, &mut self.unmuted, self.unmuted_target);
    }
}

/// Multiplies `block` by a factor going from `*now` to `target` over the block.
fn ramp(block: &mut [f32], now: &mut f32, target: f32) {
    if *now == target {
        if target != 1.0 {
            block.iter_mut().for_each(|s| *s *= target);
        }
        return;
    }
    let frames = (block.len() / 2) as f32;
    let step = (target - *now) / frames;
    let mut g = *now;
    for frame in block.chunks_exact_mut(2) {
        g += step;
        frame[0] *= g;
        frame[1] *= g;
    }
    *now = target;
}
