//! The integration tests, as one binary: each module is one area (the former test files),
//! `common` holds the peers and judges they share. One binary compiles and links the helpers
//! and egui/wgpu once instead of once per file.
//!
//! Kept apart, as binaries of their own: `tests/gui_devices.rs`, `tests/gui_live_devices.rs`
//! and `tests/keyring.rs`, which point the whole process at their own display, sound server or
//! session bus (`set_var`) before any thread exists; in this binary other tests' threads would
//! already run.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

mod bench;
mod broadcast;
mod camera_formats;
mod cli;
mod config;
mod engine;
mod gui;
mod gui_hotkeys;
mod gui_scenes;
mod gui_window;
mod hardening;
mod hls;
mod mic_reopen;
mod mixer;
mod mp4_ffprobe;
mod package;
mod quality;
mod rtmp;
mod scenes;
mod sources;
mod stall;
mod whip;
mod window_show;
