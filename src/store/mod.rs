//! Durable storage behind one ledger-level seam, [`LedgerStore`].
//!
//! The seam offers what the sequencer, the audits and the HTTP layer need — commit a block with
//! its head, read entries, tree hashes, checkpoints and state records — not a key-value API, so
//! each backend can be written natively for its infrastructure. [`Store`] is the cheap-to-clone
//! handle everyone holds.
//!
//! Two implementations share one code path, [`FileLedger`]:
//! - **embedded** ([`Store::open`]): the log in append-only segment files (`<data>/log/`,
//!   [`segments`]) that are `fdatasync`ed before any receipt, and the state in sled
//!   (`<data>/state/`, [`records`]), a cache the log rebuilds;
//! - **memory** ([`Store::memory`]): the same segment code over in-memory files that inject
//!   faults ([`files::Faults`]: fail the n-th write, fail syncs, tear a write, run out of space,
//!   lose power), for the conformance suite ([`conformance`]) and failure tests.
//!
//! A third, [`postgres::PgLedger`], keeps the ledger in a PostgreSQL database
//! ([`Store::postgres`]): each block one transaction, one writer per database, readers on
//! streaming replicas.
//!
//! The layout of a data directory carries a version ([`LAYOUT_FILE`]); an unknown version is
//! refused at open.

pub mod conformance;
mod file_ledger;
pub mod files;
mod guard;
mod keys;
pub mod postgres;
pub mod records;
pub mod segments;

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::ledger::{
    ActorRecord, BatchRecord, EventRecord, GenesisRecord, KeyRecord, PrefixRecord, SiteRecord,
    StateChanges, StateError, StateView,
};
use crate::log::tree::{Frontier, HashReader, NodeId, TreeError};
use crate::log::Hash;
use crate::model::ids::{ActorId, BatchId, BatchPrefix, EventId, SiteId};
use crate::model::KeyId;

pub use file_ledger::FileLedger;
pub use guard::CheckpointGuard;
pub use keys::{read_secret_file, write_secret_file};

/// The file in a data directory naming its layout version.
pub const LAYOUT_FILE: &str = "LAYOUT";
/// The layout this build reads and writes: segment files under `log/`, sled state under
/// `state/`. (Layout 1, sled only under `db/`, was never released.)
pub const LAYOUT_VERSION: u32 = 2;

