//! Group commit: the one writer of the log.
//!
//! Submissions flow through a two-stage pipeline of dedicated threads:
//!
//! 1. **verify** — drains every queued submission (up to [`MAX_BLOCK`]) into a block, looks up
//!    the key each signature names, and checks all signatures of the block with Ed25519 batch
//!    verification, in parallel on all cores (rayon). No state is changed here.
//! 2. **commit** — validates the block's events in order against the state as of the entry
//!    before each (an [`Overlay`] over the store), builds the entries (hash chain, Merkle
//!    frontier), signs one checkpoint for the block, writes everything in one atomic sled batch,
//!    flushes, and only then answers every submitter.
//!
//! While block *n* is being committed, block *n + 1* is being verified. Readers never wait for
//! either stage: they read sled and the published [`Head`].
//!
//! Receipts carry the entry index and the signed checkpoint that covers it; callers add the
//! inclusion proof from the store (off this thread), so the append path does no proof work.

use std::sync::{mpsc as std_mpsc, Arc, RwLock};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot};

use crate::ledger::signatures::{pre_verify, EnvelopeSignatures};
use crate::ledger::{self, EntryContext, LedgerError};
use crate::ledger::{Overlay, StateView};
use crate::log::checkpoint::Checkpoint;
use crate::log::hash::leaf_hash;
use crate::log::note::NoteSigner;
use crate::model::entry::{Entry, EntryError};
use crate::model::envelope::Envelope;
use crate::model::event::Event;
use crate::model::KeyId;
use crate::store::{Block, Head, Store, StoreError};

/// Most submissions one block takes. Bounds the memory and latency of one commit.
pub const MAX_BLOCK: usize = 4096;
/// Queued submission groups before submitters wait (backpressure).
const QUEUE_DEPTH: usize = 1024;

/// One envelope to append, already parsed (shape and event JSON checked by the caller).
#[derive(Clone, Debug)]
pub struct Submission {
    /// The envelope exactly as submitted.
    pub envelope: Envelope,
    /// Its decoded payload.
    pub event: Event,
}

/// What the sequencer answers for an accepted (or already present) envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// Position of the entry in the log.
    pub index: u64,
    /// Tree size of `checkpoint`.
    pub size: u64,
    /// Signed checkpoint (C2SP note) covering the entry.
    pub checkpoint: String,
    /// True when the envelope was already in the log (an idempotent retry).
    pub duplicate: bool,
}

