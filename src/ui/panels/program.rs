//! The program: the preset, the video source and its devices (fixed while anything runs),
//! with why a wanted kind of device is missing (the audio sources are in the mixer).

use eframe::egui::{self, RichText};

use super::WARN;
use crate::app::settings::{ScreenChoice, VideoChoice};
use crate::app::{Action, AppState};
use crate::capture::Corner;
use crate::capture::devices::Devices;
use crate::config::Preset;
use crate::config::mixer::SourceKind;

pub fn show(ui: &mut egui::Ui, app: &mut AppState, presets: &[Preset], actions: &mut Vec<Action>) {
    ui.heading("Program");
    // The program runs from the start; its preset and sources stay while an output runs.
    let running = app.view().outputs_running();
    let devices = app.view().devices.clone();
    let listing = app.view().listing_devices;
    // The mixer has sources whose devices are listed (their choices are in the mixer).
    let audio_devices = app
        .settings
        .mixer
        .sources
        .iter()
        .any(|s| matches!(s.kind, SourceKind::Microphone | SourceKind::Desktop));
    egui::Grid::new("program").num_columns(2).show(ui, |ui| {
        let label = ui.label("Preset");
        ui.add_enabled_ui(!running, |ui| {
            egui::ComboBox::from_id_salt("preset")
                .selected_text(&app.settings.preset)
                .show_ui(ui, |ui| {
                    for p in presets {
                        let text = format!(
                            "{}  ({}×{} {} fps, {} kbit/s)",
                            p.name, p.width, p.height, p.fps, p.video_kbps
                        );
                        ui.selectable_value(&mut app.settings.preset, p.name.clone(), text);
                    }
                })
                .response
                .labelled_by(label.id);
        });
        ui.end_row();

        let s = &mut app.settings;
        let label = ui.label("Video");
        ui.add_enabled_ui(!running, |ui| {
            let choices = [
                (VideoChoice::TestPattern, "Test pattern"),
                (VideoChoice::Screen, "Screen or window"),
                (VideoChoice::Camera, "Camera"),
                (VideoChoice::ScreenAndCamera, "Screen + camera"),
                (VideoChoice::None, "None"),
            ];
            choose(ui, "video", &mut s.video, &choices, label.id);
        });
        ui.end_row();
        let screen = matches!(s.video, VideoChoice::Screen | VideoChoice::ScreenAndCamera);
        let camera = matches!(s.video, VideoChoice::Camera | VideoChoice::ScreenAndCamera);
        if screen {
            let label = ui.label("Screen");
            ui.add_enabled_ui(!running, |ui| {
                egui::ComboBox::from_id_salt("screen")
                    .selected_text(screen_name(&s.screen, devices.as_deref()))
                    .width(220.0)
                    .truncate()
                    .show_ui(ui, |ui| {
                        for d in devices.iter().flat_map(|d| &d.screens) {
                            let choice = ScreenChoice::Monitor(d.id.parse().unwrap_or(0));
                            let text = format!("Screen {}: {} ({})", d.id, d.name, d.detail);
                            ui.selectable_value(&mut s.screen, choice, text);
                        }
                        for d in devices.iter().flat_map(|d| &d.windows) {
                            let choice = ScreenChoice::Window(d.id.clone());
                            ui.selectable_value(&mut s.screen, choice, window_name(d));
                        }
                    })
                    .response
                    .labelled_by(label.id);
            });
            ui.end_row();
            if let Some(why) = missing_screen(&s.screen, devices.as_deref()) {
                ui.label("");
                ui.add(egui::Label::new(RichText::new(why).color(WARN)).wrap());
                ui.end_row();
            }
        }
        if camera {
            let label = ui.label("Camera");
            ui.add_enabled_ui(!running, |ui| {
                let cameras = devices.as_deref().map_or(&[][..], |d| &d.cameras[..]);
                let selected = match cameras.iter().find(|c| c.id == s.camera.to_string()) {
                    Some(c) => c.name.clone(),
                    None if devices.is_some() && cameras.is_empty() => "No camera found".into(),
                    None => format!("Camera {}", s.camera),
                };
                egui::ComboBox::from_id_salt("camera")
                    .selected_text(selected)
                    .width(220.0)
                    .truncate()
                    .show_ui(ui, |ui| {
                        for d in cameras {
                            let index = d.id.parse().unwrap_or(0);
                            ui.selectable_value(&mut s.camera, index, &d.name);
                        }
                    })
                    .response
                    .labelled_by(label.id);
            });
            ui.end_row();
            // Checked when chosen, not when Record is pressed.
            let found = devices
                .as_deref()
                .map(|d| d.cameras.iter().any(|c| c.id == s.camera.to_string()));
            if found == Some(false) {
                let why = if devices.as_deref().is_some_and(|d| d.cameras.is_empty()) {
                    "No camera found: connect one and rescan, or pick another video source"
                } else {
                    "This camera is not connected: pick another, or connect it and rescan"
                };
                ui.label("");
                ui.add(egui::Label::new(RichText::new(why).color(WARN)).wrap());
                ui.end_row();
            }
        }
        if s.video == VideoChoice::ScreenAndCamera {
            let label = ui.label("Camera box");
            ui.add_enabled_ui(!running, |ui| {
                ui.horizontal(|ui| {
                    let corners = [
                        (Corner::TopLeft, "Top left"),
                        (Corner::TopRight, "Top right"),
                        (Corner::BottomLeft, "Bottom left"),
                        (Corner::BottomRight, "Bottom right"),
                    ];
                    choose(ui, "pip_corner", &mut s.pip_corner, &corners, label.id);
                    ui.add(
                        egui::Slider::new(&mut s.pip_percent, 5..=100)
                            .suffix(" % wide")
                            .text(""),
                    )
                    .labelled_by(label.id);
                });
            });
            ui.end_row();
        }

        if screen || camera || audio_devices {
            ui.label("");
            ui.horizontal(|ui| {
                if ui
                    .add_enabled(!listing, egui::Button::new("Rescan devices"))
                    .clicked()
                {
                    actions.push(Action::ListDevices);
                }
                if listing {
                    ui.spinner();
                }
            });
            ui.end_row();
        }
    });
    // Why a wanted kind of device is missing, in the lister's words.
    if let Some(d) = &devices {
        let s = &app.settings;
        let wanted = |prefix: &str| match prefix {
            "screens" | "windows" => {
                matches!(s.video, VideoChoice::Screen | VideoChoice::ScreenAndCamera)
            }
            "cameras" => matches!(s.video, VideoChoice::Camera | VideoChoice::ScreenAndCamera),
            "microphones" | "desktop audio" | "outputs" => audio_devices,
            _ => false,
        };
        for e in &d.errors {
            let kind = e.split(':').next().unwrap_or_default();
            if wanted(kind) {
                ui.label(RichText::new(e).color(WARN));
            }
        }
    }
    if running {
        ui.weak("The preset and sources apply once everything is stopped.");
    }
}

