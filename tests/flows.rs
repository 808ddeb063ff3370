//! Issue 17, point 5: monthly flow reports and batch labels, through the real server
//! (`127.0.0.1:0`) and the real binary, on a small hand-made ledger whose flows are computed by
//! hand below (not the seed scenario's).
//!
//! The world: two mining companies — `mine-a` (CN, mine `a-mine`) and `mine-b` (MM, mine
//! `b-mine`) — extract and beneficiate ore and ship concentrate to the separator `sep` (CN),
//! which separates it into oxides and scrap, ships an oxide to `jp` (JP) and retires the scrap.
//! Dates: `B` is two days before last month (month `L`), `L+k` is day `k` of `L`, `now` is in
//! the current month.
//!
//! | entry | date | event |
//! | --- | --- | --- |
//! | e1 | B | mine-a extracts a-ORE-1, 1,000 g, {Nd 61, Pr 20} |
//! | e2 | B | mine-a beneficiates all of it into a-CON-1, 800 g, {Nd 61, Pr 20} |
//! | e3 | B | mine-a ships a-CON-1 to sep |
//! | e4 | B | mine-b extracts b-ORE-1, 500 g, {Dy 10} |
//! | e5 | B | mine-b beneficiates all of it into b-CON-1, 400 g, {Dy 10} |
//! | e7 | B | sep receives a-CON-1, 800 g |
//! | e6 | L+1 | mine-b ships b-CON-1 to sep |
//! | e8 | L+2 | sep receives b-CON-1, 400 g |
//! | e9 | L+3 | sep separates 600 g of a-CON-1 and all 400 g of b-CON-1 into sep-OX-1 (oxide, 300 g, {Nd 20, Pr 5}), sep-OX-2 (oxide, 200 g, {Dy 5}) and sep-SCRAP-1 (scrap, 10 g, no composition) |
//! | e10 | L+4 | sep ships sep-OX-1 to jp |
//! | e11 | L+5 | sep retires sep-SCRAP-1 (lost) |
//! | e12 | now | sep ships sep-OX-2 to jp |
//!
//! So sep's report for `L`: produced 300 + 200 oxide and 10 scrap (Nd 20, Pr 5, Dy 5; 10 g
//! undeclared); received b-CON-1 400 g from mine-b (MM); shipped sep-OX-1 300 g to jp (JP);
//! consumed 600 + 400 (separation) and 10 (retire); held at the end: a-CON-1 200 g (800 − 600;
//! elements pro rata of 800 g: Nd 61·200/800 = 15.25 → 15, Pr 20·200/800 = 5) and sep-OX-2
//! 200 g {Dy 5} (shipped only in the current month). The separation pools 600 g from a-mine and
//! 400 g from b-mine, so sep-OX-1's 300 g are 180 g (60 %) from a-mine and 120 g (40 %) from
//! b-mine.

use crate::common;
use crate::support;

use std::collections::BTreeMap;

use chrono::{Datelike, Duration, NaiveDate, Utc};
use common::{fixed_key, public_b64, Actor, World};
use serde_json::{json, Value};

/// `YYYY-MM` of the month `offset` months from the current one (UTC).
fn month(offset: i32) -> (String, NaiveDate) {
    let today = Utc::now().date_naive();
    let index = today.year() * 12 + today.month0() as i32 + offset;
    let first = NaiveDate::from_ymd_opt(index.div_euclid(12), index.rem_euclid(12) as u32 + 1, 1)
        .expect("a month's first day");
    (first.format("%Y-%m").to_string(), first)
}

fn at(day: NaiveDate, hour: u32, minute: u32) -> String {
    format!("{}T{hour:02}:{minute:02}:00Z", day.format("%Y-%m-%d"))
}

