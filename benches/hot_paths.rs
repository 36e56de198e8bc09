//! Criterion benchmarks of the hot paths on this branch: the muxers (MP4 fragmenter, FLV tags,
//! the LL-HLS playlist), the test pattern's fill, the latency histogram and the interleaver.
//! Colour conversion, scaling and composition of real sources are built on another branch;
//! their benchmarks are added here when that lands. `cargo bench` runs them; `cargo test
//! --all-targets` runs each once, as a smoke test.

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

use onair::capture::VideoSource;
use onair::capture::test_pattern::TestPattern;
use onair::format::flv::FlvMuxer;
use onair::format::hls::{LivePlaylist, PartTiming, PlaylistOptions};
use onair::format::mp4::{Mp4Options, Mp4Writer};
use onair::media::{
    AudioConfig, EncodedPacket, MediaTime, StreamKind, Timebase, VideoConfig, VideoFrame,
};
use onair::output::interleave::Interleaver;
use onair::output::latency::LatencyHistogram;

const FPS: u32 = 60;

fn video_config() -> VideoConfig {
    VideoConfig {
        width: 1920,
        height: 1080,
        frame_rate_num: FPS,
        frame_rate_den: 1,
        bitrate_bps: 6_000_000,
        keyframe_interval_frames: 2 * FPS,
        avcc: Bytes::from_static(&[1, 0x42, 0xC0, 0x28, 0xFF, 0xE1, 0, 1, 0x67, 1, 0, 1, 0x68]),
    }
}

fn audio_config() -> AudioConfig {
    AudioConfig {
        codec: onair::media::AudioCodec::Aac,
        sample_rate: 48_000,
        channels: 2,
        bitrate_bps: 160_000,
        asc: Bytes::from_static(&[0x11, 0x90]),
    }
}

/// Four seconds of 1080p60 at 6 Mbit/s (12.5 kB per frame, 10x at keyframes) with AAC
/// between the frames, in decode order, as an output's interleaver hands them over.
fn packets() -> Vec<EncodedPacket> {
    let vtb = Timebase::per_second(FPS);
    let atb = Timebase::AUDIO_48K;
    let frame = Bytes::from(vec![0x55u8; 12_500]);
    let key = Bytes::from(vec![0x65u8; 125_000]);
    let aac = Bytes::from(vec![0x21u8; 460]);
    let mut out = Vec::new();
    let mut audio_k = 0i64;
    for n in 0..4 * i64::from(FPS) {
        let t = vtb.ticks_to_time(n);
        while atb.ticks_to_time(audio_k * 1024) < t {
            out.push(EncodedPacket {
                kind: StreamKind::Audio,
                pts: atb.ticks_to_time(audio_k * 1024),
                dts: atb.ticks_to_time(audio_k * 1024),
                duration: atb.ticks_to_time(1024),
                keyframe: true,
                data: aac.clone(),
            });
            audio_k += 1;
        }
        let is_key = n % (2 * i64::from(FPS)) == 0;
        out.push(EncodedPacket {
            kind: StreamKind::Video,
            pts: t,
            dts: t,
            duration: vtb.ticks_to_time(1),
            keyframe: is_key,
            data: if is_key { key.clone() } else { frame.clone() },
        });
    }
    out
}

fn muxers(c: &mut Criterion) {
    let pkts = packets();
    let frames = pkts.iter().filter(|p| p.kind == StreamKind::Video).count() as u64;
    let mut g = c.benchmark_group("mux_4s_1080p60");
    g.throughput(Throughput::Elements(frames));
    g.bench_function("mp4_fragmenter", |b| {
        b.iter(|| {
            let mut w = Mp4Writer::new(
                Some(video_config()),
                Some(audio_config()),
                Mp4Options::default(),
            );
            let mut bytes = w.init_segment().map_or(0, |s| s.len());
            for p in &pkts {
                if let Ok(Some(f)) = w.push(p) {
                    bytes += f.bytes.len();
                }
            }
            bytes += w.finalize().map_or(0, |f| f.append.len());
            black_box(bytes)
        });
    });
    g.bench_function("flv_muxer", |b| {
        b.iter(|| {
            let mut m = FlvMuxer::new(Some(video_config()), Some(audio_config()));
            let mut bytes = m.header().len();
            for p in &pkts {
                bytes += m.packet(p).len();
            }
            black_box(bytes)
        });
    });
    g.bench_function("hls_parts_and_playlist", |b| {
        let timing = PartTiming::new(FPS, 1, 2 * FPS);
        b.iter(|| {
            let mut w = Mp4Writer::new(
                Some(video_config()),
                Some(audio_config()),
                Mp4Options {
                    fragment_duration: timing.fragment_duration(),
                    keep_index: false,
                },
            );
            let mut playlist = LivePlaylist::new(PlaylistOptions {
                timing,
                window: 6,
                prefix: "bench".into(),
            });
            let mut text = 0;
            for p in &pkts {
                if let Ok(Some(f)) = w.push(p) {
                    text += playlist.push(f, SystemTime::UNIX_EPOCH).playlist.len();
                }
            }
            black_box(text)
        });
    });
    g.finish();
}

fn test_pattern(c: &mut Criterion) {
    let mut g = c.benchmark_group("test_pattern_fill");
    for (w, h) in [(1280u32, 720u32), (1920, 1080)] {
        g.throughput(Throughput::Bytes(u64::from(w * h * 3 / 2)));
        g.bench_with_input(
            BenchmarkId::from_parameter(format!("{w}x{h}")),
            &(w, h),
            |b, &(w, h)| {
                let mut src = TestPattern::new(w, h);
                let mut frame = VideoFrame::black(w, h, MediaTime::ZERO);
                let tb = Timebase::per_second(30);
                let mut n = 0;
                b.iter(|| {
                    src.fill(tb.ticks_to_time(n), &mut frame).unwrap_or(());
                    n += 1;
                    black_box(frame.data[0])
                });
            },
        );
    }
    g.finish();
}

fn per_frame_bookkeeping(c: &mut Criterion) {
    let h = LatencyHistogram::default();
    let mut n = 0i64;
    c.bench_function("latency_histogram_record", |b| {
        b.iter(|| {
            n = (n + 7_919) % 100_000_000;
            h.record(MediaTime::from_nanos(black_box(n)));
        });
    });
    let pkts = packets();
    c.bench_function("interleave_4s_1080p60", |b| {
        b.iter(|| {
            let mut il = Interleaver::new(true, true);
            let mut out = 0;
            for p in &pkts {
                il.push(p.clone());
                while let Some(q) = il.pop() {
                    out += q.data.len();
                }
            }
            black_box(out)
        });
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = muxers, test_pattern, per_frame_bookkeeping
}
criterion_main!(benches);
