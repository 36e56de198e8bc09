//! The scenes, as OBS's Scenes and Sources docks: the scene list (click to put a scene on the
//! program; add, rename, duplicate, remove, reorder), the transition, and the current scene's
//! layers, top first (add a source new or existing, remove, reorder, show or hide, lock),
//! with the selected layer's properties ([`super::scenes_props`]). Every edit is an action;
//! what does not validate is said in red beside its cause.

use eframe::egui::{self, RichText};

use super::{ALARM, scenes_props};
use crate::app::studio::Edit;
use crate::app::{Action, AppState};
use crate::config::scenes::TransitionFile;

/// The kinds a new source may be, as the config file names them, and as the menu does.
const KINDS: [(&str, &str); 8] = [
    ("screen", "Screen"),
    ("window", "Window"),
    ("camera", "Camera"),
    ("image", "Image"),
    ("video", "Video file"),
    ("colour", "Colour"),
    ("text", "Text"),
    ("test", "Test pattern"),
];

/// Under the preview, as OBS's docks: scenes, the current scene's sources, properties.
pub fn show(ui: &mut egui::Ui, app: &mut AppState, actions: &mut Vec<Action>) {
    ui.columns(3, |c| {
        scene_list(&mut c[0], app, actions);
        layers(&mut c[1], app, actions);
        properties(&mut c[2], app, actions);
    });
}

fn scene_list(ui: &mut egui::Ui, app: &mut AppState, actions: &mut Vec<Action>) {
    ui.heading("Scenes");
    let problem = app.studio().problem.clone();
    let settings = &app.settings;
    let current = settings.scene.clone();
    let current_index = settings.scenes.iter().position(|s| s.name == current);
    let rename_id = egui::Id::unique("rename_scene");
    let mut renaming: Option<(usize, String)> = ui.data(|d| d.get_temp(rename_id));
    for (i, scene) in settings.scenes.iter().enumerate() {
        if let Some((at, text)) = renaming.as_mut().filter(|(at, _)| *at == i) {
            let edit = ui.add(egui::TextEdit::singleline(text).hint_text("Scene name"));
            edit.request_focus();
            if edit.lost_focus() {
                if ui.input(|i| i.key_pressed(egui::Key::Enter)) && !text.trim().is_empty() {
                    actions.push(Action::Studio(Edit::RenameScene {
                        index: *at,
                        name: text.trim().to_owned(),
                    }));
                }
                renaming = None;
            }
        } else {
            let on = scene.name == current;
            let text = if on {
                RichText::new(&scene.name).strong()
            } else {
                RichText::new(&scene.name)
            };
            if ui.selectable_label(on, text).clicked() && !on {
                actions.push(Action::SwitchScene(scene.name.clone()));
            }
        }
        let about = format!("scene \"{}\"", scene.name);
        if let Some(p) = problem.as_ref().filter(|p| p.place.starts_with(&about)) {
            ui.label(RichText::new(p.to_string()).color(ALARM));
        }
    }
    ui.data_mut(|d| match &renaming {
        Some(r) => {
            d.insert_temp(rename_id, r.clone());
        }
        None => d.remove::<(usize, String)>(rename_id),
    });
    ui.horizontal_wrapped(|ui| {
        if ui.button("Add scene").clicked() {
            actions.push(Action::Studio(Edit::AddScene));
        }
        let Some(i) = current_index else {
            return;
        };
        if ui.button("Rename scene").clicked() {
            let name = app.settings.scenes[i].name.clone();
            ui.data_mut(|d| d.insert_temp(rename_id, (i, name)));
        }
        if ui.button("Duplicate scene").clicked() {
            actions.push(Action::Studio(Edit::DuplicateScene(i)));
        }
        let more = app.settings.scenes.len() > 1;
        if ui
            .add_enabled(more, egui::Button::new("Remove scene"))
            .clicked()
        {
            actions.push(Action::Studio(Edit::RemoveScene(i)));
        }
        if ui
            .add_enabled(i > 0, egui::Button::new("Move scene up"))
            .clicked()
        {
            actions.push(Action::Studio(Edit::MoveScene { index: i, up: true }));
        }
        if ui
            .add_enabled(
                i + 1 < app.settings.scenes.len(),
                egui::Button::new("Move scene down"),
            )
            .clicked()
        {
            actions.push(Action::Studio(Edit::MoveScene {
                index: i,
                up: false,
            }));
        }
    });
    transition(ui, &app.settings.transition, actions);
    if let Some(p) = problem.as_ref().filter(|p| p.place.starts_with('[')) {
        ui.label(RichText::new(p.to_string()).color(ALARM));
    }
    ui.checkbox(&mut app.settings.audio_only, "No video (sound only)")
        .on_hover_text("The program has no picture: recordings and streams carry sound only");
}

