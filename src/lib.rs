//! onair: capture, encode once, fan out to every output.
//!
//! The modules follow the data: [`capture`] → [`mix`] (audio) → [`encode`] → [`pipeline`]
//! (threads, fan-out) →
//! [`output`] (recording, RTMP, HLS), with [`format`] holding the sans-IO container code the
//! outputs share, [`media`] the value types, and [`config`] the presets. On top: [`app`] (the
//! desktop app's logic, no GUI toolkit) and [`ui`] (the egui window). See ARCHITECTURE.md.

pub mod app;
pub mod bench;
pub mod capture;
pub mod config;
pub mod encode;
pub mod format;
pub mod media;
pub mod mix;
pub mod output;
pub mod pipeline;
pub mod ui;
