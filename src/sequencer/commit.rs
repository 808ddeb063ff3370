//! The two writing stages of the pipeline.
//!
//! - **validate** ([`Validator`]): applies each block's events in order against the state as of
//!   the entry before each ([`PendingView`] + an overlay), builds the entries, extends the
//!   Merkle frontier and signs the block's checkpoint. It never waits for the disk.
//! - **persist** ([`Persister`]): writes each block with one atomic sled batch, flushes, publishes
//!   the new head, and only then answers the block's submitters.
//!
//! While block *n* is written, block *n + 1* is validated on top of it. If a write fails, no
//! submitter of that block or of any block validated on top of it gets a receipt; the validator
//! learns of it before its next block, drops its pending state and re-reads the durable head
//! from the store. Until that re-read succeeds (the store can cut the failed block off again),
//! it assigns no index at all: every submission is answered "storage unavailable", so a failed
//! block can leave neither a gap nor a duplicate index behind.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc as std_mpsc, Arc, RwLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::view::{PendingLayer, PendingView};
use super::{Job, Outcome, Receipt, SequencerError, Submission, VerifiedJob};
use crate::ledger::signatures::EnvelopeSignatures;
use crate::ledger::{self, EntryContext, LedgerError, Overlay};
use crate::log::checkpoint::Checkpoint;
use crate::log::hash::leaf_hash;
use crate::model::entry::Entry;
use crate::model::KeyId;
use crate::sequencer::LogSigner;
use crate::store::{Block, CheckpointGuard, Head, Store, StoreError};

/// What happened to one submission during validation.
enum Verdict {
    Appended(u64),
    Duplicate(u64),
    Failed(SequencerError),
}

/// A validated block on its way to the disk.
pub(super) struct ValidatedBlock {
    block: Arc<Block>,
    /// The head once the block is durable (unchanged for a block with no new entries).
    head: Head,
    jobs: Vec<(Job, Vec<Verdict>)>,
    /// The validator epoch it was built in (see [`Shared::failed_epoch`]).
    epoch: u64,
}

/// What the two stages share.
pub(super) struct Shared {
    /// Tree size the store holds durably.
    pub(super) durable_size: AtomicU64,
    /// Epoch of the last block whose write failed (0: none). Blocks of that epoch are refused;
    /// the validator starts a new epoch from the store when it sees it.
    pub(super) failed_epoch: AtomicU64,
    /// The latest durable head, for readers.
    pub(super) published: Arc<RwLock<Arc<Head>>>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The validate stage.
pub(super) struct Validator {
    pub(super) view: PendingView,
    pub(super) store: Store,
    pub(super) log: LogSigner,
    /// Head after every block validated so far.
    pub(super) head: Head,
    pub(super) epoch: u64,
    pub(super) shared: Arc<Shared>,
    /// Set while the durable head cannot be re-read after a failed write.
    pub(super) broken: Option<String>,
}

impl Validator {
    /// Validates blocks until the verify stage stops, handing each to the persist stage.
    pub(super) fn run(
        mut self,
        blocks: std_mpsc::Receiver<Vec<VerifiedJob>>,
        persist: std_mpsc::SyncSender<ValidatedBlock>,
    ) {
        for block in blocks {
            self.catch_up();
            let validated = self.validate(block);
            if persist.send(validated).is_err() {
                return;
            }
        }
    }

    /// Drops pending layers the store now holds, and starts over from the store after a
    /// failed write.
    fn catch_up(&mut self) {
        if self.shared.failed_epoch.load(Ordering::Acquire) == self.epoch || self.broken.is_some() {
            if self.broken.is_none() {
                self.epoch += 1;
                self.view.reset();
            }
            match self.store.head() {
                Ok(head) => {
                    self.head = head.unwrap_or_else(Head::empty);
                    self.broken = None;
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot re-read the durable head after a failed write; assigning no index until it can");
                    self.broken = Some(e.to_string());
                }
            }
        }
        self.view
            .durable(self.shared.durable_size.load(Ordering::Acquire));
    }

