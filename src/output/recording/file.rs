//! The file I/O around the sans-IO muxers.
//!
//! Both formats write every byte the muxer returns at once, so a kill -9 leaves everything up
//! to the last complete fragment (MP4) or tag (FLV) in the file; the MP4 is synced to disk at
//! each keyframe fragment so that a power cut loses at most one keyframe interval.
//!
//! A write that fails (a full disk) is cut off again: the file is truncated back to the end of
//! the last complete fragment or tag, so it decodes cleanly to there. An MP4 is then still
//! finalized if there is room for its `moov`, and left as a whole fragmented MP4 if not.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::time::Instant;

use crate::format::flv::FlvMuxer;
use crate::format::mp4::{Mp4Options, Mp4Writer};
use crate::media::{EncodedPacket, MediaTime, StreamKind};
use crate::output::{Departure, OutputError, OutputSink, StreamSet};

/// Where a recording's bytes go.
pub enum Target {
    File(File),
    /// Nowhere: the muxer's cost alone.
    Discard,
}

struct RecordingFile {
    file: Target,
    path: PathBuf,
    bytes: u64,
    /// Time in write, patch and sync calls.
    io_nanos: u64,
    /// Set by `append`: when the latest bytes were handed to the file.
    appended_at: Option<Instant>,
}

impl RecordingFile {
    fn new(file: Target, path: PathBuf) -> Self {
        Self {
            file,
            path,
            bytes: 0,
            io_nanos: 0,
            appended_at: None,
        }
    }
    fn timed<T>(
        &mut self,
        f: impl FnOnce(&mut File) -> std::io::Result<T>,
    ) -> Result<(), OutputError> {
        let Target::File(file) = &mut self.file else {
            return Ok(());
        };
        let started = Instant::now();
        let result = f(file);
        self.io_nanos += started.elapsed().as_nanos() as u64;
        result.map(|_| ()).map_err(|source| self.err(source))
    }
    /// Appends `bytes` whole, or (on an error) not at all: what was partly written is cut off.
    fn append(&mut self, bytes: &[u8]) -> Result<(), OutputError> {
        let whole = self.bytes;
        if let Err(e) = self.timed(|f| f.write_all(bytes)) {
            self.truncate_to(whole);
            return Err(e);
        }
        self.appended_at = Some(Instant::now());
        self.bytes += bytes.len() as u64;
        Ok(())
    }
    /// Cuts the file back to `len` bytes (a failed append), leaving the cursor at its end.
    fn truncate_to(&mut self, len: u64) {
        let result = self.timed(|f| {
            f.set_len(len)?;
            f.seek(SeekFrom::Start(len))
        });
        if let Err(e) = result {
            tracing::warn!(
                "cannot cut {} back to its last whole part: {e}",
                self.path.display()
            );
        }
        self.bytes = len;
    }
    fn patch(&mut self, offset: u64, bytes: &[u8]) -> Result<(), OutputError> {
        self.timed(|f| write_all_at(f, bytes, offset))
    }
    fn sync(&mut self) -> Result<(), OutputError> {
        self.timed(|f| f.sync_data())
    }
    fn err(&self, source: std::io::Error) -> OutputError {
        OutputError::Write {
            path: self.path.clone(),
            source,
        }
    }
}

/// Overwrites `bytes` at `offset` without moving the file's position (Unix: `pwrite`).
#[cfg(unix)]
fn write_all_at(file: &mut File, bytes: &[u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, bytes, offset)
}

/// Overwrites `bytes` at `offset`, then goes back to the end, where appends continue.
#[cfg(not(unix))]
fn write_all_at(file: &mut File, bytes: &[u8], offset: u64) -> std::io::Result<()> {
    file.seek(SeekFrom::Start(offset))?;
    file.write_all(bytes)?;
    file.seek(SeekFrom::End(0)).map(|_| ())
}

/// Fragmented MP4 while recording, finalized into a plain MP4 on a clean stop.
pub struct Mp4Recording {
    out: RecordingFile,
    writer: Option<Mp4Writer>,
    /// Video before this (output-relative) time has been appended to the file.
    through: Option<MediaTime>,
    /// A write failed (and was reported); `finish` keeps what is whole.
    failed: bool,
}

impl Mp4Recording {
    pub fn new(file: Target, path: PathBuf) -> Self {
        Self {
            out: RecordingFile::new(file, path),
            writer: None,
            through: None,
            failed: false,
        }
    }

    /// Appends a fragment, or takes it back from the writer if it did not reach the file.
    fn append_fragment(&mut self, bytes: &[u8]) -> Result<(), OutputError> {
        let result = self.out.append(bytes);
        if result.is_err()
            && let Some(w) = self.writer.as_mut()
        {
            w.retract_last_fragment();
        }
        result
    }
}

impl OutputSink for Mp4Recording {
    fn start(&mut self, streams: &StreamSet) -> Result<(), OutputError> {
        let mut writer = Mp4Writer::new(
            streams.video.clone(),
            streams.audio.clone(),
            Mp4Options::default(),
        );
        let init = writer.init_segment()?;
        self.writer = Some(writer);
        self.out.append(&init)
    }

