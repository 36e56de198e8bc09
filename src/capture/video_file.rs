//! A video file played in a loop (`kind = "video"`): an MP4 of H.264 video (without
//! B-frames: OpenH264 does not decode them) and AAC sound.
//!
//! ```text
//! file ─index (mp4parse)─▶ cap-video: OpenH264 ─▶ LatestFrame ─▶ the studio's layers
//!                                     fdk-aac ─▶ AudioFeed   ─▶ the mixer (a strip named as the source)
//! ```
//! The index (ftyp and moov only; the media data is read sample by sample) is read when the
//! source opens, so a missing file or one that is not H.264/AAC is an error before anything
//! starts. The thread paces itself on the engine clock: loop `k`'s picture at file time `p`
//! is handed over at `base + k·period + p` less half a frame (the studio, taking the latest
//! picture at each program frame, then shows the nearest), its sound pushed up to
//! [`AUDIO_LEAD`] ahead with the same times, its time from the sample count. Every loop is
//! exactly the video track's length (sound cut or padded with silence to it), so picture and
//! sound stay together across loops. A read or decode error shows the slate; the file is
//! opened again every 2 s.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use mp4parse::unstable::{CheckedInteger, create_sample_table};
use mp4parse::{AudioCodecSpecific, CodecType, SampleEntry, TrackType, VideoCodecSpecific};
use openh264::formats::YUVSource as _;
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Async, FixedAsync, PolynomialDegree, Resampler};

use super::convert::ensure_size;
use super::latest::LatestFrame;
use super::video_file_aac::{AacDecoder, FrameInfo};
use super::{AudioFeed, CaptureError, REOPEN_INTERVAL, SourceCounters, Worker, sleep_unless};
use crate::media::time::Clock;
use crate::media::{MediaTime, Timebase, VideoFrame};

/// How far ahead of the picture the sound is handed to the mixer (its slot holds 2 s).
pub const AUDIO_LEAD: MediaTime = MediaTime::from_millis(300);
/// What the mixer waits for the sound ([`crate::mix::external::external`]'s delay): the sound
/// is pushed ahead, so only a late thread needs this.
pub const AUDIO_DELAY: MediaTime = MediaTime::from_millis(40);
/// The largest index (ftyp + moov) read, and the largest sample.
const MAX_INDEX_BYTES: u64 = 256 << 20;
const MAX_SAMPLE_BYTES: u64 = 64 << 20;
/// Decode errors in a row before the file counts as failed.
const MAX_DECODE_ERRORS: u32 = 30;
/// Behind the clock by more than this (a stall): the loop's times start over from now.
const RESYNC: MediaTime = MediaTime::from_secs(1);
const CONVERT: &str = "convert it, e.g. `ffmpeg -i IN -c:v libx264 -c:a aac OUT.mp4`";

/// Where a video source's sound goes, once the mixer gives it an input.
pub type AudioSlot = Arc<OnceLock<Box<dyn AudioFeed>>>;

/// A video source's sound for the mixer: where the mixer's input is set, and whether the
/// source is on the program now (set by the studio each frame; off, its strip is silent, as
/// OBS mixes only the sources on the program).
#[derive(Clone, Default)]
pub struct ClipAudio {
    pub feed: AudioSlot,
    pub on_air: Arc<AtomicBool>,
}

impl std::fmt::Debug for ClipAudio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClipAudio")
            .field("on_air", &self.on_air)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    offset: u64,
    size: u32,
    /// Presentation time in the track's timescale, the edit list applied.
    pts: i64,
    /// Presentation end (video).
    end: i64,
}

struct VideoTrack {
    /// SPS and PPS, Annex B.
    headers: Vec<u8>,
    nal_len: usize,
    timebase: Timebase,
    /// Decode order.
    samples: Vec<Sample>,
}

struct AudioTrack {
    config: Vec<u8>,
    timebase: Timebase,
    samples: Vec<Sample>,
}

/// A file's index: what is in it and where.
pub struct ClipIndex {
    path: PathBuf,
    video: VideoTrack,
    audio: Option<AudioTrack>,
    /// One loop: the video track's length.
    period: MediaTime,
    /// A frame's length (the period over the frame count).
    frame: MediaTime,
}

impl ClipIndex {
    pub fn has_audio(&self) -> bool {
        self.audio.is_some()
    }

