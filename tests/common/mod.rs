//! Shared support for the HTTP integration tests: a real server on `127.0.0.1:0` over a fresh
//! ledger in a temporary directory, a blocking client that sees every status (errors included),
//! and a small world builder — the authority from the data directory's `authority.key`, actors
//! registered with fixed-seed keys, events signed into DSSE envelopes and POSTed.
//!
//! The tests are clients from the outside: they read the wire JSON themselves and check proofs
//! with the pure `log` core, never with the server's own types.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::SigningKey;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use lodestone::http::{self, AppState};
use lodestone::log::checkpoint::Checkpoint;
use lodestone::log::note::NoteVerifier;
use lodestone::log::tree::verify_inclusion;
use lodestone::log::Hash;
use lodestone::model::envelope::Envelope;
use lodestone::model::keys::{PublicKey, SecretKeyFile};
use lodestone::service::{DataDir, InitOptions, LogService};

/// The problem+json media type (RFC 9457).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A running server over its own ledger. Dropping it stops the server, then the sequencer, then
/// removes the directory.
pub struct TestServer {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The ledger's data directory.
    pub data: DataDir,
    agent: ureq::Agent,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    service: Option<LogService>,
    // Last: removed after everything above has let go of it.
    _dir: tempfile::TempDir,
}

/// One HTTP answer, whatever its status.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// `content-type`, empty when absent.
    pub content_type: String,
    /// `cache-control`, when present.
    pub cache_control: Option<String>,
    /// Every header, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as JSON (panics with the body text if it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {} body is not JSON ({e}): {}",
                self.status,
                self.text()
            )
        })
    }

    /// The value of header `name` (lower case), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Asserts a problem answer: the status, `application/problem+json`, and the exact `code`
    /// (also in `type` and `status` of the body).
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) -> Value {
        assert_eq!(
            (self.status, self.content_type.as_str()),
            (status, PROBLEM_JSON),
            "expected {status} {code}, got: {}",
            self.text()
        );
        let problem = self.json();
        assert_eq!(problem["code"], code, "problem: {problem}");
        assert_eq!(problem["status"], status, "problem: {problem}");
        assert_eq!(problem["type"], format!("/problems/{code}"));
        assert!(
            problem["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "problem without detail: {problem}"
        );
        problem
    }

    /// Asserts a 2xx JSON answer with `status` and returns the body.
    #[track_caller]
    pub fn assert_json(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "unexpected answer: {}", self.text());
        assert!(
            self.content_type.starts_with("application/json"),
            "content-type {:?}",
            self.content_type
        );
        self.json()
    }
}

impl TestServer {
    /// `init` then `open` a fresh ledger in a temporary directory and serve it on an ephemeral
    /// port from a runtime on its own thread.
    pub fn start() -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = DataDir::new(dir.path().join("ledger"));
        LogService::init(&data, &InitOptions::default()).expect("init ledger");
        let service = LogService::open(&data).expect("open ledger");
        let state = AppState::new(&service);

