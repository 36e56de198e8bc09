//! Where the stream keys are kept: the platform keyring when one answers (the Secret Service
//! on Linux: GNOME Keyring, KWallet, KeePassXC; the Keychain on macOS; the Credential Manager
//! on Windows), else `keys.toml` in the config folder, readable by the user only (0600).
//!
//! The keys are one keyring item (service `onair`, user `stream-keys`, labelled "onair stream
//! keys"), holding the same TOML text as `keys.toml`, so one write saves them all at once.
//!
//! The rules, in [`KeyStore`] (plain code over a [`SecretSlot`], unit-tested in memory):
//! - **Load.** From the keyring when it answers. A `keys.toml` left from a run without a
//!   keyring is merged in (its keys are the newer ones), written to the keyring, and only then
//!   deleted: moved, never lost. When the keyring cannot be read (no daemon, locked and not
//!   unlocked), this run uses `keys.toml`, and says why.
//! - **Save.** To the keyring; if that write fails, to `keys.toml` instead (merged again into
//!   the keyring at the next start), so a key the user typed is never lost.
//!
//! The window never waits on the keyring (an unlock prompt can take as long as the user
//! does): [`KeyVault`] runs the store on its own thread, `app-keys`. Saves go through a
//! one-slot mailbox where the newest keys replace any not yet written (each replacement is
//! counted: only the newest matters), and results come back as [`VaultEvent`]s.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};

use super::settings::{Keys, SettingsError};

/// `ONAIR_KEYRING=off` keeps the keys in `keys.toml` even where a keyring answers.
pub const KEYRING_ENV: &str = "ONAIR_KEYRING";

const SERVICE: &str = "onair";
const USER: &str = "stream-keys";
const LABEL: &str = "onair stream keys";
const KEYS_FILE: &str = "keys.toml";

/// Whether to try the platform keyring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyringUse {
    /// The keyring when one answers, else the file.
    Auto,
    /// The file only.
    Off,
}

impl KeyringUse {
    /// From `ONAIR_KEYRING`: `off`, `no`, `0` or `false` turn it off.
    pub fn from_env() -> Self {
        Self::parse(std::env::var(KEYRING_ENV).ok().as_deref())
    }

    fn parse(value: Option<&str>) -> Self {
        match value.map(str::to_ascii_lowercase).as_deref() {
            Some("off" | "no" | "0" | "false") => Self::Off,
            _ => Self::Auto,
        }
    }
}

/// Where the keys are kept this run, for the window to say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place {
    /// The platform keyring, by its name.
    Keyring(&'static str),
    /// `keys.toml` at this path.
    File(PathBuf),
    /// Nowhere: there is no config folder, so the keys last for this run only.
    Unsaved,
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Keyring(name) => write!(f, "the system keyring ({name})"),
            Self::File(path) => {
                let name = path.file_name().unwrap_or_default().to_string_lossy();
                write!(f, "{name} in the config folder (readable only by you)")
            }
            Self::Unsaved => write!(f, "this run only (no config folder)"),
        }
    }
}

/// Why a keyring operation failed, in words (never the secret: keyring-core's errors hold
/// raw bytes only in variants whose `Display` leaves them out).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct SlotError(pub String);

/// One secret in a keyring: what [`KeyStore`] needs of it.
pub trait SecretSlot: Send {
    /// The secret, or `None` when there is none.
    fn get(&self) -> Result<Option<String>, SlotError>;
    fn set(&self, secret: &str) -> Result<(), SlotError>;
    /// Removes the secret; removing none is not an error.
    fn delete(&self) -> Result<(), SlotError>;
}

impl SecretSlot for keyring_core::Entry {
    fn get(&self) -> Result<Option<String>, SlotError> {
        match self.get_password() {
            Ok(s) => Ok(Some(s)),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(SlotError(e.to_string())),
        }
    }

    fn set(&self, secret: &str) -> Result<(), SlotError> {
        self.set_password(secret)
            .map_err(|e| SlotError(e.to_string()))
    }

    fn delete(&self) -> Result<(), SlotError> {
        match self.delete_credential() {
            Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
            Err(e) => Err(SlotError(e.to_string())),
        }
    }
}

