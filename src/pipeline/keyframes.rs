//! Keyframes on request (a WebRTC receiver's PLI/FIR) without moving the scheduled ones.
//!
//! OpenH264 counts its keyframe interval from the last IDR, forced ones included, so one extra
//! keyframe would shift every later one: HLS segments, streaming services and recordings rely
//! on the preset's fixed cadence. Once an extra keyframe has been granted, the scheduled ones
//! (every `interval` frames from the first) are forced too, so they stay where they were.
//! Requests are granted at most once per [`KeyframeRequests::min_gap`] of media time; those in
//! between are dropped (a receiver that still needs one asks again).

use crate::media::MediaTime;

#[derive(Debug)]
pub struct KeyframeRequests {
    interval: u64,
    min_gap: MediaTime,
    frames_in: u64,
    last_granted: Option<MediaTime>,
}

impl KeyframeRequests {
    /// `interval`: the preset's keyframe interval in frames.
    pub fn new(interval: u32, min_gap: MediaTime) -> Self {
        Self {
            interval: u64::from(interval.max(1)),
            min_gap,
            frames_in: 0,
            last_granted: None,
        }
    }

    /// For the next frame (capture time `pts`): whether a request is granted, and whether the
    /// encoder must be told to make this frame a keyframe.
    pub fn next_frame(&mut self, pts: MediaTime, requested: bool) -> (bool, bool) {
        let granted = requested && self.last_granted.is_none_or(|t| pts - t >= self.min_gap);
        if granted {
            self.last_granted = Some(pts);
        }
        let scheduled = self.frames_in.is_multiple_of(self.interval);
        self.frames_in += 1;
        (
            granted,
            granted || (scheduled && self.last_granted.is_some()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::VideoSource;
    use crate::capture::test_pattern::TestPattern;
    use crate::encode::{H264Encoder, VideoEncodeSettings};
    use crate::media::{Timebase, VideoFrame};

    /// The real encoder: 200 frames, a keyframe every 60, one asked for at frame 75 (and
    /// again at 80, too soon): IDRs at 0, 60, 75, 120, 180, not 0, 60, 75, 135, 195.
    #[test]
    fn a_requested_keyframe_leaves_the_cadence_where_it_was() {
        let mut encoder = H264Encoder::new(VideoEncodeSettings {
            width: 320,
            height: 240,
            fps: 30,
            bitrate_bps: 500_000,
            keyframe_interval_frames: 60,
            threads: 1,
        })
        .unwrap();
        let mut requests = KeyframeRequests::new(60, MediaTime::from_secs(1));
        let mut pattern = TestPattern::new(320, 240);
        let tb = Timebase::per_second(30);
        let mut keyframes = Vec::new();
        let mut granted = Vec::new();
        for n in 0..200 {
            let pts = tb.ticks_to_time(n);
            let mut frame = VideoFrame::black(320, 240, pts);
            pattern.fill(pts, &mut frame).unwrap();
            let (g, force) = requests.next_frame(pts, n == 75 || n == 80);
            if g {
                granted.push(n);
            }
            let picture = encoder.encode(&frame, force).unwrap().unwrap();
            if picture.packet.keyframe {
                keyframes.push(n);
            }
        }
        assert_eq!(granted, [75]);
        assert_eq!(keyframes, [0, 60, 75, 120, 180]);
    }

    #[test]
    fn without_requests_nothing_is_forced() {
        let mut r = KeyframeRequests::new(60, MediaTime::from_secs(1));
        let tb = Timebase::per_second(30);
        assert!((0..300).all(|n| r.next_frame(tb.ticks_to_time(n), false) == (false, false)));
    }
}
