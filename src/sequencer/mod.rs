//! Group commit: the one writer of the log.
//!
//! Submissions flow through a three-stage pipeline of dedicated threads:
//!
//! 1. **verify** — drains every queued submission (up to [`MAX_BLOCK`]) into a block, looks up
//!    the key each signature names, and checks all signatures of the block with Ed25519 batch
//!    verification, in parallel on all cores (rayon). No state is changed here.
//! 2. **validate** — applies the block's events in order against the state as of the entry
//!    before each, builds the entries (hash chain, Merkle frontier) and signs one checkpoint
//!    for the block.
//! 3. **persist** — writes the block, its tree nodes, its state changes and the new head in one
//!    atomic sled batch, flushes, and only then answers every submitter.
//!
//! The stages overlap: while block *n* is flushed, block *n + 1* is validated on top of it and
//! block *n + 2* verified. Readers never wait for any stage: they read sled and the published
//! [`Head`].
//!
//! Receipts carry the entry index and the signed checkpoint that covers it; callers add the
//! inclusion proof from the store (off this thread), so the append path does no proof work.

mod commit;
mod view;

use std::sync::atomic::AtomicU64;
use std::sync::{mpsc as std_mpsc, Arc, RwLock};
use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot};

use self::commit::{Persister, Shared, ValidatedBlock, Validator};
use self::view::PendingView;
use crate::ledger::signatures::pre_verify;
use crate::ledger::{LedgerError, StateView};
use crate::log::note::NoteSigner;
use crate::model::entry::EntryError;
use crate::model::envelope::Envelope;
use crate::model::event::Event;
use crate::model::KeyId;
use crate::store::{CheckpointGuard, Head, Store, StoreError};

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
    /// The block could not be made durable (full disk, failing storage); nothing of it was
    /// acknowledged. Writes resume by themselves once the cause is gone.
    #[error("the ledger cannot store blocks right now: {0}")]
    Unavailable(String),
    /// The ledger refuses writes until an operator acts: it would otherwise sign a second
    /// history (the reason names both sizes and the way out).
    #[error("the ledger refuses writes: {0}")]
    ReadOnly(String),
    /// The sequencer is shutting down.
    #[error("the sequencer is not running")]
    Stopped,
}

impl SequencerError {
    /// The same storage failure again, for every submission of a failed block.
    fn again(&self) -> SequencerError {
        match self {
            SequencerError::ReadOnly(reason) => SequencerError::ReadOnly(reason.clone()),
            SequencerError::Unavailable(reason) => SequencerError::Unavailable(reason.clone()),
            other => SequencerError::Unavailable(other.to_string()),
        }
    }
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
    /// Starts the pipeline over `store`, whose stored head it continues; `guard`, when given,
    /// remembers the latest checkpoint outside the data directory.
    pub fn start(
        store: Store,
        log: LogSigner,
        guard: Option<Arc<CheckpointGuard>>,
    ) -> Result<Sequencer, StoreError> {
        let head = store.head()?.unwrap_or_else(Head::empty);
        let published = Arc::new(RwLock::new(Arc::new(head.clone())));
        let shared = Arc::new(Shared {
            durable_size: AtomicU64::new(head.size),
            failed_epoch: AtomicU64::new(0),
            published: Arc::clone(&published),
        });
        let (queue, intake) = mpsc::channel::<Job>(QUEUE_DEPTH);
        // Capacity 1 between stages: each works at most one block ahead of the next.
        let (to_validate, validating) = std_mpsc::sync_channel::<Vec<VerifiedJob>>(1);
        let (to_persist, persisting) = std_mpsc::sync_channel::<ValidatedBlock>(1);
        let verifier_store = store.clone();
        let validator = Validator {
            view: PendingView::new(store.clone()),
            store: store.clone(),
            log,
            head: head.clone(),
            epoch: 1,
            shared: Arc::clone(&shared),
            broken: None,
        };
        let persister = Persister {
            store,
            shared,
            head,
            guard,
        };
        let spawn = |name: &str, work: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn(work)
                .expect("spawning a thread")
        };
        let threads = vec![
            spawn(
                "lodestone-verify",
                Box::new(move || verify_stage(intake, verifier_store, to_validate)),
            ),
            spawn(
                "lodestone-validate",
                Box::new(move || validator.run(validating, to_persist)),
            ),
            spawn(
                "lodestone-persist",
                Box::new(move || persister.run(persisting)),
            ),
        ];
        Ok(Sequencer {
            handle: SequencerHandle {
                queue,
                head: published,
            },
            threads,
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
