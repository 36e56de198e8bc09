//! `onair presets` and `onair devices`: a table, or JSON with `--json`.

use super::*;

pub(super) fn presets(json: bool, config: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let config = Config::load(config.as_deref())?;
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &config.presets)?;
        writeln!(out)?;
    } else {
        writeln!(
            out,
            "{:<14} {:>9} {:>4} {:>10} {:>10} {:>9}  source",
            "name", "size", "fps", "video", "audio", "keyframe"
        )?;
        for p in &config.presets {
            writeln!(
                out,
                "{:<14} {:>9} {:>4} {:>5} kbps {:>5} kbps {:>7} s  {}",
                p.name,
                format!("{}x{}", p.width, p.height),
                p.fps,
                p.video_kbps,
                p.audio_kbps,
                p.keyframe_interval_s,
                if p.builtin { "built-in" } else { "config" }
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn devices(json: bool) -> anyhow::Result<ExitCode> {
    let d = onair::capture::devices::list();
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &d)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    let groups = [
        ("screens", "screen:", &d.screens),
        ("windows", "window:", &d.windows),
        ("cameras", "camera:", &d.cameras),
        ("microphones", "mic:", &d.microphones),
        ("desktop audio", "desktop:", &d.desktop_audio),
        ("outputs", "", &d.outputs),
    ];
    for (title, prefix, list) in groups {
        writeln!(out, "{title}:")?;
        if list.is_empty() {
            writeln!(out, "  (none)")?;
        }
        for dev in list {
            let detail = if dev.detail.is_empty() {
                String::new()
            } else {
                format!("  ({})", dev.detail)
            };
            writeln!(out, "  {prefix}{:<12} {}{detail}", dev.id, dev.name)?;
        }
    }
    for e in &d.errors {
        writeln!(out, "note: {e}")?;
    }
    Ok(ExitCode::SUCCESS)
}