fn register(
    world: &World,
    subject: &str,
    country: &str,
    roles: &[&str],
    site: Option<(&str, &str)>,
) -> Actor {
    let key = fixed_key(subject);
    let sites: Vec<Value> = site
        .iter()
        .map(|(id, name)| json!({"id": id, "name": name, "country": country, "kind": "mine"}))
        .collect();
    let event = json!({
        "kind": "register_actor", "id": world.id(&format!("reg-{subject}")),
        "actor": world.authority.id, "occurred_at": common::now(),
        "subject": subject, "name": format!("{subject} Co"), "country": country,
        "roles": roles, "sites": sites, "public_keys": [public_b64(&key)],
        "prefixes": [format!("{subject}-")],
    });
    world.submit_ok(&world.authority.clone(), &event);
    Actor {
        id: subject.to_owned(),
        key,
    }
}

fn submit(world: &World, actor: &Actor, kind: &str, id: &str, at: &str, fields: Value) -> u64 {
    let mut event = json!({"kind": kind, "id": id, "actor": actor.id, "occurred_at": at});
    for (k, v) in fields.as_object().expect("fields") {
        event[k] = v.clone();
    }
    world.submit_ok(actor, &event)["index"]
        .as_u64()
        .expect("receipt index")
}

struct Ledger {
    world: World,
    e: BTreeMap<u32, u64>,
    last: String,
    this: String,
}

fn build() -> Ledger {
    let world = World::new();
    // Batch ids carry the actor's prefix `<actor>-`.
    let a = register(
        &world,
        "mine-a",
        "CN",
        &["miner"],
        Some(("a-mine", "Bayan A")),
    );
    let b = register(
        &world,
        "mine-b",
        "MM",
        &["miner"],
        Some(("b-mine", "Kachin B")),
    );
    let sep = register(&world, "sep", "CN", &["separator"], None);
    let _jp = register(&world, "jp", "JP", &["magnet_maker"], None);
    let (last, l) = month(-1);
    let (this, _) = month(0);
    let before = l - Duration::days(2);
    let day = |k: i64| l + Duration::days(k);
    let mut e = BTreeMap::new();
    e.insert(1, submit(&world, &a, "extract", "x1", &at(before, 8, 0), json!({"site": "a-mine", "batch": "mine-a-ORE-1", "form": "ore", "mass_g": 1000, "composition": {"Nd": 61, "Pr": 20}})));
    e.insert(2, submit(&world, &a, "transform", "t1", &at(before, 9, 0), json!({"process": "beneficiation",
        "inputs": [{"batch": "mine-a-ORE-1", "mass_g": 1000}],
        "outputs": [{"batch": "mine-a-CON-1", "form": "concentrate", "mass_g": 800, "composition": {"Nd": 61, "Pr": 20}}]})));
    e.insert(
        3,
        submit(
            &world,
            &a,
            "ship",
            "s1",
            &at(before, 10, 0),
            json!({"batch": "mine-a-CON-1", "to": "sep"}),
        ),
    );
    e.insert(4, submit(&world, &b, "extract", "x1", &at(before, 8, 0), json!({"site": "b-mine", "batch": "mine-b-ORE-1", "form": "ore", "mass_g": 500, "composition": {"Dy": 10}})));
    e.insert(5, submit(&world, &b, "transform", "t1", &at(before, 9, 0), json!({"process": "beneficiation",
        "inputs": [{"batch": "mine-b-ORE-1", "mass_g": 500}],
        "outputs": [{"batch": "mine-b-CON-1", "form": "concentrate", "mass_g": 400, "composition": {"Dy": 10}}]})));
    e.insert(
        7,
        submit(
            &world,
            &sep,
            "receive",
            "r1",
            &at(before, 12, 0),
            json!({"batch": "mine-a-CON-1", "mass_g": 800}),
        ),
    );
    e.insert(
        6,
        submit(
            &world,
            &b,
            "ship",
            "s1",
            &at(day(0), 8, 0),
            json!({"batch": "mine-b-CON-1", "to": "sep"}),
        ),
    );
    e.insert(
        8,
        submit(
            &world,
            &sep,
            "receive",
            "r2",
            &at(day(1), 8, 0),
            json!({"batch": "mine-b-CON-1", "mass_g": 400}),
        ),
    );
    e.insert(9, submit(&world, &sep, "transform", "t1", &at(day(2), 8, 0), json!({"process": "separation",
        "inputs": [{"batch": "mine-a-CON-1", "mass_g": 600}, {"batch": "mine-b-CON-1", "mass_g": 400}],
        "outputs": [{"batch": "sep-OX-1", "form": "oxide", "mass_g": 300, "composition": {"Nd": 20, "Pr": 5}},
                    {"batch": "sep-OX-2", "form": "oxide", "mass_g": 200, "composition": {"Dy": 5}},
                    {"batch": "sep-SCRAP-1", "form": "scrap", "mass_g": 10}]})));
    e.insert(
        10,
        submit(
            &world,
            &sep,
            "ship",
            "s1",
            &at(day(3), 8, 0),
            json!({"batch": "sep-OX-1", "to": "jp"}),
        ),
    );
    e.insert(
        11,
        submit(
            &world,
            &sep,
            "retire",
            "x1",
            &at(day(4), 8, 0),
            json!({"batch": "sep-SCRAP-1", "reason": "lost"}),
        ),
    );
    e.insert(
        12,
        submit(
            &world,
            &sep,
            "ship",
            "s2",
            &common::now(),
            json!({"batch": "sep-OX-2", "to": "jp"}),
        ),
    );
    Ledger {
        world,
        e,
        last,
        this,
    }
}