    fn write(&mut self, pkt: &EncodedPacket) -> Result<(), OutputError> {
        let Some(writer) = self.writer.as_mut() else {
            return Ok(());
        };
        let pushed = writer.push(pkt);
        if pushed.is_err() {
            self.failed = true; // a sample MP4 cannot hold: reported once, by this write
        }
        if let Some(fragment) = pushed? {
            let result = self.append_fragment(&fragment.bytes).and_then(|()| {
                if fragment.starts_with_keyframe {
                    self.out.sync()
                } else {
                    Ok(())
                }
            });
            if result.is_err() {
                self.failed = true;
            }
            result?;
            self.through = Some(fragment.start + fragment.duration);
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), OutputError> {
        if self.out.bytes == 0 {
            return Ok(()); // not even the header reached the file
        }
        let mut first_error = None;
        match self.writer.as_mut().map(Mp4Writer::flush) {
            Some(Ok(Some(fragment))) => match self.append_fragment(&fragment.bytes) {
                Ok(()) => self.through = Some(MediaTime::MAX),
                Err(e) => first_error = Some(e),
            },
            Some(Err(e)) => first_error = Some(e.into()),
            Some(Ok(None)) | None => {}
        }
        let Some(mut writer) = self.writer.take() else {
            return first_error.map_or(Ok(()), Err);
        };
        // The complete moov goes to the end first and reaches the disk before the fragment
        // headers are blanked, so an interruption at any point leaves a playable file. With no
        // room for it, the file stays a whole fragmented MP4.
        let fragmented = self.out.bytes;
        let finalize = match writer.finalize() {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(
                    "{}: cannot finish it as a plain MP4 ({e}); it stays a fragmented MP4, which plays up to its last complete fragment",
                    self.out.path.display()
                );
                return match first_error {
                    Some(_) if self.failed => Ok(()),
                    Some(first) => Err(first),
                    None => Err(e.into()),
                };
            }
        };
        let appended = self
            .out
            .append(&finalize.append)
            .and_then(|()| self.out.sync());
        let result = match appended {
            Ok(()) => {
                let patched = finalize
                    .patches
                    .iter()
                    .try_for_each(|(offset, bytes)| self.out.patch(*offset, bytes));
                patched.and_then(|()| self.out.sync())
            }
            Err(e) => {
                self.out.truncate_to(fragmented);
                tracing::warn!(
                    "{}: no room to finish it as a plain MP4; it stays a fragmented MP4, which plays up to its last complete fragment",
                    self.out.path.display()
                );
                Err(e)
            }
        };
        match first_error.or(result.err()) {
            // Reported when the first write failed: what is whole is kept, said above.
            Some(_) if self.failed => Ok(()),
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn bytes_written(&self) -> u64 {
        self.out.bytes
    }

    fn io_nanos(&self) -> u64 {
        self.out.io_nanos
    }

    fn departed(&mut self) -> Option<Departure> {
        Some(Departure {
            through: self.through.take()?,
            at: self.out.appended_at?,
        })
    }
}

/// FLV: streamable by nature; `duration` and `filesize` are filled in on a clean stop.
pub struct FlvRecording {
    out: RecordingFile,
    muxer: Option<FlvMuxer>,
    /// A tag could not be written (and was cut off): the file ends at the last whole tag and
    /// is left so (the muxer's end and size would count the lost tag).
    failed: bool,
    /// The video frame just appended (output-relative pts).
    through: Option<MediaTime>,
    /// Each tag is built here, reused: no allocation per packet.
    tag: Vec<u8>,
}

impl FlvRecording {
    pub fn new(file: Target, path: PathBuf) -> Self {
        Self {
            out: RecordingFile::new(file, path),
            muxer: None,
            failed: false,
            through: None,
            tag: Vec::with_capacity(64 * 1024),
        }
    }
}

impl OutputSink for FlvRecording {
    fn start(&mut self, streams: &StreamSet) -> Result<(), OutputError> {
        let mut muxer = FlvMuxer::new(streams.video.clone(), streams.audio.clone());
        let header = muxer.header();
        self.muxer = Some(muxer);
        self.out.append(&header)
    }

    fn write(&mut self, pkt: &EncodedPacket) -> Result<(), OutputError> {
        let Some(muxer) = self.muxer.as_mut() else {
            return Ok(());
        };
        self.tag.clear();
        muxer.packet_into(pkt, &mut self.tag);
        if self.tag.is_empty() {
            return Ok(()); // before the zero: FLV cannot hold it
        }
        if let Err(e) = self.out.append(&self.tag) {
            self.failed = true;
            return Err(e);
        }
        if pkt.kind == StreamKind::Video {
            self.through = Some(pkt.pts + MediaTime::from_nanos(1));
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), OutputError> {
        let Some(mut muxer) = self.muxer.take() else {
            return Ok(());
        };
        if self.failed {
            return Ok(()); // reported; the file ends at its last whole tag
        }
        let (tail, patches) = muxer.finalize();
        self.out.append(&tail)?;
        for (offset, bytes) in &patches {
            self.out.patch(*offset, bytes)?;
        }
        self.out.sync()
    }

    fn bytes_written(&self) -> u64 {
        self.out.bytes
    }

    fn io_nanos(&self) -> u64 {
        self.out.io_nanos
    }

    fn departed(&mut self) -> Option<Departure> {
        Some(Departure {
            through: self.through.take()?,
            at: self.out.appended_at?,
        })
    }
}
