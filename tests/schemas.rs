//! The JSON Schemas of docs/schemas/ against real outputs (issue 10, point 8): bundles fetched
//! from a real server for the featured batches of the seed scenario and from a witnessed log
//! (cosignatures in the checkpoint); verify reports from `POST /v1/verify` and from the real
//! binary — `verify-bundle --json` passed, failed and with `--policy`, `verify --json` passed,
//! failed (a damaged data directory) and refused by a witness policy. Mutated outputs must fail
//! validation, so the schemas have teeth; and the schemas agree with the code's constants.

use crate::common;
use crate::support;
use crate::witnessing;

use jsonschema::Validator;
use serde_json::{json, Value};

use common::TestServer;
use lodestone::model::ids::Timestamp;
use lodestone::model::keys::SecretKeyFile;
use lodestone::scenario::Scenario;

const BUNDLE_SCHEMA: &str = include_str!("../docs/schemas/bundle.schema.json");
const REPORT_SCHEMA: &str = include_str!("../docs/schemas/verify-report.schema.json");

fn validator(text: &str) -> Validator {
    let schema: Value = serde_json::from_str(text).expect("schema file is JSON");
    jsonschema::draft202012::new(&schema).expect("schema compiles as JSON Schema 2020-12")
}

/// The `$defs` entry `name` of a schema file as a validator of its own (same file as root).
fn def_validator(text: &str, name: &str) -> Validator {
    let mut schema: Value = serde_json::from_str(text).unwrap();
    schema.as_object_mut().unwrap().remove("oneOf");
    schema["$ref"] = json!(format!("#/$defs/{name}"));
    jsonschema::draft202012::new(&schema).unwrap()
}

#[track_caller]
fn assert_valid(validator: &Validator, instance: &Value, what: &str) {
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} does not validate:\n{}",
        errors.join("\n")
    );
}

#[track_caller]
fn assert_invalid(validator: &Validator, instance: &Value, what: &str) {
    assert!(
        !validator.is_valid(instance),
        "{what}: the schema accepts a mutated document"
    );
}

/// Loads the seed scenario into `server`'s ledger through `POST /v1/entries:batch`.
fn seed(server: &TestServer) {
    let text = std::fs::read_to_string(server.data.authority_key()).unwrap();
    let (file, key) = SecretKeyFile::parse(&text).unwrap();
    let authority = file.actor.unwrap().parse().unwrap();
    let now_ms = chrono::Utc::now().timestamp_millis() as u64;
    let envelopes = Scenario::builtin()
        .unwrap()
        .rebased(&Timestamp::from_unix_millis(now_ms - now_ms % 1000).unwrap())
        .unwrap()
        .envelopes(&authority, &key)
        .unwrap();
    let body =
        json!({"envelopes": envelopes.iter().map(|e| e.to_json_value()).collect::<Vec<_>>()});
    let answer = server
        .post("/v1/entries:batch", &serde_json::to_vec(&body).unwrap())
        .assert_json(200);
    assert_eq!(answer["rejected"], 0, "{answer}");
}

/// `lodestone <args>` printing a JSON report: exit code and the report.
fn cli_report(args: &[&str]) -> (Option<i32>, Value) {
    let out = support::run(args);
    let report = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}):\n{}", out.dump()));
    (out.code, report)
}

