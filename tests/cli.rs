//! The `lodestone` command end to end, through the real binary and a real server on a free port
//! (issue 5, DESIGN.md §1 and §6): an operator creates a ledger and serves it, participants get
//! keys and are registered, record a chain of events (extraction, separation, shipment,
//! receipt), an auditor queries the batch and runs the full audit; then one stored byte is
//! changed and the audit fails naming that entry, and once restored the audit passes again and
//! proves the log only grew since the checkpoint it saw before.

use crate::support;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use lodestone::model::entry::Entry;
use lodestone::model::envelope::Envelope;
use lodestone::model::keys::{PublicKey, SecretKeyFile};
use serde_json::{json, Value};
use support::{closed_port_url, get_json, log_key, run, run_ok, Server};

/// A scratch directory with a fresh ledger in `<dir>/ledger`.
struct Ledger {
    dir: tempfile::TempDir,
    data: PathBuf,
    key: String,
}

impl Ledger {
    fn init() -> Ledger {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("ledger");
        let out: Value = serde_json::from_str(&run_ok(&[
            "init",
            "--data",
            data.to_str().unwrap(),
            "--json",
        ]))
        .unwrap();
        let key = log_key(&data);
        assert_eq!(
            out["verifier_key"],
            json!(key),
            "init prints the key in log.pub"
        );
        assert_eq!(out["genesis_index"], json!(0));
        assert_mode_0600(&data.join("authority.key"));
        assert_mode_0600(&data.join("log.key"));
        Ledger { dir, data, key }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_owned()
    }

    fn data(&self) -> &str {
        self.data.to_str().unwrap()
    }

    fn authority_key(&self) -> String {
        self.data.join("authority.key").to_str().unwrap().to_owned()
    }

    /// Writes `event` as a JSON file named `<name>.json`; returns its path.
    /// Writes `event` as `<name>.json`, naming the ledger's log (`init`'s default origin) when
    /// it names none, so that `submit` signs the file's bytes as they are.
    fn event_file(&self, name: &str, event: &Value) -> String {
        let mut event = event.clone();
        if event.get("log").is_none() {
            event["log"] = json!("lodestone.example/rare-earths");
        }
        let path = self.path(&format!("{name}.json"));
        std::fs::write(&path, serde_json::to_vec_pretty(&event).unwrap()).unwrap();
        path
    }

    /// `keygen --out <name>.key --actor <actor>`: the key file's path and key id.
    fn keygen(&self, name: &str, actor: &str) -> (String, String) {
        let path = self.path(&format!("{name}.key"));
        let out: Value = serde_json::from_str(&run_ok(&[
            "keygen", "--out", &path, "--actor", actor, "--json",
        ]))
        .unwrap();
        assert_mode_0600(Path::new(&path));
        let (file, _) =
            SecretKeyFile::parse(&std::fs::read_to_string(&path).unwrap()).expect("key file");
        assert_eq!(out["key_id"], json!(file.key_id.to_string()));
        assert_eq!(out["public_key"], json!(file.public_key.to_base64()));
        assert_eq!(file.actor.as_deref(), Some(actor));
        (path, file.key_id.to_string())
    }

    /// `register actor` signed with the authority key from the data directory.
    fn register(&self, server: &str, subject: &str, roles: &[&str], site: &str, key: &str) {
        let authority = self.authority_key();
        let mut args = vec![
            "register",
            "actor",
            "--subject",
            subject,
            "--name",
            subject,
            "--country",
            "US",
            "--key-file",
            key,
            "--authority-key",
            &authority,
            "--server",
            server,
            "--log-key",
            &self.key,
            "--json",
        ];
        for role in roles {
            args.extend(["--role", role]);
        }
        if !site.is_empty() {
            args.extend(["--site", site]);
        }
        // The batch id prefix the tests' batches use (`MP-…` for mp-materials).
        let prefix = match subject {
            "mp-materials" => "MP-".to_owned(),
            other => format!("{}-", other.to_uppercase()),
        };
        args.extend(["--prefix", &prefix]);
        let receipt: Value = serde_json::from_str(&run_ok(&args)).unwrap();
        assert!(receipt["index"].as_u64().unwrap() > 0);
    }

