//! Signed-note keys (C2SP signed-note §Signatures, Ed25519 type `0x01`) and their text forms,
//! as Go's `golang.org/x/mod/sumdb/note` writes them.
//!
//! - key name: non-empty, no Unicode white space, no `+` (so the text forms below split
//!   unambiguously at `+`: standard base64 may itself contain `+`, so only the first two or
//!   four `+` are separators).
//! - key id: `u32::from_be_bytes(SHA-256(name ‖ 0x0A ‖ 0x01 ‖ 32-byte public key)[0..4])`.
//! - verifier key: `<name>+<key id, 8 hex digits>+<base64(0x01 ‖ 32-byte public key)>`.
//! - signer key: `PRIVATE+KEY+<name>+<key id, 8 hex digits>+<base64(0x01 ‖ 32-byte seed)>`,
//!   where the seed is the RFC 8032 Ed25519 private key.
//!
//! Parsing recomputes the key id from the name and the (derived) public key and rejects a text
//! whose id does not match, whose algorithm byte is not `0x01`, or whose key is not 32 bytes.

use std::fmt;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};

use super::NoteError;

/// Signature type identifier of Ed25519 in C2SP signed-note.
pub const ALG_ED25519: u8 = 0x01;

const PRIVATE_KEY_PREFIX: &str = "PRIVATE+KEY+";

/// Whether `name` is a valid key name: non-empty, no Unicode white space, no `+`.
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

fn check_name(name: &str) -> Result<(), NoteError> {
    if is_valid_key_name(name) {
        Ok(())
    } else {
        Err(NoteError::InvalidKeyName {
            name: name.to_owned(),
        })
    }
}

/// The key id of an Ed25519 key: the first four bytes, big-endian, of
/// `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)`.
pub fn key_id(name: &str, public: &VerifyingKey) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ALG_ED25519]);
    h.update(public.as_bytes());
    let digest = h.finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// Parses exactly eight hex digits (Go accepts either case; so do we).
fn parse_key_id(text: &str) -> Result<u32, NoteError> {
    if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(NoteError::KeyFormat {
            reason: "key id is not 8 hex digits",
        });
    }
    u32::from_str_radix(text, 16).map_err(|_| NoteError::KeyFormat {
        reason: "key id is not 8 hex digits",
    })
}

/// Decodes `base64(0x01 ‖ 32 bytes)`.
fn parse_key_bytes(text: &str) -> Result<[u8; 32], NoteError> {
    let bytes = B64.decode(text).map_err(|_| NoteError::KeyFormat {
        reason: "key is not standard base64",
    })?;
    let (&alg, key) = bytes.split_first().ok_or(NoteError::KeyFormat {
        reason: "key is empty",
    })?;
    if alg != ALG_ED25519 {
        return Err(NoteError::UnknownAlgorithm { alg });
    }
    key.try_into().map_err(|_| NoteError::KeyLength {
        expected: 32,
        got: key.len(),
    })
}

fn encode_key_bytes(key: &[u8; 32]) -> String {
    let mut bytes = Vec::with_capacity(33);
    bytes.push(ALG_ED25519);
    bytes.extend_from_slice(key);
    B64.encode(bytes)
}

/// A named Ed25519 signing key. Its `Debug` form never shows the secret.
#[derive(Clone)]
pub struct NoteSigner {
    name: String,
    key: SigningKey,
    key_id: u32,
}

impl NoteSigner {
    /// A signer for `name` with `key`.
    pub fn new(name: &str, key: SigningKey) -> Result<Self, NoteError> {
        check_name(name)?;
        let key_id = key_id(name, &key.verifying_key());
        Ok(NoteSigner {
            name: name.to_owned(),
            key,
            key_id,
        })
    }

    /// A fresh random key for `name`.
    pub fn generate(name: &str, rng: &mut impl CryptoRngCore) -> Result<Self, NoteError> {
        Self::new(name, SigningKey::generate(rng))
    }

    /// Parses `PRIVATE+KEY+<name>+<8 hex>+<base64(0x01 ‖ seed)>`.
    pub fn from_text(text: &str) -> Result<Self, NoteError> {
        let rest = text
            .strip_prefix(PRIVATE_KEY_PREFIX)
            .ok_or(NoteError::KeyFormat {
                reason: "signer key does not start with PRIVATE+KEY+",
            })?;
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(NoteError::KeyFormat {
                reason: "signer key is not PRIVATE+KEY+name+id+key",
            });
        };
        check_name(name)?;
        let claimed = parse_key_id(id)?;
        let signer = Self::new(name, SigningKey::from_bytes(&parse_key_bytes(key)?))?;
        if signer.key_id != claimed {
            return Err(NoteError::KeyIdMismatch {
                name: name.to_owned(),
                claimed,
                computed: signer.key_id,
            });
        }
        Ok(signer)
    }

    /// The text form `PRIVATE+KEY+<name>+<8 hex>+<base64(0x01 ‖ seed)>`. Secret: store it with
    /// care.
    pub fn to_text(&self) -> String {
        format!(
            "{PRIVATE_KEY_PREFIX}{}+{:08x}+{}",
            self.name,
            self.key_id,
            encode_key_bytes(self.key.as_bytes())
        )
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The matching verifier.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// Ed25519 (RFC 8032) signature over `message`.
    pub(super) fn sign_bytes(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .finish_non_exhaustive()
    }
}

