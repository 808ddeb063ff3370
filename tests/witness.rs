//! `lodestone witness serve` over real HTTP, driven the way c2sp.org/tlog-witness says a log
//! drives it, by a log this project did not run: a test log built here from the pure tree code
//! with its own origin and key. Covers the spec's statuses (200, 400, 403, 404, 409 with a
//! `text/x.tlog.size` body, 422), the cosignature format, the monitoring endpoint, and
//! durability across a restart of the witness.

use crate::support;
use crate::witnessing;

use std::path::Path;

use ed25519_dalek::SigningKey;
use serde_json::Value;
use sha2::Digest as _;

use lodestone::log::checkpoint::Checkpoint;
use lodestone::log::cosignature::{Cosignature, CosignatureVerifier};
use lodestone::log::hash::{empty_root, leaf_hash, Hash};
use lodestone::log::note::NoteSigner;
use lodestone::log::tree::{consistency_proof, root_hash, MemoryHashes};
use lodestone::witness::protocol::AddCheckpoint;
use lodestone::witness::state::origin_hash;

use lodestone::log::tlog_proof::TlogProof;
use lodestone::model::keys::SecretKeyFile;

use support::{run, run_ok, Server};
use witnessing::{get_text, Network};

/// A log built in the test: leaves, tree and signing key.
struct TestLog {
    signer: NoteSigner,
    leaves: Vec<Hash>,
}

impl TestLog {
    fn new(origin: &str, seed: u8, leaves: impl Iterator<Item = Vec<u8>>) -> TestLog {
        TestLog {
            signer: NoteSigner::new(origin, SigningKey::from_bytes(&[seed; 32])).unwrap(),
            leaves: leaves.map(|l| leaf_hash(&l)).collect(),
        }
    }

    fn tree(&self, size: u64) -> MemoryHashes {
        MemoryHashes::from_leaves(self.leaves[..size as usize].iter().copied())
    }

    fn checkpoint(&self, size: u64) -> Checkpoint {
        let root = root_hash(size, &self.tree(size)).unwrap();
        Checkpoint::new(self.signer.name(), size, root).unwrap()
    }

    fn request(&self, old: u64, size: u64) -> AddCheckpoint {
        AddCheckpoint {
            old_size: old,
            proof: consistency_proof(old, size, &self.tree(size)).unwrap(),
            checkpoint: self.checkpoint(size).sign(&self.signer),
        }
    }
}

struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

fn post(url: &str, body: &str) -> Answer {
    let response = match ureq::post(&format!("{url}/add-checkpoint")).send_string(body) {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("POST {url}: {e}"),
    };
    Answer {
        status: response.status(),
        content_type: response.content_type().to_owned(),
        body: response.into_string().unwrap(),
    }
}

fn witness_key(dir: &Path, name: &str) -> (String, CosignatureVerifier) {
    let path = dir.join(format!("{name}.key"));
    let out = run_ok(&[
        "witness",
        "keygen",
        "--name",
        name,
        "--out",
        path.to_str().unwrap(),
        "--json",
    ]);
    let json: Value = serde_json::from_str(&out).unwrap();
    let vkey = CosignatureVerifier::from_text(json["verifier_key"].as_str().unwrap()).unwrap();
    (path.to_str().unwrap().to_owned(), vkey)
}

fn serve(key: &str, data: &Path, logs: &[&TestLog]) -> Server {
    let vkeys: Vec<String> = logs.iter().map(|l| l.signer.verifier().to_text()).collect();
    let mut args = vec![
        "witness",
        "serve",
        "--key",
        key,
        "--data",
        data.to_str().unwrap(),
        "--addr",
        "127.0.0.1:0",
    ];
    for vkey in &vkeys {
        args.extend(["--log", vkey.as_str()]);
    }
    Server::spawn(&args, None)
}

