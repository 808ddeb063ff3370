//! The ISO 22095 mass-balance model over a provenance DAG: each batch's origin mix, in exact
//! integer grams that sum to the batch's mass at creation.
//!
//! - An extracted batch is all its mine.
//! - A transform pools what it consumes: input `i` brings its mix scaled to the grams taken,
//!   `mix(i) × taken_i / created_i` (a batch's mix is proportional to its mass, so a transit
//!   loss or a part left over takes its share away), and declared additives bring `untracked`
//!   grams. A recycling transform brings its inputs' mass as `recycled` by the recycler instead:
//!   recycled material starts a new origin.
//! - Each output gets the pool scaled to its own mass, `pool × mass_o / pool_total`; what no
//!   output received (process losses) leaves with its share.
//!
//! Each scaling is exact rational arithmetic on u128 rounded by the largest-remainder method
//! ([`apportion`]), so every mix sums exactly to its batch's mass; a scaled part is off by less
//! than one gram per scaling step from the exact rational value.

use std::cmp::Reverse;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::model::ids::{ActorId, BatchId, SiteId};
use crate::model::material::Process;

use super::provenance::{NodeCreation, ProvenanceDag};
use super::AuditError;

/// Where a gram of a batch came from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OriginSource {
    /// Extracted at this mine.
    Mine {
        /// The mine site.
        site: SiteId,
    },
    /// Came out of a recycling transform run by this recycler.
    Recycled {
        /// The recycler.
        recycler: ActorId,
    },
    /// Declared additives (iron, boron, ...): not traced.
    Untracked,
}

/// A batch's origin mix: grams per source, summing to the batch's mass at creation.
pub type Mix = BTreeMap<OriginSource, u64>;

/// Scales `parts` to sum to `to`, exactly: each part becomes `⌊part × to / from⌋` (`from` = the
/// sum of the parts), then the grams still missing go one each to the parts with the largest
/// remainders (ties: the smaller key first). Zero parts are dropped. Returns `None` if the
/// arithmetic would overflow u128 (impossible when the parts and `to` fit in u64).
pub fn apportion<K: Ord + Clone>(parts: &BTreeMap<K, u64>, to: u64) -> Option<BTreeMap<K, u64>> {
    let from: u128 = parts.values().map(|&p| u128::from(p)).sum();
    if from == u128::from(to) {
        return Some(
            parts
                .iter()
                .filter(|(_, &g)| g > 0)
                .map(|(k, &g)| (k.clone(), g))
                .collect(),
        );
    }
    if from == 0 {
        return None;
    }
    let mut out = BTreeMap::new();
    let mut remainders = Vec::with_capacity(parts.len());
    let mut assigned: u128 = 0;
    for (key, &part) in parts {
        let scaled = u128::from(part).checked_mul(u128::from(to))?;
        let (quotient, remainder) = (scaled / from, scaled % from);
        assigned += quotient;
        out.insert(key.clone(), quotient);
        remainders.push((remainder, key));
    }
    // Σ⌊x⌋ ≤ to < Σ⌊x⌋ + n: fewer than one gram per part is missing.
    let mut missing = u128::from(to) - assigned;
    // Stable sort: equal remainders keep key order.
    remainders.sort_by_key(|r| Reverse(r.0));
    for (_, key) in remainders {
        if missing == 0 {
            break;
        }
        if let Some(g) = out.get_mut(key) {
            *g += 1;
            missing -= 1;
        }
    }
    out.into_iter()
        .filter(|(_, g)| *g > 0)
        .map(|(k, g)| u64::try_from(g).ok().map(|g| (k, g)))
        .collect()
}

/// A mix with sources as indexes into a sorted source list.
type IndexedMix = BTreeMap<usize, u64>;

/// The origin mix of every batch of `dag`. Each transform's pool is computed once and shared
/// by its outputs in the DAG.
pub fn batch_mixes(dag: &ProvenanceDag) -> Result<HashMap<BatchId, Mix>, AuditError> {
    let (sources, mixes) = indexed_mixes(dag)?;
    Ok(dag
        .nodes
        .iter()
        .zip(mixes)
        .map(|(n, mix)| (n.batch.clone(), named(&sources, mix)))
        .collect())
}

/// The origin mix of the DAG's root.
pub(super) fn root_mix(dag: &ProvenanceDag) -> Result<Mix, AuditError> {
    let (sources, mut mixes) = indexed_mixes(dag)?;
    let root = dag
        .nodes
        .iter()
        .position(|n| n.batch == dag.root)
        .ok_or_else(|| AuditError::UnknownBatch {
            batch: dag.root.clone(),
        })?;
    Ok(named(&sources, mixes.swap_remove(root)))
}

fn named(sources: &[OriginSource], mix: IndexedMix) -> Mix {
    mix.into_iter()
        .map(|(i, g)| (sources[i].clone(), g))
        .collect()
}

