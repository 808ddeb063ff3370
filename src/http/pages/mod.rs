//! The auditor's console (docs/CONSOLE.md): pages for people, rendered on the server as plain
//! HTML with an embedded stylesheet and no external assets, so they work air-gapped. Every value
//! from the ledger is escaped (`layout::esc`). JavaScript appears only where it adds something
//! the server cannot: checking a batch's offline bundle *in the browser* against a log key the
//! reader pins (the batch page, `assets/verify.js`).
//!
//! HTML routes answer HTML, errors included (a 404 page with a search box), and ignore query
//! parameters they do not know; `/v1` stays JSON. The handlers are plain axum handlers,
//! registered with the rest of the API in `http::app`; each does its store reads and rendering on
//! the blocking pool.
//!
//! | route | page |
//! | --- | --- |
//! | `/` | overview: log status, search, products and magnets |
//! | `/search?q=` | search by batch, company, site or product (partial, any case) |
//! | `/batches?from=` | every batch, paged |
//! | `/batches/{id}` | a batch: graph, status, custody, origin, certificates, verification |
//! | `/batches/{id}/print` | certificate of origin (print layout) |
//! | `/batches/{id}/label` | the batch label naming the producers of the ore (print layout) |
//! | `/batches/{id}/shares.csv`, `/batches/{id}/upstream.csv` | the origin shares and the upstream table |
//! | `/actors`, `/actors/{id}` | companies; one company with its sites |
//! | `/sites/{id}` | a mine or plant and where its material went (downstream) |
//! | `/entries/{index}` | one log entry: event, signatures, leaf hash, inclusion proof |
//! | `/log` | checkpoints and witness cosignatures |

mod batch;
mod custody;
mod directory;
mod drawing;
mod entry;
pub mod graph;
pub mod label;
mod layout;
mod overview;
mod party;

use std::collections::HashMap;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::AppState;

/// Query parameters, any of them (unknown ones are ignored, undecodable ones dropped).
type Params = Result<Query<HashMap<String, String>>, QueryRejection>;
/// A path parameter (an undecodable one reads as empty: the page then says "not found").
type Id = Result<Path<String>, PathRejection>;

fn param(params: &Params, name: &str) -> String {
    params
        .as_ref()
        .ok()
        .and_then(|Query(p)| p.get(name).cloned())
        .unwrap_or_default()
}

/// Renders on the blocking pool: pages read the store synchronously.
async fn render(work: impl FnOnce() -> Response + Send + 'static) -> Response {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(layout::failed)
}

/// `GET /`.
#[utoipa::path(get, path = "/", tag = "pages", operation_id = "overview_page",
    summary = "Web page: the log, search, products and magnets",
    responses(
        (status = 200, description = "HTML", content_type = "text/html", body = String),
        (status = 404, description = "HTML page with a search box", content_type = "text/html", body = String)))]
pub async fn overview(State(state): State<AppState>) -> Response {
    render(move || overview::overview(&state)).await
}

/// `GET /search?q=`.
#[utoipa::path(get, path = "/search", tag = "pages", operation_id = "search_page",
    summary = "Web page: search batches, companies, sites and products (partial matches)",
    params(("q" = Option<String>, Query, description = "What to look for"), ("batch" = Option<String>, Query, description = "An exact batch id (older links)")),
    responses(
        (status = 200, description = "HTML", content_type = "text/html", body = String),
        (status = 303, description = "To the canonical page (an id in another case or with spaces, or an exact search hit)"),
        (status = 404, description = "HTML page with a search box", content_type = "text/html", body = String)))]
pub async fn search(State(state): State<AppState>, params: Params) -> Response {
    let q = param(&params, "q");
    let legacy = param(&params, "batch");
    render(move || overview::search(&state, if q.is_empty() { &legacy } else { &q })).await
}

