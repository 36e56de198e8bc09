//! RTMP and RTMPS output: one destination, its own send queue, its own network thread.
//!
//! The output thread (generic, in `pipeline`) calls [`RtmpOutput`]'s `write`, which only pushes
//! into the [`queue::SendQueue`] (never blocks). The network thread, spawned by `pipeline` from
//! [`OutputSink::take_worker`], connects, publishes, sends, and reconnects with backoff; its state
//! and every drop go to the output's counters. A slow, failing or reconnecting destination
//! therefore never delays the encoders, the recording or the other destinations.

mod connection;
pub mod dbr;
pub mod queue;
pub mod session;
pub mod url;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub use url::{RtmpUrl, UrlError};

use super::{OutputError, OutputSink, StreamSet};
use crate::media::time::Clock;
use crate::media::{EncodedPacket, MediaTime};
use crate::output::counters::OutputCounters;

/// Why a destination failed, in words a streamer can act on. The key never appears.
#[derive(Debug, thiserror::Error)]
pub enum RtmpError {
    #[error(transparent)]
    Url(#[from] UrlError),
    #[error("host {host} not found: check the server address and the network")]
    HostNotFound { host: String },
    #[error("connection to {host}:{port} refused: is the server running, and is the port right?")]
    Refused { host: String, port: u16 },
    #[error("connecting to {host}:{port} timed out: check the address, the network or a firewall")]
    ConnectTimeout { host: String, port: u16 },
    #[error(
        "TLS with {host} failed: {reason}; for a server with a private certificate, give its CA with --rtmp-ca FILE"
    )]
    Tls { host: String, reason: String },
    #[error("cannot use the CA file {path}: {reason}")]
    CaFile { path: PathBuf, reason: String },
    #[error("the server refused the application `{app}`: {reason}")]
    ConnectRejected { app: String, reason: String },
    #[error("the server rejected the stream ({detail}): check the stream key")]
    PublishRejected { detail: String },
    #[error("another encoder is already publishing to this stream key (NetStream.Publish.BadName)")]
    AlreadyPublishing,
    #[error("the server did not answer for {secs} s")]
    Timeout { secs: u64 },
    #[error("gave up on the connection when the broadcast stopped: no answer for {secs} s")]
    Abandoned { secs: u64 },
    #[error("connection lost: {reason}")]
    Disconnected { reason: String },
    #[error("RTMP protocol error: {reason}")]
    Protocol { reason: String },
}

impl RtmpError {
    /// Errors that retrying cannot fix: the user must change something.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            RtmpError::Url(_)
                | RtmpError::Tls { .. }
                | RtmpError::CaFile { .. }
                | RtmpError::ConnectRejected { .. }
                | RtmpError::PublishRejected { .. }
        )
    }
}

/// Reconnection after a drop: first retry after `first_delay`, each next one `factor` times
/// longer (plus up to 10 % jitter), at most `max_delay`, at most `max_attempts` in a row (OBS:
/// 2 s, x1.5, 15 min, 25).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconnectPolicy {
    pub first_delay: Duration,
    /// Growth per attempt, in thousandths (1500 = x1.5).
    pub factor_milli: u32,
    pub max_delay: Duration,
    pub max_attempts: u32,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        Self {
            first_delay: Duration::from_secs(2),
            factor_milli: 1500,
            max_delay: Duration::from_secs(15 * 60),
            max_attempts: 25,
        }
    }
}

impl ReconnectPolicy {
    /// The delay before attempt `attempt` (1-based), without jitter.
    pub fn delay(&self, attempt: u32) -> Duration {
        let mut d = self.first_delay;
        for _ in 1..attempt {
            d = d.saturating_mul(self.factor_milli) / 1000;
            if d >= self.max_delay {
                return self.max_delay;
            }
        }
        d.min(self.max_delay)
    }
}

/// Per-destination settings besides the URL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RtmpOptions {
    /// Extra root certificate(s) (PEM) trusted for `rtmps://`, for private servers.
    pub ca_file: Option<PathBuf>,
    pub reconnect: ReconnectPolicy,
    /// Lower the encoder's bitrate when this destination's link cannot carry the stream
    /// (OBS's dynamic bitrate). With several destinations, the encoder follows the lowest
    /// request among those that enable it; the others keep frame dropping only.
    pub dynamic_bitrate: bool,
}

/// What the output thread and the network thread share.
pub(crate) struct Shared {
    state: Mutex<SharedState>,
    wake: Condvar,
}

