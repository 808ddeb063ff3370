//! RFC 9162 §2.1 Merkle tree math over a storage seam: root hashes, inclusion and consistency
//! proofs, their verification, and the append-only [`Frontier`].
//!
//! # The tree
//!
//! The tree of `n` leaves is RFC 9162's `MTH(D[n])` (§2.1.1): for `n > 1`, with `k` the largest
//! power of two smaller than `n`, `MTH(D[n]) = node_hash(MTH(D[0:k]), MTH(D[k:n]))`; the leaf
//! hashes are `leaf_hash(d) = SHA-256(0x00 ‖ d)` and the empty tree's root is `SHA-256("")`
//! (see [`super::hash`]).
//!
//! # Perfect nodes: what storage holds
//!
//! A [`NodeId`] `{ level, index }` names the *perfect* subtree of `2^level` leaves covering
//! leaves `[index · 2^level, (index + 1) · 2^level)`; level 0 holds the leaf hashes. Perfect
//! nodes never change once all their leaves exist, so a store keeps every one of them (about two
//! per leaf, see [`Frontier::append`]) and never rewrites anything. Any other subtree hash RFC
//! 9162 needs (the ragged right edge of a tree whose size is not a power of two) is computed
//! from the perfect nodes that compose it: the subtree over leaves `[b, e)`, where `b` is a
//! multiple of the largest power of two not above `e − b`, is the right fold
//! `node_hash(P1, node_hash(P2, … Pk))` of its perfect nodes `P1 … Pk`, largest (leftmost) first.
//!
//! # The seam
//!
//! Storage reaches this module through [`HashReader`], one method that returns the hashes of a
//! list of perfect nodes. Every function here gathers the O(log n) ids it needs and asks for all
//! of them in a *single* call, and only ever asks for nodes that exist in a tree of the size it
//! was given, so a store can answer with one multi-get and treat a missing node as corruption.
//!
//! Pure computation: no I/O.

mod frontier;
mod memory;
mod proof;
mod verify;

pub use frontier::Frontier;
pub use memory::MemoryHashes;
pub use proof::{consistency_proof, inclusion_proof, inclusion_proof_nodes};
pub use verify::{root_from_inclusion_proof, verify_consistency, verify_inclusion, ProofError};

use super::hash::{empty_root, node_hash, Hash};

/// The perfect subtree at `level` covering leaves `[index << level, (index + 1) << level)`.
/// Level 0 nodes are leaf hashes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    /// Height above the leaves: the node covers `2^level` leaves.
    pub level: u8,
    /// Position among the nodes of its level, counted from the left from 0.
    pub index: u64,
}

impl NodeId {
    /// The node at `level` and `index`.
    pub const fn new(level: u8, index: u64) -> Self {
        NodeId { level, index }
    }

    /// The leaf node (level 0) at `index`.
    pub const fn leaf(index: u64) -> Self {
        NodeId { level: 0, index }
    }

    /// Whether all the leaves under this node exist in a tree of `size` leaves.
    pub fn exists_in(&self, size: u64) -> bool {
        // u128: `(index + 1) << level` may not fit u64 for ids no real tree contains.
        self.level < 64 && ((u128::from(self.index) + 1) << self.level) <= u128::from(size)
    }
}

/// Answers `ids` one by one from an in-memory lookup (for readers that hold the nodes).
pub(crate) fn read_each(
    ids: &[NodeId],
    node: impl Fn(NodeId) -> Option<Hash>,
) -> Result<Vec<Hash>, TreeError> {
    ids.iter()
        .map(|&id| {
            node(id).ok_or(TreeError::MissingNode {
                level: id.level,
                index: id.index,
            })
        })
        .collect()
}

/// The storage seam: the hashes of perfect nodes.
pub trait HashReader {
    /// Returns the hash of each node in `ids`, in the same order. Callers only ask for nodes
    /// that exist in the tree they are working on; a node the store lacks is
    /// [`TreeError::MissingNode`].
    fn read_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, TreeError>;
}

impl<T: HashReader + ?Sized> HashReader for &T {
    fn read_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, TreeError> {
        (**self).read_hashes(ids)
    }
}

