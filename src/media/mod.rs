//! Value types shared by every stage: time, raw frames, encoded packets.
//!
//! Nothing in here owns a thread or does I/O.

pub mod frame;
pub mod packet;
pub mod time;

pub use frame::{AudioChunk, VideoFrame};
pub use packet::{AudioCodec, AudioConfig, EncodedPacket, StreamKind, VideoConfig};
pub use time::{MediaTime, Timebase};
