//! How a [`BatchRecord`] is stored now that it can carry a composition: the old fields exactly
//! as before, then, **only if** the batch has a composition, assay compositions or the site a transform named, a trailer
//! (docs/FORMAT.md, "Stored records").
//!
//! bincode writes a struct as its fields one after another, with no count. A record is stored
//! alone under its key, so "is there a trailer" is "are there bytes after `last_event_at`". A
//! record written before compositions existed has none and reads back with `composition: None`
//! no assays and no `made_at` — what it meant then, it means now; a record without them encodes to exactly the
//! bytes it always had (the golden vectors in `fixtures/vectors/records/` keep passing).
//!
//! Trailer layout: `version: u8 = 1`, then `composition: Option<Composition>`, then
//! `assays: Vec<AssayComposition>`, then `made_at: Option<SiteId>`. A later trailer version adds fields after these.
//!
//! JSON (self-describing) gets all fields by name, `composition` and `assays` included.

use std::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeTuple;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::model::composition::Composition;
use crate::model::ids::{ActorId, BatchId, Grams, SiteId, Timestamp};
use crate::model::material::{Element, Form};

use super::state::{AssayComposition, BatchOrigin, BatchRecord, BatchStatus, CertificateRecord};

/// The trailer's version byte.
pub const TRAILER_VERSION: u8 = 1;

/// The fields every batch record has had since the stored layout was pinned.
#[derive(Serialize, Deserialize)]
struct BaseFields {
    id: BatchId,
    form: Form,
    elements: std::collections::BTreeSet<Element>,
    created_g: Grams,
    remaining_g: Grams,
    custodian: ActorId,
    status: BatchStatus,
    created_at: Timestamp,
    created_in: u64,
    origin: BatchOrigin,
    children: Vec<BatchId>,
    history: Vec<u64>,
    certificates: Vec<CertificateRecord>,
    transit_loss_g: Grams,
    last_event_at: Timestamp,
}

#[derive(Serialize, Deserialize)]
struct Trailer {
    version: u8,
    composition: Option<Composition>,
    assays: Vec<AssayComposition>,
    made_at: Option<SiteId>,
}

impl Trailer {
    fn none() -> Trailer {
        Trailer {
            version: TRAILER_VERSION,
            composition: None,
            assays: Vec::new(),
            made_at: None,
        }
    }
}

/// The JSON shape: every field by name.
#[derive(Serialize, Deserialize)]
struct JsonFields {
    #[serde(flatten)]
    base: BaseFields,
    #[serde(default)]
    composition: Option<Composition>,
    #[serde(default)]
    assays: Vec<AssayComposition>,
    #[serde(default)]
    made_at: Option<SiteId>,
}

impl BatchRecord {
    fn base(&self) -> BaseFields {
        BaseFields {
            id: self.id.clone(),
            form: self.form,
            elements: self.elements.clone(),
            created_g: self.created_g,
            remaining_g: self.remaining_g,
            custodian: self.custodian.clone(),
            status: self.status.clone(),
            created_at: self.created_at.clone(),
            created_in: self.created_in,
            origin: self.origin.clone(),
            children: self.children.clone(),
            history: self.history.clone(),
            certificates: self.certificates.clone(),
            transit_loss_g: self.transit_loss_g,
            last_event_at: self.last_event_at.clone(),
        }
    }

    fn from_parts(b: BaseFields, t: Trailer) -> Self {
        BatchRecord {
            id: b.id,
            form: b.form,
            elements: b.elements,
            created_g: b.created_g,
            remaining_g: b.remaining_g,
            custodian: b.custodian,
            status: b.status,
            created_at: b.created_at,
            created_in: b.created_in,
            origin: b.origin,
            children: b.children,
            history: b.history,
            certificates: b.certificates,
            transit_loss_g: b.transit_loss_g,
            last_event_at: b.last_event_at,
            composition: t.composition,
            assays: t.assays,
            made_at: t.made_at,
        }
    }
}

impl Serialize for BatchRecord {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Cloning into the mirror struct costs a few allocations per record write; the store
        // writes a handful of records per entry, next to a signature check and an fsync.
        if s.is_human_readable() {
            return JsonFields {
                base: self.base(),
                composition: self.composition.clone(),
                assays: self.assays.clone(),
                made_at: self.made_at.clone(),
            }
            .serialize(s);
        }
        let has_trailer =
            self.composition.is_some() || !self.assays.is_empty() || self.made_at.is_some();
        let mut t = s.serialize_tuple(if has_trailer { 2 } else { 1 })?;
        t.serialize_element(&self.base())?;
        if has_trailer {
            t.serialize_element(&Trailer {
                version: TRAILER_VERSION,
                composition: self.composition.clone(),
                assays: self.assays.clone(),
                made_at: self.made_at.clone(),
            })?;
        }
        t.end()
    }
}

