//! AAC-LC through fdk-aac: 48 kHz stereo, constant bitrate, raw access units.
//!
//! Time comes from the sample count: packet `k` covers input samples `k*1024 - delay ..`, where
//! `delay` is the encoder's own look-ahead (reported by the library), anchored once to the time
//! of the first input chunk. Packets that only carry the encoder's priming (before the anchor)
//! are dropped, so each output's audio starts on real samples.

use bytes::Bytes;
use fdk_aac::enc::{AudioObjectType, BitRate, ChannelMode, Encoder, EncoderParams, Transport};

use super::EncodeError;
use crate::media::frame::{AUDIO_CHANNELS, AUDIO_RATE_HZ};
use crate::media::{AudioChunk, AudioConfig, EncodedPacket, MediaTime, StreamKind, Timebase};

/// Samples per channel in one AAC-LC access unit.
pub const AAC_FRAME_SAMPLES: i64 = 1024;

pub struct AacEncoder {
    encoder: Encoder,
    config: AudioConfig,
    /// Encoder look-ahead in samples per channel.
    delay: i64,
    /// Engine time of input sample 0.
    anchor: Option<MediaTime>,
    /// Input samples (per channel) given to the encoder so far.
    samples_in: i64,
    /// Access units produced so far (including dropped priming ones).
    units_out: i64,
    out_buf: Vec<u8>,
    timebase: Timebase,
}

impl AacEncoder {
    pub fn new(bitrate_bps: u32) -> Result<Self, EncodeError> {
        let encoder = Encoder::new(EncoderParams {
            bit_rate: BitRate::Cbr(bitrate_bps),
            sample_rate: AUDIO_RATE_HZ,
            transport: Transport::Raw,
            channels: ChannelMode::Stereo,
            audio_object_type: AudioObjectType::Mpeg4LowComplexity,
        })
        .map_err(|e| EncodeError::Aac(e.to_string()))?;
        let info = encoder
            .info()
            .map_err(|e| EncodeError::Aac(e.to_string()))?;
        let asc_len = (info.confSize as usize).min(info.confBuf.len());
        let config = AudioConfig {
            codec: crate::media::AudioCodec::Aac,
            sample_rate: AUDIO_RATE_HZ,
            channels: AUDIO_CHANNELS as u16,
            bitrate_bps,
            asc: Bytes::copy_from_slice(&info.confBuf[..asc_len]),
        };
        Ok(Self {
            encoder,
            config,
            delay: i64::from(info.nDelay),
            anchor: None,
            samples_in: 0,
            units_out: 0,
            out_buf: vec![0; (info.maxOutBufBytes as usize).max(8192)],
            timebase: Timebase::AUDIO_48K,
        })
    }

    pub fn config(&self) -> &AudioConfig {
        &self.config
    }

    /// The encoder's look-ahead in samples per channel.
    pub fn delay_samples(&self) -> i64 {
        self.delay
    }

    /// Encodes a chunk; returns the access units that became complete.
    pub fn encode(&mut self, chunk: &AudioChunk) -> Result<Vec<EncodedPacket>, EncodeError> {
        self.anchor.get_or_insert(chunk.pts);
        let mut out = Vec::new();
        let mut input = &chunk.samples[..];
        while !input.is_empty() {
            let info = self
                .encoder
                .encode(input, &mut self.out_buf)
                .map_err(|e| EncodeError::Aac(e.to_string()))?;
            input = &input[info.input_consumed.min(input.len())..];
            self.samples_in += (info.input_consumed / AUDIO_CHANNELS) as i64;
            if info.output_size > 0 {
                self.emit(info.output_size, &mut out);
            } else if info.input_consumed == 0 {
                break;
            }
        }
        Ok(out)
    }

    /// Pushes the encoder's look-ahead out with silence and returns every access unit that
    /// still holds real input; nothing after the last real sample.
    pub fn flush(&mut self) -> Result<Vec<EncodedPacket>, EncodeError> {
        let mut out = Vec::new();
        let Some(anchor) = self.anchor else {
            return Ok(out);
        };
        let real_end = self.samples_in;
        let silence = vec![0i16; AAC_FRAME_SAMPLES as usize * AUDIO_CHANNELS];
        // Enough silence to push the last real sample through the look-ahead.
        let mut guard = 0;
        while self.units_out * AAC_FRAME_SAMPLES - self.delay < real_end && guard < 16 {
            guard += 1;
            let info = self
                .encoder
                .encode(&silence, &mut self.out_buf)
                .map_err(|e| EncodeError::Aac(e.to_string()))?;
            self.samples_in += (info.input_consumed / AUDIO_CHANNELS) as i64;
            if info.output_size > 0 {
                self.emit(info.output_size, &mut out);
            }
        }
        // Drop units that start at or after the end of the real input.
        let end = anchor.add_ticks(real_end, self.timebase);
        out.retain(|p| p.pts < end);
        Ok(out)
    }

    fn emit(&mut self, size: usize, out: &mut Vec<EncodedPacket>) {
        let k = self.units_out;
        self.units_out += 1;
        let first_sample = k * AAC_FRAME_SAMPLES - self.delay;
        if first_sample < 0 {
            return; // priming only
        }
        let anchor = self.anchor.unwrap_or(MediaTime::ZERO);
        let pts = anchor.add_ticks(first_sample, self.timebase);
        out.push(EncodedPacket {
            kind: StreamKind::Audio,
            pts,
            dts: pts,
            duration: self.timebase.ticks_to_time(AAC_FRAME_SAMPLES),
            keyframe: true,
            data: Bytes::copy_from_slice(&self.out_buf[..size]),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::AudioSource;
    use crate::capture::tone::Tone;

    #[test]
    fn asc_is_aac_lc_48k_stereo_and_time_follows_samples() {
        let mut enc = AacEncoder::new(160_000).unwrap();
        assert_eq!(&enc.config().asc[..], &[0x11, 0x90]);
        let mut tone = Tone::new();
        let mut packets = Vec::new();
        let chunk_frames = 480;
        let anchor = MediaTime::from_millis(40);
        for c in 0..100u64 {
            let mut samples = vec![0i16; chunk_frames * 2];
            tone.fill(c * chunk_frames as u64, &mut samples);
            let pts = anchor.add_ticks((c * chunk_frames as u64) as i64, Timebase::AUDIO_48K);
            packets.extend(enc.encode(&AudioChunk { pts, samples }).unwrap());
        }
        packets.extend(enc.flush().unwrap());
        // 48000 samples in: ceil(48000/1024) = 47 access units, the last one partial.
        assert_eq!(packets.len(), 47);
        for (k, p) in packets.iter().enumerate() {
            assert_eq!(
                p.pts,
                anchor.add_ticks(k as i64 * 1024, Timebase::AUDIO_48K)
            );
            assert!(!p.data.is_empty());
        }
        // CBR 160 kbit/s is 426.7 bytes per 1024-sample unit, silence included.
        let total: usize = packets.iter().map(|p| p.data.len()).sum();
        let per_unit = total / packets.len();
        assert!((400..450).contains(&per_unit), "{per_unit}");
        assert_eq!(enc.delay_samples(), 2048, "AAC-LC look-ahead at 48 kHz");
    }
}
