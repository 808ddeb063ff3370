//! GS1 EPCIS 2.0 routes (docs/EPCIS.md, docs/API.md): a batch's upstream events as an
//! `EPCISDocument`, and the EPCIS 2.0 REST query interface's `events` resource answering an
//! `EPCISQueryDocument` page by page. The mapping itself is `crate::epcis` (pure); this module
//! reads entries and registry records for it, on the blocking pool.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{Map, Value};

use crate::audit::{self, MAX_DAG_NODES};
use crate::epcis::export::{self, export_event, Directory, Recorded};
use crate::epcis::query::EventQuery;
use crate::epcis::Names;
use crate::ledger::StateView;
use crate::log::hash::leaf_hash;
use crate::model::entry::Entry;
use crate::model::event::EventBody;
use crate::model::ids::{ActorId, BatchId, CountryCode, SiteId, Timestamp};
use crate::store::Store;

use super::audit_api::blocking;
use super::extract::P;
use super::{ApiError, AppState};

/// Entries one page of `/v1/epcis/events` reads at most: a sparse query answers a short page
/// with a `next` link rather than reading the whole log in one request.
pub const MAX_SCAN: u64 = 100_000;
/// Entries read from the store at once.
const CHUNK: u64 = 512;

/// The store as the export's [`Directory`].
struct Ledger<'a>(&'a Store);

impl Directory for Ledger<'_> {
    fn site_country(&self, site: &SiteId) -> Option<CountryCode> {
        self.0.site(site).ok().flatten().map(|s| s.country)
    }

    fn shipper(&self, batch: &BatchId, before: u64) -> Option<ActorId> {
        let record = self.0.batch(batch).ok().flatten()?;
        record
            .history
            .iter()
            .rev()
            .filter(|&&i| i < before)
            .find_map(|&i| {
                let bytes = self.0.entry(i).ok().flatten()?;
                let entry = Entry::decode(&bytes).ok()?;
                let event = crate::model::event::Event::from_json(&entry.envelope.payload).ok()?;
                match &event.body {
                    EventBody::Ship(s) if &s.batch == batch => Some(event.actor),
                    _ => None,
                }
            })
    }
}

/// The EPCIS event of the entry with these bytes, if it is a supply-chain event.
fn export_entry(
    names: &Names,
    store: &Store,
    bytes: &[u8],
) -> Result<Option<Map<String, Value>>, ApiError> {
    let entry = Entry::decode(bytes).map_err(ApiError::internal)?;
    let Ok(event) = crate::model::event::Event::from_json(&entry.envelope.payload) else {
        // Every logged payload parsed when it was accepted; one that no longer does is damage.
        return Err(ApiError::internal(format!(
            "entry {} does not decode",
            entry.index
        )));
    };
    let leaf = leaf_hash(bytes).to_hex();
    let recorded = Recorded {
        index: entry.index,
        leaf_hash: &leaf,
        logged_at_ms: entry.logged_at_ms,
        event: &event,
    };
    Ok(export_event(names, &recorded, &Ledger(store)))
}

fn names(store: &Store) -> Result<Names, ApiError> {
    let genesis = store
        .genesis()
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::internal("the log has no genesis"))?;
    Ok(Names::new(&genesis.origin))
}

fn now() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    Timestamp::from_unix_millis(ms).map_or_else(
        || "1970-01-01T00:00:00Z".to_owned(),
        |t| t.as_str().to_owned(),
    )
}

/// Adds the EPCIS version headers of the EPCIS 2.0 REST binding.
fn epcis_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert("GS1-EPCIS-Version", HeaderValue::from_static("2.0.0"));
    headers.insert("GS1-CBV-Version", HeaderValue::from_static("2.0.0"));
    response
}

/// `GET /v1/batches/{id}/epcis`: every supply-chain event of the batch's upstream DAG (the
/// entries its provenance walk touches), in log order, as an `EPCISDocument`.
#[utoipa::path(get, path = "/v1/batches/{id}/epcis", tag = "epcis", operation_id = "batch_epcis",
    summary = "A batch's upstream events as a GS1 EPCIS 2.0 EPCISDocument (docs/EPCIS.md)",
    params(("id" = String, Path, description = "Batch id (percent-encode `/` and `:`)",
            pattern = "^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$", example = "MP-MAG-2026-0001")),
    responses((status = 200, description = "An EPCISDocument (JSON-LD), valid against GS1's EPCIS 2.0 JSON Schema",
               body = ref("#/components/schemas/EpcisDocument"))),
    extensions(("x-problems" = json!(["bad_id", "not_found", "dag_too_large"]))))]
