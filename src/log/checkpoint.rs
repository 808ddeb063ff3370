//! C2SP tlog-checkpoint: a log's signed tree head, as a signed note (see [`super::note`]).
//!
//! # Note text
//!
//! ```text
//! <origin>0x0A
//! <tree size, ASCII decimal, no leading zeros ("0" for the empty tree)>0x0A
//! <root hash, standard base64 of the 32-byte RFC 6962 root (44 characters)>0x0A
//! <extension line>0x0A   (zero or more, each non-empty; opaque)
//! ```
//!
//! The log signs exactly these bytes with its Ed25519 note key (signature over the text,
//! trailing newline included). By the spec's convention, followed here strictly, the log's key
//! name is its origin: [`Checkpoint::open`] rejects a checkpoint whose origin is not the
//! verifier's name, so a key for one log can never vouch for another log's tree.
//!
//! Parsing is strict (no leading zeros, no sign, exactly 32 bytes of canonical base64, no empty
//! lines) so that one tree head has exactly one text form.
//!
//! Pure computation: no I/O.

use serde::{Deserialize, Serialize};

use super::hash::Hash;
use super::note::{
    is_valid_key_name, open_note, sign_unchecked, NoteError, NoteSigner, NoteVerifier,
};

/// Why a checkpoint was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The signed note itself is malformed or does not verify.
    #[error("checkpoint note: {0}")]
    Note(#[from] NoteError),
    /// The text does not end in a newline.
    #[error("checkpoint text does not end in a newline")]
    NotTerminated,
    /// An ASCII control character other than newline.
    #[error("control character at byte {offset} of the checkpoint text")]
    ControlCharacter {
        /// Byte offset in the text.
        offset: usize,
    },
    /// One of the three mandatory lines is missing.
    #[error("checkpoint has no {line} line")]
    MissingLine {
        /// `"origin"`, `"size"` or `"root"`.
        line: &'static str,
    },
    /// An empty origin line.
    #[error("checkpoint origin is empty")]
    EmptyOrigin,
    /// An origin that cannot be a key name (white space or `+`), given to [`Checkpoint::new`].
    #[error("origin {origin:?} is not a valid key name")]
    InvalidOrigin {
        /// The rejected origin.
        origin: String,
    },
    /// A size line that is not canonical ASCII decimal fitting 64 bits.
    #[error("checkpoint size {text:?} is not a canonical decimal u64")]
    BadSize {
        /// The line as found.
        text: String,
    },
    /// A root line that is not standard base64 of 32 bytes.
    #[error("checkpoint root {text:?} is not base64 of 32 bytes")]
    BadRoot {
        /// The line as found.
        text: String,
    },
    /// An empty extension line.
    #[error("extension line {line} is empty")]
    EmptyExtension {
        /// 1-based line number in the text.
        line: usize,
    },
    /// The checkpoint is signed by its key but names another origin.
    #[error("checkpoint origin {origin:?} is not the key name {key_name:?}")]
    OriginMismatch {
        /// The origin line.
        origin: String,
        /// The verifier's key name.
        key_name: String,
    },
}

/// A log's tree head: origin, size and root, plus optional opaque extension lines.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The log's identity (its key name).
    pub origin: String,
    /// Number of leaves.
    pub size: u64,
    /// RFC 6962 root hash of the first `size` leaves.
    pub root: Hash,
    /// Extension lines, without their newlines; each non-empty.
    pub extensions: Vec<String>,
}

/// Parses the size line: `0`, or a non-zero digit then digits, fitting u64.
fn parse_size(text: &str) -> Option<u64> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if canonical {
        text.parse().ok()
    } else {
        None
    }
}

