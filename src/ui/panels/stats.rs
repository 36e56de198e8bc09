//! The stats: CPU, memory, frame rate, encode time, skipped frames; per output its state,
//! drops, bitrate, data and congestion; the bitrate and encode-time graphs.

use eframe::egui::{self, Color32};
use egui_plot::{Legend, Line, Plot, PlotPoints};

use super::{ALARM, GOOD, WARN, bytes, live_state};
use crate::app::desktop::ShowOutcome;
use crate::app::{Action, SessionView};
use crate::config::Preset;
use crate::output::OutputSnapshot;

/// OBS's colours: warn above the first threshold, alarm above the second.
fn level(value: f64, warn: f64, alarm: f64) -> Color32 {
    if value > alarm {
        ALARM
    } else if value > warn {
        WARN
    } else {
        Color32::PLACEHOLDER
    }
}

/// The scene on the program, quoted; `"A" -> "B"` during a fade from A to B.
fn program_scene(view: &SessionView) -> Option<String> {
    let now = view.current_scene.as_deref()?;
    Some(match view.fading_from.as_deref() {
        Some(from) if from != now => format!("\"{from}\" -> \"{now}\""),
        _ => format!("\"{now}\""),
    })
}

pub fn show(
    ui: &mut egui::Ui,
    view: &SessionView,
    recording: Option<(&std::path::Path, Option<&ShowOutcome>)>,
    presets: &[Preset],
    actions: &mut Vec<Action>,
) {
    ui.heading("Stats");
    let preset = presets
        .iter()
        .find(|p| Some(&p.name) == view.preset.as_ref());
    egui::Grid::new("engine_stats")
        .num_columns(2)
        .striped(true)
        .show(ui, |ui| {
            ui.label("CPU usage");
            ui.label(
                view.cpu_percent
                    .map_or("– (measured while running)".into(), |c| {
                        let cores = view.cpu_cores;
                        let of = if cores == 1 {
                            "1 core".to_owned()
                        } else {
                            format!("{cores} cores")
                        };
                        format!("{c:.1} % of the machine ({of})")
                    }),
            );
            ui.end_row();
            ui.label("Memory");
            ui.label(view.memory_bytes.map_or("–".into(), bytes));
            ui.end_row();
            if let Some(scene) = program_scene(view) {
                ui.label("Scene on the program");
                ui.label(scene);
                ui.end_row();
            }
            // The encoder's figures while it runs (while an output does).
            if let (Some(s), Some(p), true) = (&view.stats, &preset, view.encoding) {
                let target = f64::from(p.fps);
                ui.label("FPS");
                let fps_colour = if view.fps < 0.8 * target {
                    ALARM
                } else if view.fps < 0.95 * target {
                    WARN
                } else {
                    Color32::PLACEHOLDER
                };
                ui.colored_label(fps_colour, format!("{:.1} / {}", view.fps, p.fps));
                ui.end_row();
                let interval_ms = 1000.0 / target;
                ui.label("Encode time per frame");
                ui.colored_label(
                    level(view.encode_ms, 0.75 * interval_ms, interval_ms),
                    format!("{:.2} ms", view.encode_ms),
                );
                ui.end_row();
                let total = (s.video.captured).max(1) as f64;
                let skipped = s.video.dropped_encoder_queue + s.video.encoder_skipped;
                let pct = skipped as f64 / total * 100.0;
                ui.label("Frames skipped (encoding lag)");
                ui.colored_label(level(pct, 1.0, 5.0), format!("{skipped} ({pct:.1} %)"));
                ui.end_row();
            }
        });
    let outputs: Vec<&OutputSnapshot> = view
        .destinations
        .iter()
        .filter_map(|d| d.output.as_ref())
        .chain(view.recording_output.as_ref())
        .chain(view.preview_output.as_ref())
        .collect();
    if !outputs.is_empty() {
        ui.add_space(6.0);
        egui::Grid::new("output_stats")
            .striped(true)
            .show(ui, |ui| {
                for h in [
                    "output",
                    "status",
                    "dropped (network)",
                    "bitrate",
                    "total data",
                    "congestion",
                ] {
                    ui.strong(h);
                }
                ui.end_row();
                for o in outputs {
                    ui.label(display_name(view, &o.name));
                    let (text, colour) = live_state(Some(o));
                    ui.colored_label(
                        colour,
                        if o.kind == "rtmp" {
                            text
                        } else {
                            format!("{:?}", o.state).to_lowercase()
                        },
                    );
                    let sent = o.packets.max(1) as f64;
                    let pct = o.dropped_network as f64 / sent * 100.0;
                    ui.colored_label(
                        level(pct, 1.0, 5.0),
                        format!("{} ({pct:.1} %)", o.dropped_network),
                    );
                    let kbps = view
                        .history
                        .back()
                        .and_then(|h| h.bitrates.iter().find(|(n, _)| *n == o.name))
                        .map_or(0.0, |(_, k)| *k);
                    ui.label(format!("{kbps:.0} kbit/s"));
                    ui.label(bytes(o.bytes));
                    let c = o.congestion_milli as f64 / 1000.0;
                    let colour = if c >= 0.67 {
                        ALARM
                    } else if c >= 0.33 {
                        WARN
                    } else {
                        GOOD
                    };
                    ui.colored_label(colour, format!("{:.0} %", c * 100.0));
                    ui.end_row();
                }
            });
    }
    // The recording being written, else the last one saved: where it is.
    if let Some((file, shown)) = recording {
        ui.add_space(6.0);
        ui.horizontal_wrapped(|ui| {
            ui.label("Recording:");
            ui.add(egui::Label::new(file.display().to_string()).truncate());
        });
        super::toasts::open_buttons(ui, file, shown, actions);
    }
    if view.history.len() > 1 {
        ui.add_space(6.0);
        ui.label("Bitrate per output (kbit/s), last 5 minutes");
        let mut names: Vec<String> = Vec::new();
        for p in &view.history {
            for (n, _) in &p.bitrates {
                if !names.contains(n) {
                    names.push(n.clone());
                }
            }
        }
        Plot::new("bitrates")
            .height(140.0)
            .allow_scroll(false)
            .legend(Legend::default())
            .show(ui, |plot| {
                for name in &names {
                    let points: Vec<[f64; 2]> = view
                        .history
                        .iter()
                        .filter_map(|p| {
                            p.bitrates
                                .iter()
                                .find(|(n, _)| n == name)
                                .map(|(_, k)| [p.t, *k])
                        })
                        .collect();
                    let shown = display_name(view, name);
                    plot.line(Line::new(shown, PlotPoints::from(points)));
                }
            });
        ui.label("Encode time per frame (ms)");
        Plot::new("encode_time")
            .height(110.0)
            .allow_scroll(false)
            .show(ui, |plot| {
                let points: Vec<[f64; 2]> =
                    view.history.iter().map(|p| [p.t, p.encode_ms]).collect();
                plot.line(Line::new("encode", PlotPoints::from(points)));
            });
    }
}

