//! The storage conformance suite: what every [`LedgerStore`](super::LedgerStore) must do, as one
//! public function, [`run`], that each backend's test calls with a [`Backend`] (the way akd's
//! storage tests serve every backend).
//!
//! It drives the store through the real write path — the sequencer appending the genesis entry
//! and the seed scenario in blocks of several sizes — and checks after every block what readers
//! rely on: each receipt's entry is readable and hashes to its leaf in the tree; its inclusion
//! proof verifies against the receipt's checkpoint; `checkpoint_at` and `checkpoint_covering`
//! agree with the receipts; tile rows equal a tree recomputed from the entries; state records
//! are there. Then it reopens the store and checks that nothing changed.

use ed25519_dalek::SigningKey;

use super::Store;
use crate::ledger::StateView;
use crate::log::checkpoint::Checkpoint;
use crate::log::hash::leaf_hash;
use crate::log::note::NoteSigner;
use crate::log::tree::{inclusion_proof, verify_inclusion, HashReader, MemoryHashes, NodeId};
use crate::model::event::Event;
use crate::model::ids::{ActorId, Timestamp};
use crate::scenario::Scenario;
use crate::sequencer::{LogSigner, Receipt, Sequencer, Submission};
use crate::service::{genesis_submission, InitOptions};

/// How the suite gets stores of one backend.
pub trait Backend {
    /// A new, empty store.
    fn fresh(&self) -> Store;
    /// The same store opened again (after the previous handle was dropped), as a restarted
    /// process would.
    fn reopen(&self) -> Store;
}

/// The log key and authority the suite signs with (fixed seeds: results are reproducible).
pub fn suite_keys() -> (NoteSigner, SigningKey) {
    let log = NoteSigner::new(
        &InitOptions::default().origin,
        SigningKey::from_bytes(&[7; 32]),
    )
    .expect("a valid origin");
    (log, SigningKey::from_bytes(&[9; 32]))
}

/// Every envelope of the seed scenario after genesis, as submissions.
pub fn scenario_submissions(authority: &SigningKey) -> Vec<Submission> {
    let options = InitOptions::default();
    let id: ActorId = options.authority.parse().expect("a valid actor id");
    let mut out = vec![genesis_submission(&options, authority).expect("genesis")];
    // The scenario names this log and ends now: events may not be dated before their signer's
    // registration minus the ledger's backfill window.
    let now_ms = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or_default();
    let now = Timestamp::from_unix_millis(now_ms - now_ms % 1000).expect("the current time");
    let scenario = Scenario::builtin()
        .expect("the built-in scenario")
        .for_log(&options.origin)
        .rebased(&now)
        .expect("moving the scenario to the present");
    for envelope in scenario.envelopes(&id, authority).expect("signing") {
        let event = Event::from_json(&envelope.payload).expect("scenario events parse");
        out.push(Submission { envelope, event });
    }
    out
}

/// Starts a sequencer over `store` with the suite's log key.
pub fn start(store: &Store) -> Sequencer {
    let (signer, _) = suite_keys();
    Sequencer::start(
        store.clone(),
        LogSigner {
            origin: signer.name().to_owned(),
            signer,
        },
        None,
    )
    .expect("the sequencer starts")
}

/// Checks one receipt against the store: entry, leaf, proof, checkpoint.
pub fn check_receipt(store: &Store, receipt: &Receipt) {
    let (signer, _) = suite_keys();
    let checkpoint = Checkpoint::open(&receipt.checkpoint, &signer.verifier())
        .expect("the receipt's checkpoint verifies");
    assert_eq!(checkpoint.size, receipt.size);
    let bytes = store
        .entry(receipt.index)
        .expect("reading the entry")
        .expect("the acknowledged entry is there");
    let leaf = leaf_hash(&bytes);
    let stored = store
        .read_hashes(&[NodeId::leaf(receipt.index)])
        .expect("the leaf hash")[0];
    assert_eq!(stored, leaf, "entry {}: stored leaf hash", receipt.index);
    let proof = inclusion_proof(receipt.index, receipt.size, store).expect("a proof");
    verify_inclusion(&leaf, receipt.index, receipt.size, &proof, &checkpoint.root)
        .expect("the inclusion proof verifies against the receipt's checkpoint");
    assert_eq!(
        store.checkpoint_covering(receipt.index).expect("covering"),
        Some(receipt.checkpoint.clone()),
        "entry {}: the checkpoint covering it is the receipt's",
        receipt.index
    );
    assert_eq!(
        store.checkpoint_at(receipt.size).expect("at"),
        Some(receipt.checkpoint.clone())
    );
}

