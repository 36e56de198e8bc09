//! What each [`Action`] does.

use super::*;

impl AppState {
    /// Carries out one action of the panels (or a shortcut).
    pub fn apply(&mut self, action: Action) {
        match action {
            Action::ToggleLive => self.toggle_live(),
            Action::SwitchScene(name) => self.switch_scene(name),
            Action::Studio(edit) => self.edit_scenes(edit),
            Action::PickImage(index) => self.pick_image(index),
            Action::StopLive => {
                self.session.send(Command::StopLive);
                self.confirm_stop_live = false;
            }
            Action::KeepLive => self.confirm_stop_live = false,
            Action::ToggleRecording => self.toggle_recording(),
            Action::StopRecording { ask_again } => {
                self.confirm_stop_recording = false;
                if !ask_again {
                    self.settings.confirm_stop_recording = false;
                }
                if self.view.recording.since.is_some() {
                    self.session.send(Command::StopRecording);
                }
            }
            Action::KeepRecording => self.confirm_stop_recording = false,
            Action::Quit => {
                self.confirm_quit = None;
                self.quit_confirmed = true;
            }
            Action::CancelQuit => self.confirm_quit = None,
            Action::TogglePreview => self.toggle_preview(),
            Action::RetryNow => {
                self.session.send(Command::RetryNow);
            }
            Action::ListDevices => {
                self.session.send(Command::ListDevices);
            }
            Action::AddDestination => {
                let id = self.settings.next_destination_id();
                let mut d = DestinationSettings {
                    id,
                    name: format!("Destination {id}"),
                    service: Service::Twitch,
                    server: String::new(),
                    enabled: true,
                };
                d.reset_server();
                self.settings.destinations.push(d);
            }
            Action::RemoveDestination(id) => {
                let Some(index) = self.settings.destinations.iter().position(|d| d.id == id) else {
                    return;
                };
                let destination = self.settings.destinations.remove(index);
                let key = self.keys.get(id).to_owned();
                self.keys.set(id, String::new());
                self.shown_keys.remove(&id);
                self.removed = Some(Removed {
                    destination,
                    key,
                    index,
                    at: Instant::now(),
                });
            }
            Action::UndoRemove => {
                if let Some(r) = self.removed.take() {
                    let id = r.destination.id;
                    let index = r.index.min(self.settings.destinations.len());
                    self.settings.destinations.insert(index, r.destination);
                    self.keys.set(id, r.key);
                }
            }
            Action::ToggleKeyShown(id) => {
                if !self.shown_keys.remove(&id) {
                    self.shown_keys.insert(id);
                }
            }
            Action::ToggleLog => self.log_open = !self.log_open,
            Action::ClearLog => self.log_lines.clear(),
            Action::ToggleSettings => self.settings_open = !self.settings_open,
            Action::EditPreset(i) => {
                if let Some(spec) = self.settings.custom_presets.get(i) {
                    self.preset_form.load(i, spec);
                }
            }
            Action::DeletePreset(i) => {
                let Settings {
                    custom_presets,
                    preset,
                    ..
                } = &mut self.settings;
                self.preset_form.delete(i, custom_presets, preset);
            }
            Action::SavePreset(spec) => {
                let Settings {
                    custom_presets,
                    preset,
                    ..
                } = &mut self.settings;
                self.preset_form.save(spec, custom_presets, preset);
            }
            Action::CancelPresetEdit => self.preset_form = PresetForm::default(),
            Action::Open(target) => self.open(target),
            Action::ShowFile(file) => {
                self.open_failure = None;
                self.shown = None;
                self.opener.show_file(file);
            }
            Action::SetRecordFolder(dir) => self.set_record_folder(dir),
            Action::PickRecordFolder => {
                let start = self.settings.record_folder.clone();
                let wake = self.wake.clone();
                self.file_dialog
                    .ask(Ask::Folder, "Recordings folder", start, wake);
            }
            Action::SaveLog => {
                let name = format!(
                    "onair-log-{}.txt",
                    humantime::format_rfc3339_seconds(SystemTime::now())
                        .to_string()
                        .replace(':', "-")
                );
                let start = self.settings.record_folder.clone();
                let wake = self.wake.clone();
                self.file_dialog
                    .ask(Ask::SaveFile(name), "Save the log", start, wake);
            }
            Action::DismissOpenFailure => self.open_failure = None,
            Action::AddAudioSource(kind) => {
                if let Err(e) = mixer::add_source(&mut self.settings.mixer, kind) {
                    self.toast(true, e);
                }
            }
            Action::RemoveAudioSource(name) => {
                self.settings.mixer.sources.retain(|s| s.name != name);
                if self.filters_open.as_deref() == Some(&name) {
                    self.filters_open = None;
                }
            }
            Action::ToggleFilters(name) => {
                self.filters_open = if self.filters_open.as_deref() == Some(&name) {
                    None
                } else {
                    Some(name)
                };
            }
            Action::AddFilter { source, kind } => {
                if let Err(e) = mixer::add_filter(&mut self.settings.mixer, &source, kind) {
                    self.toast(true, e);
                }
            }
            Action::RemoveFilter { source, index } => {
                mixer::remove_filter(&mut self.settings.mixer, &source, index);
            }
            Action::MoveFilter { source, index, up } => {
                mixer::move_filter(&mut self.settings.mixer, &source, index, up);
            }
            Action::PreviewWidth(px) => {
                // Told at every layout (an atomic store), so a newly started engine hears it.
                if let Some(picture) = &self.view.picture {
                    picture.set_width(px);
                }
            }
            Action::ToggleMute(_)
            | Action::CaptureHotkey(_)
            | Action::BindHotkey(..)
            | Action::ClearHotkey(_)
            | Action::CancelHotkeyCapture => self.apply_hotkey_action(action),
        }
    }
}
