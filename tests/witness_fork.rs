//! The fork is caught (issue 11, point 5), end to end over real HTTP with real processes: one
//! log and three witnesses (quorum: two of three).
//!
//! 1. The log writes; its checkpoints gather cosignatures and `/checkpoint` serves them.
//! 2. One witness goes down: writes go on at once, the two others keep the quorum; the witness
//!    comes back and resumes cosigning.
//! 3. The operator copies the ledger's data directory while the server is stopped, writes more
//!    (every witness cosigns it), stops, restores the copy and writes *different* entries: two
//!    valid histories signed by the same key. (The restored ledger gets a fresh, empty
//!    checkpoint guard, so the log itself does not refuse the restore and the witnesses are what
//!    catch it.)
//! 4. Every witness refuses the forked checkpoint (409 with the size it holds; 422 with a proof
//!    from that size), the forked log never gets a quorum, `verify --policy` rejects it naming
//!    the missing witnesses, and `lodestone monitor` prints both checkpoints and exits non-zero.
//!    Meanwhile the forked log keeps accepting writes.

use crate::support;
use crate::witnessing;

use std::time::{Duration, Instant};

use lodestone::log::hash::Hash;
use lodestone::witness::protocol::AddCheckpoint;

use support::run;
use witnessing::{copy_dir, get_text, Network};