/// `GET /batches?from=`.
#[utoipa::path(get, path = "/batches", tag = "pages", operation_id = "batches_page",
    summary = "Web page: batches, paged",
    params(("form" = Option<String>, Query, description = "Only batches of this form"), ("from" = Option<String>, Query, description = "Page from this batch id on")),
    responses(
        (status = 200, description = "HTML", content_type = "text/html", body = String),
        (status = 404, description = "HTML page with a search box", content_type = "text/html", body = String)))]
pub async fn batches(State(state): State<AppState>, params: Params) -> Response {
    let from = param(&params, "from");
    let form = param(&params, "form");
    render(move || overview::batches(&state, &from, &form)).await
}

/// `GET /actors`.
#[utoipa::path(get, path = "/actors", tag = "pages", operation_id = "actors_page",
    summary = "Web page: the participants",
    responses(
        (status = 200, description = "HTML", content_type = "text/html", body = String),
        (status = 404, description = "HTML page with a search box", content_type = "text/html", body = String)))]
pub async fn actors(State(state): State<AppState>) -> Response {
    render(move || overview::actors(&state)).await
}

/// `GET /batches/{id}`.
#[utoipa::path(get, path = "/batches/{id}", tag = "pages", operation_id = "batch_page",
    summary = "Web page: a batch's supply chain, custody, origin and verification",
    params(("id" = String, Path, description = "Batch id (percent-encode `/` and `:`)", example = "MP-MAG-2026-0001")),
    responses(
        (status = 200, description = "HTML", content_type = "text/html", body = String),
        (status = 303, description = "To the canonical page (an id in another case or with spaces, or an exact search hit)"),
        (status = 404, description = "HTML page with a search box", content_type = "text/html", body = String)))]
pub async fn batch(State(state): State<AppState>, id: Id) -> Response {
    let id = id.map(|Path(id)| id).unwrap_or_default();
    render(move || batch::render(&state, &id, batch::View::Page)).await
}

/// `GET /batches/{id}/print`.
#[utoipa::path(get, path = "/batches/{id}/print", tag = "pages", operation_id = "batch_print_page",
    summary = "Web page: certificate of origin, for printing",
    params(("id" = String, Path, description = "Batch id (percent-encode `/` and `:`)", example = "MP-MAG-2026-0001")),
    responses(
        (status = 200, description = "HTML", content_type = "text/html", body = String),
        (status = 303, description = "To the canonical page (an id in another case or with spaces, or an exact search hit)"),
        (status = 404, description = "HTML page with a search box", content_type = "text/html", body = String)))]
pub async fn batch_print(State(state): State<AppState>, id: Id) -> Response {
    let id = id.map(|Path(id)| id).unwrap_or_default();
    render(move || batch::render(&state, &id, batch::View::Print)).await
}

/// `GET /batches/{id}/shares.csv`.
#[utoipa::path(get, path = "/batches/{id}/shares.csv", tag = "pages", operation_id = "batch_shares_csv",
    summary = "A batch's origin shares as CSV",
    params(("id" = String, Path, description = "Batch id (percent-encode `/` and `:`)", example = "MP-MAG-2026-0001")),
    responses(
        (status = 200, description = "CSV", content_type = "text/csv", body = String),
        (status = 303, description = "To the canonical page (an id in another case or with spaces, or an exact search hit)"),
        (status = 404, description = "HTML page with a search box", content_type = "text/html", body = String)))]
pub async fn batch_shares_csv(State(state): State<AppState>, id: Id) -> Response {
    let id = id.map(|Path(id)| id).unwrap_or_default();
    render(move || batch::render(&state, &id, batch::View::SharesCsv)).await
}

