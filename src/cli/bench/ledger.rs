//! Ledgers for the benchmark: a fresh ledger with the synthetic world registered, appends
//! straight through the sequencer (no HTTP), the full replay audit as `lodestone verify --data`
//! runs it, a census of the sled keys, the upstream DAG walk, and the open-time measurement in a
//! fresh process.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use serde_json::{json, Value};

use crate::audit::replay::{replay_log, ReplayItem, ReplayRunError};
use crate::ledger::{BatchOrigin, StateView};
use crate::log::checkpoint::Checkpoint;
use crate::log::note::NoteVerifier;
use crate::log::tree::inclusion_proof;
use crate::model::ids::{ActorId, BatchId};
use crate::model::keys::SecretKeyFile;
use crate::sequencer::{SequencerHandle, Submission, MAX_BLOCK};
use crate::service::{DataDir, InitOptions, LogService};
use crate::store::{read_secret_file, Store};
use crate::synth::{Lane, SplitMix64, SyntheticEvent, World};

use super::{proc_status_kib, rate};

/// A ledger with its sequencer running.
pub struct Ledger {
    /// Its directory.
    pub dir: DataDir,
    /// The open service.
    pub service: LogService,
}

/// Signs synthetic events (on all cores) and pairs them with their parsed events.
pub fn submissions(world: &World, events: Vec<SyntheticEvent>) -> Vec<Submission> {
    let envelopes = world.sign_all(&events);
    envelopes
        .into_iter()
        .zip(events)
        .map(|(envelope, e)| Submission {
            envelope,
            event: e.event,
        })
        .collect()
}

/// Appends through the sequencer and fails on the first refusal.
pub fn append(handle: &SequencerHandle, submissions: Vec<Submission>) -> anyhow::Result<()> {
    for outcome in handle.submit_blocking(submissions) {
        outcome.context("the sequencer refused a synthetic event")?;
    }
    Ok(())
}

/// `init` in `root`, open it, and register every actor of `world`.
pub fn create(root: &Path, world: &World) -> anyhow::Result<Ledger> {
    create_in(DataDir::new(root), world)
}

