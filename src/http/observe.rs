//! Every request in a span: its request id, method, matched route and status, timed and counted
//! (docs/OPERATIONS.md, "Logs and traces").
//!
//! Two middlewares, because axum knows the matched route only after routing:
//!
//! - [`route`] (a `route_layer`, after routing) copies the matched pattern into the response;
//! - [`observe`] (the outermost layer) gives the request its id — the client's `x-request-id`
//!   when acceptable, else a new one — runs everything inside a `request` span, returns the id
//!   in `x-request-id` and inside every problem+json body (`request_id`), logs an internal
//!   error's cause once inside the span, and records the request's metrics.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument as _;

use super::error::{InternalCause, ProblemCode};
use crate::telemetry::{acceptable_request_id, request_id, Metrics};

/// The header carrying the request id, both ways.
pub const REQUEST_ID: &str = "x-request-id";

/// Largest problem body [`observe`] rewrites to add the request id (problems are small; a larger
/// body passes unchanged).
const MAX_PROBLEM_BODY: usize = 64 * 1024;

/// The route pattern a response answered, for [`observe`].
#[derive(Clone, Debug)]
struct Route(String);

/// `route_layer`: remembers the matched route on the response.
pub async fn route(matched: Option<MatchedPath>, request: Request, next: Next) -> Response {
    let pattern = matched.map(|m| m.as_str().to_owned());
    let mut response = next.run(request).await;
    if let Some(pattern) = pattern {
        response.extensions_mut().insert(Route(pattern));
    }
    response
}

/// The outermost layer: request id, span, log of internal errors, metrics. `metrics` is `None`
/// for a process that keeps none (the witness).
pub async fn observe(
    State(metrics): State<Option<Arc<Metrics>>>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable_request_id(v))
        .map_or_else(request_id, str::to_owned);
    let method = request.method().as_str().to_owned();
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %method,
        route = tracing::field::Empty,
        status = tracing::field::Empty,
    );
    if let Ok(value) = HeaderValue::from_str(&id) {
        request.headers_mut().insert(REQUEST_ID, value);
    }
    let response = next.run(request).instrument(span.clone()).await;
    let route = response
        .extensions()
        .get::<Route>()
        .map_or("unmatched", |r| r.0.as_str())
        .to_owned();
    let status = response.status();
    span.record("route", route.as_str());
    span.record("status", status.as_u16());
    if let Some(InternalCause(cause)) = response.extensions().get::<InternalCause>() {
        span.in_scope(|| tracing::error!(error = %cause, "internal error"));
    } else if status.is_server_error() {
        span.in_scope(|| tracing::warn!("request failed"));
    } else {
        span.in_scope(|| {
            tracing::debug!(
                took_us = started.elapsed().as_micros() as u64,
                "request answered"
            )
        });
    }
    if let Some(metrics) = &metrics {
        metrics.request(&route, &method, status.as_u16(), started.elapsed());
    }
    let mut response = with_request_id(response, &id).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// Adds `"request_id"` to a problem+json body.
async fn with_request_id(response: Response, id: &str) -> Response {
    if response.extensions().get::<ProblemCode>().is_none()
        || response.headers().get(header::CONTENT_TYPE)
            != Some(&HeaderValue::from_static("application/problem+json"))
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_PROBLEM_BODY).await {
        Ok(bytes) => bytes,
        // Too large to be one of ours: it was already streaming; nothing better to send.
        Err(_) => return Response::from_parts(parts, Body::empty()),
    };
    let rewritten =
        match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&bytes) {
            Ok(mut problem) => {
                problem.insert("request_id".into(), id.into());
                serde_json::to_vec(&problem).unwrap_or_else(|_| bytes.to_vec())
            }
            Err(_) => bytes.to_vec(),
        };
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(rewritten))
}
