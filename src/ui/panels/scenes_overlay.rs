//! Editing in the program preview, as in OBS: a click selects the topmost layer under the
//! pointer, a drag moves it, its handles resize it (Shift keeps its shape), edges snap to the
//! program's sides and centre; arrow keys nudge it a pixel, Ctrl+Z undoes. Keys act only
//! while no text field has the keyboard. Positions go to the app in program pixels.

use eframe::egui::{self, Color32, Key, KeyboardShortcut, Modifiers, Stroke};

use crate::app::studio::Edit;
use crate::app::{Action, AppState};

/// How near a handle a press grabs it, and how near an edge snaps, in points.
const GRAB_POINTS: f32 = 6.0;
const SNAP_POINTS: f32 = 8.0;
const SELECTED: Color32 = Color32::from_rgb(0xe0, 0x40, 0x40);

/// `rect`: where the program picture is drawn.
pub fn show(ui: &mut egui::Ui, rect: egui::Rect, app: &mut AppState, actions: &mut Vec<Action>) {
    let (pw, _) = app.program_size();
    if rect.width() < 1.0 || pw == 0 {
        return;
    }
    // Program pixels per point.
    let scale = pw as f32 / rect.width();
    let to_program = |p: egui::Pos2| {
        (
            ((p.x - rect.min.x) * scale).round() as i32,
            ((p.y - rect.min.y) * scale).round() as i32,
        )
    };
    let response = ui.interact(
        rect,
        egui::Id::unique("scene_editing"),
        egui::Sense::click_and_drag(),
    );
    let (pressed, released, pos, shift) = ui.input(|i| {
        (
            i.pointer.primary_pressed(),
            i.pointer.primary_released(),
            i.pointer.interact_pos(),
            i.modifiers.shift,
        )
    });
    if let Some(pos) = pos {
        let (x, y) = to_program(pos);
        if pressed && rect.contains(pos) {
            // The preview takes the keyboard from any field (a drag is no click elsewhere).
            ui.memory_mut(|m| {
                if let Some(id) = m.focused() {
                    m.surrender_focus(id);
                }
            });
            let grab = (GRAB_POINTS * scale).round() as i32;
            actions.push(Action::Studio(Edit::Press { x, y, grab }));
        } else if response.dragged() && app.studio().editor.dragging() {
            let snap = (SNAP_POINTS * scale).round() as i32;
            actions.push(Action::Studio(Edit::Drag {
                x,
                y,
                keep_aspect: shift,
                snap,
            }));
        }
    }
    if released && app.studio().editor.dragging() {
        actions.push(Action::Studio(Edit::Release));
    }
    if let Some(b) = app.selected_box() {
        let at = |x: i64, y: i64| {
            egui::pos2(rect.min.x + x as f32 / scale, rect.min.y + y as f32 / scale)
        };
        let shown = egui::Rect::from_min_max(at(b.x, b.y), at(b.x + b.w, b.y + b.h));
        let painter = ui.painter_at(rect);
        painter.rect_stroke(
            shown,
            0.0,
            Stroke::new(1.5, SELECTED),
            egui::StrokeKind::Middle,
        );
        for (_, (x, y)) in b.handles() {
            let r = egui::Rect::from_center_size(at(x, y), egui::vec2(7.0, 7.0));
            painter.rect_filled(r, 0.0, SELECTED);
        }
    }
    keys(ui.ctx(), app, actions);
}

/// Ctrl+Z and the arrows, unless a text field has the keyboard (they would act on what is
/// being typed).
fn keys(ctx: &egui::Context, app: &AppState, actions: &mut Vec<Action>) {
    if ctx.text_edit_focused() {
        return;
    }
    let undo = KeyboardShortcut::new(Modifiers::COMMAND, Key::Z);
    if ctx.input_mut(|i| i.consume_shortcut(&undo)) {
        actions.push(Action::Studio(Edit::Undo));
    }
    if app.studio().editor.selected.is_none() {
        return;
    }
    let arrows = [
        (Key::ArrowLeft, -1, 0),
        (Key::ArrowRight, 1, 0),
        (Key::ArrowUp, 0, -1),
        (Key::ArrowDown, 0, 1),
    ];
    for (key, dx, dy) in arrows {
        if ctx.input_mut(|i| i.consume_key(Modifiers::NONE, key)) {
            actions.push(Action::Studio(Edit::Nudge { dx, dy }));
        }
    }
}
