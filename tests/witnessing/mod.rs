//! A witnessed log network for the integration tests, all real processes over real HTTP: a
//! ledger served by `lodestone serve --witness-policy`, and `lodestone witness serve`
//! processes on ephemeral ports, with a C2SP tlog-policy file naming them. Events are written
//! through the HTTP API, signed here.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use lodestone::log::checkpoint::Checkpoint;
use lodestone::log::note::NoteVerifier;
use lodestone::log::policy::Policy;
use lodestone::model::envelope::Envelope;
use lodestone::model::keys::SecretKeyFile;
use lodestone::model::PublicKey;

use crate::support::{log_key, run_ok, Server};

/// The environment variable through which the log learns where it remembers its last signed
/// checkpoint outside the data directory (so that a restored backup can be refused). The fork
/// test gives a restored ledger a fresh, empty one, so the fork does happen and the witnesses
/// are what catch it.
pub const CHECKPOINT_GUARD_ENV: &str = "LODESTONE_CHECKPOINT_GUARD";

/// One witness process and what restarts it.
pub struct WitnessNode {
    /// Its name in the policy (`w1`, ...).
    pub name: String,
    /// Its key file.
    pub key: PathBuf,
    /// Its state directory.
    pub data: PathBuf,
    /// `127.0.0.1:<port>`, kept across restarts (the policy names the URL).
    pub addr: String,
    /// The running process, if up.
    pub server: Option<Server>,
}

