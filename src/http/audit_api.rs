//! Audit routes: the participant registry, batch state and history, upstream provenance with
//! origin shares, downstream recall (by batch and by mine), bundles, and bundle verification.
//! Graph work runs on the blocking pool, never on the async workers.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::audit::bundle::{build_bundle, verify_bundle, Bundle, BundleError, BundleReport};
use crate::audit::{self, AuditError, NodeStatus, MAX_DAG_NODES};
use crate::ledger::{BatchOrigin, StateView};
use crate::model::entry::Entry;
use crate::model::ids::{ActorId, BatchId, SiteId};

use super::extract::{P, Q};
use super::stream;
use super::{ApiError, AppState, BODY_TIMEOUT, MAX_BUNDLE_BODY};

impl From<AuditError> for ApiError {
    fn from(e: AuditError) -> ApiError {
        match &e {
            AuditError::UnknownBatch { .. } => ApiError::not_found(e.to_string()),
            AuditError::DagTooLarge { .. } => ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "dag_too_large",
                e.to_string(),
            ),
            _ => ApiError::internal_error(&e),
        }
    }
}

fn parse_id<T: std::str::FromStr>(what: &str, raw: &str) -> Result<T, ApiError>
where
    T::Err: std::fmt::Display,
{
    raw.parse()
        .map_err(|e| ApiError::bad_request("bad_id", format!("{what} `{raw}`: {e}")))
}

/// Runs graph work on the blocking pool.
/// Runs store work on the blocking pool; a task that panicked is a bare 500. Shared by every
/// read route that walks the state.
pub(super) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(ApiError::internal)?
}

/// `GET /v1/actors`.
#[utoipa::path(get, path = "/v1/actors", tag = "audit", operation_id = "list_actors",
    summary = "The participant registry",
    responses((status = 200, description = "Every actor, by id", body = ref("#/components/schemas/Actors"))))]
pub async fn actors(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let actors = state.store.actors().map_err(ApiError::internal)?;
    Ok(Json(json!({ "actors": actors })))
}

/// `GET /v1/actors/{id}`.
#[utoipa::path(get, path = "/v1/actors/{id}", tag = "audit", operation_id = "get_actor",
    summary = "One participant",
    params(("id" = String, Path, description = "Actor id",
            pattern = "^[a-z0-9][a-z0-9-]{1,63}$", example = "lynas")),
    responses((status = 200, description = "The actor", body = ref("#/components/schemas/Actor"))),
    extensions(("x-problems" = json!(["bad_id", "not_found"]))))]
pub async fn actor(
    State(state): State<AppState>,
    P(id): P<String>,
) -> Result<Json<Value>, ApiError> {
    let id: ActorId = parse_id("actor id", &id)?;
    let actor = state
        .store
        .actor(&id)
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found(format!("no actor {id}")))?;
    Ok(Json(json!(actor)))
}

/// `GET /v1/batches/{id}`: state and history (every entry that touched it, decoded).
#[utoipa::path(get, path = "/v1/batches/{id}", tag = "audit", operation_id = "get_batch",
    summary = "A batch's state and history",
    params(("id" = String, Path, description = "Batch id (percent-encode `/` and `:`)",
            pattern = "^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$", example = "MP-MAG-2026-0001")),
    responses((status = 200, description = "The batch and every entry that touched it",
               body = ref("#/components/schemas/Batch"))),
    extensions(("x-problems" = json!(["bad_id", "not_found"]))))]
