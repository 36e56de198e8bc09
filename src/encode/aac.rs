//! AAC-LC through fdk-aac: 48 kHz stereo, constant bitrate, raw access units.
//!
//! Time comes from the sample count on the engine's sample clock: input sample `n` is the
//! engine's sample `anchor + n` (the anchor is the first chunk's time), and packet `k` covers
//! input samples `k*1024 - delay ..`, where `delay` is the encoder's own look-ahead (reported by
//! the library). A chunk that never arrived (dropped upstream) leaves a gap in the chunks'
//! positions; the encoder is given silence of exactly that length, so the count stays the
//! engine's clock and every later sample keeps its time, whatever was lost.
//!
//! The first packets hold only the encoder's priming (input before the anchor, zeros). They are
//! kept, stamped before the anchor: an output gives its decoder the packet before its first one
//! as pre-roll, and an MP4 edit list hides it (see `format::mp4`).

use bytes::Bytes;
use fdk_aac::enc::{AudioObjectType, BitRate, ChannelMode, Encoder, EncoderParams, Transport};

use super::EncodeError;
use crate::media::frame::{AUDIO_CHANNELS, AUDIO_RATE_HZ};
use crate::media::{AudioChunk, AudioConfig, EncodedPacket, MediaTime, StreamKind, Timebase};

/// Samples per channel in one AAC-LC access unit.
pub const AAC_FRAME_SAMPLES: i64 = 1024;

/// One access unit of silence, fed for gaps and to push the look-ahead out at the end.
static SILENCE: [i16; AAC_FRAME_SAMPLES as usize * AUDIO_CHANNELS] =
    [0; AAC_FRAME_SAMPLES as usize * AUDIO_CHANNELS];

pub struct AacEncoder {
    encoder: Encoder,
    config: AudioConfig,
    /// Encoder look-ahead in samples per channel.
    delay: i64,
    /// Engine time of input sample 0.
    anchor: Option<MediaTime>,
    /// Input samples (per channel) given to the encoder so far, silence for gaps included.
    samples_in: i64,
    /// Samples of silence given in place of chunks that never arrived.
    filled: u64,
    /// Access units produced so far (priming ones included).
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
            filled: 0,
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

    /// Samples (per channel) of silence given so far in place of chunks that never arrived.
    pub fn filled_samples(&self) -> u64 {
        self.filled
    }

    /// Encodes a chunk; returns the access units that became complete.
    ///
    /// The chunk is placed by its own time: after a gap (chunks dropped upstream) the encoder
    /// first gets silence of the gap's exact length; samples overlapping what was already
    /// encoded (which the engine's sources never send) are skipped.
    pub fn encode(&mut self, chunk: &AudioChunk) -> Result<Vec<EncodedPacket>, EncodeError> {
        let anchor = *self.anchor.get_or_insert(chunk.pts);
        let at = (chunk.pts - anchor).to_ticks(self.timebase);
        let mut out = Vec::new();
        let mut input = &chunk.samples[..];
        if at > self.samples_in {
            let mut gap = at - self.samples_in;
            self.filled += gap as u64;
            while gap > 0 {
                let n = gap.min(AAC_FRAME_SAMPLES);
                self.feed(&SILENCE[..n as usize * AUDIO_CHANNELS], &mut out)?;
                gap -= n;
            }
        } else if at < self.samples_in {
            let overlap = usize::try_from(self.samples_in - at).unwrap_or(usize::MAX);
            input = input
                .get(overlap.saturating_mul(AUDIO_CHANNELS)..)
                .unwrap_or_default();
        }
        self.feed(input, &mut out)?;
        Ok(out)
    }

    /// Gives `input` (interleaved) to the encoder; completed access units go to `out`.
    fn feed(&mut self, mut input: &[i16], out: &mut Vec<EncodedPacket>) -> Result<(), EncodeError> {
        while !input.is_empty() {
            let info = self
                .encoder
                .encode(input, &mut self.out_buf)
                .map_err(|e| EncodeError::Aac(e.to_string()))?;
            input = &input[info.input_consumed.min(input.len())..];
            self.samples_in += (info.input_consumed / AUDIO_CHANNELS) as i64;
            if info.output_size > 0 {
                self.emit(info.output_size, out);
            } else if info.input_consumed == 0 {
                break;
            }
        }
        Ok(())
    }

