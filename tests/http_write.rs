//! The write path through a real server on `127.0.0.1:0` (DESIGN.md §3.1, §5): the happy path
//! (201 + a receipt that verifies against a checkpoint signed by the log key from `GET /v1/log`),
//! idempotent retries, and a matrix of bad inputs over `POST /v1/entries` and
//! `POST /v1/entries:batch`. Every refusal must be `application/problem+json` with the exact
//! problem `code`, and must leave the log's size and root unchanged ("nothing is written").

use crate::common;

use serde_json::{json, Value};

use common::{
    b64, envelope, envelope_of_payload, event, fixed_key, hash, key_id, now, verify_receipt, World,
};
use lodestone::log::leaf_hash;
use lodestone::model::envelope::EVENT_PAYLOAD_TYPE;

/// POSTs `body` to `/v1/entries`, asserts the problem and that the log did not move.
#[track_caller]
fn refused(world: &World, body: &[u8], status: u16, code: &str) -> Value {
    let before = world.server.head();
    let problem = world
        .server
        .post("/v1/entries", body)
        .assert_problem(status, code);
    assert_eq!(
        world.server.head(),
        before,
        "a refused submission ({code}) changed the log"
    );
    problem
}

/// A hand-made envelope wire form, for shapes `Envelope::sign` would never produce.
fn raw_envelope(payload_type: &str, payload: &str, signatures: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "payloadType": payload_type,
        "payload": payload,
        "signatures": signatures,
    }))
    .unwrap()
}

#[test]
fn accepted_entry_gets_a_receipt_that_verifies_against_the_signed_checkpoint() {
    let world = World::new();
    let log = world.server.log();
    assert_eq!(log.size, 1, "a new ledger holds only its genesis");
    assert_eq!(log.body["origin"], "lodestone.example/rare-earths");
    assert_eq!(log.body["authority"], world.authority.id);

    let miner = world.miner("mine-co");
    let reply = world.submit(
        &event::extract("ev-1", &miner, "ORE-1", 1_000_000),
        &[&miner.key],
    );
    let receipt = reply.assert_json(201);
    assert_eq!(receipt["index"], 2);
    let checkpoint = verify_receipt(&receipt, &log.verifier);
    assert_eq!(checkpoint.size, 3);

    // The receipt agrees with what the log now serves.
    let now = world.server.log();
    assert_eq!((now.size, now.root), (checkpoint.size, checkpoint.root));
    assert_eq!(now.checkpoint, receipt["checkpoint"].as_str().unwrap());
    let entry = world.server.get("/v1/entries/2").assert_json(200);
    assert_eq!(entry["leaf_hash"], receipt["leaf_hash"]);
    let leaf = base64_decode(entry["leaf"].as_str().unwrap());
    assert_eq!(leaf_hash(&leaf), hash(&receipt["leaf_hash"]));
    assert_eq!(entry["event"]["batch"], "ORE-1");
    assert_eq!(entry["event"]["kind"], "extract");
}

#[test]
fn identical_retry_returns_the_same_receipt_and_reused_id_is_a_conflict() {
    let world = World::new();
    let miner = world.miner("mine-co");
    let first_event = event::extract("ev-once", &miner, "ORE-1", 500);
    let body = envelope(&first_event, &[&miner.key]);
    let first = world.server.post("/v1/entries", &body);
    assert_eq!(first.status, 201, "{}", first.text());

    // More entries after it: the retry must still get the receipt of the original block.
    world.submit_ok(&miner, &event::extract("ev-other", &miner, "ORE-2", 500));
    let head = world.server.head();

    let retry = world.server.post("/v1/entries", &body);
    assert_eq!(retry.status, 200, "{}", retry.text());
    assert_eq!(retry.content_type, first.content_type);
    assert_eq!(
        retry.text(),
        first.text(),
        "an identical retry must get a byte-identical receipt"
    );
    assert_eq!(world.server.head(), head, "a retry must append nothing");

    // The same envelope with other JSON layout is still the same envelope.
    let relaid: Value = serde_json::from_slice(&body).unwrap();
    let pretty = serde_json::to_vec_pretty(&relaid).unwrap();
    let again = world.server.post("/v1/entries", &pretty);
    assert_eq!((again.status, again.text()), (200, first.text()));

    // The same id with other content (here: another mass), correctly signed: a conflict.
    let mut other = first_event.clone();
    other["mass_g"] = json!(501);
    refused(&world, &envelope(&other, &[&miner.key]), 409, "conflict");
    // The same content signed again is another envelope (Ed25519 is deterministic, so use a
    // second signature to make it differ): also a conflict.
    let cosigned = envelope(&first_event, &[&miner.key, &fixed_key("someone")]);
    refused(&world, &cosigned, 409, "conflict");
}

