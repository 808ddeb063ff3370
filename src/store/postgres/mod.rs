//! [`PgLedger`]: the ledger in a PostgreSQL database, behind [`LedgerStore`].
//!
//! ```text
//! lodestone_schema (version, applied_at)            schema migrations applied (schema.rs)
//! entries     (idx bigint PK, bytes bytea)          canonical entry bytes
//! nodes       (level smallint, idx bigint, hash)    RFC 6962 tree nodes, leaves at level 0
//! checkpoints (size bigint PK, note text)           the C2SP checkpoint signed at each block end
//! head        (singleton, size, head bytea)         the head after the last block (bincode)
//! state       (key bytea PK, value bytea)           the ledger state, keyed as in records.rs
//! ```
//!
//! Each block is one transaction — entries, nodes, checkpoint, state records and head — on a
//! connection with `synchronous_commit = on`, and [`LedgerStore::commit_block`] returns only
//! after `COMMIT`: a receipt is never given for a block PostgreSQL could lose. Because the state
//! commits with the log, it is never behind and nothing is replayed at open.
//!
//! The state table stores exactly the key-value pairs of [`records::writes`]: every record type
//! the ledger state has (and any added later) is kept the same way on every backend, and reads
//! go through the same [`StateRecords`] code over `PgDb`, a [`RecordDb`](super::records::RecordDb) over that table.
//!
//! One writer per database: the writer holds a session-level advisory lock
//! ([`schema::WRITER_LOCK`]) on its own connection for as long as it runs, and commits through
//! that connection; a second writer is refused with the first one's name, pid and host. Readers
//! (`verify`, `backup`, `serve --read-only` on a streaming replica) take no lock and read the
//! head from the database on every call, so a reader follows its replica as it replays.

mod cache;
mod filter;
mod nodes;
mod pool;
pub mod replica;
pub mod schema;

use std::str::FromStr as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use postgres::{Client, Config};

use self::pool::{off_runtime, pg_error, upsert_state, Pool};
use super::records::{self, StateRecords};
use super::{Block, Head, Health, LedgerStore, StoreError, LOCK_WAIT};
use crate::ledger::{
    ActorRecord, BatchRecord, EventRecord, GenesisRecord, KeyRecord, PrefixRecord, SiteRecord,
    StateChanges, StateError, StateView,
};
use crate::log::hash::leaf_hash;
use crate::log::tree::{HashReader, NodeId, TreeError};
use crate::log::Hash;
use crate::model::ids::{ActorId, BatchId, BatchPrefix, EventId, SiteId};
use crate::model::KeyId;

pub use self::pool::application_name;

/// Rows written by one statement at most (a sequencer block is far smaller; a block imported by
/// `recover` may be a whole log).
pub(crate) const ROWS_PER_STATEMENT: usize = 10_000;

/// Dry runs of a block per [`LedgerStore::read_ahead`], at most.
const READ_AHEAD_ROUNDS: usize = 4;

/// When the writer last read ahead.
#[derive(Default)]
struct ReadAhead {
    /// Its dry run noted nothing to read.
    idle: bool,
    /// [`pool::PgDb::read_one_by_one`] after it.
    one_by_one: u64,
}

/// Whether `location` names a PostgreSQL database (`postgres://…` or `postgresql://…`) rather
/// than a directory.
pub fn is_url(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}

