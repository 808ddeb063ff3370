//! The transparency-log core: RFC 6962 / RFC 9162 hashing, tree math and proofs, C2SP
//! signed notes, checkpoints and tiles.
//!
//! Pure computation: no I/O anywhere in this module. Its only dependencies are SHA-256,
//! Ed25519, base64 and serde; storage reaches it through the one-method [`HashReader`] seam.
//!
//! | module | standard | what it defines |
//! | --- | --- | --- |
//! | [`hash`] | RFC 9162 §2.1.1 | `leaf_hash = SHA-256(0x00 ‖ d)`, `node_hash = SHA-256(0x01 ‖ l ‖ r)`, empty root `SHA-256("")` |
//! | [`tree`] | RFC 9162 §2.1 | perfect nodes, root hash, inclusion and consistency proofs and their verification, the append frontier |
//! | [`note`] | C2SP signed-note | Ed25519 note keys, signing and opening notes |
//! | [`checkpoint`] | C2SP tlog-checkpoint | the signed tree head text |
//! | [`cosignature`] | C2SP tlog-cosignature | witness `cosignature/v1` keys (type `0x04`), signing and verifying |
//! | [`policy`] | C2SP tlog-policy | trusted logs and witnesses, quorum evaluation |
//! | [`tlog_proof`] | C2SP tlog-proof | the offline `.tlog-proof` text: index, inclusion proof, cosigned checkpoint |
//! | [`tile`] | C2SP tlog-tiles | tile paths, entry bundles, a reader over fetched tiles |
//!
//! Each module's documentation spells out every byte it hashes or signs.

/// `Display`, `FromStr`, `Serialize` and `Deserialize` of a key type through its one text form
/// (`to_text` / `from_text`): verifier keys travel as the strings the C2SP specs define.
macro_rules! text_form {
    ($ty:ty, $err:ty) => {
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.to_text())
            }
        }

        impl std::str::FromStr for $ty {
            type Err = $err;

            fn from_str(text: &str) -> Result<Self, $err> {
                Self::from_text(text)
            }
        }

        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_text())
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <String as serde::Deserialize>::deserialize(d)?;
                Self::from_text(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

pub mod checkpoint;
pub mod cosignature;
pub mod hash;
pub mod note;
pub mod policy;
pub mod tile;
pub mod tlog_proof;
pub mod tree;

pub use checkpoint::{Checkpoint, CheckpointError};
pub use hash::{empty_root, leaf_hash, node_hash, Hash};
pub use note::{open_note, sign_note, Note, NoteError, NoteSignature, NoteSigner, NoteVerifier};
pub use tile::{
    decode_entry_bundle, encode_entry_bundle, tile_node_ids, tiles_for_size, TileError, TileHashes,
    TilePath, TILE_HEIGHT, TILE_WIDTH,
};
pub use tree::{
    consistency_proof, inclusion_proof, root_from_inclusion_proof, root_hash, verify_consistency,
    verify_inclusion, Frontier, HashReader, MemoryHashes, NodeId, ProofError, TreeError,
};
