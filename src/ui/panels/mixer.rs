//! The audio mixer, as OBS's: the program's meters, a strip per source (name, meters with
//! peak, RMS and peak hold per channel, fader, mute, filters, properties: device, sync offset,
//! mono, balance, monitoring), the master fader and monitoring, adding and removing sources;
//! and each source's filters window. Everything acts at once, also while live.

use eframe::egui::{self, Color32, RichText};

use super::{ALARM, GOOD, WARN};
use crate::app::meter::{ERROR_DBFS, FLOOR_DBFS, Meter, WARNING_DBFS};
use crate::app::{Action, AppState};
use crate::capture::devices::{Device, Devices};
use crate::config::mixer::{
    FADER_MAX_DB, FADER_MIN_DB, Filter, Monitoring, OFFSET_MAX_MS, OFFSET_MIN_MS, SourceKind,
    SourceSettings,
};

/// Width of an audio meter's bar, points.
const METER_WIDTH: f32 = 200.0;

pub fn show(ui: &mut egui::Ui, app: &mut AppState, actions: &mut Vec<Action>) {
    ui.heading("Audio mixer");
    let running = app.view().levels.is_some();
    egui::Grid::new("program_meters")
        .num_columns(2)
        .show(ui, |ui| {
            for (i, name) in ["Program L", "Program R"].into_iter().enumerate() {
                ui.label(name);
                meter_bar(ui, &app.meters()[i], running);
                ui.end_row();
            }
        });
    let devices = app.view().devices.clone();
    let filters_open = app.filters_open().map(str::to_owned);
    let problem = app.mixer_problem().map(str::to_owned);
    let meters: Vec<Option<[Meter; 2]>> = app
        .settings
        .mixer
        .sources
        .iter()
        .map(|s| app.strip_meters().get(&s.name).copied())
        .collect();
    let mixer = &mut app.settings.mixer;
    if mixer.sources.is_empty() {
        ui.weak("No audio: add a source.");
    }
    for (s, m) in mixer.sources.iter_mut().zip(&meters) {
        let open = filters_open.as_deref() == Some(s.name.as_str());
        egui::Frame::group(ui.style()).show(ui, |ui| {
            strip(ui, s, m.as_ref(), devices.as_deref(), open, actions);
        });
    }
    egui::Grid::new("master").num_columns(2).show(ui, |ui| {
        let label = ui.label("Master");
        ui.horizontal(|ui| {
            ui.add(fader(&mut mixer.master_db)).labelled_by(label.id);
            ui.toggle_value(&mut mixer.master_muted, "Mute");
        });
        ui.end_row();
        let label = ui.label("Monitor through");
        let outputs = devices.as_deref().map_or(&[][..], |d| &d.outputs[..]);
        device_combo(
            ui,
            "monitor_device",
            &mut mixer.monitor_device,
            outputs,
            "Default output",
        )
        .labelled_by(label.id);
        ui.end_row();
        ui.label("");
        ui.checkbox(&mut mixer.monitor_program, "Hear the program")
            .on_hover_text("Play the program (after the limiter) through the monitoring device");
        ui.end_row();
    });
    ui.menu_button("Add source", |ui| {
        let kinds = [
            (SourceKind::Microphone, "Microphone"),
            (SourceKind::Desktop, "Desktop audio"),
            (SourceKind::Tone, "Sync tone"),
        ];
        for (kind, text) in kinds {
            if ui.button(text).clicked() {
                actions.push(Action::AddAudioSource(kind));
            }
        }
    });
    if let Some(p) = problem {
        ui.add(egui::Label::new(RichText::new(p).color(ALARM)).wrap());
    }
}

/// A fader: -100 to +26 dB with its value in figures.
fn fader(db: &mut f32) -> egui::Slider<'_> {
    egui::Slider::new(db, FADER_MIN_DB..=FADER_MAX_DB)
        .step_by(0.1)
        .fixed_decimals(1)
        .suffix(" dB")
}

