//! The `moov` box: the initial one of a fragmented file (empty sample tables, `mvex`) and the
//! final one [`Mp4Writer::finalize`](super::Mp4Writer::finalize) appends, whose classic sample
//! tables (`stts`, `stss`, `stsc`, `stsz`, `stco`/`co64`) index the `mdat`s already written.

use super::boxes::{BoxWriter, to_u32, write_avc1, write_mp4a};
use super::{Codec, MOVIE_TIMEBASE, Mp4Error, Track, UNITY_MATRIX};

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
    /// The edit list: `(segment_duration (movie timescale), media_time (track timescale, -1
    /// for an empty edit))`; empty when the track plays from its first sample at time 0.
    edits: Vec<(u64, i64)>,
    /// The track's duration as presented (through its edits), movie timescale.
    presentation_movie: u64,
}

impl Tables {
    fn of(track: &Track) -> Result<Self, Mp4Error> {
        let mut t = Tables::default();
        let samples = &track.samples;
        for (i, s) in samples.iter().enumerate() {
            let delta = match samples.get(i + 1) {
                Some(next) => to_u32(next.dts - s.dts, "sample duration")?,
                None => track.last_duration,
            };
            match t.stts.last_mut() {
                Some((count, d)) if *d == delta => *count += 1,
                _ => t.stts.push((1, delta)),
            }
            t.media_duration += u64::from(delta);
            t.stsz.push(s.size);
            if track.is_video() && s.key {
                t.stss.push(to_u32(i as i64 + 1, "sync sample number")?);
            }
        }
        for (i, chunk) in track.chunks.iter().enumerate() {
            if t.stsc.last().is_none_or(|&(_, n)| n != chunk.samples) {
                t.stsc
                    .push((to_u32(i as i64 + 1, "chunk number")?, chunk.samples));
            }
            t.chunk_offsets.push(chunk.offset);
        }
        let to_movie = |ticks: i64| -> u64 {
            let movie = track.timebase.ticks_to_time(ticks).to_ticks(MOVIE_TIMEBASE);
            u64::try_from(movie).unwrap_or(0)
        };
        let media = i64::try_from(t.media_duration).unwrap_or(i64::MAX);
        let first = samples.first().map_or(0, |s| s.dts);
        if first > 0 {
            // Starts after the zero: an empty edit until its first sample.
            t.edits = vec![(to_movie(first), -1), (to_movie(media), 0)];
            t.presentation_movie = to_movie(first) + to_movie(media);
        } else if first < 0 {
            // Pre-roll before the zero: played from the zero on, what lies before it skipped.
            let shown = to_movie(media + first);
            t.edits = vec![(shown, -first)];
            t.presentation_movie = shown;
        } else {
            t.presentation_movie = to_movie(media);
        }
        Ok(t)
    }
}

/// The initial `moov` (`complete == false`: empty tables, `mvex`) or the final one.
pub(super) fn write_moov(
    w: &mut BoxWriter,
    tracks: &[Track],
    complete: bool,
) -> Result<(), Mp4Error> {
    let tables = tracks
        .iter()
        .map(|t| {
            if complete {
                Tables::of(t)
            } else {
                Ok(Tables::default())
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let movie_duration = tables
        .iter()
        .map(|t| t.presentation_movie)
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
            w.u32_of(tracks.len() + 1, "next track id");
        });
        for (track, tables) in tracks.iter().zip(&tables) {
            write_trak(w, track, tables, complete);
        }
        if !complete {
            w.bx(b"mvex", |w| {
                for track in tracks {
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
    Ok(())
}

fn write_trak(w: &mut BoxWriter, track: &Track, t: &Tables, complete: bool) {
    w.bx(b"trak", |w| {
        w.full(b"tkhd", 1, 0x7, |w| {
            w.u64(0); // creation time
            w.u64(0); // modification time
            w.u32(track.id);
            w.u32(0);
            w.u64(t.presentation_movie);
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
        if !complete {
            // Fragmented: all of the track, from PREROLL_ROOM on (duration 0: unknown yet).
            write_edts(w, &[(0, track.preroll)]);
        } else if !t.edits.is_empty() {
            write_edts(w, &t.edits);
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

/// An edit list: `(segment_duration (movie timescale), media_time (track timescale, -1 for
/// an empty edit))` per entry, at rate 1.
fn write_edts(w: &mut BoxWriter, edits: &[(u64, i64)]) {
    let v1 = edits
        .iter()
        .any(|&(d, m)| d > u64::from(u32::MAX) || i32::try_from(m).is_err());
    w.bx(b"edts", |w| {
        w.full(b"elst", u8::from(v1), 0, |w| {
            w.u32_of(edits.len(), "edit count");
            for &(duration, media_time) in edits {
                if v1 {
                    w.u64(duration);
                    w.u64(media_time as u64);
                } else {
                    w.u32_of(duration, "edit duration");
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
            w.u32_of(t.stts.len(), "stts entry count");
            t.stts.iter().for_each(|&(n, d)| {
                w.u32(n);
                w.u32(d);
            });
        });
        if !t.stss.is_empty() {
            w.full(b"stss", 0, 0, |w| {
                w.u32_of(t.stss.len(), "stss entry count");
                t.stss.iter().for_each(|&n| w.u32(n));
            });
        }
        w.full(b"stsc", 0, 0, |w| {
            w.u32_of(t.stsc.len(), "stsc entry count");
            t.stsc.iter().for_each(|&(first, n)| {
                w.u32(first);
                w.u32(n);
                w.u32(1); // sample description index
            });
        });
        w.full(b"stsz", 0, 0, |w| {
            w.u32(0); // sizes vary
            w.u32_of(t.stsz.len(), "sample count");
            t.stsz.iter().for_each(|&s| w.u32(s));
        });
        write_chunk_offsets(w, &t.chunk_offsets);
    });
}

/// `stco`, or `co64` when an offset does not fit 32 bits.
pub(super) fn write_chunk_offsets(w: &mut BoxWriter, offsets: &[u64]) {
    if offsets.iter().any(|&o| o > u64::from(u32::MAX)) {
        w.full(b"co64", 0, 0, |w| {
            w.u32_of(offsets.len(), "chunk count");
            offsets.iter().for_each(|&o| w.u64(o));
        });
    } else {
        w.full(b"stco", 0, 0, |w| {
            w.u32_of(offsets.len(), "chunk count");
            offsets.iter().for_each(|&o| w.u32_of(o, "chunk offset"));
        });
    }
}
