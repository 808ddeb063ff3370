//! `init` is atomic and private; `serve` refuses what is not a complete ledger (issue: "commands
//! that cannot destroy"): a crash during `init` leaves nothing or a complete ledger with its
//! genesis, never keys without a genesis that the first POSTed genesis could take over.

use crate::support;

use std::os::unix::fs::PermissionsExt as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use rand_core::{OsRng, RngCore as _};
use support::{run, run_ok};

#[test]
fn init_makes_a_private_complete_ledger_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ledger");
    let data_s = data.to_str().unwrap();
    run_ok(&["init", "--data", data_s]);
    let mode = std::fs::metadata(&data).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "the data directory holds secret keys");
    for key in ["log.key", "authority.key"] {
        let mode = std::fs::metadata(data.join(key))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{key}");
    }
    assert_eq!(
        std::fs::read_to_string(data.join("LAYOUT")).unwrap(),
        "lodestone-ledger-layout 2\n"
    );

    // A second init refuses and changes nothing.
    let before = std::fs::read(data.join("log.key")).unwrap();
    let again = run(&["init", "--data", data_s]);
    assert_eq!(again.code, Some(2), "{}", again.dump());
    assert!(again.stderr.contains("already holds"), "{}", again.dump());
    assert_eq!(std::fs::read(data.join("log.key")).unwrap(), before);

    // Any non-empty directory is refused; an empty one is used.
    let other = dir.path().join("notes");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("todo.txt"), "keep me").unwrap();
    let out = run(&["init", "--data", other.to_str().unwrap()]);
    assert_eq!(out.code, Some(2), "{}", out.dump());
    assert_eq!(
        std::fs::read_to_string(other.join("todo.txt")).unwrap(),
        "keep me"
    );
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    run_ok(&["init", "--data", empty.to_str().unwrap()]);
    assert!(empty.join("log.key").exists());
}

#[test]
fn the_backfill_window_is_fixed_at_init() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ledger");
    let too_long = run(&[
        "init",
        "--data",
        data.to_str().unwrap(),
        "--backfill-days",
        "36501",
    ]);
    assert_eq!(too_long.code, Some(2), "{}", too_long.dump());
    assert!(
        too_long.stderr.contains("backfill_days"),
        "{}",
        too_long.dump()
    );
    assert!(!data.exists(), "a refused init leaves nothing");
    run_ok(&[
        "init",
        "--data",
        data.to_str().unwrap(),
        "--backfill-days",
        "365",
    ]);
    let genesis = std::fs::read(data.join("log/entries")).unwrap();
    let text = String::from_utf8_lossy(&genesis);
    assert!(text.contains("\"backfill_days\":365"), "{text}");
}

#[test]
fn serve_refuses_keys_without_a_genesis_and_unknown_layouts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ledger");
    let data_s = data.to_str().unwrap();
    run_ok(&["init", "--data", data_s]);
    // What an interrupted pre-atomic init left: keys, no log.
    std::fs::remove_dir_all(data.join("log")).unwrap();
    std::fs::remove_dir_all(data.join("state")).unwrap();
    let out = run(&["serve", "--data", data_s, "--addr", "127.0.0.1:0"]);
    assert_eq!(out.code, Some(2), "{}", out.dump());
    assert!(out.stderr.contains("no genesis entry"), "{}", out.dump());
    assert!(!out.stderr.contains("panicked"), "{}", out.dump());

    let data2 = dir.path().join("ledger2");
    let data2_s = data2.to_str().unwrap();
    run_ok(&["init", "--data", data2_s]);
    std::fs::write(data2.join("LAYOUT"), "lodestone-ledger-layout 99\n").unwrap();
    for args in [
        vec!["serve", "--data", data2_s, "--addr", "127.0.0.1:0"],
        vec!["verify", "--data", data2_s],
    ] {
        let out = run(&args);
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.dump());
        assert!(out.stderr.contains("layout version 99"), "{}", out.dump());
    }
}

/// Kills `init` at random moments in its first milliseconds: afterwards the target is absent, or
/// a complete ledger whose audit passes with its genesis entry.
#[test]
fn a_killed_init_leaves_nothing_or_a_complete_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let mut complete = 0;
    for round in 0..20 {
        let data = dir.path().join(format!("ledger-{round}"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_lodestone"))
            .args(["init", "--data", data.to_str().unwrap()])
            .env("LODESTONE_CHECKPOINT_GUARD", support::guard_dir())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(OsRng.next_u64() % 30_000));
        let _ = child.kill();
        let _ = child.wait();
        if !data.exists() {
            // Nothing was made: a new init of the same target works and cleans up after the
            // killed one.
            run_ok(&["init", "--data", data.to_str().unwrap()]);
        } else {
            complete += 1;
        }
        let state = dir.path().join(format!("verify-{round}.json"));
        let audit = run(&[
            "verify",
            "--data",
            data.to_str().unwrap(),
            "--state",
            state.to_str().unwrap(),
            "--json",
        ]);
        assert_eq!(audit.code, Some(0), "round {round}: {}", audit.dump());
        let report: serde_json::Value = serde_json::from_str(&audit.stdout).unwrap();
        assert_eq!(report["size"], 1, "round {round}: the genesis entry");
    }
    // The staging directories of killed runs were cleaned by the inits that followed them.
    let stale: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".init-"))
        .map(|e| e.path())
        .collect();
    assert!(stale.is_empty(), "{stale:?}");
    eprintln!("{complete} of 20 killed inits had finished");
}
