//! Fragmented MP4 writer with a "hybrid" finalize, sans-IO.
//!
//! The writer never touches a file: every method returns bytes, the caller appends each returned
//! buffer to the file in order, and the writer keeps track of the absolute file offset of
//! everything it returned. Layout while recording:
//!
//! ```text
//! ftyp  moov(mvex, empty sample tables)  moof mdat  moof mdat  ...
//! ```
//!
//! and after [`Mp4Writer::finalize`] (one appended `moov`, plus 4-byte in-place patches that
//! rename the initial `moov` and every `moof` to `free`):
//!
//! ```text
//! ftyp  free  free mdat  free mdat  ...  moov(stts/stss/stsc/stsz/stco)
//! ```
//!
//! # Why hybrid (what OBS calls "hybrid MP4")
//!
//! * **Crash safety.** Until the clean stop the file is a valid fragmented MP4: a `kill -9`, a
//!   power cut or a full disk leaves `ftyp + moov(mvex) + complete fragments (+ one torn
//!   fragment)`, which FFmpeg, Chromium and VLC play up to the last complete fragment. A plain
//!   MP4 whose `moov` is written at the end would be unreadable.
//! * **Compatibility after a clean stop.** Some editors and players dislike fragmented files
//!   (no seek index, slow open, "variable frame rate" warnings). Finalize appends a complete
//!   `moov` with classic sample tables pointing into the existing `mdat`s and hides the
//!   fragment headers as `free` boxes, so the file becomes a plain MP4.
//! * **No media data is rewritten.** Finalize costs one append and a handful of 4-byte writes,
//!   however long the recording: no second pass, no temporary file, no doubled disk usage.
//!
//! The [`Mp4Writer::init_segment`] output carries no sample data, so it doubles as an HLS/CMAF
//! init segment, and each [`Fragment`] as a CMAF chunk.
//!
//! Timescales: movie 1000, video 90 000, audio the sample rate. Every time conversion goes
//! through [`MediaTime::to_ticks`] / [`Timebase::ticks_to_time`]; each fragment's `tfdt` comes
//! from its first sample's own decode time, so rounding never accumulates.
//!
//! # Edit lists: audio pre-roll and the encoder's priming
//!
//! Audio may start before the output's zero: the AAC packet before the one holding the zero is
//! the decoder's pre-roll (at the start of a stream, the encoder's priming packet), without
//! which the first real samples decode faded in. Edit lists hide it (ISO/IEC 14496-12 8.6.6;
//! what Apple's encoders do with their priming, and what FFmpeg and Chromium honour):
//!
//! * while fragmented (and in an HLS/CMAF init segment), every track's media time is the
//!   output's time plus [`PREROLL_ROOM`] (a `tfdt` cannot be negative), and every track has
//!   one edit `{duration 0 (all of it), media_time PREROLL_ROOM}`; a player that ignores edit
//!   lists sees both tracks 43 ms late, still in sync;
//! * the final `moov` starts each track at its first sample: an edit skips what lies before
//!   the zero (`media_time`), or an empty edit delays a track that starts after it.
//!
//! A value that does not fit its field (a box of 4 GiB or more, a sample lasting more than
//! 2^32 ticks) is an [`Mp4Error`], never a silently wrong number; what was returned before it
//! stays a valid file. Here: the writer and its fragment cutting; [`boxes`]: box writing and
//! the sample descriptions; [`moov`]: the initial and final `moov`.

mod boxes;
mod moov;
#[cfg(test)]
mod tests;

use bytes::Bytes;

use self::boxes::{BoxWriter, to_u32, write_ftyp};
use crate::media::{AudioConfig, EncodedPacket, MediaTime, StreamKind, Timebase, VideoConfig};

/// The movie timescale (mvhd, tkhd, elst): milliseconds.
const MOVIE_TIMEBASE: Timebase = Timebase::MILLIS;
/// `sample_depends_on = 2` (does not depend on others): a sync sample.
const FLAGS_SYNC: u32 = 0x0200_0000;
/// `sample_depends_on = 1`, `sample_is_non_sync_sample = 1`.
const FLAGS_NON_SYNC: u32 = 0x0101_0000;
/// A fragment is cut before it would exceed this, so `trun` data offsets (i32) and the `mdat`
/// size (u32) always fit.
const MAX_FRAGMENT_BYTES: usize = 1 << 30;
/// Room before the output's zero on every track's fragmented timeline (see the module
/// documentation): audio pre-roll starts less than two AAC frames (2048 samples at 48 kHz)
/// before the zero. 2048/48000 s: whole ticks at 48 kHz (2048) and at 90 kHz (3840).
pub const PREROLL_ROOM: MediaTime = MediaTime::from_nanos(42_666_667);
/// 16.16 identity matrix of mvhd/tkhd.
const UNITY_MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