/// One source's strip.
fn strip(
    ui: &mut egui::Ui,
    s: &mut SourceSettings,
    meters: Option<&[Meter; 2]>,
    devices: Option<&Devices>,
    filters_open: bool,
    actions: &mut Vec<Action>,
) {
    ui.horizontal(|ui| {
        ui.strong(&s.name);
        ui.weak(kind_text(s.kind));
    });
    ui.horizontal(|ui| {
        ui.toggle_value(&mut s.muted, "Mute")
            .on_hover_text("Mute this source (also while live)");
        let filters = if s.filters.is_empty() {
            "Filters".to_owned()
        } else {
            format!("Filters ({})", s.filters.len())
        };
        if ui.selectable_label(filters_open, filters).clicked() {
            actions.push(Action::ToggleFilters(s.name.clone()));
        }
        if ui
            .button("Remove source")
            .on_hover_text("Remove this source from the mixer")
            .clicked()
        {
            actions.push(Action::RemoveAudioSource(s.name.clone()));
        }
    });
    let rest = Meter::default();
    egui::Grid::new(("strip", &s.name))
        .num_columns(2)
        .show(ui, |ui| {
            for (c, name) in ["L", "R"].into_iter().enumerate() {
                ui.label(name);
                meter_bar(ui, meters.map_or(&rest, |m| &m[c]), meters.is_some());
                ui.end_row();
            }
            let label = ui.label("Fader");
            ui.add(fader(&mut s.volume_db)).labelled_by(label.id);
            ui.end_row();
        });
    egui::CollapsingHeader::new("Properties")
        .id_salt(("properties", &s.name))
        .show(ui, |ui| properties(ui, s, devices));
}

/// A source's device, sync offset, mono, balance and monitoring.
fn properties(ui: &mut egui::Ui, s: &mut SourceSettings, devices: Option<&Devices>) {
    egui::Grid::new(("properties_grid", &s.name))
        .num_columns(2)
        .show(ui, |ui| {
            let list = match s.kind {
                SourceKind::Microphone => Some((
                    devices.map_or(&[][..], |d| &d.microphones[..]),
                    "Default input",
                    "This microphone is not connected: pick another, or connect it and rescan",
                )),
                SourceKind::Desktop => Some((
                    devices.map_or(&[][..], |d| &d.desktop_audio[..]),
                    "Default output",
                    "This output is not found: pick another, or rescan",
                )),
                SourceKind::Tone | SourceKind::External => None,
            };
            if let Some((list, default, missing)) = list {
                let label = ui.label("Device");
                device_combo(ui, ("device", &s.name), &mut s.device, list, default)
                    .labelled_by(label.id);
                ui.end_row();
                // Checked when chosen, against the last listing.
                let wanted = s.device.trim();
                if devices.is_some() && !wanted.is_empty() && !list.iter().any(|d| d.id == wanted) {
                    ui.label("");
                    ui.add(egui::Label::new(RichText::new(missing).color(WARN)).wrap());
                    ui.end_row();
                }
            }
            let label = ui.label("Sync offset");
            ui.add(
                egui::DragValue::new(&mut s.sync_offset_ms)
                    .range(OFFSET_MIN_MS..=OFFSET_MAX_MS)
                    .suffix(" ms"),
            )
            .labelled_by(label.id)
            .on_hover_text("Positive: heard later (a microphone ahead of a late camera)");
            ui.end_row();
            ui.label("");
            ui.checkbox(&mut s.mono, "Mono");
            ui.end_row();
            let label = ui.label("Balance");
            ui.add(egui::Slider::new(&mut s.balance, -1.0..=1.0).step_by(0.01))
                .labelled_by(label.id);
            ui.end_row();
            let label = ui.label("Monitoring");
            let choices = [
                (Monitoring::Off, "Monitor off"),
                (Monitoring::MonitorOnly, "Monitor only (mute output)"),
                (Monitoring::MonitorAndOutput, "Monitor and output"),
            ];
            let selected = choices
                .iter()
                .find(|(m, _)| *m == s.monitoring)
                .map_or("", |(_, t)| t);
            egui::ComboBox::from_id_salt(("monitoring", &s.name))
                .selected_text(selected)
                .show_ui(ui, |ui| {
                    for (m, text) in choices {
                        ui.selectable_value(&mut s.monitoring, m, text);
                    }
                })
                .response
                .labelled_by(label.id);
            ui.end_row();
        });
}

