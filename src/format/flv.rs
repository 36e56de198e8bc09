//! FLV (Adobe Flash Video File Format Specification v10.1, annex E), sans-IO.
//!
//! Builds tag bodies for H.264 (AVC packets) and AAC, whole tags with their 11-byte headers and
//! back-pointers, the `onMetaData` script tag, and the file header. The RTMP output sends the
//! same tag bodies as RTMP messages; the recording writes whole tags to a file.

use crate::media::{AudioConfig, EncodedPacket, MediaTime, StreamKind, Timebase, VideoConfig};

pub const TAG_AUDIO: u8 = 8;
pub const TAG_VIDEO: u8 = 9;
pub const TAG_SCRIPT: u8 = 18;

/// FLV video codec id for AVC, audio format id for AAC.
pub const CODEC_AVC: f64 = 7.0;
pub const CODEC_AAC: f64 = 10.0;

/// The 9-byte file header followed by PreviousTagSize0.
pub fn file_header(has_video: bool, has_audio: bool) -> [u8; 13] {
    let flags = (u8::from(has_audio) << 2) | u8::from(has_video);
    [b'F', b'L', b'V', 1, flags, 0, 0, 0, 9, 0, 0, 0, 0]
}

/// `AVCVIDEOPACKET` with the sequence header (AVCDecoderConfigurationRecord).
pub fn video_sequence_header_body(config: &VideoConfig) -> Vec<u8> {
    let mut body = Vec::with_capacity(5 + config.avcc.len());
    body.extend_from_slice(&[0x17, 0x00, 0, 0, 0]);
    body.extend_from_slice(&config.avcc);
    body
}

/// `AVCVIDEOPACKET` with one access unit (AVCC NAL units); `cts_ms` is pts - dts.
pub fn video_frame_body(keyframe: bool, cts_ms: i32, avcc: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(5 + avcc.len());
    let cts = cts_ms.to_be_bytes();
    body.extend_from_slice(&[
        if keyframe { 0x17 } else { 0x27 },
        0x01,
        cts[1],
        cts[2],
        cts[3],
    ]);
    body.extend_from_slice(avcc);
    body
}

/// The `AVCVIDEOPACKET` that marks the end of the sequence.
pub fn video_end_of_sequence_body() -> Vec<u8> {
    vec![0x17, 0x02, 0, 0, 0]
}

/// AAC sequence header: AAC, 44 kHz flag (always for AAC), 16-bit, stereo, then the ASC.
pub fn audio_sequence_header_body(config: &AudioConfig) -> Vec<u8> {
    let mut body = vec![0xAF, 0x00];
    body.extend_from_slice(&config.asc);
    body
}

pub fn audio_frame_body(raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(2 + raw.len());
    body.extend_from_slice(&[0xAF, 0x01]);
    body.extend_from_slice(raw);
    body
}

/// A whole tag: 11-byte header, body, and the 4-byte PreviousTagSize that follows it.
/// `timestamp_ms` wraps at 2^32 as the format does (the 8-bit extension holds the top byte).
pub fn tag(tag_type: u8, timestamp_ms: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(15 + body.len());
    tag_into(&mut out, tag_type, timestamp_ms, body);
    out
}

pub fn tag_into(out: &mut Vec<u8>, tag_type: u8, timestamp_ms: u32, body: &[u8]) {
    tag_parts_into(out, tag_type, timestamp_ms, &[], body);
}

/// A whole tag whose body is `prefix` then `payload`, appended to `out` with no intermediate
/// buffer (the payload is copied once).
fn tag_parts_into(
    out: &mut Vec<u8>,
    tag_type: u8,
    timestamp_ms: u32,
    prefix: &[u8],
    payload: &[u8],
) {
    let size = (prefix.len() + payload.len()) as u32;
    let ts = timestamp_ms.to_be_bytes();
    out.reserve(15 + size as usize);
    out.push(tag_type);
    out.extend_from_slice(&size.to_be_bytes()[1..]);
    out.extend_from_slice(&[ts[1], ts[2], ts[3], ts[0]]);
    out.extend_from_slice(&[0, 0, 0]);
    out.extend_from_slice(prefix);
    out.extend_from_slice(payload);
    out.extend_from_slice(&(size + 11).to_be_bytes());
}

/// One AMF0 value of the `onMetaData` array.
#[derive(Debug, Clone, PartialEq)]
pub enum AmfValue {
    Number(f64),
    Bool(bool),
    String(String),
}

/// The `onMetaData` script body: the string `onMetaData` and an ECMA array. AMF0 numbers are
/// IEEE doubles by the format's definition; this is the only place onair writes them.
pub fn metadata_body(entries: &[(&str, AmfValue)]) -> Vec<u8> {
    let mut b = Vec::new();
    amf_string(&mut b, "onMetaData");
    b.push(0x08); // ECMA array
    b.extend_from_slice(&(entries.len() as u32).to_be_bytes());
    for (key, value) in entries {
        b.extend_from_slice(&(key.len() as u16).to_be_bytes());
        b.extend_from_slice(key.as_bytes());
        match value {
            AmfValue::Number(n) => {
                b.push(0x00);
                b.extend_from_slice(&n.to_be_bytes());
            }
            AmfValue::Bool(v) => b.extend_from_slice(&[0x01, u8::from(*v)]),
            AmfValue::String(s) => amf_string(&mut b, s),
        }
    }
    b.extend_from_slice(&[0, 0, 9]); // object end
    b
}

