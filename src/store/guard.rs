//! The checkpoint guard: the log's latest signed checkpoint, remembered *outside* its data
//! directory, so that a restored backup or a copy that lost its tail cannot make the log sign a
//! second history under the same key.
//!
//! The log's own `checkpoints` file already refuses to contradict itself when entries go
//! missing; but a whole data directory restored from an older copy brings its older checkpoint
//! file with it. The guard lives elsewhere (by default in the operator's state directory, one
//! file per log key) and is rewritten at most once a second and at shutdown. At open, a guard
//! ahead of the log, or one whose root the log's tree does not reproduce, makes the ledger
//! refuse writes with both sizes and the way out (`lodestone recover`).
//!
//! Witnesses (c2sp.org/tlog-witness) are the stronger form of the same check: they do not share
//! the operator's disk at all.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::{files, Store, StoreError};
use crate::log::checkpoint::Checkpoint;
use crate::log::note::NoteVerifier;
use crate::log::tree::root_hash;

/// Environment variable naming the guard directory (`--checkpoint-guard` sets it too).
pub const GUARD_ENV: &str = "LODESTONE_CHECKPOINT_GUARD";
/// Least time between two guard writes while blocks keep coming.
const INTERVAL: Duration = Duration::from_secs(1);

/// Where one log's latest checkpoint is remembered.
pub struct CheckpointGuard {
    path: PathBuf,
    last: Mutex<Option<Instant>>,
}

impl CheckpointGuard {
    /// The default guard directory: `$LODESTONE_CHECKPOINT_GUARD`, else
    /// `$XDG_STATE_HOME/lodestone/checkpoints`, else `~/.local/state/lodestone/checkpoints`.
    pub fn default_dir() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os(GUARD_ENV).filter(|d| !d.is_empty()) {
            return Some(PathBuf::from(dir));
        }
        let state = std::env::var_os("XDG_STATE_HOME")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local").join("state"))
            })?;
        Some(state.join("lodestone").join("checkpoints"))
    }

    /// The guard of the log whose checkpoint key is `verifier`, in `dir`.
    pub fn new(dir: &Path, verifier: &NoteVerifier) -> CheckpointGuard {
        let digest = Sha256::digest(verifier.to_text().as_bytes());
        let name = format!("{}.checkpoint", hex::encode(&digest[..16]));
        CheckpointGuard {
            path: dir.join(name),
            last: Mutex::new(None),
        }
    }

    /// The guard file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The remembered checkpoint note, if any.
    pub fn load(&self) -> Result<Option<String>, StoreError> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StoreError::File {
                path: self.path.display().to_string(),
                source,
            }),
        }
    }

    /// Remembers `note` durably (atomic replace).
    pub fn remember(&self, note: &str) -> Result<(), StoreError> {
        let file_error = |source| StoreError::File {
            path: self.path.display().to_string(),
            source,
        };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(file_error)?;
        }
        files::write_atomic(&self.path, note.as_bytes(), 0o600).map_err(file_error)?;
        *self.last.lock().expect("guard lock") = Some(Instant::now());
        Ok(())
    }

    /// Remembers `note` unless the guard was written less than a second ago.
    pub fn remember_coalesced(&self, note: &str) -> Result<bool, StoreError> {
        let due = self
            .last
            .lock()
            .expect("guard lock")
            .is_none_or(|at| at.elapsed() >= INTERVAL);
        if due {
            self.remember(note)?;
        }
        Ok(due)
    }

    /// Compares the remembered checkpoint with the log in `store`: `Err` carries why writes must
    /// be refused (the log is behind, or has another history). A guard that is not this log's
    /// valid checkpoint is ignored with a warning.
    pub fn check(&self, store: &Store, verifier: &NoteVerifier) -> Result<(), String> {
        let note = match self.load() {
            Ok(Some(note)) => note,
            Ok(None) => return Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, "the checkpoint guard cannot be read");
                return Ok(());
            }
        };
        let remembered = match Checkpoint::open(&note, verifier) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "ignoring a checkpoint guard that is not this log's");
                return Ok(());
            }
        };
        let size = store.head().ok().flatten().map_or(0, |h| h.size);
        let guard = self.path.display();
        if remembered.size > size {
            return Err(format!(
                "this log signed a checkpoint at size {} (remembered in {guard}), but its data holds only {size} entries: \
                 it was restored from an older copy or lost its tail. Writes are refused so the log never signs a second \
                 history; bring the missing entries back with `lodestone recover --from <a mirror's URL or a newer copy>`",
                remembered.size
            ));
        }
        match root_hash(remembered.size, store) {
            Ok(root) if root == remembered.root => Ok(()),
            Ok(root) => Err(format!(
                "this log's tree at size {} has root {root}, but the checkpoint it signed at that size (remembered in \
                 {guard}) has root {}: the data directory holds another history. Writes are refused; restore the ledger \
                 that signed that checkpoint",
                remembered.size, remembered.root
            )),
            Err(e) => Err(format!(
                "the tree at the remembered size {} cannot be read: {e}",
                remembered.size
            )),
        }
    }
}
