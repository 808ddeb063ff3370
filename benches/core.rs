//! Medians of the core operations (`cargo bench --bench core`): hashing, the append frontier,
//! inclusion proofs, the entry codec, event parsing, Ed25519 batch verification and one ledger
//! rule check. No framework: each operation runs in 15 timed samples after a warm-up, and the
//! table shows the median time per operation.
//!
//! Then durable appends through the real sequencer on a real sled directory, in blocks of 1, 100
//! and 1,000 entries, beside the raw limits measured in the same run: Ed25519 batch
//! verification on all cores and bare sled batched writes with one flush per block.

use std::hint::black_box;
use std::time::Instant;

use lodestone::ledger::signatures::EnvelopeSignatures;
use lodestone::ledger::{self, EntryContext, MemState, Signatures};
use lodestone::log::hash::{leaf_hash, node_hash, Hash};
use lodestone::log::tree::{inclusion_proof, verify_inclusion, Frontier, MemoryHashes};
use lodestone::model::entry::Entry;
use lodestone::model::envelope::{verify_signatures, Envelope, SignatureCheck};
use lodestone::model::event::Event;
use lodestone::model::ids::ActorId;
use lodestone::model::material::Role;
use lodestone::model::PublicKey;
use lodestone::synth::{SplitMix64, World, WorldSize};

const SAMPLES: usize = 15;

/// Runs `op` `iters` times per sample and returns the median nanoseconds per call.
fn median_ns(iters: usize, mut op: impl FnMut()) -> f64 {
    for _ in 0..iters {
        op();
    }
    let mut samples: Vec<f64> = (0..SAMPLES)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iters {
                op();
            }
            start.elapsed().as_nanos() as f64 / iters as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[SAMPLES / 2]
}

fn row(name: &str, ns: f64) {
    let (value, unit) = if ns >= 1e6 {
        (ns / 1e6, "ms")
    } else if ns >= 1e3 {
        (ns / 1e3, "µs")
    } else {
        (ns, "ns")
    };
    println!("{name:<44} {value:>9.2} {unit:<2} {:>14.0} /s", 1e9 / ns);
}

/// Signature answers from the envelope itself (registrations only).
struct SelfSigned<'a>(&'a Envelope);

impl Signatures for SelfSigned<'_> {
    fn signed_by(&self, key: &PublicKey) -> bool {
        self.0.is_signed_by(key)
    }
}

fn apply(state: &mut MemState, index: u64, envelope: &Envelope) {
    let event = Event::from_json(&envelope.payload).expect("parses");
    let ctx = EntryContext {
        index,
        logged_at_ms: u64::MAX / 4,
        envelope_digest: envelope.digest(),
    };
    ledger::apply_to_mem(state, &ctx, &event, &SelfSigned(envelope)).expect("valid");
}

