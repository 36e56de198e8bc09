//! CPU time consumed (as opposed to wall time), for benchmark figures that other work on a
//! shared machine disturbs less: time a thread or the process actually ran on a core.
//!
//! Unix (Linux, macOS): `clock_gettime` with the thread's and the process's CPU clocks.
//! Elsewhere (Windows): not measured, `None`; `onair bench` then reports 0 for these figures.

use std::time::Duration;

/// CPU time the calling thread has used so far (`CLOCK_THREAD_CPUTIME_ID`).
pub fn thread() -> Option<Duration> {
    #[cfg(unix)]
    {
        unix::cpu_clock(libc::CLOCK_THREAD_CPUTIME_ID)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// CPU time the whole process has used so far, every thread (ended ones too).
pub fn process() -> Option<Duration> {
    #[cfg(unix)]
    {
        unix::cpu_clock(libc::CLOCK_PROCESS_CPUTIME_ID)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

#[cfg(unix)]
mod unix {
    use std::time::Duration;

    /// The time of one of the CPU clocks, `None` if the call fails.
    #[allow(unsafe_code)] // one libc call, see SAFETY
    pub(super) fn cpu_clock(clock: libc::clockid_t) -> Option<Duration> {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes one timespec through a valid, exclusive pointer that
        // outlives the call; an unsupported clock makes it return -1, which is checked.
        let rc = unsafe { libc::clock_gettime(clock, &raw mut ts) };
        if rc != 0 {
            return None;
        }
        Some(Duration::new(
            u64::try_from(ts.tv_sec).ok()?,
            u32::try_from(ts.tv_nsec).ok()?,
        ))
    }
}

#[cfg(all(test, unix))]
mod tests {
    #[test]
    fn cpu_clocks_advance_with_work() {
        let (t0, p0) = (super::thread().unwrap(), super::process().unwrap());
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(super::thread().unwrap() > t0);
        assert!(super::process().unwrap() > p0);
    }
}
