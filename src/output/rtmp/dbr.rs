//! Dynamic bitrate, after OBS (rtmp-stream.c `dbr_*`), pure: it watches the send queue and the
//! measured throughput, and asks the encoder for less when the link cannot carry the stream.
//!
//! - At [`TRIGGER`] of buffered media (200 ms), at most once per [`LOWER_EVERY`], ask for the
//!   measured throughput minus the audio, rounded down to 100 kbit/s (never below
//!   [`FLOOR_BPS`]).
//! - With the queue near empty, every [`RAISE_EVERY`] (4 s) step back up by 10 % of the
//!   original bitrate, until it is restored and the request withdrawn.

use std::time::{Duration, Instant};

use crate::media::MediaTime;

pub const TRIGGER: MediaTime = MediaTime::from_millis(200);
/// Below this much buffered media the link is keeping up.
pub const CLEAR: MediaTime = MediaTime::from_millis(50);
pub const LOWER_EVERY: Duration = Duration::from_secs(1);
pub const RAISE_EVERY: Duration = Duration::from_secs(4);
pub const FLOOR_BPS: u64 = 100_000;

#[derive(Debug)]
pub struct DynamicBitrate {
    nominal_bps: u64,
    audio_bps: u64,
    /// The video bitrate this destination asks for; `None` when it asks nothing.
    request: Option<u64>,
    last_change: Option<Instant>,
}

impl DynamicBitrate {
    pub fn new(nominal_video_bps: u64, audio_bps: u64) -> Self {
        Self {
            nominal_bps: nominal_video_bps,
            audio_bps,
            request: None,
            last_change: None,
        }
    }

    pub fn request(&self) -> Option<u64> {
        self.request
    }

    /// Updates the request from the queue and the throughput (bits per second actually sent);
    /// returns the new request (0 = withdrawn) when it changed.
    pub fn update(
        &mut self,
        now: Instant,
        buffered: MediaTime,
        throughput_bps: u64,
    ) -> Option<u64> {
        let since = self
            .last_change
            .map_or(Duration::MAX, |t| now.saturating_duration_since(t));
        let current = self.request.unwrap_or(self.nominal_bps);
        if buffered >= TRIGGER && since >= LOWER_EVERY {
            let fits = throughput_bps.saturating_sub(self.audio_bps) / 100_000 * 100_000;
            let lower = fits.max(FLOOR_BPS);
            if lower < current {
                self.request = Some(lower);
                self.last_change = Some(now);
                return Some(lower);
            }
        } else if buffered < CLEAR && self.request.is_some() && since >= RAISE_EVERY {
            let up = current + self.nominal_bps / 10;
            self.last_change = Some(now);
            if up >= self.nominal_bps {
                self.request = None;
                return Some(0);
            }
            self.request = Some(up);
            return Some(up);
        }
        None
    }
}

/// Bits per second over a sliding window of (time, total bytes sent) samples.
#[derive(Debug, Default)]
pub struct Throughput {
    samples: std::collections::VecDeque<(Instant, u64)>,
}

/// The throughput window (OBS averages over about a second).
const WINDOW: Duration = Duration::from_secs(2);

impl Throughput {
    pub fn record(&mut self, now: Instant, total_bytes: u64) {
        self.samples.push_back((now, total_bytes));
        while self
            .samples
            .front()
            .is_some_and(|(t, _)| now.saturating_duration_since(*t) > WINDOW)
        {
            self.samples.pop_front();
        }
    }

    pub fn bps(&self) -> u64 {
        match (self.samples.front(), self.samples.back()) {
            (Some((t0, b0)), Some((t1, b1))) if t1 > t0 => {
                let micros = t1.duration_since(*t0).as_micros().max(1) as u64;
                (b1 - b0) * 8 * 1_000_000 / micros
            }
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowers_to_the_throughput_then_steps_back_up_by_tenths() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut d = DynamicBitrate::new(3_000_000, 160_000);
        assert_eq!(
            d.update(at(0), MediaTime::from_millis(100), 1_000_000),
            None,
            "below the trigger"
        );
        // 1.26 Mbit/s measured, minus 160 k audio = 1.1 M.
        assert_eq!(
            d.update(at(100), MediaTime::from_millis(250), 1_260_000),
            Some(1_100_000)
        );
        assert_eq!(
            d.update(at(600), MediaTime::from_millis(400), 900_000),
            None,
            "once per second"
        );
        assert_eq!(
            d.update(at(1_200), MediaTime::from_millis(400), 900_000),
            Some(700_000)
        );
        assert_eq!(
            d.update(at(1_300), MediaTime::from_millis(400), 50_000),
            None
        );
        assert_eq!(
            d.update(at(2_300), MediaTime::from_millis(400), 50_000),
            Some(FLOOR_BPS)
        );
        // The link recovers: +300 k every 4 s, then withdrawn at the nominal rate.
        assert_eq!(
            d.update(at(3_000), MediaTime::from_millis(10), 5_000_000),
            None,
            "4 s since the last change"
        );
        let mut t = 2_300;
        let mut steps = Vec::new();
        while let Some(step) = {
            t += 4_000;
            d.update(at(t), MediaTime::from_millis(10), 5_000_000)
        } {
            steps.push(step);
            if step == 0 {
                break;
            }
        }
        assert_eq!(
            steps,
            [
                400_000, 700_000, 1_000_000, 1_300_000, 1_600_000, 1_900_000, 2_200_000, 2_500_000,
                2_800_000, 0
            ]
        );
        assert_eq!(d.request(), None);
    }

    #[test]
    fn throughput_is_measured_over_the_window() {
        let t0 = Instant::now();
        let mut tp = Throughput::default();
        for i in 0..=10u64 {
            tp.record(t0 + Duration::from_millis(i * 250), i * 25_000);
        }
        // 25 kB per 250 ms = 800 kbit/s.
        assert_eq!(tp.bps(), 800_000);
    }
}
