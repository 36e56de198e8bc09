//! One encode, many outputs.
//!
//! Each encoder thread hands its packets to [`Fanout::send`], which clones them (the payload is
//! refcounted: no copy) into every output's own bounded queue with `try_send`. A full queue
//! never blocks the encoder: the packet is dropped for that output and counted, and that output
//! skips video until the next keyframe so that what it writes still decodes.
//!
//! Free-running engines (`onair bench`) make the fan-out blocking instead: a full queue makes
//! the encoder wait, so nothing is dropped (and the fan-out stays locked while it waits).
//!
//! An output that joins mid-stream gets the stream descriptions first, then packets from the
//! next scheduled video keyframe on. No keyframe is forced for it: that would break the fixed
//! keyframe cadence every other output relies on (streaming services check it, HLS segments
//! follow it), and the wait is at most one keyframe interval. (A WebRTC receiver that lost a
//! picture asks for one: see [`Fanout::take_keyframe_request`]; the scheduled keyframes keep
//! their places.)
//!
//! Audio runs ahead of or behind video by up to a few tens of milliseconds (AAC's look-ahead,
//! the time to encode a picture), so the fan-out keeps the last [`RECENT_AUDIO_PACKETS`] audio
//! packets: an output that starts gets those its timeline keeps (the audio from its zero on
//! that went out before its keyframe, and one packet of decoder pre-roll) before the keyframe.

//!
//! Each output takes one audio codec: AAC (recordings, RTMP, HLS) or Opus (WebRTC). Video goes
//! to every output; AAC packets ([`Fanout::send`]) and Opus packets ([`Fanout::send_opus`])
//! only to the outputs that take them. The recent audio kept for starting outputs is AAC's.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crossbeam_channel::{Sender, TrySendError};

use crate::media::{AudioCodec, AudioConfig, EncodedPacket, MediaTime, StreamKind, VideoConfig};
use crate::output::interleave::Timeline;
use crate::output::{OutputCounters, OutputMsg, StreamSet};

/// Audio packets remembered for outputs that start: 64 AAC frames, 1.37 s (refcounted, no
/// copy), far more than audio and video ever drift apart at the fan-out.
pub const RECENT_AUDIO_PACKETS: usize = 64;

pub type OutputId = u64;

struct Slot {
    id: OutputId,
    tx: Sender<OutputMsg>,
    counters: Arc<OutputCounters>,
    /// The audio this output takes (AAC, or Opus for WebRTC).
    audio: AudioCodec,
    /// Streams sent and first keyframe passed.
    started: bool,
    /// After a dropped video packet: skip video until the next keyframe.
    resync: bool,
}

struct Inner {
    /// Wait for room in a full queue instead of dropping (free-running engines only).
    blocking: bool,
    expect_video: bool,
    expect_audio: bool,
    video: Option<VideoConfig>,
    audio: Option<AudioConfig>,
    /// The Opus stream's description (constant; set when the engine starts).
    opus: Option<AudioConfig>,
    slots: Vec<Slot>,
    next_id: OutputId,
    /// The last AAC packets sent, oldest first.
    recent_audio: VecDeque<EncodedPacket>,
}

pub struct Fanout {
    inner: Mutex<Inner>,
    /// Outputs taking Opus audio: the audio thread runs an Opus encoder only while this is
    /// above zero (read without the lock, once per audio chunk).
    opus_outputs: AtomicUsize,
}

