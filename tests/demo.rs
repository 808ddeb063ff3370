//! `lodestone demo` (issue 5): a newcomer's first command. It creates a fresh ledger, loads the
//! seed scenario through the real HTTP write path, serves it, and prints what to open and run
//! next. Tested on a free port: it answers a provenance query for a scenario magnet with origin
//! shares, and the commands it prints work. And it cannot destroy (issue 9 point 7): it replaces
//! only a directory an earlier demo made and marked, never one in use, never a real ledger or
//! another non-empty directory, and it checks its port before it touches the disk.

use crate::support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lodestone::scenario::Scenario;
use serde_json::Value;
use support::{get_bytes, get_json, run, run_ok, Server};

/// Entries after loading: genesis, one registration per participant, every scenario event.
fn scenario_size() -> u64 {
    let scenario = Scenario::builtin().unwrap();
    (1 + scenario.actors.len() + scenario.events.len()) as u64
}

/// The `--log-key '...'` the demo prints.
fn printed_log_key(banner: &[String]) -> String {
    let line = banner
        .iter()
        .find(|l| l.contains("verify --server"))
        .unwrap_or_else(|| panic!("no verify command in {banner:#?}"));
    let start = line.find("--log-key '").expect("quoted log key") + "--log-key '".len();
    let key = &line[start..];
    key[..key.find('\'').expect("closing quote")].to_owned()
}

fn spawn_demo(dir: &std::path::Path) -> Server {
    Server::spawn(
        &[
            "demo",
            "--addr",
            "127.0.0.1:0",
            "--data",
            dir.join("demo").to_str().unwrap(),
        ],
        Some("Press Ctrl-C to stop."),
    )
}

#[test]
fn demo_serves_the_scenario_and_answers_provenance() {
    let dir = tempfile::tempdir().unwrap();
    let demo = spawn_demo(dir.path());
    let url = demo.url.clone();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(
        !url.ends_with(":0"),
        "the real port is announced, not 0: {url}"
    );
    let banner = demo.banner.join("\n");
    assert!(banner.contains("Loaded the seed scenario"), "{banner}");

    // The whole scenario is in the log.
    let (status, log) = get_json(&format!("{url}/v1/log"));
    assert_eq!(status, 200);
    assert_eq!(log["size"], scenario_size(), "{log}");
    assert_eq!(log["origin"], "demo.lodestone.example/rare-earths");

    // The GM magnet: mined at Mountain Pass only, so its mined mass is 100% US.
    let featured = Scenario::featured_batches();
    let (_, gm_magnet) = featured
        .iter()
        .find(|(label, _)| *label == "gm-magnet")
        .expect("the GM magnet is featured");
    assert!(
        banner.contains(&format!("/v1/batches/{gm_magnet}/provenance")),
        "the demo points at the GM magnet: {banner}"
    );
    let (status, p) = get_json(&format!("{url}/v1/batches/{gm_magnet}/provenance"));
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["batch"], gm_magnet.to_string());
    let mined = p["mined_g"].as_u64().expect("mined_g");
    assert!(mined > 0, "{p}");
    let countries = p["origins_by_country"].as_array().expect("country shares");
    assert_eq!(countries.len(), 1, "one country: {p}");
    assert_eq!(countries[0]["country"], "US");
    assert_eq!(countries[0]["grams"], mined, "100% of the mined mass is US");
    let sites = p["origins_by_site"].as_array().expect("site shares");
    assert!(!sites.is_empty(), "{p}");
    assert!(sites.iter().all(|s| s["country"] == "US"), "{p}");
    assert_eq!(
        sites
            .iter()
            .map(|s| s["grams"].as_u64().unwrap())
            .sum::<u64>(),
        mined
    );
    // Shares are of the magnet's whole mass: mined + recycled + untracked additives.
    let basis = p["basis_g"].as_u64().unwrap();
    let recycled = p["recycled_g"].as_u64().unwrap();
    let untracked = p["untracked_g"].as_u64().unwrap();
    assert_eq!(mined + recycled + untracked, basis, "{p}");
    let share = countries[0]["share"].as_f64().unwrap();
    assert!((share - mined as f64 / basis as f64).abs() < 1e-9, "{p}");
    assert!(!p["origins_by_company"].as_array().unwrap().is_empty());
    assert!(!p["dag"]["entries"].as_array().unwrap().is_empty());

    // Every featured batch has a provenance with origin shares summing to its mined mass.
    for (label, batch) in &featured {
        let (status, p) = get_json(&format!("{url}/v1/batches/{batch}/provenance"));
        assert_eq!(status, 200, "{label}: {p}");
        let by_country: u64 = p["origins_by_country"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["grams"].as_u64().unwrap())
            .sum();
        assert_eq!(by_country, p["mined_g"].as_u64().unwrap(), "{label}: {p}");
        // The post-consumer oxide (issue 12) is all recycled: its origins start at the
        // recycler, so it has no mined grams.
        if *label != "post-consumer-oxide" {
            assert!(by_country > 0, "{label} has mined origins: {p}");
        }
    }

    // The commands the demo prints work: the checkpoint, the bundle, verify-bundle, verify.
    let checkpoint = String::from_utf8(get_bytes(&format!("{url}/checkpoint"))).unwrap();
    assert!(
        checkpoint.starts_with(&format!(
            "demo.lodestone.example/rare-earths\n{}\n",
            scenario_size()
        )),
        "{checkpoint}"
    );
    let key = printed_log_key(&demo.banner);
    assert_eq!(key, log["verifier_key"].as_str().unwrap());
    let bundle = dir.path().join("magnet.bundle.json");
    std::fs::write(
        &bundle,
        get_bytes(&format!("{url}/v1/batches/{gm_magnet}/bundle")),
    )
    .unwrap();
    let report = run_ok(&["verify-bundle", bundle.to_str().unwrap(), "--log-key", &key]);
    assert!(report.starts_with("bundle: OK"), "{report}");
    assert!(report.contains("country US: "), "{report}");
    let state = dir.path().join("state.json");
    let audit = run_ok(&[
        "verify",
        "--server",
        &url,
        "--log-key",
        &key,
        "--state",
        state.to_str().unwrap(),
    ]);
    assert!(audit.contains("verify: OK"), "{audit}");

    assert_eq!(demo.stop(), Some(0), "demo exits cleanly on SIGTERM");
}

