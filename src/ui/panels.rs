//! The window's parts: the action bar, sources and destinations, the program preview, the
//! stats panel with its graphs, the log, settings, the stop confirmation and notifications.

use eframe::egui::{self, Color32, RichText};
use egui_plot::{Line, Plot, PlotPoints};

use super::OnairApp;
use crate::app::keystore::Place;
use crate::app::meter::{ERROR_DBFS, FLOOR_DBFS, Meter, WARNING_DBFS};
use crate::app::services::Service;
use crate::app::settings::{
    AudioChoice, DestinationSettings, MIC_GAIN_RANGE_DB, PREVIEW_FPS, PREVIEW_FPS_RANGE,
    PREVIEW_FPS_SOFTWARE, RecordFormat, ScreenChoice, VideoChoice,
};
use crate::app::{Activity, Command};
use crate::capture::Corner;
use crate::capture::devices::Devices;
use crate::config::Preset;
use crate::pipeline::{OutputSnapshot, OutputState};

const WARN: Color32 = Color32::from_rgb(0xe0, 0xb0, 0x30);
const ALARM: Color32 = Color32::from_rgb(0xe0, 0x40, 0x40);
const GOOD: Color32 = Color32::from_rgb(0x50, 0xc0, 0x60);
/// Width of an audio meter's bar, points.
const METER_WIDTH: f32 = 220.0;

pub fn show(app: &mut OnairApp, ui: &mut egui::Ui) {
    // Once per frame: the presets the panels below look up.
    let presets = app.presets();
    let fill = if app.panels_paint_background {
        ui.visuals().panel_fill
    } else {
        Color32::TRANSPARENT
    };
    let side = egui::Frame::side_top_panel(ui.style()).fill(fill);
    let central = egui::Frame::central_panel(ui.style()).fill(fill);
    egui::Panel::top("actions")
        .frame(side)
        .show(ui, |ui| actions(app, ui));
    if app.log_open {
        egui::Panel::bottom("log")
            .frame(side)
            .resizable(true)
            .default_size(160.0)
            .show(ui, |ui| log_view(app, ui));
    }
    egui::Panel::left("setup")
        .frame(side)
        .resizable(true)
        .default_size(360.0)
        .show(ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| {
                program(app, ui, &presets);
                ui.separator();
                destinations(app, ui);
            });
        });
    egui::CentralPanel::default().frame(central).show(ui, |ui| {
        egui::ScrollArea::vertical().show(ui, |ui| {
            preview(app, ui, &presets);
            ui.separator();
            stats(app, ui, &presets);
        });
    });
    let ctx = ui.ctx().clone();
    settings_window(app, &ctx);
    confirm_stop(app, &ctx);
    toasts(app, &ctx);
}

fn elapsed(a: &Activity) -> String {
    let s = a.since.map_or(0, |t| t.elapsed().as_secs());
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

fn bytes(b: u64) -> String {
    match b {
        b if b >= 1 << 30 => format!("{:.2} GB", b as f64 / f64::from(1u32 << 30)),
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / f64::from(1u32 << 20)),
        b => format!("{} kB", b / 1024),
    }
}

/// What a live destination is doing, in words.
fn live_state(o: Option<&OutputSnapshot>) -> (String, Color32) {
    let Some(o) = o else {
        return ("starting".into(), WARN);
    };
    match o.state {
        OutputState::Starting | OutputState::Connecting => ("connecting…".into(), WARN),
        OutputState::Live | OutputState::Recording => ("live".into(), GOOD),
        OutputState::Reconnecting => {
            let wait = o.retry_in_ms.map_or(0, |ms| ms.div_ceil(1000));
            let why = o.last_error.as_deref().unwrap_or("connection lost");
            (
                format!(
                    "reconnecting (attempt {}, in {wait} s): {why}",
                    o.retry_attempt
                ),
                WARN,
            )
        }
        OutputState::Finishing => ("finishing…".into(), WARN),
        OutputState::Stopped => ("stopped".into(), Color32::GRAY),
        OutputState::Failed => (
            format!("failed: {}", o.last_error.as_deref().unwrap_or("error")),
            ALARM,
        ),
    }
}

