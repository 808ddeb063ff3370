//! Event payload v1 (docs/EVENTS.md): the JSON object inside a DSSE envelope.
//!
//! An event is one flat JSON object: `kind`, the common fields `id`, `actor`, `log`,
//! `occurred_at`, and the fields of its kind. `log` names the log the event is meant for (its
//! checkpoint origin), so that an envelope signed for one ledger is never valid on another; the
//! `genesis` event has no `log`, because its `origin` is the name it gives the log. Parsing is strict, because the payload is what an actor signed and
//! every verifier must read it the same way: duplicate keys, unknown fields, unknown kinds,
//! `null` values and oversized lists are rejected, and each error names the field path
//! (`outputs[1].mass_g`). The parse is two-step — JSON to a value tree (rejecting duplicate
//! keys), then field by field — because serde's internally tagged enums cannot deny unknown
//! fields.
//!
//! Rules that need the ledger state (custody, masses, roles, ...) live in `crate::ledger`; this
//! module checks only syntax and size limits.

use std::collections::BTreeSet;

use serde::{Serialize, Serializer};

use crate::model::composition::Composition;
use crate::model::ids::{
    ActorId, AdditiveName, BatchId, BatchPrefix, CountryCode, DocumentDigest, EventId, Grams,
    SiteId, Timestamp,
};
use crate::model::keys::{KeyId, PublicKey};
use crate::model::material::{Claim, Element, Form, Process, RetireReason, Role, SiteKind};

mod controls;
mod wire;

pub use controls::{IssueLicence, PublishControls, RevokeLicence, SetQuota, SuspendControls};

pub use wire::EventError;

/// Size limits of one event. An entry must fit in 65,535 bytes (DESIGN.md §2.2); these keep
/// well-formed events far below that and bound the work one event can cause.
pub mod limits {
    /// Inputs, outputs or additives of one transform.
    pub const MAX_ITEMS: usize = 256;
    /// Sites registered or added by one registry event.
    pub const MAX_SITES: usize = 64;
    /// Public keys registered or added by one registry event.
    pub const MAX_KEYS: usize = 16;
    /// Batch id prefixes assigned or added by one registry event.
    pub const MAX_PREFIXES: usize = 16;
    /// A certificate statement, in characters.
    pub const MAX_STATEMENT: usize = 280;
    /// A name (actor, site, registry), in characters.
    pub const MAX_NAME: usize = 200;
    /// A revocation reason, in characters.
    pub const MAX_REASON: usize = 280;
    /// The log origin line, in characters.
    pub const MAX_ORIGIN: usize = 255;
    /// The genesis backfill window, in days (a century).
    pub const MAX_BACKFILL_DAYS: u32 = 36_500;
}

/// One event: the common fields and the kind-specific body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Unique per actor: `(actor, id)` is the idempotency key.
    pub id: EventId,
    /// Who makes the event and signs it.
    pub actor: ActorId,
    /// The checkpoint origin of the log the event is meant for. Required for every kind but
    /// `genesis`, which has none (its `origin` names the log).
    pub log: Option<String>,
    /// When it happened.
    pub occurred_at: Timestamp,
    /// What happened.
    pub body: EventBody,
}

/// The kind-specific part of an event; the JSON `kind` names the variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventBody {
    /// `genesis`
    Genesis(Genesis),
    /// `register_actor`
    RegisterActor(RegisterActor),
    /// `update_actor`
    UpdateActor(UpdateActor),
    /// `revoke_key`
    RevokeKey(RevokeKey),
    /// `extract`
    Extract(Extract),
    /// `transform`
    Transform(Transform),
    /// `ship`
    Ship(Ship),
    /// `receive`
    Receive(Receive),
    /// `certify`
    Certify(Certify),
    /// `retire`
    Retire(Retire),
    /// `publish_controls`
    PublishControls(PublishControls),
    /// `suspend_controls`
    SuspendControls(SuspendControls),
    /// `issue_licence`
    IssueLicence(IssueLicence),
    /// `revoke_licence`
    RevokeLicence(RevokeLicence),
    /// `set_quota`
    SetQuota(SetQuota),
}

/// Every event kind, as written in JSON.
pub const KIND_NAMES: &[&str] = &[
    "genesis",
    "register_actor",
    "update_actor",
    "revoke_key",
    "extract",
    "transform",
    "ship",
    "receive",
    "certify",
    "retire",
    "publish_controls",
    "suspend_controls",
    "issue_licence",
    "revoke_licence",
    "set_quota",
];