    pub fn period(&self) -> MediaTime {
        self.period
    }
}

/// Reads `path`'s index; an error says what is wrong with the file and what to do.
pub fn probe(path: &Path, name: &str) -> Result<ClipIndex, CaptureError> {
    let bad = |detail: String| CaptureError::Video {
        source_name: name.to_owned(),
        path: path.to_owned(),
        detail,
    };
    let mut file = File::open(path)
        .map_err(|e| bad(format!("cannot open it ({e}); check the source's path")))?;
    let index = top_boxes(&mut file).map_err(bad)?;
    let ctx = mp4parse::read_mp4(&mut std::io::Cursor::new(&index))
        .map_err(|e| bad(format!("is not a readable MP4 ({e:?}); {CONVERT}")))?;
    let mut video = None;
    let mut audio = None;
    let mut other = Vec::new();
    for track in ctx.tracks.iter() {
        let Some(entry) = track.stsd.as_ref().and_then(|s| s.descriptions.first()) else {
            continue;
        };
        let timebase = track
            .timescale
            .and_then(|t| u32::try_from(t.0).ok())
            .and_then(|t| Timebase::new(1, t));
        match entry {
            SampleEntry::Video(v) if video.is_none() && track.track_type == TrackType::Video => {
                let VideoCodecSpecific::AVCConfig(avcc) = &v.codec_specific else {
                    other.push(format!("{:?} video", v.codec_type));
                    continue;
                };
                let (headers, nal_len) = parse_avcc(avcc)
                    .ok_or_else(|| bad(format!("has a broken H.264 configuration; {CONVERT}")))?;
                let timebase = timebase.ok_or_else(|| bad("has no video timescale".into()))?;
                video = Some(VideoTrack {
                    headers,
                    nal_len,
                    timebase,
                    samples: samples(track).map_err(&bad)?,
                });
            }
            SampleEntry::Audio(a) if audio.is_none() && track.track_type == TrackType::Audio => {
                match &a.codec_specific {
                    AudioCodecSpecific::ES_Descriptor(es) if es.audio_codec == CodecType::AAC => {
                        let timebase =
                            timebase.ok_or_else(|| bad("has no audio timescale".into()))?;
                        audio = Some(AudioTrack {
                            config: es.decoder_specific_data.to_vec(),
                            timebase,
                            samples: samples(track).map_err(&bad)?,
                        });
                    }
                    _ => other.push(format!("{:?} audio", a.codec_type)),
                }
            }
            _ => {}
        }
    }
    let Some(video) = video else {
        let found = if other.is_empty() {
            "no video".to_owned()
        } else {
            other.join(", ")
        };
        return Err(bad(format!(
            "has no H.264 video (found {found}); {CONVERT}"
        )));
    };
    if audio.is_none()
        && let Some(a) = other.iter().find(|o| o.ends_with("audio"))
    {
        return Err(bad(format!("has {a}, not AAC; {CONVERT}")));
    }
    // OpenH264's decoder gives B-frames' streams back broken (seen: a few pictures, then
    // decode errors): refused with what to do.
    if video.samples.windows(2).any(|w| w[1].pts < w[0].pts) {
        return Err(bad(
            "has B-frames, which OpenH264's decoder does not play; convert it without, e.g. \
             `ffmpeg -i IN -c:v libx264 -bf 0 -c:a aac OUT.mp4`"
                .into(),
        ));
    }
    let end = video.samples.iter().map(|s| s.end).max().unwrap_or(0);
    let frames = video.samples.len() as i64;
    if end <= 0 || frames == 0 {
        return Err(bad(format!("has no video frames; {CONVERT}")));
    }
    let period = video.timebase.ticks_to_time(end);
    Ok(ClipIndex {
        path: path.to_owned(),
        frame: MediaTime::from_nanos(period.as_nanos() / frames),
        period,
        video,
        audio,
    })
}

