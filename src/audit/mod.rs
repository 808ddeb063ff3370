//! Provenance audits over the ledger state (DESIGN.md §3.2): the upstream DAG of a batch back to
//! its `extract` events, its origin shares under the ISO 22095 mass-balance model, the
//! certificates along the way, and, downstream, every batch that contains material from a given
//! batch or mine (recall). docs/PROVENANCE.md gives the model, the arithmetic and a worked
//! example.
//!
//! Everything here is pure over [`StateView`]: no I/O, no clock. Graph walks are iterative (no
//! recursion depth limit to hit) and bounded by a node cap ([`MAX_DAG_NODES`] by default), so a
//! hostile or simply huge graph yields [`AuditError::DagTooLarge`], not an exhausted server.
//! Masses are exact integer grams: shares are computed with u128 integer arithmetic and
//! largest-remainder rounding, so the parts of a batch always sum to its mass exactly.

pub mod bundle;
pub mod compliance;
mod downstream;
pub mod elements;
pub mod flows;
pub mod label;
pub mod lineage;
mod mix;
mod origin;
pub mod portfolio;
mod provenance;
pub mod replay;

pub use downstream::{downstream, downstream_of_site, Downstream, DownstreamBatch};
pub use mix::{apportion, batch_mixes, Mix, OriginSource};
pub use origin::{
    origin_report, CompanyOrigin, CountryOrigin, OriginReport, RecycledOrigin, SiteOrigin,
};
pub use provenance::{provenance_dag, DagEdge, DagNode, NodeCreation, NodeStatus, ProvenanceDag};

use serde::Serialize;

use crate::ledger::{StateError, StateView};
use crate::model::ids::{BatchId, SiteId};

/// Reads a batch during a graph walk: a missing start is the caller's unknown batch, a missing
/// batch named by another one means the state is damaged.
fn read_batch<S: StateView + ?Sized>(
    state: &S,
    id: &BatchId,
    named_by: Option<BatchId>,
) -> Result<crate::ledger::BatchRecord, AuditError> {
    state.batch(id)?.ok_or_else(|| match named_by {
        None => AuditError::UnknownBatch { batch: id.clone() },
        Some(parent) => AuditError::MissingBatch {
            batch: parent,
            missing: id.clone(),
        },
    })
}

/// Default cap on the number of batches one audit query may visit.
pub const MAX_DAG_NODES: usize = 100_000;

/// Why an audit query failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    /// The batch asked about does not exist.
    #[error("unknown batch {batch}")]
    UnknownBatch {
        /// The batch.
        batch: BatchId,
    },
    /// The graph reached from the batch has more than `limit` batches.
    #[error("the provenance graph of {batch} has more than {limit} batches")]
    DagTooLarge {
        /// The batch asked about.
        batch: BatchId,
        /// The cap.
        limit: usize,
    },
    /// A batch names an input (or a child) that the state does not hold: the state is damaged.
    #[error("batch {batch} refers to {missing}, which the ledger state does not hold")]
    MissingBatch {
        /// The batch whose record names it.
        batch: BatchId,
        /// The missing batch.
        missing: BatchId,
    },
    /// A batch was extracted at a site the state does not hold: the state is damaged.
    #[error("batch {batch} was extracted at site {site}, which the ledger state does not hold")]
    MissingSite {
        /// The batch.
        batch: BatchId,
        /// The site.
        site: SiteId,
    },
    /// A recall by mine was given a batch that was not extracted at that mine.
    #[error("batch {batch} was not extracted at site {site}")]
    NotExtractedAt {
        /// The batch.
        batch: BatchId,
        /// The site.
        site: SiteId,
    },
    /// Masses too large for exact arithmetic (the ledger's checked sums make this unreachable
    /// for a valid log).
    #[error("masses around batch {batch} overflow exact arithmetic")]
    Overflow {
        /// The batch.
        batch: BatchId,
    },
    /// The state could not be read.
    #[error(transparent)]
    State(#[from] StateError),
}

/// Everything `GET /v1/batches/{id}/provenance` answers: the origin shares (flattened into the
/// top level: `basis_g`, `origins_by_site`, `origins_by_company`, `origins_by_country`,
/// `recycled_g`, `untracked_g`, ...) and the upstream DAG with its certificates and entries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Provenance {
    /// The batch.
    pub batch: BatchId,
    /// Where its mass came from.
    #[serde(flatten)]
    pub origins: OriginReport,
    /// Per-element origin shares (issue 12; docs/COMPLIANCE.md): by mine, company and country,
    /// recycled pre-/post-consumer, undeclared.
    pub elements: elements::ElementReport,
    /// The upstream DAG.
    pub dag: ProvenanceDag,
}

/// The upstream DAG of `batch` and its origin shares, visiting at most `max_nodes` batches.
pub fn provenance<S: StateView + ?Sized>(
    state: &S,
    batch: &BatchId,
    max_nodes: usize,
) -> Result<Provenance, AuditError> {
    let dag = provenance_dag(state, batch, max_nodes)?;
    let origins = origin_report(state, &dag)?;
    let elements = compliance::element_shares(state, &dag)?;
    Ok(Provenance {
        batch: batch.clone(),
        origins,
        elements,
        dag,
    })
}