fn flows(l: &Ledger, actor: &str, month: &str) -> Value {
    l.world
        .server
        .get(&format!("/v1/actors/{actor}/flows?month={month}"))
        .assert_json(200)
}

/// Every entry a report cites is in the log and is the event the line says.
fn check_cited(l: &Ledger, report: &Value) {
    let event = |index: &Value| {
        let index = index.as_u64().expect("an entry index");
        l.world
            .server
            .get(&format!("/v1/entries/{index}"))
            .assert_json(200)["event"]
            .clone()
    };
    let actor = report["actor"].as_str().unwrap();
    for line in report["produced"].as_array().unwrap() {
        let ev = event(&line["entry"]);
        assert_eq!(ev["actor"], actor);
        let outputs = if ev["kind"] == "extract" {
            json!([{"batch": ev["batch"]}])
        } else {
            ev["outputs"].clone()
        };
        assert!(
            outputs
                .as_array()
                .unwrap()
                .iter()
                .any(|o| o["batch"] == line["batch"]),
            "{line}"
        );
    }
    for line in report["received"].as_array().unwrap() {
        let ev = event(&line["entry"]);
        assert_eq!(
            (ev["kind"].as_str(), &ev["batch"], &ev["actor"].as_str()),
            (Some("receive"), &line["batch"], &Some(actor))
        );
        let ship = event(&line["ship_entry"]);
        assert_eq!(
            (
                ship["kind"].as_str(),
                &ship["batch"],
                &ship["actor"],
                &ship["to"]
            ),
            (Some("ship"), &line["batch"], &line["from"], &json!(actor))
        );
    }
    for line in report["shipped"].as_array().unwrap() {
        let ev = event(&line["entry"]);
        assert_eq!(
            (ev["kind"].as_str(), &ev["batch"], &ev["to"]),
            (Some("ship"), &line["batch"], &line["to"])
        );
    }
    for line in report["consumed"].as_array().unwrap() {
        let ev = event(&line["entry"]);
        assert_eq!(ev["actor"], actor);
        match ev["kind"].as_str() {
            Some("transform") => assert!(ev["inputs"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["batch"] == line["batch"] && i["mass_g"] == line["grams"])),
            Some("retire") => assert_eq!(ev["batch"], line["batch"]),
            other => panic!("consumed line cites a {other:?}"),
        }
    }
    for line in report["held"].as_array().unwrap() {
        for cited in [&line["entry"], &line["since_entry"]] {
            let ev = event(cited);
            assert_eq!(ev["actor"], actor);
            assert!(
                ev.to_string()
                    .contains(&format!("\"{}\"", line["batch"].as_str().unwrap())),
                "{ev} does not name {}",
                line["batch"]
            );
        }
    }
}