fn amf_string(b: &mut Vec<u8>, s: &str) {
    b.push(0x02);
    b.extend_from_slice(&(s.len() as u16).to_be_bytes());
    b.extend_from_slice(s.as_bytes());
}

/// The metadata every FLV consumer looks for, from the stream descriptions.
pub fn stream_metadata(
    video: Option<&VideoConfig>,
    audio: Option<&AudioConfig>,
) -> Vec<(&'static str, AmfValue)> {
    let mut m = vec![
        ("duration", AmfValue::Number(0.0)),
        ("filesize", AmfValue::Number(0.0)),
    ];
    if let Some(v) = video {
        m.push(("width", AmfValue::Number(f64::from(v.width))));
        m.push(("height", AmfValue::Number(f64::from(v.height))));
        m.push((
            "framerate",
            AmfValue::Number(f64::from(v.frame_rate_num) / f64::from(v.frame_rate_den)),
        ));
        m.push(("videocodecid", AmfValue::Number(CODEC_AVC)));
        m.push((
            "videodatarate",
            AmfValue::Number(f64::from(v.bitrate_bps) / 1000.0),
        ));
    }
    if let Some(a) = audio {
        m.push(("audiocodecid", AmfValue::Number(CODEC_AAC)));
        m.push((
            "audiodatarate",
            AmfValue::Number(f64::from(a.bitrate_bps) / 1000.0),
        ));
        m.push((
            "audiosamplerate",
            AmfValue::Number(f64::from(a.sample_rate)),
        ));
        m.push(("audiosamplesize", AmfValue::Number(16.0)));
        m.push(("stereo", AmfValue::Bool(a.channels == 2)));
    }
    m.push((
        "encoder",
        AmfValue::String(concat!("onair ", env!("CARGO_PKG_VERSION")).into()),
    ));
    m
}

/// Writes an FLV file's bytes: header, metadata and sequence headers, then one tag per packet.
/// Packet times are relative to the output's zero. FLV has no edit list and no time before 0:
/// audio before the zero (an AAC decoder's pre-roll) is left out, so the first AAC frame
/// decodes without its predecessor (its first milliseconds fade in), as in any FLV.
pub struct FlvMuxer {
    video: Option<VideoConfig>,
    audio: Option<AudioConfig>,
    /// Bytes returned so far (the file offset of the next byte).
    offset: u64,
    /// File offsets of the `duration` and `filesize` doubles in `onMetaData`.
    duration_at: u64,
    filesize_at: u64,
    end: MediaTime,
}

impl FlvMuxer {
    pub fn new(video: Option<VideoConfig>, audio: Option<AudioConfig>) -> Self {
        Self {
            video,
            audio,
            offset: 0,
            duration_at: 0,
            filesize_at: 0,
            end: MediaTime::ZERO,
        }
    }

    /// The start of the file: header, `onMetaData`, and the sequence headers at time 0.
    pub fn header(&mut self) -> Vec<u8> {
        let mut out = file_header(self.video.is_some(), self.audio.is_some()).to_vec();
        let body = metadata_body(&stream_metadata(self.video.as_ref(), self.audio.as_ref()));
        // "duration" is the first entry: 13 file bytes + 11 tag header + 13 ("onMetaData") +
        // 5 (array marker, count) + 2 + 8 (key) + 1 (number marker).
        self.duration_at = out.len() as u64 + 11 + 13 + 5 + 2 + 8 + 1;
        self.filesize_at = self.duration_at + 8 + 2 + 8 + 1;
        tag_into(&mut out, TAG_SCRIPT, 0, &body);
        if let Some(v) = &self.video {
            tag_into(&mut out, TAG_VIDEO, 0, &video_sequence_header_body(v));
        }
        if let Some(a) = &self.audio {
            tag_into(&mut out, TAG_AUDIO, 0, &audio_sequence_header_body(a));
        }
        self.offset = out.len() as u64;
        out
    }

    /// One packet as a whole tag.
    pub fn packet(&mut self, pkt: &EncodedPacket) -> Vec<u8> {
        let mut out = Vec::new();
        self.packet_into(pkt, &mut out);
        out
    }

    /// One packet as a whole tag, appended to `out` (a buffer the caller reuses: no allocation
    /// per packet once it has grown, and the payload is copied once). Nothing for a packet
    /// before the zero.
    pub fn packet_into(&mut self, pkt: &EncodedPacket, out: &mut Vec<u8>) {
        if pkt.dts < MediaTime::ZERO {
            return;
        }
        let ts = timestamp_ms(pkt.dts);
        let before = out.len();
        match pkt.kind {
            StreamKind::Video => {
                let cts = ((pkt.pts - pkt.dts).to_ticks(Timebase::MILLIS) as i32).to_be_bytes();
                let key = if pkt.keyframe { 0x17 } else { 0x27 };
                let prefix = [key, 0x01, cts[1], cts[2], cts[3]];
                tag_parts_into(out, TAG_VIDEO, ts, &prefix, &pkt.data);
            }
            StreamKind::Audio => tag_parts_into(out, TAG_AUDIO, ts, &[0xAF, 0x01], &pkt.data),
        }
        self.end = self.end.max(pkt.pts + pkt.duration);
        self.offset += (out.len() - before) as u64;
    }