#[test]
fn a_witness_cosigns_a_log_it_did_not_write_and_remembers_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("w1-state");
    let (key, vkey) = witness_key(dir.path(), "witness.test/w1");
    let log = TestLog::new(
        "other.example/test-log",
        41,
        (0..40u32).map(|i| i.to_be_bytes().to_vec()),
    );
    let fresh = TestLog::new("other.example/fresh", 42, std::iter::empty());
    let witness = serve(&key, &data, &[&log, &fresh]);
    let url = witness.url.clone();

    // First contact: old 0, no proof. The answer is one cosignature/v1 line by the witness key
    // over the checkpoint text.
    let first = post(&url, &log.request(0, 5).to_text());
    assert_eq!(first.status, 200, "{}", first.body);
    let cosig = Cosignature::parse_line(&first.body).unwrap();
    assert!(first.body.ends_with('\n') && first.body.lines().count() == 1);
    assert_eq!(
        vkey.verify(&log.checkpoint(5).to_text(), &cosig).ok(),
        Some(cosig.timestamp)
    );
    assert!(cosig.timestamp > 1_700_000_000);

    // Then with a consistency proof from what it holds.
    let second = post(&url, &log.request(5, 12).to_text());
    assert_eq!(second.status, 200, "{}", second.body);

    // The monitoring endpoint serves the checkpoint with the log signature and the cosignature.
    let latest = ureq::get(&format!(
        "{url}/{}/checkpoint",
        origin_hash(log.signer.name())
    ))
    .call()
    .unwrap()
    .into_string()
    .unwrap();
    let opened = Checkpoint::open(&latest, &log.signer.verifier()).unwrap();
    assert_eq!(opened.size, 12);
    assert!(latest.ends_with(&second.body));
    let missing = ureq::get(&format!(
        "{url}/{}/checkpoint",
        origin_hash(fresh.signer.name())
    ))
    .call();
    assert!(matches!(missing, Err(ureq::Error::Status(404, _))));

    // Stale old size: 409, text/x.tlog.size, the held size.
    let stale = post(&url, &log.request(5, 20).to_text());
    assert_eq!(
        (
            stale.status,
            stale.content_type.as_str(),
            stale.body.as_str()
        ),
        (409, "text/x.tlog.size", "12\n")
    );

    // Restart the witness on the same directory: it still holds 12.
    witness.stop();
    let witness = serve(&key, &data, &[&log, &fresh]);
    let url = witness.url.clone();
    let probe = post(&url, &log.request(0, 20).to_text());
    assert_eq!((probe.status, probe.body.as_str()), (409, "12\n"));
    assert_eq!(post(&url, &log.request(12, 20).to_text()).status, 200);

    // A fork of the same log (same key, different leaves after 12): the proof from the held
    // checkpoint does not verify.
    let fork = TestLog {
        signer: log.signer.clone(),
        leaves: log.leaves[..12]
            .iter()
            .copied()
            .chain((0..20u32).map(|i| leaf_hash(&[0xee, i as u8])))
            .collect(),
    };
    let forked = post(&url, &fork.request(20, 25).to_text());
    assert_eq!(forked.status, 422, "{}", forked.body);
    // And still 409 for a client that believes the witness is elsewhere.
    assert_eq!(post(&url, &fork.request(12, 25).to_text()).status, 409);
    assert_eq!(post(&url, &log.request(20, 25).to_text()).status, 200);
}

