//! The three big actions (go live, record, preview), also bound to keys.

use super::*;

impl AppState {
    // The three big actions, also bound to keys.

    pub(super) fn toggle_live(&mut self) {
        if self.view.live.since.is_some() {
            self.confirm_stop_live = true;
            return;
        }
        self.status_notes[StatusOf::Live as usize] = None;
        match self.live_targets() {
            Ok((targets, problems)) => {
                for t in &targets {
                    if let Some(d) = self.settings.destinations.iter().find(|d| d.name == t.name) {
                        self.failures.remove(&d.id);
                    }
                }
                self.session.send(Command::GoLive {
                    program: self.program(),
                    targets,
                });
                if !problems.is_empty() {
                    let text = format!("not live to {} (see the card)", problems.join("; "));
                    self.status_notes[StatusOf::Live as usize] = Some((true, text));
                }
            }
            Err(e) => {
                self.status_notes[StatusOf::Live as usize] =
                    Some((true, format!("cannot go live: {e}")));
            }
        }
    }

    pub(super) fn toggle_recording(&mut self) {
        if self.view.recording.since.is_some() {
            if self.settings.confirm_stop_recording {
                self.confirm_stop_recording = true;
            } else {
                self.session.send(Command::StopRecording);
            }
            return;
        }
        let folder = self.settings.record_folder.clone();
        self.status_notes[StatusOf::Recording as usize] = None;
        if let Err(why) = settings::prepare_folder(&folder) {
            self.status_notes[StatusOf::Recording as usize] =
                Some((true, format!("cannot record: {why} (Settings, Recording)")));
            self.record_folder_error = Some(why);
            return;
        }
        let name = self.recording_name(SystemTime::now());
        self.session.send(Command::StartRecording {
            program: self.program(),
            path: self.settings.record_folder.join(name),
            format: self.settings.record_format.format(),
        });
    }

    pub(super) fn toggle_preview(&mut self) {
        if self.view.preview.since.is_some() {
            self.session.send(Command::StopPreview);
            return;
        }
        self.status_notes[StatusOf::Preview as usize] = None;
        let addr = match self.settings.preview_addr.parse() {
            Ok(a) => a,
            Err(_) => {
                let text = format!(
                    "preview address `{}` is not like 127.0.0.1:8787; fix it in Settings",
                    self.settings.preview_addr
                );
                self.status_notes[StatusOf::Preview as usize] = Some((true, text));
                return;
            }
        };
        self.session.send(Command::StartPreview {
            program: self.program(),
            dir: self.settings.hls_folder.clone(),
            addr,
        });
    }
}