/// A combo box over a few fixed choices.
fn choose<T: PartialEq + Copy>(
    ui: &mut egui::Ui,
    id: &str,
    value: &mut T,
    choices: &[(T, &str)],
    label: egui::Id,
) {
    let selected = choices
        .iter()
        .find(|(c, _)| c == value)
        .map_or("", |(_, t)| t);
    egui::ComboBox::from_id_salt(id)
        .selected_text(selected)
        .show_ui(ui, |ui| {
            for (c, text) in choices {
                ui.selectable_value(value, *c, *text);
            }
        })
        .response
        .labelled_by(label);
}

/// A window as listed: its title, or "untitled" and its id when it has none.
fn window_name(d: &crate::capture::devices::Device) -> String {
    if d.name.trim().is_empty() {
        format!("Window {} (untitled; {})", d.id, d.detail)
    } else {
        format!("Window: {} ({})", d.name, d.detail)
    }
}

/// Why the chosen screen or window cannot be captured, once the devices are listed.
fn missing_screen(choice: &ScreenChoice, devices: Option<&Devices>) -> Option<&'static str> {
    let d = devices?;
    match choice {
        ScreenChoice::Monitor(i) if !d.screens.iter().any(|s| s.id == i.to_string()) => {
            Some("This screen is not found: pick another, or rescan")
        }
        ScreenChoice::Window(id) if !d.windows.iter().any(|w| w.id == *id) => {
            Some("This window is gone: pick another, or rescan")
        }
        _ => None,
    }
}

fn screen_name(choice: &ScreenChoice, devices: Option<&Devices>) -> String {
    match choice {
        ScreenChoice::Monitor(i) => devices
            .and_then(|d| d.screens.iter().find(|s| s.id == i.to_string()))
            .map_or(format!("Screen {i}"), |s| format!("Screen {i}: {}", s.name)),
        ScreenChoice::Window(id) => devices
            .and_then(|d| d.windows.iter().find(|w| w.id == *id))
            .map_or(format!("Window {id}"), window_name),
    }
}
