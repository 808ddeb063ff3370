//! [`FileLedger`]: the log's segment files plus the state records, behind [`LedgerStore`].
//!
//! ```text
//! <data>/LAYOUT        "lodestone-ledger-layout 2"
//! <data>/log/          entries, offsets, tree, checkpoints   (segments: the source of truth)
//! <data>/state/        sled: the ledger state and the log size it reflects (a cache)
//! ```
//!
//! A block commit appends to the segments (synced) and only then writes the state; the state is
//! flushed in the background and on a clean shutdown. Opening replays whatever tail of the log
//! the state does not reflect yet, through the same rules the sequencer applies — the state is a
//! pure function of the log, so the replayed state is the one that was lost. A state database
//! that cannot be opened (damaged, truncated) is moved aside and rebuilt the same way.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use super::files::{Faults, FsDir, LogFile, MemFile};
use super::records::{MemDb, RecordDb, SledDb, StateRecords};
use super::segments::{slot_size_for, Files, Opened, Segments, FILE_NAMES};
use super::{
    Block, Head, Health, LedgerStore, MemoryParts, StoreError, LAYOUT_FILE, LAYOUT_VERSION,
    LOCK_WAIT,
};
use crate::ledger::signatures::{pre_verify, EnvelopeSignatures};
use crate::ledger::{
    self, ActorRecord, BatchRecord, EntryContext, EventRecord, GenesisRecord, KeyRecord, Overlay,
    PrefixRecord, SiteRecord, StateChanges, StateError, StateView,
};
use crate::log::tree::{HashReader, NodeId, TreeError};
use crate::log::Hash;
use crate::model::entry::Entry;
use crate::model::event::Event;
use crate::model::ids::{ActorId, BatchId, BatchPrefix, EventId, SiteId};
use crate::model::KeyId;

/// Free space kept on the data directory's file system: a block is refused (and answered
/// "unavailable, try later") rather than written into the last bytes of a disk.
pub const SPACE_RESERVE: u64 = 64 * 1024 * 1024;

/// Entries replayed into the state per step when catching up.
const REPLAY_STEP: u64 = 2048;

type DynFile = Box<dyn LogFile>;
type DynDb = Box<dyn RecordDb>;

/// Segment files + state records.
pub struct FileLedger {
    log: Segments<DynFile>,
    state: StateRecords<DynDb>,
    head: RwLock<Option<Head>>,
    read_only: Mutex<Option<String>>,
    /// The state missed a block the log holds (its write failed): catch up before the next one.
    state_behind: AtomicBool,
    /// The data directory, for free-space checks (none in memory).
    dir: Option<PathBuf>,
    faults: Option<Arc<Faults>>,
}

fn layout_text() -> String {
    format!("lodestone-ledger-layout {LAYOUT_VERSION}\n")
}

/// Checks (or, for a new ledger, writes) the layout version of `dir`.
fn check_layout(dir: &Path, create: bool) -> Result<(), StoreError> {
    let path = dir.join(LAYOUT_FILE);
    let shown = dir.display().to_string();
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let version = text
                .trim()
                .strip_prefix("lodestone-ledger-layout ")
                .and_then(|v| v.parse::<u32>().ok());
            match version {
                Some(LAYOUT_VERSION) => Ok(()),
                Some(v) => Err(StoreError::Layout {
                    dir: shown,
                    detail: format!(
                        "layout version {v}, but this build reads version {LAYOUT_VERSION}; use a lodestone release that reads layout {v}"
                    ),
                }),
                None => Err(StoreError::Layout {
                    dir: shown,
                    detail: format!("{LAYOUT_FILE} does not name a layout version"),
                }),
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if dir.join("db").exists() {
                return Err(StoreError::Layout {
                    dir: shown,
                    detail: "made by a pre-release build (layout 1, sled only), which this build cannot read; create a new ledger with `lodestone init`".into(),
                });
            }
            if !create || dir.join("log").exists() {
                return Err(StoreError::Layout {
                    dir: shown,
                    detail: format!("no {LAYOUT_FILE} file: not a Lodestone ledger"),
                });
            }
            std::fs::create_dir_all(dir).map_err(|source| StoreError::File {
                path: shown.clone(),
                source,
            })?;
            super::files::write_atomic(&path, layout_text().as_bytes(), 0o644).map_err(|source| {
                StoreError::File {
                    path: path.display().to_string(),
                    source,
                }
            })
        }
        Err(source) => Err(StoreError::File {
            path: path.display().to_string(),
            source,
        }),
    }
}

/// The checkpoint origin named by `<data>/log.pub`, if there is one (it sizes checkpoint slots).
fn origin_of(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("log.pub")).ok()?;
    text.trim().split('+').next().map(str::to_owned)
}

