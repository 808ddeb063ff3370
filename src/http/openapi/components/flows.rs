//! Component schemas of the monthly flow report and the batch label (issue 17,
//! `http::flows_api`): closed objects, so that tests/openapi.rs catches a field the code adds
//! without documenting it.

use serde_json::{json, Value};

use super::{names, nullable, r, u64_schema};
use crate::model::material::Form;

fn closed(required: &[&str], properties: Value) -> Value {
    json!({"type": "object", "additionalProperties": false, "required": required,
           "properties": properties})
}

fn grams_by_element() -> Value {
    json!({"type": "object", "propertyNames": r("Element"), "additionalProperties": u64_schema()})
}

fn grams_by_form() -> Value {
    json!({"type": "object", "propertyNames": names(Form::NAMES), "additionalProperties": u64_schema()})
}

/// `FlowReport` and `BatchLabel`, and their parts.
pub(super) fn schemas() -> Vec<(&'static str, Value)> {
    let form = names(Form::NAMES);
    let line = |extra: &[(&str, Value)], required: &[&str]| {
        let mut properties = json!({
            "entry": u64_schema(), "batch": r("BatchId"), "form": form.clone(), "grams": u64_schema(),
        });
        for (name, schema) in extra {
            properties[*name] = schema.clone();
        }
        let mut all = vec!["entry", "batch", "form", "grams"];
        all.extend_from_slice(required);
        closed(&all, properties)
    };
    let party = closed(
        &["actor", "name", "country"],
        json!({"actor": r("ActorId"), "name": {"type": "string"}, "country": nullable(r("Country"))}),
    );
    vec![
        (
            "FlowReport",
            closed(
                &[
                    "actor",
                    "name",
                    "country",
                    "month",
                    "from",
                    "to",
                    "report_due",
                    "log_size",
                    "produced",
                    "received",
                    "shipped",
                    "consumed",
                    "held",
                    "totals",
                ],
                json!({
                    "actor": r("ActorId"), "name": {"type": "string"}, "country": r("Country"),
                    "month": {"type": "string", "pattern": "^[0-9]{4}-(0[1-9]|1[0-2])$"},
                    "from": r("Timestamp"), "to": r("Timestamp"),
                    "report_due": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-10$"},
                    "log_size": u64_schema(),
                    "produced": {"type": "array", "items": r("FlowProduced")},
                    "received": {"type": "array", "items": r("FlowReceived")},
                    "shipped": {"type": "array", "items": r("FlowShipped")},
                    "consumed": {"type": "array", "items": r("FlowConsumed")},
                    "held": {"type": "array", "items": r("FlowHeld")},
                    "totals": closed(
                        &["produced_by_form", "produced_by_element", "produced_undeclared_g",
                          "received_g", "shipped_g", "consumed_g", "held_by_form", "held_by_element"],
                        json!({
                            "produced_by_form": grams_by_form(), "produced_by_element": grams_by_element(),
                            "produced_undeclared_g": u64_schema(), "received_g": u64_schema(),
                            "shipped_g": u64_schema(), "consumed_g": u64_schema(),
                            "held_by_form": grams_by_form(), "held_by_element": grams_by_element(),
                        }),
                    ),
                }),
            ),
        ),
        (
            "FlowProduced",
            line(
                &[
                    ("occurred_at", r("Timestamp")),
                    ("activity", json!({"type": "string"})),
                    ("site", nullable(r("ActorId"))),
                    ("elements", nullable(grams_by_element())),
                ],
                &["occurred_at", "activity", "site", "elements"],
            ),
        ),
        (
            "FlowReceived",
            line(
                &[
                    ("occurred_at", r("Timestamp")),
                    ("ship_entry", u64_schema()),
                    ("from", r("ActorId")),
                    ("from_name", json!({"type": "string"})),
                    ("from_country", r("Country")),
                ],
                &[
                    "occurred_at",
                    "ship_entry",
                    "from",
                    "from_name",
                    "from_country",
                ],
            ),
        ),
        (
            "FlowShipped",
            line(
                &[
                    ("occurred_at", r("Timestamp")),
                    ("to", r("ActorId")),
                    ("to_name", json!({"type": "string"})),
                    ("to_country", r("Country")),
                    (
                        "licence",
                        nullable(json!({"type": "string",
                      "description": "The licence the ship event cites; null when none."})),
                    ),
                ],
                &["occurred_at", "to", "to_name", "to_country", "licence"],
            ),
        ),
        (
            "FlowConsumed",
            line(
                &[
                    ("occurred_at", r("Timestamp")),
                    ("activity", json!({"type": "string"})),
                ],
                &["occurred_at", "activity"],
            ),
        ),
        (
            "FlowHeld",
            line(
                &[
                    ("since_entry", u64_schema()),
                    ("elements", nullable(grams_by_element())),
                ],
                &["since_entry", "elements"],
            ),
        ),
        (
            "BatchLabel",
            closed(
                &[
                    "batch",
                    "form",
                    "basis_g",
                    "remaining_g",
                    "elements",
                    "element_names",
                    "producer",
                    "created_in",
                    "holder",
                    "ore_producers",
                    "recycled_g",
                    "untracked_g",
                ],
                json!({
                    "batch": r("BatchId"), "form": form.clone(), "basis_g": u64_schema(),
                    "remaining_g": u64_schema(), "elements": nullable(grams_by_element()),
                    "element_names": {"type": "array", "items": r("Element")},
                    "producer": party.clone(), "created_in": u64_schema(), "holder": party,
                    "ore_producers": {"type": "array", "items": closed(
                        &["actor", "name", "country", "grams", "share", "mines"],
                        json!({
                            "actor": r("ActorId"), "name": {"type": "string"},
                            "country": nullable(r("Country")), "grams": u64_schema(),
                            "share": {"type": "number", "minimum": 0, "maximum": 1},
                            "mines": {"type": "array", "items": closed(
                                &["site", "name", "country", "grams", "share", "extract_entries"],
                                json!({
                                    "site": r("ActorId"), "name": {"type": "string"},
                                    "country": r("Country"), "grams": u64_schema(),
                                    "share": {"type": "number", "minimum": 0, "maximum": 1},
                                    "extract_entries": {"type": "array", "items": u64_schema()},
                                }),
                            )},
                        }),
                    )},
                    "recycled_g": u64_schema(), "untracked_g": u64_schema(),
                }),
            ),
        ),
    ]
}
