//! The write routes: `POST /v1/entries` (one envelope) and `POST /v1/entries:batch` (many, with
//! per-envelope results). Shape and payload are checked here, before the sequencer; signatures
//! and ledger rules in the sequencer. A rejected envelope writes nothing.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;
use std::collections::HashMap;

use crate::model::envelope::Envelope;
use crate::model::event::Event;
use crate::sequencer::{Receipt, Submission};

use super::extract::Body;
use super::{receipt, ApiError, AppState, ReceiptBody, MAX_BATCH_ENVELOPES};

fn parse(bytes: &[u8]) -> Result<Submission, ApiError> {
    submission(Envelope::from_json(bytes)?)
}

fn submission(envelope: Envelope) -> Result<Submission, ApiError> {
    let event = Event::from_json(&envelope.payload)?;
    Ok(Submission { envelope, event })
}

/// The envelopes of `{"envelopes": [...]}`, and nothing else.
fn batch_envelopes(body: &[u8]) -> Result<Vec<Value>, ApiError> {
    let bad = |detail: String| {
        ApiError::bad_request(
            "malformed_batch",
            format!("expected {{\"envelopes\": [...]}}: {detail}"),
        )
    };
    match serde_json::from_slice::<Value>(body).map_err(|e| bad(e.to_string()))? {
        Value::Object(mut object) => {
            let envelopes = match object.remove("envelopes") {
                Some(Value::Array(items)) => items,
                Some(_) => return Err(bad("`envelopes` must be an array".into())),
                None => return Err(bad("missing field `envelopes`".into())),
            };
            match object.keys().next() {
                Some(extra) => Err(bad(format!("unknown field `{extra}`"))),
                None => Ok(envelopes),
            }
        }
        _ => Err(bad("the body must be a JSON object".into())),
    }
}

/// `POST /v1/entries`: `201` and a receipt, or `200` and the original receipt for an identical
/// retry.
pub async fn submit_one(State(state): State<AppState>, Body(body): Body) -> Response {
    let submission = match parse(&body) {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let outcome = state
        .sequencer
        .submit(vec![submission])
        .await
        .pop()
        .expect("one outcome per submission");
    match outcome {
        Ok(done) => {
            let store = state.store.clone();
            let made = move || {
                if done.duplicate {
                    return receipt::build(&store, done.index);
                }
                // A fresh entry: the sequencer's checkpoint is its block's.
                let checkpoint = receipt::parse_own_checkpoint(&done.checkpoint)?;
                receipt::build_against(&store, done.index, &done.checkpoint, &checkpoint)
            };
            match tokio::task::spawn_blocking(made).await {
                Ok(Ok(body)) => {
                    let status = if done.duplicate {
                        StatusCode::OK
                    } else {
                        StatusCode::CREATED
                    };
                    (status, Json(body)).into_response()
                }
                Ok(Err(e)) => e.into_response(),
                Err(e) => ApiError::internal(e).into_response(),
            }
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// `POST /v1/entries:batch` with `{"envelopes": [...]}`: one result per envelope, in order,
/// each `{"status": 201|200, "receipt": {...}}` or `{"status": 4xx, "problem": {...}}`. The
/// envelopes are appended in order (later ones may depend on earlier ones); each is accepted or
/// rejected on its own.
pub async fn submit_batch(State(state): State<AppState>, Body(body): Body) -> Response {
    let envelopes = match batch_envelopes(&body) {
        Ok(envelopes) => envelopes,
        Err(e) => return e.into_response(),
    };
    if envelopes.len() > MAX_BATCH_ENVELOPES {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch_too_large",
            format!(
                "{} envelopes; at most {MAX_BATCH_ENVELOPES} per request",
                envelopes.len()
            ),
        )
        .into_response();
    }
    let parsed: Vec<Result<Submission, ApiError>> = envelopes
        .into_iter()
        .map(|value| submission(Envelope::from_json_value(value)?))
        .collect();
    let submissions: Vec<Submission> = parsed
        .iter()
        .filter_map(|p| p.as_ref().ok().cloned())
        .collect();
    let mut outcomes = state.sequencer.submit(submissions).await.into_iter();
    let store = state.store.clone();
    let results = tokio::task::spawn_blocking(move || {
        use rayon::prelude::*;
        let merged: Vec<Result<Receipt, ApiError>> = parsed
            .into_iter()
            .map(|p| match p {
                Err(e) => Err(e),
                Ok(_) => outcomes
                    .next()
                    .expect("one outcome per submission")
                    .map_err(ApiError::from),
            })
            .collect();
        // Fresh entries share their block's checkpoint: parse each once.
        let mut checkpoints = HashMap::new();
        for done in merged.iter().flatten().filter(|d| !d.duplicate) {
            checkpoints
                .entry(done.size)
                .or_insert_with(|| receipt::parse_own_checkpoint(&done.checkpoint));
        }
        let make = |reader: &mut receipt::MemoReader<'_>, done: Receipt| {
            if done.duplicate {
                return Ok((receipt::build(&store, done.index)?, true));
            }
            let checkpoint = checkpoints[&done.size].as_ref().map_err(Clone::clone)?;
            let body = receipt::build_against(&*reader, done.index, &done.checkpoint, checkpoint)?;
            Ok((body, false))
        };
        merged
            .into_par_iter()
            .map_init(
                || receipt::MemoReader::new(&store),
                |reader, r| r.and_then(|done| make(reader, done)),
            )
            .map(|r: Result<(ReceiptBody, bool), ApiError>| match r {
                Ok((receipt, duplicate)) => serde_json::json!({
                    "status": if duplicate { 200 } else { 201 },
                    "receipt": receipt,
                }),
                Err(e) => serde_json::json!({
                    "status": e.status.as_u16(),
                    "problem": e.problem(),
                }),
            })
            .collect::<Vec<_>>()
    })
    .await;
    match results {
        Ok(results) => {
            let accepted = results
                .iter()
                .filter(|r| r["status"].as_u64().is_some_and(|s| s < 300))
                .count();
            Json(serde_json::json!({
                "accepted": accepted,
                "rejected": results.len() - accepted,
                "results": results,
            }))
            .into_response()
        }
        Err(e) => ApiError::internal(e).into_response(),
    }
}
