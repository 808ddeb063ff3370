//! The upstream provenance DAG of a batch (DESIGN.md §3.2): every batch its mass came from, back
//! to the `extract` events, with the grams each transform took from each input, the entries that
//! touched those batches and the certificates attached to them.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;

use crate::ledger::{
    AssayComposition, BatchOrigin, BatchRecord, BatchStatus, CertificateRecord, StateView,
};
use crate::model::composition::Composition;
use crate::model::ids::{ActorId, BatchId, SiteId, Timestamp};
use crate::model::material::{Element, Form, Process, RetireReason};

use super::AuditError;

/// Where a batch stands (the ledger's [`BatchStatus`], flattened for JSON: `{"state":
/// "in_transit", "to": ..., "shipped_g": ...}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum NodeStatus {
    /// Held by its custodian.
    Active,
    /// Shipped, not yet received.
    InTransit {
        /// The addressee.
        to: ActorId,
        /// Mass shipped.
        shipped_g: u64,
    },
    /// Its whole mass went into transforms.
    Consumed,
    /// Ended by a `retire` event.
    Retired {
        /// Why.
        reason: RetireReason,
    },
}

impl From<&BatchStatus> for NodeStatus {
    fn from(status: &BatchStatus) -> Self {
        match status {
            BatchStatus::Active => NodeStatus::Active,
            BatchStatus::InTransit { to, shipped_g } => NodeStatus::InTransit {
                to: to.clone(),
                shipped_g: shipped_g.get(),
            },
            BatchStatus::Consumed => NodeStatus::Consumed,
            BatchStatus::Retired { reason } => NodeStatus::Retired { reason: *reason },
        }
    }
}

/// How a batch of the DAG came to be. Its inputs are the DAG's edges into it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NodeCreation {
    /// Extracted at a mine.
    Extract {
        /// The mine.
        site: SiteId,
    },
    /// Made by a transform.
    Transform {
        /// The process.
        process: Process,
        /// Untracked additives the transform declared (total grams).
        additives_g: u64,
        /// Total mass of all outputs of that transform.
        outputs_total_g: u64,
        /// Who ran the transform, as the state shows it: the custodian of its first input
        /// (inputs must be held by the signer; a consumed input never moves again).
        operator: ActorId,
    },
}

/// One batch of the DAG.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DagNode {
    /// The batch.
    pub batch: BatchId,
    /// Its form.
    pub form: Form,
    /// Rare earths it is declared to contain.
    pub elements: BTreeSet<Element>,
    /// Mass at creation: the basis of its origin shares.
    pub created_g: u64,
    /// Mass left now.
    pub remaining_g: u64,
    /// Mass lost in transit over its life.
    pub transit_loss_g: u64,
    /// Who holds it now.
    pub custodian: ActorId,
    /// Where it stands.
    pub status: NodeStatus,
    /// The entry that created it.
    pub created_in: u64,
    /// `occurred_at` of that entry.
    pub created_at: Timestamp,
    /// How it came to be.
    pub creation: NodeCreation,
    /// Claims attached to it.
    pub certificates: Vec<CertificateRecord>,
    /// Grams of each rare-earth element, as declared (or inherited by a split or merge);
    /// absent when not declared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub composition: Option<Composition>,
    /// Compositions measured by assay certificates, in entry order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub assays: Vec<AssayComposition>,
    /// The site the transform that made it named (absent for extracts: their mine is in
    /// `creation`; and for transforms that named none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub made_at: Option<SiteId>,
}

impl DagNode {
    /// The element content the audits use: the declared composition, else the latest assay's.
    pub fn content(&self) -> Option<&Composition> {
        self.composition
            .as_ref()
            .or_else(|| self.assays.last().map(|a| &a.composition))
    }
}

/// Mass taken from one batch to make another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DagEdge {
    /// The input batch.
    pub from: BatchId,
    /// The output batch.
    pub to: BatchId,
    /// Grams the transform took from `from` (shared by all outputs of that transform).
    pub taken_g: u64,
}

/// The upstream DAG of one batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProvenanceDag {
    /// The batch asked about.
    pub root: BatchId,
    /// Every batch its mass came from, and itself, in creation order (so every node comes after
    /// its inputs; the mines first, the root last).
    pub nodes: Vec<DagNode>,
    /// Input → output, grouped by output in node order, inputs in event order.
    pub edges: Vec<DagEdge>,
    /// Every entry that touched a batch of the DAG (creation, consumption, shipping, receipt,
    /// certification, retirement), ascending. A bundle includes these entries.
    pub entries: Vec<u64>,
}

impl ProvenanceDag {
    /// The node of `batch`, if it is in the DAG.
    pub fn node(&self, batch: &BatchId) -> Option<&DagNode> {
        self.nodes.iter().find(|n| &n.batch == batch)
    }