#[test]
fn the_witness_answers_each_refusal_with_the_specs_status() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = witness_key(dir.path(), "witness.test/w2");
    let log = TestLog::new(
        "other.example/log-a",
        51,
        (0..16u32).map(|i| vec![i as u8; 3]),
    );
    let fresh = TestLog::new(
        "other.example/log-b",
        52,
        (0..16u32).map(|i| vec![i as u8; 4]),
    );
    let witness = serve(&key, &dir.path().join("state"), &[&log, &fresh]);
    let url = witness.url.clone();
    assert_eq!(post(&url, &log.request(0, 8).to_text()).status, 200);

    let problem = |answer: Answer, status: u16, code: &str| {
        assert_eq!(answer.status, status, "{}", answer.body);
        assert_eq!(answer.content_type, "application/problem+json");
        let body: Value = serde_json::from_str(&answer.body).unwrap();
        assert_eq!(body["code"], code);
    };
    // 404: a log the witness does not follow.
    let stranger = TestLog::new(
        "other.example/unknown",
        53,
        (0..4u32).map(|i| vec![i as u8]),
    );
    problem(
        post(&url, &stranger.request(0, 4).to_text()),
        404,
        "unknown_log",
    );
    // 403: the right origin signed by another key, or a tampered signature.
    let impostor = TestLog {
        signer: NoteSigner::new(log.signer.name(), SigningKey::from_bytes(&[54; 32])).unwrap(),
        leaves: log.leaves.clone(),
    };
    problem(
        post(&url, &impostor.request(8, 10).to_text()),
        403,
        "bad_log_signature",
    );
    let mut tampered = log.request(8, 10);
    tampered.checkpoint = tampered.checkpoint.replacen("\n10\n", "\n11\n", 1);
    problem(post(&url, &tampered.to_text()), 403, "bad_log_signature");
    // 400: old larger than the checkpoint, malformed bodies.
    let mut backwards = log.request(8, 8);
    backwards.old_size = 9;
    problem(post(&url, &backwards.to_text()), 400, "old_size_too_large");
    problem(post(&url, "old 08\n\nx\n"), 400, "malformed_request");
    problem(post(&url, "hello"), 400, "malformed_request");
    // 422: a proof that does not verify; same size, other root; a non-empty proof from 0;
    // a size-0 checkpoint with a root other than the empty tree's.
    let mut bad_proof = log.request(8, 12);
    bad_proof.proof[0] = leaf_hash(b"not a node");
    problem(
        post(&url, &bad_proof.to_text()),
        422,
        "inconsistent_checkpoint",
    );
    let other_root = AddCheckpoint {
        old_size: 8,
        proof: vec![],
        checkpoint: Checkpoint::new(log.signer.name(), 8, leaf_hash(b"x"))
            .unwrap()
            .sign(&log.signer),
    };
    problem(
        post(&url, &other_root.to_text()),
        422,
        "inconsistent_checkpoint",
    );
    let mut proof_from_zero = fresh.request(0, 6);
    proof_from_zero.proof = fresh.request(3, 6).proof;
    problem(
        post(&url, &proof_from_zero.to_text()),
        422,
        "inconsistent_checkpoint",
    );
    let empty_with_root = AddCheckpoint {
        old_size: 0,
        proof: vec![],
        checkpoint: Checkpoint::new(fresh.signer.name(), 0, leaf_hash(b"y"))
            .unwrap()
            .sign(&fresh.signer),
    };
    problem(
        post(&url, &empty_with_root.to_text()),
        422,
        "inconsistent_checkpoint",
    );
    let empty = AddCheckpoint {
        old_size: 0,
        proof: vec![],
        checkpoint: Checkpoint::new(fresh.signer.name(), 0, empty_root())
            .unwrap()
            .sign(&fresh.signer),
    };
    assert_eq!(post(&url, &empty.to_text()).status, 200);
    // None of the refusals moved the held size.
    let stale = post(&url, &log.request(0, 12).to_text());
    assert_eq!((stale.status, stale.body.as_str()), (409, "8\n"));
}

