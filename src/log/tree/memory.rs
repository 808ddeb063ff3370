//! An in-memory store of every perfect node, for tests and offline verifiers.

use super::{read_each, HashReader, NodeId, TreeError};
use crate::log::hash::{node_hash, Hash};

/// Every perfect node of a tree, kept in memory level by level.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryHashes {
    /// `levels[l][i]` is the hash of `NodeId { level: l, index: i }`.
    levels: Vec<Vec<Hash>>,
}

impl MemoryHashes {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// A tree of the given leaf hashes.
    pub fn from_leaves(leaves: impl IntoIterator<Item = Hash>) -> Self {
        let mut tree = Self::new();
        for leaf in leaves {
            tree.push_leaf(leaf);
        }
        tree
    }

    /// Appends a leaf hash and every perfect node it completes.
    pub fn push_leaf(&mut self, leaf: Hash) {
        let mut hash = leaf;
        for level in 0.. {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            let nodes = &mut self.levels[level];
            nodes.push(hash);
            let n = nodes.len();
            if n % 2 == 1 {
                break;
            }
            hash = node_hash(&nodes[n - 2], &nodes[n - 1]);
        }
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |leaves| leaves.len() as u64)
    }

    /// The hash of one perfect node, if it exists.
    pub fn node(&self, id: NodeId) -> Option<Hash> {
        let nodes = self.levels.get(usize::from(id.level))?;
        nodes.get(usize::try_from(id.index).ok()?).copied()
    }
}

impl HashReader for MemoryHashes {
    fn read_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, TreeError> {
        read_each(ids, |id| self.node(id))
    }
}
