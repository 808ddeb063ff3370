//! Hostile clients against a real server on `127.0.0.1:0` (issue 10): bodies that would take
//! memory, connections that would take descriptors or hold shutdown, floods that would take the
//! intake, and the HTTP contract an outside client relies on (query parameters, content types,
//! canonical paths, no genesis over HTTP). Raw TCP where a well-behaved client library would not
//! misbehave on purpose. Timings only bound what must be quick; the bench measures the rest.

use crate::common;

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::{envelope, event, now, World};
use lodestone::http::{self, AppState, ServeConfig, HEAVY_PER_CLIENT};
use lodestone::service::{DataDir, InitOptions, LogService};

/// Reads one HTTP/1.1 response (head and a `content-length` body) from `stream`.
fn read_response(stream: &mut TcpStream) -> (u16, String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut byte = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut byte).expect("read response");
        assert!(n > 0, "connection closed before a response head: {buf:?}");
        buf.extend_from_slice(&byte[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
    let status = head[9..12].parse().expect("status code");
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().expect("content-length"));
    while buf.len() < head_end + length {
        let n = stream.read(&mut byte).expect("read body");
        assert!(n > 0, "connection closed inside the body");
        buf.extend_from_slice(&byte[..n]);
    }
    (status, head, buf[head_end..head_end + length].to_vec())
}

fn addr_of(base: &str) -> SocketAddr {
    base.trim_start_matches("http://").parse().expect("address")
}

#[test]
fn a_huge_batch_of_non_envelopes_is_refused_while_it_streams() {
    let world = World::new();
    let before = world.server.head();
    // 60 MB of `0,` — under the body limit; the old server held it all as a JSON value.
    let elements: usize = 30_000_000;
    let length = "{\"envelopes\":[".len() + elements * 2 - 1 + "]}".len();
    let mut stream = TcpStream::connect(addr_of(&world.server.base)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let head = format!(
        "POST /v1/entries:batch HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n\
         content-length: {length}\r\n\r\n"
    );
    let started = Instant::now();
    stream.write_all(head.as_bytes()).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let _ = writer.write_all(b"{\"envelopes\":[0");
        let chunk = ",0".repeat(64 * 1024);
        let mut sent = 1;
        while sent < elements {
            // The server stops reading once it has its answer: a failed write ends the sender.
            if writer.write_all(chunk.as_bytes()).is_err() {
                return sent;
            }
            sent += 64 * 1024;
        }
        let _ = writer.write_all(b"]}");
        sent
    });
    let (status, _, body) = read_response(&mut stream);
    let elapsed = started.elapsed();
    let problem: Value = serde_json::from_slice(&body).expect("problem JSON");
    assert_eq!(
        (status, problem["code"].as_str()),
        (413, Some("batch_too_large"))
    );
    assert!(
        elapsed < Duration::from_secs(10),
        "the answer took {elapsed:?}: the server must not read the whole body first"
    );
    drop(stream);
    let sent = sender.join().unwrap();
    assert!(sent < elements, "the server read all {elements} elements");
    assert_eq!(world.server.head(), before, "nothing is written");
}

#[test]
fn an_oversized_element_or_declared_length_is_refused_before_it_is_held() {
    let world = World::new();
    // One element longer than any envelope can be.
    let big = format!("{{\"envelopes\":[\"{}\"]}}", "A".repeat(200 * 1024));
    world
        .server
        .post("/v1/entries:batch", big.as_bytes())
        .assert_problem(413, "envelope_too_large");
    // A declared body over the limit is refused from its head alone.
    let mut stream = TcpStream::connect(addr_of(&world.server.base)).expect("connect");
    let head = format!(
        "POST /v1/entries:batch HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n",
        http::MAX_BATCH_BODY + 1
    );
    stream.write_all(head.as_bytes()).unwrap();
    let (status, _, body) = read_response(&mut stream);
    let problem: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (status, problem["code"].as_str()),
        (413, Some("body_too_large"))
    );
    // The limit is what 10,000 maximal envelopes need, and no more.
    assert_eq!(
        http::MAX_BATCH_BODY,
        http::MAX_BATCH_ENVELOPES * (http::MAX_ENVELOPE_JSON + 1) + 64
    );
}

