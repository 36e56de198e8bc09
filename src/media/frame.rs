//! Raw media: I420 video frames and 48 kHz stereo audio chunks.

use super::time::MediaTime;

/// The engine's audio format: 48 kHz, two interleaved channels, signed 16-bit samples.
pub const AUDIO_RATE_HZ: u32 = 48_000;
pub const AUDIO_CHANNELS: usize = 2;

/// One raw picture in I420 (planar Y, then U and V at half width and height), tightly packed.
#[derive(Clone)]
pub struct VideoFrame {
    pub width: u32,
    pub height: u32,
    /// Capture time on the engine clock.
    pub pts: MediaTime,
    /// Y plane (`width * height`), then U and V (`width/2 * height/2` each).
    pub data: Vec<u8>,
}

impl VideoFrame {
    /// A black frame of the given (even) size.
    pub fn black(width: u32, height: u32, pts: MediaTime) -> Self {
        let (w, h) = (width as usize, height as usize);
        let mut data = vec![16u8; w * h + 2 * (w / 2) * (h / 2)];
        data[w * h..].fill(128);
        Self {
            width,
            height,
            pts,
            data,
        }
    }

    pub fn y_len(&self) -> usize {
        self.width as usize * self.height as usize
    }
    pub fn chroma_len(&self) -> usize {
        (self.width as usize / 2) * (self.height as usize / 2)
    }
    pub fn planes(&self) -> (&[u8], &[u8], &[u8]) {
        let (y, uv) = self.data.split_at(self.y_len());
        let (u, v) = uv.split_at(self.chroma_len());
        (y, u, v)
    }
    pub fn planes_mut(&mut self) -> (&mut [u8], &mut [u8], &mut [u8]) {
        let (y_len, c_len) = (self.y_len(), self.chroma_len());
        let (y, uv) = self.data.split_at_mut(y_len);
        let (u, v) = uv.split_at_mut(c_len);
        (y, u, v)
    }
}

impl std::fmt::Debug for VideoFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "VideoFrame({}x{} @ {})",
            self.width, self.height, self.pts
        )
    }
}

/// A run of audio samples in the engine's format.
#[derive(Clone, Debug)]
pub struct AudioChunk {
    /// Time of the first sample, from the stream's sample count (never from the wall clock).
    pub pts: MediaTime,
    /// Interleaved stereo samples: `frames() * 2` values.
    pub samples: Vec<i16>,
}

impl AudioChunk {
    /// Number of sample frames (one sample per channel).
    pub fn frames(&self) -> usize {
        self.samples.len() / AUDIO_CHANNELS
    }
}
