//! C2SP tlog-policy: which logs and witnesses a client trusts, and the quorum of witness
//! cosignatures a checkpoint needs before the client believes it.
//!
//! # File
//!
//! Lines end in `\n`; items are separated by runs of spaces and tabs; blank lines and lines
//! whose first non-blank character is `#` are ignored. Allowed bytes: tab, newline, `0x20–0x7E`
//! and `0x80–0xFF` (names are opaque byte strings; we read the file as UTF-8).
//!
//! ```text
//! log <vkey> [<url>]                 a log key (signature type 0x01; its name is the origin)
//! witness <name> <vkey> [<url>]      a witness key (cosignature/v1, type 0x04)
//! group <name> all|any|<k> <name>... k of the members (witnesses or earlier groups)
//! quorum <name>|none                 exactly once
//! ```
//!
//! Names are defined before they are used (so groups cannot be circular), a name is defined
//! once, `none` is reserved, a group lists each member at most once and needs `1 ≤ k ≤ n`, and
//! two log or witness lines may not carry the same public key.
//!
//! [`Policy::verify_checkpoint`] applies the policy to a signed checkpoint: a signature by one
//! of the logs (its key name is the origin), every cosignature by a known witness must verify
//! (a known key with a bad signature rejects the note, as c2sp.org/signed-note recommends),
//! and the witnesses that did verify must satisfy the quorum — otherwise the error names the
//! witnesses whose cosignatures would have been needed.
//!
//! Pure computation: no I/O.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::checkpoint::{Checkpoint, CheckpointError};
use super::cosignature::{Cosignature, CosignatureError, CosignatureVerifier};
use super::note::{open_note, NoteError, NoteVerifier};

/// Implementation limits (the spec recommends supporting at least 32 of each).
pub const MAX_POLICY_ITEMS: usize = 256;

/// Why a policy file was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// A byte the spec does not allow (a control character other than tab and newline).
    #[error("line {line}: byte 0x{byte:02x} is not allowed in a policy")]
    BadByte {
        /// 1-based line.
        line: usize,
        /// The byte.
        byte: u8,
    },
    /// A line that is not one of the four kinds, or has the wrong number of items.
    #[error("line {line}: {reason}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A log vkey that does not parse.
    #[error("line {line}: log key: {source}")]
    LogKey {
        /// 1-based line.
        line: usize,
        /// Why.
        source: NoteError,
    },
    /// A witness vkey that does not parse.
    #[error("line {line}: witness key: {source}")]
    WitnessKey {
        /// 1-based line.
        line: usize,
        /// Why.
        source: CosignatureError,
    },
    /// A name defined twice, or the reserved `none`.
    #[error("line {line}: name {name:?} is already defined or reserved")]
    DuplicateName {
        /// 1-based line.
        line: usize,
        /// The name.
        name: String,
    },
    /// Two logs or two witnesses with the same public key.
    #[error("line {line}: duplicate public key")]
    DuplicateKey {
        /// 1-based line.
        line: usize,
    },
    /// A name used before (or without) being defined.
    #[error("line {line}: {name:?} is not defined on an earlier line")]
    UndefinedName {
        /// 1-based line.
        line: usize,
        /// The name.
        name: String,
    },
    /// No quorum line, or more than one.
    #[error("a policy needs exactly one quorum line, found {found}")]
    QuorumCount {
        /// How many were found.
        found: usize,
    },
    /// More logs, witnesses or groups than [`MAX_POLICY_ITEMS`].
    #[error("the policy defines more than {max} items")]
    TooLarge {
        /// [`MAX_POLICY_ITEMS`].
        max: usize,
    },
}

