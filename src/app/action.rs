//! What the window's panels ask for: collected while a frame is drawn, applied after it by
//! [`AppState::apply`](super::AppState::apply) (egui demo's `Command`, rerun's pending system
//! commands). A panel never calls the session or the engine while drawing; a test can draw a
//! panel alone and assert which actions a click produced.

use crate::config::PresetSpec;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Go live to every destination switched on; while live, ask whether to stop.
    ToggleLive,
    /// Stop streaming (the confirmation's "Stop streaming").
    StopLive,
    /// Keep streaming (the confirmation dismissed).
    KeepLive,
    /// Start a recording named after the time, or stop the running one.
    ToggleRecording,
    /// Start the browser preview, or stop it.
    TogglePreview,
    /// Retry every reconnecting destination now.
    RetryNow,
    /// List the screens, windows, cameras and microphones again.
    ListDevices,
    /// A new destination (Twitch's first ingest, switched on).
    AddDestination,
    /// Remove the destination with this id, and its stream key.
    RemoveDestination(u64),
    /// Show or mask the stream key of the destination with this id.
    ToggleKeyShown(u64),
    ToggleLog,
    ClearLog,
    ToggleSettings,
    /// Edit the custom preset at this index in the preset form.
    EditPreset(usize),
    /// Delete the custom preset at this index.
    DeletePreset(usize),
    /// Save the preset form's (checked) preset: a new one, or the one being edited.
    SavePreset(PresetSpec),
    /// Empty the preset form.
    CancelPresetEdit,
    /// The program preview is laid out this many physical pixels wide.
    PreviewWidth(u32),
}