/// The platform keyring's item for the keys, or why there is none.
fn platform_slot() -> Result<(Box<dyn SecretSlot>, &'static str), SlotError> {
    let err = |e: keyring_core::Error| SlotError(e.to_string());
    // Only the Secret Service takes a label; the other stores refuse unknown modifiers.
    #[cfg(target_os = "linux")]
    let (store, name, label): (Arc<keyring_core::CredentialStore>, _, _) = (
        zbus_secret_service_keyring_store::Store::new().map_err(err)?,
        "Secret Service",
        Some(LABEL),
    );
    #[cfg(target_os = "macos")]
    let (store, name, label): (Arc<keyring_core::CredentialStore>, _, _) = (
        apple_native_keyring_store::keychain::Store::new().map_err(err)?,
        "Keychain",
        None,
    );
    #[cfg(target_os = "windows")]
    let (store, name, label): (Arc<keyring_core::CredentialStore>, _, _) = (
        windows_native_keyring_store::Store::new().map_err(err)?,
        "Credential Manager",
        None,
    );
    #[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
    return Err(SlotError("no keyring is supported on this platform".into()));
    #[cfg(any(target_os = "linux", target_os = "macos", target_os = "windows"))]
    {
        let mods = label.map(|l| std::collections::HashMap::from([("label", l)]));
        let entry = store.build(SERVICE, USER, mods.as_ref()).map_err(err)?;
        Ok((Box::new(entry), name))
    }
}

/// What loading gave: the keys, where they are kept, and anything to tell the user.
#[derive(Debug)]
pub struct Loaded {
    pub keys: Keys,
    pub place: Place,
    /// Things worth a notification (a key moved, a keyring that did not answer).
    pub notices: Vec<String>,
    /// Notices that are errors (the keys could not be read at all).
    pub errors: Vec<String>,
    /// Why no keyring is used, when one was wanted and none answered.
    pub no_keyring: Option<String>,
}

/// The stream keys' storage: a keyring item, with `keys.toml` as the fallback.
pub struct KeyStore {
    dir: PathBuf,
    /// The keyring item, while the keyring works this run.
    slot: Option<(Box<dyn SecretSlot>, &'static str)>,
    /// Why no keyring is used, when one was wanted.
    no_keyring: Option<String>,
}

impl KeyStore {
    /// The store for `dir`, over the platform keyring when `keyring` allows and one answers.
    pub fn open(dir: &Path, keyring: KeyringUse) -> Self {
        let (slot, no_keyring) = match keyring {
            KeyringUse::Off => (None, None),
            KeyringUse::Auto => match platform_slot() {
                Ok(slot) => (Some(slot), None),
                Err(e) => {
                    tracing::info!("no system keyring ({e}): stream keys are kept in keys.toml");
                    (None, Some(e.0))
                }
            },
        };
        Self {
            dir: dir.to_owned(),
            slot,
            no_keyring,
        }
    }

    /// The store over `slot` (tests: an in-memory keyring).
    pub fn with_slot(dir: &Path, slot: Box<dyn SecretSlot>, name: &'static str) -> Self {
        Self {
            dir: dir.to_owned(),
            slot: Some((slot, name)),
            no_keyring: None,
        }
    }

    fn file(&self) -> PathBuf {
        self.dir.join(KEYS_FILE)
    }

    pub fn place(&self) -> Place {
        match &self.slot {
            Some((_, name)) => Place::Keyring(name),
            None => Place::File(self.file()),
        }
    }

    /// Loads the keys (see the module's rules). A keyring that fails to read is dropped for
    /// this run, with a notice.
    pub fn load(&mut self) -> Loaded {
        let mut notices = Vec::new();
        let mut errors = Vec::new();
        let file_keys = match Keys::load(&self.dir) {
            Ok(k) => k,
            Err(e) => {
                errors.push(e.to_string());
                Keys::default()
            }
        };
        let Some((slot, name)) = &self.slot else {
            return self.loaded(file_keys, notices, errors);
        };
        let from_keyring = slot.get().map_err(|e| e.0).and_then(|text| match text {
            None => Ok(Keys::default()),
            Some(text) => Keys::from_toml(&text)
                .map_err(|e| format!("the keyring's item is not onair's keys ({e})")),
        });
        let mut keys = match from_keyring {
            Ok(k) => k,
            Err(e) => {
                notices.push(format!(
                    "the system keyring ({name}) could not be read ({e}); stream keys are kept in {} this run",
                    self.file().display()
                ));
                self.slot = None;
                self.no_keyring = Some(e);
                return self.loaded(file_keys, notices, errors);
            }
        };
        if self.file().exists() && errors.is_empty() {
            let moved = file_keys.len();
            keys.merge(file_keys);
            match slot.set(&keys.to_toml()) {
                Ok(()) => match std::fs::remove_file(self.file()) {
                    Ok(()) => notices.push(format!(
                        "moved {moved} stream key{} from {} into the system keyring ({name})",
                        if moved == 1 { "" } else { "s" },
                        self.file().display()
                    )),
                    Err(e) => errors.push(format!(
                        "the keys are in the system keyring, but {} could not be deleted: {e}",
                        self.file().display()
                    )),
                },
                // The file stays as it was: nothing is lost, and the move is tried next time.
                Err(e) => notices.push(format!(
                    "could not move the stream keys into the system keyring ({name}): {e}"
                )),
            }
        }
        self.loaded(keys, notices, errors)
    }

