//! The demo's data directory: `lodestone demo` replaces the ledger in it on every run, so it
//! must never be able to delete anything else (issue 9, point 7).
//!
//! A directory is the demo's to delete only when all of these hold:
//! - it carries the marker file [`MARKER`], which `demo` writes right after it created the
//!   ledger there (a ledger made by `init` never has one);
//! - the marker names the log key the directory still holds (a real ledger copied over a demo
//!   directory is not the demo any more);
//! - no process has the ledger open: a running `serve` or `demo` holds the state database's
//!   exclusive lock (`state/db`, taken by sled with `flock(2)`); `demo` takes the same lock
//!   before it deletes anything and keeps it until the directory is gone, so a server cannot
//!   start on it halfway.
//!
//! A missing directory or an empty one is free to use. Anything else — a ledger without the
//! marker, a non-empty directory of other files, a file, a symbolic link — is refused with one
//! line saying what to do, and nothing is touched.

use std::fs::File;
use std::path::Path;

use anyhow::{bail, Context as _};
use fs2::FileExt as _;

use crate::service::DataDir;

/// The marker file `demo` writes into the directory of each demo ledger it creates.
pub const MARKER: &str = ".lodestone-demo";

/// The lock file of the ledger's state database (sled's `db` file under `state/`).
const STATE_LOCK: &str = "state/db";

const MARKER_HEADER: &str =
    "This directory holds a throwaway ledger made by `lodestone demo`, which deletes and recreates it on each run.";

/// What the directory at the demo's `--data` path is.
#[derive(Debug, PartialEq, Eq)]
pub enum DemoDir {
    /// Nothing there, or an empty directory: a demo can be created in it.
    Free,
    /// An earlier demo ledger, not in use: it may be replaced.
    PreviousDemo,
}

/// Checks that the demo may use `dir`, without changing anything: `Err` says why not and what
/// to do.
pub fn inspect(dir: &Path) -> anyhow::Result<DemoDir> {
    let shown = dir.display();
    let meta = match std::fs::symlink_metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(DemoDir::Free),
        Err(e) => return Err(e).with_context(|| format!("cannot inspect {shown}")),
    };
    if meta.file_type().is_symlink() {
        bail!("{shown} is a symbolic link; demo only replaces a directory it created itself: give the real path, or another --data");
    }
    if !meta.is_dir() {
        bail!("{shown} is a file, not a directory; demo leaves it alone: choose another --data");
    }
    let empty = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {shown}"))?
        .next()
        .is_none();
    if empty {
        return Ok(DemoDir::Free);
    }
    let layout = DataDir::new(dir);
    let is_ledger = layout.log_key().exists() || dir.join(crate::store::LAYOUT_FILE).exists();
    let marker = match std::fs::read_to_string(dir.join(MARKER)) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if is_ledger {
                bail!("{shown} holds a Lodestone ledger that `demo` did not create, and demo never deletes a real ledger: run the demo elsewhere (e.g. --data ./lodestone-data/demo), or serve this ledger with `lodestone serve --data {shown}`");
            }
            bail!("{shown} is not empty and is not a demo ledger; demo deletes only directories it created: choose another --data, or empty it yourself");
        }
        Err(e) => {
            return Err(e).with_context(|| format!("cannot read {}", dir.join(MARKER).display()))
        }
    };
    let marked_key = marker
        .lines()
        .find_map(|l| l.strip_prefix("log-key "))
        .map(str::trim)
        .unwrap_or_default();
    let held_key = std::fs::read_to_string(layout.log_pub()).unwrap_or_default();
    if held_key.trim() != marked_key {
        bail!("{shown} is marked as a demo, but the ledger in it is not the one the marker was written for, so demo leaves it alone: choose another --data, or delete it yourself if it is a copy you do not need");
    }
    if in_use(dir)? {
        bail!("{shown} is in use: a `lodestone demo` or `serve` is running on it; stop it first (Ctrl-C), or give this demo another --data");
    }
    Ok(DemoDir::PreviousDemo)
}

/// Whether a process holds the ledger's state lock.
fn in_use(dir: &Path) -> anyhow::Result<bool> {
    Ok(lock_state(dir)?.is_none())
}

/// Takes the state database's exclusive lock; `None` when another process holds it. A ledger
/// without a state database has nobody serving it (a server creates the file before anything
/// else): `Some(None)`.
fn lock_state(dir: &Path) -> anyhow::Result<Option<Option<File>>> {
    let path = dir.join(STATE_LOCK);
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Some(None)),
        Err(e) => return Err(e).with_context(|| format!("cannot open {}", path.display())),
    };
    match file.try_lock_exclusive() {
        Ok(()) => Ok(Some(Some(file))),
        Err(e) if e.kind() == fs2::lock_contended_error().kind() => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot lock {}", path.display())),
    }
}

/// Makes `dir` ready for a new demo: deletes an earlier demo ledger there (holding its state
/// lock while it does), leaves a free path as it is, and refuses anything else ([`inspect`]).
pub fn remove_previous(dir: &Path) -> anyhow::Result<()> {
    if inspect(dir)? != DemoDir::PreviousDemo {
        return Ok(());
    }
    let Some(lock) = lock_state(dir)? else {
        bail!(
            "{} is in use: a `lodestone demo` or `serve` is running on it; stop it first (Ctrl-C), or give this demo another --data",
            dir.display()
        );
    };
    // The marker goes first: a removal cut short leaves a directory that is no longer marked,
    // which the next run refuses rather than guesses about.
    std::fs::remove_file(dir.join(MARKER))
        .with_context(|| format!("removing the old demo in {}", dir.display()))?;
    std::fs::remove_dir_all(dir)
        .with_context(|| format!("removing the old demo in {}", dir.display()))?;
    drop(lock);
    Ok(())
}

/// Marks the new demo ledger in `dir` as the demo's (after `init` created it).
pub fn mark(dir: &Path) -> anyhow::Result<()> {
    let key = std::fs::read_to_string(DataDir::new(dir).log_pub())
        .with_context(|| format!("reading the demo's log key in {}", dir.display()))?;
    let text = format!("{MARKER_HEADER}\nlog-key {}\n", key.trim());
    crate::store::files::write_atomic(&dir.join(MARKER), text.as_bytes(), 0o644)
        .with_context(|| format!("marking {} as a demo ledger", dir.display()))
}
