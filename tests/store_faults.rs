//! Storage failures through the real write path, with the fault-injecting in-memory store
//! (`lodestone::store::files::Faults`): a failed, torn or unsynced block gets no receipt and
//! leaves no gap or duplicate index; writes resume by themselves once the cause is gone; a
//! power loss at any write keeps every acknowledged entry; over HTTP, storage trouble answers
//! `503 storage_unavailable` with `Retry-After`, `/readyz` says why, and reads keep working.

use std::sync::Arc;

use lodestone::http::{self, AppState};
use lodestone::sequencer::{Receipt, SequencerError, SequencerHandle, Submission};
use lodestone::store::conformance::{self, check_receipt, scenario_submissions, suite_keys};
use lodestone::store::files::Faults;
use lodestone::store::{Health, MemoryParts, Store};

const ORIGIN: &str = "lodestone.example/rare-earths";

fn memory() -> (Store, MemoryParts, Arc<Faults>) {
    let faults = Faults::new();
    let (store, parts) = Store::memory(ORIGIN, &faults).unwrap();
    (store, parts, faults)
}

fn submit(handle: &SequencerHandle, group: &[Submission]) -> Vec<Result<Receipt, SequencerError>> {
    handle.submit_blocking(group.to_vec())
}

fn assert_unavailable(outcomes: &[Result<Receipt, SequencerError>]) {
    for outcome in outcomes {
        assert!(
            matches!(outcome, Err(SequencerError::Unavailable(_))),
            "expected storage unavailable, got {outcome:?}"
        );
    }
}

/// Runs `fault`, submits a group (which must fail; a `lasting` fault fails a second try too),
/// clears the fault with `heal`, then submits the same group again: it must get the indices
/// right after the durable head.
fn fails_then_resumes(lasting: bool, fault: impl Fn(&Faults), heal: impl Fn(&Faults)) {
    let (store, _parts, faults) = memory();
    let sequencer = conformance::start(&store);
    let handle = sequencer.handle();
    let (_, authority) = suite_keys();
    let all = scenario_submissions(&authority);
    for outcome in submit(&handle, &all[..10]) {
        check_receipt(&store, &outcome.unwrap());
    }
    fault(&faults);
    assert_unavailable(&submit(&handle, &all[10..15]));
    assert_eq!(
        store.entries(0, 100).unwrap().len(),
        10,
        "nothing failed is visible"
    );
    if lasting {
        // A second failure in a row: the writer cannot re-read a trustworthy head (the failed
        // block cannot be cut off), so it assigns no index at all.
        assert!(store.head().is_err());
        assert!(matches!(store.health(), Health::Unavailable { .. }));
        assert_unavailable(&submit(&handle, &all[10..15]));
    }
    heal(&faults);
    assert_eq!(store.head().unwrap().map(|h| h.size), Some(10));
    assert_eq!(store.health(), Health::Ready);
    let receipts: Vec<Receipt> = submit(&handle, &all[10..15])
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let indices: Vec<u64> = receipts.iter().map(|r| r.index).collect();
    assert_eq!(indices, vec![10, 11, 12, 13, 14], "no gap, no duplicate");
    for receipt in &receipts {
        check_receipt(&store, receipt);
    }
    drop(handle);
    sequencer.shutdown();
    conformance::check_contents(&store, 15);
}

#[test]
fn a_failed_write_gets_no_receipt_and_leaves_no_gap() {
    fails_then_resumes(false, |f| f.fail_write(2), |_| {});
}

#[test]
fn a_torn_write_gets_no_receipt_and_leaves_no_gap() {
    fails_then_resumes(false, |f| f.tear_write(1), |_| {});
}

#[test]
fn failing_syncs_stop_writes_until_they_work_again() {
    fails_then_resumes(true, |f| f.fail_syncs(true), |f| f.fail_syncs(false));
}

#[test]
fn a_full_disk_stops_writes_until_space_is_freed() {
    fails_then_resumes(false, |f| f.out_of_space(true), |f| f.out_of_space(false));
}

#[test]
fn a_failing_sync_is_reported_by_health() {
    let (store, _parts, faults) = memory();
    let sequencer = conformance::start(&store);
    let handle = sequencer.handle();
    let (_, authority) = suite_keys();
    let all = scenario_submissions(&authority);
    submit(&handle, &all[..3])
        .into_iter()
        .for_each(|o| drop(o.unwrap()));
    faults.fail_syncs(true);
    assert_unavailable(&submit(&handle, &all[3..5]));
    assert!(matches!(store.health(), Health::Unavailable { .. }));
    faults.fail_syncs(false);
    assert_eq!(store.health(), Health::Ready);
    drop(handle);
    sequencer.shutdown();
}