#[test]
fn malformed_envelopes_are_refused_before_the_ledger() {
    let world = World::new();
    let miner = world.miner("mine-co");
    let good_event = event::extract("ev-good", &miner, "ORE-1", 100);
    let good: Value = serde_json::from_slice(&envelope(&good_event, &[&miner.key])).unwrap();
    let payload = good["payload"].as_str().unwrap();
    let signatures = good["signatures"].clone();

    refused(&world, b"{not json", 400, "malformed_envelope");
    refused(&world, b"", 400, "malformed_envelope");
    refused(&world, b"[]", 400, "malformed_envelope");
    let mut extra = good.clone();
    extra["extra"] = json!(1);
    refused(
        &world,
        &serde_json::to_vec(&extra).unwrap(),
        400,
        "malformed_envelope",
    );
    refused(
        &world,
        &raw_envelope("application/json", payload, signatures.clone()),
        400,
        "bad_payload_type",
    );
    refused(
        &world,
        &raw_envelope(EVENT_PAYLOAD_TYPE, "not base64!!", signatures.clone()),
        400,
        "bad_base64",
    );
    let mut bad_sig_b64 = signatures.clone();
    bad_sig_b64[0]["sig"] = json!("@@@@");
    refused(
        &world,
        &raw_envelope(EVENT_PAYLOAD_TYPE, payload, bad_sig_b64),
        400,
        "bad_base64",
    );
    refused(
        &world,
        &raw_envelope(EVENT_PAYLOAD_TYPE, payload, json!([])),
        400,
        "bad_signature_format",
    );
    let mut short_sig = signatures.clone();
    short_sig[0]["sig"] = json!(b64(&[7u8; 10]));
    refused(
        &world,
        &raw_envelope(EVENT_PAYLOAD_TYPE, payload, short_sig),
        400,
        "bad_signature_format",
    );
    let mut upper_keyid = signatures.clone();
    upper_keyid[0]["keyid"] = json!(key_id(&miner.key).to_uppercase());
    refused(
        &world,
        &raw_envelope(EVENT_PAYLOAD_TYPE, payload, upper_keyid),
        400,
        "bad_signature_format",
    );

    // Payloads that are not a valid event: not JSON, unknown kind, unknown field, bad ids.
    let sign = |payload: &[u8]| envelope_of_payload(payload.to_vec(), &[&miner.key]);
    refused(&world, &sign(b"{\"kind\":"), 400, "malformed_event");
    let mut unknown_kind = good_event.clone();
    unknown_kind["kind"] = json!("teleport");
    refused(
        &world,
        &envelope(&unknown_kind, &[&miner.key]),
        400,
        "malformed_event",
    );
    let mut unknown_field = good_event.clone();
    unknown_field["colour"] = json!("red");
    refused(
        &world,
        &envelope(&unknown_field, &[&miner.key]),
        400,
        "malformed_event",
    );
    for (field, bad) in [
        ("batch", "ORE 1"),
        ("batch", "ore#1"),
        ("batch", "-ORE"),
        ("batch", "ÖRE-1"),
        ("id", "ev 1"),
        ("id", ""),
        ("actor", "Mine-Co"),
        ("actor", "mine_co"),
        ("site", "mine co"),
        ("occurred_at", "2026-03-01T08:00:00+02:00"),
        ("occurred_at", "yesterday"),
    ] {
        let mut bad_event = good_event.clone();
        bad_event[field] = json!(bad);
        let problem = refused(
            &world,
            &envelope(&bad_event, &[&miner.key]),
            400,
            "malformed_event",
        );
        assert!(
            problem["detail"].as_str().unwrap().contains(field),
            "{field}={bad:?}: the detail should name the field: {problem}"
        );
    }
    let mut negative = good_event.clone();
    negative["mass_g"] = json!(-5);
    refused(
        &world,
        &envelope(&negative, &[&miner.key]),
        400,
        "malformed_event",
    );
    let mut float = good_event.clone();
    float["mass_g"] = json!(1.5);
    refused(
        &world,
        &envelope(&float, &[&miner.key]),
        400,
        "malformed_event",
    );

    // The good envelope still goes through: nothing above disturbed the log.
    world
        .server
        .post("/v1/entries", &serde_json::to_vec(&good).unwrap())
        .assert_json(201);
}