/// A device choice: the default, then the listed devices by their names.
fn device_combo(
    ui: &mut egui::Ui,
    id: impl egui::AsIdSalt,
    value: &mut String,
    list: &[Device],
    default: &str,
) -> egui::Response {
    let selected = if value.trim().is_empty() {
        default.to_owned()
    } else {
        list.iter()
            .find(|d| d.id == value.trim())
            .map_or(value.clone(), |d| d.name.clone())
    };
    egui::ComboBox::from_id_salt(id)
        .selected_text(selected)
        .width(200.0)
        .truncate()
        .show_ui(ui, |ui| {
            ui.selectable_value(value, String::new(), default);
            for d in list {
                ui.selectable_value(value, d.id.clone(), &d.name)
                    .on_hover_text(&d.id);
            }
        })
        .response
}

fn kind_text(kind: SourceKind) -> &'static str {
    match kind {
        SourceKind::Microphone => "microphone",
        SourceKind::Desktop => "desktop audio",
        SourceKind::Tone => "tone",
        SourceKind::External => "file",
    }
}

/// The filters window of the source it is open for: each filter in chain order with its
/// parameters, moved, removed, added.
pub fn filters_window(ctx: &egui::Context, app: &mut AppState, actions: &mut Vec<Action>) {
    let Some(name) = app.filters_open().map(str::to_owned) else {
        return;
    };
    let Some(source) = app.settings.mixer.source_mut(&name) else {
        actions.push(Action::ToggleFilters(name));
        return;
    };
    let mut open = true;
    // Centred like a dialog: at egui's default place (top left) it covered Go live and Record.
    egui::Window::new(format!("Filters: {name}"))
        .open(&mut open)
        .pivot(egui::Align2::CENTER_CENTER)
        .default_pos(ctx.content_rect().center())
        .default_width(340.0)
        .show(ctx, |ui| {
            if source.filters.is_empty() {
                ui.weak("No filters: add one below. They apply in this order.");
            }
            let count = source.filters.len();
            for (i, f) in source.filters.iter_mut().enumerate() {
                egui::Frame::group(ui.style()).show(ui, |ui| {
                    ui.horizontal(|ui| {
                        ui.strong(format!("{}. {}", i + 1, f.title()));
                        let mv = |index, up| Action::MoveFilter {
                            source: name.clone(),
                            index,
                            up,
                        };
                        if ui
                            .add_enabled(i > 0, egui::Button::new("Move up").small())
                            .clicked()
                        {
                            actions.push(mv(i, true));
                        }
                        if ui
                            .add_enabled(i + 1 < count, egui::Button::new("Move down").small())
                            .clicked()
                        {
                            actions.push(mv(i, false));
                        }
                        if ui.small_button("Remove filter").clicked() {
                            actions.push(Action::RemoveFilter {
                                source: name.clone(),
                                index: i,
                            });
                        }
                    });
                    filter_parameters(ui, f, (&name, i));
                });
            }
            ui.menu_button("Add filter", |ui| {
                for f in Filter::ALL {
                    if ui.button(f.title()).clicked() {
                        actions.push(Action::AddFilter {
                            source: name.clone(),
                            kind: f.kind(),
                        });
                    }
                }
            });
        });
    if !open {
        actions.push(Action::ToggleFilters(name));
    }
}

