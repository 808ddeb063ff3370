//! The writer's cache of state records. Validating an event reads a handful of records (the
//! signer's key and actor, its event id, the batches it uses); from PostgreSQL each read is a
//! round trip, which bounded durable ingest at about a thousand events per second (issue 15).
//!
//! Only the one writer caches: it holds the advisory lock, so nobody else changes the state,
//! and it records every write in the cache once its transaction has committed. A read that
//! races a commit is never cached stale: a value read from the database is cached only if the
//! cache has no entry for its key (an entry is always current: every commit overwrites the
//! entries of what it wrote) and the cache was not emptied since the read began (an emptied
//! cache no longer knows what was written meanwhile; every emptying moves a generation).
//! Absent records are cached too (most lookups of new event and batch ids find nothing).

use std::collections::HashMap;
use std::sync::Mutex;

/// Records kept at most; past it the cache starts again empty (a simple bound, not an LRU:
/// what validation needs is mostly the recent records, which come back at once).
const LIMIT: usize = 500_000;

/// A lookup's result.
pub(crate) enum Lookup {
    /// The record as last committed (`None`: there is none).
    Hit(Option<Vec<u8>>),
    /// Not cached: read it, then [`RecordCache::fill`] with this generation.
    Miss(u64),
}

#[derive(Default)]
struct Inner {
    /// Moves each time the cache is emptied.
    generation: u64,
    records: HashMap<Vec<u8>, Option<Vec<u8>>>,
}

impl Inner {
    fn empty(&mut self) {
        self.generation += 1;
        self.records.clear();
    }
}

/// See the module documentation.
#[derive(Default)]
pub(crate) struct RecordCache {
    inner: Mutex<Inner>,
}

impl RecordCache {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The cache is only ever a copy: a panic while it was held leaves it usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn lookup(&self, key: &[u8]) -> Lookup {
        let inner = self.inner();
        match inner.records.get(key) {
            Some(value) => Lookup::Hit(value.clone()),
            None => Lookup::Miss(inner.generation),
        }
    }

    /// The generation a read must start at (see [`RecordCache::fill`]).
    pub(crate) fn generation(&self) -> u64 {
        self.inner().generation
    }

    /// Caches what reads that began at `generation` found, where the cache holds nothing newer.
    pub(crate) fn fill<'a>(
        &self,
        found: impl IntoIterator<Item = (&'a [u8], Option<Vec<u8>>)>,
        generation: u64,
    ) {
        let mut inner = self.inner();
        if inner.generation != generation {
            return;
        }
        for (key, value) in found {
            if inner.records.len() >= LIMIT {
                // Emptied: what is still being filled may be older than a commit it raced.
                inner.empty();
                return;
            }
            inner.records.entry(key.to_vec()).or_insert(value);
        }
    }

    /// Records writes that have committed.
    pub(crate) fn committed(&self, writes: &[(Vec<u8>, Vec<u8>)]) {
        let mut inner = self.inner();
        if inner.records.len() + writes.len() >= LIMIT {
            inner.empty();
        }
        for (key, value) in writes {
            inner.records.insert(key.clone(), Some(value.clone()));
        }
    }

    /// Forgets everything: after a write whose outcome is unknown, or a cleared state.
    pub(crate) fn forget(&self) {
        self.inner().empty();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_that_raced_a_commit_is_not_cached() {
        let cache = RecordCache::default();
        let Lookup::Miss(generation) = cache.lookup(b"k") else {
            panic!("an empty cache hit");
        };
        // The writer commits k = new while the read of the old value is in flight.
        cache.committed(&[(b"k".to_vec(), b"new".to_vec())]);
        cache.fill([(&b"k"[..], Some(b"old".to_vec()))], generation);
        assert!(matches!(cache.lookup(b"k"), Lookup::Hit(Some(v)) if v == b"new"));
        // A read of another key, in flight across that commit, is still worth keeping.
        cache.fill([(&b"j"[..], None)], generation);
        assert!(matches!(cache.lookup(b"j"), Lookup::Hit(None)));
    }

    #[test]
    fn a_read_that_began_before_the_cache_was_emptied_is_not_cached() {
        let cache = RecordCache::default();
        let generation = cache.generation();
        cache.committed(&[(b"k".to_vec(), b"new".to_vec())]);
        cache.forget();
        cache.fill([(&b"k"[..], Some(b"old".to_vec()))], generation);
        assert!(matches!(cache.lookup(b"k"), Lookup::Miss(_)));
    }

    #[test]
    fn absent_records_are_cached_until_written_and_forget_clears() {
        let cache = RecordCache::default();
        let Lookup::Miss(generation) = cache.lookup(b"k") else {
            panic!("an empty cache hit");
        };
        cache.fill([(&b"k"[..], None)], generation);
        assert!(matches!(cache.lookup(b"k"), Lookup::Hit(None)));
        cache.committed(&[(b"k".to_vec(), b"v".to_vec())]);
        assert!(matches!(cache.lookup(b"k"), Lookup::Hit(Some(v)) if v == b"v"));
        cache.forget();
        assert!(matches!(cache.lookup(b"k"), Lookup::Miss(_)));
    }
}
