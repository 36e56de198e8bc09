//! H.264 through OpenH264: Constrained Baseline, bitrate rate control, fixed keyframe interval.

use std::time::{Duration, Instant};

use bytes::Bytes;
use openh264::OpenH264API;
use openh264::encoder::{
    BitRate, Complexity, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod,
    RateControlMode, UsageType,
};
use openh264::formats::YUVSlices;

use super::EncodeError;
use crate::format::avc;
use crate::media::{EncodedPacket, StreamKind, VideoConfig, VideoFrame};

/// What the H.264 encoder is asked for; derived from the preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoEncodeSettings {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub bitrate_bps: u32,
    pub keyframe_interval_frames: u32,
    /// OpenH264 threads: 1 encodes one slice per frame on the calling thread; N > 1 cuts each
    /// frame into N slices encoded in parallel (a few % more bits).
    pub threads: u16,
}

pub struct H264Encoder {
    settings: VideoEncodeSettings,
    encoder: Encoder,
    config: Option<VideoConfig>,
    annexb: Vec<u8>,
}

/// One encoded picture and, on the first one, the stream description.
pub struct EncodedPicture {
    pub packet: EncodedPacket,
    /// Set with the first picture (and whenever the SPS/PPS change).
    pub new_config: Option<VideoConfig>,
    /// Time spent inside OpenH264 for this picture.
    pub encode_time: Duration,
}

impl H264Encoder {
    pub fn new(settings: VideoEncodeSettings) -> Result<Self, EncodeError> {
        let config = EncoderConfig::new()
            .bitrate(BitRate::from_bps(settings.bitrate_bps))
            .rate_control_mode(RateControlMode::Bitrate)
            .max_frame_rate(FrameRate::from_hz(settings.fps as f32))
            .intra_frame_period(IntraFramePeriod::from_num_frames(
                settings.keyframe_interval_frames,
            ))
            // Every frame in must come out: a skipped frame would be a hole in every output.
            .skip_frames(false)
            .usage_type(UsageType::CameraVideoRealTime)
            .complexity(Complexity::Medium)
            // Scene-change IDRs would break the fixed keyframe cadence that HLS segments and
            // streaming services rely on.
            .scene_change_detect(false)
            .num_threads(settings.threads.max(1));
        let mut encoder = Encoder::with_api_config(OpenH264API::from_source(), config)
            .map_err(|e| EncodeError::H264(e.to_string()))?;
        Self::quiet(&mut encoder);
        if settings.threads > 1 {
            Self::use_slices(&mut encoder, settings)?;
        }
        Ok(Self {
            settings,
            encoder,
            config: None,
            annexb: Vec::with_capacity(1 << 20),
        })
    }

    /// OpenH264 writes its warnings to stderr itself, at every run one about frame skipping
    /// being off (on purpose, above). Only its errors are written: the level is set before
    /// the crate opens the encoder on the first frame, which is when it warns.
    #[allow(unsafe_code)] // the crate sets the level only after opening; one FFI call
    fn quiet(encoder: &mut Encoder) {
        let mut level = openh264_sys2::WELS_LOG_ERROR;
        // SAFETY: SetOption(ENCODER_OPTION_TRACE_LEVEL) is allowed before the encoder is
        // initialized (welsEncoderExt.cpp) and reads one int from `level`, valid for the call.
        let rc = unsafe {
            encoder.raw_api().set_option(
                openh264_sys2::ENCODER_OPTION_TRACE_LEVEL,
                (&raw mut level).cast(),
            )
        };
        if rc != 0 {
            tracing::debug!("OpenH264 refused its log level (code {rc})");
        }
    }

    /// Slice threading: OpenH264 threads across slices, and the crate always asks for one
    /// slice per frame. The crate opens the encoder on its first frame, so a black frame opens
    /// it (its output is thrown away), then the parameters are read back and set again with
    /// `threads` fixed slices: OpenH264 resets the encoder on that change, so the first real
    /// frame is an IDR and the keyframe cadence counts from it.
    #[allow(unsafe_code)] // the crate has no slice-count setting; two FFI calls, see SAFETY
    fn use_slices(encoder: &mut Encoder, settings: VideoEncodeSettings) -> Result<(), EncodeError> {
        let black = VideoFrame::black(
            settings.width,
            settings.height,
            crate::media::MediaTime::ZERO,
        );
        let (w, h) = (settings.width as usize, settings.height as usize);
        let source = YUVSlices::new(black.planes(), (w, h), (w, w / 2, w / 2));
        encoder
            .encode_at(&source, openh264::Timestamp::ZERO)
            .map_err(|e| EncodeError::H264(e.to_string()))?;
        let mut params = openh264_sys2::SEncParamExt::default();
        // SAFETY: the encoder is open (it has just encoded a frame); GetOption with
        // ENCODER_OPTION_SVC_ENCODE_PARAM_EXT copies exactly one SEncParamExt into `params`,
        // which outlives the call (OpenH264's welsEncoderExt.cpp).
        let rc = unsafe {
            encoder.raw_api().get_option(
                openh264_sys2::ENCODER_OPTION_SVC_ENCODE_PARAM_EXT,
                (&raw mut params).cast(),
            )
        };
        if rc != 0 {
            return Err(EncodeError::H264(format!(
                "reading the encoder parameters failed (code {rc})"
            )));
        }
        let layer = &mut params.sSpatialLayers[0];
        layer.sSliceArgument.uiSliceMode = openh264_sys2::SM_FIXEDSLCNUM_SLICE;
        layer.sSliceArgument.uiSliceNum = u32::from(settings.threads);
        // SAFETY: as above; SetOption reads one SEncParamExt from `params`, valid for the call.
        let rc = unsafe {
            encoder.raw_api().set_option(
                openh264_sys2::ENCODER_OPTION_SVC_ENCODE_PARAM_EXT,
                (&raw mut params).cast(),
            )
        };
        if rc != 0 {
            return Err(EncodeError::H264(format!(
                "setting {} slices failed (code {rc})",
                settings.threads
            )));
        }
        Ok(())
    }

