//! The network edge of the RTMP output: TCP or TLS, the publish handshake, the send loop, and
//! reconnection with backoff. Runs on the destination's own thread (spawned by `pipeline`).

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use super::dbr::{DynamicBitrate, Throughput};
use super::session::{Phase, PublishSession};
use super::url::RtmpUrl;
use super::{ReconnectPolicy, RtmpError, RtmpOptions, Shared};
use crate::media::time::Clock;
use crate::output::counters::{OutputCounters, OutputState};

/// How often a backoff wait looks for a "retry now" request.
const RETRY_REQUEST_POLL: Duration = Duration::from_millis(100);
/// OBS's socket settings: a write that cannot progress for 15 s means the link is dead.
const SEND_TIMEOUT: Duration = Duration::from_secs(15);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// From TCP connect to "publishing": handshake, connect, createStream, publish.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(15);
/// The kernel's send buffer holds about this much of the stream. Left to autotuning (several
/// MB on a fast link), a congested link would fill the kernel buffer for many seconds before
/// the send queue noticed anything; OBS's congestion figures assume a small one. 250 ms still
/// allows the stream's bitrate at 250 ms round-trip time.
const SEND_BUFFER_MILLIS: u64 = 250;
const MIN_SEND_BUFFER: usize = 64 * 1024;
/// How often the send loop reads what the server sent (acknowledgements, pings, errors), and
/// how long any blocking socket call waits before the thread looks at the stop again.
const READ_POLL: Duration = Duration::from_millis(100);
/// A socket write waits at most this long before the thread looks at the stop again.
const WRITE_POLL: Duration = Duration::from_millis(200);
/// After the output is stopped, a connection that makes no progress (a server that never
/// answers the handshake, a write that cannot proceed) is given this long, then abandoned.
/// One that progresses keeps flushing, up to [`super::FLUSH_TIMEOUT`].
pub(super) const STOP_GRACE: Duration = Duration::from_secs(2);