        let (addr_tx, addr_rx) = std::sync::mpsc::channel::<SocketAddr>();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("test-server".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("tokio runtime");
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                        .await
                        .expect("bind 127.0.0.1:0");
                    addr_tx
                        .send(listener.local_addr().expect("local addr"))
                        .expect("report address");
                    http::serve(listener, state, async {
                        let _ = stopped.await;
                    })
                    .await
                    .expect("serve");
                });
            })
            .expect("spawn server thread");
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("server started");
        TestServer {
            base: format!("http://{addr}"),
            data,
            // No pooled connections: the server closes a connection after an early refusal
            // (a 429 before the body is read) and after 10 s idle; a pooled client would reuse
            // such a connection and see it end mid-request (docs/API.md, "Limits and pushback").
            agent: ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(60))
                .max_idle_connections(0)
                .build(),
            stop: Some(stop),
            thread: Some(thread),
            service: Some(service),
            _dir: dir,
        }
    }

    /// The full URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Any request; 4xx and 5xx are answers like any other.
    pub fn request(&self, method: &str, path: &str, body: Option<&[u8]>) -> Reply {
        let request = self.agent.request(method, &self.url(path));
        let result = match body {
            Some(bytes) => request
                .set("content-type", "application/json")
                .send_bytes(bytes),
            None => request.call(),
        };
        let response = match result {
            Ok(response) => response,
            Err(ureq::Error::Status(_, response)) => response,
            Err(ureq::Error::Transport(t)) => panic!("{method} {path}: transport error: {t}"),
        };
        let status = response.status();
        let content_type = response.header("content-type").unwrap_or("").to_owned();
        let cache_control = response.header("cache-control").map(str::to_owned);
        let headers = response
            .headers_names()
            .into_iter()
            .map(|name| {
                let value = response.header(&name).unwrap_or_default().to_owned();
                (name.to_ascii_lowercase(), value)
            })
            .collect();
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut response.into_reader(), &mut body).expect("read body");
        Reply {
            status,
            content_type,
            cache_control,
            headers,
            body,
        }
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Reply {
        self.request("GET", path, None)
    }

    /// `POST path` with a JSON body.
    pub fn post(&self, path: &str, body: &[u8]) -> Reply {
        self.request("POST", path, Some(body))
    }

    /// `GET /v1/log`.
    pub fn log(&self) -> LogView {
        let body = self.get("/v1/log").assert_json(200);
        LogView {
            size: body["size"].as_u64().expect("size"),
            root: hash(&body["root"]),
            checkpoint: body["checkpoint"].as_str().expect("checkpoint").to_owned(),
            verifier: NoteVerifier::from_text(body["verifier_key"].as_str().expect("verifier_key"))
                .expect("verifier_key parses"),
            body,
        }
    }

    /// The log's size and root from `GET /v1/log`.
    pub fn head(&self) -> (u64, Hash) {
        let log = self.log();
        (log.size, log.root)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if let Some(service) = self.service.take() {
            service.shutdown();
        }
    }
}

/// What `GET /v1/log` says.
pub struct LogView {
    /// `size`.
    pub size: u64,
    /// `root`.
    pub root: Hash,
    /// `checkpoint` (signed note text).
    pub checkpoint: String,
    /// `verifier_key`, parsed.
    pub verifier: NoteVerifier,
    /// The whole body.
    pub body: Value,
}

/// A base64 hash from a JSON string.
#[track_caller]
pub fn hash(value: &Value) -> Hash {
    Hash::from_base64(
        value
            .as_str()
            .unwrap_or_else(|| panic!("not a string: {value}")),
    )
    .unwrap_or_else(|e| panic!("not a base64 hash: {value}: {e}"))
}

/// A `proof` array of base64 hashes.
#[track_caller]
pub fn proof(value: &Value) -> Vec<Hash> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("proof is not an array: {value}"))
        .iter()
        .map(hash)
        .collect()
}

/// Checks a receipt the way a submitter would: its checkpoint carries a valid signature by the
/// log key, states the receipt's size and root, and the inclusion proof leads from the leaf hash
/// to that root. Returns the opened checkpoint.
#[track_caller]
pub fn verify_receipt(receipt: &Value, verifier: &NoteVerifier) -> Checkpoint {
    let note = receipt["checkpoint"].as_str().expect("receipt checkpoint");
    let checkpoint = Checkpoint::open(note, verifier).expect("checkpoint signed by the log key");
    let index = receipt["index"].as_u64().expect("receipt index");
    let size = receipt["size"].as_u64().expect("receipt size");
    let root = hash(&receipt["root"]);
    assert_eq!((checkpoint.size, checkpoint.root), (size, root));
    assert!(index < size, "receipt index {index} not below size {size}");
    verify_inclusion(
        &hash(&receipt["leaf_hash"]),
        index,
        size,
        &proof(&receipt["proof"]),
        &root,
    )
    .unwrap_or_else(|e| panic!("receipt for entry {index}: inclusion proof fails: {e}"));
    checkpoint
}

/// An Ed25519 key from a fixed seed derived from `label`: the same label gives the same key in
/// every run, so failures reproduce.
pub fn fixed_key(label: &str) -> SigningKey {
    let seed: [u8; 32] = Sha256::digest(format!("lodestone-test-key:{label}")).into();
    SigningKey::from_bytes(&seed)
}

/// Standard base64 of a signing key's public key.
pub fn public_b64(key: &SigningKey) -> String {
    PublicKey::new(key.verifying_key()).to_base64()
}

