//! Crash safety (DESIGN.md §7, issue 9 point 8): a process appending to a real data directory
//! is killed with SIGKILL at random moments, and after every kill nothing acknowledged may be
//! missing, changed or contradicted.
//!
//! - [`sigkill_under_concurrent_http_writers_loses_nothing_acknowledged`]: `lodestone serve`
//!   under eight concurrent HTTP clients, each submitting its own lane of valid synthetic
//!   events (`lodestone::synth`) as single `POST /v1/entries` and `POST /v1/entries:batch`
//!   requests, killed while they write. After each kill the server is restarted and every
//!   receipt ever given is checked: its entry is in the log with the receipt's leaf hash (read
//!   from the C2SP hash tiles), its inclusion proof verifies against its signed checkpoint, every
//!   checkpoint acknowledged since the last check is provably consistent with the new head
//!   (`GET /v1/proofs/consistency`, checked with the pure `log` core), and the full audit
//!   `lodestone verify --data` passes. Consistency is transitive, so checking each round's
//!   checkpoints and the previous head against the new head covers every checkpoint of every
//!   earlier round.
//! - [`sigkill_during_direct_appends_loses_nothing_acknowledged`]: the hidden `loadgen`
//!   command appends blocks straight through the sequencer and prints `acked <index>`; killed at
//!   random moments from start-up on, the ledger reopens with every acknowledged entry and
//!   audits clean.

use crate::support;

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand_core::{OsRng, RngCore as _};
use serde_json::Value;

use lodestone::log::checkpoint::Checkpoint;
use lodestone::log::note::NoteVerifier;
use lodestone::log::tile::{TilePath, TILE_WIDTH};
use lodestone::log::tree::{verify_consistency, verify_inclusion};
use lodestone::log::Hash;
use lodestone::model::envelope::Envelope;
use lodestone::model::ids::ActorId;
use lodestone::model::keys::SecretKeyFile;
use lodestone::synth::{Lane, World, WorldSize};
use support::{get_bytes, get_json, post_json, run_ok, Server};

/// Rounds of load and SIGKILL through HTTP.
const HTTP_ROUNDS: usize = 20;
/// Concurrent HTTP clients, one synthetic lane each.
const CLIENTS: u32 = 8;
/// Largest batch a client sends (it alternates single submissions and batches of 2..=this).
const MAX_BATCH: usize = 8;
/// Rounds of the direct-append test.
const DIRECT_ROUNDS: usize = 16;

/// A receipt as a client holds it.
#[derive(Clone, Debug)]
struct Receipt {
    index: u64,
    leaf: Hash,
    size: u64,
    root: Hash,
    checkpoint: String,
    proof: Vec<Hash>,
}

fn hash(value: &Value) -> Hash {
    Hash::from_base64(value.as_str().unwrap_or_default())
        .unwrap_or_else(|e| panic!("not a base64 hash: {value}: {e}"))
}

impl Receipt {
    fn from_json(value: &Value) -> Receipt {
        Receipt {
            index: value["index"].as_u64().expect("receipt index"),
            leaf: hash(&value["leaf_hash"]),
            size: value["size"].as_u64().expect("receipt size"),
            root: hash(&value["root"]),
            checkpoint: value["checkpoint"].as_str().expect("checkpoint").to_owned(),
            proof: value["proof"]
                .as_array()
                .expect("receipt proof")
                .iter()
                .map(hash)
                .collect(),
        }
    }
}

/// One client's lane: the envelopes signed so far and how many of them are acknowledged. A
/// lane's events depend on each other in order, so after a crash the client resubmits from the
/// first unacknowledged one: an envelope that did reach the log before the kill is answered
/// `200` with its original receipt (idempotent retry), the others are appended.
struct ClientLane<'w> {
    world: &'w World,
    lane: Lane<'w>,
    signed: Vec<Vec<u8>>,
    acked: usize,
}

