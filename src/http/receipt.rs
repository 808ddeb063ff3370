//! Receipts: what a submitter gets once its entry is durable — the entry index and leaf hash,
//! the signed checkpoint of the block that appended it, and an RFC 9162 inclusion proof against
//! that checkpoint. A receipt is rebuilt from the store the same way every time, so an identical
//! retry gets the very same receipt.

use serde::{Deserialize, Serialize};

use crate::log::checkpoint::Checkpoint;
use crate::log::tree::{inclusion_proof, HashReader, NodeId};
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

/// Builds the receipt of entry `index` from the store.
pub fn build(store: &Store, index: u64) -> Result<ReceiptBody, ApiError> {
    let checkpoint = store
        .checkpoint_covering(index)
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::internal(format!("no checkpoint covers entry {index}")))?;
    let parsed = Checkpoint::parse(note_body(&checkpoint)).map_err(ApiError::internal)?;
    let leaf_hash = store
        .read_hashes(&[NodeId::leaf(index)])
        .map_err(ApiError::internal)?[0];
    let proof = inclusion_proof(index, parsed.size, store).map_err(ApiError::internal)?;
    Ok(ReceiptBody {
        index,
        leaf_hash,
        size: parsed.size,
        root: parsed.root,
        checkpoint,
        proof,
    })
}
