//! The EPCIS event hash (CBV 2.0 §8.9 "EPCIS Event Hash ID"): a canonical pre-hash string of an
//! event, hashed with SHA-256 and written as `ni:///sha-256;<hex>?ver=CBV2.0` (RFC 6920 naming).
//!
//! The pre-hash string concatenates, without separators, `key=value` pairs (and bare keys for
//! parents) in this order:
//!
//! 1. `eventType`, `eventTime` and `eventTimeZoneOffset`, `certificationInfo`, `parentID`,
//!    `epcList`, `inputEPCList`, `childEPCs`, `quantityList`, `childQuantityList`,
//!    `inputQuantityList`, `outputEPCList`, `outputQuantityList`, `action`, `transformationID`,
//!    `bizStep`, `disposition`, `persistentDisposition` (`set`, `unset`), `readPoint` (`id`,
//!    then its extensions), `bizLocation` (likewise), `sensorElementList` (`sensorMetadata`
//!    and `sensorReport` fields in the CBV's order, then extensions);
//! 2. then every other field — `bizTransactionList`, `sourceList`, `destinationList`, `ilmd`
//!    and the user extensions — each rendered to a string, sorted by code point. This is the
//!    order the published reference pre-hashes have (GS1 Germany's reference implementation,
//!    whose examples `fixtures/epcis/event-hash/` pins); it puts `destinationList` before
//!    `sourceList`, where CBV's table lists them the other way round.
//!
//! Members of lists (EPCs, quantity elements, sources, extension values) are sorted; extension
//! names are written `{namespace}local` with the namespace from the document's `@context`.
//! Values are normalised: whitespace trimmed; times in UTC with milliseconds (`…:30.000Z`,
//! rounded half up); numbers without trailing zeros; CBV URNs and bare CBV words as
//! `https://ref.gs1.org/cbv/…` web URIs; EPC URIs as canonical GS1 Digital Link URIs
//! ([`super::digital_link`]); CURIEs expanded. Left out: `eventID`, `recordTime`,
//! `errorDeclaration` and — Lodestone's choice, documented in docs/EPCIS.md — `lodestone:proof`,
//! which says where a ledger recorded the event, not what happened, so that the same event has
//! the same hash on every ledger.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use super::digital_link::{constrain_digital_link, epc_to_digital_link};
use super::vocab;

/// Fields the hash leaves out.
const EXCLUDED: &[&str] = &[
    "type",
    "eventID",
    "recordTime",
    "errorDeclaration",
    "@context",
    vocab::EXT_PROOF,
];

/// JSON-LD prefixes for extension names and CURIE values: the EPCIS 2.0 context's, and any a
/// document declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefixes(BTreeMap<String, String>);

impl Default for Prefixes {
    fn default() -> Self {
        let mut map = BTreeMap::new();
        for (p, ns) in [
            ("gs1", "https://gs1.org/voc/"),
            ("cbv", "https://ref.gs1.org/cbv/"),
            ("epcis", "https://ref.gs1.org/epcis/"),
            ("cbvmda", vocab::CBVMDA_NAMESPACE),
            (vocab::PREFIX, vocab::NAMESPACE),
        ] {
            map.insert(p.to_owned(), ns.to_owned());
        }
        Prefixes(map)
    }
}

impl Prefixes {
    /// The standard prefixes plus those of a document's `@context` (a string, an object or an
    /// array of both; strings are remote contexts and add nothing here).
    pub fn from_context(context: Option<&Value>) -> Prefixes {
        let mut prefixes = Prefixes::default();
        let mut add = |object: &Map<String, Value>| {
            for (k, v) in object {
                if let Some(ns) = v.as_str() {
                    prefixes.0.insert(k.clone(), ns.to_owned());
                }
            }
        };
        match context {
            Some(Value::Object(o)) => add(o),
            Some(Value::Array(items)) => {
                for item in items {
                    if let Value::Object(o) = item {
                        add(o);
                    }
                }
            }
            _ => {}
        }
        prefixes
    }

    /// `{namespace}local` for `prefix:local`; other names unchanged.
    fn expand_name(&self, name: &str) -> String {
        match name.split_once(':') {
            Some((p, local)) if !local.starts_with("//") => match self.0.get(p) {
                Some(ns) => format!("{{{ns}}}{local}"),
                None => name.to_owned(),
            },
            _ => name.to_owned(),
        }
    }

