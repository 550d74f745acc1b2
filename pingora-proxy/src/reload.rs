//! Hot reload: on file change (inotify via `notify`), on SIGHUP, and on `POST /reload`.
//!
//! Parse and validate the whole file first; only a valid file is swapped in, atomically. An invalid
//! file is logged with every error (file:line:column) and the old rules keep serving. Counters and
//! bans live in the engine, not in the rules, so they survive. A file event reloads only when the
//! bytes of the watched files changed (a hash of them all): `touch`, a backup job rewriting the
//! same bytes or an editor's save without edits reloads nothing. SIGHUP and `POST /reload`
//! always reload.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use crate::config::{self, ServerSettings};
use crate::proxy::Shared;
use crate::secrets::{self, KeySource};
use notify::{RecursiveMode, Watcher};
use sha2::{Digest, Sha256};
use signal_hook::consts::SIGHUP;
use signal_hook::iterator::Signals;

/// Quiet time after the last file event before reloading (editors write in several steps).
const DEBOUNCE: Duration = Duration::from_millis(250);

pub struct Reloader {
    path: PathBuf,
    keys: KeySource,
    shared: Arc<Shared>,
    /// The `[server]` section last loaded; one reload at a time holds it.
    server: Mutex<ServerSettings>,
    /// The hash of the watched files' contents when they were last read.
    seen: Mutex<Option<[u8; 32]>>,
}

impl Reloader {
    pub fn new(
        path: PathBuf,
        keys: KeySource,
        shared: Arc<Shared>,
        server: ServerSettings,
    ) -> Self {
        let r = Self {
            path,
            keys,
            shared,
            server: Mutex::new(server),
            seen: Mutex::new(None),
        };
        // What was loaded at start: an event that leaves it as it is reloads nothing.
        *r.seen.lock().unwrap_or_else(PoisonError::into_inner) = Some(r.contents_hash());
        r
    }

    /// Reloads if the watched files' bytes differ from the last read; `None` when they do not.
    pub fn reload_if_changed(&self, trigger: &str) -> Option<Result<Vec<String>, Vec<String>>> {
        let now = self.contents_hash();
        let last = self
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .replace(now);
        if last == Some(now) {
            tracing::debug!(trigger, file = %self.path.display(), "watched files unchanged; not reloaded");
            return None;
        }
        Some(self.reload(trigger))
    }

    /// SHA-256 over every watched file's path and bytes (a missing file counts as empty).
    fn contents_hash(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        let mut files = self.watched_files();
        if let KeySource::File(key) = &self.keys {
            files.insert(absolute(key));
        }
        for f in files {
            h.update(f.as_os_str().as_encoded_bytes());
            h.update([0]);
            let bytes = std::fs::read(&f).unwrap_or_default();
            h.update((bytes.len() as u64).to_be_bytes());
            h.update(&bytes);
        }
        h.finalize().into()
    }

    /// Reloads now. `Ok` lists what changed; `Err` lists every error, and nothing changed.
    pub fn reload(&self, trigger: &str) -> Result<Vec<String>, Vec<String>> {
        let mut server = self.server.lock().unwrap_or_else(PoisonError::into_inner);
        let hash = self.contents_hash();
        *self.seen.lock().unwrap_or_else(PoisonError::into_inner) = Some(hash);
        self.reload_keys(trigger);
        match config::load(&self.path) {
            Ok(new) => {
                let mut changes = self.shared.engine.reload(new.rules);
                changes.extend(config::describe_changes(&server, &new.server));
                self.shared
                    .upstreams
                    .replace(new.server.upstreams.clone(), new.server.timeouts);
                *server = new.server;
                self.shared.metrics.reload(true);
                let summary = if changes.is_empty() {
                    "no changes".to_string()
                } else {
                    changes.join("; ")
                };
                tracing::info!(trigger, file = %self.path.display(), changes = %summary, "rules reloaded");
                Ok(changes)
            }
            Err(invalid) => {
                self.shared.metrics.reload(false);
                let errors: Vec<String> = invalid.errors.iter().map(ToString::to_string).collect();
                tracing::error!(trigger, file = %self.path.display(), errors = %errors.join(" | "), "rules rejected; previous rules keep serving");
                Err(errors)
            }
        }
    }

