//! Typed time on the engine's one clock.
//!
//! Every capture time is a [`MediaTime`]: nanoseconds since the engine started. Formats count in
//! their own [`Timebase`] (90 kHz for MP4 video, 48 kHz for audio, milliseconds for FLV/RTMP);
//! every conversion between the two goes through this module, in integer arithmetic with the
//! rounding named in the function.

use std::fmt;
use std::num::NonZeroU32;
use std::time::{Duration, Instant, SystemTime};

const NANOS_PER_SEC: i64 = 1_000_000_000;

/// A point (or span) on the engine clock, in nanoseconds since the engine started.
///
/// Signed, because decode times and offsets before an output's zero are negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MediaTime(i64);

impl MediaTime {
    pub const ZERO: MediaTime = MediaTime(0);
    pub const MAX: MediaTime = MediaTime(i64::MAX);

    pub const fn from_nanos(nanos: i64) -> Self {
        Self(nanos)
    }
    pub const fn from_micros(micros: i64) -> Self {
        Self(micros * 1_000)
    }
    pub const fn from_millis(millis: i64) -> Self {
        Self(millis * 1_000_000)
    }
    pub const fn from_secs(secs: i64) -> Self {
        Self(secs * NANOS_PER_SEC)
    }
    pub const fn as_nanos(self) -> i64 {
        self.0
    }
    /// Whole milliseconds, rounded toward negative infinity.
    pub const fn as_millis_floor(self) -> i64 {
        self.0.div_euclid(1_000_000)
    }
    /// Whole seconds, rounded toward negative infinity.
    pub const fn as_secs_floor(self) -> i64 {
        self.0.div_euclid(NANOS_PER_SEC)
    }

    /// The time of sample `index` of a stream counted in `tb` units that started at `self`.
    pub fn add_ticks(self, ticks: i64, tb: Timebase) -> Self {
        self + tb.ticks_to_time(ticks)
    }

    /// Converts to a count of `tb` units, rounded to the nearest unit (ties away from zero).
    pub fn to_ticks(self, tb: Timebase) -> i64 {
        tb.time_to_ticks(self)
    }

    pub fn saturating_sub(self, rhs: MediaTime) -> MediaTime {
        MediaTime(self.0.saturating_sub(rhs.0))
    }

    /// The span as a [`Duration`], zero when negative.
    pub fn to_duration(self) -> Duration {
        Duration::from_nanos(u64::try_from(self.0).unwrap_or(0))
    }

    pub fn from_duration(d: Duration) -> Self {
        Self(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    }
}

impl std::ops::Add for MediaTime {
    type Output = MediaTime;
    fn add(self, rhs: MediaTime) -> MediaTime {
        MediaTime(self.0 + rhs.0)
    }
}
impl std::ops::Sub for MediaTime {
    type Output = MediaTime;
    fn sub(self, rhs: MediaTime) -> MediaTime {
        MediaTime(self.0 - rhs.0)
    }
}
impl std::ops::AddAssign for MediaTime {
    fn add_assign(&mut self, rhs: MediaTime) {
        self.0 += rhs.0;
    }
}
/// A span `n` times as long.
impl std::ops::Mul<i64> for MediaTime {
    type Output = MediaTime;
    fn mul(self, n: i64) -> MediaTime {
        MediaTime(self.0 * n)
    }
}
/// A span `n` times shorter, rounded toward zero (to the nanosecond).
impl std::ops::Div<i64> for MediaTime {
    type Output = MediaTime;
    fn div(self, n: i64) -> MediaTime {
        MediaTime(self.0 / n)
    }
}

impl fmt::Display for MediaTime {
    /// `s.mmm` with the sign, for logs: `12.345s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let secs = abs / 1_000_000_000;
        let millis = (abs % 1_000_000_000) / 1_000_000;
        write!(f, "{sign}{secs}.{millis:03}s")
    }
}

/// A unit of time as a fraction of a second: `num/den` seconds per tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timebase {
    num: NonZeroU32,
    den: NonZeroU32,
}

impl Timebase {
    /// 1/90000 s: MPEG video and the MP4 video track.
    pub const MPEG: Timebase = Timebase::per_second(90_000);
    /// 1/1000 s: FLV tags and RTMP messages.
    pub const MILLIS: Timebase = Timebase::per_second(1_000);
    /// 1/48000 s: the engine's audio sample rate.
    pub const AUDIO_48K: Timebase = Timebase::per_second(48_000);

    /// `1/hz` seconds per tick. Panics at compile time (in const use) or run time if `hz` is 0.
    pub const fn per_second(hz: u32) -> Self {
        match NonZeroU32::new(hz) {
            Some(den) => Self {
                num: NonZeroU32::MIN,
                den,
            },
            None => panic!("a timebase needs a non-zero rate"),
        }
    }

    /// `num/den` seconds per tick, or `None` if either is zero.
    pub fn new(num: u32, den: u32) -> Option<Self> {
        Some(Self {
            num: NonZeroU32::new(num)?,
            den: NonZeroU32::new(den)?,
        })
    }

    pub fn num(self) -> u32 {
        self.num.get()
    }
    pub fn den(self) -> u32 {
        self.den.get()
    }

    /// Ticks to engine time, rounded to the nearest nanosecond.
    pub fn ticks_to_time(self, ticks: i64) -> MediaTime {
        let n = i128::from(ticks) * i128::from(self.num.get()) * i128::from(NANOS_PER_SEC);
        MediaTime(clamp_i64(div_round(n, i128::from(self.den.get()))))
    }

