//! The real binary with its log in PostgreSQL (`--store`, see `tests/support/pg.rs`): `init`,
//! `serve`, `verify` and `backup`; one writer per database; and `serve --read-only` on a real
//! streaming replica, following the primary and refusing writes; `bench --store` against both.

use crate::support;

use std::path::Path;
use std::time::{Duration, Instant};

use lodestone::model::envelope::Envelope;
use lodestone::model::ids::ActorId;
use lodestone::model::keys::SecretKeyFile;
use lodestone::synth::{World, WorldSize};
use serde_json::Value;
use support::{get_json, pg, post_json, run, run_ok, Server};

/// Registers the synthetic world's actors through `base`; returns the log size after.
fn register_world(base: &str, data: &Path, seed: u64) -> (World, u64) {
    let (file, key) =
        SecretKeyFile::parse(&std::fs::read_to_string(data.join("authority.key")).unwrap())
            .unwrap();
    let authority = ActorId::new(file.actor.unwrap()).unwrap();
    let now = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap();
    let world = World::new(seed, WorldSize::default()).starting_at(now - 60 * 86_400_000);
    let registrations: Vec<Envelope> = world.registrations(&authority, &key);
    let body = serde_json::json!({
        "envelopes": registrations.iter().map(Envelope::to_json_value).collect::<Vec<_>>()
    });
    let (status, answer) = post_json(
        &format!("{base}/v1/entries:batch"),
        &serde_json::to_vec(&body).unwrap(),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["rejected"], 0, "{answer}");
    let (_, log) = get_json(&format!("{base}/v1/log"));
    (world, log["size"].as_u64().unwrap())
}

fn log_of(base: &str) -> Value {
    let (status, log) = get_json(&format!("{base}/v1/log"));
    assert_eq!(status, 200, "{log}");
    log
}

#[test]
fn init_serve_verify_and_backup_with_the_log_in_postgres() {
    let url = pg::database("cli");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("keys");
    let data_arg = data.to_str().unwrap();
    let out = run_ok(&["init", "--data", data_arg, "--store", &url]);
    assert!(out.contains("log in postgres://"), "{out}");
    assert!(data.join("log.key").exists() && data.join("STORE").exists());
    assert!(
        !data.join("log").exists(),
        "no embedded log beside the keys"
    );
    // The directory alone is not opened as an (empty) embedded ledger.
    let alone = run(&["verify", "--data", data_arg]);
    assert_ne!(alone.code, Some(0), "{}", alone.dump());
    assert!(
        alone.stderr.contains("kept in PostgreSQL"),
        "{}",
        alone.dump()
    );
    // A second init on the same database is refused.
    let again = run(&[
        "init",
        "--data",
        dir.path().join("other").to_str().unwrap(),
        "--store",
        &url,
    ]);
    assert_ne!(again.code, Some(0), "{}", again.dump());
    assert!(
        again.stderr.contains("already holds a ledger"),
        "{}",
        again.dump()
    );

    let server = Server::serve_store(&data, Some(&url));
    let (_, size) = register_world(&server.url, &data, 0x9e01);
    assert!(size > 1);
    let (status, ready) = get_json(&format!("{}/readyz", server.url));
    assert_eq!(
        (status, ready["size"].as_u64()),
        (200, Some(size)),
        "{ready}"
    );

    // One writer: a second server on the same database refuses to start, naming the first.
    let second = run(&[
        "serve",
        "--data",
        data_arg,
        "--store",
        &url,
        "--addr",
        "127.0.0.1:0",
    ]);
    assert_ne!(second.code, Some(0), "{}", second.dump());
    assert!(
        second.stderr.contains("another writer holds the ledger")
            && second.stderr.contains("application_name `lodestone "),
        "{}",
        second.dump()
    );

    // Audits and backups read it while it serves.
    let state = dir.path().join("verify-state.json");
    let state = state.to_str().unwrap();
    let audit = run_ok(&[
        "verify", "--data", data_arg, "--store", &url, "--state", state,
    ]);
    assert!(audit.contains("verify: OK"), "{audit}");
    let backup = dir.path().join("backup");
    let backup_arg = backup.to_str().unwrap();
    run_ok(&[
        "backup", "--data", data_arg, "--store", &url, "--out", backup_arg,
    ]);
    let head = log_of(&server.url);
    assert_eq!(server.stop(), Some(0));
    // The backup is an embedded ledger with the same log and every checkpoint.
    let audit = run_ok(&["verify", "--data", backup_arg, "--state", state]);
    assert!(audit.contains("verify: OK"), "{audit}");
    let restored = Server::serve(&backup);
    let copy = log_of(&restored.url);
    assert_eq!(copy["size"], head["size"]);
    assert_eq!(copy["root"], head["root"]);
    let (status, first) = get_json(&format!("{}/v1/entries/1", restored.url));
    assert_eq!(status, 200, "{first}");
    assert_eq!(restored.stop(), Some(0));
}

