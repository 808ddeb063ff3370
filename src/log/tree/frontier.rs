//! The frontier (a.k.a. compact range `[0, size)`): the only state needed to append leaves and
//! compute the root without reading storage.

use serde::{Deserialize, Serialize};

use super::{fold_subtree, peak_ids, read_exact, HashReader, NodeId, TreeError};
use crate::log::hash::{empty_root, node_hash, Hash};

/// The roots of the perfect subtrees that make up a tree of `size` leaves ("peaks"), largest
/// (leftmost) first: one per set bit of `size`, so at most 64.
///
/// Serialises as `{ "size": u64, "peaks": [Hash] }`; deserialising checks the peak count.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "FrontierParts")]
pub struct Frontier {
    size: u64,
    peaks: Vec<Hash>,
}

/// The unchecked serialised form of a [`Frontier`].
#[derive(Deserialize)]
struct FrontierParts {
    size: u64,
    peaks: Vec<Hash>,
}

impl TryFrom<FrontierParts> for Frontier {
    type Error = TreeError;

    fn try_from(parts: FrontierParts) -> Result<Self, TreeError> {
        Frontier::from_parts(parts.size, parts.peaks)
    }
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds a frontier from its parts, checking there are `popcount(size)` peaks.
    pub fn from_parts(size: u64, peaks: Vec<Hash>) -> Result<Self, TreeError> {
        let expected = size.count_ones() as usize;
        if peaks.len() != expected {
            return Err(TreeError::WrongPeakCount {
                size,
                expected,
                got: peaks.len(),
            });
        }
        Ok(Frontier { size, peaks })
    }

    /// Reads the peaks of the tree of `size` leaves from storage (one read).
    pub fn from_reader(size: u64, reader: &impl HashReader) -> Result<Self, TreeError> {
        let peaks = read_exact(reader, &peak_ids(size))?;
        Ok(Frontier { size, peaks })
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The peak hashes, largest subtree first.
    pub fn peaks(&self) -> &[Hash] {
        &self.peaks
    }

    /// RFC 9162 §2.1.1 root hash: the right fold of the peaks; `SHA-256("")` when empty.
    pub fn root(&self) -> Hash {
        fold_subtree(&self.peaks).unwrap_or_else(empty_root)
    }

    /// Appends a leaf hash. Pushes to `new_nodes` the leaf node (level 0) and then every perfect
    /// node the leaf completes, bottom up: these are exactly the nodes a store must persist so
    /// that every perfect node of the tree is stored (on average two per leaf).
    ///
    /// # Panics
    ///
    /// If the tree already holds `u64::MAX` leaves.
    pub fn append(&mut self, leaf: Hash, new_nodes: &mut Vec<(NodeId, Hash)>) {
        let index = self.size;
        let mut node = NodeId::leaf(index);
        let mut hash = leaf;
        new_nodes.push((node, hash));
        // Each trailing one bit of the old size is a peak of the same height as the node just
        // completed, immediately to its left: merge them.
        while (index >> node.level) & 1 == 1 {
            let left = self.peaks.pop().expect("a set bit of size has a peak");
            hash = node_hash(&left, &hash);
            node = NodeId::new(node.level + 1, node.index >> 1);
            new_nodes.push((node, hash));
        }
        self.peaks.push(hash);
        self.size = index.checked_add(1).expect("tree size overflow");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::hash::leaf_hash;

    #[test]
    fn append_reports_completed_nodes() {
        let mut f = Frontier::new();
        let mut nodes = Vec::new();
        for i in 0..4u8 {
            f.append(leaf_hash(&[i]), &mut nodes);
        }
        let ids: Vec<_> = nodes.iter().map(|(id, _)| *id).collect();
        assert_eq!(
            ids,
            vec![
                NodeId::new(0, 0),
                NodeId::new(0, 1),
                NodeId::new(1, 0),
                NodeId::new(0, 2),
                NodeId::new(0, 3),
                NodeId::new(1, 1),
                NodeId::new(2, 0),
            ]
        );
        assert_eq!(f.peaks().len(), 1);
        assert_eq!(f.root(), nodes.last().unwrap().1);
    }

    #[test]
    fn from_parts_checks_peak_count() {
        assert!(Frontier::from_parts(3, vec![Hash::default()]).is_err());
        assert!(Frontier::from_parts(0, vec![]).is_ok());
        let json = r#"{"size":1,"peaks":[]}"#;
        assert!(serde_json::from_str::<Frontier>(json).is_err());
    }
}