    /// Re-reads the key file (a rotation); a bad file keeps the current keys.
    fn reload_keys(&self, trigger: &str) {
        let KeySource::File(file) = &self.keys else {
            return;
        };
        match secrets::read(file) {
            Ok(keys) => self.shared.engine.set_keys(keys),
            Err(e) => {
                tracing::error!(trigger, error = %format!("{e:#}"), "key file rejected; current keys keep signing")
            }
        }
    }

    /// Files whose change should trigger a reload: the rules file and its list files.
    fn watched_files(&self) -> BTreeSet<PathBuf> {
        let mut files: BTreeSet<PathBuf> = self
            .shared
            .engine
            .rules()
            .list_files
            .iter()
            .map(|p| absolute(p))
            .collect();
        files.insert(absolute(&self.path));
        files
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Reloads on SIGHUP, from a plain thread (installed before the server starts, so an early HUP
/// reloads instead of killing the process).
pub fn spawn_sighup(reloader: Arc<Reloader>) -> std::io::Result<()> {
    let mut signals = Signals::new([SIGHUP])?;
    thread::Builder::new()
        .name("tollgate-sighup".into())
        .spawn(move || {
            for _ in signals.forever() {
                let _ = reloader.reload("SIGHUP");
            }
        })?;
    Ok(())
}

/// Watches the directories of the rules file and its list files; reloads after changes settle.
pub fn spawn_watcher(reloader: Arc<Reloader>) -> std::io::Result<()> {
    thread::Builder::new().name("tollgate-watch".into()).spawn(move || {
        if let Err(e) = watch(&reloader) {
            tracing::warn!(error = %e, "file watching stopped; reload with SIGHUP or POST /reload");
        }
    })?;
    Ok(())
}

fn watch(reloader: &Reloader) -> notify::Result<()> {
    let (tx, rx) = channel();
    let mut watcher = notify::recommended_watcher(tx)?;
    let mut dirs = BTreeSet::new();
    let mut files = reloader.watched_files();
    watch_dirs(&mut watcher, &files, &mut dirs);
    loop {
        let event = match rx.recv() {
            Ok(Ok(ev)) => ev,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "file watch error");
                continue;
            }
            Err(_) => return Ok(()),
        };
        if !relevant(&event, &files) {
            continue;
        }
        // Let the burst of events from one save settle: only events on the watched files
        // restart the wait (a log written next to the rules file must not hold a reload off).
        let mut settle_at = Instant::now() + DEBOUNCE;
        loop {
            let left = settle_at.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(Ok(ev)) if relevant(&ev, &files) => settle_at = Instant::now() + DEBOUNCE,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            }
        }
        let _ = reloader.reload_if_changed("file change");
        files = reloader.watched_files();
        watch_dirs(&mut watcher, &files, &mut dirs);
    }
}

/// An event that may have changed a watched file. Reads (access events) never do: reacting to
/// them would make every reload's own read of the file trigger the next reload.
fn relevant(event: &notify::Event, files: &BTreeSet<PathBuf>) -> bool {
    !event.kind.is_access() && event.paths.iter().any(|p| files.contains(&absolute(p)))
}

fn watch_dirs(watcher: &mut impl Watcher, files: &BTreeSet<PathBuf>, dirs: &mut BTreeSet<PathBuf>) {
    for f in files {
        let Some(dir) = f.parent() else { continue };
        if dirs.contains(dir) {
            continue;
        }
        match watcher.watch(dir, RecursiveMode::NonRecursive) {
            Ok(()) => {
                dirs.insert(dir.to_path_buf());
            }
            Err(e) => tracing::warn!(dir = %dir.display(), error = %e, "cannot watch directory"),
        }
    }
}
