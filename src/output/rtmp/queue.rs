//! The RTMP output's own send queue, with OBS's congestion policy (rtmp-stream.c `drop_frames`).
//!
//! Pure: packets in (with their arrival instant), packets out, counters. The output thread
//! pushes; the network thread pops.
//! - Above [`DROP_THRESHOLD`] of buffered media, once the oldest packet has also waited that
//!   long, every queued non-key video frame is dropped, and further non-key video until the
//!   next keyframe: the picture freezes, then resumes cleanly at a keyframe. Audio and
//!   keyframes are never dropped for congestion. The wait tells a link that cannot keep up from
//!   a burst: after a stall (the process frozen) the backlog of a second or more arrives at
//!   once, and a link that can carry it needs no drop (OBS measures the media alone).
//! - While not connected, a new keyframe discards everything before it, so a reconnect resumes
//!   at a keyframe with at most one keyframe interval of backlog.
//! - Hard bounds ([`MAX_BUFFERED`], [`MAX_BYTES`]) keep memory flat even when the link carries
//!   less than the audio alone: beyond them the oldest packets go, whatever they are.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::media::{EncodedPacket, MediaTime, StreamKind};

/// Buffered media above which non-key video is dropped (OBS: 900 ms), once the oldest packet
/// has waited as long.
pub const DROP_THRESHOLD: MediaTime = MediaTime::from_millis(900);
/// Buffered media above which the oldest packets are dropped whatever they are.
pub const MAX_BUFFERED: MediaTime = MediaTime::from_millis(5_000);
/// Bytes above which the oldest packets are dropped whatever they are (5 s at 50 Mbit/s).
pub const MAX_BYTES: usize = 32 << 20;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct QueueDrops {
    /// Non-key video frames dropped because the link could not keep up.
    pub congestion: u64,
    /// Packets dropped while disconnected (superseded by a newer keyframe).
    pub disconnected: u64,
    /// Packets (any kind) dropped at the hard bounds.
    pub overflow: u64,
}

#[derive(Debug, Default)]
pub struct SendQueue {
    packets: VecDeque<EncodedPacket>,
    /// When each queued packet arrived (same order as `packets`).
    arrivals: VecDeque<Instant>,
    bytes: usize,
    /// After a congestion drop: drop non-key video until a keyframe arrives.
    wait_keyframe: bool,
    connected: bool,
    drops: QueueDrops,
}

impl SendQueue {
    pub fn new() -> Self {
        Self::default()
    }

    /// Buffered media: from the oldest to the newest queued packet.
    pub fn buffered(&self) -> MediaTime {
        match (self.packets.front(), self.packets.back()) {
            (Some(first), Some(last)) => (last.dts - first.dts).max(MediaTime::ZERO),
            _ => MediaTime::ZERO,
        }
    }