    pub fn settings(&self) -> VideoEncodeSettings {
        self.settings
    }

    /// Changes the target bitrate from the next frame on (dynamic bitrate). At most the
    /// preset's bitrate, which OpenH264 was opened with as its maximum. Before the first frame
    /// the encoder is not open yet: the call is refused.
    #[allow(unsafe_code)] // the crate has no safe setter; one FFI call, see SAFETY
    pub fn set_bitrate(&mut self, bitrate_bps: u32) -> Result<(), EncodeError> {
        if self.config.is_none() {
            return Err(EncodeError::H264(
                "the bitrate can change only after the first frame".into(),
            ));
        }
        let bps = bitrate_bps.min(self.settings.bitrate_bps);
        let mut info = openh264_sys2::SBitrateInfo {
            iLayer: openh264_sys2::SPATIAL_LAYER_ALL,
            iBitrate: i32::try_from(bps).unwrap_or(i32::MAX),
        };
        // SAFETY: the encoder was initialised by its first `encode` (checked above), `info`
        // is a valid SBitrateInfo that outlives the call, and ENCODER_OPTION_BITRATE reads
        // exactly that struct (OpenH264's codec_app_def.h).
        let rc = unsafe {
            self.encoder.raw_api().set_option(
                openh264_sys2::ENCODER_OPTION_BITRATE,
                (&raw mut info).cast(),
            )
        };
        if rc != 0 {
            return Err(EncodeError::H264(format!(
                "setting the bitrate to {bps} bit/s failed (code {rc})"
            )));
        }
        Ok(())
    }