/// `genesis`: entry 0, self-signed by the authority key it names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Genesis {
    /// The log's checkpoint origin line.
    pub origin: String,
    /// The authority's name.
    pub name: String,
    /// The authority's country.
    pub country: CountryCode,
    /// The authority's key.
    pub public_key: PublicKey,
    /// How many days before its registration an actor may date its events (default 90).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backfill_days: Option<u32>,
}

/// A site declared in a registry event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SiteDeclaration {
    /// Unique across the ledger.
    pub id: SiteId,
    /// Human name.
    pub name: String,
    /// Where it is.
    pub country: CountryCode,
    /// Mine or plant.
    pub kind: SiteKind,
}

/// `register_actor`: a new participant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegisterActor {
    /// The new actor's id.
    pub subject: ActorId,
    /// Its name.
    pub name: String,
    /// Its country.
    pub country: CountryCode,
    /// Its roles (non-empty).
    pub roles: BTreeSet<Role>,
    /// Its sites (may be empty).
    pub sites: Vec<SiteDeclaration>,
    /// Its keys (non-empty).
    pub public_keys: Vec<PublicKey>,
    /// The batch id prefixes it may create batches under (may be empty: it creates none).
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub prefixes: BTreeSet<BatchPrefix>,
}

/// `update_actor`: changes to a participant; absent fields stay as they are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpdateActor {
    /// The actor to change.
    pub subject: ActorId,
    /// New name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New country.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<CountryCode>,
    /// New role set (replaces the old one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<BTreeSet<Role>>,
    /// Sites to add.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub add_sites: Vec<SiteDeclaration>,
    /// Keys to add.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub add_public_keys: Vec<PublicKey>,
    /// Batch id prefixes to add (prefixes are never taken away: batches keep their owner).
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub add_prefixes: BTreeSet<BatchPrefix>,
}

/// `revoke_key`: a key stops counting from the next entry on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RevokeKey {
    /// Whose key.
    pub subject: ActorId,
    /// Which key.
    pub key_id: KeyId,
    /// Why (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `extract`: a miner creates a batch at one of its mines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Extract {
    /// The mine.
    pub site: SiteId,
    /// The new batch.
    pub batch: BatchId,
    /// Ore, concentrate or mixed compound.
    pub form: Form,
    /// Mass extracted.
    pub mass_g: Grams,
    /// Rare earths it contains (optional).
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub elements: BTreeSet<Element>,
    /// Grams of each rare-earth element it contains (optional; elemental basis, at most the
    /// batch's mass; docs/COMPLIANCE.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub composition: Option<Composition>,
}

/// Mass taken from one input batch of a transform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TransformInput {
    /// The input batch.
    pub batch: BatchId,
    /// Mass taken from it.
    pub mass_g: Grams,
}

/// One batch a transform creates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TransformOutput {
    /// The new batch.
    pub batch: BatchId,
    /// Its form.
    pub form: Form,
    /// Its mass.
    pub mass_g: Grams,
    /// Rare earths it contains (optional).
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub elements: BTreeSet<Element>,
    /// Grams of each rare-earth element it contains (optional; elemental basis, at most the
    /// batch's mass; docs/COMPLIANCE.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub composition: Option<Composition>,
}

/// Untracked material a transform adds (iron and boron for NdFeB magnets, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Additive {
    /// What it is.
    pub material: AdditiveName,
    /// How much.
    pub mass_g: Grams,
}

/// `transform`: consumes input masses and creates output batches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transform {
    /// The process run.
    pub process: Process,
    /// Where (optional; one of the actor's sites).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<SiteId>,
    /// Inputs and the mass taken from each.
    pub inputs: Vec<TransformInput>,
    /// New batches.
    pub outputs: Vec<TransformOutput>,
    /// Untracked additions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub additives: Vec<Additive>,
}

/// `ship`: the whole remaining mass goes in transit to `to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ship {
    /// The batch.
    pub batch: BatchId,
    /// The addressee.
    pub to: ActorId,
    /// The export licence the shipment is made under (required when it takes a controlled item
    /// out of a jurisdiction; docs/COMPLIANCE.md, "Export controls").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub licence: Option<EventId>,
}

/// `receive`: the addressee takes custody of what arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Receive {
    /// The batch.
    pub batch: BatchId,
    /// Mass received (at most the shipped mass).
    pub mass_g: Grams,
}

/// `certify`: a certifier attaches a claim to a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Certify {
    /// The batch.
    pub batch: BatchId,
    /// What kind of claim.
    pub claim: Claim,
    /// The claim in words (1 to 280 characters).
    pub statement: String,
    /// SHA-256 of the supporting document.
    pub document_sha256: DocumentDigest,
    /// The measured rare-earth content of the batch (`assay` claims only; elemental basis).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub composition: Option<Composition>,
}

