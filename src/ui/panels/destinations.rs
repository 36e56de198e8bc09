//! The destinations: where the keys are kept, then per destination its switch, name,
//! service, server and (masked) stream key, what is wrong with it as typed (until fixed), its
//! state while live and why it last failed.

use eframe::egui;

use super::{ALARM, live_state};
use crate::app::keystore::Place;
use crate::app::services::Service;
use crate::app::{Action, AppState, Editing, destination_problem};
use crate::output::OutputState;

pub fn show(ui: &mut egui::Ui, app: &mut AppState, actions: &mut Vec<Action>) {
    ui.heading("Destinations");
    let live = app.view().live.since.is_some();
    match app.keys_place() {
        Some(place) => {
            let r = ui.small(format!("Stream keys are kept in {place}"));
            let mut hover = match place {
                Place::File(path) => path.display().to_string(),
                _ => String::new(),
            };
            if let Some(why) = app.no_keyring() {
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
    let Editing {
        settings,
        keys,
        view,
        shown_keys,
        failures,
        keys_loaded,
    } = app.editing();
    for i in 0..settings.destinations.len() {
        let id = settings.destinations[i].id;
        ui.push_id(id, |ui| {
            egui::Frame::group(ui.style()).show(ui, |ui| {
                let d = &mut settings.destinations[i];
                ui.horizontal(|ui| {
                    ui.add_enabled(!live, egui::Checkbox::new(&mut d.enabled, ""))
                        .on_hover_text("Go live sends to every destination switched on");
                    let label = ui.label("Name");
                    ui.add(egui::TextEdit::singleline(&mut d.name).desired_width(150.0))
                        .labelled_by(label.id);
                    if ui.add_enabled(!live, egui::Button::new("Remove")).clicked() {
                        actions.push(Action::RemoveDestination(d.id));
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
                        d.reset_server();
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
                        let mut key = keys.get(d.id).to_owned();
                        let shown = shown_keys.contains(&d.id);
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
                            keys.set(d.id, key);
                        }
                        if ui.button(if shown { "Hide" } else { "Show" }).clicked() {
                            actions.push(Action::ToggleKeyShown(d.id));
                        }
                    });
                });
                // What is wrong with it as typed, checked again at every change.
                let d = &settings.destinations[i];
                if let Some(why) = destination_problem(&settings.destinations, keys, keys_loaded, d)
                {
                    ui.add(egui::Label::new(egui::RichText::new(why).color(ALARM)).wrap());
                }
                // This destination's state while live, and why it last failed.
                let live_view = view.destinations.iter().find(|v| v.name == d.name);
                if let Some(v) = live_view {
                    let (text, colour) = live_state(v.output.as_ref());
                    ui.add(egui::Label::new(egui::RichText::new(text).color(colour)).wrap());
                    if v.output
                        .as_ref()
                        .is_some_and(|o| o.state == OutputState::Reconnecting)
                        && ui.small_button("Retry now").clicked()
                    {
                        actions.push(Action::RetryNow);
                    }
                }
                if let Some(why) = failures.get(&id).filter(|_| live_view.is_none()) {
                    let text = format!("Last attempt failed: {why}");
                    ui.add(egui::Label::new(egui::RichText::new(text).color(ALARM)).wrap());
                }
            });
        });
    }
    if ui
        .add_enabled(!live, egui::Button::new("Add destination"))
        .clicked()
    {
        actions.push(Action::AddDestination);
    }
}
