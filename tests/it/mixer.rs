//! The audio mixer on the real binary: the engine's tone and desktop audio (a private
//! PulseAudio null sink's monitor) mixed into one recording at their faders; mute; a sync
//! offset against the video's sync square; the program limiter with two loud sources; noise
//! suppression on speech (espeak-ng) in white noise.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::desktop::*;
use crate::common::*;

fn broadcast(pulse: &Pulse, args: &[&str]) -> Command {
    let mut c = onair();
    c.arg("broadcast")
        .args(["--preset", "720p30", "--video", "test"])
        .args(args)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env("PULSE_SERVER", pulse.server());
    c
}

/// Plays `wav` into the sink `sink` of `pulse`, in the background.
fn play_into(pulse: &Pulse, sink: &str, wav: &Path) -> Child {
    Command::new("paplay")
        .env("PULSE_SERVER", pulse.server())
        .args(["--latency-msec=20", "-d", sink])
        .arg(wav)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run paplay (apt-get install pulseaudio-utils)")
}

fn db(amplitude: f64) -> f64 {
    20.0 * (amplitude / 32768.0).log10()
}

/// The amplitude of `hz` in each 100 ms window of `x` (10 Hz bins, so the drift correction's
/// tiny pitch change does not matter), sorted.
fn window_levels(x: &[i16], hz: f64) -> Vec<f64> {
    let mut levels: Vec<f64> = x
        .chunks_exact(4_800)
        .map(|w| tone_amplitude(w, hz, 48_000.0))
        .collect();
    levels.sort_by(f64::total_cmp);
    levels
}

/// The median amplitude of `hz` over 100 ms windows of `x`: the level a meter shows, which a
/// glitch on a loaded machine (an underrun, counted in the stats) does not move.
fn level_at(x: &[i16], hz: f64) -> f64 {
    let levels = window_levels(x, hz);
    levels[levels.len() / 2]
}

/// The times (s) of the frames showing the white sync square, and of the first sample of each
/// beep after each (above a third of the tone's level at `tone_db`), in `path`.
fn squares_and_beeps(path: &Path, tone_db: f64) -> Vec<(f64, f64)> {
    let luma = corner_luma(path, 720 / 8 - 2);
    let packets = video_packets(path);
    assert_eq!(luma.len(), packets.len());
    let squares: Vec<f64> = luma
        .iter()
        .zip(&packets)
        .filter(|(l, _)| **l > 128.0)
        .map(|(_, (t, _))| *t)
        .collect();
    let (samples, start) = audio_samples(path);
    let threshold = (8231.0 * 10f64.powf(tone_db / 20.0) / 3.0) as u16;
    squares
        .iter()
        .filter_map(|&v| {
            let from = ((v - start - 0.05) * 48_000.0).max(0.0) as usize;
            let onset = samples[from.min(samples.len())..]
                .iter()
                .position(|s| s.unsigned_abs() > threshold)?;
            Some((v, start + (from + onset) as f64 / 48_000.0))
        })
        .collect()
}

