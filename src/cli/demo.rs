//! `lodestone init`, `lodestone serve` and `lodestone demo`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, RwLock};

use anyhow::{bail, Context as _};
use clap::Args;
use serde_json::json;

use crate::http::{self, AppState};
use crate::log::policy::Policy;
use crate::model::keys::SecretKeyFile;
use crate::scenario::Scenario;
use crate::service::{DataDir, GuardSetting, InitOptions, LogService, OpenOptions};
use crate::store::postgres::replica::ReplicaStatus;
use crate::store::{read_secret_file, Health};
use crate::witness::cosigner::{self, CosignerOptions};

use super::client::Client;
use super::demo_dir;
use super::{output, InitArgs, ServeArgs};

/// `lodestone demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Data directory for the demo ledger: replaced on each run if an earlier demo made it;
    /// any other non-empty directory is refused.
    #[arg(long, default_value = "./lodestone-data/demo")]
    pub data: PathBuf,
    /// Address to serve on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Load the scenario, print the summary, and exit instead of serving.
    #[arg(long)]
    pub no_serve: bool,
}

/// Creates a ledger.
pub fn init(args: InitArgs) -> anyhow::Result<ExitCode> {
    let options = InitOptions {
        origin: args.origin,
        authority: args.authority,
        authority_name: args.authority_name,
        authority_country: args.authority_country,
        backfill_days: args.backfill_days,
    };
    let dir = DataDir::new(&args.data).with_store(args.store.clone());
    let report = LogService::init(&dir, &options).with_context(|| match &args.store {
        Some(url) => format!(
            "cannot create a ledger in {} (keys) and {} (log)",
            args.data.display(),
            crate::store::postgres::redacted(url)
        ),
        None => format!("cannot create a ledger in {}", args.data.display()),
    })?;
    if args.json {
        output::json(&json!({
            "data": args.data,
            "origin": report.origin,
            "verifier_key": report.verifier_key,
            "authority_key_file": report.authority_key,
            "genesis_index": report.genesis.index,
        }));
    } else {
        match &args.store {
            Some(url) => crate::say!(
                "Created a ledger: keys in {}, log in {}",
                args.data.display(),
                crate::store::postgres::redacted(url)
            ),
            None => crate::say!("Created a ledger in {}", args.data.display()),
        }
        output::fields(&[
            ("origin", report.origin),
            ("log key", report.verifier_key),
            (
                "authority key",
                format!(
                    "{} (mode 0600; keep it safe)",
                    report.authority_key.display()
                ),
            ),
            ("genesis", format!("entry {}", report.genesis.index)),
        ]);
        crate::say!(
            "\nNext: cargo run --release -- serve --data {}   (auditors need the log key above)",
            args.data.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Resolves on Ctrl-C or SIGTERM.
pub(super) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing queued writes");
}

/// Binds `addr` before anything else happens, so a taken port fails fast and changes nothing.
fn bind(addr: SocketAddr) -> anyhow::Result<std::net::TcpListener> {
    match std::net::TcpListener::bind(addr) {
        Ok(listener) => Ok(listener),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            let mut other = addr;
            other.set_port(0);
            bail!(
                "cannot listen on {addr}: the port is already in use (another `lodestone demo` or server?); nothing was changed: choose another with --addr, e.g. --addr {other} for any free port"
            )
        }
        Err(e) => Err(e).with_context(|| format!("cannot listen on {addr}")),
    }
}

/// Serves `service` on the bound `listener` until Ctrl-C/SIGTERM; `ready` runs once it serves.
fn serve_until_signal(
    service: LogService,
    listener: std::net::TcpListener,
    policy: Option<Policy>,
    replica: Option<Arc<RwLock<ReplicaStatus>>>,
    ready: impl FnOnce(SocketAddr) -> anyhow::Result<()> + Send + 'static,
) -> anyhow::Result<()> {
    let rt = runtime()?;
    let mut state = AppState::new(&service);
    state.replica = replica;
    // Before the connection cap is sized: it is kept below the descriptor limit.
    http::server::raise_descriptor_limit();
    let config = http::ServeConfig::default();
    rt.block_on(async move {
        if let Some(policy) = policy {
            let cosigner = cosigner::spawn(
                policy,
                state.sequencer.clone(),
                state.store.clone(),
                CosignerOptions::default(),
            );
            state = state.with_witnessing(cosigner);
        }
        listener
            .set_nonblocking(true)
            .context("cannot configure the listening socket")?;
        let listener = tokio::net::TcpListener::from_std(listener)
            .context("cannot configure the listening socket")?;
        let local = listener.local_addr()?;
        crate::say!("listening on http://{local}");
        let server = tokio::spawn(http::serve_with(listener, state, config, shutdown_signal()));
        tokio::task::spawn_blocking(move || ready(local))
            .await
            .context("startup task")??;
        server.await.context("server task")?.context("server")?;
        anyhow::Ok(())
    })?;
    service.shutdown();
    Ok(())
}

/// Runs the server.
pub fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let listener = bind(args.addr)?;
    let policy = args
        .witness_policy
        .as_deref()
        .map(super::verify::load_policy)
        .transpose()?;
    let options = OpenOptions {
        guard: args
            .checkpoint_guard
            .clone()
            .map_or(GuardSetting::Default, GuardSetting::Dir),
        read_only: args.read_only,
    };
    let dir = DataDir::new(&args.data).with_store(args.store.clone());
    let service = LogService::open_with(&dir, &options).with_context(|| match &args.store {
        Some(url) => format!(
            "cannot open the ledger in {} (keys) and {} (log)",
            args.data.display(),
            crate::store::postgres::redacted(url)
        ),
        None => format!("cannot open the ledger in {}", args.data.display()),
    })?;
    if let Some(policy) = &policy {
        if !policy.logs.is_empty() && policy.log_for(service.origin()).is_none() {
            bail!(
                "the witness policy lists no log with origin {}; add `log {}` to it",
                service.origin(),
                service.verifier.to_text()
            );
        }
        tracing::info!(
            witnesses = policy.witnesses.iter().filter(|w| w.url.is_some()).count(),
            "gathering cosignatures"
        );
    }
    tracing::info!(
        origin = service.origin(),
        entries = service.handle().head().size,
        data = %args.data.display(),
        version = super::VERSION,
        "serving ledger"
    );
    if args.read_only {
        tracing::info!("read-only: serving the replica, refusing writes");
    } else if let Health::ReadOnly { reason } = service.store.health() {
        tracing::warn!(%reason, "read-only: writes are refused");
    }
    service.store.warm_up();
    let follower = match (&args.store, args.read_only) {
        (Some(url), true) => Some(super::replica::Follower::start(
            service.store.clone(),
            url,
            service.handle().follower(),
        )?),
        _ => None,
    };
    let replica = follower.as_ref().map(|f| Arc::clone(&f.status));
    let served = serve_until_signal(service, listener, policy, replica, |_| Ok(()));
    if let Some(follower) = follower {
        follower.stop();
    }
    served?;
    Ok(ExitCode::SUCCESS)
}

