//! The ledger state: records keyed under one-byte prefixes in an ordered key-value database
//! (sled on disk, a B-tree in memory), and the log size the state reflects.
//!
//! The state is a pure function of the log (DESIGN.md §3.1), so this database is a cache the
//! log can always rebuild: it is written after the log is durable and flushed in the background;
//! after a crash, opening the ledger replays the log's tail past [`StateRecords::applied`].
//!
//! | key | value |
//! | --- | --- |
//! | `M` `applied` | u64 LE: the log size this state reflects |
//! | `G` | the genesis record |
//! | `A` ‖ actor id | actor record |
//! | `K` ‖ key id (32 bytes) | key record |
//! | `S` ‖ site id | site record |
//! | `B` ‖ batch id | batch record |
//! | `V` ‖ actor id ‖ 0x00 ‖ event id | event record (entry index and envelope digest, for idempotency; event ids are unique per actor) |
//! | `P` ‖ prefix | prefix record: who holds a batch id prefix, or the beginning of one |
//! | `X` ‖ site id ‖ 0x00 ‖ batch id | index of the batches extracted at a site (recall by mine) |
//! | `J` ‖ country code | export-control rule book of a jurisdiction: every published rule and its suspensions (issue 17) |
//! | `L` ‖ licence id | export licence and what is left of it (issue 17) |
//! | `Q` ‖ actor id | an actor's production quotas and their use (issue 17) |
//!
//! Records are bincode 2.0.1 (serde, standard configuration).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::{de::DeserializeOwned, Serialize};

use super::StoreError;
use crate::ledger::{
    ActorRecord, BatchOrigin, BatchRecord, EventRecord, GenesisRecord, KeyRecord, PrefixRecord,
    SiteRecord, StateChanges, StateError, StateView,
};
use crate::model::ids::{ActorId, BatchId, BatchPrefix, EventId, SiteId};
use crate::model::KeyId;

/// Key-value pairs, in key order.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// An ordered key-value database with atomic batches: all the state needs of its storage.
pub trait RecordDb: Send + Sync {
    /// One value.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Every pair whose key starts with `prefix`, in key order.
    fn scan_prefix(&self, prefix: &[u8]) -> Result<Pairs, StoreError>;
    /// The keys that start with `prefix` and are at least `from`, in key order, at most
    /// `limit` of them (paged listings, without reading the values).
    fn keys_from(
        &self,
        prefix: &[u8],
        from: &[u8],
        limit: usize,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        Ok(self
            .scan_prefix(prefix)?
            .into_iter()
            .map(|(k, _)| k)
            .filter(|k| k.as_slice() >= from)
            .take(limit)
            .collect())
    }
    /// Inserts all `writes` atomically (all or none are ever visible, before or after a crash).
    fn apply(&self, writes: Vec<(Vec<u8>, Vec<u8>)>) -> Result<(), StoreError>;
    /// Removes every record.
    fn clear(&self) -> Result<(), StoreError>;
    /// Makes what was applied durable.
    fn flush(&self) -> Result<(), StoreError>;
    /// Bytes used on disk.
    fn size_on_disk(&self) -> u64;
}

impl<T: RecordDb + ?Sized> RecordDb for Box<T> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).get(key)
    }
    fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        (**self).scan_prefix(prefix)
    }
    fn keys_from(
        &self,
        prefix: &[u8],
        from: &[u8],
        limit: usize,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        (**self).keys_from(prefix, from, limit)
    }
    fn apply(&self, writes: Vec<(Vec<u8>, Vec<u8>)>) -> Result<(), StoreError> {
        (**self).apply(writes)
    }
    fn clear(&self) -> Result<(), StoreError> {
        (**self).clear()
    }
    fn flush(&self) -> Result<(), StoreError> {
        (**self).flush()
    }
    fn size_on_disk(&self) -> u64 {
        (**self).size_on_disk()
    }
}

/// sled, flushed in the background (every 500 ms) and on [`RecordDb::flush`].
pub struct SledDb {
    db: sled::Db,
}