struct RecordVisitor;

impl<'de> Visitor<'de> for RecordVisitor {
    type Value = BatchRecord;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a batch record")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<BatchRecord, A::Error> {
        let base: BaseFields = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(0, &self))?;
        // No bytes after the base fields: a record without trailer (the decoder reports the
        // end of its input as an error, which here means exactly that).
        let trailer: Option<Trailer> = seq.next_element().unwrap_or_default();
        Ok(match trailer {
            None => BatchRecord::from_parts(base, Trailer::none()),
            Some(t) if t.version == TRAILER_VERSION => BatchRecord::from_parts(base, t),
            Some(t) => {
                return Err(de::Error::custom(format_args!(
                "batch record trailer version {} is not known (this build reads {TRAILER_VERSION})",
                t.version
            )))
            }
        })
    }
}

impl<'de> Deserialize<'de> for BatchRecord {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let j = JsonFields::deserialize(d)?;
            let trailer = Trailer {
                version: TRAILER_VERSION,
                composition: j.composition,
                assays: j.assays,
                made_at: j.made_at,
            };
            return Ok(BatchRecord::from_parts(j.base, trailer));
        }
        d.deserialize_tuple(2, RecordVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::material::Process;

    fn record() -> BatchRecord {
        BatchRecord {
            id: "MP-MAG-1".parse().unwrap(),
            form: Form::Magnet,
            elements: [Element::Nd].into(),
            created_g: Grams(100),
            remaining_g: Grams(100),
            custodian: "mp".parse().unwrap(),
            status: BatchStatus::Active,
            created_at: "2026-03-01T08:00:00Z".parse().unwrap(),
            created_in: 7,
            origin: BatchOrigin::Transformed {
                process: Process::MagnetMaking,
                inputs: vec![("MP-ALLOY-1".parse().unwrap(), Grams(90))],
                additives_g: Grams(10),
                outputs_total_g: Grams(100),
            },
            children: vec![],
            history: vec![7],
            certificates: vec![],
            transit_loss_g: Grams(0),
            last_event_at: "2026-03-01T08:00:00Z".parse().unwrap(),
            composition: None,
            assays: vec![],
            made_at: None,
        }
    }

    fn round_trip(r: &BatchRecord) -> Vec<u8> {
        let config = bincode::config::standard();
        let bytes = bincode::serde::encode_to_vec(r, config).unwrap();
        let (back, used): (BatchRecord, usize) =
            bincode::serde::decode_from_slice(&bytes, config).unwrap();
        assert_eq!(&back, r);
        assert_eq!(used, bytes.len());
        let json = serde_json::to_string(r).unwrap();
        assert_eq!(&serde_json::from_str::<BatchRecord>(&json).unwrap(), r);
        bytes
    }

    #[test]
    fn no_trailer_without_composition_and_one_with_it() {
        let plain = record();
        let old = round_trip(&plain);
        let base =
            bincode::serde::encode_to_vec(plain.base(), bincode::config::standard()).unwrap();
        assert_eq!(
            old, base,
            "a record without composition keeps its old bytes"
        );

        let mut with = plain.clone();
        with.composition = Some(Composition::new([(Element::Nd, 30)].into()).unwrap());
        with.assays.push(AssayComposition {
            index: 9,
            composition: Composition::new([(Element::Nd, 29)].into()).unwrap(),
        });
        let new = round_trip(&with);
        // version 1; Some; {Nd: 30}; one assay: index 9, {Nd: 29}.
        assert_eq!(&new[..old.len()], &old[..]);
        assert_eq!(&new[old.len()..], [1, 1, 1, 3, 30, 1, 9, 1, 3, 29, 0]);
    }

    #[test]
    fn unknown_trailer_version_is_refused() {
        let mut with = record();
        with.composition = Some(Composition::new([(Element::Nd, 30)].into()).unwrap());
        let mut bytes = bincode::serde::encode_to_vec(&with, bincode::config::standard()).unwrap();
        let base_len = bincode::serde::encode_to_vec(with.base(), bincode::config::standard())
            .unwrap()
            .len();
        bytes[base_len] = 2;
        let r: Result<(BatchRecord, usize), _> =
            bincode::serde::decode_from_slice(&bytes, bincode::config::standard());
        assert!(r.is_err());
    }
}