impl WitnessNode {
    /// The witness's URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the witness.
    pub fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop();
        }
    }

    /// Starts it again on the same address and state directory.
    pub fn start(&mut self, log_vkey: &str) {
        let mut last = String::new();
        // The port was just released by our own process; retry briefly while it lingers.
        for _ in 0..40 {
            match Server::try_spawn(&self.args(log_vkey), None) {
                Ok(server) => {
                    self.server = Some(server);
                    return;
                }
                Err(e) => last = e,
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("witness {} did not restart: {last}", self.name);
    }

    fn args<'a>(&'a self, log_vkey: &'a str) -> Vec<&'a str> {
        vec![
            "witness",
            "serve",
            "--key",
            self.key.to_str().unwrap(),
            "--log",
            log_vkey,
            "--data",
            self.data.to_str().unwrap(),
            "--addr",
            &self.addr,
        ]
    }
}

/// A ledger, its witnesses and the policy.
pub struct Network {
    /// Holds every file.
    pub dir: tempfile::TempDir,
    /// The ledger's data directory.
    pub data: PathBuf,
    /// The log's verifier key text.
    pub log_vkey: String,
    /// The witnesses.
    pub witnesses: Vec<WitnessNode>,
    /// The policy file.
    pub policy_path: PathBuf,
    /// The parsed policy.
    pub policy: Policy,
    /// The log server, if up.
    pub log: Option<Server>,
    /// The guard directory the log is started with.
    pub guard: PathBuf,
    authority: (String, SigningKey),
    miner: SigningKey,
    counter: u64,
}

/// `group quorum <k> w1 ... wn` + `quorum quorum`.
pub fn policy_text(log_vkey: &str, witnesses: &[(String, String, String)], k: usize) -> String {
    let mut text = format!("# test policy\nlog {log_vkey}\n");
    for (name, vkey, url) in witnesses {
        text.push_str(&format!("witness {name} {vkey} {url}\n"));
    }
    let names: Vec<&str> = witnesses.iter().map(|(n, _, _)| n.as_str()).collect();
    text.push_str(&format!("group wq {k} {}\nquorum wq\n", names.join(" ")));
    text
}

/// The test log's origin: every event names it.
const ORIGIN: &str = "fork.test/rare-earths";

impl Network {
    /// `n` witnesses, a quorum of `k`, a fresh ledger served with the policy.
    pub fn start(n: usize, k: usize) -> Network {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("ledger");
        run_ok(&["init", "--data", data.to_str().unwrap(), "--origin", ORIGIN]);
        let log_vkey = log_key(&data);
        let mut witnesses = Vec::new();
        let mut lines = Vec::new();
        for i in 1..=n {
            let name = format!("w{i}");
            let key = dir.path().join(format!("{name}.key"));
            let out = run_ok(&[
                "witness",
                "keygen",
                "--name",
                &format!("witness{i}.test"),
                "--out",
                key.to_str().unwrap(),
                "--json",
            ]);
            let vkey: Value = serde_json::from_str(&out).unwrap();
            let mut node = WitnessNode {
                name: name.clone(),
                key,
                data: dir.path().join(format!("{name}-state")),
                addr: "127.0.0.1:0".into(),
                server: None,
            };
            let server = Server::spawn(&node.args(&log_vkey), None);
            node.addr = server.url.trim_start_matches("http://").to_owned();
            node.server = Some(server);
            lines.push((
                name,
                vkey["verifier_key"].as_str().unwrap().to_owned(),
                node.url(),
            ));
            witnesses.push(node);
        }
        let text = policy_text(&log_vkey, &lines, k);
        let policy_path = dir.path().join("witnesses.policy");
        std::fs::write(&policy_path, &text).unwrap();
        let (file, key) =
            SecretKeyFile::parse(&std::fs::read_to_string(data.join("authority.key")).unwrap())
                .unwrap();
        let guard = dir.path().join("guard-1");
        let mut network = Network {
            policy: Policy::parse(&text).unwrap(),
            dir,
            data,
            log_vkey,
            witnesses,
            policy_path,
            log: None,
            guard,
            authority: (file.actor.unwrap(), key),
            miner: SigningKey::from_bytes(&Sha256::digest(b"witness-test-miner").into()),
            counter: 0,
        };
        network.start_log();
        network.register_miner();
        network
    }

    /// Serves the ledger in `self.data` with the policy and `self.guard`.
    pub fn start_log(&mut self) {
        std::fs::create_dir_all(&self.guard).unwrap();
        let args = [
            "serve",
            "--data",
            self.data.to_str().unwrap(),
            "--addr",
            "127.0.0.1:0",
            "--witness-policy",
            self.policy_path.to_str().unwrap(),
        ];
        let guard = self.guard.to_str().unwrap().to_owned();
        let mut last = String::new();
        for _ in 0..80 {
            match Server::try_spawn_with_env(&args, None, &[(CHECKPOINT_GUARD_ENV, &guard)]) {
                Ok(server) => {
                    self.log = Some(server);
                    return;
                }
                Err(e) => last = e,
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("the log did not start: {last}");
    }

    /// Stops the log server.
    pub fn stop_log(&mut self) {
        if let Some(server) = self.log.take() {
            server.stop();
        }
    }

    /// The log's URL.
    pub fn url(&self) -> String {
        self.log.as_ref().expect("log running").url.clone()
    }

    /// The log's verifier.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier::from_text(&self.log_vkey).unwrap()
    }

    fn post(&self, envelope: &Envelope) -> (u16, Value) {
        crate::support::post_json(&format!("{}/v1/entries", self.url()), &envelope.to_json())
    }

    fn register_miner(&mut self) {
        let (authority, key) = (self.authority.0.clone(), self.authority.1.clone());
        let event = json!({
            "kind": "register_actor", "id": "reg-witness-miner", "actor": authority,
            "occurred_at": now(), "log": ORIGIN, "prefixes": ["WM-"],
            "subject": "witness-miner", "name": "Witness Test Mining",
            "country": "AU", "roles": ["miner"],
            "sites": [{"id": "witness-mine", "name": "Test mine", "country": "AU", "kind": "mine"}],
            "public_keys": [PublicKey::new(self.miner.verifying_key())],
        });
        let envelope = Envelope::sign(serde_json::to_vec(&event).unwrap(), &[&key]).unwrap();
        let (status, body) = self.post(&envelope);
        assert_eq!(status, 201, "{body}");
    }

    /// Writes one extraction whose ids start with `tag`; returns the receipt after checking the
    /// log accepted it with `201`.
    pub fn write(&mut self, tag: &str) -> Value {
        self.counter += 1;
        let event = json!({
            "kind": "extract", "id": format!("{tag}-{}", self.counter), "actor": "witness-miner",
            "occurred_at": now(), "log": ORIGIN, "site": "witness-mine",
            "batch": format!("WM-{tag}-ORE-{}", self.counter), "form": "ore", "mass_g": 1000 + self.counter,
        });
        let envelope = Envelope::sign(serde_json::to_vec(&event).unwrap(), &[&self.miner]).unwrap();
        let started = Instant::now();
        let (status, body) = self.post(&envelope);
        assert_eq!(status, 201, "write refused: {body}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "a write waited {:?}",
            started.elapsed()
        );
        body
    }

    /// The log's size from `/v1/log`.
    pub fn size(&self) -> u64 {
        let (_, info) = crate::support::get_json(&format!("{}/v1/log", self.url()));
        info["size"].as_u64().unwrap()
    }

    /// `GET /checkpoint`: status and body.
    pub fn checkpoint(&self) -> (u16, String) {
        get_text(&format!("{}/checkpoint", self.url()))
    }

    /// Waits until `/checkpoint` serves a checkpoint of at least `size` that satisfies the
    /// policy, cosigned by at least the witnesses in `by`; returns the note.
    pub fn wait_witnessed(&self, size: u64, by: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut last = (0, String::new());
        while Instant::now() < deadline {
            last = self.checkpoint();
            if last.0 == 200 {
                let witnessed = self
                    .policy
                    .verify_checkpoint(&last.1)
                    .expect("a served checkpoint satisfies the policy");
                let names: Vec<&str> = witnessed.cosigned.iter().map(|(n, _)| n.as_str()).collect();
                if witnessed.checkpoint.size >= size && by.iter().all(|w| names.contains(w)) {
                    return last.1;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("no checkpoint of size {size} witnessed by {by:?}; last answer {last:?}");
    }

    /// The log's own latest checkpoint (from `/v1/log`).
    pub fn log_checkpoint(&self) -> (String, Checkpoint) {
        let (_, info) = crate::support::get_json(&format!("{}/v1/log", self.url()));
        let note = info["checkpoint"].as_str().unwrap().to_owned();
        let cp = Checkpoint::open(&note, &self.verifier()).unwrap();
        (note, cp)
    }

    /// Path of a file in the network's directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// GET `url`: status and body text, whatever the status.
pub fn get_text(url: &str) -> (u16, String) {
    match ureq::get(url).call() {
        Ok(r) => (r.status(), r.into_string().unwrap()),
        Err(ureq::Error::Status(status, r)) => (status, r.into_string().unwrap_or_default()),
        Err(e) => panic!("GET {url}: {e}"),
    }
}

/// `cp -r` of a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for item in std::fs::read_dir(from).unwrap() {
        let item = item.unwrap();
        let target = to.join(item.file_name());
        if item.file_type().unwrap().is_dir() {
            copy_dir(&item.path(), &target);
        } else {
            std::fs::copy(item.path(), &target).unwrap();
        }
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
