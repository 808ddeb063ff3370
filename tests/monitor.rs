//! `lodestone monitor` against a real log and real witnesses: it follows the log round after
//! round from its state file, and on a violation (here: an entry's stored bytes changed behind
//! the log's back) it prints the evidence, posts it to the webhook and exits with status 2.

use crate::support;
use crate::witnessing;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use support::{open_store, run};
use witnessing::Network;

/// A one-shot webhook: accepts one POST, answers 200, hands over the body.
fn webhook() -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/evidence", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else {
            return;
        };
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let mut stream = stream;
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
        let _ = tx.send(String::from_utf8_lossy(&body).into_owned());
    });
    (url, rx)
}

#[test]
fn the_monitor_follows_the_log_and_reports_a_violation_with_evidence() {
    let mut net = Network::start(2, 2);
    for _ in 0..4 {
        net.write("mon");
    }
    net.wait_witnessed(net.size(), &["w1", "w2"]);
    let policy = net.policy_path.to_str().unwrap().to_owned();
    let state = net.path("monitor-state.json");
    let monitor = |net: &Network, hook: Option<&str>| {
        let mut args = vec![
            "monitor".to_owned(),
            "--server".into(),
            net.url(),
            "--policy".into(),
            policy.clone(),
            "--state".into(),
            state.to_str().unwrap().to_owned(),
            "--once".into(),
        ];
        if let Some(hook) = hook {
            args.extend(["--webhook".into(), hook.to_owned()]);
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&refs)
    };
    let first = monitor(&net, None);
    assert_eq!(first.code, Some(0), "{}", first.dump());
    assert!(
        first
            .stdout
            .contains("consistent with 2 witness checkpoint(s)"),
        "{}",
        first.dump()
    );

    // It resumes from its state: the next round sees the grown log.
    for _ in 0..3 {
        net.write("mon-more");
    }
    let size = net.size();
    let second = monitor(&net, None);
    assert_eq!(second.code, Some(0), "{}", second.dump());
    let saved: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(saved["size"].as_u64(), Some(size));

    // An entry changed on disk while the server was stopped: the log now serves bytes that do
    // not hash to its tree. The monitor reports it, posts the evidence, and exits 2.
    net.stop_log();
    let original = open_store(&net.data).entry(3).unwrap().unwrap();
    support::overwrite_entry(&net.data, 3, &support::flip(&original, original.len() - 1));
    net.start_log();
    let (hook, posted) = webhook();
    let alarm = monitor(&net, Some(&hook));
    assert_eq!(alarm.code, Some(2), "{}", alarm.dump());
    assert!(alarm.stdout.contains("DETECTED"), "{}", alarm.dump());
    assert!(alarm.stdout.contains("entry 3"), "{}", alarm.dump());
    let evidence: Value =
        serde_json::from_str(&posted.recv_timeout(Duration::from_secs(10)).unwrap()).unwrap();
    assert_eq!(evidence["entry"], 3);
    assert!(evidence["log_checkpoint"]
        .as_str()
        .unwrap()
        .starts_with("fork.test/rare-earths\n"));
    // The state file was not advanced by the failed round.
    let kept: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(kept, saved);
}
