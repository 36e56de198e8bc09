//! The hand-over between a device's capture thread and the engine: the latest frame only.
//!
//! Three buffers rotate (the producer's working frame, the slot's, the consumer's front), so
//! neither side allocates per frame and the consumer never waits for the device: the lock is
//! held for a swap. Policy when the consumer is slower: the newest frame replaces the unread
//! one (counted `replaced`); when the device is slower: the consumer keeps its front frame and
//! shows it again (counted `repeated` by the caller).

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use super::SourceCounters;
use crate::media::time::Clock;
use crate::media::{MediaTime, VideoFrame};

pub struct LatestFrame {
    slot: Mutex<Slot>,
    lost: AtomicBool,
    counters: Arc<SourceCounters>,
    /// The engine's clock, once it runs: a producer that can choose when to capture (the
    /// screen) times its pictures to the program's frame times on it.
    clock: OnceLock<Clock>,
}

struct Slot {
    frame: VideoFrame,
    /// The slot's frame has not been taken yet.
    fresh: bool,
}

impl LatestFrame {
    pub fn new(counters: Arc<SourceCounters>) -> Self {
        Self {
            slot: Mutex::new(Slot {
                frame: VideoFrame::black(2, 2, MediaTime::ZERO),
                fresh: false,
            }),
            lost: AtomicBool::new(false),
            counters,
            clock: OnceLock::new(),
        }
    }

    /// The engine's clock (set once, by the consumer, when the engine starts).
    pub fn set_clock(&self, clock: Clock) {
        let _first = self.clock.set(clock);
    }

    pub fn clock(&self) -> Option<Clock> {
        self.clock.get().copied()
    }

    pub fn counters(&self) -> &Arc<SourceCounters> {
        &self.counters
    }

    /// Producer: hands `work` over as the latest frame and gets a buffer back to fill next.
    pub fn publish(&self, work: &mut VideoFrame) {
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::swap(&mut slot.frame, work);
        if slot.fresh {
            self.counters.replaced.fetch_add(1, Relaxed);
        }
        slot.fresh = true;
        drop(slot);
        self.counters.captured.fetch_add(1, Relaxed);
        self.set_lost(false);
    }

    /// Consumer: swaps the latest frame into `front` if there is one it has not seen;
    /// returns whether it did.
    pub fn take(&self, front: &mut VideoFrame) -> bool {
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        if !slot.fresh {
            return false;
        }
        std::mem::swap(&mut slot.frame, front);
        slot.fresh = false;
        true
    }

    /// Consumer: as [`LatestFrame::take`], but only a frame whose `pts` is at most `until`
    /// (a timed producer, such as a video file, hands frames over a little ahead of their
    /// time; a consumer running late must not show one before its time).
    pub fn take_until(&self, front: &mut VideoFrame, until: MediaTime) -> bool {
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        if !slot.fresh || slot.frame.pts > until {
            return false;
        }
        std::mem::swap(&mut slot.frame, front);
        slot.fresh = false;
        true
    }

    /// Marks the device lost (the program shows the slate) or back.
    pub fn set_lost(&self, lost: bool) {
        if self.lost.swap(lost, Relaxed) != lost && lost {
            self.counters.losses.fetch_add(1, Relaxed);
        }
        self.counters.set_live(!lost);
    }

    pub fn is_lost(&self) -> bool {
        self.lost.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(v: u8) -> VideoFrame {
        let mut f = VideoFrame::black(4, 2, MediaTime::ZERO);
        f.data.fill(v);
        f
    }

    #[test]
    fn consumer_gets_the_newest_and_buffers_rotate_without_allocating() {
        let slot = LatestFrame::new(Arc::new(SourceCounters::new("t", "test")));
        let mut front = frame(0);
        assert!(!slot.take(&mut front), "nothing published yet");
        let mut work = frame(1);
        slot.publish(&mut work);
        work.data.fill(2);
        slot.publish(&mut work); // replaces the unread 1
        assert!(slot.take(&mut front));
        assert_eq!(front.data[0], 2);
        assert!(!slot.take(&mut front), "no new frame: keep showing the old");
        assert_eq!(slot.counters().replaced.load(Relaxed), 1);
        assert_eq!(slot.counters().captured.load(Relaxed), 2);
        // Three buffers in rotation: the producer gets back one of the earlier ones.
        let ptrs: Vec<*const u8> = vec![front.data.as_ptr(), work.data.as_ptr()];
        slot.publish(&mut work);
        assert!(slot.take(&mut front));
        assert!(ptrs.contains(&work.data.as_ptr()) || ptrs.contains(&front.data.as_ptr()));
    }

    #[test]
    fn loss_is_counted_once_per_loss() {
        let slot = LatestFrame::new(Arc::new(SourceCounters::new("t", "test")));
        slot.set_lost(true);
        slot.set_lost(true);
        assert!(slot.is_lost());
        let mut work = frame(1);
        slot.publish(&mut work);
        assert!(!slot.is_lost());
        slot.set_lost(true);
        assert_eq!(slot.counters().losses.load(Relaxed), 2);
    }
}
