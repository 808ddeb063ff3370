//! The log's cosigner: a background task that gathers witness cosignatures for the log's
//! checkpoints (c2sp.org/tlog-witness, client side) until a checkpoint has the quorum of a
//! c2sp.org/tlog-policy, and publishes the latest such checkpoint with every cosignature it got.
//!
//! # How it runs
//!
//! - A ticker reads the sequencer's published head every [`CosignerOptions::interval`]
//!   (250 ms by default) and, when it grew, makes it the new *target*. Checkpoints are thus
//!   coalesced to a few per second whatever the write rate, and every witness is offered the
//!   same checkpoint, so their cosignatures meet on it.
//! - One task per witness sends the latest target to its witness (a witness busy with an
//!   older target simply skips the ones it missed), with the consistency proof from the size
//!   that witness holds. It starts by claiming `old 0`: a witness that already holds a
//!   checkpoint answers `409` with its size, and the task retries once with the right proof.
//!   A witness that is down is retried with backoff (at most every 2 s) and resumes where it
//!   was; one that refuses (`403`, `404`, `422`, ...) is recorded and offered the next target.
//! - Every cosignature is verified against the witness's policy key before it counts.
//!
//! Nothing here is on the write path: receipts never wait for witnesses. A receipt is signed
//! by the log at once; its witnessed form is available (`GET /v1/entries/{index}/proof`) once
//! a checkpoint covering it reaches the quorum.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::log::cosignature::Cosignature;
use crate::log::policy::{Policy, PolicyWitness};
use crate::log::tree::consistency_proof;
use crate::sequencer::SequencerHandle;
use crate::store::Store;

use super::client::{AddOutcome, WitnessClient};
use super::protocol::AddCheckpoint;

/// Checkpoints kept while their cosignatures are gathered.
const GATHERED: usize = 64;

/// Tuning of the cosigner.
#[derive(Clone, Debug)]
pub struct CosignerOptions {
    /// How often the head is sampled (the most checkpoints a witness sees per second is the
    /// inverse).
    pub interval: Duration,
    /// Per-request timeout towards a witness.
    pub timeout: Duration,
    /// Longest wait between retries of a witness that is down.
    pub max_backoff: Duration,
}

impl Default for CosignerOptions {
    fn default() -> Self {
        CosignerOptions {
            interval: Duration::from_millis(250),
            timeout: Duration::from_secs(5),
            max_backoff: Duration::from_secs(2),
        }
    }
}

/// A checkpoint with a quorum of cosignatures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WitnessedHead {
    /// Its tree size.
    pub size: u64,
    /// The log-signed note followed by every cosignature line gathered for it.
    pub note: String,
    /// Policy names of the witnesses that cosigned it.
    pub cosigned: Vec<String>,
}

/// What the log knows about one witness.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct WitnessStatus {
    /// The size the witness holds for this log, as far as the log knows.
    pub size: Option<u64>,
    /// The last refusal or transport failure, cleared by the next success.
    pub error: Option<String>,
}

/// A checkpoint offered to the witnesses.
#[derive(Debug)]
struct Target {
    size: u64,
    /// The log-signed note.
    note: String,
    /// The note text (what cosignatures sign).
    text: String,
}

#[derive(Default)]
struct Gathering {
    /// size → (log-signed note, witness name → cosignature line).
    by_size: BTreeMap<u64, (String, BTreeMap<String, String>)>,
}

struct Shared {
    policy: Arc<Policy>,
    gathering: Mutex<Gathering>,
    status: Mutex<BTreeMap<String, WitnessStatus>>,
    published: watch::Sender<Option<Arc<WitnessedHead>>>,
}

/// Reads the cosigner's results. Cheap to clone; dropping the last clone does not stop the
/// tasks ([`CosignerHandle::shutdown`] does).
#[derive(Clone)]
pub struct CosignerHandle {
    latest: watch::Receiver<Option<Arc<WitnessedHead>>>,
    shared: Arc<Shared>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl std::fmt::Debug for CosignerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CosignerHandle").finish_non_exhaustive()
    }
}

impl CosignerHandle {
    /// The latest checkpoint with a quorum, if any yet.
    pub fn latest(&self) -> Option<Arc<WitnessedHead>> {
        self.latest.borrow().clone()
    }

