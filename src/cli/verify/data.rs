//! The checks `verify --data` adds when it audits a data directory rather than a server: damage
//! is named by the entry it hits and the log file it is in (issue 9, point 5).
//!
//! - before the replay: a log whose files lost entries its latest checkpoint covers (a
//!   truncated file, a restored copy) fails, naming the first missing entry and the short file;
//! - during it: every entry's bytes are hashed against its leaf in `tree` before the entry is
//!   decoded, so damage in `entries` (or in its framing, `offsets`) is reported as damage at
//!   that index, not as whatever the damaged bytes happen to decode to;
//! - after it: every stored interior node of `tree` is compared with the node the entries give
//!   (the replay recomputes them all), since proofs and hash tiles are served from those nodes.

use crate::audit::replay::Replay;
use crate::log::hash::leaf_hash;
use crate::log::tree::{HashReader as _, NodeId};
use crate::store::{Health, Store, StoreError};

/// Damage found in a data directory: the first entry it hits, if it hits one, and the file.
#[derive(Debug, thiserror::Error)]
#[error("{detail}")]
pub struct Damage {
    /// The first damaged (or missing) entry.
    pub index: Option<u64>,
    /// The log file the damage is in, as far as it can be told.
    pub file: &'static str,
    /// What is wrong, naming the entry and the file.
    pub detail: String,
}

/// Nodes compared per read.
const NODE_STEP: u64 = 4096;

/// A log that lost entries its latest signed checkpoint covers: the first missing entry.
pub fn lost_entries(store: &Store) -> Option<Damage> {
    let Health::ReadOnly { reason } = store.health() else {
        return None;
    };
    let held = store.head().ok().flatten().map_or(0, |h| h.size);
    let file = ["offsets", "tree", "entries"]
        .into_iter()
        .find(|f| reason.contains(&format!("log file `{f}`")))
        .unwrap_or("entries");
    Some(Damage {
        index: Some(held),
        file,
        detail: format!("entry {held} and later are missing from the data directory: {reason}"),
    })
}

/// Entries `start..start + width` and their stored leaf hashes, each entry checked against its
/// leaf.
pub fn chunk(
    store: &Store,
    start: u64,
    width: u64,
) -> anyhow::Result<(Vec<Vec<u8>>, Vec<crate::log::Hash>)> {
    let entries = match store.raw_entries(start, start + width) {
        Ok(entries) => entries,
        Err(e) => return Err(first_unreadable(store, start, width, e).into()),
    };
    let leaves = store.node_row(0, start, width).map_err(|e| Damage {
        index: Some(start),
        file: file_of(&e).unwrap_or("tree"),
        detail: format!("the leaf hashes of entries {start}..{}: {e}", start + width),
    })?;
    for (i, (bytes, leaf)) in entries.iter().zip(&leaves).enumerate() {
        if leaf_hash(bytes) != *leaf {
            let index = start + i as u64;
            return Err(Damage {
                index: Some(index),
                file: "entries",
                detail: format!(
                    "entry {index}: its bytes in log file `entries` (as framed by `offsets`) hash to {}, but its leaf hash in log file `tree` is {leaf}: the entry is damaged or was altered",
                    leaf_hash(bytes)
                ),
            }
            .into());
        }
    }
    Ok((entries, leaves))
}

fn file_of(e: &StoreError) -> Option<&'static str> {
    match e {
        StoreError::Damaged { file, .. } | StoreError::Io { file, .. } => Some(file),
        StoreError::DamagedEntry { .. } => Some("entries"),
        _ => None,
    }
}

/// The first entry of `start..start + width` that cannot be read on its own.
fn first_unreadable(store: &Store, start: u64, width: u64, error: StoreError) -> Damage {
    for index in start..start + width {
        if let Err(e) = store.raw_entries(index, index + 1) {
            return Damage {
                index: Some(index),
                file: file_of(&e).unwrap_or("offsets"),
                detail: format!("entry {index}: cannot be read: {e}"),
            };
        }
    }
    Damage {
        index: Some(start),
        file: file_of(&error).unwrap_or("entries"),
        detail: format!("entries {start}..{} cannot be read: {error}", start + width),
    }
}

/// Compares every stored interior node of the first `size` entries' tree with the replayed one.
pub fn check_tree(store: &Store, replay: &Replay, size: u64) -> Result<(), Damage> {
    let tree_damage = |detail: String| Damage {
        index: None,
        file: "tree",
        detail,
    };
    for level in 1..64u8 {
        let count = size >> level;
        if count == 0 {
            break;
        }
        let mut first = 0;
        while first < count {
            let n = (count - first).min(NODE_STEP);
            let ids: Vec<NodeId> = (first..first + n).map(|i| NodeId::new(level, i)).collect();
            let stored = store
                .read_hashes(&ids)
                .map_err(|e| tree_damage(format!("log file `tree`: {e}")))?;
            let computed = replay
                .tree()
                .read_hashes(&ids)
                .map_err(|e| tree_damage(format!("the replayed tree: {e}")))?;
            if let Some((id, (s, c))) = ids
                .iter()
                .zip(stored.iter().zip(&computed))
                .find(|(_, (s, c))| s != c)
            {
                let span = 1u64 << level;
                return Err(tree_damage(format!(
                    "log file `tree` is damaged: its node at level {level}, index {} (over entries {}..{}) is {s}, but the entries give {c}",
                    id.index,
                    id.index * span,
                    (id.index + 1) * span
                )));
            }
            first += n;
        }
    }
    Ok(())
}
