//! Issue 12 through the real server: compositions on events, the per-element balance
//! (`element_imbalance`, 422, nothing written), inheritance by split, grain boundary diffusion,
//! assays with a measured composition, and the compliance, portfolio and provenance answers.

use crate::common;

use common::{now, Actor, World};
use serde_json::{json, Value};

fn extract(w: &World, miner: &Actor, batch: &str, mass: u64, composition: Value) {
    let e = json!({"kind": "extract", "id": w.id("x"), "actor": miner.id, "occurred_at": now(),
                   "site": format!("{}-mine", miner.id), "batch": batch, "form": "concentrate",
                   "mass_g": mass, "composition": composition});
    w.submit_ok(miner, &e);
}

#[allow(clippy::too_many_arguments)]
fn transform(
    w: &World,
    actor: &Actor,
    process: &str,
    inputs: &[(&str, u64)],
    outputs: Value,
    additives: Value,
) -> Value {
    json!({"kind": "transform", "id": w.id("t"), "actor": actor.id, "occurred_at": now(),
           "process": process,
           "inputs": inputs.iter().map(|(b, m)| json!({"batch": b, "mass_g": m})).collect::<Vec<_>>(),
           "outputs": outputs, "additives": additives})
}

fn size(w: &World) -> u64 {
    w.server.get("/v1/log").assert_json(200)["size"]
        .as_u64()
        .unwrap()
}

#[test]
fn the_element_balance_refuses_rare_earths_from_nowhere_and_writes_nothing() {
    let w = World::new();
    let mp = w.register("mp-co", &["miner", "separator"], &["mp-co-mine"]);
    // 1,000 g of concentrate holding 30 g Nd and 10 g Pr.
    extract(&w, &mp, "mp-co-ORE-1", 1_000, json!({"Nd": 30, "Pr": 10}));

    // Take 500 g (half): it contains 15 g Nd. Declaring 16 g Nd is refused, even with 10 kg
    // of additives: they contain no rare earth.
    let before = size(&w);
    let bad = transform(
        &w,
        &mp,
        "separation",
        &[("mp-co-ORE-1", 500)],
        json!([{"batch": "mp-co-OX-1", "form": "oxide", "mass_g": 400, "composition": {"Nd": 16}}]),
        json!([{"material": "reagent", "mass_g": 10000}]),
    );
    let p = w
        .submit(&bad, &[&mp.key])
        .assert_problem(422, "element_imbalance");
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains("16 g of Nd") && detail.contains("15 g"),
        "{detail}"
    );
    assert_eq!(size(&w), before, "a refused event writes nothing");

    // An element the inputs do not contain at all (Dy) is refused too.
    let bad = transform(
        &w,
        &mp,
        "separation",
        &[("mp-co-ORE-1", 500)],
        json!([{"batch": "mp-co-OX-1", "form": "oxide", "mass_g": 400, "composition": {"Dy": 1}}]),
        json!([]),
    );
    w.submit(&bad, &[&mp.key])
        .assert_problem(422, "element_imbalance");

    // 1 g of a 3 g share rounds up in favour of the declarer: taking 100 g of the 1,000 g
    // (3 g Nd exactly) and 333 g (9.99 g → 10 g) both allow the full rounded amount.
    let ok = transform(
        &w,
        &mp,
        "separation",
        &[("mp-co-ORE-1", 333)],
        json!([{"batch": "mp-co-OX-1", "form": "oxide", "mass_g": 50, "composition": {"Nd": 10, "Pr": 3}}]),
        json!([]),
    );
    w.submit_ok(&mp, &ok);
    let batch = w
        .server
        .get("/v1/batches/mp-co-OX-1/provenance")
        .assert_json(200);
    assert_eq!(batch["elements"]["content"], json!({"Nd": 10, "Pr": 3}));
    assert_eq!(
        batch["elements"]["elements"][1]["by_site"][0]["id"],
        "mp-co-mine"
    );
}

