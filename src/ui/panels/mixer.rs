//! The audio mixer: the program audio's meters and the microphone's gain and mute.

use eframe::egui::{self, Color32, RichText};

use super::{ALARM, GOOD, WARN};
use crate::app::AppState;
use crate::app::meter::{ERROR_DBFS, FLOOR_DBFS, Meter, WARNING_DBFS};
use crate::app::settings::{AudioChoice, MIC_GAIN_RANGE_DB};

/// Width of an audio meter's bar, points.
const METER_WIDTH: f32 = 220.0;

/// The program audio's meters (left, right) and the microphone's mute and gain, which act at
/// once, also while live.
pub fn show(ui: &mut egui::Ui, app: &mut AppState) {
    ui.heading("Audio");
    let mic = matches!(
        app.settings.audio,
        AudioChoice::Microphone | AudioChoice::MicrophoneAndTone
    );
    egui::Grid::new("mixer").num_columns(2).show(ui, |ui| {
        for (i, name) in ["L", "R"].into_iter().enumerate() {
            ui.label(name);
            meter_bar(ui, &app.meters()[i], app.view().levels.is_some());
            ui.end_row();
        }
        let label = ui.label("Mic gain");
        ui.add_enabled_ui(mic, |ui| {
            ui.horizontal(|ui| {
                ui.add(
                    egui::Slider::new(&mut app.settings.mic_gain_db, MIC_GAIN_RANGE_DB)
                        .step_by(0.5)
                        .suffix(" dB"),
                )
                .labelled_by(label.id);
                ui.toggle_value(&mut app.settings.mic_muted, "Mute")
                    .on_hover_text("Mute the microphone (also while live)");
            });
        });
        ui.end_row();
    });
    if !mic {
        ui.weak("Gain and mute are the microphone's: pick one as the audio.");
    }
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
