//! `lodestone bench --store postgres://… [--replica postgres://…]` (issue 15): the ledger in
//! PostgreSQL beside the embedded default, against the raw limits of the same machine and the
//! same database server, taken in the same run.
//!
//! The section works in a scratch database it creates on that server (`CREATE DATABASE
//! lodestone_bench_<pid>_<n>`, so the URL's role needs `CREATEDB`) and drops when it ends; a
//! streaming replica sees the scratch database through replication, so `--replica` names the
//! same server as the replica's URL and the section switches the database name itself.
//!
//! 1. **raw limits**: Ed25519 batch verification on all cores, and PostgreSQL's own write limit:
//!    blocks of 1,000 rows of 600 bytes, one multi-row `INSERT` and one `COMMIT` each, with
//!    `synchronous_commit = on` (what the issue measured with pgbench, from a client here);
//! 2. **durable ingest over HTTP**, the same signed events posted the same way (4 clients ×
//!    1,000 envelopes per request) to a fresh embedded ledger and to a fresh PostgreSQL ledger,
//!    each served in this process on 127.0.0.1:0;
//! 3. **inclusion proofs from a read-only server on the replica**: the real binary,
//!    `lodestone serve --read-only --store <replica>`, in its own process, once the replica has
//!    replayed the whole log (its first second, while it reads the tree into its node cache,
//!    reported apart);
//! 4. **replication lag under load**: more ingest on the primary while the read-only server
//!    answers proofs, the replica's lag (seconds, WAL bytes, entries behind the primary's head)
//!    sampled every 100 ms, and what `/readyz` of the read-only server said meanwhile.

use std::ffi::OsStr;
use std::str::FromStr as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use postgres::{Client, Config, NoTls};
use serde_json::json;

use crate::http::{self, AppState};
use crate::service::DataDir;
use crate::store::postgres::replica::ReplicaProbe;
use crate::synth::{SplitMix64, World};

use super::child::ChildServer;
use super::report::{thousands, Report};
use super::{ledger, load, median, rate, raw};

/// Rows per raw block, and their size: what the pgbench figure used.
const RAW_ROWS: usize = 1_000;
const RAW_ROW_BYTES: usize = 600;
/// Envelopes per bulk request, and bulk clients.
const PER_REQUEST: usize = 1_000;
const CLIENTS: u32 = 4;
/// Concurrent proof clients.
const PROOF_CLIENTS: usize = 16;

/// Sample sizes of the section.
pub struct StorePlan {
    events: usize,
    raw_blocks: usize,
    verify_sample: usize,
    proof_seconds: f64,
}

impl StorePlan {
    /// The full section, or a smoke run with `quick`; `events` overrides the ingest sample.
    pub fn new(quick: bool, events: Option<usize>) -> StorePlan {
        StorePlan {
            events: events.unwrap_or(if quick { 8_000 } else { 40_000 }),
            raw_blocks: if quick { 20 } else { 100 },
            verify_sample: if quick { 4_096 } else { 16_384 },
            proof_seconds: if quick { 2.0 } else { 5.0 },
        }
    }
}

/// `url` with its database name replaced by `name` (`postgres://u@h:5432/db?x=y`,
/// `postgres:///db?host=/run/pg`).
pub fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (body, query) = match rest.split_once('?') {
        Some((body, query)) => (body, Some(query)),
        None => (rest, None),
    };
    let authority = body
        .split_once('/')
        .map_or(body, |(authority, _)| authority);
    let mut out = format!("{scheme}://{authority}/{name}");
    if let Some(query) = query {
        // A `dbname=` parameter would override the path: drop it.
        let kept: Vec<&str> = query
            .split('&')
            .filter(|p| !p.starts_with("dbname="))
            .collect();
        if !kept.is_empty() {
            out.push('?');
            out.push_str(&kept.join("&"));
        }
    }
    out
}