/// `retire`: the batch ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Retire {
    /// The batch.
    pub batch: BatchId,
    /// Why.
    pub reason: RetireReason,
}

impl EventBody {
    /// The JSON `kind`.
    pub fn kind_name(&self) -> &'static str {
        match self {
            EventBody::Genesis(_) => "genesis",
            EventBody::RegisterActor(_) => "register_actor",
            EventBody::UpdateActor(_) => "update_actor",
            EventBody::RevokeKey(_) => "revoke_key",
            EventBody::Extract(_) => "extract",
            EventBody::Transform(_) => "transform",
            EventBody::Ship(_) => "ship",
            EventBody::Receive(_) => "receive",
            EventBody::Certify(_) => "certify",
            EventBody::Retire(_) => "retire",
            EventBody::PublishControls(_) => "publish_controls",
            EventBody::SuspendControls(_) => "suspend_controls",
            EventBody::IssueLicence(_) => "issue_licence",
            EventBody::RevokeLicence(_) => "revoke_licence",
            EventBody::SetQuota(_) => "set_quota",
        }
    }

    /// Every batch id the event names: inputs first, then outputs.
    pub fn batches(&self) -> Vec<&BatchId> {
        match self {
            EventBody::Extract(e) => vec![&e.batch],
            EventBody::Transform(t) => t
                .inputs
                .iter()
                .map(|i| &i.batch)
                .chain(t.outputs.iter().map(|o| &o.batch))
                .collect(),
            EventBody::Ship(e) => vec![&e.batch],
            EventBody::Receive(e) => vec![&e.batch],
            EventBody::Certify(e) => vec![&e.batch],
            EventBody::Retire(e) => vec![&e.batch],
            EventBody::Genesis(_)
            | EventBody::RegisterActor(_)
            | EventBody::UpdateActor(_)
            | EventBody::RevokeKey(_)
            | EventBody::PublishControls(_)
            | EventBody::SuspendControls(_)
            | EventBody::IssueLicence(_)
            | EventBody::RevokeLicence(_)
            | EventBody::SetQuota(_) => Vec::new(),
        }
    }
}