/// The mixes of every node in node order, with sources as indexes into the returned (sorted)
/// source list, so that the hot loop moves integers, not strings. Index order is source order,
/// so the tie-breaking of [`apportion`] is the same as on named sources.
fn indexed_mixes(dag: &ProvenanceDag) -> Result<(Vec<OriginSource>, Vec<IndexedMix>), AuditError> {
    let mut sources: Vec<OriginSource> = vec![OriginSource::Untracked];
    for node in &dag.nodes {
        match &node.creation {
            NodeCreation::Extract { site } => {
                sources.push(OriginSource::Mine { site: site.clone() })
            }
            NodeCreation::Transform {
                process: Process::Recycling,
                operator,
                ..
            } => sources.push(OriginSource::Recycled {
                recycler: operator.clone(),
            }),
            NodeCreation::Transform { .. } => {}
        }
    }
    sources.sort();
    sources.dedup();
    let index: HashMap<&OriginSource, usize> =
        sources.iter().enumerate().map(|(i, s)| (s, i)).collect();
    let untracked = index[&OriginSource::Untracked];

    let position: HashMap<&BatchId, usize> = dag
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (&n.batch, i))
        .collect();
    // Edges into each node, in event order.
    let mut inputs: Vec<Vec<(usize, u64)>> = vec![Vec::new(); dag.nodes.len()];
    for edge in &dag.edges {
        let (Some(&from), Some(&to)) = (position.get(&edge.from), position.get(&edge.to)) else {
            return Err(AuditError::MissingBatch {
                batch: edge.to.clone(),
                missing: edge.from.clone(),
            });
        };
        inputs[to].push((from, edge.taken_g));
    }

    let mut mixes: Vec<IndexedMix> = Vec::with_capacity(dag.nodes.len());
    // Pools by creating entry: the outputs of one transform share one.
    let mut pools: HashMap<u64, IndexedMix> = HashMap::new();
    for (i, node) in dag.nodes.iter().enumerate() {
        let overflow = || AuditError::Overflow {
            batch: node.batch.clone(),
        };
        let mix = match &node.creation {
            NodeCreation::Extract { site } => {
                let source = index[&OriginSource::Mine { site: site.clone() }];
                BTreeMap::from([(source, node.created_g)])
            }
            NodeCreation::Transform {
                process,
                additives_g,
                operator,
                ..
            } => {
                let pool = match pools.entry(node.created_in) {
                    Entry::Occupied(pool) => pool.into_mut(),
                    Entry::Vacant(slot) => {
                        let mut pool = BTreeMap::new();
                        for &(input, taken) in &inputs[i] {
                            if *process == Process::Recycling {
                                let source = index[&OriginSource::Recycled {
                                    recycler: operator.clone(),
                                }];
                                add(&mut pool, source, taken).ok_or_else(overflow)?;
                                continue;
                            }
                            // Inputs come earlier in node order, so their mixes exist.
                            for (source, g) in
                                apportion(&mixes[input], taken).ok_or_else(overflow)?
                            {
                                add(&mut pool, source, g).ok_or_else(overflow)?;
                            }
                        }
                        if *additives_g > 0 {
                            add(&mut pool, untracked, *additives_g).ok_or_else(overflow)?;
                        }
                        slot.insert(pool)
                    }
                };
                apportion(pool, node.created_g).ok_or_else(overflow)?
            }
        };
        mixes.push(mix);
    }
    Ok((sources, mixes))
}

fn add(mix: &mut IndexedMix, source: usize, grams: u64) -> Option<()> {
    let slot = mix.entry(source).or_insert(0);
    *slot = slot.checked_add(grams)?;
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apportion_is_exact_and_sums() {
        let parts = BTreeMap::from([("a", 1u64), ("b", 1), ("c", 1)]);
        let out = apportion(&parts, 2).unwrap();
        assert_eq!(out.values().sum::<u64>(), 2);
        // Equal remainders: smaller keys first.
        assert_eq!(out, BTreeMap::from([("a", 1), ("b", 1)]));

        let parts = BTreeMap::from([("x", 57_000_000u64), ("y", 133_000_000)]);
        let out = apportion(&parts, 189_990_000).unwrap();
        assert_eq!(out, BTreeMap::from([("x", 56_997_000), ("y", 132_993_000)]));

        let parts = BTreeMap::from([("big", u64::MAX), ("small", 0)]);
        assert_eq!(
            apportion(&parts, u64::MAX - 1).unwrap(),
            BTreeMap::from([("big", u64::MAX - 1)])
        );
    }

    #[test]
    fn apportion_largest_remainder_wins() {
        // 10 → 7: exact 4.2, 2.1, 0.7 → floors 4, 2, 0 (6); the 0.7 remainder takes the gram.
        let parts = BTreeMap::from([("a", 6u64), ("b", 3), ("c", 1)]);
        assert_eq!(
            apportion(&parts, 7).unwrap(),
            BTreeMap::from([("a", 4), ("b", 2), ("c", 1)])
        );
    }
}
