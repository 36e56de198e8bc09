//! The destinations: what is wrong with one as typed, why going live to one failed, and the
//! live targets made from those switched on.

use super::*;
use crate::output::OutputState;
use crate::output::rtmp::RtmpUrl;
use crate::output::whip::WhipTarget;

impl AppState {
    /// What is wrong with destination `d` as typed, if anything (see
    /// [`destination_problem`]).
    pub fn destination_problem(&self, d: &DestinationSettings) -> Option<String> {
        destination_problem(
            &self.settings.destinations,
            &self.keys,
            self.keys_place.is_some(),
            d,
        )
    }

    /// Why the last attempt to go live to destination `id` failed, until it is edited or goes
    /// live again.
    pub fn destination_failure(&self, id: u64) -> Option<&str> {
        self.failures.get(&id).map(String::as_str)
    }

    /// The live targets: every destination switched on that has no problem, and the problems
    /// of those that have one (`name: why`). An error when none can go live.
    pub fn live_targets(&self) -> Result<(Vec<LiveTarget>, Vec<String>), String> {
        if self.keys_place.is_none() {
            return Err("the stream keys are still loading from the system keyring".into());
        }
        let mut targets = Vec::new();
        let mut problems = Vec::new();
        for d in self.settings.destinations.iter().filter(|d| d.enabled) {
            if let Some(why) = self.destination_problem(d) {
                problems.push(format!("{}: {why}", d.name));
                continue;
            }
            let key = self.keys.get(d.id);
            let server = if d.service == Service::Whip {
                // A WHIP server may take no token.
                let token = (!key.is_empty()).then(|| key.to_owned());
                WhipTarget::new(&d.server, token)
                    .map(LiveServer::Whip)
                    .map_err(|e| e.to_string())
            } else {
                RtmpUrl::with_key(&d.server, key)
                    .map(LiveServer::Rtmp)
                    .map_err(|e| e.to_string())
            };
            match server {
                Ok(server) => targets.push(LiveTarget {
                    name: d.name.clone(),
                    server,
                }),
                Err(e) => problems.push(format!("{}: {e}", d.name)),
            }
        }
        if targets.is_empty() {
            if problems.is_empty() {
                return Err("no destination is switched on: add one and switch it on".into());
            }
            return Err(problems.join("; "));
        }
        Ok((targets, problems))
    }

    /// Keeps why a destination failed (the output gave up, or is retrying), for its card.
    pub(super) fn note_failures(&mut self) {
        for v in &self.view.destinations {
            let Some(o) = &v.output else { continue };
            let why = match o.state {
                OutputState::Failed | OutputState::Reconnecting => o.last_error.clone(),
                OutputState::Live => None,
                _ => continue,
            };
            let Some(d) = self.settings.destinations.iter().find(|d| d.name == v.name) else {
                continue;
            };
            match why {
                Some(why) => {
                    self.failures.insert(d.id, why);
                }
                None => {
                    self.failures.remove(&d.id);
                }
            }
        }
    }
}

/// What is wrong with destination `d` (one of `all`) as typed, if anything: shown on its card
/// as it is typed, until fixed. The server is quoted as typed; the key never is. A missing key
/// is a problem once the keys have loaded.
pub fn destination_problem(
    all: &[DestinationSettings],
    keys: &Keys,
    keys_loaded: bool,
    d: &DestinationSettings,
) -> Option<String> {
    if d.name.trim().is_empty() {
        return Some("enter a name".into());
    }
    if all.iter().filter(|o| o.name == d.name).count() > 1 {
        return Some("another destination has this name: rename one".into());
    }
    if d.server.trim().is_empty() {
        return Some("enter the server (rtmp://host/app)".into());
    }
    let key = keys.get(d.id);
    if d.service == Service::Whip {
        // A WHIP endpoint may take no bearer token.
        let token = (!key.is_empty()).then(|| key.to_owned());
        return WhipTarget::new(&d.server, token)
            .err()
            .map(|e| e.to_string());
    }
    // The server is checked with its key, or a stand-in (masked like a key, never shown).
    if let Err(e) = RtmpUrl::with_key(&d.server, if key.is_empty() { "k" } else { key }) {
        return Some(e.to_string());
    }
    if key.is_empty() && keys_loaded {
        return Some("enter the stream key".into());
    }
    None
}
