//! The notifications, bottom right, errors in red; the last removed destination's notice,
//! with Undo.

use eframe::egui;

use super::{ALARM, GOOD};
use crate::app::desktop::{ShowOutcome, Shown};
use crate::app::{Action, AppState};

pub fn show(ctx: &egui::Context, app: &AppState, actions: &mut Vec<Action>) {
    if app.toasts().next().is_none() && app.removed().is_none() {
        return;
    }
    egui::Area::new(egui::Id::unique("toasts"))
        .anchor(egui::Align2::RIGHT_BOTTOM, egui::vec2(-12.0, -12.0))
        .show(ctx, |ui| {
            if let Some(d) = app.removed() {
                egui::Frame::popup(ui.style()).show(ui, |ui| {
                    ui.set_max_width(420.0);
                    ui.horizontal_wrapped(|ui| {
                        ui.label(format!("Removed destination “{}”.", d.name));
                        if ui.button("Undo").clicked() {
                            actions.push(Action::UndoRemove);
                        }
                    });
                });
            }
            for notice in app.toasts() {
                egui::Frame::popup(ui.style()).show(ui, |ui| {
                    ui.set_max_width(420.0);
                    let colour = if notice.error { ALARM } else { GOOD };
                    ui.add(
                        egui::Label::new(egui::RichText::new(&notice.text).color(colour)).wrap(),
                    );
                    if let Some(file) = &notice.file {
                        open_buttons(ui, file, app.shown(), actions);
                    }
                });
            }
        });
}

/// "Open folder", "Open file" (the desktop's handlers) and "Show file" (selected in the file
/// manager) for a saved file, and what "Show file" last did for it.
pub fn open_buttons(
    ui: &mut egui::Ui,
    file: &std::path::Path,
    shown: Option<&ShowOutcome>,
    actions: &mut Vec<Action>,
) {
    ui.horizontal(|ui| {
        if let Some(dir) = file.parent()
            && ui.small_button("Open folder").clicked()
        {
            actions.push(Action::Open(dir.display().to_string()));
        }
        if ui.small_button("Open file").clicked() {
            actions.push(Action::Open(file.display().to_string()));
        }
        if ui
            .small_button("Show file")
            .on_hover_text("Select it in the file manager")
            .clicked()
        {
            actions.push(Action::ShowFile(file.to_owned()));
        }
    });
    if let Some(outcome) = shown.filter(|s| s.file == file) {
        let text = match &outcome.shown {
            Shown::Selected => "Selected in the file manager.".to_owned(),
            Shown::FolderOpened { why } => format!("Opened its folder instead: {why}."),
        };
        ui.add(egui::Label::new(egui::RichText::new(text).color(GOOD)).wrap());
    }
}