/// Why a root, proof or frontier could not be computed from storage.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    /// A leaf index not below the tree size.
    #[error("leaf index {index} is out of range for a tree of size {size}")]
    IndexOutOfRange {
        /// The requested leaf index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// A consistency proof from a larger tree to a smaller one.
    #[error("no consistency proof from size {size1} to the smaller size {size2}")]
    SizeOutOfRange {
        /// The first (older) tree size.
        size1: u64,
        /// The second (newer) tree size.
        size2: u64,
    },
    /// The store does not hold a node the tree must have.
    #[error("the store has no hash for node level {level} index {index}")]
    MissingNode {
        /// The node's level.
        level: u8,
        /// The node's index.
        index: u64,
    },
    /// The store answered with a different number of hashes than it was asked for.
    #[error("asked the store for {requested} hashes, got {returned}")]
    WrongHashCount {
        /// How many ids were asked for.
        requested: usize,
        /// How many hashes came back.
        returned: usize,
    },
    /// Frontier parts whose peak count does not match the size.
    #[error("a tree of size {size} has {expected} peaks, got {got}")]
    WrongPeakCount {
        /// The tree size.
        size: u64,
        /// `popcount(size)`.
        expected: usize,
        /// The number of peaks given.
        got: usize,
    },
    /// The storage layer failed (an I/O or decoding error reported by the backend).
    #[error("storage error: {message}")]
    Storage {
        /// The backend's description of the failure.
        message: String,
    },
}

/// The perfect nodes that make up the leaves `[begin, end)`, left to right.
///
/// Each node is the largest one that starts at the current position and fits the range. When
/// `begin` is a multiple of the largest power of two not above `end − begin` (always the case
/// for the subtrees RFC 9162 uses), the nodes shrink from left to right and
/// the right fold `node_hash(h0, node_hash(h1, …))` of their hashes is the subtree's Merkle
/// Tree Hash.
pub fn subtree_nodes(begin: u64, end: u64) -> Vec<NodeId> {
    let mut nodes = Vec::new();
    let mut pos = begin;
    while pos < end {
        let mut level = if pos == 0 { 63 } else { pos.trailing_zeros() };
        while (1u64 << level) > end - pos {
            level -= 1;
        }
        nodes.push(NodeId::new(level as u8, pos >> level));
        pos += 1u64 << level;
    }
    nodes
}

/// The peaks of a tree of `size` leaves: the perfect subtrees that compose it, largest
/// (leftmost) first. There are `popcount(size)` of them.
pub fn peak_ids(size: u64) -> Vec<NodeId> {
    subtree_nodes(0, size)
}

/// The Merkle Tree Hash of a subtree from the hashes of its perfect nodes, largest first:
/// `node_hash(h[0], node_hash(h[1], … h[k−1]))`. `None` for an empty list.
pub(crate) fn fold_subtree(hashes: &[Hash]) -> Option<Hash> {
    let (last, rest) = hashes.split_last()?;
    Some(rest.iter().rev().fold(*last, |acc, h| node_hash(h, &acc)))
}

/// Reads `ids` through `reader` and checks the answer has one hash per id.
pub(crate) fn read_exact(reader: &impl HashReader, ids: &[NodeId]) -> Result<Vec<Hash>, TreeError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let hashes = reader.read_hashes(ids)?;
    if hashes.len() != ids.len() {
        return Err(TreeError::WrongHashCount {
            requested: ids.len(),
            returned: hashes.len(),
        });
    }
    Ok(hashes)
}

/// RFC 9162 §2.1.1: the root hash of the tree of the first `size` leaves, from its peaks (one
/// read). The empty tree's root is `SHA-256("")`.
pub fn root_hash(size: u64, reader: &impl HashReader) -> Result<Hash, TreeError> {
    let hashes = read_exact(reader, &peak_ids(size))?;
    Ok(fold_subtree(&hashes).unwrap_or_else(empty_root))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtree_nodes_decompose_ranges() {
        assert_eq!(subtree_nodes(0, 0), vec![]);
        assert_eq!(
            peak_ids(7),
            vec![NodeId::new(2, 0), NodeId::new(1, 2), NodeId::new(0, 6)]
        );
        assert_eq!(peak_ids(8), vec![NodeId::new(3, 0)]);
        assert_eq!(
            subtree_nodes(8, 11),
            vec![NodeId::new(1, 4), NodeId::new(0, 10)]
        );
        assert_eq!(peak_ids(u64::MAX).len(), 64);
    }

    #[test]
    fn node_existence() {
        assert!(NodeId::new(2, 1).exists_in(8));
        assert!(!NodeId::new(2, 1).exists_in(7));
        assert!(!NodeId::new(63, u64::MAX).exists_in(u64::MAX));
        assert!(!NodeId::new(64, 0).exists_in(u64::MAX));
    }
}
