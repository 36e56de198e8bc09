//! The action bar: Go live, Record, Preview in browser (with their shortcuts), Log and
//! Settings, and one status line per action, with what the action last could not do.

use eframe::egui::{self, Color32, RichText};

use super::{ALARM, GOOD, WARN, bytes, elapsed};
use crate::app::desktop::OpenFailure;
use crate::app::{Action, SessionView};
use crate::output::OutputState;

/// What Go live, Record and Preview in browser last could not do: (error, text), in that
/// order.
pub type Notes<'a> = [Option<&'a (bool, String)>; 3];

pub fn show(
    ui: &mut egui::Ui,
    view: &SessionView,
    notes: Notes<'_>,
    open_failure: Option<&OpenFailure>,
    actions: &mut Vec<Action>,
) {
    let note = |ui: &mut egui::Ui, i: usize| {
        if let Some((error, text)) = notes[i] {
            let colour = if *error { ALARM } else { GOOD };
            ui.label(RichText::new(text).color(colour));
        }
    };
    ui.add_space(6.0);
    ui.horizontal(|ui| {
        let live = view.live.since.is_some();
        let big = |text: &str| RichText::new(text).size(20.0).strong();
        let go = egui::Button::new(big(if live { "Stop streaming" } else { "Go live" }))
            .fill(if live {
                ALARM
            } else {
                Color32::from_rgb(0x2a, 0x6a, 0xd0)
            })
            .min_size(egui::vec2(170.0, 44.0));
        if ui
            .add_enabled(!view.live.stopping, go)
            .on_hover_text("Ctrl+L")
            .clicked()
        {
            actions.push(Action::ToggleLive);
        }
        let recording = view.recording.since.is_some();
        let rec = egui::Button::new(big(if recording {
            "Stop recording"
        } else {
            "Record"
        }))
        .min_size(egui::vec2(150.0, 44.0));
        if ui
            .add_enabled(!view.recording.stopping, rec)
            .on_hover_text("Ctrl+R")
            .clicked()
        {
            actions.push(Action::ToggleRecording);
        }
        let previewing = view.preview.since.is_some();
        let prev = egui::Button::new(big(if previewing {
            "Stop preview"
        } else {
            "Preview in browser"
        }))
        .min_size(egui::vec2(190.0, 44.0));
        if ui
            .add_enabled(!view.preview.stopping, prev)
            .on_hover_text("Ctrl+P")
            .clicked()
        {
            actions.push(Action::TogglePreview);
        }
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            if ui.button("Log").clicked() {
                actions.push(Action::ToggleLog);
            }
            if ui.button("Settings").clicked() {
                actions.push(Action::ToggleSettings);
            }
        });
    });
    // One status line per action.
    ui.horizontal_wrapped(|ui| {
        let status = if view.live.stopping {
            RichText::new("Live: stopping…").color(WARN)
        } else if view.live.since.is_some() {
            RichText::new(format!("LIVE {}", elapsed(&view.live)))
                .color(GOOD)
                .strong()
        } else {
            RichText::new("Live: idle").weak()
        };
        ui.label(status);
        note(ui, 0);
        ui.separator();
        let status = match (&view.recording_output, view.recording.since) {
            _ if view.recording.stopping => {
                RichText::new("Recording: finishing the file…").color(WARN)
            }
            (Some(o), Some(_)) if o.state == OutputState::Failed => RichText::new(format!(
                "Recording failed: {}",
                o.last_error.as_deref().unwrap_or("error")
            ))
            .color(ALARM),
            (o, Some(_)) => RichText::new(format!(
                "REC {} {}",
                elapsed(&view.recording),
                bytes(o.as_ref().map_or(0, |o| o.bytes))
            ))
            .color(ALARM)
            .strong(),
            (_, None) => RichText::new("Recording: idle").weak(),
        };
        ui.label(status);
        note(ui, 1);
        ui.separator();
        match (&view.preview_url, view.preview.since) {
            (Some(url), Some(_)) => {
                ui.label(RichText::new("Preview:").color(GOOD));
                // Opened by the desktop's handler (egui's own links open nothing here).
                if ui.link(url).on_hover_text("Open in the browser").clicked() {
                    actions.push(Action::Open(url.clone()));
                }
                if ui.small_button("Copy").clicked() {
                    ui.ctx().copy_text(url.clone());
                }
            }
            (None, Some(_)) => {
                ui.label(RichText::new("Preview: starting…").color(WARN));
            }
            _ => {
                ui.label(RichText::new("Preview: idle").weak());
            }
        }
        note(ui, 2);
    });
    if let Some(f) = open_failure {
        cannot_open(ui, f, actions);
    }
    ui.add_space(4.0);
}