/// Root certificates: Mozilla's (webpki-roots), plus the user's CA file if given.
pub(super) fn tls_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, RtmpError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        let ca_err = |reason: String| RtmpError::CaFile {
            path: path.to_owned(),
            reason,
        };
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .map_err(|e| ca_err(e.to_string()))?
            .collect::<Result<_, _>>()
            .map_err(|e| ca_err(e.to_string()))?;
        if certs.is_empty() {
            return Err(ca_err("no PEM certificate in it".into()));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| ca_err(e.to_string()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| RtmpError::Protocol {
            reason: e.to_string(),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.sock,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// When a connection that is not making progress must be given up because the output was
/// stopped: [`STOP_GRACE`] after the stop, or after the last progress if later.
#[derive(Clone, Copy)]
pub(super) struct StopWatch<'a> {
    shared: &'a Shared,
}

impl StopWatch<'_> {
    /// True once the output was stopped at least [`STOP_GRACE`] before now and `since`.
    fn give_up(&self, since: Instant) -> bool {
        self.shared
            .lock()
            .closed_at
            .is_some_and(|at| Instant::now() >= at.max(since) + STOP_GRACE)
    }

    fn abandoned(&self, since: Instant) -> RtmpError {
        RtmpError::Abandoned {
            secs: since.elapsed().as_secs(),
        }
    }
}

/// One TCP connection attempt, given up within [`READ_POLL`] of the stop's grace running out
/// (a blocking `connect` would hold the stop for [`CONNECT_TIMEOUT`]).
fn tcp_connect(addr: std::net::SocketAddr, stop: StopWatch<'_>) -> io::Result<TcpStream> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    let started = Instant::now();
    runtime
        .block_on(async {
            let connecting = tokio::net::TcpStream::connect(addr);
            tokio::pin!(connecting);
            loop {
                match tokio::time::timeout(READ_POLL, &mut connecting).await {
                    Ok(result) => return result?.into_std(),
                    Err(_) if started.elapsed() >= CONNECT_TIMEOUT => {
                        return Err(io::ErrorKind::TimedOut.into());
                    }
                    Err(_) if stop.give_up(started) => {
                        return Err(io::Error::new(io::ErrorKind::Interrupted, "stopped"));
                    }
                    Err(_) => {}
                }
            }
        })
        .and_then(|tcp| {
            tcp.set_nonblocking(false)?;
            Ok(tcp)
        })
}

fn connect(
    url: &RtmpUrl,
    tls: Option<&Arc<ClientConfig>>,
    stop: StopWatch<'_>,
) -> Result<Stream, RtmpError> {
    let (host, port) = (url.host.clone(), url.port);
    let started = Instant::now();
    tracing::debug!(%host, port, "resolving");
    let addrs: Vec<_> = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|_| RtmpError::HostNotFound { host: host.clone() })?
        .collect();
    if addrs.is_empty() {
        return Err(RtmpError::HostNotFound { host });
    }
    let mut last = RtmpError::ConnectTimeout {
        host: host.clone(),
        port,
    };
    let mut tcp = None;
    for addr in addrs {
        tracing::debug!(%addr, "connecting");
        match tcp_connect(addr, stop) {
            Ok(s) => {
                tracing::debug!(%addr, "TCP connected");
                tcp = Some(s);
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                return Err(stop.abandoned(started));
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                last = RtmpError::Refused {
                    host: host.clone(),
                    port,
                }
            }
            Err(e) if is_timeout(&e) => {
                last = RtmpError::ConnectTimeout {
                    host: host.clone(),
                    port,
                }
            }
            Err(e) => {
                last = RtmpError::Disconnected {
                    reason: format!("connecting to {host}:{port}: {e}"),
                }
            }
        }
    }
    let tcp = tcp.ok_or(last)?;
    let io_err = |e: io::Error| RtmpError::Disconnected {
        reason: e.to_string(),
    };
    tcp.set_nodelay(true).map_err(io_err)?;
    // Short timeouts: every blocking call comes back often enough to look at the stop.
    tcp.set_write_timeout(Some(WRITE_POLL)).map_err(io_err)?;
    tcp.set_read_timeout(Some(READ_POLL)).map_err(io_err)?;
    let Some(config) = tls else {
        return Ok(Stream::Plain(tcp));
    };
    let name = ServerName::try_from(host.clone()).map_err(|e| RtmpError::Tls {
        host: host.clone(),
        reason: e.to_string(),
    })?;
    let conn = ClientConnection::new(config.clone(), name).map_err(|e| RtmpError::Tls {
        host: host.clone(),
        reason: e.to_string(),
    })?;
    let mut stream = StreamOwned::new(conn, tcp);
    let tls_started = Instant::now();
    tracing::debug!(%host, "TLS handshake");
    while stream.conn.is_handshaking() {
        match stream.conn.complete_io(&mut stream.sock) {
            Ok(_) => {}
            Err(e) if is_timeout(&e) => {
                if tls_started.elapsed() >= PUBLISH_TIMEOUT {
                    return Err(RtmpError::Timeout {
                        secs: PUBLISH_TIMEOUT.as_secs(),
                    });
                }
                if stop.give_up(tls_started) {
                    return Err(stop.abandoned(started));
                }
            }
            Err(e) => {
                let reason = match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                    Some(tls_err) => tls_err.to_string(),
                    None => e.to_string(),
                };
                return Err(RtmpError::Tls {
                    host: host.clone(),
                    reason,
                });
            }
        }
    }
    tracing::debug!(%host, "TLS established");
    Ok(Stream::Tls(Box::new(stream)))
}

