//! The network edge of the WHIP output: the exchange, one UDP socket for the WebRTC session,
//! the send loop, and reconnection with RTMP's backoff. Runs on the destination's own thread
//! (spawned by `pipeline`).

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use str0m::Candidate;

use super::h264::{self, ParameterSets};
use super::http::{Client, Endpoint};
use super::session::{self, BitrateFollower, Session, SessionConfig, SessionEvent};
use super::{Shared, WhipError, WhipOptions, WhipTarget};
use crate::media::time::Clock;
use crate::media::{MediaTime, StreamKind};
use crate::output::StreamSet;
use crate::output::{OutputCounters, OutputState};

/// How often a backoff wait looks for a "retry now" request.
const RETRY_REQUEST_POLL: Duration = Duration::from_millis(100);
/// From the answer to ICE and DTLS up; past it the media path is deemed blocked.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest the loop sleeps without looking at the socket (incoming RTCP and STUN wait at
/// most this long; media wakes it at once).
const SOCKET_POLL: Duration = Duration::from_millis(5);
/// How long to wait for STUN servers' answers before sending the offer without them.
const STUN_WAIT: Duration = Duration::from_millis(500);
/// ICE reporting the server lost: how long it may recover by itself before reconnecting.
const DISCONNECT_GRACE: Duration = Duration::from_secs(3);
/// Consent freshness, faster than RFC 7675's 30 s: a receiver answers ICE's consent checks
/// and sends RTCP reports every second or so; this long without a datagram from it means it
/// is gone (a live stream reconnects rather than sending into the void for 30 s).
const SILENCE_TIMEOUT: Duration = Duration::from_secs(5);
/// UDP datagrams are at most this large (str0m keeps below ~1200 bytes).
const MAX_DATAGRAM: usize = 2_048;

/// How a session ended without error: the output finished.
struct Ended;

pub(super) struct Worker {
    target: WhipTarget,
    options: WhipOptions,
    shared: Arc<Shared>,
    counters: Arc<OutputCounters>,
    clock: Clock,
    client: Client,
    /// STUN servers the server offered in its last answer's `Link` headers.
    link_stun: Vec<String>,
    rng: u64,
}

impl Worker {
    pub(super) fn new(
        target: WhipTarget,
        options: WhipOptions,
        shared: Arc<Shared>,
        counters: Arc<OutputCounters>,
        clock: Clock,
    ) -> Self {
        let seed = random_u64();
        Self {
            target,
            options,
            shared,
            counters,
            clock,
            client: Client::new(),
            link_stun: Vec::new(),
            rng: seed | 1,
        }
    }