/// Checks everything readable in `store` against a tree recomputed from its entries.
pub fn check_contents(store: &Store, size: u64) {
    let head = store.head().expect("head").expect("a head");
    assert_eq!(head.size, size);
    let entries = store.entries(0, size + 5).expect("entries");
    assert_eq!(
        entries.len() as u64,
        size,
        "entries stop at the end of the log"
    );
    let tree = MemoryHashes::from_leaves(entries.iter().map(|e| leaf_hash(e)));
    assert_eq!(
        head.root,
        crate::log::tree::root_hash(size, &tree).expect("root")
    );
    for level in 0..=2u8 {
        let width = size >> level;
        let row = store.node_row(level, 0, width).expect("a row");
        let want: Vec<_> = (0..width)
            .map(|i| tree.node(NodeId::new(level, i)).expect("a node"))
            .collect();
        assert_eq!(row, want, "level {level} row");
    }
    assert!(store.genesis().expect("genesis").is_some());
    assert!(!store.actors().expect("actors").is_empty());
}

/// The whole suite against `backend`.
pub fn run(backend: &dyn Backend) {
    let store = backend.fresh();
    assert_eq!(store.head().expect("head"), None);
    assert!(store.entries(0, 10).expect("entries").is_empty());
    assert_eq!(store.checkpoint_covering(0).expect("covering"), None);
    assert_eq!(store.health(), super::Health::Ready);

    let (_, authority) = suite_keys();
    let submissions = scenario_submissions(&authority);
    // Retries resend these very envelopes: the scenario is dated from the current second, so
    // envelopes signed again a second later would be different events with the same ids.
    let signed = submissions.clone();
    let total = submissions.len() as u64;
    let sequencer = start(&store);
    let handle = sequencer.handle();
    let mut receipts = Vec::new();
    let mut rest = submissions.into_iter();
    // Blocks of 1, 2, 3, ... entries, so block ends fall everywhere in the tree.
    let mut block = 1;
    loop {
        let group: Vec<Submission> = rest.by_ref().take(block).collect();
        if group.is_empty() {
            break;
        }
        for outcome in handle.submit_blocking(group) {
            let receipt = outcome.expect("the scenario is valid");
            check_receipt(&store, &receipt);
            receipts.push(receipt);
        }
        block += 1;
    }
    // An identical retry returns the original receipt.
    let again = signed[3].clone();
    let retry = handle
        .submit_blocking(vec![again])
        .pop()
        .expect("one outcome");
    let retry = retry.expect("a retry is answered");
    assert!(retry.duplicate);
    assert_eq!(retry.index, 3);
    drop(handle);
    sequencer.shutdown();
    check_contents(&store, total);
    for receipt in &receipts {
        check_receipt(&store, receipt);
    }
    let head = store.head().expect("head");
    drop(store);

    let store = backend.reopen();
    assert_eq!(
        store.head().expect("head"),
        head,
        "the head survives a reopen"
    );
    check_contents(&store, total);
    for receipt in &receipts {
        check_receipt(&store, receipt);
    }
    let batch = Scenario::featured_batches()[0].1.clone();
    assert!(store.batch(&batch).expect("batch").is_some());
    // The log continues where it ended.
    let sequencer = start(&store);
    let handle = sequencer.handle();
    let retry = handle
        .submit_blocking(vec![signed[5].clone()])
        .pop()
        .expect("one outcome")
        .expect("a retry after reopen is answered");
    assert_eq!((retry.index, retry.duplicate), (5, true));
    drop(handle);
    sequencer.shutdown();
}
