//! `lodestone backup` and `lodestone recover` end to end (docs/DESIGN.md §4.2): a backup taken
//! while the ledger serves is a consistent copy; restored in place of a ledger that has grown
//! since, it refuses writes (the checkpoint guard remembers the larger size) instead of signing a
//! second history; `recover --from <URL>` fetches the missing entries from the live log's tiles,
//! checks them against its signed checkpoint and replays them, and then the copy takes writes.

use crate::support;

use serde_json::Value;
use support::{run, run_ok, Server};

fn loadgen(data: &str, blocks: &str) -> support::Run {
    run(&[
        "loadgen",
        "--data",
        data,
        "--blocks",
        blocks,
        "--block-size",
        "3",
    ])
}

fn audit(data: &str, state: &str) -> Value {
    let out = run(&["verify", "--data", data, "--state", state, "--json"]);
    assert_eq!(out.code, Some(0), "{}", out.dump());
    serde_json::from_str(&out.stdout).unwrap()
}

#[test]
fn a_restored_backup_refuses_writes_until_recovered_from_the_live_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let (live, copy) = (path("live"), path("backup"));
    run_ok(&["init", "--data", &live]);
    assert_eq!(loadgen(&live, "1").code, Some(0));

    // A backup of the serving ledger.
    let server = Server::serve(std::path::Path::new(&live));
    let backup = run_ok(&["backup", "--data", &live, "--out", &copy, "--json"]);
    let backup: Value = serde_json::from_str(&backup).unwrap();
    let backed_up = backup["size"].as_u64().unwrap();
    assert!(backed_up >= 4, "{backup}");
    assert_eq!(server.stop(), Some(0));
    for key in ["log.key", "authority.key"] {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join("backup").join(key))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{key} in the backup");
    }
    assert_eq!(
        audit(&copy, &path("copy.json"))["size"],
        backed_up,
        "the backup is consistent"
    );

    // The live ledger grows past the backup.
    assert_eq!(loadgen(&live, "2").code, Some(0));
    let grown = audit(&live, &path("live.json"))["size"].as_u64().unwrap();
    assert!(grown > backed_up);
    let server = Server::serve(std::path::Path::new(&live));

    // Restored, the backup refuses writes, naming both sizes and the way out.
    let refused = loadgen(&copy, "1");
    assert_eq!(refused.code, Some(2), "{}", refused.dump());
    assert!(
        refused
            .stderr
            .contains(&format!("signed a checkpoint at size {grown}"))
            && refused
                .stderr
                .contains(&format!("holds only {backed_up} entries"))
            && refused.stderr.contains("lodestone recover"),
        "{}",
        refused.dump()
    );

    // Recovered from the live log's tiles over HTTP.
    let recovered = run(&["recover", "--data", &copy, "--from", &server.url, "--json"]);
    assert_eq!(recovered.code, Some(0), "{}", recovered.dump());
    let recovered: Value = serde_json::from_str(&recovered.stdout).unwrap();
    assert_eq!(
        (&recovered["previous_size"], &recovered["size"]),
        (&backed_up.into(), &grown.into())
    );
    assert_eq!(server.stop(), Some(0));
    let state = path("recovered.json");
    assert_eq!(
        audit(&copy, &state)["size"],
        grown,
        "same entries, same rules"
    );
    assert_eq!(loadgen(&copy, "1").code, Some(0), "writes are taken again");
    let after = audit(&copy, &state)["size"].as_u64().unwrap();
    assert!(after > grown);

    // A source that is not this log is refused before anything is written.
    let other = path("other");
    run_ok(&["init", "--data", &other]);
    let wrong = run(&["recover", "--data", &copy, "--from", &other]);
    assert_eq!(wrong.code, Some(2), "{}", wrong.dump());
    assert!(
        wrong.stderr.contains("not signed by this log's key"),
        "{}",
        wrong.dump()
    );
    assert_eq!(audit(&copy, &state)["size"], after);
}