pub async fn batch(
    State(state): State<AppState>,
    P(id): P<String>,
) -> Result<Json<Value>, ApiError> {
    let id: BatchId = parse_id("batch id", &id)?;
    let record = state
        .store
        .batch(&id)
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found(format!("no batch {id}")))?;
    let history = record
        .history
        .iter()
        .map(|&index| {
            let bytes = state
                .store
                .entry(index)
                .map_err(ApiError::internal)?
                .ok_or_else(|| ApiError::internal(format!("entry {index} missing")))?;
            let entry = Entry::decode(&bytes).map_err(ApiError::internal)?;
            let event: Value =
                serde_json::from_slice(&entry.envelope.payload).unwrap_or(Value::Null);
            Ok(json!({ "index": index, "event": event }))
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(Json(
        json!({ "batch": batch_view(&record), "history": history }),
    ))
}

/// The API's view of a batch record: the same field names and enum shapes as provenance
/// (`{"state": "in_transit", ...}`, `{"kind": "transform", ...}`), not the storage encoding.
fn batch_view(record: &crate::ledger::BatchRecord) -> Value {
    let creation = match &record.origin {
        BatchOrigin::Extracted { site } => json!({ "kind": "extract", "site": site }),
        BatchOrigin::Transformed {
            process,
            inputs,
            additives_g,
            outputs_total_g,
        } => json!({
            "kind": "transform",
            "process": process,
            "inputs": inputs
                .iter()
                .map(|(batch, g)| json!({ "batch": batch, "taken_g": g }))
                .collect::<Vec<_>>(),
            "additives_g": additives_g,
            "outputs_total_g": outputs_total_g,
        }),
    };
    json!({
        "id": record.id,
        "form": record.form,
        "elements": record.elements,
        "created_g": record.created_g,
        "remaining_g": record.remaining_g,
        "transit_loss_g": record.transit_loss_g,
        "custodian": record.custodian,
        "status": NodeStatus::from(&record.status),
        "created_at": record.created_at,
        "created_in": record.created_in,
        "creation": creation,
        "children": record.children,
        "certificates": record.certificates,
    })
}

/// `?dag=false`.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ProvenanceQuery {
    /// `false` leaves the upstream DAG out of the answer (origin shares only).
    dag: Option<bool>,
}

/// The origin shares without the DAG (`?dag=false`).
#[derive(serde::Serialize)]
struct Shares<'a> {
    batch: &'a BatchId,
    #[serde(flatten)]
    origins: &'a audit::OriginReport,
    elements: &'a audit::elements::ElementReport,
}

/// `GET /v1/batches/{id}/provenance[?dag=false]`.
#[utoipa::path(get, path = "/v1/batches/{id}/provenance", tag = "audit", operation_id = "provenance",
    summary = "Upstream DAG and origin shares",
    params(("id" = String, Path, description = "Batch id (percent-encode `/` and `:`)",
            pattern = "^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$", example = "MP-MAG-2026-0001"), ProvenanceQuery),
    responses((status = 200, description = "The origin shares, with the DAG unless `dag=false`",
               body = ref("#/components/schemas/ProvenanceAnswer"))),
    extensions(("x-problems" = json!(["bad_id", "not_found", "dag_too_large"]))))]
pub async fn provenance(
    State(state): State<AppState>,
    P(id): P<String>,
    Q(query): Q<ProvenanceQuery>,
) -> Result<Response, ApiError> {
    let id: BatchId = parse_id("batch id", &id)?;
    let store = state.store.clone();
    let provenance = blocking(move || Ok(audit::provenance(&store, &id, MAX_DAG_NODES)?)).await?;
    Ok(if query.dag == Some(false) {
        Json(Shares {
            batch: &provenance.batch,
            origins: &provenance.origins,
            elements: &provenance.elements,
        })
        .into_response()
    } else {
        Json(provenance).into_response()
    })
}

/// `GET /v1/batches/{id}/downstream`.
#[utoipa::path(get, path = "/v1/batches/{id}/downstream", tag = "audit", operation_id = "downstream",
    summary = "Everything made from a batch (recall)",
    params(("id" = String, Path, description = "Batch id (percent-encode `/` and `:`)",
            pattern = "^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$", example = "MP-MAG-2026-0001")),
    responses((status = 200, description = "Every batch containing material of it",
               body = ref("#/components/schemas/Downstream"))),
    extensions(("x-problems" = json!(["bad_id", "not_found", "dag_too_large"]))))]
pub async fn downstream(
    State(state): State<AppState>,
    P(id): P<String>,
) -> Result<Json<Value>, ApiError> {
    let id: BatchId = parse_id("batch id", &id)?;
    let store = state.store.clone();
    let found = blocking(move || Ok(audit::downstream(&store, &[id], MAX_DAG_NODES)?)).await?;
    Ok(Json(json!(found)))
}

/// `GET /v1/sites/{id}/downstream`: recall by mine.
#[utoipa::path(get, path = "/v1/sites/{id}/downstream", tag = "audit", operation_id = "site_downstream",
    summary = "Everything made from a mine's extractions (recall by mine)",
    params(("id" = String, Path, description = "Site id",
            pattern = "^[a-z0-9][a-z0-9-]{1,63}$", example = "mount-weld")),
    responses((status = 200, description = "Every batch containing material from the site",
               body = ref("#/components/schemas/Downstream"))),
    extensions(("x-problems" = json!(["bad_id", "not_found", "dag_too_large"]))))]