/// A named Ed25519 public key that verifies note signatures. Text form (also its `Display`,
/// `FromStr` and serde form): `<name>+<8 hex>+<base64(0x01 ‖ public key)>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl NoteVerifier {
    /// A verifier for `name` with `key`. Rejects small-order ("weak") keys.
    pub fn new(name: &str, key: VerifyingKey) -> Result<Self, NoteError> {
        check_name(name)?;
        if key.is_weak() {
            return Err(NoteError::InvalidPublicKey);
        }
        Ok(NoteVerifier {
            name: name.to_owned(),
            key_id: key_id(name, &key),
            key,
        })
    }

    /// Parses `<name>+<8 hex>+<base64(0x01 ‖ public key)>`, checking the key id.
    pub fn from_text(text: &str) -> Result<Self, NoteError> {
        let mut parts = text.splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(NoteError::KeyFormat {
                reason: "verifier key is not name+id+key",
            });
        };
        check_name(name)?;
        let claimed = parse_key_id(id)?;
        // Check the id over the raw key bytes before interpreting them, as Go does: a text
        // whose id does not match is rejected whatever its key bytes are.
        let raw = B64.decode(key).map_err(|_| NoteError::KeyFormat {
            reason: "key is not standard base64",
        })?;
        let mut h = Sha256::new();
        h.update(name.as_bytes());
        h.update([b'\n']);
        h.update(&raw);
        let digest = h.finalize();
        let computed = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
        if computed != claimed {
            return Err(NoteError::KeyIdMismatch {
                name: name.to_owned(),
                claimed,
                computed,
            });
        }
        let bytes = parse_key_bytes(key)?;
        let public = VerifyingKey::from_bytes(&bytes).map_err(|_| NoteError::InvalidPublicKey)?;
        Self::new(name, public)
    }

    /// The text form `<name>+<8 hex>+<base64(0x01 ‖ public key)>`.
    pub fn to_text(&self) -> String {
        format!(
            "{}+{:08x}+{}",
            self.name,
            self.key_id,
            encode_key_bytes(self.key.as_bytes())
        )
    }

    /// The key name.
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

    /// Strict RFC 8032 verification (canonical encodings, no small-order points) of a 64-byte
    /// signature over `message`; any other length fails.
    pub(super) fn verify_bytes(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(bytes) = <[u8; 64]>::try_from(signature) else {
            return false;
        };
        self.key
            .verify_strict(message, &Signature::from_bytes(&bytes))
            .is_ok()
    }
}

text_form!(NoteVerifier, NoteError);

#[cfg(test)]
mod tests {
    use super::*;

    const SIGNER: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const VERIFIER: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";

    #[test]
    fn key_texts_round_trip() {
        let signer = NoteSigner::from_text(SIGNER).unwrap();
        assert_eq!(signer.to_text(), SIGNER);
        assert_eq!(signer.key_id(), 0xc74f20a3);
        assert_eq!(signer.verifier().to_text(), VERIFIER);
        let verifier: NoteVerifier = VERIFIER.parse().unwrap();
        assert_eq!(verifier, signer.verifier());
        assert!(!format!("{signer:?}").contains("AYEK"));
    }

    #[test]
    fn names_follow_the_spec() {
        assert!(is_valid_key_name("example.com/log"));
        assert!(!is_valid_key_name(""));
        assert!(!is_valid_key_name("a b"));
        assert!(!is_valid_key_name("a\u{00a0}b"));
        assert!(!is_valid_key_name("a+b"));
    }

    #[test]
    fn malformed_keys_are_rejected() {
        for bad in [
            "PeterNeumann+c74f20a3",
            "PeterNeumann+C74F20A+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "PeterNeumann++74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        ] {
            assert!(NoteVerifier::from_text(bad).is_err(), "{bad}");
        }
        assert!(NoteSigner::from_text(&SIGNER.replace("c74f20a3", "c74f20a4")).is_err());
        assert!(NoteSigner::from_text(&SIGNER.replace("PRIVATE", "PUBLIC")).is_err());
    }
}