fn main() {
    let world = World::new(1, WorldSize::default());
    let envelopes = world.events(64);
    let entry = Entry {
        index: 123_456,
        prev: Hash([7; 32]),
        logged_at_ms: 1_767_225_600_000,
        envelope: envelopes[0].clone(),
    };
    let bytes = entry.encode().expect("encodes");
    println!("{:<44} {:>12} {:>16}", "operation", "median", "rate");

    row(
        &format!("leaf hash ({} B entry)", bytes.len()),
        median_ns(10_000, || {
            black_box(leaf_hash(black_box(&bytes)));
        }),
    );
    let (a, b) = (Hash([1; 32]), Hash([2; 32]));
    row(
        "node hash",
        median_ns(10_000, || {
            black_box(node_hash(black_box(&a), black_box(&b)));
        }),
    );
    let mut frontier = Frontier::new();
    let mut nodes = Vec::new();
    row(
        "frontier append",
        median_ns(10_000, || {
            nodes.clear();
            frontier.append(black_box(a), &mut nodes);
        }),
    );

    let size = 1u64 << 20;
    let tree = MemoryHashes::from_leaves((0..size).map(|i| leaf_hash(&i.to_be_bytes())));
    let root = lodestone::log::tree::root_hash(size, &tree).expect("root");
    let mut rng = SplitMix64::new(3);
    row(
        "inclusion proof, 2^20 leaves (memory)",
        median_ns(2_000, || {
            black_box(inclusion_proof(rng.below(size), size, &tree).expect("proof"));
        }),
    );
    let index = size / 3;
    let proof = inclusion_proof(index, size, &tree).expect("proof");
    let leaf = leaf_hash(&index.to_be_bytes());
    row(
        "inclusion proof verification",
        median_ns(2_000, || {
            verify_inclusion(&leaf, index, size, black_box(&proof), &root).expect("verifies");
        }),
    );

    row(
        "entry encode",
        median_ns(10_000, || {
            black_box(entry.encode().expect("encodes"));
        }),
    );
    row(
        "entry decode (strict, canonical)",
        median_ns(10_000, || {
            black_box(Entry::decode(black_box(&bytes)).expect("decodes"));
        }),
    );
    let json = envelopes[0].to_json();
    row(
        "envelope + event JSON parse",
        median_ns(10_000, || {
            let envelope = Envelope::from_json(black_box(&json)).expect("parses");
            black_box(Event::from_json(&envelope.payload).expect("parses"));
        }),
    );

    let lane: Vec<_> = world.lane(0).take(64).collect();
    let messages: Vec<Vec<u8>> = envelopes.iter().map(Envelope::pae).collect();
    let keys: Vec<_> = lane
        .iter()
        .map(|e| world.actors()[e.signer].key.verifying_key())
        .collect();
    let checks: Vec<SignatureCheck<'_>> = envelopes
        .iter()
        .zip(&messages)
        .zip(&keys)
        .map(|((envelope, message), key)| SignatureCheck {
            message,
            key,
            signature: &envelope.signatures[0].sig,
        })
        .collect();
    let batch = median_ns(20, || {
        assert!(verify_signatures(black_box(&checks)).iter().all(|ok| *ok));
    });
    row("envelope batch verify, 64 signatures", batch);
    row("  per signature", batch / 64.0);

    // One extract against a state holding the world's registry.
    let key = ed25519_dalek::SigningKey::from_bytes(&[42; 32]);
    let mut state = MemState::new();
    let genesis = serde_json::json!({
        "kind": "genesis", "id": "genesis", "actor": "authority",
        "occurred_at": "2025-12-01T00:00:00Z", "origin": world.log(),
        "name": "Bench Registry", "country": "CH",
        "public_key": PublicKey::new(key.verifying_key()),
    });
    apply(
        &mut state,
        0,
        &Envelope::sign(serde_json::to_vec(&genesis).expect("json"), &[&key]).expect("signs"),
    );
    let authority = ActorId::new("authority").expect("valid");
    for (i, envelope) in world.registrations(&authority, &key).iter().enumerate() {
        apply(&mut state, i as u64 + 1, envelope);
    }
    let miner = &world.actors()[world.with_role(Role::Miner)[0]];
    let site = miner.site.as_ref().expect("a mine").id.clone();
    let iters = 1_000;
    let extracts: Vec<(Envelope, Event)> = (0..iters * (SAMPLES + 1))
        .map(|i| {
            let payload = serde_json::to_vec(&serde_json::json!({
                "kind": "extract", "id": format!("bench-x-{i}"), "actor": miner.id,
                "log": world.log(), "occurred_at": "2026-01-02T00:00:00Z", "site": site,
                "batch": format!("{}BENCH-ORE-{i}", miner.prefix), "form": "ore", "mass_g": 40_000_000,
            }))
            .expect("json");
            let event = Event::from_json(&payload).expect("parses");
            (
                Envelope::sign(payload, &[&miner.key]).expect("signs"),
                event,
            )
        })
        .collect();
    let verified = [miner.public_key().key_id()];
    let mut next = extracts.iter();
    let mut index = 1_000u64;
    row(
        "ledger apply: extract (pre-verified)",
        median_ns(iters, || {
            let (envelope, event) = next.next().expect("enough extracts");
            let ctx = EntryContext {
                index,
                logged_at_ms: u64::MAX / 4,
                envelope_digest: envelope.digest(),
            };
            index += 1;
            let signatures = EnvelopeSignatures::new(envelope, &verified);
            ledger::apply_to_mem(&mut state, &ctx, event, &signatures).expect("valid extract");
        }),
    );
    durable_appends();
}

