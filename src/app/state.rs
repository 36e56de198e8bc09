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

mod apply;
mod destinations;
mod frame;
mod hotkeys;
mod program;
mod read;
mod studio;
#[cfg(test)]
mod tests;
mod toggles;

pub use destinations::destination_problem;
