//! A transparency-log witness (c2sp.org/tlog-witness) and the log side that talks to witnesses.
//!
//! - [`Witness`]: checks `add-checkpoint` requests against the logs it is configured for and
//!   the latest checkpoint it holds per origin ([`state`]), persists the new one durably, and
//!   answers `cosignature/v1` lines (c2sp.org/tlog-cosignature).
//! - [`server`]: its HTTP face, `POST /add-checkpoint` and `GET /<origin hash>/checkpoint`.
//! - [`client`]: one witness seen from a log (or a monitor): blocking HTTP calls.
//! - [`cosigner`]: the log's task that follows the sequencer head and gathers a quorum of
//!   cosignatures for its checkpoints (c2sp.org/tlog-policy).
//! - [`protocol`]: the wire formats.
//!
//! # What a witness checks, in the spec's order, and how it answers
//!
//! | check | answer |
//! | --- | --- |
//! | the body parses (`old N`, ≤ 63 proof lines, blank line, a checkpoint) | `400` |
//! | the origin is one of the configured logs | `404` |
//! | a signature by a configured key for that origin verifies (a matching key with a bad signature also fails) | `403` |
//! | `old ≤ size` | `400` |
//! | `old` is the size of the latest checkpoint held for the origin (0 if none) | `409`, body `<held size>\n`, `text/x.tlog.size` |
//! | a size-0 checkpoint has the empty root | `422` |
//! | `old = 0` comes with an empty proof; otherwise the RFC 6962 consistency proof from the held checkpoint verifies; same size means same root | `422` |
//!
//! Check-and-persist is atomic: one lock covers reading the held size, verifying, writing the
//! file and updating memory, so two concurrent requests can never roll a log back (the race
//! the spec describes).

pub mod client;
pub mod cosigner;
pub mod protocol;
pub mod server;
pub mod state;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use crate::log::checkpoint::Checkpoint;
use crate::log::cosignature::CosignatureSigner;
use crate::log::hash::empty_root;
use crate::log::note::{open_note, NoteError, NoteSignature, NoteVerifier, SIGNATURE_PREFIX};
use crate::log::tree::verify_consistency;

use self::protocol::{AddCheckpoint, MalformedRequest};
use self::state::{CheckpointStore, Latest, StateError};

/// Why an `add-checkpoint` was not cosigned. Each maps to one HTTP status ([`Self::status`]).
#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    /// The body is malformed (400).
    #[error(transparent)]
    Malformed(#[from] MalformedRequest),
    /// The checkpoint's origin is not a configured log (404).
    #[error("unknown log {origin:?}")]
    UnknownLog {
        /// The origin line.
        origin: String,
    },
    /// No valid signature by the log's configured key (403).
    #[error("checkpoint is not validly signed by a configured key for {origin}: {source}")]
    BadSignature {
        /// The origin line.
        origin: String,
        /// Why.
        source: NoteError,
    },
    /// The checkpoint text does not parse (400).
    #[error("checkpoint text: {0}")]
    BadCheckpoint(String),
    /// `old` is larger than the checkpoint's size (400).
    #[error("old size {old} is larger than the checkpoint size {size}")]
    OldTooLarge {
        /// The request's old size.
        old: u64,
        /// The checkpoint's size.
        size: u64,
    },
    /// `old` is not the size the witness holds (409).
    #[error("old size {old} does not match the latest cosigned size {held}")]
    Conflict {
        /// The request's old size.
        old: u64,
        /// The size the witness holds.
        held: u64,
    },
    /// The checkpoint is not consistent with the one the witness holds (422).
    #[error("not consistent with the latest cosigned checkpoint: {reason}")]
    Inconsistent {
        /// Why.
        reason: String,
    },
    /// The state could not be written (500); nothing was cosigned.
    #[error(transparent)]
    State(#[from] StateError),
    /// The signing time is out of range (500).
    #[error("cannot cosign: {0}")]
    Cosign(String),
}

impl WitnessError {
    /// The HTTP status tlog-witness assigns to this refusal.
    pub fn status(&self) -> u16 {
        match self {
            WitnessError::Malformed(_)
            | WitnessError::BadCheckpoint(_)
            | WitnessError::OldTooLarge { .. } => 400,
            WitnessError::UnknownLog { .. } => 404,
            WitnessError::BadSignature { .. } => 403,
            WitnessError::Conflict { .. } => 409,
            WitnessError::Inconsistent { .. } => 422,
            WitnessError::State(_) | WitnessError::Cosign(_) => 500,
        }
    }

    /// The stable problem code (docs/WITNESS.md).
    pub fn code(&self) -> &'static str {
        match self {
            WitnessError::Malformed(_) => "malformed_request",
            WitnessError::BadCheckpoint(_) => "malformed_checkpoint",
            WitnessError::OldTooLarge { .. } => "old_size_too_large",
            WitnessError::UnknownLog { .. } => "unknown_log",
            WitnessError::BadSignature { .. } => "bad_log_signature",
            WitnessError::Conflict { .. } => "size_conflict",
            WitnessError::Inconsistent { .. } => "inconsistent_checkpoint",
            WitnessError::State(_) | WitnessError::Cosign(_) => "internal",
        }
    }
}

