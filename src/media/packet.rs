//! Encoded packets and the stream descriptions a muxer needs before the first packet.

use bytes::Bytes;

use super::time::MediaTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamKind {
    Video,
    Audio,
}

/// One encoded access unit.
///
/// Cloning is cheap: the payload is reference-counted, so the fan-out hands the same bytes to
/// every output.
#[derive(Clone)]
pub struct EncodedPacket {
    pub kind: StreamKind,
    /// Presentation time on the engine clock.
    pub pts: MediaTime,
    /// Decode time on the engine clock (equal to `pts`: neither encoder reorders frames).
    pub dts: MediaTime,
    /// Duration on the engine clock (one frame interval; 1024 samples for AAC).
    pub duration: MediaTime,
    /// An IDR picture (video); always true for audio.
    pub keyframe: bool,
    /// H.264: AVCC, NAL units each preceded by a 4-byte big-endian length, no SPS/PPS.
    /// AAC: one raw access unit, no ADTS header. Opus: one 20 ms packet.
    pub data: Bytes,
}

impl std::fmt::Debug for EncodedPacket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?}(pts {}, {} bytes{})",
            self.kind,
            self.pts,
            self.data.len(),
            if self.keyframe && self.kind == StreamKind::Video {
                ", key"
            } else {
                ""
            }
        )
    }
}

/// What a muxer needs to describe the H.264 stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoConfig {
    pub width: u32,
    pub height: u32,
    /// Nominal frame rate as a fraction (frames per `frame_rate_den` seconds).
    pub frame_rate_num: u32,
    pub frame_rate_den: u32,
    pub bitrate_bps: u32,
    /// A keyframe every this many frames (HLS segments follow it).
    pub keyframe_interval_frames: u32,
    /// AVCDecoderConfigurationRecord (ISO/IEC 14496-15), as carried in `avcC` and FLV.
    pub avcc: Bytes,
}

/// The audio codecs the engine encodes to: AAC for RTMP, recordings and HLS; Opus for WebRTC
/// (which has no AAC), encoded only while a WHIP output exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AudioCodec {
    #[default]
    Aac,
    Opus,
}

/// What a muxer needs to describe the audio stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioConfig {
    pub codec: AudioCodec,
    pub sample_rate: u32,
    pub channels: u16,
    pub bitrate_bps: u32,
    /// AAC: AudioSpecificConfig (ISO/IEC 14496-3), e.g. `11 90` for AAC-LC 48 kHz stereo.
    /// Opus: empty (RTP carries no codec header).
    pub asc: Bytes,
}