#[test]
fn oversized_bodies_and_payloads_are_413() {
    let world = World::new();
    // Over the route's body limit (256 KiB): refused before parsing.
    let mut body = vec![b' '; 256 * 1024 + 1];
    body[0] = b'{';
    refused(&world, &body, 413, "body_too_large");
    // Under the body limit, but a payload over 60 KiB: refused by the envelope rules.
    let payload = b64(&vec![b'x'; 61 * 1024]);
    let signature = json!([{"keyid": "00".repeat(32), "sig": b64(&[0u8; 64])}]);
    refused(
        &world,
        &raw_envelope(EVENT_PAYLOAD_TYPE, &payload, signature),
        413,
        "payload_too_large",
    );
}

#[test]
fn signature_and_registry_refusals() {
    let world = World::new();
    let miner = world.miner("mine-co");
    let other = world.miner("other-co");

    // Bad signature: one bit of the signature flipped.
    let good = envelope(&event::extract("ev-1", &miner, "ORE-1", 100), &[&miner.key]);
    let mut tampered: Value = serde_json::from_slice(&good).unwrap();
    let mut sig = base64_decode(tampered["signatures"][0]["sig"].as_str().unwrap());
    sig[5] ^= 0x01;
    tampered["signatures"][0]["sig"] = json!(b64(&sig));
    refused(
        &world,
        &serde_json::to_vec(&tampered).unwrap(),
        403,
        "bad_signature",
    );
    // Bad signature: the payload changed after signing.
    let mut swapped: Value = serde_json::from_slice(&good).unwrap();
    let mut forged = event::extract("ev-1", &miner, "ORE-1", 999_999);
    forged["log"] = json!(common::LOG);
    let forged = serde_json::to_vec(&forged).unwrap();
    swapped["payload"] = json!(b64(&forged));
    refused(
        &world,
        &serde_json::to_vec(&swapped).unwrap(),
        403,
        "bad_signature",
    );
    // Unknown key: a well-formed signature by a key nobody registered. The key id is only a
    // hint, so the ledger reports that no current key of the actor signed (`bad_signature`).
    let stranger = fixed_key("stranger");
    refused(
        &world,
        &envelope(&event::extract("ev-2", &miner, "ORE-2", 100), &[&stranger]),
        403,
        "bad_signature",
    );
    // Another registered actor's key does not count for this actor either.
    refused(
        &world,
        &envelope(&event::extract("ev-3", &miner, "ORE-3", 100), &[&other.key]),
        403,
        "bad_signature",
    );
    // A registry event signed by a non-authority key.
    let reg = world.register_event("rogue", &["miner"], &[], &[&stranger]);
    refused(&world, &envelope(&reg, &[&miner.key]), 403, "bad_signature");
    // A registry event by an actor without the authority role (signed with its own key).
    let mut reg_by_miner = reg.clone();
    reg_by_miner["actor"] = json!(miner.id);
    refused(
        &world,
        &envelope(&reg_by_miner, &[&miner.key]),
        403,
        "role_not_allowed",
    );

    // Unregistered actor.
    let ghost = common::Actor {
        id: "ghost-co".into(),
        key: fixed_key("ghost-co"),
    };
    refused(
        &world,
        &envelope(&event::extract("ev-4", &ghost, "ORE-4", 100), &[&ghost.key]),
        403,
        "unknown_actor",
    );
    // Shipping to an unregistered actor.
    world.submit_ok(&miner, &event::extract("ev-5", &miner, "ORE-5", 100));
    refused(
        &world,
        &envelope(
            &event::ship("ev-6", &miner, "ORE-5", "ghost-co"),
            &[&miner.key],
        ),
        403,
        "unknown_actor",
    );

    // Wrong role: a trader may not extract, a miner may not separate.
    let trader = world.register("trader-co", &["trader"], &[]);
    let mut trader_extract = event::extract("ev-7", &trader, "ORE-7", 100);
    trader_extract["site"] = json!("mine-co-mine");
    refused(
        &world,
        &envelope(&trader_extract, &[&trader.key]),
        403,
        "role_not_allowed",
    );
    let separation = event::transform(
        "ev-8",
        &miner,
        "separation",
        &[("ORE-5", 50)],
        &[("OX-8", 10)],
        "oxide",
    );
    refused(
        &world,
        &envelope(&separation, &[&miner.key]),
        403,
        "role_not_allowed",
    );
    // Extract at someone else's mine.
    let mut foreign = event::extract("ev-9", &miner, "ORE-9", 100);
    foreign["site"] = json!("other-co-mine");
    refused(
        &world,
        &envelope(&foreign, &[&miner.key]),
        403,
        "foreign_site",
    );

    // Revoked key: add a second key, revoke the first; the first no longer counts.
    let second = fixed_key("mine-co-2");
    let add = json!({
        "kind": "update_actor", "id": "upd-1", "actor": world.authority.id,
        "occurred_at": now(), "subject": miner.id, "add_public_keys": [common::public_b64(&second)],
    });
    world.submit_ok(&world.authority, &add);
    // Revoking a key the subject does not have: `unknown_key`.
    let revoke_unknown = json!({
        "kind": "revoke_key", "id": "rev-0", "actor": world.authority.id,
        "occurred_at": now(), "subject": miner.id, "key_id": key_id(&stranger),
    });
    refused(
        &world,
        &envelope(&revoke_unknown, &[&world.authority.key]),
        422,
        "unknown_key",
    );
    let revoke = json!({
        "kind": "revoke_key", "id": "rev-1", "actor": world.authority.id,
        "occurred_at": now(), "subject": miner.id, "key_id": key_id(&miner.key),
        "reason": "key compromised",
    });
    world.submit_ok(&world.authority, &revoke);
    refused(
        &world,
        &envelope(
            &event::extract("ev-10", &miner, "ORE-10", 100),
            &[&miner.key],
        ),
        403,
        "revoked_key",
    );
    world
        .submit(&event::extract("ev-11", &miner, "ORE-11", 100), &[&second])
        .assert_json(201);
}