impl Event {
    /// The JSON `kind`.
    pub fn kind_name(&self) -> &'static str {
        self.body.kind_name()
    }

    /// Parses a v1 event payload strictly (see the module doc) and checks the size limits.
    pub fn from_json(bytes: &[u8]) -> Result<Event, EventError> {
        let event = wire::parse(bytes)?;
        event.check_limits()?;
        Ok(event)
    }

    /// Serialises the event as one flat JSON object: `kind`, `id`, `actor`, `log`, `occurred_at`, then
    /// the kind's fields; optional fields that are absent or empty are left out.
    pub fn to_json(&self) -> Vec<u8> {
        // Every field serialises to a JSON string, number, array or object with string keys, so
        // serde_json cannot fail here.
        serde_json::to_vec(self).expect("events always serialise")
    }

    /// Checks the size limits of [`limits`] (lists and text lengths). [`Event::from_json`] does
    /// this; events built in code should be checked before they are signed.
    pub fn check_limits(&self) -> Result<(), EventError> {
        use limits::*;
        let text = |path: &str, value: &str, min: usize, max: usize| {
            let len = value.chars().count();
            if len < min || len > max {
                Err(EventError::Length {
                    path: path.to_owned(),
                    len,
                    min,
                    max,
                })
            } else {
                Ok(())
            }
        };
        let count = |path: &str, count: usize, max: usize| {
            if count > max {
                Err(EventError::TooMany {
                    path: path.to_owned(),
                    count,
                    max,
                })
            } else {
                Ok(())
            }
        };
        let sites = |path: &str, sites: &[SiteDeclaration]| {
            count(path, sites.len(), MAX_SITES)?;
            for (i, s) in sites.iter().enumerate() {
                text(&format!("{path}[{i}].name"), &s.name, 1, MAX_NAME)?;
            }
            Ok(())
        };
        match (&self.body, &self.log) {
            (EventBody::Genesis(_), Some(_)) => {
                return Err(EventError::UnknownField {
                    path: "log".to_owned(),
                    expected: wire::GENESIS_FIELDS,
                })
            }
            (EventBody::Genesis(_), None) => {}
            (_, None) => {
                return Err(EventError::MissingField {
                    path: "log".to_owned(),
                })
            }
            (_, Some(log)) => text("log", log, 1, MAX_ORIGIN)?,
        }
        match &self.body {
            EventBody::Genesis(g) => {
                text("origin", &g.origin, 1, MAX_ORIGIN)?;
                if let Some(days) = g.backfill_days.filter(|d| *d > MAX_BACKFILL_DAYS) {
                    return Err(EventError::InvalidField {
                        path: "backfill_days".to_owned(),
                        message: format!("{days} days; at most {MAX_BACKFILL_DAYS} are allowed"),
                    });
                }
                text("name", &g.name, 1, MAX_NAME)
            }
            EventBody::RegisterActor(r) => {
                text("name", &r.name, 1, MAX_NAME)?;
                sites("sites", &r.sites)?;
                count("prefixes", r.prefixes.len(), MAX_PREFIXES)?;
                count("public_keys", r.public_keys.len(), MAX_KEYS)
            }
            EventBody::UpdateActor(u) => {
                if let Some(name) = &u.name {
                    text("name", name, 1, MAX_NAME)?;
                }
                sites("add_sites", &u.add_sites)?;
                count("add_prefixes", u.add_prefixes.len(), MAX_PREFIXES)?;
                count("add_public_keys", u.add_public_keys.len(), MAX_KEYS)
            }
            EventBody::RevokeKey(r) => match &r.reason {
                Some(reason) => text("reason", reason, 0, MAX_REASON),
                None => Ok(()),
            },
            EventBody::Transform(t) => {
                count("inputs", t.inputs.len(), MAX_ITEMS)?;
                count("outputs", t.outputs.len(), MAX_ITEMS)?;
                count("additives", t.additives.len(), MAX_ITEMS)
            }
            EventBody::Certify(c) => text("statement", &c.statement, 1, MAX_STATEMENT),
            EventBody::PublishControls(p) => text("source", &p.source, 1, MAX_STATEMENT),
            EventBody::SuspendControls(p) => text("source", &p.source, 1, MAX_STATEMENT),
            EventBody::IssueLicence(l) => text("end_use", &l.end_use, 1, MAX_STATEMENT),
            EventBody::RevokeLicence(r) => match &r.reason {
                Some(reason) => text("reason", reason, 0, MAX_REASON),
                None => Ok(()),
            },
            EventBody::SetQuota(q) => match &q.source {
                Some(source) => text("source", source, 1, MAX_STATEMENT),
                None => Ok(()),
            },
            EventBody::Extract(_)
            | EventBody::Ship(_)
            | EventBody::Receive(_)
            | EventBody::Retire(_) => Ok(()),
        }
    }
}

/// The flat JSON layout: the common fields, then the body's fields in the same object.
#[derive(Serialize)]
struct FlatEvent<'a, B: Serialize> {
    kind: &'static str,
    id: &'a EventId,
    actor: &'a ActorId,
    #[serde(skip_serializing_if = "Option::is_none")]
    log: &'a Option<String>,
    occurred_at: &'a Timestamp,
    // `flatten` is fine for serialising; only deserialising it cannot deny unknown fields.
    #[serde(flatten)]
    body: &'a B,
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        fn flat<'a, B: Serialize, S: Serializer>(
            e: &'a Event,
            body: &'a B,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            FlatEvent {
                kind: e.kind_name(),
                id: &e.id,
                actor: &e.actor,
                log: &e.log,
                occurred_at: &e.occurred_at,
                body,
            }
            .serialize(s)
        }
        match &self.body {
            EventBody::Genesis(b) => flat(self, b, s),
            EventBody::RegisterActor(b) => flat(self, b, s),
            EventBody::UpdateActor(b) => flat(self, b, s),
            EventBody::RevokeKey(b) => flat(self, b, s),
            EventBody::Extract(b) => flat(self, b, s),
            EventBody::Transform(b) => flat(self, b, s),
            EventBody::Ship(b) => flat(self, b, s),
            EventBody::Receive(b) => flat(self, b, s),
            EventBody::Certify(b) => flat(self, b, s),
            EventBody::Retire(b) => flat(self, b, s),
            EventBody::PublishControls(b) => flat(self, b, s),
            EventBody::SuspendControls(b) => flat(self, b, s),
            EventBody::IssueLicence(b) => flat(self, b, s),
            EventBody::RevokeLicence(b) => flat(self, b, s),
            EventBody::SetQuota(b) => flat(self, b, s),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Event {
    /// Same strict rules as [`Event::from_json`], for self-describing formats (JSON).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = <wire::StrictValue as serde::Deserialize>::deserialize(d)?;
        let event = wire::from_value(value.0).map_err(serde::de::Error::custom)?;
        event.check_limits().map_err(serde::de::Error::custom)?;
        Ok(event)
    }
}

#[cfg(test)]
mod tests;