    fn validate(&mut self, jobs: Vec<VerifiedJob>) -> ValidatedBlock {
        if let Some(reason) = &self.broken {
            let jobs = jobs
                .into_iter()
                .map(|verified| {
                    let verdicts = verified
                        .job
                        .submissions
                        .iter()
                        .map(|_| Verdict::Failed(SequencerError::Unavailable(reason.clone())))
                        .collect();
                    (verified.job, verdicts)
                })
                .collect();
            return ValidatedBlock {
                block: Arc::new(Block::default()),
                head: self.head.clone(),
                jobs,
                epoch: self.epoch,
            };
        }
        let started = Instant::now();
        let logged_at_ms = now_ms().max(self.head.last_logged_at_ms);
        self.read_ahead(&jobs, logged_at_ms);
        let read_ahead = started.elapsed();
        let mut next = self.head.clone();
        let mut block = Block::default();
        let mut answered = Vec::with_capacity(jobs.len());
        let mut overlay = Overlay::new(&self.view);
        for verified in jobs {
            let verdicts = verified
                .job
                .submissions
                .iter()
                .zip(&verified.verified)
                .map(|(submission, keys)| {
                    append_one(
                        &mut overlay,
                        &mut next,
                        &mut block,
                        logged_at_ms,
                        submission,
                        keys,
                    )
                })
                .collect();
            answered.push((verified.job, verdicts));
        }
        block.changes = overlay.into_changes();
        if !block.entries.is_empty() {
            next.root = next.frontier.root();
            next.last_logged_at_ms = logged_at_ms;
            next.checkpoint = Checkpoint {
                origin: self.log.origin.clone(),
                size: next.size,
                root: next.root,
                extensions: Vec::new(),
            }
            .sign(&self.log.signer);
        }
        let block = Arc::new(block);
        if !block.entries.is_empty() {
            self.view.push(PendingLayer {
                end_size: next.size,
                block: Arc::clone(&block),
            });
        }
        self.head = next.clone();
        tracing::debug!(
            entries = block.entries.len(),
            validate_us = started.elapsed().as_micros() as u64,
            read_ahead_us = read_ahead.as_micros() as u64,
            "block validated"
        );
        ValidatedBlock {
            block,
            head: next,
            jobs: answered,
            epoch: self.epoch,
        }
    }
}

impl Validator {
    /// Lets the store fetch at once what validating `jobs` will read
    /// ([`crate::store::LedgerStore::read_ahead`]): the dry run applies every event to a scratch
    /// overlay that is then dropped.
    fn read_ahead(&self, jobs: &[VerifiedJob], logged_at_ms: u64) {
        let view = &self.view;
        let size = self.head.size;
        let fetched = self.store.read_ahead(&mut || {
            let mut overlay = Overlay::new(view);
            let submissions = jobs
                .iter()
                .flat_map(|v| v.job.submissions.iter().zip(&v.verified));
            for (index, (submission, keys)) in (size..).zip(submissions) {
                let ctx = EntryContext {
                    index,
                    logged_at_ms,
                    envelope_digest: submission.envelope.digest(),
                };
                let signatures = EnvelopeSignatures::new(&submission.envelope, keys);
                let _ = ledger::apply(&mut overlay, &ctx, &submission.event, &signatures);
            }
        });
        if let Err(e) = fetched {
            // Validation reads what it needs itself, one record at a time.
            tracing::warn!(error = %e, "could not read the block's state records ahead");
        }
    }
}

/// Validates one submission against the overlay and, if it passes, appends its entry to the
/// block and the frontier. On any error the overlay and `next` are unchanged.
fn append_one(
    overlay: &mut Overlay<'_, PendingView>,
    next: &mut Head,
    block: &mut Block,
    logged_at_ms: u64,
    submission: &Submission,
    verified: &[KeyId],
) -> Verdict {
    let entry = Entry {
        index: next.size,
        prev: next.last_leaf,
        logged_at_ms,
        envelope: submission.envelope.clone(),
    };
    let bytes = match entry.encode() {
        Ok(bytes) => bytes,
        Err(e) => return Verdict::Failed(e.into()),
    };
    let ctx = EntryContext {
        index: next.size,
        logged_at_ms,
        envelope_digest: submission.envelope.digest(),
    };
    let signatures = EnvelopeSignatures::new(&submission.envelope, verified);
    match ledger::apply(overlay, &ctx, &submission.event, &signatures) {
        Ok(()) => {
            let leaf = leaf_hash(&bytes);
            next.frontier.append(leaf, &mut block.nodes);
            block.entries.push((next.size, bytes));
            next.last_leaf = leaf;
            next.size += 1;
            Verdict::Appended(entry.index)
        }
        Err(LedgerError::Duplicate { index, .. }) => Verdict::Duplicate(index),
        Err(e) => Verdict::Failed(e.into()),
    }
}

/// The persist stage.
pub(super) struct Persister {
    pub(super) store: Store,
    pub(super) shared: Arc<Shared>,
    /// The latest durable head.
    pub(super) head: Head,
    /// Where the latest checkpoint is remembered outside the data directory.
    pub(super) guard: Option<Arc<CheckpointGuard>>,
    /// Blocks and their commit time are counted here.
    pub(super) metrics: Arc<crate::telemetry::Metrics>,
}

impl Persister {
    /// Writes blocks in order until the validate stage stops; then remembers the last
    /// checkpoint in the guard and flushes the state, so the next open replays nothing.
    pub(super) fn run(mut self, blocks: std_mpsc::Receiver<ValidatedBlock>) {
        for validated in blocks {
            self.persist(validated);
        }
        if let Some(guard) = &self.guard {
            if !self.head.checkpoint.is_empty() {
                if let Err(e) = guard.remember(&self.head.checkpoint) {
                    tracing::warn!(error = %e, "could not update the checkpoint guard");
                }
            }
        }
        if let Err(e) = self.store.flush() {
            tracing::warn!(error = %e, "could not flush the state at shutdown (the log replays it at open)");
        }
    }

