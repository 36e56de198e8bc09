//! HLS media playlist with Low-Latency HLS parts, sans-IO.
//!
//! [`LivePlaylist`] takes the CMAF chunks that [`super::mp4::Mp4Writer`] cuts (one per part:
//! every keyframe, and every [`PartTiming::part`] in between) and says what to do about them:
//! which files to write, which playlist text to publish, which old files to delete. It never
//! touches a file; `output::hls` does, atomically (write, then rename).
//!
//! Layout of one run, with `P` the run's file-name prefix:
//!
//! ```text
//! P-init.mp4          ftyp + moov: the EXT-X-MAP
//! P-7.0.m4s ...       parts of segment 7 (moof + mdat each); part 0 starts with a keyframe
//! P-7.m4s             the whole segment 7, written once complete (its parts, concatenated)
//! live.m3u8           the playlist
//! ```
//!
//! Rules followed (RFC 8216 and its LL-HLS revision, Apple's authoring spec):
//! * a segment starts at every keyframe and only there, so segments follow the keyframe
//!   interval and EXT-X-TARGETDURATION is that interval;
//! * a part is a whole number of frames, at most `PART-TARGET`; `PART-TARGET` is one frame
//!   longer than the nominal part, so one late frame never breaks the rule, and the nominal part
//!   is still more than 85 % of it;
//! * `PART-HOLD-BACK` is 3 x `PART-TARGET`;
//! * parts are listed for the segments that end less than 3 target durations before the end of
//!   the playlist; the playlist lists `window` whole segments (at least 6) before the one in
//!   progress;
//! * a segment's files are deleted only after it has been out of the playlist for longer than
//!   the playlist itself lasts (RFC 8216 6.2.2), so a player that loaded an older playlist still
//!   finds every file it lists.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::time::SystemTime;

use crate::format::mp4::Fragment;
use crate::media::{MediaTime, Timebase};

/// The name of the playlist file.
pub const PLAYLIST_NAME: &str = "live.m3u8";
/// True for the name of a media file a [`LivePlaylist`] makes: an init segment, a segment or
/// a part (the output cleans these up; the preview server serves them).
pub fn is_media_name(name: &str) -> bool {
    name.ends_with(".m4s") || name.ends_with("-init.mp4")
}

/// Apple's minimum number of segments in a live playlist.
pub const MIN_WINDOW: usize = 6;
/// Parts aim at this long (a whole number of frames, at least one).
const PART_AIM: MediaTime = MediaTime::from_millis(333);

/// Part and segment durations, from the stream's frame rate and keyframe interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartTiming {
    /// The nominal part: what the MP4 fragmenter cuts at.
    pub part: MediaTime,
    /// `PART-TARGET`: the longest a part may be (nominal plus one frame).
    pub part_target: MediaTime,
    /// EXT-X-TARGETDURATION, in whole seconds: the keyframe interval, rounded up.
    pub target_duration_s: u32,
    /// The keyframe interval: a segment's nominal length.
    pub keyframe_interval: MediaTime,
}

impl PartTiming {
    /// Parts of `round(fps / 3)` frames (at least one), for a stream at `fps_num / fps_den`
    /// frames per second with a keyframe every `keyframe_interval_frames` frames; the target
    /// duration is the keyframe interval rounded up to whole seconds.
    pub fn new(fps_num: u32, fps_den: u32, keyframe_interval_frames: u32) -> Self {
        // One tick per frame.
        let frame_tb = Timebase::new(fps_den.max(1), fps_num.max(1)).unwrap_or(Timebase::MILLIS);
        let frames = frame_tb.time_to_ticks(PART_AIM).max(1);
        let keyframe_interval =
            frame_tb.ticks_to_time_floor(i64::from(keyframe_interval_frames.max(1)));
        let target_s = Timebase::per_second(1).time_to_ticks_ceil(keyframe_interval);
        Self {
            part: frame_tb.ticks_to_time_floor(frames),
            part_target: frame_tb.ticks_to_time_floor(frames + 1),
            target_duration_s: u32::try_from(target_s.max(1)).unwrap_or(u32::MAX),
            keyframe_interval,
        }
    }

