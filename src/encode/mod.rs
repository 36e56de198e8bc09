//! Encoders: raw frames in, [`EncodedPacket`](crate::media::EncodedPacket)s out.
//!
//! Each is a plain struct with `encode`/`flush` (rav1e's send/receive model); the engine runs
//! each on its own thread.

pub mod aac;
pub mod cadence;
pub mod h264;
pub mod opus;
pub mod ratecontrol;
pub mod tuning;

pub use aac::AacEncoder;
pub use h264::{H264Encoder, VideoEncodeSettings};
pub use opus::OpusEncoder;
pub use tuning::{EncoderLoad, VideoTuning};

/// Why an encoder failed. Both libraries report little more than a code.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("H.264 encoder (OpenH264) failed: {0}")]
    H264(String),
    #[error("H.264 encoder produced no SPS/PPS before its first picture")]
    NoParameterSets,
    #[error("AAC encoder (fdk-aac) failed: {0}")]
    Aac(String),
    #[error("Opus encoder (libopus) failed: {0}")]
    Opus(String),
}
