//! The writer's tests, with a minimal box reader.

use super::boxes::{BoxWriter, descriptor, write_esds};
use super::moov::write_chunk_offsets;
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
fn a_sample_too_long_for_32_bits_is_an_error() {
    let mut w = Mp4Writer::new(Some(video_config()), None, Mp4Options::default());
    let init = w.init_segment().unwrap();
    let frame = |t: MediaTime| EncodedPacket {
        kind: StreamKind::Video,
        pts: t,
        dts: t,
        duration: video_time(1),
        keyframe: true,
        data: payload(b'V', 0),
    };
    assert_eq!(w.push(&frame(MediaTime::ZERO)), Ok(None));
    // 14 hours at 90 kHz is 4.5e9 ticks: more than a trun's 32-bit duration holds.
    let late = frame(MediaTime::from_secs(14 * 3600));
    assert_eq!(
        w.push(&late),
        Err(Mp4Error::FieldOutOfRange {
            field: "sample duration",
            value: 14 * 3600 * 90_000
        })
    );
    // Nothing changed: the first frame is still pending and flushes as it would have.
    assert_eq!(w.bytes_written(), init.len() as u64);
    let f = w.flush().unwrap().unwrap();
    assert_eq!(runs(get(&f.bytes, &[b"moof"]))[0].samples[0].0, 3_000);
}

#[test]
fn a_box_too_large_for_its_size_field_is_an_error() {
    // The limit is 4 GiB; a writer with a limit of 32 bytes shows the same refusal.
    let mut w = BoxWriter::with_limit(32);
    w.bx(b"moov", |w| w.bx(b"trak", |w| w.zeros(32)));
    assert_eq!(
        w.finish(),
        Err(Mp4Error::BoxTooLarge {
            kind: "trak".into(),
            size: 40
        })
    );
    let mut w = BoxWriter::with_limit(32);
    w.bx(b"free", |w| w.zeros(24));
    assert_eq!(w.finish().unwrap().len(), 32);
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
    assert_eq!(w.finish().unwrap(), expected);
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
        w.finish().unwrap(),
        [
            0, 0, 0, 24, b's', b't', b'c', b'o', 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 48, 0xFF, 0xFF,
            0xFF, 0xFF
        ]
    );
    let mut w = BoxWriter::default();
    write_chunk_offsets(&mut w, &[48, 1 << 32]);
    let b = w.finish().unwrap();
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
    let init = w.init_segment().unwrap();
    assert_eq!(w.bytes_written(), init.len() as u64);
    let top = boxes(&init);
    let kinds: Vec<_> = top.iter().map(|b| b.0).collect();
    assert_eq!(kinds, [*b"ftyp", *b"moov"]);
    assert_eq!(top[0].2, b"isom\0\0\x02\0isomiso2iso6avc1mp41");
    let moov = top[1].2;
    let traks = all(moov, b"trak");
    assert_eq!(traks.len(), 2);
    for ((trak, id), room) in traks.iter().zip([1, 2]).zip([3840u32, 2048]) {
        assert_eq!(be32(get(trak, &[b"tkhd"]), 20), id);
        // One edit: all of the track (duration 0), from the pre-roll room on.
        let elst = get(trak, &[b"edts", b"elst"]);
        assert_eq!(
            (
                elst[0],
                be32(elst, 4),
                be32(elst, 8),
                be32(elst, 12),
                be32(elst, 16)
            ),
            (0, 1, 0, room, 0x0001_0000)
        );
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
    w.init_segment().unwrap();
    let pkts = interleaved(46, 20, MediaTime::from_millis(10));
    let mut frags = Vec::new();
    for p in &pkts {
        frags.extend(w.push(p).unwrap());
    }
    frags.extend(w.flush().unwrap());
    assert!(w.flush().unwrap().is_none(), "never an empty fragment");

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
    w.init_segment().unwrap();
    let mut frags = Vec::new();
    for k in 0..60 {
        frags.extend(
            w.push(&EncodedPacket {
                kind: StreamKind::Audio,
                pts: audio_time(k),
                dts: audio_time(k),
                duration: audio_time(1),
                keyframe: true,
                data: payload(b'A', k),
            })
            .unwrap(),
        );
    }
    frags.extend(w.flush().unwrap());
    // 24 frames = 512 ms is the first span >= 500 ms.
    let counts: Vec<usize> = frags
        .iter()
        .map(|f| runs(get(&f.bytes, &[b"moof"]))[0].samples.len())
        .collect();
    assert_eq!(counts, [24, 24, 12]);
    assert!(frags.iter().all(|f| f.starts_with_keyframe));
    let r = runs(get(&frags[1].bytes, &[b"moof"]));
    assert_eq!((r[0].track_id, r[0].tfdt), (1, 2048 + 24 * 1024));
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
    let mut file = w.init_segment().unwrap();
    let mut moofs = Vec::new();
    for p in pkts {
        if let Some(f) = w.push(p).unwrap() {
            moofs.push(file.len() as u64);
            file.extend_from_slice(&f.bytes);
        }
    }
    if let Some(f) = w.flush().unwrap() {
        moofs.push(file.len() as u64);
        file.extend_from_slice(&f.bytes);
    }
    assert_eq!(w.bytes_written(), file.len() as u64);
    let fin = w.finalize().unwrap();
    assert_eq!(
        w.finalize(),
        Ok(Finalize::default()),
        "finalize is one-shot"
    );
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
                assert_eq!(run.tfdt, 2048 + 480, "audio starts 10 ms in");
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
    let mut file = w.init_segment().unwrap();
    let (mut kept, mut lost) = (0, 0);
    for p in &pkts {
        if let Some(f) = w.push(p).unwrap() {
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
    let fin = w.finalize().unwrap();
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
                        0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 10, 0xFF, 0xFF, 0xFF, 0xFF, 0, 1, 0, 0, 0,
                        0, 0x09, 0x15, 0, 0, 0, 0, 0, 1, 0, 0
                    ]
                );
            }
        }
    }
}

