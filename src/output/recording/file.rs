//! The file I/O around the sans-IO muxers.
//!
//! Both formats write every byte the muxer returns at once, so a kill -9 leaves everything up
//! to the last complete fragment (MP4) or tag (FLV) in the file; the MP4 is synced to disk at
//! each keyframe fragment so that a power cut loses at most one keyframe interval.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use crate::format::flv::FlvMuxer;
use crate::format::mp4::{Mp4Options, Mp4Writer};
use crate::media::EncodedPacket;
use crate::output::{OutputError, OutputSink, StreamSet};

struct RecordingFile {
    file: File,
    path: PathBuf,
    bytes: u64,
}

impl RecordingFile {
    fn append(&mut self, bytes: &[u8]) -> Result<(), OutputError> {
        self.file
            .write_all(bytes)
            .map_err(|source| self.err(source))?;
        self.bytes += bytes.len() as u64;
        Ok(())
    }
    fn patch(&mut self, offset: u64, bytes: &[u8]) -> Result<(), OutputError> {
        self.file
            .write_all_at(bytes, offset)
            .map_err(|source| self.err(source))
    }
    fn sync(&mut self) -> Result<(), OutputError> {
        self.file.sync_data().map_err(|source| self.err(source))
    }
    fn err(&self, source: std::io::Error) -> OutputError {
        OutputError::Write {
            path: self.path.clone(),
            source,
        }
    }
}

/// Fragmented MP4 while recording, finalized into a plain MP4 on a clean stop.
pub struct Mp4Recording {
    out: RecordingFile,
    writer: Option<Mp4Writer>,
}

impl Mp4Recording {
    pub fn new(file: File, path: PathBuf) -> Self {
        Self {
            out: RecordingFile {
                file,
                path,
                bytes: 0,
            },
            writer: None,
        }
    }
}

impl OutputSink for Mp4Recording {
    fn start(&mut self, streams: &StreamSet) -> Result<(), OutputError> {
        let mut writer = Mp4Writer::new(
            streams.video.clone(),
            streams.audio.clone(),
            Mp4Options::default(),
        );
        let init = writer.init_segment();
        self.writer = Some(writer);
        self.out.append(&init)
    }

    fn write(&mut self, pkt: &EncodedPacket) -> Result<(), OutputError> {
        let Some(writer) = self.writer.as_mut() else {
            return Ok(());
        };
        if let Some(fragment) = writer.push(pkt) {
            self.out.append(&fragment.bytes)?;
            if fragment.starts_with_keyframe {
                self.out.sync()?;
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), OutputError> {
        let Some(mut writer) = self.writer.take() else {
            return Ok(());
        };
        if let Some(fragment) = writer.flush() {
            self.out.append(&fragment.bytes)?;
        }
        // The complete moov goes to the end first and reaches the disk before the fragment
        // headers are blanked, so an interruption at any point leaves a playable file.
        let finalize = writer.finalize();
        self.out.append(&finalize.append)?;
        self.out.sync()?;
        for (offset, bytes) in &finalize.patches {
            self.out.patch(*offset, bytes)?;
        }
        self.out.sync()
    }

    fn bytes_written(&self) -> u64 {
        self.out.bytes
    }
}

/// FLV: streamable by nature; `duration` and `filesize` are filled in on a clean stop.
pub struct FlvRecording {
    out: RecordingFile,
    muxer: Option<FlvMuxer>,
}

impl FlvRecording {
    pub fn new(file: File, path: PathBuf) -> Self {
        Self {
            out: RecordingFile {
                file,
                path,
                bytes: 0,
            },
            muxer: None,
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
        let tag = muxer.packet(pkt);
        self.out.append(&tag)
    }

    fn finish(&mut self) -> Result<(), OutputError> {
        let Some(mut muxer) = self.muxer.take() else {
            return Ok(());
        };
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
}