/// Durable appends/s through the sequencer, in blocks of `block` entries (one submitter).
fn appends_per_second(block: usize) -> f64 {
    use lodestone::sequencer::Submission;
    use lodestone::service::{DataDir, InitOptions, LogService};

    let dir = tempfile::tempdir().expect("temp dir");
    let data = DataDir::new(dir.path().join("ledger"));
    LogService::init(&data, &InitOptions::default()).expect("init");
    let service = LogService::open(&data).expect("open");
    let text = std::fs::read_to_string(data.authority_key()).expect("authority key");
    let (_, authority_key) = lodestone::model::keys::SecretKeyFile::parse(&text).expect("key file");
    let miner = ed25519_dalek::SigningKey::from_bytes(&[42; 32]);
    let submission = |payload: serde_json::Value, key: &ed25519_dalek::SigningKey| {
        let bytes = serde_json::to_vec(&payload).expect("json");
        Submission {
            event: Event::from_json(&bytes).expect("event"),
            envelope: Envelope::sign(bytes, &[key]).expect("signs"),
        }
    };
    let now = "2026-01-02T00:00:00Z";
    let register = submission(
        serde_json::json!({
            "kind": "register_actor", "id": "bench-register", "actor": "authority",
            "occurred_at": now, "subject": "bench-mining", "name": "Bench Mining",
            "country": "AU", "roles": ["miner"],
            "sites": [{"id": "bench-mine", "name": "Bench mine", "country": "AU", "kind": "mine"}],
            "public_keys": [PublicKey::new(miner.verifying_key())],
        }),
        &authority_key,
    );
    let handle = service.handle();
    handle
        .submit_blocking(vec![register])
        .pop()
        .expect("one")
        .expect("registered");
    let total = (block * 20).clamp(2_000, 20_000);
    let blocks: Vec<Vec<Submission>> = (0..total)
        .map(|i| {
            submission(
                serde_json::json!({
                    "kind": "extract", "id": format!("bench-{i}"), "actor": "bench-mining",
                    "occurred_at": now, "site": "bench-mine", "batch": format!("B-{i}"),
                    "form": "ore", "mass_g": 1_000_000,
                }),
                &miner,
            )
        })
        .collect::<Vec<_>>()
        .chunks(block)
        .map(<[Submission]>::to_vec)
        .collect();
    let start = Instant::now();
    for chunk in blocks {
        for outcome in handle.submit_blocking(chunk) {
            outcome.expect("appended");
        }
    }
    let rate = total as f64 / start.elapsed().as_secs_f64();
    drop(handle);
    service.shutdown();
    rate
}

/// Raw Ed25519 batch verification on all cores (rayon, chunks of 64), signatures/s.
fn raw_batch_verify(envelopes: &[Envelope], keys: &[ed25519_dalek::VerifyingKey]) -> f64 {
    use rayon::prelude::*;
    let messages: Vec<Vec<u8>> = envelopes.iter().map(Envelope::pae).collect();
    let rounds = 8;
    let start = Instant::now();
    for _ in 0..rounds {
        let ok = (0..envelopes.len())
            .collect::<Vec<_>>()
            .par_chunks(64)
            .all(|chunk| {
                let checks: Vec<SignatureCheck<'_>> = chunk
                    .iter()
                    .map(|&i| SignatureCheck {
                        message: &messages[i],
                        key: &keys[i],
                        signature: &envelopes[i].signatures[0].sig,
                    })
                    .collect();
                verify_signatures(&checks).into_iter().all(|v| v)
            });
        assert!(ok, "every signature verifies");
    }
    (rounds * envelopes.len()) as f64 / start.elapsed().as_secs_f64()
}

/// Raw sled: blocks of 1,000 inserts of 600 bytes, one `apply_batch` and one `flush` each.
fn raw_sled_inserts() -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = sled::Config::new()
        .path(dir.path().join("raw"))
        .flush_every_ms(None)
        .open()
        .expect("sled");
    let value = vec![0x5a_u8; 600];
    let blocks = 40u64;
    let start = Instant::now();
    for b in 0..blocks {
        let mut batch = sled::Batch::default();
        for i in 0..1_000u64 {
            batch.insert(&(b * 1_000 + i).to_be_bytes()[..], value.as_slice());
        }
        db.apply_batch(batch).expect("batch");
        db.flush().expect("flush");
    }
    (blocks * 1_000) as f64 / start.elapsed().as_secs_f64()
}

fn durable_appends() {
    let mut rng = SplitMix64::new(7);
    let keys: Vec<ed25519_dalek::SigningKey> = (0..64)
        .map(|_| {
            let mut seed = [0u8; 32];
            seed.iter_mut().for_each(|b| *b = rng.next_u64() as u8);
            ed25519_dalek::SigningKey::from_bytes(&seed)
        })
        .collect();
    let envelopes: Vec<Envelope> = (0..4_096)
        .map(|i| {
            Envelope::sign(format!("{{\"n\":{i}}}").into_bytes(), &[&keys[i % 64]]).expect("signs")
        })
        .collect();
    let verifying: Vec<_> = (0..4_096).map(|i| keys[i % 64].verifying_key()).collect();
    let verify = raw_batch_verify(&envelopes, &verifying);
    let sled = raw_sled_inserts();
    println!();
    println!(
        "{:<44} {:>12} {:>16}",
        "durable appends (sequencer, sled)", "entries/s", "÷ raw verify"
    );
    for block in [1, 100, 1_000] {
        let rate = appends_per_second(block);
        println!(
            "{:<44} {rate:>12.0} {:>16.2}",
            format!("  blocks of {block}"),
            rate / verify
        );
    }
    println!(
        "{:<44} {verify:>12.0}",
        "raw Ed25519 batch verify, all cores (sig/s)"
    );
    println!(
        "{:<44} {sled:>12.0}",
        "raw sled, 1,000 × 600 B + flush (inserts/s)"
    );
}
