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

use serde_json::{json, Map, Value};

use super::hash::{event_hash, Prefixes};
use super::vocab::{self, cbv_word, step_process, step_retire, Names};
use crate::model::event::Event;
use crate::model::ids::ActorId;

mod checks;
mod kinds;

use checks::check_epcis;
use kinds::{certify, extract, receive, retire, ship, transform};

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
    vocab::EXT_COMPOSITION,
];
const RETIRE_FIELDS: &[&str] = &["quantityList"];

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