#[test]
fn undeclared_inputs_bound_by_mass_and_splits_inherit() {
    let w = World::new();
    let m = w.register("old-co", &["miner", "separator"], &["old-co-mine"]);
    // A concentrate without composition (as every record before issue 12): it may hold up to all of
    // its mass of any element, so a declared output is accepted ...
    let e = json!({"kind": "extract", "id": w.id("x"), "actor": m.id, "occurred_at": now(),
                   "site": "old-co-mine", "batch": "old-co-ORE", "form": "concentrate", "mass_g": 100});
    w.submit_ok(&m, &e);
    w.submit_ok(&m, &transform(&w, &m, "separation", &[("old-co-ORE", 100)],
        json!([{"batch": "old-co-OX", "form": "oxide", "mass_g": 90, "composition": {"Nd": 60, "Pr": 20}}]),
        json!([])));
    // ... and its origin is "undeclared": the answer says it cannot tell.
    let p = w
        .server
        .get("/v1/batches/old-co-OX/provenance?dag=false")
        .assert_json(200);
    assert_eq!(p["elements"]["elements"][1]["undeclared_g"], 60);
    assert!(!p["elements"]["cannot_tell"].as_array().unwrap().is_empty());

    // A split without compositions inherits ⌊80 × m_o / 90⌋ per element, rounded down:
    // 60 × 30 / 90 = 20 Nd, 20 × 30 / 90 = 6.67 → 6 Pr for the 30 g part.
    w.submit_ok(
        &m,
        &transform(
            &w,
            &m,
            "split",
            &[("old-co-OX", 90)],
            json!([{"batch": "old-co-OX-a", "form": "oxide", "mass_g": 30},
               {"batch": "old-co-OX-b", "form": "oxide", "mass_g": 60}]),
            json!([]),
        ),
    );
    let p = w
        .server
        .get("/v1/batches/old-co-OX-a/provenance?dag=false")
        .assert_json(200);
    assert_eq!(p["elements"]["content"], json!({"Nd": 20, "Pr": 6}));
    let b = w.server.get("/v1/batches/old-co-OX-a").assert_json(200);
    assert_eq!(b["batch"]["elements"], json!(["Pr", "Nd"]));
}