pub async fn batch_document(
    State(state): State<AppState>,
    P(id): P<String>,
) -> Result<Response, ApiError> {
    let id: BatchId = id
        .parse()
        .map_err(|e| ApiError::bad_request("bad_id", format!("batch id `{id}`: {e}")))?;
    let store = state.store.clone();
    let document = blocking(move || {
        let provenance = audit::provenance(&store, &id, MAX_DAG_NODES)?;
        let names = names(&store)?;
        let mut events = Vec::new();
        for index in &provenance.dag.entries {
            let bytes = store
                .entry(*index)
                .map_err(ApiError::internal)?
                .ok_or_else(|| ApiError::internal(format!("entry {index} missing")))?;
            if let Some(e) = export_entry(&names, &store, &bytes)? {
                events.push(Value::Object(e));
            }
        }
        Ok(export::document(events, &now()))
    })
    .await?;
    Ok(epcis_headers(Json(document).into_response()))
}

/// `GET /v1/epcis/events`: the EPCIS 2.0 REST query interface's events resource. Pages follow
/// the `Link: <…>; rel="next"` header (its `nextPageToken` is the entry index to go on from).
#[utoipa::path(get, path = "/v1/epcis/events", tag = "epcis", operation_id = "epcis_events",
    summary = "EPCIS 2.0 query interface, events resource: an EPCISQueryDocument, paged",
    params(
        ("eventType" = Option<String>, Query, description = "ObjectEvent or TransformationEvent"),
        ("GE_eventTime" = Option<String>, Query, description = "Events at or after this time (RFC 3339)"),
        ("LT_eventTime" = Option<String>, Query, description = "Events before this time (RFC 3339)"),
        ("EQ_bizStep" = Option<String>, Query, description = "CBV step (bare or URI)"),
        ("MATCH_anyEPCClass" = Option<String>, Query, description = "Class-level identifier of a batch"),
        ("EQ_bizLocation" = Option<String>, Query, description = "Site identifier"),
        ("perPage" = Option<u32>, Query, description = "Events per page, 1–1000 (default 100)"),
        ("nextPageToken" = Option<String>, Query, description = "From the previous page's Link header"),
    ),
    responses((status = 200, description = "An EPCISQueryDocument; `Link: <…>; rel=\"next\"` when there is more",
               body = ref("#/components/schemas/EpcisDocument"))),
    extensions(("x-problems" = json!(["bad_query"]))))]
pub async fn events(State(state): State<AppState>, request: Request) -> Result<Response, ApiError> {
    let axum::extract::Query(pairs) =
        axum::extract::Query::<Vec<(String, String)>>::try_from_uri(request.uri())
            .map_err(|e| ApiError::bad_request("bad_query", e.body_text()))?;
    let query =
        EventQuery::parse(&pairs).map_err(|e| ApiError::bad_request("bad_query", e.to_string()))?;
    let size = state.sequencer.head().size;
    let start = query.next.unwrap_or(0);
    if start > size {
        return Err(ApiError::bad_request(
            "bad_query",
            format!("nextPageToken {start} is beyond the log's size {size}"),
        ));
    }
    let store = state.store.clone();
    let per_page = query.per_page;
    let (events, next) = blocking(move || {
        let names = names(&store)?;
        let mut events = Vec::new();
        let mut at = start;
        let end = size.min(start.saturating_add(MAX_SCAN));
        while at < end && events.len() < per_page {
            let chunk = store
                .entries(at, end.min(at + CHUNK))
                .map_err(ApiError::internal)?;
            if chunk.is_empty() {
                break;
            }
            for bytes in &chunk {
                at += 1;
                if let Some(e) = export_entry(&names, &store, bytes)? {
                    if query.matches(&e) {
                        events.push(Value::Object(e));
                        if events.len() == per_page {
                            break;
                        }
                    }
                }
            }
        }
        Ok((events, (at < size).then_some(at)))
    })
    .await?;
    let mut response =
        Json(export::query_document(events, &now(), "SimpleEventQuery")).into_response();
    if let Some(next) = next {
        let mut query: Vec<String> = pairs
            .iter()
            .filter(|(k, _)| k != "nextPageToken")
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        query.push(format!("nextPageToken={next}"));
        let query = query.join("&");
        let link = format!("</v1/epcis/events?{query}>; rel=\"next\"");
        if let Ok(v) = HeaderValue::from_str(&link) {
            response.headers_mut().insert(header::LINK, v);
        }
    }
    Ok(epcis_headers(response))
}

/// Percent-encodes a query component (everything but RFC 3986 unreserved characters).
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