#[test]
fn real_bundles_and_verify_reports_match_their_schemas() {
    let bundle_schema = validator(BUNDLE_SCHEMA);
    let report_schema = validator(REPORT_SCHEMA);
    let bundle_report = def_validator(REPORT_SCHEMA, "BundleReport");
    let server = TestServer::start();
    seed(&server);
    let dir = tempfile::tempdir().unwrap();
    let key = support::log_key(server.data.root());

    let mut checked = 0;
    for (label, batch) in Scenario::featured_batches() {
        let path = format!("/v1/batches/{}/bundle", batch.as_str().replace('/', "%2F"));
        let reply = server.get(&path);
        let bundle = reply.assert_json(200);
        assert_valid(&bundle_schema, &bundle, &format!("the bundle of {label}"));

        // The server's report on it, and the binary's.
        let report = server.post("/v1/verify", &reply.body).assert_json(200);
        assert_eq!(report["verified"], true, "{report}");
        assert_valid(
            &report_schema,
            &report,
            &format!("POST /v1/verify on {label}"),
        );
        assert_valid(&bundle_report, &report, "the same, as a BundleReport");
        let file = dir.path().join(format!("{label}.bundle.json"));
        std::fs::write(&file, &reply.body).unwrap();
        let (code, cli) = cli_report(&[
            "verify-bundle",
            file.to_str().unwrap(),
            "--log-key",
            &key,
            "--json",
        ]);
        assert_eq!(code, Some(0), "{cli}");
        assert_valid(
            &report_schema,
            &cli,
            &format!("verify-bundle --json on {label}"),
        );
        assert_eq!(cli, report, "the CLI and the server report the same");
        checked += 1;
    }
    assert!(checked >= 3, "only {checked} featured batches");

    // Failed reports: a bundle with one proof hash changed, and a file that is no bundle.
    let (_, batch) = Scenario::featured_batches().remove(0);
    let reply = server.get(&format!(
        "/v1/batches/{}/bundle",
        batch.as_str().replace('/', "%2F")
    ));
    let mut tampered = reply.json();
    let last = tampered["entries"].as_array().unwrap().len() - 1;
    let hash = tampered["entries"][last]["proof"][0]
        .as_str()
        .unwrap()
        .to_owned();
    let flipped = if hash.starts_with('A') { "B" } else { "A" };
    tampered["entries"][last]["proof"][0] = json!(format!("{flipped}{}", &hash[1..]));
    let tampered_bytes = serde_json::to_vec(&tampered).unwrap();
    assert_valid(
        &bundle_schema,
        &tampered,
        "a bundle with an altered proof (still well-formed)",
    );
    let report = server.post("/v1/verify", &tampered_bytes).assert_json(200);
    assert_eq!(report["verified"], false);
    assert_valid(&report_schema, &report, "a failed report");
    let file = dir.path().join("not-a-bundle.json");
    std::fs::write(&file, b"{\"format\": 1}").unwrap();
    let (code, cli) = cli_report(&[
        "verify-bundle",
        file.to_str().unwrap(),
        "--log-key",
        &key,
        "--json",
    ]);
    assert_eq!(code, Some(1));
    assert_eq!(cli["failures"][0]["location"], "bundle", "{cli}");
    assert_valid(
        &report_schema,
        &cli,
        "the report on a file that is no bundle",
    );

    // The full audit: passed, then refused by a policy whose witness never cosigned.
    let state = dir.path().join("verify-state.json");
    let (code, audit) = cli_report(&[
        "verify",
        "--server",
        &server.base,
        "--log-key",
        &key,
        "--state",
        state.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, Some(0), "{audit}");
    assert_valid(&report_schema, &audit, "verify --json (passed)");
    assert_valid(
        &def_validator(REPORT_SCHEMA, "AuditPassed"),
        &audit,
        "as AuditPassed",
    );
    let witness_key = dir.path().join("w.key");
    let out = support::run_ok(&[
        "witness",
        "keygen",
        "--name",
        "absent-witness.test",
        "--out",
        witness_key.to_str().unwrap(),
        "--json",
    ]);
    let vkey: Value = serde_json::from_str(&out).unwrap();
    let policy = dir.path().join("strict.policy");
    std::fs::write(
        &policy,
        format!(
            "log {key}\nwitness w1 {} http://127.0.0.1:9/\nquorum w1\n",
            vkey["verifier_key"].as_str().unwrap()
        ),
    )
    .unwrap();
    let (code, refused) = cli_report(&[
        "verify",
        "--server",
        &server.base,
        "--log-key",
        &key,
        "--state",
        state.to_str().unwrap(),
        "--policy",
        policy.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, Some(1), "{refused}");
    assert_valid(
        &report_schema,
        &refused,
        "verify --json refused by the policy",
    );
    assert_valid(
        &def_validator(REPORT_SCHEMA, "AuditRefusedByPolicy"),
        &refused,
        "as AuditRefusedByPolicy",
    );
    let (code, bundle_refused) = cli_report(&[
        "verify-bundle",
        dir.path().join("gm-magnet.bundle.json").to_str().unwrap(),
        "--log-key",
        &key,
        "--policy",
        policy.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, Some(1), "{bundle_refused}");
    assert_eq!(bundle_refused["failures"][0]["location"], "checkpoint");
    assert_valid(
        &report_schema,
        &bundle_refused,
        "verify-bundle --policy, refused",
    );

    // A failed audit: a backup of the ledger with one entry's stored bytes altered.
    let copy = dir.path().join("copy");
    lodestone::store::Store::backup(server.data.root(), &copy).unwrap();
    let leaf = server.get("/v1/entries/5").assert_json(200)["leaf"]
        .as_str()
        .unwrap()
        .to_owned();
    let bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, leaf).unwrap();
    support::overwrite_entry(&copy, 5, &support::flip(&bytes, bytes.len() / 2));
    let (code, failed) = cli_report(&[
        "verify",
        "--data",
        copy.to_str().unwrap(),
        "--state",
        dir.path().join("other-state.json").to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, Some(1), "{failed}");
    assert_valid(
        &report_schema,
        &failed,
        "verify --data --json on a damaged ledger",
    );
    assert_valid(
        &def_validator(REPORT_SCHEMA, "AuditFailed"),
        &failed,
        "as AuditFailed",
    );
}

#[test]
fn a_witnessed_bundle_and_its_policy_report_match_their_schemas() {
    let mut net = witnessing::Network::start(1, 1);
    let receipt = net.write("schema");
    let index = receipt["index"].as_u64().unwrap();
    net.wait_witnessed(index + 1, &["w1"]);
    let url = net.url();
    let (status, entry) = support::get_json(&format!("{url}/v1/entries/{index}"));
    assert_eq!(status, 200);
    let batch = entry["event"]["batch"].as_str().unwrap().to_owned();
    let bytes = support::get_bytes(&format!("{url}/v1/batches/{batch}/bundle"));
    let bundle: Value = serde_json::from_slice(&bytes).unwrap();
    assert!(
        bundle["checkpoint"].as_str().unwrap().lines().count() >= 6,
        "the bundle's checkpoint carries the cosignature: {bundle}"
    );
    assert_valid(&validator(BUNDLE_SCHEMA), &bundle, "a witnessed bundle");
    let file = net.path("witnessed.bundle.json");
    std::fs::write(&file, &bytes).unwrap();
    let (code, report) = cli_report(&[
        "verify-bundle",
        file.to_str().unwrap(),
        "--log-key",
        &net.log_vkey,
        "--policy",
        net.policy_path.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["witnesses"], json!(["w1"]));
    assert_valid(
        &validator(REPORT_SCHEMA),
        &report,
        "verify-bundle --policy --json",
    );
}

/// One change to a document, for the negative tests.
type Mutation = Box<dyn Fn(&mut Value)>;

/// A well-formed bundle (real values, shortened), for the negative tests.
fn minimal_bundle() -> Value {
    json!({
        "format": "lodestone-bundle/v1",
        "batch": "LYN-NDPR-2026-0001",
        "checkpoint": "lodestone.example/rare-earths\n5\nXi0xvfkNqBjMt9FQgXacdppiRE0tYJiKGmN2CAMC2fU=\n\n\u{2014} lodestone.example/rare-earths 4H0M9LnrKKzrOh6iDC8Enz99CLJrEs82XHIUgXJt5P+LXP9GAlg/KLR2ZrpZsoadCTlXhaqameMI0eaertHOO2A97wM=\n",
        "entries": [
            {"index": 0, "leaf": "AQAAAAAA", "proof": ["yBb4JlA37NFodm/yd91BSCcBRSNABMs73YJ/HigMh5s="]},
        ]
    })
}

#[test]
fn the_bundle_schema_refuses_mutated_bundles() {
    let schema = validator(BUNDLE_SCHEMA);
    let good = minimal_bundle();
    assert_valid(&schema, &good, "the base bundle");
    let mutations: Vec<(&str, Mutation)> = vec![
        (
            "another format",
            Box::new(|b| b["format"] = json!("lodestone-bundle/v2")),
        ),
        (
            "no batch",
            Box::new(|b| drop(b.as_object_mut().unwrap().remove("batch"))),
        ),
        (
            "a bad batch id",
            Box::new(|b| b["batch"] = json!("-bad id")),
        ),
        ("an unknown field", Box::new(|b| b["note"] = json!("hi"))),
        ("no entries", Box::new(|b| b["entries"] = json!([]))),
        (
            "a negative index",
            Box::new(|b| b["entries"][0]["index"] = json!(-1)),
        ),
        (
            "a fractional index",
            Box::new(|b| b["entries"][0]["index"] = json!(1.5)),
        ),
        (
            "a leaf not base64",
            Box::new(|b| b["entries"][0]["leaf"] = json!("AQ*AAAAA")),
        ),
        (
            "an unpadded leaf",
            Box::new(|b| b["entries"][0]["leaf"] = json!("AQAAAAA")),
        ),
        (
            "a 31-byte hash",
            Box::new(|b| {
                b["entries"][0]["proof"][0] = json!("yBb4JlA37NFodm/yd91BSCcBRSNABMs73YJ/HigMhw==")
            }),
        ),
        (
            "a hash with non-canonical padding bits",
            Box::new(|b| {
                b["entries"][0]["proof"][0] = json!("yBb4JlA37NFodm/yd91BSCcBRSNABMs73YJ/HigMh5t=")
            }),
        ),
        (
            "an entry field unknown",
            Box::new(|b| b["entries"][0]["hash"] = json!("x")),
        ),
        (
            "an entry without proof",
            Box::new(|b| drop(b["entries"][0].as_object_mut().unwrap().remove("proof"))),
        ),
        (
            "a checkpoint without signature",
            Box::new(|b| {
                b["checkpoint"] = json!("lodestone.example/rare-earths\n5\nXi0xvfkNqBjMt9FQgXacdppiRE0tYJiKGmN2CAMC2fU=\n\n")
            }),
        ),
        (
            "a checkpoint size with a leading zero",
            Box::new(|b| {
                let c = b["checkpoint"].as_str().unwrap().replace("\n5\n", "\n05\n");
                b["checkpoint"] = json!(c);
            }),
        ),
    ];
    for (what, mutate) in mutations {
        let mut bundle = good.clone();
        mutate(&mut bundle);
        assert_invalid(&schema, &bundle, what);
    }
}

fn passed_bundle_report() -> Value {
    json!({
        "verified": true, "batch": "GM-DRIVE-2026-0001", "origin": "lodestone.example/rare-earths",
        "checkpoint_size": 79, "entries_proven": 16, "entries_replayed": 15,
        "entries_outside_scope": [{"location": "entry 77", "problem": "transform also involves batch X"}],
        "failures": [],
        "origins": {"basis_g": 10, "remaining_g": 10, "mined_g": 10, "recycled_g": 0, "untracked_g": 0,
                    "recycled_share": 0.0, "untracked_share": 0.0,
                    "origins_by_site": [{"site": "mount-weld", "name": "Mount Weld", "country": "AU",
                                         "owner": "lynas", "owner_name": "Lynas", "grams": 10, "share": 1.0}],
                    "origins_by_company": [{"actor": "lynas", "name": "Lynas", "grams": 10, "share": 1.0}],
                    "origins_by_country": [{"country": "AU", "grams": 10, "share": 1.0}],
                    "recycled_by": []},
        "certificates": [{"batch": "MP-OX-1", "index": 30, "certifier": "assay-lab", "claim": "origin_audit",
                          "statement": "traced", "document_sha256": "6fe15056a7e0f1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718cea5"}],
        "cannot_prove": ["that no entry outside this bundle spent the same batches"]
    })
}

#[test]
fn the_report_schema_refuses_mutated_reports() {
    let schema = validator(REPORT_SCHEMA);
    let good = passed_bundle_report();
    assert_valid(&schema, &good, "the base report");
    let mutations: Vec<(&str, Mutation)> = vec![
        (
            "verified with a failure",
            Box::new(|r| r["failures"] = json!([{"location": "bundle", "problem": "x"}])),
        ),
        (
            "failed without a failure",
            Box::new(|r| r["verified"] = json!(false)),
        ),
        (
            "verified without origins",
            Box::new(|r| r["origins"] = Value::Null),
        ),
        (
            "a missing field",
            Box::new(|r| drop(r.as_object_mut().unwrap().remove("cannot_prove"))),
        ),
        (
            "nothing it cannot prove",
            Box::new(|r| r["cannot_prove"] = json!([])),
        ),
        ("an unknown field", Box::new(|r| r["score"] = json!(1))),
        (
            "a location of no kind",
            Box::new(|r| r["entries_outside_scope"][0]["location"] = json!("entry 07")),
        ),
        (
            "an unknown claim",
            Box::new(|r| r["certificates"][0]["claim"] = json!("vibes")),
        ),
        (
            "a digest in upper case",
            Box::new(|r| {
                r["certificates"][0]["document_sha256"] =
                    json!("6FE15056A7E0F1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4E5F60718CEA5")
            }),
        ),
        (
            "a share over 1",
            Box::new(|r| r["origins"]["origins_by_site"][0]["share"] = json!(1.5)),
        ),
        (
            "a negative count",
            Box::new(|r| r["entries_proven"] = json!(-1)),
        ),
    ];
    for (what, mutate) in mutations {
        let mut report = good.clone();
        mutate(&mut report);
        assert_invalid(&schema, &report, what);
    }
    // The audit shapes are closed and told apart.
    let passed = json!({"verified": true, "origin": "o", "size": 3, "root": "Xi0xvfkNqBjMt9FQgXacdppiRE0tYJiKGmN2CAMC2fU=",
                        "previous_size": null, "log_key": "given with --log-key", "witnesses": null});
    assert_valid(&schema, &passed, "an audit that passed");
    let mut bad = passed.clone();
    bad["log_key"] = json!("trust me");
    assert_invalid(&schema, &bad, "an audit with an unknown key source");
    let mut bad = passed.clone();
    bad["verified"] = json!(false);
    assert_invalid(&schema, &bad, "a passed audit that says false");
    let failed = json!({"verified": false, "origin": "o", "size": 3, "failed_entry": 2, "error": "entry 2: bad", "file": "log/entries"});
    assert_valid(&schema, &failed, "an audit that failed");
    let mut bad = failed.clone();
    bad["file"] = json!("/etc/passwd");
    assert_invalid(&schema, &bad, "an audit naming a file outside log/");
}

#[test]
fn the_schemas_agree_with_the_code_and_the_docs() {
    let bundle: Value = serde_json::from_str(BUNDLE_SCHEMA).unwrap();
    assert_eq!(
        bundle["properties"]["format"]["const"],
        lodestone::audit::bundle::BUNDLE_FORMAT
    );
    let report: Value = serde_json::from_str(REPORT_SCHEMA).unwrap();
    assert_eq!(
        report["$defs"]["ProvenCertificate"]["properties"]["claim"]["enum"],
        json!(lodestone::model::material::Claim::NAMES)
    );
    // The schema files are published where the formats are described.
    for (doc, text) in [
        ("docs/API.md", include_str!("../docs/API.md")),
        ("docs/FORMAT.md", include_str!("../docs/FORMAT.md")),
    ] {
        for file in [
            "schemas/bundle.schema.json",
            "schemas/verify-report.schema.json",
        ] {
            assert!(text.contains(file), "{doc} does not link {file}");
        }
    }
    // The OpenAPI document embeds the very same schemas.
    assert_eq!(lodestone::http::openapi::BUNDLE_SCHEMA, BUNDLE_SCHEMA);
    assert_eq!(
        lodestone::http::openapi::VERIFY_REPORT_SCHEMA,
        REPORT_SCHEMA
    );
}
