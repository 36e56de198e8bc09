//! HLS output: CMAF parts and segments with a Low-Latency HLS playlist, in a folder, plus the
//! optional preview server ([`server`]).
//!
//! The MP4 fragmenter is the recording's ([`Mp4Writer`]), cut at every keyframe and every part
//! duration; [`LivePlaylist`] (sans-IO) decides the files and the playlist text; this module
//! only writes them. Every file appears atomically: written whole under a `.tmp` name, then
//! renamed, and the playlist is renamed into place only after every file it lists. A reader
//! never sees half a file.
//!
//! Why CMAF rather than MPEG-TS: parts can be any whole number of frames (TS would also work,
//! but hls.js and Safari play LL-HLS best from fMP4), the init segment and fragments come from
//! the very code that writes recordings (tested against ffprobe), and there is no 188-byte
//! packetisation overhead.

pub mod server;

use std::fs;
use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::format::hls::{
    FileWrite, LivePlaylist, MIN_WINDOW, PLAYLIST_NAME, PartTiming, PlaylistOptions, Progress,
    Update, is_media_name,
};
use crate::format::mp4::{Fragment, Mp4Options, Mp4Writer};
use crate::media::time::Clock;
use crate::media::{EncodedPacket, MediaTime};
use crate::output::counters::OutputCounters;
use crate::output::{Departure, OutputError, OutputSink, StreamSet};

/// The preview server's address when none is given: loopback only.
pub const DEFAULT_SERVE_ADDR: &str = "127.0.0.1:8787";
/// Marker file: the folder holds onair's HLS output, whose old files may be removed.
const MARKER: &str = ".onair-hls";

/// Options of the HLS output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HlsOptions {
    /// Whole segments listed in the playlist (at least 6).
    pub window: usize,
    /// Serve the folder and the player page on this address.
    pub serve: Option<SocketAddr>,
}

impl Default for HlsOptions {
    fn default() -> Self {
        Self {
            window: MIN_WINDOW,
            serve: None,
        }
    }
}

/// Why the HLS output could not start.
#[derive(Debug, thiserror::Error)]
pub enum HlsError {
    #[error("the HLS window must be at least {MIN_WINDOW} segments (Apple's minimum), not {0}")]
    Window(usize),
    #[error(
        "{dir} holds files that are not onair's HLS output ({example}); choose an empty or new folder for --hls"
    )]
    ForeignFiles { dir: PathBuf, example: String },
    #[error(
        "cannot use {dir} for HLS: {}; check that it is a writable folder",
        crate::output::io_reason(source)
    )]
    Dir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "cannot serve the preview on {addr}: {}; choose another address with --serve HOST:PORT",
        crate::output::io_reason(source)
    )]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Writes the HLS folder; owns the preview server's listener until the pipeline takes it.
pub struct HlsOutput {
    dir: PathBuf,
    clock: Clock,
    /// Engine time of the output's zero.
    zero: MediaTime,
    window: usize,
    prefix: String,
    writer: Option<Mp4Writer>,
    playlist: Option<LivePlaylist>,
    progress: tokio::sync::watch::Sender<Progress>,
    server: Option<server::Server>,
    counters: Arc<OutputCounters>,
    bytes: u64,
    long_parts_reported: u64,
    /// Time in file writes, renames and deletions.
    io_nanos: u64,
    /// The latest part published (for the capture-to-departure latency).
    departed: Option<Departure>,
}

