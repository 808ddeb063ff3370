//! GS1 EPCIS 2.0 through the real server and the real binary (docs/EPCIS.md): every export
//! validates against GS1's EPCIS 2.0 JSON Schema and maps each event kind as documented; the
//! query interface filters and pages; the import refuses what is outside its profile with a
//! located reason and submits nothing; and the seed scenario survives a round trip to a fresh
//! ledger with the same state, the same provenance answers and the same event hashes.

use crate::common;
use crate::support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::{Reply, World};
use lodestone::epcis::hash::{event_hash, Prefixes};
use lodestone::epcis::import::{import_document, ImportProfile};
use lodestone::epcis::Names;
use lodestone::model::event::{Event, EventBody};
use lodestone::model::ids::{ActorId, Timestamp};
use lodestone::model::keys::SecretKeyFile;
use lodestone::scenario::{actor_key, Scenario};
use serde_json::{json, Value};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/epcis");
const ORIGIN: &str = "lodestone.example/rare-earths";

/// The seed scenario, ending now, for the default log.
fn scenario() -> Scenario {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    Scenario::builtin()
        .unwrap()
        .for_log(ORIGIN)
        .rebased(&Timestamp::from_unix_millis(now - now % 1000 - 60_000).unwrap())
        .unwrap()
        // EPCIS carries supply-chain events only: rules, licences and quotas are not in it.
        .without_export_controls()
}

/// A ledger with the scenario's participants registered and, if `events`, its events logged.
fn world(scenario: &Scenario, events: bool) -> World {
    let world = World::new();
    let authority: ActorId = world.authority.id.parse().unwrap();
    let envelopes = scenario
        .envelopes(&authority, &world.authority.key)
        .unwrap();
    let count = if events {
        envelopes.len()
    } else {
        scenario.actors.len()
    };
    let bodies: Vec<Vec<u8>> = envelopes[..count].iter().map(|e| e.to_json()).collect();
    let answer = world.submit_batch(&bodies);
    assert_eq!(answer["rejected"], 0, "{answer}");
    world
}

fn schema() -> jsonschema::Validator {
    let text =
        std::fs::read_to_string(format!("{FIXTURES}/schema/EPCIS-JSON-Schema.json")).unwrap();
    jsonschema::options()
        .should_validate_formats(true)
        .build(&serde_json::from_str(&text).unwrap())
        .unwrap()
}

#[track_caller]
fn assert_valid(validator: &jsonschema::Validator, doc: &Value) {
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .take(10)
        .collect();
    assert!(errors.is_empty(), "not valid EPCIS 2.0: {errors:#?}");
}