/// Power fails at the n-th write of the run (torn or not), for every n: after a reopen every
/// acknowledged entry is there with its receipt's checkpoint and proof, the state was rebuilt
/// from the log, and the log continues.
#[test]
fn power_loss_at_any_write_keeps_every_acknowledged_entry() {
    let (_, authority) = suite_keys();
    let all = scenario_submissions(&authority);
    for n in 1..=48u64 {
        for torn in [false, true] {
            let (store, parts, faults) = memory();
            let sequencer = conformance::start(&store);
            let handle = sequencer.handle();
            if torn {
                faults.tear_write(n);
            } else {
                faults.fail_write(n);
            }
            let mut acked = Vec::new();
            for group in all.chunks(4) {
                acked.extend(submit(&handle, group).into_iter().flatten());
                if faults.writes() >= n {
                    break;
                }
            }
            drop(handle);
            sequencer.shutdown();
            drop(store);
            parts.power_loss();
            let store = parts.reopen().unwrap();
            for receipt in &acked {
                check_receipt(&store, receipt);
            }
            let size = store.head().unwrap().map_or(0, |h| h.size);
            assert!(
                acked.iter().all(|r| r.index < size),
                "n={n} torn={torn}: an acknowledged entry is beyond the reopened head"
            );
            if size > 0 {
                conformance::check_contents(&store, size);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_trouble_over_http_is_503_with_retry_after_and_passes() {
    let (store, _parts, faults) = memory();
    let sequencer = conformance::start(&store);
    let handle = sequencer.handle();
    let (signer, authority) = suite_keys();
    let all = scenario_submissions(&authority);
    let first = all[..5].to_vec();
    let seq = handle.clone();
    tokio::task::spawn_blocking(move || seq.submit_blocking(first))
        .await
        .unwrap()
        .into_iter()
        .for_each(|o| drop(o.unwrap()));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let state = AppState::from_parts(store.clone(), handle.clone(), signer.verifier());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(http::serve(listener, state, async {
        let _ = stopped.await;
    }));
    let client = client::Client::new(url);

    faults.out_of_space(true);
    let (status, headers, body) = client.post("/v1/entries", &all[5].envelope.to_json()).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "storage_unavailable", "{body}");
    assert!(headers.contains_key("retry-after"));
    let (status, _, body) = client.get("/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "not_ready");
    let (status, _, body) = client.get("/v1/log").await;
    assert_eq!(
        (status, body["size"].as_u64()),
        (200, Some(5)),
        "reads keep working"
    );
    let (status, _, _) = client.get("/v1/entries/5").await;
    assert_eq!(status, 404, "nothing that failed is visible");

    faults.out_of_space(false);
    let (status, _, body) = client.get("/readyz").await;
    assert_eq!(
        (status, &body["ready"]),
        (200, &serde_json::json!(true)),
        "{body}"
    );
    let (status, _, body) = client.post("/v1/entries", &all[5].envelope.to_json()).await;
    assert_eq!(status, 201, "writes resume by themselves: {body}");
    assert_eq!(body["index"], 5);

    let _ = stop.send(());
    server.await.unwrap().unwrap();
    drop(handle);
    tokio::task::spawn_blocking(move || sequencer.shutdown())
        .await
        .unwrap();
}

/// A minimal async HTTP client over the blocking `ureq` agent (the project's own client crate).
mod client {
    use serde_json::Value;

    pub struct Client {
        base: String,
    }

    type Answer = (u16, std::collections::HashMap<String, String>, Value);

    impl Client {
        pub fn new(base: String) -> Client {
            Client { base }
        }

        fn answer(result: Result<ureq::Response, ureq::Error>) -> Answer {
            let response = match result {
                Ok(r) => r,
                Err(ureq::Error::Status(_, r)) => r,
                Err(e) => panic!("transport: {e}"),
            };
            let status = response.status();
            let headers = response
                .headers_names()
                .into_iter()
                .map(|n| {
                    let v = response.header(&n).unwrap_or_default().to_owned();
                    (n.to_ascii_lowercase(), v)
                })
                .collect();
            let body: Value = response.into_json().unwrap_or(Value::Null);
            (status, headers, body)
        }

        pub async fn get(&self, path: &str) -> Answer {
            let url = format!("{}{path}", self.base);
            tokio::task::spawn_blocking(move || Client::answer(ureq::get(&url).call()))
                .await
                .unwrap()
        }

        pub async fn post(&self, path: &str, body: &[u8]) -> Answer {
            let url = format!("{}{path}", self.base);
            let body = body.to_vec();
            tokio::task::spawn_blocking(move || {
                Client::answer(
                    ureq::post(&url)
                        .set("content-type", "application/json")
                        .send_bytes(&body),
                )
            })
            .await
            .unwrap()
        }
    }
}

/// The state is written only after the log is synced, so a state ahead of the log means the
/// log lost synced entries (here: its last checkpoint slot is cut off, as a truncated file
/// would). The reopened store serves the intact prefix with a consistent state and refuses
/// writes, naming both sizes.
#[test]
fn a_state_ahead_of_the_log_refuses_writes() {
    let (store, parts, _faults) = memory();
    let sequencer = conformance::start(&store);
    let handle = sequencer.handle();
    let (_, authority) = suite_keys();
    let all = scenario_submissions(&authority);
    for group in [&all[..10], &all[10..20]] {
        submit(&handle, group)
            .into_iter()
            .for_each(|o| drop(o.unwrap()));
    }
    drop(handle);
    sequencer.shutdown(); // flushes the state: it reflects 20 entries
    drop(store);
    let checkpoints = &parts.files[3];
    let bytes = checkpoints.bytes();
    let slot = u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize;
    checkpoints.set_bytes(bytes[..bytes.len() - slot].to_vec());

    let store = parts.reopen().unwrap();
    assert_eq!(store.head().unwrap().map(|h| h.size), Some(10));
    let Health::ReadOnly { reason } = store.health() else {
        panic!("expected read-only, got {:?}", store.health());
    };
    assert!(
        reason.contains("reflects 20 entries") && reason.contains("only 10"),
        "{reason}"
    );
    conformance::check_contents(&store, 10);
    let sequencer = conformance::start(&store);
    let outcome = sequencer
        .handle()
        .submit_blocking(all[10..11].to_vec())
        .pop()
        .unwrap();
    assert!(
        matches!(outcome, Err(SequencerError::ReadOnly(_))),
        "{outcome:?}"
    );
    sequencer.shutdown();
}
