//! Settings' hotkeys: a row per scene and action with its key combination, "Set" (the next
//! combination pressed binds it; Escape cancels) and "Clear"; and the window's reading of the
//! keyboard for them.

use eframe::egui;

use crate::app::hotkeys::{self, Combo};
use crate::app::{Action, AppState};

/// The hotkeys section of Settings.
pub fn show(ui: &mut egui::Ui, app: &AppState, actions: &mut Vec<Action>) {
    let capturing = app.hotkey_capture();
    egui::Grid::new("hotkeys").num_columns(3).show(ui, |ui| {
        for target in app.hotkey_targets() {
            let label = ui.label(target.label());
            let bound = hotkeys::combo_for(&app.settings.hotkeys, &target);
            if capturing == Some(&target) {
                ui.label(egui::RichText::new("Press keys… (Escape cancels)").strong());
            } else {
                ui.label(bound.map_or_else(|| "—".to_owned(), Combo::to_string))
                    .labelled_by(label.id);
            }
            ui.horizontal(|ui| {
                if ui.button("Set").clicked() {
                    actions.push(Action::CaptureHotkey(target.clone()));
                }
                if ui
                    .add_enabled(bound.is_some(), egui::Button::new("Clear"))
                    .clicked()
                {
                    actions.push(Action::ClearHotkey(target.clone()));
                }
            });
            ui.end_row();
        }
    });
    ui.weak("Hotkeys do nothing while you type in a text field.");
}

/// The key combination `key` with `modifiers` makes.
fn combo(key: egui::Key, modifiers: egui::Modifiers) -> Combo {
    Combo {
        ctrl: modifiers.command || modifiers.ctrl,
        alt: modifiers.alt,
        shift: modifiers.shift,
        key: key.name().to_owned(),
    }
}

/// Reads this frame's key presses: while Settings listens, the first binds (Escape cancels)
/// and is taken from the window; else each one bound fires its action and is taken. Nothing
/// while a text field has the keyboard.
pub fn keys(ctx: &egui::Context, app: &AppState, actions: &mut Vec<Action>) {
    if ctx.text_edit_focused() {
        return;
    }
    let capturing = app.hotkey_capture().cloned();
    if capturing.is_none() && app.settings.hotkeys.is_empty() {
        return;
    }
    ctx.input_mut(|i| {
        i.events.retain(|e| {
            let egui::Event::Key {
                key,
                pressed: true,
                repeat: false,
                modifiers,
                ..
            } = e
            else {
                return true;
            };
            if let Some(target) = &capturing {
                if *key == egui::Key::Escape && modifiers.is_none() {
                    actions.push(Action::CancelHotkeyCapture);
                } else {
                    actions.push(Action::BindHotkey(target.clone(), combo(*key, *modifiers)));
                }
                return false;
            }
            match app.hotkey(&combo(*key, *modifiers)) {
                Some(action) => {
                    actions.push(action);
                    false
                }
                None => true,
            }
        });
    });
}
