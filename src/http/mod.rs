//! The HTTP verifier (axum): the write path, the audit queries, RFC 9162 proofs and the C2SP
//! static tile API (DESIGN.md §5). `app(state)` builds the router without a socket, so tests can
//! drive it directly; [`serve`] runs it on a listener until a shutdown future resolves.
//!
//! Every error is `application/problem+json` with a stable `code` ([`error::ApiError`]); bodies
//! have size limits and a deadline, requests a timeout, connections the bounds of [`server`];
//! no input makes a handler panic.

mod audit_api;
mod compliance_api;
pub mod controls_api;
mod epcis_api;
pub mod error;
mod extract;
pub mod flows_api;
mod guard;
mod log_api;
pub mod observe;
pub mod openapi;
pub mod pages;
pub mod receipt;
pub mod server;
mod shares;
mod stream;
mod tiles;
mod witnessed;
mod write;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::IntoResponse as _;
use axum::Router;
use tokio::net::TcpListener;
use tower_http::timeout::TimeoutLayer;

use crate::log::note::NoteVerifier;
use crate::model::envelope::{MAX_PAYLOAD_BYTES, MAX_SIGNATURES};
use crate::sequencer::SequencerHandle;
use crate::service::LogService;
use crate::store::Store;
use crate::witness::cosigner::CosignerHandle;

pub use error::ApiError;
pub use receipt::{note_body as receipt_note_body, ReceiptBody};
pub use server::{ClientAddr, ServeConfig};
pub use shares::{HEAVY_PER_CLIENT, HEAVY_REQUESTS, VERIFY_REQUESTS};
pub use write::GROUP_BYTES;

/// Largest body of a single submission.
pub const MAX_ENTRY_BODY: usize = 256 * 1024;
/// JSON of one signature at its largest: `{"keyid":"<64 hex>","sig":"<88 base64>"}` is 173
/// bytes; with a separator and some whitespace, 180.
const SIGNATURE_JSON: usize = 180;
/// The rest of an envelope's JSON: the three field names, the payload type, punctuation, and
/// room for whitespace.
const ENVELOPE_FRAME: usize = 1024;
/// Largest JSON text of one envelope (84,384 bytes): the base64 of a maximal payload
/// (60 KiB → 81,920 characters), [`MAX_SIGNATURES`] signatures, and the frame. An element of a
/// batch's `envelopes` longer than this is refused (`413 envelope_too_large`) without being held.
pub const MAX_ENVELOPE_JSON: usize =
    4 * MAX_PAYLOAD_BYTES.div_ceil(3) + MAX_SIGNATURES * SIGNATURE_JSON + ENVELOPE_FRAME;
/// Most envelopes in one batch submission.
pub const MAX_BATCH_ENVELOPES: usize = 10_000;
/// Largest body of a batch submission: exactly what [`MAX_BATCH_ENVELOPES`] maximal envelopes
/// need — each [`MAX_ENVELOPE_JSON`] bytes and a comma — plus 64 bytes for
/// `{"envelopes":[...]}` (843,850,064 bytes, about 805 MiB). The body is parsed as it streams,
/// so this bounds time and bandwidth, not memory.
pub const MAX_BATCH_BODY: usize = MAX_BATCH_ENVELOPES * (MAX_ENVELOPE_JSON + 1) + 64;
/// Largest bundle to verify (`POST /v1/verify`).
pub const MAX_BUNDLE_BODY: usize = 64 * 1024 * 1024;
/// Time to receive a request body, from the end of its head.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(45);
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
    /// The witness cosigner, when `serve` runs with a witness policy (docs/WITNESS.md).
    pub witnessing: Option<CosignerHandle>,
    /// Places for the heavy routes (batch, verify).
    pub heavy: Arc<shares::Gate>,
    /// Which entries each actor signed, for the monthly flow reports (`flows_api`); built on
    /// the first report and extended as the log grows.
    pub flows: Arc<std::sync::Mutex<crate::audit::flows::ActorEntries>>,
    /// A read-only server's replica (`serve --read-only`): its lag, shown by `/readyz`.
    pub replica: Option<Arc<std::sync::RwLock<crate::store::postgres::replica::ReplicaStatus>>>,
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
            witnessing: None,
            heavy: Arc::default(),
            flows: Arc::default(),
            replica: None,
        }
    }

    /// State for an open ledger.
    pub fn new(service: &LogService) -> AppState {
        AppState {
            store: service.store.clone(),
            sequencer: service.handle(),
            verifier: Arc::new(service.verifier.clone()),
            witnessing: None,
            heavy: Arc::default(),
            flows: Arc::default(),
            replica: None,
        }
    }

    /// The same state, serving witnessed checkpoints gathered by `cosigner`.
    pub fn with_witnessing(mut self, cosigner: CosignerHandle) -> AppState {
        self.witnessing = Some(cosigner);
        self
    }
}

/// Whether requests are observed (spans, request ids, HTTP metrics): always in `serve`; the
/// bench turns it off to measure its cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Telemetry {
    /// Every request in a span, with an id and metrics (docs/OPERATIONS.md).
    On,
    /// None of that.
    Off,
}

/// The whole API: the route table of [`openapi::routes`] (which is also the API description),
/// the request checks, and the layers every request passes.
pub fn app(state: AppState) -> Router {
    app_with(state, Telemetry::On)
}

