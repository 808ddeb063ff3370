//! The transparency-log core: RFC 6962 / RFC 9162 hashing, tree math and proofs, C2SP
//! signed notes, checkpoints and tiles. Pure computation: no I/O anywhere in this module.

pub mod hash;
pub mod checkpoint;
pub mod note;
pub mod tile;
pub mod tree;

pub use hash::{empty_root, leaf_hash, node_hash, Hash};
