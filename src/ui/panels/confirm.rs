//! "Stop streaming?": asked before going off the air.

use eframe::egui::{self, RichText};

use super::ALARM;
use crate::app::Action;

/// The question, while `asking`: Stop streaming, or Keep streaming (also by closing it).
pub fn show(ctx: &egui::Context, asking: bool, actions: &mut Vec<Action>) {
    if !asking {
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
                actions.push(Action::StopLive);
            }
            if ui.button("Keep streaming").clicked() {
                actions.push(Action::KeepLive);
            }
        });
    });
    if modal.should_close() {
        actions.push(Action::KeepLive);
    }
}

#[cfg(test)]
mod tests {
    use egui_kittest::Harness;
    use egui_kittest::kittest::Queryable as _;

    use super::*;

    fn question(asking: bool) -> Harness<'static, Vec<Action>> {
        Harness::new_ui_state(
            move |ui, actions: &mut Vec<Action>| show(&ui.ctx().clone(), asking, actions),
            Vec::new(),
        )
    }

    #[test]
    fn stop_and_keep_ask_for_their_actions() {
        let mut h = question(true);
        h.run();
        h.get_by_label("Stop streaming").click();
        h.run();
        assert_eq!(h.state(), &[Action::StopLive]);
        h.state_mut().clear();
        h.get_by_label("Keep streaming").click();
        h.run();
        assert_eq!(h.state(), &[Action::KeepLive]);
    }

    #[test]
    fn nothing_is_asked_unless_asking() {
        let mut h = question(false);
        h.run();
        assert!(h.query_by_label("Stop streaming?").is_none());
        assert!(h.state().is_empty());
    }
}
