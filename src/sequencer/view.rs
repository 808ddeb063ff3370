//! The validator's view of the ledger state: what is durable in the store, plus the blocks that
//! are validated but still being written, plus a cache of the participant registry.
//!
//! Validation of block *n + 1* runs while block *n* is being written and flushed, so it must see
//! block *n*'s changes before the store has them: those wait here as pending layers, newest
//! first, until the persist stage reports them durable. Actors, keys and sites are read on
//! nearly every event and decoding a key record costs an Ed25519 point decompression, so they
//! are cached; only this thread writes the ledger, so the cache is exact — every block's changes
//! update it as soon as the block is validated.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::ledger::{
    ActorRecord, BatchRecord, EventRecord, GenesisRecord, KeyRecord, PrefixRecord, SiteRecord,
    StateChanges, StateError, StateView,
};
use crate::model::ids::{ActorId, BatchId, BatchPrefix, EventId, SiteId};
use crate::model::KeyId;
use crate::store::{Block, Store};

/// A validated block, waiting to become durable; its state changes are read from here.
pub(super) struct PendingLayer {
    /// Tree size once this block is durable.
    pub(super) end_size: u64,
    /// The block (shared with the persist stage, not copied).
    pub(super) block: Arc<Block>,
}

#[derive(Default)]
struct RegistryCache {
    genesis: Option<GenesisRecord>,
    actors: HashMap<ActorId, Option<ActorRecord>>,
    keys: HashMap<KeyId, Option<KeyRecord>>,
    sites: HashMap<SiteId, Option<SiteRecord>>,
}

/// Store + pending layers + registry cache.
pub(super) struct PendingView {
    store: Store,
    layers: VecDeque<PendingLayer>,
    cache: RefCell<RegistryCache>,
}

fn cached<K, V>(
    map: &mut HashMap<K, Option<V>>,
    key: &K,
    load: impl FnOnce() -> Result<Option<V>, StateError>,
) -> Result<Option<V>, StateError>
where
    K: std::hash::Hash + Eq + Clone,
    V: Clone,
{
    if let Some(hit) = map.get(key) {
        return Ok(hit.clone());
    }
    let loaded = load()?;
    // Only what exists is cached: lookups of unknown ids (bad submissions) must not grow it.
    if loaded.is_some() {
        map.insert(key.clone(), loaded.clone());
    }
    Ok(loaded)
}

impl PendingView {
    pub(super) fn new(store: Store) -> PendingView {
        PendingView {
            store,
            layers: VecDeque::new(),
            cache: RefCell::new(RegistryCache::default()),
        }
    }

    /// Adds a validated block's changes (newest) and brings the registry cache up to date.
    pub(super) fn push(&mut self, layer: PendingLayer) {
        let cache = self.cache.get_mut();
        let changes = &layer.block.changes;
        if let Some(genesis) = &changes.genesis {
            cache.genesis = Some(genesis.clone());
        }
        for (id, record) in &changes.actors {
            cache.actors.insert(id.clone(), Some(record.clone()));
        }
        for (id, record) in &changes.keys {
            cache.keys.insert(*id, Some(record.clone()));
        }
        for (id, record) in &changes.sites {
            cache.sites.insert(id.clone(), Some(record.clone()));
        }
        self.layers.push_back(layer);
    }

    /// Forgets the layers that the store now holds (tree size `durable` reached).
    pub(super) fn durable(&mut self, durable: u64) {
        while self.layers.front().is_some_and(|l| l.end_size <= durable) {
            self.layers.pop_front();
        }
    }

    /// Drops every pending layer and the cache: after a failed write, the store is the truth.
    pub(super) fn reset(&mut self) {
        self.layers.clear();
        *self.cache.get_mut() = RegistryCache::default();
    }

    fn pending<T: Clone>(&self, find: impl Fn(&StateChanges) -> Option<&T>) -> Option<T> {
        self.layers
            .iter()
            .rev()
            .find_map(|l| find(&l.block.changes).cloned())
    }
}

impl StateView for PendingView {
    fn genesis(&self) -> Result<Option<GenesisRecord>, StateError> {
        let mut cache = self.cache.borrow_mut();
        if cache.genesis.is_none() {
            cache.genesis = self.store.genesis()?;
        }
        Ok(cache.genesis.clone())
    }

    fn actor(&self, id: &ActorId) -> Result<Option<ActorRecord>, StateError> {
        cached(&mut self.cache.borrow_mut().actors, id, || {
            self.store.actor(id)
        })
    }

    fn key(&self, id: &KeyId) -> Result<Option<KeyRecord>, StateError> {
        cached(&mut self.cache.borrow_mut().keys, id, || self.store.key(id))
    }

    fn site(&self, id: &SiteId) -> Result<Option<SiteRecord>, StateError> {
        cached(&mut self.cache.borrow_mut().sites, id, || {
            self.store.site(id)
        })
    }

    fn batch(&self, id: &BatchId) -> Result<Option<BatchRecord>, StateError> {
        match self.pending(|c| c.batches.get(id)) {
            Some(record) => Ok(Some(record)),
            None => self.store.batch(id),
        }
    }

    fn event(&self, actor: &ActorId, id: &EventId) -> Result<Option<EventRecord>, StateError> {
        let key = (actor.clone(), id.clone());
        match self.pending(|c| c.events.get(&key)) {
            Some(record) => Ok(Some(record)),
            None => self.store.event(actor, id),
        }
    }

    fn prefix(&self, prefix: &BatchPrefix) -> Result<Option<PrefixRecord>, StateError> {
        match self.pending(|c| c.prefixes.get(prefix)) {
            Some(record) => Ok(Some(record)),
            None => self.store.prefix(prefix),
        }
    }

    fn controls(
        &self,
        jurisdiction: &crate::model::ids::CountryCode,
    ) -> Result<Option<crate::ledger::ControlsRecord>, StateError> {
        match self.pending(|c| c.controls.get(jurisdiction)) {
            Some(record) => Ok(Some(record)),
            None => self.store.controls(jurisdiction),
        }
    }

    fn licence(
        &self,
        id: &crate::model::ids::EventId,
    ) -> Result<Option<crate::ledger::LicenceRecord>, StateError> {
        match self.pending(|c| c.licences.get(id)) {
            Some(record) => Ok(Some(record)),
            None => self.store.licence(id),
        }
    }

    fn quotas(&self, actor: &ActorId) -> Result<Option<crate::ledger::QuotaBook>, StateError> {
        match self.pending(|c| c.quotas.get(actor)) {
            Some(record) => Ok(Some(record)),
            None => self.store.quotas(actor),
        }
    }
}
