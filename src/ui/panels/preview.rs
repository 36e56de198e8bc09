//! The program preview: the newest program picture, drawn pixel for pixel when it was made
//! at the width shown.

use eframe::egui::{self, Color32};

use crate::app::Action;
use crate::config::Preset;

/// Draws the program picture (`texture`) for `preset`; `preview_px` is the width laid out,
/// physical pixels, which the engine is told to make its pictures at. Returns where the
/// program is shown (for the scene editing over it).
pub fn show(
    ui: &mut egui::Ui,
    preset: Option<&Preset>,
    texture: Option<&egui::TextureHandle>,
    preview_px: &mut u32,
    actions: &mut Vec<Action>,
) -> egui::Rect {
    let width = ui.available_width().min(960.0);
    let aspect = preset.map_or(16.0 / 9.0, |p| p.width as f32 / p.height.max(1) as f32);
    let size = egui::vec2(width, width / aspect);
    let (rect, response) = ui.allocate_exact_size(size, egui::Sense::hover());
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, "Program picture"));
    // Whole pixels, so that a picture made at this width is shown pixel for pixel.
    let ppp = ui.ctx().pixels_per_point();
    let rect = egui::emath::GuiRounding::round_to_pixels(rect, ppp);
    *preview_px = (rect.width() * ppp).round() as u32;
    actions.push(Action::PreviewWidth(*preview_px));
    let program = rect;
    match texture {
        Some(texture) => {
            let [w, h] = texture.size();
            // A picture of the laid-out width is drawn at its own size; one of another width
            // (the first after a resize) is scaled into the box.
            let rect = if w as u32 == *preview_px {
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
                "No picture: the program has no video, or is starting",
                egui::FontId::proportional(16.0),
                Color32::GRAY,
            );
        }
    }
    program
}
