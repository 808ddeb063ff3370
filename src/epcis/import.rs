//! EPCIS 2.0 capture documents → ledger events, under the import profile of docs/EPCIS.md
//! ("Import"). Every event is checked twice: first against EPCIS 2.0 itself (event type, action,
//! times, CBV words, quantity elements, namespaced ILMD, certification info), then against the
//! profile (what a Lodestone event can say). An event that fails either is refused with its
//! position in `eventList`, the JSON path of the field and why; a document with any refusal
//! yields no events at all, so nothing of it is submitted.
//!
//! The profile, by (`type`, `action`, `bizStep`):
//!
//! | EPCIS | Lodestone |
//! | --- | --- |
//! | `ObjectEvent` `ADD` `commissioning` | `extract`: one quantity element with mass, the site from `bizLocation` (or `readPoint`); `ilmd`: `lodestone:form` (default `ore`), `lodestone:elements` |
//! | `TransformationEvent`, a process step | `transform`: input and output quantity lists with masses; `ilmd` `lodestone:outputs` gives each output's form |
//! | `ObjectEvent` `OBSERVE` `shipping` | `ship` to the destination's owning or possessing party |
//! | `ObjectEvent` `OBSERVE` `receiving` | `receive` of the quantity's mass |
//! | `ObjectEvent` `OBSERVE` `inspecting` | `certify`: `certificationInfo` (`ni:///sha-256;…`), `lodestone:claim`, `lodestone:statement` |
//! | `ObjectEvent` `DELETE`, a retirement step | `retire` |
//!
//! Identifiers must be this log's (`vocab::Names`) or LGTINs; masses are `KGM`, `TNE` or `GRM`
//! in whole grams ([`super::mass`]). Anything else an event says — instance-level EPCs, sensor
//! data, business transactions, foreign extensions — is refused rather than dropped, so an
//! import never loses what a participant recorded without saying so.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::export::document_digest;
use super::hash::{event_hash, utc_millis, Prefixes};
use super::mass::import_grams;
use super::vocab::{self, cbv_word, step_process, step_retire, Names};
use crate::model::event::Event;
use crate::model::ids::ActorId;

/// One event refused, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Refusal {
    /// Its position in `eventList` (from 0); `None` for the document itself.
    pub position: Option<usize>,
    /// The JSON path of the field at fault (`$.epcisBody.eventList[2].quantityList[0].uom`).
    pub path: String,
    /// Why.
    pub reason: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.position {
            Some(p) => write!(f, "event {p} at {}: {}", self.path, self.reason),
            None => write!(f, "document at {}: {}", self.path, self.reason),
        }
    }
}

/// An event the import would submit, with its position in the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// Position in `eventList`.
    pub position: usize,
    /// The ledger event.
    pub event: Event,
}

/// Where the events go and who makes them.
#[derive(Debug, Clone)]
pub struct ImportProfile {
    /// The log's names (its origin).
    pub names: Names,
    /// The log's origin: every event's `log`.
    pub log: String,
    /// The actor of events that do not name one (`lodestone:actor`): the single participant
    /// whose key signs the import.
    pub default_actor: Option<ActorId>,
}

const BIZ_STEPS: &[&str] = &[
    "accepting",
    "arriving",
    "assembling",
    "collecting",
    "commissioning",
    "consigning",
    "creating_class_instance",
    "cycle_counting",
    "decommissioning",
    "departing",
    "destroying",
    "disassembling",
    "dispensing",
    "encoding",
    "entering_exiting",
    "holding",
    "inspecting",
    "installing",
    "killing",
    "loading",
    "other",
    "packing",
    "picking",
    "receiving",
    "removing",
    "repackaging",
    "repairing",
    "replacing",
    "reserving",
    "retail_selling",
    "shipping",
    "staging_outbound",
    "stock_taking",
    "stocking",
    "storing",
    "transporting",
    "unloading",
    "unpacking",
    "void_shipping",
    "sensor_reporting",
    "sampling",
];

const DISPOSITIONS: &[&str] = &[
    "active",
    "container_closed",
    "damaged",
    "destroyed",
    "dispensed",
    "disposed",
    "encoded",
    "expired",
    "in_progress",
    "in_transit",
    "inactive",
    "no_pedigree_match",
    "non_sellable_other",
    "partially_dispensed",
    "recalled",
    "reserved",
    "retail_sold",
    "returned",
    "sellable_accessible",
    "sellable_not_accessible",
    "stolen",
    "unknown",
    "available",
    "completeness_verified",
    "completeness_inferred",
    "conformant",
    "container_open",
    "mismatch_instance",
    "mismatch_class",
    "mismatch_quantity",
    "needs_replacement",
    "non_conformant",
    "unavailable",
];