    /// Waits until a checkpoint of at least `size` has a quorum, or `timeout` passes.
    pub async fn wait_for(&self, size: u64, timeout: Duration) -> Option<Arc<WitnessedHead>> {
        let mut latest = self.latest.clone();
        let wait = async move {
            latest
                .wait_for(|h| h.as_ref().is_some_and(|h| h.size >= size))
                .await
                .ok()
                .and_then(|head| head.clone())
        };
        tokio::time::timeout(timeout, wait).await.ok().flatten()
    }

    /// Each witness's status, by policy name.
    pub fn status(&self) -> BTreeMap<String, WitnessStatus> {
        self.shared
            .status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The policy being enforced.
    pub fn policy(&self) -> &Policy {
        &self.shared.policy
    }

    /// Stops the cosigner's tasks.
    pub fn shutdown(&self) {
        for task in self
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            task.abort();
        }
    }
}

/// Starts the cosigner on the current tokio runtime. Only the policy's witnesses that have a
/// URL are contacted; all count towards the quorum.
pub fn spawn(
    policy: Policy,
    sequencer: SequencerHandle,
    store: Store,
    options: CosignerOptions,
) -> CosignerHandle {
    let (published, latest) = watch::channel(None);
    let shared = Arc::new(Shared {
        policy: Arc::new(policy),
        gathering: Mutex::new(Gathering::default()),
        status: Mutex::new(BTreeMap::new()),
        published,
    });
    let (target_tx, target_rx) = watch::channel::<Option<Arc<Target>>>(None);
    let mut tasks = vec![tokio::spawn(tick(sequencer, target_tx, options.interval))];
    for witness in shared.policy.witnesses.iter().filter(|w| w.url.is_some()) {
        let url = witness.url.clone().unwrap_or_default();
        let follower = Follower {
            witness: witness.clone(),
            client: WitnessClient::new(&url, options.timeout),
            shared: Arc::clone(&shared),
            store: store.clone(),
            max_backoff: options.max_backoff,
        };
        tasks.push(tokio::spawn(follower.run(target_rx.clone())));
    }
    CosignerHandle {
        latest,
        shared,
        tasks: Arc::new(Mutex::new(tasks)),
    }
}

/// Samples the head and publishes it as the target when it grew.
async fn tick(
    sequencer: SequencerHandle,
    targets: watch::Sender<Option<Arc<Target>>>,
    interval: Duration,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut size = None;
    loop {
        ticker.tick().await;
        let head = sequencer.head();
        if size == Some(head.size) || head.checkpoint.is_empty() {
            continue;
        }
        let Some((body, _)) = head.checkpoint.split_once("\n\n") else {
            continue;
        };
        size = Some(head.size);
        let target = Target {
            size: head.size,
            note: head.checkpoint.clone(),
            text: format!("{body}\n"),
        };
        if targets.send(Some(Arc::new(target))).is_err() {
            return;
        }
    }
}

/// One witness's loop.
struct Follower {
    witness: PolicyWitness,
    client: WitnessClient,
    shared: Arc<Shared>,
    store: Store,
    max_backoff: Duration,
}

/// What one exchange with the witness led to.
enum Step {
    /// Cosigned `size`; wait for a newer target.
    Cosigned(u64),
    /// The witness holds `size`: try again at once with the right proof.
    Retry(u64),
    /// Refused or unreachable: wait (and for a newer target if `refused`).
    Failed { refused: bool },
}

