//! Operating the real binary (docs/OPERATIONS.md): `--version` names the commit, configuration
//! files with their precedence and `config check`, JSON logs with an internal error logged once
//! inside its request's span, and the deploy/ files.

use crate::support;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use support::{get_json, run, run_ok, Server};

fn init(data: &Path, origin: &str) {
    run_ok(&["init", "--data", data.to_str().unwrap(), "--origin", origin]);
}

fn origin_of(server: &Server) -> String {
    let (status, log) = get_json(&format!("{}/v1/log", server.url));
    assert_eq!(status, 200);
    log["origin"].as_str().expect("origin").to_owned()
}

fn spawn(args: &[&str], env: &[(&str, &str)]) -> Server {
    Server::try_spawn_with_env(args, None, env).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn version_names_the_commit() {
    let out = run_ok(&["--version"]);
    let line = out.trim();
    assert!(line.starts_with("lodestone 0."), "{line}");
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    match commit {
        Some(commit) => assert!(line.ends_with(&format!("(commit {commit})")), "{line}"),
        None => assert!(line.contains("(commit "), "{line}"),
    }
}

#[test]
fn configuration_file_then_environment_then_flags() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    init(&a, "config.test/a");
    init(&b, "config.test/b");
    let config = dir.path().join("lodestone.toml");
    std::fs::write(
        &config,
        format!(
            "[serve]\ndata = \"{}\"\naddr = \"127.0.0.1:0\"\n",
            a.display()
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();

    // The file alone.
    let server = spawn(&["serve", "--config", config], &[]);
    assert_eq!(origin_of(&server), "config.test/a");
    server.stop();
    // The environment overrides the file.
    let server = spawn(
        &["serve", "--config", config],
        &[("LODESTONE_DATA", b.to_str().unwrap())],
    );
    assert_eq!(origin_of(&server), "config.test/b");
    server.stop();
    // A flag overrides both; the file can also be named by LODESTONE_CONFIG.
    let server = spawn(
        &["serve", "--data", a.to_str().unwrap()],
        &[
            ("LODESTONE_DATA", b.to_str().unwrap()),
            ("LODESTONE_CONFIG", config),
        ],
    );
    assert_eq!(origin_of(&server), "config.test/a");
    server.stop();

    // A bad file stops `serve` with a message that points at `config check`.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[serve]\nadr = \"127.0.0.1:0\"\n").unwrap();
    let out = run(&["serve", "--config", bad.to_str().unwrap()]);
    assert_eq!(out.code, Some(2), "{}", out.dump());
    assert!(
        out.stderr.contains("unknown setting `adr`"),
        "{}",
        out.dump()
    );
    assert!(
        out.stderr.contains("lodestone config check"),
        "{}",
        out.dump()
    );
}

#[test]
fn config_check_reports_every_problem_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        r#"
[serve]
addr = "localhost:http"
data = 7
witness-policy = ["a", "b"]
colour = "blue"

[monitor]
interval = "often"

[wallet]
x = 1
"#,
    )
    .unwrap();
    let out = run(&["config", "check", file.to_str().unwrap()]);
    assert_eq!(out.code, Some(1), "{}", out.dump());
    for needle in [
        "[serve] `addr`",
        "[serve] `witness-policy`: takes one value",
        "[serve] unknown setting `colour`",
        "[monitor] `interval`",
        "unknown table `[wallet]`",
        "5 problems",
    ] {
        assert!(out.stdout.contains(needle), "{needle}:\n{}", out.dump());
    }
    // `data = 7` is a fine path name: not a problem.
    assert!(!out.stdout.contains("`data`"), "{}", out.dump());

    // Not TOML at all.
    std::fs::write(&file, "[serve\n").unwrap();
    let out = run(&["config", "check", file.to_str().unwrap()]);
    assert_eq!(out.code, Some(2), "{}", out.dump());
    assert!(out.stderr.contains("not valid TOML"), "{}", out.dump());
}

#[test]
fn the_documented_configurations_check() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/OPERATIONS.md")).unwrap();
    let block = doc
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a toml block in docs/OPERATIONS.md");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("example.toml");
    std::fs::write(&file, block).unwrap();
    for file in [file.as_path(), &root.join("deploy/lodestone.toml")] {
        let out = run(&["config", "check", file.to_str().unwrap()]);
        assert_eq!(out.code, Some(0), "{}: {}", file.display(), out.dump());
        assert!(out.stdout.contains("ok:"), "{}", out.dump());
    }
    // The unit and the container start the server with that file.
    let unit = std::fs::read_to_string(root.join("deploy/lodestone.service")).unwrap();
    assert!(unit.contains(
        "ExecStart=/usr/local/bin/lodestone serve --config /etc/lodestone/lodestone.toml"
    ));
    let dockerfile = std::fs::read_to_string(root.join("deploy/Dockerfile")).unwrap();
    assert!(dockerfile.contains("\"serve\", \"--config\", \"/etc/lodestone/lodestone.toml\""));
}

#[test]
fn json_logs_carry_the_request_span_and_the_cause_of_an_internal_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ledger");
    init(&data, "logs.test/rare-earths");
    let data_str = data.to_str().unwrap();
    run_ok(&[
        "loadgen",
        "--data",
        data_str,
        "--blocks",
        "2",
        "--block-size",
        "3",
    ]);
    // Damage entry 2's bytes in place: reading it is then an internal error.
    let store = support::open_store(&data);
    let entry = store.entry(2).unwrap().expect("entry 2");
    drop(store);
    support::overwrite_entry(&data, 2, &support::flip(&entry, entry.len() / 2));

    let log_path = dir.path().join("server.log");
    let log_file = std::fs::File::create(&log_path).unwrap();
    let server = Server::try_spawn_full(
        &[
            "serve",
            "--data",
            data_str,
            "--addr",
            "127.0.0.1:0",
            "--log-format",
            "json",
        ],
        None,
        &[("LODESTONE_LOG", "lodestone=info")],
        Stdio::from(log_file),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let response = ureq::get(&format!("{}/v1/entries/2", server.url))
        .set("x-request-id", "audit-42")
        .call();
    let Err(ureq::Error::Status(500, response)) = response else {
        panic!("expected a 500, got {response:?}");
    };
    assert_eq!(response.header("x-request-id"), Some("audit-42"));
    let problem: serde_json::Value = response.into_json().unwrap();
    assert_eq!(problem["code"], "internal");
    assert_eq!(problem["request_id"], "audit-42");
    assert!(
        !problem["detail"].as_str().unwrap().contains("damaged"),
        "the cause is for the operator only: {problem}"
    );
    server.stop();

    // Read the log once the server has exited (the file is complete).
    std::thread::sleep(Duration::from_millis(50));
    let log = std::fs::read_to_string(&log_path).unwrap();
    let errors: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["message"] == "internal error")
        .collect();
    assert_eq!(errors.len(), 1, "logged once:\n{log}");
    let error = &errors[0];
    assert_eq!(error["level"], "ERROR");
    assert!(
        error["error"].as_str().unwrap().contains("damaged"),
        "{error}"
    );
    assert_eq!(error["span"]["request_id"], "audit-42", "{error}");
    assert_eq!(error["span"]["route"], "/v1/entries/{index}", "{error}");
    assert_eq!(error["span"]["method"], "GET", "{error}");
    // Every line is JSON.
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "not JSON: {line}"
        );
    }
}