/// One filter's parameters, in the ranges the mixer takes.
fn filter_parameters(ui: &mut egui::Ui, f: &mut Filter, id: impl egui::AsIdSalt) {
    let row = |ui: &mut egui::Ui, text: &str, value: &mut f32, lo: f32, hi: f32, unit: &str| {
        let label = ui.label(text);
        ui.add(
            egui::DragValue::new(value)
                .range(lo..=hi)
                .speed(0.1)
                .suffix(unit),
        )
        .labelled_by(label.id);
        ui.end_row();
    };
    egui::Grid::new(("filter", id))
        .num_columns(2)
        .show(ui, |ui| match f {
            Filter::Gain { db } => row(ui, "Gain", db, -30.0, 30.0, " dB"),
            Filter::NoiseGate(g) => {
                row(ui, "Close threshold", &mut g.close_db, -96.0, 0.0, " dB");
                row(ui, "Open threshold", &mut g.open_db, -96.0, 0.0, " dB");
                row(ui, "Attack", &mut g.attack_ms, 0.0, 10_000.0, " ms");
                row(ui, "Hold", &mut g.hold_ms, 0.0, 10_000.0, " ms");
                row(ui, "Release", &mut g.release_ms, 0.0, 10_000.0, " ms");
            }
            Filter::NoiseSuppression {} => {
                ui.weak("RNNoise: nothing to set");
                ui.end_row();
            }
            Filter::Compressor(c) => {
                row(ui, "Ratio", &mut c.ratio, 1.0, 32.0, ":1");
                row(ui, "Threshold", &mut c.threshold_db, -60.0, 0.0, " dB");
                row(ui, "Attack", &mut c.attack_ms, 0.0, 500.0, " ms");
                row(ui, "Release", &mut c.release_ms, 1.0, 1_000.0, " ms");
                row(ui, "Output gain", &mut c.output_db, -32.0, 32.0, " dB");
            }
        });
}

/// A meter: OBS's zones dimmed behind, the RMS bright and the peak lighter over them, the
/// peak-hold mark, and the held peak in figures.
fn meter_bar(ui: &mut egui::Ui, m: &Meter, running: bool) {
    // A fixed width: one taken from the grid's cell would feed back into the grid's column
    // sizes and make it lay out (and repaint) again every frame.
    let width = METER_WIDTH;
    let (rect, response) = ui.allocate_exact_size(egui::vec2(width, 12.0), egui::Sense::hover());
    let p = ui.painter();
    let x = |db: f32| rect.left() + rect.width() * Meter::fraction(db);
    let zones = [
        (FLOOR_DBFS, WARNING_DBFS, GOOD),
        (WARNING_DBFS, ERROR_DBFS, WARN),
        (ERROR_DBFS, 0.0, ALARM),
    ];
    for (from, to, colour) in zones {
        let zone = egui::Rect::from_x_y_ranges(x(from)..=x(to), rect.y_range());
        p.rect_filled(zone, 0.0, colour.gamma_multiply(0.25));
        let lit = |level: f32, strength: f32| {
            if level > from {
                let bar = egui::Rect::from_x_y_ranges(x(from)..=x(level.min(to)), rect.y_range());
                p.rect_filled(bar, 0.0, colour.gamma_multiply(strength));
            }
        };
        lit(m.peak_dbfs, 0.6);
        lit(m.rms_dbfs, 1.0);
    }
    if m.held_dbfs > FLOOR_DBFS {
        let hx = x(m.held_dbfs);
        let colour = if m.clipping() { ALARM } else { Color32::WHITE };
        p.line_segment(
            [egui::pos2(hx, rect.top()), egui::pos2(hx, rect.bottom())],
            egui::Stroke::new(2.0, colour),
        );
    }
    let text = if !running {
        "—".to_owned()
    } else if m.held_dbfs <= FLOOR_DBFS {
        "silent".to_owned()
    } else {
        format!("{:.1} dB", m.held_dbfs)
    };
    ui.label(RichText::new(text).monospace());
    response.on_hover_text("Peak (light), RMS (bright) and the peak of the last 3 s (mark)");
}
