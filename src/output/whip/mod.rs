//! WebRTC output: WHIP (RFC 9725) to any WebRTC server, H.264 and Opus over RTP.
//!
//! Like RTMP, the output thread (generic, in `pipeline`) only pushes packets into a
//! [`SendQueue`](crate::output::rtmp::queue::SendQueue) (the same drop policy: past 900 ms
//! queued, non-key video goes, never audio or keyframes); the network thread
//! ([`connection`]) does the WHIP exchange ([`http`]), runs the WebRTC session ([`session`],
//! over str0m: ICE, DTLS-SRTP, RTCP, NACK, pacing, bandwidth estimation) on one UDP socket,
//! sends, and reconnects with RTMP's backoff. Tracks are not interleaved: each is its own
//! RTP stream with its own clock.
//!
//! The bearer token is only readable by the HTTP exchange; [`WhipTarget`]'s `Display` and
//! `Debug` show the server without it (and without the URL's path past its first segment,
//! where some services put a key).

mod connection;
pub mod h264;
pub mod http;
pub mod session;
pub mod stun;

use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::OutputCounters;
use super::rtmp::ReconnectPolicy;
use super::rtmp::queue::SendQueue;
use super::{OutputError, OutputSink, StreamSet};
use crate::media::time::Clock;
use crate::media::{EncodedPacket, MediaTime};

/// A WHIP endpoint and its bearer token.
#[derive(Clone, PartialEq, Eq)]
pub struct WhipTarget {
    url: http::Endpoint,
    token: Option<String>,
}

impl WhipTarget {
    /// Parses an `http://` or `https://` endpoint URL; the token is sent as
    /// `Authorization: Bearer TOKEN`.
    pub fn new(url: &str, token: Option<String>) -> Result<Self, WhipError> {
        Ok(Self {
            url: http::Endpoint::parse(url)?,
            token: token.filter(|t| !t.is_empty()),
        })
    }
    pub fn endpoint(&self) -> &http::Endpoint {
        &self.url
    }
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }
    pub(crate) fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }
}

impl fmt::Display for WhipTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "whip:{}", self.url.masked())
    }
}

impl fmt::Debug for WhipTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "WhipTarget({}, token: {})",
            self.url.masked(),
            if self.token.is_some() { "****" } else { "none" }
        )
    }
}

/// Per-destination settings besides the URL and token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WhipOptions {
    pub reconnect: ReconnectPolicy,
    /// Follow the server's bandwidth estimate (REMB, or TWCC feedback) with the encoder's
    /// bitrate, as `--dynamic-bitrate` does for RTMP.
    pub dynamic_bitrate: bool,
    /// STUN servers (`host:port`) for a server-reflexive candidate, besides those the
    /// server offers in its `Link` headers.
    pub stun_servers: Vec<String>,
}

/// Why a WHIP destination failed, in words a streamer can act on. The token never appears.
#[derive(Debug, thiserror::Error)]
pub enum WhipError {
    #[error("bad WHIP URL {url}: {reason}")]
    Url { url: String, reason: String },
    #[error("the server refused the token (HTTP {status}): check the bearer token")]
    TokenRefused { status: u16 },
    #[error(
        "no WHIP endpoint at this URL (HTTP 404): check the URL, or start the stream on the server"
    )]
    NotFound,
    #[error("the server does not take this offer (HTTP 415: unsupported media type)")]
    UnsupportedMediaType,
    #[error("the server failed (HTTP {status}): {detail}")]
    ServerError { status: u16, detail: String },
    #[error("the server answered HTTP {status} to the offer: {detail}")]
    Status { status: u16, detail: String },
    #[error("cannot reach the WHIP server: {reason}")]
    Http { reason: String },
    #[error("too many redirects (more than {max})")]
    Redirects { max: usize },
    #[error("the server's SDP answer is not usable: {reason}")]
    BadAnswer { reason: String },
    #[error(
        "no media connection within {secs} s (ICE failed): the server's candidates did not answer; a firewall may block UDP"
    )]
    IceFailed { secs: u64 },
    #[error("DTLS with the server failed: {reason}")]
    Dtls { reason: String },
    #[error("the server stopped answering (ICE consent expired)")]
    ConsentLost,
    #[error("the server ended the session (DTLS closed)")]
    EndedByServer,
    #[error("UDP socket: {reason}")]
    Socket { reason: String },
    #[error("WebRTC error: {reason}")]
    Rtc { reason: String },
}