impl SledDb {
    /// Wraps an open sled database.
    pub fn new(db: sled::Db) -> SledDb {
        SledDb { db }
    }
}

impl RecordDb for SledDb {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get(key)?.map(|v| v.to_vec()))
    }
    fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        self.db
            .scan_prefix(prefix)
            .map(|kv| {
                let (k, v) = kv?;
                Ok((k.to_vec(), v.to_vec()))
            })
            .collect()
    }
    fn keys_from(
        &self,
        prefix: &[u8],
        from: &[u8],
        limit: usize,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let start = if from > prefix { from } else { prefix };
        let mut keys = Vec::new();
        for key in self.db.range(start..).keys() {
            let key = key?;
            if !key.starts_with(prefix) || keys.len() >= limit {
                break;
            }
            keys.push(key.to_vec());
        }
        Ok(keys)
    }
    fn apply(&self, writes: Vec<(Vec<u8>, Vec<u8>)>) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for (k, v) in writes {
            batch.insert(k, v);
        }
        Ok(self.db.apply_batch(batch)?)
    }
    fn clear(&self) -> Result<(), StoreError> {
        Ok(self.db.clear()?)
    }
    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }
    fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }
}

/// A B-tree in memory with a "flushed" copy: [`MemDb::power_loss`] goes back to it.
#[derive(Clone, Default)]
pub struct MemDb {
    inner: Arc<Mutex<MemDbInner>>,
}

#[derive(Default)]
struct MemDbInner {
    current: BTreeMap<Vec<u8>, Vec<u8>>,
    flushed: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl MemDb {
    /// Forgets everything applied since the last flush.
    pub fn power_loss(&self) {
        let mut inner = self.inner.lock().expect("memdb lock");
        inner.current = inner.flushed.clone();
    }
}

impl RecordDb for MemDb {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .inner
            .lock()
            .expect("memdb lock")
            .current
            .get(key)
            .cloned())
    }
    fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        let inner = self.inner.lock().expect("memdb lock");
        Ok(inner
            .current
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
    fn apply(&self, writes: Vec<(Vec<u8>, Vec<u8>)>) -> Result<(), StoreError> {
        let mut inner = self.inner.lock().expect("memdb lock");
        inner.current.extend(writes);
        Ok(())
    }
    fn clear(&self) -> Result<(), StoreError> {
        self.inner.lock().expect("memdb lock").current.clear();
        Ok(())
    }
    fn flush(&self) -> Result<(), StoreError> {
        let mut inner = self.inner.lock().expect("memdb lock");
        inner.flushed = inner.current.clone();
        Ok(())
    }
    fn size_on_disk(&self) -> u64 {
        let inner = self.inner.lock().expect("memdb lock");
        inner
            .current
            .iter()
            .map(|(k, v)| (k.len() + v.len()) as u64)
            .sum()
    }
}

const APPLIED: &[u8] = b"Mapplied";
const GENESIS: &[u8] = b"G";
const ACTOR: u8 = b'A';
const KEY: u8 = b'K';
const SITE: u8 = b'S';
const BATCH: u8 = b'B';
const EVENT: u8 = b'V';
const PREFIX: u8 = b'P';
const SITE_EXTRACT: u8 = b'X';
const CONTROLS: u8 = b'J';
const LICENCE: u8 = b'L';
const QUOTAS: u8 = b'Q';

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

