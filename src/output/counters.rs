//! An output's counters (atomics its threads write, the fan-out and the front ends read) and
//! the plain snapshot made from them: state, packets and bytes, every drop, reconnections,
//! the dynamic bitrate request, time in the sink and the capture-to-departure latency.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use serde::Serialize;

use super::latency::{LatencyHistogram, LatencySummary};
use super::rtmp::queue::SendQueue;

/// The state of one output, as a user reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum OutputState {
    /// Waiting for the first keyframe.
    Starting = 0,
    /// A file output writing.
    Recording = 1,
    /// A network output opening its first connection.
    Connecting = 2,
    /// A network output publishing.
    Live = 3,
    /// A network output waiting to reconnect (see `retry_attempt`, `retry_in_ms`).
    Reconnecting = 4,
    /// Flushing and finalizing after the stop.
    Finishing = 5,
    Stopped = 6,
    /// Stopped for good on an error (see `last_error`).
    Failed = 7,
}

impl OutputState {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => Self::Starting,
            1 => Self::Recording,
            2 => Self::Connecting,
            3 => Self::Live,
            4 => Self::Reconnecting,
            5 => Self::Finishing,
            6 => Self::Stopped,
            _ => Self::Failed,
        }
    }
}

#[derive(Debug)]
pub struct OutputCounters {
    pub name: String,
    pub kind: &'static str,
    state: AtomicU8,
    pub packets_written: AtomicU64,
    pub bytes_written: AtomicU64,
    /// Packets the fan-out could not queue because the output's queue was full.
    pub dropped_queue_full: AtomicU64,
    /// Video packets skipped while resynchronising to a keyframe after a drop.
    pub dropped_resync: AtomicU64,
    /// Network outputs: packets dropped by the send loop (before a keyframe, left at the end).
    pub dropped_network: AtomicU64,
    /// Network outputs: packets dropped by the send queue (congestion, disconnection, bounds).
    pub dropped_queue: AtomicU64,
    /// Network outputs: media waiting in the send queue, in milliseconds.
    pub buffered_millis: AtomicU64,
    /// Network outputs: buffered media / drop threshold, in thousandths (OBS's congestion).
    pub congestion_milli: AtomicU64,
    pub reconnects: AtomicU64,
    /// Network outputs: the server accepted the stream at least once.
    pub went_live: AtomicBool,
    /// Dynamic bitrate: the video bitrate this output asks the encoder for (0 = none).
    pub bitrate_request_bps: AtomicU64,
    /// Time the output thread spent in its sink (muxing and writing), in nanoseconds.
    pub sink_nanos: AtomicU64,
    /// Of `sink_nanos`, the time spent in file I/O calls (the rest is muxing).
    pub io_nanos: AtomicU64,
    /// Per video frame: from its capture time to its first byte leaving (socket write, file
    /// write, HLS part published).
    pub latency: LatencyHistogram,
    /// Per audio packet, for outputs that send audio on its own (WebRTC): capture to leaving.
    pub audio_latency: LatencyHistogram,
    /// A WebRTC receiver asked for a keyframe (PLI/FIR); the H.264 thread takes it.
    keyframe_request: AtomicBool,
    retry: Mutex<(Option<Instant>, u32)>,
    /// A front end asked to retry now instead of waiting out the backoff.
    retry_request: AtomicBool,
    pub last_error: Mutex<Option<String>>,
    url: Mutex<Option<String>>,
}