#[test]
fn audio_pre_roll_before_the_zero_is_hidden_by_edit_lists() {
    // Audio from one AAC frame (1024 samples, 21.3 ms) before the video's zero.
    let pkts = interleaved(30, 30, MediaTime::ZERO - audio_time(1));
    assert_eq!(pkts[0].kind, StreamKind::Audio);
    let (mut file, _, fin) = write_file(&pkts);
    // Fragmented: every track PREROLL_ROOM later on its media timeline.
    let first = boxes(&file)
        .into_iter()
        .find(|b| &b.0 == b"moof")
        .unwrap()
        .2;
    let r = runs(first);
    assert_eq!((r[0].track_id, r[0].tfdt), (1, 3840));
    assert_eq!((r[1].track_id, r[1].tfdt), (2, 2048 - 1024));
    // The fragment (an HLS part) starts with its video.
    let mut w = Mp4Writer::new(
        Some(video_config()),
        Some(audio_config()),
        Mp4Options::default(),
    );
    let frags: Vec<Fragment> = pkts.iter().filter_map(|p| w.push(p).unwrap()).collect();
    assert_eq!(frags[0].start, MediaTime::ZERO);
    assert_eq!(frags[0].duration, video_time(15));
    // Final moov: the audio plays from the zero, the pre-roll before it skipped.
    file.extend_from_slice(&fin.append);
    let moov = boxes(&file).last().unwrap().2;
    let traks = all(moov, b"trak");
    assert!(!has(traks[0], b"edts"), "video starts at 0");
    let elst = get(traks[1], &[b"edts", b"elst"]);
    let samples = pkts.iter().filter(|p| p.kind == StreamKind::Audio).count() as u64;
    let shown_ms = ((samples * 1024 - 1024) * 1000 + 24_000) / 48_000; // rounded
    assert_eq!(
        (be32(elst, 4), u64::from(be32(elst, 8)), be32(elst, 12)),
        (1, shown_ms, 1024)
    );
    assert_eq!(be64(get(traks[1], &[b"tkhd"]), 28), shown_ms);
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
    let mut file = w.init_segment().unwrap();
    let mut frags = Vec::new();
    for p in &pkts {
        frags.extend(w.push(p).unwrap());
    }
    let fin = w.finalize().unwrap();
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
