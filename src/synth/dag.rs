//! A batch with a deep upstream DAG, for the provenance benchmark.
//!
//! `width` mines each extract a concentrate and ship it to one separation plant, which blends
//! them over `layers` rounds: every batch is split in two halves, and each new batch merges the
//! second half of batch `i` with the first half of batch `i + 1` (cyclically). After the last
//! round everything is merged and cracked into one mixed compound: the root. Every batch made on
//! the way is upstream of the root, so its provenance DAG has
//! `width + 3 · width · layers + 2` batch nodes, and its mass comes from every mine.

use crate::model::ids::BatchId;
use crate::model::material::{Form, Process, Role};

use super::flow::{share, Planner, LIGHT};
use super::{Lane, SyntheticEvent};

/// Width of the default deep DAG.
pub const DEEP_DAG_WIDTH: usize = 16;
/// Blending rounds of the default deep DAG: 16 + 3 · 16 · 21 + 2 = 1,026 nodes.
pub const DEEP_DAG_LAYERS: usize = 21;

/// The events that build a deep provenance DAG, and its root.
pub struct DeepDag {
    /// The events, in the order they must be appended.
    pub events: Vec<SyntheticEvent>,
    /// The batch whose upstream DAG is deep.
    pub root: BatchId,
    /// How many batches its upstream DAG holds, the root included.
    pub nodes: usize,
}

impl Lane<'_> {
    /// Plans a deep DAG on this lane (its batches are the lane's own; see the module doc).
    pub fn deep_dag(&mut self, width: usize, layers: usize) -> DeepDag {
        assert!(width > 0, "a DAG needs at least one source");
        self.flows_started += 1;
        let world = self.world;
        let mut p = Planner::new(world, &format!("L{}-DAG{}", self.lane, self.flows_started));
        let separator = world.with_role(Role::Separator)[0];
        let miners = world.with_role(Role::Miner);
        let mut masses = Vec::with_capacity(width);
        for i in 0..width {
            let miner = miners[i % miners.len()];
            let tag = format!("S0-{i}");
            let mass = self.rng.between(5_000_000, 10_000_000);
            p.extract(miner, &tag, Form::Concentrate, mass, LIGHT);
            masses.push(p.deliver(&mut self.rng, miner, &tag, mass, separator));
        }
        for layer in 1..=layers {
            let halves: Vec<(u64, u64)> = masses.iter().map(|m| (m / 2, m - m / 2)).collect();
            for (i, (a, b)) in halves.iter().enumerate() {
                p.transform(
                    separator,
                    Process::Split,
                    &[(&format!("S{}-{i}", layer - 1), a + b)],
                    &[
                        (&format!("A{layer}-{i}"), Form::Concentrate, *a, &[]),
                        (&format!("B{layer}-{i}"), Form::Concentrate, *b, &[]),
                    ],
                    &[],
                );
            }
            for i in 0..width {
                let next = (i + 1) % width;
                let (b, a) = (halves[i].1, halves[next].0);
                p.transform(
                    separator,
                    Process::Merge,
                    &[
                        (&format!("B{layer}-{i}"), b),
                        (&format!("A{layer}-{next}"), a),
                    ],
                    &[(&format!("S{layer}-{i}"), Form::Concentrate, a + b, &[])],
                    &[],
                );
                masses[i] = a + b;
            }
        }
        let tags: Vec<String> = (0..width).map(|i| format!("S{layers}-{i}")).collect();
        let inputs: Vec<(&str, u64)> = tags
            .iter()
            .map(String::as_str)
            .zip(masses.iter().copied())
            .collect();
        let blend: u64 = masses.iter().sum();
        p.transform(
            separator,
            Process::Merge,
            &inputs,
            &[("BLEND", Form::Concentrate, blend, &[])],
            &[],
        );
        p.transform(
            separator,
            Process::Cracking,
            &[("BLEND", blend)],
            &[
                ("MIXED", Form::MixedCompound, share(blend, 600), LIGHT),
                ("RESIDUE", Form::Scrap, share(blend, 300), &[]),
            ],
            &[],
        );
        let root = p.batch("MIXED");
        let drafts = std::mem::take(&mut p.drafts);
        DeepDag {
            events: drafts.into_iter().map(|d| self.stamp(d)).collect(),
            root,
            nodes: width + 3 * width * layers + 2,
        }
    }
}
