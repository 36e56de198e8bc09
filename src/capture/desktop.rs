//! Desktop audio: what an output device plays.
//!
//! Linux: a record stream on the monitor source of the default sink (or of the sink named),
//! found by the sound server's own names (`@DEFAULT_SINK@`, the sink's `monitor_source_name`)
//! through the PulseAudio native protocol, in pure Rust (the `pulseaudio` crate). PipeWire's
//! pulse server speaks the same protocol, so both work; no ALSA plugin is involved. The server
//! converts to 48 kHz stereo f32 and sends 10 ms fragments over the socket, which feed an
//! [`audio_ring`](super::audio_ring) ring on a thread of the pipeline's (`cap-desktop`); the
//! connection is reopened every 2 s after a loss, as a microphone is.
//!
//! Windows and macOS: cpal's loopback recording of the default output (WASAPI loopback;
//! CoreAudio's process tap, macOS 14.6 and later), through the microphone's code. Built, but
//! untested here (no such machine).

use super::audio_ring::RingSource;
use super::{CaptureError, DesktopTarget};

/// Opens desktop audio (on its device thread) and returns the engine's side, whose counters
/// are named `name`. The first open's error comes from `wait_ready`.
pub fn open(target: &DesktopTarget, name: &str) -> RingSource {
    imp::open(target, name)
}

/// The outputs whose sound can be captured: (id for `desktop:ID`, description).
pub fn list() -> Result<Vec<(String, String)>, CaptureError> {
    imp::list()
}

/// Linux: the sound server's inputs (its sources that are not an output's monitor), by its
/// own names: (name for `mic:NAME`, description), as OBS's PulseAudio input lists them.
#[cfg(target_os = "linux")]
pub fn inputs() -> Result<Vec<(String, String)>, CaptureError> {
    imp::inputs()
}

/// Linux: whether the sound server has a source called exactly `name`.
#[cfg(target_os = "linux")]
pub fn has_source(name: &str) -> bool {
    imp::has_source(name)
}

/// Linux: records the sound server's source `source` (a microphone by the server's name),
/// as desktop audio records a monitor; its counters are named `name`.
#[cfg(target_os = "linux")]
pub fn open_source(source: &str, name: &str) -> RingSource {
    imp::open_what(Record::Source(source.to_owned()), name)
}

/// What a record stream records: an output's monitor, or a source by its name.
#[cfg(target_os = "linux")]
#[derive(Debug, Clone)]
enum Record {
    Desktop(DesktopTarget),
    Source(String),
}

#[cfg(target_os = "linux")]
impl Record {
    fn kind(&self) -> &'static str {
        match self {
            Record::Desktop(_) => "desktop audio",
            Record::Source(_) => "microphone",
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use super::super::MicTarget;
    use super::super::microphone::{self, CpalTarget};
    use super::*;

    pub fn open(target: &DesktopTarget, name: &str) -> RingSource {
        let device = match target {
            DesktopTarget::Default => MicTarget::Default,
            DesktopTarget::Name(n) => MicTarget::Name(n.clone()),
        };
        microphone::open(&CpalTarget::Loopback(device), name)
    }

    pub fn list() -> Result<Vec<(String, String)>, CaptureError> {
        microphone::list_outputs()
    }
}

#[cfg(target_os = "linux")]
mod imp {
    use std::ffi::CString;
    use std::io::{BufReader, Read};
    use std::os::unix::net::UnixStream;
    use std::path::PathBuf;
    use std::sync::Arc;
    use std::sync::atomic::Ordering::Relaxed;
    use std::time::{Duration, Instant};

    use crossbeam_channel::bounded;
    use pulseaudio::protocol::{self as pa, Command};

    use super::super::audio_ring::{FIRST_CALLBACK, STALL, Shared, push_frames};
    use super::super::{REOPEN_INTERVAL, Worker, sleep_unless};
    use super::*;

    /// Fragments asked of the server: 10 ms (it may give more).
    const FRAGMENT_MS: u32 = 10;
    const RATE_HZ: u32 = 48_000;
    /// The largest message accepted from the server (a fragment is a few kB).
    const MAX_MESSAGE: u32 = 4 << 20;

    fn no_server(detail: impl Into<String>) -> CaptureError {
        CaptureError::NoSoundServer {
            detail: detail.into(),
        }
    }

    fn proto(what: &str, e: &pa::ProtocolError) -> CaptureError {
        no_server(format!("PulseAudio {what}: {e}"))
    }

