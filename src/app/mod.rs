//! The desktop app's logic, without any GUI toolkit: the window's state and what each of its
//! actions does ([`AppState`], [`Action`]), the session controller that drives the engine for
//! it ([`Session`], on the `app-control` thread), settings, stream keys, services, presets,
//! meters.
//!
//! The window ([`crate::ui`]) draws this state and collects its panels' [`Action`]s while
//! drawing; they are applied after the frame, here, and become [`Command`]s to the controller.

mod action;
pub mod desktop;
pub mod hotkeys;
pub mod keystore;
pub mod log;
pub mod meter;
pub mod mixer;
pub mod presets;
pub mod services;
mod session;
pub mod settings;
mod state;
pub mod studio;
pub mod sysinfo;

pub use action::Action;
pub use session::{
    Activity, Command, HISTORY_SAMPLES, HistoryPoint, LiveServer, LiveTarget, LiveView, Notice,
    Program, Session, SessionView,
};
pub use state::{
    AppState, Editing, Edits, Refreshed, Repaint, Running, StatusOf, TOAST_TIME, UNDO_TIME,
    destination_problem,
};
