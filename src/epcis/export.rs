//! Ledger events → EPCIS 2.0 events (docs/EPCIS.md, "Export"), with their CBV event hash as
//! `eventID` and, under `lodestone:proof`, the ledger entry index and leaf hash that prove them.
//!
//! | Lodestone | EPCIS |
//! | --- | --- |
//! | `extract` | `ObjectEvent` `ADD`, `commissioning`, `active`; `ilmd`: country of origin, mine site, form, elements |
//! | `transform` | `TransformationEvent`: inputs and outputs as quantity lists, the process as `bizStep`; `ilmd`: each output's form, elements (and composition where declared) |
//! | `ship` | `ObjectEvent` `OBSERVE`, `shipping`, `in_transit`; source and destination parties |
//! | `receive` | `ObjectEvent` `OBSERVE`, `receiving`, `in_progress`; received mass; parties |
//! | `certify` | `ObjectEvent` `OBSERVE`, `inspecting`; `certificationInfo` = the document digest |
//! | `retire` | `ObjectEvent` `DELETE` with the reason's step and disposition |
//!
//! Registry events (`genesis`, `register_actor`, …) are not supply-chain events and are not
//! exported. Every event carries `lodestone:event` (its id) and `lodestone:actor` (its signer).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::hash::{event_hash, Prefixes};
use super::mass::export_quantity;
use super::vocab::{self, Names};
use crate::model::event::{Event, EventBody};
use crate::model::ids::{ActorId, BatchId, CountryCode, SiteId, Timestamp};

/// One event as the ledger recorded it.
#[derive(Debug, Clone, Copy)]
pub struct Recorded<'a> {
    /// Its entry index.
    pub index: u64,
    /// Its entry's leaf hash (RFC 6962), lowercase hex.
    pub leaf_hash: &'a str,
    /// Its entry's log time.
    pub logged_at_ms: u64,
    /// The event.
    pub event: &'a Event,
}

/// What the export needs of the ledger beyond the event itself.
pub trait Directory {
    /// The country of a site (the country of origin of what is extracted there).
    fn site_country(&self, site: &SiteId) -> Option<CountryCode>;
    /// Who shipped `batch` in the latest `ship` before entry `before` (the source party of a
    /// `receive`).
    fn shipper(&self, batch: &BatchId, before: u64) -> Option<ActorId>;
}

/// The JSON-LD `@context` of every document Lodestone writes.
pub fn context() -> Value {
    json!([
        vocab::EPCIS_CONTEXT,
        { vocab::PREFIX: vocab::NAMESPACE, "cbvmda": vocab::CBVMDA_NAMESPACE }
    ])
}

