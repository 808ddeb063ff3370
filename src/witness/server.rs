//! The witness's HTTP face (c2sp.org/tlog-witness): `POST /add-checkpoint`,
//! `GET /<origin hash>/checkpoint` (the monitoring endpoint) and `GET /healthz`.
//!
//! Successes and the `409` are exactly the spec's bodies (cosignature lines; the held size in
//! `text/x.tlog.size`). Other refusals carry the spec's status and an
//! `application/problem+json` body with a stable code (docs/WITNESS.md), which clients of the
//! spec simply ignore.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;
use tower_http::timeout::TimeoutLayer;

use crate::http::ApiError;

use super::protocol::{MAX_REQUEST_BODY, TLOG_SIZE_CONTENT_TYPE};
use super::{Witness, WitnessError};

/// The witness router.
pub fn app(witness: Arc<Witness>) -> Router {
    Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .route("/{origin_hash}/checkpoint", get(latest))
        .route("/healthz", get(|| async { "ok\n" }))
        .route_layer(axum::middleware::from_fn(crate::http::observe::route))
        .fallback(|| async { ApiError::not_found("no such route; see docs/WITNESS.md") })
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BODY))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        // Request ids and spans as on the log's server; the witness keeps no metrics.
        .layer(axum::middleware::from_fn_with_state(
            None,
            crate::http::observe::observe,
        ))
        .with_state(witness)
}

/// Serves the witness on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    witness: Arc<Witness>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(witness))
        .with_graceful_shutdown(shutdown)
        .await
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

async fn add_checkpoint(State(witness): State<Arc<Witness>>, body: Bytes) -> Response {
    // Verification and the fsync block: keep them off the async workers.
    let outcome = tokio::task::spawn_blocking(move || witness.add_checkpoint(&body, now())).await;
    match outcome {
        Ok(Ok(lines)) => {
            ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], lines).into_response()
        }
        Ok(Err(WitnessError::Conflict { held, .. })) => (
            StatusCode::CONFLICT,
            [(header::CONTENT_TYPE, TLOG_SIZE_CONTENT_TYPE)],
            format!("{held}\n"),
        )
            .into_response(),
        Ok(Err(e)) => {
            if e.status() == 500 {
                return ApiError::internal_error(&e).into_response();
            }
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
            ApiError::new(status, e.code(), e.to_string()).into_response()
        }
        Err(join) => ApiError::internal_error(&join).into_response(),
    }
}

async fn latest(State(witness): State<Arc<Witness>>, Path(origin_hash): Path<String>) -> Response {
    match witness.latest_by_hash(&origin_hash) {
        Some(note) => (
            [
                (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            note,
        )
            .into_response(),
        None => ApiError::not_found(format!(
            "this witness has cosigned no checkpoint for the log whose origin hash is {origin_hash}"
        ))
        .into_response(),
    }
}