    /// What the fragmenter is given: half a frame under the nominal part, so the cut falls on
    /// the frame that completes the part whatever the rounding of frame times.
    pub fn fragment_duration(&self) -> MediaTime {
        let frame = self.part_target - self.part;
        self.part - frame / 2
    }

    fn target_duration(&self) -> MediaTime {
        MediaTime::from_secs(i64::from(self.target_duration_s))
    }
}

/// Options of a [`LivePlaylist`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaylistOptions {
    pub timing: PartTiming,
    /// Whole segments listed before the one in progress (at least [`MIN_WINDOW`]).
    pub window: usize,
    /// Prefix of every media file name of this run, so that a browser never mixes up files of
    /// two runs that share names.
    pub prefix: String,
}

/// One file to write: write it whole under a temporary name, then rename it to `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileWrite {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// What to do after a part: write `files` in order, then publish `playlist` (as
/// [`PLAYLIST_NAME`]), then delete `delete`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Update {
    pub files: Vec<FileWrite>,
    pub playlist: String,
    pub delete: Vec<String>,
}

/// Where the playlist stands, for blocking playlist reload and preload-hinted parts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// EXT-X-MEDIA-SEQUENCE of the published playlist.
    pub first_msn: u64,
    /// The last segment with a part listed (in progress while live).
    pub last_msn: u64,
    /// Parts listed of `last_msn` (0 before the first part).
    pub last_parts: u64,
    /// The newest complete segment, if any.
    pub complete_msn: Option<u64>,
    /// EXT-X-ENDLIST was published: nothing more will come.
    pub ended: bool,
    /// The part the playlist's EXT-X-PRELOAD-HINT names, if any.
    pub hint: Option<String>,
    pub target_duration_s: u32,
    /// Every media file the playlist's output has written and not yet deleted (the init
    /// segment, the parts and segments listed, and those retired but kept): what a server may
    /// serve besides the playlist and the hinted part.
    pub files: std::sync::Arc<std::collections::BTreeSet<String>>,
    /// The playlist text published with these files (empty before the first part): a server
    /// answers with this, never with a newer file on disk that may list files not yet here.
    pub playlist: std::sync::Arc<str>,
}

impl Progress {
    /// True once the published playlist holds part `part` of segment `msn` or a later part
    /// (part `n` of a segment that ended with `n` parts is the next segment's part 0), or whole
    /// segment `msn` when no part is asked for. Always true once ended.
    pub fn has(&self, msn: u64, part: Option<u64>) -> bool {
        if self.ended {
            return true;
        }
        match part {
            None => self.complete_msn.is_some_and(|c| c >= msn),
            Some(p) => {
                self.last_parts > 0 && (self.last_msn, self.last_parts - 1) >= (msn, p)
                    || self.complete_msn.is_some_and(|c| c >= msn) && self.last_msn > msn
            }
        }
    }

    /// The request asks for more than two segments beyond the playlist's last (RFC 8216bis
    /// 6.2.5.2: answer 400 at once).
    pub fn too_far(&self, msn: u64) -> bool {
        msn > self.last_msn + 2
    }
}

#[derive(Debug, Clone, Copy)]
struct PartInfo {
    duration: MediaTime,
    independent: bool,
}

#[derive(Debug)]
struct Segment {
    msn: u64,
    program_date: SystemTime,
    parts: Vec<PartInfo>,
    /// The segment's bytes so far; emptied once written whole.
    bytes: Vec<u8>,
    complete: bool,
}

impl Segment {
    fn duration(&self) -> MediaTime {
        self.parts
            .iter()
            .fold(MediaTime::ZERO, |sum, p| sum + p.duration)
    }
}