/// `init` in `dir` (its log in the embedded store or in PostgreSQL), open it, and register every
/// actor of `world`.
pub fn create_in(dir: DataDir, world: &World) -> anyhow::Result<Ledger> {
    LogService::init(&dir, &InitOptions::default())?;
    let (file, key) = SecretKeyFile::parse(&read_secret_file(&dir.authority_key())?)?;
    let authority = ActorId::new(file.actor.context("the authority key names no actor")?)?;
    let service = LogService::open(&dir)?;
    let registrations = world
        .registrations(&authority, &key)
        .into_iter()
        .map(|envelope| {
            let event = crate::model::event::Event::from_json(&envelope.payload)?;
            Ok(Submission { envelope, event })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    append(&service.handle(), registrations)?;
    Ok(Ledger { dir, service })
}

/// Appending a large ledger straight through the sequencer.
pub struct Build {
    /// Entries appended.
    pub entries: u64,
    /// Wall time of the whole build, seconds (client signing included).
    pub seconds: f64,
    /// Entries per second of the first, pre-signed part: the sequencer alone, no HTTP.
    pub direct_per_sec: f64,
    /// Entries in that pre-signed part.
    pub direct_sample: u64,
}

/// Appends `entries` synthetic events in blocks of [`MAX_BLOCK`] from `threads` lanes
/// (`first_lane..`): first a pre-signed sample (timed alone: the sequencer's own rate), then the
/// rest signed on the fly, block by block, while other threads' blocks are being committed.
pub fn build(
    world: &World,
    handle: &SequencerHandle,
    entries: u64,
    first_lane: u32,
    threads: usize,
) -> anyhow::Result<Build> {
    let per_thread = entries / threads as u64;
    let sample_blocks = 4usize;
    let mut lanes: Vec<Lane<'_>> = (0..threads as u32)
        .map(|t| world.lane(first_lane + t))
        .collect();
    let presigned: Vec<Vec<Vec<Submission>>> = lanes
        .iter_mut()
        .map(|lane| {
            let take = (sample_blocks * MAX_BLOCK).min(per_thread as usize);
            let events: Vec<SyntheticEvent> = lane.by_ref().take(take).collect();
            let mut subs = submissions(world, events);
            let mut blocks = Vec::new();
            while !subs.is_empty() {
                let rest = subs.split_off(subs.len().min(MAX_BLOCK));
                blocks.push(std::mem::replace(&mut subs, rest));
            }
            blocks
        })
        .collect();
    let direct_sample: u64 = presigned.iter().flatten().map(|b| b.len() as u64).sum();
    let start = Instant::now();
    let results: Vec<anyhow::Result<Duration>> = thread::scope(|scope| {
        let workers: Vec<_> = lanes
            .into_iter()
            .zip(presigned)
            .map(|(mut lane, blocks)| {
                scope.spawn(move || -> anyhow::Result<Duration> {
                    let mut done = 0u64;
                    for block in blocks {
                        done += block.len() as u64;
                        append(handle, block)?;
                    }
                    let sampled = start.elapsed();
                    while done < per_thread {
                        let take = (per_thread - done).min(MAX_BLOCK as u64) as usize;
                        let events: Vec<SyntheticEvent> = lane.by_ref().take(take).collect();
                        append(handle, submissions(world, events))?;
                        done += take as u64;
                    }
                    Ok(sampled)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("build thread"))
            .collect()
    });
    let mut sampled = Duration::ZERO;
    for r in results {
        sampled = sampled.max(r?);
    }
    Ok(Build {
        entries: per_thread * threads as u64,
        seconds: start.elapsed().as_secs_f64(),
        direct_per_sec: rate(direct_sample as usize, sampled),
        direct_sample,
    })
}

/// The full replay audit over a closed ledger, exactly as `lodestone verify --data` runs it.
pub struct ReplayFigures {
    /// Entries replayed.
    pub entries: u64,
    /// Wall time, seconds.
    pub seconds: f64,
    /// Entries per second.
    pub per_sec: f64,
    /// Of which reading entries and leaf hashes from sled, seconds.
    pub read_seconds: f64,
    /// Total bytes of the entries (the Merkle leaves).
    pub leaf_bytes: u64,
}

/// Opens the ledger's store, replays every entry in tile-sized chunks (decode, hash chain,
/// published leaf hashes, batch signature verification, every ledger rule) and checks the root
/// against the signed checkpoint.
pub fn replay(dir: &DataDir) -> anyhow::Result<ReplayFigures> {
    let key = std::fs::read_to_string(dir.log_pub())?;
    let verifier = NoteVerifier::from_text(key.trim())?;
    let start = Instant::now();
    let store = Store::open(dir.root())?;
    let head = store.head()?.context("the ledger is empty")?;
    let checkpoint = Checkpoint::open(&head.checkpoint, &verifier)?;
    // Exactly as `lodestone verify --data`: the same pipelined replay over the same reads.
    let read = std::sync::Mutex::new(Duration::ZERO);
    let leaf_bytes = std::sync::atomic::AtomicU64::new(0);
    let fetch = |start: u64, end: u64| -> anyhow::Result<Vec<ReplayItem>> {
        let reading = Instant::now();
        let entries = store.entries(start, end)?;
        let leaves = store.node_row(0, start, end - start)?;
        *read.lock().expect("lock") += reading.elapsed();
        if entries.len() as u64 != end - start || leaves.len() as u64 != end - start {
            bail!("entries {start}..{end} are missing");
        }
        Ok(entries
            .into_iter()
            .zip(leaves)
            .map(|(bytes, leaf)| {
                leaf_bytes.fetch_add(bytes.len() as u64, std::sync::atomic::Ordering::Relaxed);
                ReplayItem {
                    bytes,
                    published_leaf: Some(leaf),
                }
            })
            .collect())
    };
    let (replay, outcome) = replay_log(checkpoint.size, fetch, |_| {});
    match outcome {
        Ok(()) => {}
        Err(ReplayRunError::Fetch(e)) => return Err(e),
        Err(ReplayRunError::Replay(e)) => return Err(e.into()),
    }
    let read = read.into_inner().expect("lock");
    let leaf_bytes = leaf_bytes.into_inner();
    replay.finish(checkpoint.size, checkpoint.root, None)?;
    let elapsed = start.elapsed();
    Ok(ReplayFigures {
        entries: checkpoint.size,
        seconds: elapsed.as_secs_f64(),
        per_sec: rate(checkpoint.size as usize, elapsed),
        read_seconds: read.as_secs_f64(),
        leaf_bytes,
    })
}

/// Keys and bytes (key + value) per one-byte key prefix of the store's sled tree.
pub fn census(dir: &DataDir) -> anyhow::Result<BTreeMap<char, (u64, u64)>> {
    let db = sled::Config::new()
        .path(dir.root().join("state"))
        .cache_capacity(32 * 1024 * 1024)
        .open()?;
    let mut classes = BTreeMap::new();
    for kv in db.iter() {
        let (k, v) = kv?;
        let class: &mut (u64, u64) = classes.entry(char::from(k[0])).or_default();
        class.0 += 1;
        class.1 += (k.len() + v.len()) as u64;
    }
    Ok(classes)
}

/// Walks a batch's upstream DAG through the store's batch records (what any provenance query
/// must at least read); returns how many batches it holds.
pub fn upstream(store: &Store, root: &BatchId) -> anyhow::Result<usize> {
    let mut seen = HashSet::new();
    let mut todo = vec![root.clone()];
    while let Some(id) = todo.pop() {
        if !seen.insert(id.clone()) {
            continue;
        }
        let batch = store
            .batch(&id)?
            .with_context(|| format!("batch {id} is missing"))?;
        if let BatchOrigin::Transformed { inputs, .. } = batch.origin {
            todo.extend(inputs.into_iter().map(|(b, _)| b));
        }
    }
    Ok(seen.len())
}

/// Runs `lodestone bench --open-only DIR` in a fresh process and returns its JSON.
pub fn open_in_child(dir: &DataDir) -> anyhow::Result<Value> {
    let exe = std::env::current_exe()?;
    let out = Command::new(exe)
        .args(["bench", "--open-only"])
        .arg(dir.root())
        .output()
        .context("running the open measurement")?;
    if !out.status.success() {
        bail!(
            "the open measurement failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// In a fresh process: times `Store::open` + `head()`, then serves 10,000 inclusion proofs and
/// entry reads straight from the store, and reports the process's memory.
pub fn open_only(root: &Path) -> anyhow::Result<Value> {
    let start = Instant::now();
    let store = Store::open(root)?;
    let opened = start.elapsed();
    let head = store.head()?.context("the ledger is empty")?;
    let ready = start.elapsed();
    let rss_after_open = proc_status_kib("VmRSS");
    let mut rng = SplitMix64::new(5);
    let reads = 10_000;
    let serving = Instant::now();
    for _ in 0..reads {
        let index = rng.below(head.size);
        inclusion_proof(index, head.size, &store)?;
        store.entry(index)?.context("entry")?;
    }
    let served = serving.elapsed();
    Ok(json!({
        "size": head.size,
        "open_ms": opened.as_secs_f64() * 1e3,
        "open_and_head_ms": ready.as_secs_f64() * 1e3,
        "rss_after_open_kib": rss_after_open,
        "proof_and_entry_reads_per_sec": rate(reads, served),
        "peak_rss_kib": proc_status_kib("VmHWM"),
        "size_on_disk": store.size_on_disk()?,
    }))
}
