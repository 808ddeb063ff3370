//! The witness's durable memory: for each log origin, the latest checkpoint it cosigned.
//!
//! ```text
//! <dir>/<hex SHA-256 of the origin>.checkpoint   the cosigned checkpoint note: the checkpoint
//!                                                text, the log signatures the witness verified
//!                                                and the witness's own cosignature
//! <dir>/<...>.checkpoint.tmp                     a write in progress (ignored and replaced)
//! ```
//!
//! A new checkpoint is written to the `.tmp` file, `fsync`ed, renamed over the old one, and the
//! directory is `fsync`ed, all **before** the witness answers: a cosignature is never returned
//! for a size the witness could forget in a crash, so it can never be made to cosign a smaller
//! or forked tree after a restart.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::log::checkpoint::Checkpoint;

/// A stored checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Latest {
    /// The tree head.
    pub checkpoint: Checkpoint,
    /// The cosigned note, as served at `GET /<origin hash>/checkpoint`.
    pub note: String,
}

/// Why the state directory could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A stored file that does not hold a checkpoint for the origin its name says.
    #[error("{path}: not a checkpoint of a known origin ({detail})")]
    Corrupt {
        /// The file.
        path: String,
        /// What is wrong.
        detail: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Lowercase hex SHA-256 of an origin line: the file name, and the path segment of the
/// tlog-witness monitoring endpoint.
pub fn origin_hash(origin: &str) -> String {
    hex::encode(Sha256::digest(origin.as_bytes()))
}

/// The per-origin latest checkpoints, in memory and on disk.
#[derive(Debug)]
pub struct CheckpointStore {
    dir: PathBuf,
    latest: HashMap<String, Latest>,
}

impl CheckpointStore {
    /// Opens (creating) `dir` and loads every stored checkpoint.
    pub fn open(dir: &Path) -> Result<CheckpointStore, StateError> {
        fs::create_dir_all(dir).map_err(io(dir))?;
        let mut latest = HashMap::new();
        for item in fs::read_dir(dir).map_err(io(dir))? {
            let path = item.map_err(io(dir))?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let Some(hash) = name.strip_suffix(".checkpoint") else {
                continue;
            };
            let note = fs::read_to_string(&path).map_err(io(&path))?;
            let corrupt = |detail: String| StateError::Corrupt {
                path: path.display().to_string(),
                detail,
            };
            let text = note
                .split_once("\n\n")
                .map(|(t, _)| format!("{t}\n"))
                .ok_or_else(|| corrupt("no signature block".into()))?;
            let checkpoint = Checkpoint::parse(&text).map_err(|e| corrupt(e.to_string()))?;
            if origin_hash(&checkpoint.origin) != hash {
                return Err(corrupt("origin does not match the file name".into()));
            }
            latest.insert(checkpoint.origin.clone(), Latest { checkpoint, note });
        }
        Ok(CheckpointStore {
            dir: dir.to_owned(),
            latest,
        })
    }

    /// The latest checkpoint cosigned for `origin`.
    pub fn get(&self, origin: &str) -> Option<&Latest> {
        self.latest.get(origin)
    }

    /// The latest checkpoint for the origin whose hash is `hash`.
    pub fn by_hash(&self, hash: &str) -> Option<&Latest> {
        self.latest
            .iter()
            .find(|(origin, _)| origin_hash(origin) == hash)
            .map(|(_, latest)| latest)
    }

    /// Makes `latest` durable (tmp, fsync, rename, fsync the directory), then remembers it.
    pub fn put(&mut self, latest: Latest) -> Result<(), StateError> {
        let name = format!("{}.checkpoint", origin_hash(&latest.checkpoint.origin));
        let path = self.dir.join(&name);
        let tmp = self.dir.join(format!("{name}.tmp"));
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(io(&tmp))?;
        file.write_all(latest.note.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(io(&tmp))?;
        drop(file);
        fs::rename(&tmp, &path).map_err(io(&path))?;
        // The rename is durable only once the directory entry is.
        File::open(&self.dir)
            .and_then(|dir| dir.sync_all())
            .map_err(io(&self.dir))?;
        self.latest.insert(latest.checkpoint.origin.clone(), latest);
        Ok(())
    }
}