    pub fn len(&self) -> usize {
        self.packets.len()
    }
    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }
    pub fn bytes(&self) -> usize {
        self.bytes
    }
    pub fn drops(&self) -> QueueDrops {
        self.drops
    }

    /// Buffered media relative to the drop threshold, 0 (idle) to 1 (dropping), in thousandths.
    pub fn congestion_milli(&self) -> u64 {
        let ratio = self.buffered().as_nanos().saturating_mul(1000) / DROP_THRESHOLD.as_nanos();
        ratio.clamp(0, 1000) as u64
    }

    pub fn set_connected(&mut self, connected: bool) {
        self.connected = connected;
        if !connected {
            self.trim_to_last_keyframe();
        }
    }

    /// Queues a packet that arrived at `now`.
    pub fn push(&mut self, pkt: EncodedPacket, now: Instant) {
        let video = pkt.kind == StreamKind::Video;
        if video && pkt.keyframe {
            self.wait_keyframe = false;
            if !self.connected {
                self.bytes += pkt.data.len();
                self.packets.push_back(pkt);
                self.arrivals.push_back(now);
                self.trim_to_last_keyframe();
                return;
            }
        } else if video && self.wait_keyframe {
            self.drops.congestion += 1;
            return;
        }
        self.bytes += pkt.data.len();
        self.packets.push_back(pkt);
        self.arrivals.push_back(now);
        let waited = self.arrivals.front().map_or(Duration::ZERO, |&first| {
            now.saturating_duration_since(first)
        });
        if self.connected
            && self.buffered() > DROP_THRESHOLD
            && waited > DROP_THRESHOLD.to_duration()
        {
            self.drop_non_key_video();
        }
        while self.buffered() > MAX_BUFFERED || self.bytes > MAX_BYTES {
            if self.pop().is_none() {
                break;
            }
            self.drops.overflow += 1;
        }
    }

    pub fn pop(&mut self) -> Option<EncodedPacket> {
        let p = self.packets.pop_front()?;
        self.arrivals.pop_front();
        self.bytes -= p.data.len();
        Some(p)
    }

    fn drop_non_key_video(&mut self) {
        let before = self.packets.len();
        let (packets, arrivals) = std::mem::take(&mut self.packets)
            .into_iter()
            .zip(std::mem::take(&mut self.arrivals))
            .filter(|(p, _)| p.kind == StreamKind::Audio || p.keyframe)
            .unzip();
        (self.packets, self.arrivals) = (packets, arrivals);
        self.drops.congestion += (before - self.packets.len()) as u64;
        self.bytes = self.packets.iter().map(|p| p.data.len()).sum();
        self.wait_keyframe = true;
    }

    /// Drops everything before the newest video keyframe (nothing if there is none).
    fn trim_to_last_keyframe(&mut self) {
        let Some(k) = self
            .packets
            .iter()
            .rposition(|p| p.kind == StreamKind::Video && p.keyframe)
        else {
            return;
        };
        for _ in 0..k {
            if self.pop().is_some() {
                self.drops.disconnected += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn v(ms: i64, key: bool) -> EncodedPacket {
        EncodedPacket {
            kind: StreamKind::Video,
            pts: MediaTime::from_millis(ms),
            dts: MediaTime::from_millis(ms),
            duration: MediaTime::from_millis(100),
            keyframe: key,
            data: Bytes::from(vec![0u8; 1000]),
        }
    }
    fn a(ms: i64) -> EncodedPacket {
        EncodedPacket {
            kind: StreamKind::Audio,
            keyframe: true,
            data: Bytes::from(vec![0u8; 100]),
            ..v(ms, false)
        }
    }
    fn kinds(q: &mut SendQueue) -> Vec<String> {
        std::iter::from_fn(|| q.pop())
            .map(|p| {
                format!(
                    "{}{}",
                    if p.kind == StreamKind::Video {
                        if p.keyframe { "K" } else { "v" }
                    } else {
                        "a"
                    },
                    p.dts.as_millis_floor()
                )
            })
            .collect()
    }

    /// Packets arriving in real time: `ms` after `t0`.
    fn at(t0: Instant, ms: i64) -> Instant {
        t0 + Duration::from_millis(ms as u64)
    }

    #[test]
    fn congestion_drops_only_non_key_video_then_resumes_at_a_keyframe() {
        let mut q = SendQueue::new();
        q.set_connected(true);
        let t0 = Instant::now();
        // Nothing is popped: the link is stalled. Keyframe every 1000 ms, audio every 100 ms.
        for ms in (0..=1200).step_by(100) {
            q.push(v(ms, ms % 1000 == 0), at(t0, ms));
            q.push(a(ms + 50), at(t0, ms + 50));
        }
        // Past 900 ms the queued non-key video went, and so does later non-key video until K1000.
        let d = q.drops();
        assert_eq!(d.overflow, 0);
        assert_eq!(
            d.congestion, 11,
            "v100..v900 queued, then v1100, v1200 arriving"
        );
        assert_eq!(q.congestion_milli(), 1000);
        let got = kinds(&mut q);
        assert!(got.iter().all(|p| !p.starts_with('v')), "{got:?}");
        assert_eq!(
            got.iter().filter(|p| p.starts_with('a')).count(),
            13,
            "no audio lost"
        );
        assert_eq!(
            got.iter().filter(|p| p.starts_with('K')).count(),
            2,
            "no keyframe lost"
        );
        // Once drained, video flows again right after a keyframe.
        q.push(v(1300, false), at(t0, 1300));
        q.push(v(2000, true), at(t0, 2000));
        q.push(v(2100, false), at(t0, 2100));
        assert_eq!(kinds(&mut q), ["K2000", "v2100"]);
    }

    #[test]
    fn a_burst_after_a_stall_is_not_congestion() {
        let mut q = SendQueue::new();
        q.set_connected(true);
        let t0 = Instant::now();
        // 1.5 s of media arrives within 15 ms (the process was frozen): more than the
        // threshold of media, but nothing has waited; the link takes it.
        for ms in (0..=1500).step_by(100) {
            q.push(v(ms, ms == 0), at(t0, ms / 100));
            q.push(a(ms + 50), at(t0, ms / 100));
        }
        assert_eq!(q.drops(), QueueDrops::default());
        assert_eq!(
            q.congestion_milli(),
            1000,
            "the gauge still shows the backlog"
        );
        // Still queued 900 ms later: the link cannot keep up after all.
        q.push(v(1600, false), at(t0, 1_000));
        assert_eq!(q.drops().congestion, 16, "v100..v1500 and v1600");
    }

    #[test]
    fn below_the_threshold_nothing_is_dropped() {
        let mut q = SendQueue::new();
        q.set_connected(true);
        let t0 = Instant::now();
        for ms in (0..=800).step_by(100) {
            q.push(v(ms, ms == 0), at(t0, ms));
        }
        assert_eq!(q.len(), 9);
        assert_eq!(q.congestion_milli(), 888);
        assert_eq!(q.drops(), QueueDrops::default());
    }

    #[test]
    fn while_disconnected_only_the_latest_keyframe_onward_is_kept() {
        let mut q = SendQueue::new();
        q.set_connected(true);
        let t0 = Instant::now();
        q.push(v(0, true), at(t0, 0));
        q.push(v(100, false), at(t0, 100));
        q.set_connected(false); // K0 is the newest keyframe: kept
        q.push(a(150), at(t0, 150));
        q.push(v(200, false), at(t0, 200));
        q.push(v(1000, true), at(t0, 1000));
        q.push(a(1050), at(t0, 1050));
        assert_eq!(q.drops().disconnected, 4);
        q.set_connected(true);
        assert_eq!(kinds(&mut q), ["K1000", "a1050"]);
    }

    #[test]
    fn hard_bounds_keep_memory_flat() {
        let mut q = SendQueue::new();
        q.set_connected(true);
        let t0 = Instant::now();
        for ms in (0..20_000).step_by(20) {
            q.push(a(ms), at(t0, ms));
        }
        assert!(q.buffered() <= MAX_BUFFERED);
        assert!(q.drops().overflow > 700);
        assert!(q.bytes() <= MAX_BYTES);
    }
}