/// The key-value writes that record a block's state `changes` and the log size `applied` they
/// bring the state to: what [`StateRecords::commit`] applies, and what a backend that commits
/// the log and the state in one transaction (PostgreSQL) writes inside it. Every record type is
/// encoded here once, so each backend stores every record the same way.
pub fn writes(changes: &StateChanges, applied: u64) -> Pairs {
    let mut writes = Vec::new();
    if let Some(genesis) = &changes.genesis {
        writes.push((GENESIS.to_vec(), encode(genesis)));
    }
    for (id, record) in &changes.actors {
        writes.push((named_key(ACTOR, id.as_ref().as_bytes()), encode(record)));
    }
    for (id, record) in &changes.keys {
        writes.push((named_key(KEY, &id.0 .0), encode(record)));
    }
    for (id, record) in &changes.sites {
        writes.push((named_key(SITE, id.as_ref().as_bytes()), encode(record)));
    }
    for (id, record) in &changes.batches {
        writes.push((named_key(BATCH, id.as_ref().as_bytes()), encode(record)));
        if let BatchOrigin::Extracted { site } = &record.origin {
            writes.push((site_extract_key(site, id), Vec::new()));
        }
    }
    for ((actor, id), record) in &changes.events {
        writes.push((event_key(actor, id), encode(record)));
    }
    for (prefix, record) in &changes.prefixes {
        writes.push((
            named_key(PREFIX, prefix.as_ref().as_bytes()),
            encode(record),
        ));
    }
    for (country, record) in &changes.controls {
        writes.push((
            named_key(CONTROLS, country.as_ref().as_bytes()),
            encode(record),
        ));
    }
    for (id, record) in &changes.licences {
        writes.push((named_key(LICENCE, id.as_ref().as_bytes()), encode(record)));
    }
    for (actor, record) in &changes.quotas {
        writes.push((named_key(QUOTAS, actor.as_ref().as_bytes()), encode(record)));
    }
    writes.push((APPLIED.to_vec(), applied.to_le_bytes().to_vec()));
    writes
}

/// The ledger state over a [`RecordDb`].
pub struct StateRecords<D> {
    db: D,
}

impl<D: RecordDb> StateRecords<D> {
    /// The state kept in `db`.
    pub fn new(db: D) -> Self {
        StateRecords { db }
    }

    /// The database.
    pub fn db(&self) -> &D {
        &self.db
    }

    /// Log size this state reflects (0 for an empty state).
    pub fn applied(&self) -> Result<u64, StoreError> {
        match self.db.get(APPLIED)? {
            None => Ok(0),
            Some(bytes) => bytes
                .as_slice()
                .try_into()
                .map(u64::from_le_bytes)
                .map_err(|_| StoreError::Corrupt {
                    what: "applied size".into(),
                    detail: format!("{} bytes", bytes.len()),
                }),
        }
    }

    /// Writes a block's state changes and the log size they bring the state to, atomically.
    pub fn commit(&self, changes: &StateChanges, applied: u64) -> Result<(), StoreError> {
        self.db.apply(writes(changes, applied))
    }

    /// Batch ids extracted at `site`.
    pub fn extracts_at(&self, site: &SiteId) -> Result<Vec<BatchId>, StoreError> {
        let mut prefix = named_key(SITE_EXTRACT, site.as_ref().as_bytes());
        prefix.push(0);
        self.db
            .scan_prefix(&prefix)?
            .into_iter()
            .map(|(k, _)| {
                let raw = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
                raw.parse().map_err(|_| StoreError::Corrupt {
                    what: "site index".into(),
                    detail: raw,
                })
            })
            .collect()
    }

    /// Up to `limit` batch ids, in id order, from `from` on (inclusive; `""` for the first).
    pub fn batch_ids_from(&self, from: &str, limit: usize) -> Result<Vec<BatchId>, StoreError> {
        self.db
            .keys_from(&[BATCH], &named_key(BATCH, from.as_bytes()), limit)?
            .into_iter()
            .map(|k| {
                let raw = String::from_utf8_lossy(&k[1..]).into_owned();
                raw.parse().map_err(|_| StoreError::Corrupt {
                    what: "batch key".into(),
                    detail: raw,
                })
            })
            .collect()
    }

    /// Every registered actor, ordered by id.
    pub fn actors(&self) -> Result<Vec<ActorRecord>, StoreError> {
        self.db
            .scan_prefix(&[ACTOR])?
            .into_iter()
            .map(|(_, v)| decode("actor", &v))
            .collect()
    }

    /// Every batch, ordered by id.
    pub fn batches(&self) -> Result<Vec<BatchRecord>, StoreError> {
        self.db
            .scan_prefix(&[BATCH])?
            .into_iter()
            .map(|(_, v)| decode("batch", &v))
            .collect()
    }

