//! The HTTP verifier (axum): the write path, the audit queries, RFC 9162 proofs and the C2SP
//! static tile API (DESIGN.md §5). `app(state)` builds the router without a socket, so tests can
//! drive it directly; [`serve`] runs it on a listener until a shutdown future resolves.
//!
//! Every error is `application/problem+json` with a stable `code` ([`error::ApiError`]); bodies
//! have size limits and requests a timeout; no input makes a handler panic.

mod audit_api;
pub mod error;
mod extract;
mod log_api;
mod pages;
pub mod receipt;
mod tiles;
mod write;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::IntoResponse as _;
use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;
use tower_http::timeout::TimeoutLayer;

use crate::log::note::NoteVerifier;
use crate::sequencer::SequencerHandle;
use crate::service::LogService;
use crate::store::Store;

pub use error::ApiError;
pub use receipt::{note_body as receipt_note_body, ReceiptBody};

/// Largest body of a single submission.
pub const MAX_ENTRY_BODY: usize = 256 * 1024;
/// Largest body of a batch submission or a bundle to verify.
pub const MAX_BATCH_BODY: usize = 64 * 1024 * 1024;
/// Most envelopes in one batch submission.
pub const MAX_BATCH_ENVELOPES: usize = 10_000;
/// Per-request time limit.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The database (readers go straight to it).
    pub store: Store,
    /// The write path.
    pub sequencer: SequencerHandle,
    /// The checkpoint verifier key.
    pub verifier: Arc<NoteVerifier>,
}

impl AppState {
    /// State from its parts (a store, the sequencer writing to it, the log's verifier key).
    pub fn from_parts(
        store: Store,
        sequencer: SequencerHandle,
        verifier: NoteVerifier,
    ) -> AppState {
        AppState {
            store,
            sequencer,
            verifier: Arc::new(verifier),
        }
    }

    /// State for an open ledger.
    pub fn new(service: &LogService) -> AppState {
        AppState {
            store: service.store.clone(),
            sequencer: service.handle(),
            verifier: Arc::new(service.verifier.clone()),
        }
    }
}

/// The whole API.
pub fn app(state: AppState) -> Router {
    let writes = Router::new()
        .route(
            "/v1/entries",
            post(write::submit_one).get(log_api::list_entries),
        )
        .layer(DefaultBodyLimit::max(MAX_ENTRY_BODY));
    let bulk = Router::new()
        .route("/v1/entries:batch", post(write::submit_batch))
        .route("/v1/verify", post(audit_api::verify))
        .layer(DefaultBodyLimit::max(MAX_BATCH_BODY));
    Router::new()
        .merge(writes)
        .merge(bulk)
        .route("/v1/entries/{index}", get(log_api::get_entry))
        .route("/v1/proofs/inclusion", get(log_api::inclusion))
        .route("/v1/proofs/consistency", get(log_api::consistency))
        .route("/v1/log", get(log_api::log_info))
        .route("/v1/actors", get(audit_api::actors))
        .route("/v1/actors/{id}", get(audit_api::actor))
        .route("/v1/batches/{id}", get(audit_api::batch))
        .route("/v1/batches/{id}/provenance", get(audit_api::provenance))
        .route("/v1/batches/{id}/downstream", get(audit_api::downstream))
        .route("/v1/batches/{id}/bundle", get(audit_api::bundle))
        .route("/v1/sites/{id}/downstream", get(audit_api::site_downstream))
        .route("/checkpoint", get(tiles::checkpoint))
        .route("/tile/{*path}", get(tiles::tile))
        .route("/", get(pages::overview))
        .route("/batches/{id}", get(pages::batch))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .fallback(|| async { ApiError::not_found("no such route; see docs/API.md") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method; see docs/API.md",
            )
        })
        .layer(axum::middleware::map_response(problem_for_bare_errors))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .with_state(state)
}

/// Readiness: 200 while writes can be taken; 503 with the reason (problem+json, code
/// `not_ready`) while they cannot — full disk, failing storage, or a log that refuses writes
/// because it is behind its own signed checkpoint. Reads keep working either way; `/healthz`
/// stays plain liveness.
async fn readyz(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> axum::response::Response {
    let store = state.store.clone();
    let health = tokio::task::spawn_blocking(move || store.health())
        .await
        .unwrap_or_else(|e| crate::store::Health::Unavailable {
            reason: e.to_string(),
        });
    let size = state.sequencer.head().size;
    match health {
        crate::store::Health::Ready => {
            axum::Json(serde_json::json!({"ready": true, "size": size})).into_response()
        }
        crate::store::Health::Unavailable { reason }
        | crate::store::Health::ReadOnly { reason } => {
            let mut response =
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", reason).into_response();
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("5"),
            );
            response
        }
    }
}

/// Layers below the handlers (the request timeout) answer with an empty body; give those a
/// problem body too, so that every error a client sees is problem+json.
async fn problem_for_bare_errors(response: axum::response::Response) -> axum::response::Response {
    if response.status() == StatusCode::REQUEST_TIMEOUT
        && !response
            .headers()
            .contains_key(axum::http::header::CONTENT_TYPE)
    {
        return ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            format!(
                "the request took longer than {} s",
                REQUEST_TIMEOUT.as_secs()
            ),
        )
        .into_response();
    }
    response
}

/// Serves `app(state)` on `listener` until `shutdown` resolves, then drains open requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
}
