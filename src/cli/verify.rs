//! `lodestone verify` (the full audit of DESIGN.md §6, from a server's tiles or a data directory)
//! and `lodestone verify-bundle` (one batch, offline).
//!
//! `verify` remembers the last checkpoint it verified for each log in a small state file, so the
//! next run also proves the log only grew: same prefix, same root, never smaller.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context as _};
use clap::{ArgGroup, Args};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::replay::{replay_log, ReplayItem, ReplayRunError};
use crate::log::checkpoint::Checkpoint;
use crate::log::note::NoteVerifier;
use crate::log::policy::{Policy, PolicyCheckError};
use crate::log::tile::{TilePath, TILE_WIDTH};
use crate::log::Hash;
use crate::service::DataDir;
use crate::store::Store;

use super::client::Client;
use super::output;

mod data;

/// `lodestone verify`.
#[derive(Args, Debug)]
#[command(group(ArgGroup::new("source").required(true).args(["server", "data"])))]
pub struct VerifyArgs {
    /// Audit the log served at this URL (reads its tiles).
    #[arg(long)]
    pub server: Option<String>,
    /// Audit the ledger in this data directory (the server must not be running on it).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// With --data: the ledger's log is in this PostgreSQL database (read only; a server may
    /// keep appending meanwhile), the directory holds its log.pub.
    #[arg(long, requires = "data", value_name = "URL")]
    pub store: Option<String>,
    /// The log's verifier key (`name+keyid+base64`). Default: the key saved by an earlier run,
    /// `<data>/log.pub`, or — first use only, with a warning — the key the server announces.
    #[arg(long, env = "LODESTONE_LOG_KEY")]
    pub log_key: Option<String>,
    /// Where to remember the last verified checkpoint (default: ~/.lodestone/verify/<origin>.json).
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// A C2SP tlog-policy file: refuse the log's checkpoint unless it carries the policy's
    /// quorum of witness cosignatures.
    #[arg(long, env = "LODESTONE_POLICY")]
    pub policy: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// What `verify` remembers between runs.
#[derive(Serialize, Deserialize)]
struct SeenCheckpoint {
    origin: String,
    verifier_key: String,
    size: u64,
    root: Hash,
    checkpoint: String,
}

/// Where entries come from.
pub(super) enum Source {
    Server(Client),
    Data(Store),
}

impl Source {
    fn checkpoint(&self) -> anyhow::Result<String> {
        match self {
            Source::Server(client) => client.get_text("/checkpoint"),
            Source::Data(store) => match store.head()? {
                Some(head) => Ok(head.checkpoint),
                None => match data::lost_entries(store) {
                    Some(damage) => Err(damage.into()),
                    None => Err(anyhow!("the ledger is empty")),
                },
            },
        }
    }

    /// Entries `start..start+width` (within one tile) with the leaf hashes the log publishes
    /// for them.
    pub(super) fn chunk(&self, start: u64, width: u64) -> anyhow::Result<Vec<ReplayItem>> {
        let (entries, leaves) = match self {
            Source::Server(client) => {
                let tile = start / TILE_WIDTH;
                let entries_path = TilePath::Entries {
                    index: tile,
                    width: width as u16,
                }
                .to_path();
                let bundle = client
                    .get_bytes(&format!("/{entries_path}"))?
                    .ok_or_else(|| anyhow!("the server has no {entries_path}"))?;
                let entries = crate::log::tile::decode_entry_bundle(&bundle)
                    .with_context(|| format!("{entries_path} is not an entry bundle"))?;
                let hashes_path = TilePath::Hashes {
                    level: 0,
                    index: tile,
                    width: width as u16,
                }
                .to_path();
                let tile_bytes = client
                    .get_bytes(&format!("/{hashes_path}"))?
                    .ok_or_else(|| anyhow!("the server has no {hashes_path}"))?;
                if tile_bytes.len() != width as usize * 32 {
                    bail!(
                        "{hashes_path} has {} bytes, expected {}",
                        tile_bytes.len(),
                        width * 32
                    );
                }
                let leaves = tile_bytes
                    .chunks(32)
                    .map(|c| Hash::from_slice(c).expect("32-byte chunk"))
                    .collect();
                (entries, leaves)
            }
            Source::Data(store) => data::chunk(store, start, width)?,
        };
        if entries.len() as u64 != width || leaves.len() as u64 != width {
            bail!(
                "entries {start}..{} are missing from the log",
                start + width
            );
        }
        Ok(entries
            .into_iter()
            .zip(leaves)
            .map(|(bytes, leaf)| ReplayItem {
                bytes,
                published_leaf: Some(leaf),
            })
            .collect())
    }
}

fn default_state_path(origin: &str) -> PathBuf {
    let name: String = origin
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| ".".into());
    home.join(".lodestone")
        .join("verify")
        .join(format!("{name}.json"))
}

