//! Hotkeys: a key combination per scene (switch to it) and per action (go live or stop,
//! record or stop, the browser preview, mute or unmute a mixer source or the master), set in
//! Settings by pressing the combination and saved with the window's settings. A combination
//! does one thing: binding it again moves it. The window turns key presses into [`Combo`]s
//! (never while a text field has the keyboard) and applies [`Target::action`].

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Action;
use super::settings::Settings;

/// What a hotkey does.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// Go live, or stop (asking first, as the button does).
    Live,
    /// Start a recording, or stop it.
    Record,
    /// Start the browser preview, or stop it.
    Preview,
    /// Mute or unmute the master.
    MuteMaster,
    /// Mute or unmute the mixer's source of this name.
    Mute(String),
    /// Switch the program to the scene of this name.
    Scene(String),
}

impl Target {
    /// What Settings calls it.
    pub fn label(&self) -> String {
        match self {
            Target::Live => "Go live / stop".into(),
            Target::Record => "Record / stop".into(),
            Target::Preview => "Browser preview / stop".into(),
            Target::MuteMaster => "Mute master".into(),
            Target::Mute(name) => format!("Mute {name}"),
            Target::Scene(name) => format!("Scene: {name}"),
        }
    }

    /// The action the hotkey stands for.
    pub fn action(&self) -> Action {
        match self {
            Target::Live => Action::ToggleLive,
            Target::Record => Action::ToggleRecording,
            Target::Preview => Action::TogglePreview,
            Target::MuteMaster => Action::ToggleMute(None),
            Target::Mute(name) => Action::ToggleMute(Some(name.clone())),
            Target::Scene(name) => Action::SwitchScene(name.clone()),
        }
    }
}

/// A key with its modifiers. `key` is the key's name as the window's toolkit writes it
/// (`F1`, `A`, `1`, `Space`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Combo {
    pub ctrl: bool,
    pub alt: bool,
    pub shift: bool,
    pub key: String,
}

impl fmt::Display for Combo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (on, name) in [
            (self.ctrl, "Ctrl+"),
            (self.alt, "Alt+"),
            (self.shift, "Shift+"),
        ] {
            if on {
                f.write_str(name)?;
            }
        }
        f.write_str(&self.key)
    }
}

/// One binding, as saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hotkey {
    pub target: Target,
    pub keys: Combo,
}

/// What Settings lists, in order: the actions, each mixer source's mute, then every scene
/// (those of the program, and any bound scene no longer there, so that it can be cleared).
pub fn targets(settings: &Settings, scenes: &[String]) -> Vec<Target> {
    let mut all = vec![
        Target::Live,
        Target::Record,
        Target::Preview,
        Target::MuteMaster,
    ];
    all.extend(
        settings
            .mixer
            .sources
            .iter()
            .map(|s| Target::Mute(s.name.clone())),
    );
    all.extend(scenes.iter().map(|s| Target::Scene(s.clone())));
    for h in &settings.hotkeys {
        if !all.contains(&h.target) {
            all.push(h.target.clone());
        }
    }
    all
}

/// The combination bound to `target`, if any.
pub fn combo_for<'a>(hotkeys: &'a [Hotkey], target: &Target) -> Option<&'a Combo> {
    hotkeys
        .iter()
        .find(|h| &h.target == target)
        .map(|h| &h.keys)
}

/// Binds `keys` to `target`, replacing its combination and taking `keys` from any other.
pub fn bind(hotkeys: &mut Vec<Hotkey>, target: Target, keys: Combo) {
    hotkeys.retain(|h| h.target != target && h.keys != keys);
    hotkeys.push(Hotkey { target, keys });
}

/// Unbinds `target`.
pub fn clear(hotkeys: &mut Vec<Hotkey>, target: &Target) {
    hotkeys.retain(|h| &h.target != target);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn combo(ctrl: bool, key: &str) -> Combo {
        Combo {
            ctrl,
            key: key.into(),
            ..Combo::default()
        }
    }

    #[test]
    fn a_combination_does_one_thing_and_a_target_has_one_combination() {
        let mut h = Vec::new();
        bind(&mut h, Target::Live, combo(false, "F1"));
        bind(&mut h, Target::Scene("BRB".into()), combo(false, "F2"));
        // F1 moves to the scene, which loses F2; Live has none left.
        bind(&mut h, Target::Scene("BRB".into()), combo(false, "F1"));
        assert_eq!(h.len(), 1);
        assert_eq!(combo_for(&h, &Target::Live), None);
        assert_eq!(
            combo_for(&h, &Target::Scene("BRB".into())),
            Some(&combo(false, "F1"))
        );
        clear(&mut h, &Target::Scene("BRB".into()));
        assert!(h.is_empty());
    }

    #[test]
    fn hotkeys_are_saved_and_read_back_and_written_as_people_read_them() {
        let mut s = Settings::default();
        bind(
            &mut s.hotkeys,
            Target::Mute("Mic/Aux".into()),
            combo(true, "M"),
        );
        bind(&mut s.hotkeys, Target::Record, combo(false, "F9"));
        let text = toml::to_string(&s).unwrap();
        let back: Settings = toml::from_str(&text).unwrap();
        assert_eq!(back.hotkeys, s.hotkeys, "{text}");
        assert_eq!(combo(true, "M").to_string(), "Ctrl+M");
        let all = targets(&s, &["Intro".into()]);
        assert!(all.contains(&Target::Scene("Intro".into())));
        assert_eq!(
            Target::Scene("Intro".into()).action(),
            Action::SwitchScene("Intro".into())
        );
    }
}