/// The file's `ftyp` and `moov` boxes (what mp4parse needs; the media data stays on disk).
fn top_boxes(file: &mut File) -> Result<Vec<u8>, String> {
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    let mut out = Vec::new();
    let mut at = 0u64;
    let mut moov = false;
    while at + 8 <= len {
        let mut head = [0u8; 16];
        file.seek(SeekFrom::Start(at)).map_err(|e| e.to_string())?;
        file.read_exact(&mut head[..8]).map_err(|e| e.to_string())?;
        let mut size = u64::from(u32::from_be_bytes([head[0], head[1], head[2], head[3]]));
        let mut head_len = 8;
        if size == 1 {
            file.read_exact(&mut head[8..]).map_err(|e| e.to_string())?;
            size = u64::from_be_bytes(head[8..16].try_into().unwrap_or_default());
            head_len = 16;
        } else if size == 0 {
            size = len - at;
        }
        if size < head_len as u64 || at + size > len {
            break; // a cut-off last box: the index may still be whole
        }
        let kind = &head[4..8];
        if kind == b"ftyp" || kind == b"moov" {
            if size > MAX_INDEX_BYTES {
                return Err("has an index over 256 MB".into());
            }
            moov |= kind == b"moov";
            let start = out.len();
            out.resize(start + size as usize, 0);
            file.seek(SeekFrom::Start(at)).map_err(|e| e.to_string())?;
            file.read_exact(&mut out[start..])
                .map_err(|e| e.to_string())?;
        }
        at += size;
    }
    if !moov {
        return Err(format!(
            "is not an MP4 with an index (no moov box: not an MP4, or a recording cut off); {CONVERT}"
        ));
    }
    Ok(out)
}

/// SPS and PPS (Annex B) and the NAL length size from an AVCDecoderConfigurationRecord.
fn parse_avcc(avcc: &[u8]) -> Option<(Vec<u8>, usize)> {
    let nal_len = usize::from(*avcc.get(4)? & 3) + 1;
    let mut headers = Vec::new();
    let mut at = 5;
    for mask in [0x1f, 0xff] {
        let count = *avcc.get(at)? & mask;
        at += 1;
        for _ in 0..count {
            let n = usize::from(u16::from_be_bytes([*avcc.get(at)?, *avcc.get(at + 1)?]));
            headers.extend_from_slice(&[0, 0, 0, 1]);
            headers.extend_from_slice(avcc.get(at + 2..at + 2 + n)?);
            at += 2 + n;
        }
    }
    (!headers.is_empty() && *avcc.first()? == 1).then_some((headers, nal_len))
}

/// A track's samples in decode order, with presentation times after the edit list.
fn samples(track: &mp4parse::Track) -> Result<Vec<Sample>, String> {
    let skip = track.media_time.map_or(0, |t| t.0 as i64);
    let table = create_sample_table(track, CheckedInteger(-skip))
        .ok_or_else(|| format!("has a broken sample table; {CONVERT}"))?;
    table
        .iter()
        .map(|i| {
            let size = i.end_offset.0.saturating_sub(i.start_offset.0);
            if size > MAX_SAMPLE_BYTES {
                return Err(format!("has a sample of {size} bytes; {CONVERT}"));
            }
            Ok(Sample {
                offset: i.start_offset.0,
                size: size as u32,
                pts: i.start_composition.0,
                end: i.end_composition.0,
            })
        })
        .collect()
}

/// Opens the source: its index read now (an error names the file), its thread not started.
/// Returns the picture slot, the thread, and where its sound goes (if it has sound).
pub fn open(
    path: &Path,
    name: &str,
) -> Result<(Arc<LatestFrame>, Worker, Option<ClipAudio>), CaptureError> {
    let index = probe(path, name)?;
    let counters = SourceCounters::new(name, "video");
    counters.set_live(true);
    let slot = Arc::new(LatestFrame::new(Arc::new(counters)));
    let audio: Option<ClipAudio> = index.has_audio().then(ClipAudio::default);
    let run = {
        let (slot, name) = (slot.clone(), name.to_owned());
        let feed = audio.as_ref().map(|a| a.feed.clone());
        move || play(index, &slot, feed.as_ref(), &name)
    };
    Ok((
        slot,
        Worker {
            name: "cap-video".into(),
            run: Box::new(run),
        },
        audio,
    ))
}