/// What the person calls an output: a destination's name, "Recording" and its file, "Browser
/// preview" (the engine names outputs by URL or path).
fn display_name(view: &SessionView, output: &str) -> String {
    if let Some(d) = view
        .destinations
        .iter()
        .find(|d| d.output.as_ref().is_some_and(|o| o.name == output))
    {
        return d.name.clone();
    }
    if view
        .recording_output
        .as_ref()
        .is_some_and(|o| o.name == output)
    {
        let file = view
            .recording_path
            .as_ref()
            .and_then(|p| p.file_name())
            .map(|f| f.to_string_lossy().into_owned());
        return match file {
            Some(f) => format!("Recording ({f})"),
            None => "Recording".into(),
        };
    }
    if view
        .preview_output
        .as_ref()
        .is_some_and(|o| o.name == output)
    {
        return "Browser preview".into();
    }
    output.to_owned()
}

#[cfg(test)]
mod tests {
    use egui_kittest::Harness;
    use egui_kittest::kittest::Queryable as _;

    use super::*;

    fn panel(view: SessionView) -> Harness<'static, SessionView> {
        Harness::new_ui_state(
            |ui, view: &mut SessionView| show(ui, view, None, &[], &mut Vec::new()),
            view,
        )
    }

    #[test]
    fn the_stats_name_the_scene_on_the_program_and_a_fade_as_from_to() {
        let mut h = panel(SessionView {
            current_scene: Some("Live".into()),
            ..SessionView::default()
        });
        h.run();
        h.get_by_label("Scene on the program");
        h.get_by_label("\"Live\"");
        h.state_mut().fading_from = Some("Starting soon".into());
        h.run();
        h.get_by_label("\"Starting soon\" -> \"Live\"");
        assert!(h.query_by_label("\"Live\"").is_none());
        // Not made of scenes: no row.
        h.state_mut().current_scene = None;
        h.run();
        assert!(h.query_by_label("Scene on the program").is_none());
    }
}