impl OutputCounters {
    pub fn new(name: String, kind: &'static str) -> Self {
        Self {
            name,
            kind,
            state: AtomicU8::new(OutputState::Starting as u8),
            packets_written: AtomicU64::new(0),
            bytes_written: AtomicU64::new(0),
            dropped_queue_full: AtomicU64::new(0),
            dropped_resync: AtomicU64::new(0),
            dropped_network: AtomicU64::new(0),
            dropped_queue: AtomicU64::new(0),
            buffered_millis: AtomicU64::new(0),
            congestion_milli: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            went_live: AtomicBool::new(false),
            bitrate_request_bps: AtomicU64::new(0),
            sink_nanos: AtomicU64::new(0),
            io_nanos: AtomicU64::new(0),
            latency: LatencyHistogram::default(),
            audio_latency: LatencyHistogram::default(),
            keyframe_request: AtomicBool::new(false),
            retry: Mutex::new((None, 0)),
            last_error: Mutex::new(None),
            url: Mutex::new(None),
            retry_request: AtomicBool::new(false),
        }
    }
    pub fn set_state(&self, s: OutputState) {
        self.state.store(s as u8, Relaxed);
    }
    pub fn state(&self) -> OutputState {
        OutputState::from_u8(self.state.load(Relaxed))
    }
    /// Records the error and marks the output failed for good.
    pub fn set_error(&self, message: String) {
        self.set_last_error(message);
        self.set_state(OutputState::Failed);
    }
    /// Asks a reconnecting output to try again at once.
    pub fn request_retry(&self) {
        self.retry_request.store(true, Relaxed);
    }
    /// True once after [`request_retry`](Self::request_retry).
    pub fn take_retry_request(&self) -> bool {
        self.retry_request.swap(false, Relaxed)
    }
    /// Asks the shared H.264 encoder for a keyframe (it grants at most one a second).
    pub fn request_keyframe(&self) {
        self.keyframe_request.store(true, Relaxed);
    }
    /// True once after [`request_keyframe`](Self::request_keyframe).
    pub fn take_keyframe_request(&self) -> bool {
        self.keyframe_request.swap(false, Relaxed)
    }
    /// Where the output can be watched (the HLS preview page).
    pub fn set_url(&self, url: String) {
        if let Ok(mut u) = self.url.lock() {
            *u = Some(url);
        }
    }
    /// Records the latest error without changing the state (a retry follows).
    pub fn set_last_error(&self, message: String) {
        if let Ok(mut e) = self.last_error.lock() {
            *e = Some(message);
        }
    }
    /// The next reconnection attempt and its number (`None` when not waiting).
    pub fn set_retry(&self, at: Option<Instant>, attempt: u32) {
        if let Ok(mut r) = self.retry.lock() {
            *r = (at, attempt);
        }
    }
    /// Copies the send queue's gauges and drop totals.
    pub fn publish_queue(&self, q: &SendQueue) {
        self.buffered_millis
            .store(q.buffered().as_millis_floor().max(0) as u64, Relaxed);
        self.congestion_milli.store(q.congestion_milli(), Relaxed);
        let d = q.drops();
        self.dropped_queue
            .store(d.congestion + d.disconnected + d.overflow, Relaxed);
    }

    pub fn snapshot(&self) -> OutputSnapshot {
        let (retry_at, retry_attempt) = self.retry.lock().map(|r| *r).unwrap_or((None, 0));
        OutputSnapshot {
            name: self.name.clone(),
            kind: self.kind,
            state: self.state(),
            packets: self.packets_written.load(Relaxed),
            bytes: self.bytes_written.load(Relaxed),
            dropped_queue_full: self.dropped_queue_full.load(Relaxed),
            dropped_resync: self.dropped_resync.load(Relaxed),
            dropped_network: self.dropped_network.load(Relaxed) + self.dropped_queue.load(Relaxed),
            buffered_ms: self.buffered_millis.load(Relaxed),
            congestion_milli: self.congestion_milli.load(Relaxed),
            reconnects: self.reconnects.load(Relaxed),
            went_live: self.went_live.load(Relaxed),
            bitrate_request_bps: Some(self.bitrate_request_bps.load(Relaxed)).filter(|&b| b > 0),
            retry_attempt,
            retry_in_ms: retry_at
                .map(|at| at.saturating_duration_since(Instant::now()).as_millis() as u64),
            last_error: self.last_error.lock().ok().and_then(|e| e.clone()),
            url: self.url.lock().ok().and_then(|u| u.clone()),
            latency: self.latency.summary(),
            audio_latency: Some(self.audio_latency.summary()).filter(|s| s.samples > 0),
            sink_nanos: self.sink_nanos.load(Relaxed),
            io_nanos: self.io_nanos.load(Relaxed),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutputSnapshot {
    pub name: String,
    pub kind: &'static str,
    pub state: OutputState,
    pub packets: u64,
    pub bytes: u64,
    pub dropped_queue_full: u64,
    pub dropped_resync: u64,
    /// Frames dropped for the network: congestion, disconnection, never sent.
    pub dropped_network: u64,
    pub buffered_ms: u64,
    /// 0 (idle) to 1000 (dropping).
    pub congestion_milli: u64,
    pub reconnects: u64,
    /// Network outputs: the server accepted the stream at least once (false for files).
    pub went_live: bool,
    /// Dynamic bitrate: the video bitrate this output asks for, if any.
    pub bitrate_request_bps: Option<u64>,
    /// The attempt being waited for, while reconnecting.
    pub retry_attempt: u32,
    /// Milliseconds until that attempt, while reconnecting.
    pub retry_in_ms: Option<u64>,
    pub last_error: Option<String>,
    /// Where to watch the output (the HLS preview page), if it can be watched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Capture to first byte out, per video frame, since the output started (microseconds).
    pub latency: LatencySummary,
    /// Capture to leaving, per audio packet, for outputs that send audio apart from video
    /// (WebRTC); absent for the others, whose audio is interleaved with the video.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audio_latency: Option<LatencySummary>,
    /// Time in the output's muxer and file writes (nanoseconds, since the start).
    pub sink_nanos: u64,
    /// Of `sink_nanos`, file I/O.
    pub io_nanos: u64,
}