/// The thread: plays the file until the source is dropped; reopens it after a failure.
fn play(mut index: ClipIndex, slot: &Arc<LatestFrame>, audio: Option<&AudioSlot>, name: &str) {
    let gone = || Arc::strong_count(slot) <= 1;
    let counters = slot.counters().clone();
    let clock = loop {
        if let Some(c) = slot.clock() {
            break c;
        }
        if !sleep_unless(&gone, Duration::from_millis(10)) {
            return;
        }
    };
    loop {
        let result = Player::new(&index).and_then(|mut p| p.run(&clock, slot, audio, &gone));
        let Err(e) = result else { return };
        let e = format!("{}: {e}", index.path.display());
        tracing::warn!(
            source = name,
            "video file failed: {e}; opening it again every 2 s"
        );
        counters.set_error(&e);
        slot.set_lost(true);
        loop {
            if !sleep_unless(&gone, REOPEN_INTERVAL) {
                return;
            }
            match probe(&index.path, name) {
                Ok(i) => {
                    index = i;
                    counters.reopened.fetch_add(1, Relaxed);
                    break;
                }
                Err(e) => counters.set_error(&e.to_string()),
            }
        }
    }
}

/// Decoding state for one opening of the file.
struct Player<'a> {
    index: &'a ClipIndex,
    file: File,
    h264: openh264::decoder::Decoder,
    next_video: usize,
    /// Presentation times fed to the decoder and not yet given back as pictures (it gives
    /// them back in presentation order).
    waiting: BinaryHeap<Reverse<i64>>,
    errors: u32,
    /// Read buffer and the Annex B access unit made from it.
    buf: Vec<u8>,
    unit: Vec<u8>,
    audio: Option<AudioState>,
}

struct AudioState {
    aac: AacDecoder,
    /// Loop and 48 kHz frames handed over in it.
    k: i64,
    sent: u64,
    next: usize,
    pcm: Vec<i16>,
    samples: Vec<f32>,
    resampler: Option<(u32, Async<f32>)>,
    resampled: Vec<f32>,
}

impl<'a> Player<'a> {
    fn new(index: &'a ClipIndex) -> Result<Self, String> {
        let file = File::open(&index.path).map_err(|e| format!("cannot open it ({e})"))?;
        let h264 = openh264::decoder::Decoder::new()
            .map_err(|e| format!("cannot start OpenH264's decoder: {e}"))?;
        let audio = match &index.audio {
            Some(track) => {
                let aac = AacDecoder::new(&track.config)?;
                Some(AudioState {
                    aac,
                    k: 0,
                    sent: 0,
                    next: 0,
                    pcm: vec![0; 2048 * 8],
                    samples: Vec::with_capacity(4096),
                    resampler: None,
                    resampled: vec![0.0; 8192],
                })
            }
            None => None,
        };
        Ok(Self {
            index,
            file,
            h264,
            next_video: 0,
            waiting: BinaryHeap::new(),
            errors: 0,
            buf: Vec::new(),
            unit: Vec::new(),
            audio,
        })
    }

    /// Plays loop after loop; `Ok` once the source is dropped.
    fn run(
        &mut self,
        clock: &Clock,
        slot: &LatestFrame,
        audio: Option<&AudioSlot>,
        gone: &dyn Fn() -> bool,
    ) -> Result<(), String> {
        let index = self.index;
        let mut work = VideoFrame::black(2, 2, MediaTime::ZERO);
        let half = MediaTime::from_nanos(index.frame.as_nanos() / 2);
        let mut base = clock.now() + half;
        let mut k = 0i64;
        loop {
            if gone() {
                return Ok(());
            }
            let Some(pts) = self.next_picture(&mut work)? else {
                // The loop is over: the next starts where this one ends.
                k += 1;
                self.next_video = 0;
                self.waiting.clear();
                continue;
            };
            let at = base + index.period * k + index.video.timebase.ticks_to_time(pts);
            if let Some(feed) = audio.and_then(|a| a.get()) {
                self.feed_audio(base, at + AUDIO_LEAD, feed.as_ref())?;
            }
            let show = at - half;
            let now = clock.now();
            if show > now && !sleep_unless(gone, (show - now).to_duration()) {
                return Ok(());
            }
            let late = clock.now() - at;
            if late > RESYNC {
                base += late;
            }
            work.pts = at;
            slot.publish(&mut work);
        }
    }

    /// Reads sample `s` into `self.buf`.
    fn read(&mut self, s: Sample) -> Result<(), String> {
        self.buf.resize(s.size as usize, 0);
        self.file
            .seek(SeekFrom::Start(s.offset))
            .and_then(|_| self.file.read_exact(&mut self.buf))
            .map_err(|e| format!("cannot read it ({e})"))
    }