/// Every JSON line has exactly one CSV row with the same figures, and nothing else.
fn check_csv_agrees(report: &Value, csv: &str) {
    let mut rows = csv.lines();
    assert_eq!(rows.next(), Some("section,entry,related_entry,occurred_at,batch,form,grams,activity,site,counterparty,counterparty_name,counterparty_country,licence,elements"));
    let rows: Vec<Vec<&str>> = rows.map(|r| r.split(',').collect()).collect();
    let mut expected = Vec::new();
    let elements = |v: &Value| {
        v.as_object()
            .map(|m| {
                m.iter()
                    .map(|(e, g)| format!("{e}={g}"))
                    .collect::<Vec<_>>()
                    .join(";")
            })
            .unwrap_or_default()
    };
    let s = |v: &Value| {
        v.as_str().map(str::to_owned).unwrap_or_else(|| {
            if v.is_null() {
                String::new()
            } else {
                v.to_string()
            }
        })
    };
    for l in report["produced"].as_array().unwrap() {
        expected.push(vec![
            "produced".into(),
            s(&l["entry"]),
            String::new(),
            s(&l["occurred_at"]),
            s(&l["batch"]),
            s(&l["form"]),
            s(&l["grams"]),
            s(&l["activity"]),
            s(&l["site"]),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            elements(&l["elements"]),
        ]);
    }
    for l in report["received"].as_array().unwrap() {
        expected.push(vec![
            "received".into(),
            s(&l["entry"]),
            s(&l["ship_entry"]),
            s(&l["occurred_at"]),
            s(&l["batch"]),
            s(&l["form"]),
            s(&l["grams"]),
            "receive".into(),
            String::new(),
            s(&l["from"]),
            s(&l["from_name"]),
            s(&l["from_country"]),
            String::new(),
            String::new(),
        ]);
    }
    for l in report["shipped"].as_array().unwrap() {
        expected.push(vec![
            "shipped".into(),
            s(&l["entry"]),
            String::new(),
            s(&l["occurred_at"]),
            s(&l["batch"]),
            s(&l["form"]),
            s(&l["grams"]),
            "ship".into(),
            String::new(),
            s(&l["to"]),
            s(&l["to_name"]),
            s(&l["to_country"]),
            s(&l["licence"]),
            String::new(),
        ]);
    }
    for l in report["consumed"].as_array().unwrap() {
        expected.push(vec![
            "consumed".into(),
            s(&l["entry"]),
            String::new(),
            s(&l["occurred_at"]),
            s(&l["batch"]),
            s(&l["form"]),
            s(&l["grams"]),
            s(&l["activity"]),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        ]);
    }
    for l in report["held"].as_array().unwrap() {
        expected.push(vec![
            "held".into(),
            s(&l["entry"]),
            s(&l["since_entry"]),
            String::new(),
            s(&l["batch"]),
            s(&l["form"]),
            s(&l["grams"]),
            "hold".into(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            elements(&l["elements"]),
        ]);
    }
    // The CSV lists elements in the pinned element order (La, Ce, Pr, Nd, …), JSON objects as
    // they come: compare the element parts as sets.
    let sorted = |f: &str| {
        let mut parts: Vec<&str> = f.split(';').collect();
        parts.sort_unstable();
        parts.join(";")
    };
    let got: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            r.iter()
                .enumerate()
                .map(|(i, f)| if i == 13 { sorted(f) } else { (*f).to_owned() })
                .collect()
        })
        .collect();
    for row in &mut expected {
        row[13] = sorted(&row[13]);
    }
    assert_eq!(got, expected);
}

