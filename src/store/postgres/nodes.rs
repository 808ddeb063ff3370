//! A cache of tree nodes, for every server on a PostgreSQL ledger (the writer and read-only
//! servers on replicas alike).
//!
//! A node of the RFC 6962 tree never changes once it exists: it is the hash of a fixed range of
//! entries. So a node read once can be served from memory for ever, and an inclusion proof,
//! whose upper nodes are shared by every proof of the same tree, costs a round trip to the
//! database only for the few lower nodes not yet seen. This is what makes tiles cacheable by
//! anyone (c2sp.org/tlog-tiles); here it is done inside the server. Only nodes that were found
//! are cached: a node beyond a replica's replay point is asked for again next time.

use std::collections::HashMap;
use std::sync::RwLock;

use postgres::fallible_iterator::FallibleIterator as _;

use super::pool::pg_error;
use crate::log::tree::NodeId;
use crate::log::Hash;
use crate::store::StoreError;

/// Nodes kept at most (about 80 MiB); past it the cache starts again empty, and the nodes every
/// proof needs (the upper levels) come back with the next few proofs.
pub(crate) const LIMIT: usize = 1 << 20;

/// See the module documentation.
#[derive(Default)]
pub(crate) struct NodeCache {
    nodes: RwLock<HashMap<NodeId, Hash>>,
}

impl NodeCache {
    /// Reads the tree's nodes from the top down, as many levels as fill half the cache, for a
    /// log of `size` entries (whose tree has about `2 · size` nodes, half of them leaves).
    pub(crate) fn warm(
        &self,
        client: &mut postgres::Client,
        size: u64,
    ) -> Result<usize, StoreError> {
        let budget = (LIMIT / 2) as u64;
        let lowest = (0..64u8)
            .find(|level| size.saturating_mul(2) >> level <= budget)
            .unwrap_or(63);
        let mut rows = client
            .query_raw(
                "SELECT level, idx, hash FROM nodes WHERE level >= $1",
                [i16::from(lowest)],
            )
            .map_err(pg_error("read tree nodes"))?;
        let mut warmed = 0;
        let mut chunk = Vec::with_capacity(4096);
        while let Some(row) = rows.next().map_err(pg_error("read tree nodes"))? {
            let (level, index, bytes): (i16, i64, Vec<u8>) = (row.get(0), row.get(1), row.get(2));
            let (Ok(level), Ok(index), Ok(hash)) = (
                u8::try_from(level),
                u64::try_from(index),
                Hash::from_slice(&bytes),
            ) else {
                continue;
            };
            chunk.push((NodeId::new(level, index), hash));
            if chunk.len() == chunk.capacity() {
                warmed += chunk.len();
                self.put(chunk.drain(..));
            }
        }
        warmed += chunk.len();
        self.put(chunk);
        Ok(warmed)
    }

    /// The cached hash of each of `ids` (`None`: not cached).
    pub(crate) fn get(&self, ids: &[NodeId]) -> Vec<Option<Hash>> {
        let nodes = self.nodes.read().unwrap_or_else(|p| p.into_inner());
        ids.iter().map(|id| nodes.get(id).copied()).collect()
    }

    /// Caches nodes that were read.
    pub(crate) fn put(&self, found: impl IntoIterator<Item = (NodeId, Hash)>) {
        let mut nodes = self.nodes.write().unwrap_or_else(|p| p.into_inner());
        for (id, hash) in found {
            if nodes.len() >= LIMIT {
                nodes.clear();
            }
            nodes.insert(id, hash);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_are_served_once_read() {
        let cache = NodeCache::default();
        let (a, b) = (NodeId::leaf(3), NodeId::new(2, 1));
        assert_eq!(cache.get(&[a, b]), vec![None, None]);
        cache.put([(b, Hash([7; 32]))]);
        assert_eq!(cache.get(&[a, b]), vec![None, Some(Hash([7; 32]))]);
    }
}