fn actions(app: &mut OnairApp, ui: &mut egui::Ui) {
    ui.add_space(6.0);
    ui.horizontal(|ui| {
        // The three activities only (the buttons' handlers need `app` mutably).
        let (live_now, recording_now, preview_now) = (
            app.view.live.clone(),
            app.view.recording.clone(),
            app.view.preview.clone(),
        );
        let live = live_now.since.is_some();
        let big = |text: &str| RichText::new(text).size(20.0).strong();
        let go = egui::Button::new(big(if live { "Stop streaming" } else { "Go live" }))
            .fill(if live {
                ALARM
            } else {
                Color32::from_rgb(0x2a, 0x6a, 0xd0)
            })
            .min_size(egui::vec2(170.0, 44.0));
        if ui
            .add_enabled(!live_now.stopping, go)
            .on_hover_text("Ctrl+L")
            .clicked()
        {
            app.toggle_live();
        }
        let recording = recording_now.since.is_some();
        let rec = egui::Button::new(big(if recording {
            "Stop recording"
        } else {
            "Record"
        }))
        .min_size(egui::vec2(150.0, 44.0));
        if ui
            .add_enabled(!recording_now.stopping, rec)
            .on_hover_text("Ctrl+R")
            .clicked()
        {
            app.toggle_recording();
        }
        let previewing = preview_now.since.is_some();
        let prev = egui::Button::new(big(if previewing {
            "Stop preview"
        } else {
            "Preview in browser"
        }))
        .min_size(egui::vec2(190.0, 44.0));
        if ui
            .add_enabled(!preview_now.stopping, prev)
            .on_hover_text("Ctrl+P")
            .clicked()
        {
            app.toggle_preview();
        }
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            if ui.button("Log").clicked() {
                app.log_open = !app.log_open;
            }
            if ui.button("Settings").clicked() {
                app.settings_open = !app.settings_open;
            }
        });
    });
    // One status line per action.
    ui.horizontal_wrapped(|ui| {
        let view = &app.view;
        let status = if view.live.stopping {
            RichText::new("Live: stopping…").color(WARN)
        } else if view.live.since.is_some() {
            RichText::new(format!("LIVE {}", elapsed(&view.live)))
                .color(GOOD)
                .strong()
        } else {
            RichText::new("Live: idle").weak()
        };
        ui.label(status);
        ui.separator();
        let status = match (&view.recording_output, view.recording.since) {
            _ if view.recording.stopping => {
                RichText::new("Recording: finishing the file…").color(WARN)
            }
            (Some(o), Some(_)) if o.state == OutputState::Failed => RichText::new(format!(
                "Recording failed: {}",
                o.last_error.as_deref().unwrap_or("error")
            ))
            .color(ALARM),
            (o, Some(_)) => RichText::new(format!(
                "REC {} {}",
                elapsed(&view.recording),
                bytes(o.as_ref().map_or(0, |o| o.bytes))
            ))
            .color(ALARM)
            .strong(),
            (_, None) => RichText::new("Recording: idle").weak(),
        };
        ui.label(status);
        ui.separator();
        match (&view.preview_url, view.preview.since) {
            (Some(url), Some(_)) => {
                ui.label(RichText::new("Preview:").color(GOOD));
                ui.hyperlink(url);
            }
            (None, Some(_)) => {
                ui.label(RichText::new("Preview: starting…").color(WARN));
            }
            _ => {
                ui.label(RichText::new("Preview: idle").weak());
            }
        }
    });
    ui.add_space(4.0);
}

