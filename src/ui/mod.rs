//! The desktop window (eframe/egui, glow back end). Only this module knows egui.
//!
//! It draws from the app's state ([`AppState`]: the settings being edited and a
//! [`SessionView`](crate::app::SessionView) copied from the controller) and never waits on
//! media or the network. The panels collect [`Action`]s while drawing; after the frame they
//! are applied to the state, which turns them into commands to the controller. It repaints
//! when the controller says something changed (four times a second while anything runs), for
//! the program preview at its own rate (15 fps at most unless configured), and on input; idle,
//! it sleeps.

mod panels;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use eframe::egui;

use crate::app::keystore::{KeyringUse, Place};
use crate::app::log::LogRing;
use crate::app::meter::Meter;
use crate::app::settings::{self, Settings};
use crate::app::{Action, AppState, Repaint, SessionView};

/// How soon a new view from the controller is drawn at the latest.
const VIEW_REPAINT_DELAY: Duration = Duration::from_millis(66);

/// Opens the window and runs until it is closed (or `quit` is raised, e.g. by SIGTERM).
pub fn run(log: Arc<LogRing>, quit: Arc<AtomicBool>) -> Result<(), eframe::Error> {
    let dir = settings::config_dir();
    let size = dir
        .as_deref()
        .map_or([1280.0, 800.0], Settings::saved_window_size);
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("onair")
            .with_inner_size(size)
            .with_min_inner_size([900.0, 600.0])
            .with_icon(window_icon()),
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

/// The window's icon (`_NET_WM_ICON` on X11; the desktop entry's icon is the theme's copy of
/// the same picture): assets/icons/onair-128.png, compiled in.
fn window_icon() -> Arc<egui::IconData> {
    const PNG: &[u8] = include_bytes!("../../assets/icons/onair-128.png");
    let icon = eframe::icon_data::from_png_bytes(PNG).unwrap_or_else(|e| {
        tracing::warn!("the window icon does not decode ({e}); the window gets none");
        egui::IconData::default()
    });
    Arc::new(icon)
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
#[cfg(unix)]
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

/// Elsewhere (Windows: Ctrl+C, Ctrl+Break in a console) the signals raise `quit`, which a
/// thread (`app-signals`) looks at four times a second to wake the window.
#[cfg(not(unix))]
fn watch_signals(ctx: &egui::Context, quit: Arc<AtomicBool>) {
    use signal_hook::consts::{SIGINT, SIGTERM};
    for signal in [SIGINT, SIGTERM] {
        if let Err(e) = signal_hook::flag::register(signal, quit.clone()) {
            tracing::warn!("cannot watch signal {signal} ({e}); close the window to quit");
        }
    }
    let ctx = ctx.clone();
    let spawned = std::thread::Builder::new()
        .name("app-signals".into())
        .spawn(move || {
            while !quit.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(250));
            }
            ctx.request_repaint();
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot watch SIGINT/SIGTERM ({e}); close the window to quit");
    }
}

/// The window: the app's state, and what only drawing needs (the preview's texture).
pub struct OnairApp {
    app: AppState,
    texture: Option<egui::TextureHandle>,
    picture_seq: u64,
    /// The width the preview is shown at, physical pixels (0: not yet laid out).
    preview_px: u32,
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
        let (now, soon) = (ctx.clone(), ctx.clone());
        // The controller's updates are shown within a tick of the preview (1/15 s): while the
        // preview runs they ride on its repaints instead of adding their own.
        let repaint = Repaint {
            now: Arc::new(move || now.request_repaint()),
            soon: Arc::new(move || soon.request_repaint_after(VIEW_REPAINT_DELAY)),
        };
        Self {
            app: AppState::new(config_dir, log, keyring, repaint),
            texture: None,
            picture_seq: 0,
            preview_px: 0,
            panels_paint_background: true,
        }
    }

    /// The app's state and logic.
    pub fn app(&self) -> &AppState {
        &self.app
    }
    pub fn app_mut(&mut self) -> &mut AppState {
        &mut self.app
    }
    /// The settings being edited.
    pub fn settings(&self) -> &Settings {
        &self.app.settings
    }
    /// The latest view (for tests).
    pub fn view(&self) -> &SessionView {
        self.app.view()
    }
    /// The audio meters as drawn, left and right (for tests).
    pub fn meters(&self) -> &[Meter; 2] {
        self.app.meters()
    }
    /// Where the stream keys are kept (`None` while they load).
    pub fn keys_place(&self) -> Option<&Place> {
        self.app.keys_place()
    }
    /// See [`AppState::set_renderer`].
    pub fn set_renderer(&mut self, renderer: &str) {
        self.app.set_renderer(renderer);
    }
    /// The width the program preview is laid out at, physical pixels (0 before the first
    /// frame).
    pub fn preview_width(&self) -> u32 {
        self.preview_px
    }
    /// The window's preview rate now, frames per second.
    pub fn preview_rate(&self) -> u32 {
        self.app.preview_rate()
    }
    /// The flag that closes the window when a signal raises it.
    pub fn set_quit_flag(&mut self, quit: Arc<AtomicBool>) {
        self.app.set_quit_flag(quit);
    }

    /// Takes the new view (the app opens the preview page once known), and uploads a new
    /// preview picture (at most at the preview's rate).
    fn refresh(&mut self, ctx: &egui::Context) {
        self.app.refresh(Instant::now());
        if self.app.toasts().next().is_some() || self.app.removed().is_some() {
            ctx.request_repaint_after(Duration::from_millis(500));
        }
        let Some(picture) = &self.app.view().picture else {
            self.texture = None;
            self.picture_seq = 0;
            return;
        };
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
        let fps = self.app.preview_rate().max(1);
        ctx.request_repaint_after(Duration::from_millis(1000 / u64::from(fps)));
    }
}

