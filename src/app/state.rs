//! The window's state and logic, without any GUI toolkit: the settings and keys being edited,
//! the session, the toasts, the log lines and meters shown, and what each [`Action`] does.
//!
//! The window ([`crate::ui`]) draws from it and collects the panels' actions while drawing;
//! after the frame it hands them to [`AppState::apply`], then [`AppState::after_edits`] saves
//! what the panels' fields changed.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use super::desktop::{Ask, FileDialog, OpenFailure, Opener, ShowOutcome};
use super::keystore::{KeyVault, KeyringUse, Place, VaultEvent};
use super::log::{LogLine, LogRing};
use super::meter::Meter;
use super::mixer::{self, StripMeters};
use super::presets::PresetForm;
use super::services::Service;
use super::settings::{self, DestinationSettings, Keys, Settings};
use super::{Action, Command, LiveServer, LiveTarget, Notice, Program, Session, SessionView};
use crate::config::{Config, Preset};
use crate::output::OutputState;
use crate::output::rtmp::RtmpUrl;
use crate::output::whip::WhipTarget;

/// How long a notification stays.
pub const TOAST_TIME: Duration = Duration::from_secs(8);
/// How long the window waits at startup for the stream keys (a keyring that takes longer, e.g.
/// one asking to be unlocked, delivers them later; meanwhile the key fields are read-only).
const KEYS_STARTUP_WAIT: Duration = Duration::from_millis(300);
/// How long closing the window waits for the last key change to be written.
const KEYS_EXIT_WAIT: Duration = Duration::from_secs(3);
/// Log lines the log view keeps.
const LOG_VIEW_LINES: usize = 300;
/// How long a removed destination can be put back.
pub const UNDO_TIME: Duration = Duration::from_secs(20);

/// A destination just removed, kept so that its notice can undo the removal.
#[derive(Debug, Clone)]
struct Removed {
    destination: DestinationSettings,
    key: String,
    /// Where it was in the list.
    index: usize,
    at: Instant,
}

/// The action bar's status lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusOf {
    Live,
    Recording,
    Preview,
}

/// What the close question says is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Running {
    pub live: bool,
    pub recording: bool,
}

/// How the app asks the window to repaint: at once (a key store event), or soon (a new view
/// from the controller, shown within a tick of the preview).
#[derive(Clone)]
pub struct Repaint {
    pub now: Arc<dyn Fn() + Send + Sync>,
    pub soon: Arc<dyn Fn() + Send + Sync>,
}

/// What a refresh found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Refreshed {
    /// The preview page's address, newly known (and being opened in the browser).
    pub open_url: Option<String>,
}

/// The settings and keys as they were before a frame's edits (see [`AppState::after_edits`]).
pub struct Edits {
    settings: Settings,
    keys: Keys,
}

/// What a panel that edits the settings and keys while reading the view borrows.
pub struct Editing<'a> {
    pub settings: &'a mut Settings,
    pub keys: &'a mut Keys,
    pub view: &'a SessionView,
    /// Destinations whose stream key is shown unmasked.
    pub shown_keys: &'a HashSet<u64>,
    /// Why going live to a destination (by id) failed last.
    pub failures: &'a HashMap<u64, String>,
    /// The keys have loaded (until then a missing key is no problem yet).
    pub keys_loaded: bool,
}

