//! Log routes: `GET /v1/log`, entries by index and by page, and RFC 9162 inclusion and
//! consistency proofs with the roots they lead to.

use axum::extract::State;
use axum::Json;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::IntoParams;

use crate::ledger::StateView;
use crate::log::tree::{consistency_proof, inclusion_proof, root_hash, HashReader, NodeId};
use crate::model::entry::Entry;
use crate::store::Store;

use super::extract::{P, Q};
use super::receipt::{MemoReader, ReceiptNodes};
use super::{ApiError, AppState};

/// Most entries one page returns.
pub const MAX_PAGE: u64 = 1000;

/// `GET /v1/log`: who this log is and where it stands.
#[utoipa::path(get, path = "/v1/log", tag = "log", operation_id = "log_info",
    summary = "Who this log is and where it stands",
    responses((status = 200, description = "Origin, verifier key, authority, size, root and the latest checkpoint",
               body = ref("#/components/schemas/LogInfo"))))]
pub async fn log_info(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let head = state.sequencer.head();
    let genesis = state.store.genesis().map_err(ApiError::internal)?;
    Ok(Json(json!({
        "origin": state.verifier.name(),
        "verifier_key": state.verifier.to_text(),
        "authority": genesis.as_ref().map(|g| g.authority.to_string()),
        "authority_key": genesis.as_ref().map(|g| g.public_key),
        "size": head.size,
        "root": head.root,
        "checkpoint": head.checkpoint,
    })))
}

/// The JSON view of one stored entry.
pub fn entry_json(store: &Store, index: u64) -> Result<Value, ApiError> {
    let bytes = store
        .entry(index)
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found(format!("entry {index} does not exist")))?;
    let leaf_hash = store
        .read_hashes(&[NodeId::leaf(index)])
        .map_err(ApiError::internal)?[0];
    let entry = Entry::decode(&bytes)
        .map_err(|e| ApiError::internal(format!("stored entry {index} does not decode: {e}")))?;
    let event: Value = serde_json::from_slice(&entry.envelope.payload).unwrap_or(Value::Null);
    let logged_at = chrono::DateTime::from_timestamp_millis(entry.logged_at_ms as i64)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    Ok(json!({
        "index": index,
        "leaf_hash": leaf_hash,
        "prev": entry.prev,
        "logged_at_ms": entry.logged_at_ms,
        "logged_at": logged_at,
        "event": event,
        "envelope": entry.envelope.to_json_value(),
        "leaf": B64.encode(&bytes),
    }))
}

/// A path index as a `u64` written canonically: decimal digits, no sign, no leading zero — so
/// one entry has one URL (`/v1/entries/01` and `/v1/entries/+1` are refused, not entry 1).
pub(super) fn canonical_index(raw: &str) -> Result<u64, ApiError> {
    match raw.parse::<u64>() {
        Ok(index) if index.to_string() == raw => Ok(index),
        _ => Err(ApiError::bad_request(
            "bad_path",
            format!(
                "`{raw}` is not an entry index: a u64 in decimal without sign or leading zeros"
            ),
        )),
    }
}

/// `?proof=SIZE`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EntryQuery {
    /// Add an inclusion proof of the entry in the tree of this size (`index < SIZE <=` the
    /// log size).
    #[param(example = 5)]
    proof: Option<u64>,
}

/// `GET /v1/entries/{index}[?proof=SIZE]`.
#[utoipa::path(get, path = "/v1/entries/{index}", tag = "log", operation_id = "get_entry",
    summary = "One entry, optionally with an inclusion proof",
    params(("index" = String, Path, description = "Entry index: a u64 in canonical decimal",
            pattern = "^(?:0|[1-9][0-9]{0,19})$", example = "3"), EntryQuery),
    responses((status = 200, description = "The entry", body = ref("#/components/schemas/Entry"))),
    extensions(("x-problems" = json!(["bad_path", "size_beyond_log", "index_beyond_size", "not_found"]))))]
pub async fn get_entry(
    State(state): State<AppState>,
    P(index): P<String>,
    Q(query): Q<EntryQuery>,
) -> Result<Json<Value>, ApiError> {
    let index = canonical_index(&index)?;
    let head = state.sequencer.head();
    let size = head.size;
    if index >= size {
        return Err(ApiError::not_found(format!(
            "entry {index} does not exist; the log has {size} entries"
        )));
    }
    let mut body = entry_json(&state.store, index)?;
    if let Some(proof_size) = query.proof {
        let InclusionAt { root, proof, .. } = inclusion_at(&state.store, index, proof_size, &head)?;
        body["inclusion"] = json!({ "size": proof_size, "root": root, "proof": proof });
    }
    Ok(Json(body))
}

/// `?start=&limit=`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// First entry of the page (default 0).
    #[serde(default)]
    start: u64,
    /// Entries in the page: 1 to 1,000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u64>,
}

/// `GET /v1/entries?start=&limit=`: a page of entries (default 100, at most 1000).
#[utoipa::path(get, path = "/v1/entries", tag = "log", operation_id = "list_entries",
    summary = "A page of entries",
    params(PageQuery),
    responses((status = 200, description = "The page", body = ref("#/components/schemas/EntryPage"))))]