    /// The end-of-sequence tag to append, then the in-place patches (file offset, bytes) that
    /// fill in `duration` and `filesize` in `onMetaData`.
    pub fn finalize(&mut self) -> (Vec<u8>, Vec<(u64, [u8; 8])>) {
        let mut tail = Vec::new();
        if self.video.is_some() {
            tag_into(
                &mut tail,
                TAG_VIDEO,
                timestamp_ms(self.end),
                &video_end_of_sequence_body(),
            );
        }
        self.offset += tail.len() as u64;
        let millis = self.end.to_ticks(Timebase::MILLIS);
        let duration = millis as f64 / 1000.0;
        let patches = vec![
            (self.duration_at, duration.to_be_bytes()),
            (self.filesize_at, (self.offset as f64).to_be_bytes()),
        ];
        (tail, patches)
    }
}

/// FLV's 32-bit millisecond timestamp (wrapping, as the format and RTMP do).
pub fn timestamp_ms(t: MediaTime) -> u32 {
    Timebase::MILLIS.time_to_ticks(t).rem_euclid(1 << 32) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn configs() -> (VideoConfig, AudioConfig) {
        (
            VideoConfig {
                keyframe_interval_frames: 60,
                width: 1280,
                height: 720,
                frame_rate_num: 30,
                frame_rate_den: 1,
                bitrate_bps: 3_000_000,
                avcc: Bytes::from_static(&[1, 66, 0xC0, 31, 0xFF, 0xE1, 0, 1, 0x67, 1, 0, 1, 0x68]),
            },
            AudioConfig {
                codec: crate::media::AudioCodec::Aac,
                sample_rate: 48_000,
                channels: 2,
                bitrate_bps: 160_000,
                asc: Bytes::from_static(&[0x11, 0x90]),
            },
        )
    }

    #[test]
    fn tag_layout_matches_the_spec() {
        let t = tag(TAG_AUDIO, 0x0102_0304, &[0xAF, 0x01, 0xAA]);
        assert_eq!(
            t,
            vec![
                8, 0, 0, 3, 0x02, 0x03, 0x04, 0x01, 0, 0, 0, 0xAF, 0x01, 0xAA, 0, 0, 0, 14
            ]
        );
        assert_eq!(
            file_header(true, true),
            [b'F', b'L', b'V', 1, 5, 0, 0, 0, 9, 0, 0, 0, 0]
        );
        assert_eq!(video_frame_body(false, 0, &[9])[..5], [0x27, 1, 0, 0, 0]);
        assert_eq!(video_frame_body(true, 66, &[9])[..5], [0x17, 1, 0, 0, 66]);
    }

    #[test]
    fn metadata_is_amf0_and_patches_land_on_the_numbers() {
        let (v, a) = configs();
        let mut m = FlvMuxer::new(Some(v), Some(a));
        let mut file = m.header();
        // The bytes at the patch offsets are the AMF numbers 0.0 behind "duration"/"filesize".
        assert_eq!(
            &file[m.duration_at as usize - 9..m.duration_at as usize - 1],
            b"duration"
        );
        assert_eq!(
            &file[m.filesize_at as usize - 9..m.filesize_at as usize - 1],
            b"filesize"
        );
        let pkt = EncodedPacket {
            kind: StreamKind::Video,
            pts: MediaTime::from_millis(2_000),
            dts: MediaTime::from_millis(2_000),
            duration: MediaTime::from_millis(33),
            keyframe: true,
            data: Bytes::from_static(&[0, 0, 0, 1, 0x65]),
        };
        file.extend(m.packet(&pkt));
        let (tail, patches) = m.finalize();
        file.extend(tail);
        for (at, bytes) in patches {
            file[at as usize..at as usize + 8].copy_from_slice(&bytes);
        }
        let num =
            |at: u64| f64::from_be_bytes(file[at as usize..at as usize + 8].try_into().unwrap());
        assert_eq!(num(m.duration_at), 2.033);
        assert_eq!(num(m.filesize_at), file.len() as f64);
        // The last PreviousTagSize matches the last tag.
        let n = file.len();
        let last = u32::from_be_bytes(file[n - 4..].try_into().unwrap()) as usize;
        assert_eq!(file[n - 4 - last], TAG_VIDEO);
    }

    #[test]
    fn timestamps_wrap_like_the_format() {
        assert_eq!(timestamp_ms(MediaTime::from_millis(1 << 32)), 0);
        assert_eq!(timestamp_ms(MediaTime::from_millis((1 << 32) + 5)), 5);
    }
}
