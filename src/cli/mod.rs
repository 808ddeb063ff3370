//! The `lodestone` command: argument parsing (clap) and one function per subcommand. The binary
//! (`main.rs`) only calls [`run`] and prints the error, if any, on one line.
//!
//! This is an edge of the system: it reads files, talks HTTP and prints. Errors here are
//! `anyhow` with context, because they end on a terminal, never in a caller that matches them.

mod backup;
mod backup_pg;
mod bench;
mod client;
pub mod config;
mod demo;
mod demo_dir;
mod epcis;
mod flows;
mod keys;
mod loadgen;
mod monitor;
mod output;
mod replica;
mod report;
mod submit;
mod verify;
mod witness;
mod witnessed;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// The default data directory.
pub const DEFAULT_DATA: &str = "./lodestone-data";
/// The default server address for clients.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

/// This build's version and the commit it was built from (`lodestone --version`).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("LODESTONE_COMMIT"),
    ")"
);

/// Lodestone — a verifiable provenance ledger for rare earths, from mine to magnet.
#[derive(Parser, Debug)]
#[command(name = "lodestone", version = VERSION, about, long_about = None)]
#[command(
    after_help = "Examples:\n  lodestone demo\n  lodestone verify --server http://127.0.0.1:8080 --log-key \"$(cat lodestone-data/demo/log.pub)\"\n\nStart with `lodestone demo`, then see README.md. `lodestone` is `cargo run --release --` from a clone, or on your PATH after `cargo install --path .`."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// How log lines (stderr) are written: `text` for people, `json` (one object per line, with
    /// the request's span fields) for log collectors.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value_t = crate::telemetry::LogFormat::Text,
        env = "LODESTONE_LOG_FORMAT"
    )]
    pub log_format: crate::telemetry::LogFormat,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a new ledger: log key, authority key and the genesis entry.
    #[command(
        after_help = "Example:\n  lodestone init --data ./lodestone-data --origin registry.example/rare-earths"
    )]
    Init(InitArgs),
    /// Run the HTTP verifier and write API on a ledger.
    #[command(
        after_help = "Example:\n  lodestone serve --data ./lodestone-data --addr 127.0.0.1:8080"
    )]
    Serve(ServeArgs),
    /// Create a participant's Ed25519 key file (mode 0600) and print its public key and key id.
    #[command(
        after_help = "Example:\n  lodestone keygen --out mp-materials.key --actor mp-materials"
    )]
    Keygen(keys::KeygenArgs),
    /// Authority: register a participant, update it, or revoke one of its keys.
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  lodestone register actor --help\n  lodestone register revoke --subject lynas --key-id <64 hex> --reason \"key file lost\""
    )]
    Register(submit::RegisterCommand),
    /// Sign an event (JSON file) with an actor's key and submit it.
    #[command(
        after_help = "Example:\n  lodestone submit extract.json --key mp-materials.key --server http://127.0.0.1:8080\n  lodestone submit extract.json --key mp-materials.key --dry-run"
    )]
    Submit(submit::SubmitArgs),
    /// Full audit: replay the whole log and check every entry, the tree and the checkpoint.
    #[command(
        after_help = "Examples:\n  lodestone verify --server http://127.0.0.1:8080\n  lodestone verify --data ./lodestone-data"
    )]
    Verify(verify::VerifyArgs),
    /// Check a batch's provenance bundle offline, with only the log's verifier key.
    #[command(name = "verify-bundle")]
    #[command(
        after_help = "Example:\n  lodestone verify-bundle magnet.bundle.json --log-key \"$(cat lodestone-data/log.pub)\""
    )]
    VerifyBundle(verify::VerifyBundleArgs),
    /// A batch's compliance verdicts (DFARS, friend-shore, EU CRMA) from its proven bundle; or
    /// `report flows`: an actor's monthly flow report (MIIT).
    #[command(
        after_help = "Examples:\n  lodestone report JLM-MAG-SH-2026-0001 --policy dfars-2027 --format markdown\n  lodestone report SE-MAG-GBD-2026-0001 --policy dfars-2026 --policy friend-shore --format csv\n  lodestone report MP-MAG-2026-0001 --policy my-policy.json --format json --log-key \"$(cat lodestone-data/log.pub)\"\n  lodestone report flows --actor northern-rare-earth --month 2026-03 --format csv\n\nExit status: 0 when no verdict fails, 1 when one fails. Policies: docs/COMPLIANCE.md."
    )]
    Report(report::ReportArgs),
    /// Create a fresh ledger, load the seed scenario through the HTTP API, and serve it.
    #[command(
        after_help = "Examples:\n  lodestone demo\n  lodestone demo --addr 127.0.0.1:8081      # when 8080 is taken\n  lodestone demo --no-serve                 # load it, then audit with verify --data"
    )]
    Demo(demo::DemoArgs),
    /// Measure ingest, proofs, replay and open time against this machine's raw limits.
    #[command(
        after_help = "Examples:\n  lodestone bench --quick\n  lodestone bench --out bench.json"
    )]
    Bench(bench::BenchArgs),
    /// Follow a log and its witnesses; report forks and rule violations with the evidence.
    #[command(
        after_help = "Example:\n  lodestone monitor --server http://127.0.0.1:8080 --policy witnesses.policy --state monitor.json --once"
    )]
    Monitor(monitor::MonitorArgs),
    /// Run a C2SP witness that cosigns the checkpoints of the logs it follows.
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  lodestone witness keygen --name witness.example/w1 --out w1.key\n  lodestone witness serve --key w1.key --log \"$(cat lodestone-data/log.pub)\" --data ./witness-data"
    )]
    Witness(witness::WitnessCommand),
    /// Copy a ledger's durable log and keys to a new directory, while it serves.
    #[command(
        after_help = "Example:\n  lodestone backup --data ./lodestone-data --out ./backups/2026-11-29"
    )]
    Backup(backup::BackupArgs),
    /// Bring a restored ledger forward to the checkpoint it signed, from a mirror or a copy.
    #[command(
        after_help = "Examples:\n  lodestone recover --data ./lodestone-data --from https://mirror.example/rare-earths\n  lodestone recover --data ./lodestone-data --from ./backups/newer-copy\n  lodestone recover --data ./keys --store postgres:///lodestone --from ./backups/2026-11-30"
    )]
    Recover(backup::RecoverArgs),
    /// Check a configuration file for `serve`, `witness serve` and `monitor`.
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  lodestone config check deploy/lodestone.toml\n  lodestone serve --config deploy/lodestone.toml"
    )]
    Config(config::ConfigCommand),
    /// GS1 EPCIS 2.0: import capture documents (export is on the server, docs/EPCIS.md).
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  lodestone epcis import capture.jsonld --key lynas.key --server http://127.0.0.1:8080 --dry-run\n  curl http://127.0.0.1:8080/v1/epcis/events?perPage=100"
    )]
    Epcis(epcis::EpcisCommand),
    /// Append synthetic extraction events directly (crash tests and quick load).
    #[command(hide = true)]
    Loadgen(loadgen::LoadgenArgs),
}