#[test]
fn custody_and_mass_refusals() {
    let world = World::new();
    let a = world.miner("alpha-co");
    let b = world.miner("beta-co");
    let c = world.miner("gamma-co");
    world.submit_ok(&a, &event::extract("x-1", &a, "A-ORE", 1000));
    world.submit_ok(&a, &event::extract("x-2", &a, "A-ORE-2", 1000));

    // Over-consumption: taking more than the batch holds.
    let over = event::split("s-1", &a, "A-ORE", 1001, &[("A-1", 1001)]);
    refused(
        &world,
        &envelope(&over, &[&a.key]),
        422,
        "insufficient_mass",
    );
    // Mass inflation: outputs weigh more than the input taken.
    let inflate = event::split("s-2", &a, "A-ORE", 500, &[("A-1", 300), ("A-2", 300)]);
    refused(
        &world,
        &envelope(&inflate, &[&a.key]),
        422,
        "mass_imbalance",
    );
    // The same input listed twice in one transform.
    let twice = event::transform(
        "s-3",
        &a,
        "merge",
        &[("A-ORE", 100), ("A-ORE", 100)],
        &[("A-M", 200)],
        "ore",
    );
    refused(&world, &envelope(&twice, &[&a.key]), 409, "double_spend");
    // Double spend: use the whole batch, then spend it again.
    world.submit_ok(
        &a,
        &event::split("s-4", &a, "A-ORE", 1000, &[("A-1", 600), ("A-2", 400)]),
    );
    let again = event::split("s-5", &a, "A-ORE", 100, &[("A-3", 100)]);
    refused(&world, &envelope(&again, &[&a.key]), 409, "double_spend");
    // Outputs that already exist.
    let exists = event::split("s-6", &a, "A-1", 100, &[("A-2", 100)]);
    refused(&world, &envelope(&exists, &[&a.key]), 409, "batch_exists");
    // Unknown input.
    let unknown = event::split("s-7", &a, "NOPE", 100, &[("A-9", 100)]);
    refused(&world, &envelope(&unknown, &[&a.key]), 404, "unknown_batch");

    // Non-custodian ship and transform.
    refused(
        &world,
        &envelope(&event::ship("t-1", &b, "A-1", &c.id), &[&b.key]),
        403,
        "not_custodian",
    );
    let steal = event::split("t-2", &b, "A-1", 100, &[("B-1", 100)]);
    refused(&world, &envelope(&steal, &[&b.key]), 403, "not_custodian");

    // Receive by the wrong party; receive of more than was shipped; the sender is locked out
    // while in transit.
    world.submit_ok(&a, &event::ship("t-3", &a, "A-1", &b.id));
    refused(
        &world,
        &envelope(&event::receive("t-4", &c, "A-1", 600), &[&c.key]),
        403,
        "not_addressee",
    );
    refused(
        &world,
        &envelope(&event::receive("t-5", &b, "A-1", 601), &[&b.key]),
        422,
        "received_too_much",
    );
    let in_transit = event::split("t-6", &a, "A-1", 100, &[("A-5", 100)]);
    refused(&world, &envelope(&in_transit, &[&a.key]), 409, "in_transit");
    world.submit_ok(&b, &event::receive("t-7", &b, "A-1", 590));
    refused(
        &world,
        &envelope(&event::receive("t-8", &b, "A-1", 590), &[&b.key]),
        409,
        "not_in_transit",
    );
    // Now b holds it and a does not.
    refused(
        &world,
        &envelope(&event::ship("t-9", &a, "A-1", &c.id), &[&a.key]),
        403,
        "not_custodian",
    );
    world.submit_ok(&b, &event::split("t-10", &b, "A-1", 590, &[("B-2", 590)]));

    // A process the forms do not allow: extract of a magnet.
    let mut magnet = event::extract("f-1", &a, "A-MAG", 10);
    magnet["form"] = json!("magnet");
    refused(
        &world,
        &envelope(&magnet, &[&a.key]),
        422,
        "invalid_transition",
    );

    // Future occurred_at: beyond the 5-minute skew allowance.
    let mut future = event::extract("f-2", &a, "A-FUT", 10);
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    future["occurred_at"] = json!(later.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    refused(&world, &envelope(&future, &[&a.key]), 422, "future_event");
    // Within the skew allowance (5 minutes) is fine: participants' clocks drift.
    let mut skewed = event::extract("f-2b", &a, "A-SKEW", 10);
    let soon = chrono::Utc::now() + chrono::Duration::minutes(4);
    skewed["occurred_at"] = json!(soon.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    world.submit_ok(&a, &skewed);
    // Before its input existed.
    // (An hour back: after the registration's backfill window starts, before the input.)
    let mut early = event::split("f-3", &a, "A-ORE-2", 10, &[("A-E", 10)]);
    let hour_ago = chrono::Utc::now() - chrono::Duration::hours(1);
    early["occurred_at"] = json!(hour_ago.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    refused(&world, &envelope(&early, &[&a.key]), 422, "before_inputs");
    // A second genesis: never over HTTP (tests/http_abuse.rs covers the batch route).
    let genesis = json!({
        "kind": "genesis", "id": "genesis-2", "actor": world.authority.id, "occurred_at": now(),
        "origin": "lodestone.example/rare-earths", "name": "Again", "country": "CH",
        "public_key": common::public_b64(&world.authority.key),
    });
    refused(
        &world,
        &envelope(&genesis, &[&world.authority.key]),
        403,
        "genesis_not_allowed",
    );
}

#[test]
fn batch_route_answers_per_envelope() {
    let world = World::new();
    let a = world.miner("alpha-co");
    let (size0, _) = world.server.head();

    // Built once: an identical retry must be the very same bytes (times are in milliseconds).
    let first = envelope(&event::extract("b-1", &a, "A-ORE", 1000), &[&a.key]);
    let envelopes = vec![
        first.clone(),
        // Depends on the previous one in the same request.
        envelope(
            &event::split("b-2", &a, "A-ORE", 1000, &[("A-1", 500), ("A-2", 500)]),
            &[&a.key],
        ),
        // Spends A-ORE again: double spend, refused on its own.
        envelope(
            &event::split("b-3", &a, "A-ORE", 10, &[("A-3", 10)]),
            &[&a.key],
        ),
        // Not an envelope at all.
        br#"{"payloadType": 5}"#.to_vec(),
        // Mass inflation.
        envelope(
            &event::split("b-4", &a, "A-1", 100, &[("A-4", 200)]),
            &[&a.key],
        ),
        // Fine, after the refusals.
        envelope(&event::ship("b-5", &a, "A-2", "alpha-co"), &[&a.key]),
        envelope(&event::extract("b-6", &a, "A-ORE-2", 5), &[&a.key]),
        // An identical retry of the first one.
        first,
        // The id of b-6 with other content.
        envelope(&event::extract("b-6", &a, "A-ORE-2", 6), &[&a.key]),
    ];
    let body = world.submit_batch(&envelopes);
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), envelopes.len());
    let statuses: Vec<u64> = results
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [201, 201, 409, 400, 422, 422, 201, 200, 409]);
    let codes: Vec<&str> = results
        .iter()
        .map(|r| r["problem"]["code"].as_str().unwrap_or("-"))
        .collect();
    assert_eq!(
        codes,
        [
            "-",
            "-",
            "double_spend",
            "malformed_envelope",
            "mass_imbalance",
            // Shipping to oneself: the same code as a payload that does not parse, but 422
            // (content that contradicts itself) rather than 400.
            "invalid_event",
            "-",
            "-",
            "conflict"
        ]
    );
    assert_eq!(
        (body["accepted"].as_u64(), body["rejected"].as_u64()),
        (Some(4), Some(5))
    );

    let log = world.server.log();
    assert_eq!(
        log.size,
        size0 + 3,
        "exactly the three new entries are appended"
    );
    let mut indexes = Vec::new();
    for r in results.iter().filter(|r| r["receipt"].is_object()) {
        let checkpoint = verify_receipt(&r["receipt"], &log.verifier);
        assert!(checkpoint.size <= log.size);
        indexes.push(r["receipt"]["index"].as_u64().unwrap());
    }
    assert_eq!(indexes, [size0, size0 + 1, size0 + 2, size0]);
    // The retry inside the batch got the receipt of the original.
    assert_eq!(results[7]["receipt"], results[0]["receipt"]);
    for r in results.iter().filter(|r| r["problem"].is_object()) {
        assert_eq!(r["problem"]["status"], r["status"]);
        assert_eq!(
            r["problem"]["type"],
            format!("/problems/{}", r["problem"]["code"].as_str().unwrap())
        );
    }
}

