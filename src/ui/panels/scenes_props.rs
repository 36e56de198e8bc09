//! The selected layer's properties: its source's (by kind: screen or window, camera, image
//! file, colour, text with size, colours and alignment) and the layer's own (position, size,
//! crop, fit). Edited on a copy; a change is an action, applied after the frame.

use eframe::egui::{self, Color32, RichText};

use super::ALARM;
use crate::app::studio::Edit;
use crate::app::{Action, AppState};
use crate::capture::devices::Devices;
use crate::capture::scene::Rgba;
use crate::config::scenes::{LayerFile, SourceFile};

pub fn show(ui: &mut egui::Ui, app: &AppState, index: usize, actions: &mut Vec<Action>) {
    let settings = &app.settings;
    let Some(layer) = settings
        .scenes
        .iter()
        .find(|s| s.name == settings.scene)
        .and_then(|s| s.layers.get(index))
    else {
        return;
    };
    let Some(si) = settings.sources.iter().position(|s| s.name == layer.source) else {
        return;
    };
    let source = &settings.sources[si];
    let devices = app.view().devices.clone();
    ui.strong(format!("{} ({})", source.name, kind_name(&source.kind)));
    let mut s = source.clone();
    egui::Grid::new("source_props")
        .num_columns(2)
        .show(ui, |ui| {
            let label = ui.label("Name");
            ui.text_edit_singleline(&mut s.name).labelled_by(label.id);
            ui.end_row();
            source_fields(ui, &mut s, si, devices.as_deref(), actions);
        });
    let about = format!("source \"{}\"", source.name);
    if let Some(p) = app.studio().problem.as_ref().filter(|p| p.place == about) {
        ui.label(RichText::new(p.to_string()).color(ALARM));
    }
    if s != *source && !s.name.trim().is_empty() {
        actions.push(Action::Studio(Edit::Source {
            index: si,
            source: Box::new(s),
        }));
    }
    ui.strong("Layer");
    let mut l = layer.clone();
    egui::Grid::new("layer_props")
        .num_columns(2)
        .show(ui, |ui| {
            layer_fields(ui, &mut l);
        });
    if l != *layer {
        actions.push(Action::Studio(Edit::Layer { index, layer: l }));
    }
}

fn kind_name(kind: &str) -> &str {
    match kind {
        "test" => "test pattern",
        k => k,
    }
}

fn source_fields(
    ui: &mut egui::Ui,
    s: &mut SourceFile,
    index: usize,
    devices: Option<&Devices>,
    actions: &mut Vec<Action>,
) {
    match s.kind.as_str() {
        "screen" => {
            let label = ui.label("Screen");
            let screens = devices.map_or(&[][..], |d| &d.screens[..]);
            let now = s.monitor.unwrap_or(0);
            egui::ComboBox::from_id_salt("prop_screen")
                .selected_text(format!("Screen {now}"))
                .show_ui(ui, |ui| {
                    for d in screens {
                        let i = d.id.parse().unwrap_or(0);
                        let text = format!("Screen {}: {} ({})", d.id, d.name, d.detail);
                        ui.selectable_value(&mut s.monitor, Some(i), text);
                    }
                })
                .response
                .labelled_by(label.id);
            ui.end_row();
        }
        "window" => {
            let label = ui.label("Window");
            let windows = devices.map_or(&[][..], |d| &d.windows[..]);
            let now = s.window.clone().unwrap_or_else(|| "choose one".into());
            egui::ComboBox::from_id_salt("prop_window")
                .selected_text(now)
                .width(220.0)
                .truncate()
                .show_ui(ui, |ui| {
                    for d in windows {
                        let text = format!("{} ({})", d.name, d.detail);
                        ui.selectable_value(&mut s.window, Some(d.id.clone()), text);
                    }
                })
                .response
                .labelled_by(label.id);
            ui.end_row();
        }
        "camera" => {
            let label = ui.label("Camera");
            let cameras = devices.map_or(&[][..], |d| &d.cameras[..]);
            let now = s.camera.clone().unwrap_or_else(|| "0".into());
            let shown = cameras
                .iter()
                .find(|c| c.id == now)
                .map_or(format!("Camera {now}"), |c| c.name.clone());
            egui::ComboBox::from_id_salt("prop_camera")
                .selected_text(shown)
                .show_ui(ui, |ui| {
                    for d in cameras {
                        ui.selectable_value(&mut s.camera, Some(d.id.clone()), &d.name);
                    }
                })
                .response
                .labelled_by(label.id);
            ui.end_row();
        }
        "image" => {
            let label = ui.label("Image file");
            ui.horizontal(|ui| {
                let mut path = s
                    .path
                    .as_deref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                let r = ui.add(
                    egui::TextEdit::singleline(&mut path)
                        .hint_text("PNG, JPEG, WebP or GIF")
                        .desired_width(180.0),
                );
                if r.labelled_by(label.id).changed() {
                    s.path = (!path.is_empty()).then(|| path.into());
                }
                if ui.button("Browse…").clicked() {
                    actions.push(Action::PickImage(index));
                }
            });
            ui.end_row();
        }
        "video" => {
            let label = ui.label("Video file");
            let mut path = s
                .path
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            let r = ui.add(
                egui::TextEdit::singleline(&mut path)
                    .hint_text("MP4: H.264 (no B-frames), AAC")
                    .desired_width(220.0),
            );
            if r.labelled_by(label.id).changed() {
                s.path = (!path.is_empty()).then(|| path.into());
            }
            ui.end_row();
            ui.label("");
            ui.weak("Plays in a loop; heard while on the program");
            ui.end_row();
        }
        "colour" | "color" => {
            ui.label("Colour");
            colour_field(ui, &mut s.colour, Rgba([0xd1, 0xd1, 0xd1, 255]));
            ui.end_row();
        }
        "text" => {
            let label = ui.label("Text");
            let mut text = s.text.clone().unwrap_or_default();
            if ui
                .add(egui::TextEdit::multiline(&mut text).desired_rows(2))
                .labelled_by(label.id)
                .changed()
            {
                s.text = Some(text);
            }
            ui.end_row();
            let label = ui.label("Size");
            let mut size = s.size.unwrap_or(48);
            ui.add(
                egui::DragValue::new(&mut size)
                    .range(4..=1000)
                    .suffix(" px"),
            )
            .labelled_by(label.id);
            if size != s.size.unwrap_or(48) {
                s.size = Some(size);
            }
            ui.end_row();
            ui.label("Colour");
            colour_field(ui, &mut s.colour, Rgba::WHITE);
            ui.end_row();
            ui.label("Background");
            ui.horizontal(|ui| {
                let mut boxed = s.background.is_some();
                ui.checkbox(&mut boxed, "Box");
                if boxed && s.background.is_none() {
                    s.background = Some("#000000B0".into());
                } else if !boxed {
                    s.background = None;
                }
                if boxed {
                    colour_field(ui, &mut s.background, Rgba([0, 0, 0, 0xb0]));
                }
            });
            ui.end_row();
            choice(ui, "Alignment", &mut s.align, &["left", "center", "right"]);
            ui.label("Outline");
            ui.horizontal(|ui| {
                let mut lined = s.outline.is_some();
                ui.checkbox(&mut lined, "Outline");
                if lined && s.outline.is_none() {
                    s.outline = Some("#000000FF".into());
                } else if !lined {
                    s.outline = None;
                    s.outline_width = None;
                }
                if lined {
                    colour_field(ui, &mut s.outline, Rgba([0, 0, 0, 255]));
                    let mut w = s.outline_width.unwrap_or(2);
                    ui.add(egui::DragValue::new(&mut w).range(1..=50).suffix(" px"));
                    if w != s.outline_width.unwrap_or(2) {
                        s.outline_width = Some(w);
                    }
                }
            });
            ui.end_row();
            let label = ui.label("Countdown");
            let mut countdown = s.countdown.clone().unwrap_or_default();
            if ui
                .add(
                    egui::TextEdit::singleline(&mut countdown)
                        .hint_text("MM:SS")
                        .desired_width(80.0),
                )
                .labelled_by(label.id)
                .changed()
            {
                s.countdown = (!countdown.is_empty()).then_some(countdown);
            }
            ui.end_row();
            ui.label("");
            ui.weak("{clock}: the time, {elapsed}: the program's time, {countdown}: time left");
            ui.end_row();
        }
        _ => {}
    }
}

