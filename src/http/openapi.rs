//! The route table and the OpenAPI 3.1 description of the HTTP API, made from the same
//! registration (utoipa and utoipa-axum): every route is added once, in [`routes()`], as
//! `routes!(handler)`, and the handler's `#[utoipa::path]` attribute is both its place in the
//! router and its operation in the document. The document is served at `GET /openapi.json`.
//!
//! The request checks of `src/http/guard.rs` read the document too: which query parameters an
//! operation takes, and whether it has a JSON body. So a route missing from the document cannot
//! pass unnoticed: the guard answers it `500 internal` (and logs why), and tests/openapi.rs
//! checks that no route is registered around the table.
//!
//! Finishing the document ([`document`]) adds what holds for every operation, so that handlers
//! state only what is theirs:
//!
//! - each operation lists the problem codes it answers in its `x-problems` extension (the token
//!   `ledger_rules` stands for every ledger rule code); they become problem+json responses,
//!   grouped by status (every code has one status, [`super::error::status_of`]), whose schema
//!   pins `status` and the possible `code`s;
//! - the guard's refusals: `bad_query` on operations that refuse unknown query parameters,
//!   `unsupported_media_type` on operations with a JSON body; and `timeout` and `internal`
//!   everywhere;
//! - `Retry-After` on `429` and `503` answers;
//! - the component schemas (`src/http/openapi/components.rs`), two of them from docs/schemas/.
//!
//! How to add a route: docs/DESIGN.md §5.1.

mod components;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use axum::extract::DefaultBodyLimit;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{
    audit_api, compliance_api, controls_api, epcis_api, flows_api, log_api, pages, tiles,
    witnessed, write, AppState, MAX_ENTRY_BODY,
};
use crate::ledger::LedgerError;

pub use components::{BUNDLE_SCHEMA, VERIFY_REPORT_SCHEMA};

/// Operation tags whose routes ignore query parameters they do not know (pages for people,
/// health probes: browsers and monitors add their own). Every other route refuses them.
pub const LENIENT_TAGS: &[&str] = &["pages", "health"];

/// Every route of the API. Adding one: write the handler with its `#[utoipa::path]`, add one
/// `.routes(routes!(module::handler))` line here (handlers that share a path go in one
/// `routes!`).
pub fn routes() -> OpenApiRouter<AppState> {
    // One submission: its body is read whole, so it has the body limit.
    let single = OpenApiRouter::new()
        .routes(routes!(write::submit_one, log_api::list_entries))
        .layer(DefaultBodyLimit::max(MAX_ENTRY_BODY));
    OpenApiRouter::new()
        .merge(single)
        // Their bodies are streamed with their own limits (MAX_BATCH_BODY, MAX_BUNDLE_BODY).
        .routes(routes!(write::submit_batch))
        .routes(routes!(audit_api::verify))
        .routes(routes!(log_api::get_entry))
        .routes(routes!(witnessed::entry_proof))
        .routes(routes!(witnessed::witnesses))
        .routes(routes!(log_api::inclusion))
        .routes(routes!(log_api::consistency))
        .routes(routes!(log_api::log_info))
        .routes(routes!(audit_api::actors))
        .routes(routes!(audit_api::actor))
        .routes(routes!(audit_api::batch))
        .routes(routes!(audit_api::provenance))
        .routes(routes!(audit_api::downstream))
        .routes(routes!(audit_api::bundle))
        .routes(routes!(audit_api::site_downstream))
        .routes(routes!(tiles::checkpoint))
        .routes(routes!(tiles::tile))
        .routes(routes!(pages::overview))
        .routes(routes!(pages::search))
        .routes(routes!(pages::batches))
        .routes(routes!(pages::actors))
        .routes(routes!(pages::batch))
        .routes(routes!(pages::batch_print))
        .routes(routes!(pages::batch_shares_csv))
        .routes(routes!(pages::batch_upstream_csv))
        .routes(routes!(pages::actor))
        .routes(routes!(pages::site))
        .routes(routes!(pages::entry))
        .routes(routes!(pages::log))
        .routes(routes!(super::healthz))
        .routes(routes!(super::readyz))
        .routes(routes!(super::metrics))
        .routes(routes!(compliance_api::compliance))
        .routes(routes!(compliance_api::actor_portfolio))
        .routes(routes!(flows_api::actor_flows))
        .routes(routes!(flows_api::batch_label_json))
        .routes(routes!(pages::label::batch_label_page))
        .routes(routes!(controls_api::actor_quotas))
        .routes(routes!(epcis_api::batch_document))
        .routes(routes!(epcis_api::events))
        .routes(routes!(openapi_json))
}

