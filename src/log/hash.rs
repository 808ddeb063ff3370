//! The 32-byte SHA-256 hash used for leaves, nodes and roots, and the three hash functions of
//! the Merkle tree (RFC 6962 §2.1, RFC 9162 §2.1.1).
//!
//! Every byte hashed:
//!
//! | what | bytes hashed with SHA-256 |
//! | --- | --- |
//! | leaf hash of entry `d` | `0x00 ‖ d` |
//! | interior node over children `l`, `r` | `0x01 ‖ l (32 bytes) ‖ r (32 bytes)` |
//! | root of the empty tree | the empty string |
//!
//! The distinct one-byte prefixes keep a leaf from ever being taken for an interior node
//! (second-preimage resistance, RFC 9162 §2.1.1).

use std::fmt;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// Prefix byte of a leaf hash input (RFC 9162 §2.1.1).
pub const LEAF_PREFIX: u8 = 0x00;
/// Prefix byte of an interior node hash input (RFC 9162 §2.1.1).
pub const NODE_PREFIX: u8 = 0x01;

/// RFC 9162 §2.1.1: `MTH({d}) = SHA-256(0x00 || d)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([LEAF_PREFIX]);
    h.update(data);
    Hash(h.finalize().into())
}

/// RFC 9162 §2.1.1: `MTH(D[n]) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([NODE_PREFIX]);
    h.update(left.0);
    h.update(right.0);
    Hash(h.finalize().into())
}

/// RFC 9162 §2.1.1: `MTH({}) = SHA-256()`, the root of the empty tree.
pub fn empty_root() -> Hash {
    Hash(Sha256::digest([]).into())
}

/// A SHA-256 digest. Shown as lowercase hex by `Display`; serialised (JSON) as standard base64,
/// the form C2SP checkpoints and our proof responses use.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; 32]);

/// A string that is not a base64 or hex encoding of exactly 32 bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a 32-byte hash: {reason}")]
pub struct HashParseError {
    /// Why the text was rejected.
    pub reason: &'static str,
}

impl Hash {
    /// Length in bytes.
    pub const LEN: usize = 32;

    /// Borrows the raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Builds a hash from a slice that must be exactly 32 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, HashParseError> {
        <[u8; 32]>::try_from(bytes)
            .map(Hash)
            .map_err(|_| HashParseError {
                reason: "wrong length",
            })
    }

    /// Standard base64 (with padding).
    pub fn to_base64(&self) -> String {
        B64.encode(self.0)
    }

    /// Parses standard base64 of exactly 32 bytes.
    pub fn from_base64(text: &str) -> Result<Self, HashParseError> {
        let bytes = B64.decode(text).map_err(|_| HashParseError {
            reason: "invalid base64",
        })?;
        Self::from_slice(&bytes)
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex digits (either case).
    pub fn from_hex(text: &str) -> Result<Self, HashParseError> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(text, &mut out).map_err(|_| HashParseError {
            reason: "invalid hex",
        })?;
        Ok(Hash(out))
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl Serialize for Hash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_base64())
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Hash::from_base64(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(
            empty_root().to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn leaf_and_node_hashes_use_distinct_prefixes() {
        // RFC 6962 test vector: the leaf hash of the empty entry.
        assert_eq!(
            leaf_hash(b"").to_hex(),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        let l = leaf_hash(b"a");
        let mut joined = vec![];
        joined.extend_from_slice(&l.0);
        joined.extend_from_slice(&l.0);
        assert_ne!(node_hash(&l, &l), leaf_hash(&joined));
    }
}
