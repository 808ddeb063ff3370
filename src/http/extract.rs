//! Extractors whose rejections speak problem+json with our own codes, instead of axum's plain
//! text: a body with a size limit, query strings and path parameters.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::stream::Stop;
use super::{ApiError, BODY_TIMEOUT};

/// The raw request body; over-limit bodies become `413 body_too_large`, and one that does not
/// arrive within [`BODY_TIMEOUT`] `408 timeout`.
pub struct Body(pub Bytes);

impl Body {
    /// Reads the body of `request` (under the route's [`axum::extract::DefaultBodyLimit`]).
    pub async fn read(request: Request) -> Result<Bytes, ApiError> {
        match tokio::time::timeout(BODY_TIMEOUT, Body::from_request(request, &())).await {
            Ok(body) => body.map(|Body(bytes)| bytes),
            Err(_) => Err(Stop::Timeout.problem()),
        }
    }
}

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        Bytes::from_request(req, state)
            .await
            .map(Body)
            .map_err(|e: BytesRejection| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "body_too_large",
                        "the request body is larger than this route accepts; see docs/API.md",
                    )
                } else {
                    ApiError::bad_request("bad_body", e.body_text())
                }
            })
    }
}

/// A query string; bad parameters become `400 bad_query`.
pub struct Q<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Q<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| Q(v))
            .map_err(|e: QueryRejection| ApiError::bad_request("bad_query", e.body_text()))
    }
}

/// Path parameters; bad ones become `400 bad_path`.
pub struct P<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for P<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| P(v))
            .map_err(|e: PathRejection| ApiError::bad_request("bad_path", e.body_text()))
    }
}