    /// A CURIE value expanded; other values unchanged.
    fn expand_value(&self, value: &str) -> Option<String> {
        let (p, local) = value.split_once(':')?;
        if local.starts_with("//") || matches!(p, "urn" | "http" | "https") {
            return None;
        }
        self.0.get(p).map(|ns| format!("{ns}{local}"))
    }
}

/// The event hash of one EPCIS event (a JSON object) under `prefixes`.
pub fn event_hash(event: &Map<String, Value>, prefixes: &Prefixes) -> String {
    let digest = Sha256::digest(pre_hash(event, prefixes).as_bytes());
    format!("ni:///sha-256;{}?ver=CBV2.0", hex::encode(digest))
}

/// The canonical pre-hash string of one event (see the module doc).
pub fn pre_hash(event: &Map<String, Value>, prefixes: &Prefixes) -> String {
    let c = Canon { prefixes };
    let mut out = String::new();
    if let Some(t) = event.get("type").and_then(Value::as_str) {
        out.push_str("eventType=");
        out.push_str(t.trim());
    }
    let mut done: Vec<&str> = Vec::new();
    for field in ORDERED {
        let Some(value) = event.get(*field) else {
            continue;
        };
        done.push(field);
        out.push_str(&c.ordered(field, value));
    }
    let mut rest: Vec<String> = event
        .iter()
        .filter(|(k, _)| !done.contains(&k.as_str()) && !EXCLUDED.contains(&k.as_str()))
        .map(|(k, v)| c.rest(k, v))
        .filter(|s| !s.is_empty())
        .collect();
    rest.sort();
    out.extend(rest);
    out
}

/// The fields of step 1, in order.
const ORDERED: &[&str] = &[
    "eventTime",
    "eventTimeZoneOffset",
    "certificationInfo",
    "parentID",
    "epcList",
    "inputEPCList",
    "childEPCs",
    "quantityList",
    "childQuantityList",
    "inputQuantityList",
    "outputEPCList",
    "outputQuantityList",
    "action",
    "transformationID",
    "bizStep",
    "disposition",
    "persistentDisposition",
    "readPoint",
    "bizLocation",
    "sensorElementList",
];

const METADATA_ORDER: &[&str] = &[
    "time",
    "startTime",
    "endTime",
    "deviceID",
    "deviceMetadata",
    "rawData",
    "dataProcessingMethod",
    "bizRules",
];

const REPORT_ORDER: &[&str] = &[
    "type",
    "exception",
    "deviceID",
    "deviceMetadata",
    "rawData",
    "dataProcessingMethod",
    "time",
    "microorganism",
    "chemicalSubstance",
    "value",
    "component",
    "stringValue",
    "booleanValue",
    "hexBinaryValue",
    "uriValue",
    "minValue",
    "maxValue",
    "meanValue",
    "sDev",
    "percRank",
    "percValue",
    "uom",
    "coordinateReferenceSystem",
];

struct Canon<'a> {
    prefixes: &'a Prefixes,
}

/// How a scalar is normalised, by the field it is in.
#[derive(Clone, Copy)]
enum Vocab {
    /// A plain value (identifier, URI, text).
    Plain,
    /// A time: UTC, milliseconds.
    Time,
    /// A CBV vocabulary with this web-URI stem (`BizStep-`, …).
    Cbv(&'static str),
    /// GS1 web vocabulary (`https://gs1.org/voc/…`), for sensor types and alerts.
    Gs1,
}

impl Canon<'_> {
    fn ordered(&self, field: &str, value: &Value) -> String {
        match field {
            "eventTime" => pair(field, self.scalar(value, Vocab::Time)),
            "epcList" | "inputEPCList" | "childEPCs" | "outputEPCList" => {
                self.list(field, value, |v| pair("epc", self.scalar(v, Vocab::Plain)))
            }
            "quantityList" | "childQuantityList" | "inputQuantityList" | "outputQuantityList" => {
                self.list(field, value, |v| {
                    self.fields(
                        "quantityElement",
                        v,
                        &["epcClass", "quantity", "uom"],
                        false,
                    )
                })
            }
            "bizStep" => pair(field, self.scalar(value, Vocab::Cbv("BizStep-"))),
            "disposition" => pair(field, self.scalar(value, Vocab::Cbv("Disp-"))),
            "persistentDisposition" => {
                let mut out = String::new();
                for key in ["set", "unset"] {
                    let mut items: Vec<String> = as_items(value.get(key))
                        .map(|v| pair(key, self.scalar(v, Vocab::Cbv("Disp-"))))
                        .collect();
                    items.sort();
                    out.extend(items);
                }
                parent(field, out)
            }
            "readPoint" | "bizLocation" => self.fields(field, value, &["id"], true),
            "sensorElementList" => self.list(field, value, |element| {
                let mut out = String::new();
                if let Some(m) = element.get("sensorMetadata") {
                    out.push_str(&self.fields("sensorMetadata", m, METADATA_ORDER, true));
                }
                let mut reports: Vec<String> = as_items(element.get("sensorReport"))
                    .map(|r| self.fields("sensorReport", r, REPORT_ORDER, true))
                    .collect();
                reports.sort();
                out.extend(reports);
                if let Value::Object(o) = element {
                    out.push_str(&self.extensions(o, &["sensorMetadata", "sensorReport"]));
                }
                parent("sensorElement", out)
            }),
            _ => pair(field, self.scalar(value, Vocab::Plain)),
        }
    }