    fn persist(&mut self, validated: ValidatedBlock) {
        let ValidatedBlock {
            block,
            head,
            jobs,
            epoch,
        } = validated;
        let failed = self.shared.failed_epoch.load(Ordering::Acquire);
        let written = if failed == epoch {
            Err(SequencerError::Unavailable(
                "an earlier block it was validated on could not be stored".to_owned(),
            ))
        } else if block.entries.is_empty() {
            Ok(())
        } else {
            let started = Instant::now();
            let result = self.store.commit_block(&block, &head);
            let took = started.elapsed();
            tracing::debug!(
                entries = block.entries.len(),
                store_us = took.as_micros() as u64,
                "block stored"
            );
            if result.is_ok() {
                self.metrics.block_committed(block.entries.len(), took);
            }
            result.map_err(|e| {
                tracing::error!(error = %e, "block commit failed; nothing in it was acknowledged");
                self.shared.failed_epoch.store(epoch, Ordering::Release);
                match e {
                    StoreError::ReadOnly { reason } => SequencerError::ReadOnly(reason),
                    other => SequencerError::Unavailable(other.to_string()),
                }
            })
        };
        match written {
            Ok(()) => {
                if !block.entries.is_empty() {
                    self.head = head;
                    self.shared
                        .durable_size
                        .store(self.head.size, Ordering::Release);
                    *self.shared.published.write().expect("head lock poisoned") =
                        Arc::new(self.head.clone());
                }
                for (job, verdicts) in jobs {
                    let outcomes = verdicts
                        .into_iter()
                        .map(|verdict| match verdict {
                            Verdict::Appended(index) => Ok(self.receipt(index, false)),
                            Verdict::Duplicate(index) => Ok(self.receipt(index, true)),
                            Verdict::Failed(e) => Err(e),
                        })
                        .collect();
                    let _ = job.reply.send(outcomes);
                }
                // After the receipts: the guard is a second line of defence for restores, not
                // part of what a receipt promises, so its syncs never delay one.
                if let Some(guard) = self.guard.as_ref().filter(|_| !block.entries.is_empty()) {
                    if let Err(e) = guard.remember_coalesced(&self.head.checkpoint) {
                        tracing::warn!(error = %e, "could not update the checkpoint guard");
                    }
                }
            }
            Err(failure) => {
                for (job, verdicts) in jobs {
                    let outcomes: Vec<Outcome> = verdicts
                        .into_iter()
                        .map(|verdict| match verdict {
                            Verdict::Failed(e) => Err(e),
                            _ => Err(failure.again()),
                        })
                        .collect();
                    let _ = job.reply.send(outcomes);
                }
            }
        }
    }

    fn receipt(&self, index: u64, duplicate: bool) -> Receipt {
        Receipt {
            index,
            size: self.head.size,
            checkpoint: self.head.checkpoint.clone(),
            duplicate,
        }
    }
}
