//! Pending state writes over a read-only base view, and the in-memory state.
//!
//! The sequencer validates a block of entries one after another against an [`Overlay`] over the
//! stored state, then hands the overlay's [`StateChanges`] to the store, which writes them in the
//! same atomic batch as the entries. [`MemState`] is the whole state in memory: tests, replays
//! and offline audits.

use std::collections::BTreeMap;

use crate::model::ids::{ActorId, BatchId, BatchPrefix, CountryCode, EventId, SiteId};
use crate::model::keys::KeyId;

use super::controls_state::{ControlsRecord, LicenceRecord, QuotaBook};
use super::state::{
    ActorRecord, BatchRecord, EventRecord, GenesisRecord, KeyRecord, PrefixRecord, SiteRecord,
    StateError, StateView,
};

/// An event id as the ledger keys it: event ids are unique per actor.
pub type EventKey = (ActorId, EventId);

/// The full new value of every record a run of entries touched. The store writes them as they
/// are; applying them to the base view gives the state after those entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateChanges {
    /// Set by the genesis entry.
    pub genesis: Option<GenesisRecord>,
    /// Touched actors.
    pub actors: BTreeMap<ActorId, ActorRecord>,
    /// Touched keys.
    pub keys: BTreeMap<KeyId, KeyRecord>,
    /// Touched sites.
    pub sites: BTreeMap<SiteId, SiteRecord>,
    /// Touched batches.
    pub batches: BTreeMap<BatchId, BatchRecord>,
    /// New event ids, per actor.
    pub events: BTreeMap<EventKey, EventRecord>,
    /// New batch id prefixes and their beginnings.
    pub prefixes: BTreeMap<BatchPrefix, PrefixRecord>,
    /// Touched export-control rule books, by jurisdiction.
    pub controls: BTreeMap<CountryCode, ControlsRecord>,
    /// Touched export licences.
    pub licences: BTreeMap<EventId, LicenceRecord>,
    /// Touched quota books, by actor.
    pub quotas: BTreeMap<ActorId, QuotaBook>,
}

impl StateChanges {
    /// Whether nothing was touched.
    pub fn is_empty(&self) -> bool {
        self.genesis.is_none()
            && self.actors.is_empty()
            && self.keys.is_empty()
            && self.sites.is_empty()
            && self.batches.is_empty()
            && self.events.is_empty()
            && self.prefixes.is_empty()
            && self.controls.is_empty()
            && self.licences.is_empty()
            && self.quotas.is_empty()
    }

    /// Lays `later` over these changes (later values win).
    pub fn merge(&mut self, later: StateChanges) {
        if later.genesis.is_some() {
            self.genesis = later.genesis;
        }
        self.actors.extend(later.actors);
        self.keys.extend(later.keys);
        self.sites.extend(later.sites);
        self.batches.extend(later.batches);
        self.events.extend(later.events);
        self.prefixes.extend(later.prefixes);
        self.controls.extend(later.controls);
        self.licences.extend(later.licences);
        self.quotas.extend(later.quotas);
    }
}

/// Pending writes over a base view; reads see the writes first. Itself a [`StateView`], so
/// overlays nest: the rules stage one event in an inner overlay and merge it only on success.
pub struct Overlay<'a, S: StateView + ?Sized> {
    base: &'a S,
    changes: StateChanges,
}

impl<'a, S: StateView + ?Sized> Overlay<'a, S> {
    /// No pending writes over `base`.
    pub fn new(base: &'a S) -> Self {
        Overlay {
            base,
            changes: StateChanges::default(),
        }
    }

    /// The pending writes.
    pub fn changes(&self) -> &StateChanges {
        &self.changes
    }

    /// Gives up the base and returns the pending writes.
    pub fn into_changes(self) -> StateChanges {
        self.changes
    }

    /// Adds writes on top of the pending ones.
    pub fn merge(&mut self, later: StateChanges) {
        self.changes.merge(later);
    }

    /// Writes the genesis record.
    pub fn put_genesis(&mut self, record: GenesisRecord) {
        self.changes.genesis = Some(record);
    }

    /// Writes an actor.
    pub fn put_actor(&mut self, record: ActorRecord) {
        self.changes.actors.insert(record.id.clone(), record);
    }

