//! Export-control routes (issue 17, docs/API.md, docs/COMPLIANCE.md "Export controls"): an
//! actor's production quotas and how much of each it has used, read from the state the ledger
//! keeps (`ledger::QuotaBook`).

use axum::extract::State;
use axum::Json;
use serde::Serialize;

use crate::ledger::StateView;
use crate::model::ids::{ActorId, Grams};
use crate::model::material::QuotaStage;

use super::audit_api::blocking;
use super::extract::P;
use super::{ApiError, AppState};

/// One quota and its use.
#[derive(Debug, Clone, Serialize)]
pub struct QuotaUse {
    /// `mining`, `separation` or `smelting`.
    pub stage: QuotaStage,
    /// The calendar year.
    pub year: u16,
    /// The quota in force (REO-equivalent grams for mining).
    pub quota_g: Grams,
    /// Used so far.
    pub used_g: Grams,
    /// What is left.
    pub remaining_g: Grams,
    /// The legal source of the latest `set_quota`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The `set_quota` entries.
    pub set_in: Vec<u64>,
    /// The entries that used it.
    pub used_in: Vec<u64>,
}

/// `GET /v1/actors/{id}/quotas`.
#[derive(Debug, Clone, Serialize)]
pub struct ActorQuotas {
    /// The actor.
    pub actor: ActorId,
    /// Its quotas, by stage then year (empty: none set).
    pub quotas: Vec<QuotaUse>,
}

/// The quotas of `actor` as the state holds them (`None`: no such actor).
pub fn actor_quotas_of<S: StateView + ?Sized>(
    state: &S,
    actor: &ActorId,
) -> Result<Option<ActorQuotas>, crate::ledger::StateError> {
    if state.actor(actor)?.is_none() {
        return Ok(None);
    }
    let quotas = state
        .quotas(actor)?
        .map(|book| {
            book.quotas
                .into_iter()
                .map(|q| QuotaUse {
                    stage: q.stage,
                    year: q.year,
                    quota_g: q.quota_g,
                    used_g: q.used_g,
                    remaining_g: q.quota_g.checked_sub(q.used_g).unwrap_or(Grams::ZERO),
                    source: q.source,
                    set_in: q.set_in,
                    used_in: q.used_in,
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Some(ActorQuotas {
        actor: actor.clone(),
        quotas,
    }))
}

/// `GET /v1/actors/{id}/quotas`.
#[utoipa::path(get, path = "/v1/actors/{id}/quotas", tag = "audit", operation_id = "actor_quotas",
    summary = "An actor's production quotas (total-quantity control) and how much of each is used",
    params(("id" = String, Path, description = "Actor id", pattern = "^[a-z0-9][a-z0-9-]{1,63}$", example = "northern-rare-earth")),
    responses((status = 200, description = "Quotas by stage and year with their use",
               body = ref("#/components/schemas/ActorQuotas"))),
    extensions(("x-problems" = json!(["bad_id", "not_found"]))))]
pub async fn actor_quotas(
    State(state): State<AppState>,
    P(id): P<String>,
) -> Result<Json<ActorQuotas>, ApiError> {
    let actor: ActorId = id
        .parse()
        .map_err(|e| ApiError::bad_request("bad_id", format!("actor id `{id}`: {e}")))?;
    let store = state.store.clone();
    let report = blocking(move || {
        actor_quotas_of(&store, &actor)
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::not_found(format!("no actor {actor}")))
    })
    .await?;
    Ok(Json(report))
}
