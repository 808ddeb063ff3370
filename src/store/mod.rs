//! Durable storage on sled: entries, Merkle tree hashes, the head, and the ledger state.
//!
//! Everything lives in one sled tree under one-byte key prefixes, so that a block of entries,
//! the tree nodes it completes, every state record it changes and the new head are written by a
//! single atomic `apply_batch`, followed by one `flush`. A crash at any instant leaves either the
//! old block boundary or the new one, never a mix; a receipt is only handed out after the flush.
//!
//! | key | value |
//! | --- | --- |
//! | `E` ‖ index (u64 BE) | the entry's 32-byte leaf hash, then its canonical bincode bytes |
//! | `N` ‖ level (u8) ‖ index (u64 BE) | 32-byte hash of a perfect subtree of level ≥ 1 |
//! | `H` | the [`Head`]: size, root, last leaf hash, frontier, latest signed checkpoint |
//! | `C` ‖ size (u64 BE) | the checkpoint signed for the block that ended at that size |
//! | `G` | the genesis record |
//! | `A` ‖ actor id | actor record |
//! | `K` ‖ key id (32 bytes) | key record |
//! | `S` ‖ site id | site record |
//! | `B` ‖ batch id | batch record |
//! | `V` ‖ actor id ‖ 0x00 ‖ event id | event record (entry index and envelope digest, for idempotency; ids are unique per actor) |
//! | `P` ‖ prefix | prefix record: who holds a batch id prefix, or the beginning of one |
//! | `X` ‖ site id ‖ 0x00 ‖ batch id | index of the batches extracted at a site (recall by mine) |
//!
//! Records are bincode 2.0.1 (serde, standard configuration). Opening a store reads only the
//! head: it never replays the log or loads the tree; proofs read O(log n) node hashes.
//!
//! A leaf hash lives in front of its entry rather than under its own key: one key less per entry
//! on the write path, and a level-0 tile is one range read. The stored leaf hash is what the
//! tree and the tiles publish; `verify` recomputes it from the bytes, so an altered entry is
//! caught and located.

mod keys;

use std::path::Path;

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::ledger::{
    ActorRecord, BatchOrigin, BatchRecord, EventRecord, GenesisRecord, KeyRecord, PrefixRecord,
    SiteRecord, StateChanges, StateError, StateView,
};
use crate::log::tree::{Frontier, HashReader, NodeId, TreeError};
use crate::log::Hash;
use crate::model::ids::{ActorId, BatchId, BatchPrefix, EventId, SiteId};
use crate::model::KeyId;

pub use keys::{read_secret_file, write_secret_file};

/// Storage failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled reported an I/O or corruption error.
    #[error("storage error: {0}")]
    Sled(#[from] sled::Error),
    /// A stored value does not decode.
    #[error("stored {what} is corrupt: {detail}")]
    Corrupt {
        /// Which record.
        what: String,
        /// The decoder's message.
        detail: String,
    },
    /// A file next to the database (keys, config) could not be read or written.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Something that must exist does not.
    #[error("{what} not found")]
    Missing {
        /// What was looked for.
        what: String,
    },
}

/// How long [`Store::open`] waits for a database lock that is being released.
pub const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The log's head, stored under `H` and kept in memory by the sequencer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// Number of entries.
    pub size: u64,
    /// Merkle root of those entries.
    pub root: Hash,
    /// Leaf hash of the last entry (the next entry's `prev`); zero when empty.
    pub last_leaf: Hash,
    /// Unix millis of the last entry; log times never go backwards.
    pub last_logged_at_ms: u64,
    /// Roots of the perfect subtrees, so the next append needs no reads.
    pub frontier: Frontier,
    /// The latest signed checkpoint (a C2SP signed note) for `size` and `root`.
    pub checkpoint: String,
}

impl Head {
    /// The head of an empty log (no checkpoint yet).
    pub fn empty() -> Head {
        let frontier = Frontier::new();
        Head {
            size: 0,
            root: frontier.root(),
            last_leaf: Hash::default(),
            last_logged_at_ms: 0,
            frontier,
            checkpoint: String::new(),
        }
    }
}

/// Everything one block commit writes.
#[derive(Debug, Default)]
pub struct Block {
    /// New entries: index and canonical bytes, in order.
    pub entries: Vec<(u64, Vec<u8>)>,
    /// Perfect tree nodes the entries completed.
    pub nodes: Vec<(NodeId, Hash)>,
    /// State records changed by the entries.
    pub changes: StateChanges,
}

