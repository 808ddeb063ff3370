//! Request checks common to every route, run after routing (so the route's pattern is known) and
//! before any handler (docs/API.md, "Conventions"):
//!
//! - on `/v1/…` and C2SP routes, a query parameter the route does not take is refused with
//!   `400 bad_query` — on POST routes too — instead of being ignored; HTML pages and `/healthz`
//!   ignore unknown parameters (browsers and monitors add their own);
//! - a POST body must be declared `content-type: application/json` (parameters such as
//!   `charset` allowed), else `415 unsupported_media_type`.

use axum::extract::{MatchedPath, Query, Request};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};

use super::ApiError;

/// The query parameters a route takes, by route pattern and method; `None`: not checked.
fn known_parameters(pattern: &str, method: &Method) -> Option<&'static [&'static str]> {
    Some(match pattern {
        "/" | "/batches/{id}" | "/healthz" => return None,
        "/v1/entries" if method == Method::GET => &["start", "limit"],
        "/v1/entries/{index}" => &["proof"],
        "/v1/proofs/inclusion" => &["index", "size"],
        "/v1/proofs/consistency" => &["from", "to"],
        "/v1/batches/{id}/provenance" => &["dag"],
        "/v1/batches/{id}/compliance" => &["policy"],
        "/v1/actors/{id}/portfolio" => &["from", "to"],
        _ => &[],
    })
}

/// The POST routes, whose bodies are JSON.
const JSON_BODIES: &[&str] = &["/v1/entries", "/v1/entries:batch", "/v1/verify"];

/// The checks, as an axum `route_layer` middleware.
pub async fn check(matched: Option<MatchedPath>, request: Request, next: Next) -> Response {
    let pattern = matched
        .as_ref()
        .map_or_else(|| request.uri().path(), MatchedPath::as_str)
        .to_owned();
    if let Some(known) = known_parameters(&pattern, request.method()) {
        if let Err(e) = check_query(&request, known) {
            return e.into_response();
        }
    }
    if request.method() == Method::POST && JSON_BODIES.contains(&pattern.as_str()) {
        if let Err(e) = check_json(&request) {
            return e.into_response();
        }
    }
    next.run(request).await
}

fn check_query(request: &Request, known: &[&str]) -> Result<(), ApiError> {
    if request.uri().query().is_none_or(str::is_empty) {
        return Ok(());
    }
    let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(request.uri())
        .map_err(|e| ApiError::bad_request("bad_query", e.body_text()))?;
    match pairs
        .iter()
        .find(|(name, _)| !known.contains(&name.as_str()))
    {
        None => Ok(()),
        Some((name, _)) if known.is_empty() => Err(ApiError::bad_request(
            "bad_query",
            format!("unknown query parameter `{name}`: this route takes none"),
        )),
        Some((name, _)) => Err(ApiError::bad_request(
            "bad_query",
            format!(
                "unknown query parameter `{name}`: this route takes {}",
                known.join(", ")
            ),
        )),
    }
}

fn check_json(request: &Request) -> Result<(), ApiError> {
    let declared = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = declared.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!(
                "the body must be sent as `content-type: application/json`, not `{}`",
                declared.chars().take(100).collect::<String>()
            ),
        ))
    }
}
