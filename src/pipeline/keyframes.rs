//! Keyframes on request (a WebRTC receiver's PLI/FIR) without moving the scheduled ones.
//!
//! The scheduled keyframes follow media time (`encode::cadence`): a forced one comes on top
//! and moves none of them, so HLS segments, streaming services and recordings keep the
//! preset's cadence. Requests are granted at most once per [`KeyframeRequests::min_gap`] of
//! media time; those in between are dropped (a receiver that still needs one asks again).

use crate::media::MediaTime;

#[derive(Debug)]
pub struct KeyframeRequests {
    min_gap: MediaTime,
    last_granted: Option<MediaTime>,
}

impl KeyframeRequests {
    pub fn new(min_gap: MediaTime) -> Self {
        Self {
            min_gap,
            last_granted: None,
        }
    }

    /// For the next frame (capture time `pts`): whether a request is granted, that is whether
    /// the encoder must make this frame a keyframe.
    pub fn next_frame(&mut self, pts: MediaTime, requested: bool) -> bool {
        let granted = requested && self.last_granted.is_none_or(|t| pts - t >= self.min_gap);
        if granted {
            self.last_granted = Some(pts);
        }
        granted
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
            tuning: crate::encode::VideoTuning::default(),
        })
        .unwrap();
        let mut requests = KeyframeRequests::new(MediaTime::from_secs(1));
        let mut pattern = TestPattern::new(320, 240);
        let tb = Timebase::per_second(30);
        let mut keyframes = Vec::new();
        let mut granted = Vec::new();
        for n in 0..200 {
            let pts = tb.ticks_to_time(n);
            let mut frame = VideoFrame::black(320, 240, pts);
            pattern.fill(pts, &mut frame).unwrap();
            let g = requests.next_frame(pts, n == 75 || n == 80);
            if g {
                granted.push(n);
            }
            let picture = encoder.encode(&frame, g).unwrap().unwrap();
            if picture.packet.keyframe {
                keyframes.push(n);
            }
        }
        assert_eq!(granted, [75]);
        assert_eq!(keyframes, [0, 60, 75, 120, 180]);
    }

    #[test]
    fn without_requests_nothing_is_forced() {
        let mut r = KeyframeRequests::new(MediaTime::from_secs(1));
        let tb = Timebase::per_second(30);
        assert!((0..300).all(|n| !r.next_frame(tb.ticks_to_time(n), false)));
    }
}