const ENTRY: u8 = b'E';
const NODE: u8 = b'N';
const HEAD: &[u8] = b"H";
const CHECKPOINT: u8 = b'C';
const GENESIS: &[u8] = b"G";
const ACTOR: u8 = b'A';
const KEY: u8 = b'K';
const SITE: u8 = b'S';
const BATCH: u8 = b'B';
const EVENT: u8 = b'V';
const PREFIX: u8 = b'P';
const SITE_EXTRACT: u8 = b'X';

fn entry_key(index: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = ENTRY;
    k[1..].copy_from_slice(&index.to_be_bytes());
    k
}

fn node_key(id: NodeId) -> [u8; 10] {
    let mut k = [0u8; 10];
    k[0] = NODE;
    k[1] = id.level;
    k[2..].copy_from_slice(&id.index.to_be_bytes());
    k
}

fn checkpoint_key(size: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = CHECKPOINT;
    k[1..].copy_from_slice(&size.to_be_bytes());
    k
}

fn named_key(prefix: u8, name: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + name.len());
    k.push(prefix);
    k.extend_from_slice(name);
    k
}

fn event_key(actor: &ActorId, id: &EventId) -> Vec<u8> {
    let mut k = named_key(EVENT, actor.as_ref().as_bytes());
    k.push(0);
    k.extend_from_slice(id.as_ref().as_bytes());
    k
}

fn site_extract_key(site: &SiteId, batch: &BatchId) -> Vec<u8> {
    let mut k = named_key(SITE_EXTRACT, site.as_ref().as_bytes());
    k.push(0);
    k.extend_from_slice(batch.as_ref().as_bytes());
    k
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    bincode::serde::encode_to_vec(value, bincode::config::standard())
        .expect("encoding a record to a Vec cannot fail")
}

fn decode<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, StoreError> {
    bincode::serde::decode_from_slice(bytes, bincode::config::standard())
        .map(|(value, _)| value)
        .map_err(|e| StoreError::Corrupt {
            what: what.to_owned(),
            detail: e.to_string(),
        })
}

/// A ledger's sled database. Cheap to clone (sled handles are reference counted), safe to share
/// between the sequencer thread and any number of readers.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
}

impl Store {
    /// Opens (or creates) the database in `dir`.
    ///
    /// sled holds an exclusive file lock while a database is open and releases it only when its
    /// background threads have stopped, a moment after the last handle is dropped; a lock still
    /// held is retried for up to [`LOCK_WAIT`] before giving up (another process using the
    /// ledger keeps it for longer).
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let deadline = std::time::Instant::now() + LOCK_WAIT;
        loop {
            match sled::Config::new()
                .path(dir.join("db"))
                .cache_capacity(64 * 1024 * 1024)
                // Every block commit flushes explicitly: no background flusher.
                .flush_every_ms(None)
                .open()
            {
                Ok(db) => return Ok(Store { db }),
                Err(sled::Error::Io(e))
                    if e.to_string().contains("could not acquire lock")
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The stored head; `None` for a ledger that has no entries yet.
    pub fn head(&self) -> Result<Option<Head>, StoreError> {
        self.db
            .get(HEAD)?
            .map(|bytes| decode("head", &bytes))
            .transpose()
    }

    /// Writes a block and the new head in one atomic batch, then flushes to disk. Returns only
    /// once the block is durable.
    pub fn commit_block(&self, block: &Block, head: &Head) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        let leaves: std::collections::HashMap<u64, &Hash> = block
            .nodes
            .iter()
            .filter(|(id, _)| id.level == 0)
            .map(|(id, hash)| (id.index, hash))
            .collect();
        for (index, bytes) in &block.entries {
            let leaf = leaves.get(index).ok_or_else(|| StoreError::Missing {
                what: format!("the leaf hash of entry {index} in its block"),
            })?;
            let mut value = Vec::with_capacity(Hash::LEN + bytes.len());
            value.extend_from_slice(&leaf.0);
            value.extend_from_slice(bytes);
            batch.insert(&entry_key(*index)[..], value);
        }
        for (id, hash) in block.nodes.iter().filter(|(id, _)| id.level > 0) {
            batch.insert(&node_key(*id)[..], &hash.0[..]);
        }
        let changes = &block.changes;
        if let Some(genesis) = &changes.genesis {
            batch.insert(GENESIS, encode(genesis));
        }
        for (id, record) in &changes.actors {
            batch.insert(named_key(ACTOR, id.as_ref().as_bytes()), encode(record));
        }
        for (id, record) in &changes.keys {
            batch.insert(named_key(KEY, &id.0 .0), encode(record));
        }
        for (id, record) in &changes.sites {
            batch.insert(named_key(SITE, id.as_ref().as_bytes()), encode(record));
        }
        for (id, record) in &changes.batches {
            batch.insert(named_key(BATCH, id.as_ref().as_bytes()), encode(record));
            if let BatchOrigin::Extracted { site } = &record.origin {
                batch.insert(site_extract_key(site, id), &[][..]);
            }
        }
        for ((actor, id), record) in &changes.events {
            batch.insert(event_key(actor, id), encode(record));
        }
        for (prefix, record) in &changes.prefixes {
            batch.insert(
                named_key(PREFIX, prefix.as_ref().as_bytes()),
                encode(record),
            );
        }
        batch.insert(&checkpoint_key(head.size)[..], head.checkpoint.as_bytes());
        batch.insert(HEAD, encode(head));
        let started = std::time::Instant::now();
        self.db.apply_batch(batch)?;
        let applied = started.elapsed();
        self.db.flush()?;
        tracing::trace!(
            apply_us = applied.as_micros() as u64,
            flush_us = (started.elapsed() - applied).as_micros() as u64,
            "sled batch"
        );
        Ok(())
    }

    /// The canonical bytes of entry `index`.
    pub fn entry(&self, index: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.db
            .get(entry_key(index))?
            .map(|v| split_entry(&v).map(|(_, bytes)| bytes.to_vec()))
            .transpose()
    }

    /// Entries `start..end` (bytes), in order; stops early at the end of the log.
    pub fn entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        self.entry_values(start, end, |_, bytes| bytes.to_vec())
    }

