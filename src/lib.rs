//! onair: capture, encode once, fan out to every output.
//!
//! The modules follow the data: [`capture`] → [`encode`] → [`pipeline`] (threads, fan-out) →
//! [`output`] (recording; RTMP and HLS to come), with [`format`] holding the sans-IO container
//! code the outputs share, [`media`] the value types, and [`config`] the presets. See
//! ARCHITECTURE.md.

pub mod bench;
pub mod capture;
pub mod config;
pub mod encode;
pub mod format;
pub mod media;
pub mod output;
pub mod pipeline;