/// What the guard needs to know of one operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationRules {
    /// The query parameters it takes.
    pub query: BTreeSet<String>,
    /// Unknown query parameters are ignored rather than refused.
    pub lenient: bool,
    /// It takes a JSON body.
    pub json_body: bool,
}

/// The finished document and the rules read from it.
pub struct ApiDoc {
    /// The OpenAPI document, as served.
    pub json: Value,
    /// By route pattern as axum matches it (`/tile/{*path}`) and method.
    rules: BTreeMap<(String, Method), OperationRules>,
}

impl ApiDoc {
    /// The rules of the operation at `pattern` (the router's pattern) for `method`; `HEAD` is
    /// answered by `GET`.
    pub fn rules(&self, pattern: &str, method: &Method) -> Option<&OperationRules> {
        let method = if method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        self.rules.get(&(pattern.to_owned(), method.clone()))
    }

    /// Every documented route: `(router pattern, method)`.
    pub fn operations(&self) -> impl Iterator<Item = &(String, Method)> {
        self.rules.keys()
    }
}

/// The document, built once from [`routes()`].
pub fn document() -> &'static ApiDoc {
    static DOC: OnceLock<ApiDoc> = OnceLock::new();
    DOC.get_or_init(|| {
        let (_, openapi) = routes().split_for_parts();
        let generated = serde_json::to_value(&openapi).expect("the OpenAPI document serialises");
        finish(generated)
    })
}

/// The document served at `/openapi.json`.
#[utoipa::path(get, path = "/openapi.json", tag = "health", operation_id = "openapi",
    summary = "This document: the OpenAPI 3.1 description of the API",
    responses((status = 200, description = "The OpenAPI document",
               body = ref("#/components/schemas/OpenApiDocument"))))]
pub async fn openapi_json() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        document().json.to_string(),
    )
        .into_response()
}

/// axum writes a catch-all segment `{*name}`; OpenAPI, which has no multi-segment parameters,
/// writes `{name}` (the parameter's description says it spans segments).
fn openapi_path(pattern: &str) -> String {
    pattern.replace("{*", "{")
}

/// The finishing steps described in the module documentation.
fn finish(mut doc: Value) -> ApiDoc {
    doc["openapi"] = json!("3.1.0");
    doc["info"] = json!({
        "title": "Lodestone",
        "version": env!("CARGO_PKG_VERSION"),
        "summary": "A verifiable provenance ledger for rare earths: signed batch events in an RFC 6962 transparency log.",
        "description": "docs/API.md is the prose contract of this API; docs/FORMAT.md gives every byte. Errors are application/problem+json (RFC 9457) with a stable `code`.",
        "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
    });
    let mut rules = BTreeMap::new();
    let paths = std::mem::take(&mut doc["paths"]);
    let mut finished = Map::new();
    if let Value::Object(paths) = paths {
        for (pattern, mut item) in paths {
            if let Value::Object(operations) = &mut item {
                for (method, operation) in operations.iter_mut() {
                    let Ok(method) = method.to_uppercase().parse::<Method>() else {
                        continue;
                    };
                    let operation_rules = finish_operation(operation);
                    rules.insert((pattern.clone(), method), operation_rules);
                }
            }
            finished.insert(openapi_path(&pattern), item);
        }
    }
    doc["paths"] = Value::Object(finished);
    let mut schemas = components::schemas();
    schemas.insert(
        "OpenApiDocument".into(),
        json!({"type": "object", "required": ["openapi", "info", "paths"],
               "properties": {"openapi": {"type": "string", "pattern": "^3\\.1\\."}}}),
    );
    schemas.insert(
        "Binary".into(),
        json!({"type": "string", "contentMediaType": "application/octet-stream"}),
    );
    doc["components"] = json!({ "schemas": schemas });
    ApiDoc { json: doc, rules }
}