impl Follower {
    async fn run(self, mut targets: watch::Receiver<Option<Arc<Target>>>) {
        let me = Arc::new(self);
        // The size the witness holds, as far as we know; `None` until it told us.
        let mut known: Option<u64> = None;
        let mut done: Option<u64> = None;
        let mut backoff = Duration::from_millis(100);
        loop {
            let target = targets.borrow_and_update().clone();
            let Some(target) = target.filter(|t| done != Some(t.size)) else {
                if targets.changed().await.is_err() {
                    return;
                }
                continue;
            };
            let worker = Arc::clone(&me);
            let sent = Arc::clone(&target);
            let step = tokio::task::spawn_blocking(move || worker.exchange(&sent, known))
                .await
                .unwrap_or(Step::Failed { refused: false });
            match step {
                Step::Cosigned(size) => {
                    known = Some(size);
                    done = Some(size);
                    backoff = Duration::from_millis(100);
                }
                Step::Retry(held) => {
                    if known == Some(held) {
                        // Told the same size twice: do not spin.
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(me.max_backoff);
                    }
                    known = Some(held);
                }
                Step::Failed { refused } => {
                    if refused {
                        done = Some(target.size);
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(me.max_backoff);
                    if refused {
                        // The witness's size may have moved (or be unknown): ask again.
                        known = None;
                    }
                }
            }
        }
    }

    fn set_status(&self, size: Option<u64>, error: Option<String>) {
        let mut status = self.shared.status.lock().unwrap_or_else(|p| p.into_inner());
        let entry = status.entry(self.witness.name.clone()).or_default();
        if size.is_some() {
            entry.size = size;
        }
        entry.error = error;
    }

    /// One `add-checkpoint` round trip (blocking: HTTP and store reads).
    fn exchange(&self, target: &Target, known: Option<u64>) -> Step {
        let old = known.unwrap_or(0);
        if old > target.size {
            self.set_status(
                Some(old),
                Some(format!(
                    "the witness holds size {old}, beyond the log's checkpoint of size {}",
                    target.size
                )),
            );
            return Step::Failed { refused: true };
        }
        let proof = match consistency_proof(old, target.size, &self.store) {
            Ok(proof) => proof,
            Err(e) => {
                self.set_status(None, Some(format!("cannot build the proof: {e}")));
                return Step::Failed { refused: true };
            }
        };
        let request = AddCheckpoint {
            old_size: old,
            proof,
            checkpoint: target.note.clone(),
        };
        match self.client.add_checkpoint(&request) {
            Ok(AddOutcome::Cosigned(lines)) => {
                let valid: Vec<&str> = lines
                    .lines()
                    .filter(|line| {
                        Cosignature::parse_line(line)
                            .is_ok_and(|c| self.witness.key.verify(&target.text, &c).is_ok())
                    })
                    .collect();
                if valid.is_empty() {
                    self.set_status(None, Some("answered no valid cosignature".into()));
                    return Step::Failed { refused: true };
                }
                self.set_status(Some(target.size), None);
                self.record(target, valid[0]);
                Step::Cosigned(target.size)
            }
            Ok(AddOutcome::Conflict(held)) => {
                self.set_status(Some(held), None);
                Step::Retry(held)
            }
            Ok(AddOutcome::Refused { status, detail }) => {
                let detail: String = detail.chars().take(300).collect();
                self.set_status(None, Some(format!("refused with {status}: {detail}")));
                Step::Failed { refused: true }
            }
            Err(e) => {
                self.set_status(None, Some(e.to_string()));
                Step::Failed { refused: false }
            }
        }
    }

    /// Adds a verified cosignature and publishes the checkpoint if it now has a quorum.
    fn record(&self, target: &Target, line: &str) {
        let shared = &self.shared;
        let mut gathering = shared.gathering.lock().unwrap_or_else(|p| p.into_inner());
        let (note, lines) = gathering
            .by_size
            .entry(target.size)
            .or_insert_with(|| (target.note.clone(), BTreeMap::new()));
        if *note != target.note {
            // The log signed another checkpoint at this size (it was restarted from a copy):
            // the older gathering is void.
            *note = target.note.clone();
            lines.clear();
        }
        lines.insert(self.witness.name.clone(), format!("{line}\n"));
        let names: BTreeSet<String> = lines.keys().cloned().collect();
        let witnessed = shared.policy.satisfied_by(&names).then(|| WitnessedHead {
            size: target.size,
            note: format!("{note}{}", lines.values().cloned().collect::<String>()),
            cosigned: names.into_iter().collect(),
        });
        while gathering.by_size.len() > GATHERED {
            gathering.by_size.pop_first();
        }
        drop(gathering);
        if let Some(head) = witnessed {
            shared.published.send_if_modified(|current| {
                let newer = current.as_ref().is_none_or(|c| {
                    c.size < head.size
                        || (c.size == head.size && c.cosigned.len() < head.cosigned.len())
                });
                if newer {
                    *current = Some(Arc::new(head));
                }
                newer
            });
        }
    }
}