/// Why a checkpoint does not satisfy a policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyCheckError {
    /// The note does not parse or carries no valid signature by a listed log.
    #[error("checkpoint is not signed by a log of the policy: {0}")]
    Log(#[from] CheckpointError),
    /// A cosignature by a listed witness is malformed or does not verify.
    #[error("cosignature by witness {witness} is invalid: {source}")]
    BadCosignature {
        /// The witness's policy name.
        witness: String,
        /// Why.
        source: CosignatureError,
    },
    /// Too few witnesses cosigned.
    #[error(
        "no witness quorum for {origin} size {size}: cosigned by [{}], missing [{}]",
        cosigned.join(", "),
        missing.join(", ")
    )]
    NoQuorum {
        /// The checkpoint's origin.
        origin: String,
        /// Its size.
        size: u64,
        /// Policy names of the witnesses whose cosignatures verified.
        cosigned: Vec<String>,
        /// Policy names of the quorum's witnesses that did not cosign.
        missing: Vec<String>,
    },
}

/// A log the policy trusts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyLog {
    /// Its checkpoint key (the key name is the origin).
    pub key: NoteVerifier,
    /// Where to reach it, if given.
    pub url: Option<String>,
}

/// A witness the policy knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyWitness {
    /// Its name in this policy.
    pub name: String,
    /// Its cosignature key.
    pub key: CosignatureVerifier,
    /// Its submission prefix, if given.
    pub url: Option<String>,
}

/// A group of witnesses and groups with a threshold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyGroup {
    /// Its name.
    pub name: String,
    /// How many members must have witnessed.
    pub threshold: usize,
    /// Member names (witnesses or earlier groups).
    pub members: Vec<String>,
}

/// The rule a checkpoint's cosignatures must satisfy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Quorum {
    /// `quorum none`: no cosignature needed.
    None,
    /// A witness or group name.
    Named(String),
}

/// A parsed policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Trusted logs.
    pub logs: Vec<PolicyLog>,
    /// Known witnesses.
    pub witnesses: Vec<PolicyWitness>,
    /// Groups, in file order.
    pub groups: Vec<PolicyGroup>,
    /// The quorum.
    pub quorum: Quorum,
}

/// A checkpoint that satisfied a policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WitnessedCheckpoint {
    /// The tree head.
    pub checkpoint: Checkpoint,
    /// Policy names of the witnesses whose cosignatures verified, with their timestamps.
    pub cosigned: Vec<(String, u64)>,
}

/// Parses a threshold: `all`, `any` or a decimal `k` with `1 ≤ k ≤ n`.
fn parse_threshold(text: &str, n: usize) -> Option<usize> {
    let k = match text {
        "all" => n,
        "any" => 1,
        _ if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => text.parse().ok()?,
        _ => return None,
    };
    (1..=n).contains(&k).then_some(k)
}