impl<'w> ClientLane<'w> {
    fn new(world: &'w World, number: u32) -> ClientLane<'w> {
        ClientLane {
            world,
            lane: world.lane(number),
            signed: Vec::new(),
            acked: 0,
        }
    }

    /// The next `n` unacknowledged envelopes (JSON bytes), signing more as needed.
    fn next(&mut self, n: usize) -> &[Vec<u8>] {
        while self.signed.len() < self.acked + n {
            let event = self.lane.next().expect("lanes are endless");
            self.signed.push(self.world.sign(&event).to_json());
        }
        &self.signed[self.acked..self.acked + n]
    }
}

enum Answer {
    /// Every envelope sent got a receipt (`201` or `200`), in order.
    Receipts(Vec<Receipt>),
    /// The server went away (killed): no answer, nothing acknowledged.
    Gone,
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build()
}

/// Sends `bodies` (one envelope alone, several as a batch) and returns their receipts. Any
/// refusal is a test failure: every lane event is valid and in order.
fn submit(agent: &ureq::Agent, base: &str, bodies: &[Vec<u8>]) -> Answer {
    let (url, body) = if bodies.len() == 1 {
        (format!("{base}/v1/entries"), bodies[0].clone())
    } else {
        let mut body = b"{\"envelopes\":[".to_vec();
        for (i, envelope) in bodies.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(envelope);
        }
        body.extend_from_slice(b"]}");
        (format!("{base}/v1/entries:batch"), body)
    };
    // A well-behaved client: pushback (`429`, `503 busy` with `Retry-After`) is waited out and
    // the same bodies are sent again; nothing of a pushed-back request was written.
    let mut attempts = 0;
    let response = loop {
        match agent
            .post(&url)
            .set("content-type", "application/json")
            .send_bytes(&body)
        {
            Ok(response) => break response,
            Err(ureq::Error::Status(status @ (429 | 503), response)) if attempts < 600 => {
                assert!(
                    response.header("retry-after").is_some(),
                    "POST {url}: {status} without Retry-After"
                );
                attempts += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(ureq::Error::Status(status, response)) => {
                let text = response.into_string().unwrap_or_default();
                panic!("POST {url}: {status} {text}");
            }
            Err(ureq::Error::Transport(_)) => return Answer::Gone,
        }
    };
    let status = response.status();
    // A body cut off by the kill is no answer either.
    let Ok(answer) = response.into_json::<Value>() else {
        return Answer::Gone;
    };
    if bodies.len() == 1 {
        assert!(matches!(status, 200 | 201), "{status}: {answer}");
        return Answer::Receipts(vec![Receipt::from_json(&answer)]);
    }
    let results = answer["results"].as_array().expect("batch results");
    assert_eq!(results.len(), bodies.len(), "{answer}");
    Answer::Receipts(
        results
            .iter()
            .map(|r| {
                assert!(
                    matches!(r["status"].as_u64(), Some(200 | 201)),
                    "a valid lane event was refused: {r}"
                );
                Receipt::from_json(&r["receipt"])
            })
            .collect(),
    )
}

/// One client: submits its lane until the server is gone or `stop` is set.
fn client(
    lane: &mut ClientLane<'_>,
    base: &str,
    stop: &AtomicBool,
    acked: &AtomicU64,
    receipts: &Mutex<Vec<Receipt>>,
) {
    let agent = agent();
    let mut single = lane.lane.number() % 2 == 0;
    while !stop.load(Ordering::Acquire) {
        let n = if single {
            1
        } else {
            2 + (OsRng.next_u32() as usize) % (MAX_BATCH - 1)
        };
        single = !single;
        let bodies = lane.next(n).to_vec();
        match submit(&agent, base, &bodies) {
            Answer::Receipts(got) => {
                lane.acked += got.len();
                acked.fetch_add(got.len() as u64, Ordering::Release);
                receipts.lock().unwrap().extend(got);
            }
            Answer::Gone => return,
        }
    }
}

/// Every leaf hash of the log of `size` entries, from its level-0 hash tiles.
fn leaf_hashes(base: &str, size: u64) -> Vec<Hash> {
    let mut leaves = Vec::with_capacity(size as usize);
    let mut index = 0;
    while index * TILE_WIDTH < size {
        let width = (size - index * TILE_WIDTH).min(TILE_WIDTH) as u16;
        let path = TilePath::Hashes {
            level: 0,
            index,
            width,
        }
        .to_path();
        let bytes = get_bytes(&format!("{base}/{path}"));
        assert_eq!(bytes.len(), usize::from(width) * 32, "{path}");
        leaves.extend(bytes.chunks(32).map(|c| Hash::from_slice(c).unwrap()));
        index += 1;
    }
    leaves
}

/// The checks after a restart: see the module docs. Returns the new head (size, root).
fn check_after_restart(
    base: &str,
    verifier: &NoteVerifier,
    receipts: &[Receipt],
    fresh: &[Receipt],
    previous_head: (u64, Hash),
    round: usize,
) -> (u64, Hash) {
    let (status, log) = get_json(&format!("{base}/v1/log"));
    assert_eq!(status, 200, "{log}");
    let head = Checkpoint::open(log["checkpoint"].as_str().unwrap(), verifier)
        .unwrap_or_else(|e| panic!("round {round}: the head checkpoint: {e}"));
    assert_eq!(log["size"], head.size);
    assert!(
        head.size >= previous_head.0,
        "round {round}: the log shrank from {} to {}",
        previous_head.0,
        head.size
    );

    // Every receipt ever given: its entry is there, with its leaf hash.
    let leaves = leaf_hashes(base, head.size);
    for r in receipts {
        assert!(
            r.index < head.size,
            "round {round}: entry {} was acknowledged, the log has {} entries",
            r.index,
            head.size
        );
        assert_eq!(
            leaves[r.index as usize], r.leaf,
            "round {round}: entry {} changed",
            r.index
        );
    }
    // This round's receipts are sound in themselves: signed checkpoint, inclusion proof.
    let mut checkpoints = BTreeMap::new();
    for r in fresh {
        let signed = Checkpoint::open(&r.checkpoint, verifier)
            .unwrap_or_else(|e| panic!("round {round}: receipt of entry {}: {e}", r.index));
        assert_eq!((signed.size, signed.root), (r.size, r.root), "{r:?}");
        verify_inclusion(&r.leaf, r.index, r.size, &r.proof, &r.root)
            .unwrap_or_else(|e| panic!("round {round}: receipt of entry {}: {e}", r.index));
        if let Some(other) = checkpoints.insert(r.size, r.root) {
            assert_eq!(other, r.root, "two roots signed at size {}", r.size);
        }
    }
    // Every checkpoint acknowledged this round, and the previous head, is consistent with the
    // new head.
    if previous_head.0 > 0 {
        checkpoints.insert(previous_head.0, previous_head.1);
    }
    for (&size, root) in &checkpoints {
        let (status, p) = get_json(&format!(
            "{base}/v1/proofs/consistency?from={size}&to={}",
            head.size
        ));
        assert_eq!(status, 200, "{p}");
        assert_eq!(hash(&p["from_root"]), *root, "round {round}: size {size}");
        assert_eq!(hash(&p["to_root"]), head.root, "round {round}");
        let proof: Vec<Hash> = p["proof"].as_array().unwrap().iter().map(hash).collect();
        verify_consistency(size, head.size, &proof, root, &head.root).unwrap_or_else(|e| {
            panic!(
                "round {round}: the checkpoint at size {size} is not consistent with the head at {}: {e}",
                head.size
            )
        });
    }
    (head.size, head.root)
}

#[test]
fn sigkill_under_concurrent_http_writers_loses_nothing_acknowledged() {
    http_writers(None);
}

/// The same, with the ledger's log in PostgreSQL (`--store`): a server killed mid-transaction
/// leaves nothing half-committed and loses nothing acknowledged.
#[test]
fn sigkill_under_concurrent_http_writers_loses_nothing_acknowledged_postgres() {
    http_writers(Some(support::pg::database("crash_http")));
}

/// `args` followed by `--store <url>` when the log is in PostgreSQL.
fn with_store<'a>(args: &[&'a str], store: Option<&'a str>) -> Vec<&'a str> {
    let mut all = args.to_vec();
    if let Some(url) = store {
        all.extend(["--store", url]);
    }
    all
}