    /// The `extract` batches the DAG starts from.
    pub fn sources(&self) -> impl Iterator<Item = &DagNode> {
        self.nodes
            .iter()
            .filter(|n| matches!(n.creation, NodeCreation::Extract { .. }))
    }

    /// Every certificate along the DAG with its batch, in node order.
    pub fn certificates(&self) -> impl Iterator<Item = (&BatchId, &CertificateRecord)> {
        self.nodes
            .iter()
            .flat_map(|n| n.certificates.iter().map(move |c| (&n.batch, c)))
    }

    /// The actors who signed the DAG's entries. The state does not record who signed a ship
    /// or a transform, so the caller, who reads the entries (a bundle builder), says it through
    /// `actor_of_entry` (the event's `actor`, which the ledger checked against the signature).
    pub fn signers<E>(
        &self,
        mut actor_of_entry: impl FnMut(u64) -> Result<ActorId, E>,
    ) -> Result<BTreeSet<ActorId>, E> {
        self.entries.iter().map(|&i| actor_of_entry(i)).collect()
    }
}

/// Collects the upstream DAG of `root`: an iterative walk over `origin.inputs`, reading each
/// batch once, failing with [`AuditError::DagTooLarge`] past `max_nodes` batches.
pub fn provenance_dag<S: StateView + ?Sized>(
    state: &S,
    root: &BatchId,
    max_nodes: usize,
) -> Result<ProvenanceDag, AuditError> {
    let mut records: HashMap<BatchId, BatchRecord> = HashMap::new();
    let mut stack: Vec<(BatchId, Option<BatchId>)> = vec![(root.clone(), None)];
    while let Some((id, named_by)) = stack.pop() {
        if records.contains_key(&id) {
            continue;
        }
        let record = super::read_batch(state, &id, named_by)?;
        if records.len() >= max_nodes {
            return Err(AuditError::DagTooLarge {
                batch: root.clone(),
                limit: max_nodes,
            });
        }
        if let BatchOrigin::Transformed { inputs, .. } = &record.origin {
            for (input, _) in inputs {
                if !records.contains_key(input) {
                    stack.push((input.clone(), Some(id.clone())));
                }
            }
        }
        records.insert(id, record);
    }

    // Who ran each transform: the custodian of its first input (read before the records move).
    let operators: HashMap<&BatchId, ActorId> = records
        .values()
        .filter_map(|r| match &r.origin {
            BatchOrigin::Transformed { inputs, .. } => {
                let first = records.get(&inputs.first()?.0)?;
                Some((&r.id, first.custodian.clone()))
            }
            BatchOrigin::Extracted { .. } => None,
        })
        .collect();
    let mut operators: HashMap<BatchId, ActorId> =
        operators.into_iter().map(|(b, a)| (b.clone(), a)).collect();

    let mut ordered: Vec<BatchRecord> = records.into_values().collect();
    ordered.sort_by(|a, b| (a.created_in, &a.id).cmp(&(b.created_in, &b.id)));

    let mut nodes = Vec::with_capacity(ordered.len());
    let mut edges = Vec::new();
    let mut entries = BTreeSet::new();
    for record in ordered {
        entries.extend(record.history.iter().copied());
        entries.extend(record.certificates.iter().map(|c| c.index));
        let creation = match record.origin {
            BatchOrigin::Extracted { site } => NodeCreation::Extract { site },
            BatchOrigin::Transformed {
                process,
                inputs,
                additives_g,
                outputs_total_g,
            } => {
                for (input, taken) in inputs {
                    edges.push(DagEdge {
                        from: input,
                        to: record.id.clone(),
                        taken_g: taken.get(),
                    });
                }
                NodeCreation::Transform {
                    process,
                    additives_g: additives_g.get(),
                    outputs_total_g: outputs_total_g.get(),
                    operator: operators
                        .remove(&record.id)
                        .unwrap_or_else(|| record.custodian.clone()),
                }
            }
        };
        nodes.push(DagNode {
            status: NodeStatus::from(&record.status),
            batch: record.id,
            form: record.form,
            elements: record.elements,
            created_g: record.created_g.get(),
            remaining_g: record.remaining_g.get(),
            transit_loss_g: record.transit_loss_g.get(),
            custodian: record.custodian,
            created_in: record.created_in,
            created_at: record.created_at,
            creation,
            certificates: record.certificates,
            composition: record.composition,
            assays: record.assays,
            made_at: record.made_at,
        });
    }
    Ok(ProvenanceDag {
        root: root.clone(),
        nodes,
        edges,
        entries: entries.into_iter().collect(),
    })
}
