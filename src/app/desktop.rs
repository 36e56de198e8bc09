//! Opening an address, a folder or a file with the desktop's handler (the `open` crate:
//! `xdg-open`, then `gio`, `gnome-open`, `kde-open`… on Linux; `open` on macOS; the shell on
//! Windows), on a thread of its own (`app-open`) so that the window never waits on it. A
//! handler that is missing or fails within [`OPEN_WAIT`] comes back as an [`OpenFailure`]
//! for the window to show, with the target to copy.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};

/// How long a handler may take to fail before it counts as having opened the target (a
/// browser started by `xdg-open` may run for hours).
pub const OPEN_WAIT: Duration = Duration::from_secs(3);
/// Failures not yet shown; when full the newest is dropped (counted, logged anyway).
const FAILURES: usize = 8;

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
    wake: Arc<dyn Fn() + Send + Sync>,
    dropped: Arc<AtomicU64>,
}

impl Opener {
    /// `wake` is called when a failure is waiting to be shown.
    pub fn new(wake: Arc<dyn Fn() + Send + Sync>) -> Self {
        let (tx, rx) = bounded(FAILURES);
        Self {
            tx,
            rx,
            wake,
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Opens `target` (a URL or a path) with the desktop's handler, without waiting.
    pub fn open(&self, target: String) {
        let tx = self.tx.clone();
        let wake = self.wake.clone();
        let dropped = self.dropped.clone();
        let failed = move |target: String, error: String| {
            tracing::warn!("cannot open {target}: {error}");
            match tx.try_send(OpenFailure { target, error }) {
                Ok(()) | Err(TrySendError::Disconnected(_)) => {}
                Err(TrySendError::Full(_)) => {
                    dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            wake();
        };
        let spawned = std::thread::Builder::new().name("app-open".into()).spawn({
            let target = target.clone();
            let failed = failed.clone();
            move || match open::that_detached_with_timeout(&target, OPEN_WAIT) {
                Ok(()) => tracing::info!("opened {target}"),
                Err(e) => failed(target, describe(&e)),
            }
        });
        if let Err(e) = spawned {
            failed(target, format!("cannot start a thread to open it ({e})"));
        }
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
