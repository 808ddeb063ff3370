//! Errors as RFC 9457 problem details (`application/problem+json`), each with a stable,
//! machine-readable `code`. Every domain error is mapped here, once. Internal failures are logged
//! and shown to the client only as a bare 500.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::ledger::LedgerError;
use crate::model::envelope::EnvelopeError;
use crate::model::event::EventError;
use crate::sequencer::SequencerError;

/// Every problem code the HTTP layer answers itself; the ledger's rule codes are
/// [`LedgerError::CODES`]. docs/API.md has a row for each (`tests/http_abuse.rs` checks).
pub const CODES: &[&str] = &[
    "not_found",
    "method_not_allowed",
    "bad_path",
    "bad_query",
    "bad_body",
    "body_too_large",
    "unsupported_media_type",
    "busy",
    "rate_limited",
    "genesis_not_allowed",
    "size_beyond_log",
    "index_beyond_size",
    "bad_tile_path",
    "malformed_envelope",
    "bad_base64",
    "bad_payload_type",
    "payload_too_large",
    "bad_signature_format",
    "malformed_event",
    "entry_too_large",
    "malformed_batch",
    "batch_too_large",
    "envelope_too_large",
    "unavailable",
    "internal",
    "timeout",
    "bad_id",
    "dag_too_large",
    "storage_unavailable",
    "read_only",
    "not_ready",
    "not_witnessed",
    "unknown_policy",
    "bad_month",
    "month_in_future",
];

/// The status every problem code comes with (one code, one status: docs/API.md); `None` for a
/// string that is no code. tests/openapi.rs checks it against the code tables of docs/API.md.
pub fn status_of(code: &str) -> Option<StatusCode> {
    if LedgerError::CODES.contains(&code) {
        return Some(ledger_status(code));
    }
    Some(match code {
        "not_found" => StatusCode::NOT_FOUND,
        "method_not_allowed" => StatusCode::METHOD_NOT_ALLOWED,
        "bad_path"
        | "bad_query"
        | "bad_body"
        | "size_beyond_log"
        | "index_beyond_size"
        | "bad_tile_path"
        | "malformed_envelope"
        | "bad_base64"
        | "bad_payload_type"
        | "bad_signature_format"
        | "malformed_event"
        | "malformed_batch"
        | "bad_id"
        | "unknown_policy"
        | "bad_month"
        | "month_in_future" => StatusCode::BAD_REQUEST,
        "body_too_large" | "payload_too_large" | "entry_too_large" | "batch_too_large"
        | "envelope_too_large" => StatusCode::PAYLOAD_TOO_LARGE,
        "unsupported_media_type" => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "busy"
        | "unavailable"
        | "storage_unavailable"
        | "read_only"
        | "not_ready"
        | "not_witnessed" => StatusCode::SERVICE_UNAVAILABLE,
        "rate_limited" => StatusCode::TOO_MANY_REQUESTS,
        "genesis_not_allowed" => StatusCode::FORBIDDEN,
        "internal" => StatusCode::INTERNAL_SERVER_ERROR,
        "timeout" => StatusCode::REQUEST_TIMEOUT,
        "dag_too_large" => StatusCode::UNPROCESSABLE_ENTITY,
        _ => return None,
    })
}

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable problem code (snake_case).
    pub code: &'static str,
    /// What went wrong, for a person.
    pub detail: String,
    /// For a 500: what went wrong, for the operator's log only (never sent).
    pub cause: Option<String>,
}

/// Response extension of every problem answer: its code (for metrics).
#[derive(Clone, Copy, Debug)]
pub struct ProblemCode(pub &'static str);

/// Response extension of a 500: its cause, logged once by the request's span
/// (`http::observe`), never sent to the client.
#[derive(Clone, Debug)]
pub struct InternalCause(pub String);

/// The JSON body.
#[derive(Serialize)]
pub struct Problem<'a> {
    /// `/problems/<code>` (documented in docs/API.md).
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the status.
    pub title: &'a str,
    /// HTTP status code.
    pub status: u16,
    /// Human-readable explanation.
    pub detail: &'a str,
    /// Stable machine-readable code.
    pub code: &'a str,
}

impl ApiError {
    /// An error with an explicit status and code.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            detail: detail.into(),
            cause: None,
        }
    }

    /// 400 with `code`.
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, detail)
    }

    /// 404 `not_found`.
    pub fn not_found(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", detail)
    }

    /// A bare 500; the cause is logged (once, in the request's span, with the request id),
    /// never shown.
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        ApiError {
            cause: Some(cause.to_string()),
            ..ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error; the operator has the details in the server log (quote the request id)",
            )
        }
    }

    /// [`internal`](Self::internal) for an error value: the cause is its whole chain.
    pub fn internal_error(error: &(dyn std::error::Error + 'static)) -> ApiError {
        ApiError::internal(crate::telemetry::cause_chain(error))
    }

    /// The problem body (also used inside batch results).
    pub fn problem(&self) -> Problem<'_> {
        Problem {
            kind: format!("/problems/{}", self.code),
            title: self.status.canonical_reason().unwrap_or("Error"),
            status: self.status.as_u16(),
            detail: &self.detail,
            code: self.code,
        }
    }
}