/// A value that does not fit the MP4 field that must hold it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Mp4Error {
    #[error(
        "MP4 box `{kind}` would be {size} bytes, more than its 32-bit size holds; start a new recording (what was written stays playable)"
    )]
    BoxTooLarge { kind: String, size: u64 },
    #[error(
        "MP4 {field} {value} does not fit its 32-bit field; start a new recording (what was written stays playable)"
    )]
    FieldOutOfRange { field: &'static str, value: i64 },
}

/// Options of an [`Mp4Writer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mp4Options {
    /// A fragment is cut before a video sample (or, without video, an audio sample) once the
    /// pending fragment spans at least this long. Keyframes always start a new fragment.
    pub fragment_duration: MediaTime,
    /// Remember every sample, chunk and `moof` for [`Mp4Writer::finalize`]'s `moov` (a
    /// recording). Off for a stream that is never finalized (HLS): memory then stays flat
    /// however long it runs, and `finalize` would index nothing.
    pub keep_index: bool,
}

impl Default for Mp4Options {
    fn default() -> Self {
        Self {
            fragment_duration: MediaTime::from_millis(500),
            keep_index: true,
        }
    }
}

/// One `moof` + `mdat`, to append to the file (or to serve as a CMAF chunk).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    pub bytes: Vec<u8>,
    /// The fragment's first video sample is a keyframe (always true without a video track;
    /// false for a fragment with a video track but no video sample).
    pub starts_with_keyframe: bool,
    /// Decode time of the earliest sample in the fragment.
    pub start: MediaTime,
    /// From `start` to the end of the last video sample (its successor's decode time when the
    /// cut was caused by that successor); without video samples, to the end of the latest.
    pub duration: MediaTime,
}

/// What [`Mp4Writer::finalize`] returns: append `append` to the file, then overwrite, for each
/// `(offset, bytes)` patch, the 4 bytes at absolute file offset `offset` with `bytes`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Finalize {
    pub append: Vec<u8>,
    pub patches: Vec<(u64, [u8; 4])>,
}

enum Codec {
    Video(VideoConfig),
    Audio(AudioConfig),
}

/// A sample waiting for its fragment to be cut.
struct PendingSample {
    dts: MediaTime,
    duration: MediaTime,
    key: bool,
    data: Bytes,
}

/// What finalize needs to know about each written sample.
struct SampleRecord {
    /// Decode time in the track timescale.
    dts: i64,
    size: u32,
    key: bool,
}

/// One track run inside one `mdat`: a chunk in the final `moov`.
struct Chunk {
    offset: u64,
    samples: u32,
}

struct Track {
    id: u32,
    codec: Codec,
    timebase: Timebase,
    pending: Vec<PendingSample>,
    samples: Vec<SampleRecord>,
    chunks: Vec<Chunk>,
    /// Duration (track timescale) of the last written sample, from its packet.
    last_duration: u32,
    /// [`PREROLL_ROOM`] in the track timescale: added to every `tfdt`.
    preroll: i64,
}

impl Track {
    fn new(id: u32, codec: Codec) -> Self {
        let timebase = match &codec {
            Codec::Video(_) => Timebase::MPEG,
            Codec::Audio(a) => Timebase::per_second(a.sample_rate.max(1)),
        };
        Self {
            id,
            codec,
            timebase,
            pending: Vec::new(),
            samples: Vec::new(),
            chunks: Vec::new(),
            last_duration: 0,
            preroll: PREROLL_ROOM.to_ticks(timebase),
        }
    }

    fn is_video(&self) -> bool {
        matches!(self.codec, Codec::Video(_))
    }

    fn ticks(&self, t: MediaTime) -> i64 {
        t.to_ticks(self.timebase)
    }

    /// `trex` default sample duration: one frame interval, or 1024 AAC samples (0, no
    /// default, for a frame rate whose interval does not fit: every `trun` gives durations).
    fn default_duration(&self) -> u32 {
        match &self.codec {
            Codec::Video(v) => Timebase::new(v.frame_rate_den, v.frame_rate_num)
                .and_then(|frame| {
                    u32::try_from(frame.ticks_to_time(1).to_ticks(self.timebase)).ok()
                })
                .unwrap_or(0),
            Codec::Audio(_) => 1024,
        }
    }

    fn default_flags(&self) -> u32 {
        if self.is_video() {
            FLAGS_NON_SYNC
        } else {
            FLAGS_SYNC
        }
    }
}

