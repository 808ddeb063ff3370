//! The ledger state: one record per genesis, actor, key, site, batch and event id, and the
//! [`StateView`] seam through which the rules read it.
//!
//! Records are what the store keeps (bincode-serde, DESIGN.md §2.2 configuration), so they use
//! only plain structs, `Option`, `Vec`, maps and enums: no `flatten`, no `skip_serializing_if`,
//! no untagged enums, which a non-self-describing format cannot read back. Every enum value in
//! them is stored by a pinned number, never by its declaration position (`model::material` for
//! the named enums, [`super::pinned`] for [`BatchStatus`] and [`BatchOrigin`]); docs/FORMAT.md,
//! "Stored records", has the layout and `tests/ledger_records.rs` the golden bytes.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::log::Hash;
use crate::model::composition::Composition;
use crate::model::ids::{
    ActorId, BatchId, BatchPrefix, CountryCode, DocumentDigest, EventId, Grams, SiteId, Timestamp,
};
use crate::model::keys::{KeyId, PublicKey};
use crate::model::material::{Claim, Element, Form, Process, RetireReason, Role, SiteKind};

/// The ledger's genesis: entry 0.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct GenesisRecord {
    /// The checkpoint origin line.
    pub origin: String,
    /// The authority actor genesis created.
    pub authority: ActorId,
    /// The authority's first key.
    pub public_key: PublicKey,
    /// The entry index (always 0).
    pub index: u64,
    /// How many days before its registration an actor may date its events.
    pub backfill_days: u32,
}

/// A registered participant.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ActorRecord {
    /// Its id.
    pub id: ActorId,
    /// Its current name.
    pub name: String,
    /// Its current country.
    pub country: CountryCode,
    /// Its current roles.
    pub roles: BTreeSet<Role>,
    /// Its sites, in registration order.
    pub sites: Vec<SiteId>,
    /// Every key it ever had, revoked ones included, in registration order.
    pub keys: Vec<KeyRecord>,
    /// Every registry entry about it (genesis, register, update, revoke), for bundles.
    pub entries: Vec<u64>,
    /// The batch id prefixes it may create batches under, in registration order.
    pub prefixes: Vec<BatchPrefix>,
    /// `occurred_at` of the entry that registered it (genesis for the first authority): its
    /// events may be dated at most the genesis backfill window before it.
    pub registered_at: Timestamp,
}

impl ActorRecord {
    /// Whether it has at least one role of `allowed`.
    pub fn has_any_role(&self, allowed: &[Role]) -> bool {
        self.roles.iter().any(|r| allowed.contains(r))
    }

    /// Whether it may create `batch`: the id starts with one of its prefixes.
    pub fn owns_batch_id(&self, batch: &BatchId) -> bool {
        self.prefixes.iter().any(|p| p.covers(batch))
    }

    /// Its keys that are not revoked.
    pub fn live_keys(&self) -> impl Iterator<Item = &KeyRecord> {
        self.keys.iter().filter(|k| k.revoked_at.is_none())
    }
}

/// A participant's key.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct KeyRecord {
    /// SHA-256 of the key.
    pub key_id: KeyId,
    /// The key.
    pub public_key: PublicKey,
    /// Whose key.
    pub actor: ActorId,
    /// The entry that added it.
    pub added_at: u64,
    /// The entry that revoked it: signatures by it count for no entry after that one.
    pub revoked_at: Option<u64>,
}

/// A mine or plant.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct SiteRecord {
    /// Its id (unique across the ledger).
    pub id: SiteId,
    /// Its owner.
    pub owner: ActorId,
    /// Its name.
    pub name: String,
    /// Where it is.
    pub country: CountryCode,
    /// Mine or plant.
    pub kind: SiteKind,
}

/// Where a batch stands. Stored by pinned variant number (`ledger::pinned`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BatchStatus {
    /// Held by its custodian; may be used.
    Active,
    /// Shipped, not yet received.
    InTransit {
        /// The addressee.
        to: ActorId,
        /// Mass shipped (the whole remaining mass at shipping).
        shipped_g: Grams,
    },
    /// Its whole mass went into transforms.
    Consumed,
    /// Ended by a `retire` event.
    Retired {
        /// Why.
        reason: RetireReason,
    },
}

