//! Log entries — the Merkle leaves — and their bincode 2.0.1 encoding. This module is the only
//! place that knows the byte layout; `docs/FORMAT.md` spells it out and
//! `fixtures/vectors/entries/` pins it.
//!
//! ```text
//! Entry { version: u8 = 1, index: u64, prev: [u8; 32], logged_at_ms: u64, envelope: Envelope }
//! ```
//!
//! encoded with `bincode::config::standard()` (little endian, variable-length integers):
//! `u8` is one byte; a `u64` is one byte when < 251, else a tag byte 251/252/253 followed by a
//! little-endian u16/u32/u64; `[u8; 32]` is 32 raw bytes; a `String` or `Vec<u8>` is a varint
//! length then the bytes; a `Vec<T>` is a varint count then each element.
//!
//! `prev` is the leaf hash of entry `index - 1` (32 zero bytes for entry 0), so the entries form
//! a hash chain as well as a Merkle tree. The leaf hash is `SHA-256(0x00 || bytes)` (RFC 6962).
//! Decoding is strict: the version must be 1, every byte must be used, and the bytes must be the
//! canonical encoding (re-encoding gives them back), so one entry has exactly one byte form.

use crate::log::hash::{leaf_hash, Hash};
use crate::model::envelope::{Envelope, EnvelopeError};

/// The only entry version this code writes and reads.
pub const ENTRY_VERSION: u8 = 1;
/// Largest encoded entry: it must fit a C2SP tile entry bundle (u16 length prefix).
pub const MAX_ENTRY_BYTES: usize = u16::MAX as usize;

/// Why bytes are not a valid entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    /// bincode could not decode the bytes.
    #[error("entry bytes do not decode: {detail}")]
    Decode {
        /// bincode's message.
        detail: String,
    },
    /// Bytes left over after the entry.
    #[error("{extra} trailing bytes after the entry")]
    TrailingBytes {
        /// How many.
        extra: usize,
    },
    /// The bytes decode but are not the canonical encoding.
    #[error("entry bytes are not in canonical form")]
    NonCanonical,
    /// A version this code does not know.
    #[error("entry version {version} is not supported (expected {ENTRY_VERSION})")]
    Version {
        /// The version byte found.
        version: u8,
    },
    /// Larger than [`MAX_ENTRY_BYTES`].
    #[error("entry is {len} bytes; the limit is {MAX_ENTRY_BYTES}")]
    TooLarge {
        /// Encoded length.
        len: usize,
    },
    /// The envelope inside is malformed.
    #[error("entry envelope: {0}")]
    Envelope(#[from] EnvelopeError),
}

/// One log entry: an accepted envelope with its position, chain link and log time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Position in the log, from 0.
    pub index: u64,
    /// Leaf hash of the previous entry; zero for entry 0.
    pub prev: Hash,
    /// When the sequencer logged it, in Unix milliseconds.
    pub logged_at_ms: u64,
    /// The signed envelope exactly as submitted.
    pub envelope: Envelope,
}

/// The wire layout, field for field.
#[derive(bincode::Encode, bincode::Decode)]
struct WireEntry {
    version: u8,
    index: u64,
    prev: [u8; 32],
    logged_at_ms: u64,
    envelope: Envelope,
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<{ MAX_ENTRY_BYTES }>()
}

impl Entry {
    /// The canonical bytes (the Merkle leaf data).
    pub fn encode(&self) -> Result<Vec<u8>, EntryError> {
        let wire = WireEntry {
            version: ENTRY_VERSION,
            index: self.index,
            prev: self.prev.0,
            logged_at_ms: self.logged_at_ms,
            envelope: self.envelope.clone(),
        };
        let bytes = bincode::encode_to_vec(&wire, bincode::config::standard())
            .expect("encoding to a Vec cannot fail");
        if bytes.len() > MAX_ENTRY_BYTES {
            return Err(EntryError::TooLarge { len: bytes.len() });
        }
        Ok(bytes)
    }

    /// Decodes and checks canonical bytes.
    pub fn decode(bytes: &[u8]) -> Result<Entry, EntryError> {
        if bytes.len() > MAX_ENTRY_BYTES {
            return Err(EntryError::TooLarge { len: bytes.len() });
        }
        let (wire, used): (WireEntry, usize) = bincode::decode_from_slice(bytes, config())
            .map_err(|e| EntryError::Decode {
                detail: e.to_string(),
            })?;
        if used != bytes.len() {
            return Err(EntryError::TrailingBytes {
                extra: bytes.len() - used,
            });
        }
        if wire.version != ENTRY_VERSION {
            return Err(EntryError::Version {
                version: wire.version,
            });
        }
        wire.envelope.check_shape()?;
        let entry = Entry {
            index: wire.index,
            prev: Hash(wire.prev),
            logged_at_ms: wire.logged_at_ms,
            envelope: wire.envelope,
        };
        if entry.encode()? != bytes {
            return Err(EntryError::NonCanonical);
        }
        Ok(entry)
    }

    /// RFC 6962 leaf hash of the encoded entry.
    pub fn leaf_hash(&self) -> Result<Hash, EntryError> {
        Ok(leaf_hash(&self.encode()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    fn sample(index: u64) -> Entry {
        let key = SigningKey::from_bytes(&[9; 32]);
        Entry {
            index,
            prev: Hash([index as u8; 32]),
            logged_at_ms: 1_767_225_600_000u64.wrapping_add(index),
            envelope: Envelope::sign(b"{}".to_vec(), &[&key]).unwrap(),
        }
    }

    #[test]
    fn round_trip() {
        for index in [0, 250, 251, 65_535, 65_536, u64::MAX] {
            let entry = sample(index);
            let bytes = entry.encode().unwrap();
            assert_eq!(Entry::decode(&bytes).unwrap(), entry);
        }
    }

    #[test]
    fn rejects_trailing_version_and_noncanonical() {
        let bytes = sample(3).encode().unwrap();
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert_eq!(
            Entry::decode(&trailing),
            Err(EntryError::TrailingBytes { extra: 1 })
        );
        let mut version = bytes.clone();
        version[0] = 2;
        assert_eq!(
            Entry::decode(&version),
            Err(EntryError::Version { version: 2 })
        );
        // index 3 written as a 3-byte varint (tag 251 + u16 LE) instead of one byte.
        let mut long = vec![bytes[0], 251, 3, 0];
        long.extend_from_slice(&bytes[2..]);
        assert_eq!(Entry::decode(&long), Err(EntryError::NonCanonical));
    }
}
