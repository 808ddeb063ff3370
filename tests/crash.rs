//! Crash safety (DESIGN.md §7): a child process appends blocks to a real sled directory and is
//! killed with SIGKILL at random moments. After every kill the ledger must reopen; every entry
//! whose append was acknowledged must be there; the full audit (hash chain, every rule, Merkle
//! root against the stored signed checkpoint, consistency with the checkpoint seen after the
//! previous round) must pass; and the next round's appends continue the same chain.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand_core::{OsRng, RngCore as _};

const BIN: &str = env!("CARGO_BIN_EXE_lodestone");
const ROUNDS: usize = 24;

fn run_ok(args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .output()
        .expect("run lodestone");
    assert!(
        out.status.success(),
        "lodestone {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn sigkill_at_random_moments_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ledger");
    let data = data.to_str().unwrap();
    let state = dir.path().join("verify-state.json");
    let state = state.to_str().unwrap();
    run_ok(&["init", "--data", data]);

    let mut acked_max: Option<u64> = None;
    let mut last_size = 0u64;
    for round in 0..ROUNDS {
        let mut child = Command::new(BIN)
            .args([
                "loadgen",
                "--data",
                data,
                "--blocks",
                "100000",
                "--block-size",
            ])
            .arg((1 + round % 7).to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn loadgen");
        let stdout = child.stdout.take().unwrap();
        let acked = Arc::new(Mutex::new(Vec::<u64>::new()));
        let reader = {
            let acked = Arc::clone(&acked);
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if let Some(index) = line.strip_prefix("acked ") {
                        acked.lock().unwrap().push(index.parse().unwrap());
                    }
                }
            })
        };
        // Kill anywhere from sled start-up to well into the appends.
        std::thread::sleep(Duration::from_millis(5 + u64::from(OsRng.next_u32() % 400)));
        child.kill().expect("SIGKILL");
        child.wait().unwrap();
        reader.join().unwrap();

        let acked = acked.lock().unwrap().clone();
        if let Some(&max) = acked.iter().max() {
            acked_max = Some(acked_max.map_or(max, |m| m.max(max)));
        }
        // Reopen with the library: every acknowledged entry is there.
        let store = lodestone::store::Store::open(std::path::Path::new(data)).unwrap();
        let head = store.head().unwrap().expect("a head after init");
        assert!(head.size >= last_size, "round {round}: the log shrank");
        if let Some(max) = acked_max {
            assert!(
                max < head.size,
                "round {round}: entry {max} was acknowledged but the log has {} entries",
                head.size
            );
        }
        for &index in &acked {
            assert!(
                store.entry(index).unwrap().is_some(),
                "round {round}: entry {index} lost"
            );
        }
        last_size = head.size;
        drop(store);

        // The full audit: chain, rules, root vs the signed checkpoint, and consistency with the
        // checkpoint remembered from the previous round.
        let report = run_ok(&["verify", "--data", data, "--state", state]);
        assert!(report.contains("verify: OK"), "round {round}: {report}");
    }
    assert!(
        acked_max.unwrap_or(0) > 0,
        "the load generator never got an append acknowledged"
    );
}
