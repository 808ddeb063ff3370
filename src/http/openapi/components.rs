//! The component schemas of the OpenAPI document: JSON Schema 2020-12 (the dialect of OpenAPI
//! 3.1) for every JSON body the API reads or writes. The bundle and the verify report come
//! verbatim from `docs/schemas/` (their `$defs` become components of the same names), so the
//! published schema files and the API description cannot disagree; the rest are written here,
//! next to the routes, and tests/openapi.rs validates real responses against them.
//!
//! Handlers name a component with `body = ref("#/components/schemas/<Name>")`; a reference
//! to a component missing here fails the document's own test.

mod flows;

use serde_json::{json, Map, Value};

use crate::model::material::{Claim, Element, Form, Process, RetireReason, Role};

/// The published bundle schema (docs/schemas/bundle.schema.json).
pub const BUNDLE_SCHEMA: &str = include_str!("../../../docs/schemas/bundle.schema.json");
/// The published verify-report schema (docs/schemas/verify-report.schema.json).
pub const VERIFY_REPORT_SCHEMA: &str =
    include_str!("../../../docs/schemas/verify-report.schema.json");

/// `u64` as JSON Schema.
fn u64_schema() -> Value {
    json!({"type": "integer", "minimum": 0, "maximum": u64::MAX})
}

fn nullable(schema: Value) -> Value {
    json!({"oneOf": [schema, {"type": "null"}]})
}

