//! Shared code for the tests that drive the real `lodestone` binary: running a command and
//! capturing its output, spawning a long-running server (`serve`, `demo`) and reading its
//! stdout until it says where it listens, plain HTTP against it, and one-byte tampering.

// Each test file uses a different part of this module.
#![allow(dead_code)]

pub mod pg;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_lodestone");

/// How long a child may take to start listening before the test gives up.
const STARTUP: Duration = Duration::from_secs(30);

/// A finished command: exit code and both streams as text.
pub struct Run {
    /// Exit code (`None` if killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    fn from_output(output: Output) -> Run {
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Both streams, for assertion messages.
    pub fn dump(&self) -> String {
        format!(
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `lodestone <args>` to completion with logging quiet and no inherited server settings.
pub fn run(args: &[&str]) -> Run {
    run_in(args, None)
}

/// Like [`run`], feeding `stdin` to the command.
pub fn run_in(args: &[&str], stdin: Option<&[u8]>) -> Run {
    run_with(args, stdin, &[])
}

/// Like [`run_in`], with extra environment variables.
pub fn run_with(args: &[&str], stdin: Option<&[u8]>, env: &[(&str, &str)]) -> Run {
    let mut command = command(args);
    command.envs(env.iter().copied());
    command.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().expect("spawn lodestone");
    if let Some(bytes) = stdin {
        use std::io::Write as _;
        let mut pipe = child.stdin.take().expect("piped stdin");
        pipe.write_all(bytes).expect("write stdin");
    }
    Run::from_output(child.wait_with_output().expect("wait for lodestone"))
}

/// sled releases a database's file lock a moment after its last handle is dropped (its I/O
/// threads finish on their own), so a process that opens a ledger right after another one
/// closed it can find it still locked. Tests that hand a ledger between this process and a
/// child retry while it is: 80 × 25 ms.
const LOCK_RETRIES: usize = 80;
const LOCK_PAUSE: Duration = Duration::from_millis(25);

fn still_locked(text: &str) -> bool {
    text.contains("could not acquire lock")
}

/// Like [`run`], retrying while the data directory is still locked by a handle this test
/// process just dropped.
pub fn run_unlocked(args: &[&str]) -> Run {
    for _ in 0..LOCK_RETRIES {
        let out = run(args);
        if !still_locked(&out.stderr) {
            return out;
        }
        std::thread::sleep(LOCK_PAUSE);
    }
    run(args)
}

/// Opens a ledger's store in this process, waiting while a handle just dropped still locks it.
pub fn open_store(data: &Path) -> lodestone::store::Store {
    for _ in 0..LOCK_RETRIES {
        match lodestone::store::Store::open(data) {
            Ok(store) => return store,
            Err(e) if still_locked(&e.to_string()) => std::thread::sleep(LOCK_PAUSE),
            Err(e) => panic!("open {}: {e}", data.display()),
        }
    }
    panic!("{} stayed locked", data.display());
}

/// Overwrites the stored bytes of entry `index` in a stopped ledger's `log/entries` segment
/// file, in place (same length): what a disk fault or a tamperer does.
pub fn overwrite_entry(data: &Path, index: u64, bytes: &[u8]) {
    use std::os::unix::fs::FileExt as _;
    let log = data.join("log");
    let offsets = std::fs::read(log.join("offsets")).unwrap();
    let end_of = |i: u64| {
        let at = (i * 8) as usize;
        u64::from_le_bytes(offsets[at..at + 8].try_into().unwrap())
    };
    let start = if index == 0 { 0 } else { end_of(index - 1) };
    assert_eq!(
        end_of(index) - start,
        bytes.len() as u64,
        "same length only"
    );
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(log.join("entries"))
        .unwrap();
    file.write_all_at(bytes, start).unwrap();
    file.sync_all().unwrap();
}

/// Runs `lodestone <args>` and requires exit 0; returns stdout.
pub fn run_ok(args: &[&str]) -> String {
    let out = run(args);
    assert_eq!(
        out.code,
        Some(0),
        "lodestone {args:?} failed:\n{}",
        out.dump()
    );
    out.stdout
}

/// The base command: environment that could redirect it is cleared, so a developer's
/// `LODESTONE_SERVER` or `LODESTONE_LOG_KEY` never leaks into a test, and the checkpoint guard
/// lives in [`guard_dir`].
pub fn command(args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_remove("LODESTONE_SERVER")
        .env_remove("LODESTONE_LOG_KEY")
        .env_remove("LODESTONE_DATA")
        .env_remove("LODESTONE_STORE")
        .env_remove("LODESTONE_ADDR")
        .env_remove("LODESTONE_POLICY")
        .env_remove("LODESTONE_WITNESS_POLICY")
        .env_remove("LODESTONE_CONFIG")
        .env_remove("LODESTONE_LOG_FORMAT")
        .env_remove("RUST_BACKTRACE")
        .env("LODESTONE_CHECKPOINT_GUARD", guard_dir())
        .env("LODESTONE_LOG", "warn");
    command
}

/// The checkpoint guard directory of every binary this test process runs: one per test
/// process, never the operator's own (`~/.local/state/lodestone`).
pub fn guard_dir() -> PathBuf {
    std::env::temp_dir().join(format!("lodestone-test-guard-{}", std::process::id()))
}

/// A `lodestone serve` or `lodestone demo` child process, stopped when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:<port>`, from its "listening on" line.
    pub url: String,
    /// Every stdout line up to and including the one it was waited for.
    pub banner: Vec<String>,
}

impl Server {
    /// Spawns `lodestone <args>` and reads its stdout until a line equal to `ready` (or, when
    /// `ready` is `None`, until the "listening on http://..." line).
    pub fn spawn(args: &[&str], ready: Option<&str>) -> Server {
        Server::try_spawn(args, ready).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`Server::spawn`]; an error if the child exits or stalls before it is ready.
    pub fn try_spawn(args: &[&str], ready: Option<&str>) -> Result<Server, String> {
        Server::try_spawn_with_env(args, ready, &[])
    }

    /// Like [`Server::try_spawn`], with extra environment variables.
    pub fn try_spawn_with_env(
        args: &[&str],
        ready: Option<&str>,
        env: &[(&str, &str)],
    ) -> Result<Server, String> {
        Server::try_spawn_full(args, ready, env, Stdio::null())
    }

    /// Like [`Server::try_spawn_with_env`], with the server's stderr (its log) written to
    /// `stderr`.
    pub fn try_spawn_full(
        args: &[&str],
        ready: Option<&str>,
        env: &[(&str, &str)],
        stderr: Stdio,
    ) -> Result<Server, String> {
        let mut command = command(args);
        command.envs(env.iter().copied());
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        let mut child = command.spawn().expect("spawn lodestone");
        let stdout = child.stdout.take().expect("piped stdout");
        let (lines_tx, lines_rx) = mpsc::channel::<String>();
        // The reader keeps draining stdout after startup, so the child never blocks on a full
        // pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // Once nobody listens any more, keep draining.
                let _ = lines_tx.send(line);
            }
        });
        let mut banner = Vec::new();
        let mut url = None;
        loop {
            let line = match lines_rx.recv_timeout(STARTUP) {
                Ok(line) => line,
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "lodestone {args:?} did not get ready ({e}); stdout so far:\n{banner:#?}"
                    );
                }
            };
            if let Some(rest) = line.strip_prefix("listening on ") {
                url = Some(rest.trim().to_owned());
            }
            let done = match ready {
                Some(ready) => line == ready,
                None => url.is_some(),
            };
            banner.push(line);
            if done {
                break;
            }
        }
        let Some(url) = url else {
            return Err(format!("no `listening on` line in {banner:#?}"));
        };
        Ok(Server { child, url, banner })
    }

    /// `lodestone serve --data <dir> --addr 127.0.0.1:0`, retried while the ledger is still
    /// locked by a handle this process just dropped (the child then exits at once).
    pub fn serve(data: &Path) -> Server {
        Server::serve_store(data, None)
    }

    /// [`Server::serve`] with the ledger's log in the PostgreSQL database `store`, if given.
    pub fn serve_store(data: &Path, store: Option<&str>) -> Server {
        let mut args = vec![
            "serve",
            "--data",
            data.to_str().unwrap(),
            "--addr",
            "127.0.0.1:0",
        ];
        if let Some(url) = store {
            args.extend(["--store", url]);
        }
        let mut last = String::new();
        for _ in 0..LOCK_RETRIES {
            match Server::try_spawn(&args, None) {
                Ok(server) => return server,
                Err(e) => last = e,
            }
            std::thread::sleep(LOCK_PAUSE);
        }
        panic!("{last}");
    }

    /// Stops the server the way an operator does (SIGTERM: finish queued writes, release the
    /// database lock), waits for it to exit, and returns its exit code (`None`: it had to be
    /// killed).
    pub fn stop(mut self) -> Option<i32> {
        self.terminate()
    }

    /// Kills the server with SIGKILL — a crash: nothing queued is finished, nothing flushed —
    /// and waits for it to be gone.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn terminate(&mut self) -> Option<i32> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return status.code();
        }
        // `kill -TERM <pid>` of our own child only: std has no portable SIGTERM.
        let pid = self.child.id().to_string();
        let termed = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .is_ok_and(|s| s.success());
        if termed {
            for _ in 0..400 {
                if let Ok(Some(status)) = self.child.try_wait() {
                    return status.code();
                }
                std::thread::sleep(Duration::from_millis(25));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.terminate();
    }
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build()
}