impl WhipError {
    /// Errors that retrying cannot fix: the user must change something.
    pub fn is_permanent(&self) -> bool {
        matches!(self, WhipError::Url { .. } | WhipError::TokenRefused { .. })
    }
}

/// What the output thread and the network thread share.
pub(crate) struct Shared {
    state: Mutex<SharedState>,
    wake: Condvar,
}

pub(crate) struct SharedState {
    queue: SendQueue,
    streams: Option<StreamSet>,
    /// No more packets will come; send what is queued and stop.
    closed: bool,
    /// When sending at stop must give up.
    flush_deadline: Option<Instant>,
    /// Engine time of the output's zero (packets are relative to it), for the latency.
    zero: MediaTime,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, SharedState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// How long a clean stop waits for queued media to go out. WebRTC keeps no backlog worth
/// waiting for: what is queued at stop is at most the pacer's few frames.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

pub struct WhipOutput {
    shared: Arc<Shared>,
    worker: Option<connection::Worker>,
    counters: Arc<OutputCounters>,
}

impl WhipOutput {
    /// `clock` is the engine's: the network thread measures capture-to-RTP latency on it.
    pub fn new(
        target: WhipTarget,
        options: &WhipOptions,
        counters: Arc<OutputCounters>,
        clock: Clock,
    ) -> Result<Self, WhipError> {
        let shared = Arc::new(Shared {
            state: Mutex::new(SharedState {
                queue: SendQueue::new(),
                streams: None,
                closed: false,
                flush_deadline: None,
                zero: MediaTime::ZERO,
            }),
            wake: Condvar::new(),
        });
        let worker = connection::Worker::new(
            target,
            options.clone(),
            shared.clone(),
            counters.clone(),
            clock,
        );
        Ok(Self {
            shared,
            worker: Some(worker),
            counters,
        })
    }
}

impl OutputSink for WhipOutput {
    fn start(&mut self, streams: &StreamSet) -> Result<(), OutputError> {
        self.shared.lock().streams = Some(streams.clone());
        self.shared.wake.notify_all();
        Ok(())
    }

    fn set_zero(&mut self, zero: MediaTime) {
        self.shared.lock().zero = zero;
    }

    fn write(&mut self, pkt: &EncodedPacket) -> Result<(), OutputError> {
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
        s.flush_deadline = Some(Instant::now() + FLUSH_TIMEOUT);
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

    fn interleaved(&self) -> bool {
        false
    }

    fn counts_packets(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_and_the_path_never_show() {
        let t = WhipTarget::new(
            "https://whip.example.com:8443/live/s3cr3tkey?x=y",
            Some("tok-123".into()),
        )
        .unwrap();
        let shown = format!("{t} {t:?}");
        assert!(!shown.contains("tok-123"), "{shown}");
        assert!(!shown.contains("s3cr3tkey"), "{shown}");
        assert!(shown.contains("whip.example.com:8443/live/"), "{shown}");
        assert_eq!(t.token(), Some("tok-123"));
    }

    #[test]
    fn only_a_refused_token_or_a_bad_url_is_permanent() {
        assert!(WhipError::TokenRefused { status: 401 }.is_permanent());
        assert!(!WhipError::NotFound.is_permanent());
        assert!(!WhipError::UnsupportedMediaType.is_permanent());
        assert!(
            !WhipError::ServerError {
                status: 503,
                detail: String::new()
            }
            .is_permanent()
        );
        assert!(!WhipError::ConsentLost.is_permanent());
    }
}