    /// Decodes up to the next picture (into `frame`); its presentation time, or `None` at
    /// the end of the file.
    fn next_picture(&mut self, frame: &mut VideoFrame) -> Result<Option<i64>, String> {
        let track = &self.index.video;
        loop {
            let Some(&s) = track.samples.get(self.next_video) else {
                return Ok(None);
            };
            let first = self.next_video == 0;
            self.next_video += 1;
            self.read(s)?;
            self.unit.clear();
            if first {
                self.unit.extend_from_slice(&track.headers);
            }
            // Length-prefixed NAL units to start codes.
            let mut rest = &self.buf[..];
            while rest.len() > track.nal_len {
                let n = rest[..track.nal_len]
                    .iter()
                    .fold(0usize, |a, &b| (a << 8) | usize::from(b));
                let Some(nal) = rest.get(track.nal_len..track.nal_len + n) else {
                    break;
                };
                self.unit.extend_from_slice(&[0, 0, 0, 1]);
                self.unit.extend_from_slice(nal);
                rest = &rest[track.nal_len + n..];
            }
            self.waiting.push(Reverse(s.pts));
            match self.h264.decode(&self.unit) {
                Ok(Some(picture)) => {
                    self.errors = 0;
                    copy_picture(&picture, frame);
                    let pts = self.waiting.pop().map_or(s.pts, |Reverse(p)| p);
                    return Ok(Some(pts));
                }
                Ok(None) => self.errors = 0,
                Err(e) => {
                    self.errors += 1;
                    if self.errors >= MAX_DECODE_ERRORS {
                        return Err(format!("H.264 decoding fails ({e})"));
                    }
                }
            }
        }
    }

    /// Decodes and hands over sound up to engine time `until`.
    fn feed_audio(
        &mut self,
        base: MediaTime,
        until: MediaTime,
        feed: &dyn AudioFeed,
    ) -> Result<(), String> {
        let index = self.index;
        let (Some(track), Some(_)) = (&index.audio, &self.audio) else {
            return Ok(());
        };
        let period = Timebase::AUDIO_48K.time_to_ticks(index.period).max(1) as u64;
        loop {
            let a = self.audio.as_mut().unwrap_or_else(|| unreachable!());
            let at = base + index.period * a.k + Timebase::AUDIO_48K.ticks_to_time(a.sent as i64);
            if at >= until {
                return Ok(());
            }
            if a.sent >= period {
                a.k += 1;
                a.sent = 0;
                a.next = 0;
                a.resampler = None;
                continue;
            }
            let Some(&s) = track.samples.get(a.next) else {
                // Sound shorter than the picture: silence to the loop's end.
                let n = (period - a.sent).min(1024) as usize;
                a.samples.clear();
                a.samples.resize(n * 2, 0.0);
                a.sent += n as u64;
                if !feed.push(at, &a.samples) {
                    self.audio = None;
                    return Ok(());
                }
                continue;
            };
            a.next += 1;
            self.read(s)?;
            let a = self.audio.as_mut().unwrap_or_else(|| unreachable!());
            let FrameInfo {
                rate,
                frames,
                delay,
            } = match a.aac.decode(&self.buf, &mut a.pcm) {
                Ok(f) => f,
                Err(e) => {
                    tracing::debug!("AAC frame {}: {e}", a.next - 1);
                    continue;
                }
            };
            if rate == 0 || frames == 0 {
                continue;
            }
            // Where this frame's output starts in the loop, at 48 kHz (before zero: the
            // priming): its time, later by what the decoder still holds back (none for
            // AAC-LC as set up; the sound would otherwise come after its picture).
            let held = MediaTime::from_nanos(i64::from(delay) * 1_000_000_000 / i64::from(rate));
            let start =
                Timebase::AUDIO_48K.time_to_ticks(track.timebase.ticks_to_time(s.pts) - held);
            a.samples.clear();
            a.samples
                .extend(a.pcm[..frames * 2].iter().map(|&v| f32::from(v) / 32768.0));
            let out: &[f32] = if rate == 48_000 {
                &a.samples
            } else {
                resample(&mut a.resampler, &a.samples, &mut a.resampled, rate)?
            };
            let mut out = out;
            let mut start = start;
            if start < 0 {
                let cut = ((-start) as usize).min(out.len() / 2);
                out = &out[cut * 2..];
                start += cut as i64;
            }
            // A gap before this frame: silence (a file whose sound starts late).
            // (`start` may still be below zero: the resampler gives its first frame short.)
            let gap = (start.max(0) as u64)
                .saturating_sub(a.sent)
                .min(period - a.sent);
            let mut pushed = true;
            if gap > 480 {
                let silence = vec![0.0f32; gap as usize * 2];
                pushed &= feed.push(at, &silence);
                a.sent += gap;
            }
            let n = ((out.len() / 2) as u64).min(period - a.sent) as usize;
            let at = base + index.period * a.k + Timebase::AUDIO_48K.ticks_to_time(a.sent as i64);
            pushed &= feed.push(at, &out[..n * 2]);
            a.sent += n as u64;
            if !pushed {
                self.audio = None;
                return Ok(());
            }
        }
    }
}