/// The window's state (see the module documentation).
pub struct AppState {
    pub settings: Settings,
    pub keys: Keys,
    /// Loads and saves the keys on its own thread (none without a config folder).
    vault: Option<KeyVault>,
    /// Where the keys are kept; `None` while they are still loading.
    keys_place: Option<Place>,
    /// Why the keyring is not used, when one was wanted.
    no_keyring: Option<String>,
    config_dir: Option<PathBuf>,
    /// `config.toml` was refused at start (broken, or from a newer onair): it is not written.
    config_refused: bool,
    /// The built-in presets.
    config_presets: Vec<Preset>,
    session: Session,
    view: SessionView,
    log: Arc<LogRing>,
    log_lines: VecDeque<LogLine>,
    log_seen: u64,
    toasts: Vec<(Notice, Instant)>,
    /// The software rasterizer drawing the window, if it is one (`llvmpipe`, …).
    software_renderer: Option<String>,
    /// The program audio's meters, left and right.
    meters: [Meter; 2],
    /// The mixer's strips' meters while running.
    strip_meters: StripMeters,
    /// The source whose filters window is open.
    filters_open: Option<String>,
    /// What is wrong with the mixer's settings as edited (the running mixer keeps its own).
    mixer_problem: Option<String>,
    /// Destinations whose stream key is shown unmasked.
    shown_keys: HashSet<u64>,
    /// "Stop streaming?" is being asked.
    confirm_stop_live: bool,
    /// "Stop recording?" is being asked.
    confirm_stop_recording: bool,
    /// "Quit onair?" is being asked (the window was told to close while live or recording).
    confirm_quit: Option<Running>,
    /// The close question was answered "Quit": the window closes without asking again.
    quit_confirmed: bool,
    /// The destination removed last, while it can be put back.
    removed: Option<Removed>,
    /// Why going live to a destination (by id) failed, until it is edited or goes live.
    failures: HashMap<u64, String>,
    settings_open: bool,
    log_open: bool,
    /// The custom preset being typed in Settings.
    pub preset_form: PresetForm,
    /// Raised by a signal (SIGINT, SIGTERM): the window closes.
    quit: Arc<AtomicBool>,
    /// The window's size as last seen, saved on exit.
    window_size: Option<[f32; 2]>,
    /// Opens pages, folders and files with the desktop's handler.
    opener: Opener,
    /// What the desktop could not open, shown until dismissed or opened again.
    open_failure: Option<OpenFailure>,
    /// What the last "Show file" did, shown beside its button.
    shown: Option<ShowOutcome>,
    /// The last Save… of the log: (failed, what happened), shown beside the button.
    log_saved: Option<(bool, String)>,
    /// Why the last Go live, Record or Preview in browser did not do all it was asked
    /// (error, text), shown on that action's status line until it is asked again or the
    /// settings change.
    status_notes: [Option<(bool, String)>; 3],
    /// The recordings folder's and the log's file dialog.
    file_dialog: FileDialog,
    /// Why the recordings folder cannot be used, shown beside it until it can.
    record_folder_error: Option<String>,
    /// The last recording saved, for its Open buttons.
    last_recording: Option<PathBuf>,
    /// The scene editor: selection, undo, the last collection that validated.
    studio: studio::StudioState,
    /// How to wake the window (the folder dialog's answer).
    wake: Arc<dyn Fn() + Send + Sync>,
    /// The program last sent to the controller (sent again when it changes).
    sent_program: Option<Program>,
    /// The hotkey being set in Settings (the next key combination pressed binds it).
    hotkey_capture: Option<super::hotkeys::Target>,
}

impl AppState {
    /// The state with settings from `config_dir` (defaults if none), its controller started;
    /// the stream keys in the platform keyring when `keyring` allows and one answers.
    pub fn new(
        config_dir: Option<PathBuf>,
        log: Arc<LogRing>,
        keyring: KeyringUse,
        repaint: Repaint,
    ) -> Self {
        let mut notices = Vec::new();
        let mut config_refused = false;
        let settings = match config_dir.as_deref() {
            Some(dir) => {
                let loaded = Settings::load_all(dir);
                config_refused = loaded.refused.is_some();
                notices.extend(loaded.refused.map(|why| {
                    format!(
                        "{why}; running with the defaults, and the file is not written until it is fixed"
                    )
                }));
                // The move of an old gui.toml is in the log (load_all), not a notification.
                notices.extend(loaded.errors);
                loaded.settings
            }
            None => Settings::default(),
        };
        let vault = config_dir.clone().and_then(|dir| {
            KeyVault::start(dir, keyring, repaint.now.clone())
                .map_err(|e| notices.push(format!("cannot start the key store: {e}")))
                .ok()
        });
        // The same file the settings came from; its error was said above.
        let config = config_dir
            .as_deref()
            .map(|d| d.join(crate::config::CONFIG_FILE))
            .filter(|p| p.exists() && !config_refused)
            .and_then(|p| Config::load_file(&p).ok())
            .unwrap_or_else(Config::builtin);
        let opener = Opener::new(repaint.now.clone());
        let session = Session::start(repaint.soon.clone(), config.reconnect);
        session.send(Command::PreviewRate(settings.preview_rate(false)));
        session.send(Command::ListDevices);
        let mut app = Self {
            settings,
            keys: Keys::default(),
            // Without a config folder nothing is saved: the keys live for this run only.
            keys_place: vault.is_none().then_some(Place::Unsaved),
            vault,
            no_keyring: None,
            config_dir,
            config_refused,
            // The file's presets are the custom presets (settings), editable in the window.
            config_presets: Config::builtin().presets,
            session,
            view: SessionView::default(),
            log,
            log_lines: VecDeque::new(),
            log_seen: 0,
            toasts: Vec::new(),
            software_renderer: None,
            meters: [Meter::default(); 2],
            strip_meters: StripMeters::default(),
            filters_open: None,
            mixer_problem: None,
            shown_keys: HashSet::new(),
            confirm_stop_live: false,
            confirm_stop_recording: false,
            confirm_quit: None,
            quit_confirmed: false,
            removed: None,
            failures: HashMap::new(),
            settings_open: false,
            log_open: false,
            preset_form: PresetForm::default(),
            quit: Arc::new(AtomicBool::new(false)),
            window_size: None,
            opener,
            open_failure: None,
            shown: None,
            log_saved: None,
            status_notes: Default::default(),
            file_dialog: FileDialog::default(),
            record_folder_error: None,
            last_recording: None,
            studio: studio::StudioState::default(),
            wake: repaint.now.clone(),
            sent_program: None,
            hotkey_capture: None,
        };
        app.scenes_edited();
        // The program runs from the start, live or not.
        app.program_edited();
        for text in notices {
            app.toast(true, text);
        }
        if let Some(event) = app.vault.as_ref().and_then(|v| v.wait(KEYS_STARTUP_WAIT)) {
            app.on_vault_event(event);
        }
        app
    }