#[test]
fn tone_and_desktop_audio_mix_at_their_faders_mute_and_offset() {
    let pulse = Pulse::start();
    let wav = pulse.dir().join("a440.wav");
    write_sine_wav(&wav, 440.0, 8231.0, 30); // -12 dBFS peak
    let mut player = pulse.play(&wav);
    std::thread::sleep(Duration::from_millis(300));
    let dir = tempdir();

    // 1. The tone at -6 dB and desktop audio at 0 dB.
    let rec = path_in(&dir, "mix.mp4");
    let stats = path_in(&dir, "mix.jsonl");
    run_ok(
        broadcast(
            &pulse,
            &["--audio", "tone@-6,desktop", "--duration", "5", "--record"],
        )
        .arg(&rec)
        .arg("--stats")
        .arg(&stats),
    );
    let s = last_stats(&stats).unwrap();
    println!("sources: {}", s["sources"]);
    assert_clean_h264_aac(&rec, 148.0, 152.0);
    let (samples, start) = audio_samples(&rec);
    // Inside each beep (100 ms from every whole second): the 1 kHz tone; the 440 Hz outside.
    // From the second second on: desktop audio's stream takes up to a second to start.
    let mut beeps = Vec::new();
    let mut between = Vec::new();
    for second in 2..5 {
        let at = |t: f64| ((t - start) * 48_000.0) as usize;
        beeps.extend_from_slice(
            &samples[at(f64::from(second) + 0.01)..at(f64::from(second) + 0.09)],
        );
        between
            .extend_from_slice(&samples[at(f64::from(second) + 0.2)..at(f64::from(second) + 0.9)]);
    }
    let tone_db = db(level_at(&beeps, 1000.0));
    let desk_db = db(level_at(&between, 440.0));
    println!(
        "mix: tone at {tone_db:.2} dBFS (set -18.00), desktop 440 Hz at {desk_db:.2} dBFS (set -12.00)"
    );
    assert!((tone_db + 18.0).abs() <= 0.5, "tone at {tone_db:.2} dBFS");
    assert!(
        (desk_db + 12.0).abs() <= 0.5,
        "desktop at {desk_db:.2} dBFS"
    );
    let sources = s["sources"].as_array().unwrap();
    let tone = sources.iter().find(|x| x["name"] == "Tone").unwrap();
    let desk = sources
        .iter()
        .find(|x| x["name"] == "Desktop Audio")
        .unwrap();
    assert_eq!(
        (tone["kind"].as_str(), tone["volume_db"].as_f64()),
        (Some("tone"), Some(-6.0))
    );
    assert_eq!(desk["kind"], "desktop");
    assert_eq!(desk["state"], "live", "{desk}");
    let desk_peak = desk["level"]["peak_hold_dbfs"][0].as_f64().unwrap();
    assert!((desk_peak + 12.0).abs() < 1.0, "desktop meter: {desk}");
    println!("desktop source stats: {desk}");

    // 2. From a config file: desktop audio muted, the tone 200 ms late.
    let config = path_in(&dir, "config.toml");
    std::fs::write(
        &config,
        "[mixer]\n\
         [[mixer.source]]\nname = \"Beeps\"\nkind = \"tone\"\nsync_offset_ms = 200\n\
         [[mixer.source]]\nname = \"Game\"\nkind = \"desktop\"\nmuted = true\n",
    )
    .unwrap();
    let rec = path_in(&dir, "muted.mp4");
    run_ok(
        broadcast(&pulse, &["--duration", "4", "--record"])
            .arg(&rec)
            .arg("--config")
            .arg(&config),
    );
    stop_child(&mut player);
    let (samples, start) = audio_samples(&rec);
    // Between the beeps (each 200 ms after a whole second, 100 ms long), whose edges spread
    // a little energy over every frequency.
    let mut quiet = Vec::new();
    for second in 1..3 {
        let at = |t: f64| ((t - start) * 48_000.0) as usize;
        quiet.extend_from_slice(
            &samples[at(f64::from(second) + 0.35)..at(f64::from(second) + 1.15)],
        );
    }
    // Every window, not the median: mute removes the source entirely.
    let muted_db = db(*window_levels(&quiet, 440.0).last().unwrap());
    println!("mute: desktop 440 Hz at {muted_db:.1} dBFS");
    assert!(
        muted_db < -80.0,
        "muted desktop audio at {muted_db:.1} dBFS"
    );
    let pairs = squares_and_beeps(&rec, 0.0);
    assert!(pairs.len() >= 3, "{pairs:?}");
    for (square, beep) in &pairs {
        let late_ms = (beep - square) * 1000.0;
        println!("offset: beep {late_ms:+.1} ms after the square");
        assert!(
            (late_ms - 200.0).abs() <= 5.0,
            "beep {late_ms:.1} ms after the square at {square}"
        );
    }
}

