//! Connections to PostgreSQL for the synchronous `postgres` client, and the state table as a
//! [`RecordDb`].
//!
//! The `postgres` crate drives each connection with a private Tokio runtime and blocks on it, so
//! it must not be called on a thread that is inside a Tokio runtime (Tokio refuses to start a
//! runtime from within one). The HTTP layer already moves store reads to the blocking pool;
//! [`off_runtime`] makes any other caller safe too, by leaving the runtime's context
//! (`block_in_place`) or, on a current-thread runtime, by running the call on a scoped thread.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use postgres::{Client, Config, NoTls};

use super::super::records::{Pairs, RecordDb};
use super::super::StoreError;
use super::cache::{Lookup, RecordCache};
use super::filter::KeyFilter;

/// Idle connections kept for reuse; more are opened when readers need them and closed when
/// they come back to a full pool.
const MAX_IDLE: usize = 16;

/// Runs `f` where the blocking client may block: off any Tokio runtime's context.
pub(crate) fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    match tokio::runtime::Handle::try_current() {
        Err(_) => f(),
        Ok(handle) => match handle.runtime_flavor() {
            tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
            _ => std::thread::scope(|scope| {
                scope
                    .spawn(f)
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            }),
        },
    }
}

/// A PostgreSQL failure as a [`StoreError`], with the server's message when there is one.
pub(crate) fn pg_error(op: &'static str) -> impl Fn(postgres::Error) -> StoreError {
    move |e| {
        let detail = match e.as_db_error() {
            Some(db) => format!(
                "{}: {}{}",
                db.code().code(),
                db.message(),
                db.detail().map(|d| format!(" ({d})")).unwrap_or_default()
            ),
            None => match std::error::Error::source(&e) {
                Some(source) => format!("{e}: {source}"),
                None => e.to_string(),
            },
        };
        StoreError::Postgres { op, detail }
    }
}

/// A small pool of connections to one database, each with `synchronous_commit` on.
pub(crate) struct Pool {
    config: Config,
    idle: Mutex<Vec<Client>>,
}

impl Pool {
    /// A pool for `config` (no connection is opened yet).
    pub(crate) fn new(config: Config) -> Pool {
        Pool {
            config,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// A new connection, set up as every Lodestone connection is.
    pub(crate) fn connect(&self) -> Result<Client, StoreError> {
        connect(&self.config)
    }

    /// Runs `f` with a pooled connection; a connection that failed is not kept.
    pub(crate) fn with<T: Send>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T, StoreError> + Send,
    ) -> Result<T, StoreError> {
        off_runtime(|| {
            let taken = self.idle.lock().map(|mut idle| idle.pop()).ok().flatten();
            let mut client = match taken {
                Some(client) if !client.is_closed() => client,
                _ => self.connect()?,
            };
            let result = f(&mut client);
            if result.is_ok() && !client.is_closed() {
                if let Ok(mut idle) = self.idle.lock() {
                    if idle.len() < MAX_IDLE {
                        idle.push(client);
                    }
                }
            }
            result
        })
    }
}

/// Opens one connection to `config`: durable commits, and a name that says who holds it.
pub(crate) fn connect(config: &Config) -> Result<Client, StoreError> {
    let mut config = config.clone();
    if config.get_application_name().is_none() {
        config.application_name(&application_name());
    }
    let mut client = config.connect(NoTls).map_err(pg_error("connect"))?;
    // Durability is not left to the server's default: a block is acknowledged only after its
    // COMMIT is flushed to the write-ahead log.
    client
        .batch_execute("SET synchronous_commit = on")
        .map_err(pg_error("set synchronous_commit"))?;
    Ok(client)
}

/// `lodestone <pid>@<host>`: what `pg_stat_activity` shows for our connections, and what a
/// second writer's refusal names.
pub fn application_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "unknown-host".into());
    format!("lodestone {}@{host}", std::process::id())
}

/// The first key after every key that starts with `prefix` (`None`: no such key).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// The `state` table (`key bytea primary key, value bytea`) as the ordered key-value database
/// the ledger state is kept in ([`super::super::records`]): every record type the state knows is
/// stored here with no table of its own.
pub(crate) struct PgDb {
    pool: Arc<Pool>,
    /// The writer's cache ([`super::cache`]); readers have none.
    cache: Option<RecordCache>,
    /// The writer's filter of the keys in the table ([`super::filter`]); readers have none.
    filter: Option<Arc<KeyFilter>>,
    /// Records the writer had to read one at a time (neither the cache nor the filter knew).
    one_by_one: AtomicU64,
}