    /// True once a signal asked the window to close, or the close question was answered
    /// "Quit": the window closes without asking.
    pub fn quit_requested(&self) -> bool {
        self.quit_confirmed || self.quit.load(Ordering::Relaxed)
    }

    /// The window was told to close (its close button, the window manager, Ctrl+Q): true if
    /// it may close now; false if it must stay open because it asks first, as OBS does, while
    /// live or recording. A signal or an answered question closes without asking.
    pub fn close_requested(&mut self) -> bool {
        let running = Running {
            live: self.view.live.since.is_some(),
            recording: self.view.recording.since.is_some(),
        };
        if self.quit_requested() || !(running.live || running.recording) {
            return true;
        }
        self.confirm_quit = Some(running);
        false
    }
    /// The flag a signal raises to close the window.
    pub fn set_quit_flag(&mut self, quit: Arc<AtomicBool>) {
        self.quit = quit;
    }
    /// The window's size, saved on exit.
    pub fn set_window_size(&mut self, size: [f32; 2]) {
        self.window_size = Some(size);
    }

    /// Every preset the app offers, valid ones only.
    pub fn presets(&self) -> Vec<Preset> {
        let mut all = self.config_presets.clone();
        for spec in &self.settings.custom_presets {
            if let Ok(p) = spec.validate(&all) {
                all.push(p);
            }
        }
        all
    }

    /// The preset picked, else the default one, else the first.
    pub fn preset(&self) -> Preset {
        let all = self.presets();
        all.iter()
            .find(|p| p.name == self.settings.preset)
            .or_else(|| all.iter().find(|p| p.name == crate::config::DEFAULT_PRESET))
            .or(all.first())
            .cloned()
            .unwrap_or_else(|| Config::builtin().presets.swap_remove(0))
    }

    /// What the program is made of, as the settings say.
    pub fn program(&self) -> Program {
        Program {
            preset: self.preset(),
            video: self.video_source(),
            audio: self.settings.mixer(),
            webrtc: self
                .settings
                .destinations
                .iter()
                .any(|d| d.enabled && d.service == crate::app::services::Service::Whip),
        }
    }

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

    /// A recording's file name: `onair-` and the time (RFC 3339, `:` as `-`), in the format's
    /// extension.
    pub fn recording_name(&self, now: SystemTime) -> String {
        format!(
            "onair-{}.{}",
            humantime::format_rfc3339_seconds(now)
                .to_string()
                .replace(':', "-"),
            self.settings.record_format.extension()
        )
    }

    /// The software rasterizer drawing the window, if it is one.
    pub fn software_renderer(&self) -> Option<&str> {
        self.software_renderer.as_deref()
    }

    /// The window's preview rate now, frames per second.
    pub fn preview_rate(&self) -> u32 {
        self.settings.preview_rate(self.software_renderer.is_some())
    }