/// Opens sled in `dir`, waiting out a lock being released. A database sled cannot open (it
/// reports corruption, or panics on a truncated file) is moved aside: the log rebuilds it.
fn open_sled(dir: &Path) -> Result<sled::Db, StoreError> {
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        let path = dir.to_path_buf();
        let attempt = std::panic::catch_unwind(move || {
            sled::Config::new()
                .path(path)
                .cache_capacity(64 * 1024 * 1024)
                .flush_every_ms(Some(500))
                .open()
        });
        match attempt {
            Ok(Ok(db)) => return Ok(db),
            Ok(Err(sled::Error::Io(e)))
                if e.to_string().contains("could not acquire lock")
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Ok(Err(sled::Error::Io(e))) if e.to_string().contains("could not acquire lock") => {
                return Err(sled::Error::Io(e).into())
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "the state database does not open; rebuilding it from the log");
                set_aside(dir)?;
            }
            Err(_) => {
                tracing::warn!("the state database is damaged; rebuilding it from the log");
                set_aside(dir)?;
            }
        }
    }
}

fn set_aside(dir: &Path) -> Result<(), StoreError> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let aside = dir.with_extension(format!("damaged-{stamp}"));
    std::fs::rename(dir, &aside).map_err(|source| StoreError::File {
        path: dir.display().to_string(),
        source,
    })
}

impl FileLedger {
    /// Opens the ledger storage in data directory `dir` (see the module docs).
    pub fn open_dir(dir: &Path, read_only: bool) -> Result<FileLedger, StoreError> {
        check_layout(dir, !read_only)?;
        let log_dir = dir.join("log");
        let io = |source: std::io::Error| StoreError::File {
            path: log_dir.display().to_string(),
            source,
        };
        let (state, files): (DynDb, Vec<DynFile>) = if read_only {
            let files = FsDir::open_all(&log_dir, &FILE_NAMES).map_err(io)?;
            (
                Box::new(MemDb::default()),
                files.into_iter().map(|f| Box::new(f) as DynFile).collect(),
            )
        } else {
            // The state first: sled's lock keeps a second writer out of the whole ledger.
            let db = open_sled(&dir.join("state"))?;
            let files = FsDir::create_all(&log_dir, &FILE_NAMES).map_err(io)?;
            (
                Box::new(SledDb::new(db)),
                files.into_iter().map(|f| Box::new(f) as DynFile).collect(),
            )
        };
        let slot = origin_of(dir).map_or(1024, |o| slot_size_for(&o));
        let files = Files::from_vec(files).expect("four files");
        let (log, opened) = Segments::open(files, Some(slot), read_only)?;
        Self::assemble(log, state, opened, Some(dir.to_path_buf()), None, read_only)
    }

    /// A new in-memory ledger under `faults`.
    pub fn memory(
        origin: &str,
        faults: &Arc<Faults>,
    ) -> Result<(FileLedger, MemoryParts), StoreError> {
        let parts = MemoryParts {
            files: (0..4).map(|_| MemFile::new(faults)).collect(),
            db: MemDb::default(),
            faults: Arc::clone(faults),
        };
        let files: Vec<DynFile> = parts
            .files
            .iter()
            .map(|f| Box::new(f.clone()) as DynFile)
            .collect();
        let (log, opened) = Segments::open(
            Files::from_vec(files).expect("four files"),
            Some(slot_size_for(origin)),
            false,
        )?;
        let ledger = Self::assemble(
            log,
            Box::new(parts.db.clone()),
            opened,
            None,
            Some(Arc::clone(faults)),
            false,
        )?;
        Ok((ledger, parts))
    }

    /// Reopens an in-memory ledger from its parts (after a simulated crash).
    pub fn reopen_memory(parts: &MemoryParts) -> Result<FileLedger, StoreError> {
        let files: Vec<DynFile> = parts
            .files
            .iter()
            .map(|f| Box::new(f.clone()) as DynFile)
            .collect();
        let (log, opened) =
            Segments::open(Files::from_vec(files).expect("four files"), None, false)?;
        Self::assemble(
            log,
            Box::new(parts.db.clone()),
            opened,
            None,
            Some(Arc::clone(&parts.faults)),
            false,
        )
    }

