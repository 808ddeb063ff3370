//! `lodestone monitor`: follows a log and its witnesses, and raises the alarm on a fork or a
//! broken ledger rule (docs/WITNESS.md).
//!
//! Each round:
//! 1. reads every policy witness's latest checkpoint for the log (c2sp.org/tlog-witness
//!    monitoring endpoint) and keeps those validly signed by the log and cosigned by the
//!    witness — *before* reading the log, so that an honest log is never behind them;
//! 2. reads the log's own latest checkpoint (`GET /v1/log`) and checks its signature;
//! 3. replays the new entries through the ledger rules (the first round replays from entry 0;
//!    later rounds continue), recomputing the Merkle tree;
//! 4. checks that the replayed tree matches the log's checkpoint, the checkpoint remembered
//!    from the last run (the state file), and every witness's checkpoint: a witness that holds
//!    a larger tree than the log, or another root at the same size, proves a fork.
//!
//! On a fork or a rule violation it prints the evidence (both checkpoints, or the entry and the
//! rule), posts it to `--webhook` if given, and exits with status 2. The state file is only
//! advanced after a clean round.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::Args;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::audit::replay::{replay_log, Replay, ReplayRunError};
use crate::log::checkpoint::Checkpoint;
use crate::log::note::NoteVerifier;
use crate::log::policy::Policy;
use crate::log::tile::TILE_WIDTH;
use crate::log::Hash;
use crate::witness::client::WitnessClient;

use super::client::Client;
use super::verify::{load_policy, Source};

/// `lodestone monitor`.
#[derive(Args, Debug)]
pub struct MonitorArgs {
    /// The log's URL.
    #[arg(long, env = "LODESTONE_SERVER")]
    pub server: String,
    /// The C2SP tlog-policy file: the log's key and the witnesses (with their URLs) to compare.
    #[arg(long, env = "LODESTONE_POLICY")]
    pub policy: PathBuf,
    /// Where the monitor remembers the last checkpoint it verified (JSON; created if absent).
    #[arg(long)]
    pub state: PathBuf,
    /// POST the evidence (JSON) to this URL when a fork or a rule violation is found.
    #[arg(long)]
    pub webhook: Option<String>,
    /// The log's verifier key, when the policy has no `log` line.
    #[arg(long, env = "LODESTONE_LOG_KEY")]
    pub log_key: Option<String>,
    /// Check once and exit (0: all good, 2: evidence found).
    #[arg(long)]
    pub once: bool,
    /// Seconds between rounds.
    #[arg(long, default_value_t = 10)]
    pub interval: u64,
    /// A TOML configuration file whose `[monitor]` table sets any of these flags (flags and
    /// LODESTONE_* variables override it; docs/OPERATIONS.md).
    #[arg(long, env = "LODESTONE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// What the monitor remembers.
#[derive(Serialize, Deserialize)]
struct MonitorState {
    origin: String,
    size: u64,
    root: Hash,
    checkpoint: String,
}

/// A finding worth an alarm.
struct Evidence {
    kind: &'static str,
    reason: String,
    log_checkpoint: String,
    other: Option<(String, String)>,
    entry: Option<u64>,
}

impl Evidence {
    fn to_json(&self, origin: &str) -> Value {
        json!({
            "kind": self.kind,
            "origin": origin,
            "reason": self.reason,
            "log_checkpoint": self.log_checkpoint,
            "other_source": self.other.as_ref().map(|(s, _)| s),
            "other_checkpoint": self.other.as_ref().map(|(_, c)| c),
            "entry": self.entry,
        })
    }