#[test]
fn a_log_with_a_policy_serves_witnessed_checkpoints_proofs_and_bundles() {
    let mut net = Network::start(3, 2);
    let receipt = net.write("proof");
    let index = receipt["index"].as_u64().unwrap();
    let note = net.wait_witnessed(net.size(), &["w1", "w2", "w3"]);
    let url = net.url();

    // /checkpoint: the log's checkpoint with every cosignature; the policy accepts it.
    let witnessed = net.policy.verify_checkpoint(&note).unwrap();
    assert_eq!(witnessed.cosigned.len(), 3);

    // An offline proof for the entry, against the witnessed checkpoint, with the leaf as extra.
    let (status, text) = get_text(&format!("{url}/v1/entries/{index}/proof"));
    assert_eq!(status, 200, "{text}");
    let proof = TlogProof::parse(&text).unwrap();
    assert_eq!(proof.index, index);
    let leaf = leaf_hash(proof.extra.as_deref().unwrap());
    assert_eq!(leaf.to_base64(), receipt["leaf_hash"].as_str().unwrap());
    let checked = proof.verify(&leaf, &net.policy, None).unwrap();
    assert!(checked.checkpoint.size > index);
    let (status, _) = get_text(&format!("{url}/v1/entries/{}/proof", net.size() + 5));
    assert_eq!(status, 404);

    // `submit --wait-witnessed` gets and checks such a proof for a new entry.
    let miner = SigningKey::from_bytes(&sha2::Sha256::digest(b"witness-test-miner").into());
    let key_file = net.path("miner.key");
    std::fs::write(
        &key_file,
        SecretKeyFile::new(&miner, Some("witness-miner".into())).to_json(),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let event = net.path("extract.json");
    std::fs::write(
        &event,
        serde_json::to_vec(&serde_json::json!({
            "kind": "extract", "id": "cli-witnessed", "actor": "witness-miner",
            "occurred_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "site": "witness-mine", "batch": "WM-CLI-ORE-1", "form": "ore", "mass_g": 5000,
        }))
        .unwrap(),
    )
    .unwrap();
    let proof_file = net.path("entry.tlog-proof");
    let submitted = run_ok(&[
        "submit",
        event.to_str().unwrap(),
        "--key",
        key_file.to_str().unwrap(),
        "--server",
        &url,
        "--log-key",
        &net.log_vkey,
        "--wait-witnessed",
        "--policy",
        net.policy_path.to_str().unwrap(),
        "--proof-out",
        proof_file.to_str().unwrap(),
    ]);
    assert!(submitted.contains("cosigned by w1"), "{submitted}");
    let saved = TlogProof::parse(&std::fs::read_to_string(&proof_file).unwrap()).unwrap();
    assert!(saved
        .verify(
            &leaf_hash(saved.extra.as_deref().unwrap()),
            &net.policy,
            None
        )
        .is_ok());

    // Bundles carry the witnessed checkpoint; verify-bundle --policy checks the quorum and
    // names the missing witnesses when the cosignatures are stripped.
    net.wait_witnessed(net.size(), &["w1", "w2"]);
    let bundle = support::get_bytes(&format!("{url}/v1/batches/WM-CLI-ORE-1/bundle"));
    let bundle_file = net.path("ore.bundle.json");
    std::fs::write(&bundle_file, &bundle).unwrap();
    let policy = net.policy_path.to_str().unwrap().to_owned();
    let args = [
        "verify-bundle",
        bundle_file.to_str().unwrap(),
        "--log-key",
        &net.log_vkey,
        "--policy",
        &policy,
    ];
    let ok = run_ok(&args);
    assert!(ok.contains("quorum met"), "{ok}");
    let mut json: Value = serde_json::from_slice(&bundle).unwrap();
    let full = json["checkpoint"].as_str().unwrap().to_owned();
    let (body, sigs) = full.split_once("\n\n").unwrap();
    json["checkpoint"] = Value::String(format!("{body}\n\n{}\n", sigs.lines().next().unwrap()));
    std::fs::write(&bundle_file, serde_json::to_vec(&json).unwrap()).unwrap();
    let refused = run(&args);
    assert_eq!(refused.code, Some(1), "{}", refused.dump());
    assert!(
        refused.stdout.contains("missing [w1, w2, w3]"),
        "{}",
        refused.dump()
    );

    // The full audit with the policy accepts the witnessed log.
    let verified = run_ok(&[
        "verify",
        "--server",
        &url,
        "--log-key",
        &net.log_vkey,
        "--policy",
        &policy,
        "--state",
        net.path("verify.json").to_str().unwrap(),
    ]);
    assert!(verified.contains("quorum met"), "{verified}");

    // With every witness down, writes are still answered at once.
    for w in &mut net.witnesses {
        w.stop();
    }
    let started = std::time::Instant::now();
    for _ in 0..3 {
        net.write("unwitnessed");
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}