    /// Step 2: a field outside the fixed order.
    fn rest(&self, field: &str, value: &Value) -> String {
        match field {
            "bizTransactionList" => self.typed_list(field, value, "bizTransaction", "BTT-"),
            "sourceList" => self.typed_list(field, value, "source", "SDT-"),
            "destinationList" => self.typed_list(field, value, "destination", "SDT-"),
            "ilmd" => match value {
                Value::Object(o) => parent(field, self.extensions(o, &[])),
                _ => String::new(),
            },
            _ => self.generic(field, value),
        }
    }

    /// `list` + the sorted renderings of its items.
    fn list(&self, field: &str, value: &Value, item: impl Fn(&Value) -> String) -> String {
        let mut items: Vec<String> = as_items(Some(value)).map(item).collect();
        items.retain(|s| !s.is_empty());
        items.sort();
        parent(field, items.concat())
    }

    /// `bizTransactionList`, `sourceList`, `destinationList`: `type=…` then the value, per item.
    fn typed_list(&self, field: &str, value: &Value, key: &str, stem: &'static str) -> String {
        self.list(field, value, |item| {
            let mut out = String::new();
            if let Some(t) = item.get("type") {
                out.push_str(&pair("type", self.scalar(t, Vocab::Cbv(stem))));
            }
            if let Some(v) = item.get(key) {
                out.push_str(&pair(key, self.scalar(v, Vocab::Plain)));
            }
            out
        })
    }

    /// `name` + the listed fields in order (+ the object's extensions, if `extensions`).
    fn fields(&self, name: &str, value: &Value, order: &[&str], extensions: bool) -> String {
        let Value::Object(o) = value else {
            return String::new();
        };
        let mut out = String::new();
        for key in order {
            if let Some(v) = o.get(*key) {
                let vocab = match (name, *key) {
                    ("sensorReport", "type" | "exception") => Vocab::Gs1,
                    (_, "time" | "startTime" | "endTime") => Vocab::Time,
                    _ => Vocab::Plain,
                };
                out.push_str(&pair(key, self.scalar(v, vocab)));
            }
        }
        if extensions {
            out.push_str(&self.extensions(o, order));
        }
        parent(name, out)
    }

    /// The members of `o` not in `known`, each rendered generically, sorted.
    fn extensions(&self, o: &Map<String, Value>, known: &[&str]) -> String {
        let mut items: Vec<String> = o
            .iter()
            .filter(|(k, _)| !known.contains(&k.as_str()))
            .map(|(k, v)| self.generic(k, v))
            .filter(|s| !s.is_empty())
            .collect();
        items.sort();
        items.concat()
    }

    /// A user extension: `{ns}name=value`, or `{ns}name` + its sorted children; an array gives
    /// one rendering per member.
    fn generic(&self, key: &str, value: &Value) -> String {
        let name = self.prefixes.expand_name(key);
        match value {
            Value::Object(o) => parent(&name, self.extensions(o, &[])),
            Value::Array(items) => {
                let mut parts: Vec<String> = items.iter().map(|v| self.generic(key, v)).collect();
                parts.sort();
                parts.concat()
            }
            other => pair(&name, self.scalar(other, Vocab::Plain)),
        }
    }