/// Every event of `/v1/epcis/events` with `query`, following the `Link` header page by page.
fn all_events(world: &World, query: &str) -> (Vec<Value>, usize) {
    let mut path = format!("/v1/epcis/events?{query}");
    let mut events = Vec::new();
    let mut pages = 0;
    loop {
        let reply = world.server.get(&path);
        let doc = reply.assert_json(200);
        assert_eq!(reply.header("gs1-epcis-version"), Some("2.0.0"));
        assert_eq!(doc["type"], "EPCISQueryDocument");
        events.extend(
            doc["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
                .as_array()
                .unwrap()
                .iter()
                .cloned(),
        );
        pages += 1;
        match next_link(&reply) {
            Some(next) => path = next,
            None => return (events, pages),
        }
    }
}

fn next_link(reply: &Reply) -> Option<String> {
    let link = reply.header("link")?;
    let start = link.find('<')? + 1;
    let end = link.find('>')?;
    Some(link[start..end].to_owned())
}

fn ids(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["eventID"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn exports_validate_against_the_gs1_schema_and_map_each_kind_as_documented() {
    let scenario = scenario();
    let world = world(&scenario, true);
    let validator = schema();
    let names = Names::new(ORIGIN);

    let reply = world.server.get("/v1/epcis/events?perPage=1000");
    let doc = reply.assert_json(200);
    assert_valid(&validator, &doc);
    let events = doc["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        .as_array()
        .unwrap();
    assert_eq!(
        events.len(),
        scenario.events.len(),
        "every supply-chain event, no registry event"
    );

    for (event, source) in events.iter().zip(&scenario.events) {
        let e = event.as_object().unwrap();
        // The eventID is the CBV 2.0 hash of the event as exported (lodestone:proof aside).
        let id = e["eventID"].as_str().unwrap();
        assert!(
            id.starts_with("ni:///sha-256;") && id.ends_with("?ver=CBV2.0"),
            "{id}"
        );
        assert_eq!(
            event_hash(e, &Prefixes::from_context(doc.get("@context"))),
            id
        );
        assert_eq!(e["lodestone:event"], source.id.as_str());
        assert_eq!(e["lodestone:actor"], names.actor(source.actor.as_str()));
        assert_eq!(e["eventTime"], source.occurred_at.as_str());
        // The proof names the entry that holds the event, and its leaf hash.
        let index = e["lodestone:proof"]["lodestone:entry"].as_u64().unwrap();
        let entry = world
            .server
            .get(&format!("/v1/entries/{index}"))
            .assert_json(200);
        assert_eq!(entry["event"]["id"], source.id.as_str());
        let leaf = common::hash(&entry["leaf_hash"]);
        assert_eq!(e["lodestone:proof"]["lodestone:leafHash"], leaf.to_hex());

        let kg = |g: u64| -> String {
            if g % 1000 == 0 {
                (g / 1000).to_string()
            } else {
                format!("{}.{:03}", g / 1000, g % 1000)
                    .trim_end_matches('0')
                    .to_owned()
            }
        };
        let quantity = |v: &Value| {
            (
                v["epcClass"].as_str().unwrap().to_owned(),
                v["quantity"].to_string(),
                v["uom"].clone(),
            )
        };
        match &source.body {
            EventBody::Extract(x) => {
                assert_eq!(
                    (
                        e["type"].as_str(),
                        e["action"].as_str(),
                        e["bizStep"].as_str()
                    ),
                    (Some("ObjectEvent"), Some("ADD"), Some("commissioning"))
                );
                assert_eq!(
                    quantity(&e["quantityList"][0]),
                    (
                        names.batch(x.batch.as_str()),
                        kg(x.mass_g.get()),
                        json!("KGM")
                    )
                );
                let site = world
                    .server
                    .get(&format!("/v1/actors/{}", source.actor))
                    .assert_json(200);
                assert!(site.to_string().contains(x.site.as_str()));
                assert!(e["ilmd"]["cbvmda:countryOfOrigin"].is_string());
                assert_eq!(e["ilmd"]["lodestone:mineSite"], names.site(x.site.as_str()));
                assert_eq!(e["bizLocation"]["id"], names.site(x.site.as_str()));
            }
            EventBody::Transform(t) => {
                assert_eq!(e["type"], "TransformationEvent");
                let inputs: Vec<_> = e["inputQuantityList"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(quantity)
                    .collect();
                let want: Vec<_> = t
                    .inputs
                    .iter()
                    .map(|i| {
                        (
                            names.batch(i.batch.as_str()),
                            kg(i.mass_g.get()),
                            json!("KGM"),
                        )
                    })
                    .collect();
                assert_eq!(inputs, want);
                let outputs: Vec<_> = e["outputQuantityList"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(quantity)
                    .collect();
                let want: Vec<_> = t
                    .outputs
                    .iter()
                    .map(|o| {
                        (
                            names.batch(o.batch.as_str()),
                            kg(o.mass_g.get()),
                            json!("KGM"),
                        )
                    })
                    .collect();
                assert_eq!(outputs, want);
                let forms: Vec<_> = e["ilmd"]["lodestone:outputs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|o| o["lodestone:form"].clone())
                    .collect();
                assert_eq!(
                    forms,
                    t.outputs
                        .iter()
                        .map(|o| json!(o.form.as_str()))
                        .collect::<Vec<_>>()
                );
            }
            EventBody::Ship(s) => {
                assert_eq!(
                    (
                        e["action"].as_str(),
                        e["bizStep"].as_str(),
                        e["disposition"].as_str()
                    ),
                    (Some("OBSERVE"), Some("shipping"), Some("in_transit"))
                );
                assert_eq!(
                    e["destinationList"],
                    json!([
                        {"type": "owning_party", "destination": names.actor(s.to.as_str())},
                        {"type": "possessing_party", "destination": names.actor(s.to.as_str())},
                    ])
                );
                assert_eq!(
                    e["sourceList"][0]["source"],
                    names.actor(source.actor.as_str())
                );
            }
            EventBody::Receive(r) => {
                assert_eq!(
                    (e["bizStep"].as_str(), e["disposition"].as_str()),
                    (Some("receiving"), Some("in_progress"))
                );
                assert_eq!(quantity(&e["quantityList"][0]).1, kg(r.mass_g.get()));
                assert_eq!(
                    e["destinationList"][0]["destination"],
                    names.actor(source.actor.as_str())
                );
                assert_eq!(
                    e["sourceList"][0]["type"], "owning_party",
                    "the shipper is the source"
                );
            }
            EventBody::Certify(c) => {
                assert_eq!(e["bizStep"], "inspecting");
                let info = e["certificationInfo"].as_str().unwrap();
                assert_eq!(
                    lodestone::epcis::export::document_digest(info),
                    Some(*c.document_sha256.as_bytes())
                );
                assert_eq!(e["lodestone:claim"], c.claim.as_str());
            }
            EventBody::Retire(r) => {
                assert_eq!(e["action"], "DELETE");
                let (step, disposition) = lodestone::epcis::vocab::retire_step(r.reason);
                assert_eq!(
                    (e["bizStep"].as_str(), e["disposition"].as_str()),
                    (Some(step), Some(disposition))
                );
            }
            other => panic!("registry event exported: {other:?}"),
        }
    }

    // A batch's upstream document: valid, and it reaches back to the mines.
    for (label, batch) in Scenario::featured_batches() {
        let reply = world.server.get(&format!(
            "/v1/batches/{}/epcis",
            batch.as_str().replace('/', "%2F")
        ));
        let doc = reply.assert_json(200);
        assert_valid(&validator, &doc);
        assert_eq!(doc["type"], "EPCISDocument");
        let list = doc["epcisBody"]["eventList"].as_array().unwrap();
        assert!(
            list.iter().any(|e| e["bizStep"] == "commissioning"),
            "{label}: no mine in its upstream"
        );
        assert!(
            list.iter()
                .any(|e| e.to_string().contains(&names.batch(batch.as_str()))),
            "{label}"
        );
    }
    world
        .server
        .get("/v1/batches/NO-SUCH-1/epcis")
        .assert_problem(404, "not_found");
    world
        .server
        .get("/v1/batches/MP-MAG-2026-0001/epcis?x=1")
        .assert_problem(400, "bad_query");
}

#[test]
fn the_query_interface_filters_and_pages() {
    let scenario = scenario();
    let world = world(&scenario, true);
    let names = Names::new(ORIGIN);
    let (everything, _) = all_events(&world, "perPage=1000");
    assert_eq!(everything.len(), scenario.events.len());

    // Paging: small pages give the same events in the same order.
    let (paged, pages) = all_events(&world, "perPage=7");
    assert_eq!(ids(&paged), ids(&everything));
    assert_eq!(pages, scenario.events.len().div_ceil(7).max(1));

    let count =
        |f: &dyn Fn(&EventBody) -> bool| scenario.events.iter().filter(|e| f(&e.body)).count();
    let (t, _) = all_events(&world, "eventType=TransformationEvent");
    assert_eq!(t.len(), count(&|b| matches!(b, EventBody::Transform(_))));
    assert!(t.iter().all(|e| e["type"] == "TransformationEvent"));

    let (s, _) = all_events(
        &world,
        "EQ_bizStep=shipping|urn:epcglobal:cbv:bizstep:receiving",
    );
    assert_eq!(
        s.len(),
        count(&|b| matches!(b, EventBody::Ship(_) | EventBody::Receive(_)))
    );

    // Every event that names one batch class.
    let batch = Scenario::featured_batches()[0].1.clone();
    let class = names.batch(batch.as_str());
    let (m, _) = all_events(&world, &format!("MATCH_anyEPCClass={}", urlencode(&class)));
    assert_eq!(
        m.len(),
        scenario
            .events
            .iter()
            .filter(|e| e.body.batches().contains(&&batch))
            .count()
    );
    assert!(!m.is_empty());
    let (prefix, _) = all_events(
        &world,
        &format!(
            "MATCH_anyEPCClass={}",
            urlencode(&format!("{}/batches/MP-*", names.base()))
        ),
    );
    assert!(prefix.len() > m.len());

    // A site.
    let (x, _) = all_events(
        &world,
        &format!("EQ_bizLocation={}", urlencode(&names.site("mountain-pass"))),
    );
    assert!(!x.is_empty());
    assert!(x
        .iter()
        .all(|e| e["bizLocation"]["id"] == names.site("mountain-pass")));

    // A time window: [first event's time, last event's time) leaves out the last event(s).
    let first = scenario.events.first().unwrap().occurred_at.as_str();
    let last = scenario.events.last().unwrap().occurred_at.as_str();
    let (w, _) = all_events(&world, &format!("GE_eventTime={first}&LT_eventTime={last}"));
    assert_eq!(
        w.len(),
        scenario
            .events
            .iter()
            .filter(|e| e.occurred_at.as_str() < last)
            .count()
    );

    // Strict parameters.
    for bad in [
        "foo=1",
        "perPage=0",
        "perPage=1001",
        "eventType=Thing",
        "GE_eventTime=yesterday",
        "nextPageToken=abc",
        "nextPageToken=999999999",
        "perPage=1&perPage=2",
    ] {
        world
            .server
            .get(&format!("/v1/epcis/events?{bad}"))
            .assert_problem(400, "bad_query");
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn profile() -> ImportProfile {
    ImportProfile {
        names: Names::new(ORIGIN),
        log: ORIGIN.to_owned(),
        default_actor: Some("mp-materials".parse().unwrap()),
    }
}

fn fixture_documents(dir: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(Path::new(FIXTURES).join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    out.sort();
    out
}

#[test]
fn every_fixture_document_imports_or_is_refused_with_a_located_reason() {
    let mut refused = 0;
    let mut docs = fixture_documents("openepcis/capture/Documents");
    docs.extend(fixture_documents("openepcis/capture/Events"));
    for path in &docs {
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        match import_document(&doc, &profile()) {
            Ok(events) => assert!(!events.is_empty(), "{}", path.display()),
            Err(refusals) => {
                refused += 1;
                for r in &refusals {
                    assert!(r.path.starts_with("$"), "{}: {r}", path.display());
                    assert!(!r.reason.is_empty());
                }
            }
        }
    }
    assert_eq!(
        refused,
        docs.len(),
        "the openepcis documents use instance EPCs or foreign identifiers, outside the profile"
    );

    // The invalid set: every document is refused, through the real binary, and says where.
    for path in fixture_documents("openepcis/capture/Invalid") {
        let run = support::run(&[
            "epcis",
            "import",
            path.to_str().unwrap(),
            "--key",
            &key_file("mp-materials").1,
            "--log",
            ORIGIN,
            "--dry-run",
        ]);
        assert_eq!(run.code, Some(2), "{}: {}", path.display(), run.dump());
        assert!(
            run.stderr.contains(" at $"),
            "{}: {}",
            path.display(),
            run.dump()
        );
        assert!(
            run.stderr.contains("nothing was submitted"),
            "{}",
            run.dump()
        );
        assert!(!run.stderr.contains("panicked"), "{}", run.dump());
    }
}

#[test]
fn specific_refusals_name_position_path_and_why() {
    let doc = |events: Value| json!({"@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"], "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2026-01-01T00:00:00Z", "epcisBody": {"eventList": events}});
    let names = Names::new(ORIGIN);
    let good = json!({"type": "ObjectEvent", "action": "ADD", "bizStep": "commissioning", "eventTime": "2026-03-01T10:00:00+02:00", "eventTimeZoneOffset": "+02:00",
        "quantityList": [{"epcClass": names.batch("MP-ORE-X1"), "quantity": 1234.567, "uom": "KGM"}], "bizLocation": {"id": names.site("mountain-pass")}});
    let events = import_document(&doc(json!([good])), &profile()).unwrap();
    let EventBody::Extract(x) = &events[0].event.body else {
        panic!()
    };
    assert_eq!(x.mass_g.get(), 1_234_567, "exact grams");
    assert_eq!(events[0].event.occurred_at.as_str(), "2026-03-01T08:00:00Z");

    let cases = [
        (
            json!({"quantityList": [{"epcClass": names.batch("MP-ORE-X1"), "quantity": 1.0005, "uom": "KGM"}]}),
            "quantityList[0].quantity",
            "whole number of grams",
        ),
        (
            json!({"quantityList": [{"epcClass": names.batch("MP-ORE-X1"), "quantity": 5, "uom": "LBR"}]}),
            "quantityList[0].quantity",
            "KGM, TNE or GRM",
        ),
        (
            json!({"quantityList": [{"epcClass": "urn:epc:class:lgtin:4012345.012345.x", "quantity": 5}]}),
            "quantityList[0].uom",
            "unit",
        ),
        (
            json!({"bizLocation": {"id": "https://elsewhere.example/sites/x"}}),
            "bizLocation.id",
            "not a site of this log",
        ),
        (
            json!({"bizStep": "transforming"}),
            "bizStep",
            "not a CBV 2.0 bizStep",
        ),
        (
            json!({"example:note": "x"}),
            "example:note",
            "outside the import profile",
        ),
        (
            json!({"epcList": ["urn:epc:id:sgtin:0614141.107346.2017"]}),
            "epcList",
            "instance-level",
        ),
        (json!({"eventTime": "22-07-2026"}), "eventTime", "RFC 3339"),
    ];
    for (change, path, why) in cases {
        let mut bad = good.clone();
        for (k, v) in change.as_object().unwrap() {
            bad[k] = v.clone();
        }
        let refusals = import_document(&doc(json!([good, bad])), &profile()).unwrap_err();
        assert_eq!(refusals.len(), 1, "{refusals:?}");
        assert_eq!(refusals[0].position, Some(1));
        assert_eq!(
            refusals[0].path,
            format!("$.epcisBody.eventList[1].{path}"),
            "{refusals:?}"
        );
        assert!(
            refusals[0].reason.contains(why),
            "{path}: {}",
            refusals[0].reason
        );
    }
    let tonnes = json!({"quantityList": [{"epcClass": names.batch("MP-ORE-X1"), "quantity": 1.5, "uom": "TNE"}]});
    let mut t = good.clone();
    t["quantityList"] = tonnes["quantityList"].clone();
    let events = import_document(&doc(json!([t])), &profile()).unwrap();
    let EventBody::Extract(x) = &events[0].event.body else {
        panic!()
    };
    assert_eq!(x.mass_g.get(), 1_500_000);
}

/// A key file for a scenario actor, written 0600 in a temp dir: (dir guard, path).
fn key_file(actor: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{actor}.key"));
    write_key(&path, actor);
    let p = path.to_str().unwrap().to_owned();
    // Keep the directory alive by leaking it into the caller's tuple.
    (dir, p)
}

fn write_key(path: &Path, actor: &str) {
    let file = SecretKeyFile::new(&actor_key(actor), Some(actor.to_owned()));
    lodestone::store::write_secret_file(path, &file.to_json()).unwrap();
}

/// Every batch the scenario creates.
fn batches(scenario: &Scenario) -> BTreeSet<String> {
    scenario
        .events
        .iter()
        .flat_map(|e: &Event| match &e.body {
            EventBody::Extract(x) => vec![x.batch.as_str().to_owned()],
            EventBody::Transform(t) => t
                .outputs
                .iter()
                .map(|o| o.batch.as_str().to_owned())
                .collect(),
            _ => vec![],
        })
        .collect()
}

fn without_proof(events: &[Value]) -> Vec<Value> {
    events
        .iter()
        .map(|e| {
            let mut e = e.clone();
            let o = e.as_object_mut().unwrap();
            o.remove("lodestone:proof");
            o.remove("recordTime");
            e
        })
        .collect()
}

#[test]
fn the_seed_scenario_round_trips_through_epcis() {
    let scenario = scenario();
    let source = world(&scenario, true);
    let target = world(&scenario, false);
    let (exported, _) = all_events(&source, "perPage=1000");
    let dir = tempfile::tempdir().unwrap();
    let doc_path = dir.path().join("scenario.jsonld");
    let document = lodestone::epcis::export::document(exported.clone(), "2026-01-01T00:00:00Z");
    std::fs::write(&doc_path, serde_json::to_vec_pretty(&document).unwrap()).unwrap();
    let mut args: Vec<String> = vec![
        "epcis".into(),
        "import".into(),
        doc_path.to_str().unwrap().into(),
        "--server".into(),
        target.server.base.clone(),
    ];
    for actor in &scenario.actors {
        let path = dir.path().join(format!("{}.key", actor.id));
        write_key(&path, actor.id.as_str());
        args.push("--key".into());
        args.push(path.to_str().unwrap().into());
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();

    // A refused document submits nothing.
    let mut broken = document.clone();
    broken["epcisBody"]["eventList"][5]["bizStep"] = json!("transforming");
    let broken_path = dir.path().join("broken.jsonld");
    std::fs::write(&broken_path, serde_json::to_vec(&broken).unwrap()).unwrap();
    let size_before = target.server.log().size;
    let mut broken_args = argv.clone();
    broken_args[2] = broken_path.to_str().unwrap();
    let run = support::run(&broken_args);
    assert_eq!(run.code, Some(2), "{}", run.dump());
    assert!(
        run.stderr
            .contains("event 5 at $.epcisBody.eventList[5].bizStep"),
        "{}",
        run.dump()
    );
    assert_eq!(
        target.server.log().size,
        size_before,
        "nothing of a refused document is submitted"
    );

    // --dry-run prints the ledger events and submits nothing.
    let mut dry = argv.clone();
    dry.push("--dry-run");
    let run = support::run(&dry);
    assert_eq!(run.code, Some(0), "{}", run.dump());
    let printed: Vec<Event> = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        printed, scenario.events,
        "the import gives back exactly the scenario's events"
    );
    assert_eq!(target.server.log().size, size_before);

    // The import itself.
    let run = support::run(&argv);
    assert_eq!(run.code, Some(0), "{}", run.dump());
    assert_eq!(target.server.log().size, source.server.log().size);

    // Same state, same provenance answers: every batch, compared whole.
    for batch in batches(&scenario) {
        let path = batch.replace('/', "%2F");
        for route in ["", "/provenance", "/downstream"] {
            let a = source
                .server
                .get(&format!("/v1/batches/{path}{route}"))
                .assert_json(200);
            let b = target
                .server
                .get(&format!("/v1/batches/{path}{route}"))
                .assert_json(200);
            assert_eq!(a, b, "{batch}{route}");
        }
    }
    let sites: BTreeSet<_> = scenario
        .extracted_batches()
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    for site in sites {
        let a = source
            .server
            .get(&format!("/v1/sites/{site}/downstream"))
            .assert_json(200);
        let b = target
            .server
            .get(&format!("/v1/sites/{site}/downstream"))
            .assert_json(200);
        assert_eq!(a, b, "site {site}");
    }

    // Export again: the same events, the same hashes.
    let (again, _) = all_events(&target, "perPage=1000");
    assert_eq!(ids(&again), ids(&exported));
    assert_eq!(without_proof(&again), without_proof(&exported));
}

#[test]
fn lgtin_batches_are_exported_as_themselves_hashed_as_digital_links_and_imported_back() {
    let world = World::new();
    let key = common::fixed_key("gs1-miner");
    let mut registration =
        world.register_event("gs1-miner", &["miner"], &["gs1-miner-mine"], &[&key]);
    // The registry's batch id prefix in LGTIN form is the participant's GS1 company prefix.
    registration["prefixes"] = json!(["urn:epc:class:lgtin:4012345."]);
    world.submit_ok(&world.authority.clone(), &registration);
    let actor = common::Actor {
        id: "gs1-miner".into(),
        key,
    };
    let lgtin = "urn:epc:class:lgtin:4012345.012345.LOT1";
    world.submit_ok(
        &actor,
        &common::event::extract("ev-lgtin-1", &actor, lgtin, 1_234_567),
    );

    let doc = world.server.get("/v1/epcis/events").assert_json(200);
    assert_valid(&schema(), &doc);
    let event = doc["epcisBody"]["queryResults"]["resultsBody"]["eventList"][0]
        .as_object()
        .unwrap()
        .clone();
    assert_eq!(event["quantityList"][0]["epcClass"], lgtin);
    assert_eq!(event["quantityList"][0]["quantity"].to_string(), "1234.567");
    let pre = lodestone::epcis::hash::pre_hash(&event, &Prefixes::default());
    assert!(
        pre.contains("epcClass=https://id.gs1.org/01/04012345123456/10/LOT1"),
        "{pre}"
    );

    let document =
        lodestone::epcis::export::document(vec![Value::Object(event)], "2026-01-01T00:00:00Z");
    let imported = import_document(&document, &profile()).unwrap();
    let EventBody::Extract(x) = &imported[0].event.body else {
        panic!("{imported:?}")
    };
    assert_eq!((x.batch.as_str(), x.mass_g.get()), (lgtin, 1_234_567));
    assert_eq!(imported[0].event.actor.as_str(), "gs1-miner");
}
