//! Request checks common to every route, run after routing (so the route's pattern is known) and
//! before any handler (docs/API.md, "Conventions"); what each route takes comes from its
//! operation in the API description (src/http/openapi.rs):
//!
//! - on `/v1/…` and C2SP routes (every operation not tagged `pages` or `health`), a query parameter the route does not take is refused with
//!   `400 bad_query` — on POST routes too — instead of being ignored; HTML pages and the health
//!   probes ignore unknown parameters (browsers and monitors add their own);
//! - a body (operations with a JSON request body) must be declared `content-type: application/json` (parameters such as
//!   `charset` allowed), else `415 unsupported_media_type`.

use std::collections::BTreeSet;

use axum::extract::{MatchedPath, Query, Request};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};

use super::ApiError;

/// The checks, as an axum `route_layer` middleware. What each route takes is read from the API
/// description ([`super::openapi::document`]): a route missing from it is a bug, answered `500`.
pub async fn check(matched: Option<MatchedPath>, request: Request, next: Next) -> Response {
    let pattern = matched
        .as_ref()
        .map_or_else(|| request.uri().path(), MatchedPath::as_str)
        .to_owned();
    let Some(rules) = super::openapi::document().rules(&pattern, request.method()) else {
        return ApiError::internal(format!(
            "route `{} {pattern}` is not in the API description: register it in \
             src/http/openapi.rs (docs/DESIGN.md §5.1)",
            request.method()
        ))
        .into_response();
    };
    if !rules.lenient {
        if let Err(e) = check_query(&request, &rules.query) {
            return e.into_response();
        }
    }
    if rules.json_body {
        if let Err(e) = check_json(&request) {
            return e.into_response();
        }
    }
    next.run(request).await
}

fn check_query(request: &Request, known: &BTreeSet<String>) -> Result<(), ApiError> {
    if request.uri().query().is_none_or(str::is_empty) {
        return Ok(());
    }
    let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(request.uri())
        .map_err(|e| ApiError::bad_request("bad_query", e.body_text()))?;
    match pairs.iter().find(|(name, _)| !known.contains(name)) {
        None => Ok(()),
        Some((name, _)) if known.is_empty() => Err(ApiError::bad_request(
            "bad_query",
            format!("unknown query parameter `{name}`: this route takes none"),
        )),
        Some((name, _)) => Err(ApiError::bad_request(
            "bad_query",
            format!(
                "unknown query parameter `{name}`: this route takes {}",
                known.iter().cloned().collect::<Vec<_>>().join(", ")
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
