//! fdk-aac's decoder for a video file's sound, set up to add no delay of its own.
//!
//! By default the decoder delays its output by a frame (its "energy interpolation" error
//! concealment keeps one frame back) and by its PCM limiter's 15 ms attack: 1024 + 661
//! samples at 44.1 kHz, 38 ms, so a file's sound came that much after its picture. Here the
//! concealment is noise substitution (no delay; what ffmpeg's libfdk_aac wrapper uses too)
//! and the limiter is off (the program's limiter follows in the mixer). The fdk-aac crate's
//! decoder has no way to set either, so this calls the C API (fdk-aac-sys, the crate's own).

use fdk_aac_sys as sys;

/// Noise substitution: conceals a broken frame without holding one back.
const CONCEAL_NOISE_SUBSTITUTION: i32 = 1;

pub(super) struct AacDecoder {
    handle: sys::HANDLE_AACDECODER,
}

// SAFETY: the handle is owned by this value alone and used from one thread at a time
// (`&mut self`); libfdk-aac keeps no thread-local state.
#[allow(unsafe_code)]
unsafe impl Send for AacDecoder {}

/// What one decoded frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FrameInfo {
    pub rate: u32,
    /// Samples per channel.
    pub frames: usize,
    /// Samples per channel the decoder still delays its output by (0 as set up here for
    /// AAC-LC; SBR or MPEG Surround would add theirs).
    pub delay: u32,
}

impl AacDecoder {
    /// A raw (MP4) AAC decoder for the AudioSpecificConfig `config`, giving stereo.
    #[allow(unsafe_code)] // FFI calls, see SAFETY
    pub fn new(config: &[u8]) -> Result<AacDecoder, String> {
        // SAFETY: aacDecoder_Open returns an owned handle or null (checked).
        let handle = unsafe { sys::aacDecoder_Open(sys::TRANSPORT_TYPE_TT_MP4_RAW, 1) };
        if handle.is_null() {
            return Err("cannot start fdk-aac's decoder".into());
        }
        let decoder = AacDecoder { handle };
        let mut asc = config.as_ptr().cast_mut();
        let len = u32::try_from(config.len()).map_err(|_| "an AAC configuration too long")?;
        // SAFETY: the handle is open; ConfigRaw reads `len` bytes at `asc` (one buffer),
        // which outlive the call.
        let rc = unsafe { sys::aacDecoder_ConfigRaw(decoder.handle, &raw mut asc, &raw const len) };
        if rc != sys::AAC_DECODER_ERROR_AAC_DEC_OK {
            return Err(format!("its AAC configuration is refused (code {rc:#x})"));
        }
        for (param, value) in [
            // Mono comes out as two equal channels; more than two are mixed down.
            (sys::AACDEC_PARAM_AAC_PCM_MIN_OUTPUT_CHANNELS, 2),
            (sys::AACDEC_PARAM_AAC_PCM_MAX_OUTPUT_CHANNELS, 2),
            (
                sys::AACDEC_PARAM_AAC_CONCEAL_METHOD,
                CONCEAL_NOISE_SUBSTITUTION,
            ),
            (sys::AACDEC_PARAM_AAC_PCM_LIMITER_ENABLE, 0),
        ] {
            // SAFETY: the handle is open; SetParam takes plain values.
            let rc = unsafe { sys::aacDecoder_SetParam(decoder.handle, param, value) };
            if rc != sys::AAC_DECODER_ERROR_AAC_DEC_OK {
                return Err(format!(
                    "fdk-aac refused decoder setting {param} = {value} (code {rc:#x})"
                ));
            }
        }
        Ok(decoder)
    }

