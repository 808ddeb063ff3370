//! Receipts: what a submitter gets once its entry is durable — the entry index and leaf hash,
//! the signed checkpoint of the block that appended it, and an RFC 9162 inclusion proof against
//! that checkpoint. A receipt is always made against the checkpoint of the block that appended
//! the entry, so an identical retry gets the very same receipt.

use std::cell::RefCell;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::log::checkpoint::Checkpoint;
use crate::log::tree::{inclusion_proof, inclusion_proof_nodes, HashReader, NodeId, TreeError};
use crate::log::Hash;
use crate::store::Store;

use super::ApiError;

/// The JSON receipt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptBody {
    /// Entry index.
    pub index: u64,
    /// RFC 6962 leaf hash of the entry (base64).
    pub leaf_hash: Hash,
    /// Tree size of the checkpoint.
    pub size: u64,
    /// Root of the checkpoint (base64).
    pub root: Hash,
    /// The signed checkpoint (C2SP signed note).
    pub checkpoint: String,
    /// Inclusion proof of the leaf in the checkpoint's tree (base64 hashes).
    pub proof: Vec<Hash>,
}

/// The unsigned body of a signed note: everything up to the blank line.
pub fn note_body(note: &str) -> &str {
    match note.find("\n\n") {
        Some(end) => &note[..=end],
        None => note,
    }
}

/// Parses the checkpoint note the log itself signed.
pub fn parse_own_checkpoint(note: &str) -> Result<Checkpoint, ApiError> {
    Checkpoint::parse(note_body(note)).map_err(ApiError::internal)
}

/// Builds the receipt of entry `index`, looking up the checkpoint of the block that appended it.
pub fn build(store: &Store, index: u64) -> Result<ReceiptBody, ApiError> {
    let note = store
        .checkpoint_covering(index)
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::internal(format!("no checkpoint covers entry {index}")))?;
    let checkpoint = parse_own_checkpoint(&note)?;
    build_against(store, index, &note, &checkpoint)
}

/// Builds the receipt of entry `index` against a known checkpoint (its block's).
pub fn build_against(
    reader: &impl HashReader,
    index: u64,
    note: &str,
    checkpoint: &Checkpoint,
) -> Result<ReceiptBody, ApiError> {
    let leaf_hash = reader
        .read_hashes(&[NodeId::leaf(index)])
        .map_err(ApiError::internal)?[0];
    let proof = inclusion_proof(index, checkpoint.size, reader).map_err(ApiError::internal)?;
    Ok(ReceiptBody {
        index,
        leaf_hash,
        size: checkpoint.size,
        root: checkpoint.root,
        checkpoint: note.to_owned(),
        proof,
    })
}

/// The tree nodes a set of receipts needs (each entry's leaf and its inclusion proof against its
/// block's size), read from the store with one call: the receipts of a bulk request share most
/// of their nodes, and a store on a database server answers one call per round trip.
#[derive(Default)]
pub struct ReceiptNodes(HashMap<NodeId, Hash>);

impl ReceiptNodes {
    /// Reads the nodes of the receipts of `(index, size)` pairs.
    pub fn read(
        store: &Store,
        receipts: impl IntoIterator<Item = (u64, u64)>,
    ) -> Result<ReceiptNodes, TreeError> {
        let mut ids: Vec<NodeId> = receipts
            .into_iter()
            .flat_map(|(index, size)| {
                std::iter::once(NodeId::leaf(index)).chain(inclusion_proof_nodes(index, size))
            })
            .collect();
        ids.sort_unstable_by_key(|id| (id.level, id.index));
        ids.dedup();
        let hashes = store.read_hashes(&ids)?;
        Ok(ReceiptNodes(ids.into_iter().zip(hashes).collect()))
    }
}

/// A [`HashReader`] over nodes read ahead ([`ReceiptNodes`]) that remembers whatever else it
/// reads from the store. One per thread.
pub struct MemoReader<'a> {
    store: &'a Store,
    ahead: &'a ReceiptNodes,
    memo: RefCell<HashMap<NodeId, Hash>>,
}

impl<'a> MemoReader<'a> {
    /// An empty memo over `store`, with the nodes in `ahead` already known.
    pub fn new(store: &'a Store, ahead: &'a ReceiptNodes) -> Self {
        MemoReader {
            store,
            ahead,
            memo: RefCell::new(HashMap::new()),
        }
    }

    fn known(&self, id: &NodeId) -> Option<Hash> {
        self.ahead
            .0
            .get(id)
            .copied()
            .or_else(|| self.memo.borrow().get(id).copied())
    }
}

impl HashReader for MemoReader<'_> {
    fn read_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, TreeError> {
        let missing: Vec<NodeId> = ids
            .iter()
            .filter(|id| self.known(id).is_none())
            .copied()
            .collect();
        if !missing.is_empty() {
            let read = self.store.read_hashes(&missing)?;
            self.memo.borrow_mut().extend(missing.into_iter().zip(read));
        }
        Ok(ids
            .iter()
            .map(|id| self.known(id).expect("read above"))
            .collect())
    }
}