fn consistency(url: &str, from: u64, to: u64) -> Vec<Hash> {
    let (status, body) =
        support::get_json(&format!("{url}/v1/proofs/consistency?from={from}&to={to}"));
    assert_eq!(status, 200, "{body}");
    body["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| Hash::from_base64(h.as_str().unwrap()).unwrap())
        .collect()
}

fn post_witness(url: &str, request: &AddCheckpoint) -> (u16, String, String) {
    match ureq::post(&format!("{url}/add-checkpoint")).send_string(&request.to_text()) {
        Ok(r) => (
            r.status(),
            r.content_type().to_owned(),
            r.into_string().unwrap(),
        ),
        Err(ureq::Error::Status(s, r)) => {
            (s, r.content_type().to_owned(), r.into_string().unwrap())
        }
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn a_restored_backup_fork_is_refused_by_every_witness_and_reported() {
    let mut net = Network::start(3, 2);
    for _ in 0..5 {
        net.write("before");
    }
    let size = net.size();
    net.wait_witnessed(size, &["w1", "w2", "w3"]);

    // A witness goes down: writes are not delayed, the quorum of two holds.
    net.witnesses[2].stop();
    let down = Instant::now();
    for _ in 0..5 {
        net.write("w3-down");
    }
    assert!(down.elapsed() < Duration::from_secs(10));
    let size = net.size();
    net.wait_witnessed(size, &["w1", "w2"]);
    // It comes back and resumes cosigning.
    let vkey = net.log_vkey.clone();
    net.witnesses[2].start(&vkey);
    net.write("w3-back");
    let size = net.size();
    net.wait_witnessed(size, &["w1", "w2", "w3"]);

    // A monitor that has followed the honest log.
    let policy = net.policy_path.to_str().unwrap().to_owned();
    let state = net.path("monitor.json");
    let state = state.to_str().unwrap().to_owned();
    let honest = run(&[
        "monitor",
        "--server",
        &net.url(),
        "--policy",
        &policy,
        "--state",
        &state,
        "--once",
    ]);
    assert_eq!(honest.code, Some(0), "{}", honest.dump());

    // The backup: the server is stopped, the data directory copied.
    net.stop_log();
    let backup = net.path("backup");
    copy_dir(&net.data, &backup);
    let backup_size = {
        let store = support::open_store(&net.data);
        store.head().unwrap().unwrap().size
    };

    // More history, cosigned by every witness.
    net.start_log();
    for _ in 0..6 {
        net.write("lost");
    }
    let held = net.size();
    let cosigned_note = net.wait_witnessed(held, &["w1", "w2", "w3"]);
    net.stop_log();

    // The restore, with a fresh checkpoint guard, and different entries on top, past the size
    // the witnesses hold.
    std::fs::remove_dir_all(&net.data).unwrap();
    copy_dir(&backup, &net.data);
    net.guard = net.path("guard-restored");
    net.start_log();
    assert_eq!(net.size(), backup_size);
    let mut last_receipt = serde_json::Value::Null;
    for _ in 0..10 {
        last_receipt = net.write("forked");
    }
    let (forked_note, forked) = net.log_checkpoint();
    assert!(forked.size > held);
    assert_eq!(last_receipt["size"].as_u64(), Some(forked.size));

    // Every witness refuses: from the backup's point of view (old = its size) it is a 409 with
    // the size the witness holds; with that size and the forked log's own proof, a 422.
    let url = net.url();
    for witness in &net.witnesses {
        let stale = AddCheckpoint {
            old_size: backup_size,
            proof: consistency(&url, backup_size, forked.size),
            checkpoint: forked_note.clone(),
        };
        let (status, content_type, body) = post_witness(&witness.url(), &stale);
        assert_eq!(
            (status, content_type.as_str()),
            (409, "text/x.tlog.size"),
            "{}",
            witness.name
        );
        assert_eq!(body, format!("{held}\n"));
        let claimed = AddCheckpoint {
            old_size: held,
            proof: consistency(&url, held, forked.size),
            checkpoint: forked_note.clone(),
        };
        let (status, _, body) = post_witness(&witness.url(), &claimed);
        assert_eq!(status, 422, "{}: {body}", witness.name);
    }

    // The forked log's own cosigner gets no quorum: /checkpoint stays 503, proofs too.
    std::thread::sleep(Duration::from_secs(2));
    net.write("forked-after");
    std::thread::sleep(Duration::from_secs(1));
    let (status, body) = net.checkpoint();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("not_witnessed"));
    let (status, _) = get_text(&format!("{url}/v1/entries/1/proof"));
    assert_eq!(status, 503);
    let (_, witnesses) = support::get_json(&format!("{url}/v1/witnesses"));
    for name in ["w1", "w2", "w3"] {
        assert!(
            witnesses["witnesses"][name]["error"].is_string(),
            "{name}: {witnesses}"
        );
    }

    // A client with the policy rejects the log's checkpoint and names the missing witnesses.
    let verify = run(&[
        "verify",
        "--server",
        &url,
        "--policy",
        &policy,
        "--log-key",
        &net.log_vkey,
        "--state",
        net.path("verify.json").to_str().unwrap(),
    ]);
    assert_eq!(verify.code, Some(1), "{}", verify.dump());
    assert!(
        verify.stdout.contains("missing [w1, w2, w3]"),
        "{}",
        verify.dump()
    );

    // The monitor reports the fork with both checkpoints as evidence, and exits non-zero.
    let fork = run(&[
        "monitor", "--server", &url, "--policy", &policy, "--state", &state, "--once",
    ]);
    assert_eq!(fork.code, Some(2), "{}", fork.dump());
    assert!(fork.stdout.contains("FORK DETECTED"), "{}", fork.dump());
    let (_, current) = net.log_checkpoint();
    assert!(
        fork.stdout.contains(&current.root.to_base64()),
        "{}",
        fork.dump()
    );
    let cosigned_root = cosigned_note.lines().nth(2).unwrap();
    let remembered_or_witnessed = fork.stdout.contains(cosigned_root)
        || fork.stdout.contains("remembered from an earlier run");
    assert!(remembered_or_witnessed, "{}", fork.dump());
    // And a monitor that never saw the honest log still finds it, from the witnesses alone.
    let fresh = run(&[
        "monitor",
        "--server",
        &url,
        "--policy",
        &policy,
        "--state",
        net.path("fresh-monitor.json").to_str().unwrap(),
        "--once",
    ]);
    assert_eq!(fresh.code, Some(2), "{}", fresh.dump());
    assert!(
        fresh.stdout.contains("checkpoint cosigned by witness"),
        "{}",
        fresh.dump()
    );

    // Through all of it the forked log kept accepting writes.
    net.write("still-writing");
}
