//! The mixer on inputs made in memory: levels, offsets, mute, mono and balance, the limiter,
//! live changes and inputs joining, all in sample time.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use super::*;
use crate::capture::tone::{TONE_AMPLITUDE, TONE_SAMPLES};
use crate::capture::{AudioInput, SourceDevices};
use crate::config::mixer::{Filter, Monitoring, SourceKind, SourceSettings};

/// A steady sine of `hz` at `amp`, which may say it needs `delay` and records the furthest
/// frame asked for.
struct Sine {
    hz: f32,
    amp: [f32; 2],
    delay: MediaTime,
    asked: Arc<AtomicU64>,
}

impl SourceDevices for Sine {}

impl AudioInput for Sine {
    fn fill(&mut self, first: u64, out: &mut [f32]) {
        for (k, frame) in out.chunks_exact_mut(2).enumerate() {
            let t = (first + k as u64) as f32 / 48_000.0;
            let v = (std::f32::consts::TAU * self.hz * t).sin();
            frame[0] = v * self.amp[0];
            frame[1] = v * self.amp[1];
        }
        self.asked.fetch_max(first + out.len() as u64 / 2, Relaxed);
    }
    fn delay(&self) -> MediaTime {
        self.delay
    }
}

fn sine(hz: f32, amp: f32) -> Box<dyn AudioInput> {
    Box::new(Sine {
        hz,
        amp: [amp, amp],
        delay: MediaTime::ZERO,
        asked: Arc::default(),
    })
}

fn tone_settings(name: &str) -> SourceSettings {
    SourceSettings::new(name, SourceKind::Tone, "")
}

fn mixer(sources: Vec<(SourceSettings, Box<dyn AudioInput>)>) -> Mixer {
    let settings = MixerSettings::with_sources(sources.iter().map(|(s, _)| s.clone()).collect());
    Mixer::new(settings, sources)
}

/// `frames` of program from sample `from`, left channel, as the engine asks: 480 at a time.
fn run(m: &mut Mixer, from: u64, frames: usize) -> Vec<i16> {
    let mut left = Vec::with_capacity(frames);
    let mut chunk = vec![0i16; 960];
    let mut at = from;
    while left.len() < frames {
        m.fill(at, &mut chunk);
        left.extend(chunk.iter().step_by(2));
        at += 480;
    }
    left.truncate(frames);
    left
}

