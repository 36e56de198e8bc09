//! End-to-end: real libx264/AAC output from ffmpeg, muxed by `Mp4Writer`, checked by ffprobe
//! and ffmpeg. Needs `ffmpeg` and `ffprobe` on PATH.

use std::path::Path;
use std::process::Command;

use bytes::Bytes;
use onair::format::avc;
use onair::format::mp4::{Mp4Options, Mp4Writer};
use onair::media::{AudioConfig, EncodedPacket, MediaTime, StreamKind, Timebase, VideoConfig};

const FRAMES: usize = 120;

fn run(cmd: &mut Command) -> (String, String) {
    let out = cmd.output().expect("ffmpeg/ffprobe must be installed");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{cmd:?} failed: {stderr}");
    (stdout, stderr)
}

fn ffmpeg_source(dir: &Path, name: &str, args: &[&str]) -> Vec<u8> {
    let path = dir.join(name);
    run(Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi"])
        .args(args)
        .arg(&path));
    std::fs::read(&path).unwrap()
}

/// Splits an Annex B stream into access units: a new one starts at the first slice of a
/// picture (first_mb_in_slice == 0, i.e. the first bit after the header is 1), taking along the
/// non-VCL NAL units (SPS/PPS/SEI/AUD) that precede it.
fn access_units(stream: &[u8]) -> Vec<Vec<&[u8]>> {
    let mut units: Vec<Vec<&[u8]>> = Vec::new();
    let mut prefix = Vec::new();
    for nal in avc::annexb_nal_units(stream) {
        let t = avc::nal_unit_type(nal).unwrap();
        if t == avc::nal_type::SLICE || t == avc::nal_type::IDR {
            if nal[1] & 0x80 != 0 || units.is_empty() {
                units.push(std::mem::take(&mut prefix));
            }
            units.last_mut().unwrap().push(nal);
        } else {
            prefix.push(nal);
        }
    }
    units
}

/// ADTS frames: (raw AAC frame, 2-byte AudioSpecificConfig built from the header).
fn adts_frames(stream: &[u8]) -> Vec<(&[u8], [u8; 2])> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + 7 <= stream.len() {
        let h = &stream[pos..];
        assert!(h[0] == 0xFF && h[1] & 0xF0 == 0xF0, "ADTS sync at {pos}");
        let protection_absent = h[1] & 1 == 1;
        let profile = h[2] >> 6; // object type - 1
        let sf_index = (h[2] >> 2) & 0x0F;
        let channels = ((h[2] & 1) << 2) | (h[3] >> 6);
        let frame_len =
            (usize::from(h[3] & 3) << 11) | (usize::from(h[4]) << 3) | usize::from(h[5] >> 5);
        let header = if protection_absent { 7 } else { 9 };
        let asc = (u16::from(profile + 1) << 11)
            | (u16::from(sf_index) << 7)
            | (u16::from(channels) << 3);
        out.push((&stream[pos + header..pos + frame_len], asc.to_be_bytes()));
        pos += frame_len;
    }
    assert_eq!(pos, stream.len());
    out
}

struct Source {
    video: VideoConfig,
    audio: AudioConfig,
    /// Interleaved by dts.
    packets: Vec<EncodedPacket>,
}