    /// Reads stored entry values `start..end` and keeps what `pick` takes of each (leaf hash,
    /// entry bytes).
    fn entry_values<T>(
        &self,
        start: u64,
        end: u64,
        pick: impl Fn(Hash, &[u8]) -> T,
    ) -> Result<Vec<T>, StoreError> {
        if start >= end {
            return Ok(Vec::new());
        }
        self.db
            .range(entry_key(start)..entry_key(end))
            .map(|kv| {
                let (_, v) = kv?;
                let (leaf, bytes) = split_entry(&v)?;
                Ok(pick(leaf, bytes))
            })
            .collect()
    }

    /// Overwrites the stored bytes of one entry, keeping its stored leaf hash. Only for
    /// tamper-detection tests and tooling: the ledger itself never rewrites an entry.
    pub fn overwrite_entry_for_testing(&self, index: u64, bytes: &[u8]) -> Result<(), StoreError> {
        let stored = self.db.get(entry_key(index))?.ok_or(StoreError::Missing {
            what: format!("entry {index}"),
        })?;
        let (leaf, _) = split_entry(&stored)?;
        let mut value = leaf.0.to_vec();
        value.extend_from_slice(bytes);
        self.db.insert(entry_key(index), value)?;
        self.db.flush()?;
        Ok(())
    }

    /// Hashes of `width` consecutive perfect nodes at `level`, from `start` (a tile's row).
    pub fn node_row(&self, level: u8, start: u64, width: u64) -> Result<Vec<Hash>, StoreError> {
        if level == 0 {
            return self.entry_values(start, start + width, |leaf, _| leaf);
        }
        let from = node_key(NodeId {
            level,
            index: start,
        });
        let to = node_key(NodeId {
            level,
            index: start + width,
        });
        self.db
            .range(from..to)
            .map(|kv| {
                let (_, v) = kv?;
                Hash::from_slice(&v).map_err(|e| StoreError::Corrupt {
                    what: "tree node".into(),
                    detail: e.to_string(),
                })
            })
            .collect()
    }

    /// The checkpoint of the block that appended entry `index`: the first checkpoint whose size
    /// exceeds `index`. Receipts are rebuilt from it, so a retry gets the very same receipt.
    pub fn checkpoint_covering(&self, index: u64) -> Result<Option<String>, StoreError> {
        let Some(from) = index.checked_add(1) else {
            return Ok(None);
        };
        let upper = checkpoint_key(u64::MAX);
        match self.db.range(checkpoint_key(from)..=upper).next() {
            Some(kv) => {
                let (_, v) = kv?;
                Ok(Some(String::from_utf8_lossy(&v).into_owned()))
            }
            None => Ok(None),
        }
    }