/// A live media playlist fed with CMAF parts (see the module documentation).
#[derive(Debug)]
pub struct LivePlaylist {
    opts: PlaylistOptions,
    /// Listed segments, oldest first; the last one may be in progress.
    segments: VecDeque<Segment>,
    /// Segments out of the playlist whose files still exist: (msn, part count).
    retired: VecDeque<(u64, usize)>,
    next_msn: u64,
    ended: bool,
    /// Parts longer than PART-TARGET (a stall upstream); counted, never expected.
    pub long_parts: u64,
}

impl LivePlaylist {
    pub fn new(opts: PlaylistOptions) -> Self {
        Self {
            opts: PlaylistOptions {
                window: opts.window.max(MIN_WINDOW),
                ..opts
            },
            segments: VecDeque::new(),
            retired: VecDeque::new(),
            next_msn: 0,
            ended: false,
            long_parts: 0,
        }
    }

    pub fn init_name(&self) -> String {
        format!("{}-init.mp4", self.opts.prefix)
    }
    fn segment_name(&self, msn: u64) -> String {
        format!("{}-{msn}.m4s", self.opts.prefix)
    }
    fn part_name(&self, msn: u64, part: usize) -> String {
        format!("{}-{msn}.{part}.m4s", self.opts.prefix)
    }

    /// Adds one chunk from the fragmenter. `program_date` is the wall-clock time of its first
    /// sample's capture (used when the chunk starts a segment). Chunks after
    /// [`finish`](Self::finish) are ignored.
    pub fn push(&mut self, fragment: Fragment, program_date: SystemTime) -> Update {
        let mut update = Update::default();
        if self.ended {
            update.playlist = self.render();
            return update;
        }
        // A segment starts at a keyframe once the open one has reached the keyframe interval
        // (an early keyframe, and every audio-only chunk, is an independent part instead).
        let starts_segment = match self.segments.back() {
            Some(open) if !open.complete => {
                fragment.starts_with_keyframe && self.reached_interval(open)
            }
            _ => true,
        };
        if starts_segment {
            self.complete_last(&mut update);
            self.segments.push_back(Segment {
                msn: self.next_msn,
                program_date,
                parts: Vec::new(),
                bytes: Vec::new(),
                complete: false,
            });
            self.next_msn += 1;
        }
        if fragment.duration > self.opts.timing.part_target {
            self.long_parts += 1;
        }
        let (msn, index) = match self.segments.back_mut() {
            Some(seg) => {
                seg.parts.push(PartInfo {
                    duration: fragment.duration,
                    independent: fragment.starts_with_keyframe,
                });
                seg.bytes.extend_from_slice(&fragment.bytes);
                (seg.msn, seg.parts.len() - 1)
            }
            None => return update, // unreachable: a segment was just pushed if none was open
        };
        update.files.push(FileWrite {
            name: self.part_name(msn, index),
            bytes: fragment.bytes,
        });
        self.slide(&mut update);
        update.playlist = self.render();
        update
    }

    /// End of stream: completes the last segment and publishes EXT-X-ENDLIST.
    pub fn finish(&mut self) -> Update {
        let mut update = Update::default();
        if !self.ended {
            self.complete_last(&mut update);
            self.ended = true;
            self.slide(&mut update);
        }
        update.playlist = self.render();
        update
    }

    fn complete_last(&mut self, update: &mut Update) {
        let Some(seg) = self.segments.back_mut().filter(|s| !s.complete) else {
            return;
        };
        seg.complete = true;
        let bytes = std::mem::take(&mut seg.bytes);
        let msn = seg.msn;
        let name = self.segment_name(msn);
        if !bytes.is_empty() {
            update.files.push(FileWrite { name, bytes });
        }
    }

    /// Moves segments beyond the window out of the playlist, and deletes the files of those out
    /// of it for longer than the playlist lasts.
    fn slide(&mut self, update: &mut Update) {
        let complete = self.segments.iter().filter(|s| s.complete).count();
        let mut excess = complete.saturating_sub(self.opts.window);
        while excess > 0 {
            let Some(seg) = self.segments.pop_front() else {
                break;
            };
            self.retired.push_back((seg.msn, seg.parts.len()));
            excess -= 1;
        }
        // A retired segment's files stay while a playlist that listed it can still be in use:
        // the window plus the segment itself.
        while self.retired.len() > self.opts.window + 1 {
            let Some((msn, parts)) = self.retired.pop_front() else {
                break;
            };
            update.delete.push(self.segment_name(msn));
            update
                .delete
                .extend((0..parts).map(|p| self.part_name(msn, p)));
        }
    }