/// Cut or fade, and the fade's length.
fn transition(ui: &mut egui::Ui, t: &TransitionFile, actions: &mut Vec<Action>) {
    let mut edited = t.clone();
    ui.horizontal(|ui| {
        let label = ui.label("Transition");
        let fade = edited.kind.as_deref() != Some("cut");
        let mut choice = fade;
        egui::ComboBox::from_id_salt("transition")
            .selected_text(if fade { "Fade" } else { "Cut" })
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut choice, true, "Fade");
                ui.selectable_value(&mut choice, false, "Cut");
            })
            .response
            .labelled_by(label.id);
        if choice != fade {
            edited.kind = Some(if choice { "fade" } else { "cut" }.into());
        }
        if choice {
            let mut ms = edited.duration_ms.unwrap_or(300);
            ui.add(
                egui::DragValue::new(&mut ms)
                    .range(1..=10_000)
                    .suffix(" ms")
                    .speed(10),
            )
            .labelled_by(label.id);
            if ms != edited.duration_ms.unwrap_or(300) {
                edited.duration_ms = Some(ms);
            }
        }
    });
    if edited != *t {
        actions.push(Action::Studio(Edit::Transition(edited)));
    }
}

/// The current scene's layers, top first, and the selected one's properties.
fn layers(ui: &mut egui::Ui, app: &mut AppState, actions: &mut Vec<Action>) {
    let settings = &app.settings;
    let Some(scene) = settings.scenes.iter().find(|s| s.name == settings.scene) else {
        return;
    };
    ui.heading("Sources");
    let selected = app.studio().editor.selected;
    if scene.layers.is_empty() {
        ui.weak("No sources: add one.");
    }
    for (i, layer) in scene.layers.iter().enumerate().rev() {
        ui.horizontal(|ui| {
            let on = selected == Some(i);
            if ui.selectable_label(on, &layer.source).clicked() {
                actions.push(Action::Studio(Edit::Select((!on).then_some(i))));
            }
            let shown = if layer.visible {
                "Hide layer"
            } else {
                "Show layer"
            };
            if ui.small_button(shown).clicked() {
                actions.push(Action::Studio(Edit::ToggleVisible(i)));
            }
            let lock = if layer.locked {
                "Unlock layer"
            } else {
                "Lock layer"
            };
            if ui
                .small_button(lock)
                .on_hover_text("A locked layer is not moved in the preview")
                .clicked()
            {
                actions.push(Action::Studio(Edit::ToggleLocked(i)));
            }
        });
    }
    ui.horizontal_wrapped(|ui| {
        ui.menu_button("Add to scene", |ui| {
            for (kind, text) in KINDS {
                if ui.button(format!("New {text}")).clicked() {
                    actions.push(Action::Studio(Edit::AddSource(kind)));
                }
            }
            if !settings.sources.is_empty() {
                ui.separator();
            }
            for s in &settings.sources {
                if ui.button(format!("Existing: {}", s.name)).clicked() {
                    actions.push(Action::Studio(Edit::AddExisting(s.name.clone())));
                }
            }
        });
        let Some(i) = selected.filter(|&i| i < scene.layers.len()) else {
            return;
        };
        if ui.button("Remove layer").clicked() {
            actions.push(Action::Studio(Edit::RemoveLayer(i)));
        }
        if ui
            .add_enabled(
                i + 1 < scene.layers.len(),
                egui::Button::new("Move layer up"),
            )
            .clicked()
        {
            actions.push(Action::Studio(Edit::MoveLayer { index: i, up: true }));
        }
        if ui
            .add_enabled(i > 0, egui::Button::new("Move layer down"))
            .clicked()
        {
            actions.push(Action::Studio(Edit::MoveLayer {
                index: i,
                up: false,
            }));
        }
    });
}

/// The selected layer's properties.
fn properties(ui: &mut egui::Ui, app: &mut AppState, actions: &mut Vec<Action>) {
    ui.heading("Properties");
    let s = &app.settings;
    let count = s
        .scenes
        .iter()
        .find(|c| c.name == s.scene)
        .map_or(0, |c| c.layers.len());
    match app.studio().editor.selected.filter(|&i| i < count) {
        Some(i) => scenes_props::show(ui, app, i, actions),
        None => {
            ui.weak("Select a source in the list or in the preview.");
        }
    }
}
