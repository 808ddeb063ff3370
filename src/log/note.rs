//! C2SP signed-note with Ed25519 keys, byte-compatible with Go's
//! `golang.org/x/mod/sumdb/note`.
//!
//! # Format
//!
//! ```text
//! <text: one or more lines, each ending in 0x0A>
//! 0x0A                                        (the blank separator line)
//! — <key name> <base64(key id ‖ signature)>0x0A   (one line per signature)
//! ```
//!
//! - `—` is U+2014 EM DASH (UTF-8 `E2 80 94`), followed by one space (U+0020); the name is
//!   followed by one space.
//! - key id: 4 bytes, big-endian (see [`key`] for how it is derived); signature: the 64-byte
//!   Ed25519 (RFC 8032) signature over the text bytes exactly, *including* the text's final
//!   newline and *excluding* the blank separator line.
//! - base64 is standard (RFC 4648 §4) with padding.
//! - The whole note is UTF-8 with no ASCII control characters except newline. The text may
//!   contain blank lines: it ends at the *last* blank line of the note.
//!
//! # Opening
//!
//! [`open_note`] follows the spec's rules: a signature whose (name, key id) pair matches a known
//! verifier must verify, or the whole note is rejected; signatures by unknown keys (even sharing
//! a name or an id, but not both, with a known key) are ignored; at least one known signature
//! must verify. Repeated signatures by the same known key are skipped after the first, as Go
//! does. Notes over [`MAX_NOTE_SIZE`] bytes or with more than [`MAX_SIGNATURES`] signature
//! lines are rejected before any signature is checked.
//!
//! Pure computation: no I/O.

pub mod key;

use std::collections::HashSet;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

pub use key::{is_valid_key_name, key_id, NoteSigner, NoteVerifier};

/// Largest note [`open_note`] accepts and [`sign_note`] produces, in bytes (1 MiB).
pub const MAX_NOTE_SIZE: usize = 1 << 20;
/// Most signature lines [`open_note`] parses (the spec requires at least 16).
pub const MAX_SIGNATURES: usize = 100;
/// Start of every signature line: U+2014 EM DASH and a space.
pub const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// Why a key, a text or a note was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// A key name that is empty or contains white space or `+`.
    #[error("invalid key name {name:?}: must be non-empty, without spaces or '+'")]
    InvalidKeyName {
        /// The rejected name.
        name: String,
    },
    /// A key text that does not have the documented shape.
    #[error("malformed key text: {reason}")]
    KeyFormat {
        /// Which part is wrong.
        reason: &'static str,
    },
    /// A key text whose key id does not match its name and key.
    #[error("key id {claimed:08x} does not match the key for {name:?} (computed {computed:08x})")]
    KeyIdMismatch {
        /// The key name.
        name: String,
        /// The id in the text.
        claimed: u32,
        /// The id computed from the name and key.
        computed: u32,
    },
    /// A key of a signature type other than Ed25519 (`0x01`).
    #[error("unsupported signature type 0x{alg:02x}")]
    UnknownAlgorithm {
        /// The type byte.
        alg: u8,
    },
    /// A key of the wrong length.
    #[error("key must be {expected} bytes, got {got}")]
    KeyLength {
        /// 32 for Ed25519.
        expected: usize,
        /// The decoded length.
        got: usize,
    },
    /// 32 bytes that are not a usable Ed25519 public key (not a point, or of small order).
    #[error("not a valid Ed25519 public key")]
    InvalidPublicKey,
    /// An empty note text.
    #[error("note text is empty")]
    EmptyText,
    /// A note text that does not end in a newline.
    #[error("note text does not end in a newline")]
    TextNotTerminated,
    /// An ASCII control character other than newline.
    #[error("control character at byte {offset}")]
    ControlCharacter {
        /// Byte offset in the note or text.
        offset: usize,
    },
    /// A note or text larger than [`MAX_NOTE_SIZE`].
    #[error("note is {size} bytes, more than the {max} allowed")]
    TooLarge {
        /// Its size in bytes.
        size: usize,
        /// [`MAX_NOTE_SIZE`].
        max: usize,
    },
    /// `sign_note` was given no signers.
    #[error("a note needs at least one signer")]
    NoSigners,
    /// `sign_note` was given the same key twice.
    #[error("duplicate signer {name} ({key_id:08x})")]
    DuplicateSigner {
        /// The key name.
        name: String,
        /// The key id.
        key_id: u32,
    },
    /// No blank line separates the text from the signatures.
    #[error("no blank line before the signatures")]
    MissingSignatureBlock,
    /// The signature block is empty or its last line has no newline.
    #[error("signature block is empty or not terminated by a newline")]
    SignatureBlockNotTerminated,
    /// A signature line that is not `— <name> <base64 of at least 5 bytes>`.
    #[error("malformed signature line {line}")]
    MalformedSignatureLine {
        /// 1-based position among the signature lines.
        line: usize,
    },
    /// More than [`MAX_SIGNATURES`] signature lines.
    #[error("more than {max} signatures")]
    TooManySignatures {
        /// [`MAX_SIGNATURES`].
        max: usize,
    },
    /// A signature by a known key that does not verify.
    #[error("signature by {name} ({key_id:08x}) does not verify")]
    InvalidSignature {
        /// The key name.
        name: String,
        /// The key id.
        key_id: u32,
    },
    /// No signature by a known key.
    #[error("no signature by a known key (signed by: {signers:?})")]
    Unverified {
        /// The names on the signatures that were present.
        signers: Vec<String>,
    },
}