/// GET `url` and return the status and the JSON body (errors included: problem+json).
pub fn get_json(url: &str) -> (u16, Value) {
    match agent().get(url).call() {
        Ok(response) => {
            let status = response.status();
            (status, response.into_json().expect("JSON body"))
        }
        Err(ureq::Error::Status(status, response)) => {
            (status, response.into_json().unwrap_or(Value::Null))
        }
        Err(e) => panic!("GET {url}: {e}"),
    }
}

/// GET `url`, requiring 200; the body as bytes.
pub fn get_bytes(url: &str) -> Vec<u8> {
    let response = agent()
        .get(url)
        .call()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut response.into_reader(), &mut bytes).expect("read body");
    bytes
}

/// POST `body` as JSON to `url`; the status and the JSON answer.
pub fn post_json(url: &str, body: &[u8]) -> (u16, Value) {
    match agent()
        .post(url)
        .set("content-type", "application/json")
        .send_bytes(body)
    {
        Ok(response) => {
            let status = response.status();
            (status, response.into_json().expect("JSON body"))
        }
        Err(ureq::Error::Status(status, response)) => {
            (status, response.into_json().unwrap_or(Value::Null))
        }
        Err(e) => panic!("POST {url}: {e}"),
    }
}

/// A copy of `bytes` with the byte at `at` changed (low bit flipped: always a different byte).
pub fn flip(bytes: &[u8], at: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[at] ^= 0x01;
    out
}

/// A port nothing listens on: bound to find a free one, then released.
pub fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// The log's verifier key text (`name+keyid+base64`) from `<data>/log.pub`.
pub fn log_key(data: &Path) -> String {
    std::fs::read_to_string(data.join("log.pub"))
        .expect("read log.pub")
        .trim()
        .to_owned()
}