    /// Decodes the access unit `unit` into `pcm` (interleaved stereo): what the frame is, or
    /// an error code (a broken frame: the caller skips it).
    #[allow(unsafe_code)] // FFI calls, see SAFETY
    pub fn decode(&mut self, unit: &[u8], pcm: &mut [i16]) -> Result<FrameInfo, String> {
        let mut data = unit.as_ptr().cast_mut();
        let len = u32::try_from(unit.len()).map_err(|_| "an AAC frame too long")?;
        let mut left = len;
        // SAFETY: the handle is open; Fill copies up to `len` bytes from `data` into its own
        // buffer and writes what it did not take into `left`.
        let rc = unsafe {
            sys::aacDecoder_Fill(self.handle, &raw mut data, &raw const len, &raw mut left)
        };
        if rc != sys::AAC_DECODER_ERROR_AAC_DEC_OK {
            return Err(format!("AAC decoding fails (code {rc:#x})"));
        }
        let room = i32::try_from(pcm.len()).unwrap_or(i32::MAX);
        // SAFETY: DecodeFrame writes at most `room` samples into `pcm`.
        let rc = unsafe { sys::aacDecoder_DecodeFrame(self.handle, pcm.as_mut_ptr(), room, 0) };
        if rc != sys::AAC_DECODER_ERROR_AAC_DEC_OK {
            return Err(format!("code {rc:#x}"));
        }
        // SAFETY: GetStreamInfo returns a pointer into the open decoder (or null), valid
        // until the next call on it; copied out here.
        let info = unsafe { sys::aacDecoder_GetStreamInfo(self.handle).as_ref() }
            .ok_or("fdk-aac gave no stream information")?;
        Ok(FrameInfo {
            rate: u32::try_from(info.sampleRate).unwrap_or(0),
            frames: usize::try_from(info.frameSize).unwrap_or(0),
            delay: info.outputDelay,
        })
    }
}

impl Drop for AacDecoder {
    #[allow(unsafe_code)] // one FFI call
    fn drop(&mut self) {
        // SAFETY: the handle is open and closed only here.
        unsafe { sys::aacDecoder_Close(self.handle) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fdk_aac::enc::{AudioObjectType, BitRate, ChannelMode, Encoder, EncoderParams, Transport};

    /// A beep encoded by fdk-aac's encoder comes out of the decoder where it went in, less
    /// the encoder's own delay: the decoder adds none (it added 1024 + 720 samples at 48 kHz
    /// with its defaults).
    #[test]
    fn the_decoder_adds_no_delay() {
        let enc = Encoder::new(EncoderParams {
            bit_rate: BitRate::Cbr(128_000),
            sample_rate: 48_000,
            transport: Transport::Raw,
            channels: ChannelMode::Stereo,
            audio_object_type: AudioObjectType::Mpeg4LowComplexity,
        })
        .unwrap();
        let info = enc.info().unwrap();
        let config = &info.confBuf[..info.confSize as usize];
        let encoder_delay = info.nDelay as usize;
        // 10 frames of silence, a 1 kHz beep from sample 4800 on.
        let beep_at = 4800;
        let input: Vec<i16> = (0..48_000usize)
            .flat_map(|i| {
                let v = if i >= beep_at {
                    (16_000.0 * (i as f64 * 2.0 * std::f64::consts::PI / 48.0).sin()) as i16
                } else {
                    0
                };
                [v, v]
            })
            .collect();
        let mut dec = AacDecoder::new(config).unwrap();
        let mut out = Vec::new();
        let mut pcm = vec![0i16; 2048 * 8];
        let mut unit = vec![0u8; 8192];
        for chunk in input.chunks(2048) {
            let r = enc.encode(chunk, &mut unit).unwrap();
            if r.output_size == 0 {
                continue;
            }
            let f = dec.decode(&unit[..r.output_size], &mut pcm).unwrap();
            assert_eq!(f.delay, 0, "the decoder's own delay");
            out.extend_from_slice(&pcm[..f.frames * 2]);
        }
        let onset = out
            .chunks_exact(2)
            .position(|f| f[0].unsigned_abs() > 2000)
            .unwrap();
        let want = beep_at + encoder_delay;
        assert!(
            onset.abs_diff(want) <= 64,
            "beep decoded at {onset}, put in at {beep_at} (+ {encoder_delay} encoder delay)"
        );
    }
}