/// `samples` (at `rate`) resampled to 48 kHz, into `out`.
fn resample<'o>(
    resampler: &mut Option<(u32, Async<f32>)>,
    samples: &[f32],
    out: &'o mut Vec<f32>,
    rate: u32,
) -> Result<&'o [f32], String> {
    let frames = samples.len() / 2;
    if resampler.as_ref().is_none_or(|(r, _)| *r != rate) {
        let r = Async::<f32>::new_poly(
            48_000.0 / f64::from(rate),
            1.0,
            PolynomialDegree::Cubic,
            frames,
            2,
            FixedAsync::Input,
        )
        .map_err(|e| format!("cannot resample {rate} Hz: {e}"))?;
        *resampler = Some((rate, r));
    }
    let Some((_, r)) = resampler.as_mut() else {
        return Ok(&[]);
    };
    let need = r.input_frames_next().min(frames);
    let room = r.output_frames_max();
    if out.len() < room * 2 {
        out.resize(room * 2, 0.0);
    }
    let input = InterleavedSlice::new(&samples[..need * 2], 2, need).map_err(|e| e.to_string())?;
    let mut output =
        InterleavedSlice::new_mut(&mut out[..room * 2], 2, room).map_err(|e| e.to_string())?;
    let (_, written) = r
        .process_into_buffer(&input, &mut output, None)
        .map_err(|e| e.to_string())?;
    Ok(&out[..written * 2])
}

/// A decoded picture into `frame` (even size: an odd last row or column is left out).
fn copy_picture(p: &openh264::decoder::DecodedYUV<'_>, frame: &mut VideoFrame) {
    let (w, h) = p.dimensions();
    let (w, h) = (w & !1, h & !1);
    ensure_size(frame, w as u32, h as u32);
    let (sy, su, sv) = p.strides();
    let (dy, du, dv) = frame.planes_mut();
    for (row, out) in dy.chunks_exact_mut(w).enumerate() {
        out.copy_from_slice(&p.y()[row * sy..row * sy + w]);
    }
    for (src, stride, dst) in [(p.u(), su, du), (p.v(), sv, dv)] {
        for (row, out) in dst.chunks_exact_mut(w / 2).enumerate() {
            out.copy_from_slice(&src[row * stride..row * stride + w / 2]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avcc_gives_annex_b_headers_and_the_length_size() {
        // version 1, profile 66, compat 0, level 30, 4-byte lengths, one SPS, one PPS.
        let avcc = [1, 66, 0, 30, 0xff, 0xe1, 0, 2, 0x67, 0x42, 1, 0, 1, 0x68];
        let (headers, len) = parse_avcc(&avcc).unwrap();
        assert_eq!(len, 4);
        assert_eq!(headers, [0, 0, 0, 1, 0x67, 0x42, 0, 0, 0, 1, 0x68]);
        assert!(parse_avcc(&avcc[..9]).is_none(), "cut short");
        assert!(parse_avcc(&[]).is_none());
    }

    #[test]
    fn a_missing_or_foreign_file_is_one_line_naming_it() {
        let e = probe(Path::new("/nonexistent/clip.mp4"), "Intro")
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("/nonexistent/clip.mp4") && e.contains("Intro"),
            "{e}"
        );
        assert!(
            e.contains("check the source's path") && !e.contains('\n'),
            "{e}"
        );
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("not-a-video.mp4");
        std::fs::write(&png, b"\x89PNG\r\n\x1a\n not an mp4 at all").unwrap();
        let e = probe(&png, "Intro").err().unwrap().to_string();
        assert!(e.contains("ffmpeg -i IN -c:v libx264"), "{e}");
    }
}