#[test]
fn compositions_are_checked_when_parsed() {
    let w = World::new();
    let m = w.register("p-co", &["miner"], &["p-co-mine"]);
    let bad = |composition: Value, elements: Option<Value>| {
        let mut e = json!({"kind": "extract", "id": w.id("x"), "actor": m.id, "occurred_at": now(),
                           "site": "p-co-mine", "batch": "p-co-ORE", "form": "ore", "mass_g": 100,
                           "composition": composition});
        if let Some(el) = elements {
            e["elements"] = el;
        }
        w.submit(&e, &[&m.key])
            .assert_problem(400, "malformed_event")["detail"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(bad(json!({"Nd": 60, "Pr": 41}), None).contains("more than the batch's 100 g"));
    assert!(bad(json!({"Nd": 0}), None).contains("leave an element out"));
    assert!(bad(json!({"Xx": 1}), None).contains("composition"));
    assert!(bad(json!({"Nd": 1}), Some(json!(["Pr"]))).contains("elements"));
    assert!(bad(json!({"Nd": 1.5}), None).contains("composition"));
}

#[test]
fn grain_boundary_diffusion_takes_magnets_and_heavy_rare_earth_metal() {
    let w = World::new();
    let mk = w.register(
        "gbd-co",
        &["miner", "magnet_maker", "metallizer", "separator"],
        &["gbd-co-mine"],
    );
    extract(
        &w,
        &mk,
        "gbd-co-ORE",
        1_000_000,
        json!({"Nd": 200_000, "Dy": 20_000}),
    );
    w.submit_ok(&mk, &transform(&w, &mk, "separation", &[("gbd-co-ORE", 1_000_000)],
        json!([{"batch": "gbd-co-NDOX", "form": "oxide", "mass_g": 200_000, "composition": {"Nd": 170_000}},
               {"batch": "gbd-co-DYOX", "form": "oxide", "mass_g": 20_000, "composition": {"Dy": 17_000}}]),
        json!([])));
    w.submit_ok(&mk, &transform(&w, &mk, "reduction", &[("gbd-co-NDOX", 200_000)],
        json!([{"batch": "gbd-co-NDMET", "form": "metal", "mass_g": 170_000, "composition": {"Nd": 168_000}}]), json!([])));
    w.submit_ok(&mk, &transform(&w, &mk, "reduction", &[("gbd-co-DYOX", 20_000)],
        json!([{"batch": "gbd-co-DYMET", "form": "metal", "mass_g": 17_000, "composition": {"Dy": 16_800}}]), json!([])));
    w.submit_ok(&mk, &transform(&w, &mk, "magnet_making", &[("gbd-co-NDMET", 170_000)],
        json!([{"batch": "gbd-co-MAG", "form": "magnet", "mass_g": 500_000, "composition": {"Nd": 160_000}}]),
        json!([{"material": "iron", "mass_g": 330_000}])));
    // Magnets alone are not a diffusion: it needs the Dy/Tb metal or alloy too.
    let alone = transform(
        &w,
        &mk,
        "grain_boundary_diffusion",
        &[("gbd-co-MAG", 100_000)],
        json!([{"batch": "gbd-co-GBD", "form": "magnet", "mass_g": 100_000}]),
        json!([]),
    );
    let p = w
        .submit(&alone, &[&mk.key])
        .assert_problem(422, "invalid_event");
    assert!(p["detail"]
        .as_str()
        .unwrap()
        .contains("grain_boundary_diffusion"));
    // Magnets plus Dy metal: the Dy of the output is bounded by the Dy metal taken.
    let too_much = transform(
        &w,
        &mk,
        "grain_boundary_diffusion",
        &[("gbd-co-MAG", 100_000), ("gbd-co-DYMET", 1_000)],
        json!([{"batch": "gbd-co-GBD", "form": "magnet", "mass_g": 101_000, "composition": {"Nd": 32_000, "Dy": 989}}]),
        json!([]),
    );
    // 1,000 g of 17,000 g holding 16,800 g Dy: ⌈988.2⌉ = 989 is allowed, 990 is not.
    let mut over = too_much.clone();
    over["id"] = json!(w.id("t"));
    over["outputs"][0]["composition"]["Dy"] = json!(990);
    w.submit(&over, &[&mk.key])
        .assert_problem(422, "element_imbalance");
    w.submit_ok(&mk, &too_much);

    // Its compliance: every stage at the AU test mine and sites named by no transform, so
    // dfars cannot tell where the work was done; friend-shore (AU-mined) passes.
    let c = w
        .server
        .get("/v1/batches/gbd-co-GBD/compliance")
        .assert_json(200);
    let verdict = |name: &str| {
        c["verdicts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["policy"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(verdict("dfars-2027")["verdict"], "cannot_tell");
    assert_eq!(verdict("friend-shore")["verdict"], "pass");
    let stages: Vec<&str> = c["lineage"]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert_eq!(
        stages,
        ["mining", "processing", "metal_making", "magnet_production"]
    );
}

#[test]
fn compliance_and_portfolio_routes_are_strict() {
    let w = World::new();
    let m = w.register("q-co", &["miner"], &["q-co-mine"]);
    let buyer = w.register("buyer-co", &["trader"], &[]);
    extract(&w, &m, "q-co-ORE", 1_000, json!({"Nd": 30}));
    w.submit_ok(
        &m,
        &common::event::ship(&w.id("s"), &m, "q-co-ORE", "buyer-co"),
    );
    w.submit_ok(
        &buyer,
        &common::event::receive(&w.id("r"), &buyer, "q-co-ORE", 1_000),
    );

    let one = w
        .server
        .get("/v1/batches/q-co-ORE/compliance?policy=friend-shore")
        .assert_json(200);
    assert_eq!(one["verdicts"].as_array().unwrap().len(), 1);
    assert_eq!(one["verdicts"][0]["verdict"], "pass");
    let all = w
        .server
        .get("/v1/batches/q-co-ORE/compliance")
        .assert_json(200);
    assert_eq!(all["verdicts"].as_array().unwrap().len(), 4);
    let p = w
        .server
        .get("/v1/batches/q-co-ORE/compliance?policy=nope")
        .assert_problem(400, "unknown_policy");
    assert!(p["detail"].as_str().unwrap().contains("dfars-2027"));
    w.server
        .get("/v1/batches/q-co-ORE/compliance?polcy=x")
        .assert_problem(400, "bad_query");
    w.server
        .get("/v1/batches/nothing/compliance")
        .assert_problem(404, "not_found");

    // The buyer received the ore: its portfolio maps 30 g of Nd mined in AU, 100 % > 65 %.
    let year = "from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z";
    let pf = w
        .server
        .get(&format!("/v1/actors/buyer-co/portfolio?{year}"))
        .assert_json(200);
    assert_eq!(pf["batches"][0]["batch"], "q-co-ORE");
    assert_eq!(pf["stages"][0]["stage"], "mining");
    assert_eq!(pf["stages"][0]["countries"][0]["country"], "AU");
    assert_eq!(pf["stages"][0]["countries"][0]["elements"]["Nd"], 30);
    assert_eq!(pf["stages"][0]["top_share_bp"], 10_000);
    assert_eq!(pf["stages"][0]["above_benchmark"], true);
    // The miner made it itself: not in its portfolio.
    let pf = w
        .server
        .get(&format!("/v1/actors/q-co/portfolio?{year}"))
        .assert_json(200);
    assert!(pf["batches"].as_array().unwrap().is_empty());
    w.server
        .get("/v1/actors/buyer-co/portfolio?from=2000-01-01T00:00:00Z")
        .assert_problem(400, "bad_query");
    w.server
        .get("/v1/actors/buyer-co/portfolio?from=2100-01-01T00:00:00Z&to=2000-01-01T00:00:00Z")
        .assert_problem(400, "bad_query");
    w.server
        .get(&format!("/v1/actors/nobody/portfolio?{year}"))
        .assert_problem(404, "not_found");
}

#[test]
fn an_assay_may_carry_a_measured_composition_and_only_an_assay() {
    let w = World::new();
    let m = w.register("a-co", &["miner"], &["a-co-mine"]);
    let lab = w.register("lab-co", &["certifier"], &[]);
    let e = json!({"kind": "extract", "id": w.id("x"), "actor": m.id, "occurred_at": now(),
                   "site": "a-co-mine", "batch": "a-co-ORE", "form": "ore", "mass_g": 100});
    w.submit_ok(&m, &e);
    let certify = |claim: &str, composition: Value| {
        json!({"kind": "certify", "id": w.id("c"),
        "actor": lab.id, "occurred_at": now(), "batch": "a-co-ORE", "claim": claim,
        "statement": "measured", "document_sha256": "ab".repeat(32), "composition": composition})
    };
    w.submit(&certify("esg_audit", json!({"Nd": 5})), &[&lab.key])
        .assert_problem(400, "malformed_event");
    w.submit(&certify("assay", json!({"Nd": 101})), &[&lab.key])
        .assert_problem(422, "invalid_event");
    w.submit_ok(&lab, &certify("assay", json!({"Nd": 5})));
    // The batch declared none: the assay is its content now.
    let p = w
        .server
        .get("/v1/batches/a-co-ORE/provenance?dag=false")
        .assert_json(200);
    assert_eq!(p["elements"]["content_basis"], "assay");
    assert_eq!(p["elements"]["content"], json!({"Nd": 5}));
}