    /// Writes a key.
    pub fn put_key(&mut self, record: KeyRecord) {
        self.changes.keys.insert(record.key_id, record);
    }

    /// Writes a site.
    pub fn put_site(&mut self, record: SiteRecord) {
        self.changes.sites.insert(record.id.clone(), record);
    }

    /// Writes a batch.
    pub fn put_batch(&mut self, record: BatchRecord) {
        self.changes.batches.insert(record.id.clone(), record);
    }

    /// Records the use of an event id by an actor.
    pub fn put_event(&mut self, actor: ActorId, id: EventId, record: EventRecord) {
        self.changes.events.insert((actor, id), record);
    }

    /// Writes a prefix record.
    pub fn put_prefix(&mut self, prefix: BatchPrefix, record: PrefixRecord) {
        self.changes.prefixes.insert(prefix, record);
    }

    /// Writes a jurisdiction's rule book.
    pub fn put_controls(&mut self, record: ControlsRecord) {
        self.changes
            .controls
            .insert(record.jurisdiction.clone(), record);
    }

    /// Writes a licence.
    pub fn put_licence(&mut self, record: LicenceRecord) {
        self.changes.licences.insert(record.licence.clone(), record);
    }

    /// Writes an actor's quota book.
    pub fn put_quotas(&mut self, record: QuotaBook) {
        self.changes.quotas.insert(record.actor.clone(), record);
    }
}

impl<S: StateView + ?Sized> StateView for Overlay<'_, S> {
    fn genesis(&self) -> Result<Option<GenesisRecord>, StateError> {
        match &self.changes.genesis {
            Some(g) => Ok(Some(g.clone())),
            None => self.base.genesis(),
        }
    }
    fn actor(&self, id: &ActorId) -> Result<Option<ActorRecord>, StateError> {
        match self.changes.actors.get(id) {
            Some(r) => Ok(Some(r.clone())),
            None => self.base.actor(id),
        }
    }
    fn key(&self, id: &KeyId) -> Result<Option<KeyRecord>, StateError> {
        match self.changes.keys.get(id) {
            Some(r) => Ok(Some(r.clone())),
            None => self.base.key(id),
        }
    }
    fn site(&self, id: &SiteId) -> Result<Option<SiteRecord>, StateError> {
        match self.changes.sites.get(id) {
            Some(r) => Ok(Some(r.clone())),
            None => self.base.site(id),
        }
    }
    fn batch(&self, id: &BatchId) -> Result<Option<BatchRecord>, StateError> {
        match self.changes.batches.get(id) {
            Some(r) => Ok(Some(r.clone())),
            None => self.base.batch(id),
        }
    }
    fn event(&self, actor: &ActorId, id: &EventId) -> Result<Option<EventRecord>, StateError> {
        match self.changes.events.get(&(actor.clone(), id.clone())) {
            Some(r) => Ok(Some(r.clone())),
            None => self.base.event(actor, id),
        }
    }
    fn prefix(&self, prefix: &BatchPrefix) -> Result<Option<PrefixRecord>, StateError> {
        match self.changes.prefixes.get(prefix) {
            Some(r) => Ok(Some(r.clone())),
            None => self.base.prefix(prefix),
        }
    }
    fn controls(&self, jurisdiction: &CountryCode) -> Result<Option<ControlsRecord>, StateError> {
        match self.changes.controls.get(jurisdiction) {
            Some(r) => Ok(Some(r.clone())),
            None => self.base.controls(jurisdiction),
        }
    }
    fn licence(&self, id: &EventId) -> Result<Option<LicenceRecord>, StateError> {
        match self.changes.licences.get(id) {
            Some(r) => Ok(Some(r.clone())),
            None => self.base.licence(id),
        }
    }
    fn quotas(&self, actor: &ActorId) -> Result<Option<QuotaBook>, StateError> {
        match self.changes.quotas.get(actor) {
            Some(r) => Ok(Some(r.clone())),
            None => self.base.quotas(actor),
        }
    }
}

