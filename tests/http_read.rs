//! The read routes through a real server on `127.0.0.1:0` (DESIGN.md §5): `GET /v1/log`,
//! entries by index and by page, RFC 9162 inclusion and consistency proofs (checked with the pure
//! `log::tree` verifier against roots recomputed from the entries' own bytes), and the error
//! answers: unknown entries, bad paths and queries, sizes beyond the log, unknown routes and
//! wrong methods — all `application/problem+json` with a stable `code`.

use crate::common;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::Value;

use common::{envelope, event, hash, proof, verify_receipt, World};
use lodestone::log::checkpoint::Checkpoint;
use lodestone::log::tree::{root_hash, verify_consistency, verify_inclusion, MemoryHashes};
use lodestone::log::{leaf_hash, Hash};
use lodestone::model::entry::Entry;

/// A ledger of `extra + 2` entries (genesis, a miner, `extra` extracts in a few blocks), with
/// the receipts the submitter got.
fn ledger(extra: usize) -> (World, Vec<Value>) {
    let world = World::new();
    let miner = world.miner("mine-co");
    let mut receipts = Vec::new();
    for chunk in (0..extra).collect::<Vec<_>>().chunks(4) {
        let envelopes: Vec<Vec<u8>> = chunk
            .iter()
            .map(|i| {
                envelope(
                    &event::extract(&format!("x-{i}"), &miner, &format!("ORE-{i}"), 1000),
                    &[&miner.key],
                )
            })
            .collect();
        let body = world.submit_batch(&envelopes);
        assert_eq!(body["accepted"], chunk.len());
        receipts.extend(
            body["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["receipt"].clone()),
        );
    }
    (world, receipts)
}

/// Every entry, read page by page with `limit`, following `next`.
fn all_entries(world: &World, limit: u64) -> Vec<Value> {
    let mut entries = Vec::new();
    let mut start = 0;
    loop {
        let page = world
            .server
            .get(&format!("/v1/entries?start={start}&limit={limit}"))
            .assert_json(200);
        assert_eq!(page["start"], start);
        let got = page["entries"].as_array().unwrap();
        assert!(got.len() as u64 <= limit);
        entries.extend(got.iter().cloned());
        match page["next"].as_u64() {
            Some(next) => {
                assert_eq!(next, start + got.len() as u64);
                start = next;
            }
            None => {
                assert_eq!(page["size"], entries.len());
                return entries;
            }
        }
    }
}

#[test]
fn log_info_and_healthz() {
    let (world, _) = ledger(3);
    let log = world.server.log();
    assert_eq!(log.size, 5);
    for field in ["origin", "verifier_key", "size", "root", "checkpoint"] {
        assert!(!log.body[field].is_null(), "GET /v1/log lacks {field}");
    }
    let checkpoint = Checkpoint::open(&log.checkpoint, &log.verifier).unwrap();
    assert_eq!((checkpoint.size, checkpoint.root), (log.size, log.root));
    assert_eq!(log.body["origin"], checkpoint.origin);

    let health = world.server.get("/healthz");
    assert_eq!((health.status, health.text().as_str()), (200, "ok\n"));
}

#[test]
fn pages_cover_the_log_and_the_entries_chain_and_hash_to_the_signed_root() {
    let (world, receipts) = ledger(21);
    let log = world.server.log();
    assert_eq!(log.size, 23);

    let entries = all_entries(&world, 5);
    assert_eq!(entries, all_entries(&world, 1000));
    let default_page = world.server.get("/v1/entries").assert_json(200);
    assert_eq!(default_page["entries"].as_array().unwrap(), &entries);
    assert!(default_page["next"].is_null());

    let mut tree = MemoryHashes::new();
    let mut prev = Hash([0; 32]);
    for (i, entry) in entries.iter().enumerate() {
        assert_eq!(entry["index"], i);
        let leaf = B64.decode(entry["leaf"].as_str().unwrap()).unwrap();
        let leaf_h = leaf_hash(&leaf);
        assert_eq!(hash(&entry["leaf_hash"]), leaf_h, "entry {i}");
        assert_eq!(hash(&entry["prev"]), prev, "entry {i}: prev link");
        let decoded = Entry::decode(&leaf).unwrap();
        assert_eq!((decoded.index, decoded.prev), (i as u64, prev));
        assert_eq!(entry["logged_at_ms"], decoded.logged_at_ms);
        let payload: Value = serde_json::from_slice(&decoded.envelope.payload).unwrap();
        assert_eq!(entry["event"], payload);
        assert_eq!(
            entry["envelope"]["payload"],
            B64.encode(&decoded.envelope.payload)
        );
        prev = leaf_h;
        tree.push_leaf(leaf_h);
    }
    assert_eq!(root_hash(log.size, &tree).unwrap(), log.root);
    // Every older checkpoint a submitter got is a prefix of this tree.
    for receipt in &receipts {
        let checkpoint = verify_receipt(receipt, &log.verifier);
        assert_eq!(root_hash(checkpoint.size, &tree).unwrap(), checkpoint.root);
    }

    // Pages past the end are empty, not errors.
    let past = world
        .server
        .get("/v1/entries?start=500&limit=3")
        .assert_json(200);
    assert_eq!(past["entries"].as_array().unwrap().len(), 0);
    assert!(past["next"].is_null());
    let far = world
        .server
        .get(&format!("/v1/entries?start={}", u64::MAX))
        .assert_json(200);
    assert_eq!(far["entries"].as_array().unwrap().len(), 0);
}

#[test]
fn proofs_verify_against_roots_recomputed_from_the_leaves() {
    let (world, _) = ledger(11);
    let size = world.server.log().size;
    assert_eq!(size, 13);
    let mut tree = MemoryHashes::new();
    for entry in all_entries(&world, 1000) {
        tree.push_leaf(hash(&entry["leaf_hash"]));
    }

    for n in 1..=size {
        let root = root_hash(n, &tree).unwrap();
        for i in 0..n {
            // GET /v1/proofs/inclusion
            let body = world
                .server
                .get(&format!("/v1/proofs/inclusion?index={i}&size={n}"))
                .assert_json(200);
            assert_eq!(
                (body["index"].as_u64(), body["size"].as_u64()),
                (Some(i), Some(n))
            );
            assert_eq!(hash(&body["root"]), root);
            let leaf = hash(&body["leaf_hash"]);
            verify_inclusion(&leaf, i, n, &proof(&body["proof"]), &root)
                .unwrap_or_else(|e| panic!("inclusion {i} in {n}: {e}"));
            // GET /v1/entries/{i}?proof=N: the same proof beside the entry.
            let entry = world
                .server
                .get(&format!("/v1/entries/{i}?proof={n}"))
                .assert_json(200);
            assert_eq!(entry["inclusion"]["size"], n);
            assert_eq!(hash(&entry["inclusion"]["root"]), root);
            assert_eq!(entry["inclusion"]["proof"], body["proof"]);
            verify_inclusion(
                &hash(&entry["leaf_hash"]),
                i,
                n,
                &proof(&entry["inclusion"]["proof"]),
                &root,
            )
            .unwrap();
        }
        // GET /v1/proofs/consistency for every earlier size.
        for m in 1..=n {
            let body = world
                .server
                .get(&format!("/v1/proofs/consistency?from={m}&to={n}"))
                .assert_json(200);
            assert_eq!(
                (body["from"].as_u64(), body["to"].as_u64()),
                (Some(m), Some(n))
            );
            let (r1, r2) = (root_hash(m, &tree).unwrap(), root);
            assert_eq!((hash(&body["from_root"]), hash(&body["to_root"])), (r1, r2));
            verify_consistency(m, n, &proof(&body["proof"]), &r1, &r2)
                .unwrap_or_else(|e| panic!("consistency {m} -> {n}: {e}"));
        }
    }

    // Defaults: size and to are the current log size.
    let body = world
        .server
        .get("/v1/proofs/inclusion?index=3")
        .assert_json(200);
    assert_eq!(body["size"], size);
    let body = world
        .server
        .get("/v1/proofs/consistency?from=4")
        .assert_json(200);
    assert_eq!(body["to"], size);
    verify_consistency(
        4,
        size,
        &proof(&body["proof"]),
        &root_hash(4, &tree).unwrap(),
        &root_hash(size, &tree).unwrap(),
    )
    .unwrap();
    // The entry without `?proof` has no inclusion member.
    let entry = world.server.get("/v1/entries/3").assert_json(200);
    assert!(entry.get("inclusion").is_none());
}

#[test]
fn consistency_from_the_empty_tree() {
    // RFC 9162 defines no proof from the empty tree; the answer must be a clear 200 with an
    // empty proof and the empty root, or a 400 — never a 500.
    let (world, _) = ledger(2);
    let reply = world.server.get("/v1/proofs/consistency?from=0&to=3");
    match reply.status {
        200 => {
            let body = reply.json();
            assert_eq!(body["proof"].as_array().map(Vec::len), Some(0));
            assert_eq!(hash(&body["from_root"]), lodestone::log::empty_root());
        }
        _ => {
            reply.assert_problem(400, "bad_query");
        }
    }
}

#[test]
fn bad_requests_are_problems() {
    let (world, _) = ledger(3);
    let size = world.server.log().size;
    let server = &world.server;

    // Unknown entries.
    server
        .get(&format!("/v1/entries/{size}"))
        .assert_problem(404, "not_found");
    server
        .get("/v1/entries/999999")
        .assert_problem(404, "not_found");
    server
        .get(&format!("/v1/entries/{}", u64::MAX))
        .assert_problem(404, "not_found");

    // Non-numeric or out-of-range path parameters.
    for path in [
        "/v1/entries/abc",
        "/v1/entries/-1",
        "/v1/entries/1.5",
        "/v1/entries/0x10",
        "/v1/entries/99999999999999999999999",
        "/v1/entries/%20",
    ] {
        server.get(path).assert_problem(400, "bad_path");
    }

    // Bad query parameters.
    for path in [
        "/v1/entries/0?proof=abc",
        "/v1/entries/0?proof=-1",
        "/v1/entries/0?prooof=3",
        "/v1/entries?limit=0",
        "/v1/entries?limit=1001",
        "/v1/entries?limit=ten",
        "/v1/entries?start=-1",
        "/v1/entries?page=2",
        "/v1/proofs/inclusion",
        "/v1/proofs/inclusion?index=x",
        "/v1/proofs/inclusion?index=1&size=two",
        "/v1/proofs/inclusion?index=1&from=2",
        "/v1/proofs/consistency",
        "/v1/proofs/consistency?from=x",
        "/v1/proofs/consistency?from=3&to=2",
        "/v1/proofs/consistency?first=1&second=2",
    ] {
        server.get(path).assert_problem(400, "bad_query");
    }

    // Proofs for sizes beyond the log, or for an index not below the size.
    let beyond = size + 1;
    server
        .get(&format!("/v1/entries/0?proof={beyond}"))
        .assert_problem(400, "size_beyond_log");
    server
        .get(&format!("/v1/proofs/inclusion?index=0&size={beyond}"))
        .assert_problem(400, "size_beyond_log");
    server
        .get(&format!("/v1/proofs/inclusion?index=0&size={}", u64::MAX))
        .assert_problem(400, "size_beyond_log");
    server
        .get(&format!("/v1/proofs/consistency?from=1&to={beyond}"))
        .assert_problem(400, "size_beyond_log");
    server
        .get(&format!("/v1/proofs/consistency?from={beyond}"))
        .assert_problem(400, "bad_query");
    server
        .get("/v1/entries/2?proof=2")
        .assert_problem(400, "index_beyond_size");
    server
        .get(&format!("/v1/proofs/inclusion?index={size}"))
        .assert_problem(400, "index_beyond_size");
    server
        .get("/v1/proofs/inclusion?index=0&size=0")
        .assert_problem(400, "index_beyond_size");

    // Unknown routes and wrong methods.
    for path in ["/nope", "/v1", "/v1/entries/1/extra", "/v1/logs", "/tile"] {
        server.get(path).assert_problem(404, "not_found");
    }
    for (method, path) in [
        ("DELETE", "/v1/log"),
        ("POST", "/v1/log"),
        ("PUT", "/v1/entries"),
        ("DELETE", "/v1/entries/0"),
        ("GET", "/v1/entries:batch"),
        ("POST", "/checkpoint"),
        ("POST", "/v1/proofs/inclusion?index=0"),
        ("POST", "/healthz"),
    ] {
        let reply = server.request(method, path, Some(b"{}"));
        reply.assert_problem(405, "method_not_allowed");
        // RFC 9110 §15.5.6: a 405 lists the methods the route does take.
        assert!(
            reply.header("allow").is_some(),
            "{method} {path}: no Allow header"
        );
    }
}
