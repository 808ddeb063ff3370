//! Monthly flow reports and batch labels (issue 17; docs/API.md, docs/COMPLIANCE.md "Monthly
//! flow reports and labels"): `GET /v1/actors/{id}/flows?month=YYYY-MM[&format=csv]` and
//! `GET /v1/batches/{id}/label`. The work is the pure audit code of `audit::flows` and
//! `audit::label`, run on the blocking pool.
//!
//! The flow report reads only the actor's own entries, found in the in-memory
//! [`ActorEntries`] index of [`AppState::flows`]: the first report after a start reads the log
//! once to build it, each later one reads just the entries logged since.

use std::sync::Mutex;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::audit::flows::{monthly_flows, ActorEntries, FlowError, FlowReport, Month};
use crate::audit::label::{batch_label, BatchLabel};
use crate::audit::MAX_DAG_NODES;
use crate::model::ids::{ActorId, BatchId, Timestamp};
use crate::store::Store;

use super::audit_api::blocking;
use super::extract::{P, Q};
use super::{ApiError, AppState};

impl From<FlowError> for ApiError {
    fn from(e: FlowError) -> ApiError {
        match &e {
            FlowError::UnknownActor { .. } => ApiError::not_found(e.to_string()),
            _ => ApiError::internal_error(&e),
        }
    }
}

/// The query of `GET /v1/actors/{id}/flows`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowQuery {
    /// `YYYY-MM` (UTC).
    month: String,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// The flow report of `actor` for `month` over the first `size` entries, extending the shared
/// `index` to `size` first. The lock is held only while the index catches up, not during the
/// report.
///
/// `size` must be the sequencer's published head: it moves only after a block's state changes
/// are written, whereas the store's own head moves as soon as the block is durable, a moment
/// before (DESIGN.md §4.2, step 5), when the state may not show the block's batches yet.
fn flow_report(
    store: &Store,
    index: &Mutex<ActorEntries>,
    actor: &ActorId,
    month: Month,
    size: u64,
) -> Result<FlowReport, FlowError> {
    let entries = {
        // A poisoned lock only means a catch-up panicked mid-way: the index is still a correct
        // prefix of the log (`covered` moves only after a whole chunk), so keep using it.
        let mut index = index.lock().unwrap_or_else(|p| p.into_inner());
        index.catch_up(size, |start, end| {
            store.entries(start, end).map_err(|e| e.to_string())
        })?;
        index.of(actor).to_vec()
    };
    monthly_flows(store, actor, month, &entries, size)
}

/// `GET /v1/actors/{id}/flows?month=YYYY-MM[&format=csv]`.
#[utoipa::path(get, path = "/v1/actors/{id}/flows", tag = "audit", operation_id = "actor_flows",
    summary = "An actor's monthly flow report (MIIT): produced, received, shipped, consumed, held at month end",
    params(("id" = String, Path, description = "Actor id", pattern = "^[a-z0-9][a-z0-9-]{1,63}$", example = "northern-rare-earth"),
           ("month" = String, Query, description = "The month, YYYY-MM (UTC, by occurred_at)", example = "2026-03"),
           ("format" = Option<String>, Query, description = "`json` (default) or `csv`")),
    responses((status = 200, description = "The report: JSON, or CSV with `format=csv` (one row per line)",
               content((ref("#/components/schemas/FlowReport") = "application/json"), (String = "text/csv")))),
    extensions(("x-problems" = json!(["bad_id", "bad_month", "month_in_future", "not_found"]))))]
pub async fn actor_flows(
    State(state): State<AppState>,
    P(id): P<String>,
    Q(query): Q<FlowQuery>,
) -> Result<Response, ApiError> {
    let actor: ActorId = id
        .parse()
        .map_err(|e| ApiError::bad_request("bad_id", format!("actor id `{id}`: {e}")))?;
    let month: Month = query
        .month
        .parse()
        .map_err(|e: crate::audit::flows::MonthError| {
            ApiError::bad_request("bad_month", e.to_string())
        })?;
    let csv = match query.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(ApiError::bad_request(
                "bad_query",
                format!("format `{other}`: expected json or csv"),
            ))
        }
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .ok()
        .and_then(Timestamp::from_unix_millis);
    if now.is_some_and(|now| month.start() > now) {
        return Err(ApiError::bad_request(
            "month_in_future",
            format!("{month} has not begun; a report covers a month that has begun or ended"),
        ));
    }
    let store = state.store.clone();
    let index = state.flows.clone();
    let size = state.sequencer.head().size;
    let report = blocking(move || Ok(flow_report(&store, &index, &actor, month, size)?)).await?;
    if csv {
        let name = format!("{}-{}.flows.csv", report.actor, report.month);
        Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}\""),
                ),
            ],
            report.to_csv(),
        )
            .into_response())
    } else {
        Ok(Json(report).into_response())
    }
}

/// `GET /v1/batches/{id}/label`.
#[utoipa::path(get, path = "/v1/batches/{id}/label", tag = "audit", operation_id = "batch_label",
    summary = "A batch's label: form, mass, elements, producer, holder and the producers of the ore",
    params(("id" = String, Path, description = "Batch id (percent-encode `/` and `:`)",
            pattern = "^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$", example = "MP-MAG-2026-0001")),
    responses((status = 200, description = "The label", body = ref("#/components/schemas/BatchLabel"))),
    extensions(("x-problems" = json!(["bad_id", "not_found", "dag_too_large"]))))]
pub async fn batch_label_json(
    State(state): State<AppState>,
    P(id): P<String>,
) -> Result<Json<BatchLabel>, ApiError> {
    let id: BatchId = id
        .parse()
        .map_err(|e| ApiError::bad_request("bad_id", format!("batch id `{id}`: {e}")))?;
    let store = state.store.clone();
    let label = blocking(move || Ok(batch_label(&store, &id, MAX_DAG_NODES)?)).await?;
    Ok(Json(label))
}