fn connect(url: &str) -> anyhow::Result<Client> {
    let config = Config::from_str(url).context("not a PostgreSQL connection URL")?;
    let mut client = config
        .connect(NoTls)
        .with_context(|| format!("connecting to {}", crate::store::postgres::redacted(url)))?;
    client.batch_execute("SET synchronous_commit = on")?;
    Ok(client)
}

/// A database created for this run on the server of `admin`, dropped when this is dropped.
struct ScratchDatabase {
    admin: String,
    name: String,
}

impl ScratchDatabase {
    fn create(admin: &str) -> anyhow::Result<ScratchDatabase> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!("lodestone_bench_{}_{nanos}", std::process::id());
        connect(admin)?
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .with_context(|| {
                format!("creating the scratch database {name} (the role needs CREATEDB)")
            })?;
        Ok(ScratchDatabase {
            admin: admin.to_owned(),
            name,
        })
    }

    fn url(&self, server: &str) -> String {
        with_database(server, &self.name)
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let dropped = connect(&self.admin).and_then(|mut c| {
            Ok(c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))?)
        });
        if let Err(e) = dropped {
            eprintln!(
                "bench: could not drop the scratch database {}: {e:#}",
                self.name
            );
        }
    }
}

/// PostgreSQL's own durable write rate from this client.
struct RawRows {
    per_sec: f64,
    block_ms: f64,
}

/// Blocks of [`RAW_ROWS`] rows of [`RAW_ROW_BYTES`], one transaction each, `synchronous_commit`
/// on; the rows are made before each clock starts.
fn raw_rows(url: &str, blocks: usize) -> anyhow::Result<RawRows> {
    let mut client = connect(url)?;
    client.batch_execute("CREATE TABLE raw_rows (id bigint PRIMARY KEY, bytes bytea NOT NULL)")?;
    let mut rng = SplitMix64::new(600);
    let mut times = Vec::with_capacity(blocks);
    let mut total = Duration::ZERO;
    for block in 0..blocks {
        let ids: Vec<i64> = (0..RAW_ROWS as i64)
            .map(|i| (block * RAW_ROWS) as i64 + i)
            .collect();
        let rows: Vec<Vec<u8>> = (0..RAW_ROWS)
            .map(|_| {
                (0..RAW_ROW_BYTES / 8)
                    .flat_map(|_| rng.next_u64().to_le_bytes())
                    .collect()
            })
            .collect();
        let start = Instant::now();
        let mut tx = client.transaction()?;
        tx.execute(
            "INSERT INTO raw_rows SELECT * FROM unnest($1::bigint[], $2::bytea[])",
            &[&ids, &rows],
        )?;
        tx.commit()?;
        let took = start.elapsed();
        total += took;
        times.push(took.as_secs_f64() * 1e3);
    }
    client.batch_execute("DROP TABLE raw_rows")?;
    Ok(RawRows {
        per_sec: rate(blocks * RAW_ROWS, total),
        block_ms: median(times),
    })
}

/// A ledger served in this process on 127.0.0.1:0 until dropped.
struct Served {
    ledger: ledger::Ledger,
    base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    runtime: tokio::runtime::Runtime,
}

impl Served {
    fn start(ledger: ledger::Ledger) -> anyhow::Result<Served> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("bench-server")
            .build()?;
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let base = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        runtime.spawn(http::serve(
            listener,
            AppState::new(&ledger.service),
            async {
                let _ = stopped.await;
            },
        ));
        Ok(Served {
            ledger,
            base,
            stop: Some(stop),
            runtime,
        })
    }

    fn size(&self) -> u64 {
        self.ledger.service.handle().head().size
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Let the server finish its answers before the runtime goes.
        self.runtime.block_on(async {
            tokio::time::sleep(Duration::from_millis(50)).await;
        });
    }
}

