//! C2SP tlog-cosignature, the Ed25519 `cosignature/v1` type: a witness's timestamped statement
//! that a checkpoint is the largest consistent tree head it has seen for that log.
//!
//! # Bytes
//!
//! - key id: `u32::from_be_bytes(SHA-256(name ‖ 0x0A ‖ 0x04 ‖ 32-byte public key)[0..4])` — the
//!   signature type byte is `0x04`, not the `0x01` of plain note keys, so a cosigner key can
//!   never be mistaken for a log key.
//! - verifier key (vkey): `<name>+<8 hex key id>+<base64(0x04 ‖ public key)>`; signer key:
//!   `PRIVATE+KEY+<name>+<8 hex key id>+<base64(0x04 ‖ 32-byte seed)>`.
//! - signed message: `"cosignature/v1\n" ‖ "time " ‖ <decimal seconds, no leading zeros> ‖ "\n"
//!   ‖ <checkpoint note text, final newline included, no signature lines>`.
//! - signature line: `— <name> base64(key id ‖ u64 big-endian timestamp ‖ 64-byte Ed25519
//!   signature)` (a `timestamped_signature`, 4 + 8 + 64 = 76 bytes).
//!
//! The timestamp must not exceed 2^63 − 1. Verification is strict RFC 8032
//! (`verify_strict`), as for log signatures.
//!
//! Pure computation: no I/O.

use std::fmt;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};

use super::note::{is_valid_key_name, NoteSignature, SIGNATURE_PREFIX};

/// Signature type identifier of timestamped Ed25519 cosignatures (C2SP signed-note).
pub const ALG_COSIGNATURE_V1: u8 = 0x04;
/// The header line of the signed message (domain separation).
pub const COSIGNATURE_V1_HEADER: &str = "cosignature/v1";
/// Bytes after the key id in a cosignature: the timestamp and the Ed25519 signature.
pub const COSIGNATURE_LEN: usize = 8 + 64;

const PRIVATE_KEY_PREFIX: &str = "PRIVATE+KEY+";

/// Why a cosigner key or a cosignature was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CosignatureError {
    /// A key name that is empty or contains white space or `+`.
    #[error("invalid cosigner name {name:?}: must be non-empty, without spaces or '+'")]
    InvalidName {
        /// The rejected name.
        name: String,
    },
    /// A key text that does not have the documented shape.
    #[error("malformed cosigner key: {reason}")]
    KeyFormat {
        /// Which part is wrong.
        reason: &'static str,
    },
    /// A key of another signature type than `0x04`.
    #[error("cosigner key has signature type 0x{alg:02x}, expected 0x04 (cosignature/v1)")]
    WrongType {
        /// The type byte found.
        alg: u8,
    },
    /// A key text whose key id does not match its name and key.
    #[error(
        "key id {claimed:08x} does not match the cosigner key {name:?} (computed {computed:08x})"
    )]
    KeyIdMismatch {
        /// The key name.
        name: String,
        /// The id in the text.
        claimed: u32,
        /// The id computed from the name and key.
        computed: u32,
    },
    /// 32 bytes that are not a usable Ed25519 public key.
    #[error("not a valid Ed25519 public key")]
    InvalidPublicKey,
    /// A signature line that is not `— <name> <base64 of 76 bytes>`.
    #[error("malformed cosignature line")]
    MalformedLine,
    /// A cosignature whose name or key id is not this verifier's.
    #[error("cosignature by {name} ({key_id:08x}) is not from this cosigner")]
    OtherKey {
        /// The name on the line.
        name: String,
        /// The key id on the line.
        key_id: u32,
    },
    /// A timestamp above 2^63 − 1.
    #[error("cosignature timestamp {timestamp} exceeds 2^63 - 1")]
    TimestampRange {
        /// The timestamp.
        timestamp: u64,
    },
    /// The signature does not verify over the checkpoint.
    #[error("cosignature by {name} does not verify")]
    InvalidSignature {
        /// The cosigner's name.
        name: String,
    },
}

/// The key id of a `cosignature/v1` key: the first four bytes, big-endian, of
/// `SHA-256(name ‖ 0x0A ‖ 0x04 ‖ public key)`.
pub fn cosignature_key_id(name: &str, public: &VerifyingKey) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ALG_COSIGNATURE_V1]);
    h.update(public.as_bytes());
    let digest = h.finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// The bytes a `cosignature/v1` signs: the header line, the time line, then the checkpoint
/// note text (which must end in a newline).
pub fn signed_message(checkpoint_text: &str, timestamp: u64) -> Vec<u8> {
    format!("{COSIGNATURE_V1_HEADER}\ntime {timestamp}\n{checkpoint_text}").into_bytes()
}

fn check_name(name: &str) -> Result<(), CosignatureError> {
    if is_valid_key_name(name) {
        Ok(())
    } else {
        Err(CosignatureError::InvalidName {
            name: name.to_owned(),
        })
    }
}

