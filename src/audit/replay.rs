//! The full audit (DESIGN.md §6): replay the log from entry 0 and check everything a log promises.
//!
//! For every entry, in order: the bytes decode to a canonical entry; its `index` is its position;
//! its `prev` is the leaf hash of the entry before (the hash chain); its log time never goes
//! backwards; its leaf hash matches the one the log publishes (tile or stored node), when the
//! source provides one; and its event passes every rule of the state machine against the state
//! rebuilt so far, signatures included. At the end the recomputed Merkle root must equal the
//! signed checkpoint's, and an earlier checkpoint this auditor saw must be consistent with it.
//!
//! The first failure is reported with the index of the entry at fault. Pure: entries come in as
//! bytes; fetching them is the caller's job.

use std::collections::HashMap;
use std::sync::Arc;

use rayon::prelude::*;

use crate::ledger::signatures::{pre_verify, EnvelopeSignatures};
use crate::ledger::{self, EntryContext, LedgerError, MemState};
use crate::log::hash::leaf_hash;
use crate::log::tree::{root_hash, MemoryHashes};
use crate::log::Hash;
use crate::model::entry::{Entry, EntryError};
use crate::model::event::{Event, EventBody, EventError};
use crate::model::{KeyId, PublicKey};

/// Why the audit failed, located at the first bad entry where there is one.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The stored bytes are not a valid entry.
    #[error("entry {index}: does not decode: {source}")]
    Decode {
        /// Entry position.
        index: u64,
        /// Decoder error.
        source: EntryError,
    },
    /// The entry claims another position.
    #[error("entry {index}: claims to be entry {claimed}")]
    WrongIndex {
        /// Entry position.
        index: u64,
        /// The index written inside it.
        claimed: u64,
    },
    /// `prev` is not the previous entry's leaf hash.
    #[error(
        "entry {index}: hash chain broken (prev is {found}, the previous leaf hash is {expected})"
    )]
    BrokenChain {
        /// Entry position.
        index: u64,
        /// The previous entry's leaf hash.
        expected: Hash,
        /// What the entry says.
        found: Hash,
    },
    /// Log time went backwards.
    #[error(
        "entry {index}: logged at {logged_at_ms} ms, before the previous entry ({previous_ms} ms)"
    )]
    TimeWentBack {
        /// Entry position.
        index: u64,
        /// Its log time.
        logged_at_ms: u64,
        /// The previous entry's.
        previous_ms: u64,
    },
    /// The bytes do not hash to the leaf hash the log publishes for that position.
    #[error("entry {index}: its bytes hash to {computed}, but the log's tree has {published} (the entry was altered)")]
    LeafMismatch {
        /// Entry position.
        index: u64,
        /// Leaf hash in the published tree.
        published: Hash,
        /// Leaf hash of the bytes.
        computed: Hash,
    },
    /// The payload is not a valid event.
    #[error("entry {index}: payload is not a valid event: {source}")]
    Payload {
        /// Entry position.
        index: u64,
        /// Parser error.
        source: EventError,
    },
    /// The event breaks a ledger rule.
    #[error("entry {index}: breaks a ledger rule [{code}]: {source}", code = source.code())]
    Rule {
        /// Entry position.
        index: u64,
        /// The rule (boxed: rule errors carry times and ids, and audits pass this error around).
        source: Box<LedgerError>,
    },
    /// The recomputed root is not the signed one.
    #[error("the Merkle root of the {size} entries is {computed}, but the signed checkpoint says {signed}")]
    RootMismatch {
        /// Tree size.
        size: u64,
        /// Root in the checkpoint.
        signed: Hash,
        /// Root recomputed from the entries.
        computed: Hash,
    },
    /// The log is smaller than a checkpoint seen before: it was rolled back.
    #[error("the log has {size} entries, but a checkpoint seen earlier covered {seen_size}: it was rolled back or forked")]
    RolledBack {
        /// Size now.
        size: u64,
        /// Size seen before.
        seen_size: u64,
    },
    /// The tree no longer contains the tree of a checkpoint seen before.
    #[error("the first {seen_size} entries now hash to {computed}, but a checkpoint seen earlier said {seen_root}: the log was rewritten")]
    Inconsistent {
        /// Size seen before.
        seen_size: u64,
        /// Root seen before.
        seen_root: Hash,
        /// Root of the same prefix now.
        computed: Hash,
    },
}

impl ReplayError {
    /// The entry at fault, if the failure is about one entry.
    pub fn index(&self) -> Option<u64> {
        match self {
            ReplayError::Decode { index, .. }
            | ReplayError::WrongIndex { index, .. }
            | ReplayError::BrokenChain { index, .. }
            | ReplayError::TimeWentBack { index, .. }
            | ReplayError::LeafMismatch { index, .. }
            | ReplayError::Payload { index, .. }
            | ReplayError::Rule { index, .. } => Some(*index),
            _ => None,
        }
    }
}