const EVENT_TYPES: &[&str] = &[
    "ObjectEvent",
    "AggregationEvent",
    "TransactionEvent",
    "TransformationEvent",
    "AssociationEvent",
];

/// Converts a capture document; either every event converts, or the refusals (one per refused
/// event, the first fault found in it).
pub fn import_document(
    doc: &Value,
    profile: &ImportProfile,
) -> Result<Vec<Imported>, Vec<Refusal>> {
    let document = |path: &str, reason: String| {
        vec![Refusal {
            position: None,
            path: path.to_owned(),
            reason,
        }]
    };
    let Some(root) = doc.as_object() else {
        return Err(document("$", "an EPCIS document is a JSON object".into()));
    };
    match root.get("type").and_then(Value::as_str) {
        Some("EPCISDocument") => {}
        Some(other) => {
            return Err(document(
                "$.type",
                format!("{other:?} is not \"EPCISDocument\" (a capture document)"),
            ))
        }
        None => {
            return Err(document(
                "$.type",
                "missing; a capture document has \"type\": \"EPCISDocument\"".into(),
            ))
        }
    }
    if !root.contains_key("@context") {
        return Err(document(
            "$.@context",
            "missing; EPCIS 2.0 JSON-LD documents need their @context (the GS1 EPCIS context and any extension namespaces)".into(),
        ));
    }
    if !matches!(
        root.get("schemaVersion").and_then(Value::as_str),
        Some("2.0" | "2.0.0")
    ) {
        return Err(document("$.schemaVersion", "must be \"2.0\"".into()));
    }
    let Some(events) = root
        .get("epcisBody")
        .and_then(|b| b.get("eventList"))
        .and_then(Value::as_array)
    else {
        return Err(document(
            "$.epcisBody.eventList",
            "missing or not a list".into(),
        ));
    };
    let prefixes = Prefixes::from_context(root.get("@context"));
    let mut imported = Vec::new();
    let mut refusals = Vec::new();
    for (position, event) in events.iter().enumerate() {
        let at = At {
            position,
            base: format!("$.epcisBody.eventList[{position}]"),
        };
        match convert(&at, event, profile, &prefixes) {
            Ok(event) => imported.push(Imported { position, event }),
            Err(r) => refusals.push(r),
        }
    }
    if refusals.is_empty() {
        Ok(imported)
    } else {
        Err(refusals)
    }
}

/// Where in the document we are.
struct At {
    position: usize,
    base: String,
}

impl At {
    fn refuse(&self, field: &str, reason: impl Into<String>) -> Refusal {
        Refusal {
            position: Some(self.position),
            path: if field.is_empty() {
                self.base.clone()
            } else if field.starts_with('[') {
                format!("{}{field}", self.base)
            } else {
                format!("{}.{field}", self.base)
            },
            reason: reason.into(),
        }
    }
}

type Fields<'a> = &'a Map<String, Value>;