/// The 4 s test streams; audio starts `audio_offset` after the first video frame.
fn source(dir: &Path, audio_offset: MediaTime) -> Source {
    let h264 = ffmpeg_source(
        dir,
        "in.h264",
        &[
            "-i",
            "testsrc=size=320x240:rate=30",
            "-t",
            "4",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-profile:v",
            "baseline",
            "-g",
            "60",
            "-bf",
            "0",
            "-f",
            "h264",
        ],
    );
    let aac = ffmpeg_source(
        dir,
        "in.aac",
        &[
            "-i",
            "sine=frequency=1000:sample_rate=48000",
            "-t",
            "4",
            "-ac",
            "2",
            "-c:a",
            "aac",
            "-b:a",
            "128k",
            "-f",
            "adts",
        ],
    );

    let frame = Timebase::new(1, 30).unwrap();
    let mut video_config = None;
    let mut packets = Vec::new();
    let units = access_units(&h264);
    assert_eq!(units.len(), FRAMES);
    for (n, nals) in units.into_iter().enumerate() {
        let au = avc::nal_units_to_avcc(nals);
        if video_config.is_none() {
            assert!(au.idr, "the stream starts with an IDR");
            let sps = au.sps.as_ref().unwrap();
            let (width, height) = avc::sps_dimensions(sps).unwrap();
            video_config = Some(VideoConfig {
                keyframe_interval_frames: 60,
                width,
                height,
                frame_rate_num: 30,
                frame_rate_den: 1,
                bitrate_bps: 0,
                avcc: au.config_record().unwrap().unwrap(),
            });
        }
        let t = frame.ticks_to_time(n as i64);
        packets.push(EncodedPacket {
            kind: StreamKind::Video,
            pts: t,
            dts: t,
            duration: frame.ticks_to_time(n as i64 + 1) - t,
            keyframe: au.idr,
            data: Bytes::from(au.data),
        });
    }
    let video = video_config.unwrap();
    assert_eq!((video.width, video.height), (320, 240));

    let frames = adts_frames(&aac);
    let asc = frames[0].1;
    assert_eq!(asc, [0x11, 0x90], "AAC-LC 48 kHz stereo");
    for (k, (raw, _)) in frames.into_iter().enumerate() {
        let t = audio_offset + Timebase::AUDIO_48K.ticks_to_time(k as i64 * 1024);
        packets.push(EncodedPacket {
            kind: StreamKind::Audio,
            pts: t,
            dts: t,
            duration: Timebase::AUDIO_48K.ticks_to_time(1024),
            keyframe: true,
            data: Bytes::copy_from_slice(raw),
        });
    }
    packets.sort_by_key(|p| (p.dts, p.kind == StreamKind::Audio));
    let audio = AudioConfig {
        codec: onair::media::AudioCodec::Aac,
        sample_rate: 48_000,
        channels: 2,
        bitrate_bps: 128_000,
        asc: Bytes::copy_from_slice(&asc),
    };
    Source {
        video,
        audio,
        packets,
    }
}

/// The fragmented file, the offset and video frame count of each fragment, and the writer.
struct Written {
    file: Vec<u8>,
    fragments: Vec<(usize, usize)>,
    writer: Mp4Writer,
}

fn write_fragmented(src: &Source) -> Written {
    let mut writer = Mp4Writer::new(
        Some(src.video.clone()),
        Some(src.audio.clone()),
        Mp4Options::default(),
    );
    let mut file = writer.init_segment().unwrap();
    let mut fragments = Vec::new();
    let mut video_pushed = 0;
    let mut video_written = 0;
    for p in &src.packets {
        if let Some(f) = writer.push(p).unwrap() {
            fragments.push((file.len(), video_pushed - video_written));
            video_written = video_pushed;
            file.extend_from_slice(&f.bytes);
        }
        video_pushed += usize::from(p.kind == StreamKind::Video);
    }
    if let Some(f) = writer.flush().unwrap() {
        fragments.push((file.len(), video_pushed - video_written));
        file.extend_from_slice(&f.bytes);
    }
    Written {
        file,
        fragments,
        writer,
    }
}

/// A JSON string or number value of `key` in `section` (enough for ffprobe's flat output).
fn field<'a>(section: &'a str, key: &str) -> Option<&'a str> {
    let at = section.find(&format!("\"{key}\": "))? + key.len() + 4;
    let rest = &section[at..];
    let rest = rest.strip_prefix('"').unwrap_or(rest);
    let end = rest.find(['"', ',', '\n']).unwrap_or(rest.len());
    Some(&rest[..end])
}

struct Probe {
    /// Per stream: codec_name, then the whole JSON object text.
    streams: Vec<String>,
    format: String,
}

fn ffprobe(path: &Path) -> Probe {
    let (json, stderr) = run(Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-show_streams",
            "-show_format",
            "-of",
            "json",
        ])
        .arg(path));
    assert_eq!(stderr, "", "ffprobe complained");
    let (streams, format) = json.split_once("\"format\": {").expect("format section");
    let streams = streams
        .split("\"index\": ")
        .skip(1)
        .map(str::to_owned)
        .collect();
    Probe {
        streams,
        format: format.to_owned(),
    }
}