/// How a batch came to be. Stored by pinned variant number (`ledger::pinned`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BatchOrigin {
    /// Created by an `extract` at a mine.
    Extracted {
        /// The mine.
        site: SiteId,
    },
    /// Created by a `transform`.
    Transformed {
        /// The process.
        process: Process,
        /// Each input and the mass taken from it, in event order.
        inputs: Vec<(BatchId, Grams)>,
        /// Total untracked additives.
        additives_g: Grams,
        /// Total mass of all outputs of that transform (for proportional origin shares).
        outputs_total_g: Grams,
    },
}

/// A claim a certifier attached to a batch.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct CertificateRecord {
    /// The `certify` entry.
    pub index: u64,
    /// Who certified.
    pub certifier: ActorId,
    /// What kind of claim.
    pub claim: Claim,
    /// The claim in words.
    pub statement: String,
    /// SHA-256 of the document.
    pub document_sha256: DocumentDigest,
    /// When, as the certifier stated it.
    pub occurred_at: Timestamp,
}

/// A measured composition an `assay` certificate attached to a batch.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct AssayComposition {
    /// The `certify` entry (also in [`BatchRecord::certificates`]).
    pub index: u64,
    /// What the assay measured (elemental basis).
    pub composition: Composition,
}

/// A batch of material.
///
/// Stored with a trailer (`ledger::trailer`): the fields up to `last_event_at` are encoded as
/// they always were; `composition` and `assays`, which came later (issue 12), follow only when
/// one of them is set. A record written before they existed decodes with neither, and a record
/// without them encodes to exactly the old bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchRecord {
    /// Its id.
    pub id: BatchId,
    /// Its form.
    pub form: Form,
    /// Rare earths it is declared to contain (may be empty: not declared).
    pub elements: BTreeSet<Element>,
    /// Mass at creation.
    pub created_g: Grams,
    /// Mass left now.
    pub remaining_g: Grams,
    /// Who holds it (the sender, while in transit).
    pub custodian: ActorId,
    /// Where it stands.
    pub status: BatchStatus,
    /// `occurred_at` of the event that created it.
    pub created_at: Timestamp,
    /// The entry that created it.
    pub created_in: u64,
    /// How it came to be.
    pub origin: BatchOrigin,
    /// Batches made from it, in order.
    pub children: Vec<BatchId>,
    /// Every entry that touched it, in order (creation first).
    pub history: Vec<u64>,
    /// Claims attached to it.
    pub certificates: Vec<CertificateRecord>,
    /// Total mass lost in transit over its life.
    pub transit_loss_g: Grams,
    /// `occurred_at` of the latest event that created, moved, used or ended it (certificates
    /// excluded): no later event on it may be dated before this.
    pub last_event_at: Timestamp,
    /// Grams of each rare-earth element it contains, as declared when it was created (or, for
    /// split and merge outputs that declare none, inherited pro rata from their inputs).
    /// `None`: not declared.
    pub composition: Option<Composition>,
    /// Compositions measured by `assay` certificates, in entry order.
    pub assays: Vec<AssayComposition>,
    /// The site a `transform` that made it named (`None` for extracts — their mine is in
    /// `origin` — for transforms that named none, and for records stored before issue 12).
    pub made_at: Option<SiteId>,
}

/// Who holds a batch id prefix, or the beginning of one. Registering `MP-` writes `MP-` (exact)
/// and `M`, `MP` (not exact), so that one point read tells whether a new prefix overlaps an
/// existing one in either direction.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct PrefixRecord {
    /// The actor whose prefix this is (or begins; the first to register through it).
    pub owner: ActorId,
    /// Whether this is the registered prefix itself rather than a proper beginning of one.
    pub exact: bool,
}

/// Where an event id was used: the duplicate/conflict check of DESIGN.md §3.1.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct EventRecord {
    /// The entry.
    pub index: u64,
    /// SHA-256 of the envelope bytes, to tell an identical retry from a reuse of the id.
    pub envelope_digest: Hash,
}

/// A storage failure behind a [`StateView`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ledger state unavailable: {message}")]
pub struct StateError {
    /// What the storage said.
    pub message: String,
}

