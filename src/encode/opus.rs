//! Opus through libopus (the `opus` crate): 48 kHz stereo, 20 ms frames, for WebRTC outputs
//! (WebRTC has no AAC). The engine runs it only while a WHIP output exists.
//!
//! Time comes from the sample count, as AAC's does: packet `k` covers input samples
//! `k*960 - lookahead ..`, anchored once to the time of the first input chunk. A packet that
//! would start before the anchor (only the first, holding the encoder's priming) keeps the
//! anchor as its time: RTP has no negative times, and 6.5 ms is far below a video frame.

use bytes::Bytes;

use super::EncodeError;
use crate::media::frame::{AUDIO_CHANNELS, AUDIO_RATE_HZ};
use crate::media::{
    AudioChunk, AudioCodec, AudioConfig, EncodedPacket, MediaTime, StreamKind, Timebase,
};

/// Samples per channel in one Opus packet: 20 ms, WebRTC's usual frame.
pub const OPUS_FRAME_SAMPLES: i64 = 960;
/// The largest packet libopus may return (its recommended buffer size).
const MAX_PACKET_BYTES: usize = 4_000;

pub struct OpusEncoder {
    encoder: opus::Encoder,
    config: AudioConfig,
    /// Encoder look-ahead in samples per channel.
    lookahead: i64,
    /// Engine time of input sample 0.
    anchor: Option<MediaTime>,
    /// Interleaved input not yet encoded (less than one frame).
    pending: Vec<i16>,
    /// Packets produced so far.
    packets_out: i64,
    out_buf: Vec<u8>,
}

fn opus_err(e: opus::Error) -> EncodeError {
    EncodeError::Opus(e.to_string())
}

impl OpusEncoder {
    pub fn new(bitrate_bps: u32) -> Result<Self, EncodeError> {
        let mut encoder = opus::Encoder::new(
            AUDIO_RATE_HZ,
            opus::Channels::Stereo,
            opus::Application::Audio,
        )
        .map_err(opus_err)?;
        // libopus accepts 6..510 kbit/s; the presets' AAC rates (128-160) are well inside.
        let bitrate = bitrate_bps.clamp(6_000, 510_000);
        encoder
            .set_bitrate(opus::Bitrate::Bits(bitrate as i32))
            .map_err(opus_err)?;
        // Receivers ask for in-band FEC in the SDP (useinbandfec=1); it costs bits only when
        // told of loss.
        encoder.set_inband_fec(true).map_err(opus_err)?;
        let lookahead = i64::from(encoder.get_lookahead().map_err(opus_err)?);
        Ok(Self {
            encoder,
            config: AudioConfig {
                codec: AudioCodec::Opus,
                sample_rate: AUDIO_RATE_HZ,
                channels: AUDIO_CHANNELS as u16,
                bitrate_bps: bitrate,
                asc: Bytes::new(),
            },
            lookahead,
            anchor: None,
            pending: Vec::with_capacity(OPUS_FRAME_SAMPLES as usize * AUDIO_CHANNELS * 2),
            packets_out: 0,
            out_buf: vec![0; MAX_PACKET_BYTES],
        })
    }

    /// The stream description (constant: 48 kHz stereo).
    pub fn config(&self) -> &AudioConfig {
        &self.config
    }

    /// The stream description any Opus encoder of this engine has, known before one runs.
    pub fn stream_config(bitrate_bps: u32) -> AudioConfig {
        AudioConfig {
            codec: AudioCodec::Opus,
            sample_rate: AUDIO_RATE_HZ,
            channels: AUDIO_CHANNELS as u16,
            bitrate_bps: bitrate_bps.clamp(6_000, 510_000),
            asc: Bytes::new(),
        }
    }

    /// The encoder's look-ahead in samples per channel (312 at 48 kHz in libopus 1.x).
    pub fn lookahead_samples(&self) -> i64 {
        self.lookahead
    }

