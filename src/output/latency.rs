//! A fixed-size, lock-free latency histogram: recording is one atomic add, nothing allocates
//! after construction, and memory never grows however long the engine runs.
//!
//! Buckets are log-linear over microseconds (as HdrHistogram with 4 significant bits): exact
//! below 16 µs, then 16 buckets per power of two, so a percentile is read with at most 6.25 %
//! error. It is reported as its bucket's upper bound (never optimistic).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::media::MediaTime;

const SUB_BITS: u32 = 4;
const SUB: u64 = 1 << SUB_BITS;
/// Powers of two covered above the exact range: up to 2^40 µs (about 12 days).
const MAX_EXP: u32 = 40;
const BUCKETS: usize = (SUB + (MAX_EXP - SUB_BITS + 1) as u64 * SUB) as usize;

pub struct LatencyHistogram {
    buckets: Box<[AtomicU64; BUCKETS]>,
    count: AtomicU64,
    max_micros: AtomicU64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self {
            buckets: Box::new([const { AtomicU64::new(0) }; BUCKETS]),
            count: AtomicU64::new(0),
            max_micros: AtomicU64::new(0),
        }
    }
}

impl std::fmt::Debug for LatencyHistogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LatencyHistogram({:?})", self.summary())
    }
}

fn bucket_of(micros: u64) -> usize {
    if micros < SUB {
        return micros as usize;
    }
    let exp = (63 - micros.leading_zeros()).min(MAX_EXP);
    if exp == MAX_EXP && micros >= (1u64 << (MAX_EXP + 1)) {
        return BUCKETS - 1;
    }
    let mantissa = (micros >> (exp - SUB_BITS)) - SUB;
    (SUB + u64::from(exp - SUB_BITS) * SUB + mantissa) as usize
}

/// The largest value that falls in bucket `i`.
fn bucket_upper(i: usize) -> u64 {
    let i = i as u64;
    if i < SUB {
        return i;
    }
    let exp = (i - SUB) / SUB + u64::from(SUB_BITS);
    let mantissa = (i - SUB) % SUB;
    ((SUB + mantissa + 1) << (exp - u64::from(SUB_BITS))) - 1
}

/// Percentiles of what was recorded, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct LatencySummary {
    pub samples: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

impl LatencyHistogram {
    /// Records one latency; a negative one (a clock read before the capture time) counts as 0.
    pub fn record(&self, latency: MediaTime) {
        let micros = u64::try_from(latency.as_nanos() / 1_000).unwrap_or(0);
        self.buckets[bucket_of(micros)].fetch_add(1, Relaxed);
        self.count.fetch_add(1, Relaxed);
        self.max_micros.fetch_max(micros, Relaxed);
    }

    /// The value at quantile `per_mille`/1000 (bucket upper bound, capped at the maximum seen).
    fn quantile(&self, counts: &[u64], total: u64, per_mille: u64) -> u64 {
        if total == 0 {
            return 0;
        }
        let rank = (total * per_mille).div_ceil(1000).max(1);
        let mut seen = 0;
        for (i, &c) in counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return bucket_upper(i).min(self.max_micros.load(Relaxed));
            }
        }
        self.max_micros.load(Relaxed)
    }

    pub fn summary(&self) -> LatencySummary {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Relaxed)).collect();
        let total = counts.iter().sum();
        LatencySummary {
            samples: total,
            p50_us: self.quantile(&counts, total, 500),
            p99_us: self.quantile(&counts, total, 990),
            max_us: self.max_micros.load(Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_within_one_sixteenth() {
        let mut prev_upper = None;
        for i in 0..BUCKETS - 1 {
            let upper = bucket_upper(i);
            assert_eq!(bucket_of(upper), i, "upper of {i}");
            assert_eq!(bucket_of(upper + 1), i + 1, "after {i}");
            if let Some(p) = prev_upper {
                assert!(upper > p);
                let width = upper - p;
                assert!(
                    width * 16 <= upper + 16,
                    "bucket {i} too wide: {width} at {upper}"
                );
            }
            prev_upper = Some(upper);
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn percentiles_of_a_known_distribution() {
        let h = LatencyHistogram::default();
        assert_eq!(h.summary(), LatencySummary::default());
        for ms in 1..=100 {
            h.record(MediaTime::from_millis(ms));
        }
        h.record(MediaTime::from_millis(-3));
        let s = h.summary();
        assert_eq!(s.samples, 101);
        assert_eq!(s.max_us, 100_000);
        // 50th of 101 is 50 ms, 99th is 99 ms: within the 6.25 % bucket width, never below.
        assert!((50_000..=53_200).contains(&s.p50_us), "{s:?}");
        assert!((99_000..=100_000).contains(&s.p99_us), "{s:?}");
    }
}
