//! Group commit: the one writer of the log.
//!
//! Submissions flow through a three-stage pipeline of dedicated threads:
//!
//! 0. **intake** — a bounded queue counted in envelopes, with per-client and per-actor shares
//!    and round-robin between clients ([`intake`]); a caller it cannot take is refused at once.
//! 1. **verify** — takes the next block (up to [`MAX_BLOCK`] envelopes) from the intake, looks
//!    up the key each signature names — only a key of the event's own actor counts
//!    ([`crate::ledger::signatures::pre_verify_bound`]) — and checks those signatures with Ed25519
//!    batch verification, in parallel on all cores (rayon). No state is changed here.
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
pub mod intake;
mod view;

use std::sync::atomic::AtomicU64;
use std::sync::{mpsc as std_mpsc, Arc, RwLock};
use std::thread::JoinHandle;

use self::commit::{Persister, Shared, ValidatedBlock, Validator};
pub use self::intake::{
    Client, ACTOR_SHARE, BAD_SIGNATURES_PER_SEC, BAD_SIGNATURE_BURST, CLIENT_SHARE, INTAKE_CAPACITY,
};
use self::intake::{Intake, Job, Refusal};
use self::view::PendingView;
use crate::ledger::signatures::{pre_verify_bound, KnownKey};
use crate::ledger::{LedgerError, StateView};
use crate::log::note::NoteSigner;
use crate::model::entry::EntryError;
use crate::model::envelope::Envelope;
use crate::model::event::Event;
use crate::model::KeyId;
use crate::store::{CheckpointGuard, Head, Store, StoreError};
use crate::telemetry::Metrics;

/// Most submissions one block takes. Bounds the memory and latency of one commit.
pub const MAX_BLOCK: usize = 4096;
/// Envelopes the intake holds before it refuses (`busy`): see [`intake`].
pub const QUEUE_DEPTH: usize = INTAKE_CAPACITY;

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
    /// The intake is full; nothing of the submission was queued.
    #[error("the ledger is busy: its intake holds {INTAKE_CAPACITY} envelopes; retry shortly")]
    Busy,
    /// The client already has its share of the intake; nothing of the submission was queued.
    #[error(
        "this client already has {CLIENT_SHARE} envelopes waiting; retry when they are answered"
    )]
    ClientShare,
    /// The client has caused too many signature failures lately; nothing was queued.
    #[error("this client sent too many envelopes with bad signatures; its budget refills at {BAD_SIGNATURES_PER_SEC} per second")]
    BadSignatures,
    /// The envelope's actor already has its share of the intake; this envelope was not queued.
    #[error(
        "actor {actor} already has {ACTOR_SHARE} envelopes waiting; retry when they are answered"
    )]
    ActorShare {
        /// The event's actor.
        actor: crate::model::ids::ActorId,
    },
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
    intake: Arc<Opened>,
    /// Asked whether it refuses writes before anything is queued.
    store: Store,
    head: Arc<RwLock<Arc<Head>>>,
    metrics: Arc<Metrics>,
}

/// The intake as the handles hold it: when the last handle goes, the intake closes and the
/// pipeline drains and stops.
struct Opened(Arc<Intake>);

impl Drop for Opened {
    fn drop(&mut self) {
        self.0.close();
    }
}