/// Writes all of `bytes`, a [`WRITE_POLL`] at a time: fails when nothing could be written for
/// [`SEND_TIMEOUT`], or once the output was stopped and nothing could be written for
/// [`STOP_GRACE`].
fn write_all(stream: &mut Stream, mut bytes: &[u8], stop: StopWatch<'_>) -> Result<(), RtmpError> {
    let mut progress = Instant::now();
    while !bytes.is_empty() {
        match stream.write(bytes) {
            Ok(0) => {
                return Err(RtmpError::Disconnected {
                    reason: "the connection accepts no more data".into(),
                });
            }
            Ok(n) => {
                bytes = &bytes[n..];
                progress = Instant::now();
            }
            Err(e) if is_timeout(&e) => {
                if progress.elapsed() >= SEND_TIMEOUT {
                    return Err(RtmpError::Timeout {
                        secs: SEND_TIMEOUT.as_secs(),
                    });
                }
                if stop.give_up(progress) {
                    return Err(stop.abandoned(progress));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(lost(&e)),
        }
    }
    Ok(())
}

/// Runs the RTMP handshake and publish request until the server says "publishing".
fn publish(
    stream: &mut Stream,
    url: &RtmpUrl,
    stop: StopWatch<'_>,
) -> Result<PublishSession, RtmpError> {
    let started = Instant::now();
    let deadline = started + PUBLISH_TIMEOUT;
    let mut out = Vec::new();
    let mut session = PublishSession::start(url.clone(), &mut out)?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if !out.is_empty() {
            write_all(stream, &out, stop)?;
            out.clear();
        }
        if session.phase() == Phase::Live {
            return Ok(session);
        }
        if Instant::now() > deadline {
            return Err(RtmpError::Timeout {
                secs: PUBLISH_TIMEOUT.as_secs(),
            });
        }
        let n = match stream.read(&mut buf) {
            Ok(0) => 0,
            Ok(n) => n,
            Err(e) if is_timeout(&e) => {
                if stop.give_up(started) {
                    return Err(stop.abandoned(started));
                }
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if session.phase() == Phase::PublishRequested => {
                return Err(RtmpError::PublishRejected {
                    detail: format!(
                        "the server dropped the connection after the publish request ({e})"
                    ),
                });
            }
            Err(e) => return Err(lost(&e)),
        };
        if n == 0 {
            // nginx-rtmp and others just close the socket when on_publish refuses the key.
            return Err(match session.phase() {
                Phase::PublishRequested => RtmpError::PublishRejected {
                    detail: "the server closed the connection after the publish request".into(),
                },
                _ => RtmpError::Disconnected {
                    reason: "the server closed the connection during the handshake".into(),
                },
            });
        }
        session.receive(&buf[..n], &mut out)?;
    }
}

fn lost(e: &io::Error) -> RtmpError {
    if is_timeout(e) {
        RtmpError::Timeout {
            secs: SEND_TIMEOUT.as_secs(),
        }
    } else {
        RtmpError::Disconnected {
            reason: e.to_string(),
        }
    }
}

/// How a connection ended without error: the output finished and everything queued was sent
/// (or the flush timed out).
struct Ended;

pub(super) struct Worker {
    url: RtmpUrl,
    tls: Option<Arc<ClientConfig>>,
    policy: ReconnectPolicy,
    dynamic_bitrate: bool,
    shared: Arc<Shared>,
    counters: Arc<OutputCounters>,
    clock: Clock,
    rng: u64,
}

impl Worker {
    pub(super) fn new(
        url: RtmpUrl,
        tls: Option<Arc<ClientConfig>>,
        options: &RtmpOptions,
        shared: Arc<Shared>,
        counters: Arc<OutputCounters>,
        clock: Clock,
    ) -> Self {
        let seed = Instant::now().elapsed().as_nanos() as u64 ^ (Arc::as_ptr(&shared) as u64);
        Self {
            url,
            tls,
            policy: options.reconnect,
            dynamic_bitrate: options.dynamic_bitrate,
            shared,
            counters,
            clock,
            rng: seed | 1,
        }
    }

    /// The network thread's body: connect, publish, send; on a drop, back off and reconnect.
    pub(super) fn run(mut self) {
        let mut attempt: u32 = 0;
        let mut connected_once = false;
        loop {
            if self.shared.lock().closed {
                break;
            }
            self.counters.set_state(if connected_once || attempt > 0 {
                OutputState::Reconnecting
            } else {
                OutputState::Connecting
            });
            let stop = self.stop_watch();
            let result = connect(&self.url, self.tls.as_ref(), stop).and_then(|mut stream| {
                let session = publish(&mut stream, &self.url, stop)?;
                tracing::info!(destination = %self.url, "live");
                if connected_once {
                    self.counters.reconnects.fetch_add(1, Relaxed);
                }
                connected_once = true;
                self.counters.went_live.store(true, Relaxed);
                attempt = 0;
                self.counters.set_retry(None, 0);
                self.counters.set_state(OutputState::Live);
                self.stream(stream, session)
            });
            match result {
                Ok(Ended) => break,
                Err(e @ RtmpError::Abandoned { .. }) => {
                    tracing::warn!(destination = %self.url, "{e}");
                    self.counters.set_last_error(e.to_string());
                    break;
                }
                Err(e) => {
                    // The counters belong to this destination: its name is not repeated there.
                    if e.is_permanent() {
                        tracing::error!(destination = %self.url, "{e}");
                        self.counters.set_error(e.to_string());
                        self.shared.lock().queue.set_connected(false);
                        return;
                    }
                    tracing::warn!(destination = %self.url, "{e}");
                    self.counters.set_last_error(e.to_string());
                }
            }
            let mut s = self.shared.lock();
            s.queue.set_connected(false);
            self.counters.publish_queue(&s.queue);
            if s.closed {
                break;
            }
            drop(s);
            attempt += 1;
            if attempt > self.policy.max_attempts {
                let message = format!(
                    "gave up after {} reconnection attempts",
                    self.policy.max_attempts
                );
                tracing::error!(destination = %self.url, "{message}");
                self.counters.set_error(message);
                return;
            }
            if !self.wait_before_retry(attempt) {
                break;
            }
        }
        // Anything still queued now will never be sent.
        let left = self.shared.lock().queue.len() as u64;
        self.counters.dropped_network.fetch_add(left, Relaxed);
        if self.counters.state() != OutputState::Failed {
            self.counters.set_state(OutputState::Stopped);
        }
    }

    fn stop_watch(&self) -> StopWatch<'_> {
        StopWatch {
            shared: &self.shared,
        }
    }

    /// Sleeps the backoff delay; false if the output was closed meanwhile.
    fn wait_before_retry(&mut self, attempt: u32) -> bool {
        let base = self.policy.delay(attempt);
        // Up to 10 % jitter, so that many encoders do not reconnect in lockstep.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let jitter = base.mul_f64((self.rng % 1000) as f64 / 10_000.0);
        let retry_at = Instant::now() + base + jitter;
        self.counters.set_retry(Some(retry_at), attempt);
        self.counters.set_state(OutputState::Reconnecting);
        tracing::info!(destination = %self.url, attempt, delay_ms = (base + jitter).as_millis() as u64, "reconnecting");
        let mut s = self.shared.lock();
        loop {
            if s.closed {
                return false;
            }
            let now = Instant::now();
            // "Retry now" from a front end cuts the wait short.
            if now >= retry_at || self.counters.take_retry_request() {
                return true;
            }
            s = self
                .shared
                .wake
                .wait_timeout(s, (retry_at - now).min(RETRY_REQUEST_POLL))
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }

    /// Sends queued packets until the output closes (Ok) or the connection fails (Err).
    fn stream(&self, mut stream: Stream, mut session: PublishSession) -> Result<Ended, RtmpError> {
        stream
            .tcp()
            .set_read_timeout(Some(Duration::from_millis(1)))
            .map_err(|e| lost(&e))?;
        let mut out = Vec::with_capacity(256 * 1024);
        let mut buf = vec![0u8; 16 * 1024];
        let mut headers_sent = false;
        let mut last_read = Instant::now();
        let mut dbr: Option<DynamicBitrate> = None;
        let mut throughput = Throughput::default();
        {
            let mut s = self.shared.lock();
            s.queue.set_connected(true);
        }
        loop {
            let (pkt, streams, zero) = {
                let mut s = self.shared.lock();
                loop {
                    if let Some(deadline) = s.flush_deadline
                        && Instant::now() > deadline
                    {
                        tracing::warn!(destination = %self.url, "gave up flushing after {} s", super::FLUSH_TIMEOUT.as_secs());
                        return Ok(Ended);
                    }
                    if s.streams.is_some()
                        && let Some(p) = s.queue.pop()
                    {
                        self.counters.publish_queue(&s.queue);
                        break (Some(p), s.streams.clone(), s.zero);
                    }
                    if s.closed {
                        break (None, None, s.zero);
                    }
                    let (g, timeout) = self
                        .shared
                        .wake
                        .wait_timeout(s, READ_POLL)
                        .unwrap_or_else(|p| p.into_inner());
                    s = g;
                    if timeout.timed_out() {
                        break (None, s.streams.clone(), s.zero);
                    }
                }
            };
            if let Some(pkt) = pkt {
                let streams = streams.unwrap_or_default();
                if !headers_sent {
                    // A connection starts at a keyframe, with the headers first.
                    if streams.video.is_some()
                        && !(pkt.keyframe && pkt.kind == crate::media::StreamKind::Video)
                    {
                        self.counters.dropped_network.fetch_add(1, Relaxed);
                        continue;
                    }
                    let bitrate_bps = streams
                        .video
                        .as_ref()
                        .map_or(0, |v| u64::from(v.bitrate_bps))
                        + streams
                            .audio
                            .as_ref()
                            .map_or(0, |a| u64::from(a.bitrate_bps));
                    let size = ((bitrate_bps / 8 * SEND_BUFFER_MILLIS / 1000) as usize)
                        .max(MIN_SEND_BUFFER);
                    socket2::SockRef::from(stream.tcp())
                        .set_send_buffer_size(size)
                        .map_err(|e| lost(&e))?;
                    session.headers(&streams, &mut out)?;
                    headers_sent = true;
                    if self.dynamic_bitrate {
                        let video_bps = streams
                            .video
                            .as_ref()
                            .map_or(0, |v| u64::from(v.bitrate_bps));
                        let audio_bps = streams
                            .audio
                            .as_ref()
                            .map_or(0, |a| u64::from(a.bitrate_bps));
                        dbr = Some(DynamicBitrate::new(video_bps, audio_bps));
                        self.counters.bitrate_request_bps.store(0, Relaxed);
                    }
                }
                session.packet(&pkt, &mut out)?;
                write_all(&mut stream, &out, self.stop_watch())?;
                if pkt.kind == crate::media::StreamKind::Video {
                    // Capture to socket: the frame's bytes are in the kernel's send buffer.
                    self.counters
                        .latency
                        .record(self.clock.now() - (zero + pkt.pts));
                }
                self.counters
                    .bytes_written
                    .fetch_add(out.len() as u64, Relaxed);
                self.counters.packets_written.fetch_add(1, Relaxed);
                out.clear();
            } else if self.shared.lock().closed {
                session.stop(&mut out);
                let _best_effort = write_all(&mut stream, &out, self.stop_watch());
                let _closing = stream.tcp().shutdown(std::net::Shutdown::Both);
                return Ok(Ended);
            }
            if last_read.elapsed() >= READ_POLL {
                last_read = Instant::now();
                self.read_from_server(&mut stream, &mut session, &mut buf, &mut out)?;
                if let Some(d) = dbr.as_mut() {
                    throughput.record(last_read, self.counters.bytes_written.load(Relaxed));
                    let buffered = self.shared.lock().queue.buffered();
                    if let Some(request) = d.update(last_read, buffered, throughput.bps()) {
                        tracing::info!(destination = %self.url, request_bps = request, "dynamic bitrate");
                        self.counters.bitrate_request_bps.store(request, Relaxed);
                    }
                }
            }
        }
    }

    /// Handles what the server sent: acknowledgements, pings, errors, or a closed socket.
    fn read_from_server(
        &self,
        stream: &mut Stream,
        session: &mut PublishSession,
        buf: &mut [u8],
        out: &mut Vec<u8>,
    ) -> Result<(), RtmpError> {
        loop {
            match stream.read(buf) {
                Ok(0) => {
                    return Err(RtmpError::Disconnected {
                        reason: "the server closed the connection".into(),
                    });
                }
                Ok(n) => {
                    session.receive(&buf[..n], out)?;
                    if !out.is_empty() {
                        write_all(stream, out, self.stop_watch())?;
                        self.counters
                            .bytes_written
                            .fetch_add(out.len() as u64, Relaxed);
                        out.clear();
                    }
                }
                Err(e) if is_timeout(&e) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(lost(&e)),
            }
        }
    }
}