pub async fn site_downstream(
    State(state): State<AppState>,
    P(id): P<String>,
) -> Result<Json<Value>, ApiError> {
    let site: SiteId = parse_id("site id", &id)?;
    let store = state.store.clone();
    let found = blocking(move || {
        if store.site(&site).map_err(ApiError::internal)?.is_none() {
            return Err(ApiError::not_found(format!("no site {site}")));
        }
        let extracted = store.extracts_at(&site).map_err(ApiError::internal)?;
        Ok(audit::downstream_of_site(
            &store,
            &site,
            &extracted,
            MAX_DAG_NODES,
        )?)
    })
    .await?;
    Ok(Json(json!(found)))
}

/// `GET /v1/batches/{id}/bundle`: the offline-verifiable bundle against the latest checkpoint.
#[utoipa::path(get, path = "/v1/batches/{id}/bundle", tag = "audit", operation_id = "bundle",
    summary = "Offline-verifiable provenance bundle (docs/schemas/bundle.schema.json)",
    params(("id" = String, Path, description = "Batch id (percent-encode `/` and `:`)",
            pattern = "^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$", example = "MP-MAG-2026-0001")),
    responses((status = 200, description = "The bundle", body = ref("#/components/schemas/Bundle"))),
    extensions(("x-problems" = json!(["bad_id", "not_found", "dag_too_large"]))))]
pub async fn bundle(State(state): State<AppState>, P(id): P<String>) -> Result<Response, ApiError> {
    let id: BatchId = parse_id("batch id", &id)?;
    let head = state.sequencer.head();
    // With a witness policy, bundles carry the latest witnessed checkpoint (cosignatures
    // included) once there is one.
    let (checkpoint, size) = match state.witnessing.as_ref().and_then(|w| w.latest()) {
        Some(witnessed) => (witnessed.note.clone(), witnessed.size),
        None => (head.checkpoint.clone(), head.size),
    };
    let store = state.store.clone();
    let bundle = blocking(move || {
        build_bundle(&store, &id, &checkpoint, size).map_err(|e| match e {
            BundleError::Audit(e) => ApiError::from(e),
            other => ApiError::internal_error(&other),
        })
    })
    .await?;
    let filename = format!(
        "{}.bundle.json",
        bundle.batch.as_str().replace(['/', ':'], "_")
    );
    Ok((
        [(
            header::CONTENT_DISPOSITION,
            format!("inline; filename=\"{filename}\""),
        )],
        Json(bundle),
    )
        .into_response())
}

/// `POST /v1/verify`: checks a bundle with this log's key; the same report as
/// `lodestone verify-bundle --json`. The bundle is parsed as it streams in, never held as text.
#[utoipa::path(post, path = "/v1/verify", tag = "audit", operation_id = "verify_bundle",
    summary = "Check a bundle with this log's key (docs/schemas/verify-report.schema.json)",
    request_body = ref("#/components/schemas/Bundle"),
    responses((status = 200, description = "The report; `verified` is the verdict",
               body = ref("#/components/schemas/BundleReport"))),
    extensions(("x-problems" = json!(["body_too_large", "bad_body", "busy", "rate_limited"]))))]
pub async fn verify(
    State(state): State<AppState>,
    request: axum::extract::Request,
) -> Result<Json<Value>, ApiError> {
    let _pass = state
        .heavy
        .enter_verify(super::write::client_addr(&request))?;
    stream::check_length(request.headers(), MAX_BUNDLE_BODY as u64)?;
    let reader = stream::pump(
        request.into_body(),
        MAX_BUNDLE_BODY as u64,
        BODY_TIMEOUT,
        None,
    );
    let verifier = state.verifier.clone();
    let report = blocking(move || {
        let progress = reader.progress();
        let parsed: Result<Bundle, _> = serde_json::from_reader(std::io::BufReader::new(reader));
        if let Some(stop) = progress.stopped() {
            return Err(stop.problem());
        }
        Ok(match parsed {
            Ok(bundle) => verify_bundle(&bundle, &verifier),
            Err(e) => BundleReport::failed("bundle", format!("not a bundle: {e}")),
        })
    })
    .await?;
    Ok(Json(json!(report)))
}