/// `lodestone serve --read-only` on the replica, in its own process; killed when dropped.
fn read_only_server(dir: &DataDir, replica: &str) -> anyhow::Result<ChildServer> {
    ChildServer::start(&[
        OsStr::new("--read-only"),
        OsStr::new("--store"),
        OsStr::new(replica),
        OsStr::new("--data"),
        dir.root().as_os_str(),
    ])
}

/// The size of the log in the database at `url` (0 before the first block).
fn stored_size(client: &mut Client) -> anyhow::Result<u64> {
    let row = client.query_opt("SELECT size FROM head", &[])?;
    Ok(row.map_or(0, |r| u64::try_from(r.get::<_, i64>(0)).unwrap_or(0)))
}

/// Waits until the replica at `url` holds a log of `size` entries.
fn await_replica(url: &str, size: u64) -> anyhow::Result<Duration> {
    let mut client = connect(url)?;
    let start = Instant::now();
    loop {
        // The scratch database reaches the replica with the primary's next WAL records.
        if stored_size(&mut client).unwrap_or(0) >= size {
            return Ok(start.elapsed());
        }
        if start.elapsed() > Duration::from_secs(120) {
            bail!("the replica did not reach size {size} within 2 minutes");
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// One reading of the replica during the loaded phase.
struct LagSample {
    /// The primary's measure (`pg_stat_replication.replay_lag`): from a commit flushed on the
    /// primary to its replay on the replica; 0 when the replica has replayed everything.
    seconds: f64,
    /// WAL the primary has written and the replica not yet replayed.
    bytes: u64,
    /// Entries the primary's head is ahead of the replica's.
    entries_behind: u64,
}

/// The replay lag of the slowest replica of the primary at `client`, as the primary sees it:
/// `(seconds, bytes)`; `None` when it has no replica, or the role may not see their positions
/// (without `pg_read_all_stats` the columns read as NULL).
fn replay_lag(client: &mut Client) -> anyhow::Result<Option<(f64, u64)>> {
    let row = client.query_opt(
        "SELECT coalesce(max(extract(epoch FROM replay_lag)), 0)::float8, \
                coalesce(max(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)), 0)::float8 \
         FROM pg_stat_replication HAVING count(replay_lsn) > 0",
        &[],
    )?;
    // Byte counts are whole and far below 2^53.
    Ok(row.map(|r| {
        (
            r.get::<_, f64>(0).max(0.0),
            r.get::<_, f64>(1).max(0.0) as u64,
        )
    }))
}

/// The posted bodies of `events` synthetic events from lanes `first..first + CLIENTS`.
fn bodies(world: &World, first: u32, events: usize) -> Vec<Vec<Vec<u8>>> {
    let per_lane = events.div_ceil(CLIENTS as usize);
    (first..first + CLIENTS)
        .map(|l| {
            world
                .lane(l)
                .signed(per_lane)
                .chunks(PER_REQUEST)
                .map(load::batch_body)
                .collect()
        })
        .collect()
}

fn warn_failures(phase: &str, l: &load::Load) {
    if l.failed > 0 {
        eprintln!(
            "bench: warning: {} {phase} requests failed; first: {}",
            l.failed,
            l.first_failure.as_deref().unwrap_or("?")
        );
    }
}

/// Runs the section (see the module documentation).
pub fn section(
    report: &mut Report,
    world: &World,
    scratch: &std::path::Path,
    url: &str,
    replica: Option<&str>,
    plan: &StorePlan,
) -> anyhow::Result<()> {
    let database = ScratchDatabase::create(url)?;
    let primary = database.url(url);
    let replica = replica.map(|r| database.url(r));
    eprintln!("bench: store: raw limits");
    let verify = raw::batch_verify(world, plan.verify_sample);
    let rows = raw_rows(&primary, plan.raw_blocks)?;
    report.section("raw limits (this machine, this database server, this run)");
    report.row(
        "ed25519 batch verify, all cores",
        format!("{} sig/s", thousands(verify.all_cores)),
        "",
        None,
    );
    report.row(
        "PostgreSQL: blocks of 1,000 rows × 600 B, one transaction each",
        format!("{} rows/s", thousands(rows.per_sec)),
        "",
        None,
    );
    report.row(
        "  one block, median",
        format!("{:.1} ms", rows.block_ms),
        "",
        None,
    );

    let posted = bodies(world, 0, plan.events);
    eprintln!("bench: store: embedded ledger, bulk ingest");
    let embedded = {
        let served = Served::start(ledger::create(&scratch.join("embedded"), world)?)?;
        load::bulk(&served.base, &posted)
    };
    warn_failures("embedded bulk", &embedded);
    eprintln!("bench: store: PostgreSQL ledger, bulk ingest");
    let dir = DataDir::new(scratch.join("postgres")).with_store(Some(primary.clone()));
    let served = Served::start(ledger::create_in(dir.clone(), world)?)?;
    let mut on_primary = connect(&primary)?;
    let wal_before: String = on_primary
        .query_one("SELECT pg_current_wal_lsn()::text", &[])?
        .get(0);
    let ingest = load::bulk(&served.base, &posted);
    let wal_bytes: f64 = on_primary
        .query_one(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::text::pg_lsn)::float8",
            &[&wal_before],
        )?
        .get(0);
    drop(on_primary);
    // What each event costs a streaming replica's link (and the WAL archive).
    let wal_per_event = wal_bytes / (ingest.ok as f64).max(1.0);
    warn_failures("PostgreSQL bulk", &ingest);
    drop(posted);

    report.section("durable ingest over HTTP (4 clients × 1,000 per request)");
    report.row(
        "embedded store (sled), same events",
        format!("{} ev/s", thousands(embedded.per_sec)),
        "",
        None,
    );
    report.row(
        "PostgreSQL store",
        format!("{} ev/s", thousands(ingest.per_sec)),
        "≥ 20,000 ev/s",
        Some(ingest.per_sec >= 20_000.0),
    );
    let to_verify = ingest.per_sec / verify.all_cores;
    report.row(
        "  ÷ raw batch verify",
        format!("{to_verify:.3}"),
        "≥ 0.15",
        Some(to_verify >= 0.15),
    );
    report.row(
        "  ÷ raw PostgreSQL rows",
        format!("{:.3}", ingest.per_sec / rows.per_sec),
        "",
        None,
    );
    report.row(
        "  ÷ embedded store",
        format!("{:.2}", ingest.per_sec / embedded.per_sec),
        "",
        None,
    );
    report.row(
        "  write-ahead log per event",
        format!("{:.0} B", wal_per_event),
        "",
        None,
    );
    report.row(
        "  request p50 / p99",
        format!("{:.0} / {:.0} ms", ingest.latency.p50, ingest.latency.p99),
        "",
        None,
    );

    let mut figures = json!({
        "raw": {
            "batch_verify_all_cores_per_sec": verify.all_cores,
            "postgres_rows_per_sec": rows.per_sec,
            "postgres_block_ms_p50": rows.block_ms,
            "postgres_block_rows": RAW_ROWS,
            "postgres_row_bytes": RAW_ROW_BYTES,
        },
        "ingest": {
            "events": plan.events,
            "embedded_per_sec": embedded.per_sec,
            "postgres_per_sec": ingest.per_sec,
            "postgres_failed": ingest.failed,
            "postgres_to_raw_verify": to_verify,
            "postgres_to_raw_rows": ingest.per_sec / rows.per_sec,
            "postgres_wal_bytes_per_event": wal_per_event,
        },
    });

    if let Some(replica) = &replica {
        replica_section(report, world, &served, &dir, replica, plan, &mut figures)?;
    } else {
        report.row(
            "inclusion proofs from a read-only server on a replica",
            "not run (no --replica)".into(),
            "≥ 10,000/s",
            None,
        );
    }
    drop(served);
    report.put("store", figures);
    drop(database);
    Ok(())
}

fn replica_section(
    report: &mut Report,
    world: &World,
    served: &Served,
    dir: &DataDir,
    replica: &str,
    plan: &StorePlan,
    figures: &mut serde_json::Value,
) -> anyhow::Result<()> {
    let size = served.size();
    eprintln!("bench: store: waiting for the replica to reach size {size}");
    let caught_up = await_replica(replica, size)?;
    let reader = read_only_server(dir, replica)?;
    let reader_base = reader.base();
    eprintln!("bench: store: inclusion proofs from the read-only server");
    // The first second, while the server may still be reading the tree into its node cache
    // (`LedgerStore::warm_up`), is reported apart.
    let cold = load::proofs(&reader_base, size, PROOF_CLIENTS, 1.0);
    warn_failures("cold proof", &cold);
    let proofs = load::proofs(&reader_base, size, PROOF_CLIENTS, plan.proof_seconds);
    warn_failures("proof", &proofs);

    eprintln!("bench: store: ingest on the primary while the replica serves proofs");
    let more = bodies(world, 10, plan.events);
    let primary = served
        .ledger
        .dir
        .store_url()
        .context("the PostgreSQL ledger has a URL")?
        .to_owned();
    let done = Arc::new(AtomicBool::new(false));
    let (loaded, proofs_loaded, sampled) = thread::scope(|scope| {
        let ingest = scope.spawn(|| {
            let l = load::bulk(&served.base, &more);
            done.store(true, Ordering::Release);
            l
        });
        let reading = scope.spawn(|| {
            let mut out = Vec::new();
            let started = Instant::now();
            while !done.load(Ordering::Acquire) {
                // Proofs in rounds, so they stop soon after the ingest does.
                out.push(load::proofs(&reader_base, size, PROOF_CLIENTS, 1.0));
                if started.elapsed() > Duration::from_secs(600) {
                    break;
                }
            }
            out
        });
        let sampler = scope.spawn(|| -> anyhow::Result<(Vec<LagSample>, Option<String>)> {
            let mut client = connect(replica)?;
            let mut on_primary = connect(&primary)?;
            let probe = ReplicaProbe::new(replica)?;
            let agent = ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(5))
                .build();
            let mut samples = Vec::new();
            let mut readyz = None;
            let started = Instant::now();
            // Bounded, should the ingest thread die without saying it is done.
            while !done.load(Ordering::Acquire) && started.elapsed() < Duration::from_secs(600) {
                let primary_size = served.size();
                let (seconds, bytes) = match replay_lag(&mut on_primary)? {
                    Some(lag) => lag,
                    // Without the primary's view, the replica's own.
                    None => probe.lag().map(|l| (l.lag_seconds, l.lag_bytes))?,
                };
                let behind = primary_size.saturating_sub(stored_size(&mut client)?);
                samples.push(LagSample {
                    seconds,
                    bytes,
                    entries_behind: behind,
                });
                // What the read-only server itself reports, read while the load runs.
                if samples.len() % 10 == 1 {
                    readyz = agent
                        .get(&format!("{}/readyz", reader_base))
                        .call()
                        .ok()
                        .and_then(|r| r.into_string().ok())
                        .or(readyz);
                }
                thread::sleep(Duration::from_millis(100));
            }
            Ok((samples, readyz))
        });
        (
            ingest.join().expect("ingest thread"),
            reading.join().expect("proof thread"),
            sampler.join().expect("sampler thread"),
        )
    });
    let (samples, readyz) = sampled?;
    warn_failures("loaded PostgreSQL bulk", &loaded);
    let (proved, proof_secs) = proofs_loaded
        .iter()
        .fold((0u64, 0.0), |(n, s), l| (n + l.ok, s + l.seconds));
    let proofs_under_load = proved as f64 / proof_secs.max(1e-9);
    let end_size = served.size();
    let drained = await_replica(replica, end_size)?;

    report.section("read-only server on the streaming replica");
    report.row(
        "replica caught up after the ingest",
        format!("{:.0} ms", caught_up.as_secs_f64() * 1e3),
        "",
        None,
    );
    report.row(
        "inclusion proofs, the server's first second",
        format!("{} /s", thousands(cold.per_sec)),
        "",
        None,
    );
    report.row(
        &format!("inclusion proofs, {PROOF_CLIENTS} clients, log of {size}"),
        format!("{} /s", thousands(proofs.per_sec)),
        "≥ 10,000/s",
        Some(proofs.per_sec >= 10_000.0),
    );
    report.row(
        "  p50 / p99",
        format!("{:.2} / {:.2} ms", proofs.latency.p50, proofs.latency.p99),
        "",
        None,
    );
    report.section("ingest on the primary and proofs on the replica at once");
    report.row(
        "ingest on the primary",
        format!("{} ev/s", thousands(loaded.per_sec)),
        "",
        None,
    );
    report.row(
        "proofs from the replica",
        format!("{} /s", thousands(proofs_under_load)),
        "",
        None,
    );
    let pick = |f: &dyn Fn(&LagSample) -> f64| -> (f64, f64) {
        let values: Vec<f64> = samples.iter().map(f).collect();
        let max = values.iter().copied().fold(0.0, f64::max);
        (median(values), max)
    };
    let (lag_p50, lag_max) = pick(&|s| s.seconds);
    let (bytes_p50, bytes_max) = pick(&|s| s.bytes as f64);
    let (behind_p50, behind_max) = pick(&|s| s.entries_behind as f64);
    report.row(
        &format!(
            "replay lag (pg_stat_replication), {} samples: p50 / max",
            samples.len()
        ),
        format!("{:.0} / {:.0} ms", lag_p50 * 1e3, lag_max * 1e3),
        "reported",
        None,
    );
    report.row(
        "  WAL written, not yet replayed: p50 / max",
        format!("{:.0} / {:.0} KiB", bytes_p50 / 1024.0, bytes_max / 1024.0),
        "",
        None,
    );
    report.row(
        "  entries behind the primary's head: p50 / max",
        format!("{behind_p50:.0} / {behind_max:.0}"),
        "",
        None,
    );
    report.row(
        "  replica caught up after the ingest stopped",
        format!("{:.0} ms", drained.as_secs_f64() * 1e3),
        "",
        None,
    );
    figures["replica"] = json!({
        "proofs_per_sec": proofs.per_sec,
        "proofs_first_second_per_sec": cold.per_sec,
        "proofs_failed": proofs.failed,
        "proof_latency_ms": {"p50": proofs.latency.p50, "p99": proofs.latency.p99},
        "log_size": size,
        "under_load": {
            "ingest_per_sec": loaded.per_sec,
            "proofs_per_sec": proofs_under_load,
            "lag_seconds": {"p50": lag_p50, "max": lag_max},
            "lag_bytes": {"p50": bytes_p50, "max": bytes_max},
            "entries_behind": {"p50": behind_p50, "max": behind_max},
            "samples": samples.len(),
            "readyz": readyz.and_then(|r| serde_json::from_str::<serde_json::Value>(&r).ok()),
            "caught_up_after_ms": drained.as_secs_f64() * 1e3,
        },
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_name_is_replaced_in_every_url_form() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/app?sslmode=disable", "b"),
            "postgres://u:p@h:5432/b?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres:///postgres?host=/tmp/s&user=postgres", "b"),
            "postgres:///b?host=/tmp/s&user=postgres"
        );
        assert_eq!(with_database("postgresql://h", "b"), "postgresql://h/b");
        assert_eq!(
            with_database("postgres://h/x?dbname=y&user=u", "b"),
            "postgres://h/b?user=u"
        );
    }
}
