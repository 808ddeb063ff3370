//! `lodestone loadgen` (hidden): appends synthetic extraction events straight through the
//! sequencer of a ledger directory, block by block, printing `acked <index>` for every entry once
//! its block is durable. Used by the crash-safety test (which kills it with SIGKILL at random
//! moments) and for quick local load.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use clap::Args;
use ed25519_dalek::SigningKey;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::model::envelope::Envelope;
use crate::model::event::Event;
use crate::model::keys::SecretKeyFile;
use crate::model::PublicKey;
use crate::sequencer::Submission;
use crate::service::{DataDir, LogService};
use crate::store::read_secret_file;

/// `lodestone loadgen`.
#[derive(Args, Debug)]
pub struct LoadgenArgs {
    /// The ledger's data directory (created by `init`).
    #[arg(long)]
    pub data: PathBuf,
    /// The ledger's log is in this PostgreSQL database (`init --store`).
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// How many blocks to append.
    #[arg(long, default_value_t = 100)]
    pub blocks: u64,
    /// Entries per block.
    #[arg(long, default_value_t = 10)]
    pub block_size: u64,
}

const MINER: &str = "loadgen-mining";
const MINE: &str = "loadgen-mine";

fn miner_key() -> SigningKey {
    SigningKey::from_bytes(&Sha256::digest(b"lodestone-loadgen-key:loadgen-mining").into())
}

fn submission(payload: serde_json::Value, key: &SigningKey) -> anyhow::Result<Submission> {
    let bytes = serde_json::to_vec(&payload)?;
    let event = Event::from_json(&bytes)?;
    let envelope = Envelope::sign(bytes, &[key])?;
    Ok(Submission { envelope, event })
}

/// Appends the synthetic blocks.
pub fn loadgen(args: LoadgenArgs) -> anyhow::Result<ExitCode> {
    let layout = DataDir::new(&args.data).with_store(args.store.clone());
    let (file, authority_key) = SecretKeyFile::parse(&read_secret_file(&layout.authority_key())?)
        .context("the ledger's authority key")?;
    let authority = file.actor.context("the authority key names no actor")?;
    let service = LogService::open(&layout)?;
    let handle = service.handle();
    let log = service.origin().to_owned();
    let now = || chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let run = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let miner = miner_key();
    let mut stdout = std::io::stdout().lock();

    let register = submission(
        json!({
            "kind": "register_actor", "id": format!("loadgen-register-{run}"),
            "actor": authority, "log": log, "occurred_at": now(), "subject": MINER,
            "name": "Synthetic Mining Co.", "country": "CN", "roles": ["miner"],
            "sites": [{"id": MINE, "name": "Synthetic mine", "country": "CN", "kind": "mine"}],
            "public_keys": [PublicKey::new(miner.verifying_key())], "prefixes": ["LOAD-"],
        }),
        &authority_key,
    )?;
    match handle.submit_blocking(vec![register]).pop() {
        Some(Ok(receipt)) => writeln!(stdout, "acked {}", receipt.index)?,
        // Already registered by an earlier run: that is fine.
        Some(Err(crate::sequencer::SequencerError::Rejected(e))) if e.code() == "actor_exists" => {}
        Some(Err(e)) => bail!("registering the synthetic miner: {e}"),
        None => bail!("no answer from the sequencer"),
    }
    stdout.flush()?;

    for block in 0..args.blocks {
        let submissions = (0..args.block_size)
            .map(|i| {
                submission(
                    json!({
                        "kind": "extract", "id": format!("loadgen-{run}-{block}-{i}"),
                        "actor": MINER, "log": log, "occurred_at": now(), "site": MINE,
                        "batch": format!("LOAD-{run}-{block}-{i}"), "form": "ore",
                        "mass_g": 1_000_000 + i,
                    }),
                    &miner,
                )
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        for outcome in handle.submit_blocking(submissions) {
            let receipt = outcome.context("appending a synthetic block")?;
            writeln!(stdout, "acked {}", receipt.index)?;
        }
        stdout.flush()?;
    }
    drop(handle);
    service.shutdown();
    Ok(ExitCode::SUCCESS)
}
