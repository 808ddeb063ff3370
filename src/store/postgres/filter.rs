//! The writer's Bloom filter of every key in the `state` table.
//!
//! Most records validation asks for do not exist: a new event's id, the batches it creates,
//! the prefixes of a new batch id. From PostgreSQL each such "no" would be a round trip (or a
//! row in the block's read-ahead query); with this filter the writer answers most of them from
//! memory. A Bloom filter has no false negatives, so a key it does not hold is certainly absent;
//! a key it may hold is read from the database as before (about 1 % of absent keys, at 10 bits
//! and 7 hashes per key).
//!
//! Only the writer keeps one: it holds the advisory lock, so every key that reaches the table
//! after it opened is one of its own commits, which it adds ([`KeyFilter::insert`]). The keys
//! already there are read by a background thread when the writer opens; until that scan ends,
//! the filter answers nothing and every lookup goes to the database. No key is missed between
//! the two: the new filter is in place, taking commits, before the scan's snapshot is taken.
//! When the table outgrows the filter's capacity, a larger one is built the same way while the
//! old one keeps answering.
//!
//! Two cases break the rule that a key is added once it is in the table, and both are covered:
//! a commit whose outcome is unknown (the connection broke around `COMMIT`) may land after a
//! scan's snapshot, so its keys go into every filter built until the outcome is settled; and a
//! writer that lost its session and took the lock again may find another writer's commits in the
//! table, so its filters are dropped and built again ([`KeyFilter::reset`]).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash as _, Hasher as _};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use postgres::fallible_iterator::FallibleIterator as _;

use super::pool::{pg_error, Pool};
use crate::store::StoreError;

/// Bits per key the filter is sized for, and hashes per key: about 1 % false positives.
const BITS_PER_KEY: u64 = 10;
const HASHES: u64 = 7;
/// The smallest capacity, in keys (5 MiB of bits).
const MIN_CAPACITY: u64 = 1 << 22;
/// A filter is built for this many times the keys it starts with.
const GROWTH: u64 = 4;

/// A fixed-size Bloom filter over byte strings.
struct Bloom {
    bits: Vec<u64>,
    capacity: u64,
    inserted: u64,
}

impl Bloom {
    fn with_capacity(keys: u64) -> Bloom {
        Bloom::sized(keys.max(MIN_CAPACITY))
    }

    fn sized(capacity: u64) -> Bloom {
        let words = (capacity * BITS_PER_KEY).div_ceil(64);
        Bloom {
            bits: vec![0; usize::try_from(words).unwrap_or(usize::MAX)],
            capacity,
            inserted: 0,
        }
    }

    /// The bit positions of `key` (Kirsch–Mitzenmacher double hashing of two SipHashes).
    fn positions(&self, key: &[u8]) -> impl Iterator<Item = u64> {
        let hash = |salt: u8| {
            let mut h = DefaultHasher::new();
            salt.hash(&mut h);
            key.hash(&mut h);
            h.finish()
        };
        let (h1, h2) = (hash(1), hash(2) | 1);
        let m = self.bits.len() as u64 * 64;
        (0..HASHES).map(move |i| h1.wrapping_add(i.wrapping_mul(h2)) % m)
    }

    /// Adds `key`; counts it when it was not there yet (a key written again, such as a batch
    /// updated by every event that uses it, does not fill the filter).
    fn insert(&mut self, key: &[u8]) {
        let mut new = false;
        for bit in self.positions(key).collect::<Vec<_>>() {
            let word = &mut self.bits[(bit / 64) as usize];
            new |= *word & (1 << (bit % 64)) == 0;
            *word |= 1 << (bit % 64);
        }
        self.inserted += u64::from(new);
    }

    fn may_hold(&self, key: &[u8]) -> bool {
        self.positions(key)
            .all(|bit| self.bits[(bit / 64) as usize] & (1 << (bit % 64)) != 0)
    }
}

#[derive(Default)]
struct Filters {
    /// The filter that answers, once a scan has completed it.
    active: Option<Bloom>,
    /// A filter being filled by a scan; takes commits too.
    building: Option<Bloom>,
    /// Moves when the filters are dropped ([`KeyFilter::reset`]): a scan that began before
    /// does not install its result.
    epoch: u64,
    /// Keys of commits whose outcome is not known yet: they may reach the table after a scan's
    /// snapshot, so every new filter takes them too, until the outcome is settled.
    unsettled: Vec<Vec<u8>>,
    /// When the last scan failed: a filter that outgrew itself waits before it scans again.
    failed_at: Option<Instant>,
}