#[test]
fn the_limiter_keeps_two_full_scale_sources_under_minus_one_dbfs() {
    let pulse = Pulse::start();
    let out = Command::new("pactl")
        .env("PULSE_SERVER", pulse.server())
        .args([
            "load-module",
            "module-null-sink",
            "sink_name=second",
            "rate=48000",
            "channels=2",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // `onair devices` lists both outputs under desktop audio, by the sound server's names.
    let out = run_ok(
        onair()
            .args(["devices", "--json"])
            .env("PULSE_SERVER", pulse.server()),
    );
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = listed["desktop_audio"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["id"].as_str())
        .collect();
    assert_eq!(ids, ["nullsink", "second"], "{listed}");
    // Two sines at -0.5 dBFS: together up to +5.5 dBFS.
    let a = pulse.dir().join("a.wav");
    let b = pulse.dir().join("b.wav");
    write_sine_wav(&a, 440.0, 30_900.0, 30);
    write_sine_wav(&b, 550.0, 30_900.0, 30);
    let mut pa = play_into(&pulse, "nullsink", &a);
    let mut pb = play_into(&pulse, "second", &b);
    std::thread::sleep(Duration::from_millis(300));
    let dir = tempdir();
    let rec = path_in(&dir, "loud.mp4");
    run_ok(
        broadcast(
            &pulse,
            &[
                "--audio",
                "desktop:nullsink,desktop:second",
                "--duration",
                "3",
                "--record",
            ],
        )
        .arg(&rec),
    );
    stop_child(&mut pa);
    stop_child(&mut pb);
    let (samples, start) = audio_samples(&rec);
    // From half a second after both sources are heard (the streams start at their own pace
    // on a busy machine; the jump from silence to full scale is not what is judged here).
    let heard = samples
        .iter()
        .position(|v| v.unsigned_abs() > 16_000)
        .unwrap();
    let from = heard + 24_000; // mono, 48 kHz
    assert!(
        from + 48_000 < samples.len(),
        "sound from {:.2} s only",
        start + heard as f64 / 48_000.0
    );
    let both = &samples[from..];
    let (at, peak) = both
        .iter()
        .map(|v| v.unsigned_abs())
        .enumerate()
        .max_by_key(|(_, v)| *v)
        .unwrap();
    let peak_db = db(f64::from(peak));
    println!(
        "limiter: two sources at -0.5 dBFS each, program peak {peak_db:.2} dBFS at {:.3} s",
        start + (from + at) as f64 / 48_000.0
    );
    assert!(peak_db <= -1.0, "peak {peak_db:.2} dBFS");
    assert!(
        peak_db > -2.5,
        "limited at the ceiling, not below it: {peak_db:.2} dBFS"
    );
    assert!(
        level_at(both, 440.0) > 5_000.0 && level_at(both, 550.0) > 5_000.0,
        "both heard"
    );
}

/// RMS (dBFS) of each 10 ms window.
fn envelope(x: &[f32]) -> Vec<f64> {
    x.chunks_exact(480)
        .map(|w| {
            let p = w.iter().map(|v| f64::from(*v) * f64::from(*v)).sum::<f64>() / 480.0;
            10.0 * p.max(1e-14).log10()
        })
        .collect()
}

fn read_wav_mono(path: &Path) -> Vec<f32> {
    let out = run_ok(Command::new("sox").arg(path).args([
        "-t",
        "raw",
        "-e",
        "floating-point",
        "-b",
        "32",
        "-c",
        "1",
        "-r",
        "48000",
        "-",
    ]));
    out.stdout
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// Mean power (dB) of `env` over the windows `which` picks.
fn mean_db(env: &[f64], which: impl Fn(usize) -> bool) -> f64 {
    let picked: Vec<f64> = env
        .iter()
        .enumerate()
        .filter(|(i, _)| which(*i))
        .map(|(_, d)| 10f64.powf(d / 10.0))
        .collect();
    assert!(picked.len() > 10, "too few windows: {}", picked.len());
    10.0 * (picked.iter().sum::<f64>() / picked.len() as f64).log10()
}

#[test]
fn noise_suppression_removes_the_noise_between_words_and_keeps_the_speech() {
    let pulse = Pulse::start();
    let d = pulse.dir();
    let speech = d.join("speech.wav");
    run_ok(Command::new("espeak-ng").arg("-w").arg(&speech).arg(
        "Hello, and welcome to the stream. Today, we test the noise suppression. One, two, three.",
    ));
    // Speech at 48 kHz stereo after 2 s of noise alone (RNNoise learns the noise over about
    // a second, as it does once in a stream), white noise at -35 dBFS RMS under it.
    let clean = d.join("clean.wav");
    run_ok(
        Command::new("sox")
            .arg(&speech)
            .args(["-r", "48000", "-c", "2", "-b", "16"])
            .arg(&clean)
            .args(["pad", "2", "0.5", "norm", "-3"]),
    );
    let seconds = {
        let out = run_ok(Command::new("soxi").arg("-D").arg(&clean));
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse::<f64>()
            .unwrap()
    };
    let noise = d.join("noise.wav");
    run_ok(
        Command::new("sox")
            .args(["-n", "-r", "48000", "-c", "2", "-b", "16"])
            .arg(&noise)
            .args(["synth", &format!("{seconds}"), "whitenoise", "vol", "0.031"]),
    );
    let noisy = d.join("noisy.wav");
    run_ok(
        Command::new("sox")
            .arg("-m")
            .arg(&clean)
            .arg(&noise)
            .arg(&noisy),
    );
    let dir = tempdir();
    let config = path_in(&dir, "config.toml");
    std::fs::write(
        &config,
        "[mixer]\n[[mixer.source]]\nname = \"Desktop\"\nkind = \"desktop\"\n\
         [[mixer.source.filter]]\ntype = \"noise_suppression\"\n",
    )
    .unwrap();
    let rec = path_in(&dir, "ns.mp4");
    let mut run = broadcast(
        &pulse,
        &[
            "--duration",
            &format!("{}", seconds.ceil() + 2.0),
            "--record",
        ],
    );
    run.arg(&rec).arg("--config").arg(&config);
    let child = run
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1_000));
    let mut player = pulse.play(&noisy);
    wait_success(child);
    stop_child(&mut player);

    // Line the recording up with the input by their envelopes, then compare the windows
    // where the clean speech is silent (noise alone) and where it is loud.
    let clean_env = envelope(&read_wav_mono(&clean));
    let noisy_env = envelope(&read_wav_mono(&noisy));
    let (recorded, _) = audio_samples(&rec);
    let rec_env = envelope(
        &recorded
            .iter()
            .map(|&v| f32::from(v) / 32768.0)
            .collect::<Vec<_>>(),
    );
    let n = clean_env.len();
    assert!(rec_env.len() > n, "recording shorter than the input");
    let score = |lag: usize| -> f64 {
        (0..n)
            .map(|i| {
                let (a, b) = (clean_env[i].max(-60.0), rec_env[i + lag].max(-60.0));
                a * b
            })
            .sum()
    };
    let lag = (0..rec_env.len() - n)
        .max_by(|&a, &b| score(a).total_cmp(&score(b)))
        .unwrap();
    let speech_peak = clean_env.iter().copied().fold(f64::MIN, f64::max);
    // Between words (and after the last): 50 ms from any speech, after the first word.
    let first_word = clean_env.iter().position(|&e| e > -60.0).unwrap();
    let silent = |i: usize| {
        i > first_word && i + 5 < n && clean_env[i - 5..=i + 5].iter().all(|&e| e < -70.0)
    };
    let loud = |i: usize| clean_env[i] > speech_peak - 12.0;
    let floor_in = mean_db(&noisy_env, silent);
    let floor_out = mean_db(&rec_env[lag..lag + n], silent);
    let speech_in = mean_db(&noisy_env, loud);
    let speech_out = mean_db(&rec_env[lag..lag + n], loud);
    println!(
        "noise suppression: noise floor {floor_in:.1} -> {floor_out:.1} dBFS ({:.1} dB), \
         speech {speech_in:.1} -> {speech_out:.1} dBFS ({:+.1} dB), aligned at {} ms",
        floor_out - floor_in,
        speech_out - speech_in,
        lag * 10
    );
    assert!(
        floor_in - floor_out >= 15.0,
        "the noise fell only {:.1} dB",
        floor_in - floor_out
    );
    assert!(
        (speech_out - speech_in).abs() <= 3.0,
        "speech moved {:+.1} dB",
        speech_out - speech_in
    );
}

/// The loudest 100 ms window's 1 kHz amplitude (dBFS) in `x` (mono, full scale ±1), stepping
/// by 10 ms.
fn loudest_beep_db(x: &[f32]) -> f64 {
    let as_i16: Vec<i16> = x.iter().map(|v| (v * 32768.0) as i16).collect();
    as_i16
        .windows(4_800)
        .step_by(480)
        .map(|w| tone_amplitude(w, 1000.0, 48_000.0))
        .fold(0.0, f64::max)
        .max(1e-3)
        .log10()
        * 20.0
        - 20.0 * 32768f64.log10()
}

#[test]
fn a_monitored_only_source_plays_through_the_monitoring_device_and_not_in_the_program() {
    // The monitoring device is the default output: ALSA's default, PulseAudio's null sink,
    // whose monitor `parec` records.
    let pulse = Pulse::start();
    let heard = pulse.dir().join("heard.raw");
    let mut parec = Command::new("parec")
        .env("PULSE_SERVER", pulse.server())
        .args(["-d", "nullsink.monitor", "--raw", "--format=s16le"])
        .args(["--rate=48000", "--channels=2"])
        .stdout(std::fs::File::create(&heard).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("run parec (apt-get install pulseaudio-utils)");
    let dir = tempdir();
    let config = path_in(&dir, "config.toml");
    std::fs::write(
        &config,
        "[mixer]\n[[mixer.source]]\nname = \"Beeps\"\nkind = \"tone\"\nmonitoring = \"monitor_only\"\n",
    )
    .unwrap();
    let rec = path_in(&dir, "program.mp4");
    let stats = path_in(&dir, "stats.jsonl");
    // 6 s: the device may take a few seconds to open on a busy machine (PulseAudio's ALSA
    // plugin), and one whole beep (at every whole second) is enough.
    run_ok(
        broadcast(&pulse, &["--duration", "6", "--record"])
            .arg(&rec)
            .arg("--stats")
            .arg(&stats)
            .arg("--config")
            .arg(&config),
    );
    stop_child(&mut parec);
    let s = last_stats(&stats).unwrap();
    println!("monitor: {}", s["audio"]["monitor"]);
    assert_eq!(s["audio"]["monitor"]["state"], "playing", "{}", s["audio"]);
    let bytes = std::fs::read(&heard).unwrap();
    assert!(
        bytes.len() > 48_000 * 4,
        "parec recorded {} bytes",
        bytes.len()
    );
    // The left channel (the tone is the same on both).
    let monitored: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect();
    let monitored_db = loudest_beep_db(&monitored);
    let (program, _) = audio_samples(&rec);
    let program: Vec<f32> = program.iter().map(|&v| f32::from(v) / 32768.0).collect();
    let program_db = loudest_beep_db(&program);
    println!(
        "monitoring: beeps at {monitored_db:.2} dBFS on the device, {program_db:.1} dBFS in the program"
    );
    // The tone's beeps are at -12 dBFS (8231 of 32768).
    assert!(
        (monitored_db + 12.0).abs() <= 0.5,
        "monitored beeps at {monitored_db:.2} dBFS"
    );
    assert!(
        program_db < -80.0,
        "monitor-only beeps in the program at {program_db:.1} dBFS"
    );
}