    /// Ticks to engine time, rounded toward negative infinity.
    pub fn ticks_to_time_floor(self, ticks: i64) -> MediaTime {
        let n = i128::from(ticks) * i128::from(self.num.get()) * i128::from(NANOS_PER_SEC);
        MediaTime(clamp_i64(n.div_euclid(i128::from(self.den.get()))))
    }

    /// Engine time to ticks, rounded to the nearest tick.
    pub fn time_to_ticks(self, t: MediaTime) -> i64 {
        let n = i128::from(t.0) * i128::from(self.den.get());
        let d = i128::from(self.num.get()) * i128::from(NANOS_PER_SEC);
        clamp_i64(div_round(n, d))
    }

    /// Engine time to ticks, rounded toward negative infinity.
    pub fn time_to_ticks_floor(self, t: MediaTime) -> i64 {
        let n = i128::from(t.0) * i128::from(self.den.get());
        let d = i128::from(self.num.get()) * i128::from(NANOS_PER_SEC);
        clamp_i64(n.div_euclid(d))
    }

    /// Engine time to ticks, rounded toward positive infinity.
    pub fn time_to_ticks_ceil(self, t: MediaTime) -> i64 {
        let n = i128::from(t.0) * i128::from(self.den.get());
        let d = i128::from(self.num.get()) * i128::from(NANOS_PER_SEC);
        clamp_i64(-(-n).div_euclid(d))
    }
}

/// Rounds `n/d` to the nearest integer, ties away from zero. `d > 0`.
fn div_round(n: i128, d: i128) -> i128 {
    if n >= 0 {
        (n + d / 2) / d
    } else {
        -((-n + d / 2) / d)
    }
}

fn clamp_i64(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}

/// The engine's one clock: an [`Instant`] taken when the engine starts.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: Instant,
    /// The wall-clock time when the engine started (for EXT-X-PROGRAM-DATE-TIME and the like;
    /// never used to pace anything).
    wall_origin: SystemTime,
}

impl Clock {
    pub fn start() -> Self {
        Self {
            origin: Instant::now(),
            wall_origin: SystemTime::now(),
        }
    }
    /// Engine time now.
    pub fn now(&self) -> MediaTime {
        MediaTime::from_duration(self.origin.elapsed())
    }
    /// The [`Instant`] at which the clock reads `t`.
    pub fn instant_at(&self, t: MediaTime) -> Instant {
        self.origin + t.to_duration()
    }
    /// What the clock reads (or read) at `at`: negative before the engine started.
    pub fn time_of(&self, at: Instant) -> MediaTime {
        match at.checked_duration_since(self.origin) {
            Some(after) => MediaTime::from_duration(after),
            None => MediaTime::ZERO - MediaTime::from_duration(self.origin - at),
        }
    }
    /// The wall-clock time at which the clock reads `t`.
    pub fn wall_time_at(&self, t: MediaTime) -> SystemTime {
        if t >= MediaTime::ZERO {
            self.wall_origin + t.to_duration()
        } else {
            self.wall_origin - (MediaTime::ZERO - t).to_duration()
        }
    }
    /// Sleeps until the clock reads at least `t` (returns at once if it already does).
    pub fn sleep_until(&self, t: MediaTime) {
        let target = self.instant_at(t);
        let now = Instant::now();
        if target > now {
            std::thread::sleep(target - now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_round_trip_in_common_timebases() {
        // frame 299 at 30 fps, in 90 kHz
        let t = Timebase::new(1, 30).unwrap().ticks_to_time(299);
        assert_eq!(t.as_nanos(), 9_966_666_667);
        assert_eq!(t.to_ticks(Timebase::MPEG), 897_000);
        assert_eq!(t.to_ticks(Timebase::MILLIS), 9_967);
        assert_eq!(Timebase::MILLIS.time_to_ticks_floor(t), 9_966);
        // 1024 samples at 48 kHz = 21.333 ms
        let a = Timebase::AUDIO_48K.ticks_to_time(1024);
        assert_eq!(a.as_nanos(), 21_333_333);
        assert_eq!(a.to_ticks(Timebase::AUDIO_48K), 1024);
    }

    #[test]
    fn the_clock_maps_instants_both_ways() {
        let clock = Clock::start();
        let t = MediaTime::from_millis(250);
        assert_eq!(clock.time_of(clock.instant_at(t)), t);
        let before = clock.instant_at(MediaTime::ZERO) - Duration::from_millis(30);
        assert_eq!(clock.time_of(before), MediaTime::from_millis(-30));
    }

    #[test]
    fn negative_times_round_symmetrically() {
        let t = MediaTime::from_nanos(-1_500_000);
        assert_eq!(t.to_ticks(Timebase::MILLIS), -2);
        assert_eq!(Timebase::MILLIS.time_to_ticks_floor(t), -2);
        assert_eq!(
            MediaTime::from_nanos(-1_400_000).to_ticks(Timebase::MILLIS),
            -1
        );
        assert_eq!(t.as_millis_floor(), -2);
    }

    #[test]
    fn huge_values_do_not_overflow() {
        let t = MediaTime::from_secs(100 * 24 * 3600);
        assert_eq!(t.to_ticks(Timebase::MPEG), 100 * 24 * 3600 * 90_000);
        assert_eq!(Timebase::MPEG.ticks_to_time(i64::MAX).as_nanos(), i64::MAX);
    }

    #[test]
    fn display_is_seconds_and_millis() {
        assert_eq!(MediaTime::from_millis(12_345).to_string(), "12.345s");
        assert_eq!(MediaTime::from_millis(-5).to_string(), "-0.005s");
    }
}