impl Policy {
    /// Parses a policy file.
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        let mut logs: Vec<PolicyLog> = Vec::new();
        let mut witnesses: Vec<PolicyWitness> = Vec::new();
        let mut groups: Vec<PolicyGroup> = Vec::new();
        let mut quorums: Vec<Quorum> = Vec::new();
        let mut names: HashSet<String> = HashSet::new();
        for (i, raw) in text.split('\n').enumerate() {
            let line = i + 1;
            if let Some(&byte) = raw
                .as_bytes()
                .iter()
                .find(|&&b| (b < 0x20 && b != b'\t') || b == 0x7f)
            {
                return Err(PolicyError::BadByte { line, byte });
            }
            let items: Vec<&str> = raw.split([' ', '\t']).filter(|s| !s.is_empty()).collect();
            let Some(&keyword) = items.first() else {
                continue;
            };
            if keyword.starts_with('#') {
                continue;
            }
            let syntax = |reason: &str| PolicyError::Syntax {
                line,
                reason: reason.to_owned(),
            };
            match keyword {
                "log" => {
                    if !(2..=3).contains(&items.len()) {
                        return Err(syntax("expected `log <vkey> [<url>]`"));
                    }
                    let key = NoteVerifier::from_text(items[1])
                        .map_err(|source| PolicyError::LogKey { line, source })?;
                    if logs
                        .iter()
                        .any(|l| l.key.verifying_key() == key.verifying_key())
                    {
                        return Err(PolicyError::DuplicateKey { line });
                    }
                    logs.push(PolicyLog {
                        key,
                        url: items.get(2).map(|s| (*s).to_owned()),
                    });
                }
                "witness" => {
                    if !(3..=4).contains(&items.len()) {
                        return Err(syntax("expected `witness <name> <vkey> [<url>]`"));
                    }
                    let name = items[1];
                    if name == "none" || !names.insert(name.to_owned()) {
                        return Err(PolicyError::DuplicateName {
                            line,
                            name: name.to_owned(),
                        });
                    }
                    let key = CosignatureVerifier::from_text(items[2])
                        .map_err(|source| PolicyError::WitnessKey { line, source })?;
                    if witnesses
                        .iter()
                        .any(|w| w.key.verifying_key() == key.verifying_key())
                    {
                        return Err(PolicyError::DuplicateKey { line });
                    }
                    witnesses.push(PolicyWitness {
                        name: name.to_owned(),
                        key,
                        url: items.get(3).map(|s| (*s).to_owned()),
                    });
                }
                "group" => {
                    if items.len() < 4 {
                        return Err(syntax("expected `group <name> all|any|<k> <name>...`"));
                    }
                    let name = items[1];
                    let members: Vec<String> = items[3..].iter().map(|s| (*s).to_owned()).collect();
                    let mut seen = HashSet::new();
                    for member in &members {
                        if !names.contains(member) {
                            return Err(PolicyError::UndefinedName {
                                line,
                                name: member.clone(),
                            });
                        }
                        if !seen.insert(member) {
                            return Err(syntax("a group lists each member at most once"));
                        }
                    }
                    let threshold = parse_threshold(items[2], members.len())
                        .ok_or_else(|| syntax("threshold must be all, any or 1 <= k <= members"))?;
                    if name == "none" || !names.insert(name.to_owned()) {
                        return Err(PolicyError::DuplicateName {
                            line,
                            name: name.to_owned(),
                        });
                    }
                    groups.push(PolicyGroup {
                        name: name.to_owned(),
                        threshold,
                        members,
                    });
                }
                "quorum" => {
                    if items.len() != 2 {
                        return Err(syntax("expected `quorum <name>`"));
                    }
                    let quorum = match items[1] {
                        "none" => Quorum::None,
                        name if names.contains(name) => Quorum::Named(name.to_owned()),
                        name => {
                            return Err(PolicyError::UndefinedName {
                                line,
                                name: name.to_owned(),
                            })
                        }
                    };
                    quorums.push(quorum);
                }
                _ => {
                    return Err(syntax(
                        "unknown keyword (expected log, witness, group or quorum)",
                    ))
                }
            }
            if logs.len().max(witnesses.len()).max(groups.len()) > MAX_POLICY_ITEMS {
                return Err(PolicyError::TooLarge {
                    max: MAX_POLICY_ITEMS,
                });
            }
        }
        if quorums.len() != 1 {
            return Err(PolicyError::QuorumCount {
                found: quorums.len(),
            });
        }
        Ok(Policy {
            logs,
            witnesses,
            groups,
            quorum: quorums.remove(0),
        })
    }

    /// The policy's witness named `name`.
    pub fn witness(&self, name: &str) -> Option<&PolicyWitness> {
        self.witnesses.iter().find(|w| w.name == name)
    }

    /// Whether the witnesses in `cosigned` (policy names) satisfy the quorum.
    pub fn satisfied_by(&self, cosigned: &BTreeSet<String>) -> bool {
        match &self.quorum {
            Quorum::None => true,
            Quorum::Named(name) => self.witnessed(name, cosigned),
        }
    }

    /// The witnesses under the quorum that are not in `cosigned`, in policy order: the ones
    /// to name when a quorum is missing.
    pub fn missing(&self, cosigned: &BTreeSet<String>) -> Vec<String> {
        let mut under = BTreeSet::new();
        if let Quorum::Named(name) = &self.quorum {
            self.collect_witnesses(name, &mut under);
        }
        self.witnesses
            .iter()
            .filter(|w| under.contains(&w.name) && !cosigned.contains(&w.name))
            .map(|w| w.name.clone())
            .collect()
    }

    fn collect_witnesses(&self, name: &str, out: &mut BTreeSet<String>) {
        match self.groups.iter().find(|g| g.name == name) {
            Some(group) => {
                for member in &group.members {
                    self.collect_witnesses(member, out);
                }
            }
            None => {
                out.insert(name.to_owned());
            }
        }
    }

    /// Whether witness or group `name` has witnessed, given the witnesses in `cosigned`.
    /// Recursion is bounded: groups only name earlier definitions.
    fn witnessed(&self, name: &str, cosigned: &BTreeSet<String>) -> bool {
        match self.groups.iter().find(|g| g.name == name) {
            Some(group) => {
                group
                    .members
                    .iter()
                    .filter(|m| self.witnessed(m, cosigned))
                    .count()
                    >= group.threshold
            }
            None => cosigned.contains(name),
        }
    }

    /// The log key for `origin`, if the policy lists one.
    pub fn log_for(&self, origin: &str) -> Option<&NoteVerifier> {
        self.logs
            .iter()
            .map(|l| &l.key)
            .find(|k| k.name() == origin)
    }

    /// Verifies a signed checkpoint's cosignatures by the policy's witnesses, without
    /// requiring a quorum: returns the witnesses whose cosignatures verified. The log
    /// signature is checked against `log`.
    pub fn cosigners(
        &self,
        note: &str,
        log: &NoteVerifier,
    ) -> Result<(Checkpoint, Vec<(String, u64)>), PolicyCheckError> {
        let checkpoint = Checkpoint::open(note, log)?;
        // Checkpoint::open has checked the note; reopen to list every signature line.
        let opened = open_note(note, &[log]).map_err(CheckpointError::from)?;
        let mut cosigned: Vec<(String, u64)> = Vec::new();
        let mut by_key: HashMap<(&str, u32), &PolicyWitness> = HashMap::new();
        for witness in &self.witnesses {
            by_key.insert((witness.key.name(), witness.key.key_id()), witness);
        }
        for sig in &opened.signatures {
            let Some(witness) = by_key.get(&(sig.name.as_str(), sig.key_id)) else {
                continue;
            };
            let bad = |source| PolicyCheckError::BadCosignature {
                witness: witness.name.clone(),
                source,
            };
            let cosig = Cosignature::from_note_signature(sig).map_err(bad)?;
            let time = witness.key.verify(&opened.text, &cosig).map_err(bad)?;
            if !cosigned.iter().any(|(name, _)| name == &witness.name) {
                cosigned.push((witness.name.clone(), time));
            }
        }
        Ok((checkpoint, cosigned))
    }

    /// Applies the policy to a signed checkpoint (see the module doc). The log is chosen by
    /// the checkpoint's origin line among the policy's logs.
    pub fn verify_checkpoint(&self, note: &str) -> Result<WitnessedCheckpoint, PolicyCheckError> {
        let origin = note.split('\n').next().unwrap_or_default();
        let log = self.log_for(origin).ok_or_else(|| {
            PolicyCheckError::Log(CheckpointError::Note(NoteError::Unverified {
                signers: vec![origin.to_owned()],
            }))
        })?;
        self.verify_checkpoint_of(note, log)
    }

    /// [`Policy::verify_checkpoint`] with the log key given (for callers that know the log
    /// from elsewhere, such as a `--log-key` flag, and policies without `log` lines).
    pub fn verify_checkpoint_of(
        &self,
        note: &str,
        log: &NoteVerifier,
    ) -> Result<WitnessedCheckpoint, PolicyCheckError> {
        let (checkpoint, cosigned) = self.cosigners(note, log)?;
        let names: BTreeSet<String> = cosigned.iter().map(|(n, _)| n.clone()).collect();
        if !self.satisfied_by(&names) {
            return Err(PolicyCheckError::NoQuorum {
                origin: checkpoint.origin,
                size: checkpoint.size,
                cosigned: cosigned.into_iter().map(|(n, _)| n).collect(),
                missing: self.missing(&names),
            });
        }
        Ok(WitnessedCheckpoint {
            checkpoint,
            cosigned,
        })
    }
}

#[cfg(test)]
mod tests;