fn convert(
    at: &At,
    event: &Value,
    profile: &ImportProfile,
    prefixes: &Prefixes,
) -> Result<Event, Refusal> {
    let Some(e) = event.as_object() else {
        return Err(at.refuse("", "an event is a JSON object"));
    };
    check_epcis(at, e)?;
    let kind = classify(at, e)?;
    let (allowed, body) = match kind {
        Kind::Extract => (EXTRACT_FIELDS, extract(at, e, profile)?),
        Kind::Transform => (TRANSFORM_FIELDS, transform(at, e, profile)?),
        Kind::Ship => (SHIP_FIELDS, ship(at, e, profile)?),
        Kind::Receive => (RECEIVE_FIELDS, receive(at, e, profile)?),
        Kind::Certify => (CERTIFY_FIELDS, certify(at, e, profile)?),
        Kind::Retire => (RETIRE_FIELDS, retire(at, e, profile)?),
    };
    for key in e.keys() {
        if !COMMON_FIELDS.contains(&key.as_str()) && !allowed.contains(&key.as_str()) {
            return Err(at.refuse(key, format!(
                "{key} is outside the import profile for this kind of event (docs/EPCIS.md, Import); it would be lost, so the event is refused"
            )));
        }
    }
    let actor = match e.get(vocab::EXT_ACTOR) {
        Some(v) => {
            let uri = v.as_str().ok_or_else(|| at.refuse(vocab::EXT_ACTOR, "must be a party URI"))?;
            let id = profile.names.actor_id(uri).ok_or_else(|| {
                at.refuse(vocab::EXT_ACTOR, format!("{uri} is not a party of this log ({}/actors/<id>)", profile.names.base()))
            })?;
            id.parse::<ActorId>().map_err(|err| at.refuse(vocab::EXT_ACTOR, err.to_string()))?
        }
        None => profile.default_actor.clone().ok_or_else(|| {
            at.refuse("", "the event names no actor (lodestone:actor) and the import has keys of several participants")
        })?,
    };
    let id = match e.get(vocab::EXT_EVENT) {
        Some(v) => v
            .as_str()
            .ok_or_else(|| at.refuse(vocab::EXT_EVENT, "must be a string"))?
            .to_owned(),
        // The event hash makes a stable id: importing the same document twice is idempotent.
        None => {
            let hash = event_hash(e, prefixes);
            let hex = hash
                .trim_start_matches("ni:///sha-256;")
                .trim_end_matches("?ver=CBV2.0");
            format!("epcis-{hex}")
        }
    };
    let occurred_at = event_time(at, e)?;
    let mut payload = Map::new();
    payload.insert("kind".into(), json!(kind.name()));
    payload.insert("id".into(), json!(id));
    payload.insert("actor".into(), json!(actor.as_str()));
    payload.insert("log".into(), json!(profile.log));
    payload.insert("occurred_at".into(), json!(occurred_at));
    payload.extend(body);
    let bytes = serde_json::to_vec(&payload).unwrap_or_default();
    Event::from_json(&bytes).map_err(|err| {
        at.refuse(
            "",
            format!("the ledger event it maps to is not valid: {err}"),
        )
    })
}

const COMMON_FIELDS: &[&str] = &[
    "type",
    "eventTime",
    "eventTimeZoneOffset",
    "recordTime",
    "eventID",
    "@context",
    "action",
    "bizStep",
    "disposition",
    vocab::EXT_EVENT,
    vocab::EXT_ACTOR,
    vocab::EXT_PROOF,
];
const EXTRACT_FIELDS: &[&str] = &["quantityList", "readPoint", "bizLocation", "ilmd"];
const TRANSFORM_FIELDS: &[&str] = &[
    "inputQuantityList",
    "outputQuantityList",
    "readPoint",
    "bizLocation",
    "ilmd",
    vocab::EXT_ADDITIVES,
];
const SHIP_FIELDS: &[&str] = &["quantityList", "sourceList", "destinationList"];
const RECEIVE_FIELDS: &[&str] = &["quantityList", "sourceList", "destinationList"];
const CERTIFY_FIELDS: &[&str] = &[
    "quantityList",
    "certificationInfo",
    vocab::EXT_CLAIM,
    vocab::EXT_STATEMENT,
];
const RETIRE_FIELDS: &[&str] = &["quantityList"];

