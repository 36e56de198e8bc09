//! Opening an address, a folder or a file with the desktop's handler (the `open` crate:
//! `xdg-open`, then `gio`, `gnome-open`, `kde-open`… on Linux; `open` on macOS; the shell on
//! Windows), on a thread of its own (`app-open`) so that the window never waits on it. A
//! handler that is missing or fails within [`OPEN_WAIT`] comes back as an [`OpenFailure`]
//! for the window to show, with the target to copy.
//!
//! "Show file" selects a file in the file manager: the freedesktop `FileManager1.ShowItems`
//! call on the session bus (zbus; Nautilus, Dolphin, Nemo, Thunar, Caja answer it), else its
//! folder opened with the handler above; the window is told which ([`Shown`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};

/// How long a handler may take to fail before it counts as having opened the target (a
/// browser started by `xdg-open` may run for hours).
pub const OPEN_WAIT: Duration = Duration::from_secs(3);
/// Failures (and "Show file" outcomes) not yet shown; when full the newest is dropped
/// (counted, logged anyway).
const FAILURES: usize = 8;

/// How "Show file" showed a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shown {
    /// Selected in the file manager.
    Selected,
    /// Its folder opened with the desktop's handler; why it could not be selected.
    FolderOpened { why: String },
}

/// What "Show file" did for `file`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShowOutcome {
    /// As asked (not resolved), so the window finds the button it belongs to.
    pub file: PathBuf,
    pub shown: Shown,
}

/// A target the desktop could not open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenFailure {
    pub target: String,
    pub error: String,
}

/// Opens targets in the background; see the module documentation.
pub struct Opener {
    tx: Sender<OpenFailure>,
    rx: Receiver<OpenFailure>,
    shown_tx: Sender<ShowOutcome>,
    shown_rx: Receiver<ShowOutcome>,
    wake: Arc<dyn Fn() + Send + Sync>,
    dropped: Arc<AtomicU64>,
}

