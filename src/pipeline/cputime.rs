//! CPU time consumed (as opposed to wall time), for benchmark figures that other work on a
//! shared machine disturbs less: time a thread or the process actually ran on a core.

use std::time::Duration;

fn timespec_to_duration(ts: &libc::timespec) -> Option<Duration> {
    Some(Duration::new(
        u64::try_from(ts.tv_sec).ok()?,
        u32::try_from(ts.tv_nsec).ok()?,
    ))
}

/// CPU time the calling thread has used so far (`CLOCK_THREAD_CPUTIME_ID`).
#[allow(unsafe_code)] // one libc call, see SAFETY
pub fn thread() -> Option<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid, exclusive pointer that
    // outlives the call; CLOCK_THREAD_CPUTIME_ID is always supported on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &raw mut ts) };
    if rc != 0 {
        return None;
    }
    timespec_to_duration(&ts)
}

/// CPU time the whole process has used so far, every thread (ended ones too).
#[allow(unsafe_code)] // one libc call, see SAFETY
pub fn process() -> Option<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: as above, with CLOCK_PROCESS_CPUTIME_ID.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &raw mut ts) };
    if rc != 0 {
        return None;
    }
    timespec_to_duration(&ts)
}

#[cfg(test)]
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