/// `GET /batches/{id}/upstream.csv`.
#[utoipa::path(get, path = "/batches/{id}/upstream.csv", tag = "pages", operation_id = "batch_upstream_csv",
    summary = "A batch's upstream table as CSV",
    params(("id" = String, Path, description = "Batch id (percent-encode `/` and `:`)", example = "MP-MAG-2026-0001")),
    responses(
        (status = 200, description = "CSV", content_type = "text/csv", body = String),
        (status = 303, description = "To the canonical page (an id in another case or with spaces, or an exact search hit)"),
        (status = 404, description = "HTML page with a search box", content_type = "text/html", body = String)))]
pub async fn batch_upstream_csv(State(state): State<AppState>, id: Id) -> Response {
    let id = id.map(|Path(id)| id).unwrap_or_default();
    render(move || batch::render(&state, &id, batch::View::UpstreamCsv)).await
}

/// `GET /actors/{id}`.
#[utoipa::path(get, path = "/actors/{id}", tag = "pages", operation_id = "actor_page",
    summary = "Web page: a participant",
    params(("id" = String, Path, description = "Actor id", example = "lynas")),
    responses(
        (status = 200, description = "HTML", content_type = "text/html", body = String),
        (status = 404, description = "HTML page with a search box", content_type = "text/html", body = String)))]
pub async fn actor(State(state): State<AppState>, id: Id) -> Response {
    let id = id.map(|Path(id)| id).unwrap_or_default();
    render(move || party::actor(&state, &id)).await
}

/// `GET /sites/{id}`.
#[utoipa::path(get, path = "/sites/{id}", tag = "pages", operation_id = "site_page",
    summary = "Web page: a site and where its material went",
    params(("id" = String, Path, description = "Site id", example = "mount-weld")),
    responses(
        (status = 200, description = "HTML", content_type = "text/html", body = String),
        (status = 404, description = "HTML page with a search box", content_type = "text/html", body = String)))]
pub async fn site(State(state): State<AppState>, id: Id) -> Response {
    let id = id.map(|Path(id)| id).unwrap_or_default();
    render(move || party::site(&state, &id)).await
}

/// `GET /entries/{index}`.
#[utoipa::path(get, path = "/entries/{index}", tag = "pages", operation_id = "entry_page",
    summary = "Web page: one entry, its signatures, leaf hash and proof",
    params(("index" = String, Path, description = "Entry index", example = "3")),
    responses(
        (status = 200, description = "HTML", content_type = "text/html", body = String),
        (status = 404, description = "HTML page with a search box", content_type = "text/html", body = String)))]
pub async fn entry(State(state): State<AppState>, index: Id) -> Response {
    let index = index.map(|Path(i)| i).unwrap_or_default();
    render(move || entry::entry(&state, &index)).await
}

/// `GET /log`.
#[utoipa::path(get, path = "/log", tag = "pages", operation_id = "log_page",
    summary = "Web page: the log, its checkpoints and witnesses",
    params(("before" = Option<String>, Query, description = "Entries before this index")),
    responses(
        (status = 200, description = "HTML", content_type = "text/html", body = String),
        (status = 404, description = "HTML page with a search box", content_type = "text/html", body = String)))]
pub async fn log(State(state): State<AppState>, params: Params) -> Response {
    let before = param(&params, "before");
    render(move || entry::log(&state, &before)).await
}

/// Whether a path belongs to the machine API (JSON errors) rather than to the pages.
fn is_api(path: &str) -> bool {
    path == "/v1"
        || path.starts_with("/v1/")
        || path.starts_with("/tile")
        || path.starts_with("/checkpoint")
        || path == "/healthz"
        || path == "/readyz"
        || path == "/metrics"
        || path == "/openapi.json"
}

/// The router's fallback: a browser asking for a page that does not exist gets the HTML 404 page
/// with a search box; machines (no `text/html` in `Accept`) and API paths keep problem+json.
pub async fn fallback(request: Request) -> Response {
    let wants_html = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    let path = request.uri().path().to_owned();
    if wants_html && !is_api(&path) {
        return layout::not_found("page", &path);
    }
    super::ApiError::not_found("no such route; see docs/API.md").into_response()
}