/// Storage failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled reported an I/O or corruption error.
    #[error("state database error: {0}")]
    Sled(#[from] sled::Error),
    /// A stored state record does not decode.
    #[error("stored {what} is corrupt: {detail}")]
    Corrupt {
        /// Which record.
        what: String,
        /// The decoder's message.
        detail: String,
    },
    /// A file next to the log (keys, layout) could not be read or written.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An operation on a segment file failed.
    #[error("log file `{file}`: {op} failed: {source}")]
    Io {
        /// Which segment file.
        file: &'static str,
        /// What was being done.
        op: &'static str,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A segment file holds bytes that cannot be what the log wrote.
    #[error("log file `{file}` is damaged: {detail}")]
    Damaged {
        /// Which segment file.
        file: &'static str,
        /// What is wrong, with the entry or slot it hits.
        detail: String,
    },
    /// An entry's bytes no longer hash to its leaf hash in the tree.
    #[error("entry {index} is damaged: its bytes in log file `entries` do not hash to its leaf hash in `tree`")]
    DamagedEntry {
        /// The entry.
        index: u64,
    },
    /// A block does not continue the log where it ends (a writer bug, refused before writing).
    #[error("block out of sequence: expected position {expected}, got {found}")]
    Sequence {
        /// Where the log ends.
        expected: u64,
        /// What the block claimed.
        found: u64,
    },
    /// A checkpoint note longer than the checkpoint file's slots.
    #[error("checkpoint note of {len} bytes does not fit a {slot}-byte slot")]
    CheckpointTooLong {
        /// Note length.
        len: usize,
        /// Slot capacity.
        slot: u64,
    },
    /// Writes are refused: the log must not sign a second history.
    #[error("{reason}")]
    ReadOnly {
        /// Why, with both sizes and the way out.
        reason: String,
    },
    /// Too little free space to take a block safely.
    #[error("only {available} bytes free under {path}, below the {reserve}-byte reserve")]
    LowSpace {
        /// The data directory.
        path: String,
        /// Free bytes.
        available: u64,
        /// The reserve kept free.
        reserve: u64,
    },
    /// The data directory's layout version is not this build's.
    #[error("{dir}: {detail}")]
    Layout {
        /// The data directory.
        dir: String,
        /// What was found and what to do.
        detail: String,
    },
    /// Replaying the log into the state failed at an entry: the log and the rules disagree.
    #[error("replaying entry {index} into the state failed: {detail}")]
    Replay {
        /// The entry.
        index: u64,
        /// Why.
        detail: String,
    },
    /// PostgreSQL refused or failed an operation (or could not be reached).
    #[error("PostgreSQL: {op} failed: {detail}")]
    Postgres {
        /// What was being done.
        op: &'static str,
        /// The server's error code and message, or the client's.
        detail: String,
    },
    /// Something that must exist does not.
    #[error("{what} not found")]
    Missing {
        /// What was looked for.
        what: String,
    },
}

impl StoreError {
    /// Whether the failure is the storage's (full disk, failing device, damage) rather than a
    /// caller's: writes are then answered "unavailable, try later".
    pub fn is_read_only(&self) -> bool {
        matches!(self, StoreError::ReadOnly { .. })
    }
}

/// How long [`Store::open`] waits for a database lock that is being released.
pub const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The log's head, kept in memory by the sequencer and rebuilt from the log at open.
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
    /// Tree nodes the entries completed (leaves included), in the order the frontier made them.
    pub nodes: Vec<(NodeId, Hash)>,
    /// State records changed by the entries.
    pub changes: StateChanges,
}

/// Whether the store can take writes now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    /// Reads and writes work.
    Ready,
    /// Writes fail for now (full disk, failing device); they resume by themselves.
    Unavailable {
        /// Why.
        reason: String,
    },
    /// Writes are refused until an operator acts (a log behind its own checkpoint).
    ReadOnly {
        /// Why, with the way out.
        reason: String,
    },
}

