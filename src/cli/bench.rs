//! `onair bench`: the flags checked, the bench folder made, the report printed as JSON.

use onair::bench::{BenchConfig, BenchOutput};

use super::*;

pub(super) fn bench(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(args.config.as_deref())?;
    let preset = config.preset(&args.preset)?.clone();
    let encoder_threads = encoder_threads(args.encoder_threads, &preset)?;
    let tuning = match &args.tune {
        Some(t) => Some(
            VideoTuning::for_source(&args.video, preset.width, preset.height, preset.fps)
                .with(t)
                .map_err(anyhow::Error::msg)?,
        ),
        None => None,
    };
    // Opening checks the file (format, size) before anything else starts.
    let file_frames = match &args.video {
        VideoSourceKind::Y4m(path) => Some(
            onair::capture::y4m::Y4mSource::open(path, preset.width, preset.height)?
                .frames_in_file(),
        ),
        _ => None,
    };
    let frames = match args.frames {
        Some(0) => bail!("--frames must be at least 1"),
        Some(n) => n,
        None => file_frames.unwrap_or(600),
    };
    let (dir, remove_after) = match &args.dir {
        Some(d) => (d.clone(), false),
        None => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let d =
                std::env::temp_dir().join(format!("onair-bench-{}-{nanos:x}", std::process::id()));
            (d, true)
        }
    };
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the bench folder {}", dir.display()))?;
    if std::fs::read_dir(&dir)?.next().is_some() {
        bail!("the bench folder {} is not empty", dir.display());
    }
    let mut outputs: Vec<BenchOutput> = Vec::new();
    for o in &args.outputs {
        let o = match o {
            OutputArg::Record => BenchOutput::Record,
            OutputArg::Flv => BenchOutput::Flv,
            OutputArg::Hls => BenchOutput::Hls,
        };
        if !outputs.contains(&o) {
            outputs.push(o);
        }
    }
    let result = onair::bench::run(&BenchConfig {
        preset,
        video: args.video,
        audio: args.audio,
        frames,
        outputs,
        dir: dir.clone(),
        encoder_threads,
        encoder_alone: !args.pipeline_only,
        rounds: args.rounds.max(1),
        tuning,
        quality: args.quality,
    });
    if remove_after {
        let _best_effort = std::fs::remove_dir_all(&dir);
    }
    let report = result?;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &report)?;
    writeln!(out)?;
    Ok(ExitCode::SUCCESS)
}
