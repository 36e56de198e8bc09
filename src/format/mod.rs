//! Container and bitstream formats, sans-IO: packets in, bytes out. Shared by the outputs.

pub mod avc;
pub mod avc_repeat;
pub mod flv;
pub mod hls;
pub mod mp4;