    /// The network thread's body: offer, connect, send; on a failure, back off and retry.
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
            match self.session_once(&mut connected_once, &mut attempt) {
                Ok(Ended) => break,
                Err(e) if e.is_permanent() => {
                    tracing::error!(destination = %self.target, "{e}");
                    self.counters.set_error(e.to_string());
                    self.counters.bitrate_request_bps.store(0, Relaxed);
                    self.shared.lock().queue.set_connected(false);
                    return;
                }
                Err(e) => {
                    tracing::warn!(destination = %self.target, "{e}");
                    self.counters.set_last_error(e.to_string());
                }
            }
            self.counters.bitrate_request_bps.store(0, Relaxed);
            let mut s = self.shared.lock();
            s.queue.set_connected(false);
            self.counters.publish_queue(&s.queue);
            if s.closed {
                break;
            }
            drop(s);
            attempt += 1;
            if attempt > self.options.reconnect.max_attempts {
                let message = format!(
                    "gave up after {} reconnection attempts",
                    self.options.reconnect.max_attempts
                );
                tracing::error!(destination = %self.target, "{message}");
                self.counters.set_error(message);
                return;
            }
            if !self.wait_before_retry(attempt) {
                break;
            }
        }
        let left = self.shared.lock().queue.len() as u64;
        self.counters.dropped_network.fetch_add(left, Relaxed);
        if self.counters.state() != OutputState::Failed {
            self.counters.set_state(OutputState::Stopped);
        }
    }

    /// Sleeps the backoff delay; false if the output was closed meanwhile.
    fn wait_before_retry(&mut self, attempt: u32) -> bool {
        let base = self.options.reconnect.delay(attempt);
        // Up to 10 % jitter, so that many encoders do not reconnect in lockstep.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let jitter = base.mul_f64((self.rng % 1000) as f64 / 10_000.0);
        let retry_at = Instant::now() + base + jitter;
        self.counters.set_retry(Some(retry_at), attempt);
        self.counters.set_state(OutputState::Reconnecting);
        tracing::info!(destination = %self.target, attempt, delay_ms = (base + jitter).as_millis() as u64, "reconnecting");
        let mut s = self.shared.lock();
        loop {
            if s.closed {
                return false;
            }
            let now = Instant::now();
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

    /// The stream descriptions, once the output has them; `None` if it closed first.
    fn wait_for_streams(&self) -> Option<StreamSet> {
        let mut s = self.shared.lock();
        loop {
            if let Some(streams) = &s.streams {
                return Some(streams.clone());
            }
            if s.closed {
                return None;
            }
            s = self
                .shared
                .wake
                .wait_timeout(s, RETRY_REQUEST_POLL)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }

    /// One WHIP session: offer, answer, connect, send until the output ends (Ok) or the
    /// session fails (Err). The server's resource is deleted either way.
    fn session_once(
        &mut self,
        connected_once: &mut bool,
        attempt: &mut u32,
    ) -> Result<Ended, WhipError> {
        let Some(streams) = self.wait_for_streams() else {
            return Ok(Ended);
        };
        let params =
            match &streams.video {
                Some(v) => Some(ParameterSets::from_avcc_record(&v.avcc).ok_or_else(|| {
                    WhipError::Rtc {
                        reason: "the H.264 stream has no usable SPS/PPS".into(),
                    }
                })?),
                None => None,
            };
        let endpoint = self.target.endpoint().clone();
        let socket = bind_socket(&endpoint)?;
        let local = socket.local_addr().map_err(socket_err)?;
        let mut candidates = vec![Candidate::host(local, "udp").map_err(|e| WhipError::Rtc {
            reason: e.to_string(),
        })?];
        let stun: Vec<String> = self
            .options
            .stun_servers
            .iter()
            .chain(&self.link_stun)
            .cloned()
            .collect();
        for mapped in gather_reflexive(&socket, &stun) {
            if let Ok(c) = Candidate::server_reflexive(mapped, local, "udp") {
                candidates.push(c);
            }
        }
        let video_bps = streams
            .video
            .as_ref()
            .map_or(0, |v| u64::from(v.bitrate_bps));
        let audio_bps = streams
            .audio
            .as_ref()
            .map_or(0, |a| u64::from(a.bitrate_bps));
        let config = SessionConfig {
            video: params.clone(),
            audio: streams.audio.is_some(),
            bitrate_bps: video_bps + audio_bps,
        };
        let (mut session, offer) = Session::offer(Instant::now(), &config, candidates)?;
        let answer = self.client.offer(&endpoint, self.target.token(), &offer)?;
        self.link_stun = answer.stun_servers.clone();
        let result = session.accept_answer(&answer.sdp).and_then(|()| {
            let mut link = Link {
                socket: &socket,
                session: &mut session,
                counters: &self.counters,
                clock: self.clock,
                last_rx: Instant::now(),
                in_flight: VecDeque::new(),
            };
            self.stream(
                &mut link,
                params.as_ref(),
                video_bps,
                audio_bps,
                connected_once,
                attempt,
            )
        });
        session.close(&mut |to, data| {
            let _ = socket.send_to(data, to);
        });
        if let Some(resource) = &answer.resource {
            // Also after a failure: the server frees the session at once instead of waiting
            // for its own timeout.
            match self.client.delete(&endpoint, resource, self.target.token()) {
                Ok(status) => {
                    tracing::info!(destination = %self.target, status, "WHIP session deleted")
                }
                Err(e) => tracing::info!(destination = %self.target, "DELETE failed: {e}"),
            }
        }
        result
    }

    /// Sends queued packets until the output closes (Ok) or the session fails (Err).
    fn stream(
        &self,
        link: &mut Link<'_>,
        params: Option<&ParameterSets>,
        video_bps: u64,
        audio_bps: u64,
        connected_once: &mut bool,
        attempt: &mut u32,
    ) -> Result<Ended, WhipError> {
        let started = Instant::now();
        let mut events = Vec::new();
        let mut next_tick = link.poll(&mut events)?;
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let mut annexb = Vec::with_capacity(256 * 1024);
        let mut waiting_for_key = true;
        let mut disconnected_since: Option<Instant> = None;
        // When the session came up, on the engine's clock: the latency counts media captured
        // from then on (not the backlog of the connection's first moments).
        let mut live_from: Option<MediaTime> = None;
        let mut follower = self
            .options
            .dynamic_bitrate
            .then(|| BitrateFollower::new(audio_bps, video_bps));
        link.socket.set_nonblocking(true).map_err(socket_err)?;
        loop {
            // What the server sent.
            link.receive_all(&mut buf, &mut events)?;
            let now = Instant::now();
            if now >= next_tick {
                link.session.tick(now)?;
            }
            next_tick = link.poll(&mut events)?;
            for e in events.drain(..) {
                match e {
                    SessionEvent::Connected => {
                        tracing::info!(destination = %self.target, "live (WebRTC)");
                        let reconnected = *connected_once;
                        if reconnected {
                            self.counters.reconnects.fetch_add(1, Relaxed);
                        }
                        *connected_once = true;
                        self.counters.went_live.store(true, Relaxed);
                        *attempt = 0;
                        self.counters.set_retry(None, 0);
                        self.counters.set_state(OutputState::Live);
                        live_from = Some(self.clock.now());
                        let mut s = self.shared.lock();
                        if reconnected {
                            // After an outage the backlog is stale: a real-time receiver
                            // resumes at a fresh keyframe (asked for now).
                            let stale = s.queue.len() as u64;
                            while s.queue.pop().is_some() {}
                            self.counters.dropped_network.fetch_add(stale, Relaxed);
                            self.counters.request_keyframe();
                        }
                        // The first time, the stream goes out from its start: the queue
                        // holds what was encoded while connecting, from a keyframe (at
                        // most one keyframe interval; the pacer spreads it).
                        s.queue.set_connected(true);
                        self.counters.publish_queue(&s.queue);
                    }
                    SessionEvent::Disconnected => {
                        tracing::info!(destination = %self.target, "ICE reports the server lost");
                        disconnected_since.get_or_insert(now);
                    }
                    SessionEvent::IceRestored => disconnected_since = None,
                    SessionEvent::Closed => return Err(WhipError::EndedByServer),
                    SessionEvent::KeyframeRequest => {
                        tracing::debug!(destination = %self.target, "keyframe requested");
                        self.counters.request_keyframe();
                    }
                    SessionEvent::Estimate { bps, remb } => {
                        tracing::debug!(destination = %self.target, bps, remb, "bandwidth estimate");
                        if let Some(f) = follower.as_mut()
                            && let Some(request) = f.update(now, bps)
                        {
                            tracing::info!(destination = %self.target, request_bps = request, estimate_bps = bps, "dynamic bitrate");
                            self.counters.bitrate_request_bps.store(request, Relaxed);
                        }
                    }
                }
            }
            if link.session.is_connected() {
                let ice_lost = disconnected_since
                    .is_some_and(|since| now.duration_since(since) >= DISCONNECT_GRACE);
                if ice_lost || now.duration_since(link.last_rx) >= SILENCE_TIMEOUT {
                    return Err(WhipError::ConsentLost);
                }
            } else if now.duration_since(started) >= CONNECT_TIMEOUT {
                return Err(WhipError::IceFailed {
                    secs: CONNECT_TIMEOUT.as_secs(),
                });
            }
            // Media, as long as there is some.
            let (pkt, zero, closed, deadline_passed) = {
                let mut s = self.shared.lock();
                let deadline_passed = s.flush_deadline.is_some_and(|d| Instant::now() > d);
                let pkt = if link.session.is_connected() {
                    s.queue.pop()
                } else {
                    None
                };
                if pkt.is_some() {
                    self.counters.publish_queue(&s.queue);
                }
                if pkt.is_none() && !s.closed {
                    // Nothing to send: sleep until media comes or the socket needs a look.
                    let wait = next_tick
                        .saturating_duration_since(Instant::now())
                        .min(SOCKET_POLL);
                    let (g, _) = self
                        .shared
                        .wake
                        .wait_timeout(s, wait)
                        .unwrap_or_else(|p| p.into_inner());
                    s = g;
                }
                (pkt, s.zero, s.closed, deadline_passed)
            };
            let Some(pkt) = pkt else {
                let empty = self.shared.lock().queue.is_empty();
                if closed && (empty || deadline_passed || !link.session.is_connected()) {
                    return Ok(Ended);
                }
                continue;
            };
            let wallclock = self.clock.instant_at(zero + pkt.pts);
            let measured = live_from.is_some_and(|t| zero + pkt.pts >= t);
            let sent = match pkt.kind {
                StreamKind::Video => {
                    let Some(ps) = params else { continue };
                    if waiting_for_key && !pkt.keyframe {
                        self.counters.dropped_network.fetch_add(1, Relaxed);
                        continue;
                    }
                    waiting_for_key = false;
                    h264::to_annexb(&pkt.data, pkt.keyframe, ps, &mut annexb);
                    let sent = link.session.write_video(wallclock, pkt.pts, &annexb)?;
                    if sent && measured {
                        link.frame_written(pkt.pts, zero + pkt.pts);
                    }
                    sent
                }
                StreamKind::Audio => link.session.write_audio(wallclock, pkt.pts, &pkt.data)?,
            };
            next_tick = link.poll(&mut events)?;
            if sent {
                self.counters.packets_written.fetch_add(1, Relaxed);
                // Opus packets are one RTP packet each and unpaced: gone in the poll above.
                // A video frame's latency is taken when its last packet leaves (Link::poll).
                if pkt.kind == StreamKind::Audio && measured {
                    let latency = self.clock.now() - (zero + pkt.pts);
                    self.counters.audio_latency.record(latency);
                }
            } else {
                self.counters.dropped_network.fetch_add(1, Relaxed);
            }
        }
    }
}

/// Video frames written to the session whose last RTP packet has not left yet (the pacer
/// holds a large frame's packets for a while); beyond this many the oldest are forgotten.
const FRAMES_IN_FLIGHT: usize = 256;

/// The session and its socket.
struct Link<'a> {
    socket: &'a UdpSocket,
    session: &'a mut Session,
    counters: &'a OutputCounters,
    clock: Clock,
    /// When the last datagram came from the server.
    last_rx: Instant,
    /// Frames in the pacer: (RTP time, capture time on the engine's clock), oldest first.
    in_flight: VecDeque<(u32, MediaTime)>,
}

impl Link<'_> {
    /// A video frame went into the session: its latency is taken when its last packet leaves.
    fn frame_written(&mut self, pts: MediaTime, captured: MediaTime) {
        if self.in_flight.len() == FRAMES_IN_FLIGHT {
            self.in_flight.pop_front();
        }
        self.in_flight
            .push_back((session::video_rtp_time(pts), captured));
    }

    /// Drains the session: datagrams out, events in; the next deadline. A datagram that ends
    /// a video frame records the frame's capture-to-departure latency.
    fn poll(&mut self, events: &mut Vec<SessionEvent>) -> Result<Instant, WhipError> {
        let socket = self.socket;
        let (clock, counters, in_flight) = (self.clock, self.counters, &mut self.in_flight);
        let video_pt = self.session.video_pt();
        let mut sent = 0u64;
        let next = self.session.poll(
            &mut |to, data| {
                // UDP: a failed send is a lost packet (NACK, or ICE's checks, deal with it).
                if socket.send_to(data, to).is_err() {
                    return;
                }
                sent += data.len() as u64;
                if let Some(ts) = video_pt.and_then(|pt| session::frame_end(data, pt))
                    && let Some(i) = in_flight.iter().position(|(t, _)| *t == ts)
                {
                    let (_, captured) = in_flight[i];
                    in_flight.drain(..=i);
                    counters.latency.record(clock.now() - captured);
                }
            },
            events,
        )?;
        self.counters.bytes_written.fetch_add(sent, Relaxed);
        Ok(next)
    }

    /// Feeds every datagram waiting on the socket to the session.
    fn receive_all(
        &mut self,
        buf: &mut [u8],
        events: &mut Vec<SessionEvent>,
    ) -> Result<(), WhipError> {
        let local = self.socket.local_addr().map_err(socket_err)?;
        loop {
            match self.socket.recv_from(buf) {
                Ok((n, from)) => {
                    self.last_rx = Instant::now();
                    self.session
                        .receive(Instant::now(), from, local, &buf[..n])?;
                    self.poll(events)?;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    break;
                }
                // ICMP "port unreachable" from an earlier send: the server's port is gone;
                // ICE's consent checks decide when that means the session is lost.
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(socket_err(e)),
            }
        }
        Ok(())
    }
}