#[test]
fn demo_no_serve_loads_and_exits_and_replaces_the_old_demo() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let data = data.to_str().unwrap();
    let mut keys = Vec::new();
    for round in 0..2 {
        let out = run(&["demo", "--no-serve", "--data", data]);
        assert_eq!(out.code, Some(0), "round {round}:\n{}", out.dump());
        assert!(
            out.stdout.contains("Loaded the seed scenario"),
            "{}",
            out.dump()
        );
        // The ledger it leaves audits clean, with exactly one copy of the scenario: the second
        // run replaced the first demo instead of appending to it.
        let state = dir.path().join(format!("state-{round}.json"));
        let audit = run_ok(&[
            "verify",
            "--data",
            data,
            "--state",
            state.to_str().unwrap(),
            "--json",
        ]);
        let report: Value = serde_json::from_str(&audit).unwrap();
        assert_eq!(report["verified"], true, "{report}");
        assert_eq!(report["size"], scenario_size(), "round {round}: {report}");
        // A new ledger each time (new log key), marked as the demo's.
        let key = std::fs::read_to_string(Path::new(data).join("log.pub")).unwrap();
        assert!(!keys.contains(&key), "round {round} reused a log key");
        keys.push(key.clone());
        let marker = std::fs::read_to_string(Path::new(data).join(".lodestone-demo")).unwrap();
        assert!(marker.contains(key.trim()), "{marker}");
    }
}

/// Every file under `dir` (relative path → bytes and mode), to show a command changed nothing.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, u32)> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut files = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(at) = todo.pop() {
        for item in std::fs::read_dir(&at).unwrap() {
            let path = item.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let mode = meta.permissions().mode();
            let key = path.strip_prefix(dir).unwrap().to_path_buf();
            if meta.is_dir() {
                files.insert(key, (Vec::new(), mode));
                todo.push(path);
            } else {
                files.insert(key, (std::fs::read(&path).unwrap(), mode));
            }
        }
    }
    files
}