    fn assemble(
        log: Segments<DynFile>,
        db: DynDb,
        opened: Opened,
        dir: Option<PathBuf>,
        faults: Option<Arc<Faults>>,
        read_only: bool,
    ) -> Result<FileLedger, StoreError> {
        let head = match &opened.checkpoint {
            None => None,
            Some(note) => Some(head_at(&log, opened.size, note.clone(), read_only)?),
        };
        let refused = opened.behind.as_ref().map(|note| {
            let signed = super::segments::checkpoint_size(note).unwrap_or(0);
            let short = opened.short.as_deref().unwrap_or("its files are short");
            format!(
                "the log's latest signed checkpoint covers {signed} entries, but its files hold only {held} ({short}): \
                 entries were lost (a restored copy, a truncated file or a failing disk). Writes are refused so that \
                 the log never signs a second history at those sizes; bring the missing entries back with \
                 `lodestone recover --from <a mirror's URL or a copy of this ledger>`",
                held = opened.size,
            )
        });
        if opened.trimmed {
            tracing::info!(
                size = opened.size,
                "cut off the tail of a block that never became durable"
            );
        }
        let ledger = FileLedger {
            log,
            state: StateRecords::new(db),
            head: RwLock::new(head),
            read_only: Mutex::new(refused),
            state_behind: AtomicBool::new(false),
            dir,
            faults,
        };
        if !read_only {
            ledger.catch_up_state()?;
        }
        Ok(ledger)
    }

    /// Replays the log's entries the state does not reflect yet.
    fn catch_up_state(&self) -> Result<(), StoreError> {
        let size = self.log.size();
        let mut applied = self.state.applied()?;
        if applied > size {
            // The state is written only after the log's block is synced: a state ahead of the
            // log means the log lost synced (possibly acknowledged) entries. Serve what is left,
            // consistently, but never sign at those sizes again.
            tracing::warn!(
                applied,
                size,
                "the state reflects more entries than the log holds; rebuilding it from the log"
            );
            self.refuse_writes(format!(
                "the ledger state reflects {applied} entries, but the log's files hold only {size}: synced entries \
                 were lost (a truncated or restored log file). Writes are refused so that the log never signs a \
                 second history; bring the missing entries back with `lodestone recover --from <a mirror's URL or \
                 a copy of this ledger>`"
            ));
            self.state.db().clear()?;
            applied = 0;
        }
        if applied < size {
            tracing::info!(
                from = applied,
                to = size,
                "replaying the log's tail into the state"
            );
        }
        while applied < size {
            let end = (applied + REPLAY_STEP).min(size);
            self.replay_step(applied, end)?;
            applied = end;
        }
        self.state_behind.store(false, Ordering::Release);
        Ok(())
    }

    fn replay_step(&self, start: u64, end: u64) -> Result<(), StoreError> {
        let changes = replay(&self.state, start, self.log.entries(start, end)?)?;
        self.state.commit(&changes, end)
    }

    /// See [`Store::backup`](super::Store::backup).
    pub fn backup(data: &Path, out: &Path) -> Result<u64, StoreError> {
        use std::os::unix::fs::DirBuilderExt as _;
        let file_error = |path: &Path| {
            let path = path.display().to_string();
            move |source| StoreError::File { path, source }
        };
        let source = FileLedger::open_dir(data, true)?;
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(out)
            .map_err(file_error(out))?;
        for (name, mode) in [
            (LAYOUT_FILE, 0o644),
            ("log.pub", 0o644),
            ("log.key", 0o600),
            ("authority.key", 0o600),
        ] {
            let from = data.join(name);
            if !from.exists() {
                continue;
            }
            let bytes = std::fs::read(&from).map_err(file_error(&from))?;
            super::files::write_atomic(&out.join(name), &bytes, mode)
                .map_err(file_error(&out.join(name)))?;
        }
        let log_dir = out.join("log");
        let files = FsDir::create_all(&log_dir, &FILE_NAMES).map_err(file_error(&log_dir))?;
        let files = Files::from_vec(files).expect("four files");
        let size = source.log.copy_to(&files)?;
        super::files::sync_dir(out).map_err(file_error(out))?;
        Ok(size)
    }

    fn free_space(&self) -> Option<(u64, String)> {
        let dir = self.dir.as_ref()?;
        let available = fs2::available_space(dir).ok()?;
        Some((available, dir.display().to_string()))
    }

    fn check_space(&self) -> Result<(), StoreError> {
        if let Some((available, path)) = self.free_space() {
            if available < SPACE_RESERVE {
                return Err(StoreError::LowSpace {
                    path,
                    available,
                    reserve: SPACE_RESERVE,
                });
            }
        }
        Ok(())
    }
}