/// What the desktop could not open, why, and the address (or path) to copy.
fn cannot_open(ui: &mut egui::Ui, f: &OpenFailure, actions: &mut Vec<Action>) {
    ui.horizontal_wrapped(|ui| {
        ui.label(RichText::new(format!("Cannot open it: {}. Copy it:", f.error)).color(ALARM));
        let mut target = f.target.as_str();
        ui.add(egui::TextEdit::singleline(&mut target).desired_width(320.0))
            .on_hover_text("Select and copy, or use Copy");
        if ui.small_button("Copy").clicked() {
            ui.ctx().copy_text(f.target.clone());
        }
        if ui.small_button("Dismiss").clicked() {
            actions.push(Action::DismissOpenFailure);
        }
    });
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use egui_kittest::Harness;
    use egui_kittest::kittest::Queryable as _;

    use super::*;

    /// The bar alone, over `view`; returns what the clicks asked for, frame by frame.
    fn bar(view: SessionView) -> Harness<'static, (SessionView, Vec<Action>)> {
        Harness::new_ui_state(
            |ui, (view, actions): &mut (SessionView, Vec<Action>)| {
                show(ui, view, [None; 3], None, actions)
            },
            (view, Vec::new()),
        )
    }

    #[test]
    fn each_button_asks_for_its_action() {
        let mut h = bar(SessionView::default());
        h.run();
        assert!(h.state().1.is_empty(), "drawing alone asks for nothing");
        for (label, action) in [
            ("Go live", Action::ToggleLive),
            ("Record", Action::ToggleRecording),
            ("Preview in browser", Action::TogglePreview),
            ("Log", Action::ToggleLog),
            ("Settings", Action::ToggleSettings),
        ] {
            h.state_mut().1.clear();
            h.get_by_label(label).click();
            h.run();
            assert_eq!(h.state().1, [action], "{label}");
        }
    }

    #[test]
    fn while_live_the_button_stops_and_while_stopping_it_is_disabled() {
        let mut view = SessionView::default();
        view.live.since = Some(Instant::now());
        let mut h = bar(view);
        h.run();
        assert!(h.query_by_label("Go live").is_none());
        h.get_by_label("Stop streaming").click();
        h.run();
        assert_eq!(h.state().1, [Action::ToggleLive]);
        h.state_mut().0.live.stopping = true;
        h.state_mut().1.clear();
        h.run();
        h.get_by_label("Stop streaming").click();
        h.run();
        assert!(h.state().1.is_empty(), "a disabled button asks for nothing");
    }

    #[test]
    fn the_preview_link_opens_through_the_desktop_and_a_failure_shows_the_address() {
        let url = "http://127.0.0.1:8787/".to_owned();
        let mut view = SessionView::default();
        view.preview.since = Some(Instant::now());
        view.preview_url = Some(url.clone());
        let mut h = bar(view);
        h.run();
        h.get_by_label(&url).click();
        h.run();
        assert_eq!(h.state().1, [Action::Open(url.clone())]);

        let failure = OpenFailure {
            target: url.clone(),
            error: "no program to open it was found".into(),
        };
        let mut h = Harness::new_ui_state(
            move |ui, actions: &mut Vec<Action>| {
                show(
                    ui,
                    &SessionView::default(),
                    [None; 3],
                    Some(&failure),
                    actions,
                );
            },
            Vec::new(),
        );
        h.run();
        assert!(
            h.query_by_label_contains("Cannot open it: no program to open it was found")
                .is_some()
        );
        assert!(
            h.query_all_by_value(&url).count() >= 1,
            "the address to copy"
        );
        h.get_by_label("Dismiss").click();
        h.run();
        assert_eq!(h.state(), &[Action::DismissOpenFailure]);
    }
}
