//! The `tone` audio source: a 1 kHz sine at -12 dBFS during the first 100 ms of each whole
//! second of media time, silence otherwise, 48 kHz stereo. Computed from the sample index, so
//! the beep starts exactly at each second of the stream's own time.

use super::{AudioInput, SourceDevices};
use crate::media::frame::AUDIO_RATE_HZ;

/// Peak amplitude for -12 dBFS: 32767 * 10^(-12/20).
pub const TONE_AMPLITUDE: i16 = 8231;
pub const TONE_HZ: u32 = 1_000;
/// Samples of tone at the start of each second: 100 ms at 48 kHz.
pub const TONE_SAMPLES: u64 = AUDIO_RATE_HZ as u64 / 10;

/// One period of the sine (48 samples for 1 kHz at 48 kHz).
const PERIOD: usize = (AUDIO_RATE_HZ / TONE_HZ) as usize;

pub struct Tone {
    table: [f32; PERIOD],
}

impl Default for Tone {
    fn default() -> Self {
        Self::new()
    }
}

impl Tone {
    pub fn new() -> Self {
        // The i16 values the program had before the mixer, as fractions of full scale, so
        // that a tone at 0 dB comes out exactly as it did.
        let mut table = [0f32; PERIOD];
        for (i, v) in table.iter_mut().enumerate() {
            let phase = std::f32::consts::TAU * i as f32 / PERIOD as f32;
            *v = (phase.sin() * f32::from(TONE_AMPLITUDE)).round() / 32768.0;
        }
        Self { table }
    }
}

impl SourceDevices for Tone {}

impl AudioInput for Tone {
    fn fill(&mut self, first_sample: u64, out: &mut [f32]) {
        for (i, pair) in out.chunks_exact_mut(2).enumerate() {
            let s = first_sample + i as u64;
            let v = if s % u64::from(AUDIO_RATE_HZ) < TONE_SAMPLES {
                self.table[(s % PERIOD as u64) as usize]
            } else {
                0.0
            };
            pair[0] = v;
            pair[1] = v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beeps_for_100ms_at_each_second() {
        let mut tone = Tone::new();
        let mut buf = vec![0f32; 2 * 96_000];
        tone.fill(0, &mut buf);
        let left: Vec<i16> = buf
            .iter()
            .step_by(2)
            .map(|v| (v * 32768.0).round() as i16)
            .collect();
        let loud =
            |r: std::ops::Range<usize>| left[r].iter().map(|v| v.unsigned_abs()).max().unwrap();
        assert_eq!(loud(0..4_800), TONE_AMPLITUDE as u16);
        assert_eq!(loud(4_800..48_000), 0);
        assert_eq!(loud(48_000..52_800), TONE_AMPLITUDE as u16);
        assert_eq!(loud(52_800..96_000), 0);
        // -12 dBFS RMS of a sine is peak/sqrt(2).
        let rms = (left[..4_800]
            .iter()
            .map(|&v| f64::from(v).powi(2))
            .sum::<f64>()
            / 4_800.0)
            .sqrt();
        assert!(
            (rms - f64::from(TONE_AMPLITUDE) / 2f64.sqrt()).abs() < 2.0,
            "{rms}"
        );
    }

    #[test]
    fn chunking_does_not_change_the_signal() {
        let mut a = vec![0f32; 2 * 2_000];
        Tone::new().fill(47_000, &mut a);
        let mut b = vec![0f32; 2 * 2_000];
        let mut t = Tone::new();
        t.fill(47_000, &mut b[..2 * 480]);
        t.fill(47_480, &mut b[2 * 480..]);
        assert_eq!(a, b);
    }
}