/// How long after a failed scan no new one is started for a filter that outgrew itself.
const RETRY_AFTER: Duration = Duration::from_secs(60);

/// See the module documentation.
#[derive(Default)]
pub(crate) struct KeyFilter {
    filters: RwLock<Filters>,
    scanning: AtomicBool,
}

impl KeyFilter {
    fn filters(&self) -> std::sync::RwLockReadGuard<'_, Filters> {
        self.filters.read().unwrap_or_else(|p| p.into_inner())
    }

    fn filters_mut(&self) -> std::sync::RwLockWriteGuard<'_, Filters> {
        self.filters.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a completed scan backs the filter (it answers [`KeyFilter::absent`]).
    pub(crate) fn ready(&self) -> bool {
        self.filters().active.is_some()
    }

    /// Whether `key` is certainly not in the table; `false` when the filter cannot tell (it may
    /// hold the key, or no scan has completed yet).
    pub(crate) fn absent(&self, key: &[u8]) -> bool {
        self.filters()
            .active
            .as_ref()
            .is_some_and(|bloom| !bloom.may_hold(key))
    }

    /// Adds the keys of a commit; starts a larger filter when the table outgrows this one.
    pub(crate) fn insert<'a>(
        self: &Arc<Self>,
        keys: impl IntoIterator<Item = &'a [u8]>,
        pool: &Arc<Pool>,
    ) {
        self.add(keys, false, pool);
    }

    /// Adds the keys of a commit whose outcome is unknown (the connection broke around
    /// `COMMIT`): every filter built until [`KeyFilter::settled`] takes them as well.
    pub(crate) fn insert_unsettled<'a>(
        self: &Arc<Self>,
        keys: impl IntoIterator<Item = &'a [u8]>,
        pool: &Arc<Pool>,
    ) {
        self.add(keys, true, pool);
    }

    /// Every earlier commit's outcome is known now (the head was read again under the lock).
    pub(crate) fn settled(&self) {
        self.filters_mut().unsettled.clear();
    }

    fn add<'a>(
        self: &Arc<Self>,
        keys: impl IntoIterator<Item = &'a [u8]>,
        unsettled: bool,
        pool: &Arc<Pool>,
    ) {
        let outgrown = {
            let mut filters = self.filters_mut();
            let Filters {
                active,
                building,
                unsettled: pending,
                failed_at,
                ..
            } = &mut *filters;
            for key in keys {
                if let Some(bloom) = active.as_mut() {
                    bloom.insert(key);
                }
                if let Some(bloom) = building.as_mut() {
                    bloom.insert(key);
                }
                if unsettled {
                    pending.push(key.to_vec());
                }
            }
            active.as_ref().is_some_and(|b| b.inserted > b.capacity)
                && failed_at.is_none_or(|at| at.elapsed() > RETRY_AFTER)
        };
        if outgrown {
            self.scan_in_background(pool);
        }
    }

    /// Drops every filter and builds a new one: after the writer lost its session and took the
    /// lock again, when another writer may have written in between. Lookups go to the database
    /// until the new scan completes.
    pub(crate) fn reset(self: &Arc<Self>, pool: &Arc<Pool>) {
        {
            let mut filters = self.filters_mut();
            filters.epoch += 1;
            filters.active = None;
            filters.building = None;
        }
        self.scan_in_background(pool);
    }

    /// Builds a filter of every key in the table on a thread of its own, unless a scan is
    /// already running (which starts over if the filters were reset meanwhile); until it
    /// completes, the current filter (if any) keeps answering.
    pub(crate) fn scan_in_background(self: &Arc<Self>, pool: &Arc<Pool>) {
        if self.scanning.swap(true, Ordering::AcqRel) {
            return;
        }
        let (filter, pool) = (Arc::clone(self), Arc::clone(pool));
        let spawned = std::thread::Builder::new()
            .name("lodestone-keyfilter".into())
            .spawn(move || {
                loop {
                    match filter.scan(&pool) {
                        Ok(Some(keys)) => tracing::debug!(keys, "state key filter built"),
                        // Reset while scanning: scan again.
                        Ok(None) => continue,
                        Err(e) => {
                            let mut filters = filter.filters_mut();
                            filters.building = None;
                            filters.failed_at = Some(Instant::now());
                            tracing::warn!(error = %e, "could not build the state key filter; lookups it cannot answer go to the database");
                        }
                    }
                    break;
                }
                filter.scanning.store(false, Ordering::Release);
            });
        if spawned.is_err() {
            self.scanning.store(false, Ordering::Release);
        }
    }

    /// One scan: `Some(keys scanned)` once installed, `None` when the filters were reset while
    /// it ran (nothing installed).
    fn scan(&self, pool: &Pool) -> Result<Option<u64>, StoreError> {
        let mut client = pool.connect()?;
        let count: i64 = client
            .query_one("SELECT count(*) FROM state", &[])
            .map_err(pg_error("count state records"))?
            .get(0);
        let count = u64::try_from(count).unwrap_or(0);
        // In place, taking commits, before the scan's snapshot is taken.
        let epoch = {
            let mut filters = self.filters_mut();
            let mut bloom = Bloom::with_capacity(count * GROWTH);
            for key in &filters.unsettled {
                bloom.insert(key);
            }
            filters.building = Some(bloom);
            filters.epoch
        };
        let mut rows = client
            .query_raw("SELECT key FROM state", std::iter::empty::<i32>())
            .map_err(pg_error("scan state keys"))?;
        let mut chunk: Vec<Vec<u8>> = Vec::with_capacity(4096);
        let mut scanned = 0u64;
        loop {
            let row = rows.next().map_err(pg_error("scan state keys"))?;
            let done = row.is_none();
            if let Some(row) = row {
                chunk.push(row.get(0));
            }
            if done || chunk.len() == chunk.capacity() {
                let mut filters = self.filters_mut();
                if filters.epoch != epoch {
                    return Ok(None);
                }
                if let Some(bloom) = filters.building.as_mut() {
                    for key in chunk.drain(..) {
                        bloom.insert(&key);
                        scanned += 1;
                    }
                }
            }
            if done {
                break;
            }
        }
        let mut filters = self.filters_mut();
        if filters.epoch != epoch {
            return Ok(None);
        }
        filters.active = filters.building.take();
        filters.failed_at = None;
        Ok(Some(scanned))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_an_open_commit_are_kept_for_new_filters_until_settled() {
        let filter = Arc::new(KeyFilter::default());
        // Never connected: nothing here outgrows a filter, so no scan starts.
        let pool = Arc::new(Pool::new(postgres::Config::new()));
        filter.filters_mut().active = Some(Bloom::sized(1_000));
        filter.insert_unsettled([&b"V/miner/e-1"[..]], &pool);
        filter.insert([&b"V/miner/e-2"[..]], &pool);
        assert!(!filter.absent(b"V/miner/e-1") && !filter.absent(b"V/miner/e-2"));
        assert_eq!(filter.filters().unsettled, vec![b"V/miner/e-1".to_vec()]);
        filter.settled();
        assert!(filter.filters().unsettled.is_empty());
        // Still held by the filter that took them.
        assert!(!filter.absent(b"V/miner/e-1"));
    }

    #[test]
    fn a_key_written_again_does_not_fill_the_filter() {
        let mut bloom = Bloom::sized(1_000);
        for _ in 0..100 {
            bloom.insert(b"A/applied");
        }
        assert_eq!(bloom.inserted, 1);
    }

    #[test]
    fn a_bloom_filter_never_forgets_a_key_and_rarely_imagines_one() {
        let mut bloom = Bloom::with_capacity(10_000);
        for i in 0..10_000u32 {
            bloom.insert(format!("E/actor/{i}").as_bytes());
        }
        assert!((0..10_000u32).all(|i| bloom.may_hold(format!("E/actor/{i}").as_bytes())));
        let imagined = (0..100_000u32)
            .filter(|i| bloom.may_hold(format!("B/new/{i}").as_bytes()))
            .count();
        // Sized for 4M keys with 10k in it: next to none.
        assert!(imagined < 100, "{imagined} false positives in 100,000");
    }

    #[test]
    fn a_full_filter_still_answers_within_its_design_rate() {
        let mut bloom = Bloom::sized(50_000);
        let n = bloom.capacity;
        for i in 0..n {
            bloom.insert(&i.to_le_bytes());
        }
        let imagined = (n..n + 100_000)
            .filter(|i| bloom.may_hold(&i.to_le_bytes()))
            .count();
        assert!(imagined < 2_000, "{imagined} false positives in 100,000");
    }
}
