//! C2SP tlog-proof: an offline proof that an entry is in a log, as a `.tlog-proof` text file
//! carrying the (cosigned) checkpoint it is proved against.
//!
//! # Text
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! extra <base64 of opaque extra data>          (optional; never trusted)
//! index <leaf index, ASCII decimal, no leading zeros>
//! <base64 hash>                                (zero or more: the RFC 6962 inclusion proof,
//!                                               leaf's sibling first)
//! <empty line>
//! <the signed checkpoint note, verbatim, cosignatures included>
//! ```
//!
//! Lodestone puts the entry's leaf bytes (its bincode encoding) in `extra`, so a verifier can
//! recompute the leaf hash `SHA-256(0x00 ‖ leaf)` and decode the event without asking the log.
//!
//! [`TlogProof::verify`] follows the spec's four steps: the caller gives the leaf hash; the
//! checkpoint must satisfy a [`Policy`] (log signature and witness quorum); the inclusion proof
//! must lead from the leaf to the checkpoint's root.
//!
//! Pure computation: no I/O.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use super::hash::Hash;
use super::note::NoteVerifier;
use super::policy::{Policy, PolicyCheckError, WitnessedCheckpoint};
use super::tree::{verify_inclusion, ProofError};

/// The first line of every proof.
pub const TLOG_PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";
/// Most inclusion proof lines accepted (a tree of 2^63 leaves needs 63).
pub const MAX_PROOF_LINES: usize = 63;
/// Largest proof text accepted, in bytes.
pub const MAX_PROOF_TEXT: usize = 1 << 20;

/// Why a proof text was rejected or did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlogProofError {
    /// A text that does not have the documented shape.
    #[error("malformed tlog-proof: {reason}")]
    Malformed {
        /// What is wrong.
        reason: &'static str,
    },
    /// The checkpoint does not satisfy the policy.
    #[error(transparent)]
    Checkpoint(#[from] PolicyCheckError),
    /// The inclusion proof does not lead to the checkpoint's root.
    #[error("inclusion proof: {0}")]
    Inclusion(#[from] ProofError),
}

/// A parsed `.tlog-proof`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlogProof {
    /// Opaque extra data (Lodestone: the entry's leaf bytes).
    pub extra: Option<Vec<u8>>,
    /// The entry's index.
    pub index: u64,
    /// The inclusion proof, leaf's sibling first.
    pub proof: Vec<Hash>,
    /// The signed checkpoint note, verbatim.
    pub checkpoint: String,
}

fn malformed(reason: &'static str) -> TlogProofError {
    TlogProofError::Malformed { reason }
}

/// Canonical decimal: `0`, or digits without a leading zero.
fn parse_decimal(text: &str) -> Option<u64> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    canonical.then(|| text.parse().ok()).flatten()
}

impl TlogProof {
    /// The proof text.
    pub fn to_text(&self) -> String {
        let mut text = format!("{TLOG_PROOF_HEADER}\n");
        if let Some(extra) = &self.extra {
            text.push_str(&format!("extra {}\n", B64.encode(extra)));
        }
        text.push_str(&format!("index {}\n", self.index));
        for hash in &self.proof {
            text.push_str(&hash.to_base64());
            text.push('\n');
        }
        text.push('\n');
        text.push_str(&self.checkpoint);
        text
    }

    /// Parses a proof text. The checkpoint is kept verbatim and only checked by
    /// [`TlogProof::verify`].
    pub fn parse(text: &str) -> Result<TlogProof, TlogProofError> {
        if text.len() > MAX_PROOF_TEXT {
            return Err(malformed("proof is too large"));
        }
        let (head, checkpoint) = text
            .split_once("\n\n")
            .ok_or(malformed("no empty line before the checkpoint"))?;
        let mut lines = head.split('\n');
        if lines.next() != Some(TLOG_PROOF_HEADER) {
            return Err(malformed("first line is not c2sp.org/tlog-proof@v1"));
        }
        let mut line = lines.next().ok_or(malformed("no index line"))?;
        let mut extra = None;
        if let Some(encoded) = line.strip_prefix("extra ") {
            extra = Some(
                B64.decode(encoded)
                    .map_err(|_| malformed("extra is not standard base64"))?,
            );
            line = lines.next().ok_or(malformed("no index line"))?;
        }
        let index = line
            .strip_prefix("index ")
            .and_then(parse_decimal)
            .ok_or(malformed("index line is not `index <decimal>`"))?;
        let mut proof = Vec::new();
        for line in lines {
            if proof.len() == MAX_PROOF_LINES {
                return Err(malformed("more than 63 inclusion proof lines"));
            }
            proof.push(
                Hash::from_base64(line)
                    .map_err(|_| malformed("proof line is not base64 of 32 bytes"))?,
            );
        }
        if checkpoint.is_empty() {
            return Err(malformed("no checkpoint after the empty line"));
        }
        Ok(TlogProof {
            extra,
            index,
            proof,
            checkpoint: checkpoint.to_owned(),
        })
    }

    /// Verifies the proof for an entry whose leaf hash is `leaf`: the checkpoint satisfies
    /// `policy` (with `log` as the log key when given, else the policy's log for the origin),
    /// and the inclusion proof binds `leaf` at [`TlogProof::index`] to its root.
    pub fn verify(
        &self,
        leaf: &Hash,
        policy: &Policy,
        log: Option<&NoteVerifier>,
    ) -> Result<WitnessedCheckpoint, TlogProofError> {
        let witnessed = match log {
            Some(log) => policy.verify_checkpoint_of(&self.checkpoint, log)?,
            None => policy.verify_checkpoint(&self.checkpoint)?,
        };
        verify_inclusion(
            leaf,
            self.index,
            witnessed.checkpoint.size,
            &self.proof,
            &witnessed.checkpoint.root,
        )?;
        Ok(witnessed)
    }
}

#[cfg(test)]
mod tests;