/// The checks of EPCIS 2.0 itself.
fn check_epcis(at: &At, e: Fields<'_>) -> Result<(), Refusal> {
    let t = e
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| at.refuse("type", "missing; every event has a type"))?;
    if !EVENT_TYPES.contains(&t) {
        return Err(at.refuse("type", format!("{t:?} is not an EPCIS 2.0 event type")));
    }
    let time = e
        .get("eventTime")
        .ok_or_else(|| at.refuse("eventTime", "missing; every EPCIS event has an eventTime"))?;
    if time.as_str().and_then(utc_millis).is_none() {
        return Err(at.refuse(
            "eventTime",
            format!("{time} is not an RFC 3339 date-time with a time zone"),
        ));
    }
    if let Some(offset) = e.get("eventTimeZoneOffset") {
        let ok = offset.as_str().is_some_and(|o| {
            let b = o.as_bytes();
            b.len() == 6
                && (b[0] == b'+' || b[0] == b'-')
                && b[3] == b':'
                && [1, 2, 4, 5].iter().all(|&i| b[i].is_ascii_digit())
        });
        if !ok {
            return Err(at.refuse(
                "eventTimeZoneOffset",
                format!("{offset} is not an offset like +02:00"),
            ));
        }
    }
    if t != "TransformationEvent" {
        match e.get("action").and_then(Value::as_str) {
            Some("ADD" | "OBSERVE" | "DELETE") => {}
            Some(other) => {
                return Err(at.refuse("action", format!("{other:?} is not ADD, OBSERVE or DELETE")))
            }
            None => {
                return Err(at.refuse(
                    "action",
                    format!(
                        "missing; a{} {t} has an action",
                        if t.starts_with(['A', 'O']) { "n" } else { "" }
                    ),
                ))
            }
        }
    }
    vocabulary(at, e, "bizStep", "bizstep", BIZ_STEPS)?;
    vocabulary(at, e, "disposition", "disp", DISPOSITIONS)?;
    for list in [
        "quantityList",
        "inputQuantityList",
        "outputQuantityList",
        "childQuantityList",
    ] {
        let Some(items) = e.get(list) else { continue };
        let items = items
            .as_array()
            .ok_or_else(|| at.refuse(list, "must be a list"))?;
        for (i, q) in items.iter().enumerate() {
            let path = format!("{list}[{i}]");
            let q = q
                .as_object()
                .ok_or_else(|| at.refuse(&path, "a quantity element is an object"))?;
            for key in q.keys() {
                if !matches!(key.as_str(), "epcClass" | "quantity" | "uom") {
                    return Err(at.refuse(
                        &format!("{path}.{key}"),
                        format!(
                            "{key} is not a field of a quantity element (epcClass, quantity, uom)"
                        ),
                    ));
                }
            }
            if !q.get("epcClass").is_some_and(Value::is_string) {
                return Err(at.refuse(
                    &format!("{path}.epcClass"),
                    "missing; a quantity element names its class",
                ));
            }
            if let Some(n) = q.get("quantity") {
                if !n.is_number() {
                    return Err(
                        at.refuse(&format!("{path}.quantity"), format!("{n} is not a number"))
                    );
                }
            }
        }
    }
    for (list, key) in [("sourceList", "source"), ("destinationList", "destination")] {
        let Some(items) = e.get(list) else { continue };
        let items = items
            .as_array()
            .ok_or_else(|| at.refuse(list, "must be a list"))?;
        for (i, s) in items.iter().enumerate() {
            let t = s.get("type").and_then(Value::as_str).unwrap_or("");
            let known = cbv_word(t, "sdt").is_some_and(|w| {
                matches!(w.as_str(), "owning_party" | "possessing_party" | "location")
            });
            if !known && !is_uri(t) {
                return Err(at.refuse(&format!("{list}[{i}].type"), format!("{t:?} is not a CBV source/destination type (owning_party, possessing_party, location) nor a URI")));
            }
            if !s.get(key).and_then(Value::as_str).is_some_and(is_uri) {
                return Err(at.refuse(&format!("{list}[{i}].{key}"), "missing or not a URI"));
            }
        }
    }
    if let Some(ilmd) = e.get("ilmd") {
        let ilmd = ilmd
            .as_object()
            .ok_or_else(|| at.refuse("ilmd", "must be an object"))?;
        if let Some(key) = ilmd.keys().find(|k| !k.contains(':')) {
            return Err(at.refuse(
                &format!("ilmd.{key}"),
                format!("{key} has no namespace; ILMD fields are user vocabulary (prefix:name)"),
            ));
        }
    }
    if let Some(c) = e.get("certificationInfo") {
        let ok = match c {
            Value::String(s) => is_uri(s),
            Value::Array(items) => items.iter().all(|i| i.as_str().is_some_and(is_uri)),
            _ => false,
        };
        if !ok {
            return Err(at.refuse("certificationInfo", "must be a URI or a list of URIs"));
        }
    }
    Ok(())
}

fn vocabulary(
    at: &At,
    e: Fields<'_>,
    field: &str,
    urn: &str,
    words: &[&str],
) -> Result<(), Refusal> {
    let Some(v) = e.get(field) else { return Ok(()) };
    let s = v
        .as_str()
        .ok_or_else(|| at.refuse(field, "must be a string"))?;
    match cbv_word(s, urn) {
        Some(w) if words.contains(&w.as_str()) => Ok(()),
        Some(w)
            if !s.contains(':')
                || s.starts_with("urn:epcglobal:cbv")
                || s.starts_with("https://ref.gs1.org/cbv/") =>
        {
            Err(at.refuse(
                field,
                format!("{w:?} is not a CBV 2.0 {field}, and a {field} outside CBV must be a URI"),
            ))
        }
        _ if is_uri(s) => Ok(()),
        _ => Err(at.refuse(field, format!("{s:?} is not a CBV 2.0 {field} nor a URI"))),
    }
}