/// One signature line of a note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSignature {
    /// The key name.
    pub name: String,
    /// The key id.
    pub key_id: u32,
    /// The signature bytes after the key id (64 bytes for Ed25519).
    pub signature: Vec<u8>,
}

/// An opened note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// The signed text, including its final newline.
    pub text: String,
    /// Every distinct signature line, in note order, verified or not.
    pub signatures: Vec<NoteSignature>,
    /// The names of the known keys whose signatures verified, in note order.
    pub verified: Vec<String>,
}

/// Rejects control characters other than newline.
fn check_characters(text: &str) -> Result<(), NoteError> {
    match text.bytes().position(|b| b < 0x20 && b != b'\n') {
        Some(offset) => Err(NoteError::ControlCharacter { offset }),
        None => Ok(()),
    }
}

fn check_size(size: usize) -> Result<(), NoteError> {
    if size > MAX_NOTE_SIZE {
        return Err(NoteError::TooLarge {
            size,
            max: MAX_NOTE_SIZE,
        });
    }
    Ok(())
}

/// Signs `text` with every signer: returns `text ‖ "\n" ‖` one signature line per signer, in
/// order. `text` must be non-empty, end in a newline and contain no other control characters.
pub fn sign_note(text: &str, signers: &[&NoteSigner]) -> Result<String, NoteError> {
    if text.is_empty() {
        return Err(NoteError::EmptyText);
    }
    if !text.ends_with('\n') {
        return Err(NoteError::TextNotTerminated);
    }
    check_size(text.len())?;
    check_characters(text)?;
    if signers.is_empty() {
        return Err(NoteError::NoSigners);
    }
    let mut seen = HashSet::new();
    for signer in signers {
        if !seen.insert((signer.name(), signer.key_id())) {
            return Err(NoteError::DuplicateSigner {
                name: signer.name().to_owned(),
                key_id: signer.key_id(),
            });
        }
    }
    let note = sign_unchecked(text, signers);
    check_size(note.len())?;
    Ok(note)
}

/// The signed-note bytes for `text`, without checking `text` (callers that build the text
/// themselves, like checkpoints, guarantee it is well formed).
pub(crate) fn sign_unchecked(text: &str, signers: &[&NoteSigner]) -> String {
    let mut note = String::with_capacity(text.len() + 1 + signers.len() * 110);
    note.push_str(text);
    note.push('\n');
    for signer in signers {
        let mut blob = Vec::with_capacity(68);
        blob.extend_from_slice(&signer.key_id().to_be_bytes());
        blob.extend_from_slice(&signer.sign_bytes(text.as_bytes()));
        note.push_str(SIGNATURE_PREFIX);
        note.push_str(signer.name());
        note.push(' ');
        note.push_str(&B64.encode(blob));
        note.push('\n');
    }
    note
}

/// Parses one signature line (without its newline): `— <name> <base64(id ‖ sig)>`.
fn parse_signature_line(line: &str) -> Option<NoteSignature> {
    let rest = line.strip_prefix(SIGNATURE_PREFIX)?;
    let (name, encoded) = rest.split_once(' ')?;
    if !is_valid_key_name(name) || encoded.is_empty() {
        return None;
    }
    let blob = B64.decode(encoded).ok()?;
    if blob.len() < 5 {
        return None;
    }
    let (id, signature) = blob.split_at(4);
    Some(NoteSignature {
        name: name.to_owned(),
        key_id: u32::from_be_bytes(id.try_into().ok()?),
        signature: signature.to_vec(),
    })
}