/// Fragmented MP4 writer (see the module documentation).
///
/// Call [`init_segment`](Self::init_segment) first, then [`push`](Self::push) every packet,
/// then [`finalize`](Self::finalize) (or just [`flush`](Self::flush) for a purely fragmented
/// file or HLS/CMAF output).
pub struct Mp4Writer {
    tracks: Vec<Track>,
    opts: Mp4Options,
    /// Next `mfhd` sequence number.
    sequence: u32,
    /// Bytes returned so far: the absolute file offset of the next returned byte.
    written: u64,
    /// File offset of the initial `moov`, once `init_segment` returned it.
    init_moov_offset: Option<u64>,
    /// File offset of every `moof` returned.
    moof_offsets: Vec<u64>,
    finalized: bool,
    /// The state before the last fragment was cut, to take it back if it never reached the
    /// file ([`Mp4Writer::retract_last_fragment`]).
    before_last_cut: Option<Checkpoint>,
}

/// What a cut changes, as it was before it.
struct Checkpoint {
    written: u64,
    sequence: u32,
    moofs: usize,
    /// Per track: samples, chunks, last sample duration.
    tracks: Vec<(usize, usize, u32)>,
}

impl Mp4Writer {
    /// A writer for up to one video and one audio track (track ids 1 and 2 when both exist).
    pub fn new(video: Option<VideoConfig>, audio: Option<AudioConfig>, opts: Mp4Options) -> Self {
        let codecs = video
            .map(Codec::Video)
            .into_iter()
            .chain(audio.map(Codec::Audio));
        let tracks = codecs
            .zip(1..)
            .map(|(codec, id)| Track::new(id, codec))
            .collect();
        Self {
            tracks,
            opts,
            sequence: 1,
            written: 0,
            init_moov_offset: None,
            moof_offsets: Vec::new(),
            finalized: false,
            before_last_cut: None,
        }
    }

    /// `ftyp` + `moov` (with `mvex`/`trex`, empty sample tables, duration 0), to write first,
    /// at file offset 0. Holds no sample data, so it is also a valid HLS/CMAF init segment.
    pub fn init_segment(&mut self) -> Result<Vec<u8>, Mp4Error> {
        let mut w = BoxWriter::default();
        write_ftyp(&mut w);
        let moov_offset = self.written + w.len() as u64;
        moov::write_moov(&mut w, &self.tracks, false)?;
        let bytes = w.finish()?;
        self.init_moov_offset.get_or_insert(moov_offset);
        self.written += bytes.len() as u64;
        Ok(bytes)
    }

    /// Total bytes returned so far (init segment, fragments, finalize's append).
    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    /// Adds one packet. Packets arrive interleaved in decode order, with times relative to the
    /// output's zero (the first video keyframe has pts 0; audio pre-roll may start up to
    /// [`PREROLL_ROOM`] before it; anything earlier is ignored).
    ///
    /// Returns the pending fragment when this packet starts a new one: before a video sample,
    /// when it is a keyframe or the pending fragment already spans `fragment_duration`; without
    /// a video track, before an audio sample by duration alone. Packets of a kind the writer
    /// has no track for, and packets after `finalize`, are ignored.
    ///
    /// An error (the pending fragment cannot be written) leaves the writer as it was, without
    /// this packet.
    pub fn push(&mut self, pkt: &EncodedPacket) -> Result<Option<Fragment>, Mp4Error> {
        if self.finalized {
            return Ok(None);
        }
        let Some(ti) = self.tracks.iter().position(|t| match pkt.kind {
            StreamKind::Video => t.is_video(),
            StreamKind::Audio => !t.is_video(),
        }) else {
            return Ok(None);
        };
        if pkt.dts + PREROLL_ROOM < MediaTime::ZERO {
            return Ok(None);
        }
        let has_video = self.tracks.iter().any(Track::is_video);
        let drives_cuts = pkt.kind == StreamKind::Video || !has_video;

        let mut fragment = None;
        if let Some(start) = self.pending_start() {
            let key_cut = pkt.kind == StreamKind::Video
                && pkt.keyframe
                && !self.tracks[ti].pending.is_empty();
            let span_cut = pkt.dts - start >= self.opts.fragment_duration;
            let size_cut = self.pending_bytes() + pkt.data.len() > MAX_FRAGMENT_BYTES;
            if (drives_cuts && (key_cut || span_cut)) || size_cut {
                fragment = self.cut(Some((ti, pkt.dts)))?;
            }
        }
        self.tracks[ti].pending.push(PendingSample {
            dts: pkt.dts,
            duration: pkt.duration,
            key: pkt.keyframe || pkt.kind == StreamKind::Audio,
            data: pkt.data.clone(),
        });
        Ok(fragment)
    }