    /// `submit FILE --key KEY --json` with the receipt checked against the log key.
    fn submit(&self, server: &str, file: &str, key: &str) -> Value {
        let out = run_ok(&[
            "submit",
            file,
            "--key",
            key,
            "--server",
            server,
            "--log-key",
            &self.key,
            "--json",
        ]);
        serde_json::from_str(&out).unwrap()
    }

    /// `verify --server URL --state <state> --log-key KEY --json`.
    fn verify_server(&self, server: &str, state: &str) -> support::Run {
        run(&[
            "verify",
            "--server",
            server,
            "--state",
            state,
            "--log-key",
            &self.key,
            "--json",
        ])
    }
}

fn assert_mode_0600(path: &Path) {
    let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{} has mode {mode:o}", path.display());
}

/// RFC 3339 UTC, `hours` before now: the events happened in the past, in order.
fn hours_ago(hours: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::hours(hours))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The four events of the chain: extract a concentrate at Mountain Pass, separate it into NdPr
/// oxide, ship the oxide to GM, GM receives it with 1 kg lost in transit.
fn chain_events() -> [(&'static str, Value); 4] {
    [
        (
            "extract",
            json!({"kind": "extract", "id": "ev-ex-1", "actor": "mp-materials",
                   "occurred_at": hours_ago(5), "site": "mountain-pass", "batch": "MP-CONC-1",
                   "form": "concentrate", "mass_g": 1_000_000, "elements": ["La", "Ce", "Pr", "Nd"]}),
        ),
        (
            "separation",
            json!({"kind": "transform", "id": "ev-sep-1", "actor": "mp-materials",
                   "occurred_at": hours_ago(4), "process": "separation", "site": "mountain-pass",
                   "inputs": [{"batch": "MP-CONC-1", "mass_g": 1_000_000}],
                   "outputs": [{"batch": "MP-NDPR-1", "form": "oxide", "mass_g": 200_000,
                                "elements": ["Nd", "Pr"]}]}),
        ),
        (
            "ship",
            json!({"kind": "ship", "id": "ev-ship-1", "actor": "mp-materials",
                   "occurred_at": hours_ago(3), "batch": "MP-NDPR-1", "to": "general-motors"}),
        ),
        (
            "receive",
            json!({"kind": "receive", "id": "ev-recv-1", "actor": "general-motors",
                   "occurred_at": hours_ago(2), "batch": "MP-NDPR-1", "mass_g": 199_000}),
        ),
    ]
}

/// A copy of entry bytes with one byte of the event payload (inside the signed JSON) changed.
fn tamper_payload(bytes: &[u8]) -> Vec<u8> {
    let entry = Entry::decode(bytes).expect("stored entry decodes");
    let payload = &entry.envelope.payload;
    let start = bytes
        .windows(payload.len())
        .position(|w| w == payload.as_slice())
        .expect("the payload is stored verbatim in the entry");
    support::flip(bytes, start + payload.len() / 2)
}

#[test]
fn init_serve_register_submit_query_verify_then_tamper_and_restore() {
    let ledger = Ledger::init();
    let state = ledger.path("verify-state.json");
    let server = Server::serve(&ledger.data);
    let url = server.url.clone();

    let (mp_key, _) = ledger.keygen("mp", "mp-materials");
    let (gm_key, _) = ledger.keygen("gm", "general-motors");
    ledger.register(
        &url,
        "mp-materials",
        &["miner", "separator"],
        "mountain-pass,mine,US,Mountain Pass mine",
        &mp_key,
    );
    ledger.register(&url, "general-motors", &["manufacturer"], "", &gm_key);

    let mut indexes = Vec::new();
    for (name, event) in chain_events() {
        let file = ledger.event_file(name, &event);
        let key = if event["actor"] == "general-motors" {
            &gm_key
        } else {
            &mp_key
        };
        let receipt = ledger.submit(&url, &file, key);
        indexes.push(receipt["index"].as_u64().unwrap());
    }
    assert_eq!(
        indexes,
        [3, 4, 5, 6],
        "genesis, two registrations, then the chain"
    );
    let separation_index = indexes[1];

    // Query: the oxide's state and history, its provenance, the concentrate's downstream.
    let (status, batch) = get_json(&format!("{url}/v1/batches/MP-NDPR-1"));
    assert_eq!(status, 200, "{batch}");
    assert_eq!(batch["batch"]["custodian"], "general-motors");
    assert_eq!(batch["batch"]["created_g"], 200_000);
    assert_eq!(batch["batch"]["remaining_g"], 199_000);
    assert_eq!(batch["batch"]["transit_loss_g"], 1_000);
    assert_eq!(batch["batch"]["status"]["state"], "active");
    assert_eq!(batch["batch"]["creation"]["kind"], "transform");
    let history: Vec<u64> = batch["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["index"].as_u64().unwrap())
        .collect();
    assert_eq!(history, [4, 5, 6]);
    let (status, provenance) = get_json(&format!("{url}/v1/batches/MP-NDPR-1/provenance"));
    assert_eq!(status, 200, "{provenance}");
    assert_eq!(provenance["mined_g"], 200_000, "{provenance}");
    // Origin shares alone, without the DAG.
    let (status, shares) = get_json(&format!("{url}/v1/batches/MP-NDPR-1/provenance?dag=false"));
    assert_eq!(status, 200, "{shares}");
    assert!(shares.get("dag").is_none(), "{shares}");
    assert_eq!(shares["origins_by_site"], provenance["origins_by_site"]);
    assert_eq!(shares["batch"], "MP-NDPR-1");
    let sites = provenance["origins_by_site"].as_array().unwrap();
    assert_eq!(sites.len(), 1, "{provenance}");
    assert_eq!(sites[0]["site"], "mountain-pass");
    assert_eq!(sites[0]["grams"], 200_000);
    assert_eq!(provenance["origins_by_country"][0]["country"], "US");
    assert_eq!(provenance["origins_by_country"][0]["share"], 1.0);
    let (status, downstream) = get_json(&format!("{url}/v1/batches/MP-CONC-1/downstream"));
    assert_eq!(status, 200, "{downstream}");
    assert!(
        downstream.to_string().contains("MP-NDPR-1"),
        "the oxide is downstream of the concentrate: {downstream}"
    );

    // The full audit passes; nothing was seen before.
    let first = ledger.verify_server(&url, &state);
    assert_eq!(first.code, Some(0), "{}", first.dump());
    let report: Value = serde_json::from_str(&first.stdout).unwrap();
    assert_eq!(report["verified"], true);
    assert_eq!(report["size"], 7);
    assert_eq!(report["previous_size"], Value::Null);

    // Tamper: stop the server, change one stored byte of the separation entry — its version,
    // index, hash-chain link, log time, event payload or signature — and the audit of the data
    // directory fails naming that entry.
    assert_eq!(server.stop(), Some(0), "serve exits cleanly on SIGTERM");
    let store = support::open_store(&ledger.data);
    let original = store.entry(separation_index).unwrap().unwrap();
    drop(store);
    let overwrite = |bytes: &[u8]| support::overwrite_entry(&ledger.data, separation_index, bytes);
    let data_args = ["verify", "--data", ledger.data(), "--state", &state];
    let positions = [0, 1, 2, 20, 34, original.len() - 1];
    for at in positions {
        overwrite(&support::flip(&original, at));
        let failed = support::run_unlocked(
            &[&data_args[..], &["--log-key", &ledger.key, "--json"]].concat(),
        );
        assert_eq!(failed.code, Some(1), "byte {at}: {}", failed.dump());
        let report: Value = serde_json::from_str(&failed.stdout).unwrap();
        assert_eq!(report["verified"], false);
        assert_eq!(
            report["failed_entry"], separation_index,
            "byte {at}: {report}"
        );
        assert!(
            report["error"]
                .as_str()
                .unwrap()
                .starts_with(&format!("entry {separation_index}:")),
            "byte {at}: {report}"
        );
    }
    overwrite(&tamper_payload(&original));
    let failed = support::run_unlocked(&data_args);
    assert_eq!(failed.code, Some(1), "{}", failed.dump());
    assert!(
        failed
            .stdout
            .contains(&format!("entry {separation_index}:")),
        "{}",
        failed.dump()
    );
    assert!(
        failed.stdout.contains("verify: FAILED"),
        "{}",
        failed.dump()
    );
    assert!(
        failed
            .stdout
            .contains(&format!("first bad entry: {separation_index}")),
        "{}",
        failed.dump()
    );
    assert!(!failed.stderr.contains("panicked"), "{}", failed.dump());

    // Served as is, the doctored entry is caught by the online audit as well.
    let doctored = Server::serve(&ledger.data);
    let failed = ledger.verify_server(&doctored.url, &state);
    assert_eq!(failed.code, Some(1), "{}", failed.dump());
    let report: Value = serde_json::from_str(&failed.stdout).unwrap();
    assert_eq!(report["failed_entry"], separation_index, "{report}");
    assert_eq!(doctored.stop(), Some(0));

    // Restore, restart, grow the log by one entry: the audit passes and proves the log only
    // grew since the checkpoint of size 7 it saw before.
    overwrite(&original);
    let server = Server::serve(&ledger.data);
    let url = server.url.clone();
    let retire = ledger.event_file(
        "retire",
        &json!({"kind": "retire", "id": "ev-ret-1", "actor": "general-motors",
                "occurred_at": hours_ago(1), "batch": "MP-NDPR-1", "reason": "consumed"}),
    );
    assert_eq!(ledger.submit(&url, &retire, &gm_key)["index"], 7);
    let again = ledger.verify_server(&url, &state);
    assert_eq!(again.code, Some(0), "{}", again.dump());
    let report: Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(report["verified"], true);
    assert_eq!(report["size"], 8);
    assert_eq!(report["previous_size"], 7, "{report}");
    let text = run_ok(&["verify", "--server", &url, "--state", &state]);
    assert!(text.contains("verify: OK"), "{text}");
    assert!(
        text.contains("consistent with the checkpoint of size 8 seen before"),
        "{text}"
    );
    assert!(text.contains("remembered from an earlier run"), "{text}");
    server.stop();
}

#[test]
fn dry_run_identical_retry_conflict_stdin_and_revoked_key() {
    let ledger = Ledger::init();
    let server = Server::serve(&ledger.data);
    let url = server.url.clone();
    let (mp_key, mp_key_id) = ledger.keygen("mp", "mp-materials");
    ledger.register(
        &url,
        "mp-materials",
        &["miner"],
        "mountain-pass,mine,US,Mountain Pass mine",
        &mp_key,
    );
    let size = || {
        get_json(&format!("{url}/v1/log")).1["size"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(size(), 2);

    // --dry-run signs and prints the envelope; it needs no server and writes nothing.
    let extract = json!({"kind": "extract", "id": "ev-ex-1", "actor": "mp-materials",
                         "occurred_at": hours_ago(3), "site": "mountain-pass",
                         "batch": "MP-ORE-1", "form": "ore", "mass_g": 5_000_000});
    let file = ledger.event_file("extract", &extract);
    let printed = run_ok(&[
        "submit",
        &file,
        "--key",
        &mp_key,
        "--dry-run",
        "--server",
        &closed_port_url(),
    ]);
    let envelope: Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(
        envelope["payloadType"],
        "application/vnd.lodestone.event.v1+json"
    );
    let payload = B64
        .decode(envelope["payload"].as_str().unwrap())
        .expect("payload is base64");
    assert_eq!(
        payload,
        std::fs::read(&file).unwrap(),
        "the exact file bytes are signed"
    );
    assert_eq!(envelope["signatures"].as_array().unwrap().len(), 1);
    assert_eq!(envelope["signatures"][0]["keyid"], json!(mp_key_id));
    let parsed = Envelope::from_json(printed.as_bytes()).expect("a valid DSSE envelope");
    let (key_file, _) = SecretKeyFile::parse(&std::fs::read_to_string(&mp_key).unwrap()).unwrap();
    let public: PublicKey = key_file.public_key;
    assert!(parsed.is_signed_by(&public), "the signature verifies");
    assert_eq!(size(), 2, "a dry run writes nothing");

    // Submit, then the identical retry: the same receipt, nothing appended.
    let first = run_ok(&["submit", &file, "--key", &mp_key, "--server", &url]);
    assert!(first.contains("appended"), "{first}");
    let receipt = ledger.submit(&url, &file, &mp_key);
    let retry = run_ok(&["submit", &file, "--key", &mp_key, "--server", &url]);
    assert!(
        retry.contains("already in the log (identical retry)"),
        "{retry}"
    );
    assert_eq!(
        ledger.submit(&url, &file, &mp_key),
        receipt,
        "the very same receipt"
    );
    assert_eq!(receipt["index"], 2);
    assert_eq!(size(), 3);

    // The same id with other content is a conflict.
    let mut changed = extract.clone();
    changed["mass_g"] = json!(6_000_000);
    let conflict = ledger.event_file("conflict", &changed);
    let refused = run(&["submit", &conflict, "--key", &mp_key, "--server", &url]);
    assert_ne!(refused.code, Some(0), "{}", refused.dump());
    assert!(refused.stderr.contains("conflict"), "{}", refused.dump());
    assert_eq!(size(), 3);

    // An event on standard input (`-`).
    let second = json!({"kind": "extract", "id": "ev-ex-2", "actor": "mp-materials",
                        "occurred_at": hours_ago(2), "site": "mountain-pass",
                        "batch": "MP-ORE-2", "form": "ore", "mass_g": 1_000});
    let piped = support::run_in(
        &["submit", "-", "--key", &mp_key, "--server", &url],
        Some(&serde_json::to_vec(&second).unwrap()),
    );
    assert_eq!(piped.code, Some(0), "{}", piped.dump());
    assert_eq!(size(), 4);

    // Rotate: add a second key, revoke the first; the revoked key is refused, the new one works.
    let (mp2_key, _) = ledger.keygen("mp2", "mp-materials");
    let authority = ledger.authority_key();
    run_ok(&[
        "register",
        "update",
        "--subject",
        "mp-materials",
        "--add-key-file",
        &mp2_key,
        "--authority-key",
        &authority,
        "--server",
        &url,
    ]);
    run_ok(&[
        "register",
        "revoke",
        "--subject",
        "mp-materials",
        "--key-id",
        &mp_key_id,
        "--reason",
        "laptop lost",
        "--authority-key",
        &authority,
        "--server",
        &url,
    ]);
    assert_eq!(size(), 6);
    let third = ledger.event_file(
        "third",
        &json!({"kind": "extract", "id": "ev-ex-3", "actor": "mp-materials",
                "occurred_at": hours_ago(1), "site": "mountain-pass",
                "batch": "MP-ORE-3", "form": "ore", "mass_g": 1_000}),
    );
    let refused = run(&["submit", &third, "--key", &mp_key, "--server", &url]);
    assert_ne!(refused.code, Some(0), "{}", refused.dump());
    assert!(refused.stderr.starts_with("error: "), "{}", refused.dump());
    assert!(refused.stderr.contains("revoked_key"), "{}", refused.dump());
    assert_eq!(
        refused.stderr.trim_end().lines().count(),
        1,
        "{}",
        refused.dump()
    );
    assert_eq!(size(), 6, "a refused event writes nothing");
    let accepted = ledger.submit(&url, &third, &mp2_key);
    assert_eq!(accepted["index"], 6);

    // And the whole log still audits.
    let state = ledger.path("state.json");
    let audit = ledger.verify_server(&url, &state);
    assert_eq!(audit.code, Some(0), "{}", audit.dump());
    server.stop();
}

/// Copies a (closed) ledger directory: the same log key and the same entries, so that the two
/// copies can then grow apart — a fork, as a misbehaving operator would show two auditors.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for item in std::fs::read_dir(from).unwrap() {
        let item = item.unwrap();
        let target = to.join(item.file_name());
        if item.file_type().unwrap().is_dir() {
            copy_dir(&item.path(), &target);
        } else {
            std::fs::copy(item.path(), &target).unwrap();
        }
    }
}

#[test]
fn verify_remembers_the_checkpoint_and_catches_a_rollback_and_a_fork() {
    let a = Ledger::init();
    let b_data = a.dir.path().join("fork");
    let b = b_data.to_str().unwrap();
    let state = a.path("state.json");
    let verify = |data: &str| {
        run(&[
            "verify",
            "--data",
            data,
            "--state",
            &state,
            "--log-key",
            &a.key,
            "--json",
        ])
    };
    let report = |out: &support::Run| -> Value { serde_json::from_str(&out.stdout).unwrap() };

    let first = verify(a.data());
    assert_eq!(first.code, Some(0), "{}", first.dump());
    copy_dir(&a.data, &b_data);
    run_ok(&[
        "loadgen",
        "--data",
        a.data(),
        "--blocks",
        "1",
        "--block-size",
        "3",
    ]);
    let grown = verify(a.data());
    assert_eq!(grown.code, Some(0), "{}", grown.dump());
    let seen = report(&grown)["size"].as_u64().unwrap();
    assert_eq!(report(&grown)["previous_size"], 1);
    assert!(seen > 1);

    // The copy is still at size 1. Restored in place of the ledger, it refuses writes: the
    // checkpoint guard remembers that this log signed a larger size.
    let refused = run(&["loadgen", "--data", b, "--blocks", "1", "--block-size", "3"]);
    assert_eq!(refused.code, Some(2), "{}", refused.dump());
    assert!(
        refused
            .stderr
            .contains(&format!("signed a checkpoint at size {seen}"))
            && refused.stderr.contains("holds only 1 entries")
            && refused.stderr.contains("lodestone recover"),
        "{}",
        refused.dump()
    );
    // `recover` brings a copy of it forward from the live ledger; then it takes writes again.
    let c_data = a.dir.path().join("recovered");
    let c = c_data.to_str().unwrap();
    copy_dir(&b_data, &c_data);
    let recovered = run(&["recover", "--data", c, "--from", a.data(), "--json"]);
    assert_eq!(recovered.code, Some(0), "{}", recovered.dump());
    assert_eq!(report(&recovered)["size"], seen);
    let c_state = a.path("c-state.json");
    let audit = run(&["verify", "--data", c, "--state", &c_state, "--json"]);
    assert_eq!(audit.code, Some(0), "{}", audit.dump());
    assert_eq!(report(&audit)["size"], seen);
    run_ok(&["loadgen", "--data", c, "--blocks", "1", "--block-size", "2"]);

    // The copy is still at size 1: a rollback.
    let rolled_back = verify(b);
    assert_eq!(rolled_back.code, Some(1), "{}", rolled_back.dump());
    let r = report(&rolled_back);
    assert_eq!(r["verified"], false);
    assert!(r["error"].as_str().unwrap().contains("rolled back"), "{r}");

    // The copy grows differently on a machine without the guard, past the size seen: same key,
    // another history — a fork.
    let elsewhere = a.path("elsewhere-guard");
    let grew = support::run_with(
        &["loadgen", "--data", b, "--blocks", "2", "--block-size", "3"],
        None,
        &[("LODESTONE_CHECKPOINT_GUARD", &elsewhere)],
    );
    assert_eq!(grew.code, Some(0), "{}", grew.dump());
    let forked = verify(b);
    assert_eq!(forked.code, Some(1), "{}", forked.dump());
    let r = report(&forked);
    assert!(r["size"].as_u64().unwrap() > seen, "{r}");
    assert!(r["error"].as_str().unwrap().contains("rewritten"), "{r}");
    let text = run(&["verify", "--data", b, "--state", &state]);
    assert_eq!(text.code, Some(1), "{}", text.dump());
    assert!(text.stdout.contains("verify: FAILED"), "{}", text.dump());

    // A state file remembered for another log of the same name: the key does not match, and
    // the message says so and how to reset (issue 13), not that the checkpoint is forged.
    let other = Ledger::init();
    let out = run(&["verify", "--data", other.data(), "--state", &state]);
    assert_ne!(out.code, Some(0), "{}", out.dump());
    assert!(out.stderr.starts_with("error: "), "{}", out.dump());
    assert!(
        out.stderr.contains("differs from the one remembered") && out.stderr.contains("`rm "),
        "{}",
        out.dump()
    );
    let out = run(&[
        "verify",
        "--data",
        other.data(),
        "--state",
        &state,
        "--log-key",
        &other.key,
    ]);
    assert_ne!(out.code, Some(0), "{}", out.dump());
    assert!(
        out.stderr.contains("differs from the one remembered"),
        "{}",
        out.dump()
    );

    // And the honest ledger still verifies against what was remembered.
    assert_eq!(verify(a.data()).code, Some(0));
}