    /// Tells the app what draws the window (OpenGL's `GL_RENDERER`): under a software
    /// rasterizer the preview's automatic rate is lower.
    pub fn set_renderer(&mut self, renderer: &str) {
        self.software_renderer = is_software_renderer(renderer).then(|| renderer.to_owned());
        if let Some(name) = &self.software_renderer {
            tracing::info!(
                renderer = %name,
                "the window is drawn by a software rasterizer: the preview refreshes at {} fps unless set in Settings",
                settings::PREVIEW_FPS_SOFTWARE
            );
        }
        self.session.send(Command::PreviewRate(self.preview_rate()));
    }

    // What the window does each frame.

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

    /// Keeps why a destination failed (the output gave up, or is retrying), for its card.
    fn note_failures(&mut self) {
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

    /// Closes the settings window (its close button).
    pub fn close_settings(&mut self) {
        self.settings_open = false;
    }

    /// At exit: saves the settings with the window's size and waits (a little) for the last
    /// key change to be written.
    pub fn exit(&mut self) {
        let dropped = self.opener.dropped();
        if dropped > 0 {
            tracing::warn!("{dropped} \"cannot open\" messages were not shown (too many at once)");
        }
        if let Some(size) = self.window_size {
            self.settings.window_size = size;
        }
        self.save();
        if let Some(vault) = &mut self.vault
            && !vault.finish(KEYS_EXIT_WAIT)
        {
            tracing::error!(
                "the key store did not answer within {} s; the last stream key change may not be saved",
                KEYS_EXIT_WAIT.as_secs()
            );
        }
    }

    fn on_vault_event(&mut self, event: VaultEvent) {
        match event {
            VaultEvent::Loaded(loaded) => {
                self.keys = loaded.keys;
                self.keys_place = Some(loaded.place);
                self.no_keyring = loaded.no_keyring;
                for text in loaded.notices {
                    self.toast(false, text);
                }
                for text in loaded.errors {
                    self.toast(true, text);
                }
            }
            VaultEvent::Notice(text) => self.toast(false, text),
            VaultEvent::Error(text) => self.toast(true, text),
        }
    }

    /// Saves the settings; a failure is a notification.
    fn save(&mut self) {
        let Some(dir) = self.config_dir.clone() else {
            return;
        };
        if let Err(e) = self.settings.save_all(&dir, self.config_refused) {
            self.toast(true, e.to_string());
        }
    }

    /// Queues the keys for the key store (never waits); failures come back as notifications.
    fn save_keys(&self) {
        if let Some(vault) = &self.vault {
            vault.save(self.keys.clone());
        }
    }

    /// The log view's lines as text: local time with its offset, level, message; one a line.
    pub fn log_text(&self) -> String {
        let mut text = String::new();
        for l in &self.log_lines {
            text.push_str(&l.to_string());
            text.push('\n');
        }
        text
    }

    /// Writes the log view's lines to `file`; the outcome is shown beside Save….
    fn save_log(&mut self, file: &std::path::Path) {
        self.log_saved = Some(match std::fs::write(file, self.log_text()) {
            Ok(()) => (false, format!("saved to {}", file.display())),
            Err(e) => (true, format!("cannot save to {}: {e}", file.display())),
        });
    }

    /// Records into `dir` from now on, creating it; why it cannot be used is kept beside the
    /// field (and the folder is kept as typed, to be fixed).
    fn set_record_folder(&mut self, dir: PathBuf) {
        self.record_folder_error = settings::prepare_folder(&dir).err();
        self.settings.record_folder = dir;
    }

    /// Opens `target` with the desktop's handler, in the background.
    fn open(&mut self, target: String) {
        self.open_failure = None;
        self.opener.open(target);
    }

    fn toast(&mut self, error: bool, text: String) {
        let notice = Notice {
            error,
            text,
            file: None,
        };
        self.toasts.push((notice, Instant::now()));
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

/// Whether an OpenGL renderer string names a software rasterizer: Mesa's llvmpipe, softpipe
/// and swrast, Google's SwiftShader, Microsoft's GDI generic renderer and Basic Render Driver.
fn is_software_renderer(renderer: &str) -> bool {
    let r = renderer.to_ascii_lowercase();
    [
        "llvmpipe",
        "softpipe",
        "swrast",
        "software rasterizer",
        "swiftshader",
        "gdi generic",
        "basic render driver",
    ]
    .iter()
    .any(|s| r.contains(s))
}

mod hotkeys;
mod program;
mod read;
mod studio;
#[cfg(test)]
mod tests;
mod toggles;