impl Checkpoint {
    /// A checkpoint without extensions. The origin must be a valid key name, since it is the
    /// name of the log's signing key.
    pub fn new(origin: &str, size: u64, root: Hash) -> Result<Self, CheckpointError> {
        if !is_valid_key_name(origin) {
            return Err(CheckpointError::InvalidOrigin {
                origin: origin.to_owned(),
            });
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions: Vec::new(),
        })
    }

    /// The note text: `origin\nsize\nbase64(root)\n` then each extension line and `\n`.
    pub fn to_text(&self) -> String {
        let mut text = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            self.root.to_base64()
        );
        for line in &self.extensions {
            text.push_str(line);
            text.push('\n');
        }
        text
    }

    /// Parses a note text (not the signed note: see [`Checkpoint::open`]).
    pub fn parse(text: &str) -> Result<Self, CheckpointError> {
        let body = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::NotTerminated)?;
        if let Some(offset) = text.bytes().position(|b| b < 0x20 && b != b'\n') {
            return Err(CheckpointError::ControlCharacter { offset });
        }
        let mut lines = body.split('\n');
        let origin = lines
            .next()
            .ok_or(CheckpointError::MissingLine { line: "origin" })?;
        if origin.is_empty() {
            return Err(CheckpointError::EmptyOrigin);
        }
        let size_line = lines
            .next()
            .ok_or(CheckpointError::MissingLine { line: "size" })?;
        let size = parse_size(size_line).ok_or_else(|| CheckpointError::BadSize {
            text: size_line.to_owned(),
        })?;
        let root_line = lines
            .next()
            .ok_or(CheckpointError::MissingLine { line: "root" })?;
        let root = Hash::from_base64(root_line).map_err(|_| CheckpointError::BadRoot {
            text: root_line.to_owned(),
        })?;
        let mut extensions = Vec::new();
        for (i, line) in lines.enumerate() {
            if line.is_empty() {
                return Err(CheckpointError::EmptyExtension { line: i + 4 });
            }
            extensions.push(line.to_owned());
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }

    /// The full signed note: [`Checkpoint::to_text`] followed by the blank line and `signer`'s
    /// signature line.
    ///
    /// A checkpoint built with [`Checkpoint::new`] or [`Checkpoint::parse`] always signs to a
    /// note that [`Checkpoint::open`] accepts; one whose public fields were set to something
    /// [`Checkpoint::parse`] rejects (a newline in the origin, an empty extension) still gets
    /// signed, but no verifier will open the result.
    pub fn sign(&self, signer: &NoteSigner) -> String {
        sign_unchecked(&self.to_text(), &[signer])
    }

    /// Opens a signed checkpoint: the note must carry a valid signature by `verifier` (other
    /// signatures, such as witness cosignatures, are ignored), its text must parse, and its
    /// origin must be the verifier's key name.
    pub fn open(note: &str, verifier: &NoteVerifier) -> Result<Self, CheckpointError> {
        let opened = open_note(note, &[verifier])?;
        let checkpoint = Self::parse(&opened.text)?;
        if checkpoint.origin != verifier.name() {
            return Err(CheckpointError::OriginMismatch {
                origin: checkpoint.origin,
                key_name: verifier.name().to_owned(),
            });
        }
        Ok(checkpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::hash::empty_root;

    fn signer(name: &str) -> NoteSigner {
        NoteSigner::new(name, ed25519_dalek::SigningKey::from_bytes(&[1; 32])).unwrap()
    }

    #[test]
    fn text_round_trip() {
        let mut cp = Checkpoint::new("example.com/log", 20852163, empty_root()).unwrap();
        cp.extensions.push("ext one".to_owned());
        let text = cp.to_text();
        assert_eq!(
            text,
            "example.com/log\n20852163\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\next one\n"
        );
        assert_eq!(Checkpoint::parse(&text).unwrap(), cp);
    }

    #[test]
    fn strict_parsing() {
        let root = empty_root().to_base64();
        for bad in [
            format!("o\n1\n{root}"),
            format!("\n1\n{root}\n"),
            format!("o\n01\n{root}\n"),
            format!("o\n+1\n{root}\n"),
            format!("o\n\n{root}\n"),
            format!("o\n18446744073709551616\n{root}\n"),
            "o\n1\nAAAA\n".to_owned(),
            format!("o\n1\n{}\n", root.trim_end_matches('=')),
            format!("o\n1\n{root}\n\n"),
            format!("o\n1\n{root}\nx\n\ny\n"),
            format!("o\r\n1\n{root}\n"),
            "o\n1\n".to_owned(),
        ] {
            assert!(Checkpoint::parse(&bad).is_err(), "{bad:?}");
        }
        assert!(Checkpoint::parse(&format!("o\n0\n{root}\n")).is_ok());
        assert!(Checkpoint::new("a log", 0, empty_root()).is_err());
    }

    #[test]
    fn sign_and_open() {
        let s = signer("example.com/log");
        let cp = Checkpoint::new("example.com/log", 3, empty_root()).unwrap();
        let note = cp.sign(&s);
        assert!(note.starts_with(&cp.to_text()));
        assert_eq!(Checkpoint::open(&note, &s.verifier()).unwrap(), cp);

        // Signed by the right key, but for another origin.
        let other = Checkpoint::new("example.com/other", 3, empty_root()).unwrap();
        assert!(matches!(
            Checkpoint::open(&other.sign(&s), &s.verifier()),
            Err(CheckpointError::OriginMismatch { .. })
        ));
        // Tampered size.
        let tampered = note.replacen("\n3\n", "\n4\n", 1);
        assert!(matches!(
            Checkpoint::open(&tampered, &s.verifier()),
            Err(CheckpointError::Note(NoteError::InvalidSignature { .. }))
        ));
        // Unknown key.
        assert!(Checkpoint::open(&note, &signer("example.com/x").verifier()).is_err());
    }
}
