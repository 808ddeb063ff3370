//! Concurrent writers through a real server on `127.0.0.1:0` (DESIGN.md §2.4, §4): eight
//! clients, each its own registered actor with its own key, submit interleaved extracts, splits,
//! and ships to / receives from each other at the same time. Group commit puts their envelopes
//! into shared blocks; every client must still get a receipt whose inclusion proof verifies
//! against its own signed checkpoint, no two checkpoints may disagree about a size, and every
//! pair of checkpoints seen must be provably consistent (`GET /v1/proofs/consistency`).

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use common::{event, hash, proof, verify_receipt, Actor, World};
use lodestone::log::tree::verify_consistency;
use lodestone::log::Hash;

const CLIENTS: usize = 8;
/// Rounds per client; each round is 4 events (extract, split, ship, receive).
const ROUNDS: usize = 10;
const EXTRACTED_G: u64 = 10_000;
const SHIPPED_G: u64 = 6_000;
/// Reported lost in transit on every receive.
const LOSS_G: u64 = 10;

/// One client's run: returns its receipts in submission order.
fn client(
    world: &World,
    me: &Actor,
    next: &Actor,
    to_next: mpsc::Sender<String>,
    inbox: mpsc::Receiver<String>,
) -> Vec<Value> {
    let mut receipts = Vec::with_capacity(ROUNDS * 4);
    for round in 0..ROUNDS {
        let ore = format!("{}-ORE-{round}", me.id);
        let (kept, shipped) = (format!("{ore}-KEEP"), format!("{ore}-SHIP"));
        receipts.push(world.submit_ok(
            me,
            &event::extract(&world.id(&me.id), me, &ore, EXTRACTED_G),
        ));
        receipts.push(world.submit_ok(
            me,
            &event::split(
                &world.id(&me.id),
                me,
                &ore,
                EXTRACTED_G,
                &[(&kept, EXTRACTED_G - SHIPPED_G), (&shipped, SHIPPED_G)],
            ),
        ));
        receipts.push(world.submit_ok(me, &event::ship(&world.id(&me.id), me, &shipped, &next.id)));
        to_next.send(shipped).expect("neighbour alive");
        // Every client ships before it waits, so this round's shipment to us is on its way.
        let incoming = inbox
            .recv_timeout(Duration::from_secs(30))
            .expect("a shipment from the previous client");
        receipts.push(world.submit_ok(
            me,
            &event::receive(&world.id(&me.id), me, &incoming, SHIPPED_G - LOSS_G),
        ));
    }
    receipts
}

#[test]
fn concurrent_clients_get_verifiable_receipts_and_consistent_checkpoints() {
    let world = World::new();
    let actors: Vec<Actor> = (0..CLIENTS)
        .map(|i| world.miner(&format!("client-{i}")))
        .collect();
    let registered = world.server.log().size;

    // Client i ships to client i + 1 (mod CLIENTS).
    let (senders, inboxes): (Vec<_>, Vec<_>) = (0..CLIENTS).map(|_| mpsc::channel()).unzip();
    let receipts: Vec<Vec<Value>> = std::thread::scope(|scope| {
        let handles: Vec<_> = inboxes
            .into_iter()
            .enumerate()
            .map(|(i, inbox)| {
                let (world, me, next) = (&world, &actors[i], &actors[(i + 1) % CLIENTS]);
                let to_next = senders[(i + 1) % CLIENTS].clone();
                scope.spawn(move || client(world, me, next, to_next, inbox))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("client thread"))
            .collect()
    });

    let log = world.server.log();
    let total = CLIENTS * ROUNDS * 4;
    assert_eq!(log.size, registered + total as u64);

    // Every receipt verifies against its own signed checkpoint; indexes are distinct, and each
    // client's are increasing (its submissions are sequential).
    let mut checkpoints: BTreeMap<u64, Hash> = BTreeMap::new();
    checkpoints.insert(log.size, log.root);
    let mut indexes = BTreeSet::new();
    for client_receipts in &receipts {
        let mut last = None;
        for receipt in client_receipts {
            let checkpoint = verify_receipt(receipt, &log.verifier);
            let index = receipt["index"].as_u64().unwrap();
            assert!(indexes.insert(index), "index {index} handed out twice");
            assert!(last < Some(index), "a client's receipts go backwards");
            last = Some(index);
            let seen = *checkpoints
                .entry(checkpoint.size)
                .or_insert(checkpoint.root);
            assert_eq!(
                seen, checkpoint.root,
                "two signed checkpoints of size {} with different roots",
                checkpoint.size
            );
        }
    }
    assert_eq!(indexes.len(), total);
    assert_eq!(
        indexes.iter().copied().collect::<Vec<_>>(),
        (registered..log.size).collect::<Vec<_>>()
    );

    // Every pair of distinct checkpoints is consistent. Group commit makes a hundred or more
    // distinct checkpoints here, so the ~10^4 proofs are fetched from a few threads.
    let sizes: Vec<(u64, Hash)> = checkpoints.into_iter().collect();
    let pairs: Vec<((u64, Hash), (u64, Hash))> = sizes
        .iter()
        .enumerate()
        .flat_map(|(i, a)| sizes[i + 1..].iter().map(move |b| (*a, *b)))
        .collect();
    std::thread::scope(|scope| {
        for chunk in pairs.chunks(pairs.len().div_ceil(4).max(1)) {
            let world = &world;
            scope.spawn(move || {
                for ((from, from_root), (to, to_root)) in chunk {
                    let body = world
                        .server
                        .get(&format!("/v1/proofs/consistency?from={from}&to={to}"))
                        .assert_json(200);
                    assert_eq!(hash(&body["from_root"]), *from_root, "root of {from}");
                    assert_eq!(hash(&body["to_root"]), *to_root, "root of {to}");
                    verify_consistency(*from, *to, &proof(&body["proof"]), from_root, to_root)
                        .unwrap_or_else(|e| panic!("checkpoints {from} -> {to}: {e}"));
                }
            });
        }
    });
    eprintln!(
        "{total} events from {CLIENTS} clients in {} distinct checkpoints, {} pairs checked",
        sizes.len(),
        pairs.len()
    );

    // The log holds exactly what the clients were told: each client's events, in its order.
    let mut by_actor: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut start = registered;
    while start < log.size {
        let page = world
            .server
            .get(&format!("/v1/entries?start={start}&limit=1000"))
            .assert_json(200);
        for entry in page["entries"].as_array().unwrap() {
            let actor = entry["event"]["actor"].as_str().unwrap().to_owned();
            by_actor
                .entry(actor)
                .or_default()
                .push(entry["index"].as_u64().unwrap());
        }
        start = page["next"].as_u64().unwrap_or(log.size);
    }
    for (actor, client_receipts) in actors.iter().zip(&receipts) {
        let told: Vec<u64> = client_receipts
            .iter()
            .map(|r| r["index"].as_u64().unwrap())
            .collect();
        assert_eq!(by_actor.get(&actor.id), Some(&told), "{}", actor.id);
    }
}