    /// Encodes a chunk; returns the packets that became complete (20 ms each).
    pub fn encode(&mut self, chunk: &AudioChunk) -> Result<Vec<EncodedPacket>, EncodeError> {
        self.anchor.get_or_insert(chunk.pts);
        self.pending.extend_from_slice(&chunk.samples);
        let frame_len = OPUS_FRAME_SAMPLES as usize * AUDIO_CHANNELS;
        let mut out = Vec::new();
        let mut used = 0;
        while self.pending.len() - used >= frame_len {
            let n = self
                .encoder
                .encode(&self.pending[used..used + frame_len], &mut self.out_buf)
                .map_err(opus_err)?;
            used += frame_len;
            out.push(self.packet(n));
        }
        self.pending.drain(..used);
        Ok(out)
    }

    fn packet(&mut self, size: usize) -> EncodedPacket {
        let tb = Timebase::AUDIO_48K;
        let k = self.packets_out;
        self.packets_out += 1;
        let first_sample = (k * OPUS_FRAME_SAMPLES - self.lookahead).max(0);
        let pts = self
            .anchor
            .unwrap_or(MediaTime::ZERO)
            .add_ticks(first_sample, tb);
        EncodedPacket {
            kind: StreamKind::Audio,
            pts,
            dts: pts,
            duration: tb.ticks_to_time(OPUS_FRAME_SAMPLES),
            keyframe: true,
            data: Bytes::copy_from_slice(&self.out_buf[..size]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::AudioInput;
    use crate::capture::tone::Tone;

    fn encode_tone(enc: &mut OpusEncoder, anchor: MediaTime, chunks: u64) -> Vec<EncodedPacket> {
        let mut tone = Tone::new();
        let mut packets = Vec::new();
        for c in 0..chunks {
            // The tone is a mixer input (f32); the encoder takes the engine's i16.
            let mut wave = vec![0f32; 480 * 2];
            tone.fill(c * 480, &mut wave);
            let samples = wave.iter().map(|v| (v * 32768.0) as i16).collect();
            let pts = anchor.add_ticks((c * 480) as i64, Timebase::AUDIO_48K);
            packets.extend(enc.encode(&AudioChunk { pts, samples }).unwrap());
        }
        packets
    }

    #[test]
    fn twenty_ms_packets_timed_by_the_sample_count() {
        let mut enc = OpusEncoder::new(128_000).unwrap();
        assert_eq!(enc.config().codec, AudioCodec::Opus);
        let la = enc.lookahead_samples();
        assert!((100..1000).contains(&la), "{la}");
        let anchor = MediaTime::from_millis(40);
        // 1 s of 10 ms chunks: 50 packets of 20 ms.
        let packets = encode_tone(&mut enc, anchor, 100);
        assert_eq!(packets.len(), 50);
        assert_eq!(packets[0].pts, anchor);
        for (k, p) in packets.iter().enumerate().skip(1) {
            assert_eq!(
                p.pts,
                anchor.add_ticks(k as i64 * 960 - la, Timebase::AUDIO_48K)
            );
            assert_eq!(p.duration, MediaTime::from_millis(20));
            assert!(!p.data.is_empty() && p.data.len() < MAX_PACKET_BYTES);
        }
    }

    #[test]
    fn the_beep_decodes_back_where_it_was() {
        // The tone beeps at each whole second: decode and find the first loud sample.
        let mut enc = OpusEncoder::new(128_000).unwrap();
        let packets = encode_tone(&mut enc, MediaTime::ZERO, 250);
        let mut dec = opus::Decoder::new(48_000, opus::Channels::Stereo).unwrap();
        let mut pcm = Vec::new();
        let mut buf = vec![0i16; 960 * 2];
        for p in &packets {
            let n = dec.decode(&p.data, &mut buf, false).unwrap();
            pcm.extend_from_slice(&buf[..n * 2]);
        }
        // Decoded sample j is input sample j - lookahead: the beep at 1 s (48000).
        let first_loud = pcm
            .chunks_exact(2)
            .enumerate()
            .skip(24_000)
            .find(|(_, s)| s[0].unsigned_abs() > 3000)
            .map(|(i, _)| i as i64)
            .unwrap();
        let at_input = first_loud - enc.lookahead_samples();
        assert!(
            (at_input - 48_000).abs() < 48,
            "beep decoded at input sample {at_input}"
        );
    }
}