fn is_uri(s: &str) -> bool {
    match s.split_once(':') {
        Some((scheme, rest)) => {
            !rest.is_empty()
                && scheme
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
                && !s.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Extract,
    Transform,
    Ship,
    Receive,
    Certify,
    Retire,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Extract => "extract",
            Kind::Transform => "transform",
            Kind::Ship => "ship",
            Kind::Receive => "receive",
            Kind::Certify => "certify",
            Kind::Retire => "retire",
        }
    }
}

fn classify(at: &At, e: Fields<'_>) -> Result<Kind, Refusal> {
    let t = e.get("type").and_then(Value::as_str).unwrap_or("");
    if e.contains_key("errorDeclaration") {
        return Err(at.refuse("errorDeclaration", "error declarations are not imported: a ledger event is never withdrawn; record a correcting event instead"));
    }
    for list in [
        "epcList",
        "inputEPCList",
        "outputEPCList",
        "childEPCs",
        "parentID",
    ] {
        if e.contains_key(list) {
            return Err(at.refuse(list, "instance-level identifiers are outside the profile: Lodestone records batches as class-level quantities (quantityList with epcClass)"));
        }
    }
    let step = e.get("bizStep").and_then(Value::as_str);
    match t {
        "TransformationEvent" => {
            let step = step.ok_or_else(|| at.refuse("bizStep", "missing; a transformation names its process by bizStep"))?;
            if step_process(step).is_some() {
                Ok(Kind::Transform)
            } else {
                Err(at.refuse("bizStep", format!("{step:?} is not a process of the profile (docs/EPCIS.md, Vocabulary)")))
            }
        }
        "ObjectEvent" => {
            let action = e.get("action").and_then(Value::as_str).unwrap_or("");
            let word = step.and_then(|s| cbv_word(s, "bizstep"));
            match (action, word.as_deref()) {
                ("ADD", Some("commissioning")) => Ok(Kind::Extract),
                ("OBSERVE", Some("shipping")) => Ok(Kind::Ship),
                ("OBSERVE", Some("receiving")) => Ok(Kind::Receive),
                ("OBSERVE", Some("inspecting")) => Ok(Kind::Certify),
                ("DELETE", Some(s)) if step_retire(s, e.get("disposition").and_then(Value::as_str)).is_some() => Ok(Kind::Retire),
                _ => Err(at.refuse(
                    if step.is_some() { "bizStep" } else { "action" },
                    format!("an ObjectEvent {action} with bizStep {} is outside the profile (it takes ADD commissioning, OBSERVE shipping/receiving/inspecting, DELETE with a retirement step)", step.unwrap_or("(none)")),
                )),
            }
        }
        other => Err(at.refuse("type", format!("{other} is outside the profile: Lodestone imports ObjectEvents and TransformationEvents"))),
    }
}

/// `eventTime` as a ledger timestamp: RFC 3339 in UTC (`Z`), the fraction kept.
fn event_time(at: &At, e: Fields<'_>) -> Result<String, Refusal> {
    let text = e.get("eventTime").and_then(Value::as_str).unwrap_or("");
    if text.ends_with('Z') && text.parse::<crate::model::ids::Timestamp>().is_ok() {
        return Ok(text.to_owned());
    }
    let t = chrono::DateTime::parse_from_rfc3339(text)
        .map_err(|err| at.refuse("eventTime", format!("{text:?}: {err}")))?
        .with_timezone(&chrono::Utc);
    Ok(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
}

/// The single quantity element of an ObjectEvent: its batch and, if `mass`, its grams.
fn single(
    at: &At,
    e: Fields<'_>,
    profile: &ImportProfile,
    mass: bool,
) -> Result<(String, Option<u64>), Refusal> {
    let items = e
        .get("quantityList")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            at.refuse(
                "quantityList",
                "missing; the event names its batch as one quantity element",
            )
        })?;
    if items.len() != 1 {
        return Err(at.refuse(
            "quantityList",
            format!(
                "{} quantity elements; this event takes exactly one batch",
                items.len()
            ),
        ));
    }
    let (batch, grams) = quantity(at, "quantityList[0]", &items[0], profile, mass)?;
    Ok((batch, grams))
}