/// Seconds a client should wait before retrying a `503` or `429` (the `Retry-After` header).
pub const RETRY_AFTER_SECS: u64 = 1;

impl ApiError {
    /// Seconds a client should wait before retrying, for failures that pass by themselves:
    /// pushback and rate limits (1 s), storage trouble (5 s). A log that refuses writes until its
    /// operator acts (`read_only`) gets none.
    pub fn retry_after(&self) -> Option<u64> {
        match self.code {
            "storage_unavailable" => Some(5),
            "read_only" => None,
            _ if matches!(
                self.status,
                StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS
            ) =>
            {
                Some(RETRY_AFTER_SECS)
            }
            _ => None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.problem()).expect("problem serialises");
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body,
        )
            .into_response();
        if let Some(seconds) = self.retry_after() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
        }
        if let Some(cause) = self.cause {
            response.extensions_mut().insert(InternalCause(cause));
        }
        response.extensions_mut().insert(ProblemCode(self.code));
        response
    }
}

/// Status for a ledger rule code: who may not do it (403), what clashes with the log (409),
/// what is inconsistent in itself or with the state (422).
fn ledger_status(code: &str) -> StatusCode {
    match code {
        "bad_signature"
        | "revoked_key"
        | "unknown_actor"
        | "role_not_allowed"
        | "foreign_site"
        | "foreign_prefix"
        | "not_custodian"
        | "not_addressee"
        | "foreign_jurisdiction"
        | "not_issuer"
        | "export_licence_required" => StatusCode::FORBIDDEN,
        "conflict" | "double_spend" | "batch_exists" | "genesis_exists" | "in_transit"
        | "not_in_transit" | "retired" | "duplicate" | "actor_exists" | "site_exists"
        | "key_exists" | "prefix_taken" | "rule_exists" | "licence_exists" | "licence_revoked" => {
            StatusCode::CONFLICT
        }
        "unknown_batch" | "unknown_rule" | "unknown_licence" => StatusCode::NOT_FOUND,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

impl From<LedgerError> for ApiError {
    fn from(e: LedgerError) -> ApiError {
        if let LedgerError::State(cause) = &e {
            return ApiError::internal_error(cause);
        }
        let code = e.code();
        ApiError::new(ledger_status(code), code, e.to_string())
    }
}

impl From<EnvelopeError> for ApiError {
    fn from(e: EnvelopeError) -> ApiError {
        let code = match &e {
            EnvelopeError::Malformed { .. } => "malformed_envelope",
            EnvelopeError::Base64 { .. } => "bad_base64",
            EnvelopeError::PayloadType { .. } => "bad_payload_type",
            EnvelopeError::PayloadTooLarge { .. } => "payload_too_large",
            EnvelopeError::SignatureCount { .. } | EnvelopeError::SignatureShape { .. } => {
                "bad_signature_format"
            }
        };
        let status = if matches!(e, EnvelopeError::PayloadTooLarge { .. }) {
            StatusCode::PAYLOAD_TOO_LARGE
        } else {
            StatusCode::BAD_REQUEST
        };
        ApiError::new(status, code, e.to_string())
    }
}

/// A payload that does not parse as an event, or breaks a documented limit, is `400
/// malformed_event`; an event that parses but breaks a ledger rule is a ledger code, `403`,
/// `404`, `409` or `422` (so `invalid_event` is always `422`).
impl From<EventError> for ApiError {
    fn from(e: EventError) -> ApiError {
        ApiError::bad_request("malformed_event", e.to_string())
    }
}

impl From<SequencerError> for ApiError {
    fn from(e: SequencerError) -> ApiError {
        match e {
            SequencerError::Rejected(e) => e.into(),
            SequencerError::Entry(e) => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "entry_too_large",
                e.to_string(),
            ),
            SequencerError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "write refused: storage unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_unavailable",
                    "the ledger cannot store entries right now (full disk or failing storage); nothing was written; retry later",
                )
            }
            SequencerError::ReadOnly(reason) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "read_only", reason)
            }
            SequencerError::Stopped => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the ledger is shutting down; retry shortly",
            ),
            SequencerError::Busy => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", e.to_string())
            }
            SequencerError::ClientShare
            | SequencerError::ActorShare { .. }
            | SequencerError::BadSignatures => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", e.to_string())
            }
        }
    }
}