    /// Pushes the encoder's look-ahead out with silence and returns every access unit that
    /// still holds real input; nothing after the last real sample.
    pub fn flush(&mut self) -> Result<Vec<EncodedPacket>, EncodeError> {
        let mut out = Vec::new();
        let Some(anchor) = self.anchor else {
            return Ok(out);
        };
        let real_end = self.samples_in;
        // Enough silence to push the last real sample through the look-ahead.
        let mut guard = 0;
        while self.units_out * AAC_FRAME_SAMPLES - self.delay < real_end && guard < 16 {
            guard += 1;
            let info = self
                .encoder
                .encode(&SILENCE, &mut self.out_buf)
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
        // Negative for the priming packets: they lie before the anchor.
        let first_sample = k * AAC_FRAME_SAMPLES - self.delay;
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
    use crate::capture::AudioInput;
    use crate::capture::tone::Tone;

    const CHUNK: usize = 480;

    /// Encodes `seconds` of the tone in 10 ms chunks from `anchor`, leaving out the chunks
    /// `skip` (as a full queue drops them); flushes.
    fn encode_tone(
        seconds: u64,
        anchor: MediaTime,
        skip: std::ops::Range<u64>,
    ) -> (AacEncoder, Vec<EncodedPacket>) {
        let mut enc = AacEncoder::new(160_000).unwrap();
        let mut tone = Tone::new();
        let mut packets = Vec::new();
        for c in 0..seconds * 100 {
            if skip.contains(&c) {
                continue;
            }
            // The tone is a mixer input (f32); the encoder takes the engine's i16.
            let mut wave = vec![0f32; CHUNK * 2];
            tone.fill(c * CHUNK as u64, &mut wave);
            let samples = wave.iter().map(|v| (v * 32768.0) as i16).collect();
            let pts = anchor.add_ticks((c * CHUNK as u64) as i64, Timebase::AUDIO_48K);
            packets.extend(enc.encode(&AudioChunk { pts, samples }).unwrap());
        }
        packets.extend(enc.flush().unwrap());
        (enc, packets)
    }

    /// Decodes `packets` with fdk-aac; the left channel.
    fn decode(packets: &[EncodedPacket]) -> Vec<i16> {
        let mut dec = fdk_aac::dec::Decoder::new(fdk_aac::dec::Transport::Raw);
        dec.config_raw(&[0x11, 0x90]).unwrap();
        let mut pcm = vec![0i16; 8192];
        let mut left = Vec::new();
        for p in packets {
            dec.fill(&p.data).unwrap();
            dec.decode_frame(&mut pcm).unwrap();
            let n = dec.decoded_frame_size();
            left.extend(pcm[..n].iter().step_by(2));
        }
        left
    }

    /// Sample indices where the tone starts (first sample above a third of its amplitude after
    /// at least 0.5 s below it).
    fn onsets(left: &[i16]) -> Vec<usize> {
        let mut out = Vec::new();
        let mut quiet = 24_000;
        for (i, v) in left.iter().enumerate() {
            if v.unsigned_abs() > 2_700 {
                if quiet >= 24_000 {
                    out.push(i);
                }
                quiet = 0;
            } else {
                quiet += 1;
            }
        }
        out
    }

    #[test]
    fn asc_is_aac_lc_48k_stereo_and_time_follows_samples() {
        let anchor = MediaTime::from_millis(40);
        let (enc, packets) = encode_tone(1, anchor, 0..0);
        assert_eq!(&enc.config().asc[..], &[0x11, 0x90]);
        assert_eq!(enc.delay_samples(), 2048, "AAC-LC look-ahead at 48 kHz");
        // 48000 samples in: ceil(48000/1024) = 47 access units (the last one partial), after
        // the two that hold only the encoder's priming, stamped before the anchor.
        assert_eq!(packets.len(), 2 + 47);
        for (k, p) in packets.iter().enumerate() {
            assert_eq!(
                p.pts,
                anchor.add_ticks((k as i64 - 2) * 1024, Timebase::AUDIO_48K)
            );
            assert!(!p.data.is_empty());
        }
        // CBR 160 kbit/s is 426.7 bytes per 1024-sample unit, silence included.
        let total: usize = packets.iter().map(|p| p.data.len()).sum();
        let per_unit = total / packets.len();
        assert!((400..450).contains(&per_unit), "{per_unit}");
        assert_eq!(enc.filled_samples(), 0);
    }

    #[test]
    fn a_dropped_chunk_leaves_silence_of_its_length_and_later_samples_keep_their_time() {
        let anchor = MediaTime::from_millis(40);
        // 0.7 s of chunks lost from 0.3 s on (the queue was full during a stall).
        let (enc, packets) = encode_tone(3, anchor, 30..100);
        assert_eq!(enc.filled_samples(), 70 * CHUNK as u64);
        // Still one packet per 1024 samples of the engine's clock, nothing shortened.
        let (_, whole) = encode_tone(3, anchor, 0..0);
        assert_eq!(packets.len(), whole.len());
        for (k, p) in packets.iter().enumerate() {
            assert_eq!(
                p.pts,
                anchor.add_ticks((k as i64 - 2) * 1024, Timebase::AUDIO_48K)
            );
        }
        // Decoded, every beep (0 s, 1 s, 2 s) is where it is without the loss, and the gap
        // is silent.
        let left = decode(&packets);
        let reference = decode(&whole);
        let beeps = onsets(&left);
        assert_eq!(beeps, onsets(&reference));
        assert_eq!(beeps.len(), 3, "{beeps:?}");
        let lag = beeps[0];
        for (s, &at) in beeps.iter().enumerate() {
            assert_eq!(at, lag + s * 48_000, "beep {s}");
        }
        // 0.3 s to 1.0 s (less a frame either side for the codec's overlap) is silence.
        let gap = &left[lag + 14_400 + 1_024..lag + 48_000 - 1_024];
        assert!(
            gap.iter().all(|v| v.unsigned_abs() < 50),
            "the gap is silent"
        );
    }

    #[test]
    fn the_priming_packet_is_the_pre_roll_the_first_real_samples_need() {
        let (_, packets) = encode_tone(1, MediaTime::ZERO, 0..0);
        // Decoded from the first packet, from the priming packet just before the first real
        // one (its own output discarded, as an edit list does), and from the first real one.
        let all = decode(&packets);
        let primed = decode(&packets[1..]);
        let cold = decode(&packets[2..]);
        // The first real packet's samples: where they come out in each decode.
        let first = onsets(&all)[0] - 3;
        let real = &all[first..first + 1024];
        let diff = |other: &[i16]| -> u32 {
            real.iter()
                .zip(other)
                .map(|(a, b)| u32::from(a.abs_diff(*b)))
                .max()
                .unwrap()
        };
        assert!(diff(&primed[first - 1024..first]) < 100);
        assert!(diff(&cold[first - 2048..first - 1024]) > 2_000);
    }
}
