//! Export controls through a real server on the seed scenario (issue 17): the quota route and
//! the actor page, `?policy=cn-mofcom-61&at=`, and the refusals the demo shows — answered with
//! their problem codes and writing nothing.

use crate::common;
use crate::support;

use serde_json::{json, Value};

use common::TestServer;
use lodestone::model::ids::Timestamp;
use lodestone::model::keys::SecretKeyFile;
use lodestone::scenario::Scenario;

/// Loads the seed scenario, rebased to end now; returns it.
fn seed(server: &TestServer) -> Scenario {
    let text = std::fs::read_to_string(server.data.authority_key()).unwrap();
    let (file, key) = SecretKeyFile::parse(&text).unwrap();
    let authority = file.actor.unwrap().parse().unwrap();
    let now_ms = chrono::Utc::now().timestamp_millis() as u64;
    let scenario = Scenario::builtin()
        .unwrap()
        .rebased(&Timestamp::from_unix_millis(now_ms - now_ms % 1000).unwrap())
        .unwrap();
    let envelopes: Vec<Value> = scenario
        .envelopes(&authority, &key)
        .unwrap()
        .iter()
        .map(|e| e.to_json_value())
        .collect();
    let body = serde_json::to_vec(&json!({ "envelopes": envelopes })).unwrap();
    let answer = server.post("/v1/entries:batch", &body).assert_json(200);
    assert_eq!(answer["rejected"], 0, "{answer}");
    scenario
}

#[test]
fn quotas_verdicts_and_refusals_over_http() {
    let server = TestServer::start();
    let scenario = seed(&server);
    let year = scenario
        .events
        .iter()
        .find(|e| e.kind_name() == "set_quota")
        .map(|e| e.occurred_at.as_str()[..4].parse::<u64>().unwrap())
        .unwrap();

    // The quota the scenario used up: 545,055 g REO-equivalent, all of it.
    let q = server
        .get("/v1/actors/northern-rare-earth/quotas")
        .assert_json(200);
    assert_eq!(q["actor"], "northern-rare-earth");
    let first = &q["quotas"][0];
    assert_eq!(
        (
            first["stage"].clone(),
            first["year"].clone(),
            first["quota_g"].clone(),
            first["used_g"].clone(),
            first["remaining_g"].clone()
        ),
        (
            json!("mining"),
            json!(year),
            json!(545_055),
            json!(545_055),
            json!(0)
        )
    );
    assert_eq!(first["used_in"].as_array().unwrap().len(), 1);
    assert_eq!(
        server.get("/v1/actors/nidec/quotas").assert_json(200)["quotas"],
        json!([])
    );
    server
        .get("/v1/actors/nobody-here/quotas")
        .assert_problem(404, "not_found");
    let page = server.get("/actors/northern-rare-earth").text();
    assert!(page.contains("Production quotas"), "{page}");

    // The Japanese magnet with Chinese Dy and Tb, after the suspension: a licence is needed.
    let path = "/v1/batches/SE-MAG-2026-0101/compliance?policy=cn-mofcom-61";
    let v = server
        .get(&format!("{path}&at=2026-12-01"))
        .assert_json(200);
    let verdict = &v["verdicts"][0];
    assert_eq!(verdict["verdict"], "fail");
    assert_eq!(verdict["finding"], "licence_needed");
    assert_eq!(verdict["at"], "2026-12-01T00:00:00Z");
    assert!(verdict["reasons"][0]["message"]
        .as_str()
        .unwrap()
        .contains("17.153%"));
    let v = server
        .get(&format!("{path}&at=2026-06-01"))
        .assert_json(200);
    assert_eq!(v["verdicts"][0]["finding"], "suspended");
    server
        .get(&format!("{path}&at=June"))
        .assert_problem(400, "bad_query");
    // The default set does not include the dated policy.
    let all = server
        .get("/v1/batches/SE-MAG-2026-0101/compliance")
        .assert_json(200);
    assert!(all["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .all(|v| v["policy"] != "cn-mofcom-61"));

    // `lodestone report --at` (the real binary, from the server's bundle): the same finding.
    let out = support::run(&[
        "report",
        "SE-MAG-2026-0101",
        "--server",
        &server.url(""),
        "--policy",
        "cn-mofcom-61",
        "--at",
        "2026-12-01",
        "--format",
        "json",
    ]);
    // A failing verdict exits 1, as for every policy.
    assert_eq!(out.code, Some(1), "{}", out.dump());
    let verdicts: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(verdicts[0]["finding"], "licence_needed", "{}", out.dump());
    assert_eq!(verdicts[0]["at"], "2026-12-01T00:00:00Z");
    let out = support::run(&[
        "report",
        "SE-MAG-2026-0101",
        "--server",
        &server.url(""),
        "--policy",
        "cn-mofcom-61",
        "--at",
        "2025-10-01",
        "--format",
        "json",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.dump());
    let verdicts: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(verdicts[0]["finding"], "not_in_force", "{}", out.dump());

    // What the demo shows refused is refused, and nothing is written.
    let size = server.log().size;
    for (what, code, envelope) in scenario.refused_attempts().unwrap() {
        let status = if code == "export_licence_required" {
            403
        } else {
            422
        };
        server
            .post("/v1/entries", &envelope.to_json())
            .assert_problem(status, code);
        assert_eq!(server.log().size, size, "{what}");
    }
}

/// The monthly flow report names the licence each export cites (issue 17 points 2 and 5).
#[test]
fn flow_reports_name_the_licence_of_each_export() {
    use lodestone::model::event::EventBody;

    let server = TestServer::start();
    let scenario = seed(&server);
    let licensed: Vec<(String, String, String)> = scenario
        .events
        .iter()
        .filter(|e| e.actor.as_ref() == "northern-rare-earth")
        .filter_map(|e| match &e.body {
            EventBody::Ship(s) => s.licence.as_ref().map(|l| {
                (
                    e.occurred_at.as_str()[..7].to_owned(),
                    s.batch.to_string(),
                    l.to_string(),
                )
            }),
            _ => None,
        })
        .collect();
    assert!(
        licensed.len() >= 2,
        "the scenario exports under licence: {licensed:?}"
    );
    for (month, batch, licence) in &licensed {
        let report = server
            .get(&format!(
                "/v1/actors/northern-rare-earth/flows?month={month}"
            ))
            .assert_json(200);
        let line = report["shipped"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["batch"] == json!(batch))
            .unwrap_or_else(|| panic!("{batch} is not among the shipments of {month}: {report}"));
        assert_eq!(line["licence"], json!(licence), "{line}");
        let csv = server
            .get(&format!(
                "/v1/actors/northern-rare-earth/flows?month={month}&format=csv"
            ))
            .text();
        assert!(
            csv.lines().any(|row| row.starts_with("shipped,")
                && row.contains(batch)
                && row.contains(licence)),
            "{csv}"
        );
    }
    // Shipments inside the jurisdiction cite none.
    let (month, _, _) = &licensed[0];
    let report = server
        .get(&format!(
            "/v1/actors/northern-rare-earth/flows?month={month}"
        ))
        .assert_json(200);
    for line in report["shipped"].as_array().unwrap() {
        if line["to_country"] == "CN" {
            assert_eq!(line["licence"], Value::Null, "{line}");
        }
    }
}