/// A note signature line, newline included.
fn signature_line(sig: &NoteSignature) -> String {
    let mut blob = sig.key_id.to_be_bytes().to_vec();
    blob.extend_from_slice(&sig.signature);
    format!("{SIGNATURE_PREFIX}{} {}\n", sig.name, B64.encode(blob))
}

/// A witness: its key, the logs it follows, and what it has cosigned.
#[derive(Debug)]
pub struct Witness {
    signer: CosignatureSigner,
    logs: HashMap<String, Vec<NoteVerifier>>,
    // A std mutex, held across the fsync: check-and-persist must be atomic per the spec, and
    // callers run `add_checkpoint` on a blocking thread, never on an async worker.
    state: Mutex<CheckpointStore>,
}

impl Witness {
    /// A witness signing with `signer` for the logs whose keys are `logs` (a log's key name
    /// is its origin; several keys per origin are allowed, for rotation), with its state in
    /// `dir`.
    pub fn open(
        signer: CosignatureSigner,
        logs: Vec<NoteVerifier>,
        dir: &Path,
    ) -> Result<Witness, StateError> {
        let mut by_origin: HashMap<String, Vec<NoteVerifier>> = HashMap::new();
        for key in logs {
            by_origin
                .entry(key.name().to_owned())
                .or_default()
                .push(key);
        }
        Ok(Witness {
            signer,
            logs: by_origin,
            state: Mutex::new(CheckpointStore::open(dir)?),
        })
    }

    /// The witness's signing key (for its verifier key).
    pub fn signer(&self) -> &CosignatureSigner {
        &self.signer
    }

    /// Handles one `add-checkpoint` body at time `now` (seconds since the Epoch): returns the
    /// response body (one cosignature line) or the refusal. Blocking (it fsyncs).
    pub fn add_checkpoint(&self, body: &[u8], now: u64) -> Result<String, WitnessError> {
        let request = AddCheckpoint::parse(body)?;
        let origin = request.checkpoint.split('\n').next().unwrap_or_default();
        let keys = self
            .logs
            .get(origin)
            .ok_or_else(|| WitnessError::UnknownLog {
                origin: origin.to_owned(),
            })?;
        let key_refs: Vec<&NoteVerifier> = keys.iter().collect();
        let opened = open_note(&request.checkpoint, &key_refs).map_err(|source| {
            WitnessError::BadSignature {
                origin: origin.to_owned(),
                source,
            }
        })?;
        let checkpoint = Checkpoint::parse(&opened.text)
            .map_err(|e| WitnessError::BadCheckpoint(e.to_string()))?;
        if checkpoint.origin != origin {
            return Err(WitnessError::BadCheckpoint("origin line".into()));
        }
        if request.old_size > checkpoint.size {
            return Err(WitnessError::OldTooLarge {
                old: request.old_size,
                size: checkpoint.size,
            });
        }
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let held = state.get(origin);
        let held_size = held.map_or(0, |l| l.checkpoint.size);
        if request.old_size != held_size {
            return Err(WitnessError::Conflict {
                old: request.old_size,
                held: held_size,
            });
        }
        check_consistency(&request, &checkpoint, held)?;

        let cosignature = self
            .signer
            .cosign(&opened.text, now)
            .map_err(|e| WitnessError::Cosign(e.to_string()))?;
        let line = cosignature.to_line();
        let mut note = format!("{}\n", opened.text);
        for sig in opened.signatures.iter().filter(|s| {
            keys.iter()
                .any(|k| k.name() == s.name && k.key_id() == s.key_id)
        }) {
            note.push_str(&signature_line(sig));
        }
        note.push_str(&line);
        state.put(Latest { checkpoint, note })?;
        Ok(line)
    }

