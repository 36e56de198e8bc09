//! The command line's scenes: `onair scenes`, `broadcast --scene NAME`, and switches read
//! from standard input while broadcasting.
//!
//! Switches come as lines on standard input (`scene NAME`, `cut NAME`, `fade MS NAME`): a
//! line carries a scene's name (a signal could not), works the same on every platform and
//! from any script or terminal, and answers on standard error. End of input only ends the
//! reading; the broadcast goes on.

use std::io::{BufRead as _, Write as _};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use onair::capture::VideoSourceKind;
use onair::capture::scene::{Collection, Fit, SourceKind, parse_command};
use onair::capture::studio::SceneControl;
use onair::config::{Config, Preset};

/// The configured scenes, else the built-in ones (today's `--video` choices) at `preset`'s
/// size.
pub fn collection(config: &Config, preset: &Preset) -> Collection {
    config
        .scenes
        .clone()
        .unwrap_or_else(|| Collection::builtin(preset.width, preset.height))
}

/// The program for `--scene NAME` (or the config's first scene when it has scenes and no
/// `--video` was given): `None` when neither applies.
pub fn program(
    scene: Option<&str>,
    config: &Config,
    preset: &Preset,
) -> anyhow::Result<Option<VideoSourceKind>> {
    let collection = collection(config, preset);
    let start = match scene {
        Some(name) => collection.scene(name).with_context(|| {
            format!(
                "no scene \"{name}\"; the scenes are: {} (`onair scenes` lists them)",
                collection.scene_names()
            )
        })?,
        // The window's scene on its program, if the file still has it; else the first.
        None if config.scenes.is_some() => config
            .program
            .scene
            .as_deref()
            .and_then(|name| collection.scene(name))
            .unwrap_or(0),
        None => return Ok(None),
    };
    // The built-in scenes are today's choices: only the chosen one's devices are opened.
    let (collection, start) = if collection.builtin {
        (collection.only(start), 0)
    } else {
        (collection, start)
    };
    Ok(Some(VideoSourceKind::Scenes {
        collection: Box::new(collection),
        start,
    }))
}

/// Reads switch commands from standard input on a thread of its own (`cli-stdin`) until
/// the input ends.
pub fn read_switches(control: Arc<SceneControl>) -> anyhow::Result<()> {
    std::thread::Builder::new()
        .name("cli-stdin".into())
        .spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if line.trim().is_empty() {
                    continue;
                }
                let answer = parse_command(&line).and_then(|(name, transition)| {
                    control
                        .switch(&name, transition)
                        .map(|()| match transition {
                            Some(t) => format!("scene: \"{name}\" ({t})"),
                            None => format!("scene: \"{name}\""),
                        })
                        .map_err(|e| e.to_string())
                });
                match answer {
                    Ok(msg) => eprintln!("{msg}"),
                    Err(e) => eprintln!("error: {e}"),
                }
            }
        })
        .context("cannot start the thread that reads scene switches")?;
    Ok(())
}

/// `onair scenes`: the scenes and their layers, as a table or JSON.
pub fn list(json: bool, config: &Config, preset: &Preset) -> anyhow::Result<ExitCode> {
    let c = collection(config, preset);
    let mut out = std::io::stdout().lock();
    let fit = |f: Fit| match f {
        Fit::Fit => "fit",
        Fit::Fill => "fill",
        Fit::Stretch => "stretch",
    };
    if json {
        let scenes: Vec<_> = c
            .scenes
            .iter()
            .map(|s| {
                let layers: Vec<_> = s
                    .layers
                    .iter()
                    .map(|l| {
                        let src = &c.sources[l.source];
                        serde_json::json!({
                            "source": src.name,
                            "kind": src.kind.name(),
                            "x": l.x,
                            "y": l.y,
                            "width": l.size.map(|s| s.0),
                            "height": l.size.map(|s| s.1),
                            "crop": [l.crop.left, l.crop.top, l.crop.right, l.crop.bottom],
                            "fit": fit(l.fit),
                            "visible": l.visible,
                        })
                    })
                    .collect();
                serde_json::json!({ "name": s.name, "layers": layers })
            })
            .collect();
        let doc = serde_json::json!({
            "builtin": c.builtin,
            "transition": c.transition.to_string(),
            "scenes": scenes,
        });
        serde_json::to_writer_pretty(&mut out, &doc)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    if c.builtin {
        writeln!(
            out,
            "built-in scenes (add [[sources]] and [[scenes]] to config.toml for your own):"
        )?;
    }
    for s in &c.scenes {
        writeln!(out, "{}", s.name)?;
        for l in &s.layers {
            let src = &c.sources[l.source];
            let size = l.size.map_or_else(
                || {
                    if matches!(src.kind, SourceKind::Image(_) | SourceKind::Text(_)) {
                        "own size".to_owned()
                    } else {
                        "full".to_owned()
                    }
                },
                |(w, h)| format!("{w}x{h}"),
            );
            writeln!(
                out,
                "  {:<20} {:<7} at {},{} {size} {}{}",
                src.name,
                src.kind.name(),
                l.x,
                l.y,
                fit(l.fit),
                if l.visible { "" } else { " (hidden)" }
            )?;
        }
    }
    writeln!(out, "transition: {}", c.transition)?;
    Ok(ExitCode::SUCCESS)
}