fn amplitude(x: &[i16], hz: f64) -> f64 {
    let w = std::f64::consts::TAU * hz / 48_000.0;
    let c = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &v in x {
        let s = f64::from(v) + c * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    2.0 * (s1 * s1 + s2 * s2 - c * s1 * s2).max(0.0).sqrt() / x.len() as f64
}

fn db(ratio: f64) -> f64 {
    20.0 * ratio.log10()
}

#[test]
fn two_sources_mix_at_their_faders() {
    let mut tone = tone_settings("Tone");
    tone.volume_db = -6.0;
    let desk = SourceSettings::new("Desktop", SourceKind::Desktop, "");
    let mut m = mixer(vec![
        (tone, Box::new(crate::capture::tone::Tone::new())),
        (desk, sine(440.0, 0.25)),
    ]);
    let out = run(&mut m, 0, 96_000);
    // In each beep: 1 kHz at the tone's level less 6 dB; between: the 440 Hz alone. The
    // windows hold whole periods of both (1/40 s), so neither leaks into the other's bin.
    let beep = &out[48_000 + 600..48_000 + 600 + 3 * 1_200];
    assert!(600 + 3 * 1_200 <= TONE_SAMPLES as usize);
    let k = amplitude(beep, 1000.0);
    let want = f64::from(TONE_AMPLITUDE) * 10f64.powf(-6.0 / 20.0);
    assert!(db(k / want).abs() < 0.05, "1 kHz {k} for {want}");
    let a = amplitude(&out[60_000..90_000], 440.0);
    assert!(db(a / (0.25 * 32768.0)).abs() < 0.05, "440 Hz {a}");
    assert!(
        amplitude(&out[60_000..90_000], 1000.0) < 5.0,
        "no beep between beeps"
    );
}

/// Program frame `n` is the input's frame `n` from the very first one: the limiter's
/// look-ahead is filled before the first block leaves, so nothing starts late or silent.
/// Also when the engine starts the program over somewhere else.
#[test]
fn the_program_starts_whole_at_its_first_frame() {
    let mut m = mixer(vec![(tone_settings("Sine"), sine(1000.0, 0.5))]);
    let want = |n: u64| {
        let t = n as f32 / 48_000.0; // as the input computes it
        let v = 0.5 * (std::f32::consts::TAU * 1000.0 * t).sin();
        (v * 32768.0).round() as i32
    };
    for (from, frames) in [(0u64, 2_400usize), (96_000, 960)] {
        let out = run(&mut m, from, frames);
        for (k, &v) in out.iter().enumerate() {
            let n = from + k as u64;
            assert!(
                (i32::from(v) - want(n)).abs() <= 2,
                "frame {n}: {v}, the input's {}",
                want(n)
            );
        }
    }
}

#[test]
fn mute_removes_a_source_entirely_and_the_meter_still_reads_it() {
    let mut desk = SourceSettings::new("Desktop", SourceKind::Desktop, "");
    desk.muted = true;
    let mut m = mixer(vec![
        (tone_settings("Tone"), sine(1000.0, 0.1)),
        (desk, sine(440.0, 0.5)),
    ]);
    let out = run(&mut m, 0, 48_000);
    assert!(amplitude(&out[24_000..], 440.0) < 1.0);
    assert!(amplitude(&out[24_000..], 1000.0) > 3000.0);
    let desk_level = m.controls().levels("Desktop").unwrap();
    assert!(
        (desk_level.peak_dbfs[0] - -6.02).abs() < 0.1,
        "{desk_level:?}"
    );
    // Unmuted live: heard from the next block on.
    m.controls()
        .update(|s| s.source_mut("Desktop").unwrap().muted = false)
        .unwrap();
    let out = run(&mut m, 48_000, 24_000);
    assert!(db(amplitude(&out[4_800..], 440.0) / (0.5 * 32768.0)).abs() < 0.05);
}

#[test]
fn a_sync_offset_moves_the_beeps_by_exactly_that() {
    let onset = |x: &[i16]| x.iter().position(|v| v.unsigned_abs() > 2_000).unwrap();
    // Without an offset the beep at 1 s comes at 1 s (the limiter's look-ahead made up for;
    // the 1 kHz sine first passes 2000 at its third sample).
    let mut m = mixer(vec![(
        tone_settings("Tone"),
        Box::new(crate::capture::tone::Tone::new()),
    )]);
    let out = run(&mut m, 0, 2 * 48_000);
    let base = 24_000 + onset(&out[24_000..]);
    assert_eq!(base, 48_002, "no offset: beep at {base}");
    for offset_ms in [200i32, -300] {
        let mut tone = tone_settings("Tone");
        tone.sync_offset_ms = offset_ms;
        let mut m = mixer(vec![(tone, Box::new(crate::capture::tone::Tone::new()))]);
        // The limiter's look-ahead (5 ms), and a negative offset, make the program wait.
        let want_delay = MediaTime::from_millis(i64::from((-offset_ms).max(0)) + 5);
        assert_eq!(
            m.delay(),
            want_delay,
            "a negative offset makes the program wait"
        );
        let out = run(&mut m, 0, 2 * 48_000);
        // The beep at 1 s of the tone's time comes at 1 s + offset of the program's.
        let from = 48_000 - 24_000;
        let at = from + onset(&out[from..]);
        let expected = (base as i64 + i64::from(offset_ms) * 48) as usize;
        assert!(
            at.abs_diff(expected) <= 1,
            "offset {offset_ms} ms: beep at {at}, expected {expected}"
        );
    }
}

#[test]
fn each_input_is_asked_only_for_what_it_can_give_at_its_delay() {
    // A microphone-like input that needs 60 ms, a tone that needs nothing, and a -100 ms
    // offset on the tone: the program runs 105 ms behind (with the limiter's 5 ms
    // look-ahead); at each block the microphone is asked up to the block's end plus 45 ms,
    // the tone up to its end plus 105 ms.
    let mic_asked = Arc::new(AtomicU64::new(0));
    let mic = Box::new(Sine {
        hz: 300.0,
        amp: [0.1, 0.1],
        delay: MediaTime::from_millis(60),
        asked: mic_asked.clone(),
    });
    let tone_asked = Arc::new(AtomicU64::new(0));
    let tone = Box::new(Sine {
        hz: 1000.0,
        amp: [0.1, 0.1],
        delay: MediaTime::ZERO,
        asked: tone_asked.clone(),
    });
    let mut t = tone_settings("Tone");
    t.sync_offset_ms = -100;
    let mut m = mixer(vec![
        (SourceSettings::new("Mic", SourceKind::Microphone, ""), mic),
        (t, tone),
    ]);
    assert_eq!(m.delay(), MediaTime::from_millis(105));
    let mut chunk = vec![0i16; 960];
    for block in 0..50u64 {
        m.fill(block * 480, &mut chunk);
        let end = (block + 1) * 480;
        assert_eq!(mic_asked.load(Relaxed), end + 45 * 48);
        assert_eq!(tone_asked.load(Relaxed), end + 105 * 48);
    }
}

#[test]
fn the_limiter_keeps_two_full_sources_under_the_ceiling() {
    let mut m = mixer(vec![
        (tone_settings("A"), sine(440.0, 0.99)),
        (tone_settings("B"), sine(1000.0, 0.99)),
    ]);
    let out = run(&mut m, 0, 48_000);
    // -1 dBFS less the headroom left for the encoder.
    let ceiling_db = -1.0 - f64::from(CODEC_HEADROOM_DB);
    let ceiling = (10f64.powf(ceiling_db / 20.0) * 32768.0).ceil() as u16;
    let peak = out.iter().map(|v| v.unsigned_abs()).max().unwrap();
    assert!(peak <= ceiling, "peak {peak} over {ceiling}");
    assert!(
        peak > ceiling - 300,
        "limited to the ceiling, not far below: {peak}"
    );
    assert!(m.controls().limiter_reduction_db() < -3.0);
    // The master fader acts before the limiter.
    m.controls().update(|s| s.master_db = -20.0).unwrap();
    let out = run(&mut m, 48_000, 24_000);
    let peak = out[4_800..].iter().map(|v| v.unsigned_abs()).max().unwrap();
    assert!(peak < 7_000, "{peak}");
}

#[test]
fn mono_and_balance() {
    let left_only = Box::new(Sine {
        hz: 500.0,
        amp: [0.4, 0.0],
        delay: MediaTime::ZERO,
        asked: Arc::default(),
    });
    let mut s = tone_settings("Src");
    s.mono = true;
    let mut m = mixer(vec![(s, left_only)]);
    let mut chunk = vec![0i16; 960];
    for b in 0..10 {
        m.fill(b * 480, &mut chunk);
    }
    assert!(
        chunk.chunks_exact(2).all(|f| f[0] == f[1]),
        "mono: both sides alike"
    );
    assert!(chunk.iter().any(|v| v.unsigned_abs() > 5_000));
    m.controls()
        .update(|s| {
            let src = s.source_mut("Src").unwrap();
            src.balance = 1.0; // all to the right
        })
        .unwrap();
    for b in 10..20 {
        m.fill(b * 480, &mut chunk);
    }
    assert!(chunk.chunks_exact(2).all(|f| f[0] == 0), "left silent");
    assert!(chunk.chunks_exact(2).any(|f| f[1].unsigned_abs() > 5_000));
}

#[test]
fn filters_change_live_keeping_their_order() {
    let mut m = mixer(vec![(tone_settings("Src"), sine(440.0, 0.5))]);
    let level = |m: &mut Mixer, from: u64| {
        let out = run(m, from, 9_600);
        db(amplitude(&out[4_800..], 440.0) / 32768.0)
    };
    assert!((level(&mut m, 0) - -6.02).abs() < 0.05);
    let c = m.controls();
    c.update(|s| {
        s.source_mut("Src").unwrap().filters =
            vec![Filter::Gain { db: -10.0 }, Filter::Gain { db: 4.0 }];
    })
    .unwrap();
    assert!((level(&mut m, 9_600) - -12.02).abs() < 0.05);
    c.update(|s| {
        s.source_mut("Src").unwrap().filters.remove(0);
    })
    .unwrap();
    assert!((level(&mut m, 19_200) - -2.02).abs() < 0.05);
    // Bad settings are refused and change nothing.
    assert!(
        c.update(|s| s.source_mut("Src").unwrap().volume_db = 99.0)
            .is_err()
    );
    assert!((level(&mut m, 28_800) - -2.02).abs() < 0.05);
}

#[test]
fn an_input_joins_a_running_mixer_and_leaves_it() {
    let mut m = mixer(vec![(tone_settings("Tone"), sine(1000.0, 0.1))]);
    let c = m.controls();
    run(&mut m, 0, 4_800);
    let (feed, input) = external::external("Clip", MediaTime::from_millis(40));
    let mut clip = SourceSettings::new("Clip", SourceKind::External, "");
    clip.volume_db = -6.0;
    c.attach(clip, Box::new(input)).unwrap();
    // The feeder hands 440 Hz at half scale for program time 0.2 s .. 0.7 s.
    let wave: Vec<f32> = (0..24_000)
        .flat_map(|i| {
            let v = 0.5 * (std::f32::consts::TAU * 440.0 * i as f32 / 48_000.0).sin();
            [v, v]
        })
        .collect();
    assert!(feed.push(MediaTime::from_millis(200), &wave));
    let out = run(&mut m, 4_800, 48_000 - 4_800);
    // Program frame 9600 on: the clip at -6 dB (its phase from its own start).
    let got = amplitude(&out[9_600 - 4_800 + 480..9_600 - 4_800 + 20_000], 440.0);
    assert!(db(got / (0.25 * 32768.0)).abs() < 0.1, "{got}");
    assert_eq!(c.strips().len(), 2);
    assert!(
        c.snapshot()
            .iter()
            .any(|(d, s)| d.name == "Clip" && s.volume_db == -6.0)
    );
    // Removed from the settings: the mixer drops it, the feeder hears so.
    c.update(|s| s.sources.retain(|x| x.name != "Clip"))
        .unwrap();
    run(&mut m, 48_000, 960);
    assert!(!feed.push(MediaTime::from_millis(1_100), &wave[..960]));
    assert_eq!(c.strips().len(), 1);
}

#[test]
fn monitored_only_sources_stay_out_of_the_program() {
    let mut s = tone_settings("Talkback");
    s.monitoring = Monitoring::MonitorOnly;
    let mut m = mixer(vec![
        (s, sine(440.0, 0.5)),
        (tone_settings("Tone"), sine(1000.0, 0.1)),
    ]);
    let out = run(&mut m, 0, 24_000);
    assert!(amplitude(&out[4_800..], 440.0) < 1.0);
    assert!(amplitude(&out[4_800..], 1000.0) > 3_000.0);
    // No device was opened here (no `mon-audio` thread runs); the blocks queued for it are
    // dropped once its 200 ms are full, and counted.
    assert!(m.controls().monitor.dropped_frames.load(Relaxed) > 0);
}

#[test]
fn noise_suppression_on_a_strip_keeps_a_steady_tone_and_costs_one_block() {
    // RNNoise passes a clean voice-band tone (roughly) and delays it by one 10 ms block.
    let captured = Arc::new(Mutex::new(Vec::new()));
    let mut s = tone_settings("Voice");
    s.filters = vec![Filter::NoiseSuppression {}];
    let mut m = mixer(vec![(s, sine(300.0, 0.3))]);
    // Read 10 ms ahead to make up for it: the program waits that, and the limiter's 5 ms.
    assert_eq!(m.delay(), MediaTime::from_millis(15));
    let out = run(&mut m, 0, 48_000);
    captured.lock().unwrap().extend(out);
    let level = amplitude(&captured.lock().unwrap()[24_000..], 300.0) / (0.3 * 32768.0);
    assert!(db(level) > -12.0, "the tone kept: {:.1} dB", db(level));
}