/// Lowercase hex key id of a signing key.
pub fn key_id(key: &SigningKey) -> String {
    PublicKey::new(key.verifying_key()).key_id().to_string()
}

/// The origin of every test ledger (`InitOptions::default()`): the `log` events name.
pub const LOG: &str = "lodestone.example/rare-earths";

/// The event JSON signed by `signers` into the DSSE envelope's wire form. An event without a
/// `log` gets the test ledger's ([`LOG`]); tests of `wrong_log` set their own.
pub fn envelope(event: &Value, signers: &[&SigningKey]) -> Vec<u8> {
    let mut event = event.clone();
    if let Some(fields) = event.as_object_mut() {
        if fields.get("kind").and_then(Value::as_str) != Some("genesis") {
            fields.entry("log").or_insert_with(|| json!(LOG));
        }
    }
    envelope_of_payload(serde_json::to_vec(&event).expect("event JSON"), signers)
}

/// Signs raw payload bytes (possibly not valid event JSON) into an envelope's wire form.
pub fn envelope_of_payload(payload: Vec<u8>, signers: &[&SigningKey]) -> Vec<u8> {
    Envelope::sign(payload, signers)
        .expect("envelope shape")
        .to_json()
}

/// The current time, RFC 3339 UTC with milliseconds.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Standard base64.
pub fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

/// A registered participant and its key.
#[derive(Clone)]
pub struct Actor {
    /// Actor id.
    pub id: String,
    /// Its (only) registered key.
    pub key: SigningKey,
}

/// The batch id prefixes the test worlds give an actor (docs/EVENTS.md, `prefixes`): the
/// prefixes of the batches the tests have it create, or `<subject>-` for everyone else.
pub fn test_prefixes(subject: &str) -> Vec<String> {
    let fixed: &[&str] = match subject {
        "mine-co" => &["ORE-", "OX-"],
        "alpha-co" => &["A-"],
        "beta-co" => &["B-"],
        "gamma-co" => &["G-"],
        "trader-co" => &["T-"],
        "newcomer" => &["N-"],
        _ => return vec![format!("{subject}-")],
    };
    fixed.iter().map(|p| (*p).to_owned()).collect()
}

/// A server plus its authority and helpers to register actors and submit events.
pub struct World {
    /// The server.
    pub server: TestServer,
    /// The ledger authority (key read from `authority.key`).
    pub authority: Actor,
    sequence: AtomicU64,
}

impl World {
    /// A fresh ledger and server.
    pub fn new() -> World {
        let server = TestServer::start();
        let text = std::fs::read_to_string(server.data.authority_key()).expect("authority.key");
        let (file, key) = SecretKeyFile::parse(&text).expect("authority key file");
        let id = file.actor.expect("authority key file names its actor");
        World {
            server,
            authority: Actor { id, key },
            sequence: AtomicU64::new(0),
        }
    }

    /// A fresh event id `prefix-N`.
    pub fn id(&self, prefix: &str) -> String {
        format!("{prefix}-{}", self.sequence.fetch_add(1, Ordering::Relaxed))
    }

    /// The `register_actor` event for `subject` with `roles`, one mine site per name in `mines`,
    /// and `keys`.
    pub fn register_event(
        &self,
        subject: &str,
        roles: &[&str],
        mines: &[&str],
        keys: &[&SigningKey],
    ) -> Value {
        let sites: Vec<Value> = mines
            .iter()
            .map(|m| json!({"id": m, "name": format!("mine {m}"), "country": "AU", "kind": "mine"}))
            .collect();
        json!({
            "kind": "register_actor",
            "id": self.id(&format!("reg-{subject}")),
            "actor": self.authority.id,
            "occurred_at": now(),
            "subject": subject,
            "name": format!("Actor {subject}"),
            "country": "AU",
            "roles": roles,
            "sites": sites,
            "public_keys": keys.iter().map(|k| public_b64(k)).collect::<Vec<_>>(),
            "prefixes": test_prefixes(subject),
        })
    }

    /// Registers `subject` (key from a fixed seed) and returns it.
    pub fn register(&self, subject: &str, roles: &[&str], mines: &[&str]) -> Actor {
        let key = fixed_key(subject);
        let event = self.register_event(subject, roles, mines, &[&key]);
        self.submit_ok(&self.authority.clone(), &event);
        Actor {
            id: subject.to_owned(),
            key,
        }
    }