fn quantity(
    at: &At,
    path: &str,
    q: &Value,
    profile: &ImportProfile,
    mass: bool,
) -> Result<(String, Option<u64>), Refusal> {
    let class = q.get("epcClass").and_then(Value::as_str).unwrap_or("");
    let batch = profile.names.batch_id(class).ok_or_else(|| {
        at.refuse(
            &format!("{path}.epcClass"),
            format!(
                "{class} is not a batch of this log ({}/batches/<id>) nor an LGTIN",
                profile.names.base()
            ),
        )
    })?;
    if !mass {
        return Ok((batch.to_owned(), None));
    }
    let n = q
        .get("quantity")
        .and_then(Value::as_number)
        .ok_or_else(|| {
            at.refuse(
                &format!("{path}.quantity"),
                "missing; this event records a mass",
            )
        })?;
    let uom = q.get("uom").and_then(Value::as_str).ok_or_else(|| {
        at.refuse(
            &format!("{path}.uom"),
            "missing; a mass needs its unit (KGM, TNE or GRM)",
        )
    })?;
    let grams = import_grams(n, uom)
        .map_err(|err| at.refuse(&format!("{path}.quantity"), err.to_string()))?;
    Ok((batch.to_owned(), Some(grams)))
}

fn site(
    at: &At,
    e: Fields<'_>,
    profile: &ImportProfile,
    required: bool,
) -> Result<Option<String>, Refusal> {
    let mut found: Option<(String, &str)> = None;
    for field in ["bizLocation", "readPoint"] {
        let Some(id) = e
            .get(field)
            .and_then(|l| l.get("id"))
            .and_then(Value::as_str)
        else {
            continue;
        };
        let site = profile.names.site_id(id).ok_or_else(|| {
            at.refuse(
                &format!("{field}.id"),
                format!(
                    "{id} is not a site of this log ({}/sites/<id>)",
                    profile.names.base()
                ),
            )
        })?;
        if let Some((other, at_field)) = &found {
            if other != site {
                return Err(at.refuse(
                    &format!("{field}.id"),
                    format!("names site {site}, but {at_field} names {other}"),
                ));
            }
        }
        found = Some((site.to_owned(), field));
    }
    match found {
        Some((s, _)) => Ok(Some(s)),
        None if required => Err(at.refuse(
            "bizLocation",
            "missing; the event happens at a site of its actor",
        )),
        None => Ok(None),
    }
}

fn ilmd<'a>(at: &At, e: Fields<'a>, allowed: &[&str]) -> Result<Option<Fields<'a>>, Refusal> {
    let Some(ilmd) = e.get("ilmd").and_then(Value::as_object) else {
        return Ok(None);
    };
    if let Some(key) = ilmd.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(at.refuse(
            &format!("ilmd.{key}"),
            format!(
                "{key} is outside the profile's ILMD ({})",
                allowed.join(", ")
            ),
        ));
    }
    Ok(Some(ilmd))
}

fn extract(at: &At, e: Fields<'_>, profile: &ImportProfile) -> Result<Map<String, Value>, Refusal> {
    let (batch, grams) = single(at, e, profile, true)?;
    let site = site(at, e, profile, true)?.unwrap_or_default();
    if let Some(d) = e.get("disposition").and_then(Value::as_str) {
        if cbv_word(d, "disp").as_deref() != Some("active") {
            return Err(at.refuse("disposition", "a commissioning is active"));
        }
    }
    let ilmd = ilmd(
        at,
        e,
        &[
            "cbvmda:countryOfOrigin",
            "lodestone:mineSite",
            "lodestone:form",
            "lodestone:elements",
        ],
    )?;
    let mut out = Map::new();
    if let Some(ilmd) = ilmd {
        if let Some(mine) = ilmd.get("lodestone:mineSite") {
            if mine.as_str() != Some(profile.names.site(&site).as_str()) {
                return Err(at.refuse(
                    "ilmd.lodestone:mineSite",
                    "names another site than the event's bizLocation",
                ));
            }
        }
        if let Some(elements) = ilmd.get("lodestone:elements") {
            out.insert("elements".into(), elements.clone());
        }
    }
    let form = ilmd
        .and_then(|i| i.get("lodestone:form"))
        .cloned()
        .unwrap_or_else(|| json!("ore"));
    out.insert("site".into(), json!(site));
    out.insert("batch".into(), json!(batch));
    out.insert("form".into(), form);
    out.insert("mass_g".into(), json!(grams));
    Ok(out)
}