pub(crate) struct SharedState {
    queue: queue::SendQueue,
    streams: Option<StreamSet>,
    /// No more packets will come; drain and stop.
    closed: bool,
    /// When draining at stop must give up (OBS flushes for at most 30 s).
    flush_deadline: Option<Instant>,
    /// When the output was stopped: a connection making no progress is given
    /// [`connection::STOP_GRACE`] from then.
    closed_at: Option<Instant>,
    /// Engine time of the output's zero (packets are relative to it), for the latency.
    zero: MediaTime,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, SharedState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// How long a clean stop waits for queued media to reach the server.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(30);

pub struct RtmpOutput {
    shared: Arc<Shared>,
    worker: Option<connection::Worker>,
    counters: Arc<OutputCounters>,
}

impl RtmpOutput {
    /// `clock` is the engine's: the network thread measures each video frame's capture-to-
    /// socket latency on it.
    pub fn new(
        url: RtmpUrl,
        options: &RtmpOptions,
        counters: Arc<OutputCounters>,
        clock: Clock,
    ) -> Result<Self, RtmpError> {
        let tls = if url.tls {
            Some(connection::tls_config(options.ca_file.as_deref())?)
        } else {
            None
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(SharedState {
                queue: queue::SendQueue::new(),
                streams: None,
                closed: false,
                flush_deadline: None,
                closed_at: None,
                zero: MediaTime::ZERO,
            }),
            wake: Condvar::new(),
        });
        let worker =
            connection::Worker::new(url, tls, options, shared.clone(), counters.clone(), clock);
        Ok(Self {
            shared,
            worker: Some(worker),
            counters,
        })
    }

    /// Checks a CA file up front (for the CLI's validation before anything starts).
    pub fn check_ca_file(path: &Path) -> Result<(), RtmpError> {
        connection::tls_config(Some(path)).map(|_| ())
    }
}

impl OutputSink for RtmpOutput {
    fn start(&mut self, streams: &StreamSet) -> Result<(), OutputError> {
        self.shared.lock().streams = Some(streams.clone());
        self.shared.wake.notify_all();
        Ok(())
    }

    fn set_zero(&mut self, zero: MediaTime) {
        self.shared.lock().zero = zero;
    }

    fn write(&mut self, pkt: &EncodedPacket) -> Result<(), OutputError> {
        if pkt.dts < MediaTime::ZERO {
            // Audio pre-roll before the output's zero: RTMP (FLV) has no time before 0 and no
            // edit list to hide it (see `format::flv::FlvMuxer`).
            return Ok(());
        }
        let mut s = self.shared.lock();
        s.queue.push(pkt.clone(), Instant::now());
        self.counters.publish_queue(&s.queue);
        drop(s);
        self.shared.wake.notify_all();
        Ok(())
    }

    fn finish(&mut self) -> Result<(), OutputError> {
        let mut s = self.shared.lock();
        s.closed = true;
        let now = Instant::now();
        s.flush_deadline = Some(now + FLUSH_TIMEOUT);
        s.closed_at = Some(now);
        drop(s);
        self.shared.wake.notify_all();
        Ok(())
    }

    fn bytes_written(&self) -> u64 {
        self.counters
            .bytes_written
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    fn take_worker(&mut self) -> Option<Box<dyn FnOnce() + Send>> {
        let worker = self.worker.take()?;
        Some(Box::new(move || worker.run()))
    }

    fn manages_state(&self) -> bool {
        true
    }

    fn counts_packets(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_by_half_and_is_capped() {
        let p = ReconnectPolicy {
            max_delay: Duration::from_secs(60),
            ..ReconnectPolicy::default()
        };
        let secs: Vec<u64> = (1..=10).map(|a| p.delay(a).as_millis() as u64).collect();
        assert_eq!(
            secs,
            [
                2000, 3000, 4500, 6750, 10125, 15187, 22781, 34171, 51257, 60000
            ]
        );
        assert_eq!(
            ReconnectPolicy::default().delay(100),
            Duration::from_secs(900)
        );
    }

    #[test]
    fn only_user_fixable_errors_are_permanent() {
        assert!(RtmpError::PublishRejected { detail: "x".into() }.is_permanent());
        assert!(
            RtmpError::Tls {
                host: "h".into(),
                reason: "r".into()
            }
            .is_permanent()
        );
        assert!(
            !RtmpError::Refused {
                host: "h".into(),
                port: 1
            }
            .is_permanent()
        );
        assert!(
            !RtmpError::Disconnected {
                reason: "broken pipe".into()
            }
            .is_permanent()
        );
        assert!(!RtmpError::AlreadyPublishing.is_permanent());
    }
}