impl PgDb {
    /// A reader's view: every read goes to the database.
    pub(crate) fn new(pool: Arc<Pool>) -> PgDb {
        PgDb {
            pool,
            cache: None,
            filter: None,
            one_by_one: AtomicU64::new(0),
        }
    }

    /// The writer's view, caching records and filtering keys that are certainly absent: only
    /// for the holder of the writer lock. The filter of the keys already stored is built in the
    /// background.
    pub(crate) fn caching(pool: Arc<Pool>) -> PgDb {
        let filter = Arc::new(KeyFilter::default());
        filter.scan_in_background(&pool);
        PgDb {
            pool,
            cache: Some(RecordCache::default()),
            filter: Some(filter),
            one_by_one: AtomicU64::new(0),
        }
    }

    /// Tells the cache and the filter that `writes` committed.
    pub(crate) fn committed(&self, writes: &[(Vec<u8>, Vec<u8>)]) {
        if let Some(cache) = &self.cache {
            cache.committed(writes);
        }
        self.may_have_written(writes);
    }

    /// Tells the cache and the filter that the outcome of `writes` is unknown: the cache
    /// forgets everything, the filter takes the keys (they may be in the table now, or only
    /// later) until [`PgDb::settled`].
    pub(crate) fn uncertain(&self, writes: &[(Vec<u8>, Vec<u8>)]) {
        if let Some(cache) = &self.cache {
            cache.forget();
        }
        if let Some(filter) = &self.filter {
            filter.insert_unsettled(writes.iter().map(|(k, _)| k.as_slice()), &self.pool);
        }
    }

    /// Every earlier commit's outcome is known (the head was read again under the writer lock):
    /// the cache forgets what it may have read while an outcome was open.
    pub(crate) fn settled(&self) {
        if let Some(cache) = &self.cache {
            cache.forget();
        }
        if let Some(filter) = &self.filter {
            filter.settled();
        }
    }

    /// The writer lost its session and took the lock again: another writer may have written
    /// meanwhile, so the cache and the key filter start over.
    pub(crate) fn reconnected(&self) {
        if let Some(cache) = &self.cache {
            cache.forget();
        }
        if let Some(filter) = &self.filter {
            filter.reset(&self.pool);
        }
    }

    fn may_have_written(&self, writes: &[(Vec<u8>, Vec<u8>)]) {
        if let Some(filter) = &self.filter {
            filter.insert(writes.iter().map(|(k, _)| k.as_slice()), &self.pool);
        }
    }

    fn read(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.pool.with(|c| {
            let row = c
                .query_opt("SELECT value FROM state WHERE key = $1", &[&key])
                .map_err(pg_error("read a state record"))?;
            Ok(row.map(|r| r.get(0)))
        })
    }
}

thread_local! {
    /// While the writer reads ahead on this thread ([`PgDb::noting_misses`]): the keys that
    /// missed the cache, answered "absent" instead of fetched.
    static NOTED: RefCell<Option<BTreeSet<Vec<u8>>>> = const { RefCell::new(None) };
}

/// Ends noting on this thread, also when the dry run panics.
struct Noting;

impl Drop for Noting {
    fn drop(&mut self) {
        NOTED.with(|n| n.borrow_mut().take());
    }
}

impl PgDb {
    /// Runs `dry_run` with every cache miss on this thread answered "absent" and noted; returns
    /// the noted keys. Only for the writer (a reader has no cache, and reads everything).
    pub(crate) fn noting_misses(&self, dry_run: &mut dyn FnMut()) -> Vec<Vec<u8>> {
        if self.cache.is_none() {
            return Vec::new();
        }
        NOTED.with(|n| *n.borrow_mut() = Some(BTreeSet::new()));
        let noting = Noting;
        dry_run();
        let noted = NOTED.with(|n| n.borrow_mut().take()).unwrap_or_default();
        drop(noting);
        noted.into_iter().collect()
    }

    /// Whether the writer's key filter is built (a reader has none).
    pub(crate) fn filter_ready(&self) -> bool {
        self.filter.as_ref().is_some_and(|f| f.ready())
    }

    /// How many records the writer has read one at a time so far.
    pub(crate) fn read_one_by_one(&self) -> u64 {
        self.one_by_one.load(Ordering::Relaxed)
    }

    /// Fetches `keys` in one query and caches what it finds, absences included.
    pub(crate) fn fetch(&self, keys: &[Vec<u8>]) -> Result<(), StoreError> {
        let Some(cache) = &self.cache else {
            return Ok(());
        };
        let generation = cache.generation();
        let rows = self.pool.with(|c| {
            c.query(
                "SELECT q.key, s.value FROM unnest($1::bytea[]) AS q(key) \
                 LEFT JOIN state s ON s.key = q.key",
                &[&keys],
            )
            .map_err(pg_error("read state records ahead"))
        })?;
        let found: Vec<(Vec<u8>, Option<Vec<u8>>)> =
            rows.into_iter().map(|r| (r.get(0), r.get(1))).collect();
        cache.fill(
            found.iter().map(|(k, v)| (k.as_slice(), v.clone())),
            generation,
        );
        Ok(())
    }
}