    /// Where the playlist stands now.
    pub fn progress(&self) -> Progress {
        let last = self.segments.back();
        Progress {
            first_msn: self.segments.front().map_or(0, |s| s.msn),
            last_msn: last.map_or(0, |s| s.msn),
            last_parts: last.map_or(0, |s| s.parts.len() as u64),
            complete_msn: self
                .segments
                .iter()
                .rev()
                .find(|s| s.complete)
                .map(|s| s.msn),
            ended: self.ended,
            hint: self.preload_hint(),
            target_duration_s: self.opts.timing.target_duration_s,
            files: std::sync::Arc::new(self.files()),
            playlist: if self.segments.is_empty() && !self.ended {
                std::sync::Arc::from("")
            } else {
                std::sync::Arc::from(self.render())
            },
        }
    }

    /// The media files written and not deleted: see [`Progress::files`].
    fn files(&self) -> std::collections::BTreeSet<String> {
        let retired = self.retired.iter().map(|&(msn, parts)| (msn, parts, true));
        let listed = self
            .segments
            .iter()
            .map(|s| (s.msn, s.parts.len(), s.complete));
        std::iter::once(self.init_name())
            .chain(retired.chain(listed).flat_map(|(msn, parts, complete)| {
                (0..parts)
                    .map(move |p| self.part_name(msn, p))
                    .chain(complete.then(|| self.segment_name(msn)))
            }))
            .collect()
    }

    /// The next part's name, while live: the next part of the segment in progress, or part 0
    /// of the next segment when the one in progress has reached the keyframe interval.
    fn preload_hint(&self) -> Option<String> {
        let seg = self.segments.back().filter(|_| !self.ended)?;
        if seg.complete || self.reached_interval(seg) {
            Some(self.part_name(seg.msn + 1, 0))
        } else {
            Some(self.part_name(seg.msn, seg.parts.len()))
        }
    }

    /// The segment lasts the keyframe interval, to within half a part.
    fn reached_interval(&self, seg: &Segment) -> bool {
        let timing = &self.opts.timing;
        let half_part = timing.part / 2;
        seg.duration() + half_part >= timing.keyframe_interval
    }

    /// The playlist text.
    pub fn render(&self) -> String {
        let timing = &self.opts.timing;
        let mut out = String::with_capacity(2048);
        let _ = writeln!(out, "#EXTM3U");
        let _ = writeln!(out, "#EXT-X-VERSION:6");
        let _ = writeln!(out, "#EXT-X-TARGETDURATION:{}", timing.target_duration_s);
        let _ = writeln!(
            out,
            "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={}",
            // Three times PART-TARGET as written (rounded up), so the ratio holds exactly.
            seconds(round_up_to_unit(timing.part_target) * 3, Round::Nearest)
        );
        let _ = writeln!(
            out,
            "#EXT-X-PART-INF:PART-TARGET={}",
            seconds(timing.part_target, Round::Up)
        );
        let first = self.segments.front().map_or(self.next_msn, |s| s.msn);
        let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{first}");
        let _ = writeln!(out, "#EXT-X-INDEPENDENT-SEGMENTS");
        let _ = writeln!(out, "#EXT-X-MAP:URI=\"{}\"", self.init_name());

        // Parts are listed for segments ending within 3 target durations of the end.
        let parts_from = self.end_time() - timing.target_duration() * 3;
        let mut seg_end = MediaTime::ZERO;
        for seg in &self.segments {
            seg_end += seg.duration();
            let _ = writeln!(
                out,
                "#EXT-X-PROGRAM-DATE-TIME:{}",
                humantime::format_rfc3339_millis(seg.program_date)
            );
            if seg_end > parts_from || !seg.complete {
                for (i, part) in seg.parts.iter().enumerate() {
                    let _ = write!(
                        out,
                        "#EXT-X-PART:DURATION={},URI=\"{}\"",
                        seconds(part.duration, Round::Nearest),
                        self.part_name(seg.msn, i)
                    );
                    let _ = writeln!(
                        out,
                        "{}",
                        if part.independent {
                            ",INDEPENDENT=YES"
                        } else {
                            ""
                        }
                    );
                }
            }
            if seg.complete {
                let _ = writeln!(out, "#EXTINF:{},", seconds(seg.duration(), Round::Nearest));
                let _ = writeln!(out, "{}", self.segment_name(seg.msn));
            }
        }
        if self.ended {
            let _ = writeln!(out, "#EXT-X-ENDLIST");
        } else if let Some(hint) = self.preload_hint() {
            let _ = writeln!(out, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{hint}\"");
        }
        out
    }

