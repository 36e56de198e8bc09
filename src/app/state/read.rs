//! What the window draws: `AppState`'s read-only accessors.

use super::*;

impl AppState {
    // What the window draws.

    /// The latest view from the controller.
    pub fn view(&self) -> &SessionView {
        &self.view
    }
    /// The audio meters as drawn, left and right.
    pub fn meters(&self) -> &[Meter; 2] {
        &self.meters
    }
    /// The meters of the mixer's strips while running.
    pub fn strip_meters(&self) -> &StripMeters {
        &self.strip_meters
    }
    /// The source whose filters window is open.
    pub fn filters_open(&self) -> Option<&str> {
        self.filters_open.as_deref()
    }
    /// What is wrong with the mixer as edited, said beside it until fixed.
    pub fn mixer_problem(&self) -> Option<&str> {
        self.mixer_problem.as_deref()
    }
    /// Where the stream keys are kept (`None` while they load).
    pub fn keys_place(&self) -> Option<&Place> {
        self.keys_place.as_ref()
    }
    /// Why the keyring is not used, when one was wanted.
    pub fn no_keyring(&self) -> Option<&str> {
        self.no_keyring.as_deref()
    }
    /// The notifications being shown.
    pub fn toasts(&self) -> impl Iterator<Item = &Notice> {
        self.toasts.iter().map(|(n, _)| n)
    }
    pub fn log_lines(&self) -> &VecDeque<LogLine> {
        &self.log_lines
    }
    pub fn key_shown(&self, id: u64) -> bool {
        self.shown_keys.contains(&id)
    }
    pub fn confirm_stop_live(&self) -> bool {
        self.confirm_stop_live
    }
    pub fn confirm_stop_recording(&self) -> bool {
        self.confirm_stop_recording
    }
    /// What runs, while "Quit onair?" is being asked.
    pub fn confirm_quit(&self) -> Option<Running> {
        self.confirm_quit
    }
    /// Why the recordings folder cannot be used.
    pub fn record_folder_error(&self) -> Option<&str> {
        self.record_folder_error.as_deref()
    }
    /// The file dialog is open.
    pub fn file_dialog_open(&self) -> bool {
        self.file_dialog.is_open()
    }
    /// The recording being written, else the last one saved.
    pub fn last_recording(&self) -> Option<&std::path::Path> {
        self.view
            .recording_path
            .as_deref()
            .or(self.last_recording.as_deref())
    }
    /// What the desktop could not open (the target to copy, and why).
    pub fn open_failure(&self) -> Option<&OpenFailure> {
        self.open_failure.as_ref()
    }
    /// What the last "Show file" did.
    pub fn shown(&self) -> Option<&ShowOutcome> {
        self.shown.as_ref()
    }
    /// The outcome of the last Save… of the log: (failed, text).
    pub fn log_saved(&self) -> Option<&(bool, String)> {
        self.log_saved.as_ref()
    }
    /// What the last Go live, Record, Preview in browser could not do, for its status line.
    pub fn status_note(&self, of: StatusOf) -> Option<&(bool, String)> {
        self.status_notes[of as usize].as_ref()
    }
    /// The destination removed last, while its removal can be undone.
    pub fn removed(&self) -> Option<&DestinationSettings> {
        self.removed.as_ref().map(|r| &r.destination)
    }
    pub fn settings_open(&self) -> bool {
        self.settings_open
    }
    pub fn log_open(&self) -> bool {
        self.log_open
    }
    /// The settings and keys to edit in place, with the view and the unmasked keys to read.
    pub fn editing(&mut self) -> Editing<'_> {
        Editing {
            settings: &mut self.settings,
            keys: &mut self.keys,
            view: &self.view,
            shown_keys: &self.shown_keys,
            failures: &self.failures,
            keys_loaded: self.keys_place.is_some(),
        }
    }
    /// The presets that cannot be edited: the built-in ones.
    pub fn builtin_presets(&self) -> &[Preset] {
        &self.config_presets
    }
}