/// The state changes of log entries `start..` (canonical bytes), applied on top of `state`
/// through the ledger's rules: how a store replays a log tail or imports a copied block.
pub(super) fn replay<S: StateView>(
    state: &S,
    start: u64,
    entries: Vec<Vec<u8>>,
) -> Result<StateChanges, StoreError> {
    let fail = |index: u64, detail: String| StoreError::Replay { index, detail };
    let mut items = Vec::with_capacity(entries.len());
    for (i, bytes) in entries.into_iter().enumerate() {
        let index = start + i as u64;
        let entry = Entry::decode(&bytes).map_err(|e| fail(index, e.to_string()))?;
        let event =
            Event::from_json(&entry.envelope.payload).map_err(|e| fail(index, e.to_string()))?;
        items.push((index, entry, event));
    }
    let pairs: Vec<_> = items.iter().map(|(_, e, ev)| (&e.envelope, ev)).collect();
    let verified = pre_verify(&pairs, |id| {
        state.key(id).ok().flatten().map(|r| r.public_key)
    });
    let mut overlay = Overlay::new(state);
    for ((index, entry, event), keys) in items.iter().zip(&verified) {
        let ctx = EntryContext {
            index: *index,
            logged_at_ms: entry.logged_at_ms,
            envelope_digest: entry.envelope.digest(),
        };
        let signatures = EnvelopeSignatures::new(&entry.envelope, keys);
        ledger::apply(&mut overlay, &ctx, event, &signatures)
            .map_err(|e| fail(*index, e.to_string()))?;
    }
    Ok(overlay.into_changes())
}

/// The head of the log at `size` (a block boundary) with its checkpoint `note`. A `read_only`
/// open (an audit) does not stop at a damaged last entry: only a writer needs its log time, and
/// the audit reads every entry and names the first damaged one.
fn head_at(
    log: &Segments<DynFile>,
    size: u64,
    note: String,
    read_only: bool,
) -> Result<Head, StoreError> {
    let frontier = log.frontier(size)?;
    let last_logged_at_ms = match last_logged_at(log, size) {
        Ok(ms) => ms,
        Err(_) if read_only => 0,
        Err(e) => return Err(e),
    };
    let last_leaf = log.leaf_row(size - 1, 1)?.pop().unwrap_or_default();
    Ok(Head {
        size,
        root: frontier.root(),
        last_leaf,
        last_logged_at_ms,
        frontier,
        checkpoint: note,
    })
}

/// The log time of the last of `size` entries, read and checked against its leaf.
fn last_logged_at(log: &Segments<DynFile>, size: u64) -> Result<u64, StoreError> {
    let last = log
        .entries(size - 1, size)?
        .pop()
        .ok_or_else(|| StoreError::Missing {
            what: format!("entry {}", size - 1),
        })?;
    let entry = Entry::decode(&last).map_err(|e| StoreError::Damaged {
        file: "entries",
        detail: format!("entry {}: {e}", size - 1),
    })?;
    Ok(entry.logged_at_ms)
}

impl LedgerStore for FileLedger {
    fn head(&self) -> Result<Option<Head>, StoreError> {
        // After a failed write the files must be cut back to this head before it can be trusted
        // as the place the next block starts.
        self.log.repair()?;
        Ok(self.head.read().expect("head lock").clone())
    }

    fn commit_block(&self, block: &Block, head: &Head) -> Result<(), StoreError> {
        if let Some(reason) = self.read_only.lock().expect("read-only lock").clone() {
            return Err(StoreError::ReadOnly { reason });
        }
        if block.entries.is_empty() {
            return Ok(());
        }
        if self.state_behind.load(Ordering::Acquire) {
            self.catch_up_state()?;
        }
        self.check_space()?;
        let first = block.entries[0].0;
        let entries: Vec<&[u8]> = block.entries.iter().map(|(_, b)| b.as_slice()).collect();
        self.log
            .append(first, &entries, &block.nodes, &head.checkpoint)?;
        // The block is durable. Publish the head even if the state write below fails: the log
        // holds the block, and the state catches up from it before the next block.
        *self.head.write().expect("head lock") = Some(head.clone());
        if let Err(e) = self.state.commit(&block.changes, head.size) {
            self.state_behind.store(true, Ordering::Release);
            return Err(e);
        }
        Ok(())
    }