#[test]
fn genesis_is_never_accepted_over_http() {
    let world = World::new();
    let before = world.server.head();
    let genesis = json!({
        "kind": "genesis", "id": "genesis-x", "actor": world.authority.id, "occurred_at": now(),
        "origin": "lodestone.example/rare-earths", "name": "Again", "country": "CH",
        "public_key": common::public_b64(&world.authority.key),
    });
    let signed = envelope(&genesis, &[&world.authority.key]);
    world
        .server
        .post("/v1/entries", &signed)
        .assert_problem(403, "genesis_not_allowed");
    let answer = world.submit_batch(&[signed]);
    assert_eq!(answer["rejected"], 1);
    assert_eq!(answer["results"][0]["status"], 403);
    assert_eq!(
        answer["results"][0]["problem"]["code"],
        "genesis_not_allowed"
    );
    assert_eq!(world.server.head(), before, "nothing is written");
}

#[test]
fn unknown_query_parameters_are_refused_on_api_routes_and_ignored_on_pages() {
    let world = World::new();
    let miner = world.miner("query-co");
    let before = world.server.head();
    let signed = envelope(
        &event::extract("q-1", &miner, "query-co-ORE", 10),
        &[&miner.key],
    );
    // POST routes included: the entry must not be written.
    world
        .server
        .post("/v1/entries?bogus=1", &signed)
        .assert_problem(400, "bad_query");
    world
        .server
        .post("/v1/entries:batch?bogus=1", br#"{"envelopes":[]}"#)
        .assert_problem(400, "bad_query");
    world
        .server
        .post("/v1/verify?x=1", b"{}")
        .assert_problem(400, "bad_query");
    assert_eq!(world.server.head(), before, "nothing is written");
    for path in [
        "/v1/log?x=1",
        "/v1/entries/0?x=1",
        "/v1/actors?x=1",
        "/v1/actors/query-co?x=1",
        "/checkpoint?x=1",
        "/tile/0/000.p/1?x=1",
        "/tile/entries/000.p/1?x=1",
    ] {
        world.server.get(path).assert_problem(400, "bad_query");
    }
    // Pages for people ignore what they do not know.
    let page = world.server.get("/?utm_source=mail");
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(page.content_type.starts_with("text/html"));
    assert_eq!(world.server.get("/healthz?probe=1").status, 200);
}

#[test]
fn post_bodies_must_be_declared_json() {
    let world = World::new();
    let miner = world.miner("type-co");
    let before = world.server.head();
    let signed = envelope(
        &event::extract("t-1", &miner, "type-co-ORE", 10),
        &[&miner.key],
    );
    for path in ["/v1/entries", "/v1/entries:batch", "/v1/verify"] {
        let response = ureq::post(&world.server.url(path))
            .set("content-type", "text/plain")
            .send_bytes(&signed);
        let Err(ureq::Error::Status(415, response)) = response else {
            panic!("{path}: expected 415, got {response:?}");
        };
        let problem: Value = response.into_json().unwrap();
        assert_eq!(problem["code"], "unsupported_media_type", "{path}");
    }
    assert_eq!(world.server.head(), before, "nothing is written");
    // Parameters of the media type are fine.
    let response = ureq::post(&world.server.url("/v1/entries"))
        .set("content-type", "application/json; charset=utf-8")
        .send_bytes(&signed)
        .expect("accepted");
    assert_eq!(response.status(), 201);
}

#[test]
fn numbers_in_paths_must_be_canonical() {
    let world = World::new();
    world.server.get("/v1/entries/0").assert_json(200);
    for path in [
        "/v1/entries/00",
        "/v1/entries/+0",
        "/v1/entries/01",
        "/v1/entries/%2B0",
    ] {
        world.server.get(path).assert_problem(400, "bad_path");
    }
}

#[test]
fn flooding_heavy_requests_get_429_while_others_write() {
    let world = World::new();
    let miner = world.miner("flood-co");
    let addr = addr_of(&world.server.base);
    // A flooder holds HEAVY_PER_CLIENT batch requests open, each sending its body slowly.
    let mut held = Vec::new();
    for _ in 0..HEAVY_PER_CLIENT {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .write_all(
                b"POST /v1/entries:batch HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n\
                  content-length: 1000\r\n\r\n{\"envelopes\":[",
            )
            .unwrap();
        held.push(stream);
    }
    // Let the server admit all of them before probing: a probe that arrived first would take
    // the last place itself (and the last held request would get the 429).
    std::thread::sleep(Duration::from_secs(2));
    let deadline = Instant::now() + Duration::from_secs(10);
    // Fresh connections: a pooled one may have been closed by the idle timeout meanwhile.
    let (status, head, body) = loop {
        let mut probe = TcpStream::connect(addr).unwrap();
        probe
            .write_all(
                b"POST /v1/entries:batch HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n\
                  content-length: 16\r\n\r\n{\"envelopes\":[]}",
            )
            .unwrap();
        let answer = read_response(&mut probe);
        if answer.0 == 429 || Instant::now() > deadline {
            break answer;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let problem: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (status, problem["code"].as_str()),
        (429, Some("rate_limited"))
    );
    assert!(head.contains("retry-after: 1"), "{head}");
    // Single writes still go through at once (they are not heavy requests).
    let started = Instant::now();
    let signed = envelope(
        &event::extract("f-1", &miner, "flood-co-ORE", 10),
        &[&miner.key],
    );
    assert_eq!(post_from("127.0.0.1", addr, "/v1/entries", &signed), 201);
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(held);
}

/// A ledger served with `config` from its own runtime; dropping `stop` starts shutdown.
struct Custom {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: std::sync::mpsc::Receiver<Instant>,
    _service: LogService,
    _dir: tempfile::TempDir,
}

fn serve_custom(config: ServeConfig) -> Custom {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::new(dir.path().join("ledger"));
    LogService::init(&data, &InitOptions::default()).unwrap();
    let service = LogService::open(&data).unwrap();
    let state = AppState::new(&service);
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (done_tx, done) = std::sync::mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            http::serve_with(listener, state, config, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
            let _ = done_tx.send(Instant::now());
        });
    });
    Custom {
        addr: addr_rx.recv_timeout(Duration::from_secs(10)).unwrap(),
        stop: Some(stop),
        done,
        _service: service,
        _dir: dir,
    }
}