/// Splits `name+id+key`, checks the id's shape, and decodes `base64(0x04 ‖ 32 bytes)`.
fn parse_parts(text: &str) -> Result<(&str, u32, [u8; 32]), CosignatureError> {
    let mut parts = text.splitn(3, '+');
    let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(CosignatureError::KeyFormat {
            reason: "key is not name+id+key",
        });
    };
    check_name(name)?;
    if id.len() != 8 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(CosignatureError::KeyFormat {
            reason: "key id is not 8 hex digits",
        });
    }
    let claimed = u32::from_str_radix(id, 16).map_err(|_| CosignatureError::KeyFormat {
        reason: "key id is not 8 hex digits",
    })?;
    let bytes = B64.decode(key).map_err(|_| CosignatureError::KeyFormat {
        reason: "key is not standard base64",
    })?;
    let (&alg, material) = bytes.split_first().ok_or(CosignatureError::KeyFormat {
        reason: "key is empty",
    })?;
    if alg != ALG_COSIGNATURE_V1 {
        return Err(CosignatureError::WrongType { alg });
    }
    let material: [u8; 32] = material
        .try_into()
        .map_err(|_| CosignatureError::KeyFormat {
            reason: "key is not 32 bytes",
        })?;
    Ok((name, claimed, material))
}

fn encode_key(bytes: &[u8; 32]) -> String {
    let mut out = Vec::with_capacity(33);
    out.push(ALG_COSIGNATURE_V1);
    out.extend_from_slice(bytes);
    B64.encode(out)
}

/// One parsed `cosignature/v1` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cosignature {
    /// The cosigner's name.
    pub name: String,
    /// The key id.
    pub key_id: u32,
    /// Seconds since the Epoch when it was made.
    pub timestamp: u64,
    /// The Ed25519 signature over [`signed_message`].
    pub signature: [u8; 64],
}

impl Cosignature {
    /// Reads a note signature as a cosignature: its bytes after the key id must be exactly a
    /// timestamp and a 64-byte signature.
    pub fn from_note_signature(sig: &NoteSignature) -> Result<Self, CosignatureError> {
        if sig.signature.len() != COSIGNATURE_LEN {
            return Err(CosignatureError::MalformedLine);
        }
        let (time, signature) = sig.signature.split_at(8);
        let timestamp = u64::from_be_bytes(
            time.try_into()
                .map_err(|_| CosignatureError::MalformedLine)?,
        );
        Ok(Cosignature {
            name: sig.name.clone(),
            key_id: sig.key_id,
            timestamp,
            signature: signature
                .try_into()
                .map_err(|_| CosignatureError::MalformedLine)?,
        })
    }

    /// Parses one line `— <name> <base64>` (with or without its final newline).
    pub fn parse_line(line: &str) -> Result<Self, CosignatureError> {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let rest = line
            .strip_prefix(SIGNATURE_PREFIX)
            .ok_or(CosignatureError::MalformedLine)?;
        let (name, encoded) = rest
            .split_once(' ')
            .ok_or(CosignatureError::MalformedLine)?;
        check_name(name).map_err(|_| CosignatureError::MalformedLine)?;
        let blob = B64
            .decode(encoded)
            .map_err(|_| CosignatureError::MalformedLine)?;
        if blob.len() != 4 + COSIGNATURE_LEN {
            return Err(CosignatureError::MalformedLine);
        }
        let (id, rest) = blob.split_at(4);
        Self::from_note_signature(&NoteSignature {
            name: name.to_owned(),
            key_id: u32::from_be_bytes(id.try_into().map_err(|_| CosignatureError::MalformedLine)?),
            signature: rest.to_vec(),
        })
    }

    /// The note signature line, newline included.
    pub fn to_line(&self) -> String {
        let mut blob = Vec::with_capacity(4 + COSIGNATURE_LEN);
        blob.extend_from_slice(&self.key_id.to_be_bytes());
        blob.extend_from_slice(&self.timestamp.to_be_bytes());
        blob.extend_from_slice(&self.signature);
        format!("{SIGNATURE_PREFIX}{} {}\n", self.name, B64.encode(blob))
    }
}

/// A named witness signing key. Its `Debug` form never shows the secret.
#[derive(Clone)]
pub struct CosignatureSigner {
    name: String,
    key: SigningKey,
    key_id: u32,
}

impl CosignatureSigner {
    /// A cosigner named `name` with `key`.
    pub fn new(name: &str, key: SigningKey) -> Result<Self, CosignatureError> {
        check_name(name)?;
        let key_id = cosignature_key_id(name, &key.verifying_key());
        Ok(CosignatureSigner {
            name: name.to_owned(),
            key,
            key_id,
        })
    }

    /// A fresh random key for `name`.
    pub fn generate(name: &str, rng: &mut impl CryptoRngCore) -> Result<Self, CosignatureError> {
        Self::new(name, SigningKey::generate(rng))
    }