#[test]
fn keys_registered_or_revoked_earlier_in_the_same_request_count_from_the_next_entry() {
    // The sequencer batch-verifies signatures against the registry as of the start of a block;
    // keys that change inside the block must still give the verdict entry-by-entry replay gives.
    let world = World::new();
    let a = world.miner("alpha-co");
    let newcomer = common::fixed_key("newcomer");
    let second = fixed_key("alpha-co-2");
    let auth = &world.authority;
    let add = json!({
        "kind": "update_actor", "id": "upd-a", "actor": auth.id, "occurred_at": now(),
        "subject": a.id, "add_public_keys": [common::public_b64(&second)],
    });
    let revoke = json!({
        "kind": "revoke_key", "id": "rev-a", "actor": auth.id, "occurred_at": now(),
        "subject": a.id, "key_id": key_id(&a.key),
    });
    let register = world.register_event("newcomer", &["miner"], &["newcomer-mine"], &[&newcomer]);
    let newcomer_actor = common::Actor {
        id: "newcomer".into(),
        key: newcomer.clone(),
    };
    let envelopes = vec![
        // Signed by the first key while it is still live: accepted.
        envelope(&event::extract("k-1", &a, "A-1", 10), &[&a.key]),
        // Signed by the second key before it is added: refused.
        envelope(&event::extract("k-2", &a, "A-2", 10), &[&second]),
        envelope(&add, &[&auth.key]),
        envelope(&event::extract("k-3", &a, "A-3", 10), &[&second]),
        envelope(&revoke, &[&auth.key]),
        // The first key, revoked one entry earlier: refused.
        envelope(&event::extract("k-4", &a, "A-4", 10), &[&a.key]),
        // An actor registered inside the request acts with its new key.
        envelope(
            &event::extract("k-5", &newcomer_actor, "N-1", 10),
            &[&newcomer],
        ),
        envelope(&register, &[&auth.key]),
        envelope(
            &event::extract("k-6", &newcomer_actor, "N-2", 10),
            &[&newcomer],
        ),
    ];
    let body = world.submit_batch(&envelopes);
    let outcome: Vec<(u64, &str)> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["status"].as_u64().unwrap(),
                r["problem"]["code"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    assert_eq!(
        outcome,
        [
            (201, "-"),
            (403, "bad_signature"),
            (201, "-"),
            (201, "-"),
            (201, "-"),
            (403, "revoked_key"),
            (403, "unknown_actor"),
            (201, "-"),
            (201, "-"),
        ]
    );
}

#[test]
fn batch_bodies_may_exceed_the_single_entry_limit() {
    let world = World::new();
    let a = world.miner("alpha-co");
    let (size0, _) = world.server.head();
    let mut envelopes: Vec<Vec<u8>> = (0..700)
        .map(|i| {
            envelope(
                &event::extract(&format!("big-{i}"), &a, &format!("A-ORE-{i}"), 7),
                &[&a.key],
            )
        })
        .collect();
    // One forged signature in the middle: batch verification fails as a whole and must fall
    // back to finding the one bad signature, not refuse its neighbours.
    let mut forged: Value = serde_json::from_slice(&envelopes[350]).unwrap();
    let mut sig = base64_decode(forged["signatures"][0]["sig"].as_str().unwrap());
    sig[0] ^= 0x80;
    forged["signatures"][0]["sig"] = json!(b64(&sig));
    envelopes[350] = serde_json::to_vec(&forged).unwrap();
    let bytes: usize = envelopes.iter().map(Vec::len).sum();
    assert!(
        bytes > 256 * 1024,
        "the request must exceed the single-entry body limit"
    );
    let body = world.submit_batch(&envelopes);
    assert_eq!(body["accepted"], 699);
    assert_eq!(body["results"][350]["problem"]["code"], "bad_signature");
    assert_eq!(world.server.head().0, size0 + 699);

    // More than 10,000 envelopes in one request: refused whole.
    let many = format!("{{\"envelopes\": [{}{{}}]}}", "{},".repeat(10_000));
    let before = world.server.head();
    world
        .server
        .post("/v1/entries:batch", many.as_bytes())
        .assert_problem(413, "batch_too_large");
    assert_eq!(world.server.head(), before);
}

#[test]
fn malformed_batch_requests_are_refused_whole() {
    let world = World::new();
    let before = world.server.head();
    for body in [
        &b"not json"[..],
        br#"{"envelopes": 3}"#,
        br#"{"envelope": []}"#,
        br#"[]"#,
        br#"[[]]"#,
        br#"{"envelopes": [], "extra": 1}"#,
    ] {
        world
            .server
            .post("/v1/entries:batch", body)
            .assert_problem(400, "malformed_batch");
    }
    let empty = world
        .server
        .post("/v1/entries:batch", br#"{"envelopes": []}"#)
        .assert_json(200);
    assert_eq!(empty["results"], json!([]));
    assert_eq!(world.server.head(), before);
}

/// serde's derived `Deserialize` for a struct also accepts a JSON *array* of the field values,
/// so `["application/vnd.lodestone.event.v1+json", "<payload>", [["<keyid>", "<sig>"]]]` once
/// passed for a DSSE envelope. DESIGN.md §2.1 fixes the envelope as the DSSE JSON *object*: the
/// parser reads objects field by field and refuses anything else with `400 malformed_envelope`.
#[test]
fn dsse_envelope_must_be_a_json_object() {
    let world = World::new();
    let miner = world.miner("mine-co");
    let object: Value = serde_json::from_slice(&envelope(
        &event::extract("ev-array", &miner, "ORE-1", 5),
        &[&miner.key],
    ))
    .unwrap();
    let array = json!([
        object["payloadType"],
        object["payload"],
        [[
            object["signatures"][0]["keyid"],
            object["signatures"][0]["sig"]
        ]],
    ]);
    refused(
        &world,
        &serde_json::to_vec(&array).unwrap(),
        400,
        "malformed_envelope",
    );
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("base64")
}
