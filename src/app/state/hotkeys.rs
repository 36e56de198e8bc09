//! What the hotkeys' actions do: switch scenes, mute, and setting the hotkeys in Settings.

use super::*;
use crate::app::hotkeys::{self, Combo, Target};

impl AppState {
    /// The hotkey Settings is listening for a combination for, if any (while it listens,
    /// no hotkey fires).
    pub fn hotkey_capture(&self) -> Option<&Target> {
        self.hotkey_capture.as_ref()
    }

    /// What Settings lists hotkeys for.
    pub fn hotkey_targets(&self) -> Vec<Target> {
        let scenes: Vec<String> = self
            .settings
            .scenes
            .iter()
            .map(|s| s.name.clone())
            .collect();
        hotkeys::targets(&self.settings, &scenes)
    }

    /// The action bound to `keys`, if any; none while Settings listens for a combination.
    pub fn hotkey(&self, keys: &Combo) -> Option<Action> {
        if self.hotkey_capture.is_some() {
            return None;
        }
        self.settings
            .hotkeys
            .iter()
            .find(|h| &h.keys == keys)
            .map(|h| h.target.action())
    }

    pub(super) fn apply_hotkey_action(&mut self, action: Action) {
        match action {
            Action::ToggleMute(None) => {
                self.settings.mixer.master_muted ^= true;
            }
            Action::ToggleMute(Some(name)) => match self.settings.mixer.source_mut(&name) {
                Some(s) => s.muted ^= true,
                None => self.toast(true, format!("no audio source is called \"{name}\"")),
            },
            Action::CaptureHotkey(target) => self.hotkey_capture = Some(target),
            Action::BindHotkey(target, keys) => {
                hotkeys::bind(&mut self.settings.hotkeys, target, keys);
                self.hotkey_capture = None;
            }
            Action::ClearHotkey(target) => {
                hotkeys::clear(&mut self.settings.hotkeys, &target);
                self.hotkey_capture = None;
            }
            Action::CancelHotkeyCapture => self.hotkey_capture = None,
            _ => {}
        }
    }
}