    fn print(&self) {
        crate::say!("monitor: {} DETECTED", self.kind.to_uppercase());
        crate::say!("  {}", self.reason);
        if let Some(index) = self.entry {
            crate::say!("  entry {index}");
        }
        crate::say!("--- the log's checkpoint");
        crate::say!("{}", self.log_checkpoint.trim_end());
        if let Some((source, note)) = &self.other {
            crate::say!("--- {source}");
            crate::say!("{}", note.trim_end());
        }
    }
}

fn load_state(path: &Path) -> anyhow::Result<Option<MonitorState>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(serde_json::from_str(&text).with_context(|| {
            format!("the monitor state {} is corrupt", path.display())
        })?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn save_state(path: &Path, state: &MonitorState) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(state)?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

/// The monitor's running state.
struct Monitor {
    args: MonitorArgs,
    policy: Policy,
    log: NoteVerifier,
    source: Source,
    client: Client,
    replay: Option<Replay>,
}

/// Runs the monitor.
pub fn monitor(args: MonitorArgs) -> anyhow::Result<ExitCode> {
    let policy = load_policy(&args.policy)?;
    let client = Client::new(&args.server);
    let info = client.get_json("/v1/log")?;
    let origin = info["origin"].as_str().unwrap_or_default().to_owned();
    let log = match (&args.log_key, policy.log_for(&origin)) {
        (Some(text), _) => NoteVerifier::from_text(text.trim()).context("--log-key")?,
        (None, Some(key)) => key.clone(),
        (None, None) => bail!("the policy lists no log with origin {origin:?}; give --log-key"),
    };
    let mut monitor = Monitor {
        source: Source::Server(Client::new(&args.server)),
        client,
        policy,
        log,
        replay: None,
        args,
    };
    loop {
        match monitor.round()? {
            Some(evidence) => {
                evidence.print();
                monitor.alert(&evidence);
                return Ok(ExitCode::from(2));
            }
            None if monitor.args.once => return Ok(ExitCode::SUCCESS),
            None => std::thread::sleep(Duration::from_secs(monitor.args.interval)),
        }
    }
}

impl Monitor {
    fn alert(&self, evidence: &Evidence) {
        let Some(url) = &self.args.webhook else {
            return;
        };
        let body = evidence.to_json(self.log.name());
        if let Err(e) = ureq::post(url).send_json(body) {
            tracing::warn!(%url, error = %e, "could not post the evidence");
        }
    }

    /// Every witness's latest checkpoint that is validly signed and cosigned by it.
    fn witness_checkpoints(&self) -> Vec<(String, Checkpoint, String)> {
        let mut found = Vec::new();
        for witness in &self.policy.witnesses {
            let Some(url) = &witness.url else { continue };
            let client = WitnessClient::new(url, Duration::from_secs(10));
            let note = match client.latest(self.log.name()) {
                Ok(Some(note)) => note,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read a witness's checkpoint");
                    continue;
                }
            };
            match self.policy.cosigners(&note, &self.log) {
                Ok((checkpoint, cosigned)) if cosigned.iter().any(|(n, _)| *n == witness.name) => {
                    found.push((witness.name.clone(), checkpoint, note));
                }
                Ok(_) => tracing::warn!(
                    witness = %witness.name,
                    "the witness serves a checkpoint it did not cosign"
                ),
                Err(e) => tracing::warn!(
                    witness = %witness.name,
                    error = %e,
                    "the witness serves an invalid checkpoint"
                ),
            }
        }
        found
    }

    /// Replays the log up to `size`, continuing the previous rounds' replay.
    fn replay_to(&mut self, size: u64) -> anyhow::Result<Result<(), (Option<u64>, String)>> {
        let source = &self.source;
        let fetch =
            |start: u64, end: u64| -> anyhow::Result<Vec<crate::audit::replay::ReplayItem>> {
                let mut items = Vec::with_capacity((end - start) as usize);
                let mut at = start;
                while at < end {
                    let width = (TILE_WIDTH - at % TILE_WIDTH).min(end - at);
                    items.extend(source.chunk(at, width)?);
                    at += width;
                }
                Ok(items)
            };
        match &mut self.replay {
            None => {
                let (replay, outcome) = replay_log(size, fetch, |_| {});
                self.replay = Some(replay);
                match outcome {
                    Ok(()) => Ok(Ok(())),
                    Err(ReplayRunError::Replay(e)) => Ok(Err((e.index(), e.to_string()))),
                    Err(ReplayRunError::Fetch(e)) => Err(e),
                }
            }
            Some(replay) if replay.size() < size => {
                let items = fetch(replay.size(), size)?;
                Ok(replay.push(items).map_err(|e| (e.index(), e.to_string())))
            }
            Some(_) => Ok(Ok(())),
        }
    }

    /// One round; `Some` when there is evidence of a fork or a broken rule.
    fn round(&mut self) -> anyhow::Result<Option<Evidence>> {
        let witnessed = self.witness_checkpoints();
        let info = self.client.get_json("/v1/log")?;
        let note = info["checkpoint"]
            .as_str()
            .context("the log sent no checkpoint")?
            .to_owned();
        let checkpoint = Checkpoint::open(&note, &self.log)
            .context("the log's checkpoint is not validly signed by the log key")?;
        let seen = load_state(&self.args.state)?;
        let evidence = |kind, reason: String, other: Option<(String, String)>, entry| Evidence {
            kind,
            reason,
            log_checkpoint: note.clone(),
            other,
            entry,
        };
        if let Some(seen) = seen.as_ref().filter(|s| s.size > checkpoint.size) {
            return Ok(Some(evidence(
                "fork",
                format!(
                    "the log's checkpoint (size {}) is smaller than one it signed before (size {})",
                    checkpoint.size, seen.size
                ),
                Some((
                    "checkpoint remembered from an earlier run".into(),
                    seen.checkpoint.clone(),
                )),
                None,
            )));
        }
        if let Err((entry, reason)) = self.replay_to(checkpoint.size)? {
            return Ok(Some(evidence("rule violation", reason, None, entry)));
        }
        let replay = self.replay.as_ref().context("replay state")?;
        if replay.root_at(checkpoint.size) != checkpoint.root {
            return Ok(Some(evidence(
                "fork",
                "the log's entries do not hash to its signed root".into(),
                None,
                None,
            )));
        }
        if let Some(seen) = &seen {
            if replay.root_at(seen.size) != seen.root {
                return Ok(Some(evidence(
                    "fork",
                    format!(
                        "the log's tree at size {} differs from the checkpoint this monitor saw before",
                        seen.size
                    ),
                    Some(("checkpoint remembered from an earlier run".into(), seen.checkpoint.clone())),
                    None,
                )));
            }
        }
        for (name, theirs, their_note) in &witnessed {
            let forked =
                theirs.size > checkpoint.size || replay.root_at(theirs.size) != theirs.root;
            if forked {
                return Ok(Some(evidence(
                    "fork",
                    format!(
                        "witness {name} cosigned a checkpoint of size {} that is not a prefix of the log's tree of size {}",
                        theirs.size, checkpoint.size
                    ),
                    Some((format!("checkpoint cosigned by witness {name}"), their_note.clone())),
                    None,
                )));
            }
        }
        save_state(
            &self.args.state,
            &MonitorState {
                origin: checkpoint.origin.clone(),
                size: checkpoint.size,
                root: checkpoint.root,
                checkpoint: note.clone(),
            },
        )?;
        crate::say!(
            "monitor: OK {} size {} ({} entries replayed; consistent with {} witness checkpoint(s))",
            checkpoint.origin,
            checkpoint.size,
            replay.size(),
            witnessed.len()
        );
        Ok(None)
    }
}
