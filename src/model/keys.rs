//! Ed25519 public keys of participants and their DSSE key ids.
//!
//! A [`KeyId`] is the lowercase hex SHA-256 of the 32-byte public key (DESIGN.md §2.1). In a
//! DSSE signature it is only a hint: the ledger trusts the key registered for the event's actor.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::log::Hash;

/// Why a public key or key id was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not standard base64.
    #[error("public key is not valid base64")]
    Base64,
    /// Not 32 bytes.
    #[error("public key must be 32 bytes, got {len}")]
    Length {
        /// The decoded length.
        len: usize,
    },
    /// 32 bytes that are not a valid Ed25519 point, or a small-order (weak) one.
    #[error("public key is not a valid Ed25519 point")]
    Point,
    /// A key id that is not 64 lowercase hex digits.
    #[error("key id must be 64 lowercase hex digits (SHA-256 of the public key)")]
    KeyId,
}

/// An Ed25519 public key. JSON form: standard base64 of the 32 raw bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Wraps a dalek verifying key.
    pub fn new(key: VerifyingKey) -> Self {
        PublicKey(key)
    }

    /// The dalek verifying key.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.0
    }

    /// The 32 raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    /// Builds a key from 32 raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let raw: [u8; 32] = bytes
            .try_into()
            .map_err(|_| KeyError::Length { len: bytes.len() })?;
        let key = VerifyingKey::from_bytes(&raw).map_err(|_| KeyError::Point)?;
        if key.is_weak() {
            return Err(KeyError::Point);
        }
        Ok(PublicKey(key))
    }

    /// Parses standard base64.
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        let bytes = B64.decode(text).map_err(|_| KeyError::Base64)?;
        Self::from_bytes(&bytes)
    }

    /// Standard base64 of the raw bytes.
    pub fn to_base64(&self) -> String {
        B64.encode(self.as_bytes())
    }

    /// The DSSE key id: SHA-256 of the raw key.
    pub fn key_id(&self) -> KeyId {
        KeyId(Hash(Sha256::digest(self.as_bytes()).into()))
    }

    /// Checks a detached Ed25519 signature (RFC 8032; small-order keys never get this far).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(sig) = Signature::from_slice(signature) else {
            return false;
        };
        self.0.verify(message, &sig).is_ok()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_base64())
    }
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_base64())
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        PublicKey::from_base64(&text).map_err(serde::de::Error::custom)
    }
}

/// The DSSE key id of a public key: its SHA-256, shown as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub Hash);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_hex())
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.0.to_hex())
    }
}

impl FromStr for KeyId {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        if s.len() != 64
            || !s
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(KeyError::KeyId);
        }
        Hash::from_hex(s).map(KeyId).map_err(|_| KeyError::KeyId)
    }
}

impl Serialize for KeyId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for KeyId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The JSON form of an actor's secret key file (`lodestone keygen`, `authority.key`). The file
/// itself is written with mode 0600 by the store layer; this type only (de)serialises it.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretKeyFile {
    /// Always `lodestone-ed25519-secret-key`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The actor this key belongs to, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// Standard base64 of the 32-byte Ed25519 seed.
    pub secret_key: String,
    /// Standard base64 of the public key.
    pub public_key: PublicKey,
    /// Hex SHA-256 of the public key.
    pub key_id: KeyId,
}

/// Why a secret key file was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretKeyError {
    /// Not the JSON of a key file.
    #[error("not a Lodestone key file: {detail}")]
    Malformed {
        /// The parser's message.
        detail: String,
    },
    /// The seed does not decode to 32 bytes.
    #[error("the secret key is not base64 of 32 bytes")]
    Seed,
    /// The public key or key id in the file do not belong to the secret key.
    #[error(
        "the key file is inconsistent: its public key or key id does not match the secret key"
    )]
    Mismatch,
}

impl SecretKeyFile {
    const KIND: &'static str = "lodestone-ed25519-secret-key";

    /// Describes `key` (optionally naming its actor).
    pub fn new(key: &ed25519_dalek::SigningKey, actor: Option<String>) -> SecretKeyFile {
        let public_key = PublicKey::new(key.verifying_key());
        SecretKeyFile {
            kind: Self::KIND.to_owned(),
            actor,
            secret_key: B64.encode(key.to_bytes()),
            public_key,
            key_id: public_key.key_id(),
        }
    }

    /// Pretty JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("plain strings serialise");
        text.push('\n');
        text
    }

    /// Parses a key file and checks that it is self-consistent.
    pub fn parse(text: &str) -> Result<(SecretKeyFile, ed25519_dalek::SigningKey), SecretKeyError> {
        let file: SecretKeyFile =
            serde_json::from_str(text).map_err(|e| SecretKeyError::Malformed {
                detail: e.to_string(),
            })?;
        if file.kind != Self::KIND {
            return Err(SecretKeyError::Malformed {
                detail: format!("type must be `{}`", Self::KIND),
            });
        }
        let seed: [u8; 32] = B64
            .decode(&file.secret_key)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(SecretKeyError::Seed)?;
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        let public_key = PublicKey::new(key.verifying_key());
        if public_key != file.public_key || public_key.key_id() != file.key_id {
            return Err(SecretKeyError::Mismatch);
        }
        Ok((file, key))
    }
}

impl fmt::Debug for SecretKeyFile {
    // Never print the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKeyFile")
            .field("actor", &self.actor)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}
