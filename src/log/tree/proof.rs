//! Building RFC 9162 inclusion (§2.1.3.1) and consistency (§2.1.4.1) proofs from perfect nodes.
//!
//! Both proofs are lists of subtree hashes, ordered from the bottom of the tree to the top, as
//! RFC 9162's recursive `PATH` and `SUBPROOF` definitions emit them. Each element is either a
//! perfect node read from storage or, at the tree's ragged right edge, the fold of the perfect
//! nodes that make up a non-perfect subtree. All node ids are collected first and read with one
//! [`HashReader::read_hashes`] call.

use std::ops::Range;

use super::{fold_subtree, read_exact, subtree_nodes, HashReader, NodeId, TreeError};
use crate::log::hash::Hash;

/// The storage reads a proof needs and how to assemble the proof from them.
#[derive(Default)]
struct ProofPlan {
    /// Every perfect node to read, in proof order.
    ids: Vec<NodeId>,
    /// For each proof element, the slice of `ids` whose fold is that element.
    parts: Vec<Range<usize>>,
}

impl ProofPlan {
    /// Adds the subtree over leaves `[begin, end)` as one proof element.
    fn push_subtree(&mut self, begin: u64, end: u64) {
        let start = self.ids.len();
        self.ids.extend(subtree_nodes(begin, end));
        self.parts.push(start..self.ids.len());
    }

    /// Adds the siblings on the path from the node `(from_level, leaf >> from_level)` up to the
    /// root of the tree of `size` leaves, bottom first, where `leaf < size`.
    ///
    /// Below level `inner` (the bit length of `leaf XOR (size − 1)`) the path runs inside the
    /// left, perfect part of the tree: each sibling is a perfect node, except the right sibling
    /// at level `inner − 1`, which may be cut short by the tree's right edge. From `inner` up the
    /// path runs along the right border of the tree: there is a (perfect, left) sibling only
    /// where the path turns left, i.e. where the bit of `leaf` is set.
    fn push_path(&mut self, leaf: u64, from_level: u32, size: u64) {
        let inner = u64::BITS - (leaf ^ (size - 1)).leading_zeros();
        for level in from_level..inner {
            let sibling = (leaf >> level) ^ 1;
            let begin = sibling << level;
            let end = begin.saturating_add(1u64 << level).min(size);
            self.push_subtree(begin, end);
        }
        for level in inner..u64::BITS {
            if (leaf >> level) & 1 == 1 {
                let sibling = (leaf >> level) ^ 1;
                self.push_subtree(sibling << level, (sibling + 1) << level);
            }
        }
    }

    /// Reads every node once and folds each element.
    fn resolve(self, reader: &impl HashReader) -> Result<Vec<Hash>, TreeError> {
        let hashes = read_exact(reader, &self.ids)?;
        Ok(self
            .parts
            .into_iter()
            .filter_map(|part| fold_subtree(&hashes[part]))
            .collect())
    }
}

/// RFC 9162 §2.1.3.1: the inclusion proof (audit path) of leaf `index` in the tree of the first
/// `size` leaves, bottom sibling first.
pub fn inclusion_proof(
    index: u64,
    size: u64,
    reader: &impl HashReader,
) -> Result<Vec<Hash>, TreeError> {
    if index >= size {
        return Err(TreeError::IndexOutOfRange { index, size });
    }
    let mut plan = ProofPlan::default();
    plan.push_path(index, 0, size);
    plan.resolve(reader)
}

/// The perfect nodes [`inclusion_proof`] reads for leaf `index` in the tree of `size` leaves
/// (none when `index` is out of range): a caller building many proofs reads them all at once.
pub fn inclusion_proof_nodes(index: u64, size: u64) -> Vec<NodeId> {
    if index >= size {
        return Vec::new();
    }
    let mut plan = ProofPlan::default();
    plan.push_path(index, 0, size);
    plan.ids
}

/// RFC 9162 §2.1.4.1: the consistency proof between the tree of the first `size1` leaves and the
/// tree of the first `size2` leaves.
///
/// The proof starts with the root of the largest perfect subtree that ends at leaf `size1`
/// (level `trailing_zeros(size1)`), omitted when that subtree is the whole first tree (`size1` a
/// power of two, the RFC's `b = true` case), followed by that subtree's path up to the root of
/// the second tree. Empty when `size1 == size2` and when `size1 == 0` (every tree extends the
/// empty tree; [`super::verify_consistency`] rejects `size1 == 0` as meaningless).
pub fn consistency_proof(
    size1: u64,
    size2: u64,
    reader: &impl HashReader,
) -> Result<Vec<Hash>, TreeError> {
    if size1 > size2 {
        return Err(TreeError::SizeOutOfRange { size1, size2 });
    }
    if size1 == 0 || size1 == size2 {
        return Ok(Vec::new());
    }
    let shift = size1.trailing_zeros();
    let last = size1 - 1;
    let mut plan = ProofPlan::default();
    if !size1.is_power_of_two() {
        plan.push_subtree((last >> shift) << shift, size1);
    }
    plan.push_path(last, shift, size2);
    plan.resolve(reader)
}
