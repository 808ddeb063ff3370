//! `lodestone witness keygen` and `lodestone witness serve`: run a C2SP witness
//! (docs/WITNESS.md).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use rand_core::OsRng;

use crate::log::cosignature::CosignatureSigner;
use crate::log::note::NoteVerifier;
use crate::store::{read_secret_file, write_secret_file};
use crate::witness::{server, Witness};

use super::demo::{runtime, shutdown_signal};
use super::output;

/// `lodestone witness ...`.
#[derive(Subcommand, Debug)]
pub enum WitnessCommand {
    /// Create a witness key (cosignature/v1, Ed25519) and print its verifier key.
    #[command(
        after_help = "Example:\n  lodestone witness keygen --name witness.example/w1 --out w1.key"
    )]
    Keygen(WitnessKeygenArgs),
    /// Serve a witness: POST /add-checkpoint for the logs given with --log.
    #[command(
        after_help = "Example:\n  lodestone witness serve --key w1.key --log \"$(cat lodestone-data/log.pub)\" --data ./witness-data --addr 127.0.0.1:8090"
    )]
    Serve(WitnessServeArgs),
}

/// `lodestone witness keygen`.
#[derive(Args, Debug)]
pub struct WitnessKeygenArgs {
    /// The witness's name (a schema-less URL, e.g. witness.example/w1).
    #[arg(long)]
    pub name: String,
    /// Where to write the secret key (mode 0600; never overwritten).
    #[arg(long)]
    pub out: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `lodestone witness serve`.
#[derive(Args, Debug)]
pub struct WitnessServeArgs {
    /// The witness key file written by `lodestone witness keygen`.
    #[arg(long, env = "LODESTONE_WITNESS_KEY")]
    pub key: PathBuf,
    /// A log's verifier key (`origin+keyid+base64`); repeat for every log this witness follows.
    #[arg(long = "log", required = true)]
    pub logs: Vec<String>,
    /// Where the witness keeps the latest checkpoint of each log.
    #[arg(long, default_value = "./witness-data", env = "LODESTONE_WITNESS_DATA")]
    pub data: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8090", env = "LODESTONE_WITNESS_ADDR")]
    pub addr: SocketAddr,
    /// A TOML configuration file whose `[witness]` table sets any of these flags (flags and
    /// LODESTONE_* variables override it; docs/OPERATIONS.md).
    #[arg(long, env = "LODESTONE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// Runs a witness subcommand.
pub fn witness(command: WitnessCommand) -> anyhow::Result<ExitCode> {
    match command {
        WitnessCommand::Keygen(args) => keygen(args),
        WitnessCommand::Serve(args) => serve(args),
    }
}

fn keygen(args: WitnessKeygenArgs) -> anyhow::Result<ExitCode> {
    let signer = CosignatureSigner::generate(&args.name, &mut OsRng)
        .with_context(|| format!("--name {:?}", args.name))?;
    write_secret_file(&args.out, &format!("{}\n", signer.to_text()))
        .with_context(|| format!("cannot create key file {}", args.out.display()))?;
    let vkey = signer.verifier().to_text();
    if args.json {
        output::json(
            &serde_json::json!({ "file": args.out, "name": args.name, "verifier_key": vkey }),
        );
    } else {
        output::fields(&[
            ("key file", format!("{} (mode 0600)", args.out.display())),
            ("verifier key", vkey.clone()),
        ]);
        crate::say!("\nPut it in the log's witness policy:\n  witness <name> {vkey} <url>");
    }
    Ok(ExitCode::SUCCESS)
}

/// Loads a witness key file.
pub fn load_key(path: &std::path::Path) -> anyhow::Result<CosignatureSigner> {
    let text = read_secret_file(path).context("cannot read the witness key")?;
    CosignatureSigner::from_text(text.trim()).with_context(|| format!("{}", path.display()))
}

fn serve(args: WitnessServeArgs) -> anyhow::Result<ExitCode> {
    let signer = load_key(&args.key)?;
    let logs = args
        .logs
        .iter()
        .map(|text| NoteVerifier::from_text(text.trim()).with_context(|| format!("--log {text:?}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let names: Vec<String> = logs.iter().map(|l| l.name().to_owned()).collect();
    let witness =
        Arc::new(Witness::open(signer, logs, &args.data).with_context(|| {
            format!("cannot open the witness state in {}", args.data.display())
        })?);
    tracing::info!(
        witness = witness.signer().name(),
        key = %witness.signer().verifier(),
        logs = %names.join(", "),
        "witness serving"
    );
    runtime()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .with_context(|| format!("cannot listen on {}", args.addr))?;
        crate::say!("listening on http://{}", listener.local_addr()?);
        server::serve(listener, witness, shutdown_signal())
            .await
            .context("witness server")
    })?;
    Ok(ExitCode::SUCCESS)
}