/// The reply's status and content type are declared for the operation in `/openapi.json`, and a
/// JSON body validates against the declared schema (as tests/openapi.rs does for other routes).
fn check_declared(l: &Ledger, template: &str, path: &str) {
    let doc = l.world.server.get("/openapi.json").assert_json(200);
    let reply = l.world.server.get(path);
    let response = &doc["paths"][template]["get"]["responses"][reply.status.to_string()];
    assert!(
        response.is_object(),
        "{path}: status {} not declared",
        reply.status
    );
    let media = reply
        .content_type
        .split(';')
        .next()
        .unwrap()
        .trim()
        .to_owned();
    let content = &response["content"][&media];
    assert!(content.is_object(), "{path}: {media} not declared");
    if media.ends_with("json") {
        let mut root = content["schema"].clone();
        root["components"] = doc["components"].clone();
        let validator = jsonschema::draft202012::new(&root).expect("schema compiles");
        let instance = reply.json();
        let errors: Vec<String> = validator
            .iter_errors(&instance)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{path}:\n{}", errors.join("\n"));
    }
}

fn lines(v: &Value, section: &str, fields: &[&str]) -> Vec<Vec<Value>> {
    v[section]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| fields.iter().map(|f| l[*f].clone()).collect())
        .collect()
}

#[test]
fn monthly_flows_are_the_hand_computed_ones_with_their_proofs() {
    let l = build();
    let e = |k: u32| json!(l.e[&k]);
    let r = flows(&l, "sep", &l.last);
    assert_eq!(
        (
            r["actor"].as_str(),
            r["country"].as_str(),
            r["month"].as_str()
        ),
        (Some("sep"), Some("CN"), Some(l.last.as_str()))
    );
    assert!(r["report_due"].as_str().unwrap().ends_with("-10"));
    assert_eq!(
        lines(
            &r,
            "produced",
            &["entry", "batch", "form", "grams", "activity", "elements"]
        ),
        vec![
            vec![
                e(9),
                json!("sep-OX-1"),
                json!("oxide"),
                json!(300),
                json!("separation"),
                json!({"Nd": 20, "Pr": 5})
            ],
            vec![
                e(9),
                json!("sep-OX-2"),
                json!("oxide"),
                json!(200),
                json!("separation"),
                json!({"Dy": 5})
            ],
            vec![
                e(9),
                json!("sep-SCRAP-1"),
                json!("scrap"),
                json!(10),
                json!("separation"),
                Value::Null
            ],
        ]
    );
    assert_eq!(
        lines(
            &r,
            "received",
            &[
                "entry",
                "ship_entry",
                "batch",
                "form",
                "grams",
                "from",
                "from_country"
            ]
        ),
        vec![vec![
            e(8),
            e(6),
            json!("mine-b-CON-1"),
            json!("concentrate"),
            json!(400),
            json!("mine-b"),
            json!("MM")
        ]]
    );
    assert_eq!(
        lines(
            &r,
            "shipped",
            &[
                "entry",
                "batch",
                "form",
                "grams",
                "to",
                "to_country",
                "licence"
            ]
        ),
        vec![vec![
            e(10),
            json!("sep-OX-1"),
            json!("oxide"),
            json!(300),
            json!("jp"),
            json!("JP"),
            Value::Null
        ]]
    );
    assert_eq!(
        lines(&r, "consumed", &["entry", "batch", "grams", "activity"]),
        vec![
            vec![e(9), json!("mine-a-CON-1"), json!(600), json!("separation")],
            vec![e(9), json!("mine-b-CON-1"), json!(400), json!("separation")],
            vec![e(11), json!("sep-SCRAP-1"), json!(10), json!("retire:lost")],
        ]
    );
    assert_eq!(
        lines(
            &r,
            "held",
            &["entry", "since_entry", "batch", "form", "grams", "elements"]
        ),
        vec![
            vec![
                e(9),
                e(7),
                json!("mine-a-CON-1"),
                json!("concentrate"),
                json!(200),
                json!({"Nd": 15, "Pr": 5})
            ],
            vec![
                e(9),
                e(9),
                json!("sep-OX-2"),
                json!("oxide"),
                json!(200),
                json!({"Dy": 5})
            ],
        ]
    );
    assert_eq!(
        r["totals"],
        json!({"produced_by_form": {"oxide": 500, "scrap": 10}, "produced_by_element": {"Nd": 20, "Pr": 5, "Dy": 5},
               "produced_undeclared_g": 10, "received_g": 400, "shipped_g": 300, "consumed_g": 1010,
               "held_by_form": {"concentrate": 200, "oxide": 200}, "held_by_element": {"Nd": 15, "Pr": 5, "Dy": 5}})
    );
    check_cited(&l, &r);

    // The month before: only the first receipt, and all of it held at the end.
    let (before, _) = month(-2);
    let p = flows(&l, "sep", &before);
    assert_eq!(
        lines(
            &p,
            "received",
            &["entry", "ship_entry", "from", "from_country", "grams"]
        ),
        vec![vec![e(7), e(3), json!("mine-a"), json!("CN"), json!(800)]]
    );
    assert_eq!(
        lines(&p, "held", &["entry", "batch", "grams", "elements"]),
        vec![vec![
            e(7),
            json!("mine-a-CON-1"),
            json!(800),
            json!({"Nd": 61, "Pr": 20})
        ]]
    );
    assert!(
        p["produced"].as_array().unwrap().is_empty() && p["shipped"].as_array().unwrap().is_empty()
    );
    check_cited(&l, &p);

    // This month (not over): the second shipment; sep-OX-2 is no longer held.
    let c = flows(&l, "sep", &l.this);
    assert_eq!(
        lines(&c, "shipped", &["entry", "batch", "grams", "to"]),
        vec![vec![e(12), json!("sep-OX-2"), json!(200), json!("jp")]]
    );
    assert_eq!(
        lines(&c, "held", &["batch", "grams"]),
        vec![vec![json!("mine-a-CON-1"), json!(200)]]
    );

    // A miner's month: produced by form and element, shipped, nothing held.
    let a = flows(&l, "mine-a", &before);
    assert_eq!(
        lines(
            &a,
            "produced",
            &["entry", "batch", "form", "grams", "activity", "site"]
        ),
        vec![
            vec![
                e(1),
                json!("mine-a-ORE-1"),
                json!("ore"),
                json!(1000),
                json!("extract"),
                json!("a-mine")
            ],
            vec![
                e(2),
                json!("mine-a-CON-1"),
                json!("concentrate"),
                json!(800),
                json!("beneficiation"),
                Value::Null
            ],
        ]
    );
    assert_eq!(
        a["totals"]["produced_by_element"],
        json!({"Nd": 122, "Pr": 40})
    );
    assert_eq!(
        lines(&a, "shipped", &["entry", "to", "to_country", "grams"]),
        vec![vec![e(3), json!("sep"), json!("CN"), json!(800)]]
    );
    assert!(a["held"].as_array().unwrap().is_empty());
    check_cited(&l, &a);

    // CSV: the same lines, by `format=csv`.
    for (actor, m) in [
        ("sep", l.last.as_str()),
        ("sep", before.as_str()),
        ("mine-a", before.as_str()),
    ] {
        let reply = l
            .world
            .server
            .get(&format!("/v1/actors/{actor}/flows?month={m}&format=csv"));
        assert_eq!(reply.status, 200);
        assert!(reply
            .header("content-type")
            .unwrap()
            .starts_with("text/csv"));
        check_csv_agrees(&flows(&l, actor, m), &reply.text());
    }

    // Bad input: problem+json with stable codes; nothing about the actor leaks.
    let (next, _) = month(1);
    let s = &l.world.server;
    s.get(&format!("/v1/actors/sep/flows?month={next}"))
        .assert_problem(400, "month_in_future");
    for bad in ["2026-13", "2026-1", "26-01", "2026-01-01", "x"] {
        s.get(&format!("/v1/actors/sep/flows?month={bad}"))
            .assert_problem(400, "bad_month");
    }
    s.get(&format!("/v1/actors/nobody/flows?month={}", l.last))
        .assert_problem(404, "not_found");
    s.get(&format!("/v1/actors/Not_An_Id/flows?month={}", l.last))
        .assert_problem(400, "bad_id");
    s.get("/v1/actors/sep/flows")
        .assert_problem(400, "bad_query");
    s.get(&format!("/v1/actors/sep/flows?month={}&format=xml", l.last))
        .assert_problem(400, "bad_query");
    s.get(&format!("/v1/actors/sep/flows?month={}&licence=1", l.last))
        .assert_problem(400, "bad_query");

    // The real binary, against the same server: JSON and CSV are the server's, Markdown says
    // what the report is and when it is due.
    let base = s.base.clone();
    let run = |format: &str| {
        let out = support::run(&[
            "report", "flows", "--actor", "sep", "--month", &l.last, "--format", format,
            "--server", &base,
        ]);
        assert_eq!(out.code, Some(0), "{}", out.dump());
        out.stdout
    };
    let json_out: Value = serde_json::from_str(&run("json")).expect("JSON");
    assert_eq!(json_out, r);
    assert_eq!(
        run("csv"),
        s.get(&format!("/v1/actors/sep/flows?month={}&format=csv", l.last))
            .text()
    );
    let md = run("markdown");
    assert!(
        md.contains("Monthly flow report")
            && md.contains(r["report_due"].as_str().unwrap())
            && md.contains("| sep-OX-1 |"),
        "{md}"
    );
    let bad = support::run(&[
        "report", "flows", "--actor", "sep", "--month", "2026-13", "--server", &base,
    ]);
    assert_ne!(bad.code, Some(0));
    assert!(bad.stderr.contains("2026-13"), "{}", bad.dump());

    // The label of sep-OX-1: made by sep (still its holder: in transit to jp), ore from two
    // mines in two countries, 60/40 by mass, each with its extract entry.
    let label = s.get("/v1/batches/sep-OX-1/label").assert_json(200);
    assert_eq!(
        (label["form"].as_str(), label["basis_g"].as_u64()),
        (Some("oxide"), Some(300))
    );
    assert_eq!(label["elements"], json!({"Nd": 20, "Pr": 5}));
    assert_eq!(
        (
            label["producer"]["actor"].as_str(),
            label["created_in"].clone()
        ),
        (Some("sep"), e(9))
    );
    assert_eq!(label["holder"]["actor"], "sep");
    let producers: Vec<Value> = label["ore_producers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let mines: Vec<Value> = p["mines"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| {
                    json!([
                        m["site"],
                        m["name"],
                        m["country"],
                        m["grams"],
                        m["extract_entries"]
                    ])
                })
                .collect();
            json!([p["actor"], p["country"], p["grams"], p["share"], mines])
        })
        .collect();
    assert_eq!(
        producers,
        vec![
            json!([
                "mine-a",
                "CN",
                180,
                0.6,
                [["a-mine", "Bayan A", "CN", 180, [l.e[&1]]]]
            ]),
            json!([
                "mine-b",
                "MM",
                120,
                0.4,
                [["b-mine", "Kachin B", "MM", 120, [l.e[&4]]]]
            ]),
        ]
    );
    for p in label["ore_producers"].as_array().unwrap() {
        let x = s
            .get(&format!(
                "/v1/entries/{}",
                p["mines"][0]["extract_entries"][0]
            ))
            .assert_json(200)["event"]
            .clone();
        assert_eq!(
            (x["kind"].as_str(), &x["actor"], &x["site"]),
            (Some("extract"), &p["actor"], &p["mines"][0]["site"])
        );
    }
    s.get("/v1/batches/no-such-batch/label")
        .assert_problem(404, "not_found");
    s.get("/v1/batches/%20bad/label")
        .assert_problem(400, "bad_id");

    // Every answer is the one /openapi.json declares.
    let flows_route = "/v1/actors/{id}/flows";
    for path in [
        format!("/v1/actors/sep/flows?month={}", l.last),
        format!("/v1/actors/mine-a/flows?month={before}"),
        format!("/v1/actors/sep/flows?month={}&format=csv", l.last),
        format!("/v1/actors/sep/flows?month={next}"),
        "/v1/actors/sep/flows?month=2026-13".to_owned(),
        format!("/v1/actors/nobody/flows?month={}", l.last),
    ] {
        check_declared(&l, flows_route, &path);
    }
    for path in [
        "/v1/batches/sep-OX-1/label",
        "/v1/batches/mine-a-CON-1/label",
        "/v1/batches/no-such-batch/label",
    ] {
        check_declared(&l, "/v1/batches/{id}/label", path);
    }
    check_declared(&l, "/batches/{id}/label", "/batches/sep-OX-1/label");

    // The page: printable, names the mines, links the entries; the batch page links it.
    let page = s.get("/batches/sep-OX-1/label");
    assert_eq!(page.status, 200);
    let html = page.text();
    for needle in [
        "Producers of the ore",
        "Bayan A",
        "Kachin B",
        "Myanmar",
        "60.0 %",
        "40.0 %",
        &format!("/entries/{}", l.e[&1]),
        &format!("/entries/{}", l.e[&4]),
    ] {
        assert!(html.contains(needle), "label page lacks {needle}");
    }
    assert!(s
        .get("/batches/sep-OX-1")
        .text()
        .contains("/batches/sep-OX-1/label"));
    assert_eq!(s.get("/batches/no-such-batch/label").status, 404);
}

