//! The checks of EPCIS 2.0 itself, before the profile: event types, times, actions, CBV 2.0
//! business steps and dispositions (the GS1 EPCIS 2.0 JSON Schema's word lists), quantity
//! elements, source and destination types, namespaced ILMD and certification info.

use serde_json::Value;

use super::{At, Fields, Refusal};
use crate::epcis::hash::utc_millis;
use crate::epcis::vocab::cbv_word;

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

/// The checks of EPCIS 2.0 itself.
pub(super) fn check_epcis(at: &At, e: Fields<'_>) -> Result<(), Refusal> {
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

pub(super) fn is_uri(s: &str) -> bool {
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