    /// What a load found, with where the keys are kept now and why no keyring is used, if so.
    fn loaded(&self, keys: Keys, notices: Vec<String>, errors: Vec<String>) -> Loaded {
        Loaded {
            keys,
            place: self.place(),
            notices,
            errors,
            no_keyring: self.no_keyring.clone(),
        }
    }

    /// Saves the keys: to the keyring, or to `keys.toml` when there is none or its write fails
    /// (the `Ok` string then says so, once).
    pub fn save(&mut self, keys: &Keys) -> Result<Option<String>, SettingsError> {
        let Some((slot, name)) = &self.slot else {
            keys.save(&self.dir)?;
            return Ok(None);
        };
        let written = if keys.is_empty() {
            slot.delete()
        } else {
            slot.set(&keys.to_toml())
        };
        match written {
            Ok(()) => Ok(None),
            Err(e) => {
                let note = format!(
                    "could not write the stream keys to the system keyring ({name}): {e}; they are kept in {} instead",
                    self.file().display()
                );
                self.slot = None;
                keys.save(&self.dir)?;
                Ok(Some(note))
            }
        }
    }
}

/// What the vault's thread reports to the window.
#[derive(Debug)]
pub enum VaultEvent {
    Loaded(Loaded),
    /// A save went to `keys.toml` instead of the keyring (the text says why).
    Notice(String),
    /// A save failed (the text says why).
    Error(String),
}

/// Events waiting for the window; when full, further ones are counted and dropped (the
/// window reads them every frame, so this only happens when it is not running).
const EVENTS: usize = 32;

/// The key store on its own thread, so the window never waits on a keyring.
pub struct KeyVault {
    pending: Arc<Mutex<Option<Keys>>>,
    wake: Option<Sender<()>>,
    events: Receiver<VaultEvent>,
    thread: Option<JoinHandle<()>>,
    done: Receiver<()>,
    /// Saves replaced by newer keys before they were written.
    pub superseded: Arc<AtomicU64>,
    /// Events dropped because the window did not read them.
    pub dropped_events: Arc<AtomicU64>,
}

impl KeyVault {
    /// Starts `app-keys`, which opens the store and loads the keys first. `notify` is called
    /// after each event is queued (the window's repaint request).
    pub fn start(
        dir: PathBuf,
        keyring: KeyringUse,
        notify: Arc<dyn Fn() + Send + Sync>,
    ) -> std::io::Result<Self> {
        let pending: Arc<Mutex<Option<Keys>>> = Arc::default();
        let (wake_tx, wake_rx) = bounded::<()>(1);
        let (event_tx, events) = bounded(EVENTS);
        let (done_tx, done) = bounded::<()>(1);
        let dropped_events = Arc::new(AtomicU64::new(0));
        let slot = Arc::clone(&pending);
        let dropped = Arc::clone(&dropped_events);
        let thread = std::thread::Builder::new()
            .name("app-keys".into())
            .spawn(move || {
                let send = |e: VaultEvent| {
                    if event_tx.try_send(e).is_err() {
                        dropped.fetch_add(1, Ordering::Relaxed);
                    }
                    notify();
                };
                let mut store = KeyStore::open(&dir, keyring);
                let loaded = store.load();
                for n in &loaded.notices {
                    tracing::info!("{n}");
                }
                send(VaultEvent::Loaded(loaded));
                // Each wake writes the newest keys; a closed mailbox (the window is gone)
                // writes what is left, then ends.
                loop {
                    let open = wake_rx.recv().is_ok();
                    let keys = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
                    if let Some(keys) = keys {
                        match store.save(&keys) {
                            Ok(None) => {}
                            Ok(Some(note)) => {
                                tracing::warn!("{note}");
                                send(VaultEvent::Notice(note));
                            }
                            Err(e) => {
                                tracing::error!("{e}");
                                send(VaultEvent::Error(e.to_string()));
                            }
                        }
                    }
                    if !open {
                        break;
                    }
                }
                let _ = done_tx.send(());
            })?;
        Ok(Self {
            pending,
            wake: Some(wake_tx),
            events,
            thread: Some(thread),
            done,
            superseded: Arc::default(),
            dropped_events,
        })
    }

