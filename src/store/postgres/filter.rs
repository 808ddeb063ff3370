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

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash as _, Hasher as _};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

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

    fn insert(&mut self, key: &[u8]) {
        for bit in self.positions(key).collect::<Vec<_>>() {
            self.bits[(bit / 64) as usize] |= 1 << (bit % 64);
        }
        self.inserted += 1;
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
}

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

    /// Adds committed keys; starts a larger filter when the table outgrows this one.
    pub(crate) fn insert<'a>(
        self: &Arc<Self>,
        keys: impl IntoIterator<Item = &'a [u8]>,
        pool: &Arc<Pool>,
    ) {
        let outgrown = {
            let mut filters = self.filters_mut();
            let Filters { active, building } = &mut *filters;
            for key in keys {
                if let Some(bloom) = active.as_mut() {
                    bloom.insert(key);
                }
                if let Some(bloom) = building.as_mut() {
                    bloom.insert(key);
                }
            }
            active.as_ref().is_some_and(|b| b.inserted > b.capacity)
        };
        if outgrown {
            self.scan_in_background(pool);
        }
    }

    /// Builds a filter of every key in the table on a thread of its own, unless a scan is
    /// already running; until it completes, the current filter (if any) keeps answering.
    pub(crate) fn scan_in_background(self: &Arc<Self>, pool: &Arc<Pool>) {
        if self.scanning.swap(true, Ordering::AcqRel) {
            return;
        }
        let (filter, pool) = (Arc::clone(self), Arc::clone(pool));
        let spawned = std::thread::Builder::new()
            .name("lodestone-keyfilter".into())
            .spawn(move || {
                match filter.scan(&pool) {
                    Ok(keys) => tracing::debug!(keys, "state key filter built"),
                    Err(e) => {
                        filter.filters_mut().building = None;
                        tracing::warn!(error = %e, "could not build the state key filter; every lookup goes to the database");
                    }
                }
                filter.scanning.store(false, Ordering::Release);
            });
        if spawned.is_err() {
            self.scanning.store(false, Ordering::Release);
        }
    }

    fn scan(&self, pool: &Pool) -> Result<u64, StoreError> {
        let mut client = pool.connect()?;
        let count: i64 = client
            .query_one("SELECT count(*) FROM state", &[])
            .map_err(pg_error("count state records"))?
            .get(0);
        let count = u64::try_from(count).unwrap_or(0);
        // In place, taking commits, before the scan's snapshot is taken.
        self.filters_mut().building = Some(Bloom::with_capacity(count * GROWTH));
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
        filters.active = filters.building.take();
        Ok(scanned)
    }
}

#[cfg(test)]
mod tests {
    use super::Bloom;

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