/// A refusal: exit 2, one line on stderr that contains every one of `words`.
fn assert_refused(out: &support::Run, words: &[&str]) {
    assert_eq!(out.code, Some(2), "{}", out.dump());
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {}", out.dump());
    for word in words {
        assert!(lines[0].contains(word), "{word:?} in {}", out.dump());
    }
}

/// Issue 9 point 7: `demo` on a ledger made by `init`, or on any non-empty directory it did
/// not make, refuses — served or not — and leaves every byte as it was.
#[test]
fn demo_refuses_a_real_ledger_and_a_foreign_directory_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger");
    let ledger_arg = ledger.to_str().unwrap();
    run_ok(&["init", "--data", ledger_arg]);
    let before = snapshot(&ledger);
    assert!(
        before.contains_key(Path::new("authority.key")),
        "{before:?}"
    );
    for args in [
        vec!["demo", "--no-serve", "--data", ledger_arg],
        vec!["demo", "--addr", "127.0.0.1:0", "--data", ledger_arg],
    ] {
        let out = run(&args);
        assert_refused(&out, &[ledger_arg, "did not create", "--data"]);
        assert_eq!(snapshot(&ledger), before, "{args:?} changed the ledger");
    }
    // The ledger still serves and audits.
    let audit = run_ok(&[
        "verify",
        "--data",
        ledger_arg,
        "--state",
        dir.path().join("state.json").to_str().unwrap(),
    ]);
    assert!(audit.contains("verify: OK"), "{audit}");

    let other = dir.path().join("photos");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("notes.txt"), b"mine").unwrap();
    let out = run(&["demo", "--no-serve", "--data", other.to_str().unwrap()]);
    assert_refused(&out, &["not empty", "--data"]);
    assert_eq!(std::fs::read(other.join("notes.txt")).unwrap(), b"mine");

    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let out = run(&["demo", "--no-serve", "--data", file.to_str().unwrap()]);
    assert_refused(&out, &["not a directory", "--data"]);
    assert_eq!(std::fs::read(&file).unwrap(), b"x");
}

/// A demo directory a running demo serves is in use: a second `demo` on it refuses and the
/// first keeps serving its ledger.
#[test]
fn demo_refuses_the_directory_of_a_running_demo() {
    let dir = tempfile::tempdir().unwrap();
    let running = spawn_demo(dir.path());
    let data = dir.path().join("demo");
    let out = run(&["demo", "--no-serve", "--data", data.to_str().unwrap()]);
    assert_refused(&out, &["in use", "--data"]);
    let (status, log) = get_json(&format!("{}/v1/log", running.url));
    assert_eq!(status, 200);
    assert_eq!(log["size"], scenario_size(), "{log}");
    assert_eq!(
        log["verifier_key"].as_str().unwrap(),
        std::fs::read_to_string(data.join("log.pub"))
            .unwrap()
            .trim()
    );
    assert_eq!(running.stop(), Some(0));
}

/// A second demo on a port already taken fails before it touches any directory, and says to
/// pick another `--addr`.
#[test]
fn a_demo_on_a_taken_port_fails_before_touching_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let earlier = dir.path().join("earlier");
    run_ok(&["demo", "--no-serve", "--data", earlier.to_str().unwrap()]);
    let before = snapshot(&earlier);
    let running = spawn_demo(dir.path());
    let addr = running.url.trim_start_matches("http://").to_owned();
    let out = run(&["demo", "--addr", &addr, "--data", earlier.to_str().unwrap()]);
    assert_refused(&out, &[&addr, "in use", "--addr"]);
    assert_eq!(snapshot(&earlier), before, "the earlier demo was touched");
    let fresh = dir.path().join("fresh");
    let out = run(&["demo", "--addr", &addr, "--data", fresh.to_str().unwrap()]);
    assert_refused(&out, &["--addr"]);
    assert!(
        !fresh.exists(),
        "nothing is created before the port is bound"
    );
    let (status, _) = get_json(&format!("{}/v1/log", running.url));
    assert_eq!(status, 200, "the first demo still serves");
}