/// The operations the ledger needs of its storage. Every implementation passes
/// [`conformance::run`].
pub trait LedgerStore: StateView + HashReader + Send + Sync {
    /// The durable head; `None` for a log with no entries.
    fn head(&self) -> Result<Option<Head>, StoreError>;
    /// Appends a block and makes it durable, then records its state changes; `head` is the head
    /// after it. Returns only once the block is durable; on error nothing of it is visible.
    fn commit_block(&self, block: &Block, head: &Head) -> Result<(), StoreError>;
    /// Entries `start..end` (canonical bytes), stopping at the end of the log; an entry whose
    /// bytes no longer hash to its leaf is an error naming it ([`StoreError::DamagedEntry`]).
    fn entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError>;
    /// Entries `start..end` exactly as stored, unchecked: for entry bundles and audits, whose
    /// readers check every entry against the tree themselves and locate any damage.
    fn raw_entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError>;
    /// Hashes of `width` consecutive perfect nodes at `level` from `start` (a tile's row).
    fn node_row(&self, level: u8, start: u64, width: u64) -> Result<Vec<Hash>, StoreError>;
    /// The checkpoint of the block that appended entry `index`.
    fn checkpoint_covering(&self, index: u64) -> Result<Option<String>, StoreError>;
    /// The checkpoint signed at exactly `size`, if a block ended there.
    fn checkpoint_at(&self, size: u64) -> Result<Option<String>, StoreError>;
    /// Batch ids extracted at `site`.
    fn extracts_at(&self, site: &SiteId) -> Result<Vec<BatchId>, StoreError>;
    /// Every registered actor, ordered by id.
    fn actors(&self) -> Result<Vec<ActorRecord>, StoreError>;
    /// Up to `limit` batch ids in id order, from `from` on (inclusive): paged lists and search.
    fn batch_ids_from(&self, from: &str, limit: usize) -> Result<Vec<BatchId>, StoreError>;
    /// Every batch, ordered by id: a full scan, for portfolio reports (issue 12).
    fn batches(&self) -> Result<Vec<crate::ledger::BatchRecord>, StoreError>;
    /// Bytes used on disk.
    fn size_on_disk(&self) -> Result<u64, StoreError>;
    /// Whether writes can be taken now; tries to clear a past failure first.
    fn health(&self) -> Health;
    /// Free bytes on the file system holding the data (`None` where that means nothing, as
    /// for an in-memory store).
    fn disk_free(&self) -> Option<u64> {
        None
    }
    /// Appends a block of entries that come from another copy of this log (a mirror or a
    /// backup), already checked against a checkpoint this log signed, and then replays them into
    /// the state through the ledger's rules. `lodestone recover` uses it; the sequencer never
    /// does.
    fn import_block(&self, block: &Block, head: &Head) -> Result<(), StoreError>;
    /// Refuses every later write with `reason` (the log must not sign a second history).
    fn refuse_writes(&self, reason: String);
    /// Why every write is refused now, if it is (a store opened for reading only, a log behind
    /// its remembered checkpoint): the sequencer asks before it queues a submission, so a write
    /// to a read-only ledger is told `read_only` before anything else is checked. No I/O.
    fn refuses_writes(&self) -> Option<String>;
    /// Makes the state durable too (a clean shutdown: the next open replays nothing).
    fn flush(&self) -> Result<(), StoreError>;
    /// Reads ahead what validating the next block will read, for a store whose every read is a
    /// round trip to a server. `dry_run` validates the block and throws the result away; while it
    /// runs, a state record the store would have to fetch is answered "absent" and noted, and
    /// the store then fetches every noted record in one request. The real validation that
    /// follows reads the same records from memory. Only the writer does this; a store whose
    /// reads are local ignores it (the default), and so may any store: it changes no answer.
    fn read_ahead(&self, dry_run: &mut dyn FnMut()) -> Result<(), StoreError> {
        let _ = dry_run;
        Ok(())
    }
    /// Starts reading, in the background, what a long-running server will serve most, so that
    /// its first answers are as fast as its later ones (PostgreSQL: the tree's nodes, into the
    /// server's node cache). `serve` calls it once; a store whose reads are local ignores it.
    fn warm_up(&self) {}
}

/// A handle on a ledger's storage. Cheap to clone, safe to share between the sequencer and any
/// number of readers.
#[derive(Clone)]
pub struct Store {
    inner: Arc<dyn LedgerStore>,
}

impl std::ops::Deref for Store {
    type Target = dyn LedgerStore;
    fn deref(&self) -> &Self::Target {
        &*self.inner
    }
}

impl Store {
    /// Wraps any implementation.
    pub fn new(inner: Arc<dyn LedgerStore>) -> Store {
        Store { inner }
    }

