//! Sources: where raw frames and samples come from.
//!
//! A source fills buffers on request; pacing belongs to the engine (`pipeline`), which asks for
//! frame `n` at its time on the engine clock. Real devices (screen, camera, microphone) plug in
//! here as further [`VideoSourceKind`]/[`AudioSourceKind`] variants.

mod font;
pub mod test_pattern;
pub mod tone;
pub mod y4m;

use std::path::PathBuf;

use crate::media::{MediaTime, VideoFrame};

/// Which picture the program shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoSourceKind {
    /// The moving test pattern with frame number, media time and the A/V sync marker.
    Test,
    /// Pictures read from a YUV4MPEG2 file (8-bit 4:2:0, the preset's size), looped.
    Y4m(PathBuf),
    /// No video track.
    None,
}

/// Which sound the program carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioSourceKind {
    /// The 1 kHz sync tone (100 ms at every whole second).
    Tone,
    /// No audio track.
    None,
}

/// Why a source could not produce media.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error(
        "{source_name}: frame size {got_w}x{got_h} does not match the program's {want_w}x{want_h}"
    )]
    SizeMismatch {
        source_name: &'static str,
        got_w: u32,
        got_h: u32,
        want_w: u32,
        want_h: u32,
    },
    #[error("cannot read the Y4M file {path}: {source}")]
    Y4mIo {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Y4mFormat { path: PathBuf, reason: String },
}

/// A producer of raw pictures, called by the engine at each frame time.
pub trait VideoSource: Send {
    /// Fills `frame` (already sized to the program's width and height) with the picture for
    /// engine time `pts`, and sets `frame.pts`.
    fn fill(&mut self, pts: MediaTime, frame: &mut VideoFrame) -> Result<(), CaptureError>;
}

/// A producer of audio in the engine's format (48 kHz interleaved stereo i16).
pub trait AudioSource: Send {
    /// Fills `out` with the samples that start at sample index `first_sample` of the stream.
    fn fill(&mut self, first_sample: u64, out: &mut [i16]);
}