    /// Media time covered by the listed segments, measured from the first listed one.
    fn end_time(&self) -> MediaTime {
        self.segments
            .iter()
            .fold(MediaTime::ZERO, |sum, s| sum + s.duration())
    }
}

#[derive(Clone, Copy)]
enum Round {
    Nearest,
    Up,
}

/// Playlists write durations in seconds with 5 decimals: units of 10 µs.
const PLAYLIST_UNIT: Timebase = Timebase::per_second(100_000);

/// `t` rounded up to a whole playlist unit.
fn round_up_to_unit(t: MediaTime) -> MediaTime {
    PLAYLIST_UNIT.ticks_to_time(PLAYLIST_UNIT.time_to_ticks_ceil(t).max(0))
}

/// Seconds with 5 decimals, as playlists write durations.
fn seconds(t: MediaTime, round: Round) -> String {
    let units = match round {
        Round::Nearest => PLAYLIST_UNIT.time_to_ticks(t),
        Round::Up => PLAYLIST_UNIT.time_to_ticks_ceil(t),
    }
    .max(0);
    format!("{}.{:05}", units / 100_000, units % 100_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn timing() -> PartTiming {
        PartTiming::new(30, 1, 60)
    }

    fn playlist(window: usize) -> LivePlaylist {
        LivePlaylist::new(PlaylistOptions {
            timing: timing(),
            window,
            prefix: "r1".to_owned(),
        })
    }

    /// Parts of 10 frames at 30 fps, a keyframe every 60 frames: part `i` of the stream.
    fn part(i: u64) -> Fragment {
        Fragment {
            bytes: vec![i as u8; 3],
            starts_with_keyframe: i.is_multiple_of(6),
            start: MediaTime::from_nanos(i as i64 * 333_333_333),
            duration: MediaTime::from_nanos(333_333_333),
        }
    }

    fn date(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000 + secs)
    }

    fn feed(p: &mut LivePlaylist, parts: std::ops::Range<u64>) -> Vec<Update> {
        parts.map(|i| p.push(part(i), date(i / 3))).collect()
    }

    #[test]
    fn part_timing_is_whole_frames() {
        let t = PartTiming::new(30, 1, 60);
        assert_eq!(t.part.as_nanos(), 333_333_333);
        assert_eq!(t.part_target.as_nanos(), 366_666_666);
        assert_eq!(t.target_duration_s, 2);
        // Between 10 and 11 frames' span: the fragmenter cuts on the 11th frame.
        assert!(t.fragment_duration() > MediaTime::from_nanos(9 * 33_333_334));
        assert!(t.fragment_duration() < MediaTime::from_nanos(10 * 33_333_333));
        assert_eq!(PartTiming::new(60, 1, 120).part.as_nanos(), 333_333_333); // 20 frames
        assert_eq!(PartTiming::new(25, 1, 50).part.as_nanos(), 320_000_000); // 8 frames
        assert_eq!(
            PartTiming::new(30_000, 1_001, 60).part.as_nanos(),
            333_666_666
        );
        assert_eq!(PartTiming::new(1, 1, 0).part.as_nanos(), 1_000_000_000);
        // 2.002 s keyframe interval at 29.97: the target rounds up.
        assert_eq!(PartTiming::new(30_000, 1_001, 60).target_duration_s, 3);
        assert_eq!(PartTiming::new(30, 1, 75).target_duration_s, 3);
        // Audio only: AAC frames of 1024 samples.
        let audio = PartTiming::new(48_000, 1_024, 93);
        assert_eq!(audio.part.as_nanos(), 341_333_333); // 16 AAC frames
        assert_eq!(audio.target_duration_s, 2);
        // The nominal part is more than 85 % of PART-TARGET.
        for fps in [24, 25, 30, 50, 60] {
            let t = PartTiming::new(fps, 1, 2 * fps);
            assert!(
                t.part.as_nanos() * 100 > t.part_target.as_nanos() * 85,
                "{fps}"
            );
        }
    }

    #[test]
    fn first_part_publishes_a_playlist_with_a_preload_hint() {
        let mut p = playlist(6);
        let u = p.push(part(0), date(0));
        assert_eq!(
            u.files,
            vec![FileWrite {
                name: "r1-0.0.m4s".into(),
                bytes: vec![0; 3]
            }]
        );
        assert!(u.delete.is_empty());
        assert_eq!(
            u.playlist,
            "#EXTM3U\n\
             #EXT-X-VERSION:6\n\
             #EXT-X-TARGETDURATION:2\n\
             #EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.10001\n\
             #EXT-X-PART-INF:PART-TARGET=0.36667\n\
             #EXT-X-MEDIA-SEQUENCE:0\n\
             #EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-MAP:URI=\"r1-init.mp4\"\n\
             #EXT-X-PROGRAM-DATE-TIME:2026-11-18T11:06:40.000Z\n\
             #EXT-X-PART:DURATION=0.33333,URI=\"r1-0.0.m4s\",INDEPENDENT=YES\n\
             #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"r1-0.1.m4s\"\n"
        );
    }

    #[test]
    fn a_keyframe_completes_the_segment_and_writes_it_whole() {
        let mut p = playlist(6);
        let updates = feed(&mut p, 0..7);
        // Part 5 completes the keyframe interval: the hint names the next segment's part 0.
        assert!(
            updates[5]
                .playlist
                .ends_with("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"r1-1.0.m4s\"\n")
        );
        let u = &updates[6];
        assert_eq!(u.files.len(), 2);
        assert_eq!(u.files[0].name, "r1-0.m4s");
        assert_eq!(
            u.files[0].bytes,
            vec![0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5]
        );
        assert_eq!(u.files[1].name, "r1-1.0.m4s");
        let tail: Vec<&str> = u.playlist.lines().skip(8).collect();
        assert_eq!(
            tail,
            [
                "#EXT-X-PROGRAM-DATE-TIME:2026-11-18T11:06:40.000Z",
                "#EXT-X-PART:DURATION=0.33333,URI=\"r1-0.0.m4s\",INDEPENDENT=YES",
                "#EXT-X-PART:DURATION=0.33333,URI=\"r1-0.1.m4s\"",
                "#EXT-X-PART:DURATION=0.33333,URI=\"r1-0.2.m4s\"",
                "#EXT-X-PART:DURATION=0.33333,URI=\"r1-0.3.m4s\"",
                "#EXT-X-PART:DURATION=0.33333,URI=\"r1-0.4.m4s\"",
                "#EXT-X-PART:DURATION=0.33333,URI=\"r1-0.5.m4s\"",
                "#EXTINF:2.00000,",
                "r1-0.m4s",
                "#EXT-X-PROGRAM-DATE-TIME:2026-11-18T11:06:42.000Z",
                "#EXT-X-PART:DURATION=0.33333,URI=\"r1-1.0.m4s\",INDEPENDENT=YES",
                "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"r1-1.1.m4s\"",
            ]
        );
        assert_eq!(
            p.progress(),
            Progress {
                first_msn: 0,
                last_msn: 1,
                last_parts: 1,
                complete_msn: Some(0),
                ended: false,
                hint: Some("r1-1.1.m4s".into()),
                target_duration_s: 2,
                files: std::sync::Arc::new(
                    ["r1-init.mp4", "r1-0.m4s", "r1-1.0.m4s"]
                        .into_iter()
                        .map(String::from)
                        .chain((0..6).map(|i| format!("r1-0.{i}.m4s")))
                        .collect()
                ),
                // Exactly the text just published with those files.
                playlist: u.playlist.as_str().into(),
            }
        );
    }

    #[test]
    fn the_window_slides_and_old_files_go_after_a_grace_period() {
        let mut p = playlist(6);
        // 20 segments and one part of the 21st.
        let updates = feed(&mut p, 0..121);
        let last = updates.last().unwrap();
        let text = &last.playlist;
        // 6 whole segments (14..=19) plus the one in progress.
        assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:14\n"), "{text}");
        assert_eq!(text.matches("#EXTINF:2.00000,").count(), 6);
        assert_eq!(text.matches("#EXT-X-PROGRAM-DATE-TIME:").count(), 7);
        // Parts only for segments ending less than 6 s before the end (12.33 s): 17 (ends at
        // 8 s), 18, 19 and the one in progress; not 16 (ends at 6 s).
        assert!(!text.contains("r1-16.5.m4s"), "{text}");
        assert!(
            text.contains("#EXT-X-PART:DURATION=0.33333,URI=\"r1-17.0.m4s\",INDEPENDENT=YES\n")
        );
        assert!(text.contains("r1-20.0.m4s"));
        // Segment 14 left at segment 20's start... every file deleted belongs to a segment out
        // of the playlist for more than window + 1 segments.
        let deleted: Vec<&String> = updates.iter().flat_map(|u| &u.delete).collect();
        assert_eq!(deleted.len(), 7 * 7); // segments 0..=6, each whole + 6 parts
        assert!(deleted.contains(&&"r1-6.m4s".to_owned()));
        assert!(deleted.contains(&&"r1-6.5.m4s".to_owned()));
        assert!(!deleted.iter().any(|n| n.starts_with("r1-7.")));
        let pr = p.progress();
        assert_eq!(
            (pr.first_msn, pr.last_msn, pr.last_parts, pr.complete_msn),
            (14, 20, 1, Some(19))
        );
    }

    /// The server serves exactly what the output wrote and has not deleted (issue 14: any
    /// `*.m4s` in the folder used to be served).
    #[test]
    fn progress_lists_exactly_the_files_written_and_not_deleted() {
        let mut p = playlist(6);
        let mut updates = feed(&mut p, 0..121);
        updates.push(p.finish());
        let mut expected = std::collections::BTreeSet::from([p.init_name()]);
        for u in &updates {
            expected.extend(u.files.iter().map(|f| f.name.clone()));
            for gone in &u.delete {
                expected.remove(gone);
            }
        }
        assert_eq!(*p.progress().files, expected);
        assert!(p.progress().files.contains("r1-20.0.m4s"));
        assert!(!p.progress().files.contains("r1-6.m4s"));
    }

    #[test]
    fn finish_completes_the_last_segment_and_ends_the_list() {
        let mut p = playlist(6);
        feed(&mut p, 0..9);
        let u = p.finish();
        assert_eq!(u.files.len(), 1);
        assert_eq!(u.files[0].name, "r1-1.m4s");
        assert!(
            u.playlist
                .ends_with("#EXTINF:1.00000,\nr1-1.m4s\n#EXT-X-ENDLIST\n"),
            "{}",
            u.playlist
        );
        assert!(!u.playlist.contains("PRELOAD-HINT"));
        assert!(p.progress().ended);
        assert!(p.progress().has(99, Some(3)));
        // Nothing more after the end.
        let after = p.push(part(9), date(3));
        assert!(after.files.is_empty());
        assert_eq!(after.playlist, u.playlist);
    }

    #[test]
    fn blocking_reload_conditions() {
        let mut p = playlist(6);
        feed(&mut p, 0..8); // segment 0 complete (6 parts), segment 1 has 2 parts
        let pr = p.progress();
        assert!(pr.has(0, None));
        assert!(!pr.has(1, None));
        assert!(pr.has(1, Some(0)) && pr.has(1, Some(1)));
        assert!(!pr.has(1, Some(2)));
        assert!(pr.has(0, Some(5)));
        // Part 6 of segment 0 never comes: segment 1's first part answers for it.
        assert!(pr.has(0, Some(6)));
        assert!(!pr.too_far(3) && pr.too_far(4));
        let before = playlist(6).progress();
        assert!(!before.has(0, Some(0)) && !before.has(0, None));
    }

    /// Parts close by media time, not by a count of frames: with every fourth frame missing
    /// (slots the encoder could not fill), a part still ends at the first frame past its
    /// nominal length, so it never exceeds PART-TARGET, and it holds fewer frames.
    #[test]
    fn parts_close_by_media_time_whatever_frames_are_missing() {
        use crate::format::mp4::{Mp4Options, Mp4Writer};
        use crate::media::{EncodedPacket, StreamKind, Timebase, VideoConfig};
        let timing = timing();
        let config = VideoConfig {
            width: 320,
            height: 240,
            frame_rate_num: 30,
            frame_rate_den: 1,
            bitrate_bps: 1_000_000,
            keyframe_interval_frames: 60,
            avcc: bytes::Bytes::from_static(&[1, 66, 0xC0, 31, 0xFF, 0xE1, 0, 0, 1, 0, 0]),
        };
        let mut writer = Mp4Writer::new(
            Some(config),
            None,
            Mp4Options {
                fragment_duration: timing.fragment_duration(),
                keep_index: false,
            },
        );
        writer.init_segment().unwrap();
        let mut p = playlist(6);
        let slot = |n: i64| Timebase::per_second(30).ticks_to_time(n);
        let mut frames_per_part = Vec::new();
        let mut frames = 0;
        for n in (0..241).filter(|n| n % 4 != 3) {
            let pkt = EncodedPacket {
                kind: StreamKind::Video,
                pts: slot(n),
                dts: slot(n),
                duration: slot(1),
                keyframe: n % 60 == 0,
                data: bytes::Bytes::from_static(b"frame"),
            };
            if let Some(fragment) = writer.push(&pkt).unwrap() {
                assert!(
                    fragment.duration <= timing.part_target,
                    "part at {} lasts {}",
                    fragment.start,
                    fragment.duration
                );
                assert!(fragment.duration >= timing.part, "{}", fragment.duration);
                p.push(fragment, date(0));
                frames_per_part.push(frames);
                frames = 0;
            }
            frames += 1;
        }
        assert_eq!(p.long_parts, 0);
        assert_eq!(frames_per_part.len(), 24, "6 parts a segment, 4 segments");
        assert!(
            frames_per_part.iter().all(|&f| f == 7 || f == 8),
            "{frames_per_part:?}"
        );
    }

    #[test]
    fn long_parts_are_counted() {
        let mut p = playlist(6);
        let mut f = part(0);
        f.duration = MediaTime::from_millis(400);
        p.push(f, date(0));
        assert_eq!(p.long_parts, 1);
        assert!(p.render().contains("#EXT-X-PART:DURATION=0.40000,"));
    }

    #[test]
    fn durations_are_written_with_five_decimals() {
        assert_eq!(
            seconds(MediaTime::from_nanos(333_333_333), Round::Nearest),
            "0.33333"
        );
        assert_eq!(
            seconds(MediaTime::from_nanos(333_333_333), Round::Up),
            "0.33334"
        );
        assert_eq!(seconds(MediaTime::from_secs(2), Round::Up), "2.00000");
        assert_eq!(
            seconds(MediaTime::from_nanos(1_999_995_000), Round::Nearest),
            "2.00000"
        );
    }
}