/// The whole ledger state in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemState {
    genesis: Option<GenesisRecord>,
    actors: BTreeMap<ActorId, ActorRecord>,
    keys: BTreeMap<KeyId, KeyRecord>,
    sites: BTreeMap<SiteId, SiteRecord>,
    batches: BTreeMap<BatchId, BatchRecord>,
    events: BTreeMap<EventKey, EventRecord>,
    prefixes: BTreeMap<BatchPrefix, PrefixRecord>,
    controls: BTreeMap<CountryCode, ControlsRecord>,
    licences: BTreeMap<EventId, LicenceRecord>,
    quotas: BTreeMap<ActorId, QuotaBook>,
}

impl MemState {
    /// An empty ledger (before genesis).
    pub fn new() -> Self {
        MemState::default()
    }

    /// Writes every record of `changes`.
    pub fn apply_changes(&mut self, changes: StateChanges) {
        if changes.genesis.is_some() {
            self.genesis = changes.genesis;
        }
        self.actors.extend(changes.actors);
        self.keys.extend(changes.keys);
        self.sites.extend(changes.sites);
        self.batches.extend(changes.batches);
        self.events.extend(changes.events);
        self.prefixes.extend(changes.prefixes);
        self.controls.extend(changes.controls);
        self.licences.extend(changes.licences);
        self.quotas.extend(changes.quotas);
    }

    /// Every jurisdiction's rule book, by country.
    pub fn controls_books(&self) -> impl Iterator<Item = &ControlsRecord> {
        self.controls.values()
    }

    /// Every licence, by id.
    pub fn licences(&self) -> impl Iterator<Item = &LicenceRecord> {
        self.licences.values()
    }

    /// Every quota book, by actor.
    pub fn quota_books(&self) -> impl Iterator<Item = &QuotaBook> {
        self.quotas.values()
    }

    /// Every batch, by id.
    pub fn batches(&self) -> impl Iterator<Item = &BatchRecord> {
        self.batches.values()
    }

    /// Every actor, by id.
    pub fn actors(&self) -> impl Iterator<Item = &ActorRecord> {
        self.actors.values()
    }

    /// Every site, by id.
    pub fn sites(&self) -> impl Iterator<Item = &SiteRecord> {
        self.sites.values()
    }

    /// Every key, by key id.
    pub fn keys(&self) -> impl Iterator<Item = &KeyRecord> {
        self.keys.values()
    }

    /// Every used event id and its entry, by actor and id.
    pub fn events(&self) -> impl Iterator<Item = (&EventKey, &EventRecord)> {
        self.events.iter()
    }

    /// Every registered prefix and prefix beginning.
    pub fn prefixes(&self) -> impl Iterator<Item = (&BatchPrefix, &PrefixRecord)> {
        self.prefixes.iter()
    }
}

impl StateView for MemState {
    fn genesis(&self) -> Result<Option<GenesisRecord>, StateError> {
        Ok(self.genesis.clone())
    }
    fn actor(&self, id: &ActorId) -> Result<Option<ActorRecord>, StateError> {
        Ok(self.actors.get(id).cloned())
    }
    fn key(&self, id: &KeyId) -> Result<Option<KeyRecord>, StateError> {
        Ok(self.keys.get(id).cloned())
    }
    fn site(&self, id: &SiteId) -> Result<Option<SiteRecord>, StateError> {
        Ok(self.sites.get(id).cloned())
    }
    fn batch(&self, id: &BatchId) -> Result<Option<BatchRecord>, StateError> {
        Ok(self.batches.get(id).cloned())
    }
    fn event(&self, actor: &ActorId, id: &EventId) -> Result<Option<EventRecord>, StateError> {
        Ok(self.events.get(&(actor.clone(), id.clone())).cloned())
    }
    fn prefix(&self, prefix: &BatchPrefix) -> Result<Option<PrefixRecord>, StateError> {
        Ok(self.prefixes.get(prefix).cloned())
    }
    fn controls(&self, jurisdiction: &CountryCode) -> Result<Option<ControlsRecord>, StateError> {
        Ok(self.controls.get(jurisdiction).cloned())
    }
    fn licence(&self, id: &EventId) -> Result<Option<LicenceRecord>, StateError> {
        Ok(self.licences.get(id).cloned())
    }
    fn quotas(&self, actor: &ActorId) -> Result<Option<QuotaBook>, StateError> {
        Ok(self.quotas.get(actor).cloned())
    }
}