/// `lodestone init`.
#[derive(Args, Debug)]
pub struct InitArgs {
    /// Data directory for the new ledger.
    #[arg(long, default_value = DEFAULT_DATA, env = "LODESTONE_DATA")]
    pub data: PathBuf,
    /// Keep the log in this PostgreSQL database (`postgres://…`, `postgresql://…`, or a Unix
    /// socket as `postgres:///db?host=/run/postgresql`) instead of the data directory, which
    /// still holds the keys (docs/OPERATIONS.md).
    #[arg(long, env = "LODESTONE_STORE", value_name = "URL")]
    pub store: Option<String>,
    /// The log's origin line (checkpoint header and log key name).
    #[arg(long, default_value = "lodestone.example/rare-earths")]
    pub origin: String,
    /// Actor id of the ledger authority.
    #[arg(long, default_value = "authority")]
    pub authority: String,
    /// Display name of the authority.
    #[arg(long, default_value = "Rare Earth Provenance Registry")]
    pub authority_name: String,
    /// ISO 3166-1 country of the authority.
    #[arg(long, default_value = "CH")]
    pub authority_country: String,
    /// How many days before its signer's registration an event may be dated (fixed at genesis
    /// for the life of the ledger; at most 36,500) [default: 90]
    #[arg(long, value_name = "DAYS")]
    pub backfill_days: Option<u32>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `lodestone serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Data directory of the ledger.
    #[arg(long, default_value = DEFAULT_DATA, env = "LODESTONE_DATA")]
    pub data: PathBuf,
    /// Keep the log in this PostgreSQL database (`postgres://…`, `postgresql://…`, or a Unix
    /// socket as `postgres:///db?host=/run/postgresql`) instead of the data directory, which
    /// still holds the keys (docs/OPERATIONS.md).
    #[arg(long, env = "LODESTONE_STORE", value_name = "URL")]
    pub store: Option<String>,
    /// Serve the ledger in `--store` (a streaming replica) without writing it: every read
    /// route, following the replica as it replays; writes are refused (docs/OPERATIONS.md).
    #[arg(long, requires = "store")]
    pub read_only: bool,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", env = "LODESTONE_ADDR")]
    pub addr: SocketAddr,
    /// A C2SP tlog-policy file naming the witnesses (with URLs) and the quorum: the log sends
    /// them its checkpoints and serves the latest one with a quorum at /checkpoint.
    #[arg(long, env = "LODESTONE_WITNESS_POLICY")]
    pub witness_policy: Option<PathBuf>,
    /// Directory where the log's latest checkpoint is remembered, outside the data directory,
    /// so that a restored older copy refuses writes instead of signing a second history
    /// [default: $XDG_STATE_HOME/lodestone/checkpoints or ~/.local/state/lodestone/checkpoints]
    #[arg(long, env = "LODESTONE_CHECKPOINT_GUARD", value_name = "DIR")]
    pub checkpoint_guard: Option<PathBuf>,
    /// A TOML configuration file whose `[serve]` table sets any of these flags (flags and
    /// LODESTONE_* variables override it; docs/OPERATIONS.md).
    #[arg(long, env = "LODESTONE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// Runs one command; the error, if any, is printed by the caller.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Init(args) => demo::init(args),
        Command::Serve(args) => demo::serve(args),
        Command::Keygen(args) => keys::keygen(args),
        Command::Register(command) => submit::register(command),
        Command::Submit(args) => submit::submit(args),
        Command::Verify(args) => verify::verify(args),
        Command::VerifyBundle(args) => verify::verify_bundle(args),
        Command::Demo(args) => demo::demo(args),
        Command::Report(args) => report::report(args),
        Command::Bench(args) => bench::bench(args),
        Command::Witness(command) => witness::witness(command),
        Command::Monitor(args) => monitor::monitor(args),
        Command::Backup(args) => backup::backup(args),
        Command::Recover(args) => backup::recover(args),
        Command::Config(command) => config::check(command),
        Command::Epcis(command) => epcis::epcis(command),
        Command::Loadgen(args) => loadgen::loadgen(args),
    }
}