fn load_seen(path: &Path) -> anyhow::Result<Option<SeenCheckpoint>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(serde_json::from_str(&text).with_context(|| {
            format!("the verify state file {} is corrupt", path.display())
        })?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn save_seen(path: &Path, seen: &SeenCheckpoint) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(seen)?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

/// Runs the full audit.
pub fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let policy = args.policy.as_deref().map(load_policy).transpose()?;
    let mut announced_checkpoint = None;
    let (source, announced_key) = match (&args.server, &args.data) {
        (Some(url), _) => {
            let client = Client::new(url);
            let info = client.get_json("/v1/log")?;
            let key = info["verifier_key"].as_str().map(str::to_owned);
            announced_checkpoint = info["checkpoint"].as_str().map(str::to_owned);
            (Source::Server(client), key)
        }
        (None, Some(dir)) => {
            let layout = DataDir::new(dir);
            // With --log-key, a damaged `log.pub` does not stop the audit (it is not trusted).
            let key = match std::fs::read_to_string(layout.log_pub()) {
                Ok(key) => key,
                Err(_) if args.log_key.is_some() => String::new(),
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("{} holds no ledger (no log.pub)", dir.display()))
                }
            };
            // Read-only: no lock, no state; a running server may keep appending meanwhile.
            let store = layout
                .clone()
                .with_store(args.store.clone())
                .open_store_read_only()
                .with_context(|| format!("cannot open the ledger in {}", dir.display()))?;
            (Source::Data(store), Some(key.trim().to_owned()))
        }
        (None, None) => unreachable!("clap requires --server or --data"),
    };

    // A log serving witnessed checkpoints answers 503 at /checkpoint until one has a quorum;
    // with a policy, judge the log's own latest checkpoint instead (and refuse it below).
    let note = match (source.checkpoint(), &policy, announced_checkpoint) {
        (Ok(note), _, _) => note,
        (Err(_), Some(_), Some(own)) => own,
        (Err(e), _, _) => return Err(e),
    };
    let origin = note.lines().next().unwrap_or_default().to_owned();
    let state_path = args
        .state
        .clone()
        .unwrap_or_else(|| default_state_path(&origin));
    let seen = load_seen(&state_path)?;
    let (key_text, trust) = match (&args.log_key, &seen, &announced_key) {
        (Some(k), _, _) => (k.trim().to_owned(), "given with --log-key"),
        (None, Some(s), _) => (s.verifier_key.clone(), "remembered from an earlier run"),
        (None, None, Some(k)) if args.data.is_some() => (k.clone(), "the ledger's log.pub"),
        (None, None, Some(k)) => {
            eprintln!(
                "warning: no --log-key given; trusting the key the server announces on first use"
            );
            (k.clone(), "announced by the server (first use)")
        }
        (None, None, None) => bail!("no log key: give --log-key"),
    };
    // Without --log-key, a remembered key that is not the one the ledger or server announces
    // means a re-created log (or another log under the same name): say so, with the way out,
    // before the checkpoint fails under the old key in words that read like tampering.
    if let (None, Some(s), Some(announced)) = (&args.log_key, &seen, &announced_key) {
        if &s.verifier_key != announced {
            return Err(key_differs(&state_path, &s.verifier_key));
        }
    }
    let verifier = NoteVerifier::from_text(&key_text).context("the log key")?;
    let checkpoint = Checkpoint::open(&note, &verifier).with_context(|| match source {
        Source::Server(_) => "the log's checkpoint is not validly signed by the log key",
        Source::Data(_) => "the log's latest checkpoint (the last slot of log file `checkpoints`) is not validly signed by the log key",
    })?;
    let witnesses = match &policy {
        Some(policy) => match policy.verify_checkpoint_of(&note, &verifier) {
            Ok(w) => Some(w.cosigned.into_iter().map(|(n, _)| n).collect::<Vec<_>>()),
            Err(e) => {
                if args.json {
                    output::json(&json!({
                        "verified": false,
                        "origin": checkpoint.origin,
                        "size": checkpoint.size,
                        "error": e.to_string(),
                        "missing_witnesses": missing_witnesses(&e),
                    }));
                } else {
                    crate::say!("verify: FAILED");
                    crate::say!("  the checkpoint is refused by the witness policy: {e}");
                }
                return Ok(ExitCode::from(1));
            }
        },
        None => None,
    };
    if let Some(s) = &seen {
        if s.verifier_key != key_text {
            return Err(key_differs(&state_path, &s.verifier_key));
        }
    }

    let progress = ProgressBar::new(checkpoint.size).with_style(
        ProgressStyle::with_template(
            "{spinner} replaying {pos}/{len} entries [{bar:40}] {per_sec} ETA {eta}",
        )
        .expect("static template")
        .progress_chars("=> "),
    );
    // Fetch, decode and batch-verify the next step while this one is applied.
    let fetch = |start: u64, end: u64| -> anyhow::Result<Vec<ReplayItem>> {
        let mut items = Vec::with_capacity((end - start) as usize);
        let mut at = start;
        while at < end {
            let width = (TILE_WIDTH - at % TILE_WIDTH).min(end - at);
            items.extend(source.chunk(at, width)?);
            at += width;
        }
        Ok(items)
    };
    let lost = match &source {
        Source::Data(store) => data::lost_entries(store),
        Source::Server(_) => None,
    };
    let outcome = if let Some(damage) = lost {
        Err(Failure::from(damage))
    } else {
        let (replay, outcome) =
            replay_log(checkpoint.size, fetch, |done| progress.set_position(done));
        match outcome {
            Ok(()) => replay
                .finish(
                    checkpoint.size,
                    checkpoint.root,
                    seen.as_ref().map(|s| (s.size, s.root)),
                )
                .map_err(Failure::from)
                .and_then(|()| match &source {
                    Source::Data(store) => {
                        data::check_tree(store, &replay, checkpoint.size).map_err(Failure::from)
                    }
                    Source::Server(_) => Ok(()),
                }),
            Err(ReplayRunError::Replay(e)) => Err(Failure::from(e)),
            Err(ReplayRunError::Fetch(e)) => match e.downcast::<data::Damage>() {
                Ok(damage) => Err(Failure::from(damage)),
                Err(e) => return Err(e),
            },
        }
    };
    progress.finish_and_clear();

    match outcome {
        Ok(()) => {
            save_seen(
                &state_path,
                &SeenCheckpoint {
                    origin: checkpoint.origin.clone(),
                    verifier_key: key_text,
                    size: checkpoint.size,
                    root: checkpoint.root,
                    checkpoint: note.clone(),
                },
            )?;
            let consistency = match &seen {
                Some(s) => format!(
                    "consistent with the checkpoint of size {} seen before",
                    s.size
                ),
                None => "no earlier checkpoint to compare (first run)".to_owned(),
            };
            if args.json {
                output::json(&json!({
                    "verified": true,
                    "origin": checkpoint.origin,
                    "size": checkpoint.size,
                    "root": checkpoint.root,
                    "previous_size": seen.as_ref().map(|s| s.size),
                    "log_key": trust,
                    "witnesses": witnesses,
                }));
            } else {
                crate::say!("verify: OK");
                output::fields(&[
                    ("log", checkpoint.origin.clone()),
                    (
                        "entries",
                        format!(
                            "{} replayed: signatures, hash chain and every ledger rule",
                            checkpoint.size
                        ),
                    ),
                    (
                        "root",
                        format!(
                            "{} matches the signed checkpoint",
                            checkpoint.root.to_base64()
                        ),
                    ),
                    ("history", consistency),
                    ("log key", trust.to_owned()),
                    (
                        "witnesses",
                        witnesses
                            .as_ref()
                            .map_or("no policy given".to_owned(), |w| {
                                format!("quorum met, cosigned by {}", w.join(", "))
                            }),
                    ),
                ]);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(failure) => {
            if args.json {
                let mut report = json!({
                    "verified": false,
                    "origin": checkpoint.origin,
                    "size": checkpoint.size,
                    "failed_entry": failure.index,
                    "error": failure.error,
                });
                if let Some(file) = failure.file {
                    report["file"] = json!(format!("log/{file}"));
                }
                output::json(&report);
            } else {
                crate::say!("verify: FAILED");
                crate::say!("  {}", failure.error);
                if let Some(index) = failure.index {
                    crate::say!("  first bad entry: {index}");
                }
                if let Some(file) = failure.file {
                    crate::say!("  damaged file: log/{file}");
                }
            }
            Ok(ExitCode::from(1))
        }
    }
}

/// Why an audit failed: the first entry at fault, if one is, and the damaged log file, when a
/// data directory is audited.
struct Failure {
    index: Option<u64>,
    file: Option<&'static str>,
    error: String,
}

impl From<crate::audit::replay::ReplayError> for Failure {
    fn from(e: crate::audit::replay::ReplayError) -> Failure {
        Failure {
            index: e.index(),
            file: None,
            error: e.to_string(),
        }
    }
}

impl From<data::Damage> for Failure {
    fn from(d: data::Damage) -> Failure {
        Failure {
            index: d.index,
            file: Some(d.file),
            error: d.detail,
        }
    }
}

/// `lodestone verify-bundle`.
#[derive(Args, Debug)]
pub struct VerifyBundleArgs {
    /// The bundle file (from `GET /v1/batches/{id}/bundle`).
    pub bundle: PathBuf,
    /// The log's verifier key (`name+keyid+base64`, as in `log.pub`).
    #[arg(long, env = "LODESTONE_LOG_KEY")]
    pub log_key: String,
    /// A C2SP tlog-policy file: refuse the bundle unless its checkpoint carries the policy's
    /// quorum of witness cosignatures.
    #[arg(long, env = "LODESTONE_POLICY")]
    pub policy: Option<PathBuf>,
    /// A compliance policy (built-in name or JSON file, docs/COMPLIANCE.md) whose verdict is
    /// recomputed from the bundle's proven entries. (`--policy` here is the witness policy.)
    #[arg(long, value_name = "NAME|FILE")]
    pub compliance: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Checks a bundle offline.
pub fn verify_bundle(args: VerifyBundleArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read(&args.bundle)
        .with_context(|| format!("cannot read bundle {}", args.bundle.display()))?;
    let verifier = NoteVerifier::from_text(args.log_key.trim()).context("--log-key")?;
    let policy = args.policy.as_deref().map(load_policy).transpose()?;
    let compliance = args
        .compliance
        .as_deref()
        .map(super::report::load_compliance_policy)
        .transpose()?;
    let report = crate::audit::bundle::verify_bundle_json_full(
        &text,
        &verifier,
        policy.as_ref(),
        compliance.as_ref(),
    );
    if args.json {
        output::json(&serde_json::to_value(&report).expect("report serialises"));
    } else {
        crate::say!("{}", report.to_text().trim_end());
    }
    Ok(if report.verified {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Reads and parses a C2SP tlog-policy file.
pub(super) fn load_policy(path: &Path) -> anyhow::Result<Policy> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the policy {}", path.display()))?;
    Policy::parse(&text).with_context(|| format!("the policy {}", path.display()))
}

/// The witnesses a policy refusal names.
fn missing_witnesses(e: &PolicyCheckError) -> Vec<String> {
    match e {
        PolicyCheckError::NoQuorum { missing, .. } => missing.clone(),
        _ => Vec::new(),
    }
}

/// The remembered key is not this log's: what that means and how to reset it.
fn key_differs(state_path: &Path, remembered: &str) -> anyhow::Error {
    anyhow!(
                "the log key differs from the one remembered in {path} for this origin ({remembered}): \
                 either the log was re-created under the same name (a new demo, a new test ledger) — then \
                 forget the old one with `rm {path}` (or keep both: pass --state FILE) and run this again — \
                 or this is not the log you audited before: do not trust it",
                path = state_path.display(),
                remembered = remembered,
    )
}