#[test]
fn a_read_only_server_on_a_streaming_replica_follows_and_refuses_writes() {
    let url = pg::database("replica");
    let replica = pg::on_replica(&url);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("keys");
    let data_arg = data.to_str().unwrap();
    run_ok(&["init", "--data", data_arg, "--store", &url]);
    let writer = Server::serve_store(&data, Some(&url));
    let (world, size) = register_world(&writer.url, &data, 0x9e02);
    pg::wait_for_replica(&replica);

    let reader = Server::spawn(
        &[
            "serve",
            "--data",
            data_arg,
            "--store",
            &replica,
            "--read-only",
            "--addr",
            "127.0.0.1:0",
        ],
        None,
    );
    let log = log_of(&reader.url);
    assert_eq!(log["size"].as_u64(), Some(size));
    assert_eq!(log["checkpoint"], log_of(&writer.url)["checkpoint"]);
    let (status, ready) = get_json(&format!("{}/readyz", reader.url));
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["read_only"], true);
    assert_eq!(ready["replication"]["standby"], true, "{ready}");
    assert!(
        ready["replication"]["lag_seconds"].as_f64().is_some(),
        "{ready}"
    );
    assert!(
        ready["replication"]["lag_bytes"].as_u64().is_some(),
        "{ready}"
    );
    let (status, proof) = get_json(&format!(
        "{}/v1/proofs/inclusion?index=1&size={size}",
        reader.url
    ));
    assert_eq!(status, 200, "{proof}");

    // Writes are refused, and nothing is written.
    let mut lane = world.lane(0);
    let event = world.sign(&lane.next().unwrap()).to_json();
    let (status, problem) = post_json(&format!("{}/v1/entries", reader.url), &event);
    assert_eq!(status, 503, "{problem}");
    assert_eq!(problem["code"], "read_only", "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("--read-only"),
        "{problem}"
    );
    // Whatever the envelope holds: a bad signature, or a batch, is told `read_only` before
    // anything else is checked.
    let mut forged: serde_json::Value = serde_json::from_slice(&event).unwrap();
    forged["signatures"][0]["sig"] = format!("{}==", "A".repeat(86)).into();
    let forged = serde_json::to_vec(&forged).unwrap();
    let (status, problem) = post_json(&format!("{}/v1/entries", writer.url), &forged);
    assert_eq!(
        (status, problem["code"].as_str()),
        (403, Some("bad_signature")),
        "the writer checks the signature: {problem}"
    );
    let (status, problem) = post_json(&format!("{}/v1/entries", reader.url), &forged);
    assert_eq!(status, 503, "{problem}");
    assert_eq!(problem["code"], "read_only", "{problem}");
    let batch = format!(r#"{{"envelopes":[{}]}}"#, String::from_utf8_lossy(&event));
    let (status, problem) = post_json(
        &format!("{}/v1/entries:batch", reader.url),
        batch.as_bytes(),
    );
    assert_eq!(status, 503, "{problem}");
    assert_eq!(problem["code"], "read_only", "{problem}");
    assert_eq!(log_of(&writer.url)["size"].as_u64(), Some(size));

    // The writer appends; the reader follows the replica forward.
    let (status, receipt) = post_json(&format!("{}/v1/entries", writer.url), &event);
    assert_eq!(status, 201, "{receipt}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while log_of(&reader.url)["size"].as_u64() != Some(size + 1) {
        assert!(
            Instant::now() < deadline,
            "the reader did not follow the replica"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        log_of(&reader.url)["checkpoint"],
        log_of(&writer.url)["checkpoint"]
    );
    assert_eq!(reader.stop(), Some(0));
    assert_eq!(writer.stop(), Some(0));
}

#[test]
fn bench_measures_the_postgres_store_beside_the_embedded_one_and_drops_its_database() {
    let (primary, replica) = (pg::primary(), pg::replica());
    let scratch_databases = || -> i64 {
        let mut client = postgres::Client::connect(primary, postgres::NoTls).unwrap();
        client
            .query_one(
                "SELECT count(*) FROM pg_database WHERE datname LIKE 'lodestone_bench_%'",
                &[],
            )
            .unwrap()
            .get(0)
    };
    let before = scratch_databases();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bench.json");
    let table = run_ok(&[
        "bench",
        "--quick",
        "--events",
        "2000",
        "--store",
        primary,
        "--replica",
        replica,
        "--dir",
        dir.path().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    for row in [
        "PostgreSQL: blocks of 1,000 rows",
        "embedded store (sled), same events",
        "÷ raw batch verify",
        "inclusion proofs, 16 clients",
        "replay lag (pg_stat_replication)",
    ] {
        assert!(table.contains(row), "no {row:?} in\n{table}");
    }
    let figures: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let store = &figures["store"];
    let positive = |v: &Value| v.as_f64().is_some_and(|x| x > 0.0);
    assert!(positive(&store["raw"]["postgres_rows_per_sec"]), "{store}");
    assert!(positive(&store["ingest"]["postgres_per_sec"]), "{store}");
    assert!(positive(&store["ingest"]["embedded_per_sec"]), "{store}");
    assert_eq!(store["ingest"]["postgres_failed"], 0, "{store}");
    assert!(positive(&store["replica"]["proofs_per_sec"]), "{store}");
    assert_eq!(store["replica"]["proofs_failed"], 0, "{store}");
    assert!(
        store["replica"]["log_size"].as_u64().unwrap() > 2_000,
        "{store}"
    );
    let loaded = &store["replica"]["under_load"];
    assert!(loaded["samples"].as_u64().unwrap() > 0, "{loaded}");
    assert!(loaded["lag_seconds"]["max"].as_f64().is_some(), "{loaded}");
    assert_eq!(loaded["readyz"]["read_only"], true, "{loaded}");

    assert_eq!(
        scratch_databases(),
        before,
        "the bench left its scratch database behind"
    );
}

#[test]
fn a_backup_loads_back_into_an_empty_database_with_recover_store() {
    let url = pg::database("recover_from");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("keys");
    let data_arg = data.to_str().unwrap();
    run_ok(&["init", "--data", data_arg, "--store", &url]);
    let server = Server::serve_store(&data, Some(&url));
    let (world, _) = register_world(&server.url, &data, 0x9e03);
    let mut lane = world.lane(0);
    for _ in 0..20 {
        let event = world.sign(&lane.next().unwrap()).to_json();
        let (status, receipt) = post_json(&format!("{}/v1/entries", server.url), &event);
        assert_eq!(status, 201, "{receipt}");
    }
    let head = log_of(&server.url);
    assert_eq!(server.stop(), Some(0));
    let backup = dir.path().join("backup");
    let backup_arg = backup.to_str().unwrap();
    run_ok(&[
        "backup", "--data", data_arg, "--store", &url, "--out", backup_arg,
    ]);

    // Into a new, empty database: the whole log, replayed into its state, checked against the
    // copy's signed checkpoint.
    let fresh = pg::database("recover_into");
    let out = run_ok(&[
        "recover", "--data", data_arg, "--store", &fresh, "--from", backup_arg,
    ]);
    assert!(out.contains("Recovered"), "{out}");
    let state = dir.path().join("verify-state.json");
    let audit = run_ok(&[
        "verify",
        "--data",
        data_arg,
        "--store",
        &fresh,
        "--state",
        state.to_str().unwrap(),
    ]);
    assert!(audit.contains("verify: OK"), "{audit}");
    let restored = Server::serve_store(&data, Some(&fresh));
    let copy = log_of(&restored.url);
    assert_eq!(copy["size"], head["size"]);
    assert_eq!(copy["root"], head["root"]);
    // The state came back with the log: a retry is a duplicate, a new event is appended.
    let mut again = world.lane(0);
    let first = world.sign(&again.next().unwrap()).to_json();
    let (status, receipt) = post_json(&format!("{}/v1/entries", restored.url), &first);
    assert_eq!(
        status, 200,
        "a retry of an old event is its old receipt: {receipt}"
    );
    let next = world.sign(&lane.next().unwrap()).to_json();
    let (status, receipt) = post_json(&format!("{}/v1/entries", restored.url), &next);
    assert_eq!(status, 201, "{receipt}");
    assert_eq!(restored.stop(), Some(0));

    // The database is now ahead of the backup: recovering from it is refused, nothing changes.
    let behind = run(&[
        "recover", "--data", data_arg, "--store", &fresh, "--from", backup_arg,
    ]);
    assert_ne!(behind.code, Some(0), "{}", behind.dump());
    assert!(
        behind.stderr.contains("find a newer copy"),
        "{}",
        behind.dump()
    );
    let restored = Server::serve_store(&data, Some(&fresh));
    assert_eq!(
        log_of(&restored.url)["size"].as_u64(),
        head["size"].as_u64().map(|n| n + 1)
    );
    assert_eq!(restored.stop(), Some(0));
}