/// A random number (std's per-process random hash keys, new ones each call): backoff jitter
/// and STUN transaction ids, which must not repeat across calls or processes.
fn random_u64() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(Instant::now())
}

fn socket_err(e: io::Error) -> WhipError {
    WhipError::Socket {
        reason: e.to_string(),
    }
}

/// A UDP socket on the local address that routes to the WHIP server (the host candidate).
fn bind_socket(endpoint: &Endpoint) -> Result<UdpSocket, WhipError> {
    let server = (endpoint.host.as_str(), endpoint.port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| WhipError::Http {
            reason: format!(
                "host {} not found: check the server address and the network",
                endpoint.host
            ),
        })?;
    let unspecified: IpAddr = if server.is_ipv4() {
        Ipv4Addr::UNSPECIFIED.into()
    } else {
        Ipv6Addr::UNSPECIFIED.into()
    };
    // Connecting a UDP socket sends nothing: it only asks the kernel for the route.
    let probe = UdpSocket::bind((unspecified, 0)).map_err(socket_err)?;
    probe.connect(server).map_err(socket_err)?;
    let local_ip = probe.local_addr().map_err(socket_err)?.ip();
    UdpSocket::bind((local_ip, 0)).map_err(socket_err)
}

/// Asks each STUN server for our mapped address; what answers within [`STUN_WAIT`].
fn gather_reflexive(socket: &UdpSocket, servers: &[String]) -> Vec<SocketAddr> {
    let mut asked = Vec::new();
    for (i, server) in servers.iter().enumerate() {
        let Some(addr) = server.to_socket_addrs().ok().and_then(|mut a| a.next()) else {
            tracing::warn!(server = %server, "STUN server not found");
            continue;
        };
        let mut transaction = [0u8; 12];
        transaction[..8].copy_from_slice(&random_u64().to_le_bytes());
        transaction[8..].copy_from_slice(&(i as u32).to_be_bytes());
        if socket
            .send_to(&super::stun::binding_request(transaction), addr)
            .is_ok()
        {
            asked.push(transaction);
        }
    }
    let mut mapped = Vec::new();
    if asked.is_empty() {
        return mapped;
    }
    let deadline = Instant::now() + STUN_WAIT;
    let mut buf = [0u8; 512];
    while mapped.len() < asked.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || socket.set_read_timeout(Some(left)).is_err() {
            break;
        }
        let Ok((n, _)) = socket.recv_from(&mut buf) else {
            break;
        };
        if let Some(addr) = asked
            .iter()
            .find_map(|t| super::stun::mapped_address(&buf[..n], *t))
            && !mapped.contains(&addr)
        {
            mapped.push(addr);
        }
    }
    mapped
}