fn decode_errors(path: &Path) -> String {
    run(Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"]))
    .1
}

fn check_streams(probe: &Probe, min_video_frames: usize) -> usize {
    assert_eq!(probe.streams.len(), 2, "{:?}", probe.streams);
    let v = &probe.streams[0];
    assert_eq!(field(v, "codec_name"), Some("h264"));
    assert_eq!(field(v, "width"), Some("320"));
    assert_eq!(field(v, "height"), Some("240"));
    let frames: usize = field(v, "nb_read_frames").unwrap().parse().unwrap();
    assert!(frames >= min_video_frames, "{frames} < {min_video_frames}");
    let a = &probe.streams[1];
    assert_eq!(field(a, "codec_name"), Some("aac"));
    assert_eq!(field(a, "sample_rate"), Some("48000"));
    assert_eq!(field(a, "channels"), Some("2"));
    frames
}

/// The top-level box types of an MP4 file.
fn top_level(file: &[u8]) -> Vec<[u8; 4]> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + 8 <= file.len() {
        let size = match u32::from_be_bytes(file[pos..pos + 4].try_into().unwrap()) {
            1 => u64::from_be_bytes(file[pos + 8..pos + 16].try_into().unwrap()) as usize,
            s => s as usize,
        };
        out.push(file[pos + 4..pos + 8].try_into().unwrap());
        assert!(size >= 8);
        pos += size;
    }
    assert_eq!(pos, file.len(), "boxes tile the file");
    out
}

#[test]
fn fragmented_file_plays_in_ffmpeg() {
    let dir = tempfile::tempdir().unwrap();
    let src = source(dir.path(), MediaTime::ZERO);
    let w = write_fragmented(&src);
    let path = dir.path().join("frag.mp4");
    std::fs::write(&path, &w.file).unwrap();

    let probe = ffprobe(&path);
    assert_eq!(check_streams(&probe, FRAMES), FRAMES);
    assert_eq!(decode_errors(&path), "");
    let kinds = top_level(&w.file);
    assert_eq!(&kinds[..2], [*b"ftyp", *b"moov"]);
    assert_eq!(
        kinds.iter().filter(|k| k == &b"moof").count(),
        w.fragments.len()
    );
}

/// `start_time` of each stream, in seconds.
fn start_times(probe: &Probe) -> Vec<f64> {
    probe
        .streams
        .iter()
        .map(|s| field(s, "start_time").unwrap().parse().unwrap())
        .collect()
}

/// Finalizes, with audio starting with the video and 12 ms later (which needs an edit list
/// in the final moov; the fragmented file carries the offset in tfdt).
#[test]
fn finalized_file_is_a_plain_mp4() {
    for offset_ms in [0, 12] {
        let dir = tempfile::tempdir().unwrap();
        let src = source(dir.path(), MediaTime::from_millis(offset_ms));
        let Written {
            mut file,
            fragments,
            mut writer,
        } = write_fragmented(&src);
        let frag_path = dir.path().join("frag.mp4");
        std::fs::write(&frag_path, &file).unwrap();
        let fin = writer.finalize().unwrap();
        file.extend_from_slice(&fin.append);
        for &(offset, bytes) in &fin.patches {
            file[offset as usize..offset as usize + 4].copy_from_slice(&bytes);
        }
        let path = dir.path().join("final.mp4");
        std::fs::write(&path, &file).unwrap();

        let probe = ffprobe(&path);
        assert_eq!(check_streams(&probe, FRAMES), FRAMES);
        assert_eq!(decode_errors(&path), "");
        let duration: f64 = field(&probe.format, "duration").unwrap().parse().unwrap();
        let frag_probe = ffprobe(&frag_path);
        eprintln!(
            "audio offset {offset_ms} ms: final start times {:?} duration {duration}; fragmented start times {:?} duration {:?}",
            start_times(&probe),
            start_times(&frag_probe),
            field(&frag_probe.format, "duration"),
        );
        assert!((duration - 4.0).abs() <= 0.05, "duration {duration}");
        for starts in [start_times(&probe), start_times(&frag_probe)] {
            assert_eq!(starts[0], 0.0);
            assert!(
                (starts[1] - offset_ms as f64 / 1000.0).abs() < 0.001,
                "{starts:?}"
            );
        }

        let kinds = top_level(&file);
        assert!(!kinds.contains(b"moof"));
        assert_eq!(kinds.iter().filter(|k| k == &b"moov").count(), 1);
        assert_eq!(kinds.last(), Some(b"moov"));
        assert_eq!(
            kinds.iter().filter(|k| k == &b"mdat").count(),
            fragments.len()
        );
        // ffprobe's trace shows it read a plain moov: no mvex, no moof.
        let (_, trace) = run(Command::new("ffprobe")
            .args(["-v", "trace", "-show_format"])
            .arg(&path));
        assert!(trace.contains("type:'stco'"), "no stco in the trace");
        assert!(!trace.contains("type:'moof'"), "moof seen by ffprobe");
        assert!(!trace.contains("type:'mvex'"), "mvex seen by ffprobe");
        assert_eq!(trace.contains("type:'elst'"), offset_ms > 0);
    }
}