/// One entry to replay: its bytes and, if the source publishes one, the leaf hash the log's tree
/// holds for it (from a level-0 tile or the stored node).
pub struct ReplayItem {
    /// Canonical entry bytes.
    pub bytes: Vec<u8>,
    /// Published leaf hash, if known.
    pub published_leaf: Option<Hash>,
}

/// Replays a log from entry 0, chunk by chunk.
pub struct Replay {
    state: MemState,
    tree: MemoryHashes,
    prev: Hash,
    last_logged_at_ms: u64,
    /// Every key registered so far, for batch-verifying the next step on another thread.
    keys: Arc<HashMap<KeyId, PublicKey>>,
}

/// One step decoded, parsed and signature-checked, ready to be applied in order.
pub struct PreparedStep {
    first: u64,
    items: Vec<ReplayItem>,
    decoded: Vec<(Entry, Event)>,
    verified: Vec<Vec<KeyId>>,
}

/// The entries a full replay needs, in steps: `fetch(start, end)` returns entries
/// `start..end`. Steps are whole tiles, at least [`REPLAY_STEP`] entries.
pub const REPLAY_STEP: u64 = 4096;

impl Default for Replay {
    fn default() -> Self {
        Self::new()
    }
}

impl Replay {
    /// An empty replay, before entry 0.
    pub fn new() -> Replay {
        Replay {
            state: MemState::new(),
            tree: MemoryHashes::new(),
            prev: Hash::default(),
            last_logged_at_ms: 0,
            keys: Arc::new(HashMap::new()),
        }
    }

    /// Entries replayed so far.
    pub fn size(&self) -> u64 {
        self.tree.size()
    }

    /// The state rebuilt so far.
    pub fn state(&self) -> &MemState {
        &self.state
    }

    /// Every tree node of the replayed entries, recomputed from their bytes: to compare with a
    /// stored tree.
    pub fn tree(&self) -> &MemoryHashes {
        &self.tree
    }

    /// Merkle root of the first `size` replayed entries.
    pub fn root_at(&self, size: u64) -> Hash {
        root_hash(size, &self.tree).expect("every node of a replayed prefix is in memory")
    }

    /// Replays the next entries (the chunk's signatures are batch-verified together).
    pub fn push(&mut self, chunk: Vec<ReplayItem>) -> Result<(), ReplayError> {
        let prepared = Replay::prepare(self.size(), chunk, &self.keys)?;
        self.apply_step(prepared)
    }

    /// Decodes, parses and batch-verifies a step that starts at entry `first`, on all cores,
    /// without touching the state: it can run on another thread while the step before it is
    /// applied. `keys` are the keys registered before the step (a key registered inside it, or
    /// in a step still being applied, is checked inline when the rules ask for it).
    pub fn prepare(
        first: u64,
        items: Vec<ReplayItem>,
        keys: &HashMap<KeyId, PublicKey>,
    ) -> Result<PreparedStep, ReplayError> {
        let decoded = items
            .par_iter()
            .enumerate()
            .map(|(offset, item)| {
                let index = first + offset as u64;
                let entry = Entry::decode(&item.bytes)
                    .map_err(|source| ReplayError::Decode { index, source })?;
                let event = Event::from_json(&entry.envelope.payload)
                    .map_err(|source| ReplayError::Payload { index, source })?;
                Ok((entry, event))
            })
            .collect::<Vec<Result<_, ReplayError>>>()
            .into_iter()
            // In order, so the error reported is the first bad entry's.
            .collect::<Result<Vec<_>, ReplayError>>()?;
        let pairs: Vec<_> = decoded.iter().map(|(e, ev)| (&e.envelope, ev)).collect();
        let verified = pre_verify(&pairs, |key_id| keys.get(key_id).copied());
        Ok(PreparedStep {
            first,
            items,
            decoded,
            verified,
        })
    }

    /// Applies a prepared step: chain, leaf hashes, every rule, in order.
    pub fn apply_step(&mut self, mut step: PreparedStep) -> Result<(), ReplayError> {
        assert_eq!(step.first, self.size(), "steps are applied in order");
        // Signatures by keys registered after the step was prepared (in the step before it):
        // batch-verify them now, with the keys known at this point, rather than one by one.
        let late: Vec<usize> = (0..step.decoded.len())
            .filter(|&i| step.verified[i].is_empty())
            .collect();
        if !late.is_empty() {
            let pairs: Vec<_> = late
                .iter()
                .map(|&i| (&step.decoded[i].0.envelope, &step.decoded[i].1))
                .collect();
            let keys = &self.keys;
            let verified = pre_verify(&pairs, |key_id| keys.get(key_id).copied());
            for (i, keys) in late.into_iter().zip(verified) {
                step.verified[i] = keys;
            }
        }
        let mut registry_changed = false;
        for (((entry, event), item), verified) in
            step.decoded.iter().zip(&step.items).zip(&step.verified)
        {
            self.apply(entry, event, item, verified)?;
            registry_changed |= matches!(
                event.body,
                EventBody::Genesis(_) | EventBody::RegisterActor(_) | EventBody::UpdateActor(_)
            );
        }
        if registry_changed {
            self.keys = Arc::new(
                self.state
                    .keys()
                    .map(|record| (record.key_id, record.public_key))
                    .collect(),
            );
        }
        Ok(())
    }

