//! This process's CPU use and resident memory, for the stats panel (Linux: `/proc/self`;
//! elsewhere absent).

use std::time::Instant;

/// CPU time and wall time at the previous reading.
#[derive(Debug)]
pub struct CpuMeter {
    last: Option<(Instant, u64)>,
    ticks_per_second: u64,
}

impl Default for CpuMeter {
    fn default() -> Self {
        Self {
            last: None,
            ticks_per_second: 100, // USER_HZ on every Linux architecture onair builds for
        }
    }
}

impl CpuMeter {
    /// Percent of one core used by this process since the previous call (`None` at the first
    /// call, or where `/proc` is absent).
    pub fn sample(&mut self) -> Option<f64> {
        let ticks = cpu_ticks()?;
        let now = Instant::now();
        let previous = self.last.replace((now, ticks));
        let (then, before) = previous?;
        let wall = now.duration_since(then).as_secs_f64();
        (wall > 0.0).then(|| {
            (ticks.saturating_sub(before)) as f64 / self.ticks_per_second as f64 / wall * 100.0
        })
    }
}

/// utime + stime of this process, in clock ticks.
#[cfg(target_os = "linux")]
fn cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime and stime are fields 14 and 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Not measured outside Linux (no `/proc/self`).
#[cfg(not(target_os = "linux"))]
fn cpu_ticks() -> Option<u64> {
    None
}

/// Resident memory of this process, in bytes (`None` outside Linux).
#[cfg(not(target_os = "linux"))]
pub fn resident_bytes() -> Option<u64> {
    None
}

/// Resident memory of this process, in bytes.
#[cfg(target_os = "linux")]
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        assert!(resident_bytes().unwrap() > 1_000_000);
        let mut m = CpuMeter::default();
        assert!(m.sample().is_none());
        let start = Instant::now();
        let mut x = 0u64;
        while start.elapsed().as_millis() < 50 {
            x = x.wrapping_add(1);
        }
        assert!(x > 0);
        let pct = m.sample().unwrap();
        assert!((0.0..=400.0).contains(&pct), "{pct}");
    }
}