impl HlsOutput {
    /// Prepares the folder (creating it, removing an earlier run's files) and binds the preview
    /// server, so that a bad folder or a busy port fails before anything starts.
    pub fn open(
        dir: &Path,
        options: &HlsOptions,
        clock: Clock,
        counters: Arc<OutputCounters>,
    ) -> Result<Self, HlsError> {
        if options.window < MIN_WINDOW {
            return Err(HlsError::Window(options.window));
        }
        // The port first: a busy one must not leave a folder behind.
        let listener = options
            .serve
            .map(|addr| {
                TcpListener::bind(addr)
                    .and_then(|l| Ok((l.local_addr()?, l)))
                    .map_err(|source| HlsError::Bind { addr, source })
            })
            .transpose()?;
        prepare_dir(dir)?;
        let (progress, _) = tokio::sync::watch::channel(Progress::default());
        let server = match listener {
            Some((bound, listener)) => {
                let url = format!("http://{bound}/");
                if !bound.ip().is_loopback() {
                    tracing::warn!(%url, "the preview is served beyond this machine, as asked");
                }
                counters.set_url(url);
                Some(server::Server::new(
                    listener,
                    dir.to_owned(),
                    progress.subscribe(),
                ))
            }
            None => None,
        };
        // A prefix per run: a browser never mixes files of two runs that share a name.
        let nanos = clock
            .wall_time_at(MediaTime::ZERO)
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        Ok(Self {
            dir: dir.to_owned(),
            clock,
            zero: MediaTime::ZERO,
            window: options.window,
            prefix: format!("{:x}", (nanos / 1_000_000) & 0xff_ffff_ffff),
            writer: None,
            playlist: None,
            progress,
            server,
            counters,
            bytes: 0,
            long_parts_reported: 0,
            io_nanos: 0,
            departed: None,
        })
    }

    fn write_file(&mut self, file: &FileWrite) -> Result<(), OutputError> {
        let started = Instant::now();
        let result = write_atomic(&self.dir, &file.name, &file.bytes);
        self.io_nanos += started.elapsed().as_nanos() as u64;
        result.map_err(|source| self.err(source))?;
        self.bytes += file.bytes.len() as u64;
        Ok(())
    }

    fn apply(&mut self, update: Update) -> Result<(), OutputError> {
        for file in &update.files {
            self.write_file(file)?;
        }
        let started = Instant::now();
        let result = write_atomic(&self.dir, PLAYLIST_NAME, update.playlist.as_bytes());
        self.io_nanos += started.elapsed().as_nanos() as u64;
        result.map_err(|source| self.err(source))?;
        let started = Instant::now();
        for name in &update.delete {
            if let Err(e) = fs::remove_file(self.dir.join(name))
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(file = %name, "cannot delete an old HLS file: {e}");
            }
        }
        self.io_nanos += started.elapsed().as_nanos() as u64;
        if let Some(playlist) = &self.playlist {
            self.progress.send_replace(playlist.progress());
            if playlist.long_parts > self.long_parts_reported {
                self.long_parts_reported = playlist.long_parts;
                tracing::warn!(
                    parts = playlist.long_parts,
                    "an HLS part ran longer than PART-TARGET (frames came late)"
                );
            }
        }
        Ok(())
    }

    fn publish(&mut self, fragment: Fragment) -> Result<(), OutputError> {
        let date = self.clock.wall_time_at(self.zero + fragment.start);
        let Some(playlist) = self.playlist.as_mut() else {
            return Ok(());
        };
        let through = fragment.start + fragment.duration;
        let update = playlist.push(fragment, date);
        self.apply(update)?;
        // The part is published: listed in the playlist that players fetch.
        self.departed = Some(Departure {
            through,
            at: Instant::now(),
        });
        Ok(())
    }

    fn err(&self, source: std::io::Error) -> OutputError {
        OutputError::Write {
            path: self.dir.clone(),
            source,
        }
    }
}

impl OutputSink for HlsOutput {
    fn start(&mut self, streams: &StreamSet) -> Result<(), OutputError> {
        let timing = match &streams.video {
            Some(v) => PartTiming::new(
                v.frame_rate_num,
                v.frame_rate_den,
                v.keyframe_interval_frames,
            ),
            // Audio only: AAC frames of 1024 samples, segments of about 2 s (93 frames).
            None => PartTiming::new(
                streams.audio.as_ref().map_or(48_000, |a| a.sample_rate),
                1_024,
                93,
            ),
        };
        let mut writer = Mp4Writer::new(
            streams.video.clone(),
            streams.audio.clone(),
            Mp4Options {
                fragment_duration: timing.fragment_duration(),
                keep_index: false,
            },
        );
        let playlist = LivePlaylist::new(PlaylistOptions {
            timing,
            window: self.window,
            prefix: self.prefix.clone(),
        });
        let init = FileWrite {
            name: playlist.init_name(),
            bytes: writer.init_segment()?,
        };
        self.writer = Some(writer);
        self.playlist = Some(playlist);
        self.write_file(&init)
    }