impl Sequencer {
    /// Starts the pipeline over `store`, whose stored head it continues; `guard`, when given,
    /// remembers the latest checkpoint outside the data directory.
    pub fn start(
        store: Store,
        log: LogSigner,
        guard: Option<Arc<CheckpointGuard>>,
    ) -> Result<Sequencer, StoreError> {
        let metrics = Arc::new(Metrics::new());
        let head = store.head()?.unwrap_or_else(Head::empty);
        let published = Arc::new(RwLock::new(Arc::new(head.clone())));
        let shared = Arc::new(Shared {
            durable_size: AtomicU64::new(head.size),
            failed_epoch: AtomicU64::new(0),
            published: Arc::clone(&published),
        });
        let intake = Arc::new(Intake::default());
        let queue = Arc::new(Opened(Arc::clone(&intake)));
        // Capacity 1 between stages: each works at most one block ahead of the next.
        let (to_validate, validating) = std_mpsc::sync_channel::<Vec<VerifiedJob>>(1);
        let (to_persist, persisting) = std_mpsc::sync_channel::<ValidatedBlock>(1);
        let verifier_store = store.clone();
        let handle_store = store.clone();
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
            metrics: Arc::clone(&metrics),
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
                intake: queue,
                store: handle_store,
                head: published,
                metrics,
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
    /// Appends a group of submissions from `client`; answers one outcome per submission, in
    /// order, once the blocks holding them are durable. A remote client that the intake cannot
    /// take is refused at once, as a whole (`Busy`, `ClientShare`); envelopes over their actor's
    /// share are refused one by one (`ActorShare`) and the others go on.
    pub async fn submit(
        &self,
        client: Client,
        submissions: Vec<Submission>,
    ) -> Result<Vec<Outcome>, SequencerError> {
        let count = submissions.len();
        let started = std::time::Instant::now();
        self.writable()?;
        let admitted = match self.intake.0.admit(client, submissions) {
            Ok(admitted) => admitted,
            Err(refusal) => return Err(refused(refusal)),
        };
        let mut outcomes: Vec<Option<Outcome>> = (0..count).map(|_| None).collect();
        for (position, actor) in admitted.refused {
            outcomes[position] = Some(Err(SequencerError::ActorShare { actor }));
        }
        for (positions, answer) in admitted.answers {
            let answered = answer.await.unwrap_or_default();
            let mut answered = answered.into_iter();
            for position in positions {
                outcomes[position] = Some(answered.next().unwrap_or(Err(SequencerError::Stopped)));
            }
        }
        let outcomes: Vec<Outcome> = outcomes
            .into_iter()
            .map(|outcome| outcome.unwrap_or(Err(SequencerError::Stopped)))
            .collect();
        let failures = outcomes
            .iter()
            .filter(|o| {
                matches!(
                    o,
                    Err(SequencerError::Rejected(LedgerError::BadSignature { .. }))
                )
            })
            .count();
        self.intake.0.charge(client, failures);
        self.metrics.receipted(started.elapsed());
        Ok(outcomes)
    }

    /// Refuses `client` at once if it may not submit now (its signature budget is spent), so a
    /// heavy request can be refused before its body is read.
    pub fn may_submit(&self, client: Client) -> Result<(), SequencerError> {
        self.writable()?;
        self.intake.0.check(client).map_err(refused)
    }

    /// Refuses every write at once while the store refuses them (a read-only server, a log
    /// behind its remembered checkpoint): the answer is `read_only` whatever the envelope holds.
    pub fn writable(&self) -> Result<(), SequencerError> {
        match self.store.refuses_writes() {
            Some(reason) => Err(SequencerError::ReadOnly(reason)),
            None => Ok(()),
        }
    }

    /// Blocking form of [`submit`](Self::submit) for the process itself (threads outside any
    /// async runtime): waits for room in the intake instead of being refused.
    pub fn submit_blocking(&self, submissions: Vec<Submission>) -> Vec<Outcome> {
        let count = submissions.len();
        if let Err(e) = self.writable() {
            return (0..count).map(|_| Err(e.again())).collect();
        }
        let admitted = match self.intake.0.admit(Client::Local, submissions) {
            Ok(admitted) => admitted,
            Err(refusal) => return (0..count).map(|_| Err(refused(refusal))).collect(),
        };
        let mut outcomes = Vec::with_capacity(count);
        for (positions, answer) in admitted.answers {
            let answered = answer.blocking_recv().unwrap_or_default();
            let mut answered = answered.into_iter();
            for _ in positions {
                outcomes.push(answered.next().unwrap_or(Err(SequencerError::Stopped)));
            }
        }
        outcomes
    }

    /// The ledger's metrics (docs/OPERATIONS.md).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Envelopes admitted and not yet answered.
    pub fn intake_depth(&self) -> usize {
        self.intake.0.depth()
    }

    /// The latest durable head.
    pub fn head(&self) -> Arc<Head> {
        Arc::clone(&self.head.read().expect("head lock poisoned"))
    }

    /// The published head alone, without a hold on the intake: for a read-only server's
    /// follower thread ([`HeadFollower`]).
    pub fn follower(&self) -> HeadFollower {
        HeadFollower(Arc::clone(&self.head))
    }
}

/// Moves the published head of a read-only server forward as its streaming replica replays.
pub struct HeadFollower(Arc<RwLock<Arc<Head>>>);

impl HeadFollower {
    /// Publishes `head` when it is ahead of the published head, and returns whether it was: a
    /// read-only server (`serve --read-only`) moves its head forward as the replica replays,
    /// and never back, so it never serves a checkpoint older than one it has served. A writer
    /// never needs this.
    pub fn follow(&self, head: Head) -> bool {
        let mut published = self.0.write().expect("head lock poisoned");
        if head.size <= published.size {
            return false;
        }
        *published = Arc::new(head);
        true
    }

    /// The size of the published head.
    pub fn size(&self) -> u64 {
        self.0.read().expect("head lock poisoned").size
    }
}

/// A whole submission refused by the intake.
fn refused(refusal: Refusal) -> SequencerError {
    match refusal {
        Refusal::Busy => SequencerError::Busy,
        Refusal::ClientShare => SequencerError::ClientShare,
        Refusal::BadSignatures => SequencerError::BadSignatures,
        Refusal::Closed => SequencerError::Stopped,
    }
}

fn verify_stage(
    intake: Arc<Intake>,
    store: Store,
    to_commit: std_mpsc::SyncSender<Vec<VerifiedJob>>,
) {
    while let Some(jobs) = intake.next_block(MAX_BLOCK) {
        if to_commit.send(verify_block(&store, jobs)).is_err() {
            return;
        }
    }
}

/// Batch-verifies the signatures of a block that name a key of the event's own actor known at
/// the block's start (at most one per key and envelope), on all cores.
fn verify_block(store: &Store, jobs: Vec<Job>) -> Vec<VerifiedJob> {
    let items: Vec<(&Envelope, &Event)> = jobs
        .iter()
        .flat_map(|job| job.submissions.iter().map(|s| (&s.envelope, &s.event)))
        .collect();
    let mut verified = pre_verify_bound(&items, |key_id| {
        store.key(key_id).ok().flatten().map(|record| KnownKey {
            key: record.public_key,
            actor: record.actor,
            live: record.revoked_at.is_none(),
        })
    })
    .into_iter();
    jobs.into_iter()
        .map(|job| {
            let verified = verified.by_ref().take(job.submissions.len()).collect();
            VerifiedJob { job, verified }
        })
        .collect()
}