/// The keyboard shortcuts: Ctrl+L, Ctrl+R, Ctrl+P as the three big buttons, but never while
/// a text field has the keyboard (they would act on what is being typed); Ctrl+Q closes the
/// window (asking first while live or recording), from anywhere.
fn shortcuts(ctx: &egui::Context, app: &AppState, actions: &mut Vec<Action>) {
    use egui::{Key, KeyboardShortcut, Modifiers};
    let bound = [
        (Key::L, Action::ToggleLive),
        (Key::R, Action::ToggleRecording),
        (Key::P, Action::TogglePreview),
    ];
    // Settings listening for a hotkey's combination takes every key.
    let typing = ctx.text_edit_focused() || app.hotkey_capture().is_some();
    for (key, action) in bound.into_iter().filter(|_| !typing) {
        let shortcut = KeyboardShortcut::new(Modifiers::COMMAND, key);
        if ctx.input_mut(|i| i.consume_shortcut(&shortcut)) {
            actions.push(action);
        }
    }
    let quit = KeyboardShortcut::new(Modifiers::COMMAND, Key::Q);
    if ctx.input_mut(|i| i.consume_shortcut(&quit)) {
        ctx.send_viewport_cmd(egui::ViewportCommand::Close);
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
        if self.app.quit_requested() {
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
        // The close button, the window manager or Ctrl+Q: while live or recording, ask first.
        if ctx.input(|i| i.viewport().close_requested()) && !self.app.close_requested() {
            ctx.send_viewport_cmd(egui::ViewportCommand::CancelClose);
        }
        self.refresh(&ctx);
        let mut actions = Vec::new();
        // The hotkeys set in Settings first: a combination bound there wins.
        panels::hotkeys::keys(&ctx, &self.app, &mut actions);
        shortcuts(&ctx, &self.app, &mut actions);
        if let Some(rect) = ctx.input(|i| i.viewport().inner_rect) {
            self.app.set_window_size([rect.width(), rect.height()]);
        }
        let before = self.app.edits();
        panels::show(self, ui, &mut actions);
        for action in actions {
            self.app.apply(action);
        }
        self.app.after_edits(before);
        if self.app.quit_requested() {
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        self.app.exit();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_window_icon_decodes() {
        let icon = super::window_icon();
        assert_eq!((icon.width, icon.height), (128, 128));
        assert_eq!(icon.rgba.len(), 128 * 128 * 4);
        // Opaque red in the middle (the dot), transparent in the corner (the rounded tile).
        let at = |x: usize, y: usize| &icon.rgba[(y * 128 + x) * 4..][..4];
        let [r, g, _, a] = at(64, 64) else { panic!() };
        assert!(*a == 255 && *r > 200 && *g < 120, "{:?}", at(64, 64));
        assert_eq!(at(0, 0)[3], 0);
    }
}
