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

use bytes::Bytes;

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
/// 16.16 identity matrix of mvhd/tkhd.
const UNITY_MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

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
        }
    }

    fn is_video(&self) -> bool {
        matches!(self.codec, Codec::Video(_))
    }

    fn ticks(&self, t: MediaTime) -> i64 {
        t.to_ticks(self.timebase)
    }

    /// `trex` default sample duration: one frame interval, or 1024 AAC samples.
    fn default_duration(&self) -> u32 {
        match &self.codec {
            Codec::Video(v) => Timebase::new(v.frame_rate_den, v.frame_rate_num)
                .map(|frame| to_u32(frame.ticks_to_time(1).to_ticks(self.timebase)))
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
    pub fn init_segment(&mut self) -> Vec<u8> {
        let mut w = BoxWriter::default();
        write_ftyp(&mut w);
        let moov_offset = self.written + w.len() as u64;
        self.init_moov_offset.get_or_insert(moov_offset);
        self.write_moov(&mut w, false);
        self.written += w.len() as u64;
        w.into_bytes()
    }

    /// Total bytes returned so far (init segment, fragments, finalize's append).
    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    /// Adds one packet. Packets arrive interleaved in decode order, with times relative to the
    /// output's zero (the first video keyframe has pts 0; audio dts ≥ 0).
    ///
    /// Returns the pending fragment when this packet starts a new one: before a video sample,
    /// when it is a keyframe or the pending fragment already spans `fragment_duration`; without
    /// a video track, before an audio sample by duration alone. Packets of a kind the writer
    /// has no track for, and packets after `finalize`, are ignored.
    pub fn push(&mut self, pkt: &EncodedPacket) -> Option<Fragment> {
        if self.finalized {
            return None;
        }
        let ti = self.tracks.iter().position(|t| match pkt.kind {
            StreamKind::Video => t.is_video(),
            StreamKind::Audio => !t.is_video(),
        })?;
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
                fragment = self.cut(Some((ti, pkt.dts)));
            }
        }
        self.tracks[ti].pending.push(PendingSample {
            dts: pkt.dts,
            duration: pkt.duration,
            key: pkt.keyframe || pkt.kind == StreamKind::Audio,
            data: pkt.data.clone(),
        });
        fragment
    }

    /// Cuts whatever is pending (end of stream). `None` if nothing is.
    pub fn flush(&mut self) -> Option<Fragment> {
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
    /// Returns an empty [`Finalize`] when called again.
    pub fn finalize(&mut self) -> Finalize {
        if self.finalized {
            return Finalize::default();
        }
        let mut append = self.flush().map(|f| f.bytes).unwrap_or_default();
        self.finalized = true;
        let mut w = BoxWriter::default();
        self.write_moov(&mut w, true);
        self.written += w.len() as u64;
        append.extend_from_slice(&w.into_bytes());
        let patches = self
            .init_moov_offset
            .iter()
            .chain(&self.moof_offsets)
            .map(|&offset| (offset + 4, *b"free"))
            .collect();
        Finalize { append, patches }
    }

    fn pending_start(&self) -> Option<MediaTime> {
        self.tracks
            .iter()
            .filter_map(|t| t.pending.first())
            .map(|s| s.dts)
            .min()
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
    fn cut(&mut self, next: Option<(usize, MediaTime)>) -> Option<Fragment> {
        let start = self.pending_start()?;
        let moof_offset = self.written;
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

        // Per-track runs: (track index, sample durations in ticks).
        let mut runs: Vec<(usize, Vec<u32>)> = Vec::new();
        let mut end = start;
        let mut video_end = None;
        for (ti, track) in self.tracks.iter().enumerate() {
            let Some(last) = track.pending.last() else {
                continue;
            };
            let next_dts = next.filter(|&(nti, _)| nti == ti).map(|(_, dts)| dts);
            let mut durations: Vec<u32> = track
                .pending
                .windows(2)
                .map(|p| to_u32(track.ticks(p[1].dts) - track.ticks(p[0].dts)))
                .collect();
            durations.push(match next_dts {
                Some(n) => to_u32(track.ticks(n) - track.ticks(last.dts)),
                None => to_u32(track.ticks(last.duration)),
            });
            let track_end = next_dts.unwrap_or(last.dts + last.duration);
            if track.is_video() {
                video_end = Some(track_end);
            }
            end = end.max(track_end);
            runs.push((ti, durations));
        }
        // With video, the fragment lasts as long as its video (what an HLS playlist lists);
        // the audio overlapping the next fragment by part of a frame does not count.
        let end = video_end.unwrap_or(end);

        let mut w = BoxWriter::default();
        let mut data_offset_fields = Vec::with_capacity(runs.len());
        w.bx(b"moof", |w| {
            w.full(b"mfhd", 0, 0, |w| w.u32(self.sequence));
            for (ti, durations) in &runs {
                let track = &self.tracks[*ti];
                w.bx(b"traf", |w| {
                    w.full(b"tfhd", 0, 0x02_0000, |w| w.u32(track.id));
                    let base = track.pending.first().map_or(0, |s| track.ticks(s.dts));
                    w.full(b"tfdt", 1, 0, |w| w.u64(u64::try_from(base).unwrap_or(0)));
                    w.full(b"trun", 0, 0x00_0701, |w| {
                        w.u32(to_u32(track.pending.len() as i64));
                        data_offset_fields.push(w.len());
                        w.u32(0); // data offset, patched below
                        for (s, &d) in track.pending.iter().zip(durations) {
                            w.u32(d);
                            w.u32(to_u32(s.data.len() as i64));
                            w.u32(if s.key { FLAGS_SYNC } else { FLAGS_NON_SYNC });
                        }
                    });
                });
            }
        });

        let payload: u64 = runs
            .iter()
            .flat_map(|(ti, _)| &self.tracks[*ti].pending)
            .map(|s| s.data.len() as u64)
            .sum();
        let moof_len = w.len() as u64;
        let mdat_header: u64 = if payload + 8 > u64::from(u32::MAX) {
            16
        } else {
            8
        };
        let mut run_offset = moof_len + mdat_header;
        for ((ti, _), field) in runs.iter().zip(data_offset_fields) {
            w.patch_u32(field, u32::try_from(run_offset).unwrap_or(u32::MAX));
            let track = &mut self.tracks[*ti];
            if self.opts.keep_index {
                track.chunks.push(Chunk {
                    offset: moof_offset + run_offset,
                    samples: to_u32(track.pending.len() as i64),
                });
            }
            run_offset += track
                .pending
                .iter()
                .map(|s| s.data.len() as u64)
                .sum::<u64>();
        }
        if mdat_header == 16 {
            w.u32(1);
            w.fourcc(b"mdat");
            w.u64(payload + 16);
        } else {
            w.u32(to_u32((payload + 8) as i64));
            w.fourcc(b"mdat");
        }

        let mut starts_with_keyframe = true;
        if let Some(video) = self.tracks.iter().find(|t| t.is_video()) {
            starts_with_keyframe = video.pending.first().is_some_and(|s| s.key);
        }
        for (ti, durations) in &runs {
            let track = &mut self.tracks[*ti];
            for s in track.pending.drain(..) {
                w.bytes(&s.data);
                if self.opts.keep_index {
                    let dts = s.dts.to_ticks(track.timebase);
                    track.samples.push(SampleRecord {
                        dts,
                        size: to_u32(s.data.len() as i64),
                        key: s.key,
                    });
                }
            }
            track.last_duration = durations.last().copied().unwrap_or(0);
        }

        if self.opts.keep_index {
            self.moof_offsets.push(moof_offset);
        }
        self.sequence = self.sequence.wrapping_add(1);
        self.written += w.len() as u64;
        Some(Fragment {
            bytes: w.into_bytes(),
            starts_with_keyframe,
            start,
            duration: end - start,
        })
    }

    /// The initial `moov` (`complete == false`: empty tables, `mvex`) or the final one.
    fn write_moov(&self, w: &mut BoxWriter, complete: bool) {
        let tables: Vec<Tables> = self
            .tracks
            .iter()
            .map(|t| {
                if complete {
                    Tables::of(t)
                } else {
                    Tables::default()
                }
            })
            .collect();
        let movie_duration = tables
            .iter()
            .map(|t| t.edit_movie + t.media_movie)
            .max()
            .unwrap_or(0);
        w.bx(b"moov", |w| {
            w.full(b"mvhd", 1, 0, |w| {
                w.u64(0); // creation time
                w.u64(0); // modification time
                w.u32(MOVIE_TIMEBASE.den());
                w.u64(movie_duration);
                w.u32(0x0001_0000); // rate 1.0
                w.u16(0x0100); // volume 1.0
                w.zeros(2 + 8);
                UNITY_MATRIX.iter().for_each(|&m| w.u32(m));
                w.zeros(24); // pre_defined
                w.u32(to_u32(self.tracks.len() as i64 + 1));
            });
            for (track, tables) in self.tracks.iter().zip(&tables) {
                write_trak(w, track, tables, complete);
            }
            if !complete {
                w.bx(b"mvex", |w| {
                    for track in &self.tracks {
                        w.full(b"trex", 0, 0, |w| {
                            w.u32(track.id);
                            w.u32(1); // sample description index
                            w.u32(track.default_duration());
                            w.u32(0); // size
                            w.u32(track.default_flags());
                        });
                    }
                });
            }
        });
    }
}

/// The sample tables and durations of one track in the final `moov`.
#[derive(Default)]
struct Tables {
    /// `(sample_count, sample_delta)` runs.
    stts: Vec<(u32, u32)>,
    /// 1-based numbers of the sync samples (video only).
    stss: Vec<u32>,
    /// `(first_chunk, samples_per_chunk)` runs.
    stsc: Vec<(u32, u32)>,
    stsz: Vec<u32>,
    chunk_offsets: Vec<u64>,
    /// Sum of the sample durations, track timescale.
    media_duration: u64,
    /// Same, movie timescale.
    media_movie: u64,
    /// Length of the empty edit before the first sample (its decode time), movie timescale.
    edit_movie: u64,
}

impl Tables {
    fn of(track: &Track) -> Self {
        let mut t = Tables::default();
        let samples = &track.samples;
        for (i, s) in samples.iter().enumerate() {
            let delta = match samples.get(i + 1) {
                Some(next) => to_u32(next.dts - s.dts),
                None => track.last_duration,
            };
            match t.stts.last_mut() {
                Some((count, d)) if *d == delta => *count += 1,
                _ => t.stts.push((1, delta)),
            }
            t.media_duration += u64::from(delta);
            t.stsz.push(s.size);
            if track.is_video() && s.key {
                t.stss.push(to_u32(i as i64 + 1));
            }
        }
        for (i, chunk) in track.chunks.iter().enumerate() {
            if t.stsc.last().is_none_or(|&(_, n)| n != chunk.samples) {
                t.stsc.push((to_u32(i as i64 + 1), chunk.samples));
            }
            t.chunk_offsets.push(chunk.offset);
        }
        let to_movie = |ticks: i64| -> u64 {
            let movie = track.timebase.ticks_to_time(ticks).to_ticks(MOVIE_TIMEBASE);
            u64::try_from(movie).unwrap_or(0)
        };
        t.media_movie = to_movie(i64::try_from(t.media_duration).unwrap_or(i64::MAX));
        t.edit_movie = samples.first().map_or(0, |s| to_movie(s.dts));
        t
    }
}

fn write_ftyp(w: &mut BoxWriter) {
    w.bx(b"ftyp", |w| {
        w.fourcc(b"isom");
        w.u32(0x200);
        for brand in [b"isom", b"iso2", b"iso6", b"avc1", b"mp41"] {
            w.fourcc(brand);
        }
    });
}

fn write_trak(w: &mut BoxWriter, track: &Track, t: &Tables, complete: bool) {
    w.bx(b"trak", |w| {
        w.full(b"tkhd", 1, 0x7, |w| {
            w.u64(0); // creation time
            w.u64(0); // modification time
            w.u32(track.id);
            w.u32(0);
            w.u64(t.edit_movie + t.media_movie);
            w.zeros(8);
            w.u16(0); // layer
            w.u16(0); // alternate group
            w.u16(if track.is_video() { 0 } else { 0x0100 }); // volume
            w.u16(0);
            UNITY_MATRIX.iter().for_each(|&m| w.u32(m));
            let (width, height) = match &track.codec {
                Codec::Video(v) => (v.width, v.height),
                Codec::Audio(_) => (0, 0),
            };
            w.u32(width.min(0xFFFF) << 16);
            w.u32(height.min(0xFFFF) << 16);
        });
        if complete && t.edit_movie > 0 {
            write_edts(w, t.edit_movie, t.media_movie);
        }
        w.bx(b"mdia", |w| {
            w.full(b"mdhd", 1, 0, |w| {
                w.u64(0);
                w.u64(0);
                w.u32(track.timebase.den());
                w.u64(t.media_duration);
                w.u16(0x55C4); // "und"
                w.u16(0);
            });
            let (handler, name): (&[u8; 4], &[u8]) = if track.is_video() {
                (b"vide", b"VideoHandler\0")
            } else {
                (b"soun", b"SoundHandler\0")
            };
            w.full(b"hdlr", 0, 0, |w| {
                w.u32(0);
                w.fourcc(handler);
                w.zeros(12);
                w.bytes(name);
            });
            w.bx(b"minf", |w| {
                if track.is_video() {
                    w.full(b"vmhd", 0, 1, |w| w.zeros(8));
                } else {
                    w.full(b"smhd", 0, 0, |w| w.zeros(4));
                }
                w.bx(b"dinf", |w| {
                    w.full(b"dref", 0, 0, |w| {
                        w.u32(1);
                        w.full(b"url ", 0, 1, |_| {});
                    });
                });
                write_stbl(w, track, t);
            });
        });
    });
}

/// An empty edit of `empty` then the whole media from its time 0 (movie timescale).
fn write_edts(w: &mut BoxWriter, empty: u64, media: u64) {
    let v1 = empty.max(media) > u64::from(u32::MAX);
    w.bx(b"edts", |w| {
        w.full(b"elst", u8::from(v1), 0, |w| {
            w.u32(2);
            for (duration, media_time) in [(empty, -1i64), (media, 0)] {
                if v1 {
                    w.u64(duration);
                    w.u64(media_time as u64);
                } else {
                    w.u32(to_u32(duration as i64));
                    w.u32(media_time as i32 as u32);
                }
                w.u32(0x0001_0000); // rate 1.0
            }
        });
    });
}

fn write_stbl(w: &mut BoxWriter, track: &Track, t: &Tables) {
    w.bx(b"stbl", |w| {
        w.full(b"stsd", 0, 0, |w| {
            w.u32(1);
            match &track.codec {
                Codec::Video(v) => write_avc1(w, v),
                Codec::Audio(a) => write_mp4a(w, a, track.id),
            }
        });
        w.full(b"stts", 0, 0, |w| {
            w.u32(to_u32(t.stts.len() as i64));
            t.stts.iter().for_each(|&(n, d)| {
                w.u32(n);
                w.u32(d);
            });
        });
        if !t.stss.is_empty() {
            w.full(b"stss", 0, 0, |w| {
                w.u32(to_u32(t.stss.len() as i64));
                t.stss.iter().for_each(|&n| w.u32(n));
            });
        }
        w.full(b"stsc", 0, 0, |w| {
            w.u32(to_u32(t.stsc.len() as i64));
            t.stsc.iter().for_each(|&(first, n)| {
                w.u32(first);
                w.u32(n);
                w.u32(1); // sample description index
            });
        });
        w.full(b"stsz", 0, 0, |w| {
            w.u32(0); // sizes vary
            w.u32(to_u32(t.stsz.len() as i64));
            t.stsz.iter().for_each(|&s| w.u32(s));
        });
        write_chunk_offsets(w, &t.chunk_offsets);
    });
}

/// `stco`, or `co64` when an offset does not fit 32 bits.
fn write_chunk_offsets(w: &mut BoxWriter, offsets: &[u64]) {
    let count = to_u32(offsets.len() as i64);
    if offsets.iter().any(|&o| o > u64::from(u32::MAX)) {
        w.full(b"co64", 0, 0, |w| {
            w.u32(count);
            offsets.iter().for_each(|&o| w.u64(o));
        });
    } else {
        w.full(b"stco", 0, 0, |w| {
            w.u32(count);
            offsets.iter().for_each(|&o| w.u32(o as u32));
        });
    }
}

fn write_avc1(w: &mut BoxWriter, v: &VideoConfig) {
    w.bx(b"avc1", |w| {
        w.zeros(6);
        w.u16(1); // data reference index
        w.zeros(16); // pre_defined, reserved
        w.u16(v.width.min(0xFFFF) as u16);
        w.u16(v.height.min(0xFFFF) as u16);
        w.u32(0x0048_0000); // 72 dpi
        w.u32(0x0048_0000);
        w.u32(0);
        w.u16(1); // frame count
        w.zeros(32); // compressor name
        w.u16(0x0018); // depth
        w.u16(0xFFFF); // pre_defined = -1
        w.bx(b"avcC", |w| w.bytes(&v.avcc));
    });
}

fn write_mp4a(w: &mut BoxWriter, a: &AudioConfig, es_id: u32) {
    w.bx(b"mp4a", |w| {
        w.zeros(6);
        w.u16(1); // data reference index
        w.zeros(8);
        w.u16(a.channels);
        w.u16(16); // sample size
        w.zeros(4);
        w.u32(a.sample_rate.min(0xFFFF) << 16);
        write_esds(w, a, es_id);
    });
}

/// `esds` (ISO/IEC 14496-14): ES_Descriptor { DecoderConfigDescriptor { AAC (0x40), audio
/// stream (0x05), bitrates, DecoderSpecificInfo = AudioSpecificConfig }, SLConfig (0x02) }.
fn write_esds(w: &mut BoxWriter, a: &AudioConfig, es_id: u32) {
    let mut dsi = Vec::new();
    descriptor(&mut dsi, 0x05, &a.asc);
    let mut dcd = vec![0x40, (0x05 << 2) | 1, 0, 0, 0];
    dcd.extend_from_slice(&a.bitrate_bps.to_be_bytes()); // max bitrate
    dcd.extend_from_slice(&a.bitrate_bps.to_be_bytes()); // average bitrate
    dcd.extend_from_slice(&dsi);
    let mut es = Vec::new();
    es.extend_from_slice(&(es_id.min(0xFFFF) as u16).to_be_bytes());
    es.push(0); // no dependency, URL or OCR stream
    descriptor(&mut es, 0x04, &dcd);
    descriptor(&mut es, 0x06, &[0x02]);
    w.full(b"esds", 0, 0, |w| {
        let mut out = Vec::new();
        descriptor(&mut out, 0x03, &es);
        w.bytes(&out);
    });
}

/// An MPEG-4 descriptor: tag, size in 7-bit groups (one byte below 128), body.
fn descriptor(out: &mut Vec<u8>, tag: u8, body: &[u8]) {
    out.push(tag);
    let len = body.len();
    let groups = (1..4).take_while(|&i| len >> (7 * i) != 0).count();
    for i in (1..=groups).rev() {
        out.push(0x80 | ((len >> (7 * i)) & 0x7F) as u8);
    }
    out.push((len & 0x7F) as u8);
    out.extend_from_slice(body);
}

/// Saturating conversion for table fields: negative becomes 0, too large `u32::MAX`.
fn to_u32(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

/// Writes ISO BMFF boxes into a buffer; `bx` reserves the size field and fills it on close.
#[derive(Default)]
struct BoxWriter {
    buf: Vec<u8>,
}

impl BoxWriter {
    fn len(&self) -> usize {
        self.buf.len()
    }

    fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// A box of type `kind` whose content `body` writes. Boxes written this way (everything
    /// but `mdat`) stay far below 4 GiB.
    fn bx(&mut self, kind: &[u8; 4], body: impl FnOnce(&mut Self)) {
        let start = self.buf.len();
        self.u32(0);
        self.fourcc(kind);
        body(self);
        let size = self.buf.len() - start;
        self.patch_u32(start, u32::try_from(size).unwrap_or(u32::MAX));
    }

    /// A full box: version and 24-bit flags before the content.
    fn full(&mut self, kind: &[u8; 4], version: u8, flags: u32, body: impl FnOnce(&mut Self)) {
        self.bx(kind, |w| {
            w.u32((u32::from(version) << 24) | (flags & 0x00FF_FFFF));
            body(w);
        });
    }

    fn patch_u32(&mut self, at: usize, v: u32) {
        if let Some(field) = self.buf.get_mut(at..at + 4) {
            field.copy_from_slice(&v.to_be_bytes());
        }
    }

    fn fourcc(&mut self, v: &[u8; 4]) {
        self.buf.extend_from_slice(v);
    }
    fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    fn bytes(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(v);
    }
    fn zeros(&mut self, n: usize) {
        self.buf.resize(self.buf.len() + n, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FPS: i64 = 30;

    fn video_config() -> VideoConfig {
        VideoConfig {
            keyframe_interval_frames: 60,
            width: 320,
            height: 240,
            frame_rate_num: 30,
            frame_rate_den: 1,
            bitrate_bps: 1_000_000,
            avcc: Bytes::from_static(&[1, 0x42, 0xC0, 0x1F, 0xFF, 0xE1, 0, 1, 0x67, 1, 0, 1, 0x68]),
        }
    }

    fn audio_config() -> AudioConfig {
        AudioConfig {
            codec: crate::media::AudioCodec::Aac,
            sample_rate: 48_000,
            channels: 2,
            bitrate_bps: 128_000,
            asc: Bytes::from_static(&[0x11, 0x90]),
        }
    }

    fn video_time(n: i64) -> MediaTime {
        Timebase::new(1, FPS as u32).unwrap().ticks_to_time(n)
    }

    fn audio_time(k: i64) -> MediaTime {
        Timebase::AUDIO_48K.ticks_to_time(k * 1024)
    }

    /// A payload that says which packet it is, with varying length.
    fn payload(tag: u8, i: i64) -> Bytes {
        let mut v = vec![tag, (i >> 8) as u8, i as u8];
        v.resize(3 + (i as usize * 7) % 23, tag ^ 0x5A);
        Bytes::from(v)
    }

    /// `frames` video packets with a keyframe every `gop`, and audio starting at `audio_offset`
    /// up to the end of the video, interleaved by dts (video first on ties).
    fn interleaved(frames: i64, gop: i64, audio_offset: MediaTime) -> Vec<EncodedPacket> {
        let mut pkts: Vec<EncodedPacket> = (0..frames)
            .map(|n| EncodedPacket {
                kind: StreamKind::Video,
                pts: video_time(n),
                dts: video_time(n),
                duration: video_time(n + 1) - video_time(n),
                keyframe: n % gop == 0,
                data: payload(b'V', n),
            })
            .collect();
        let end = video_time(frames);
        let mut k = 0;
        while audio_offset + audio_time(k) < end {
            let t = audio_offset + audio_time(k);
            pkts.push(EncodedPacket {
                kind: StreamKind::Audio,
                pts: t,
                dts: t,
                duration: audio_time(k + 1) - audio_time(k),
                keyframe: true,
                data: payload(b'A', k),
            });
            k += 1;
        }
        pkts.sort_by_key(|p| (p.dts, p.kind == StreamKind::Audio));
        pkts
    }

    // --- a minimal box reader for the tests ---

    fn be32(b: &[u8], at: usize) -> u32 {
        u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
    }
    fn be64(b: &[u8], at: usize) -> u64 {
        u64::from_be_bytes(b[at..at + 8].try_into().unwrap())
    }

    /// The boxes in `data`: (type, offset of the box in `data`, body).
    fn boxes(data: &[u8]) -> Vec<([u8; 4], usize, &[u8])> {
        let mut out = Vec::new();
        let mut pos = 0;
        while pos + 8 <= data.len() {
            let kind: [u8; 4] = data[pos + 4..pos + 8].try_into().unwrap();
            let (size, header) = match be32(data, pos) {
                1 => (be64(data, pos + 8) as usize, 16),
                s => (s as usize, 8),
            };
            assert!(
                size >= header && pos + size <= data.len(),
                "bad box {kind:?} at {pos}"
            );
            out.push((kind, pos, &data[pos + header..pos + size]));
            pos += size;
        }
        assert_eq!(pos, data.len(), "trailing bytes");
        out
    }

    /// The bodies of the children of type `kind`.
    fn all<'a>(data: &'a [u8], kind: &[u8; 4]) -> Vec<&'a [u8]> {
        boxes(data)
            .into_iter()
            .filter(|b| &b.0 == kind)
            .map(|b| b.2)
            .collect()
    }

    /// The body of the box at `path` (first match at each level).
    fn get<'a>(data: &'a [u8], path: &[&[u8; 4]]) -> &'a [u8] {
        path.iter().fold(data, |d, kind| {
            *all(d, kind)
                .first()
                .unwrap_or_else(|| panic!("no {}", String::from_utf8_lossy(*kind)))
        })
    }

    fn has(data: &[u8], kind: &[u8; 4]) -> bool {
        !all(data, kind).is_empty()
    }

    /// The u32 entries of a full box with an entry count (stco, stsz without a fixed size...).
    fn entries32(full_body: &[u8], skip: usize, width: usize) -> Vec<Vec<u32>> {
        let count = be32(full_body, 4 + skip) as usize;
        let base = 8 + skip;
        (0..count)
            .map(|i| {
                (0..width)
                    .map(|j| be32(full_body, base + 4 * (i * width + j)))
                    .collect()
            })
            .collect()
    }

    struct Run {
        track_id: u32,
        tfdt: u64,
        data_offset: u32,
        /// (duration, size, flags)
        samples: Vec<(u32, u32, u32)>,
    }

    fn runs(moof_body: &[u8]) -> Vec<Run> {
        all(moof_body, b"traf")
            .into_iter()
            .map(|traf| {
                let tfhd = get(traf, &[b"tfhd"]);
                assert_eq!(be32(tfhd, 0), 0x0002_0000, "default-base-is-moof only");
                let tfdt = get(traf, &[b"tfdt"]);
                assert_eq!(tfdt[0], 1, "tfdt version 1");
                let trun = get(traf, &[b"trun"]);
                assert_eq!(be32(trun, 0), 0x0000_0701);
                let n = be32(trun, 4) as usize;
                let samples = (0..n)
                    .map(|i| {
                        let at = 12 + 12 * i;
                        (be32(trun, at), be32(trun, at + 4), be32(trun, at + 8))
                    })
                    .collect();
                Run {
                    track_id: be32(tfhd, 4),
                    tfdt: be64(tfdt, 4),
                    data_offset: be32(trun, 8),
                    samples,
                }
            })
            .collect()
    }

    #[test]
    fn esds_for_aac_lc_48k_stereo() {
        let mut w = BoxWriter::default();
        write_esds(&mut w, &audio_config(), 2);
        #[rustfmt::skip]
        let expected = [
            0, 0, 0, 39, b'e', b's', b'd', b's', 0, 0, 0, 0,
            0x03, 25, 0, 2, 0, // ES_Descriptor, ES_ID 2, no flags
            0x04, 17, 0x40, 0x15, 0, 0, 0, // DecoderConfig: AAC, audio stream, buffer 0
            0, 0x01, 0xF4, 0, 0, 0x01, 0xF4, 0, // max and average bitrate 128000
            0x05, 2, 0x11, 0x90, // DecoderSpecificInfo = ASC
            0x06, 1, 0x02, // SLConfig predefined 2
        ];
        assert_eq!(w.into_bytes(), expected);
    }

    #[test]
    fn descriptor_sizes_use_7_bit_groups() {
        let mut out = Vec::new();
        descriptor(&mut out, 0x05, &[0; 200]);
        assert_eq!(out[..3], [0x05, 0x81, 0x48]);
        assert_eq!(out.len(), 203);
    }

    #[test]
    fn chunk_offsets_switch_to_co64_above_4_gib() {
        let mut w = BoxWriter::default();
        write_chunk_offsets(&mut w, &[48, u64::from(u32::MAX)]);
        assert_eq!(
            w.into_bytes(),
            [
                0, 0, 0, 24, b's', b't', b'c', b'o', 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 48, 0xFF,
                0xFF, 0xFF, 0xFF
            ]
        );
        let mut w = BoxWriter::default();
        write_chunk_offsets(&mut w, &[48, 1 << 32]);
        let b = w.into_bytes();
        assert_eq!(&b[4..8], b"co64");
        assert_eq!(b[16..], [0, 0, 0, 0, 0, 0, 0, 48, 0, 0, 0, 1, 0, 0, 0, 0]);
    }

    #[test]
    fn init_segment_is_ftyp_and_fragmented_moov_without_samples() {
        let mut w = Mp4Writer::new(
            Some(video_config()),
            Some(audio_config()),
            Mp4Options::default(),
        );
        let init = w.init_segment();
        assert_eq!(w.bytes_written(), init.len() as u64);
        let top = boxes(&init);
        let kinds: Vec<_> = top.iter().map(|b| b.0).collect();
        assert_eq!(kinds, [*b"ftyp", *b"moov"]);
        assert_eq!(top[0].2, b"isom\0\0\x02\0isomiso2iso6avc1mp41");
        let moov = top[1].2;
        let traks = all(moov, b"trak");
        assert_eq!(traks.len(), 2);
        for (trak, id) in traks.iter().zip([1, 2]) {
            assert_eq!(be32(get(trak, &[b"tkhd"]), 20), id);
            assert!(!has(trak, b"edts"), "no edit list in the fragmented moov");
            let stbl = get(trak, &[b"mdia", b"minf", b"stbl"]);
            for table in [b"stts", b"stsc", b"stsz", b"stco"] {
                let body = get(stbl, &[table]);
                let count_at = if table == b"stsz" { 8 } else { 4 };
                assert_eq!(be32(body, count_at), 0, "{:?} is empty", table);
            }
        }
        let video_stbl = get(traks[0], &[b"mdia", b"minf", b"stbl"]);
        let avc1 = &get(video_stbl, &[b"stsd"])[8..];
        assert_eq!(&avc1[4..8], b"avc1");
        assert_eq!(get(&avc1[8 + 78..], &[b"avcC"]), &video_config().avcc[..]);
        let trex = all(get(moov, &[b"mvex"]), b"trex");
        assert_eq!(trex.len(), 2);
        assert_eq!(
            trex[0][4..],
            [
                0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0x0B, 0xB8, 0, 0, 0, 0, 1, 1, 0, 0
            ]
        );
        assert_eq!(
            trex[1][4..],
            [0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 4, 0, 0, 0, 0, 0, 2, 0, 0, 0]
        );
    }

    #[test]
    fn fragments_cut_on_keyframes_and_duration() {
        // 46 frames, keyframes at 0, 20, 40; fragments of 500 ms (15 frames).
        let mut w = Mp4Writer::new(
            Some(video_config()),
            Some(audio_config()),
            Mp4Options::default(),
        );
        w.init_segment();
        let pkts = interleaved(46, 20, MediaTime::from_millis(10));
        let mut frags = Vec::new();
        for p in &pkts {
            frags.extend(w.push(p));
        }
        frags.extend(w.flush());
        assert!(w.flush().is_none(), "never an empty fragment");

        let summary: Vec<(MediaTime, bool, usize)> = frags
            .iter()
            .map(|f| {
                let moof = get(&f.bytes, &[b"moof"]);
                let video = runs(moof)
                    .iter()
                    .find(|r| r.track_id == 1)
                    .map_or(0, |r| r.samples.len());
                (f.start, f.starts_with_keyframe, video)
            })
            .collect();
        assert_eq!(
            summary,
            [
                (video_time(0), true, 15),
                (video_time(15), false, 5),
                (video_time(20), true, 15),
                (video_time(35), false, 5),
                (video_time(40), true, 6),
            ]
        );
        // Durations: up to the next fragment, and the last one to the end of its last frame.
        for pair in frags.windows(2) {
            assert_eq!(pair[0].start + pair[0].duration, pair[1].start);
        }
        let last = frags.last().unwrap();
        assert_eq!(last.start + last.duration, video_time(46));
        // mfhd sequence numbers count from 1.
        for (i, f) in frags.iter().enumerate() {
            assert_eq!(be32(get(&f.bytes, &[b"moof", b"mfhd"]), 4), i as u32 + 1);
        }
    }

    #[test]
    fn audio_only_cuts_by_duration() {
        let mut w = Mp4Writer::new(None, Some(audio_config()), Mp4Options::default());
        w.init_segment();
        let mut frags = Vec::new();
        for k in 0..60 {
            frags.extend(w.push(&EncodedPacket {
                kind: StreamKind::Audio,
                pts: audio_time(k),
                dts: audio_time(k),
                duration: audio_time(1),
                keyframe: true,
                data: payload(b'A', k),
            }));
        }
        frags.extend(w.flush());
        // 24 frames = 512 ms is the first span >= 500 ms.
        let counts: Vec<usize> = frags
            .iter()
            .map(|f| runs(get(&f.bytes, &[b"moof"]))[0].samples.len())
            .collect();
        assert_eq!(counts, [24, 24, 12]);
        assert!(frags.iter().all(|f| f.starts_with_keyframe));
        let r = runs(get(&frags[1].bytes, &[b"moof"]));
        assert_eq!((r[0].track_id, r[0].tfdt), (1, 24 * 1024));
        assert!(
            r[0].samples
                .iter()
                .all(|&(d, _, f)| d == 1024 && f == FLAGS_SYNC)
        );
    }

    /// Writes `pkts` through a writer; returns the fragmented file and the finalize output.
    fn write_file(pkts: &[EncodedPacket]) -> (Vec<u8>, Vec<u64>, Finalize) {
        let mut w = Mp4Writer::new(
            Some(video_config()),
            Some(audio_config()),
            Mp4Options::default(),
        );
        let mut file = w.init_segment();
        let mut moofs = Vec::new();
        for p in pkts {
            if let Some(f) = w.push(p) {
                moofs.push(file.len() as u64);
                file.extend_from_slice(&f.bytes);
            }
        }
        if let Some(f) = w.flush() {
            moofs.push(file.len() as u64);
            file.extend_from_slice(&f.bytes);
        }
        assert_eq!(w.bytes_written(), file.len() as u64);
        let fin = w.finalize();
        assert_eq!(w.finalize(), Finalize::default(), "finalize is one-shot");
        (file, moofs, fin)
    }

    fn payloads(pkts: &[EncodedPacket], kind: StreamKind) -> Vec<&[u8]> {
        pkts.iter()
            .filter(|p| p.kind == kind)
            .map(|p| &p.data[..])
            .collect()
    }

    #[test]
    fn fragment_runs_point_at_the_payloads() {
        let pkts = interleaved(70, 30, MediaTime::from_millis(10));
        let (file, moofs, _) = write_file(&pkts);
        let mut got: [Vec<&[u8]>; 2] = Default::default();
        let mut next_tfdt = [None, None];
        for &moof_at in &moofs {
            let moof_at = moof_at as usize;
            let moof = get(&file[moof_at..], &[b"moof"]);
            let traf_ids: Vec<u32> = runs(moof).iter().map(|r| r.track_id).collect();
            assert!(traf_ids == [1, 2] || traf_ids == [1] || traf_ids == [2]);
            for run in runs(moof) {
                let t = run.track_id as usize - 1;
                let mut at = moof_at + run.data_offset as usize;
                for &(_, size, _) in &run.samples {
                    got[t].push(&file[at..at + size as usize]);
                    at += size as usize;
                }
                // Video: each fragment's tfdt continues exactly where the previous run ended.
                if t == 0 {
                    if let Some(expected) = next_tfdt[0] {
                        assert_eq!(run.tfdt, expected);
                    }
                    next_tfdt[0] =
                        Some(run.tfdt + run.samples.iter().map(|s| u64::from(s.0)).sum::<u64>());
                } else if next_tfdt[1].is_none() {
                    assert_eq!(run.tfdt, 480, "audio starts 10 ms in");
                    next_tfdt[1] = Some(0);
                }
            }
        }
        assert_eq!(got[0], payloads(&pkts, StreamKind::Video));
        assert_eq!(got[1], payloads(&pkts, StreamKind::Audio));
    }

    /// A fragment that never reached the file (disk full) is taken back: the final `moov`
    /// indexes exactly the samples in the file, at their offsets.
    #[test]
    fn a_fragment_that_never_reached_the_file_is_taken_back() {
        let pkts = interleaved(70, 30, MediaTime::from_millis(10));
        let mut w = Mp4Writer::new(
            Some(video_config()),
            Some(audio_config()),
            Mp4Options::default(),
        );
        let mut file = w.init_segment();
        let (mut kept, mut lost) = (0, 0);
        for p in &pkts {
            if let Some(f) = w.push(p) {
                if lost > 0 || file.len() > 2_000 {
                    // The disk is full: this fragment never reaches the file.
                    w.retract_last_fragment();
                    w.retract_last_fragment(); // a second call changes nothing
                    lost += 1;
                } else {
                    file.extend_from_slice(&f.bytes);
                    kept += 1;
                }
            }
        }
        assert!(lost > 0 && kept > 0, "{kept} kept, {lost} lost");
        // What was pending goes out with the moov, as its last fragment.
        let fin = w.finalize();
        file.extend_from_slice(&fin.append);
        assert_eq!(w.bytes_written(), file.len() as u64);
        let top = boxes(&file);
        let (kind, moov_at, moov) = *top.last().unwrap();
        assert_eq!(&kind, b"moov");
        for (trak, kind) in all(moov, b"trak")
            .iter()
            .zip([StreamKind::Video, StreamKind::Audio])
        {
            let stbl = get(trak, &[b"mdia", b"minf", b"stbl"]);
            let sizes: Vec<u32> = entries32(get(stbl, &[b"stsz"]), 4, 1).concat();
            let offsets: Vec<u32> = entries32(get(stbl, &[b"stco"]), 0, 1).concat();
            assert!(
                offsets.iter().all(|&o| (o as usize) < moov_at),
                "{offsets:?}"
            );
            assert!(sizes.iter().sum::<u32>() as usize <= moov_at);
            let sent = payloads(&pkts, kind).len();
            assert!(
                !sizes.is_empty() && sizes.len() < sent,
                "{} of {sent}",
                sizes.len()
            );
        }
        // Every patch renames a box that is in the file.
        for &(offset, _) in &fin.patches {
            let at = offset as usize;
            assert!(&file[at..at + 4] == b"moov" || &file[at..at + 4] == b"moof");
        }
    }

    #[test]
    fn finalize_turns_the_file_into_a_plain_mp4() {
        let pkts = interleaved(70, 30, MediaTime::from_millis(10));
        let (mut file, moofs, fin) = write_file(&pkts);
        let moov_at = file.len();
        file.extend_from_slice(&fin.append);

        // Patches point at the type of the initial moov and of every moof.
        let init_moov_at = boxes(&file[..]).iter().find(|b| &b.0 == b"moov").unwrap().1;
        let expected: Vec<u64> = std::iter::once(init_moov_at as u64)
            .chain(moofs.iter().copied())
            .map(|o| o + 4)
            .collect();
        assert_eq!(
            fin.patches.iter().map(|p| p.0).collect::<Vec<_>>(),
            expected
        );
        for &(offset, bytes) in &fin.patches {
            let at = offset as usize;
            assert!(&file[at..at + 4] == b"moov" || &file[at..at + 4] == b"moof");
            assert_eq!(&bytes, b"free");
            file[at..at + 4].copy_from_slice(&bytes);
        }

        let top = boxes(&file);
        let kinds: Vec<&[u8]> = top.iter().map(|b| &b.0[..]).collect();
        let mut expected_kinds: Vec<&[u8]> = vec![b"ftyp", b"free"];
        for _ in &moofs {
            expected_kinds.extend([&b"free"[..], b"mdat"]);
        }
        expected_kinds.push(b"moov");
        assert_eq!(kinds, expected_kinds);
        assert_eq!(top.last().unwrap().1, moov_at);

        let moov = top.last().unwrap().2;
        assert!(!has(moov, b"mvex"));
        // mvhd v1: timescale 1000, duration = the longer track (audio: 10 ms + 109 frames).
        let mvhd = get(moov, &[b"mvhd"]);
        assert_eq!((mvhd[0], be32(mvhd, 20), be64(mvhd, 24)), (1, 1000, 2335));

        let traks = all(moov, b"trak");
        for (trak, kind) in traks.iter().zip([StreamKind::Video, StreamKind::Audio]) {
            let stbl = get(trak, &[b"mdia", b"minf", b"stbl"]);
            let sizes: Vec<u32> = entries32(get(stbl, &[b"stsz"]), 4, 1).concat();
            let offsets: Vec<u32> = entries32(get(stbl, &[b"stco"]), 0, 1).concat();
            let stsc = entries32(get(stbl, &[b"stsc"]), 0, 3);
            // Expand stsc to samples per chunk.
            let mut per_chunk = Vec::new();
            for (i, e) in stsc.iter().enumerate() {
                let last = stsc.get(i + 1).map_or(offsets.len() as u32 + 1, |n| n[0]);
                per_chunk.extend((e[0]..last).map(|_| e[1]));
            }
            let mut got = Vec::new();
            let mut sample = 0;
            for (&offset, &n) in offsets.iter().zip(&per_chunk) {
                let mut at = offset as usize;
                for _ in 0..n {
                    let size = sizes[sample] as usize;
                    got.push(&file[at..at + size]);
                    at += size;
                    sample += 1;
                }
            }
            assert_eq!(sample, sizes.len());
            assert_eq!(got, payloads(&pkts, kind));

            let stts = entries32(get(stbl, &[b"stts"]), 0, 2);
            let mdhd = get(trak, &[b"mdia", b"mdhd"]);
            let media_duration = be64(mdhd, 24);
            let tkhd_duration = be64(get(trak, &[b"tkhd"]), 28);
            match kind {
                StreamKind::Video => {
                    assert_eq!(stts, [vec![70, 3000]]);
                    assert_eq!(entries32(get(stbl, &[b"stss"]), 0, 1).concat(), [1, 31, 61]);
                    assert_eq!(
                        (be32(mdhd, 20), media_duration, tkhd_duration),
                        (90_000, 210_000, 2333)
                    );
                    assert!(!has(trak, b"edts"), "video starts at 0");
                }
                StreamKind::Audio => {
                    // 109 frames fit between 10 ms and 2333 ms.
                    assert_eq!(stts, [vec![109, 1024]]);
                    assert!(!has(stbl, b"stss"));
                    assert_eq!((be32(mdhd, 20), media_duration), (48_000, 109 * 1024));
                    assert_eq!(tkhd_duration, 10 + 2325);
                    let elst = get(trak, &[b"edts", b"elst"]);
                    assert_eq!(
                        elst,
                        [
                            0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 10, 0xFF, 0xFF, 0xFF, 0xFF, 0, 1, 0,
                            0, 0, 0, 0x09, 0x15, 0, 0, 0, 0, 0, 1, 0, 0
                        ]
                    );
                }
            }
        }
    }

    #[test]
    fn final_durations_come_from_dts_with_the_last_packet_duration() {
        // Irregular video timing: frame 3 arrives late; the last frame lasts 50 ms.
        let times = [0, 33, 66, 120, 153];
        let pkts: Vec<EncodedPacket> = times
            .iter()
            .enumerate()
            .map(|(i, &ms)| EncodedPacket {
                kind: StreamKind::Video,
                pts: MediaTime::from_millis(ms),
                dts: MediaTime::from_millis(ms),
                duration: MediaTime::from_millis(if i == 4 { 50 } else { 33 }),
                keyframe: i == 0 || i == 3,
                data: payload(b'V', i as i64),
            })
            .collect();
        let mut w = Mp4Writer::new(Some(video_config()), None, Mp4Options::default());
        let mut file = w.init_segment();
        let mut frags = Vec::new();
        for p in &pkts {
            frags.extend(w.push(p));
        }
        let fin = w.finalize();
        // The keyframe at 120 ms cut the first fragment: its last frame lasts until 120 ms.
        assert_eq!(frags.len(), 1);
        let r = runs(get(&frags[0].bytes, &[b"moof"]));
        let d: Vec<u32> = r[0].samples.iter().map(|s| s.0).collect();
        assert_eq!(d, [2970, 2970, 4860]);
        assert_eq!(
            r[0].samples.iter().map(|s| s.2).collect::<Vec<_>>(),
            [FLAGS_SYNC, FLAGS_NON_SYNC, FLAGS_NON_SYNC]
        );
        for f in &frags {
            file.extend_from_slice(&f.bytes);
        }
        // finalize flushed the pending fragment into `append`, and patches its moof too.
        file.extend_from_slice(&fin.append);
        assert_eq!(fin.patches.len(), 3);
        for &(offset, bytes) in &fin.patches {
            file[offset as usize..offset as usize + 4].copy_from_slice(&bytes);
        }
        let top = boxes(&file);
        let moov = top.last().unwrap().2;
        let stbl = get(moov, &[b"trak", b"mdia", b"minf", b"stbl"]);
        let stts = entries32(get(stbl, &[b"stts"]), 0, 2);
        assert_eq!(
            stts,
            [vec![2, 2970], vec![1, 4860], vec![1, 2970], vec![1, 4500]]
        );
        assert_eq!(entries32(get(stbl, &[b"stss"]), 0, 1).concat(), [1, 4]);
        assert_eq!(
            entries32(get(stbl, &[b"stsc"]), 0, 3),
            [vec![1, 3, 1], vec![2, 2, 1]]
        );
    }
}