/// `url` with any password replaced by `***`, for messages and logs.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let mut shown = match authority.rsplit_once('@') {
        Some((user, host)) => match user.split_once(':') {
            Some((name, _)) => format!("{scheme}://{name}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    };
    if let Some(i) = shown.find("password=") {
        let end = shown[i..].find('&').map_or(shown.len(), |j| i + j);
        shown.replace_range(i..end, "password=***");
    }
    shown
}

/// The ledger in PostgreSQL (see the module docs).
pub struct PgLedger {
    pool: Arc<Pool>,
    state: StateRecords<pool::PgDb>,
    config: Config,
    /// The writer's connection, holding the advisory lock; `None` for a reader.
    writer: Option<Mutex<Client>>,
    /// The head after the last block this writer committed (a reader reads it every time).
    head: RwLock<Option<Head>>,
    /// A commit failed where its outcome is unknown (the connection broke around `COMMIT`):
    /// the head is read back from the database before it is trusted again.
    uncertain: AtomicBool,
    read_only: Mutex<Option<String>>,
    read_ahead: Mutex<ReadAhead>,
    /// Tree nodes read so far (they never change).
    nodes: Arc<nodes::NodeCache>,
    /// The URL without its password.
    shown: String,
}

fn corrupt(what: &str, detail: impl ToString) -> StoreError {
    StoreError::Corrupt {
        what: what.to_owned(),
        detail: detail.to_string(),
    }
}

fn index(i: u64) -> i64 {
    // Log indices stay far below 2^63.
    i64::try_from(i).unwrap_or(i64::MAX)
}

fn encode_head(head: &Head) -> Vec<u8> {
    bincode::serde::encode_to_vec(head, bincode::config::standard())
        .expect("encoding a head to a Vec cannot fail")
}

fn read_head(client: &mut Client) -> Result<Option<Head>, StoreError> {
    let row = client
        .query_opt("SELECT head FROM head", &[])
        .map_err(pg_error("read the head"))?;
    row.map(|row| {
        let bytes: Vec<u8> = row.get(0);
        bincode::serde::decode_from_slice(&bytes, bincode::config::standard())
            .map(|(head, _)| head)
            .map_err(|e| corrupt("head", e))
    })
    .transpose()
}

impl PgLedger {
    /// Opens the ledger in the database at `url` as its one writer: takes the writer lock
    /// (waiting up to [`LOCK_WAIT`] for a writer that is going away), creates or migrates the
    /// schema, and reads the head.
    pub fn open(url: &str) -> Result<PgLedger, StoreError> {
        let ledger = Self::new(url)?;
        let shown = ledger.shown.clone();
        let config = ledger.config.clone();
        let (client, head) = off_runtime(move || -> Result<_, StoreError> {
            let mut client = pool::connect(&config)?;
            schema::lock_writer(&mut client, &shown, LOCK_WAIT)?;
            schema::migrate(&mut client, &shown)?;
            let head = read_head(&mut client)?;
            Ok((client, head))
        })?;
        Ok(PgLedger {
            writer: Some(Mutex::new(client)),
            head: RwLock::new(head),
            // The writer may cache state records: nobody else changes them (`cache.rs`).
            state: StateRecords::new(pool::PgDb::caching(Arc::clone(&ledger.pool))),
            ..ledger
        })
    }

    /// Opens the ledger at `url` for reading only (a streaming replica, an audit, a backup):
    /// no lock, no write, and the head read from the database on every call.
    pub fn open_read_only(url: &str) -> Result<PgLedger, StoreError> {
        let ledger = Self::new(url)?;
        schema::check(&ledger.pool, &ledger.shown)?;
        Ok(ledger)
    }

    fn new(url: &str) -> Result<PgLedger, StoreError> {
        let shown = redacted(url);
        let config = Config::from_str(url).map_err(|e| StoreError::Layout {
            dir: shown.clone(),
            detail: format!("not a PostgreSQL connection URL: {e}"),
        })?;
        let pool = Arc::new(Pool::new(config.clone()));
        Ok(PgLedger {
            state: StateRecords::new(pool::PgDb::new(Arc::clone(&pool))),
            pool,
            config,
            writer: None,
            head: RwLock::new(None),
            uncertain: AtomicBool::new(false),
            read_only: Mutex::new(None),
            read_ahead: Mutex::new(ReadAhead::default()),
            nodes: Arc::default(),
            shown,
        })
    }

    /// The checkpoints signed at block ends up to `size`, in order: `(size, note)`. A backup
    /// copies the log block by block with them.
    pub fn block_ends(&self, size: u64) -> Result<Vec<(u64, String)>, StoreError> {
        self.pool.with(|c| {
            let rows = c
                .query(
                    "SELECT size, note FROM checkpoints WHERE size <= $1 ORDER BY size",
                    &[&index(size)],
                )
                .map_err(pg_error("read checkpoints"))?;
            Ok(rows
                .into_iter()
                .map(|r| (u64::try_from(r.get::<_, i64>(0)).unwrap_or(0), r.get(1)))
                .collect())
        })
    }

    /// Whether the writer's filter of state keys is built (`postgres/filter.rs`): until then, every
    /// lookup the caches cannot answer goes to the database. Always false for a reader.
    pub fn key_filter_ready(&self) -> bool {
        self.state.db().filter_ready()
    }

    /// The database this ledger is in, without the password.
    pub fn location(&self) -> &str {
        &self.shown
    }

    /// Runs `f` on the writer's connection, reconnecting (and taking the lock again) if the
    /// connection broke.
    fn with_writer<T: Send>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T, StoreError> + Send,
    ) -> Result<T, StoreError> {
        let Some(writer) = &self.writer else {
            return Err(StoreError::ReadOnly {
                reason: self.reader_refusal(),
            });
        };
        off_runtime(|| {
            let mut client = writer.lock().unwrap_or_else(|p| p.into_inner());
            if client.is_closed() {
                // The lock went with the old session: take it again before writing.
                let mut fresh = pool::connect(&self.config)?;
                schema::lock_writer(&mut fresh, &self.shown, LOCK_WAIT)?;
                *client = fresh;
                self.uncertain.store(true, Ordering::Release);
                // Another writer may have held the lock in between.
                self.state.db().reconnected();
            }
            f(&mut client)
        })
    }

    /// Writes one block (log and state) in one transaction and returns after `COMMIT`.
    fn write_block(
        &self,
        block: &Block,
        changes: &StateChanges,
        head: &Head,
    ) -> Result<(), StoreError> {
        let first = block.entries[0].0;
        let writes = records::writes(changes, head.size);
        let result = self.with_writer(|client| {
            let mut tx = client.transaction().map_err(pg_error("begin"))?;
            let stored: i64 = tx
                .query_opt("SELECT size FROM head FOR UPDATE", &[])
                .map_err(pg_error("read the head"))?
                .map_or(0, |r| r.get(0));
            if stored != index(first) {
                return Err(StoreError::Sequence {
                    expected: u64::try_from(stored).unwrap_or(0),
                    found: first,
                });
            }
            // In statements of at most ROWS_PER_STATEMENT rows: a block imported by `recover`
            // can hold a whole log, and one message may not exceed 1 GB.
            for entries in block.entries.chunks(ROWS_PER_STATEMENT) {
                let (idx, bytes): (Vec<i64>, Vec<&[u8]>) = entries
                    .iter()
                    .map(|(i, b)| (index(*i), b.as_slice()))
                    .unzip();
                tx.execute(
                    "INSERT INTO entries (idx, bytes) \
                     SELECT * FROM unnest($1::bigint[], $2::bytea[])",
                    &[&idx, &bytes],
                )
                .map_err(pg_error("write entries"))?;
            }
            for nodes in block.nodes.chunks(ROWS_PER_STATEMENT) {
                let mut levels = Vec::with_capacity(nodes.len());
                let mut at = Vec::with_capacity(nodes.len());
                let mut hashes = Vec::with_capacity(nodes.len());
                for (id, hash) in nodes {
                    levels.push(i16::from(id.level));
                    at.push(index(id.index));
                    hashes.push(hash.as_bytes().as_slice());
                }
                tx.execute(
                    "INSERT INTO nodes (level, idx, hash) \
                     SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::bytea[])",
                    &[&levels, &at, &hashes],
                )
                .map_err(pg_error("write tree nodes"))?;
            }
            tx.execute(
                "INSERT INTO checkpoints (size, note) VALUES ($1, $2)",
                &[&index(head.size), &head.checkpoint],
            )
            .map_err(pg_error("write the checkpoint"))?;
            upsert_state(&mut tx, &writes)?;
            tx.execute(
                "INSERT INTO head (singleton, size, head) VALUES (true, $1, $2) \
                 ON CONFLICT (singleton) DO UPDATE SET size = excluded.size, head = excluded.head",
                &[&index(head.size), &encode_head(head)],
            )
            .map_err(pg_error("write the head"))?;
            tx.commit().map_err(pg_error("commit the block"))
        });
        match result {
            Ok(()) => {
                self.state.db().committed(&writes);
                *self.head.write().unwrap_or_else(|p| p.into_inner()) = Some(head.clone());
                self.uncertain.store(false, Ordering::Release);
                Ok(())
            }
            Err(e) => {
                self.state.db().uncertain(&writes);
                self.uncertain.store(true, Ordering::Release);
                Err(e)
            }
        }
    }

    fn reader_refusal(&self) -> String {
        format!(
            "this server reads the ledger in {} without writing it (--read-only); send writes \
             to the writer",
            self.shown
        )
    }

    fn read_only_reason(&self) -> Option<String> {
        self.read_only
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl LedgerStore for PgLedger {
    fn head(&self) -> Result<Option<Head>, StoreError> {
        if self.writer.is_none() {
            return self.pool.with(read_head);
        }
        if self.uncertain.load(Ordering::Acquire) {
            let head = self.with_writer(read_head)?;
            // Read under the lock: whatever commit was open has landed or never will.
            self.state.db().settled();
            *self.head.write().unwrap_or_else(|p| p.into_inner()) = head;
            self.uncertain.store(false, Ordering::Release);
        }
        Ok(self.head.read().unwrap_or_else(|p| p.into_inner()).clone())
    }

    fn commit_block(&self, block: &Block, head: &Head) -> Result<(), StoreError> {
        if let Some(reason) = self.read_only_reason() {
            return Err(StoreError::ReadOnly { reason });
        }
        if block.entries.is_empty() {
            return Ok(());
        }
        self.write_block(block, &block.changes, head)
    }

    fn entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        if start >= end {
            return Ok(Vec::new());
        }
        let rows = self.pool.with(|c| {
            c.query(
                "SELECT e.idx, e.bytes, n.hash FROM entries e \
                 LEFT JOIN nodes n ON n.level = 0 AND n.idx = e.idx \
                 WHERE e.idx >= $1 AND e.idx < $2 ORDER BY e.idx",
                &[&index(start), &index(end)],
            )
            .map_err(pg_error("read entries"))
        })?;
        let mut out = Vec::with_capacity(rows.len());
        for (expected, row) in (start..).zip(rows) {
            let at: i64 = row.get(0);
            if at != index(expected) {
                return Err(StoreError::Missing {
                    what: format!("entry {expected}"),
                });
            }
            let bytes: Vec<u8> = row.get(1);
            let leaf: Option<Vec<u8>> = row.get(2);
            if leaf.as_deref() != Some(leaf_hash(&bytes).as_bytes().as_slice()) {
                return Err(StoreError::DamagedEntry { index: expected });
            }
            out.push(bytes);
        }
        Ok(out)
    }

    fn raw_entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        if start >= end {
            return Ok(Vec::new());
        }
        self.pool.with(|c| {
            let rows = c
                .query(
                    "SELECT bytes FROM entries WHERE idx >= $1 AND idx < $2 ORDER BY idx",
                    &[&index(start), &index(end)],
                )
                .map_err(pg_error("read entries"))?;
            Ok(rows.into_iter().map(|r| r.get(0)).collect())
        })
    }

    fn node_row(&self, level: u8, start: u64, width: u64) -> Result<Vec<Hash>, StoreError> {
        let rows = self.pool.with(|c| {
            c.query(
                "SELECT idx, hash FROM nodes WHERE level = $1 AND idx >= $2 AND idx < $3 \
                 ORDER BY idx",
                &[
                    &i16::from(level),
                    &index(start),
                    &index(start.saturating_add(width)),
                ],
            )
            .map_err(pg_error("read tree nodes"))
        })?;
        let mut out = Vec::with_capacity(rows.len());
        for (expected, row) in (start..).zip(rows) {
            // A row stops where the tree stops: at the first node not there.
            if row.get::<_, i64>(0) != index(expected) {
                break;
            }
            let bytes: Vec<u8> = row.get(1);
            out.push(Hash::from_slice(&bytes).map_err(|e| corrupt("tree node", e))?);
        }
        Ok(out)
    }

    fn checkpoint_covering(&self, index_: u64) -> Result<Option<String>, StoreError> {
        self.pool.with(|c| {
            Ok(c.query_opt(
                "SELECT note FROM checkpoints WHERE size > $1 ORDER BY size LIMIT 1",
                &[&index(index_)],
            )
            .map_err(pg_error("read a checkpoint"))?
            .map(|r| r.get(0)))
        })
    }

    fn checkpoint_at(&self, size: u64) -> Result<Option<String>, StoreError> {
        self.pool.with(|c| {
            Ok(c.query_opt(
                "SELECT note FROM checkpoints WHERE size = $1",
                &[&index(size)],
            )
            .map_err(pg_error("read a checkpoint"))?
            .map(|r| r.get(0)))
        })
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

    fn batches(&self) -> Result<Vec<BatchRecord>, StoreError> {
        self.state.batches()
    }

    fn size_on_disk(&self) -> Result<u64, StoreError> {
        self.pool.with(|c| {
            let row = c
                .query_one("SELECT pg_database_size(current_database())", &[])
                .map_err(pg_error("size of the database"))?;
            Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
        })
    }

    fn health(&self) -> Health {
        if let Some(reason) = self.read_only_reason() {
            return Health::ReadOnly { reason };
        }
        let select = |c: &mut Client| {
            c.batch_execute("SELECT 1")
                .map_err(pg_error("reach the database"))
        };
        // A reader's health is whether it can read; its writes are refused all the same.
        let probe = match self.writer {
            Some(_) => self.with_writer(select),
            None => self.pool.with(select),
        };
        match probe {
            Ok(()) => Health::Ready,
            Err(e) => Health::Unavailable {
                reason: e.to_string(),
            },
        }
    }

    fn import_block(&self, block: &Block, head: &Head) -> Result<(), StoreError> {
        if block.entries.is_empty() {
            return Ok(());
        }
        let first = block.entries[0].0;
        let entries = block.entries.iter().map(|(_, b)| b.clone()).collect();
        let changes = super::file_ledger::replay(&self.state, first, entries)?;
        self.write_block(block, &changes, head)
    }

    fn refuse_writes(&self, reason: String) {
        *self.read_only.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason);
    }

    fn refuses_writes(&self) -> Option<String> {
        match &self.writer {
            Some(_) => self.read_only_reason(),
            None => Some(self.reader_refusal()),
        }
    }

    fn flush(&self) -> Result<(), StoreError> {
        // Every block was committed durably, state included.
        Ok(())
    }

    fn warm_up(&self) {
        let (pool, nodes) = (Arc::clone(&self.pool), Arc::clone(&self.nodes));
        let spawned = std::thread::Builder::new()
            .name("lodestone-warm-up".into())
            .spawn(move || {
                let started = std::time::Instant::now();
                let warmed = pool.connect().and_then(|mut client| {
                    let size = read_head(&mut client)?.map_or(0, |h| h.size);
                    nodes.warm(&mut client, size)
                });
                match warmed {
                    Ok(count) => tracing::info!(
                        nodes = count,
                        ms = started.elapsed().as_millis() as u64,
                        "tree nodes read into the cache"
                    ),
                    Err(e) => tracing::warn!(error = %e, "could not warm the node cache"),
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "could not start warming the node cache");
        }
    }

    fn read_ahead(&self, dry_run: &mut dyn FnMut()) -> Result<(), StoreError> {
        if self.writer.is_none() {
            return Ok(());
        }
        let db = self.state.db();
        // A dry run costs as much as the validation itself: it is skipped while the cache and
        // the filter answer everything (the last dry run found nothing to read and nothing has
        // been read one at a time since), and made again as soon as something was.
        let mut ahead = self.read_ahead.lock().unwrap_or_else(|p| p.into_inner());
        if ahead.idle && db.read_one_by_one() == ahead.one_by_one {
            return Ok(());
        }
        // A record found in one round can lead to more (the batch an event names, then its
        // inputs): later rounds fetch those; anything past them is read as it comes.
        let mut noted_any = false;
        for _ in 0..READ_AHEAD_ROUNDS {
            let noted = db.noting_misses(dry_run);
            tracing::debug!(records = noted.len(), "read ahead");
            if noted.is_empty() {
                break;
            }
            noted_any = true;
            db.fetch(&noted)?;
        }
        *ahead = ReadAhead {
            idle: !noted_any,
            one_by_one: db.read_one_by_one(),
        };
        Ok(())
    }
}

impl StateView for PgLedger {
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

impl HashReader for PgLedger {
    fn read_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, TreeError> {
        let storage = |e: StoreError| TreeError::Storage {
            message: e.to_string(),
        };
        let mut hashes = self.nodes.get(ids);
        let missing: Vec<NodeId> = ids
            .iter()
            .zip(&hashes)
            .filter(|(_, hash)| hash.is_none())
            .map(|(id, _)| *id)
            .collect();
        if missing.is_empty() {
            return Ok(hashes.into_iter().flatten().collect());
        }
        let levels: Vec<i16> = missing.iter().map(|id| i16::from(id.level)).collect();
        let at: Vec<i64> = missing.iter().map(|id| index(id.index)).collect();
        let rows = self
            .pool
            .with(|c| {
                c.query(
                    "SELECT n.hash FROM unnest($1::smallint[], $2::bigint[]) \
                     WITH ORDINALITY AS q(level, idx, ord) \
                     LEFT JOIN nodes n ON n.level = q.level AND n.idx = q.idx ORDER BY q.ord",
                    &[&levels, &at],
                )
                .map_err(pg_error("read tree nodes"))
            })
            .map_err(storage)?;
        let mut read = Vec::with_capacity(missing.len());
        for (id, row) in missing.iter().zip(rows) {
            if let Some(bytes) = row.get::<_, Option<Vec<u8>>>(0) {
                let hash =
                    Hash::from_slice(&bytes).map_err(|e| storage(corrupt("tree node", e)))?;
                read.push((*id, hash));
            }
        }
        self.nodes.put(read.iter().copied());
        let mut read = read.into_iter().peekable();
        for (id, slot) in ids.iter().zip(hashes.iter_mut()) {
            if slot.is_none() {
                *slot = read.next_if(|(found, _)| found == id).map(|(_, hash)| hash);
            }
        }
        ids.iter()
            .zip(hashes)
            .map(|(id, hash)| {
                hash.ok_or(TreeError::MissingNode {
                    level: id.level,
                    index: id.index,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::{is_url, redacted};

    #[test]
    fn urls_are_told_from_directories_and_passwords_hidden() {
        assert!(is_url("postgres://u@h/db"));
        assert!(is_url("postgresql:///db?host=/tmp/x"));
        assert!(!is_url("./lodestone-data"));
        assert_eq!(
            redacted("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(
            redacted("postgres:///db?host=/tmp&password=secret&user=u"),
            "postgres:///db?host=/tmp&password=***&user=u"
        );
        assert_eq!(redacted("postgres://h/db"), "postgres://h/db");
    }
}