/// Why a submission was not appended.
#[derive(Debug, thiserror::Error)]
pub enum SequencerError {
    /// The event breaks a ledger rule; nothing was written.
    #[error(transparent)]
    Rejected(#[from] LedgerError),
    /// The entry would not fit the entry format.
    #[error(transparent)]
    Entry(#[from] EntryError),
    /// The block could not be made durable; nothing of it was acknowledged.
    #[error("the ledger could not store the block: {0}")]
    Storage(String),
    /// The sequencer is shutting down.
    #[error("the sequencer is not running")]
    Stopped,
}

type Outcome = Result<Receipt, SequencerError>;

struct Job {
    submissions: Vec<Submission>,
    reply: oneshot::Sender<Vec<Outcome>>,
}

struct VerifiedJob {
    job: Job,
    /// Per submission: key ids whose signatures verified in the batch.
    verified: Vec<Vec<KeyId>>,
}

/// The log's identity: its origin line and checkpoint signing key.
pub struct LogSigner {
    /// Checkpoint origin (also the signer's key name).
    pub origin: String,
    /// The C2SP note signer.
    pub signer: NoteSigner,
}

/// A running sequencer. Clone the [`SequencerHandle`] to submit from many tasks.
pub struct Sequencer {
    handle: SequencerHandle,
    threads: Vec<JoinHandle<()>>,
}

/// Submits envelopes and reads the published head. Cheap to clone.
#[derive(Clone)]
pub struct SequencerHandle {
    queue: mpsc::Sender<Job>,
    head: Arc<RwLock<Arc<Head>>>,
}

impl Sequencer {
    /// Starts the pipeline over `store`, whose stored head it continues.
    pub fn start(store: Store, log: LogSigner) -> Result<Sequencer, StoreError> {
        let head = store.head()?.unwrap_or_else(Head::empty);
        let published = Arc::new(RwLock::new(Arc::new(head.clone())));
        let (queue, intake) = mpsc::channel::<Job>(QUEUE_DEPTH);
        // Capacity 1: the verifier works one block ahead of the committer, no further.
        let (to_commit, committing) = std_mpsc::sync_channel::<Vec<VerifiedJob>>(1);
        let verifier_store = store.clone();
        let verifier = std::thread::Builder::new()
            .name("lodestone-verify".into())
            .spawn(move || verify_stage(intake, verifier_store, to_commit))
            .expect("spawning a thread");
        let mut committer = Committer {
            store,
            log,
            head,
            published: Arc::clone(&published),
        };
        let commit = std::thread::Builder::new()
            .name("lodestone-commit".into())
            .spawn(move || {
                for block in committing {
                    committer.commit(block);
                }
            })
            .expect("spawning a thread");
        Ok(Sequencer {
            handle: SequencerHandle {
                queue,
                head: published,
            },
            threads: vec![verifier, commit],
        })
    }

    /// A handle for submitting and reading the head.
    pub fn handle(&self) -> SequencerHandle {
        self.handle.clone()
    }

    /// Stops accepting work, finishes what is queued, and joins the threads. Submitters holding
    /// other handles keep the pipeline alive until they drop them.
    pub fn shutdown(self) {
        drop(self.handle);
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

impl SequencerHandle {
    /// Appends a group of submissions; answers one outcome per submission, in order, once the
    /// block holding them is durable.
    pub async fn submit(&self, submissions: Vec<Submission>) -> Vec<Outcome> {
        let count = submissions.len();
        let (reply, answer) = oneshot::channel();
        if self.queue.send(Job { submissions, reply }).await.is_err() {
            return (0..count).map(|_| Err(SequencerError::Stopped)).collect();
        }
        answer
            .await
            .unwrap_or_else(|_| (0..count).map(|_| Err(SequencerError::Stopped)).collect())
    }

    /// Blocking form of [`submit`](Self::submit), for threads outside any async runtime.
    pub fn submit_blocking(&self, submissions: Vec<Submission>) -> Vec<Outcome> {
        let count = submissions.len();
        let (reply, answer) = oneshot::channel();
        if self
            .queue
            .blocking_send(Job { submissions, reply })
            .is_err()
        {
            return (0..count).map(|_| Err(SequencerError::Stopped)).collect();
        }
        answer
            .blocking_recv()
            .unwrap_or_else(|_| (0..count).map(|_| Err(SequencerError::Stopped)).collect())
    }

    /// The latest durable head.
    pub fn head(&self) -> Arc<Head> {
        Arc::clone(&self.head.read().expect("head lock poisoned"))
    }
}

fn verify_stage(
    mut intake: mpsc::Receiver<Job>,
    store: Store,
    to_commit: std_mpsc::SyncSender<Vec<VerifiedJob>>,
) {
    while let Some(first) = intake.blocking_recv() {
        let mut jobs = vec![first];
        let mut count = jobs[0].submissions.len();
        while count < MAX_BLOCK {
            match intake.try_recv() {
                Ok(job) => {
                    count += job.submissions.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        if to_commit.send(verify_block(&store, jobs)).is_err() {
            return;
        }
    }
}

/// Batch-verifies every signature of a block whose key is already registered, on all cores.
fn verify_block(store: &Store, jobs: Vec<Job>) -> Vec<VerifiedJob> {
    let items: Vec<(&Envelope, &Event)> = jobs
        .iter()
        .flat_map(|job| job.submissions.iter().map(|s| (&s.envelope, &s.event)))
        .collect();
    let mut verified = pre_verify(&items, |key_id| {
        store
            .key(key_id)
            .ok()
            .flatten()
            .map(|record| record.public_key)
    })
    .into_iter();
    jobs.into_iter()
        .map(|job| {
            let verified = verified.by_ref().take(job.submissions.len()).collect();
            VerifiedJob { job, verified }
        })
        .collect()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

struct Committer {
    store: Store,
    log: LogSigner,
    head: Head,
    published: Arc<RwLock<Arc<Head>>>,
}

enum Pending {
    Appended(u64),
    Duplicate(u64),
    Failed(SequencerError),
}

impl Committer {
    fn commit(&mut self, block: Vec<VerifiedJob>) {
        let logged_at_ms = now_ms().max(self.head.last_logged_at_ms);
        let mut next = self.head.clone();
        let mut out = Block::default();
        let mut pending: Vec<Vec<Pending>> = Vec::with_capacity(block.len());
        let changes = {
            let mut overlay = Overlay::new(&self.store);
            for verified in &block {
                let mut answers = Vec::with_capacity(verified.job.submissions.len());
                for (submission, keys) in verified.job.submissions.iter().zip(&verified.verified) {
                    answers.push(self.append_one(
                        &mut overlay,
                        &mut next,
                        &mut out,
                        logged_at_ms,
                        submission,
                        keys,
                    ));
                }
                pending.push(answers);
            }
            overlay.into_changes()
        };
        out.changes = changes;

        if !out.entries.is_empty() {
            next.root = next.frontier.root();
            next.last_logged_at_ms = logged_at_ms;
            next.checkpoint = Checkpoint {
                origin: self.log.origin.clone(),
                size: next.size,
                root: next.root,
                extensions: Vec::new(),
            }
            .sign(&self.log.signer);
            if let Err(e) = self.store.commit_block(&out, &next) {
                tracing::error!(error = %e, "block commit failed; nothing in it was acknowledged");
                let message = e.to_string();
                for (verified, answers) in block.into_iter().zip(pending) {
                    let outcomes = answers
                        .into_iter()
                        .map(|p| match p {
                            Pending::Failed(e) => Err(e),
                            _ => Err(SequencerError::Storage(message.clone())),
                        })
                        .collect();
                    let _ = verified.job.reply.send(outcomes);
                }
                return;
            }
            self.head = next;
            *self.published.write().expect("head lock poisoned") = Arc::new(self.head.clone());
        }

        for (verified, answers) in block.into_iter().zip(pending) {
            let outcomes = answers
                .into_iter()
                .map(|p| match p {
                    Pending::Appended(index) => Ok(self.receipt(index, false)),
                    Pending::Duplicate(index) => Ok(self.receipt(index, true)),
                    Pending::Failed(e) => Err(e),
                })
                .collect();
            let _ = verified.job.reply.send(outcomes);
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

    /// Validates one submission against the overlay and, if it passes, appends its entry to the
    /// block and the frontier. On any error the overlay and `next` are unchanged.
    fn append_one(
        &self,
        overlay: &mut Overlay<'_, Store>,
        next: &mut Head,
        out: &mut Block,
        logged_at_ms: u64,
        submission: &Submission,
        verified: &[KeyId],
    ) -> Pending {
        let entry = Entry {
            index: next.size,
            prev: next.last_leaf,
            logged_at_ms,
            envelope: submission.envelope.clone(),
        };
        let bytes = match entry.encode() {
            Ok(bytes) => bytes,
            Err(e) => return Pending::Failed(e.into()),
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
                next.frontier.append(leaf, &mut out.nodes);
                out.entries.push((next.size, bytes));
                next.last_leaf = leaf;
                next.size += 1;
                Pending::Appended(entry.index)
            }
            Err(LedgerError::Duplicate { index, .. }) => Pending::Duplicate(index),
            Err(e) => Pending::Failed(e.into()),
        }
    }
}
