//! `lodestone backup` and `lodestone recover`: a consistent copy of a live ledger, and bringing
//! a restored (older) copy forward to the checkpoint the log remembers, so that it never signs
//! a second history.
//!
//! `recover` fetches the missing entries from another copy (a data directory, or a server's
//! C2SP tiles), checks them against a checkpoint signed by this log's own key — the hash chain,
//! every leaf, the Merkle root at the checkpoint's size, and consistency with the remembered
//! checkpoint — appends them, and replays them into the state through the ledger's rules.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context as _};
use clap::Args;
use serde_json::json;

use super::client::Client;
use super::output;
use crate::log::checkpoint::Checkpoint;
use crate::log::hash::leaf_hash;
use crate::log::note::NoteVerifier;
use crate::log::tile::{decode_entry_bundle, TilePath, TILE_WIDTH};
use crate::model::entry::Entry;
use crate::service::DataDir;
use crate::store::{Block, CheckpointGuard, Head, Store};

/// `lodestone backup`.
#[derive(Args, Debug)]
pub struct BackupArgs {
    /// Data directory of the ledger (it may be serving).
    #[arg(long, default_value = super::DEFAULT_DATA, env = "LODESTONE_DATA")]
    pub data: PathBuf,
    /// The ledger's log is in this PostgreSQL database (the data directory holds its keys); the
    /// backup is written as an embedded data directory (docs/OPERATIONS.md).
    #[arg(long, env = "LODESTONE_STORE", value_name = "URL")]
    pub store: Option<String>,
    /// New directory to write the backup to (must not exist). It holds the secret keys: keep it
    /// as safe as the ledger.
    #[arg(long)]
    pub out: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `lodestone recover`.
#[derive(Args, Debug)]
pub struct RecoverArgs {
    /// Data directory of the restored ledger (not serving).
    #[arg(long, default_value = super::DEFAULT_DATA, env = "LODESTONE_DATA")]
    pub data: PathBuf,
    /// Where the missing entries come from: a server's URL (its tiles) or another copy's data
    /// directory.
    #[arg(long, value_name = "URL or DIR")]
    pub from: String,
    /// The ledger's log is in this PostgreSQL database (`init --store`). An empty database
    /// receives the whole log from the copy: a backup loaded back into PostgreSQL.
    #[arg(long, env = "LODESTONE_STORE", value_name = "URL")]
    pub store: Option<String>,
    /// The checkpoint guard directory (as given to `serve`).
    #[arg(long, env = "LODESTONE_CHECKPOINT_GUARD", value_name = "DIR")]
    pub checkpoint_guard: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `lodestone backup`.
pub fn backup(args: BackupArgs) -> anyhow::Result<ExitCode> {
    let size = match &args.store {
        Some(url) => super::backup_pg::backup(&args.data, url, &args.out)?,
        None => Store::backup(&args.data, &args.out).with_context(|| {
            format!(
                "cannot back up {} to {}",
                args.data.display(),
                args.out.display()
            )
        })?,
    };
    if args.json {
        output::json(&json!({"data": args.data, "out": args.out, "size": size}));
    } else {
        crate::say!(
            "Backed up {size} entries of {} to {} (the state is rebuilt from the log when the backup is opened).",
            args.data.display(),
            args.out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Another copy of the log.
enum Source {
    Server(Client),
    Data(Store),
}

impl Source {
    fn open(from: &str) -> anyhow::Result<Source> {
        if from.starts_with("http://") || from.starts_with("https://") {
            return Ok(Source::Server(Client::new(from)));
        }
        let path = PathBuf::from(from);
        if !path.is_dir() {
            bail!("--from {from}: neither an http(s) URL nor a directory");
        }
        Ok(Source::Data(Store::open_read_only(&path).with_context(
            || format!("cannot read the ledger copy in {from}"),
        )?))
    }

    fn checkpoint(&self) -> anyhow::Result<String> {
        match self {
            Source::Server(client) => client.get_text("/checkpoint"),
            Source::Data(store) => store
                .head()?
                .map(|h| h.checkpoint)
                .ok_or_else(|| anyhow!("the copy is empty")),
        }
    }

    /// Entries `start..end` of the copy, at most one tile's worth.
    fn entries(&self, start: u64, end: u64, size: u64) -> anyhow::Result<Vec<Vec<u8>>> {
        match self {
            Source::Data(store) => Ok(store.raw_entries(start, end)?),
            Source::Server(client) => {
                let tile = start / TILE_WIDTH;
                let width = (size - tile * TILE_WIDTH).min(TILE_WIDTH) as u16;
                let path = TilePath::Entries { index: tile, width }.to_path();
                let bundle = client
                    .get_bytes(&format!("/{path}"))?
                    .ok_or_else(|| anyhow!("the server has no {path}"))?;
                let all = decode_entry_bundle(&bundle)
                    .with_context(|| format!("{path} is not an entry bundle"))?;
                let from = (start - tile * TILE_WIDTH) as usize;
                let to = (end - tile * TILE_WIDTH) as usize;
                all.get(from..to)
                    .map(<[Vec<u8>]>::to_vec)
                    .ok_or_else(|| anyhow!("{path} holds {} entries", all.len()))
            }
        }
    }
}

/// The signed note with only the signature lines of the key named `name`.
fn own_signature_only(note: &str, name: &str) -> String {
    let Some((body, signatures)) = note.split_once("\n\n") else {
        return note.to_owned();
    };
    let prefix = format!("\u{2014} {name} ");
    let own: String = signatures
        .lines()
        .filter(|line| line.starts_with(&prefix))
        .map(|line| format!("{line}\n"))
        .collect();
    format!("{body}\n\n{own}")
}

/// Runs `lodestone recover`.
pub fn recover(args: RecoverArgs) -> anyhow::Result<ExitCode> {
    let dir = DataDir::new(&args.data).with_store(args.store.clone());
    let key_text = std::fs::read_to_string(dir.log_pub())
        .with_context(|| format!("{} holds no ledger (no log.pub)", args.data.display()))?;
    let verifier = NoteVerifier::from_text(key_text.trim())
        .map_err(|e| anyhow!("{}: {e}", dir.log_pub().display()))?;
    let store = dir.open_store().with_context(|| match &args.store {
        Some(url) => format!(
            "cannot open the ledger in {} (stop its server first)",
            crate::store::postgres::redacted(url)
        ),
        None => format!(
            "cannot open {} (stop the server first)",
            args.data.display()
        ),
    })?;
    let head = store.head()?.unwrap_or_else(Head::empty);
    let guard = args
        .checkpoint_guard
        .clone()
        .or_else(CheckpointGuard::default_dir)
        .map(|d| CheckpointGuard::new(&d, &verifier));
    let remembered = match &guard {
        Some(guard) => guard
            .load()?
            .map(|note| Checkpoint::open(&note, &verifier))
            .transpose()
            .map_err(|e| anyhow!("the remembered checkpoint does not verify: {e}"))?,
        None => None,
    };

    let source = Source::open(&args.from)?;
    let note = source.checkpoint()?;
    let target = Checkpoint::open(&note, &verifier)
        .map_err(|e| anyhow!("the copy's checkpoint is not signed by this log's key: {e}"))?;
    let needed = remembered
        .as_ref()
        .map_or(head.size, |r| r.size.max(head.size));
    if target.size < needed {
        bail!(
            "the copy holds {} entries, but this log needs {needed}: find a newer copy",
            target.size
        );
    }

    // Fetch and check everything before writing anything.
    let mut next = head.clone();
    let mut block = Block::default();
    let mut at = head.size;
    while at < target.size {
        let end = ((at / TILE_WIDTH + 1) * TILE_WIDTH).min(target.size);
        for bytes in source.entries(at, end, target.size)? {
            let entry = Entry::decode(&bytes).map_err(|e| anyhow!("entry {at}: {e}"))?;
            if entry.index != at || entry.prev != next.last_leaf {
                bail!("entry {at} of the copy does not continue this log's hash chain");
            }
            if entry.logged_at_ms < next.last_logged_at_ms {
                bail!("entry {at} of the copy goes back in time");
            }
            let leaf = leaf_hash(&bytes);
            next.frontier.append(leaf, &mut block.nodes);
            next.last_leaf = leaf;
            next.last_logged_at_ms = entry.logged_at_ms;
            next.size += 1;
            if let Some(r) = &remembered {
                if next.size == r.size && next.frontier.root() != r.root {
                    bail!(
                        "the copy's tree at size {} does not match the checkpoint this log remembers: it is another history",
                        r.size
                    );
                }
            }
            block.entries.push((at, bytes));
            at += 1;
        }
    }
    next.root = next.frontier.root();
    if next.root != target.root {
        bail!(
            "the copy's entries do not reproduce its checkpoint's root at size {}",
            target.size
        );
    }
    // Keep only the log's own signature: witnesses' cosignatures are not part of the log.
    next.checkpoint = own_signature_only(&note, verifier.name());
    let added = target.size - head.size;
    if added > 0 {
        store
            .import_block(&block, &next)
            .context("appending the recovered entries")?;
    }
    store.flush()?;
    if let Some(guard) = &guard {
        guard.remember(&note)?;
    }
    if args.json {
        output::json(
            &json!({"data": args.data, "from": args.from, "previous_size": head.size, "size": target.size}),
        );
    } else {
        crate::say!(
            "Recovered {added} entries: the log is at size {} again, consistent with its signed checkpoint.",
            target.size
        );
    }
    Ok(ExitCode::SUCCESS)
}