impl Opener {
    /// `wake` is called when a failure is waiting to be shown.
    pub fn new(wake: Arc<dyn Fn() + Send + Sync>) -> Self {
        let (tx, rx) = bounded(FAILURES);
        let (shown_tx, shown_rx) = bounded(FAILURES);
        Self {
            tx,
            rx,
            shown_tx,
            shown_rx,
            wake,
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Opens `target` (a URL or a path) with the desktop's handler, without waiting.
    pub fn open(&self, target: String) {
        let failed = self.failed();
        self.spawn(
            target.clone(),
            failed.clone(),
            move || match open::that_detached_with_timeout(&target, OPEN_WAIT) {
                Ok(()) => tracing::info!("opened {target}"),
                Err(e) => failed(target, describe(&e)),
            },
        );
    }

    /// Selects `file` in the file manager, else opens its folder, without waiting; the
    /// outcome comes back through [`Opener::poll_shown`] (or [`Opener::poll`] if neither
    /// worked).
    pub fn show_file(&self, file: PathBuf) {
        let failed = self.failed();
        let (tx, wake, dropped) = (
            self.shown_tx.clone(),
            self.wake.clone(),
            self.dropped.clone(),
        );
        let target = file.display().to_string();
        self.spawn(target, failed.clone(), move || {
            let asked = file.clone();
            let Ok(file) = std::fs::canonicalize(&file) else {
                let why = "it is no longer there (moved or deleted?)".to_owned();
                return failed(file.display().to_string(), why);
            };
            let shown = match select_in_file_manager(&file) {
                Ok(()) => {
                    tracing::info!("selected {} in the file manager", file.display());
                    Shown::Selected
                }
                Err(why) => {
                    let folder = file.parent().unwrap_or(&file).display().to_string();
                    if let Err(e) = open::that_detached_with_timeout(&folder, OPEN_WAIT) {
                        return failed(folder, format!("{}; and {why}", describe(&e)));
                    }
                    tracing::info!("opened {folder} ({why})");
                    Shown::FolderOpened { why }
                }
            };
            let outcome = ShowOutcome { file: asked, shown };
            if let Err(TrySendError::Full(_)) = tx.try_send(outcome) {
                dropped.fetch_add(1, Ordering::Relaxed);
            }
            wake();
        });
    }

    /// How a failure reaches the window: logged, queued, the window woken.
    fn failed(&self) -> impl Fn(String, String) + Clone + Send + 'static {
        let tx = self.tx.clone();
        let wake = self.wake.clone();
        let dropped = self.dropped.clone();
        move |target: String, error: String| {
            tracing::warn!("cannot open {target}: {error}");
            match tx.try_send(OpenFailure { target, error }) {
                Ok(()) | Err(TrySendError::Disconnected(_)) => {}
                Err(TrySendError::Full(_)) => {
                    dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            wake();
        }
    }

    /// Runs `work` on an `app-open` thread; `failed` tells if none can be started.
    fn spawn(
        &self,
        target: String,
        failed: impl Fn(String, String),
        work: impl FnOnce() + Send + 'static,
    ) {
        let spawned = std::thread::Builder::new()
            .name("app-open".into())
            .spawn(work);
        if let Err(e) = spawned {
            failed(target, format!("cannot start a thread to open it ({e})"));
        }
    }

    /// What the last "Show file" did, if not yet taken.
    pub fn poll_shown(&self) -> Option<ShowOutcome> {
        self.shown_rx.try_recv().ok()
    }

    /// The next failure to show, if any.
    pub fn poll(&self) -> Option<OpenFailure> {
        self.rx.try_recv().ok()
    }

    /// Failures dropped because the window had not taken the earlier ones.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Asks the file manager to select `file` (absolute): `ShowItems([uri], "")` on
/// `org.freedesktop.FileManager1`, waiting at most [`OPEN_WAIT`] for its answer.
#[cfg(target_os = "linux")]
fn select_in_file_manager(file: &Path) -> Result<(), String> {
    const NAME: &str = "org.freedesktop.FileManager1";
    let uri = url::Url::from_file_path(file)
        .map_err(|()| format!("{} is not an absolute path", file.display()))?;
    let bus = zbus::blocking::connection::Builder::session()
        .and_then(|b| b.method_timeout(OPEN_WAIT).build())
        .map_err(|e| format!("no desktop session bus to ask a file manager ({e})"))?;
    bus.call_method(
        Some(NAME),
        "/org/freedesktop/FileManager1",
        Some(NAME),
        "ShowItems",
        &(vec![uri.as_str()], ""),
    )
    .map(drop)
    .map_err(|e| match e {
        zbus::Error::MethodError(name, _, _)
            if name.as_str() == "org.freedesktop.DBus.Error.ServiceUnknown" =>
        {
            "no file manager that can select files is running".to_owned()
        }
        e => format!("the file manager did not select it ({e})"),
    })
}

#[cfg(not(target_os = "linux"))]
fn select_in_file_manager(_file: &Path) -> Result<(), String> {
    Err("selecting a file is not built for this platform".into())
}

/// The handler's failure in words.
fn describe(e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::NotFound {
        "no program to open it was found (install xdg-utils, or open it yourself)".into()
    } else {
        e.to_string()
    }
}

/// What the desktop's file dialog is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ask {
    /// A folder (the recordings folder).
    Folder,
    /// Where to save a file of this name (the log).
    SaveFile(String),
    /// A picture for the image source at this index.
    Image(usize),
}

/// The desktop's file dialog (`rfd`: the XDG desktop portal, else `zenity`; the system's
/// dialog on Windows and macOS), on a thread of its own (`app-file-dialog`): the window goes
/// on drawing while it is open. One at a time.
#[derive(Default)]
pub struct FileDialog {
    open: Option<(Ask, Receiver<Option<PathBuf>>)>,
}

impl FileDialog {
    /// Opens the dialog at `start`; `wake` is called when it closes. False if one is open.
    pub fn ask(
        &mut self,
        ask: Ask,
        title: &str,
        start: PathBuf,
        wake: Arc<dyn Fn() + Send + Sync>,
    ) -> bool {
        if self.is_open() {
            return false;
        }
        // One answer, sent once: the slot never fills.
        let (tx, rx) = bounded(1);
        let dialog = rfd::FileDialog::new().set_title(title).set_directory(start);
        let asked = ask.clone();
        let spawned = std::thread::Builder::new()
            .name("app-file-dialog".into())
            .spawn(move || {
                let chosen = match asked {
                    Ask::Folder => dialog.pick_folder(),
                    Ask::SaveFile(name) => dialog.set_file_name(name).save_file(),
                    Ask::Image(_) => dialog
                        .add_filter("Pictures", &["png", "jpg", "jpeg", "webp", "gif"])
                        .pick_file(),
                };
                let _ = tx.try_send(chosen);
                wake();
            });
        match spawned {
            Ok(_) => {
                self.open = Some((ask, rx));
                true
            }
            Err(e) => {
                tracing::warn!("cannot open the file dialog: {e}");
                false
            }
        }
    }

    /// Whether the dialog is open.
    pub fn is_open(&self) -> bool {
        self.open.is_some()
    }

    /// The dialog's answer once it closed, with what was asked: `None` inside if nothing was
    /// chosen.
    pub fn poll(&mut self) -> Option<(Ask, Option<PathBuf>)> {
        let answer = match self.open.as_ref()?.1.try_recv() {
            Ok(answer) => answer,
            Err(crossbeam_channel::TryRecvError::Empty) => return None,
            Err(crossbeam_channel::TryRecvError::Disconnected) => None,
        };
        let (ask, _) = self.open.take()?;
        Some((ask, answer))
    }
}
