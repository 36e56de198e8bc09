//! Per-output interleaving and time zero (libobs does the same per output).
//!
//! Packets reach an output from two encoder threads in whatever order the threads run.
//! [`Timeline`] holds the output's zero (the fan-out's start packet: a video keyframe when there
//! is video) and drops what lies before it, but for one audio packet of decoder pre-roll;
//! [`Interleaver`] releases packets in decode-time order once every track has moved past them.
//!
//! Audio is continuous (its time is the sample count: a packet never starts before the end of
//! the one before it), so once an audio packet has been released the audio is known to reach
//! its end: a video packet before that end goes out at once instead of waiting for the next
//! audio packet (up to one AAC frame, 21 ms, of latency saved, with the order unchanged).

use std::collections::VecDeque;

use crate::media::{EncodedPacket, MediaTime, StreamKind};

/// How long one track may run ahead while another has nothing buffered before packets are
/// released anyway (a stalled source must not stall the output).
pub const MAX_INTERLEAVE_WAIT: MediaTime = MediaTime::from_millis(1_000);

/// Sets the output's time zero and rebases packets onto it.
#[derive(Debug, Default)]
pub struct Timeline {
    zero: Option<MediaTime>,
}

impl Timeline {
    /// A timeline whose zero is known before its first packet (the fan-out says it).
    pub fn starting_at(zero: MediaTime) -> Self {
        Self { zero: Some(zero) }
    }

    /// The packet rebased to the output's zero (the first packet's time if none was given), or
    /// `None` if the output does not keep it (see [`keeps`](Self::keeps)).
    pub fn rebase(&mut self, mut pkt: EncodedPacket) -> Option<EncodedPacket> {
        let zero = *self.zero.get_or_insert(pkt.dts);
        if !Self::keeps(&pkt, zero) {
            return None;
        }
        pkt.pts = pkt.pts - zero;
        pkt.dts = pkt.dts - zero;
        Some(pkt)
    }

    /// What an output starting at `zero` keeps: video from the zero on; audio from the packet
    /// before the one that holds the zero. An AAC frame decodes right only after the frame
    /// before it (the transform overlaps), so that one packet is the decoder's pre-roll: it
    /// lies (partly) before the zero, and formats that can hide it do (an MP4 edit list),
    /// the others leave it out (FLV).
    pub fn keeps(pkt: &EncodedPacket, zero: MediaTime) -> bool {
        match pkt.kind {
            StreamKind::Video => pkt.dts >= zero,
            StreamKind::Audio => pkt.dts + pkt.duration + pkt.duration > zero,
        }
    }

    pub fn zero(&self) -> Option<MediaTime> {
        self.zero
    }
}

#[derive(Debug)]
pub struct Interleaver {
    video: Option<VecDeque<EncodedPacket>>,
    audio: Option<VecDeque<EncodedPacket>>,
    /// Where the audio released so far ends: the next audio packet starts there or later.
    audio_end: Option<MediaTime>,
}

/// Slack for the audio end's rounding to nanoseconds (1024 samples are not a whole number of
/// them), far below any container's timebase.
const ROUNDING: MediaTime = MediaTime::from_micros(1);

impl Interleaver {
    /// An interleaver for the tracks the output carries.
    pub fn new(has_video: bool, has_audio: bool) -> Self {
        Self {
            video: has_video.then(VecDeque::new),
            audio: has_audio.then(VecDeque::new),
            audio_end: None,
        }
    }

    pub fn push(&mut self, pkt: EncodedPacket) {
        let queue = match pkt.kind {
            StreamKind::Video => &mut self.video,
            StreamKind::Audio => &mut self.audio,
        };
        if let Some(q) = queue {
            q.push_back(pkt);
        }
    }

    /// The next packet in decode order, if every track has moved past it (or one track has
    /// waited longer than [`MAX_INTERLEAVE_WAIT`] for the other).
    pub fn pop(&mut self) -> Option<EncodedPacket> {
        let audio_end = self.audio_end;
        let popped = match (&mut self.video, &mut self.audio) {
            (Some(v), Some(a)) => match (v.front(), a.front()) {
                (Some(pv), Some(pa)) => {
                    if pv.dts <= pa.dts {
                        v.pop_front()
                    } else {
                        a.pop_front()
                    }
                }
                (Some(pv), None) if audio_end.is_some_and(|end| pv.dts + ROUNDING <= end) => {
                    v.pop_front()
                }
                (Some(_), None) => pop_if_overdue(v),
                (None, Some(_)) => pop_if_overdue(a),
                (None, None) => None,
            },
            (Some(q), None) | (None, Some(q)) => q.pop_front(),
            (None, None) => None,
        };
        if let Some(p) = &popped
            && p.kind == StreamKind::Audio
        {
            self.audio_end = Some(p.dts + p.duration);
        }
        popped
    }

    /// Everything left, in decode order (end of stream).
    pub fn drain(&mut self) -> Vec<EncodedPacket> {
        let mut all: Vec<EncodedPacket> = self
            .video
            .iter_mut()
            .chain(self.audio.iter_mut())
            .flat_map(|q| q.drain(..))
            .collect();
        all.sort_by_key(|p| p.dts);
        all
    }
}