/// A colour button over a `#RRGGBBAA` field (a colour not parsed shows `default`).
fn colour_field(ui: &mut egui::Ui, field: &mut Option<String>, default: Rgba) {
    let Rgba([r, g, b, a]) = field.as_deref().and_then(Rgba::parse).unwrap_or(default);
    let mut c = Color32::from_rgba_unmultiplied(r, g, b, a);
    if ui.color_edit_button_srgba(&mut c).changed() {
        let [r, g, b, a] = c.to_srgba_unmultiplied();
        *field = Some(format!("#{r:02X}{g:02X}{b:02X}{a:02X}"));
    }
}

fn layer_fields(ui: &mut egui::Ui, l: &mut LayerFile) {
    let label = ui.label("Position");
    ui.horizontal(|ui| {
        ui.add(
            egui::DragValue::new(&mut l.x)
                .range(-32_768..=32_768)
                .prefix("x "),
        )
        .labelled_by(label.id);
        ui.add(
            egui::DragValue::new(&mut l.y)
                .range(-32_768..=32_768)
                .prefix("y "),
        )
        .labelled_by(label.id);
    });
    ui.end_row();
    let label = ui.label("Size");
    ui.horizontal(|ui| {
        let mut own = l.width.is_none() || l.height.is_none();
        ui.checkbox(&mut own, "Own size");
        if own {
            l.width = None;
            l.height = None;
        } else {
            let mut w = l.width.unwrap_or(320);
            let mut h = l.height.unwrap_or(180);
            ui.add(egui::DragValue::new(&mut w).range(2..=16_384).prefix("w "))
                .labelled_by(label.id);
            ui.add(egui::DragValue::new(&mut h).range(2..=16_384).prefix("h "))
                .labelled_by(label.id);
            l.width = Some(w);
            l.height = Some(h);
        }
    });
    ui.end_row();
    let label = ui.label("Crop");
    ui.horizontal(|ui| {
        let c = &mut l.crop;
        for (v, p) in [
            (&mut c.left, "l "),
            (&mut c.top, "t "),
            (&mut c.right, "r "),
            (&mut c.bottom, "b "),
        ] {
            ui.add(egui::DragValue::new(v).range(0..=16_384).prefix(p))
                .labelled_by(label.id);
        }
    });
    ui.end_row();
    choice(ui, "Fit", &mut l.fit, &["fit", "fill", "stretch"]);
}

/// A labelled row choosing one of `options` (unset reads as the first), then the row's end.
fn choice(ui: &mut egui::Ui, label: &str, field: &mut Option<String>, options: &[&str]) {
    let label = ui.label(label);
    let now = field.clone().unwrap_or_else(|| options[0].to_owned());
    egui::ComboBox::from_id_salt(("prop", label.id))
        .selected_text(&now)
        .show_ui(ui, |ui| {
            for &o in options {
                ui.selectable_value(field, Some(o.to_owned()), o);
            }
        })
        .response
        .labelled_by(label.id);
    ui.end_row();
}
