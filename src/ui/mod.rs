//! The desktop window (eframe/egui, glow back end). Only this module knows egui.
//!
//! It draws from a [`SessionView`] copied from the controller ([`crate::app::Session`]) and
//! turns clicks into [`Command`]s; it never waits on media or the network. It repaints when
//! the controller says something changed (four times a second while anything runs), for the
//! program preview at its own rate (15 fps at most unless configured), and on input; idle, it
//! sleeps.

mod panels;
mod presets;

use std::collections::{HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use eframe::egui;

use crate::app::keystore::{KeyVault, KeyringUse, Place, VaultEvent};
use crate::app::log::{LogLine, LogRing};
use crate::app::meter::Meter;
use crate::app::services::Service;
use crate::app::settings::{self, Keys, Settings};
use crate::app::{Command, LiveServer, LiveTarget, Notice, Program, Session, SessionView};
use crate::config::{Config, Preset};
use crate::output::rtmp::RtmpUrl;
use crate::output::whip::WhipTarget;

/// How long a notification stays.
const TOAST_TIME: Duration = Duration::from_secs(8);
/// How soon a new view from the controller is drawn at the latest.
const VIEW_REPAINT_DELAY: Duration = Duration::from_millis(66);
/// How long the window waits at startup for the stream keys (a keyring that takes longer, e.g.
/// one asking to be unlocked, delivers them later; meanwhile the key fields are read-only).
const KEYS_STARTUP_WAIT: Duration = Duration::from_millis(300);
/// How long closing the window waits for the last key change to be written.
const KEYS_EXIT_WAIT: Duration = Duration::from_secs(3);
/// Log lines the log view keeps.
const LOG_VIEW_LINES: usize = 300;

/// Opens the window and runs until it is closed (or `quit` is raised, e.g. by SIGTERM).
pub fn run(log: Arc<LogRing>, quit: Arc<AtomicBool>) -> Result<(), eframe::Error> {
    let dir = settings::config_dir();
    let size = dir
        .as_deref()
        .and_then(|d| Settings::load(d).ok())
        .map_or([1280.0, 800.0], |s| s.window_size);
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("onair")
            .with_inner_size(size)
            .with_min_inner_size([900.0, 600.0]),
        renderer: eframe::Renderer::Glow,
        // The window is flat colours and the preview is 8-bit already: dithering would only add
        // work to every pixel, which under software rendering is CPU (BENCHMARKS.md, section 0).
        dithering: false,
        ..Default::default()
    };
    eframe::run_native(
        "onair",
        options,
        Box::new(move |cc| {
            let mut app = OnairApp::new(&cc.egui_ctx, dir, log, KeyringUse::from_env());
            watch_signals(&cc.egui_ctx, quit.clone());
            app.set_quit_flag(quit);
            // The window is cleared to the panels' colour, so they need not paint it again.
            app.panels_paint_background = false;
            if let Some(renderer) = gl_renderer(cc) {
                app.set_renderer(&renderer);
            }
            Ok(Box::new(app))
        }),
    )
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

/// What draws the window, from OpenGL (`None` without a GL context).
fn gl_renderer(cc: &eframe::CreationContext<'_>) -> Option<String> {
    use eframe::glow::HasContext as _;
    let gl = cc.gl.as_ref()?;
    // SAFETY: glGetString(GL_RENDERER) reads a static string; eframe makes the context current
    // before it calls the creation closure, which is where this runs.
    #[allow(unsafe_code)]
    let name = unsafe { gl.get_parameter_string(eframe::glow::RENDERER) };
    Some(name)
}

/// SIGINT and SIGTERM close the window as the close button does (outputs finish, files are
/// finalized): a thread (`app-signals`) raises `quit` and wakes the window.
fn watch_signals(ctx: &egui::Context, quit: Arc<AtomicBool>) {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
        tracing::warn!("cannot watch SIGINT/SIGTERM; close the window to quit");
        return;
    };
    let ctx = ctx.clone();
    let spawned = std::thread::Builder::new()
        .name("app-signals".into())
        .spawn(move || {
            if signals.forever().next().is_some() {
                quit.store(true, Ordering::Relaxed);
                ctx.request_repaint();
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot watch SIGINT/SIGTERM ({e}); close the window to quit");
    }
}

/// The app: settings, the session, and what the window remembers between frames.
pub struct OnairApp {
    pub settings: Settings,
    keys: Keys,
    /// Loads and saves the keys on its own thread (none without a config folder).
    vault: Option<KeyVault>,
    /// Where the keys are kept; `None` while they are still loading.
    keys_place: Option<Place>,
    /// Why the keyring is not used, when one was wanted.
    no_keyring: Option<String>,
    config_dir: Option<PathBuf>,
    /// Built-in presets, then the CLI config file's, then the app's own.
    config_presets: Vec<Preset>,
    config_error: Option<String>,
    session: Session,
    view: SessionView,
    log: Arc<LogRing>,
    log_lines: VecDeque<LogLine>,
    log_seen: u64,
    toasts: Vec<(Notice, Instant)>,
    texture: Option<egui::TextureHandle>,
    picture_seq: u64,
    /// The width the preview is shown at, physical pixels (0: not yet laid out).
    pub(crate) preview_px: u32,
    /// The software rasterizer drawing the window, if it is one (`llvmpipe`, …).
    software_renderer: Option<String>,
    /// The program audio's meters, left and right.
    meters: [Meter; 2],
    shown_keys: HashSet<u64>,
    confirm_stop_live: bool,
    settings_open: bool,
    log_open: bool,
    preset_editor: presets::Editor,
    quit: Arc<AtomicBool>,
    /// The window's size as last seen, saved on exit.
    window_size: Option<[f32; 2]>,
    /// Whether the panels paint their background. In the real window they do not: the window
    /// is cleared to the same colour ([`eframe::App::clear_color`]), and under software
    /// rendering each full-window fill is a few ms of the rasterizer per repaint. A harness
    /// with no clear colour of its own keeps them painted.
    pub panels_paint_background: bool,
}

impl OnairApp {
    /// The app with settings from `config_dir` (defaults if none), its controller started;
    /// the stream keys in the platform keyring when `keyring` allows and one answers.
    pub fn new(
        ctx: &egui::Context,
        config_dir: Option<PathBuf>,
        log: Arc<LogRing>,
        keyring: KeyringUse,
    ) -> Self {
        let mut notices = Vec::new();
        let settings = match config_dir.as_deref() {
            Some(dir) => Settings::load(dir).unwrap_or_else(|e| {
                notices.push(e.to_string());
                Settings::default()
            }),
            None => Settings::default(),
        };
        let vault = config_dir.clone().and_then(|dir| {
            let ctx = ctx.clone();
            KeyVault::start(dir, keyring, Arc::new(move || ctx.request_repaint()))
                .map_err(|e| notices.push(format!("cannot start the key store: {e}")))
                .ok()
        });
        let (config, config_error) = match Config::load(None) {
            Ok(c) => (c, None),
            Err(e) => (Config::builtin(), Some(e.to_string())),
        };
        // The controller's updates are shown within a tick of the preview (1/15 s): while the
        // preview runs they ride on its repaints instead of adding their own.
        let repaint_ctx = ctx.clone();
        let session = Session::start(
            Arc::new(move || repaint_ctx.request_repaint_after(VIEW_REPAINT_DELAY)),
            config.reconnect,
        );
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
            config_presets: config.presets,
            config_error,
            session,
            view: SessionView::default(),
            log,
            log_lines: VecDeque::new(),
            log_seen: 0,
            toasts: Vec::new(),
            texture: None,
            picture_seq: 0,
            preview_px: 0,
            software_renderer: None,
            meters: [Meter::default(); 2],
            shown_keys: HashSet::new(),
            confirm_stop_live: false,
            settings_open: false,
            log_open: false,
            preset_editor: presets::Editor::default(),
            quit: Arc::new(AtomicBool::new(false)),
            window_size: None,
            panels_paint_background: true,
        };
        let now = Instant::now();
        for text in notices.into_iter().chain(app.config_error.clone()) {
            app.toasts.push((Notice { error: true, text }, now));
        }
        if let Some(event) = app.vault.as_ref().and_then(|v| v.wait(KEYS_STARTUP_WAIT)) {
            app.on_vault_event(event);
        }
        app
    }

    /// Where the stream keys are kept (`None` while they load).
    pub fn keys_place(&self) -> Option<&Place> {
        self.keys_place.as_ref()
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

    fn preset(&self) -> Preset {
        let all = self.presets();
        all.iter()
            .find(|p| p.name == self.settings.preset)
            .or_else(|| all.iter().find(|p| p.name == crate::config::DEFAULT_PRESET))
            .or(all.first())
            .cloned()
            .unwrap_or_else(|| Config::builtin().presets.swap_remove(0))
    }

    fn program(&self) -> Program {
        Program {
            preset: self.preset(),
            video: self.settings.video_source(),
            audio: self.settings.audio_source(),
            mic_gain_db: self.settings.mic_gain_db,
            mic_muted: self.settings.mic_muted,
        }
    }

    /// Saves the settings; a failure is a notification.
    pub fn save(&mut self) {
        let Some(dir) = self.config_dir.clone() else {
            return;
        };
        if let Err(e) = self.settings.save(&dir) {
            self.toast(true, e.to_string());
        }
    }

    /// Queues the keys for the key store (never waits); failures come back as notifications.
    fn save_keys(&self) {
        if let Some(vault) = &self.vault {
            vault.save(self.keys.clone());
        }
    }

    fn toast(&mut self, error: bool, text: String) {
        self.toasts.push((Notice { error, text }, Instant::now()));
    }

    /// The live targets from the enabled destinations; the first problem as an error.
    fn live_targets(&self) -> Result<Vec<LiveTarget>, String> {
        if self.keys_place.is_none() {
            return Err("the stream keys are still loading from the system keyring".into());
        }
        let mut targets = Vec::new();
        for d in self.settings.destinations.iter().filter(|d| d.enabled) {
            let key = self.keys.get(d.id);
            let server = if d.service == Service::Whip {
                // A WHIP server may take no token.
                let token = (!key.is_empty()).then(|| key.to_owned());
                LiveServer::Whip(
                    WhipTarget::new(&d.server, token).map_err(|e| format!("{}: {e}", d.name))?,
                )
            } else {
                if key.is_empty() {
                    return Err(format!("{}: enter the stream key", d.name));
                }
                LiveServer::Rtmp(
                    RtmpUrl::with_key(&d.server, key).map_err(|e| format!("{}: {e}", d.name))?,
                )
            };
            targets.push(LiveTarget {
                name: d.name.clone(),
                server,
            });
        }
        if targets.is_empty() {
            return Err("no destination is switched on: add one and switch it on".into());
        }
        Ok(targets)
    }

    // The three big actions, also bound to keys.

    pub fn toggle_live(&mut self) {
        if self.view.live.since.is_some() {
            self.confirm_stop_live = true;
            return;
        }
        match self.live_targets() {
            Ok(targets) => {
                self.session.send(Command::GoLive {
                    program: self.program(),
                    targets,
                });
            }
            Err(e) => self.toast(true, e),
        }
    }

    pub fn toggle_recording(&mut self) {
        if self.view.recording.since.is_some() {
            self.session.send(Command::StopRecording);
            return;
        }
        let name = format!(
            "onair-{}.{}",
            humantime::format_rfc3339_seconds(std::time::SystemTime::now())
                .to_string()
                .replace(':', "-"),
            self.settings.record_format.extension()
        );
        self.session.send(Command::StartRecording {
            program: self.program(),
            path: self.settings.record_folder.join(name),
            format: self.settings.record_format.format(),
        });
    }

    pub fn toggle_preview(&mut self) {
        if self.view.preview.since.is_some() {
            self.session.send(Command::StopPreview);
            return;
        }
        let addr = match self.settings.preview_addr.parse() {
            Ok(a) => a,
            Err(_) => {
                let text = format!(
                    "preview address `{}` is not like 127.0.0.1:8787; fix it in Settings",
                    self.settings.preview_addr
                );
                self.toast(true, text);
                return;
            }
        };
        self.session.send(Command::StartPreview {
            program: self.program(),
            dir: self.settings.hls_folder.clone(),
            addr,
        });
    }

    /// Takes the controller's latest view, its notices and new log lines.
    fn refresh(&mut self, ctx: &egui::Context) {
        while let Some(event) = self.vault.as_ref().and_then(KeyVault::poll) {
            self.on_vault_event(event);
        }
        let now = Instant::now();
        if let Some(view) = self.session.view_if_newer(self.view.generation) {
            let previous_url = self.view.preview_url.take();
            self.view = view;
            for n in std::mem::take(&mut self.view.notices) {
                self.toasts.push((n, now));
            }
            // The page opens in the default browser once its address is known.
            if let (None, Some(url)) = (&previous_url, &self.view.preview_url) {
                ctx.open_url(egui::OpenUrl::new_tab(url));
                self.toasts.push((
                    Notice {
                        error: false,
                        text: format!("preview: {url}"),
                    },
                    now,
                ));
            }
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
        if !self.toasts.is_empty() {
            ctx.request_repaint_after(Duration::from_millis(500));
        }
        // The program preview: a new picture, at most at its rate.
        if let Some(picture) = &self.view.picture {
            let newer = picture.with_newer(self.picture_seq, |img| {
                // Opaque, so premultiplied and unmultiplied are the same: a plain copy.
                let image = egui::ColorImage::from_rgba_premultiplied(
                    [img.width as usize, img.height as usize],
                    &img.rgba,
                );
                (img.seq, img.width, image)
            });
            if let Some((seq, width, image)) = newer {
                self.picture_seq = seq;
                // A picture made at the width it is shown at is drawn pixel for pixel: no
                // filtering, which under software rendering is most of what drawing it costs.
                let filter = if width == self.preview_px {
                    egui::TextureOptions::NEAREST
                } else {
                    egui::TextureOptions::LINEAR
                };
                match &mut self.texture {
                    Some(t) => t.set(image, filter),
                    None => self.texture = Some(ctx.load_texture("program", image, filter)),
                }
            }
            let fps = self.preview_rate().max(1);
            ctx.request_repaint_after(Duration::from_millis(1000 / u64::from(fps)));
        } else {
            self.texture = None;
            self.picture_seq = 0;
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
    }

    fn shortcuts(&mut self, ctx: &egui::Context) {
        use egui::{Key, KeyboardShortcut, Modifiers};
        let live = KeyboardShortcut::new(Modifiers::COMMAND, Key::L);
        let record = KeyboardShortcut::new(Modifiers::COMMAND, Key::R);
        let preview = KeyboardShortcut::new(Modifiers::COMMAND, Key::P);
        let quit = KeyboardShortcut::new(Modifiers::COMMAND, Key::Q);
        if ctx.input_mut(|i| i.consume_shortcut(&live)) {
            self.toggle_live();
        }
        if ctx.input_mut(|i| i.consume_shortcut(&record)) {
            self.toggle_recording();
        }
        if ctx.input_mut(|i| i.consume_shortcut(&preview)) {
            self.toggle_preview();
        }
        if ctx.input_mut(|i| i.consume_shortcut(&quit)) {
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
    }

    /// The latest view (for tests).
    pub fn view(&self) -> &SessionView {
        &self.view
    }

    /// The audio meters as drawn, left and right (for tests).
    pub fn meters(&self) -> &[Meter; 2] {
        &self.meters
    }

    /// The signal flag that closes the window.
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

    /// The software rasterizer drawing the window, if it is one.
    pub fn software_renderer(&self) -> Option<&str> {
        self.software_renderer.as_deref()
    }

    /// The window's preview rate now, frames per second.
    pub fn preview_rate(&self) -> u32 {
        self.settings.preview_rate(self.software_renderer.is_some())
    }

    /// The preview is laid out `px` physical pixels wide: the engine makes its pictures that wide
    /// (told at every layout, an atomic store, so a newly started engine hears it too).
    fn show_preview_at(&mut self, px: u32) {
        self.preview_px = px;
        if let Some(picture) = &self.view.picture {
            picture.set_width(px);
        }
    }

    pub fn set_quit_flag(&mut self, quit: Arc<AtomicBool>) {
        self.quit = quit;
    }
}

impl eframe::App for OnairApp {
    fn clear_color(&self, visuals: &egui::Visuals) -> [f32; 4] {
        visuals.panel_fill.to_normalized_gamma_f32()
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        // `RUST_LOG=onair::ui=trace`: each repaint and what asked for it (the window's CPU cost
        // follows its repaints).
        tracing::trace!(frame = ctx.cumulative_frame_nr(), causes = ?ctx.repaint_causes(), "repaint");
        if self.quit.load(Ordering::Relaxed) {
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
        self.refresh(&ctx);
        self.shortcuts(&ctx);
        if let Some(rect) = ctx.input(|i| i.viewport().inner_rect) {
            self.window_size = Some([rect.width(), rect.height()]);
        }
        let before = self.settings.clone();
        let keys_before = self.keys.clone();
        panels::show(self, ui);
        if self.keys != keys_before {
            self.save_keys();
        }
        if self.settings != before {
            if self.settings.preview_fps != before.preview_fps {
                self.session.send(Command::PreviewRate(self.preview_rate()));
            }
            // Gain and mute act at once on the running microphone (atomics: never waits).
            if let Some(controls) = &self.view.audio_controls {
                controls.set_gain_db(self.settings.mic_gain_db);
                controls.set_muted(self.settings.mic_muted);
            }
            self.save();
        }
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
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
}