/// Simulates a `kill -9` during the write of the last fragment at three points: inside its
/// `moof`, halfway through its video run, and inside its audio run (the `mdat` holds video
/// then audio). ffmpeg must open the file and decode every complete video sample.
#[test]
fn truncated_fragmented_file_plays_up_to_the_last_complete_fragment() {
    let dir = tempfile::tempdir().unwrap();
    let src = source(dir.path(), MediaTime::ZERO);
    let w = write_fragmented(&src);
    let &(last_at, last_frames) = w.fragments.last().unwrap();
    assert!(last_frames > 0);
    let complete_frames = FRAMES - last_frames;

    let moof_len = u32::from_be_bytes(w.file[last_at..last_at + 4].try_into().unwrap()) as usize;
    let video: Vec<&EncodedPacket> = src
        .packets
        .iter()
        .filter(|p| p.kind == StreamKind::Video)
        .collect();
    let torn_video = &video[FRAMES - last_frames..];
    let video_run_at = last_at + moof_len + 8;
    let video_run_len: usize = torn_video.iter().map(|p| p.data.len()).sum();

    let cuts = [
        ("moof", last_at + moof_len / 2),
        ("video run", video_run_at + video_run_len / 2),
        ("audio run", video_run_at + video_run_len + 100),
    ];
    for (name, cut) in cuts {
        assert!(cut < w.file.len());
        let path = dir
            .path()
            .join(format!("killed-{}.mp4", name.replace(' ', "-")));
        std::fs::write(&path, &w.file[..cut]).unwrap();
        // Video samples of the torn fragment entirely before the cut.
        let mut end = video_run_at;
        let whole = if cut < video_run_at {
            0
        } else {
            torn_video
                .iter()
                .take_while(|p| {
                    end += p.data.len();
                    end <= cut
                })
                .count()
        };

        let (json, probe_err) = run(Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-count_frames",
                "-show_streams",
                "-of",
                "json",
            ])
            .arg(&path));
        let probe = Probe {
            streams: json
                .split("\"index\": ")
                .skip(1)
                .map(str::to_owned)
                .collect(),
            format: String::new(),
        };
        let frames = check_streams(&probe, complete_frames + whole);
        assert!(
            frames <= complete_frames + whole + 1,
            "{name}: {frames} frames"
        );
        // ffmpeg exits 0 (checked by `run`); whatever it reports is about the torn end.
        let decode_err = decode_errors(&path);
        eprintln!(
            "cut in {name} at {cut}/{}: {frames} frames (complete before: {complete_frames} + {whole})",
            w.file.len()
        );
        eprintln!("  ffprobe: {probe_err:?}\n  ffmpeg: {decode_err:?}");
        assert!(decode_err.contains("partial file"), "{name}: {decode_err}");
    }
}
