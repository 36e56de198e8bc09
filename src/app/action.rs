//! What the window's panels ask for: collected while a frame is drawn, applied after it by
//! [`AppState::apply`](super::AppState::apply) (egui demo's `Command`, rerun's pending system
//! commands). A panel never calls the session or the engine while drawing; a test can draw a
//! panel alone and assert which actions a click produced.

use crate::config::PresetSpec;
use crate::config::mixer::SourceKind;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Go live to every destination switched on; while live, ask whether to stop.
    ToggleLive,
    /// Stop streaming (the confirmation's "Stop streaming").
    StopLive,
    /// Keep streaming (the confirmation dismissed).
    KeepLive,
    /// Start a recording named after the time; while recording, ask whether to stop (unless
    /// told not to ask in Settings).
    ToggleRecording,
    /// Stop recording (the confirmation's "Stop recording"); `ask_again: false` is its
    /// "Don't ask again".
    StopRecording {
        ask_again: bool,
    },
    /// Keep recording (the confirmation dismissed).
    KeepRecording,
    /// Quit although something runs (the close question's "Quit").
    Quit,
    /// Keep the window open (the close question dismissed).
    CancelQuit,
    /// Start the browser preview, or stop it.
    TogglePreview,
    /// Retry every reconnecting destination now.
    RetryNow,
    /// List the screens, windows, cameras and microphones again.
    ListDevices,
    /// A new destination (Twitch's first ingest, switched on).
    AddDestination,
    /// Remove the destination with this id, and its stream key (undone by `UndoRemove`).
    RemoveDestination(u64),
    /// Put back the destination removed last, with its key, where it was.
    UndoRemove,
    /// Show or mask the stream key of the destination with this id.
    ToggleKeyShown(u64),
    ToggleLog,
    ClearLog,
    /// Save the log view's lines to a file chosen in the desktop's dialog.
    SaveLog,
    ToggleSettings,
    /// Edit the custom preset at this index in the preset form.
    EditPreset(usize),
    /// Delete the custom preset at this index.
    DeletePreset(usize),
    /// Save the preset form's (checked) preset: a new one, or the one being edited.
    SavePreset(PresetSpec),
    /// Empty the preset form.
    CancelPresetEdit,
    /// Record into this folder: created if missing, or why not said beside the field.
    SetRecordFolder(std::path::PathBuf),
    /// Choose the recordings folder in the desktop's folder dialog.
    PickRecordFolder,
    /// Open an address, folder or file with the desktop's handler.
    Open(String),
    /// Select this file in the file manager (else open its folder).
    ShowFile(std::path::PathBuf),
    /// Hide the "cannot open" message.
    DismissOpenFailure,
    /// The program preview is laid out this many physical pixels wide.
    PreviewWidth(u32),
    /// Add a source of this kind to the mixer (it joins a running mixer at once).
    AddAudioSource(SourceKind),
    /// Remove the mixer's source of this name (it leaves a running mixer at once).
    RemoveAudioSource(String),
    /// Open the filters window of this source, or close it.
    ToggleFilters(String),
    /// Add a filter (by its [`kind`](crate::config::mixer::Filter::kind)) at the end of a
    /// source's chain.
    AddFilter {
        source: String,
        kind: &'static str,
    },
    RemoveFilter {
        source: String,
        index: usize,
    },
    /// Move a source's filter one place earlier (`up`) or later in its chain.
    MoveFilter {
        source: String,
        index: usize,
        up: bool,
    },
    /// Put this scene on the program: at once when stopped; while running, with the
    /// configured transition (a cut, or a fade of its length).
    SwitchScene(String),
    /// An edit of the scenes, their layers and sources (undoable).
    Studio(crate::app::studio::Edit),
    /// Choose the image of the source at this index in the desktop's file dialog.
    PickImage(usize),
    /// Mute or unmute the mixer's source of this name, or the master (`None`).
    ToggleMute(Option<String>),
    /// Listen for the next key combination, to bind it to this hotkey (Settings).
    CaptureHotkey(crate::app::hotkeys::Target),
    /// Bind this combination to this hotkey (taken from any other).
    BindHotkey(crate::app::hotkeys::Target, crate::app::hotkeys::Combo),
    /// Unbind this hotkey.
    ClearHotkey(crate::app::hotkeys::Target),
    /// Stop listening for a combination (Escape).
    CancelHotkeyCapture,
}
