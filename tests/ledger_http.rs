//! The ledger's trust rules through the real server (`127.0.0.1:0`): the status and problem code
//! a client sees for an envelope signed for another log, a batch outside the signer's prefixes,
//! a prefix that overlaps another actor's, an event dated before its signer's registration
//! window, and — before any of that — an envelope that is not signed by the named actor, which
//! gets `403 bad_signature` whatever ids it names (docs/MODEL.md, "Order of the checks").

use crate::common;

use common::{envelope, event, fixed_key, now, World};
use serde_json::json;

#[test]
fn trust_rules_answer_with_their_documented_codes() {
    let world = World::new();
    let miner = world.miner("mine-co");
    let receipt = world.submit_ok(&miner, &event::extract("ev-1", &miner, "ORE-1", 1_000));
    let size = || world.server.log().size;
    let before = size();

    // Not signed by mine-co: 403 whatever the ids name — a used event id, an existing or a
    // missing batch — so a probe learns nothing about the log.
    let stranger = fixed_key("stranger");
    for probe in [
        event::extract("ev-1", &miner, "ORE-9", 5),
        event::extract("ev-2", &miner, "ORE-1", 5),
        event::split("ev-3", &miner, "NO-SUCH-BATCH", 1, &[("ORE-X", 1)]),
    ] {
        world
            .server
            .post("/v1/entries", &envelope(&probe, &[&stranger]))
            .assert_problem(403, "bad_signature");
    }

    // Signed for another log.
    let mut other_log = event::extract("ev-4", &miner, "ORE-4", 5);
    other_log["log"] = json!("another-ledger.example/ree");
    world
        .submit(&other_log, &[&miner.key])
        .assert_problem(422, "wrong_log");

    // A batch under another actor's prefix, or none of its own.
    let alpha = world.miner("alpha-co");
    world
        .submit(&event::extract("ev-5", &miner, "A-ORE", 5), &[&miner.key])
        .assert_problem(403, "foreign_prefix");
    world
        .submit(&event::extract("ev-5", &alpha, "ORE-5", 5), &[&alpha.key])
        .assert_problem(403, "foreign_prefix");

    // A prefix that starts, or is started by, a registered one.
    for prefix in ["ORE-", "ORE-X-", "OR"] {
        let mut register = world.register_event("squatter", &["miner"], &[], &[&stranger]);
        register["prefixes"] = json!([prefix]);
        world
            .submit(&register, &[&world.authority.key])
            .assert_problem(409, "prefix_taken");
    }

    // Dated far before the signer's registration (default window 90 days).
    let mut old = event::extract("ev-6", &miner, "ORE-6", 5);
    old["occurred_at"] = json!("2001-01-01T00:00:00Z");
    world
        .submit(&old, &[&miner.key])
        .assert_problem(422, "before_registration");

    assert_eq!(
        size(),
        before + 1,
        "only alpha-co's registration was written"
    );

    // Signed by its actor, the reused id is the actor's own conflict ...
    let mut reuse = event::extract("ev-1", &miner, "ORE-1", 1_000);
    reuse["occurred_at"] = json!(now());
    world
        .submit(&reuse, &[&miner.key])
        .assert_problem(409, "conflict");
    // ... while another actor may use the same event id.
    let other = world.submit_ok(&alpha, &event::extract("ev-1", &alpha, "A-ORE-1", 5));
    assert_ne!(other["index"], receipt["index"]);
}