/// The EPCIS event of a recorded ledger event; `None` for registry events.
pub fn export_event(
    names: &Names,
    recorded: &Recorded<'_>,
    directory: &dyn Directory,
) -> Option<Map<String, Value>> {
    let e = recorded.event;
    let mut out = Map::new();
    let mut put = |k: &str, v: Value| {
        out.insert(k.to_owned(), v);
    };
    let quantity = |batch: &BatchId, grams: Option<u64>| {
        let mut q = Map::new();
        q.insert(
            "epcClass".into(),
            Value::String(names.batch(batch.as_str())),
        );
        if let Some(g) = grams {
            let (n, uom) = export_quantity(g);
            q.insert("quantity".into(), Value::Number(n));
            q.insert("uom".into(), Value::String(uom.into()));
        }
        Value::Object(q)
    };
    let party = |key: &str, actor: &ActorId| {
        let uri = Value::String(names.actor(actor.as_str()));
        let item = |kind: &str| {
            let mut m = Map::new();
            m.insert("type".into(), Value::String(kind.into()));
            m.insert(key.into(), uri.clone());
            Value::Object(m)
        };
        Value::Array(vec![item("owning_party"), item("possessing_party")])
    };
    let object =
        |put: &mut dyn FnMut(&str, Value), action: &str, step: &str, disposition: Option<&str>| {
            put("type", json!("ObjectEvent"));
            put("action", json!(action));
            put("bizStep", json!(step));
            if let Some(d) = disposition {
                put("disposition", json!(d));
            }
        };
    match &e.body {
        EventBody::Extract(x) => {
            object(&mut put, "ADD", "commissioning", Some("active"));
            put(
                "quantityList",
                json!([quantity(&x.batch, Some(x.mass_g.get()))]),
            );
            let site = names.site(x.site.as_str());
            put("readPoint", json!({ "id": site }));
            put("bizLocation", json!({ "id": site }));
            let mut ilmd = Map::new();
            if let Some(country) = directory.site_country(&x.site) {
                ilmd.insert("cbvmda:countryOfOrigin".into(), json!(country.as_str()));
            }
            ilmd.insert("lodestone:mineSite".into(), json!(site));
            ilmd.insert("lodestone:form".into(), json!(x.form.as_str()));
            if !x.elements.is_empty() {
                ilmd.insert("lodestone:elements".into(), json!(x.elements));
            }
            if let Some(composition) = &x.composition {
                ilmd.insert("lodestone:composition".into(), json!(composition));
            }
            put("ilmd", Value::Object(ilmd));
        }
        EventBody::Transform(t) => {
            put("type", json!("TransformationEvent"));
            put(
                "inputQuantityList",
                Value::Array(
                    t.inputs
                        .iter()
                        .map(|i| quantity(&i.batch, Some(i.mass_g.get())))
                        .collect(),
                ),
            );
            put(
                "outputQuantityList",
                Value::Array(
                    t.outputs
                        .iter()
                        .map(|o| quantity(&o.batch, Some(o.mass_g.get())))
                        .collect(),
                ),
            );
            put("bizStep", json!(vocab::process_step(t.process)));
            if let Some(site) = &t.site {
                let site = names.site(site.as_str());
                put("readPoint", json!({ "id": site }));
                put("bizLocation", json!({ "id": site }));
            }
            let outputs: Vec<Value> = t
                .outputs
                .iter()
                .map(|o| {
                    let mut m = Map::new();
                    m.insert(
                        "lodestone:batch".into(),
                        json!(names.batch(o.batch.as_str())),
                    );
                    m.insert("lodestone:form".into(), json!(o.form.as_str()));
                    if !o.elements.is_empty() {
                        m.insert("lodestone:elements".into(), json!(o.elements));
                    }
                    if let Some(composition) = &o.composition {
                        m.insert("lodestone:composition".into(), json!(composition));
                    }
                    Value::Object(m)
                })
                .collect();
            put("ilmd", json!({ "lodestone:outputs": outputs }));
            if !t.additives.is_empty() {
                let additives: Vec<Value> = t
                    .additives
                    .iter()
                    .map(|a| {
                        let (n, uom) = export_quantity(a.mass_g.get());
                        json!({
                            "lodestone:material": a.material.as_str(),
                            "lodestone:quantity": n,
                            "lodestone:uom": uom,
                        })
                    })
                    .collect();
                put(vocab::EXT_ADDITIVES, Value::Array(additives));
            }
        }
        EventBody::Ship(s) => {
            object(&mut put, "OBSERVE", "shipping", Some("in_transit"));
            put("quantityList", json!([quantity(&s.batch, None)]));
            put("sourceList", party("source", &e.actor));
            put("destinationList", party("destination", &s.to));
        }
        EventBody::Receive(r) => {
            object(&mut put, "OBSERVE", "receiving", Some("in_progress"));
            put(
                "quantityList",
                json!([quantity(&r.batch, Some(r.mass_g.get()))]),
            );
            if let Some(shipper) = directory.shipper(&r.batch, recorded.index) {
                put("sourceList", party("source", &shipper));
            }
            put("destinationList", party("destination", &e.actor));
        }
        EventBody::Certify(c) => {
            object(&mut put, "OBSERVE", "inspecting", None);
            put("quantityList", json!([quantity(&c.batch, None)]));
            put(
                "certificationInfo",
                json!(document_uri(c.document_sha256.as_bytes())),
            );
            put(vocab::EXT_CLAIM, json!(vocab::claim_name(c.claim)));
            put(vocab::EXT_STATEMENT, json!(c.statement));
            if let Some(composition) = &c.composition {
                put(vocab::EXT_COMPOSITION, json!(composition));
            }
        }
        EventBody::Retire(r) => {
            let (step, disposition) = vocab::retire_step(r.reason);
            object(&mut put, "DELETE", step, Some(disposition));
            put("quantityList", json!([quantity(&r.batch, None)]));
        }
        EventBody::Genesis(_)
        | EventBody::RegisterActor(_)
        | EventBody::UpdateActor(_)
        | EventBody::RevokeKey(_)
        | EventBody::PublishControls(_)
        | EventBody::SuspendControls(_)
        | EventBody::IssueLicence(_)
        | EventBody::RevokeLicence(_)
        | EventBody::SetQuota(_) => return None,
    }
    put("eventTime", json!(e.occurred_at.as_str()));
    put("eventTimeZoneOffset", json!("+00:00"));
    put(vocab::EXT_EVENT, json!(e.id.as_str()));
    put(vocab::EXT_ACTOR, json!(names.actor(e.actor.as_str())));
    let hash = event_hash(&out, &Prefixes::default());
    out.insert("eventID".into(), json!(hash));
    if let Some(t) = Timestamp::from_unix_millis(recorded.logged_at_ms) {
        out.insert("recordTime".into(), json!(t.as_str()));
    }
    out.insert(
        vocab::EXT_PROOF.into(),
        json!({ "lodestone:entry": recorded.index, "lodestone:leafHash": recorded.leaf_hash }),
    );
    Some(out)
}

/// A document digest as an RFC 6920 `ni` URI (`ni:///sha-256;<base64url>`).
pub fn document_uri(sha256: &[u8; 32]) -> String {
    format!("ni:///sha-256;{}", URL_SAFE_NO_PAD.encode(sha256))
}

/// The digest of a `ni:///sha-256;…` document URI.
pub fn document_digest(uri: &str) -> Option<[u8; 32]> {
    let b64 = uri.strip_prefix("ni:///sha-256;")?;
    URL_SAFE_NO_PAD.decode(b64).ok()?.try_into().ok()
}

/// An `EPCISDocument` holding `events`, created at `created` (RFC 3339).
pub fn document(events: Vec<Value>, created: &str) -> Value {
    json!({
        "@context": context(),
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": created,
        "epcisBody": { "eventList": events },
    })
}

/// An `EPCISQueryDocument` answering the query `query_name` with `events`.
pub fn query_document(events: Vec<Value>, created: &str, query_name: &str) -> Value {
    json!({
        "@context": context(),
        "type": "EPCISQueryDocument",
        "schemaVersion": "2.0",
        "creationDate": created,
        "epcisBody": {
            "queryResults": {
                "queryName": query_name,
                "resultsBody": { "eventList": events },
            },
        },
    })
}