    /// Cuts whatever is pending (end of stream). `None` if nothing is.
    pub fn flush(&mut self) -> Result<Option<Fragment>, Mp4Error> {
        self.cut(None)
    }

    /// Forgets the fragment last returned, which did not reach the file (a full disk): the
    /// file offsets and the index of [`finalize`](Self::finalize) are as before it, so the
    /// `moov` describes only what is in the file. Its samples are lost. Does nothing when
    /// called again, or before any fragment.
    pub fn retract_last_fragment(&mut self) {
        let Some(c) = self.before_last_cut.take() else {
            return;
        };
        self.written = c.written;
        self.sequence = c.sequence;
        self.moof_offsets.truncate(c.moofs);
        for (track, (samples, chunks, last_duration)) in self.tracks.iter_mut().zip(c.tracks) {
            track.samples.truncate(samples);
            track.chunks.truncate(chunks);
            track.last_duration = last_duration;
        }
    }

    /// Turns the file into a plain MP4: flushes (a pending fragment goes at the start of
    /// `append`), then returns the complete `moov` to append at the end of the file and the
    /// patches renaming the initial `moov` and every `moof` to `free`.
    ///
    /// Returns an empty [`Finalize`] when called again. An error leaves the file a valid
    /// fragmented MP4 of the fragments returned so far (call [`flush`](Self::flush) first, as
    /// a recording does, so that a `moov` that cannot be written loses no pending fragment).
    pub fn finalize(&mut self) -> Result<Finalize, Mp4Error> {
        if self.finalized {
            return Ok(Finalize::default());
        }
        let pending = self.flush()?;
        let mut w = BoxWriter::default();
        moov::write_moov(&mut w, &self.tracks, true)?;
        let moov = w.finish()?;
        let mut append = pending.map(|f| f.bytes).unwrap_or_default();
        self.finalized = true;
        self.written += moov.len() as u64;
        append.extend_from_slice(&moov);
        let patches = self
            .init_moov_offset
            .iter()
            .chain(&self.moof_offsets)
            .map(|&offset| (offset + 4, *b"free"))
            .collect();
        Ok(Finalize { append, patches })
    }

    /// Where the pending fragment starts: its first video sample (audio pre-roll before it
    /// does not count), else its earliest sample.
    fn pending_start(&self) -> Option<MediaTime> {
        let video = self
            .tracks
            .iter()
            .find(|t| t.is_video())
            .and_then(|t| t.pending.first());
        video.map(|s| s.dts).or_else(|| {
            self.tracks
                .iter()
                .filter_map(|t| t.pending.first())
                .map(|s| s.dts)
                .min()
        })
    }

    fn pending_bytes(&self) -> usize {
        self.tracks
            .iter()
            .flat_map(|t| &t.pending)
            .map(|s| s.data.len())
            .sum()
    }

