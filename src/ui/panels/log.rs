//! The log view: the newest lines, warnings and errors in colour.

use std::collections::VecDeque;

use eframe::egui::{self, Color32};

use super::{ALARM, WARN};
use crate::app::Action;
use crate::app::log::LogLine;

pub fn show(ui: &mut egui::Ui, lines: &VecDeque<LogLine>, actions: &mut Vec<Action>) {
    ui.horizontal(|ui| {
        ui.strong("Log");
        if ui.small_button("Clear").clicked() {
            actions.push(Action::ClearLog);
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
                ui.colored_label(colour, format!("{:>5} {}", line.level, line.text));
            }
        });
}