/// Loads the scenario through the HTTP API and prints what to try next.
fn load_scenario(url: &str, data: &Path, serving: bool) -> anyhow::Result<()> {
    let layout = DataDir::new(data);
    let (file, authority_key) = SecretKeyFile::parse(&read_secret_file(&layout.authority_key())?)
        .context("the demo's authority key")?;
    let authority: crate::model::ids::ActorId = file
        .actor
        .context("the authority key names no actor")?
        .parse()
        .context("the authority key's actor id")?;
    let client = Client::new(url);
    let origin = client.get_json("/v1/log")?["origin"]
        .as_str()
        .context("the demo server's GET /v1/log has no origin")?
        .to_owned();
    // The scenario ends now: a ledger refuses events dated before their signer's registration
    // minus its backfill window, and the demo's ledger was created a moment ago.
    let now_ms = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or_default();
    let now = crate::model::ids::Timestamp::from_unix_millis(now_ms - now_ms % 1000)
        .context("the current time")?;
    let scenario = Scenario::builtin()
        .context("the built-in scenario")?
        .for_log(&origin)
        .rebased(&now)
        .context("moving the scenario to the present")?;
    let envelopes = scenario
        .envelopes(&authority, &authority_key)
        .context("signing the scenario")?;
    let body =
        json!({ "envelopes": envelopes.iter().map(|e| e.to_json_value()).collect::<Vec<_>>() });
    let (_, answer) = client.post_json("/v1/entries:batch", &serde_json::to_vec(&body)?)?;
    let rejected = answer["rejected"].as_u64().unwrap_or(0);
    if rejected > 0 {
        let first = answer["results"]
            .as_array()
            .and_then(|r| r.iter().find(|x| x.get("problem").is_some()))
            .map(|x| x["problem"]["detail"].to_string())
            .unwrap_or_default();
        bail!("{rejected} scenario events were rejected; first: {first}");
    }
    // Export controls (issue 17): what the ledger must refuse, refused.
    for (what, code, envelope) in scenario
        .refused_attempts()
        .context("signing the refused attempts")?
    {
        let body = json!({ "envelopes": [envelope.to_json_value()] });
        let (_, answer) = client.post_json("/v1/entries:batch", &serde_json::to_vec(&body)?)?;
        let result = &answer["results"][0];
        let got = result["problem"]["code"].as_str().unwrap_or_default();
        if got != code {
            bail!("{what}: expected `{code}`, got {result}");
        }
        crate::say!(
            "\n{what}: refused ({} {got}), as it should be:\n  {}",
            result["status"],
            result["problem"]["detail"].as_str().unwrap_or_default()
        );
    }
    let info = client.get_json("/v1/log")?;
    let log_key = info["verifier_key"].as_str().unwrap_or_default().to_owned();
    crate::say!(
        "\nLoaded the seed scenario: {} events from {} participants; the log has {} entries.",
        answer["accepted"],
        scenario.actors.len(),
        info["size"]
    );
    if !serving {
        crate::say!(
            "\nThe demo ledger is in {}. Audit it offline (replays every entry):",
            data.display()
        );
        crate::say!("  cargo run --release -- verify --data {}", data.display());
        crate::say!(
            "\nServe it with: cargo run --release -- serve --data {}",
            data.display()
        );
        return Ok(());
    }
    crate::say!("\nOpen in a browser:");
    crate::say!("  {url}/   the log, its participants and latest entries");
    for (label, batch) in Scenario::featured_batches() {
        crate::say!("  {url}/batches/{batch}   {}", label.replace('-', " "));
    }
    crate::say!("\nOr ask the API:");
    crate::say!("  curl -s {url}/checkpoint");
    if let Some((_, batch)) = Scenario::featured_batches().first() {
        crate::say!("  curl -s {url}/v1/batches/{batch}/provenance");
    }
    if let Some((_, batch)) = Scenario::featured_batches().first() {
        crate::say!("\nDownload a bundle and check it offline, with only the log key:");
        crate::say!("  curl -s {url}/v1/batches/{batch}/bundle > magnet.bundle.json");
        crate::say!(
            "  cargo run --release -- verify-bundle magnet.bundle.json --log-key '{log_key}'"
        );
    }
    crate::say!("\nAudit the whole log (replays every entry):");
    // The remembered checkpoint lives in the demo's directory, so it goes with the demo ledger
    // and a new demo (a new log key under the same origin) starts afresh.
    crate::say!(
        "  cargo run --release -- verify --server {url} --log-key '{log_key}' --state {}",
        data.join("verify-state.json").display()
    );
    crate::say!("\nPress Ctrl-C to stop.");
    Ok(())
}

