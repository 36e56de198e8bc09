//! Outputs: where encoded packets go. Each runs on its own thread (spawned by `pipeline`),
//! fed by the fan-out through its own bounded queue.
//!
//! An output kind implements [`OutputSink`]; the generic output loop ([`runner`]) gives it the
//! stream descriptions, then packets rebased to the output's own zero and interleaved in decode
//! order, then `finish`. Kinds: recording (MP4/FLV file), RTMP(S) destination, HLS folder,
//! WHIP (WebRTC) destination.
//! Each output's [`OutputCounters`] are its own: its threads write them, the fan-out counts
//! what it could not queue there, and the engine snapshots them.

pub mod counters;
pub mod hls;
pub mod interleave;
pub mod latency;
pub mod recording;
pub mod rtmp;
pub mod runner;
pub mod whip;

use std::path::PathBuf;
use std::time::Instant;

use crate::media::{AudioCodec, AudioConfig, EncodedPacket, MediaTime, VideoConfig};

pub use counters::{OutputCounters, OutputSnapshot, OutputState};
pub use recording::RecordingFormat;
pub use runner::OutputMsg;

/// The stream descriptions an output gets before its first packet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamSet {
    pub video: Option<VideoConfig>,
    pub audio: Option<AudioConfig>,
}

/// An output the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputSpec {
    Recording {
        path: PathBuf,
        format: RecordingFormat,
    },
    Rtmp {
        url: rtmp::RtmpUrl,
        options: rtmp::RtmpOptions,
    },
    /// WebRTC to a WHIP endpoint (RFC 9725): H.264 and Opus over RTP.
    Whip {
        target: whip::WhipTarget,
        options: whip::WhipOptions,
    },
    /// HLS (LL-HLS, CMAF) into a folder, optionally served with a player page.
    Hls {
        dir: PathBuf,
        options: hls::HlsOptions,
    },
    /// The recording muxer (MP4 or FLV) writing into nothing: what muxing costs, without a
    /// disk (`onair bench`'s FLV to a null sink).
    Discard { format: RecordingFormat },
}

impl OutputSpec {
    /// A name for stats and logs; never holds a secret.
    pub fn display_name(&self) -> String {
        match self {
            OutputSpec::Recording { path, .. } => format!("record:{}", path.display()),
            // Display masks the stream key.
            OutputSpec::Rtmp { url, .. } => url.to_string(),
            // Display leaves the token out.
            OutputSpec::Whip { target, .. } => target.to_string(),
            OutputSpec::Hls { dir, .. } => format!("hls:{}", dir.display()),
            OutputSpec::Discard { format } => format!("null:{}", format.extension()),
        }
    }
    /// The audio the output takes from the fan-out.
    pub fn audio_codec(&self) -> AudioCodec {
        match self {
            OutputSpec::Whip { .. } => AudioCodec::Opus,
            _ => AudioCodec::Aac,
        }
    }
    pub fn kind(&self) -> &'static str {
        match self {
            OutputSpec::Recording { .. } => "recording",
            OutputSpec::Rtmp { .. } => "rtmp",
            OutputSpec::Whip { .. } => "whip",
            OutputSpec::Hls { .. } => "hls",
            OutputSpec::Discard { .. } => "null",
        }
    }
}

/// Why an output failed.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("{path} already exists; choose another file name or remove it first")]
    FileExists { path: PathBuf },
    #[error(
        "cannot create {path}: {}; check that the folder exists and is writable",
        io_reason(source)
    )]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot record to {path}: the file name must end in .mp4 or .flv")]
    UnknownFormat { path: PathBuf },
    #[error(
        "writing {path} failed: {}; what was written before stays playable",
        io_reason(source)
    )]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Mp4(#[from] crate::format::mp4::Mp4Error),
    #[error(transparent)]
    Rtmp(#[from] rtmp::RtmpError),
    #[error(transparent)]
    Hls(#[from] hls::HlsError),
    #[error(transparent)]
    Whip(#[from] whip::WhipError),
}

/// An I/O error as a user reads it: "No space left on device", without the "(os error 28)"
/// that only repeats it.
pub fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(i) if text.ends_with(')') => text[..i].to_owned(),
        _ => text,
    }
}

/// Bytes that left an output: every video frame whose output-relative pts is before
/// `through` was handed to the file, socket or folder by `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Departure {
    pub through: MediaTime,
    pub at: Instant,
}

/// An output kind. Called from its own thread only.
pub trait OutputSink: Send {
    /// The streams, once, before the first packet.
    fn start(&mut self, streams: &StreamSet) -> Result<(), OutputError>;
    /// The engine time of the output's zero (its first packet), once, before that packet.
    fn set_zero(&mut self, _zero: MediaTime) {}
    /// One packet, times relative to the output's zero, in decode order.
    fn write(&mut self, pkt: &EncodedPacket) -> Result<(), OutputError>;
    /// End of stream: flush and finalize. Also called after a failed `write`, to keep what
    /// was written.
    fn finish(&mut self) -> Result<(), OutputError>;
    /// Bytes handed to the file, socket or directory so far.
    fn bytes_written(&self) -> u64;
    /// Nanoseconds spent in file I/O calls so far (the rest of the sink's time is muxing).
    fn io_nanos(&self) -> u64 {
        0
    }
    /// What left since the last call, if anything (for the capture-to-departure latency).
    /// Outputs that send from a thread of their own (RTMP) measure there instead.
    fn departed(&mut self) -> Option<Departure> {
        None
    }
    /// Work that must run on a thread of its own (a network connection), taken once. The
    /// pipeline spawns it, names it, and joins it after `finish`.
    fn take_worker(&mut self) -> Option<Box<dyn FnOnce() + Send>> {
        None
    }
    /// True if the output sets its own state (connecting, live, ...) in its counters.
    fn manages_state(&self) -> bool {
        false
    }
    /// False if the output takes each track's packets as they come, without interleaving
    /// (WebRTC: every track is its own RTP stream).
    fn interleaved(&self) -> bool {
        true
    }
    /// True if the output counts the packets it sends itself (RTMP counts those that left on
    /// its network thread; the generic loop counts those handed to the others).
    fn counts_packets(&self) -> bool {
        false
    }
}