    fn set_zero(&mut self, zero: MediaTime) {
        self.zero = zero;
    }

    fn write(&mut self, pkt: &EncodedPacket) -> Result<(), OutputError> {
        let Some(fragment) = self
            .writer
            .as_mut()
            .map(|w| w.push(pkt))
            .transpose()?
            .flatten()
        else {
            return Ok(());
        };
        self.publish(fragment)
    }

    fn finish(&mut self) -> Result<(), OutputError> {
        let result = (|| {
            if let Some(fragment) = self
                .writer
                .as_mut()
                .map(Mp4Writer::flush)
                .transpose()?
                .flatten()
            {
                self.publish(fragment)?;
            }
            match self.playlist.as_mut() {
                Some(playlist) => {
                    let update = playlist.finish();
                    self.apply(update)
                }
                None => Ok(()),
            }
        })();
        // Whatever happened, the server learns that nothing more will come.
        self.progress.send_modify(|p| p.ended = true);
        result
    }

    fn bytes_written(&self) -> u64 {
        self.bytes
    }

    fn io_nanos(&self) -> u64 {
        self.io_nanos
    }

    fn departed(&mut self) -> Option<Departure> {
        self.departed.take()
    }

    fn take_worker(&mut self) -> Option<Box<dyn FnOnce() + Send>> {
        let server = self.server.take()?;
        let counters = self.counters.clone();
        Some(Box::new(move || {
            if let Err(e) = server.run() {
                tracing::error!("preview server stopped: {e}");
                counters.set_last_error(format!("preview server stopped: {e}"));
            }
        }))
    }
}

/// Creates the folder if needed; refuses one holding anything but onair's HLS files; removes
/// an earlier run's files; leaves the marker.
fn prepare_dir(dir: &Path) -> Result<(), HlsError> {
    let io = |source| HlsError::Dir {
        dir: dir.to_owned(),
        source,
    };
    fs::create_dir_all(dir).map_err(io)?;
    let mut ours = Vec::new();
    for entry in fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_file = entry.file_type().map_err(io)?.is_file();
        if is_file && is_hls_file(&name) {
            ours.push(entry.path());
        } else if name != MARKER {
            return Err(HlsError::ForeignFiles {
                dir: dir.to_owned(),
                example: name,
            });
        }
    }
    for path in ours {
        fs::remove_file(path).map_err(io)?;
    }
    fs::write(
        dir.join(MARKER),
        b"onair HLS output: files here are replaced on every run\n",
    )
    .map_err(io)
}

/// The names onair writes into an HLS folder.
fn is_hls_file(name: &str) -> bool {
    name == PLAYLIST_NAME || is_media_name(name) || name.ends_with(".tmp")
}

/// Writes `bytes` to `dir/name` atomically: to `dir/name.tmp`, then renamed over `name`.
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let mut file = fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    drop(file);
    fs::rename(&tmp, dir.join(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_folder_must_hold_only_hls_files() {
        let dir = tempfile::tempdir().unwrap();
        let hls = dir.path().join("hls");
        prepare_dir(&hls).unwrap();
        assert!(hls.join(MARKER).exists());
        fs::write(hls.join("abc-3.m4s"), b"old").unwrap();
        fs::write(hls.join(PLAYLIST_NAME), b"old").unwrap();
        prepare_dir(&hls).unwrap();
        assert!(!hls.join("abc-3.m4s").exists() && !hls.join(PLAYLIST_NAME).exists());
        fs::write(hls.join("notes.txt"), b"mine").unwrap();
        let err = prepare_dir(&hls).unwrap_err().to_string();
        assert!(
            err.contains("(notes.txt)") && err.contains("choose an empty"),
            "{err}"
        );
        assert_eq!(fs::read(hls.join("notes.txt")).unwrap(), b"mine");
    }

    #[test]
    fn files_appear_whole() {
        let dir = tempfile::tempdir().unwrap();
        write_atomic(dir.path(), "a.m4s", b"one").unwrap();
        write_atomic(dir.path(), "a.m4s", b"two").unwrap();
        assert_eq!(fs::read(dir.path().join("a.m4s")).unwrap(), b"two");
        assert!(!dir.path().join("a.m4s.tmp").exists());
    }
}
