//! Witnessed reads (docs/WITNESS.md): the latest checkpoint with a quorum of witness
//! cosignatures, offline proofs against it (c2sp.org/tlog-proof), and what the log knows of
//! each witness. With no witness policy configured, the log's own checkpoint stands in for the
//! witnessed one (the policy `quorum none`).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::log::tlog_proof::TlogProof;
use crate::log::tree::inclusion_proof;

use super::extract::P;
use super::{ApiError, AppState};

/// `503 not_witnessed`, with `Retry-After: 1`.
fn not_witnessed(detail: String) -> Response {
    let mut response =
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_witnessed", detail).into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    response
}

/// The checkpoint to prove against: `(size, note)`, or `None` when no checkpoint has a
/// quorum yet.
fn proving_checkpoint(state: &AppState) -> Option<(u64, String)> {
    match &state.witnessing {
        Some(cosigner) => cosigner.latest().map(|h| (h.size, h.note.clone())),
        None => {
            let head = state.sequencer.head();
            Some((head.size, head.checkpoint.clone()))
        }
    }
}

/// `GET /checkpoint` when a witness policy is configured: the latest checkpoint with a quorum,
/// cosignatures included; `503 not_witnessed` until the first one.
pub fn witnessed_checkpoint(state: &AppState) -> Option<Response> {
    let cosigner = state.witnessing.as_ref()?;
    Some(match cosigner.latest() {
        Some(head) => (
            [
                (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            head.note.clone(),
        )
            .into_response(),
        None => not_witnessed("no checkpoint of this log has a witness quorum yet".into()),
    })
}

/// `GET /v1/entries/{index}/proof`: a `.tlog-proof` for the entry against the latest witnessed
/// checkpoint, with the entry's leaf bytes as `extra`.
#[utoipa::path(get, path = "/v1/entries/{index}/proof", tag = "witness", operation_id = "entry_proof",
    summary = "C2SP tlog-proof of an entry against the latest witnessed checkpoint",
    params(("index" = String, Path, description = "Entry index: a u64 in canonical decimal",
            pattern = "^(?:0|[1-9][0-9]{0,19})$", example = "3")),
    responses((status = 200, description = "The `.tlog-proof` text (c2sp.org/tlog-proof@v1)",
               content_type = "text/plain", body = String)),
    extensions(("x-problems" = json!(["bad_path", "not_found", "not_witnessed"]))))]
pub async fn entry_proof(State(state): State<AppState>, P(index): P<String>) -> Response {
    let index = match super::log_api::canonical_index(&index) {
        Ok(index) => index,
        Err(e) => return e.into_response(),
    };
    let log_size = state.sequencer.head().size;
    if index >= log_size {
        return ApiError::not_found(format!(
            "entry {index} does not exist; the log has {log_size} entries"
        ))
        .into_response();
    }
    let Some((size, note)) = proving_checkpoint(&state) else {
        return not_witnessed("no checkpoint of this log has a witness quorum yet".into());
    };
    if index >= size {
        return not_witnessed(format!(
            "entry {index} is not yet covered by a witnessed checkpoint (witnessed size {size})"
        ));
    }
    let built = (|| {
        let leaf = state
            .store
            .entry(index)
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::internal(format!("entry {index} is missing")))?;
        let proof = inclusion_proof(index, size, &state.store).map_err(ApiError::internal)?;
        Ok::<_, ApiError>(TlogProof {
            extra: Some(leaf),
            index,
            proof,
            checkpoint: note,
        })
    })();
    match built {
        Ok(proof) => (
            [
                (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            proof.to_text(),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

/// `GET /v1/witnesses`: the policy's quorum, the latest witnessed checkpoint and each
/// witness's status as the log sees it.
#[utoipa::path(get, path = "/v1/witnesses", tag = "witness", operation_id = "witnesses",
    summary = "The witnessed checkpoint and each witness's status",
    responses((status = 200, description = "The policy's state", body = ref("#/components/schemas/Witnesses"))))]
pub async fn witnesses(State(state): State<AppState>) -> Json<Value> {
    let Some(cosigner) = &state.witnessing else {
        return Json(json!({ "policy": false, "witnessed": null, "witnesses": {} }));
    };
    let latest = cosigner.latest();
    Json(json!({
        "policy": true,
        "witnessed": latest.map(|h| json!({
            "size": h.size,
            "checkpoint": h.note,
            "cosigned": h.cosigned,
        })),
        "witnesses": cosigner.status(),
    }))
}