fn http_writers(store: Option<String>) {
    let store = store.as_deref();
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ledger");
    let data_arg = data.to_str().unwrap();
    let state = dir.path().join("verify-state.json");
    run_ok(&with_store(&["init", "--data", data_arg], store));
    let key_text = support::log_key(&data);
    let verifier = NoteVerifier::from_text(&key_text).unwrap();
    let (file, authority_key) =
        SecretKeyFile::parse(&std::fs::read_to_string(data.join("authority.key")).unwrap())
            .unwrap();
    let authority = ActorId::new(file.actor.unwrap()).unwrap();

    let world = World::new(0xC4A5_4001, WorldSize::default()).starting_at(sixty_days_ago());
    let mut server = Some(Server::serve_store(&data, store));
    let base = server.as_ref().unwrap().url.clone();
    let registrations: Vec<Envelope> = world.registrations(&authority, &authority_key);
    let body = serde_json::json!({
        "envelopes": registrations.iter().map(Envelope::to_json_value).collect::<Vec<_>>()
    });
    let (status, answer) = post_json(
        &format!("{base}/v1/entries:batch"),
        &serde_json::to_vec(&body).unwrap(),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["rejected"], 0, "{answer}");

    let mut lanes: Vec<ClientLane<'_>> = (0..CLIENTS).map(|l| ClientLane::new(&world, l)).collect();
    let mut receipts: Vec<Receipt> = Vec::new();
    let mut head = (0u64, Hash::default());
    for round in 0..HTTP_ROUNDS {
        let stop = AtomicBool::new(false);
        let acked = AtomicU64::new(0);
        let fresh = Mutex::new(Vec::new());
        let base = server.as_ref().unwrap().url.clone();
        std::thread::scope(|scope| {
            for lane in lanes.iter_mut() {
                let (base, stop, acked, fresh) = (&base, &stop, &acked, &fresh);
                scope.spawn(move || client(lane, base, stop, acked, fresh));
            }
            // Kill under load: once writes are being acknowledged, at a random moment.
            let deadline = Instant::now() + Duration::from_secs(20);
            while acked.load(Ordering::Acquire) < 8 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(2));
            }
            std::thread::sleep(Duration::from_millis(u64::from(OsRng.next_u32() % 1200)));
            server.take().expect("a running server").kill();
            stop.store(true, Ordering::Release);
        });
        let fresh = fresh.into_inner().unwrap();
        assert!(
            !fresh.is_empty(),
            "round {round}: no write was acknowledged"
        );
        receipts.extend(fresh.iter().cloned());

        let restarted = Server::serve_store(&data, store);
        head = check_after_restart(&restarted.url, &verifier, &receipts, &fresh, head, round);
        let audit = run_ok(&with_store(
            &[
                "verify",
                "--data",
                data_arg,
                "--log-key",
                &key_text,
                "--state",
                state.to_str().unwrap(),
            ],
            store,
        ));
        assert!(audit.contains("verify: OK"), "round {round}: {audit}");
        server = Some(restarted);
    }
    assert_eq!(server.take().map(Server::stop), Some(Some(0)));
    eprintln!(
        "{HTTP_ROUNDS} rounds, {} receipts, log of {} entries, {:.1} s",
        receipts.len(),
        head.0,
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn sigkill_during_direct_appends_loses_nothing_acknowledged() {
    direct_appends(None);
}

/// The same, with the ledger's log in PostgreSQL (`--store`).
#[test]
fn sigkill_during_direct_appends_loses_nothing_acknowledged_postgres() {
    direct_appends(Some(support::pg::database("crash_direct")));
}

fn direct_appends(store: Option<String>) {
    let store = store.as_deref();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ledger");
    let data = data.to_str().unwrap();
    let state = dir.path().join("verify-state.json");
    let state = state.to_str().unwrap();
    run_ok(&with_store(&["init", "--data", data], store));

    let mut acked_max: Option<u64> = None;
    let mut last_size = 0u64;
    for round in 0..DIRECT_ROUNDS {
        let block_size = (1 + round % 7).to_string();
        let mut child = support::command(&with_store(
            &[
                "loadgen",
                "--data",
                data,
                "--blocks",
                "100000",
                "--block-size",
                &block_size,
            ],
            store,
        ))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn loadgen");
        let stdout = child.stdout.take().unwrap();
        let acked = Arc::new(Mutex::new(Vec::<u64>::new()));
        let reader = {
            let acked = Arc::clone(&acked);
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if let Some(index) = line.strip_prefix("acked ") {
                        acked.lock().unwrap().push(index.parse().unwrap());
                    }
                }
            })
        };
        // Kill anywhere from start-up to well into the appends.
        std::thread::sleep(Duration::from_millis(5 + u64::from(OsRng.next_u32() % 400)));
        child.kill().expect("SIGKILL");
        child.wait().unwrap();
        reader.join().unwrap();

        let acked = acked.lock().unwrap().clone();
        if let Some(&max) = acked.iter().max() {
            acked_max = Some(acked_max.map_or(max, |m| m.max(max)));
        }
        // Reopen with the library: every acknowledged entry is there.
        let opened = match store {
            // A reader: the killed writer's session (and its lock) may still be going away.
            Some(url) => lodestone::store::Store::postgres_read_only(url).unwrap(),
            None => support::open_store(Path::new(data)),
        };
        let head = opened.head().unwrap().expect("a head after init");
        assert!(head.size >= last_size, "round {round}: the log shrank");
        if let Some(max) = acked_max {
            assert!(
                max < head.size,
                "round {round}: entry {max} was acknowledged but the log has {} entries",
                head.size
            );
        }
        for &index in &acked {
            assert!(
                opened.entry(index).unwrap().is_some(),
                "round {round}: entry {index} lost"
            );
        }
        last_size = head.size;
        drop(opened);

        // The full audit: chain, rules, root vs the signed checkpoint, and consistency with the
        // checkpoint remembered from the previous round.
        let report = run_ok(&with_store(
            &["verify", "--data", data, "--state", state],
            store,
        ));
        assert!(report.contains("verify: OK"), "round {round}: {report}");
    }
    assert!(
        acked_max.unwrap_or(0) > 0,
        "the load generator never got an append acknowledged"
    );
}

/// Synthetic events start 60 days back: the ledger is created now and refuses events dated more
/// than its 90-day backfill window before their signer's registration.
fn sixty_days_ago() -> u64 {
    let now_ms = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap();
    (now_ms - 60 * 86_400_000) / 86_400_000 * 86_400_000
}