fn program(app: &mut OnairApp, ui: &mut egui::Ui, presets: &[Preset]) {
    ui.heading("Program");
    let running = app.view.engine_running;
    let devices = app.view.devices.clone();
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
                    .show_ui(ui, |ui| {
                        for d in devices.iter().flat_map(|d| &d.screens) {
                            let choice = ScreenChoice::Monitor(d.id.parse().unwrap_or(0));
                            let text = format!("Screen {}: {} ({})", d.id, d.name, d.detail);
                            ui.selectable_value(&mut s.screen, choice, text);
                        }
                        for d in devices.iter().flat_map(|d| &d.windows) {
                            let choice = ScreenChoice::Window(d.id.clone());
                            let text = format!("Window: {} ({})", d.name, d.detail);
                            ui.selectable_value(&mut s.screen, choice, text);
                        }
                    })
                    .response
                    .labelled_by(label.id);
            });
            ui.end_row();
        }
        if camera {
            let label = ui.label("Camera");
            ui.add_enabled_ui(!running, |ui| {
                let cameras = devices.as_deref().map_or(&[][..], |d| &d.cameras[..]);
                let selected = cameras
                    .iter()
                    .find(|c| c.id == s.camera.to_string())
                    .map_or(format!("camera {}", s.camera), |c| c.name.clone());
                egui::ComboBox::from_id_salt("camera")
                    .selected_text(selected)
                    .width(220.0)
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

        let label = ui.label("Audio");
        ui.add_enabled_ui(!running, |ui| {
            let choices = [
                (AudioChoice::Tone, "Sync tone"),
                (AudioChoice::Microphone, "Microphone"),
                (AudioChoice::MicrophoneAndTone, "Microphone + sync tone"),
                (AudioChoice::None, "None"),
            ];
            choose(ui, "audio", &mut s.audio, &choices, label.id);
        });
        ui.end_row();
        if matches!(
            s.audio,
            AudioChoice::Microphone | AudioChoice::MicrophoneAndTone
        ) {
            let label = ui.label("Microphone");
            ui.add_enabled_ui(!running, |ui| {
                let mics = devices.as_deref().map_or(&[][..], |d| &d.microphones[..]);
                let selected = if s.microphone.is_empty() {
                    "Default input".to_owned()
                } else {
                    mics.iter()
                        .find(|m| m.id == s.microphone)
                        .map_or(s.microphone.clone(), |m| m.name.clone())
                };
                egui::ComboBox::from_id_salt("microphone")
                    .selected_text(selected)
                    .width(220.0)
                    .show_ui(ui, |ui| {
                        ui.selectable_value(&mut s.microphone, String::new(), "Default input");
                        for m in mics {
                            ui.selectable_value(&mut s.microphone, m.id.clone(), &m.name);
                        }
                    })
                    .response
                    .labelled_by(label.id);
            });
            ui.end_row();
        }
        if screen || camera || s.audio != AudioChoice::Tone && s.audio != AudioChoice::None {
            ui.label("");
            ui.horizontal(|ui| {
                let listing = app.view.listing_devices;
                if ui
                    .add_enabled(!listing, egui::Button::new("Rescan devices"))
                    .clicked()
                {
                    app.session.send(Command::ListDevices);
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
            _ => matches!(
                s.audio,
                AudioChoice::Microphone | AudioChoice::MicrophoneAndTone
            ),
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
    ui.separator();
    audio_mixer(app, ui);
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

fn screen_name(choice: &ScreenChoice, devices: Option<&Devices>) -> String {
    match choice {
        ScreenChoice::Monitor(i) => devices
            .and_then(|d| d.screens.iter().find(|s| s.id == i.to_string()))
            .map_or(format!("Screen {i}"), |s| format!("Screen {i}: {}", s.name)),
        ScreenChoice::Window(id) => devices
            .and_then(|d| d.windows.iter().find(|w| w.id == *id))
            .map_or(format!("Window {id}"), |w| format!("Window: {}", w.name)),
    }
}

/// The program audio's meters (left, right) and the microphone's mute and gain, which act at
/// once, also while live.
fn audio_mixer(app: &mut OnairApp, ui: &mut egui::Ui) {
    ui.heading("Audio");
    let mic = matches!(
        app.settings.audio,
        AudioChoice::Microphone | AudioChoice::MicrophoneAndTone
    );
    egui::Grid::new("mixer").num_columns(2).show(ui, |ui| {
        for (i, name) in ["L", "R"].into_iter().enumerate() {
            ui.label(name);
            meter_bar(ui, &app.meters[i], app.view.levels.is_some());
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

fn destinations(app: &mut OnairApp, ui: &mut egui::Ui) {
    ui.heading("Destinations");
    let live = app.view.live.since.is_some();
    let keys_loaded = app.keys_place.is_some();
    match &app.keys_place {
        Some(place) => {
            let r = ui.small(format!("Stream keys are kept in {place}"));
            let mut hover = match place {
                Place::File(path) => path.display().to_string(),
                _ => String::new(),
            };
            if let Some(why) = &app.no_keyring {
                hover = format!("{hover}\nNo system keyring: {why}");
            }
            if !hover.is_empty() {
                r.on_hover_text(hover.trim_start());
            }
        }
        None => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.small("Loading the stream keys from the system keyring…");
            });
        }
    }
    let mut remove = None;
    for (i, d) in app.settings.destinations.iter_mut().enumerate() {
        ui.push_id(d.id, |ui| {
            egui::Frame::group(ui.style()).show(ui, |ui| {
                ui.horizontal(|ui| {
                    ui.add_enabled(!live, egui::Checkbox::new(&mut d.enabled, ""))
                        .on_hover_text("Go live sends to every destination switched on");
                    let label = ui.label("Name");
                    ui.add(egui::TextEdit::singleline(&mut d.name).desired_width(150.0))
                        .labelled_by(label.id);
                    if ui.add_enabled(!live, egui::Button::new("Remove")).clicked() {
                        remove = Some(i);
                    }
                });
                ui.add_enabled_ui(!live, |ui| {
                    let before = d.service;
                    ui.horizontal(|ui| {
                        let label = ui.label("Service");
                        egui::ComboBox::from_id_salt("service")
                            .selected_text(d.service.label())
                            .show_ui(ui, |ui| {
                                for s in Service::ALL {
                                    ui.selectable_value(&mut d.service, s, s.label());
                                }
                            })
                            .response
                            .labelled_by(label.id);
                    });
                    if d.service != before {
                        d.server = d
                            .service
                            .ingests()
                            .first()
                            .map_or(String::new(), |i| i.url.to_owned());
                    }
                    let label = ui.label("Server");
                    if d.service.is_custom() {
                        let hint = if d.service == Service::Whip {
                            "https://host/whip/endpoint"
                        } else {
                            "rtmp://host/app"
                        };
                        ui.add(
                            egui::TextEdit::singleline(&mut d.server)
                                .hint_text(hint)
                                .desired_width(300.0),
                        )
                        .labelled_by(label.id);
                    } else {
                        let current = d
                            .service
                            .ingests()
                            .iter()
                            .find(|i| i.url == d.server)
                            .map_or("choose a server", |i| i.label);
                        egui::ComboBox::from_id_salt("server")
                            .selected_text(current)
                            .show_ui(ui, |ui| {
                                for ingest in d.service.ingests() {
                                    ui.selectable_value(
                                        &mut d.server,
                                        ingest.url.to_owned(),
                                        ingest.label,
                                    );
                                }
                            })
                            .response
                            .labelled_by(label.id);
                    }
                    ui.horizontal(|ui| {
                        let label = ui.label(d.service.key_label());
                        let mut key = app.keys.get(d.id).to_owned();
                        let shown = app.shown_keys.contains(&d.id);
                        let field = egui::TextEdit::singleline(&mut key)
                            .password(!shown)
                            .desired_width(200.0);
                        // Read-only until the keys have loaded (a keyring may be slow to
                        // unlock): an early edit would be overwritten by the stored keys.
                        if ui
                            .add_enabled(keys_loaded, field)
                            .labelled_by(label.id)
                            .changed()
                        {
                            app.keys.set(d.id, key);
                        }
                        if ui.button(if shown { "Hide" } else { "Show" }).clicked() {
                            if shown {
                                app.shown_keys.remove(&d.id);
                            } else {
                                app.shown_keys.insert(d.id);
                            }
                        }
                    });
                });
                // This destination's state while live.
                if let Some(v) = app.view.destinations.iter().find(|v| v.name == d.name) {
                    let (text, colour) = live_state(v.output.as_ref());
                    ui.horizontal(|ui| {
                        ui.colored_label(colour, text);
                        if v.output
                            .as_ref()
                            .is_some_and(|o| o.state == OutputState::Reconnecting)
                            && ui.small_button("Retry now").clicked()
                        {
                            app.session.send(Command::RetryNow);
                        }
                    });
                }
            });
        });
    }
    if let Some(i) = remove {
        let gone = app.settings.destinations.remove(i);
        app.keys.set(gone.id, String::new());
    }
    if ui
        .add_enabled(!live, egui::Button::new("Add destination"))
        .clicked()
    {
        let id = app.settings.next_destination_id();
        app.settings.destinations.push(DestinationSettings {
            id,
            name: format!("Destination {id}"),
            service: Service::Twitch,
            server: Service::Twitch
                .ingests()
                .first()
                .map_or(String::new(), |i| i.url.to_owned()),
            enabled: true,
        });
    }
}

fn preview(app: &mut OnairApp, ui: &mut egui::Ui, presets: &[Preset]) {
    let width = ui.available_width().min(960.0);
    let preset = presets.iter().find(|p| p.name == app.settings.preset);
    let aspect = preset.map_or(16.0 / 9.0, |p| p.width as f32 / p.height.max(1) as f32);
    let size = egui::vec2(width, width / aspect);
    let (rect, _) = ui.allocate_exact_size(size, egui::Sense::hover());
    // Whole pixels, so that a picture made at this width is shown pixel for pixel.
    let ppp = ui.ctx().pixels_per_point();
    let rect = egui::emath::GuiRounding::round_to_pixels(rect, ppp);
    app.show_preview_at((rect.width() * ppp).round() as u32);
    match &app.texture {
        Some(texture) => {
            let [w, h] = texture.size();
            // A picture of the laid-out width is drawn at its own size; one of another width
            // (the first after a resize) is scaled into the box.
            let rect = if w as u32 == app.preview_px {
                egui::Rect::from_min_size(rect.min, egui::vec2(w as f32, h as f32) / ppp)
            } else {
                rect
            };
            let uv = egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0));
            ui.painter().image(texture.id(), rect, uv, Color32::WHITE);
        }
        None => {
            ui.painter().rect_filled(rect, 4.0, Color32::from_gray(24));
            ui.painter().text(
                rect.center(),
                egui::Align2::CENTER_CENTER,
                "The program shows here while you are live, recording or previewing",
                egui::FontId::proportional(16.0),
                Color32::GRAY,
            );
        }
    }
}

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

fn stats(app: &mut OnairApp, ui: &mut egui::Ui, presets: &[Preset]) {
    ui.heading("Stats");
    let view = &app.view;
    let preset = presets
        .iter()
        .find(|p| Some(&p.name) == view.preset.as_ref());
    egui::Grid::new("engine_stats")
        .num_columns(2)
        .striped(true)
        .show(ui, |ui| {
            ui.label("CPU usage");
            ui.label(view.cpu_percent.map_or("–".into(), |c| format!("{c:.1} %")));
            ui.end_row();
            ui.label("Memory");
            ui.label(view.memory_bytes.map_or("–".into(), bytes));
            ui.end_row();
            if let (Some(s), Some(p)) = (&view.stats, &preset) {
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
                    ui.label(&o.name);
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
                    plot.line(Line::new(name.clone(), PlotPoints::from(points)));
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

fn log_view(app: &mut OnairApp, ui: &mut egui::Ui) {
    ui.horizontal(|ui| {
        ui.strong("Log");
        if ui.small_button("Clear").clicked() {
            app.log_lines.clear();
        }
    });
    egui::ScrollArea::vertical()
        .stick_to_bottom(true)
        .auto_shrink([false, false])
        .show(ui, |ui| {
            for line in &app.log_lines {
                let colour = match line.level {
                    tracing::Level::ERROR => ALARM,
                    tracing::Level::WARN => WARN,
                    _ => Color32::PLACEHOLDER,
                };
                ui.colored_label(colour, format!("{:>5} {}", line.level, line.text));
            }
        });
}

fn settings_window(app: &mut OnairApp, ctx: &egui::Context) {
    let mut open = app.settings_open;
    egui::Window::new("Settings")
        .open(&mut open)
        .default_width(560.0)
        .show(ctx, |ui| {
            ui.heading("Recording");
            egui::Grid::new("record_settings")
                .num_columns(2)
                .show(ui, |ui| {
                    let label = ui.label("Folder");
                    let mut folder = app.settings.record_folder.display().to_string();
                    if ui
                        .text_edit_singleline(&mut folder)
                        .labelled_by(label.id)
                        .changed()
                    {
                        app.settings.record_folder = folder.into();
                    }
                    ui.end_row();
                    ui.label("Format");
                    ui.horizontal(|ui| {
                        ui.radio_value(
                            &mut app.settings.record_format,
                            RecordFormat::Mp4,
                            "MP4 (crash-safe)",
                        );
                        ui.radio_value(&mut app.settings.record_format, RecordFormat::Flv, "FLV");
                    });
                    ui.end_row();
                });
            ui.separator();
            ui.heading("Browser preview");
            egui::Grid::new("preview_settings")
                .num_columns(2)
                .show(ui, |ui| {
                    let label = ui.label("HLS folder");
                    let mut folder = app.settings.hls_folder.display().to_string();
                    if ui
                        .text_edit_singleline(&mut folder)
                        .labelled_by(label.id)
                        .changed()
                    {
                        app.settings.hls_folder = folder.into();
                    }
                    ui.end_row();
                    let label = ui.label("Address");
                    ui.text_edit_singleline(&mut app.settings.preview_addr)
                        .labelled_by(label.id);
                    ui.end_row();
                    let label = ui.label("Window preview (fps)");
                    ui.horizontal(|ui| {
                        let mut auto = app.settings.preview_fps.is_none();
                        let mut fps = app.preview_rate();
                        let slider = ui
                            .add_enabled(!auto, egui::Slider::new(&mut fps, PREVIEW_FPS_RANGE))
                            .labelled_by(label.id);
                        if ui.checkbox(&mut auto, "Automatic").changed() {
                            app.settings.preview_fps = (!auto).then_some(fps);
                        } else if slider.changed() {
                            app.settings.preview_fps = Some(fps);
                        }
                    });
                    ui.end_row();
                    ui.label("");
                    let why = match app.software_renderer() {
                        Some(name) => format!(
                            "Automatic: {PREVIEW_FPS_SOFTWARE} fps here, as the window is drawn \
                             in software ({name}), which costs CPU the encoder needs; \
                             {PREVIEW_FPS} with a GPU"
                        ),
                        None => format!(
                            "Automatic: {PREVIEW_FPS} fps; {PREVIEW_FPS_SOFTWARE} when the \
                             window is drawn in software"
                        ),
                    };
                    ui.add(egui::Label::new(RichText::new(why).small().weak()).wrap());
                    ui.end_row();
                });
            ui.separator();
            let builtin = app.config_presets.clone();
            let OnairApp {
                preset_editor,
                settings,
                ..
            } = app;
            preset_editor.ui(
                ui,
                &builtin,
                &mut settings.custom_presets,
                &mut settings.preset,
            );
        });
    app.settings_open = open;
}

fn confirm_stop(app: &mut OnairApp, ctx: &egui::Context) {
    if !app.confirm_stop_live {
        return;
    }
    let modal = egui::Modal::new(egui::Id::unique("confirm_stop_live")).show(ctx, |ui| {
        ui.heading("Stop streaming?");
        ui.label("Viewers will see the stream end. Recording and preview go on.");
        ui.add_space(8.0);
        ui.horizontal(|ui| {
            if ui
                .button(RichText::new("Stop streaming").color(ALARM))
                .clicked()
            {
                app.session.send(Command::StopLive);
                app.confirm_stop_live = false;
            }
            if ui.button("Keep streaming").clicked() {
                app.confirm_stop_live = false;
            }
        });
    });
    if modal.should_close() {
        app.confirm_stop_live = false;
    }
}

fn toasts(app: &mut OnairApp, ctx: &egui::Context) {
    if app.toasts.is_empty() {
        return;
    }
    egui::Area::new(egui::Id::unique("toasts"))
        .anchor(egui::Align2::RIGHT_BOTTOM, egui::vec2(-12.0, -12.0))
        .show(ctx, |ui| {
            for (notice, _) in &app.toasts {
                egui::Frame::popup(ui.style()).show(ui, |ui| {
                    ui.set_max_width(420.0);
                    let colour = if notice.error { ALARM } else { GOOD };
                    ui.colored_label(colour, &notice.text);
                });
            }
        });
}