    /// Parses `PRIVATE+KEY+<name>+<8 hex>+<base64(0x04 ‖ seed)>`, checking the key id.
    pub fn from_text(text: &str) -> Result<Self, CosignatureError> {
        let rest = text
            .strip_prefix(PRIVATE_KEY_PREFIX)
            .ok_or(CosignatureError::KeyFormat {
                reason: "signer key does not start with PRIVATE+KEY+",
            })?;
        let (name, claimed, seed) = parse_parts(rest)?;
        let signer = Self::new(name, SigningKey::from_bytes(&seed))?;
        if signer.key_id != claimed {
            return Err(CosignatureError::KeyIdMismatch {
                name: name.to_owned(),
                claimed,
                computed: signer.key_id,
            });
        }
        Ok(signer)
    }

    /// The secret text form. Store it with care (mode 0600).
    pub fn to_text(&self) -> String {
        format!(
            "{PRIVATE_KEY_PREFIX}{}+{:08x}+{}",
            self.name,
            self.key_id,
            encode_key(self.key.as_bytes())
        )
    }

    /// The cosigner's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The matching verifier.
    pub fn verifier(&self) -> CosignatureVerifier {
        CosignatureVerifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// Cosigns a checkpoint note text at `timestamp` (seconds since the Epoch, at most
    /// 2^63 − 1).
    pub fn cosign(
        &self,
        checkpoint_text: &str,
        timestamp: u64,
    ) -> Result<Cosignature, CosignatureError> {
        if timestamp > i64::MAX as u64 {
            return Err(CosignatureError::TimestampRange { timestamp });
        }
        let signature = self
            .key
            .sign(&signed_message(checkpoint_text, timestamp))
            .to_bytes();
        Ok(Cosignature {
            name: self.name.clone(),
            key_id: self.key_id,
            timestamp,
            signature,
        })
    }
}

impl fmt::Debug for CosignatureSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CosignatureSigner")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .finish_non_exhaustive()
    }
}

/// A witness's public key. Text form (also `Display`, `FromStr` and serde):
/// `<name>+<8 hex>+<base64(0x04 ‖ public key)>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CosignatureVerifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl CosignatureVerifier {
    /// A verifier for `name` with `key`. Rejects small-order keys.
    pub fn new(name: &str, key: VerifyingKey) -> Result<Self, CosignatureError> {
        check_name(name)?;
        if key.is_weak() {
            return Err(CosignatureError::InvalidPublicKey);
        }
        Ok(CosignatureVerifier {
            name: name.to_owned(),
            key_id: cosignature_key_id(name, &key),
            key,
        })
    }

    /// Parses a vkey of type `0x04`, checking the key id.
    pub fn from_text(text: &str) -> Result<Self, CosignatureError> {
        let (name, claimed, material) = parse_parts(text)?;
        let key =
            VerifyingKey::from_bytes(&material).map_err(|_| CosignatureError::InvalidPublicKey)?;
        let verifier = Self::new(name, key)?;
        if verifier.key_id != claimed {
            return Err(CosignatureError::KeyIdMismatch {
                name: name.to_owned(),
                claimed,
                computed: verifier.key_id,
            });
        }
        Ok(verifier)
    }

    /// The vkey text form.
    pub fn to_text(&self) -> String {
        format!(
            "{}+{:08x}+{}",
            self.name,
            self.key_id,
            encode_key(self.key.as_bytes())
        )
    }

    /// The cosigner's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The Ed25519 public key.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// Whether a note signature line carries this cosigner's name and key id (the spec's
    /// rule: lines that do not match both are ignored, lines that do must verify).
    pub fn matches(&self, sig: &NoteSignature) -> bool {
        sig.name == self.name && sig.key_id == self.key_id
    }

    /// Verifies `cosignature` over `checkpoint_text`; returns its timestamp.
    pub fn verify(
        &self,
        checkpoint_text: &str,
        cosignature: &Cosignature,
    ) -> Result<u64, CosignatureError> {
        if cosignature.name != self.name || cosignature.key_id != self.key_id {
            return Err(CosignatureError::OtherKey {
                name: cosignature.name.clone(),
                key_id: cosignature.key_id,
            });
        }
        if cosignature.timestamp > i64::MAX as u64 {
            return Err(CosignatureError::TimestampRange {
                timestamp: cosignature.timestamp,
            });
        }
        let message = signed_message(checkpoint_text, cosignature.timestamp);
        self.key
            .verify_strict(&message, &Signature::from_bytes(&cosignature.signature))
            .map_err(|_| CosignatureError::InvalidSignature {
                name: self.name.clone(),
            })?;
        Ok(cosignature.timestamp)
    }
}

text_form!(CosignatureVerifier, CosignatureError);

#[cfg(test)]
mod tests;