    /// Registers a miner with one mine named `<subject>-mine`.
    pub fn miner(&self, subject: &str) -> Actor {
        self.register(subject, &["miner"], &[&format!("{subject}-mine")])
    }

    /// POSTs `event` signed by `signers` to `/v1/entries`.
    pub fn submit(&self, event: &Value, signers: &[&SigningKey]) -> Reply {
        self.server.post("/v1/entries", &envelope(event, signers))
    }

    /// POSTs `event` signed by `actor`; asserts `201` and returns the receipt.
    #[track_caller]
    pub fn submit_ok(&self, actor: &Actor, event: &Value) -> Value {
        self.submit(event, &[&actor.key]).assert_json(201)
    }

    /// POSTs envelopes to `/v1/entries:batch`; asserts `200` and returns the body.
    #[track_caller]
    pub fn submit_batch(&self, envelopes: &[Vec<u8>]) -> Value {
        let items: Vec<Value> = envelopes
            .iter()
            .map(|e| serde_json::from_slice(e).expect("envelope JSON"))
            .collect();
        let body = serde_json::to_vec(&json!({ "envelopes": items })).expect("batch JSON");
        self.server
            .post("/v1/entries:batch", &body)
            .assert_json(200)
    }
}

/// Event builders (docs/EVENTS.md); each takes the event id.
pub mod event {
    use super::{now, Actor};
    use serde_json::{json, Value};

    /// `extract` of ore at the actor's mine `<actor>-mine`.
    pub fn extract(id: &str, actor: &Actor, batch: &str, mass_g: u64) -> Value {
        json!({
            "kind": "extract", "id": id, "actor": actor.id, "occurred_at": now(),
            "site": format!("{}-mine", actor.id), "batch": batch, "form": "ore", "mass_g": mass_g,
        })
    }

    /// A `split` of ore `input` (taking `take_g`) into `outputs`.
    pub fn split(
        id: &str,
        actor: &Actor,
        input: &str,
        take_g: u64,
        outputs: &[(&str, u64)],
    ) -> Value {
        transform(id, actor, "split", &[(input, take_g)], outputs, "ore")
    }

    /// A `transform` with inputs and outputs of one `form`.
    pub fn transform(
        id: &str,
        actor: &Actor,
        process: &str,
        inputs: &[(&str, u64)],
        outputs: &[(&str, u64)],
        form: &str,
    ) -> Value {
        json!({
            "kind": "transform", "id": id, "actor": actor.id, "occurred_at": now(),
            "process": process,
            "inputs": inputs.iter().map(|(b, m)| json!({"batch": b, "mass_g": m})).collect::<Vec<_>>(),
            "outputs": outputs.iter().map(|(b, m)| json!({"batch": b, "form": form, "mass_g": m})).collect::<Vec<_>>(),
        })
    }

    /// `ship` of `batch` to `to`.
    pub fn ship(id: &str, actor: &Actor, batch: &str, to: &str) -> Value {
        json!({"kind": "ship", "id": id, "actor": actor.id, "occurred_at": now(), "batch": batch, "to": to})
    }

    /// `receive` of `batch` with `mass_g`.
    pub fn receive(id: &str, actor: &Actor, batch: &str, mass_g: u64) -> Value {
        json!({"kind": "receive", "id": id, "actor": actor.id, "occurred_at": now(), "batch": batch, "mass_g": mass_g})
    }
}

/// Signatures over an event's payload bytes, verified for real: what `ledger::apply_to_mem`
/// needs to apply an event without an envelope (tests/ledger_rules.rs, tests/export_controls.rs).
pub struct Signed {
    /// The signed bytes.
    pub message: Vec<u8>,
    /// Each signer's key and signature.
    pub signatures: Vec<(lodestone::model::keys::PublicKey, ed25519_dalek::Signature)>,
}

impl lodestone::ledger::Signatures for Signed {
    fn signed_by(&self, key: &lodestone::model::keys::PublicKey) -> bool {
        self.signatures
            .iter()
            .any(|(k, sig)| k == key && key.verify(&self.message, &sig.to_bytes()))
    }
}

/// The test key of seed byte `seed`.
pub fn seed_key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}