    /// Encodes one frame. `force_keyframe` makes this picture an IDR (an output joined).
    /// Returns `None` if the encoder produced no picture for this frame.
    pub fn encode(
        &mut self,
        frame: &VideoFrame,
        force_keyframe: bool,
    ) -> Result<Option<EncodedPicture>, EncodeError> {
        if force_keyframe {
            self.encoder.force_intra_frame();
        }
        let (w, h) = (frame.width as usize, frame.height as usize);
        let (y, u, v) = frame.planes();
        let source = YUVSlices::new((y, u, v), (w, h), (w, w / 2, w / 2));
        let millis = u64::try_from(frame.pts.as_millis_floor()).unwrap_or(0);
        let started = Instant::now();
        let bitstream = self
            .encoder
            .encode_at(&source, openh264::Timestamp::from_millis(millis))
            .map_err(|e| EncodeError::H264(e.to_string()))?;
        let encode_time = started.elapsed();
        let frame_type = bitstream.frame_type();
        if matches!(frame_type, FrameType::Skip | FrameType::Invalid) {
            return Ok(None);
        }
        self.annexb.clear();
        bitstream.write_vec(&mut self.annexb);
        let access_unit = avc::annexb_to_avcc(&self.annexb);
        let mut new_config = None;
        if let Some(record) = access_unit.config_record() {
            let record = record.map_err(|e| EncodeError::H264(e.to_string()))?;
            if self.config.as_ref().map(|c| &c.avcc) != Some(&record) {
                let config = VideoConfig {
                    width: self.settings.width,
                    height: self.settings.height,
                    frame_rate_num: self.settings.fps,
                    frame_rate_den: 1,
                    bitrate_bps: self.settings.bitrate_bps,
                    keyframe_interval_frames: self.settings.keyframe_interval_frames,
                    avcc: record,
                };
                self.config = Some(config.clone());
                new_config = Some(config);
            }
        }
        if self.config.is_none() {
            return Err(EncodeError::NoParameterSets);
        }
        let packet = EncodedPacket {
            kind: StreamKind::Video,
            pts: frame.pts,
            dts: frame.pts,
            duration: crate::media::Timebase::per_second(self.settings.fps).ticks_to_time(1),
            keyframe: access_unit.idr,
            data: Bytes::from(access_unit.data),
        };
        Ok(Some(EncodedPicture {
            packet,
            new_config,
            encode_time,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::VideoSource;
    use crate::capture::test_pattern::TestPattern;
    use crate::media::{MediaTime, Timebase};

    #[test]
    fn first_picture_is_idr_with_config_and_keyframes_follow_the_interval() {
        let settings = VideoEncodeSettings {
            width: 320,
            height: 240,
            fps: 30,
            bitrate_bps: 500_000,
            keyframe_interval_frames: 10,
            threads: 1,
        };
        let mut enc = H264Encoder::new(settings).unwrap();
        let mut src = TestPattern::new(320, 240);
        let mut frame = VideoFrame::black(320, 240, MediaTime::ZERO);
        let tb = Timebase::per_second(30);
        let mut keys = Vec::new();
        let mut total = 0usize;
        for n in 0..40 {
            src.fill(tb.ticks_to_time(n), &mut frame).unwrap();
            let pic = enc
                .encode(&frame, n == 25)
                .unwrap()
                .expect("no frame skipped");
            if n == 0 {
                let cfg = pic
                    .new_config
                    .as_ref()
                    .expect("config with the first picture");
                assert_eq!(cfg.avcc[0], 1, "configurationVersion");
                assert_eq!(cfg.avcc[1], 66, "Constrained Baseline profile_idc");
            } else {
                assert!(pic.new_config.is_none());
            }
            assert_eq!(pic.packet.pts, tb.ticks_to_time(n));
            // AVCC: the lengths walk the payload exactly.
            let data = &pic.packet.data;
            let mut at = 0;
            while at < data.len() {
                let len = u32::from_be_bytes(data[at..at + 4].try_into().unwrap()) as usize;
                let nal_type = data[at + 4] & 0x1f;
                assert!(nal_type != 7 && nal_type != 8, "SPS/PPS stay out of band");
                at += 4 + len;
            }
            assert_eq!(at, data.len());
            total += data.len();
            if pic.packet.keyframe {
                keys.push(n);
            }
        }
        // A forced IDR restarts the interval, as OpenH264 counts from the last IDR.
        assert_eq!(keys, vec![0, 10, 20, 25, 35]);
        // 35 frames at 500 kbit/s, 30 fps: about 73 kB; allow the first IDR's overshoot.
        assert!(total > 10_000 && total < 250_000, "{total} bytes");
    }

    /// Slice threading: every picture has one slice per thread, the first is an IDR, and the
    /// keyframe cadence counts from it (the black frame that opened the encoder left no trace).
    #[test]
    fn two_threads_make_two_slices_and_keep_the_cadence() {
        let settings = VideoEncodeSettings {
            width: 640,
            height: 360,
            fps: 30,
            bitrate_bps: 1_000_000,
            keyframe_interval_frames: 10,
            threads: 2,
        };
        let mut enc = H264Encoder::new(settings).unwrap();
        let mut src = TestPattern::new(640, 360);
        let mut frame = VideoFrame::black(640, 360, MediaTime::ZERO);
        let tb = Timebase::per_second(30);
        let mut keys = Vec::new();
        for n in 0..30 {
            src.fill(tb.ticks_to_time(n), &mut frame).unwrap();
            let pic = enc.encode(&frame, false).unwrap().unwrap();
            assert_eq!(pic.new_config.is_some(), n == 0, "frame {n}");
            let data = &pic.packet.data;
            let (mut at, mut slices) = (0, 0);
            while at < data.len() {
                let len = u32::from_be_bytes(data[at..at + 4].try_into().unwrap()) as usize;
                slices += usize::from(matches!(data[at + 4] & 0x1f, 1 | 5));
                at += 4 + len;
            }
            assert_eq!(slices, 2, "frame {n}");
            if pic.packet.keyframe {
                keys.push(n);
            }
        }
        assert_eq!(keys, vec![0, 10, 20]);
    }

    /// Dynamic bitrate: a lower target makes smaller pictures, and the change is refused
    /// before the encoder has opened.
    #[test]
    fn the_bitrate_can_be_lowered_while_encoding() {
        let settings = VideoEncodeSettings {
            width: 640,
            height: 360,
            fps: 30,
            bitrate_bps: 2_000_000,
            keyframe_interval_frames: 300,
            threads: 1,
        };
        let mut enc = H264Encoder::new(settings).unwrap();
        assert!(enc.set_bitrate(500_000).is_err());
        let mut src = TestPattern::new(640, 360);
        let mut frame = VideoFrame::black(640, 360, MediaTime::ZERO);
        let tb = Timebase::per_second(30);
        let mut sizes = Vec::new();
        for n in 0..120 {
            if n == 60 {
                enc.set_bitrate(100_000).unwrap();
            }
            src.fill(tb.ticks_to_time(n), &mut frame).unwrap();
            sizes.push(
                enc.encode(&frame, false)
                    .unwrap()
                    .unwrap()
                    .packet
                    .data
                    .len(),
            );
        }
        let before: usize = sizes[30..60].iter().sum();
        let after: usize = sizes[90..120].iter().sum();
        // The easy pattern cannot reach 100 kbit/s, but it shrinks clearly (35 % here); without
        // the call both seconds are alike.
        assert!(
            after * 10 < before * 8,
            "1 s at 2 Mbit/s: {before} B, then at 100 kbit/s: {after} B"
        );
    }
}