fn healthz(addr: SocketAddr) -> u16 {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
        .unwrap();
    read_response(&mut stream).0
}

#[test]
fn half_sent_requests_do_not_hold_shutdown() {
    // The default limits: what `lodestone serve` runs with.
    let mut server = serve_custom(ServeConfig::default());
    // One client stops in the middle of its head, another in the middle of its body.
    let mut head = TcpStream::connect(server.addr).unwrap();
    head.write_all(b"GET /v1/log HTTP/1.1\r\nhost: t\r\nx-slow: ")
        .unwrap();
    let mut body = TcpStream::connect(server.addr).unwrap();
    body.write_all(
        b"POST /v1/entries HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n\
          content-length: 100\r\n\r\n{\"payl",
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(healthz(server.addr), 200);
    let asked = Instant::now();
    drop(server.stop.take());
    let done = server
        .done
        .recv_timeout(Duration::from_secs(15))
        .expect("the server stopped");
    let took = done - asked;
    assert!(
        took <= Duration::from_secs(10),
        "shutdown took {took:?} with half-sent requests open"
    );
    drop((head, body));
}

#[test]
fn idle_connections_beyond_the_cap_do_not_lock_out_healthz() {
    let server = serve_custom(ServeConfig {
        max_connections: 8,
        header_timeout: Duration::from_secs(2),
        ..ServeConfig::default()
    });
    // Thrice the cap, idle: never a byte sent.
    let idle: Vec<TcpStream> = (0..24)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    assert_eq!(healthz(server.addr), 200);
    assert!(started.elapsed() < Duration::from_secs(2));
    // And an idle connection is closed after the header timeout.
    let mut last = idle.into_iter().last().unwrap();
    last.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = Instant::now();
    let mut byte = [0u8; 1];
    let n = last.read(&mut byte).unwrap_or(0);
    assert_eq!(n, 0, "the idle connection is closed");
    assert!(started.elapsed() < Duration::from_secs(4));
}

/// POSTs `body` to `path` from the local address `source` (e.g. `127.0.0.2`); the status.
fn post_from(source: &str, to: SocketAddr, path: &str, body: &[u8]) -> u16 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let stream = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
        socket.connect(to).await.unwrap().into_std().unwrap()
    });
    let mut stream = stream;
    stream.set_nonblocking(false).unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    read_response(&mut stream).0
}