    /// The keys registered so far (a cheap shared snapshot).
    pub fn keys(&self) -> Arc<HashMap<KeyId, PublicKey>> {
        Arc::clone(&self.keys)
    }

    fn apply(
        &mut self,
        entry: &Entry,
        event: &Event,
        item: &ReplayItem,
        verified: &[KeyId],
    ) -> Result<(), ReplayError> {
        let index = self.size();
        if entry.index != index {
            return Err(ReplayError::WrongIndex {
                index,
                claimed: entry.index,
            });
        }
        if entry.prev != self.prev {
            return Err(ReplayError::BrokenChain {
                index,
                expected: self.prev,
                found: entry.prev,
            });
        }
        if entry.logged_at_ms < self.last_logged_at_ms {
            return Err(ReplayError::TimeWentBack {
                index,
                logged_at_ms: entry.logged_at_ms,
                previous_ms: self.last_logged_at_ms,
            });
        }
        let leaf = leaf_hash(&item.bytes);
        if let Some(published) = item.published_leaf {
            if published != leaf {
                return Err(ReplayError::LeafMismatch {
                    index,
                    published,
                    computed: leaf,
                });
            }
        }
        let ctx = EntryContext {
            index,
            logged_at_ms: entry.logged_at_ms,
            envelope_digest: entry.envelope.digest(),
        };
        let signatures = EnvelopeSignatures::new(&entry.envelope, verified);
        ledger::apply_to_mem(&mut self.state, &ctx, event, &signatures).map_err(|source| {
            ReplayError::Rule {
                index,
                source: Box::new(source),
            }
        })?;
        self.tree.push_leaf(leaf);
        self.prev = leaf;
        self.last_logged_at_ms = entry.logged_at_ms;
        Ok(())
    }

    /// Checks the replayed tree against a signed checkpoint's size and root (the caller has
    /// verified the signature), and against a checkpoint seen earlier, if any.
    pub fn finish(
        &self,
        signed_size: u64,
        signed_root: Hash,
        seen: Option<(u64, Hash)>,
    ) -> Result<(), ReplayError> {
        let computed = self.root_at(signed_size.min(self.size()));
        if signed_size != self.size() || computed != signed_root {
            return Err(ReplayError::RootMismatch {
                size: signed_size,
                signed: signed_root,
                computed,
            });
        }
        if let Some((seen_size, seen_root)) = seen {
            if seen_size > self.size() {
                return Err(ReplayError::RolledBack {
                    size: self.size(),
                    seen_size,
                });
            }
            let computed = self.root_at(seen_size);
            if computed != seen_root {
                return Err(ReplayError::Inconsistent {
                    seen_size,
                    seen_root,
                    computed,
                });
            }
        }
        Ok(())
    }
}

/// Why [`replay_log`] stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReplayRunError<E> {
    /// Entries could not be fetched.
    #[error("{0}")]
    Fetch(E),
    /// An entry failed the audit.
    #[error(transparent)]
    Replay(#[from] ReplayError),
}

/// Replays entries `0..size` fetched by `fetch(start, end)`, pipelined: while step *k* is
/// applied on this thread, step *k + 1* is fetched, decoded and batch-verified on another.
/// `progress` is told the number of entries applied. Returns the replay so far either way, so
/// the caller can report how far it got.
pub fn replay_log<E: Send>(
    size: u64,
    fetch: impl Fn(u64, u64) -> Result<Vec<ReplayItem>, E> + Sync,
    mut progress: impl FnMut(u64),
) -> (Replay, Result<(), ReplayRunError<E>>) {
    use crate::log::tile::TILE_WIDTH;

    let mut replay = Replay::new();
    let keys = std::sync::Mutex::new(replay.keys());
    let outcome = std::thread::scope(|scope| {
        let (steps, prepared) = std::sync::mpsc::sync_channel(1);
        let keys = &keys;
        let fetch = &fetch;
        scope.spawn(move || {
            let mut start = 0;
            while start < size {
                // One tile first: a log starts with its registrations, and the keys they add
                // should be known when the big steps are prepared.
                let step = if start == 0 { TILE_WIDTH } else { REPLAY_STEP };
                let end = ((start / TILE_WIDTH) * TILE_WIDTH + step).min(size);
                let step = fetch(start, end)
                    .map_err(ReplayRunError::Fetch)
                    .and_then(|items| {
                        let known = Arc::clone(&keys.lock().expect("keys lock"));
                        Ok(Replay::prepare(start, items, &known)?)
                    });
                let failed = step.is_err();
                if steps.send(step).is_err() || failed {
                    return;
                }
                start = end;
            }
        });
        for step in prepared {
            replay.apply_step(step?)?;
            *keys.lock().expect("keys lock") = replay.keys();
            progress(replay.size());
        }
        Ok(())
    });
    (replay, outcome)
}