/// `lodestone report flows --data` computes, from the data directory, the report the server
/// gives for the same ledger (the demo's scenario; its figures are not asserted here, only that
/// the two ways agree and that the miner's months are not all empty).
#[test]
fn the_cli_computes_from_a_data_directory_what_the_server_answers() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ledger");
    let data_arg = data.to_str().unwrap();
    let out = support::run(&["demo", "--no-serve", "--data", data_arg]);
    assert_eq!(out.code, Some(0), "{}", out.dump());
    let months: Vec<String> = (-4..=0).map(|k| month(k).0).collect();
    let offline: Vec<Value> = months
        .iter()
        .map(|m| {
            let out = support::run(&[
                "report",
                "flows",
                "--actor",
                "northern-rare-earth",
                "--month",
                m,
                "--format",
                "json",
                "--data",
                data_arg,
            ]);
            assert_eq!(out.code, Some(0), "{}", out.dump());
            serde_json::from_str(&out.stdout).expect("JSON")
        })
        .collect();
    assert!(
        offline
            .iter()
            .any(|r| !r["produced"].as_array().unwrap().is_empty()),
        "the scenario's miner produced nothing in {months:?}"
    );
    let csv = support::run(&[
        "report",
        "flows",
        "--actor",
        "northern-rare-earth",
        "--month",
        &months[1],
        "--format",
        "csv",
        "--data",
        data_arg,
    ]);
    assert_eq!(csv.code, Some(0), "{}", csv.dump());

    let server = support::Server::serve(&data);
    for (m, report) in months.iter().zip(&offline) {
        let (status, online) = support::get_json(&format!(
            "{}/v1/actors/northern-rare-earth/flows?month={m}",
            server.url
        ));
        assert_eq!(status, 200, "{online}");
        assert_eq!(&online, report, "{m}");
    }
    let online_csv = support::get_bytes(&format!(
        "{}/v1/actors/northern-rare-earth/flows?month={}&format=csv",
        server.url, months[1]
    ));
    assert_eq!(String::from_utf8(online_csv).unwrap(), csv.stdout);
    server.stop();
}
