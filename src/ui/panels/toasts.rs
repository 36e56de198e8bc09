//! The notifications, bottom right, errors in red.

use eframe::egui;

use super::{ALARM, GOOD};
use crate::app::AppState;

pub fn show(ctx: &egui::Context, app: &AppState) {
    if app.toasts().next().is_none() {
        return;
    }
    egui::Area::new(egui::Id::unique("toasts"))
        .anchor(egui::Align2::RIGHT_BOTTOM, egui::vec2(-12.0, -12.0))
        .show(ctx, |ui| {
            for notice in app.toasts() {
                egui::Frame::popup(ui.style()).show(ui, |ui| {
                    ui.set_max_width(420.0);
                    let colour = if notice.error { ALARM } else { GOOD };
                    ui.colored_label(colour, &notice.text);
                });
            }
        });
}