/// Parses a signed note and verifies it against the known `verifiers` (see the module doc for
/// the rules).
pub fn open_note(msg: &str, verifiers: &[&NoteVerifier]) -> Result<Note, NoteError> {
    check_size(msg.len())?;
    check_characters(msg)?;
    let split = msg.rfind("\n\n").ok_or(NoteError::MissingSignatureBlock)?;
    let (text, block) = (&msg[..=split], &msg[split + 2..]);
    let lines = block
        .strip_suffix('\n')
        .ok_or(NoteError::SignatureBlockNotTerminated)?;

    let mut note = Note {
        text: text.to_owned(),
        signatures: Vec::new(),
        verified: Vec::new(),
    };
    let mut seen_known = HashSet::new();
    let mut seen_unknown = HashSet::new();
    for (i, line) in lines.split('\n').enumerate() {
        if i >= MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures {
                max: MAX_SIGNATURES,
            });
        }
        let sig =
            parse_signature_line(line).ok_or(NoteError::MalformedSignatureLine { line: i + 1 })?;
        let known = verifiers
            .iter()
            .find(|v| v.name() == sig.name && v.key_id() == sig.key_id);
        match known {
            None => {
                if seen_unknown.insert(line) {
                    note.signatures.push(sig);
                }
            }
            Some(verifier) => {
                if !seen_known.insert((verifier.name(), verifier.key_id())) {
                    continue;
                }
                if !verifier.verify_bytes(text.as_bytes(), &sig.signature) {
                    return Err(NoteError::InvalidSignature {
                        name: sig.name,
                        key_id: sig.key_id,
                    });
                }
                note.verified.push(sig.name.clone());
                note.signatures.push(sig);
            }
        }
    }
    if note.verified.is_empty() {
        return Err(NoteError::Unverified {
            signers: note.signatures.into_iter().map(|s| s.name).collect(),
        });
    }
    Ok(note)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIGNER: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";

    fn signer() -> NoteSigner {
        NoteSigner::from_text(SIGNER).unwrap()
    }

    #[test]
    fn sign_then_open() {
        let s = signer();
        let v = s.verifier();
        let text = "hello\n\nworld\n";
        let signed = sign_note(text, &[&s]).unwrap();
        let note = open_note(&signed, &[&v]).unwrap();
        assert_eq!(note.text, text);
        assert_eq!(note.verified, vec!["PeterNeumann".to_owned()]);
        assert_eq!(note.signatures.len(), 1);
        assert_eq!(note.signatures[0].key_id, 0xc74f20a3);
    }

    #[test]
    fn bad_texts_are_not_signed() {
        let s = signer();
        assert_eq!(sign_note("", &[&s]), Err(NoteError::EmptyText));
        assert_eq!(sign_note("a", &[&s]), Err(NoteError::TextNotTerminated));
        assert_eq!(
            sign_note("a\rb\n", &[&s]),
            Err(NoteError::ControlCharacter { offset: 1 })
        );
        assert_eq!(sign_note("a\n", &[]), Err(NoteError::NoSigners));
        assert!(matches!(
            sign_note("a\n", &[&s, &s]),
            Err(NoteError::DuplicateSigner { .. })
        ));
    }

    #[test]
    fn malformed_notes_are_rejected() {
        let s = signer();
        let v = s.verifier();
        let signed = sign_note("a\n", &[&s]).unwrap();
        let cases = [
            signed.trim_end_matches('\n').to_owned(),
            signed.replacen("\n\n", "\n", 1),
            signed.replace('\u{2014}', "-"),
            signed.replace("PeterNeumann ", "PeterNeumann  "),
            format!("{signed}\n"),
            signed.replace("a\n", "a\t\n"),
            "a\n\n".to_owned(),
        ];
        for bad in cases {
            assert!(open_note(&bad, &[&v]).is_err(), "{bad:?}");
        }
        let many = format!("a\n\n{}", signed[3..].repeat(MAX_SIGNATURES + 1));
        assert_eq!(
            open_note(&many, &[&v]),
            Err(NoteError::TooManySignatures {
                max: MAX_SIGNATURES
            })
        );
        let huge = format!("{}\n\n{}", "a".repeat(MAX_NOTE_SIZE), &signed[3..]);
        assert!(matches!(
            open_note(&huge, &[&v]),
            Err(NoteError::TooLarge { .. })
        ));
    }

    #[test]
    fn unknown_signatures_are_ignored_but_needed_known_one() {
        let s = signer();
        let other =
            NoteSigner::new("other", ed25519_dalek::SigningKey::from_bytes(&[7; 32])).unwrap();
        let signed = sign_note("a\n", &[&other, &s]).unwrap();
        let note = open_note(&signed, &[&s.verifier()]).unwrap();
        assert_eq!(note.signatures.len(), 2);
        assert_eq!(note.verified, vec!["PeterNeumann".to_owned()]);
        // Only the unknown signer is known to nobody: rejected.
        let only_other = sign_note("a\n", &[&other]).unwrap();
        assert_eq!(
            open_note(&only_other, &[&s.verifier()]),
            Err(NoteError::Unverified {
                signers: vec!["other".to_owned()]
            })
        );
        // Same name, other key (so another id): unknown, ignored.
        let impostor = NoteSigner::new(
            "PeterNeumann",
            ed25519_dalek::SigningKey::from_bytes(&[9; 32]),
        )
        .unwrap();
        let both = sign_note("a\n", &[&impostor, &s]).unwrap();
        assert!(open_note(&both, &[&s.verifier()]).is_ok());
    }

    #[test]
    fn a_known_key_with_a_bad_signature_rejects_the_note() {
        let s = signer();
        let signed = sign_note("a\n", &[&s]).unwrap();
        let tampered = signed.replacen("a\n", "b\n", 1);
        assert!(matches!(
            open_note(&tampered, &[&s.verifier()]),
            Err(NoteError::InvalidSignature { .. })
        ));
    }
}