    /// Queues `keys` to be saved; never waits.
    pub fn save(&self, keys: Keys) {
        let replaced = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .replace(keys);
        if replaced.is_some() {
            self.superseded.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(wake) = &self.wake {
            // Full: a wake is already pending, and it will take these keys.
            if let Err(TrySendError::Disconnected(())) = wake.try_send(()) {
                tracing::error!("the key store's thread has ended: stream keys are not saved");
            }
        }
    }

    /// The next event, if any; never waits.
    pub fn poll(&self) -> Option<VaultEvent> {
        self.events.try_recv().ok()
    }

    /// Waits up to `timeout` for the next event (startup: most stores load in a millisecond).
    pub fn wait(&self, timeout: Duration) -> Option<VaultEvent> {
        self.events.recv_timeout(timeout).ok()
    }

    /// Writes what is queued and ends the thread, waiting at most `timeout` (a keyring that
    /// hangs must not keep the app from quitting). False when the time ran out.
    pub fn finish(&mut self, timeout: Duration) -> bool {
        self.wake = None;
        let Some(thread) = self.thread.take() else {
            return true;
        };
        let ended = self.done.recv_timeout(timeout).is_ok();
        if ended {
            let _ = thread.join();
        }
        let (superseded, dropped) = (
            self.superseded.load(Ordering::Relaxed),
            self.dropped_events.load(Ordering::Relaxed),
        );
        tracing::debug!(superseded, dropped, "key store finished");
        if dropped > 0 {
            tracing::warn!(
                "{dropped} key store messages were dropped (the window did not read them)"
            );
        }
        // Otherwise the thread is left to finish (or not) on its own: asked once, waited once.
        ended
    }
}

impl Drop for KeyVault {
    fn drop(&mut self) {
        if !self.finish(Duration::from_secs(3)) {
            tracing::error!(
                "the key store did not finish within 3 s; the last key change may not be saved"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// An in-memory keyring item that can be made to fail.
    #[derive(Clone, Default)]
    struct Memory {
        secret: Arc<Mutex<Option<String>>>,
        fail_get: Arc<Mutex<Option<String>>>,
        fail_set: Arc<Mutex<Option<String>>>,
    }

    impl SecretSlot for Memory {
        fn get(&self) -> Result<Option<String>, SlotError> {
            if let Some(e) = self.fail_get.lock().unwrap().clone() {
                return Err(SlotError(e));
            }
            Ok(self.secret.lock().unwrap().clone())
        }
        fn set(&self, secret: &str) -> Result<(), SlotError> {
            if let Some(e) = self.fail_set.lock().unwrap().clone() {
                return Err(SlotError(e));
            }
            *self.secret.lock().unwrap() = Some(secret.to_owned());
            Ok(())
        }
        fn delete(&self) -> Result<(), SlotError> {
            *self.secret.lock().unwrap() = None;
            Ok(())
        }
    }

    fn keys(pairs: &[(u64, &str)]) -> Keys {
        let mut k = Keys::default();
        for (id, key) in pairs {
            k.set(*id, (*key).to_owned());
        }
        k
    }

    #[test]
    fn keys_toml_moves_into_the_keyring_and_its_keys_win() {
        let dir = tempfile::tempdir().unwrap();
        keys(&[(1, "file-new"), (3, "only-file")])
            .save(dir.path())
            .unwrap();
        let mem = Memory::default();
        mem.set(&keys(&[(1, "keyring-old"), (2, "only-keyring")]).to_toml())
            .unwrap();
        let mut store = KeyStore::with_slot(dir.path(), Box::new(mem.clone()), "test");
        let loaded = store.load();
        assert_eq!(
            loaded.keys,
            keys(&[(1, "file-new"), (2, "only-keyring"), (3, "only-file")])
        );
        assert_eq!(loaded.place, Place::Keyring("test"));
        assert!(loaded.notices[0].starts_with("moved 2 stream keys from"));
        assert!(
            !dir.path().join(KEYS_FILE).exists(),
            "keys.toml is deleted once moved"
        );
        let stored = Keys::from_toml(&mem.get().unwrap().unwrap()).unwrap();
        assert_eq!(stored, loaded.keys);
    }

    #[test]
    fn a_failed_move_keeps_the_file() {
        let dir = tempfile::tempdir().unwrap();
        keys(&[(1, "k1")]).save(dir.path()).unwrap();
        let mem = Memory::default();
        *mem.fail_set.lock().unwrap() = Some("locked".into());
        let mut store = KeyStore::with_slot(dir.path(), Box::new(mem), "test");
        let loaded = store.load();
        assert_eq!(loaded.keys, keys(&[(1, "k1")]));
        assert!(dir.path().join(KEYS_FILE).exists());
        assert!(loaded.notices[0].contains("locked"), "{:?}", loaded.notices);
    }

    #[test]
    fn an_unreadable_keyring_falls_back_to_the_file_for_the_run() {
        let dir = tempfile::tempdir().unwrap();
        keys(&[(1, "k1")]).save(dir.path()).unwrap();
        let mem = Memory::default();
        *mem.fail_get.lock().unwrap() = Some("the collection is locked".into());
        let mut store = KeyStore::with_slot(dir.path(), Box::new(mem.clone()), "test");
        let loaded = store.load();
        assert_eq!(loaded.keys, keys(&[(1, "k1")]));
        assert!(matches!(loaded.place, Place::File(_)));
        assert!(loaded.notices[0].contains("could not be read (the collection is locked)"));
        // Saves now go to the file, never to the keyring that failed.
        store.save(&keys(&[(1, "k2")])).unwrap();
        assert_eq!(Keys::load(dir.path()).unwrap(), keys(&[(1, "k2")]));
        assert_eq!(mem.secret.lock().unwrap().clone(), None);
    }

    #[test]
    fn a_failed_keyring_write_saves_to_the_file_and_no_secret_is_in_the_note() {
        let dir = tempfile::tempdir().unwrap();
        let mem = Memory::default();
        let mut store = KeyStore::with_slot(dir.path(), Box::new(mem.clone()), "test");
        assert!(store.load().keys.is_empty());
        store.save(&keys(&[(1, "first")])).unwrap();
        assert!(!dir.path().join(KEYS_FILE).exists());
        *mem.fail_set.lock().unwrap() = Some("no such object".into());
        let note = store.save(&keys(&[(1, "sekrit-key")])).unwrap().unwrap();
        assert!(
            note.contains("no such object") && !note.contains("sekrit"),
            "{note}"
        );
        assert_eq!(Keys::load(dir.path()).unwrap(), keys(&[(1, "sekrit-key")]));
        // Deleting the last key empties the keyring's item.
        let mem = Memory::default();
        mem.set("[keys]\n1 = \"old\"\n").unwrap();
        let mut store = KeyStore::with_slot(dir.path(), Box::new(mem.clone()), "test");
        store.save(&Keys::default()).unwrap();
        assert_eq!(mem.secret.lock().unwrap().clone(), None);
    }

    #[test]
    fn the_vault_writes_the_newest_keys_and_flushes_on_finish() {
        let dir = tempfile::tempdir().unwrap();
        let mut vault =
            KeyVault::start(dir.path().to_owned(), KeyringUse::Off, Arc::new(|| {})).unwrap();
        let Some(VaultEvent::Loaded(l)) = vault.wait(Duration::from_secs(5)) else {
            panic!("no Loaded event");
        };
        assert!(l.keys.is_empty() && matches!(l.place, Place::File(_)));
        for i in 0..50 {
            vault.save(keys(&[(1, &format!("key-{i}"))]));
        }
        assert!(vault.finish(Duration::from_secs(5)));
        assert_eq!(Keys::load(dir.path()).unwrap(), keys(&[(1, "key-49")]));
    }

    #[test]
    fn keyring_use_words() {
        assert_eq!(KeyringUse::parse(Some("OFF")), KeyringUse::Off);
        assert_eq!(KeyringUse::parse(Some("0")), KeyringUse::Off);
        assert_eq!(KeyringUse::parse(Some("on")), KeyringUse::Auto);
        assert_eq!(KeyringUse::parse(None), KeyringUse::Auto);
    }
}
