//! The RTMP publish session, sans-IO: bytes from the server in, bytes to send out, events.
//!
//! Wraps rml_rtmp's handshake and `ClientSession`: handshake, `connect(app)` with `tcUrl`,
//! `createStream` + `publish(key, live)`, then `@setDataFrame onMetaData`, the AVC and AAC
//! sequence headers at time 0, and one FLV tag body per packet. Each connection has its own
//! zero: the first packet sent (a keyframe) is RTMP time 0.

use bytes::Bytes;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult,
    PublishRequestType, StreamMetadata,
};
use rml_rtmp::time::RtmpTimestamp;

use super::RtmpError;
use super::url::RtmpUrl;
use crate::format::flv;
use crate::media::{EncodedPacket, MediaTime, StreamKind};
use crate::output::StreamSet;

/// Outgoing RTMP chunk size (OBS uses 4096: fewer chunk headers per video frame).
pub const CHUNK_SIZE: u32 = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Handshaking,
    Connecting,
    PublishRequested,
    Live,
}

pub struct PublishSession {
    url: RtmpUrl,
    phase: Phase,
    handshake: Handshake,
    session: Option<ClientSession>,
    zero: Option<MediaTime>,
}

impl PublishSession {
    /// A new session and the first bytes to send (C0 + C1).
    pub fn start(url: RtmpUrl, out: &mut Vec<u8>) -> Result<Self, RtmpError> {
        let mut handshake = Handshake::new(PeerType::Client);
        let c0c1 = handshake
            .generate_outbound_p0_and_p1()
            .map_err(|e| RtmpError::Protocol {
                reason: format!("handshake: {e:?}"),
            })?;
        out.extend_from_slice(&c0c1);
        tracing::debug!(server = %url.tc_url(), "RTMP handshake: C0+C1 sent");
        Ok(Self {
            url,
            phase: Phase::Handshaking,
            handshake,
            session: None,
            zero: None,
        })
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Feeds bytes from the server; appends what must be sent to `out`.
    pub fn receive(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), RtmpError> {
        tracing::trace!(bytes = input.len(), phase = ?self.phase, "RTMP bytes from the server");
        if self.phase == Phase::Handshaking {
            match self
                .handshake
                .process_bytes(input)
                .map_err(|e| RtmpError::Protocol {
                    reason: format!("handshake: {e:?}"),
                })? {
                HandshakeProcessResult::InProgress { response_bytes } => {
                    tracing::trace!(
                        reply = response_bytes.len(),
                        "RTMP handshake: S0/S1 part read"
                    );
                    out.extend_from_slice(&response_bytes);
                    return Ok(());
                }
                HandshakeProcessResult::Completed {
                    response_bytes,
                    remaining_bytes,
                } => {
                    tracing::debug!("RTMP handshake complete (C2 sent)");
                    out.extend_from_slice(&response_bytes);
                    let mut config = ClientSessionConfig::new();
                    config.tc_url = Some(self.url.tc_url());
                    config.chunk_size = CHUNK_SIZE;
                    config.flash_version = "FMLE/3.0 (compatible; onair)".into();
                    let (mut session, results) =
                        ClientSession::new(config).map_err(|e| self.protocol(&e))?;
                    let connect = session
                        .request_connection(self.url.app.clone())
                        .map_err(|e| self.protocol(&e))?;
                    tracing::debug!(
                        app = %self.url.app,
                        tc_url = %self.url.tc_url(),
                        chunk_size = CHUNK_SIZE,
                        "RTMP connect requested (outgoing chunk size set)"
                    );
                    self.session = Some(session);
                    self.phase = Phase::Connecting;
                    self.handle_results(results, out)?;
                    self.handle_results(vec![connect], out)?;
                    if !remaining_bytes.is_empty() {
                        return self.receive(&remaining_bytes, out);
                    }
                    return Ok(());
                }
            }
        }
        let session = self.session.as_mut().ok_or_else(|| RtmpError::Protocol {
            reason: "no session".into(),
        })?;
        let results = session.handle_input(input).map_err(protocol_error)?;
        self.handle_results(results, out)
    }

    fn handle_results(
        &mut self,
        results: Vec<ClientSessionResult>,
        out: &mut Vec<u8>,
    ) -> Result<(), RtmpError> {
        // Every outbound packet of a batch goes out, in order, before its events are acted on.
        let mut events = Vec::new();
        for r in results {
            match r {
                ClientSessionResult::OutboundResponse(packet) => {
                    out.extend_from_slice(&packet.bytes)
                }
                ClientSessionResult::RaisedEvent(e) => events.push(e),
                ClientSessionResult::UnhandleableMessageReceived(m) => {
                    tracing::trace!(
                        type_id = m.type_id,
                        bytes = m.data.len(),
                        "RTMP message from the server not handled"
                    );
                }
            }
        }
        for e in events {
            self.handle_event(e, out)?;
        }
        Ok(())
    }

    fn handle_event(
        &mut self,
        event: ClientSessionEvent,
        out: &mut Vec<u8>,
    ) -> Result<(), RtmpError> {
        match &event {
            ClientSessionEvent::AcknowledgementReceived { bytes_received } => {
                tracing::trace!(bytes_received, "RTMP acknowledgement from the server");
            }
            ClientSessionEvent::PingResponseReceived { timestamp } => {
                tracing::trace!(timestamp = timestamp.value, "RTMP ping response");
            }
            ClientSessionEvent::UnhandleableAmf0Command { command_name, .. } => {
                tracing::debug!(command = %command_name, "RTMP command from the server not handled");
            }
            ClientSessionEvent::UnhandleableOnStatusCode { code } => {
                tracing::debug!(code = %self.url.redact(code), "RTMP onStatus");
            }
            _ => {}
        }
        match event {
            ClientSessionEvent::ConnectionRequestAccepted => {
                tracing::debug!("RTMP connect accepted; createStream and publish (key ****) sent");
                let session = self.session.as_mut().ok_or_else(|| RtmpError::Protocol {
                    reason: "no session".into(),
                })?;
                let publish = session
                    .request_publishing(self.url.key().to_owned(), PublishRequestType::Live)
                    .map_err(protocol_error)?;
                self.phase = Phase::PublishRequested;
                self.handle_results(vec![publish], out)
            }
            ClientSessionEvent::ConnectionRequestRejected { description } => {
                tracing::debug!(reason = %self.url.redact(&description), "RTMP connect rejected");
                Err(RtmpError::ConnectRejected {
                    app: self.url.app.clone(),
                    reason: self.url.redact(&description),
                })
            }
            ClientSessionEvent::PublishRequestAccepted => {
                tracing::debug!("RTMP publish accepted (NetStream.Publish.Start)");
                self.phase = Phase::Live;
                Ok(())
            }
            ClientSessionEvent::UnhandleableOnStatusCode { code } => self.status(&code),
            // Some servers answer a refused publish with `_error` instead of `onStatus`.
            ClientSessionEvent::UnknownTransactionResultReceived {
                additional_values, ..
            } => match additional_values.into_iter().find_map(|v| status_code(&v)) {
                Some(code) => self.status(&code),
                None => Ok(()),
            },
            _ => Ok(()),
        }
    }

    /// Maps an `onStatus` code: publishing refused, or nothing to act on.
    fn status(&self, code: &str) -> Result<(), RtmpError> {
        match code {
            "NetStream.Publish.BadName" => Err(RtmpError::AlreadyPublishing),
            "NetStream.Publish.Start" => Ok(()),
            c if c.starts_with("NetStream.Publish.") || c.starts_with("NetConnection.Connect.") => {
                Err(RtmpError::PublishRejected {
                    detail: self.url.redact(c),
                })
            }
            _ => Ok(()),
        }
    }

    fn protocol(&self, e: &dyn std::fmt::Display) -> RtmpError {
        RtmpError::Protocol {
            reason: self.url.redact(&e.to_string()),
        }
    }

    fn live_session(&mut self) -> Result<&mut ClientSession, RtmpError> {
        match (&self.phase, self.session.as_mut()) {
            (Phase::Live, Some(s)) => Ok(s),
            _ => Err(RtmpError::Protocol {
                reason: "not publishing yet".into(),
            }),
        }
    }

    /// `onMetaData` and the sequence headers, at RTMP time 0. Send before the first packet.
    pub fn headers(&mut self, streams: &StreamSet, out: &mut Vec<u8>) -> Result<(), RtmpError> {
        let mut meta = StreamMetadata::new();
        if let Some(v) = &streams.video {
            meta.video_width = Some(v.width);
            meta.video_height = Some(v.height);
            meta.video_codec_id = Some(7);
            meta.video_frame_rate = Some(v.frame_rate_num as f32 / v.frame_rate_den as f32);
            meta.video_bitrate_kbps = Some(v.bitrate_bps / 1000);
        }
        if let Some(a) = &streams.audio {
            meta.audio_codec_id = Some(10);
            meta.audio_bitrate_kbps = Some(a.bitrate_bps / 1000);
            meta.audio_sample_rate = Some(a.sample_rate);
            meta.audio_channels = Some(u32::from(a.channels));
            meta.audio_is_stereo = Some(a.channels == 2);
        }
        meta.encoder = Some(concat!("onair ", env!("CARGO_PKG_VERSION")).into());
        tracing::debug!("RTMP @setDataFrame onMetaData and the sequence headers sent");
        let session = self.live_session()?;
        let mut packets = vec![session.publish_metadata(&meta).map_err(protocol_error)?];
        let zero = RtmpTimestamp::new(0);
        if let Some(v) = &streams.video {
            let body = Bytes::from(flv::video_sequence_header_body(v));
            packets.push(
                session
                    .publish_video_data(body, zero, false)
                    .map_err(protocol_error)?,
            );
        }
        if let Some(a) = &streams.audio {
            let body = Bytes::from(flv::audio_sequence_header_body(a));
            packets.push(
                session
                    .publish_audio_data(body, zero, false)
                    .map_err(protocol_error)?,
            );
        }
        self.handle_results(packets, out)
    }

    /// One packet as an RTMP message. The first packet of a connection sets its zero.
    pub fn packet(&mut self, pkt: &EncodedPacket, out: &mut Vec<u8>) -> Result<(), RtmpError> {
        let zero = *self.zero.get_or_insert(pkt.dts);
        let ts = RtmpTimestamp::new(flv::timestamp_ms(pkt.dts - zero));
        let session = self.live_session()?;
        let result = match pkt.kind {
            StreamKind::Video => {
                let cts = (pkt.pts - pkt.dts).to_ticks(crate::media::Timebase::MILLIS) as i32;
                let body = Bytes::from(flv::video_frame_body(pkt.keyframe, cts, &pkt.data));
                session.publish_video_data(body, ts, !pkt.keyframe)
            }
            StreamKind::Audio => {
                session.publish_audio_data(Bytes::from(flv::audio_frame_body(&pkt.data)), ts, false)
            }
        }
        .map_err(protocol_error)?;
        self.handle_results(vec![result], out)
    }

    /// The closing `FCUnpublish`/`deleteStream`, when live.
    pub fn stop(&mut self, out: &mut Vec<u8>) {
        if let Ok(session) = self.live_session()
            && let Ok(results) = session.stop_publishing()
        {
            tracing::debug!("RTMP FCUnpublish and deleteStream sent");
            let _already_stopping = self.handle_results(results, out);
        }
    }
}

/// An rml_rtmp session error (a state or serialization error: it never holds the key).
fn protocol_error(e: rml_rtmp::sessions::ClientSessionError) -> RtmpError {
    RtmpError::Protocol {
        reason: e.to_string(),
    }
}

/// The `code` of an AMF0 status object.
fn status_code(v: &rml_rtmp::rml_amf0::Amf0Value) -> Option<String> {
    match v {
        rml_rtmp::rml_amf0::Amf0Value::Object(props) => match props.get("code") {
            Some(rml_rtmp::rml_amf0::Amf0Value::Utf8String(code)) => Some(code.clone()),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::{AudioConfig, VideoConfig};
    use rml_rtmp::sessions::{
        ServerSession, ServerSessionConfig, ServerSessionEvent, ServerSessionResult,
    };

    /// An in-memory server: rml_rtmp's own server session, accepting or rejecting.
    struct Server {
        handshake: Handshake,
        session: Option<ServerSession>,
        accept_publish: bool,
        events: Vec<String>,
        wrote: Vec<u8>,
    }

    impl Server {
        fn new(accept_publish: bool) -> Self {
            Self {
                handshake: Handshake::new(PeerType::Server),
                session: None,
                accept_publish,
                events: Vec::new(),
                wrote: Vec::new(),
            }
        }
        fn receive(&mut self, input: &[u8]) {
            let mut input = input.to_vec();
            if self.session.is_none() {
                match self.handshake.process_bytes(&input).unwrap() {
                    HandshakeProcessResult::InProgress { response_bytes } => {
                        self.wrote.extend(response_bytes);
                        return;
                    }
                    HandshakeProcessResult::Completed {
                        response_bytes,
                        remaining_bytes,
                    } => {
                        self.wrote.extend(response_bytes);
                        let (s, results) = ServerSession::new(ServerSessionConfig::new()).unwrap();
                        self.session = Some(s);
                        self.handle(results);
                        input = remaining_bytes;
                    }
                }
            }
            let results = self.session.as_mut().unwrap().handle_input(&input).unwrap();
            self.handle(results);
        }
        fn handle(&mut self, results: Vec<ServerSessionResult>) {
            for r in results {
                match r {
                    ServerSessionResult::OutboundResponse(p) => self.wrote.extend(p.bytes),
                    ServerSessionResult::RaisedEvent(e) => self.event(e),
                    ServerSessionResult::UnhandleableMessageReceived(_) => {}
                }
            }
        }
        fn event(&mut self, e: ServerSessionEvent) {
            let s = self.session.as_mut().unwrap();
            match e {
                ServerSessionEvent::ConnectionRequested {
                    request_id,
                    app_name,
                } => {
                    self.events.push(format!("connect {app_name}"));
                    let r = s.accept_request(request_id).unwrap();
                    self.handle(r);
                }
                ServerSessionEvent::PublishStreamRequested {
                    request_id,
                    stream_key,
                    app_name,
                    ..
                } => {
                    self.events.push(format!("publish {app_name}/{stream_key}"));
                    let r = if self.accept_publish {
                        s.accept_request(request_id).unwrap()
                    } else {
                        s.reject_request(
                            request_id,
                            "NetStream.Publish.BadName",
                            "Already publishing",
                        )
                        .unwrap()
                    };
                    self.handle(r);
                }
                ServerSessionEvent::StreamMetadataChanged { metadata, .. } => {
                    self.events.push(format!(
                        "metadata {}x{}",
                        metadata.video_width.unwrap_or(0),
                        metadata.video_height.unwrap_or(0)
                    ));
                }
                ServerSessionEvent::VideoDataReceived {
                    data, timestamp, ..
                } => {
                    self.events.push(format!(
                        "video {} {:02x}{:02x}",
                        timestamp.value, data[0], data[1]
                    ));
                }
                ServerSessionEvent::AudioDataReceived {
                    data, timestamp, ..
                } => {
                    self.events.push(format!(
                        "audio {} {:02x}{:02x}",
                        timestamp.value, data[0], data[1]
                    ));
                }
                ServerSessionEvent::PublishStreamFinished { .. } => {
                    self.events.push("unpublish".into())
                }
                _ => {}
            }
        }
    }

    /// Shuttles bytes both ways until neither side has anything to say.
    fn pump(
        client: &mut PublishSession,
        server: &mut Server,
        mut to_server: Vec<u8>,
    ) -> Result<(), RtmpError> {
        for _ in 0..20 {
            if !to_server.is_empty() {
                server.receive(&std::mem::take(&mut to_server));
            }
            let to_client = std::mem::take(&mut server.wrote);
            if to_client.is_empty() {
                return Ok(());
            }
            client.receive(&to_client, &mut to_server)?;
        }
        Ok(())
    }

    fn streams() -> StreamSet {
        StreamSet {
            video: Some(VideoConfig {
                keyframe_interval_frames: 60,
                width: 1280,
                height: 720,
                frame_rate_num: 30,
                frame_rate_den: 1,
                bitrate_bps: 3_000_000,
                avcc: Bytes::from_static(&[1, 66, 0xC0, 31, 0xFF, 0xE1, 0, 0, 1, 0, 0]),
            }),
            audio: Some(AudioConfig {
                codec: crate::media::AudioCodec::Aac,
                sample_rate: 48_000,
                channels: 2,
                bitrate_bps: 160_000,
                asc: Bytes::from_static(&[0x11, 0x90]),
            }),
        }
    }

    fn pkt(kind: StreamKind, ms: i64, key: bool) -> EncodedPacket {
        EncodedPacket {
            kind,
            pts: MediaTime::from_millis(ms),
            dts: MediaTime::from_millis(ms),
            duration: MediaTime::from_millis(33),
            keyframe: key,
            data: Bytes::from_static(&[0, 0, 0, 1, 0x65]),
        }
    }

    #[test]
    fn publishes_headers_then_packets_on_a_zero_based_clock() {
        let url = RtmpUrl::parse("rtmp://127.0.0.1:1935/live/s3cret").unwrap();
        let mut out = Vec::new();
        let mut client = PublishSession::start(url, &mut out).unwrap();
        let mut server = Server::new(true);
        pump(&mut client, &mut server, out).unwrap();
        assert_eq!(client.phase(), Phase::Live);
        let mut out = Vec::new();
        client.headers(&streams(), &mut out).unwrap();
        client
            .packet(&pkt(StreamKind::Video, 5_000, true), &mut out)
            .unwrap();
        client
            .packet(&pkt(StreamKind::Audio, 5_010, true), &mut out)
            .unwrap();
        client
            .packet(&pkt(StreamKind::Video, 5_033, false), &mut out)
            .unwrap();
        client.stop(&mut out);
        pump(&mut client, &mut server, out).unwrap();
        assert_eq!(
            server.events,
            [
                "connect live",
                "publish live/s3cret",
                "metadata 1280x720",
                "video 0 1700", // AVC sequence header
                "audio 0 af00", // AAC sequence header
                "video 0 1701", // keyframe, at this connection's zero
                "audio 10 af01",
                "video 33 2701",
                "unpublish",
            ]
        );
    }

    #[test]
    fn a_rejected_publish_is_an_error_in_words() {
        let url = RtmpUrl::parse("rtmp://127.0.0.1/live/taken").unwrap();
        let mut out = Vec::new();
        let mut client = PublishSession::start(url, &mut out).unwrap();
        let mut server = Server::new(false);
        let err = pump(&mut client, &mut server, out).unwrap_err();
        assert!(matches!(err, RtmpError::AlreadyPublishing), "{err:?}");
        assert_ne!(client.phase(), Phase::Live);
    }
}