/// Adds the shared responses to one operation and reads its rules.
fn finish_operation(operation: &mut Value) -> OperationRules {
    let tags: Vec<String> = operation["tags"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let lenient = tags.iter().any(|t| LENIENT_TAGS.contains(&t.as_str()));
    let json_body = operation["requestBody"]["content"]
        .get("application/json")
        .is_some();
    // utoipa writes a `u64` as `format: int64`, which tools read as the i64 range; the server
    // takes the whole u64 range.
    let parameters = operation
        .get_mut("parameters")
        .and_then(Value::as_array_mut);
    for parameter in parameters.into_iter().flatten() {
        let schema = &mut parameter["schema"];
        if schema["format"] == "int64" && schema["minimum"] == 0 && schema["maximum"].is_null() {
            if let Some(o) = schema.as_object_mut() {
                o.remove("format");
                o.insert("maximum".into(), json!(u64::MAX));
            }
        }
    }
    let query = operation["parameters"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .filter(|p| p["in"] == "query")
                .filter_map(|p| p["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();

    let listed = operation
        .as_object_mut()
        .and_then(|o| o.remove("x-problems"))
        .unwrap_or_else(|| json!([]));
    let mut codes: BTreeSet<&str> = BTreeSet::new();
    for code in listed.as_array().into_iter().flatten() {
        match code.as_str() {
            Some("ledger_rules") => codes.extend(ledger_rule_codes()),
            Some(code) => {
                codes.insert(known_code(code));
            }
            None => panic!("x-problems lists codes as strings"),
        }
    }
    codes.extend(["timeout", "internal"]);
    if !lenient {
        codes.insert("bad_query");
    }
    if json_body {
        codes.insert("unsupported_media_type");
    }
    let mut by_status: BTreeMap<u16, Vec<&str>> = BTreeMap::new();
    for code in codes {
        let status = super::error::status_of(code)
            .unwrap_or_else(|| panic!("problem code `{code}` has no status"));
        by_status.entry(status.as_u16()).or_default().push(code);
    }
    let responses = &mut operation["responses"];
    for (status, codes) in by_status {
        let listed = codes
            .iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut response = json!({
            "description": format!("Problem: {listed} (docs/API.md, Problem codes)"),
            "content": {"application/problem+json": {"schema": {
                "allOf": [{"$ref": "#/components/schemas/Problem"}],
                "properties": {"status": {"const": status}, "code": {"enum": codes}},
            }}},
        });
        if status == 429 || status == 503 {
            response["headers"] = json!({"Retry-After": {
                "description": "Seconds to wait before retrying (absent on `read_only`).",
                "schema": {"type": "integer", "minimum": 0},
            }});
        }
        responses[status.to_string()] = response;
    }
    OperationRules {
        query,
        lenient,
        json_body,
    }
}

/// Every ledger rule code that reaches a client as a problem (an identical retry, `duplicate`,
/// is a `200`; `state_unavailable` is a bare `500 internal`).
fn ledger_rule_codes() -> impl Iterator<Item = &'static str> {
    LedgerError::CODES
        .iter()
        .copied()
        .filter(|c| !matches!(*c, "duplicate" | "state_unavailable"))
}

/// `code` if it is one the API answers.
fn known_code(code: &str) -> &'static str {
    super::error::CODES
        .iter()
        .chain(LedgerError::CODES)
        .find(|known| **known == code)
        .copied()
        .unwrap_or_else(|| panic!("x-problems names `{code}`, which no error has"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_builds_and_every_operation_has_rules() {
        let doc = document();
        assert_eq!(doc.json["openapi"], "3.1.0");
        assert!(doc
            .rules("/v1/entries", &Method::POST)
            .is_some_and(|r| r.json_body));
        assert!(doc.rules("/tile/{*path}", &Method::GET).is_some());
        assert!(doc.json["paths"].get("/tile/{path}").is_some());
        assert!(doc.rules("/", &Method::GET).is_some_and(|r| r.lenient));
    }
}
