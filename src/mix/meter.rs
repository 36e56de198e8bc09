//! A source's meter: peak and RMS per channel over 100 ms windows, and the peak held for 3 s,
//! published through atomics that the window and the stats read without waiting.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

use serde::Serialize;

use crate::media::frame::AUDIO_RATE_HZ;

/// Frames per published window: 100 ms, a meter refreshed at up to 10 Hz.
pub const WINDOW_FRAMES: u32 = AUDIO_RATE_HZ / 10;
/// Windows a peak is held for: 3 s (OBS's peak hold).
pub const HOLD_WINDOWS: usize = 30;
/// The floor reported for silence, dBFS.
pub const FLOOR_DBFS: f32 = -100.0;

/// A linear amplitude (full scale 1) in dBFS, floored at [`FLOOR_DBFS`].
pub fn dbfs(v: f32) -> f32 {
    if v <= 0.0 {
        FLOOR_DBFS
    } else {
        (20.0 * v.log10()).max(FLOOR_DBFS)
    }
}

/// The last window's levels, written by the mixer, read by anyone.
#[derive(Debug, Default)]
pub struct Levels {
    /// dBFS as `f32` bits, per channel.
    peak: [AtomicU32; 2],
    rms: [AtomicU32; 2],
    hold: [AtomicU32; 2],
    windows: AtomicU64,
}

/// One reading, dBFS per channel (left, right).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LevelReading {
    pub peak_dbfs: [f32; 2],
    pub rms_dbfs: [f32; 2],
    /// The highest peak of the last 3 s.
    pub peak_hold_dbfs: [f32; 2],
    /// Windows measured so far (a reader tells a fresh reading from a repeated one).
    #[serde(skip)]
    pub windows: u64,
}

impl Levels {
    /// The last window's reading; `None` before the first.
    pub fn get(&self) -> Option<LevelReading> {
        let windows = self.windows.load(Relaxed);
        if windows == 0 {
            return None;
        }
        let read = |a: &[AtomicU32; 2]| [0, 1].map(|c| f32::from_bits(a[c].load(Relaxed)));
        Some(LevelReading {
            peak_dbfs: read(&self.peak),
            rms_dbfs: read(&self.rms),
            peak_hold_dbfs: read(&self.hold),
            windows,
        })
    }
}

/// Measures blocks and publishes each full window into [`Levels`]. No allocation.
#[derive(Debug)]
pub struct Meter {
    peak: [f32; 2],
    sum_squares: [f64; 2],
    count: u32,
    /// Each of the last windows' peaks, for the hold (a ring).
    recent: [[f32; 2]; HOLD_WINDOWS],
    at: usize,
}

impl Default for Meter {
    fn default() -> Self {
        Self {
            peak: [0.0; 2],
            sum_squares: [0.0; 2],
            count: 0,
            recent: [[0.0; 2]; HOLD_WINDOWS],
            at: 0,
        }
    }
}

impl Meter {
    pub fn push(&mut self, interleaved: &[f32], levels: &Levels) {
        for frame in interleaved.chunks_exact(2) {
            for (c, &v) in frame.iter().enumerate() {
                self.peak[c] = self.peak[c].max(v.abs());
                self.sum_squares[c] += f64::from(v) * f64::from(v);
            }
        }
        self.count += (interleaved.len() / 2) as u32;
        if self.count < WINDOW_FRAMES {
            return;
        }
        self.recent[self.at] = self.peak;
        self.at = (self.at + 1) % HOLD_WINDOWS;
        for c in 0..2 {
            let rms = (self.sum_squares[c] / f64::from(self.count)).sqrt() as f32;
            let hold = self.recent.iter().fold(0.0f32, |m, p| m.max(p[c]));
            levels.peak[c].store(dbfs(self.peak[c]).to_bits(), Relaxed);
            levels.rms[c].store(dbfs(rms).to_bits(), Relaxed);
            levels.hold[c].store(dbfs(hold).to_bits(), Relaxed);
        }
        levels.windows.fetch_add(1, Relaxed);
        self.peak = [0.0; 2];
        self.sum_squares = [0.0; 2];
        self.count = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_rms_and_hold_per_channel() {
        let levels = Levels::default();
        let mut m = Meter::default();
        assert!(levels.get().is_none());
        // Left: a half-scale square wave; right: silence.
        let loud: Vec<f32> = (0..WINDOW_FRAMES as usize)
            .flat_map(|i| [if i % 2 == 0 { 0.5 } else { -0.5 }, 0.0])
            .collect();
        for b in loud.chunks(960) {
            m.push(b, &levels);
        }
        let r = levels.get().unwrap();
        assert!((r.peak_dbfs[0] - -6.02).abs() < 0.01);
        assert!((r.rms_dbfs[0] - -6.02).abs() < 0.01);
        assert_eq!(r.peak_dbfs[1], FLOOR_DBFS);
        // Quieter windows after it: the peak falls, the hold stays for 3 s, then goes.
        let quiet = vec![0.01f32; WINDOW_FRAMES as usize * 2];
        m.push(&quiet, &levels);
        let r = levels.get().unwrap();
        assert!((r.peak_dbfs[0] - -40.0).abs() < 0.01);
        assert!((r.peak_hold_dbfs[0] - -6.02).abs() < 0.01);
        for _ in 0..HOLD_WINDOWS {
            m.push(&quiet, &levels);
        }
        assert!((levels.get().unwrap().peak_hold_dbfs[0] - -40.0).abs() < 0.01);
    }
}
