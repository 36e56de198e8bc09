//! `onair broadcast`: the outputs made from the flags, the engine run until stopped, the
//! `--stats` lines written, and the exit status from how each output ended.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use onair::output::RecordingFormat;
use onair::output::hls::HlsOptions;
use onair::output::rtmp::{RtmpOptions, RtmpOutput, RtmpUrl};
use onair::pipeline::{
    EngineConfig, EngineHandle, OutputState, Pacing, StatsReport, StatsSnapshot, StatsView,
};

use super::*;

pub(super) fn broadcast(args: BroadcastArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(args.config.as_deref())?;
    let preset = config.preset_or_program(args.preset.as_deref())?.clone();
    let encoder_threads = encoder_threads(args.encoder_threads, &preset)?;
    if args
        .mic_gain
        .is_some_and(|db| !db.is_finite() || !(-100.0..=26.0).contains(&db))
    {
        bail!("--mic-gain must be between -100 and 26 dB");
    }
    let audio = mixer_settings(
        config.mixer.as_ref(),
        args.audio.as_ref().map(|a| a.0.as_slice()),
        args.mic_gain,
        args.mute,
    )
    .map_err(anyhow::Error::msg)?;
    let mut outputs = Vec::new();
    for (i, path) in args.record.iter().enumerate() {
        let same =
            |other: &PathBuf| std::path::absolute(other).ok() == std::path::absolute(path).ok();
        if args.record[..i].iter().any(same) {
            bail!(
                "--record {} is given twice; give each recording a file of its own",
                path.display()
            );
        }
        let format = RecordingFormat::from_path(path)?;
        outputs.push(OutputSpec::Recording {
            path: path.clone(),
            format,
        });
    }
    let mut keys = None;
    for target in &args.rtmp {
        let stored = config.stored_key_destination(target).filter(|d| !d.whip);
        let (url, ca_file, dynamic_bitrate) = match (config.destination(target), stored) {
            (Some(d), _) => (
                d.url.clone(),
                d.ca_file.clone().or_else(|| args.rtmp_ca.clone()),
                d.dynamic_bitrate || args.dynamic_bitrate,
            ),
            (None, Some(d)) => (
                d.rtmp_url(&destinations::stored_key(&config, &mut keys, d)?)
                    .map_err(|e| anyhow::anyhow!("destination \"{target}\": {e}"))?,
                d.ca_file.clone().or_else(|| args.rtmp_ca.clone()),
                d.dynamic_bitrate || args.dynamic_bitrate,
            ),
            (None, None) if target.contains("://") => (
                RtmpUrl::parse(target)?,
                args.rtmp_ca.clone(),
                args.dynamic_bitrate,
            ),
            (None, None) => bail!(
                "no destination named \"{target}\" in the config file, and it is not an rtmp:// URL"
            ),
        };
        if let Some(ca) = &ca_file {
            RtmpOutput::check_ca_file(ca)?;
        }
        outputs.push(OutputSpec::Rtmp {
            url,
            options: RtmpOptions {
                ca_file,
                reconnect: config.reconnect,
                dynamic_bitrate,
            },
        });
    }
    outputs.extend(destinations::whip_outputs(&args, &config, &mut keys)?);
    if let Some(dir) = &args.hls {
        outputs.push(OutputSpec::Hls {
            dir: dir.clone(),
            options: HlsOptions {
                window: args.hls_window,
                serve: args.serve,
            },
        });
    }
    if outputs.is_empty() {
        bail!("no output: add --record FILE.mp4 (or .flv), --rtmp URL, --whip URL or --hls DIR");
    }
    let mut stats: Option<StatsOut> = match args.stats.as_deref() {
        None => None,
        Some("-") => Some(Box::new(std::io::stdout())),
        Some(path) => Some(Box::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot write the stats file {path}"))?,
        )),
    };
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second Ctrl-C while stopping quits at once; the recordings stay playable.
        signal_hook::flag::register_conditional_shutdown(signal, 130, stop.clone())
            .context("cannot install the signal handler")?;
        signal_hook::flag::register(signal, stop.clone())
            .context("cannot install the signal handler")?;
    }

    let video = match args.video {
        Some(VideoSourceKind::ScreenWithCamera { screen, camera, .. }) => {
            VideoSourceKind::ScreenWithCamera {
                screen,
                camera,
                pip: args.pip,
            }
        }
        Some(other) => other,
        None => crate::scenes_cli::program(args.scene.as_deref(), &config, &preset)?
            .unwrap_or(VideoSourceKind::Test),
    };
    let engine = EngineHandle::start(EngineConfig {
        preset,
        video,
        audio,
        duration: args.duration,
        outputs,
        pacing: Pacing::RealTime,
        encoder_threads,
        video_tuning: None,
    })?;

    if let Some(control) = engine.scenes() {
        crate::scenes_cli::read_switches(control)?;
    }
    for o in &engine.snapshot().outputs {
        if let Some(url) = &o.url {
            eprintln!("preview: {url} (open it in a browser)");
        }
    }

    let view = engine.stats_view();
    let mut reports = Reports::default();
    let mut all_destinations_failed = false;
    while !stop.load(Ordering::Relaxed) && !engine.sources_finished() {
        std::thread::sleep(Duration::from_millis(20));
        if !(args.rtmp.is_empty() && args.whip.is_empty())
            && every_destination_failed_unsent(&engine.snapshot())
        {
            all_destinations_failed = true;
            break;
        }
        reports.tick(&view, &mut stats)?;
    }
    if stop.load(Ordering::Relaxed) {
        tracing::info!("stopping: finishing every output");
    }
    // The engine stops on a thread of its own, so that the stats go on while outputs flush
    // and finalize.
    let stopping = engine.stop_in_background()?;
    while !stopping.is_finished() {
        std::thread::sleep(Duration::from_millis(20));
        reports.tick(&view, &mut stats)?;
    }
    let last = stopping
        .join()
        .ok_or_else(|| anyhow::anyhow!("stopping the engine failed"))?;
    if let Some(out) = stats.as_mut() {
        reports.write(out.as_mut(), last.clone())?;
    }
    let mut failed = all_destinations_failed;
    if all_destinations_failed {
        eprintln!("error: every destination failed before anything was sent; stopped");
    }
    for o in &last.outputs {
        match o.state {
            OutputState::Failed => {
                failed = true;
                eprintln!(
                    "error: {}: {}",
                    o.name,
                    o.last_error.as_deref().unwrap_or("failed")
                );
            }
            // A destination that never went live is a failed broadcast, whatever else was
            // recorded (the recordings are kept): say which, and why.
            _ if matches!(o.kind, "rtmp" | "whip") && !o.went_live && !all_destinations_failed => {
                failed = true;
                eprintln!(
                    "error: {}: never went live ({}); nothing was sent to it",
                    o.name,
                    o.last_error
                        .as_deref()
                        .unwrap_or("still connecting when the broadcast stopped")
                );
            }
            _ => tracing::info!(output = %o.name, bytes = o.bytes, packets = o.packets, "done"),
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// True when there are network destinations (RTMP, WHIP) and every one has failed for good
/// without sending media.
fn every_destination_failed_unsent(s: &StatsSnapshot) -> bool {
    let mut network = s
        .outputs
        .iter()
        .filter(|o| o.kind == "rtmp" || o.kind == "whip")
        .peekable();
    network.peek().is_some() && network.all(|o| o.state == OutputState::Failed && o.packets == 0)
}

/// Where `--stats` lines go: a file or standard output.
type StatsOut = Box<dyn Write + Send>;

/// The `--stats` lines: one per second of engine time, and the last one at the end, each
/// with its rates over at least half a second.
#[derive(Default)]
struct Reports {
    /// The snapshots of the last reports, oldest first.
    earlier: std::collections::VecDeque<StatsSnapshot>,
    next: Option<MediaTime>,
}

impl Reports {
    /// Writes a report when its second has come.
    fn tick(&mut self, view: &StatsView, out: &mut Option<StatsOut>) -> anyhow::Result<()> {
        let next = *self.next.get_or_insert(MediaTime::from_secs(1));
        if view.now() < next {
            return Ok(());
        }
        self.next = Some(next + MediaTime::from_secs(1));
        match out {
            Some(out) => self.write(out.as_mut(), view.snapshot()),
            None => Ok(()),
        }
    }

    fn write(&mut self, out: &mut dyn Write, now: StatsSnapshot) -> anyhow::Result<()> {
        let base = StatsReport::baseline(self.earlier.iter(), &now);
        write_report(out, StatsReport::between(base, now.clone()))?;
        if self.earlier.len() == 2 {
            self.earlier.pop_front();
        }
        self.earlier.push_back(now);
        Ok(())
    }
}

fn write_report(out: &mut dyn Write, report: StatsReport) -> anyhow::Result<()> {
    serde_json::to_writer(&mut *out, &report)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}