    /// A normalised scalar ("" for nothing).
    fn scalar(&self, value: &Value, vocab: Vocab) -> String {
        let text = match value {
            Value::String(s) => s.trim().to_owned(),
            Value::Number(n) => return number(n),
            Value::Bool(b) => return b.to_string(),
            Value::Array(items) => {
                // certificationInfo may be a list of URIs.
                let mut parts: Vec<String> = items.iter().map(|v| self.scalar(v, vocab)).collect();
                parts.sort();
                return parts.join("");
            }
            _ => return String::new(),
        };
        match vocab {
            Vocab::Time => utc_millis(&text).unwrap_or(text),
            Vocab::Cbv(stem) if is_bare_word(&text) => {
                format!("https://ref.gs1.org/cbv/{stem}{text}")
            }
            Vocab::Gs1 if is_bare_word(&text) => format!("https://gs1.org/voc/{text}"),
            _ => self.uri(text),
        }
    }

    fn uri(&self, text: String) -> String {
        for (urn, web) in [
            ("urn:epcglobal:cbv:bizstep:", "BizStep-"),
            ("urn:epcglobal:cbv:disp:", "Disp-"),
            ("urn:epcglobal:cbv:btt:", "BTT-"),
            ("urn:epcglobal:cbv:sdt:", "SDT-"),
            ("urn:epcglobal:cbv:er:", "ER-"),
        ] {
            if let Some(word) = text.strip_prefix(urn) {
                return format!("https://ref.gs1.org/cbv/{web}{word}");
            }
        }
        if let Some(dl) = epc_to_digital_link(&text).or_else(|| constrain_digital_link(&text)) {
            return dl;
        }
        self.prefixes.expand_value(&text).unwrap_or(text)
    }
}

fn is_bare_word(text: &str) -> bool {
    !text.is_empty() && !text.contains(':')
}

fn pair(key: &str, value: String) -> String {
    if value.is_empty() {
        String::new()
    } else {
        format!("{key}={value}")
    }
}

fn parent(name: &str, children: String) -> String {
    if children.is_empty() {
        String::new()
    } else {
        format!("{name}{children}")
    }
}

fn as_items(value: Option<&Value>) -> Box<dyn Iterator<Item = &Value> + '_> {
    match value {
        Some(Value::Array(items)) => Box::new(items.iter()),
        Some(Value::Null) | None => Box::new(std::iter::empty()),
        Some(other) => Box::new(std::iter::once(other)),
    }
}

/// A number without trailing zeros: integers as integers, others in their shortest decimal.
fn number(n: &serde_json::Number) -> String {
    if n.is_f64() {
        let f = n.as_f64().unwrap_or(f64::NAN);
        if f.fract() == 0.0 && f.abs() < 1e15 {
            // Integral: no `.0`. The cast is exact below 2^53.
            return format!("{}", f as i64);
        }
        return format!("{f}");
    }
    n.to_string()
}

/// An RFC 3339 time in UTC with exactly three fraction digits, rounded half up.
pub fn utc_millis(text: &str) -> Option<String> {
    let t = chrono::DateTime::parse_from_rfc3339(text).ok()?;
    let utc = t.with_timezone(&chrono::Utc);
    let nanos = u64::from(utc.timestamp_subsec_nanos());
    let rounded = utc - chrono::Duration::nanoseconds(i64::try_from(nanos).ok()?)
        + chrono::Duration::milliseconds(i64::try_from((nanos + 500_000) / 1_000_000).ok()?);
    Some(rounded.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_milliseconds_rounded_half_up() {
        assert_eq!(
            utc_millis("2020-03-04T11:00:30+01:00").as_deref(),
            Some("2020-03-04T10:00:30.000Z")
        );
        assert_eq!(
            utc_millis("2023-01-18T11:04:03.1415Z").as_deref(),
            Some("2023-01-18T11:04:03.142Z")
        );
        assert_eq!(
            utc_millis("2023-01-18T11:04:03.1414Z").as_deref(),
            Some("2023-01-18T11:04:03.141Z")
        );
        assert_eq!(
            utc_millis("2023-01-18T23:59:59.9999Z").as_deref(),
            Some("2023-01-19T00:00:00.000Z")
        );
        assert_eq!(utc_millis("not a time"), None);
    }

    #[test]
    fn numbers_lose_trailing_zeros() {
        let n = |t: &str| number(&serde_json::from_str(t).unwrap());
        assert_eq!(n("1.0"), "1");
        assert_eq!(n("200.0"), "200");
        assert_eq!(n("0.3434"), "0.3434");
        assert_eq!(n("12"), "12");
    }
}