    /// The server's socket: `PULSE_SERVER` (unix: only), else the user's runtime folder.
    fn socket_path() -> Result<PathBuf, CaptureError> {
        if let Ok(server) = std::env::var("PULSE_SERVER") {
            let first = server.split_whitespace().next().unwrap_or("");
            let path = first.strip_prefix("unix:").unwrap_or(first);
            if path.starts_with('/') {
                return Ok(PathBuf::from(path));
            }
            return Err(no_server(format!(
                "PULSE_SERVER={server} is not a local socket (desktop audio needs the local \
                 sound server)"
            )));
        }
        let runtime = std::env::var_os("PULSE_RUNTIME_PATH")
            .map(|p| PathBuf::from(p).join("native"))
            .into_iter()
            .chain(
                std::env::var_os("XDG_RUNTIME_DIR").map(|d| PathBuf::from(d).join("pulse/native")),
            )
            .chain(std::iter::once(PathBuf::from(format!(
                "/run/user/{}/pulse/native",
                rustix::process::getuid().as_raw()
            ))));
        let tried: Vec<PathBuf> = runtime.collect();
        tried.iter().find(|p| p.exists()).cloned().ok_or_else(|| {
            no_server(format!(
                "no PulseAudio or PipeWire socket at {}",
                tried
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
    }

    /// A connection to the sound server, authenticated and named.
    struct Connection {
        sock: BufReader<UnixStream>,
        version: u16,
        seq: u32,
    }

    impl Connection {
        fn open() -> Result<Self, CaptureError> {
            let path = socket_path()?;
            let stream = UnixStream::connect(&path)
                .map_err(|e| no_server(format!("cannot connect to {}: {e}", path.display())))?;
            // Never wait longer than this for the server: a silent server is a lost device.
            // A new stream's first fragment may take longer on a busy machine (see
            // `Recording::pump`, which shortens the wait to `STALL` once audio flows).
            stream
                .set_read_timeout(Some(FIRST_CALLBACK))
                .and_then(|()| stream.set_write_timeout(Some(STALL)))
                .map_err(|e| no_server(e.to_string()))?;
            let mut c = Self {
                sock: BufReader::new(stream),
                version: pa::MAX_VERSION,
                seq: 0,
            };
            let cookie = pulseaudio::cookie_path_from_env()
                .and_then(|p| std::fs::read(p).ok())
                .unwrap_or_default();
            let auth: pa::AuthReply = c.call(&Command::Auth(pa::AuthParams {
                version: pa::MAX_VERSION,
                supports_shm: false,
                supports_memfd: false,
                cookie,
            }))?;
            c.version = pa::MAX_VERSION.min(auth.version);
            let mut props = pa::Props::new();
            props.set(pa::Prop::ApplicationName, c"onair");
            let _named: pa::SetClientNameReply = c.call(&Command::SetClientName(props))?;
            Ok(c)
        }

        /// Sends a command and reads its reply.
        fn call<T: pa::CommandReply>(&mut self, cmd: &Command) -> Result<T, CaptureError> {
            self.seq += 1;
            pa::write_command_message(self.sock.get_mut(), self.seq, cmd, self.version)
                .map_err(|e| proto("request", &e))?;
            let (_, reply) = pa::read_reply_message::<T>(&mut self.sock, self.version)
                .map_err(|e| proto("reply", &e))?;
            Ok(reply)
        }

        /// The source called `name`, and its description.
        fn source(&mut self, name: &str) -> Result<(CString, String), CaptureError> {
            let sources = self.call::<pa::SourceInfoList>(&Command::GetSourceInfoList)?;
            match sources.iter().find(|s| s.name.to_string_lossy() == name) {
                Some(s) => Ok((
                    s.name.clone(),
                    s.description
                        .as_ref()
                        .unwrap_or(&s.name)
                        .to_string_lossy()
                        .into_owned(),
                )),
                None => Err(CaptureError::NoSuchDevice {
                    kind: "microphone",
                    wanted: name.to_owned(),
                    available: sources
                        .iter()
                        .map(|s| s.name.to_string_lossy().into_owned())
                        .collect::<Vec<_>>()
                        .join(", "),
                }),
            }
        }

        fn sinks(&mut self) -> Result<Vec<pa::SinkInfo>, CaptureError> {
            self.call::<pa::SinkInfoList>(&Command::GetSinkInfoList)
        }

        /// The monitor source of the sink `target` names, by the server's names.
        fn monitor_of(
            &mut self,
            target: &DesktopTarget,
        ) -> Result<(CString, String), CaptureError> {
            let sink = match target {
                DesktopTarget::Default => self
                    .call::<pa::SinkInfo>(&Command::GetSinkInfo(pa::GetSinkInfo {
                        name: Some(pa::DEFAULT_SINK.to_owned()),
                        ..Default::default()
                    }))
                    .map_err(|e| CaptureError::NoDevice {
                        kind: "desktop audio output",
                        hint: format!(" (the sound server has no default sink: {e})"),
                    })?,
                DesktopTarget::Name(wanted) => {
                    let lower = wanted.to_lowercase();
                    let sinks = self.sinks()?;
                    let text = |c: &Option<CString>| {
                        c.as_ref()
                            .map(|c| c.to_string_lossy().into_owned())
                            .unwrap_or_default()
                    };
                    let found = sinks.iter().position(|s| {
                        s.name.to_string_lossy() == *wanted
                            || s.name.to_string_lossy().to_lowercase().contains(&lower)
                            || text(&s.description).to_lowercase().contains(&lower)
                    });
                    match found {
                        Some(i) => sinks[i].clone(),
                        None => {
                            return Err(CaptureError::NoSuchDevice {
                                kind: "desktop audio output",
                                wanted: wanted.clone(),
                                available: if sinks.is_empty() {
                                    "none".into()
                                } else {
                                    sinks
                                        .iter()
                                        .map(|s| s.name.to_string_lossy().into_owned())
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                },
                            });
                        }
                    }
                }
            };
            let label = sink
                .description
                .as_ref()
                .unwrap_or(&sink.name)
                .to_string_lossy()
                .into_owned();
            let monitor = sink.monitor_source_name.ok_or_else(|| CaptureError::Open {
                kind: "desktop audio output",
                name: label.clone(),
                detail: "the sound server gives it no monitor source".into(),
            })?;
            Ok((monitor, label))
        }
    }

    pub fn inputs() -> Result<Vec<(String, String)>, CaptureError> {
        let mut c = Connection::open()?;
        let sources = c.call::<pa::SourceInfoList>(&Command::GetSourceInfoList)?;
        Ok(sources
            .into_iter()
            .filter(|s| s.monitor_of_sink_index.is_none() && s.monitor_of_sink_name.is_none())
            .map(|s| {
                let name = s.name.to_string_lossy().into_owned();
                let description = s
                    .description
                    .map(|d| d.to_string_lossy().into_owned())
                    .unwrap_or_else(|| name.clone());
                (name, description)
            })
            .collect())
    }

    pub fn has_source(name: &str) -> bool {
        let Ok(mut c) = Connection::open() else {
            return false;
        };
        c.call::<pa::SourceInfoList>(&Command::GetSourceInfoList)
            .is_ok_and(|list| list.iter().any(|s| s.name.to_string_lossy() == name))
    }

    pub fn list() -> Result<Vec<(String, String)>, CaptureError> {
        let mut c = Connection::open()?;
        Ok(c.sinks()?
            .into_iter()
            .map(|s| {
                let name = s.name.to_string_lossy().into_owned();
                let description = s
                    .description
                    .map(|d| d.to_string_lossy().into_owned())
                    .unwrap_or_else(|| name.clone());
                (name, description)
            })
            .collect())
    }

    pub fn open(target: &DesktopTarget, name: &str) -> RingSource {
        open_what(Record::Desktop(target.clone()), name)
    }

    pub(super) fn open_what(target: Record, name: &str) -> RingSource {
        let (kind, thread) = match target {
            Record::Desktop(_) => ("desktop", "cap-desktop"),
            Record::Source(_) => ("microphone", "cap-mic"),
        };
        let shared = Shared::new(name, kind);
        let (tx, rx) = bounded::<Result<(), CaptureError>>(1);
        let for_thread = shared.clone();
        let run = move || device_loop(&target, &for_thread, &tx);
        RingSource::new(
            shared,
            Some(Worker {
                name: thread.into(),
                run: Box::new(run),
            }),
            Some(rx),
        )
    }

    /// A record stream on the monitor: the connection, its channel and what each frame is.
    struct Recording {
        conn: Connection,
        channel: u32,
        channels: usize,
        bytes: Vec<u8>,
        samples: Vec<f32>,
        /// Audio has arrived: the socket now waits at most `STALL`.
        flowing: bool,
    }

    fn start(target: &Record, shared: &Shared) -> Result<Recording, CaptureError> {
        let mut conn = Connection::open()?;
        let (monitor, label) = match target {
            Record::Desktop(t) => conn.monitor_of(t)?,
            Record::Source(name) => conn.source(name)?,
        };
        let spec = pa::SampleSpec {
            format: pa::SampleFormat::Float32Le,
            channels: 2,
            sample_rate: RATE_HZ,
        };
        let fragment = RATE_HZ * FRAGMENT_MS / 1000 * 2 * 4;
        let reply: pa::CreateRecordStreamReply =
            conn.call(&Command::CreateRecordStream(pa::RecordStreamParams {
                sample_spec: spec,
                channel_map: pa::ChannelMap::stereo(),
                source_name: Some(monitor.clone()),
                buffer_attr: pa::stream::BufferAttr {
                    fragment_size: fragment,
                    ..Default::default()
                },
                flags: pa::stream::StreamFlags {
                    adjust_latency: true,
                    ..Default::default()
                },
                cvolume: Some(pa::ChannelVolume::norm(2)),
                ..Default::default()
            }))?;
        let got = reply.sample_spec;
        if got.format != pa::SampleFormat::Float32Le || got.channels == 0 || got.sample_rate == 0 {
            return Err(CaptureError::Open {
                kind: "desktop audio output",
                name: label,
                detail: format!("the sound server offers {got:?}, not 32-bit float"),
            });
        }
        shared.begin_stream(got.sample_rate);
        tracing::info!(
            kind = target.kind(),
            device = %label,
            source = %monitor.to_string_lossy(),
            rate = got.sample_rate,
            channels = got.channels,
            fragment = reply.buffer_attr.fragment_size,
            "desktop audio open"
        );
        Ok(Recording {
            conn,
            channel: reply.channel,
            channels: usize::from(got.channels),
            bytes: Vec::with_capacity(fragment as usize * 4),
            samples: Vec::with_capacity(fragment as usize),
            flowing: false,
        })
    }

    impl Recording {
        /// Reads one message; a data message goes into the ring. An error is a lost stream.
        fn pump(&mut self, shared: &Shared) -> Result<(), String> {
            let desc = pa::read_descriptor(&mut self.conn.sock).map_err(|e| e.to_string())?;
            if desc.length > MAX_MESSAGE {
                return Err(format!(
                    "a message of {} bytes from the server",
                    desc.length
                ));
            }
            self.bytes.resize(desc.length as usize, 0);
            self.conn
                .sock
                .read_exact(&mut self.bytes)
                .map_err(|e| e.to_string())?;
            if desc.channel == u32::MAX {
                // A command: the server stopping our stream is a loss; others are news.
                let parsed = Command::read_tag_prefixed(
                    &mut std::io::Cursor::new(&self.bytes),
                    self.conn.version,
                );
                if let Ok((_, Command::RecordStreamKilled(_))) = parsed {
                    return Err("the sound server ended the stream".into());
                }
                return Ok(());
            }
            if desc.channel != self.channel {
                return Ok(());
            }
            let now = Instant::now();
            if !self.flowing {
                self.flowing = true;
                self.conn
                    .sock
                    .get_ref()
                    .set_read_timeout(Some(STALL))
                    .map_err(|e| e.to_string())?;
            }
            self.samples.clear();
            self.samples.extend(
                self.bytes
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            );
            let frames = self.samples.len() / self.channels;
            // The first frame of a fragment was played about a fragment ago.
            let age = Duration::from_micros(frames as u64 * 1_000_000 / u64::from(RATE_HZ));
            push_frames(shared, &self.samples, self.channels, Some(age), now);
            Ok(())
        }
    }

    fn device_loop(
        target: &Record,
        shared: &Arc<Shared>,
        first: &crossbeam_channel::Sender<Result<(), CaptureError>>,
    ) {
        let gone = || shared.closed.load(Relaxed);
        let counters = shared.counters.clone();
        let mut rec = match start(target, shared) {
            Ok(r) => {
                let _sent = first.try_send(Ok(()));
                counters.set_live(true);
                Some(r)
            }
            Err(e) => {
                let _sent = first.try_send(Err(e));
                return;
            }
        };
        while !gone() {
            if let Some(r) = rec.as_mut() {
                let lost = match r.pump(shared) {
                    Err(e) => Some(e),
                    Ok(()) if shared.stalled() => {
                        Some("no audio from the server for a second".into())
                    }
                    Ok(()) => None,
                };
                if let Some(e) = lost {
                    tracing::error!(source = %counters.name, "{} lost ({e}); retrying every 2 s", target.kind());
                    counters.set_error(&e);
                    counters.losses.fetch_add(1, Relaxed);
                    counters.set_live(false);
                    rec = None;
                }
                continue;
            }
            match start(target, shared) {
                Ok(r) => {
                    tracing::info!(source = %counters.name, "{} is back", target.kind());
                    counters.reopened.fetch_add(1, Relaxed);
                    counters.set_live(true);
                    rec = Some(r);
                }
                Err(e) => {
                    counters.set_error(&e.to_string());
                    if !sleep_unless(&gone, REOPEN_INTERVAL) {
                        return;
                    }
                }
            }
        }
    }
}