/// [`app`], with or without request telemetry.
pub fn app_with(state: AppState, telemetry: Telemetry) -> Router {
    // Built now, not at the first request: the guard reads it.
    let _ = openapi::document();
    let (routes, _) = openapi::routes().split_for_parts();
    let router = routes.route_layer(axum::middleware::from_fn(guard::check));
    let router = match telemetry {
        Telemetry::On => router.route_layer(axum::middleware::from_fn(observe::route)),
        Telemetry::Off => router,
    };
    let router = router
        .fallback(pages::fallback)
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
        ));
    let router = match telemetry {
        Telemetry::On => router.layer(axum::middleware::from_fn_with_state(
            Some(Arc::clone(state.sequencer.metrics())),
            observe::observe,
        )),
        Telemetry::Off => router,
    };
    router.with_state(state)
}

/// `GET /metrics`: the Prometheus text exposition of [`crate::telemetry::Metrics`], with the
/// log size, intake depth, free disk and witness lag read now.
#[utoipa::path(get, path = "/metrics", tag = "health", operation_id = "metrics",
    summary = "Prometheus metrics (text format 0.0.4; docs/OPERATIONS.md §3)",
    responses((status = 200, description = "The metrics",
               content_type = "text/plain; version=0.0.4; charset=utf-8", body = String)))]
pub async fn metrics(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> axum::response::Response {
    let store = state.store.clone();
    let disk_free_bytes = tokio::task::spawn_blocking(move || store.disk_free())
        .await
        .ok()
        .flatten();
    let witnesses = state.witnessing.as_ref().map_or_else(Vec::new, |cosigner| {
        cosigner
            .status()
            .into_iter()
            .map(|(name, status)| (name, status.size))
            .collect()
    });
    let snapshot = crate::telemetry::Snapshot {
        intake_envelopes: state.sequencer.intake_depth() as u64,
        log_entries: state.sequencer.head().size,
        disk_free_bytes,
        witnesses,
    };
    (
        [(
            axum::http::header::CONTENT_TYPE,
            crate::telemetry::metrics::CONTENT_TYPE,
        )],
        state.sequencer.metrics().render(&snapshot),
    )
        .into_response()
}

/// Liveness: `200 ok` whenever the process answers at all.
#[utoipa::path(get, path = "/healthz", tag = "health", operation_id = "healthz",
    summary = "Liveness",
    responses((status = 200, description = "`ok`", content_type = "text/plain", body = String)))]
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness: 200 while writes can be taken; 503 with the reason (problem+json, code
/// `not_ready`) while they cannot — full disk, failing storage, or a log that refuses writes
/// because it is behind its own signed checkpoint. Reads keep working either way; `/healthz`
/// stays plain liveness.
#[utoipa::path(get, path = "/readyz", tag = "health", operation_id = "readyz",
    summary = "Readiness to take writes",
    responses((status = 200, description = "Writes can be accepted",
               body = ref("#/components/schemas/Ready"))),
    extensions(("x-problems" = json!(["not_ready"]))))]
pub async fn readyz(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> axum::response::Response {
    if let Some(replica) = &state.replica {
        return replica_ready(replica);
    }
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

/// `/readyz` of a read-only server: ready while its replica can be read and is not behind the
/// head already served, with the replication lag.
fn replica_ready(
    replica: &std::sync::RwLock<crate::store::postgres::replica::ReplicaStatus>,
) -> axum::response::Response {
    let status = replica
        .read()
        .map(|s| s.clone())
        .unwrap_or_else(|p| p.into_inner().clone());
    let reason = match &status.error {
        Some(error) => Some(error.clone()),
        None if status.replica_size < status.served_size => Some(format!(
            "the replica holds {} entries, fewer than the {} this server has already served",
            status.replica_size, status.served_size
        )),
        None => None,
    };
    if let Some(reason) = reason {
        let mut response =
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", reason).into_response();
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("5"),
        );
        return response;
    }
    axum::Json(serde_json::json!({
        "ready": true,
        "size": status.served_size,
        "read_only": true,
        "replication": {
            "replica_size": status.replica_size,
            "lag_seconds": status.lag.as_ref().map_or(0.0, |l| l.lag_seconds),
            "lag_bytes": status.lag.as_ref().map_or(0, |l| l.lag_bytes),
            "standby": status.lag.as_ref().is_some_and(|l| l.standby),
        },
    }))
    .into_response()
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

/// Serves `app(state)` on `listener` with the default [`ServeConfig`] until `shutdown`
/// resolves, then drains open requests (within [`server::SHUTDOWN_GRACE`]).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, state, ServeConfig::default(), shutdown).await
}

/// [`serve`] with explicit connection limits.
pub async fn serve_with(
    listener: TcpListener,
    state: AppState,
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    server::serve_router(listener, app(state), config, shutdown).await
}

/// [`serve`] with or without request telemetry (the bench's on/off comparison).
pub async fn serve_telemetry(
    listener: TcpListener,
    state: AppState,
    telemetry: Telemetry,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    server::serve_router(
        listener,
        app_with(state, telemetry),
        ServeConfig::default(),
        shutdown,
    )
    .await
}