fn r(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// Every component schema, by name.
pub fn schemas() -> Map<String, Value> {
    let mut all = Map::new();
    // The published files first: their $defs (Hash, BatchId, ...) are shared with the rest.
    embed(&mut all, "Bundle", BUNDLE_SCHEMA);
    embed(&mut all, "VerifyReport", VERIFY_REPORT_SCHEMA);
    for (name, schema) in written_here().into_iter().chain(flows::schemas()) {
        let replaced = all.insert(name.to_owned(), schema);
        assert!(replaced.is_none(), "component {name} is defined twice");
    }
    // The provenance answers are the origin report with the batch (and the DAG) beside it
    // (`#[serde(flatten)]`): the report's closed object, extended.
    let report = all.get("OriginReport").cloned().unwrap_or_default();
    all.insert(
        "OriginShares".into(),
        extended(
            &report,
            &[("batch", r("BatchId")), ("elements", r("ElementReport"))],
            "`?dag=false`: the origin shares alone.",
        ),
    );
    all.insert(
        "Provenance".into(),
        extended(
            &report,
            &[
                ("batch", r("BatchId")),
                ("elements", r("ElementReport")),
                ("dag", dag_schema()),
            ],
            "The origin shares and the upstream DAG.",
        ),
    );
    all
}

/// `base` (a closed object schema) with more required properties.
fn extended(base: &Value, more: &[(&str, Value)], description: &str) -> Value {
    let mut schema = base.clone();
    if let Value::Object(o) = &mut schema {
        o.insert("description".into(), json!(description));
        if let Some(Value::Object(properties)) = o.get_mut("properties") {
            for (name, property) in more {
                properties.insert((*name).to_owned(), property.clone());
            }
        }
        if let Some(Value::Array(required)) = o.get_mut("required") {
            required.extend(more.iter().map(|(name, _)| json!(name)));
        }
    }
    schema
}

/// The upstream DAG of `GET /v1/batches/{id}/provenance`.
fn dag_schema() -> Value {
    json!({
        "type": "object", "additionalProperties": false,
        "required": ["root", "nodes", "edges", "entries"],
        "properties": {
            "root": r("BatchId"),
            "nodes": {"type": "array", "items": {
                "type": "object", "additionalProperties": false,
                "required": ["batch", "form", "elements", "created_g", "remaining_g",
                             "transit_loss_g", "custodian", "status", "created_in",
                             "created_at", "creation", "certificates"],
                "properties": {
                    "batch": r("BatchId"), "form": names(Form::NAMES),
                    "elements": {"type": "array", "items": names(Element::NAMES)},
                    "created_g": u64_schema(), "remaining_g": u64_schema(),
                    "transit_loss_g": u64_schema(), "custodian": r("ActorId"),
                    "status": r("BatchStatus"), "created_in": u64_schema(),
                    "created_at": r("Timestamp"),
                    "creation": {"oneOf": [
                        {"type": "object", "additionalProperties": false,
                         "required": ["kind", "site"],
                         "properties": {"kind": {"const": "extract"}, "site": r("ActorId")}},
                        {"type": "object", "additionalProperties": false,
                         "required": ["kind", "process", "additives_g", "outputs_total_g", "operator"],
                         "properties": {"kind": {"const": "transform"},
                            "process": names(Process::NAMES),
                            "additives_g": u64_schema(), "outputs_total_g": u64_schema(),
                            "operator": r("ActorId")}},
                    ]},
                    "certificates": {"type": "array", "items": r("Certificate")},
                    "composition": r("Composition"),
                    "assays": {"type": "array", "items": r("AssayComposition")},
                    "made_at": {"type": "string", "minLength": 1},
                }
            }},
            "edges": {"type": "array", "items": {
                "type": "object", "additionalProperties": false,
                "required": ["from", "to", "taken_g"],
                "properties": {"from": r("BatchId"), "to": r("BatchId"), "taken_g": u64_schema()}
            }},
            "entries": {"type": "array", "items": u64_schema()},
        }
    })
}

/// A schema file as components: the root as `name`, each of its `$defs` under its own name,
/// `#/$defs/X` references rewritten to `#/components/schemas/X`. A `$def` whose name is taken
/// must be the same schema (the files share `Hash`, `BatchId`, ...).
fn embed(all: &mut Map<String, Value>, name: &str, text: &str) {
    let mut root: Value = serde_json::from_str(text).expect("docs/schemas holds valid JSON");
    let defs = root
        .as_object_mut()
        .and_then(|o| {
            o.remove("$schema");
            o.remove("$defs")
        })
        .unwrap_or_default();
    let mut entries: Vec<(String, Value)> = vec![(name.to_owned(), root)];
    if let Value::Object(defs) = defs {
        entries.extend(defs);
    }
    for (def, mut schema) in entries {
        rewrite_refs(&mut schema);
        match all.get(&def) {
            Some(existing) if !same_schema(existing, &schema) => {
                panic!("docs/schemas: `{def}` differs between the schema files")
            }
            Some(_) => {}
            None => {
                all.insert(def, schema);
            }
        }
    }
}

/// Equal up to descriptions (the files describe a shared definition in their own words).
fn same_schema(a: &Value, b: &Value) -> bool {
    fn strip(v: &Value) -> Value {
        match v {
            Value::Object(o) => Value::Object(
                o.iter()
                    .filter(|(k, _)| k.as_str() != "description")
                    .map(|(k, v)| (k.clone(), strip(v)))
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(strip).collect()),
            other => other.clone(),
        }
    }
    strip(a) == strip(b)
}

fn rewrite_refs(value: &mut Value) {
    match value {
        Value::Object(o) => {
            if let Some(Value::String(target)) = o.get_mut("$ref") {
                if let Some(def) = target.strip_prefix("#/$defs/") {
                    *target = format!("#/components/schemas/{def}");
                }
            }
            o.values_mut().for_each(rewrite_refs);
        }
        Value::Array(a) => a.iter_mut().for_each(rewrite_refs),
        _ => {}
    }
}

fn names(all: &[&str]) -> Value {
    json!({ "type": "string", "enum": all })
}

/// The schemas defined here rather than in docs/schemas.
fn written_here() -> Vec<(&'static str, Value)> {
    let base64 = json!({"type": "string",
        "pattern": "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"});
    let timestamp = json!({"type": "string", "description": "RFC 3339 in UTC with a `Z` suffix.",
        "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\\.[0-9]+)?Z$"});
    let status = json!({
        "description": "Where a batch stands.",
        "oneOf": [
            {"type": "object", "required": ["state"], "additionalProperties": false,
             "properties": {"state": {"enum": ["active", "consumed"]}}},
            {"type": "object", "required": ["state", "to", "shipped_g"], "additionalProperties": false,
             "properties": {"state": {"const": "in_transit"}, "to": r("ActorId"), "shipped_g": u64_schema()}},
            {"type": "object", "required": ["state", "reason"], "additionalProperties": false,
             "properties": {"state": {"const": "retired"}, "reason": names(RetireReason::NAMES)}}
        ]
    });
    let certificate = json!({
        "type": "object", "additionalProperties": false,
        "required": ["index", "certifier", "claim", "statement", "document_sha256", "occurred_at"],
        "properties": {
            "index": u64_schema(), "certifier": r("ActorId"), "claim": names(Claim::NAMES),
            "statement": {"type": "string"},
            "document_sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            "occurred_at": r("Timestamp"),
        }
    });
    let inclusion = json!({
        "type": "object", "additionalProperties": false, "required": ["size", "root", "proof"],
        "properties": {"size": u64_schema(), "root": r("Hash"), "proof": r("Proof")}
    });
    vec![
        ("Base64", base64),
        ("Timestamp", timestamp),
        (
            "Proof",
            json!({"description": "RFC 9162 proof: base64 hashes, bottom up.",
            "type": "array", "maxItems": 128, "items": r("Hash")}),
        ),
        (
            "Problem",
            json!({
                "description": "RFC 9457 problem details; `code` is the stable contract (docs/API.md, Problem codes).",
                "type": "object", "additionalProperties": false,
                "required": ["type", "title", "status", "detail", "code"],
                "properties": {
                    "type": {"type": "string", "pattern": "^/problems/[a-z0-9_]+$"},
                    "title": {"type": "string", "minLength": 1},
                    "status": {"type": "integer", "minimum": 400, "maximum": 599},
                    "detail": {"type": "string", "minLength": 1},
                    "code": {"type": "string", "pattern": "^[a-z0-9_]+$"},
                    "request_id": {"description": "The request's id, as in its `x-request-id` header (absent inside batch results).",
                                   "type": "string", "pattern": "^[A-Za-z0-9._:-]{1,64}$"},
                }
            }),
        ),
        (
            "Envelope",
            json!({
                "description": "A DSSE envelope (docs/FORMAT.md §1); the payload is an event (docs/EVENTS.md).",
                "type": "object", "additionalProperties": false,
                "required": ["payloadType", "payload", "signatures"],
                "properties": {
                    "payloadType": {"const": "application/vnd.lodestone.event.v1+json"},
                    "payload": {"allOf": [r("Base64")], "maxLength": 81920},
                    "signatures": {"type": "array", "minItems": 1, "maxItems": 8, "items": {
                        "type": "object", "additionalProperties": false, "required": ["keyid", "sig"],
                        "properties": {
                            "keyid": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                            "sig": {"type": "string", "pattern": "^[A-Za-z0-9+/]{86}==$"},
                        }
                    }},
                }
            }),
        ),
        (
            "EnvelopeBatch",
            json!({
                "type": "object", "additionalProperties": false, "required": ["envelopes"],
                "properties": {"envelopes": {"type": "array", "maxItems": 10000, "items": r("Envelope")}}
            }),
        ),
        (
            "Receipt",
            json!({
                "description": "Proof that an entry is durable: its index and leaf hash, the signed checkpoint of the block that appended it, and an inclusion proof against that checkpoint.",
                "type": "object", "additionalProperties": false,
                "required": ["index", "leaf_hash", "size", "root", "checkpoint", "proof"],
                "properties": {
                    "index": u64_schema(), "leaf_hash": r("Hash"), "size": u64_schema(),
                    "root": r("Hash"), "checkpoint": r("SignedCheckpoint"), "proof": r("Proof"),
                }
            }),
        ),
        (
            "BatchResults",
            json!({
                "type": "object", "additionalProperties": false, "required": ["accepted", "rejected", "results"],
                "properties": {
                    "accepted": u64_schema(), "rejected": u64_schema(),
                    "results": {"type": "array", "items": {"oneOf": [
                        {"type": "object", "additionalProperties": false, "required": ["status", "receipt"],
                         "properties": {"status": {"enum": [200, 201]}, "receipt": r("Receipt")}},
                        {"type": "object", "additionalProperties": false, "required": ["status", "problem"],
                         "properties": {"status": {"type": "integer", "minimum": 400, "maximum": 599},
                                        "problem": r("Problem")}},
                    ]}},
                }
            }),
        ),
        (
            "Event",
            json!({
                "description": "A decoded event payload (docs/EVENTS.md has every kind and field).",
                "type": "object", "required": ["kind", "id", "actor", "occurred_at"],
                "properties": {
                    "kind": names(crate::model::event::KIND_NAMES),
                    "id": {"type": "string"}, "actor": r("ActorId"), "occurred_at": r("Timestamp"),
                }
            }),
        ),
        (
            "Entry",
            json!({
                "type": "object", "additionalProperties": false,
                "required": ["index", "leaf_hash", "prev", "logged_at_ms", "logged_at", "event", "envelope", "leaf"],
                "properties": {
                    "index": u64_schema(), "leaf_hash": r("Hash"), "prev": r("Hash"),
                    "logged_at_ms": u64_schema(), "logged_at": nullable(r("Timestamp")),
                    "event": nullable(r("Event")), "envelope": r("Envelope"), "leaf": r("Base64"),
                    "inclusion": inclusion,
                }
            }),
        ),
        (
            "EntryPage",
            json!({
                "type": "object", "additionalProperties": false, "required": ["start", "size", "entries", "next"],
                "properties": {
                    "start": u64_schema(), "size": u64_schema(),
                    "entries": {"type": "array", "maxItems": 1000, "items": r("Entry")},
                    "next": nullable(u64_schema()),
                }
            }),
        ),
        (
            "InclusionProof",
            json!({
                "type": "object", "additionalProperties": false,
                "required": ["index", "size", "leaf_hash", "root", "proof"],
                "properties": {"index": u64_schema(), "size": u64_schema(), "leaf_hash": r("Hash"),
                               "root": r("Hash"), "proof": r("Proof")}
            }),
        ),
        (
            "ConsistencyProof",
            json!({
                "type": "object", "additionalProperties": false,
                "required": ["from", "to", "from_root", "to_root", "proof"],
                "properties": {"from": u64_schema(), "to": u64_schema(), "from_root": r("Hash"),
                               "to_root": r("Hash"), "proof": r("Proof")}
            }),
        ),
        (
            "EpcisDocument",
            json!({
                "description": "A GS1 EPCIS 2.0 EPCISDocument or EPCISQueryDocument (JSON-LD); its full schema is GS1's EPCIS-JSON-Schema.json, which every export validates against (docs/EPCIS.md).",
                "type": "object",
                "required": ["@context", "type", "schemaVersion", "creationDate"],
                "properties": {
                    "@context": {},
                    "type": {"enum": ["EPCISDocument", "EPCISQueryDocument"]},
                    "schemaVersion": {"type": "string"},
                    "creationDate": {"type": "string"},
                }
            }),
        ),
        (
            "AssayComposition",
            json!({"type": "object", "additionalProperties": false, "required": ["index", "composition"],
                   "properties": {"index": u64_schema(), "composition": r("Composition")}}),
        ),
        (
            "ComplianceReport",
            json!({"description": "Per policy: a verdict (`pass`, `fail`, `cannot_tell`) with reasons naming stage, site, company, country and entry index; the lineage by stage and per-element shares it rests on (docs/COMPLIANCE.md).",
                   "type": "object"}),
        ),
        (
            "ActorQuotas",
            json!({"description": "An actor's production quotas by stage and year, and their use (docs/COMPLIANCE.md, \"Export controls\").",
            "type": "object", "additionalProperties": false, "required": ["actor", "quotas"],
            "properties": {
                "actor": r("ActorId"),
                "quotas": {"type": "array", "items": {
                    "type": "object", "additionalProperties": false,
                    "required": ["stage", "year", "quota_g", "used_g", "remaining_g", "set_in", "used_in"],
                    "properties": {
                        "stage": {"enum": ["mining", "separation", "smelting"]},
                        "year": {"type": "integer", "minimum": 1970, "maximum": 9999},
                        "quota_g": u64_schema(), "used_g": u64_schema(), "remaining_g": u64_schema(),
                        "source": {"type": "string"},
                        "set_in": {"type": "array", "items": u64_schema()},
                        "used_in": {"type": "array", "items": u64_schema()},
                    }}},
            }}),
        ),
        (
            "Portfolio",
            json!({"description": "The batches an actor received in a period: where their elements were extracted, processed and recycled, and each stage's concentration by country against the 65% benchmark (docs/COMPLIANCE.md).",
                   "type": "object"}),
        ),
        (
            "LogInfo",
            json!({
                "type": "object", "additionalProperties": false,
                "required": ["origin", "verifier_key", "authority", "authority_key", "size", "root", "checkpoint"],
                "properties": {
                    "origin": r("Origin"),
                    "verifier_key": {"description": "C2SP signed-note verifier key: `name+<8 hex>+base64(0x01 || key)`.",
                                     "type": "string", "pattern": "^[^+\\s]+\\+[0-9a-f]{8}\\+[A-Za-z0-9+/]{44}$"},
                    "authority": nullable(r("ActorId")),
                    "authority_key": nullable(r("PublicKey")),
                    "size": u64_schema(), "root": r("Hash"), "checkpoint": r("SignedCheckpoint"),
                }
            }),
        ),
        (
            "PublicKey",
            json!({"description": "An Ed25519 public key, standard base64 of 32 bytes.",
            "type": "string", "pattern": "^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$"}),
        ),
        (
            "Actor",
            json!({
                "type": "object", "additionalProperties": false,
                "required": ["id", "name", "country", "roles", "sites", "keys", "entries", "prefixes", "registered_at"],
                "properties": {
                    "id": r("ActorId"), "name": {"type": "string"}, "country": r("Country"),
                    "roles": {"type": "array", "items": names(Role::NAMES)},
                    "sites": {"type": "array", "items": r("ActorId")},
                    "keys": {"type": "array", "items": {
                        "type": "object", "additionalProperties": false,
                        "required": ["key_id", "public_key", "actor", "added_at", "revoked_at"],
                        "properties": {
                            "key_id": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                            "public_key": r("PublicKey"), "actor": r("ActorId"),
                            "added_at": u64_schema(), "revoked_at": nullable(u64_schema()),
                        }
                    }},
                    "entries": {"type": "array", "items": u64_schema()},
                    "prefixes": {"type": "array", "items": {"type": "string",
                        "pattern": "^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$"}},
                    "registered_at": r("Timestamp"),
                }
            }),
        ),
        (
            "Actors",
            json!({
                "type": "object", "additionalProperties": false, "required": ["actors"],
                "properties": {"actors": {"type": "array", "items": r("Actor")}}
            }),
        ),
        ("BatchStatus", status),
        ("Certificate", certificate),
        (
            "Batch",
            json!({
                "type": "object", "additionalProperties": false, "required": ["batch", "history"],
                "properties": {
                    "batch": {
                        "type": "object", "additionalProperties": false,
                        "required": ["id", "form", "elements", "created_g", "remaining_g", "transit_loss_g",
                                     "custodian", "status", "created_at", "created_in", "creation",
                                     "children", "certificates"],
                        "properties": {
                            "id": r("BatchId"), "form": names(Form::NAMES),
                            "elements": {"type": "array", "items": names(Element::NAMES)},
                            "created_g": u64_schema(), "remaining_g": u64_schema(),
                            "transit_loss_g": u64_schema(), "custodian": r("ActorId"),
                            "status": r("BatchStatus"), "created_at": r("Timestamp"),
                            "created_in": u64_schema(),
                            "creation": {"oneOf": [
                                {"type": "object", "additionalProperties": false, "required": ["kind", "site"],
                                 "properties": {"kind": {"const": "extract"}, "site": r("ActorId")}},
                                {"type": "object", "additionalProperties": false,
                                 "required": ["kind", "process", "inputs", "additives_g", "outputs_total_g"],
                                 "properties": {
                                    "kind": {"const": "transform"}, "process": names(Process::NAMES),
                                    "inputs": {"type": "array", "items": {
                                        "type": "object", "additionalProperties": false,
                                        "required": ["batch", "taken_g"],
                                        "properties": {"batch": r("BatchId"), "taken_g": u64_schema()}}},
                                    "additives_g": u64_schema(), "outputs_total_g": u64_schema(),
                                 }},
                            ]},
                            "children": {"type": "array", "items": r("BatchId")},
                            "certificates": {"type": "array", "items": r("Certificate")},
                        }
                    },
                    "history": {"type": "array", "items": {
                        "type": "object", "additionalProperties": false, "required": ["index", "event"],
                        "properties": {"index": u64_schema(), "event": nullable(r("Event"))}
                    }},
                }
            }),
        ),
        (
            "Downstream",
            json!({
                "type": "object", "additionalProperties": false, "required": ["roots", "batches"],
                "properties": {
                    "roots": {"type": "array", "items": r("BatchId")},
                    "batches": {"type": "array", "items": {
                        "type": "object", "additionalProperties": false,
                        "required": ["batch", "form", "custodian", "status", "created_in", "created_g",
                                     "remaining_g", "contains_g", "share"],
                        "properties": {
                            "batch": r("BatchId"), "form": names(Form::NAMES), "custodian": r("ActorId"),
                            "status": r("BatchStatus"), "created_in": u64_schema(),
                            "created_g": u64_schema(), "remaining_g": u64_schema(),
                            "contains_g": u64_schema(), "share": r("Share"),
                        }
                    }},
                }
            }),
        ),
        (
            "Witnesses",
            json!({
                "type": "object", "additionalProperties": false, "required": ["policy", "witnessed", "witnesses"],
                "properties": {
                    "policy": {"type": "boolean"},
                    "witnessed": nullable(json!({
                        "type": "object", "additionalProperties": false,
                        "required": ["size", "checkpoint", "cosigned"],
                        "properties": {"size": u64_schema(), "checkpoint": r("SignedCheckpoint"),
                                       "cosigned": {"type": "array", "items": {"type": "string"}}}
                    })),
                    "witnesses": {"type": "object", "additionalProperties": {
                        "type": "object", "additionalProperties": false, "required": ["size", "error"],
                        "properties": {"size": nullable(u64_schema()), "error": nullable(json!({"type": "string"}))}
                    }},
                }
            }),
        ),
        (
            "ProvenanceAnswer",
            json!({"oneOf": [r("Provenance"), r("OriginShares")]}),
        ),
        (
            "Ready",
            json!({
                "type": "object", "additionalProperties": false, "required": ["ready", "size"],
                "properties": {"ready": {"const": true}, "size": u64_schema()}
            }),
        ),
    ]
}