    fn entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        self.log.entries(start, end)
    }

    fn raw_entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        self.log.raw_entries(start, end)
    }

    fn node_row(&self, level: u8, start: u64, width: u64) -> Result<Vec<Hash>, StoreError> {
        if level == 0 {
            return self.log.leaf_row(start, width);
        }
        let ids: Vec<NodeId> = (start..start.saturating_add(width))
            .map(|i| NodeId::new(level, i))
            .take_while(|id| id.exists_in(self.log.size()))
            .collect();
        self.log.hashes(&ids)
    }

    fn checkpoint_covering(&self, index: u64) -> Result<Option<String>, StoreError> {
        self.log.checkpoint_covering(index)
    }

    fn checkpoint_at(&self, size: u64) -> Result<Option<String>, StoreError> {
        self.log.checkpoint_at(size)
    }

    fn extracts_at(&self, site: &SiteId) -> Result<Vec<BatchId>, StoreError> {
        self.state.extracts_at(site)
    }

    fn actors(&self) -> Result<Vec<ActorRecord>, StoreError> {
        self.state.actors()
    }

    fn batch_ids_from(&self, from: &str, limit: usize) -> Result<Vec<BatchId>, StoreError> {
        self.state.batch_ids_from(from, limit)
    }

    fn batches(&self) -> Result<Vec<crate::ledger::BatchRecord>, StoreError> {
        self.state.batches()
    }

    fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.log.bytes() + self.state.db().size_on_disk())
    }

    fn disk_free(&self) -> Option<u64> {
        self.free_space().map(|(available, _)| available)
    }

    fn health(&self) -> Health {
        if let Some(reason) = self.read_only.lock().expect("read-only lock").clone() {
            return Health::ReadOnly { reason };
        }
        if let Err(e) = self.log.repair() {
            return Health::Unavailable {
                reason: format!("a failed write could not be cut back yet: {e}"),
            };
        }
        if let Err(e) = self.check_space() {
            return Health::Unavailable {
                reason: e.to_string(),
            };
        }
        if let Some(faults) = &self.faults {
            if faults.is_out_of_space() {
                return Health::Unavailable {
                    reason: "no space left on device (simulated)".into(),
                };
            }
        }
        if self.state_behind.load(Ordering::Acquire) {
            if let Err(e) = self.catch_up_state() {
                return Health::Unavailable {
                    reason: format!("the state could not catch up with the log: {e}"),
                };
            }
        }
        Health::Ready
    }

    fn import_block(&self, block: &Block, head: &Head) -> Result<(), StoreError> {
        if block.entries.is_empty() {
            return Ok(());
        }
        let first = block.entries[0].0;
        let entries: Vec<&[u8]> = block.entries.iter().map(|(_, b)| b.as_slice()).collect();
        self.log
            .append(first, &entries, &block.nodes, &head.checkpoint)?;
        *self.head.write().expect("head lock") = Some(head.clone());
        self.state_behind.store(true, Ordering::Release);
        self.catch_up_state()
    }

    fn refuse_writes(&self, reason: String) {
        *self.read_only.lock().expect("read-only lock") = Some(reason);
    }

    fn refuses_writes(&self) -> Option<String> {
        self.read_only.lock().expect("read-only lock").clone()
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.state.db().flush()
    }
}

impl StateView for FileLedger {
    fn genesis(&self) -> Result<Option<GenesisRecord>, StateError> {
        self.state.genesis()
    }
    fn actor(&self, id: &ActorId) -> Result<Option<ActorRecord>, StateError> {
        self.state.actor(id)
    }
    fn key(&self, id: &KeyId) -> Result<Option<KeyRecord>, StateError> {
        self.state.key(id)
    }
    fn site(&self, id: &SiteId) -> Result<Option<SiteRecord>, StateError> {
        self.state.site(id)
    }
    fn batch(&self, id: &BatchId) -> Result<Option<BatchRecord>, StateError> {
        self.state.batch(id)
    }
    fn event(&self, actor: &ActorId, id: &EventId) -> Result<Option<EventRecord>, StateError> {
        self.state.event(actor, id)
    }
    fn prefix(&self, prefix: &BatchPrefix) -> Result<Option<PrefixRecord>, StateError> {
        self.state.prefix(prefix)
    }
    fn controls(
        &self,
        jurisdiction: &crate::model::ids::CountryCode,
    ) -> Result<Option<crate::ledger::ControlsRecord>, StateError> {
        self.state.controls(jurisdiction)
    }
    fn licence(&self, id: &EventId) -> Result<Option<crate::ledger::LicenceRecord>, StateError> {
        self.state.licence(id)
    }
    fn quotas(&self, actor: &ActorId) -> Result<Option<crate::ledger::QuotaBook>, StateError> {
        self.state.quotas(actor)
    }
}

impl HashReader for FileLedger {
    fn read_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, TreeError> {
        let size = self.log.size();
        if let Some(id) = ids.iter().find(|id| !id.exists_in(size)) {
            return Err(TreeError::MissingNode {
                level: id.level,
                index: id.index,
            });
        }
        self.log.hashes(ids).map_err(|e| TreeError::Storage {
            message: e.to_string(),
        })
    }
}