    fn record<T: DeserializeOwned>(&self, what: &str, key: &[u8]) -> Result<Option<T>, StateError> {
        let state_error = |e: StoreError| StateError {
            message: e.to_string(),
        };
        self.db
            .get(key)
            .map_err(state_error)?
            .map(|b| decode(what, &b).map_err(state_error))
            .transpose()
    }
}

impl<D: RecordDb> StateView for StateRecords<D> {
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
    fn controls(
        &self,
        jurisdiction: &crate::model::ids::CountryCode,
    ) -> Result<Option<crate::ledger::ControlsRecord>, StateError> {
        self.record(
            "controls",
            &named_key(CONTROLS, jurisdiction.as_ref().as_bytes()),
        )
    }
    fn licence(&self, id: &EventId) -> Result<Option<crate::ledger::LicenceRecord>, StateError> {
        self.record("licence", &named_key(LICENCE, id.as_ref().as_bytes()))
    }
    fn quotas(&self, actor: &ActorId) -> Result<Option<crate::ledger::QuotaBook>, StateError> {
        self.record("quotas", &named_key(QUOTAS, actor.as_ref().as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{LicenceRecord, QuotaBook, QuotaRecord};
    use crate::model::ids::{CountryCode, Grams};
    use crate::model::material::{Element, QuotaStage};

    /// The export-control records (issue 17) go through the same key/value pairs as every other
    /// record, so each backend that stores these pairs keeps them.
    #[test]
    fn export_control_records_round_trip() {
        let records = StateRecords::new(MemDb::default());
        let cn: CountryCode = "CN".parse().unwrap();
        let at: crate::model::ids::Timestamp = "2025-04-04T00:00:00Z".parse().unwrap();
        let mut changes = StateChanges::default();
        changes.controls.insert(
            cn.clone(),
            crate::ledger::ControlsRecord {
                jurisdiction: cn.clone(),
                rules: vec![crate::ledger::ControlRule {
                    rule: "mofcom-gac-2025-18".parse().unwrap(),
                    issuer: "mofcom".parse().unwrap(),
                    source: "No. 18".into(),
                    elements: [Element::Dy].into(),
                    forms: Default::default(),
                    magnet_elements: [Element::Dy].into(),
                    value_threshold_per_mille: None,
                    effective_from: at.clone(),
                    effective_until: None,
                    published_in: 3,
                    suspensions: Vec::new(),
                }],
            },
        );
        let licence = LicenceRecord {
            licence: "LIC-1".parse().unwrap(),
            issuer: "mofcom".parse().unwrap(),
            exporter: "nre".parse().unwrap(),
            consignee: "tdk".parse().unwrap(),
            destination: "JP".parse().unwrap(),
            elements: [Element::Dy].into(),
            forms: Default::default(),
            quantity_g: Grams(5),
            remaining_g: Grams(2),
            valid_from: at.clone(),
            valid_until: "2026-04-04T00:00:00Z".parse().unwrap(),
            end_use: "motors".into(),
            issued_in: 4,
            revoked_in: None,
            uses: Vec::new(),
        };
        changes
            .licences
            .insert(licence.licence.clone(), licence.clone());
        let book = QuotaBook {
            actor: "nre".parse().unwrap(),
            quotas: vec![QuotaRecord {
                stage: QuotaStage::Mining,
                year: 2026,
                quota_g: Grams(10),
                used_g: Grams(3),
                source: None,
                set_in: vec![5],
                used_in: vec![6],
            }],
        };
        changes.quotas.insert(book.actor.clone(), book.clone());
        records.commit(&changes, 7).unwrap();
        assert_eq!(
            records.controls(&cn).unwrap(),
            changes.controls.get(&cn).cloned()
        );
        assert_eq!(records.licence(&licence.licence).unwrap(), Some(licence));
        assert_eq!(records.quotas(&book.actor).unwrap(), Some(book));
        // Under their own one-byte prefixes.
        for prefix in [b'J', b'L', b'Q'] {
            assert_eq!(records.db().scan_prefix(&[prefix]).unwrap().len(), 1);
        }
    }
}