fn transform(
    at: &At,
    e: Fields<'_>,
    profile: &ImportProfile,
) -> Result<Map<String, Value>, Refusal> {
    let process = e
        .get("bizStep")
        .and_then(Value::as_str)
        .and_then(step_process)
        .map(|p| p.as_str())
        .unwrap_or("");
    let list = |name: &str| -> Result<Vec<(String, u64)>, Refusal> {
        let items = e
            .get(name)
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty())
            .ok_or_else(|| {
                at.refuse(
                    name,
                    "missing or empty; a transformation lists its batches with masses",
                )
            })?;
        items
            .iter()
            .enumerate()
            .map(|(i, q)| {
                let (b, g) = quantity(at, &format!("{name}[{i}]"), q, profile, true)?;
                Ok((b, g.unwrap_or(0)))
            })
            .collect()
    };
    let inputs = list("inputQuantityList")?;
    let outputs = list("outputQuantityList")?;
    let ilmd = ilmd(at, e, &["lodestone:outputs"])?;
    let mut described: BTreeMap<String, &Map<String, Value>> = BTreeMap::new();
    if let Some(items) = ilmd.and_then(|i| i.get("lodestone:outputs")) {
        let items = items
            .as_array()
            .ok_or_else(|| at.refuse("ilmd.lodestone:outputs", "must be a list"))?;
        for (i, item) in items.iter().enumerate() {
            let path = format!("ilmd.lodestone:outputs[{i}]");
            let item = item
                .as_object()
                .ok_or_else(|| at.refuse(&path, "must be an object"))?;
            if let Some(key) = item.keys().find(|k| {
                !matches!(
                    k.as_str(),
                    "lodestone:batch" | "lodestone:form" | "lodestone:elements"
                )
            }) {
                return Err(at.refuse(&format!("{path}.{key}"), format!("{key} is not a field of an output (lodestone:batch, lodestone:form, lodestone:elements)")));
            }
            let uri = item
                .get("lodestone:batch")
                .and_then(Value::as_str)
                .unwrap_or("");
            let batch = profile.names.batch_id(uri).ok_or_else(|| {
                at.refuse(
                    &format!("{path}.lodestone:batch"),
                    "not a batch of this log",
                )
            })?;
            described.insert(batch.to_owned(), item);
        }
    }
    let mut out = Map::new();
    out.insert("process".into(), json!(process));
    if let Some(site) = site(at, e, profile, false)? {
        out.insert("site".into(), json!(site));
    }
    out.insert(
        "inputs".into(),
        Value::Array(
            inputs
                .iter()
                .map(|(b, g)| json!({"batch": b, "mass_g": g}))
                .collect(),
        ),
    );
    let mut outs = Vec::new();
    for (i, (batch, grams)) in outputs.iter().enumerate() {
        let info = described.get(batch).ok_or_else(|| {
            at.refuse(
                &format!("outputQuantityList[{i}]"),
                format!("output {batch} has no form: describe it in ilmd lodestone:outputs"),
            )
        })?;
        let mut o = Map::new();
        o.insert("batch".into(), json!(batch));
        o.insert(
            "form".into(),
            info.get("lodestone:form").cloned().unwrap_or(Value::Null),
        );
        o.insert("mass_g".into(), json!(grams));
        if let Some(el) = info.get("lodestone:elements") {
            o.insert("elements".into(), el.clone());
        }
        outs.push(Value::Object(o));
    }
    out.insert("outputs".into(), Value::Array(outs));
    if let Some(additives) = e.get(vocab::EXT_ADDITIVES) {
        let items = additives
            .as_array()
            .ok_or_else(|| at.refuse(vocab::EXT_ADDITIVES, "must be a list"))?;
        let mut list = Vec::new();
        for (i, a) in items.iter().enumerate() {
            let path = format!("{}[{i}]", vocab::EXT_ADDITIVES);
            let material = a
                .get("lodestone:material")
                .and_then(Value::as_str)
                .ok_or_else(|| at.refuse(&format!("{path}.lodestone:material"), "missing"))?;
            let n = a
                .get("lodestone:quantity")
                .and_then(Value::as_number)
                .ok_or_else(|| {
                    at.refuse(
                        &format!("{path}.lodestone:quantity"),
                        "missing or not a number",
                    )
                })?;
            let uom = a
                .get("lodestone:uom")
                .and_then(Value::as_str)
                .unwrap_or("KGM");
            let g = import_grams(n, uom)
                .map_err(|err| at.refuse(&format!("{path}.lodestone:quantity"), err.to_string()))?;
            list.push(json!({"material": material, "mass_g": g}));
        }
        out.insert("additives".into(), Value::Array(list));
    }
    Ok(out)
}