    /// The cosigned note for the origin whose hex SHA-256 is `origin_hash`.
    pub fn latest_by_hash(&self, origin_hash: &str) -> Option<String> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.by_hash(origin_hash).map(|l| l.note.clone())
    }

    /// The size held for `origin` (0 if none).
    pub fn held_size(&self, origin: &str) -> u64 {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.get(origin).map_or(0, |l| l.checkpoint.size)
    }
}

/// The 422 checks: empty tree root, empty proof from zero, consistency with the held
/// checkpoint, and equal roots at equal sizes.
fn check_consistency(
    request: &AddCheckpoint,
    checkpoint: &Checkpoint,
    held: Option<&Latest>,
) -> Result<(), WitnessError> {
    let inconsistent = |reason: String| WitnessError::Inconsistent { reason };
    if checkpoint.size == 0 && checkpoint.root != empty_root() {
        return Err(inconsistent(
            "a size-0 checkpoint must have the empty root".into(),
        ));
    }
    let Some(held) = held.filter(|_| request.old_size > 0) else {
        if !request.proof.is_empty() {
            return Err(inconsistent("old size 0 takes an empty proof".into()));
        }
        return Ok(());
    };
    if held.checkpoint.size == checkpoint.size {
        if held.checkpoint.root != checkpoint.root || !request.proof.is_empty() {
            return Err(inconsistent(format!(
                "same size {} with a different root or a non-empty proof",
                checkpoint.size
            )));
        }
        return Ok(());
    }
    verify_consistency(
        held.checkpoint.size,
        checkpoint.size,
        &request.proof,
        &held.checkpoint.root,
        &checkpoint.root,
    )
    .map_err(|e| inconsistent(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::note::NoteSigner;
    use crate::log::tree::{consistency_proof, root_hash, MemoryHashes};
    use crate::log::{leaf_hash, Hash};
    use ed25519_dalek::SigningKey;

    fn tree(n: u8) -> MemoryHashes {
        MemoryHashes::from_leaves((0..n).map(|i| leaf_hash(&[i])))
    }

    fn request(log: &NoteSigner, old: u64, size: u64) -> Vec<u8> {
        let t = tree(size as u8);
        let root: Hash = root_hash(size, &t).unwrap();
        AddCheckpoint {
            old_size: old,
            proof: consistency_proof(old, size, &t).unwrap(),
            checkpoint: Checkpoint::new(log.name(), size, root).unwrap().sign(log),
        }
        .to_text()
        .into_bytes()
    }

    #[test]
    fn concurrent_requests_never_roll_the_witness_back() {
        let dir = tempfile::tempdir().unwrap();
        let log = NoteSigner::new("race.test/log", SigningKey::from_bytes(&[7; 32])).unwrap();
        let signer = CosignatureSigner::new("w.test", SigningKey::from_bytes(&[8; 32])).unwrap();
        let witness = Witness::open(signer.clone(), vec![log.verifier()], dir.path()).unwrap();
        witness.add_checkpoint(&request(&log, 0, 5), 1).unwrap();
        // Eight clients all believe the witness holds 5 and race with sizes 6..=13: exactly
        // one wins, the others see 409 with the winner's size.
        let outcomes: Vec<Result<u64, u64>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (6..=13u64)
                .map(|size| {
                    let (witness, log) = (&witness, &log);
                    scope.spawn(
                        move || match witness.add_checkpoint(&request(log, 5, size), 2) {
                            Ok(_) => Ok(size),
                            Err(WitnessError::Conflict { held, .. }) => Err(held),
                            Err(e) => panic!("{e}"),
                        },
                    )
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let winners: Vec<u64> = outcomes.iter().filter_map(|o| o.ok()).collect();
        assert_eq!(winners.len(), 1, "{outcomes:?}");
        assert!(outcomes
            .iter()
            .all(|o| o.err().is_none_or(|held| held == winners[0])));
        assert_eq!(witness.held_size("race.test/log"), winners[0]);
        // A reopened witness holds the same.
        drop(witness);
        let reopened = Witness::open(signer, vec![log.verifier()], dir.path()).unwrap();
        assert_eq!(reopened.held_size("race.test/log"), winners[0]);
    }
}