    /// Writes the pending samples as one fragment. `next` is the track and decode time of the
    /// packet that caused the cut, which gives that track's last sample its exact duration.
    /// Everything that can fail is checked before the writer's state changes.
    fn cut(&mut self, next: Option<(usize, MediaTime)>) -> Result<Option<Fragment>, Mp4Error> {
        let Some(start) = self.pending_start() else {
            return Ok(None);
        };
        let moof_offset = self.written;

        // Per-track runs: (track index, sample durations in ticks, sample sizes).
        let mut runs: Vec<(usize, Vec<u32>, Vec<u32>)> = Vec::new();
        let mut end = start;
        let mut video_end = None;
        for (ti, track) in self.tracks.iter().enumerate() {
            let Some(last) = track.pending.last() else {
                continue;
            };
            let next_dts = next.filter(|&(nti, _)| nti == ti).map(|(_, dts)| dts);
            let mut durations = track
                .pending
                .windows(2)
                .map(|p| {
                    to_u32(
                        track.ticks(p[1].dts) - track.ticks(p[0].dts),
                        "sample duration",
                    )
                })
                .collect::<Result<Vec<u32>, _>>()?;
            durations.push(match next_dts {
                Some(n) => to_u32(track.ticks(n) - track.ticks(last.dts), "sample duration")?,
                None => to_u32(track.ticks(last.duration), "sample duration")?,
            });
            let sizes = track
                .pending
                .iter()
                .map(|s| to_u32(s.data.len() as i64, "sample size"))
                .collect::<Result<Vec<u32>, _>>()?;
            let track_end = next_dts.unwrap_or(last.dts + last.duration);
            if track.is_video() {
                video_end = Some(track_end);
            }
            end = end.max(track_end);
            runs.push((ti, durations, sizes));
        }
        // With video, the fragment lasts as long as its video (what an HLS playlist lists);
        // the audio overlapping the next fragment by part of a frame does not count.
        let end = video_end.unwrap_or(end);

        let mut w = BoxWriter::default();
        let mut data_offset_fields = Vec::with_capacity(runs.len());
        w.bx(b"moof", |w| {
            w.full(b"mfhd", 0, 0, |w| w.u32(self.sequence));
            for (ti, durations, sizes) in &runs {
                let track = &self.tracks[*ti];
                w.bx(b"traf", |w| {
                    w.full(b"tfhd", 0, 0x02_0000, |w| w.u32(track.id));
                    let base = track.pending.first().map_or(0, |s| track.ticks(s.dts));
                    let base = u64::try_from(base + track.preroll).unwrap_or(0);
                    w.full(b"tfdt", 1, 0, |w| w.u64(base));
                    w.full(b"trun", 0, 0x00_0701, |w| {
                        w.u32_of(sizes.len(), "trun sample count");
                        data_offset_fields.push(w.len());
                        w.u32(0); // data offset, patched below
                        for ((s, &d), &size) in track.pending.iter().zip(durations).zip(sizes) {
                            w.u32(d);
                            w.u32(size);
                            w.u32(if s.key { FLAGS_SYNC } else { FLAGS_NON_SYNC });
                        }
                    });
                });
            }
        });

        let payload: u64 = sizes_total(&runs);
        let moof_len = w.len() as u64;
        let mdat_header: u64 = if payload + 8 > u64::from(u32::MAX) {
            16
        } else {
            8
        };
        // Where each run's samples start in the file (a chunk of the final moov).
        let mut chunk_offsets = Vec::with_capacity(runs.len());
        let mut run_offset = moof_len + mdat_header;
        for ((_, _, sizes), field) in runs.iter().zip(data_offset_fields) {
            let offset = to_u32(run_offset as i64, "trun data offset")?;
            w.patch_u32(field, offset);
            chunk_offsets.push(moof_offset + run_offset);
            run_offset += sizes.iter().map(|&s| u64::from(s)).sum::<u64>();
        }
        if mdat_header == 16 {
            w.u32(1);
            w.fourcc(b"mdat");
            w.u64(payload + 16);
        } else {
            w.u32_of(payload + 8, "mdat size");
            w.fourcc(b"mdat");
        }
        for (ti, _, _) in &runs {
            for s in &self.tracks[*ti].pending {
                w.bytes(&s.data);
            }
        }
        let bytes = w.finish()?;

        // Nothing fails from here on.
        self.before_last_cut = Some(Checkpoint {
            written: self.written,
            sequence: self.sequence,
            moofs: self.moof_offsets.len(),
            tracks: self
                .tracks
                .iter()
                .map(|t| (t.samples.len(), t.chunks.len(), t.last_duration))
                .collect(),
        });
        let mut starts_with_keyframe = true;
        if let Some(video) = self.tracks.iter().find(|t| t.is_video()) {
            starts_with_keyframe = video.pending.first().is_some_and(|s| s.key);
        }
        let keep_index = self.opts.keep_index;
        for ((ti, durations, sizes), offset) in runs.into_iter().zip(chunk_offsets) {
            let track = &mut self.tracks[ti];
            if keep_index {
                track.chunks.push(Chunk {
                    offset,
                    samples: sizes.len() as u32, // fits: checked as the trun's count
                });
                let timebase = track.timebase;
                track
                    .samples
                    .extend(
                        track
                            .pending
                            .iter()
                            .zip(&sizes)
                            .map(|(s, &size)| SampleRecord {
                                dts: s.dts.to_ticks(timebase),
                                size,
                                key: s.key,
                            }),
                    );
            }
            track.pending.clear();
            track.last_duration = durations.last().copied().unwrap_or(0);
        }
        if keep_index {
            self.moof_offsets.push(moof_offset);
        }
        self.sequence = self.sequence.wrapping_add(1);
        self.written += bytes.len() as u64;
        Ok(Some(Fragment {
            bytes,
            starts_with_keyframe,
            start,
            duration: end - start,
        }))
    }
}

/// The payload bytes of every run.
fn sizes_total(runs: &[(usize, Vec<u32>, Vec<u32>)]) -> u64 {
    runs.iter()
        .flat_map(|(_, _, sizes)| sizes)
        .map(|&s| u64::from(s))
        .sum()
}