impl Fanout {
    /// `blocking`: a full output queue makes `send` wait instead of dropping.
    pub fn new(expect_video: bool, expect_audio: bool, blocking: bool) -> Self {
        Self {
            inner: Mutex::new(Inner {
                blocking,
                expect_video,
                expect_audio,
                video: None,
                audio: None,
                opus: None,
                slots: Vec::new(),
                next_id: 0,
                recent_audio: VecDeque::with_capacity(RECENT_AUDIO_PACKETS),
            }),
            opus_outputs: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panicking encoder thread must not take every output down with it.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn count_opus(&self, inner: &Inner) {
        let n = inner
            .slots
            .iter()
            .filter(|s| s.audio == AudioCodec::Opus)
            .count();
        self.opus_outputs.store(n, Ordering::Relaxed);
    }

    pub fn set_video_config(&self, config: VideoConfig) {
        self.lock().video = Some(config);
    }
    /// The audio description: AAC's, or Opus's (each output gets the one it takes).
    pub fn set_audio_config(&self, config: AudioConfig) {
        let mut inner = self.lock();
        match config.codec {
            AudioCodec::Aac => inner.audio = Some(config),
            AudioCodec::Opus => inner.opus = Some(config),
        }
    }

    /// Forgets the audio kept for starting outputs (the encoders start again: their packets
    /// must not mix with an earlier run's).
    pub fn clear_recent_audio(&self) {
        self.lock().recent_audio.clear();
    }

    /// Adds an output taking `audio`; it starts at the next video keyframe.
    pub fn add(
        &self,
        tx: Sender<OutputMsg>,
        counters: Arc<OutputCounters>,
        audio: AudioCodec,
    ) -> OutputId {
        let mut inner = self.lock();
        let id = inner.next_id;
        inner.next_id += 1;
        inner.slots.push(Slot {
            id,
            tx,
            counters,
            audio,
            started: false,
            resync: false,
        });
        self.count_opus(&inner);
        id
    }

    /// Removes an output: its queue closes once drained, and it finalizes.
    pub fn remove(&self, id: OutputId) -> bool {
        let mut inner = self.lock();
        let before = inner.slots.len();
        inner.slots.retain(|s| s.id != id);
        self.count_opus(&inner);
        inner.slots.len() != before
    }

    /// Removes every output (end of stream).
    pub fn close(&self) {
        let mut inner = self.lock();
        inner.slots.clear();
        self.count_opus(&inner);
    }

    /// The lowest video bitrate any output asks for (dynamic bitrate), if one does.
    pub fn lowest_bitrate_request(&self) -> Option<u64> {
        self.lock()
            .slots
            .iter()
            .map(|s| s.counters.bitrate_request_bps.load(Ordering::Relaxed))
            .filter(|&b| b > 0)
            .min()
    }

    /// True if an output asked for a keyframe since the last call (a WebRTC receiver's PLI or
    /// FIR); every request is taken.
    pub fn take_keyframe_request(&self) -> bool {
        // Not `any`: it would stop at the first and leave the others' requests pending.
        let mut asked = false;
        for s in &self.lock().slots {
            asked |= s.counters.take_keyframe_request();
        }
        asked
    }

    /// True while an output takes Opus audio.
    pub fn wants_opus(&self) -> bool {
        self.opus_outputs.load(Ordering::Relaxed) > 0
    }

    /// A video packet, or an AAC packet, to every output that takes it.
    pub fn send(&self, pkt: &EncodedPacket) {
        self.send_as(pkt, AudioCodec::Aac);
    }

    /// An Opus packet, to the outputs that take Opus.
    pub fn send_opus(&self, pkt: &EncodedPacket) {
        self.send_as(pkt, AudioCodec::Opus);
    }

    fn send_as(&self, pkt: &EncodedPacket, codec: AudioCodec) {
        let mut inner = self.lock();
        if !inner.expect_video || inner.video.is_some() {
            let before = inner.slots.len();
            inner.send(pkt, codec);
            if inner.slots.len() != before {
                self.count_opus(&inner);
            }
        }
        if pkt.kind == StreamKind::Audio && codec == AudioCodec::Aac {
            if inner.recent_audio.len() == RECENT_AUDIO_PACKETS {
                inner.recent_audio.pop_front();
            }
            inner.recent_audio.push_back(pkt.clone());
        }
    }
}

impl Inner {
    fn send(&mut self, pkt: &EncodedPacket, codec: AudioCodec) {
        // An output starts at a video keyframe; without video, at any audio packet but the
        // encoder's priming (before the engine's time zero).
        let starts_output = if self.expect_video {
            pkt.kind == StreamKind::Video && pkt.keyframe
        } else {
            pkt.dts >= MediaTime::ZERO
        };
        // Disjoint borrows: the slots change, the stream descriptions and the recent audio are
        // only read (and only cloned for an output that starts now, not for every packet).
        let Inner {
            video,
            audio,
            opus,
            slots,
            blocking,
            expect_audio,
            recent_audio,
            ..
        } = self;
        let (video, audio, opus, expect_audio) = (&*video, &*audio, &*opus, *expect_audio);
        let recent_audio = &*recent_audio;
        let for_slot = |slot: &Slot| pkt.kind == StreamKind::Video || slot.audio == codec;
        // What an output that starts at `pkt` gets first: its start, then the recent audio it
        // keeps (pre-roll, and what it would otherwise miss; AAC only), in order. `None` while
        // its audio is not yet described.
        let start = |slot: &Slot| -> Option<Vec<OutputMsg>> {
            let a = match slot.audio {
                AudioCodec::Aac => audio,
                AudioCodec::Opus => opus,
            };
            if expect_audio && a.is_none() {
                return None;
            }
            let zero = pkt.dts;
            let streams = StreamSet {
                video: video.clone(),
                audio: a.clone(),
            };
            let recent = recent_audio
                .iter()
                .filter(|_| slot.audio == AudioCodec::Aac)
                .filter(|p| Timeline::keeps(p, zero))
                .map(|p| OutputMsg::Packet(p.clone()));
            Some(
                std::iter::once(OutputMsg::Start { streams, zero })
                    .chain(recent)
                    .collect(),
            )
        };
        if *blocking {
            slots.retain_mut(|slot| {
                if !for_slot(slot) {
                    return true;
                }
                if !slot.started {
                    if !starts_output {
                        return true;
                    }
                    let Some(messages) = start(slot) else {
                        return true;
                    };
                    if messages.into_iter().any(|m| slot.tx.send(m).is_err()) {
                        return false;
                    }
                    slot.started = true;
                }
                slot.tx.send(OutputMsg::Packet(pkt.clone())).is_ok()
            });
            return;
        }
        slots.retain_mut(|slot| {
            if !for_slot(slot) {
                return true;
            }
            if !slot.started {
                if !starts_output {
                    return true;
                }
                let Some(messages) = start(slot) else {
                    return true;
                };
                // The start must go whole: it is at most 1 + RECENT_AUDIO_PACKETS messages.
                if slot.tx.capacity().is_some_and(|c| c - slot.tx.len() < messages.len() + 1) {
                    return true; // queue not yet drained: try at the next keyframe
                }
                for m in messages {
                    if slot.tx.try_send(m).is_err() {
                        return false; // disconnected (nothing else sends on it)
                    }
                }
                slot.started = true;
            }
            if pkt.kind == StreamKind::Video && slot.resync {
                if !pkt.keyframe {
                    slot.counters.dropped_resync.fetch_add(1, Ordering::Relaxed);
                    return true;
                }
                slot.resync = false;
            }
            match slot.tx.try_send(OutputMsg::Packet(pkt.clone())) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) => {
                    let dropped = slot.counters.dropped_queue_full.fetch_add(1, Ordering::Relaxed) + 1;
                    if pkt.kind == StreamKind::Video {
                        slot.resync = true;
                    }
                    if dropped == 1 || dropped % 100 == 0 {
                        tracing::error!(output = %slot.counters.name, dropped, "output queue full: packets lost for this output");
                    }
                    true
                }
                Err(TrySendError::Disconnected(_)) => false,
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::MediaTime;
    use bytes::Bytes;
    use crossbeam_channel::bounded;

    fn video(ms: i64, key: bool) -> EncodedPacket {
        EncodedPacket {
            kind: StreamKind::Video,
            pts: MediaTime::from_millis(ms),
            dts: MediaTime::from_millis(ms),
            duration: MediaTime::from_millis(33),
            keyframe: key,
            data: Bytes::from_static(b"frame"),
        }
    }
    fn audio(ms: i64) -> EncodedPacket {
        EncodedPacket {
            kind: StreamKind::Audio,
            keyframe: true,
            ..video(ms, false)
        }
    }
    fn vcfg() -> VideoConfig {
        VideoConfig {
            keyframe_interval_frames: 60,
            width: 2,
            height: 2,
            frame_rate_num: 30,
            frame_rate_den: 1,
            bitrate_bps: 1,
            avcc: Bytes::new(),
        }
    }
    fn acfg() -> AudioConfig {
        AudioConfig {
            codec: crate::media::AudioCodec::Aac,
            sample_rate: 48_000,
            channels: 2,
            bitrate_bps: 1,
            asc: Bytes::from_static(&[0x11, 0x90]),
        }
    }
    fn counters() -> Arc<OutputCounters> {
        Arc::new(OutputCounters::new("t".into(), "test"))
    }
    fn drain(rx: &crossbeam_channel::Receiver<OutputMsg>) -> Vec<String> {
        rx.try_iter()
            .map(|m| match m {
                OutputMsg::Start { zero, .. } => format!("start{}", zero.as_millis_floor()),
                OutputMsg::Packet(p) => format!(
                    "{:?}{}{}",
                    p.kind,
                    p.pts.as_millis_floor(),
                    if p.keyframe && p.kind == StreamKind::Video {
                        "k"
                    } else {
                        ""
                    }
                ),
            })
            .collect()
    }

    #[test]
    fn an_output_starts_at_a_keyframe_with_the_streams_first() {
        let f = Fanout::new(true, true, false);
        f.set_audio_config(acfg());
        let (tx, rx) = bounded(16);
        f.add(tx, counters(), AudioCodec::Aac);
        f.send(&video(0, true)); // no video config yet: nothing goes out
        f.set_video_config(vcfg());
        f.send(&audio(10));
        f.send(&video(33, false));
        f.send(&video(66, true));
        f.send(&audio(70));
        assert_eq!(
            drain(&rx),
            vec!["start66", "Audio10", "Video66k", "Audio70"]
        );
    }

    #[test]
    fn a_starting_output_gets_the_recent_audio_it_keeps_before_its_keyframe() {
        let f = Fanout::new(true, true, false);
        f.set_audio_config(acfg());
        f.set_video_config(vcfg());
        // 33 ms audio packets, sent ahead of the video (as AAC's look-ahead allows).
        for ms in [-66, -33, 0, 33, 66, 99] {
            f.send(&audio(ms));
        }
        let (tx, rx) = bounded(16);
        f.add(tx, counters(), AudioCodec::Aac);
        f.send(&video(33, true));
        // Audio from 0 ms is the pre-roll of 33 ms (which the keyframe starts with); older
        // audio is not needed; later audio would otherwise be lost.
        assert_eq!(
            drain(&rx),
            vec![
                "start33", "Audio0", "Audio33", "Audio66", "Audio99", "Video33k"
            ]
        );
        // Without video, an output starts at the first audio packet past the encoder's
        // priming (before the engine's zero), with its pre-roll first.
        let f = Fanout::new(false, true, false);
        f.set_audio_config(acfg());
        let (tx, rx) = bounded(16);
        f.add(tx, counters(), AudioCodec::Aac);
        f.send(&audio(-66));
        f.send(&audio(-33));
        f.send(&audio(0));
        assert_eq!(drain(&rx), vec!["start0", "Audio-33", "Audio0"]);
    }

    #[test]
    fn a_full_queue_drops_counts_and_resyncs_without_touching_other_outputs() {
        let f = Fanout::new(true, false, false);
        f.set_video_config(vcfg());
        let (slow_tx, slow_rx) = bounded(3);
        let (fast_tx, fast_rx) = bounded(64);
        let slow = counters();
        f.add(slow_tx, slow.clone(), AudioCodec::Aac);
        f.add(fast_tx, counters(), AudioCodec::Aac);
        for (i, key) in [true, false, false, false, false].into_iter().enumerate() {
            f.send(&video(i as i64 * 33, key));
        }
        // slow: streams + 2 packets fit; packets 66 and 99 dropped, 132 skipped until a key.
        assert_eq!(drain(&slow_rx), vec!["start0", "Video0k", "Video33"]);
        assert_eq!(slow.dropped_queue_full.load(Ordering::Relaxed), 1);
        assert_eq!(slow.dropped_resync.load(Ordering::Relaxed), 2);
        f.send(&video(165, false));
        f.send(&video(198, true));
        assert_eq!(drain(&slow_rx), vec!["Video198k"]);
        assert_eq!(drain(&fast_rx).len(), 1 + 7);
    }

    #[test]
    fn opus_goes_only_to_opus_outputs_and_aac_only_to_the_others() {
        let f = Fanout::new(true, true, false);
        f.set_audio_config(acfg());
        f.set_video_config(vcfg());
        let (aac_tx, aac_rx) = bounded(16);
        let (opus_tx, opus_rx) = bounded(16);
        f.add(aac_tx, counters(), AudioCodec::Aac);
        assert!(!f.wants_opus());
        let opus_id = f.add(opus_tx, counters(), AudioCodec::Opus);
        assert!(f.wants_opus());
        f.send(&video(0, true)); // the Opus output waits for its description
        f.set_audio_config(AudioConfig {
            codec: AudioCodec::Opus,
            asc: Bytes::new(),
            ..acfg()
        });
        f.send_opus(&audio(5));
        f.send(&audio(10));
        f.send(&video(33, true));
        f.send_opus(&audio(40));
        f.send(&audio(50));
        assert_eq!(
            drain(&aac_rx),
            vec!["start0", "Video0k", "Audio10", "Video33k", "Audio50"]
        );
        let opus: Vec<OutputMsg> = opus_rx.try_iter().collect();
        assert!(
            matches!(&opus[0], OutputMsg::Start { streams: s, .. } if s.audio.as_ref().unwrap().codec == AudioCodec::Opus)
        );
        assert!(matches!(&opus[1], OutputMsg::Packet(p) if p.kind == StreamKind::Video));
        assert!(matches!(&opus[2], OutputMsg::Packet(p) if p.pts == MediaTime::from_millis(40)));
        assert_eq!(opus.len(), 3);
        f.remove(opus_id);
        assert!(!f.wants_opus());
    }

    #[test]
    fn a_keyframe_request_is_taken_once() {
        let f = Fanout::new(true, false, false);
        let (tx, _rx) = bounded(4);
        let c = counters();
        f.add(tx, c.clone(), AudioCodec::Opus);
        assert!(!f.take_keyframe_request());
        c.request_keyframe();
        assert!(f.take_keyframe_request());
        assert!(!f.take_keyframe_request());
    }

    #[test]
    fn removed_or_closed_outputs_see_their_queue_close() {
        let f = Fanout::new(false, true, false);
        f.set_audio_config(acfg());
        let (tx, rx) = bounded(4);
        let id = f.add(tx, counters(), AudioCodec::Aac);
        f.send(&audio(0));
        assert!(f.remove(id));
        assert_eq!(drain(&rx), vec!["start0", "Audio0"]);
        assert!(rx.recv().is_err(), "disconnected once removed");
    }
}