/// The actor a party list names (owning or possessing party, which must agree).
fn party(
    at: &At,
    e: Fields<'_>,
    list: &str,
    key: &str,
    profile: &ImportProfile,
) -> Result<Option<String>, Refusal> {
    let mut found: Option<String> = None;
    for (i, s) in e
        .get(list)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let kind = s
            .get("type")
            .and_then(Value::as_str)
            .and_then(|t| cbv_word(t, "sdt"));
        if !matches!(kind.as_deref(), Some("owning_party" | "possessing_party")) {
            continue;
        }
        let uri = s.get(key).and_then(Value::as_str).unwrap_or("");
        let actor = profile.names.actor_id(uri).ok_or_else(|| {
            at.refuse(
                &format!("{list}[{i}].{key}"),
                format!(
                    "{uri} is not a party of this log ({}/actors/<id>)",
                    profile.names.base()
                ),
            )
        })?;
        if found.as_deref().is_some_and(|f| f != actor) {
            return Err(at.refuse(
                &format!("{list}[{i}].{key}"),
                "owning and possessing party differ; Lodestone moves custody to one actor",
            ));
        }
        found = Some(actor.to_owned());
    }
    Ok(found)
}

fn ship(at: &At, e: Fields<'_>, profile: &ImportProfile) -> Result<Map<String, Value>, Refusal> {
    let (batch, _) = single(at, e, profile, false)?;
    party(at, e, "sourceList", "source", profile)?;
    let to = party(at, e, "destinationList", "destination", profile)?.ok_or_else(|| {
        at.refuse(
            "destinationList",
            "missing; a shipment names its destination party",
        )
    })?;
    let mut out = Map::new();
    out.insert("batch".into(), json!(batch));
    out.insert("to".into(), json!(to));
    Ok(out)
}

fn receive(at: &At, e: Fields<'_>, profile: &ImportProfile) -> Result<Map<String, Value>, Refusal> {
    let (batch, grams) = single(at, e, profile, true)?;
    party(at, e, "sourceList", "source", profile)?;
    party(at, e, "destinationList", "destination", profile)?;
    let mut out = Map::new();
    out.insert("batch".into(), json!(batch));
    out.insert("mass_g".into(), json!(grams));
    Ok(out)
}

fn certify(at: &At, e: Fields<'_>, profile: &ImportProfile) -> Result<Map<String, Value>, Refusal> {
    let (batch, _) = single(at, e, profile, false)?;
    let info = e
        .get("certificationInfo")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            at.refuse(
                "certificationInfo",
                "missing or a list; a certificate names one document as ni:///sha-256;<base64url>",
            )
        })?;
    let digest = document_digest(info).ok_or_else(|| {
        at.refuse(
            "certificationInfo",
            format!("{info} is not a document digest (ni:///sha-256;<base64url of 32 bytes>)"),
        )
    })?;
    let claim = e
        .get(vocab::EXT_CLAIM)
        .ok_or_else(|| at.refuse(vocab::EXT_CLAIM, "missing; a certificate says its claim"))?;
    let statement = e.get(vocab::EXT_STATEMENT).ok_or_else(|| {
        at.refuse(
            vocab::EXT_STATEMENT,
            "missing; a certificate states its claim in words",
        )
    })?;
    let mut out = Map::new();
    out.insert("batch".into(), json!(batch));
    out.insert("claim".into(), claim.clone());
    out.insert("statement".into(), statement.clone());
    out.insert("document_sha256".into(), json!(hex::encode(digest)));
    Ok(out)
}

fn retire(at: &At, e: Fields<'_>, profile: &ImportProfile) -> Result<Map<String, Value>, Refusal> {
    let (batch, _) = single(at, e, profile, false)?;
    let step = e.get("bizStep").and_then(Value::as_str).unwrap_or("");
    let reason = step_retire(step, e.get("disposition").and_then(Value::as_str))
        .ok_or_else(|| at.refuse("disposition", "not a retirement this profile knows"))?;
    let mut out = Map::new();
    out.insert("batch".into(), json!(batch));
    out.insert("reason".into(), json!(reason.as_str()));
    Ok(out)
}