pub async fn list_entries(
    State(state): State<AppState>,
    Q(page): Q<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = page.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::bad_request(
            "bad_query",
            format!("limit must be 1 to {MAX_PAGE}"),
        ));
    }
    let size = state.sequencer.head().size;
    let end = page.start.saturating_add(limit).min(size);
    let entries = (page.start..end)
        .map(|i| entry_json(&state.store, i))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(json!({
        "start": page.start,
        "size": size,
        "entries": entries,
        "next": (end < size).then_some(end),
    })))
}

/// An inclusion proof and the root it leads to; `head` answers the root of the current size
/// without reading the tree.
/// The root of the tree of `size` and the inclusion proof of `index` in it, with the entry's leaf
/// hash: the leaf and the proof's nodes come from one read of the store.
fn inclusion_at(
    store: &Store,
    index: u64,
    size: u64,
    head: &crate::store::Head,
) -> Result<InclusionAt, ApiError> {
    let log_size = head.size;
    if size > log_size {
        return Err(ApiError::bad_request(
            "size_beyond_log",
            format!("size {size} is beyond the log's {log_size} entries"),
        ));
    }
    if index >= size {
        return Err(ApiError::bad_request(
            "index_beyond_size",
            format!("index {index} is not below size {size}"),
        ));
    }
    let ahead = ReceiptNodes::read(store, [(index, size)]).map_err(ApiError::internal)?;
    let reader = MemoReader::new(store, &ahead);
    let proof = inclusion_proof(index, size, &reader).map_err(ApiError::internal)?;
    let root = if size == log_size {
        head.root
    } else {
        root_hash(size, store).map_err(ApiError::internal)?
    };
    let leaf_hash = reader
        .read_hashes(&[NodeId::leaf(index)])
        .map_err(ApiError::internal)?[0];
    Ok(InclusionAt {
        root,
        proof,
        leaf_hash,
    })
}

struct InclusionAt {
    root: crate::log::Hash,
    proof: Vec<crate::log::Hash>,
    leaf_hash: crate::log::Hash,
}

/// `?index=&size=`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InclusionQuery {
    /// The entry.
    #[param(example = 3)]
    index: u64,
    /// The tree size (default: the log's size).
    #[param(example = 5)]
    size: Option<u64>,
}

/// `GET /v1/proofs/inclusion?index=&size=` (size defaults to the current log size).
#[utoipa::path(get, path = "/v1/proofs/inclusion", tag = "log", operation_id = "inclusion_proof",
    summary = "RFC 9162 inclusion proof",
    params(InclusionQuery),
    responses((status = 200, description = "The proof and the root it leads to",
               body = ref("#/components/schemas/InclusionProof"))),
    extensions(("x-problems" = json!(["size_beyond_log", "index_beyond_size"]))))]
pub async fn inclusion(
    State(state): State<AppState>,
    Q(query): Q<InclusionQuery>,
) -> Result<Json<Value>, ApiError> {
    let head = state.sequencer.head();
    let size = query.size.unwrap_or(head.size);
    let InclusionAt {
        root,
        proof,
        leaf_hash,
    } = inclusion_at(&state.store, query.index, size, &head)?;
    Ok(Json(json!({
        "index": query.index,
        "size": size,
        "leaf_hash": leaf_hash,
        "root": root,
        "proof": proof,
    })))
}

/// `?from=&to=`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyQuery {
    /// The older tree size.
    #[param(example = 2)]
    from: u64,
    /// The newer tree size (default: the log's size).
    #[param(example = 5)]
    to: Option<u64>,
}

/// `GET /v1/proofs/consistency?from=&to=` (to defaults to the current log size).
#[utoipa::path(get, path = "/v1/proofs/consistency", tag = "log", operation_id = "consistency_proof",
    summary = "RFC 9162 consistency proof",
    params(ConsistencyQuery),
    responses((status = 200, description = "The proof and both roots",
               body = ref("#/components/schemas/ConsistencyProof"))),
    extensions(("x-problems" = json!(["size_beyond_log"]))))]
pub async fn consistency(
    State(state): State<AppState>,
    Q(query): Q<ConsistencyQuery>,
) -> Result<Json<Value>, ApiError> {
    let log_size = state.sequencer.head().size;
    let to = query.to.unwrap_or(log_size);
    if to > log_size {
        return Err(ApiError::bad_request(
            "size_beyond_log",
            format!("to={to} is beyond the log's {log_size} entries"),
        ));
    }
    if query.from > to {
        return Err(ApiError::bad_request(
            "bad_query",
            format!("from={} is larger than to={to}", query.from),
        ));
    }
    let store = &state.store;
    let proof = consistency_proof(query.from, to, store).map_err(ApiError::internal)?;
    let from_root = root_hash(query.from, store).map_err(ApiError::internal)?;
    let to_root = root_hash(to, store).map_err(ApiError::internal)?;
    Ok(Json(json!({
        "from": query.from,
        "to": to,
        "from_root": from_root,
        "to_root": to_root,
        "proof": proof,
    })))
}