fn pop_if_overdue(q: &mut VecDeque<EncodedPacket>) -> Option<EncodedPacket> {
    let first = q.front()?.dts;
    let last = q.back()?.dts;
    if last - first > MAX_INTERLEAVE_WAIT {
        q.pop_front()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn pkt(kind: StreamKind, ms: i64, key: bool) -> EncodedPacket {
        EncodedPacket {
            kind,
            pts: MediaTime::from_millis(ms),
            dts: MediaTime::from_millis(ms),
            duration: MediaTime::from_millis(20),
            keyframe: key,
            data: Bytes::new(),
        }
    }

    fn order(out: &[EncodedPacket]) -> Vec<(char, i64)> {
        out.iter()
            .map(|p| {
                (
                    if p.kind == StreamKind::Video {
                        'v'
                    } else {
                        'a'
                    },
                    p.dts.as_millis_floor(),
                )
            })
            .collect()
    }

    #[test]
    fn releases_in_dts_order_once_both_tracks_have_data() {
        let mut il = Interleaver::new(true, true);
        let mut out = Vec::new();
        for p in [
            pkt(StreamKind::Video, 0, true),
            pkt(StreamKind::Video, 33, false),
            pkt(StreamKind::Video, 66, false),
            pkt(StreamKind::Audio, 0, true),
            pkt(StreamKind::Audio, 21, true),
            pkt(StreamKind::Audio, 42, true),
            pkt(StreamKind::Audio, 64, true),
            pkt(StreamKind::Audio, 85, true),
        ] {
            il.push(p);
            while let Some(p) = il.pop() {
                out.push(p);
            }
        }
        // Nothing is released ahead of the other track: 85 ms audio waits for video > 85.
        assert_eq!(
            order(&out),
            vec![
                ('v', 0),
                ('a', 0),
                ('a', 21),
                ('v', 33),
                ('a', 42),
                ('a', 64),
                ('v', 66)
            ]
        );
        assert_eq!(order(&il.drain()), vec![('a', 85)]);
    }

    #[test]
    fn video_inside_the_released_audio_goes_out_without_waiting_for_more_audio() {
        let mut il = Interleaver::new(true, true);
        let drain =
            |il: &mut Interleaver| order(&std::iter::from_fn(|| il.pop()).collect::<Vec<_>>());
        il.push(pkt(StreamKind::Video, 0, true));
        il.push(pkt(StreamKind::Audio, 0, true)); // audio reaches 20 ms
        il.push(pkt(StreamKind::Video, 19, false));
        // 19 ms lies inside the audio released: no audio packet can come before it.
        assert_eq!(drain(&mut il), [('v', 0), ('a', 0), ('v', 19)]);
        // 20 ms is where the next audio packet may start: it waits for that packet.
        il.push(pkt(StreamKind::Video, 20, false));
        assert_eq!(drain(&mut il), []);
        il.push(pkt(StreamKind::Audio, 20, true));
        assert_eq!(drain(&mut il), [('v', 20)]);
        // That audio packet waits for the video to pass it, as before.
        il.push(pkt(StreamKind::Video, 33, false));
        assert_eq!(drain(&mut il), [('a', 20), ('v', 33)]);
    }

    #[test]
    fn a_stalled_track_does_not_hold_the_other_forever() {
        let mut il = Interleaver::new(true, true);
        for ms in (0..=1_100).step_by(100) {
            il.push(pkt(StreamKind::Video, ms, ms == 0));
        }
        let first = il.pop().expect("video released after the wait");
        assert_eq!(first.dts, MediaTime::ZERO);
    }

    #[test]
    fn timeline_starts_at_the_first_packet_and_drops_earlier_ones() {
        let mut tl = Timeline::default();
        let v = tl.rebase(pkt(StreamKind::Video, 5_000, true)).unwrap();
        assert_eq!(v.pts, MediaTime::ZERO);
        assert!(tl.rebase(pkt(StreamKind::Video, 4_990, false)).is_none());
        assert!(tl.rebase(pkt(StreamKind::Audio, 4_960, true)).is_none());
        let a = tl.rebase(pkt(StreamKind::Audio, 5_010, true)).unwrap();
        assert_eq!(a.pts, MediaTime::from_millis(10));
    }

    #[test]
    fn audio_keeps_one_packet_of_pre_roll_before_the_zero() {
        // 20 ms packets; the zero at 1000 ms falls inside the packet from 990 ms.
        let mut tl = Timeline::starting_at(MediaTime::from_millis(1_000));
        let kept: Vec<i64> = (930..1_050)
            .step_by(20)
            .filter_map(|ms| tl.rebase(pkt(StreamKind::Audio, ms, true)))
            .map(|p| p.dts.as_millis_floor())
            .collect();
        // 970 ms is the pre-roll of 990 ms, which holds the zero; 950 ms is not needed.
        assert_eq!(kept, [-30, -10, 10, 30]);
        // A packet that starts at the zero has the one ending there as its pre-roll.
        let zero = MediaTime::from_millis(1_000);
        assert!(Timeline::keeps(&pkt(StreamKind::Audio, 980, true), zero));
        assert!(!Timeline::keeps(&pkt(StreamKind::Audio, 959, true), zero));
        assert!(!Timeline::keeps(&pkt(StreamKind::Video, 999, true), zero));
    }
}