/// Read access to the ledger state as of some entry. The store implements it over sled,
/// [`crate::ledger::MemState`] in memory, and [`crate::ledger::Overlay`] over any other view.
pub trait StateView {
    /// The genesis record, once entry 0 exists.
    fn genesis(&self) -> Result<Option<GenesisRecord>, StateError>;
    /// An actor.
    fn actor(&self, id: &ActorId) -> Result<Option<ActorRecord>, StateError>;
    /// A key, whoever owns it.
    fn key(&self, id: &KeyId) -> Result<Option<KeyRecord>, StateError>;
    /// A site.
    fn site(&self, id: &SiteId) -> Result<Option<SiteRecord>, StateError>;
    /// A batch.
    fn batch(&self, id: &BatchId) -> Result<Option<BatchRecord>, StateError>;
    /// The entry where `actor` used event id `id` (event ids are unique per actor).
    fn event(&self, actor: &ActorId, id: &EventId) -> Result<Option<EventRecord>, StateError>;
    /// A registered batch id prefix, or a proper beginning of one.
    fn prefix(&self, prefix: &BatchPrefix) -> Result<Option<PrefixRecord>, StateError>;
    /// The export-control rules published for a jurisdiction.
    fn controls(
        &self,
        jurisdiction: &CountryCode,
    ) -> Result<Option<super::ControlsRecord>, StateError>;
    /// An export licence.
    fn licence(&self, id: &EventId) -> Result<Option<super::LicenceRecord>, StateError>;
    /// An actor's production quotas.
    fn quotas(&self, actor: &ActorId) -> Result<Option<super::QuotaBook>, StateError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The store keeps records with bincode-serde (standard configuration): they must round-trip.
    #[test]
    fn records_round_trip_through_bincode() {
        let ts: Timestamp = "2026-03-01T08:00:00.5Z".parse().unwrap();
        let batch = BatchRecord {
            id: "MAG-1".parse().unwrap(),
            form: Form::Magnet,
            elements: [Element::Nd, Element::Dy].into(),
            created_g: Grams(10),
            remaining_g: Grams(4),
            custodian: "gm".parse().unwrap(),
            status: BatchStatus::InTransit {
                to: "mp".parse().unwrap(),
                shipped_g: Grams(4),
            },
            created_at: ts.clone(),
            created_in: 7,
            origin: BatchOrigin::Transformed {
                process: Process::MagnetMaking,
                inputs: vec![("ALLOY-1".parse().unwrap(), Grams(9))],
                additives_g: Grams(1),
                outputs_total_g: Grams(10),
            },
            children: vec!["X".parse().unwrap()],
            history: vec![7, 9],
            certificates: vec![CertificateRecord {
                index: 8,
                certifier: "lab".parse().unwrap(),
                claim: Claim::Assay,
                statement: "N52".into(),
                document_sha256: DocumentDigest::from_bytes([3; 32]),
                occurred_at: ts,
            }],
            transit_loss_g: Grams(0),
            last_event_at: "2026-03-02T00:00:00Z".parse().unwrap(),
            composition: None,
            assays: Vec::new(),
            made_at: None,
        };
        let config = bincode::config::standard();
        let bytes = bincode::serde::encode_to_vec(&batch, config).unwrap();
        let (back, _): (BatchRecord, usize) =
            bincode::serde::decode_from_slice(&bytes, config).unwrap();
        assert_eq!(back, batch);

        let key = PublicKey::from_bytes(&[
            0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64,
            0x07, 0x3a, 0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68,
            0xf7, 0x07, 0x51, 0x1a,
        ])
        .unwrap();
        let actor = ActorRecord {
            id: "mp".parse().unwrap(),
            name: "MP".into(),
            country: "US".parse().unwrap(),
            roles: [Role::Miner].into(),
            sites: vec!["mine".parse().unwrap()],
            keys: vec![KeyRecord {
                key_id: key.key_id(),
                public_key: key,
                actor: "mp".parse().unwrap(),
                added_at: 1,
                revoked_at: Some(5),
            }],
            entries: vec![1, 5],
            prefixes: vec!["MP-".parse().unwrap()],
            registered_at: "2026-01-01T00:00:00Z".parse().unwrap(),
        };
        let bytes = bincode::serde::encode_to_vec(&actor, config).unwrap();
        let (back, _): (ActorRecord, usize) =
            bincode::serde::decode_from_slice(&bytes, config).unwrap();
        assert_eq!(back, actor);
        let event = EventRecord {
            index: 3,
            envelope_digest: Hash([9; 32]),
        };
        let bytes = bincode::serde::encode_to_vec(&event, config).unwrap();
        let (back, _): (EventRecord, usize) =
            bincode::serde::decode_from_slice(&bytes, config).unwrap();
        assert_eq!(back, event);
    }
}
