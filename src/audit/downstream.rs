//! Downstream (recall): every batch that contains material from given batches — one batch, or
//! every batch extracted at one mine — and how many of its grams came from them.
//!
//! The grams follow the same mass-balance arithmetic as origin shares ([`super::mix`]), with
//! the given batches as one tracer source, except that recycling passes the tracer through: a
//! recall is about physical material, and a recycled magnet does contain the scrap it was made
//! of.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use crate::ledger::{BatchOrigin, BatchRecord, StateView};
use crate::model::ids::{ActorId, BatchId, SiteId};
use crate::model::material::Form;

use super::mix::apportion;
use super::provenance::NodeStatus;
use super::AuditError;

/// One batch made (in part) from the recalled batches.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DownstreamBatch {
    /// The batch.
    pub batch: BatchId,
    /// Its form.
    pub form: Form,
    /// Who holds it now.
    pub custodian: ActorId,
    /// Where it stands.
    pub status: NodeStatus,
    /// The entry that created it.
    pub created_in: u64,
    /// Mass at creation.
    pub created_g: u64,
    /// Mass left now.
    pub remaining_g: u64,
    /// Grams of its mass at creation that came from the recalled batches.
    pub contains_g: u64,
    /// `contains_g / created_g`, for display.
    pub share: f64,
}

/// Everything made from some batches.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Downstream {
    /// The recalled batches.
    pub roots: Vec<BatchId>,
    /// Every batch made from them, transitively, in creation order (the roots excluded).
    pub batches: Vec<DownstreamBatch>,
}

/// Every batch that contains material from `roots`, visiting at most `max_nodes` batches.
pub fn downstream<S: StateView + ?Sized>(
    state: &S,
    roots: &[BatchId],
    max_nodes: usize,
) -> Result<Downstream, AuditError> {
    let root_set: BTreeSet<&BatchId> = roots.iter().collect();
    let mut records: HashMap<BatchId, BatchRecord> = HashMap::new();
    let mut stack: Vec<(BatchId, Option<BatchId>)> =
        roots.iter().rev().map(|r| (r.clone(), None)).collect();
    while let Some((id, named_by)) = stack.pop() {
        if records.contains_key(&id) {
            continue;
        }
        let record = super::read_batch(state, &id, named_by)?;
        if records.len() >= max_nodes {
            return Err(AuditError::DagTooLarge {
                batch: roots.first().cloned().unwrap_or(id),
                limit: max_nodes,
            });
        }
        for child in &record.children {
            if !records.contains_key(child) {
                stack.push((child.clone(), Some(id.clone())));
            }
        }
        records.insert(id, record);
    }

    let mut ordered: Vec<&BatchRecord> = records.values().collect();
    ordered.sort_by(|a, b| (a.created_in, &a.id).cmp(&(b.created_in, &b.id)));

    // Grams of each visited batch that come from the roots. Inputs precede outputs in creation
    // order, so one pass suffices.
    let mut contains: HashMap<&BatchId, u64> = HashMap::new();
    // Tracer grams of each transform's pool, by creating entry, with the pool's total.
    let mut pools: HashMap<u64, (u64, u64)> = HashMap::new();
    let mut batches = Vec::new();
    for record in ordered {
        if root_set.contains(&record.id) {
            contains.insert(&record.id, record.created_g.get());
            continue;
        }
        let overflow = || AuditError::Overflow {
            batch: record.id.clone(),
        };
        let BatchOrigin::Transformed {
            inputs,
            additives_g,
            ..
        } = &record.origin
        else {
            // Only a root can be an extracted batch here: a child is always transformed.
            continue;
        };
        let (traced, total) = match pools.entry(record.created_in) {
            Entry::Occupied(pool) => *pool.get(),
            Entry::Vacant(slot) => {
                let (mut traced, mut total) = (0u64, additives_g.get());
                for (input, taken) in inputs {
                    total = total.checked_add(taken.get()).ok_or_else(overflow)?;
                    let (Some(&carried), Some(input_record)) =
                        (contains.get(input), records.get(input))
                    else {
                        continue; // material from elsewhere
                    };
                    let part = split(carried, input_record.created_g.get(), taken.get())
                        .ok_or_else(overflow)?;
                    traced = traced.checked_add(part).ok_or_else(overflow)?;
                }
                *slot.insert((traced, total))
            }
        };
        let grams = split(traced, total, record.created_g.get()).ok_or_else(overflow)?;
        contains.insert(&record.id, grams);
        let created = record.created_g.get();
        batches.push(DownstreamBatch {
            batch: record.id.clone(),
            form: record.form,
            custodian: record.custodian.clone(),
            status: NodeStatus::from(&record.status),
            created_in: record.created_in,
            created_g: created,
            remaining_g: record.remaining_g.get(),
            contains_g: grams,
            share: if created == 0 {
                0.0
            } else {
                grams as f64 / created as f64
            },
        });
    }
    Ok(Downstream {
        roots: roots.to_vec(),
        batches,
    })
}

/// Recall by mine: everything made from `extracted`, the batches extracted at `site` (the
/// store keeps that index). Each must have been extracted at `site`.
pub fn downstream_of_site<S: StateView + ?Sized>(
    state: &S,
    site: &SiteId,
    extracted: &[BatchId],
    max_nodes: usize,
) -> Result<Downstream, AuditError> {
    for batch in extracted {
        let record = state
            .batch(batch)?
            .ok_or_else(|| AuditError::UnknownBatch {
                batch: batch.clone(),
            })?;
        match &record.origin {
            BatchOrigin::Extracted { site: at } if at == site => {}
            _ => {
                return Err(AuditError::NotExtractedAt {
                    batch: batch.clone(),
                    site: site.clone(),
                })
            }
        }
    }
    downstream(state, extracted, max_nodes)
}

/// The tracer part of `whole` grams of which `traced` are traced, scaled to `to` grams with the
/// same largest-remainder rounding as origin mixes.
fn split(traced: u64, whole: u64, to: u64) -> Option<u64> {
    let parts = BTreeMap::from([(0u8, traced), (1u8, whole.saturating_sub(traced))]);
    Some(apportion(&parts, to)?.get(&0).copied().unwrap_or(0))
}