/// `lodestone demo`: checks its port and its directory before it touches the disk
/// ([`demo_dir`]), then replaces the earlier demo ledger, marks the new one and loads it.
pub fn demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let listener = if args.no_serve {
        None
    } else {
        Some(bind(args.addr)?)
    };
    demo_dir::remove_previous(&args.data)?;
    let options = InitOptions {
        origin: "demo.lodestone.example/rare-earths".into(),
        ..InitOptions::default()
    };
    LogService::init(&DataDir::new(&args.data), &options)
        .with_context(|| format!("cannot create the demo ledger in {}", args.data.display()))?;
    demo_dir::mark(&args.data)?;
    let service = LogService::open(&DataDir::new(&args.data))?;
    let data = args.data.clone();
    let Some(listener) = listener else {
        let addr: SocketAddr = "127.0.0.1:0".parse().expect("literal address");
        let rt = runtime()?;
        let state = AppState::new(&service);
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind(addr).await?;
            let local = listener.local_addr()?;
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let server = tokio::spawn(http::serve(listener, state, async {
                let _ = stopped.await;
            }));
            let url = format!("http://{local}");
            let loaded =
                tokio::task::spawn_blocking(move || load_scenario(&url, &data, false)).await?;
            let _ = stop.send(());
            server.await??;
            loaded
        })?;
        service.shutdown();
        return Ok(ExitCode::SUCCESS);
    };
    serve_until_signal(service, listener, None, None, move |local| {
        load_scenario(&format!("http://{local}"), &data, true)
    })?;
    Ok(ExitCode::SUCCESS)
}
