//! The log view: the newest lines with their local time, warnings and errors in colour; Copy
//! puts them on the clipboard, Save… writes them to a file chosen in the desktop's dialog.

use std::collections::VecDeque;

use eframe::egui::{self, Color32, RichText};

use super::{ALARM, GOOD, WARN};
use crate::app::Action;
use crate::app::log::LogLine;

pub fn show(
    ui: &mut egui::Ui,
    lines: &VecDeque<LogLine>,
    copy: impl FnOnce() -> String,
    (dialog_open, saved): (bool, Option<&(bool, String)>),
    actions: &mut Vec<Action>,
) {
    ui.horizontal(|ui| {
        ui.strong("Log");
        ui.weak("(local times)");
        if ui.small_button("Copy").clicked() {
            ui.ctx().copy_text(copy());
        }
        if ui
            .add_enabled(!dialog_open, egui::Button::new("Save…").small())
            .clicked()
        {
            actions.push(Action::SaveLog);
        }
        if ui.small_button("Clear").clicked() {
            actions.push(Action::ClearLog);
        }
        // What the last Save… did, beside it.
        if let Some((failed, text)) = saved {
            let colour = if *failed { ALARM } else { GOOD };
            ui.add(egui::Label::new(RichText::new(text).color(colour)).truncate());
        }
    });
    egui::ScrollArea::vertical()
        .stick_to_bottom(true)
        .auto_shrink([false, false])
        .show(ui, |ui| {
            for line in lines {
                let colour = match line.level {
                    tracing::Level::ERROR => ALARM,
                    tracing::Level::WARN => WARN,
                    _ => Color32::PLACEHOLDER,
                };
                let text = format!("{} {:>5} {}", line.clock(), line.level, line.text);
                ui.add(egui::Label::new(RichText::new(text).monospace().color(colour)).wrap());
            }
        });
}
