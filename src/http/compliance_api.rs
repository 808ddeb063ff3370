//! Compliance routes (issue 12, docs/API.md, docs/COMPLIANCE.md): a batch's verdicts under the
//! built-in policies, and an actor's portfolio (the EU CRMA Art. 24 map). The work is the pure
//! audit code of `audit::compliance` and `audit::portfolio`, run on the blocking pool.

use axum::extract::State;
use axum::Json;

use crate::audit::compliance::{self, ComplianceReport, Policy};
use crate::audit::portfolio::{portfolio, Portfolio};
use crate::audit::MAX_DAG_NODES;
use crate::ledger::StateView;
use crate::model::ids::{ActorId, BatchId, Timestamp};

use super::audit_api::blocking;
use super::extract::{P, Q};
use super::{ApiError, AppState};

impl From<compliance::PolicyError> for ApiError {
    fn from(e: compliance::PolicyError) -> ApiError {
        ApiError::bad_request("unknown_policy", e.to_string())
    }
}

fn parse<T: std::str::FromStr>(what: &str, raw: &str, code: &'static str) -> Result<T, ApiError>
where
    T::Err: std::fmt::Display,
{
    raw.parse()
        .map_err(|e| ApiError::bad_request(code, format!("{what} `{raw}`: {e}")))
}

/// The query of `GET /v1/batches/{id}/compliance`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComplianceQuery {
    /// A built-in policy name; absent: every default built-in.
    policy: Option<String>,
    /// The date dated rules (`cn-mofcom-61`) are evaluated on: `YYYY-MM-DD` or RFC 3339;
    /// absent: now.
    at: Option<String>,
}

/// `?at=`: a day (`2026-06-01`, read as its midnight UTC) or an RFC 3339 time; absent: now.
pub(crate) fn evaluation_date(raw: Option<&str>) -> Result<Timestamp, ApiError> {
    match raw {
        None => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0);
            Timestamp::from_unix_millis(now)
                .ok_or_else(|| ApiError::bad_request("bad_query", "the clock is out of range"))
        }
        Some(day) if day.len() == 10 => parse("date", &format!("{day}T00:00:00Z"), "bad_query"),
        Some(time) => parse("date", time, "bad_query"),
    }
}

/// `GET /v1/batches/{id}/compliance[?policy=NAME]`.
#[utoipa::path(get, path = "/v1/batches/{id}/compliance", tag = "audit", operation_id = "batch_compliance",
    summary = "Compliance verdicts of a batch under the built-in policies (docs/COMPLIANCE.md)",
    params(("id" = String, Path, description = "Batch id (percent-encode `/` and `:`)",
            pattern = "^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$", example = "MP-MAG-2026-0001"),
           ("policy" = Option<String>, Query, description = "One built-in policy: dfars-2027, dfars-2026, friend-shore, crma-recycled, cn-mofcom-61"),
           ("at" = Option<String>, Query, description = "The date dated rules (cn-mofcom-61) are evaluated on: YYYY-MM-DD or RFC 3339 UTC; default now", example = "2026-06-01")),
    responses((status = 200, description = "Verdicts with their reasons",
               body = ref("#/components/schemas/ComplianceReport"))),
    extensions(("x-problems" = json!(["bad_id", "bad_query", "not_found", "dag_too_large", "unknown_policy"]))))]
pub async fn compliance(
    State(state): State<AppState>,
    P(id): P<String>,
    Q(query): Q<ComplianceQuery>,
) -> Result<Json<ComplianceReport>, ApiError> {
    let id: BatchId = parse("batch id", &id, "bad_id")?;
    let at = evaluation_date(query.at.as_deref())?;
    let mut policies: Vec<Policy> = match &query.policy {
        Some(name) => vec![compliance::builtin(name)?],
        None => compliance::builtins(),
    };
    for p in &mut policies {
        p.at = Some(at.clone());
    }
    let store = state.store.clone();
    let report = blocking(move || {
        let analysis = compliance::analyze(&store, &id, MAX_DAG_NODES)?;
        Ok(compliance::report(analysis, &policies))
    })
    .await?;
    Ok(Json(report))
}

/// The query of `GET /v1/actors/{id}/portfolio`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortfolioQuery {
    /// Period start (RFC 3339, inclusive).
    from: String,
    /// Period end (RFC 3339, exclusive).
    to: String,
}

/// `GET /v1/actors/{id}/portfolio?from=&to=`.
#[utoipa::path(get, path = "/v1/actors/{id}/portfolio", tag = "audit", operation_id = "actor_portfolio",
    summary = "An actor's portfolio in a period: the EU CRMA Art. 24 map and stage concentration",
    params(("id" = String, Path, description = "Actor id", pattern = "^[a-z0-9][a-z0-9-]{1,63}$", example = "lynas"),
           ("from" = String, Query, description = "Period start, RFC 3339 (inclusive)"),
           ("to" = String, Query, description = "Period end, RFC 3339 (exclusive)")),
    responses((status = 200, description = "The portfolio report",
               body = ref("#/components/schemas/Portfolio"))),
    extensions(("x-problems" = json!(["bad_id", "bad_query", "not_found", "dag_too_large"]))))]
pub async fn actor_portfolio(
    State(state): State<AppState>,
    P(id): P<String>,
    Q(query): Q<PortfolioQuery>,
) -> Result<Json<Portfolio>, ApiError> {
    let actor: ActorId = parse("actor id", &id, "bad_id")?;
    let from: Timestamp = parse("from", &query.from, "bad_query")?;
    let to: Timestamp = parse("to", &query.to, "bad_query")?;
    if to <= from {
        return Err(ApiError::bad_request(
            "bad_query",
            format!("`to` ({to}) must be after `from` ({from})"),
        ));
    }
    let store = state.store.clone();
    let report = blocking(move || {
        if store.actor(&actor).map_err(ApiError::internal)?.is_none() {
            return Err(ApiError::not_found(format!("no actor {actor}")));
        }
        let batches = store.batches().map_err(ApiError::internal)?;
        Ok(portfolio(
            &store,
            batches,
            &actor,
            &from,
            &to,
            MAX_DAG_NODES,
        )?)
    })
    .await?;
    Ok(Json(report))
}