/// Every page the demo tells a newcomer to open answers with HTML: the overview and the
/// provenance page of each featured batch.
#[test]
fn the_overview_page_the_demo_advertises_exists() {
    let dir = tempfile::tempdir().unwrap();
    let demo = spawn_demo(dir.path());
    let pages: Vec<String> = demo
        .banner
        .iter()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|word| word.starts_with(&demo.url) && !word.contains("/v1/"))
        .map(str::to_owned)
        .collect();
    assert!(
        pages.contains(&format!("{}/", demo.url)),
        "{:#?}",
        demo.banner
    );
    assert!(pages.len() >= 5, "the featured batches' pages: {pages:#?}");
    for page in pages {
        let response = ureq::get(&page)
            .call()
            .unwrap_or_else(|e| panic!("GET {page}: {e}"));
        assert!(
            response.content_type().starts_with("text/html"),
            "{page}: {}",
            response.content_type()
        );
        let body = response.into_string().unwrap();
        assert!(body.contains("<h1>"), "{page}");
    }
}

/// BUG (src/cli/demo.rs:190-208 `load_scenario`, called from the `--no-serve` branch at
/// src/cli/demo.rs:235): `demo --no-serve` prints URLs of the temporary server it has already
/// stopped (`curl ... http://127.0.0.1:<port>/...`) and ends with "Press Ctrl-C to stop." while
/// it exits. With `--no-serve` it should print the offline commands only (e.g. `verify --data`)
/// and not the Ctrl-C line. Remove the ignore once fixed.
#[test]

fn demo_no_serve_does_not_advertise_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let out = run(&["demo", "--no-serve", "--data", data.to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "{}", out.dump());
    assert!(!out.stdout.contains("Press Ctrl-C"), "{}", out.stdout);
    assert!(!out.stdout.contains("http://127.0.0.1:"), "{}", out.stdout);
}

/// BUG (src/cli/demo.rs:219-221 `demo`: `LogService::init` then `LogService::open` at once;
/// root cause src/service.rs:145-208 + src/store/mod.rs:186 `Store::open`): `init` shuts its
/// service down, but sled releases the database's file lock only when its background I/O
/// threads have finished, so the immediate `open` sometimes fails with `storage error: IO error:
/// could not acquire lock on ".../db/db"` — `lodestone demo` then exits with that error. Rare
/// on an idle machine, seen about 1 in 300 under load (this test: 8 threads × 40 rounds).
/// Fix: let `init` hand back its open `LogService` (or have `demo` keep using it), and/or retry
/// `sled` opens on `WouldBlock` for a short while in `Store::open`. Remove the ignore once fixed.
#[test]

fn init_then_open_never_finds_the_database_locked() {
    use lodestone::service::{DataDir, InitOptions, LogService};
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                for _ in 0..40 {
                    let dir = tempfile::tempdir().unwrap();
                    let data = DataDir::new(dir.path().join("ledger"));
                    LogService::init(&data, &InitOptions::default()).unwrap();
                    match LogService::open(&data) {
                        Ok(service) => service.shutdown(),
                        Err(e) => failures.lock().unwrap().push(e.to_string()),
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} of 320 opens failed: {failures:#?}",
        failures.len()
    );
}

/// A marked demo directory that no longer holds the demo's ledger (another ledger's files were
/// copied over it) is not the demo's to delete any more.
#[test]
fn a_marked_directory_holding_another_ledger_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let demo_arg = demo.to_str().unwrap();
    run_ok(&["demo", "--no-serve", "--data", demo_arg]);
    let other = dir.path().join("other");
    run_ok(&["init", "--data", other.to_str().unwrap()]);
    for file in ["log.pub", "log.key", "authority.key"] {
        std::fs::copy(other.join(file), demo.join(file)).unwrap();
    }
    let before = snapshot(&demo);
    let out = run(&["demo", "--no-serve", "--data", demo_arg]);
    assert_refused(&out, &["not the one the marker was written for", "--data"]);
    assert_eq!(snapshot(&demo), before, "a foreign ledger was touched");
}