#[test]
fn a_client_forging_signatures_is_rate_limited_and_others_are_not() {
    let world = World::new();
    let forger_target = world.miner("forged-co");
    let honest = world.miner("honest-co");
    // Real events of a registered actor, each with a forged signature naming its key.
    let forged: Vec<Value> = (0..10_000)
        .map(|i| {
            let mut event =
                event::extract(&format!("x-{i}"), &forger_target, &format!("forged-co-X-{i}"), 10);
            event["log"] = json!(common::LOG);
            json!({
                "payloadType": lodestone::model::envelope::EVENT_PAYLOAD_TYPE,
                "payload": common::b64(&serde_json::to_vec(&event).unwrap()),
                "signatures": [{"keyid": common::key_id(&forger_target.key), "sig": common::b64(&[7; 64])}],
            })
        })
        .collect();
    let body = serde_json::to_vec(&json!({ "envelopes": forged })).unwrap();
    // The budget is 10,000 failures: two batches spend it, whatever the refill meanwhile.
    for _ in 0..2 {
        let answer = world
            .server
            .post("/v1/entries:batch", &body)
            .assert_json(200);
        assert_eq!(answer["accepted"], 0);
        assert_eq!(answer["results"][9_999]["problem"]["code"], "bad_signature");
    }
    // Refused before its body is read (a small body here: a large one is cut off mid-send).
    let refused = world
        .server
        .post("/v1/entries:batch", br#"{"envelopes":[]}"#);
    refused.assert_problem(429, "rate_limited");
    assert_eq!(refused.header("retry-after"), Some("1"));
    world
        .server
        .post(
            "/v1/entries",
            &envelope(
                &event::extract("h-0", &honest, "honest-co-H-0", 10),
                &[&honest.key],
            ),
        )
        .assert_problem(429, "rate_limited");
    // Another client is not touched.
    let status = post_from(
        "127.0.0.2",
        addr_of(&world.server.base),
        "/v1/entries",
        &envelope(
            &event::extract("h-1", &honest, "honest-co-H-1", 10),
            &[&honest.key],
        ),
    );
    assert_eq!(status, 201);
}

#[test]
fn every_problem_code_has_a_row_in_the_api_docs() {
    let doc = include_str!("../docs/API.md");
    let ledger = lodestone::ledger::LedgerError::CODES
        .iter()
        // An identical retry is a 200, and an unreadable state a bare 500: neither is a problem.
        .filter(|c| !matches!(**c, "duplicate" | "state_unavailable"));
    for code in http::error::CODES.iter().chain(ledger) {
        assert!(
            doc.contains(&format!("| `{code}` |")),
            "docs/API.md has no row for `{code}`"
        );
    }
}
