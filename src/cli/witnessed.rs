//! `submit --wait-witnessed`: after the receipt, wait for the entry's offline proof against a
//! checkpoint with a witness quorum (`GET /v1/entries/{index}/proof`, c2sp.org/tlog-proof),
//! check it, and optionally save it as a `.tlog-proof` file.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use clap::Args;

use crate::log::hash::Hash;
use crate::log::note::NoteVerifier;
use crate::log::policy::Policy;
use crate::log::tlog_proof::TlogProof;

/// How `submit` waits for the witnessed proof.
#[derive(Args, Debug, Clone)]
pub struct WaitArgs {
    /// After the receipt, wait until a checkpoint with the witness quorum covers the entry and
    /// fetch its offline proof (`.tlog-proof`).
    #[arg(long)]
    pub wait_witnessed: bool,
    /// The witness policy (C2SP tlog-policy) the proof must satisfy; without it the proof is
    /// only checked against the log key (if given) and the entry.
    #[arg(long, env = "LODESTONE_POLICY")]
    pub policy: Option<PathBuf>,
    /// Write the proof to this file.
    #[arg(long)]
    pub proof_out: Option<PathBuf>,
    /// Give up waiting after this many seconds.
    #[arg(long, default_value_t = 60)]
    pub wait_timeout: u64,
}

/// A checked witnessed proof.
pub struct WitnessedProof {
    /// The proof text.
    pub text: String,
    /// Size of the checkpoint it is against.
    pub size: u64,
    /// The witnesses whose cosignatures verified (with a policy).
    pub cosigned: Vec<String>,
}

/// Polls `GET /v1/entries/{index}/proof` until it answers (503 `not_witnessed` means "not
/// yet"), then checks the proof binds `leaf` under the policy.
pub fn wait(
    server: &str,
    index: u64,
    leaf: &Hash,
    args: &WaitArgs,
    log_key: Option<&str>,
) -> anyhow::Result<WitnessedProof> {
    let policy = args
        .policy
        .as_deref()
        .map(super::verify::load_policy)
        .transpose()?;
    let log = log_key
        .map(|k| NoteVerifier::from_text(k.trim()).context("--log-key"))
        .transpose()?;
    let url = format!("{}/v1/entries/{index}/proof", server.trim_end_matches('/'));
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build();
    let deadline = Instant::now() + Duration::from_secs(args.wait_timeout);
    let text = loop {
        match agent.get(&url).call() {
            Ok(response) => break response.into_string().context("reading the proof")?,
            Err(ureq::Error::Status(503, _)) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(ureq::Error::Status(503, _)) => bail!(
                "no witnessed checkpoint covered entry {index} within {} s",
                args.wait_timeout
            ),
            Err(e) => return Err(anyhow!("GET {url}: {e}")),
        }
    };
    let proof = TlogProof::parse(&text).context("the server's proof")?;
    if proof.index != index {
        bail!("the proof is for entry {}, not {index}", proof.index);
    }
    let (size, cosigned) = match (&policy, &log) {
        (Some(policy), log) => {
            let witnessed = proof
                .verify(leaf, policy, log.as_ref())
                .context("the witnessed proof is refused")?;
            (
                witnessed.checkpoint.size,
                witnessed.cosigned.into_iter().map(|(n, _)| n).collect(),
            )
        }
        (None, Some(log)) => {
            let none = Policy::parse("quorum none\n").expect("literal policy");
            let checked = proof
                .verify(leaf, &none, Some(log))
                .context("the proof is refused")?;
            (checked.checkpoint.size, Vec::new())
        }
        (None, None) => bail!("--wait-witnessed needs --policy or --log-key to check the proof"),
    };
    if let Some(path) = &args.proof_out {
        std::fs::write(path, &text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(WitnessedProof {
        text,
        size,
        cosigned,
    })
}
