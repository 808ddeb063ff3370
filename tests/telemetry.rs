//! Metrics and request ids against a real server (docs/OPERATIONS.md): the counts scraped from
//! `GET /metrics` after real traffic are exactly what was sent, and every answer carries its
//! request id (in `x-request-id` and inside problem+json).

use crate::common;

use std::collections::BTreeMap;

use common::event::extract;
use common::{envelope, World};

/// The value of the sample `name{labels}` (labels as written by the exposition, or none).
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            (name == series).then(|| value.parse::<f64>().expect("a number"))
        })
        .unwrap_or(0.0)
}

fn scrape(world: &World) -> String {
    let reply = world.server.get("/metrics");
    assert_eq!(reply.status, 200);
    assert!(
        reply.content_type.starts_with("text/plain; version=0.0.4"),
        "{}",
        reply.content_type
    );
    reply.text()
}

#[test]
fn metrics_count_what_was_sent() {
    let world = World::new();
    let miner = world.miner("metrics-co");
    let before = scrape(&world);

    // 5 accepted, 1 idempotent retry, 2 with a bad signature, 1 that does not parse.
    let accepted = 5;
    let mut first = None;
    for i in 0..accepted {
        let event = extract(
            &world.id("x"),
            &miner,
            &format!("metrics-co-{i}"),
            1_000 + i,
        );
        let receipt = world.submit_ok(&miner, &event);
        first.get_or_insert((event, receipt));
    }
    let (event, _) = first.expect("one event");
    assert_eq!(world.submit(&event, &[&miner.key]).status, 200);
    let stranger = common::fixed_key("stranger");
    for i in 0..2 {
        let event = extract(&world.id("x"), &miner, &format!("metrics-co-bad-{i}"), 7);
        world
            .submit(&event, &[&stranger])
            .assert_problem(403, "bad_signature");
    }
    world
        .server
        .post("/v1/entries", b"{\"payloadType\": 3}")
        .assert_problem(400, "malformed_envelope");
    // A batch: one good, one refused inside it.
    let good = extract(&world.id("x"), &miner, "metrics-co-batch", 5);
    let bad = extract(&world.id("x"), &miner, "metrics-co-batch-bad", 5);
    let batch = world.submit_batch(&[envelope(&good, &[&miner.key]), envelope(&bad, &[&stranger])]);
    assert_eq!(batch["accepted"], 1);

    let after = scrape(&world);
    let delta = |series: &str| sample(&after, series) - sample(&before, series);
    assert_eq!(
        delta("lodestone_entries_appended_total"),
        (accepted + 1) as f64
    );
    assert_eq!(
        delta("lodestone_events_refused_total{code=\"bad_signature\"}"),
        3.0
    );
    assert_eq!(
        delta("lodestone_events_refused_total{code=\"malformed_envelope\"}"),
        1.0
    );
    assert_eq!(
        delta(
            "lodestone_http_requests_total{route=\"/v1/entries\",method=\"POST\",status=\"201\"}"
        ),
        accepted as f64
    );
    assert_eq!(
        delta(
            "lodestone_http_requests_total{route=\"/v1/entries\",method=\"POST\",status=\"200\"}"
        ),
        1.0
    );
    assert_eq!(
        delta(
            "lodestone_http_requests_total{route=\"/v1/entries\",method=\"POST\",status=\"403\"}"
        ),
        2.0
    );
    assert_eq!(
        delta("lodestone_http_requests_total{route=\"/v1/entries:batch\",method=\"POST\",status=\"200\"}"),
        1.0
    );
    // Every block committed is timed, and the log size is the head's.
    assert!(delta("lodestone_block_commit_seconds_count") >= 1.0);
    assert_eq!(
        sample(&after, "lodestone_block_entries_sum")
            - sample(&before, "lodestone_block_entries_sum"),
        (accepted + 1) as f64
    );
    assert!(delta("lodestone_receipt_seconds_count") >= (accepted + 4) as f64);
    let size = world.server.log().size;
    assert_eq!(sample(&after, "lodestone_log_entries"), size as f64);
    assert_eq!(sample(&after, "lodestone_intake_envelopes"), 0.0);
    assert!(sample(&after, "lodestone_disk_free_bytes") > 0.0);
    // Latency histograms per route and method.
    assert!(
        sample(
            &after,
            "lodestone_http_request_duration_seconds_count{route=\"/v1/entries\",method=\"POST\"}"
        ) >= (accepted + 4) as f64
    );
}

#[test]
fn every_answer_carries_its_request_id() {
    let world = World::new();
    // A fresh id for each request, returned in the header.
    let ids: Vec<String> = (0..3)
        .map(|_| {
            world
                .server
                .get("/v1/log")
                .header("x-request-id")
                .expect("x-request-id")
                .to_owned()
        })
        .collect();
    let distinct: BTreeMap<&String, ()> = ids.iter().map(|id| (id, ())).collect();
    assert_eq!(distinct.len(), 3, "{ids:?}");

    // Problems carry the same id in their body.
    let reply = world.server.get("/v1/entries/999999");
    let problem = reply.assert_problem(404, "not_found");
    assert_eq!(
        problem["request_id"].as_str(),
        reply.header("x-request-id"),
        "{problem}"
    );
    let reply = world.server.get("/no/such/route");
    let problem = reply.assert_problem(404, "not_found");
    assert_eq!(problem["request_id"].as_str(), reply.header("x-request-id"));

    // A client's own id is kept when it is sane, replaced when it is not.
    let agent = ureq::AgentBuilder::new().build();
    let url = world.server.url("/v1/log");
    let kept = agent
        .get(&url)
        .set("x-request-id", "client-abc.123")
        .call()
        .expect("200");
    assert_eq!(kept.header("x-request-id"), Some("client-abc.123"));
    let replaced = agent
        .get(&url)
        .set("x-request-id", &"x".repeat(100))
        .call()
        .expect("200");
    let id = replaced.header("x-request-id").expect("an id");
    assert_ne!(id, "x".repeat(100));
    assert!(!id.is_empty());

    // Unmatched routes are counted under one label, not one per path (no label explosion).
    let text = world.server.get("/metrics").text();
    assert!(
        text.contains("route=\"unmatched\""),
        "unmatched requests are counted: {text}"
    );
    assert!(!text.contains("/no/such/route"));
}