/// Inserts or replaces `writes` in the `state` table inside transaction `tx`, one statement.
pub(crate) fn upsert_state(
    tx: &mut postgres::Transaction<'_>,
    writes: &[(Vec<u8>, Vec<u8>)],
) -> Result<(), StoreError> {
    // ON CONFLICT may touch each row once per statement: the last write of a key wins.
    let writes: std::collections::BTreeMap<&[u8], &[u8]> = writes
        .iter()
        .map(|(k, v)| (k.as_slice(), v.as_slice()))
        .collect();
    let writes: Vec<(&[u8], &[u8])> = writes.into_iter().collect();
    for chunk in writes.chunks(super::ROWS_PER_STATEMENT) {
        let (keys, values): (Vec<&[u8]>, Vec<&[u8]>) = chunk.iter().copied().unzip();
        tx.execute(
            "INSERT INTO state (key, value) SELECT * FROM unnest($1::bytea[], $2::bytea[]) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&keys, &values],
        )
        .map_err(pg_error("write state records"))?;
    }
    Ok(())
}

impl RecordDb for PgDb {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(cache) = &self.cache else {
            return self.read(key);
        };
        match cache.lookup(key) {
            Lookup::Hit(value) => Ok(value),
            Lookup::Miss(_) if self.filter.as_ref().is_some_and(|f| f.absent(key)) => Ok(None),
            Lookup::Miss(generation) => {
                let noted = NOTED.with(|n| match n.borrow_mut().as_mut() {
                    Some(noted) => {
                        noted.insert(key.to_vec());
                        true
                    }
                    None => false,
                });
                if noted {
                    return Ok(None);
                }
                self.one_by_one.fetch_add(1, Ordering::Relaxed);
                let value = self.read(key)?;
                cache.fill([(key, value.clone())], generation);
                Ok(value)
            }
        }
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Result<Pairs, StoreError> {
        let end = prefix_end(prefix);
        self.pool.with(|c| {
            let rows = c
                .query(
                    "SELECT key, value FROM state WHERE key >= $1 \
                     AND ($2::bytea IS NULL OR key < $2) ORDER BY key",
                    &[&prefix, &end],
                )
                .map_err(pg_error("scan state records"))?;
            Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    fn keys_from(
        &self,
        prefix: &[u8],
        from: &[u8],
        limit: usize,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let start = if from > prefix { from } else { prefix };
        let end = prefix_end(prefix);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.pool.with(|c| {
            let rows = c
                .query(
                    "SELECT key FROM state WHERE key >= $1 \
                     AND ($2::bytea IS NULL OR key < $2) ORDER BY key LIMIT $3",
                    &[&start, &end, &limit],
                )
                .map_err(pg_error("list state keys"))?;
            Ok(rows.into_iter().map(|r| r.get(0)).collect())
        })
    }

    fn apply(&self, writes: Pairs) -> Result<(), StoreError> {
        let result = self.pool.with(|c| {
            let mut tx = c.transaction().map_err(pg_error("begin"))?;
            upsert_state(&mut tx, &writes)?;
            tx.commit().map_err(pg_error("commit state records"))
        });
        match &result {
            Ok(()) => self.committed(&writes),
            Err(_) => self.uncertain(&writes),
        }
        result
    }

    fn clear(&self) -> Result<(), StoreError> {
        let result = self.pool.with(|c| {
            c.batch_execute("DELETE FROM state")
                .map_err(pg_error("clear the state"))
        });
        // The filter may now hold keys the table does not: that only costs a lookup.
        if let Some(cache) = &self.cache {
            cache.forget();
        }
        result
    }

    fn flush(&self) -> Result<(), StoreError> {
        // Every write is committed durably already.
        Ok(())
    }

    fn size_on_disk(&self) -> u64 {
        self.pool
            .with(|c| {
                let row = c
                    .query_one("SELECT pg_total_relation_size('state')", &[])
                    .map_err(pg_error("size of the state"))?;
                Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
            })
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn prefix_end_is_the_first_key_past_the_prefix() {
        assert_eq!(prefix_end(b"A"), Some(b"B".to_vec()));
        assert_eq!(prefix_end(&[b'V', 0xff]), Some(b"W".to_vec()));
        assert_eq!(prefix_end(&[0xff, 0xff]), None);
        assert_eq!(prefix_end(b""), None);
    }
}
