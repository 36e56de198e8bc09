//! The ballistics of the window's audio meters, after OBS's mixer: the bar jumps up to a new
//! peak at once and falls back at a fixed rate, a peak-hold mark stays at the highest peak for
//! a few seconds, and the scale has OBS's green, yellow and red zones. Pure: readings and the
//! time come in, what to draw goes out.

use std::time::{Duration, Instant};

use crate::pipeline::stats::ChannelLevel;

/// The bottom of the scale; anything quieter draws as an empty bar.
pub const FLOOR_DBFS: f32 = -60.0;
/// Above this the bar is yellow (speech belongs here).
pub const WARNING_DBFS: f32 = -20.0;
/// Above this the bar is red: close to clipping.
pub const ERROR_DBFS: f32 = -9.0;
/// A held peak at or above this is shown as clipping.
pub const CLIP_DBFS: f32 = -0.5;
/// How long the peak-hold mark stays (OBS's classic meter held its peak for 3 s).
pub const PEAK_HOLD: Duration = Duration::from_secs(3);
/// How fast the bar falls (OBS's "fast" decay is about 20 dB/s).
pub const DECAY_DB_PER_SEC: f32 = 20.0;

/// One channel's meter as drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Meter {
    /// The bar: the peak, falling at [`DECAY_DB_PER_SEC`].
    pub peak_dbfs: f32,
    /// The inner bar: the RMS of the last reading.
    pub rms_dbfs: f32,
    /// The peak-hold mark.
    pub held_dbfs: f32,
    held_at: Option<Instant>,
    updated: Option<Instant>,
    window: u64,
}

impl Default for Meter {
    fn default() -> Self {
        Self {
            peak_dbfs: FLOOR_DBFS,
            rms_dbfs: FLOOR_DBFS,
            held_dbfs: FLOOR_DBFS,
            held_at: None,
            updated: None,
            window: 0,
        }
    }
}

impl Meter {
    /// Takes reading number `window` (a repeated number is no new sound) at `now`.
    pub fn update(&mut self, reading: ChannelLevel, window: u64, now: Instant) {
        let dt = self
            .updated
            .map_or(0.0, |t| now.saturating_duration_since(t).as_secs_f32());
        self.updated = Some(now);
        let fallen = (self.peak_dbfs - DECAY_DB_PER_SEC * dt).max(FLOOR_DBFS);
        if window != self.window {
            self.window = window;
            let peak = reading.peak_dbfs.max(FLOOR_DBFS);
            self.peak_dbfs = fallen.max(peak);
            self.rms_dbfs = reading.rms_dbfs.max(FLOOR_DBFS);
            if peak >= self.held_dbfs || self.held_expired(now) {
                self.held_dbfs = peak;
                self.held_at = Some(now);
            }
        } else {
            self.peak_dbfs = fallen;
        }
        if self.held_expired(now) {
            self.held_dbfs = self.peak_dbfs;
            self.held_at = Some(now);
        }
    }

    fn held_expired(&self, now: Instant) -> bool {
        self.held_at
            .is_none_or(|t| now.saturating_duration_since(t) >= PEAK_HOLD)
    }

    /// The peak came close to clipping within the hold time.
    pub fn clipping(&self) -> bool {
        self.held_dbfs >= CLIP_DBFS
    }

    /// Where `dbfs` sits on the scale, 0 (floor) to 1 (0 dBFS).
    pub fn fraction(dbfs: f32) -> f32 {
        ((dbfs - FLOOR_DBFS) / -FLOOR_DBFS).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(peak: f32) -> ChannelLevel {
        ChannelLevel {
            peak_dbfs: peak,
            rms_dbfs: peak - 3.0,
        }
    }

    #[test]
    fn the_bar_jumps_up_and_falls_at_the_decay_rate() {
        let t0 = Instant::now();
        let mut m = Meter::default();
        m.update(level(-6.0), 1, t0);
        assert_eq!(m.peak_dbfs, -6.0);
        assert_eq!(m.rms_dbfs, -9.0);
        // Quiet now: the bar falls 20 dB/s, not at once.
        m.update(level(-50.0), 2, t0 + Duration::from_millis(500));
        assert!((m.peak_dbfs + 16.0).abs() < 0.01, "{m:?}");
        assert_eq!(m.rms_dbfs, -53.0);
        // No new reading: it keeps falling, to the floor and no further.
        m.update(level(-50.0), 2, t0 + Duration::from_secs(10));
        assert_eq!(m.peak_dbfs, FLOOR_DBFS);
    }

    #[test]
    fn the_peak_is_held_for_the_hold_time_then_follows_the_bar() {
        let t0 = Instant::now();
        let mut m = Meter::default();
        m.update(level(-3.0), 1, t0);
        m.update(level(-40.0), 2, t0 + Duration::from_secs(1));
        m.update(level(-40.0), 3, t0 + Duration::from_millis(2_900));
        assert_eq!(m.held_dbfs, -3.0, "held for {PEAK_HOLD:?}");
        // A higher peak replaces the mark at once.
        m.update(level(-1.0), 4, t0 + Duration::from_millis(2_950));
        assert_eq!(m.held_dbfs, -1.0);
        // After the hold time without a higher peak the mark drops to the bar.
        m.update(level(-40.0), 5, t0 + Duration::from_secs(7));
        assert_eq!(m.held_dbfs, m.peak_dbfs);
        assert!(m.held_dbfs < -30.0, "{m:?}");
    }

    #[test]
    fn silence_and_clipping_and_the_scale() {
        let t0 = Instant::now();
        let mut m = Meter::default();
        m.update(level(-100.0), 1, t0);
        assert_eq!((m.peak_dbfs, m.rms_dbfs), (FLOOR_DBFS, FLOOR_DBFS));
        assert!(!m.clipping());
        m.update(level(0.0), 2, t0);
        assert!(m.clipping());
        assert_eq!(Meter::fraction(FLOOR_DBFS - 10.0), 0.0);
        assert_eq!(Meter::fraction(-30.0), 0.5);
        assert_eq!(Meter::fraction(3.0), 1.0);
    }
}
