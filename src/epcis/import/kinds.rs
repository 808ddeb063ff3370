//! The profile's conversions, one per ledger event kind: each reads the EPCIS fields the
//! profile gives that kind (docs/EPCIS.md, "Import") and writes the ledger event's fields, or
//! refuses at the path of the field at fault.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::{At, Fields, ImportProfile, Refusal};
use crate::epcis::export::document_digest;
use crate::epcis::mass::import_grams;
use crate::epcis::vocab::{self, cbv_word, step_process, step_retire};

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

pub(super) fn extract(
    at: &At,
    e: Fields<'_>,
    profile: &ImportProfile,
) -> Result<Map<String, Value>, Refusal> {
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
            "lodestone:composition",
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
        if let Some(composition) = ilmd.get("lodestone:composition") {
            out.insert("composition".into(), composition.clone());
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

pub(super) fn transform(
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
                    "lodestone:batch"
                        | "lodestone:form"
                        | "lodestone:elements"
                        | "lodestone:composition"
                )
            }) {
                return Err(at.refuse(&format!("{path}.{key}"), format!("{key} is not a field of an output (lodestone:batch, lodestone:form, lodestone:elements, lodestone:composition)")));
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
        if let Some(composition) = info.get("lodestone:composition") {
            o.insert("composition".into(), composition.clone());
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

pub(super) fn ship(
    at: &At,
    e: Fields<'_>,
    profile: &ImportProfile,
) -> Result<Map<String, Value>, Refusal> {
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

pub(super) fn receive(
    at: &At,
    e: Fields<'_>,
    profile: &ImportProfile,
) -> Result<Map<String, Value>, Refusal> {
    let (batch, grams) = single(at, e, profile, true)?;
    party(at, e, "sourceList", "source", profile)?;
    party(at, e, "destinationList", "destination", profile)?;
    let mut out = Map::new();
    out.insert("batch".into(), json!(batch));
    out.insert("mass_g".into(), json!(grams));
    Ok(out)
}

pub(super) fn certify(
    at: &At,
    e: Fields<'_>,
    profile: &ImportProfile,
) -> Result<Map<String, Value>, Refusal> {
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
    if let Some(composition) = e.get(vocab::EXT_COMPOSITION) {
        out.insert("composition".into(), composition.clone());
    }
    Ok(out)
}

pub(super) fn retire(
    at: &At,
    e: Fields<'_>,
    profile: &ImportProfile,
) -> Result<Map<String, Value>, Refusal> {
    let (batch, _) = single(at, e, profile, false)?;
    let step = e.get("bizStep").and_then(Value::as_str).unwrap_or("");
    let reason = step_retire(step, e.get("disposition").and_then(Value::as_str))
        .ok_or_else(|| at.refuse("disposition", "not a retirement this profile knows"))?;
    let mut out = Map::new();
    out.insert("batch".into(), json!(batch));
    out.insert("reason".into(), json!(reason.as_str()));
    Ok(out)
}