    /// The checkpoint signed at exactly `size`, if a block ended there.
    pub fn checkpoint_at(&self, size: u64) -> Result<Option<String>, StoreError> {
        Ok(self
            .db
            .get(checkpoint_key(size))?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Batch ids extracted at `site`.
    pub fn extracts_at(&self, site: &SiteId) -> Result<Vec<BatchId>, StoreError> {
        let mut prefix = named_key(SITE_EXTRACT, site.as_ref().as_bytes());
        prefix.push(0);
        self.db
            .scan_prefix(&prefix)
            .map(|kv| {
                let (k, _) = kv?;
                let raw = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
                raw.parse().map_err(|_| StoreError::Corrupt {
                    what: "site index".into(),
                    detail: raw,
                })
            })
            .collect()
    }

    /// Every registered actor, ordered by id.
    pub fn actors(&self) -> Result<Vec<ActorRecord>, StoreError> {
        self.db
            .scan_prefix([ACTOR])
            .map(|kv| decode("actor", &kv?.1))
            .collect()
    }

    /// Bytes on disk used by the database.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.db.size_on_disk()?)
    }

    fn record<T: DeserializeOwned>(&self, what: &str, key: &[u8]) -> Result<Option<T>, StateError> {
        let bytes = self.db.get(key).map_err(|e| StateError {
            message: e.to_string(),
        })?;
        bytes
            .map(|b| {
                decode(what, &b).map_err(|e| StateError {
                    message: e.to_string(),
                })
            })
            .transpose()
    }
}

impl HashReader for Store {
    fn read_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, TreeError> {
        ids.iter()
            .map(|id| {
                let storage = |e: &dyn std::fmt::Display| TreeError::Storage {
                    message: e.to_string(),
                };
                let key: Vec<u8> = if id.level == 0 {
                    entry_key(id.index).to_vec()
                } else {
                    node_key(*id).to_vec()
                };
                let value =
                    self.db
                        .get(key)
                        .map_err(|e| storage(&e))?
                        .ok_or(TreeError::MissingNode {
                            level: id.level,
                            index: id.index,
                        })?;
                let hash = if id.level == 0 {
                    split_entry(&value).map_err(|e| storage(&e))?.0
                } else {
                    Hash::from_slice(&value).map_err(|e| storage(&e))?
                };
                Ok(hash)
            })
            .collect()
    }
}

/// Splits a stored entry value into its leaf hash and the entry bytes.
fn split_entry(value: &[u8]) -> Result<(Hash, &[u8]), StoreError> {
    if value.len() < Hash::LEN {
        return Err(StoreError::Corrupt {
            what: "entry".into(),
            detail: format!("{} bytes, shorter than its leaf hash", value.len()),
        });
    }
    let (leaf, bytes) = value.split_at(Hash::LEN);
    Ok((Hash::from_slice(leaf).expect("32 bytes"), bytes))
}

impl StateView for Store {
    fn genesis(&self) -> Result<Option<GenesisRecord>, StateError> {
        self.record("genesis", GENESIS)
    }
    fn actor(&self, id: &ActorId) -> Result<Option<ActorRecord>, StateError> {
        self.record("actor", &named_key(ACTOR, id.as_ref().as_bytes()))
    }
    fn key(&self, id: &KeyId) -> Result<Option<KeyRecord>, StateError> {
        self.record("key", &named_key(KEY, &id.0 .0))
    }
    fn site(&self, id: &SiteId) -> Result<Option<SiteRecord>, StateError> {
        self.record("site", &named_key(SITE, id.as_ref().as_bytes()))
    }
    fn batch(&self, id: &BatchId) -> Result<Option<BatchRecord>, StateError> {
        self.record("batch", &named_key(BATCH, id.as_ref().as_bytes()))
    }
    fn event(&self, actor: &ActorId, id: &EventId) -> Result<Option<EventRecord>, StateError> {
        self.record("event", &event_key(actor, id))
    }
    fn prefix(&self, prefix: &BatchPrefix) -> Result<Option<PrefixRecord>, StateError> {
        self.record("prefix", &named_key(PREFIX, prefix.as_ref().as_bytes()))
    }
}

impl crate::audit::bundle::EntrySource for Store {
    fn entry_bytes(
        &self,
        index: u64,
    ) -> Result<Option<Vec<u8>>, crate::audit::bundle::BundleError> {
        self.entry(index)
            .map_err(|e| crate::audit::bundle::BundleError::Entry {
                index,
                detail: e.to_string(),
            })
    }
}
