//! The window's mixer: what its actions do to the mixer's settings, how an edit reaches the
//! running mixer (through [`MixerControls`], never waiting on the engine), and the strips'
//! meters as drawn. Pure but for the controls it is handed.

use std::collections::HashMap;
use std::time::Instant;

use super::meter::Meter;
use super::settings::source_name;
use crate::config::mixer::{
    Filter, MAX_FILTERS, MAX_SOURCES, MixerSettings, SourceKind, SourceSettings,
};
use crate::mix::MixerControls;
use crate::pipeline::stats::ChannelLevel;

/// Adds a source of `kind` with a name of its own (`Mic/Aux`, `Mic/Aux 2`, …), at rest.
pub fn add_source(mixer: &mut MixerSettings, kind: SourceKind) -> Result<String, String> {
    if mixer.sources.len() >= MAX_SOURCES {
        return Err(format!(
            "the mixer takes at most {MAX_SOURCES} sources: remove one first"
        ));
    }
    let name = mixer.free_name(source_name(kind));
    mixer
        .sources
        .push(SourceSettings::new(name.clone(), kind, ""));
    Ok(name)
}

/// Adds the filter called `kind` (see [`Filter::kind`]), with its defaults, at the end of
/// `source`'s chain.
pub fn add_filter(mixer: &mut MixerSettings, source: &str, kind: &str) -> Result<(), String> {
    let Some(s) = mixer.source_mut(source) else {
        return Ok(());
    };
    if s.filters.len() >= MAX_FILTERS {
        return Err(format!(
            "{source}: at most {MAX_FILTERS} filters per source: remove one first"
        ));
    }
    if let Some(f) = Filter::ALL.iter().find(|f| f.kind() == kind) {
        s.filters.push(*f);
    }
    Ok(())
}

pub fn remove_filter(mixer: &mut MixerSettings, source: &str, index: usize) {
    if let Some(s) = mixer.source_mut(source)
        && index < s.filters.len()
    {
        s.filters.remove(index);
    }
}

/// Moves `source`'s filter at `index` one place earlier (`up`) or later in the chain.
pub fn move_filter(mixer: &mut MixerSettings, source: &str, index: usize, up: bool) {
    let Some(s) = mixer.source_mut(source) else {
        return;
    };
    let other = if up {
        index.checked_sub(1)
    } else {
        Some(index + 1)
    };
    if let Some(other) = other
        && index < s.filters.len()
        && other < s.filters.len()
    {
        s.filters.swap(index, other);
    }
}

/// The sources of `now` that must (re)join a running mixer: new ones, and those whose kind
/// or device changed since `before`.
pub fn joining(before: &MixerSettings, now: &MixerSettings) -> Vec<SourceSettings> {
    now.sources
        .iter()
        .filter(|s| {
            before
                .source(&s.name)
                .is_none_or(|b| b.kind != s.kind || b.device.trim() != s.device.trim())
        })
        .cloned()
        .collect()
}

/// The running mixer's settings made like `now`, for the sources it runs: their faders,
/// mutes, offsets, filters, monitoring, and the master; a source gone from `now` leaves it.
/// Sources not running yet join through [`joining`].
pub fn carry_over(running: &mut MixerSettings, now: &MixerSettings) {
    let mut sources: Vec<SourceSettings> = now
        .sources
        .iter()
        .filter(|s| running.source(&s.name).is_some())
        .cloned()
        .collect();
    // A video file's sound the engine added (not in the window's list) keeps playing.
    sources.extend(
        running
            .sources
            .iter()
            .filter(|s| s.kind == SourceKind::External && now.source(&s.name).is_none())
            .cloned(),
    );
    *running = MixerSettings {
        sources,
        ..now.clone()
    };
}

/// Takes the mixer's edit of one frame to the running mixer: the settings at once (the mixer
/// takes them at its next block), and the sources that must join, returned for the engine's
/// controller. Err: what is wrong with the edit (the running mixer keeps its settings).
pub fn push_to_running(
    before: &MixerSettings,
    now: &MixerSettings,
    controls: &MixerControls,
) -> Result<Vec<SourceSettings>, String> {
    controls
        .update(|running| carry_over(running, now))
        .map_err(|p| p.to_string())?;
    Ok(joining(before, now))
}

/// The strips' meters as drawn (left, right), by source name.
#[derive(Debug, Default)]
pub struct StripMeters {
    meters: HashMap<String, [Meter; 2]>,
}