    /// Opens (or creates) the embedded ledger storage in the data directory `dir`, waiting up
    /// to [`LOCK_WAIT`] for another process's lock to go; replays the log's tail into the state
    /// when the state is behind.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        Ok(Store::new(Arc::new(FileLedger::open_dir(dir, false)?)))
    }

    /// Opens the embedded storage for reading only: no file is changed.
    pub fn open_read_only(dir: &Path) -> Result<Store, StoreError> {
        Ok(Store::new(Arc::new(FileLedger::open_dir(dir, true)?)))
    }

    /// Opens (or creates) the ledger in the PostgreSQL database at `url` as its one writer
    /// (see [`postgres`]).
    pub fn postgres(url: &str) -> Result<Store, StoreError> {
        Ok(Store::new(Arc::new(postgres::PgLedger::open(url)?)))
    }

    /// Opens the ledger in the PostgreSQL database at `url` for reading only (a replica).
    pub fn postgres_read_only(url: &str) -> Result<Store, StoreError> {
        Ok(Store::new(Arc::new(postgres::PgLedger::open_read_only(
            url,
        )?)))
    }

    /// A new in-memory store whose files follow `faults`; `origin` sizes its checkpoint slots.
    pub fn memory(
        origin: &str,
        faults: &Arc<files::Faults>,
    ) -> Result<(Store, MemoryParts), StoreError> {
        let (ledger, parts) = FileLedger::memory(origin, faults)?;
        Ok((Store::new(Arc::new(ledger)), parts))
    }

    /// Copies the durable log of the ledger in `data` (which may be serving) into a new
    /// directory `out`, with its layout file and keys: a consistent backup. The state is not
    /// copied; opening the backup rebuilds it from the log. Returns the number of entries.
    pub fn backup(data: &Path, out: &Path) -> Result<u64, StoreError> {
        FileLedger::backup(data, out)
    }

    /// The canonical bytes of entry `index`.
    pub fn entry(&self, index: u64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.inner.entries(index, index.saturating_add(1))?.pop())
    }
}

/// The in-memory files and state of a [`Store::memory`], to reopen after a simulated crash.
#[derive(Clone)]
pub struct MemoryParts {
    /// The four segment files.
    pub files: Vec<files::MemFile>,
    /// The state database.
    pub db: records::MemDb,
    /// The fault plan.
    pub faults: Arc<files::Faults>,
}

impl MemoryParts {
    /// Simulates a power loss: the files keep only what was synced, the state only what was
    /// flushed.
    pub fn power_loss(&self) {
        self.faults.power_loss();
        self.db.power_loss();
    }

    /// Reopens the store from these parts, as a process does after a crash.
    pub fn reopen(&self) -> Result<Store, StoreError> {
        Ok(Store::new(Arc::new(FileLedger::reopen_memory(self)?)))
    }
}

impl StateView for Store {
    fn genesis(&self) -> Result<Option<GenesisRecord>, StateError> {
        self.inner.genesis()
    }
    fn actor(&self, id: &ActorId) -> Result<Option<ActorRecord>, StateError> {
        self.inner.actor(id)
    }
    fn key(&self, id: &KeyId) -> Result<Option<KeyRecord>, StateError> {
        self.inner.key(id)
    }
    fn site(&self, id: &SiteId) -> Result<Option<SiteRecord>, StateError> {
        self.inner.site(id)
    }
    fn batch(&self, id: &BatchId) -> Result<Option<BatchRecord>, StateError> {
        self.inner.batch(id)
    }
    fn event(&self, actor: &ActorId, id: &EventId) -> Result<Option<EventRecord>, StateError> {
        self.inner.event(actor, id)
    }
    fn prefix(&self, prefix: &BatchPrefix) -> Result<Option<PrefixRecord>, StateError> {
        self.inner.prefix(prefix)
    }
    fn controls(
        &self,
        jurisdiction: &crate::model::ids::CountryCode,
    ) -> Result<Option<crate::ledger::ControlsRecord>, StateError> {
        self.inner.controls(jurisdiction)
    }
    fn licence(&self, id: &EventId) -> Result<Option<crate::ledger::LicenceRecord>, StateError> {
        self.inner.licence(id)
    }
    fn quotas(&self, actor: &ActorId) -> Result<Option<crate::ledger::QuotaBook>, StateError> {
        self.inner.quotas(actor)
    }
}

impl HashReader for Store {
    fn read_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, TreeError> {
        self.inner.read_hashes(ids)
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
