//! What the window does each frame: takes in the controller's view, events and log lines
//! ([`AppState::refresh`]), then acts on what the panels' fields changed
//! ([`AppState::after_edits`]).

use super::*;

impl AppState {
    /// Takes the controller's latest view, its notices, key store events and new log lines;
    /// expires old notifications and moves the meters.
    pub fn refresh(&mut self, now: Instant) -> Refreshed {
        let mut refreshed = Refreshed::default();
        while let Some(event) = self.vault.as_ref().and_then(KeyVault::poll) {
            self.on_vault_event(event);
        }
        if let Some(view) = self.session.view_if_newer(self.view.generation) {
            let previous_url = self.view.preview_url.take();
            if self.view.recording_path.is_some() && view.recording_path.is_none() {
                self.last_recording = self.view.recording_path.take();
            }
            self.view = view;
            self.note_failures();
            for n in std::mem::take(&mut self.view.notices) {
                self.toasts.push((n, now));
            }
            // The page opens in the default browser once its address is known.
            if let (None, Some(url)) = (&previous_url, self.view.preview_url.clone()) {
                refreshed.open_url = Some(url.clone());
                self.open(url.clone());
                self.toasts.push((
                    Notice {
                        error: false,
                        text: format!("preview: {url}"),
                        file: None,
                    },
                    now,
                ));
            }
        }
        while let Some(failure) = self.opener.poll() {
            self.open_failure = Some(failure);
        }
        while let Some(shown) = self.opener.poll_shown() {
            self.shown = Some(shown);
        }
        match self.file_dialog.poll() {
            Some((Ask::Folder, Some(dir))) => self.set_record_folder(dir),
            Some((Ask::SaveFile(_), Some(file))) => self.save_log(&file),
            Some((Ask::Image(index), Some(file))) => self.image_chosen(index, file),
            _ => {}
        }
        for line in self.log.since(self.log_seen) {
            self.log_seen = line.seq;
            if self.log_lines.len() == LOG_VIEW_LINES {
                self.log_lines.pop_front();
            }
            self.log_lines.push_back(line);
        }
        self.toasts
            .retain(|(_, at)| now.duration_since(*at) < TOAST_TIME);
        if self
            .removed
            .as_ref()
            .is_some_and(|r| now.duration_since(r.at) >= UNDO_TIME)
        {
            self.removed = None;
        }
        // The meters follow the newest reading at every repaint (the preview's rate while
        // running), so their fall and hold move smoothly.
        match self.view.levels.as_ref().and_then(|l| l.get()) {
            Some((channels, window)) => {
                for (m, c) in self.meters.iter_mut().zip(channels) {
                    m.update(c, window, now);
                }
            }
            None => self.meters = [Meter::default(); 2],
        }
        self.strip_meters.refresh(self.view.mixer.as_deref(), now);
        refreshed
    }

    /// The settings and keys before this frame's edits.
    pub fn edits(&self) -> Edits {
        Edits {
            settings: self.settings.clone(),
            keys: self.keys.clone(),
        }
    }

    /// Acts on what the panels' fields changed since `before`: keys go to the key store;
    /// changed settings are saved, a new preview rate goes to the controller, and the mixer's
    /// changes reach the running mixer at once (sources that join go through the controller).
    pub fn after_edits(&mut self, before: Edits) {
        if self.keys != before.keys {
            self.save_keys();
        }
        // A destination edited is checked afresh: its last failure goes.
        for d in &self.settings.destinations {
            let edited = before.settings.destinations.iter().find(|b| b.id == d.id) != Some(d)
                || before.keys.get(d.id) != self.keys.get(d.id);
            if edited {
                self.failures.remove(&d.id);
            }
        }
        // A status line's note was about the settings as they were.
        if self.settings != before.settings || self.keys != before.keys {
            self.status_notes = Default::default();
        }
        if self.settings != before.settings {
            if self.settings.preview_fps != before.settings.preview_fps {
                self.session.send(Command::PreviewRate(self.preview_rate()));
            }
            if self.settings.mixer != before.settings.mixer {
                self.mixer_edited(&before.settings.mixer);
            }
            if self.settings.scene_set() != before.settings.scene_set() {
                self.scenes_edited();
            }
            self.program_edited();
            self.save();
        }
    }

    /// Takes an edit of the mixer to the running mixer (the mixer takes the settings at its
    /// next block; it never waits for this lock); idle, checks it.
    fn mixer_edited(&mut self, before: &crate::config::mixer::MixerSettings) {
        let now = &self.settings.mixer;
        let Some(controls) = self.view.mixer.clone() else {
            self.mixer_problem = now.validate().err().map(|p| p.to_string());
            return;
        };
        match mixer::push_to_running(before, now, &controls) {
            Ok(joining) => {
                self.mixer_problem = None;
                for source in joining {
                    self.session.send(Command::AttachAudioSource(source));
                }
            }
            Err(problem) => self.mixer_problem = Some(problem),
        }
    }
}
