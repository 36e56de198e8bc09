//! The video's frame grid and keyframe times, on the engine clock.
//!
//! Frame `n` of the preset's rate belongs at `n / fps`. [`Cadence`] places each picture the
//! H.264 encoder gets on that grid, names the slots that dropped frames left empty before it
//! (the encoder fills them with repeats of the picture before, so every output gets a picture
//! per slot), and says which pictures are keyframes: the first one at or after each multiple
//! of the keyframe interval, in media time, whatever was dropped. A streamer's 2 s keyframes
//! stay 2 s of stream time apart, which services check and HLS segments follow; counting
//! frames instead, every dropped frame would push every later keyframe (and segment) back.

use crate::media::{MediaTime, Timebase};

/// What goes in a slot that a dropped frame left empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmptySlot {
    /// A repeat of the picture before (see `format::avc_repeat`).
    Repeat(MediaTime),
    /// A keyframe time: the picture before, encoded again as a keyframe.
    Keyframe(MediaTime),
}

/// Frame grid and keyframe times (see the module documentation).
#[derive(Debug, Clone)]
pub struct Cadence {
    frame: Timebase,
    /// Slots between keyframes.
    interval: i64,
    /// The slot after the last picture placed; `None` before the first.
    next_slot: Option<i64>,
    /// The first slot from which the next keyframe is due.
    next_key: i64,
}

impl Cadence {
    /// A grid of `frame` slots with a keyframe every `keyframe_interval_frames` of them (at
    /// least one), the first at slot 0.
    pub fn new(frame: Timebase, keyframe_interval_frames: u32) -> Self {
        Self {
            frame,
            interval: i64::from(keyframe_interval_frames.max(1)),
            next_slot: None,
            next_key: 0,
        }
    }

    /// The slots left empty before a picture at `pts`, in order (none before the first
    /// picture). Call before [`picture`](Self::picture).
    pub fn empty_slots_before(&mut self, pts: MediaTime) -> Vec<EmptySlot> {
        let slot = self.frame.time_to_ticks(pts);
        let Some(from) = self.next_slot else {
            return Vec::new();
        };
        (from..slot)
            .map(|s| {
                let at = self.frame.ticks_to_time(s);
                self.next_slot = Some(s + 1);
                if self.key_due(s) {
                    EmptySlot::Keyframe(at)
                } else {
                    EmptySlot::Repeat(at)
                }
            })
            .collect()
    }

    /// Places a picture at `pts`; true if it must be a keyframe.
    pub fn picture(&mut self, pts: MediaTime) -> bool {
        let slot = self.frame.time_to_ticks(pts);
        self.next_slot = Some(self.next_slot.map_or(slot + 1, |n| n.max(slot + 1)));
        self.key_due(slot)
    }

    /// True if slot `s` is the first at or after a keyframe time not yet served; the next
    /// keyframe is then due at the following multiple of the interval.
    fn key_due(&mut self, s: i64) -> bool {
        if s < self.next_key {
            return false;
        }
        self.next_key = (s.div_euclid(self.interval) + 1) * self.interval;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(slot: i64) -> MediaTime {
        Timebase::per_second(30).ticks_to_time(slot)
    }

    #[test]
    fn keyframes_every_interval_of_media_time_without_drops() {
        let mut c = Cadence::new(Timebase::per_second(30), 60);
        let keys: Vec<i64> = (0..250)
            .filter(|&n| {
                assert!(c.empty_slots_before(t(n)).is_empty());
                c.picture(t(n))
            })
            .collect();
        assert_eq!(keys, [0, 60, 120, 180, 240]);
    }

    #[test]
    fn dropped_frames_leave_empty_slots_and_keyframes_stay_on_time() {
        let mut c = Cadence::new(Timebase::per_second(30), 60);
        for n in 0..50 {
            c.empty_slots_before(t(n));
            c.picture(t(n));
        }
        // Frames 50..=64 dropped: 15 empty slots, slot 60 a keyframe time.
        let empty = c.empty_slots_before(t(65));
        assert_eq!(empty.len(), 15);
        assert_eq!(empty[0], EmptySlot::Repeat(t(50)));
        assert_eq!(empty[10], EmptySlot::Keyframe(t(60)));
        assert!(
            empty
                .iter()
                .filter(|e| matches!(e, EmptySlot::Keyframe(_)))
                .count()
                == 1
        );
        assert!(!c.picture(t(65)), "the keyframe was in the gap");
        // The next keyframe is 2 s of media time after the last, not 60 pictures later.
        let next: Vec<i64> = (66..200)
            .filter(|&n| {
                c.empty_slots_before(t(n));
                c.picture(t(n))
            })
            .collect();
        assert_eq!(next, [120, 180]);
    }

    #[test]
    fn a_keyframe_time_between_pictures_keys_the_next_picture_if_not_filled() {
        let mut c = Cadence::new(Timebase::per_second(30), 60);
        for n in 0..55 {
            c.picture(t(n));
        }
        // A picture far later, without its empty slots asked for: it is the keyframe.
        assert!(c.picture(t(70)));
        assert!(!c.picture(t(71)));
        assert!(c.picture(t(120)));
    }
}
