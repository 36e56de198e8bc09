//! The questions asked before something running is ended: "Stop streaming?", "Stop
//! recording?" (unless told not to ask) and "Quit onair?" (the window closed while live or
//! recording), as OBS asks them.

use eframe::egui::{self, RichText};

use super::ALARM;
use crate::app::{Action, Running};

/// What is being asked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Asking {
    pub stop_live: bool,
    pub stop_recording: bool,
    pub quit: Option<Running>,
}

/// The question being asked, if any (one at a time: quitting first).
pub fn show(ctx: &egui::Context, asking: Asking, actions: &mut Vec<Action>) {
    if let Some(running) = asking.quit {
        quit(ctx, running, actions);
    } else if asking.stop_live {
        stop_live(ctx, actions);
    } else if asking.stop_recording {
        stop_recording(ctx, actions);
    }
}

fn stop_live(ctx: &egui::Context, actions: &mut Vec<Action>) {
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

fn stop_recording(ctx: &egui::Context, actions: &mut Vec<Action>) {
    // "Don't ask again" is ticked in the question and takes effect with "Stop recording".
    let dont_ask_id = egui::Id::unique("dont_ask_stop_recording");
    let modal = egui::Modal::new(egui::Id::unique("confirm_stop_recording")).show(ctx, |ui| {
        ui.heading("Stop recording?");
        ui.label("The file is finished and kept. Streaming and preview go on.");
        let mut dont_ask = ui.data(|d| d.get_temp::<bool>(dont_ask_id).unwrap_or(false));
        ui.checkbox(
            &mut dont_ask,
            "Don't ask again (Settings can turn it back on)",
        );
        ui.data_mut(|d| d.insert_temp(dont_ask_id, dont_ask));
        ui.add_space(8.0);
        ui.horizontal(|ui| {
            if ui
                .button(RichText::new("Stop recording").color(ALARM))
                .clicked()
            {
                actions.push(Action::StopRecording {
                    ask_again: !dont_ask,
                });
            }
            if ui.button("Keep recording").clicked() {
                actions.push(Action::KeepRecording);
            }
        });
    });
    if modal.should_close() {
        actions.push(Action::KeepRecording);
    }
}

fn quit(ctx: &egui::Context, running: Running, actions: &mut Vec<Action>) {
    let modal = egui::Modal::new(egui::Id::unique("confirm_quit")).show(ctx, |ui| {
        ui.heading("Quit onair?");
        let what = match (running.live, running.recording) {
            (true, true) => {
                "You are live and recording. Quitting ends the stream and finishes the \
                 recording (the file is kept)."
            }
            (true, false) => "You are live. Quitting ends the stream for your viewers.",
            _ => "You are recording. Quitting finishes the recording (the file is kept).",
        };
        ui.label(what);
        ui.add_space(8.0);
        ui.horizontal(|ui| {
            if ui.button(RichText::new("Quit").color(ALARM)).clicked() {
                actions.push(Action::Quit);
            }
            if ui.button("Cancel").clicked() {
                actions.push(Action::CancelQuit);
            }
        });
    });
    if modal.should_close() {
        actions.push(Action::CancelQuit);
    }
}

#[cfg(test)]
mod tests {
    use egui_kittest::Harness;
    use egui_kittest::kittest::Queryable as _;

    use super::*;

    fn question(asking: Asking) -> Harness<'static, Vec<Action>> {
        Harness::new_ui_state(
            move |ui, actions: &mut Vec<Action>| show(&ui.ctx().clone(), asking, actions),
            Vec::new(),
        )
    }

    #[test]
    fn stop_and_keep_ask_for_their_actions() {
        let mut h = question(Asking {
            stop_live: true,
            ..Asking::default()
        });
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
    fn stopping_a_recording_asks_and_can_be_told_not_to() {
        let mut h = question(Asking {
            stop_recording: true,
            ..Asking::default()
        });
        h.run();
        assert!(h.query_by_label("Stop recording?").is_some());
        h.get_by_label("Keep recording").click();
        h.run();
        assert_eq!(h.state(), &[Action::KeepRecording]);
        h.state_mut().clear();
        h.get_by_label_contains("Don't ask again").click();
        h.run();
        h.get_by_label("Stop recording").click();
        h.run();
        assert_eq!(h.state(), &[Action::StopRecording { ask_again: false }]);
    }

    #[test]
    fn the_close_question_says_what_runs() {
        let mut h = question(Asking {
            quit: Some(Running {
                live: true,
                recording: true,
            }),
            ..Asking::default()
        });
        h.run();
        assert!(h.query_by_label("Quit onair?").is_some());
        assert!(h.query_by_label_contains("live and recording").is_some());
        h.get_by_label("Cancel").click();
        h.run();
        assert_eq!(h.state(), &[Action::CancelQuit]);
        h.state_mut().clear();
        h.get_by_label("Quit").click();
        h.run();
        assert_eq!(h.state(), &[Action::Quit]);
    }

    #[test]
    fn nothing_is_asked_unless_asking() {
        let mut h = question(Asking::default());
        h.run();
        assert!(h.query_by_label("Stop streaming?").is_none());
        assert!(h.state().is_empty());
    }
}