impl StripMeters {
    /// Follows the running mixer's strips (none: every meter at rest).
    pub fn refresh(&mut self, controls: Option<&MixerControls>, now: Instant) {
        let Some(controls) = controls else {
            self.meters.clear();
            return;
        };
        let strips = controls.strips();
        self.meters
            .retain(|name, _| strips.iter().any(|h| h.name == *name));
        for h in strips {
            let meters = self.meters.entry(h.name.clone()).or_default();
            if let Some(r) = h.levels.get() {
                for (c, m) in meters.iter_mut().enumerate() {
                    let level = ChannelLevel {
                        peak_dbfs: r.peak_dbfs[c],
                        rms_dbfs: r.rms_dbfs[c],
                    };
                    m.update(level, r.windows, now);
                }
            }
        }
    }

    /// The meters of the source called `name`, while it runs.
    pub fn get(&self, name: &str) -> Option<&[Meter; 2]> {
        self.meters.get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mixer() -> MixerSettings {
        let mut m = MixerSettings::default();
        add_source(&mut m, SourceKind::Tone).unwrap();
        add_source(&mut m, SourceKind::Microphone).unwrap();
        add_source(&mut m, SourceKind::Microphone).unwrap();
        m
    }

    /// A mixer edit in the window keeps the running video file's sound, which the window's
    /// list does not have (the engine added it); a source removed in the window goes.
    #[test]
    fn an_edit_keeps_the_running_video_sound() {
        let now = mixer();
        let mut running = now.clone();
        running
            .sources
            .push(SourceSettings::new("intro", SourceKind::External, ""));
        let mut edited = now.clone();
        edited.sources.retain(|s| s.name != "Mic/Aux 2");
        edited.master_db = -3.0;
        carry_over(&mut running, &edited);
        let names: Vec<_> = running.sources.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["Sync tone", "Mic/Aux", "intro"]);
        assert_eq!(running.master_db, -3.0);
    }

    #[test]
    fn sources_get_names_of_their_own_and_filters_keep_their_order() {
        let mut m = mixer();
        let names: Vec<_> = m.sources.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["Sync tone", "Mic/Aux", "Mic/Aux 2"]);
        for kind in ["noise_suppression", "gain", "compressor"] {
            add_filter(&mut m, "Mic/Aux", kind).unwrap();
        }
        move_filter(&mut m, "Mic/Aux", 2, true);
        move_filter(&mut m, "Mic/Aux", 0, true); // already first: stays
        move_filter(&mut m, "Mic/Aux", 2, false); // already last: stays
        remove_filter(&mut m, "Mic/Aux", 0);
        let kinds: Vec<_> = m
            .source("Mic/Aux")
            .unwrap()
            .filters
            .iter()
            .map(Filter::kind)
            .collect();
        assert_eq!(kinds, ["compressor", "gain"]);
        for _ in 2..MAX_FILTERS {
            add_filter(&mut m, "Mic/Aux", "gain").unwrap();
        }
        assert!(
            add_filter(&mut m, "Mic/Aux", "gain")
                .unwrap_err()
                .contains("at most 8")
        );
        for _ in 3..MAX_SOURCES {
            add_source(&mut m, SourceKind::Desktop).unwrap();
        }
        assert!(add_source(&mut m, SourceKind::Tone).is_err());
        m.validate().unwrap();
    }

    #[test]
    fn an_edit_reaches_the_running_sources_and_new_devices_join() {
        let before = mixer();
        // The running mixer runs the tone and the first microphone only.
        let mut running = before.clone();
        running.sources.truncate(2);
        let mut now = before.clone();
        now.master_db = -6.0;
        now.source_mut("Sync tone").unwrap().volume_db = -10.0;
        now.source_mut("Mic/Aux").unwrap().device = "alsa_input.usb".into();
        now.sources.retain(|s| s.name != "Mic/Aux 2");
        add_source(&mut now, SourceKind::Desktop).unwrap();
        carry_over(&mut running, &now);
        assert_eq!(running.master_db, -6.0);
        assert_eq!(running.sources.len(), 2);
        assert_eq!(running.source("Sync tone").unwrap().volume_db, -10.0);
        let joins: Vec<_> = joining(&before, &now).into_iter().map(|s| s.name).collect();
        assert_eq!(joins, ["Mic/Aux", "Desktop Audio"]);
        // A source removed leaves the running mixer.
        now.sources.retain(|s| s.name != "Sync tone");
        carry_over(&mut running, &now);
        assert!(running.source("Sync tone").is_none());
    }
}
