//! `lodestone bench`: the performance report (issues 6 and 9: durable appends) in one run, measured against the
//! machine's own raw limits taken there and then.
//!
//! It builds a synthetic supply network ([`crate::synth`]), starts a fresh ledger in a temporary
//! directory and serves it on `127.0.0.1:0` from its own tokio runtime *in this same process*
//! (the load clients are std threads with ureq keep-alive agents, so clients and server share the
//! cores — the figures are for the whole loop on one machine). Events are signed and request
//! bodies encoded before each clock starts: client work is not server cost. Phases:
//!
//! 1. raw limits: Ed25519 batch verification on all cores, sled batch + flush, append +
//!    `fdatasync` of 4 KiB and 1 MiB;
//! 2. ingest over HTTP: bulk (`POST /v1/entries:batch`), single (`POST /v1/entries`, closed
//!    loop), single at a steady offered 2,000 events/s (open loop) for latency;
//! 3. reads over HTTP: provenance of a batch with a ~1,000-node upstream DAG (when the route
//!    exists), inclusion proofs;
//!    EPCIS 2.0 export throughput and `/v1/epcis/events` pages of 1,000 ([`epcis`]);
//! 4. the full replay audit of that ledger (as `lodestone verify --data`), disk use per entry;
//! 5. a large ledger (1,000,000 entries by default) appended straight through the sequencer,
//!    then opened in a fresh process: open time and memory;
//! 6. abuse: what hostile clients cost a server in its own process ([`abuse`]; alone with
//!    `--only abuse`);
//! 7. telemetry: ingest with metrics and request spans on vs off ([`telemetry`]; alone with
//!    `--only telemetry`).
//!
//! `--only reads` runs the read sections of 3 alone on a ledger holding only the DAG ([`reads`]).
//!
//! Prints a table on stdout (progress on stderr) and writes every figure as JSON (`--out`).

mod abuse;
mod breakdown;
mod child;
mod compliance;
mod epcis;
mod ledger;
mod load;
mod pages;
mod raw;
mod reads;
mod report;
mod store;
mod telemetry;
mod witnessed;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use serde_json::{json, Map};

use report::{load_average, machine, mib, thousands, Report};

use crate::http::{self, AppState};
use crate::model::envelope::Envelope;
use crate::synth::{World, WorldSize, DEEP_DAG_LAYERS, DEEP_DAG_WIDTH};

/// `lodestone bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Events for the bulk-ingest phase [default: 100000; 5000 with --quick].
    #[arg(long)]
    pub events: Option<usize>,
    /// A fast smoke run: small samples everywhere.
    #[arg(long)]
    pub quick: bool,
    /// Where to write the figures as JSON.
    #[arg(long, default_value = "bench.json")]
    pub out: PathBuf,
    /// Entries of the ledger whose open time is measured [default: 1000000; 20000 with --quick].
    #[arg(long)]
    pub open_entries: Option<u64>,
    /// Seed of the synthetic world.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Directory for the temporary ledgers [default: the system temp directory].
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Internal: measure opening the ledger in this directory, print JSON, exit.
    #[arg(long, hide = true)]
    pub open_only: Option<PathBuf>,
    /// Run only the witness section (receipt → witnessed latency, ingest with witnesses on vs
    /// off).
    #[arg(long)]
    pub witnesses_only: bool,
    /// Run one section only: `abuse` (hostile clients; about a minute), `telemetry`
    /// (ingest with metrics and request spans on vs off) or `reads` (provenance, compliance,
    /// the console's batch page and EPCIS over the deep DAG alone).
    #[arg(long, value_parser = ["abuse", "telemetry", "reads"])]
    pub only: Option<String>,
    /// Run the storage section alone, on the PostgreSQL server at this URL: raw limits, bulk
    /// ingest into the embedded store and into PostgreSQL, and (with --replica) proofs from a
    /// read-only server on the replica and the replication lag under load. A scratch database
    /// is created there and dropped at the end (the role needs CREATEDB).
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// A streaming replica of the --store server, for the read-only part of the section.
    #[arg(long, value_name = "URL", requires = "store")]
    pub replica: Option<String>,
}

/// Sample sizes of one run.
struct Plan {
    bulk_events: usize,
    bulk_clients: usize,
    per_request: usize,
    single_clients: usize,
    single_per_client: usize,
    paced_rate: f64,
    paced_seconds: f64,
    paced_lanes: usize,
    proof_clients: usize,
    proof_seconds: f64,
    verify_sample: usize,
    sled_blocks: usize,
    /// 4 KiB and 1 MiB append + fdatasync rounds.
    sync_small: usize,
    sync_large: usize,
    breakdown_blocks: usize,
    breakdown_block: usize,
    open_entries: u64,
    build_threads: usize,
}

impl Plan {
    fn new(args: &BenchArgs) -> Plan {
        let quick = args.quick;
        Plan {
            bulk_events: args.events.unwrap_or(if quick { 5_000 } else { 100_000 }),
            bulk_clients: 4,
            per_request: 1_000,
            single_clients: if quick { 32 } else { 64 },
            single_per_client: if quick { 40 } else { 250 },
            paced_rate: 2_000.0,
            paced_seconds: if quick { 2.0 } else { 10.0 },
            paced_lanes: 40,
            proof_clients: 16,
            proof_seconds: if quick { 1.5 } else { 5.0 },
            verify_sample: if quick { 4_096 } else { 16_384 },
            sled_blocks: if quick { 10 } else { 50 },
            sync_small: if quick { 100 } else { 1_000 },
            sync_large: if quick { 20 } else { 100 },
            breakdown_blocks: if quick { 2 } else { 5 },
            breakdown_block: if quick {
                1_024
            } else {
                crate::sequencer::MAX_BLOCK
            },
            open_entries: args
                .open_entries
                .unwrap_or(if quick { 20_000 } else { 1_000_000 }),
            build_threads: 3,
        }
    }
}

/// Items per second.
fn rate(items: usize, elapsed: Duration) -> f64 {
    items as f64 / elapsed.as_secs_f64().max(1e-9)
}

/// The median of a non-empty sample (0 for an empty one).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// A `kB` field of `/proc/self/status` (`VmRSS`, `VmHWM`), in KiB.
fn proc_status_kib(field: &str) -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// A temporary directory removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(parent: Option<&Path>) -> anyhow::Result<Scratch> {
        let parent = parent.map_or_else(std::env::temp_dir, Path::to_path_buf);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = parent.join(format!("lodestone-bench-{}-{nanos}", std::process::id()));
        fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Scratch(path))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Runs the benchmark.
pub fn bench(args: BenchArgs) -> anyhow::Result<ExitCode> {
    if let Some(dir) = &args.open_only {
        println!("{}", ledger::open_only(dir)?);
        return Ok(ExitCode::SUCCESS);
    }
    let plan = Plan::new(&args);
    let scratch = Scratch::new(args.dir.as_deref())?;
    let started = Instant::now();
    let mut report = Report::default();
    report.put(
        "command",
        json!(std::env::args().collect::<Vec<_>>().join(" ")),
    );
    report.put("machine", machine());
    // Events start 60 days back: the bench ledgers are created now, and a ledger refuses events
    // dated past its clock or more than its 90-day backfill window before their registration.
    let now_ms = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or_default();
    let start_ms = (now_ms - 60 * 86_400_000) / 86_400_000 * 86_400_000;
    let world = World::new(args.seed, WorldSize::default()).starting_at(start_ms);
    report.put(
        "world",
        json!({"seed": args.seed, "actors": world.actors().len()}),
    );
    if args.only.as_deref() == Some("abuse") {
        report.section("abuse (hostile clients, server in its own process)");
        abuse::run(&world, &scratch.0, &mut report)?;
        return finish(report, &args, started);
    }
    if let Some(url) = &args.store {
        let plan = store::StorePlan::new(args.quick, args.events);
        store::section(
            &mut report,
            &world,
            &scratch.0,
            url,
            args.replica.as_deref(),
            &plan,
        )?;
        return finish(report, &args, started);
    }
    if args.only.as_deref() == Some("reads") {
        reads::section(&mut report, &world, &scratch.0)?;
        return finish(report, &args, started);
    }
    let telemetry_plan = telemetry::TelemetryPlan::new(args.quick);
    if args.only.as_deref() == Some("telemetry") {
        telemetry::section(&mut report, &world, &scratch.0, &telemetry_plan)?;
        return finish(report, &args, started);
    }

    let witness_plan = witnessed::WitnessPlan::new(args.quick);
    if args.witnesses_only {
        witnessed::section(&mut report, &world, &scratch.0, &witness_plan)?;
        report.print();
        fs::write(&args.out, serde_json::to_vec_pretty(&report.into_json())?)
            .with_context(|| format!("writing {}", args.out.display()))?;
        return Ok(ExitCode::SUCCESS);
    }

    eprintln!("bench: raw limits");
    let verify = raw::batch_verify(&world, plan.verify_sample);
    let sled = raw::sled_write(&scratch.0.join("raw-sled"), plan.sled_blocks)?;
    let _ = fs::remove_dir_all(scratch.0.join("raw-sled"));
    let sync = raw::fdatasync(
        &scratch.0.join("raw-sync"),
        plan.sync_small,
        plan.sync_large,
    )?;
    let _ = fs::remove_dir_all(scratch.0.join("raw-sync"));
    report.section("raw limits (this machine, this run)");
    report.row(
        "ed25519 batch verify, all cores",
        format!("{} sig/s", thousands(verify.all_cores)),
        "",
        None,
    );
    report.row(
        "ed25519 batch verify, one core",
        format!("{} sig/s", thousands(verify.one_core)),
        "",
        None,
    );
    report.row(
        "sled batch of 1000 × 600 B + flush",
        format!("{} ins/s", thousands(sled.inserts_per_sec)),
        "",
        None,
    );
    report.row(
        "  flush of one block: median, worst",
        format!("{:.2}, {:.1} ms", sled.flush_ms, sled.flush_max_ms),
        "",
        None,
    );
    report.row(
        "append + fdatasync, 4 KiB / 1 MiB",
        format!(
            "{} / {} syncs/s",
            thousands(sync.small_per_sec),
            thousands(sync.large_per_sec)
        ),
        "",
        None,
    );
    report.put(
        "raw",
        json!({
            "fdatasync_4k_per_sec": sync.small_per_sec,
            "fdatasync_1m_per_sec": sync.large_per_sec,
            "batch_verify_all_cores_per_sec": verify.all_cores,
            "batch_verify_one_core_per_sec": verify.one_core,
            "batch_verify_sample": verify.sample,
            "sled_inserts_per_sec": sled.inserts_per_sec,
            "sled_block_ms_p50": sled.block_ms,
            "sled_flush_ms_p50": sled.flush_ms,
            "sled_flush_ms_max": sled.flush_max_ms,
            "sled_blocks": sled.blocks,
            "sled_block_inserts": raw::SLED_BLOCK,
        }),
    );

    eprintln!("bench: ledger and server");
    let main = ledger::create(&scratch.0.join("ledger"), &world)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("bench-server")
        .build()?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = runtime.spawn(http::serve(listener, AppState::new(&main.service), async {
        let _ = stopped.await;
    }));

    eprintln!("bench: bulk ingest ({} events)", plan.bulk_events);
    let per_lane = plan.bulk_events.div_ceil(plan.bulk_clients);
    let bodies: Vec<Vec<Vec<u8>>> = (0..plan.bulk_clients as u32)
        .map(|l| {
            let envelopes = world.lane(l).signed(per_lane);
            envelopes
                .chunks(plan.per_request)
                .map(load::batch_body)
                .collect()
        })
        .collect();
    let bulk = load::bulk(&base, &bodies);
    drop(bodies);

    eprintln!("bench: single submissions");
    let encode = |first: u32, lanes: usize, per: usize| -> Vec<Vec<Vec<u8>>> {
        (0..lanes as u32)
            .map(|l| {
                world
                    .lane(first + l)
                    .signed(per)
                    .iter()
                    .map(Envelope::to_json)
                    .collect()
            })
            .collect()
    };
    let single = load::single(
        &base,
        &encode(100, plan.single_clients, plan.single_per_client),
    );
    eprintln!(
        "bench: single submissions paced at {} events/s",
        plan.paced_rate
    );
    let per_lane = (plan.paced_rate * plan.paced_seconds) as usize / plan.paced_lanes;
    let paced = load::paced(
        &base,
        &encode(200, plan.paced_lanes, per_lane),
        plan.paced_rate,
    );

    for (phase, l) in [("bulk", &bulk), ("single", &single), ("paced", &paced)] {
        if l.failed > 0 {
            eprintln!(
                "bench: warning: {} {phase} submissions failed; first: {}",
                l.failed,
                l.first_failure.as_deref().unwrap_or("?")
            );
        }
    }
    report.section("durable ingest over HTTP");
    let bulk_ratio = bulk.per_sec / verify.all_cores;
    report.row(
        &format!(
            "bulk, {} clients × {}/request",
            plan.bulk_clients, plan.per_request
        ),
        format!("{} ev/s", thousands(bulk.per_sec)),
        "≥ 40,000 ev/s",
        Some(bulk.per_sec >= 40_000.0),
    );
    report.row(
        "bulk ÷ raw batch verify",
        format!("{bulk_ratio:.2}"),
        "≥ 0.3",
        Some(bulk_ratio >= 0.3),
    );
    report.row(
        &format!("single, {} clients, closed loop", plan.single_clients),
        format!("{} ev/s", thousands(single.per_sec)),
        "",
        None,
    );
    report.row(
        &format!("single at {} ev/s offered: p50", plan.paced_rate),
        format!("{:.1} ms", paced.latency.p50),
        "",
        None,
    );
    report.row(
        "  p99",
        format!("{:.1} ms", paced.latency.p99),
        "≤ 10 ms",
        Some(paced.latency.p99 <= 10.0),
    );
    report.row(
        "  achieved rate",
        format!("{} ev/s", thousands(paced.per_sec)),
        "",
        None,
    );
    let slow: usize = paced.stalls.iter().map(|s| s.1).sum();
    report.row(
        &format!("  answers > {} ms, in bursts", load::SLOW_MS),
        format!("{slow} in {}", paced.stalls.len()),
        "",
        None,
    );
    let load_json = |l: &load::Load| {
        json!({
            "ok": l.ok, "failed": l.failed, "seconds": l.seconds, "per_sec": l.per_sec,
            "latency_ms": {"p50": l.latency.p50, "p99": l.latency.p99, "max": l.latency.max},
            "first_failure": l.first_failure,
            "stalls": l.stalls.iter().map(|(at, n, ms)| json!({"at_s": at, "slow": n, "worst_ms": ms}))
                .collect::<Vec<_>>(),
        })
    };
    report.put(
        "ingest",
        json!({
            "bulk": load_json(&bulk),
            "bulk_clients": plan.bulk_clients,
            "envelopes_per_request": plan.per_request,
            "bulk_to_raw_verify": bulk_ratio,
            "single_closed_loop": load_json(&single),
            "single_clients": plan.single_clients,
            "single_paced": load_json(&paced),
            "paced_offered_per_sec": plan.paced_rate,
            "paced_lanes": plan.paced_lanes,
        }),
    );

    eprintln!("bench: provenance and inclusion proofs");
    let handle = main.service.handle();
    let mut dag_lane = world.lane(300);
    let dag = dag_lane.deep_dag(DEEP_DAG_WIDTH, DEEP_DAG_LAYERS);
    let (dag_root, dag_events) = (dag.root.clone(), dag.events.len());
    ledger::append(&handle, ledger::submissions(&world, dag.events))?;
    let provenance = load::get_latency(
        &base,
        &format!(
            "/v1/batches/{}/provenance",
            dag_root.as_ref().replace('/', "%2F")
        ),
        200,
    );
    let mut walks = Vec::new();
    let mut walked = 0;
    for _ in 0..50 {
        let start = Instant::now();
        walked = ledger::upstream(&main.service.store, &dag_root)?;
        walks.push(start.elapsed().as_secs_f64() * 1e3);
    }
    let size = handle.head().size;
    let proofs = load::proofs(&base, size, plan.proof_clients, plan.proof_seconds);
    report.section("reads over HTTP");
    match &provenance {
        Ok(l) => {
            report.row(
                &format!("provenance, {walked}-node DAG: p50"),
                format!("{:.2} ms", l.p50),
                "< 10 ms",
                Some(l.p50 < 10.0),
            );
            report.row("  p99", format!("{:.2} ms", l.p99), "", None);
        }
        Err(status) => report.row(
            &format!("provenance, {walked}-node DAG"),
            format!("n/a ({status})"),
            "< 10 ms",
            None,
        ),
    }
    let compliance = compliance::measure(&mut report, &base, dag_root.as_ref(), walked);
    report.row(
        "  upstream walk, sled reads only (p50)",
        format!("{:.2} ms", median(walks.clone())),
        "",
        None,
    );
    report.row(
        &format!("inclusion proofs, {} clients", plan.proof_clients),
        format!("{} /s", thousands(proofs.per_sec)),
        "≥ 20,000 /s",
        Some(proofs.per_sec >= 20_000.0),
    );
    report.put(
        "reads",
        json!({
            "provenance": match &provenance {
                Ok(l) => json!({"p50_ms": l.p50, "p99_ms": l.p99, "max_ms": l.max, "requests": 200}),
                Err(status) => json!({"available": false, "status": status}),
            },
            "dag": {"root": dag_root.to_string(), "nodes": walked, "events": dag_events,
                    "upstream_walk_ms_p50": median(walks)},
            "compliance": compliance,
            "inclusion_proofs": load_json(&proofs),
            "proof_clients": plan.proof_clients,
            "log_size": size,
        }),
    );
    // The console's batch page of the same DAG (server time, weight, time to draw).
    pages::section(&mut report, &base, &dag_root, walked);

    eprintln!("bench: EPCIS export");
    epcis::section(&mut report, &base)?;

    let disk = main.service.store.size_on_disk()?;
    let _ = stop.send(());
    runtime.block_on(server)??;
    runtime.shutdown_timeout(Duration::from_secs(5));
    drop(handle);
    main.service.shutdown();
    let census = ledger::census(&main.dir)?;

    eprintln!("bench: full replay ({size} entries)");
    let replay = ledger::replay(&main.dir)?;
    let replay_ratio = replay.per_sec / verify.all_cores;
    report.section("full replay audit (verify --data)");
    report.row(
        "replay",
        format!("{} entries/s", thousands(replay.per_sec)),
        "",
        None,
    );
    report.row(
        "replay ÷ raw batch verify",
        format!("{replay_ratio:.2}"),
        "≥ 0.7",
        Some(replay_ratio >= 0.7),
    );
    let leaf_mean = replay.leaf_bytes as f64 / replay.entries as f64;
    report.put(
        "replay",
        json!({
            "entries": replay.entries, "seconds": replay.seconds, "per_sec": replay.per_sec,
            "read_seconds": replay.read_seconds, "to_raw_verify": replay_ratio,
            "leaf_bytes": replay.leaf_bytes, "leaf_bytes_mean": leaf_mean,
        }),
    );
    let keys: u64 = census.values().map(|c| c.0).sum();
    report.put(
        "disk_small",
        json!({
            "entries": size, "size_on_disk": disk, "per_entry": disk as f64 / size as f64,
            "to_leaf_bytes": disk as f64 / replay.leaf_bytes as f64,
            "sled_keys_per_entry": keys as f64 / size as f64,
            "census": census.iter().map(|(p, (n, b))| (p.to_string(), json!({"keys": n, "bytes": b})))
                .collect::<Map<_, _>>(),
        }),
    );

    witnessed::section(&mut report, &world, &scratch.0, &witness_plan)?;
    telemetry::section(&mut report, &world, &scratch.0, &telemetry_plan)?;

    eprintln!("bench: the append path stage by stage");
    let stages = breakdown::measure(
        &world,
        &main.dir,
        400,
        plan.breakdown_blocks,
        plan.breakdown_block,
    )?;
    report.section(&format!(
        "append path, stage by stage (µs per entry, blocks of {})",
        stages.block
    ));
    let mut serial = 0.0;
    for ((name, parallel), micros) in breakdown::STAGES.iter().zip(&stages.micros) {
        report.row(name, format!("{micros:.1} µs"), "", None);
        if !parallel {
            serial += micros;
        }
    }
    report.row(
        "  one core's stages together",
        format!("{serial:.1} µs = {} ev/s", thousands(1e6 / serial)),
        "",
        None,
    );
    report.row(
        "  state keys written per entry",
        format!("{:.2}", stages.keys_per_entry),
        "",
        None,
    );
    report.put(
        "append_path",
        json!({
            "block": stages.block, "blocks": stages.blocks,
            "keys_per_entry": stages.keys_per_entry,
            "micros_per_entry": breakdown::STAGES.iter().zip(&stages.micros)
                .map(|((name, _), m)| (name.to_string(), json!(m))).collect::<Map<_, _>>(),
            "serial_micros_per_entry": serial,
        }),
    );

    eprintln!("bench: building a {}-entry ledger", plan.open_entries);
    let large = ledger::create(&scratch.0.join("large"), &world)?;
    let build = ledger::build(
        &world,
        &large.service.handle(),
        plan.open_entries,
        2_000,
        plan.build_threads,
    )?;
    let large_disk = large.service.store.size_on_disk()?;
    let large_size = large.service.handle().head().size;
    let large_dir = large.dir.clone();
    large.service.shutdown();
    eprintln!("bench: opening it in a fresh process (3 times)");
    let opens = (0..3)
        .map(|_| ledger::open_in_child(&large_dir))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let open_ms = median(
        opens
            .iter()
            .map(|o| o["open_and_head_ms"].as_f64().unwrap_or(0.0))
            .collect(),
    );
    let child_peak = opens
        .iter()
        .filter_map(|o| o["peak_rss_kib"].as_u64())
        .max();
    let large_ratio = large_disk as f64 / (leaf_mean * large_size as f64);
    report.section(&format!(
        "a ledger of {} entries",
        thousands(large_size as f64)
    ));
    report.row(
        "sequencer alone, no HTTP (pre-signed)",
        format!("{} ev/s", thousands(build.direct_per_sec)),
        "",
        None,
    );
    let direct_ratio = build.direct_per_sec / verify.all_cores;
    report.row(
        "sequencer alone ÷ raw batch verify",
        format!("{direct_ratio:.2}"),
        "≥ 0.5",
        Some(direct_ratio >= 0.5),
    );
    report.row(
        "open: Store::open + head()",
        format!("{open_ms:.1} ms"),
        "< 100 ms",
        Some(open_ms < 100.0),
    );
    report.row(
        "peak RSS: open + 10,000 proofs",
        format!("{:.0} MiB", mib(child_peak)),
        "< 250 MiB",
        Some(mib(child_peak) < 250.0),
    );
    report.row(
        "disk per entry",
        format!("{:.0} B", large_disk as f64 / large_size as f64),
        "",
        None,
    );
    report.row(
        "disk ÷ raw leaf bytes",
        format!("{large_ratio:.2}"),
        "≤ 2.0",
        Some(large_ratio <= 2.0),
    );
    report.put(
        "large",
        json!({
            "entries": large_size, "appended": build.entries, "build_seconds": build.seconds,
            "sequencer_direct_per_sec": build.direct_per_sec,
            "sequencer_direct_sample": build.direct_sample,
            "size_on_disk": large_disk, "per_entry": large_disk as f64 / large_size as f64,
            "to_leaf_bytes_estimated": large_ratio,
            "open_and_head_ms_p50": open_ms, "opens": opens,
        }),
    );

    report.section("abuse (hostile clients, server in its own process)");
    abuse::run(&world, &scratch.0, &mut report)?;

    let bench_peak = proc_status_kib("VmHWM");
    report.section("this process");
    report.row(
        "peak RSS (server + clients + data)",
        format!("{:.0} MiB", mib(bench_peak)),
        "",
        None,
    );
    report.put(
        "process",
        json!({
            "peak_rss_kib": bench_peak,
            "seconds": started.elapsed().as_secs_f64(),
            "load_average_at_end": load_average(),
        }),
    );
    finish(report, &args, started)
}

/// Prints the table and writes the JSON.
fn finish(report: Report, args: &BenchArgs, started: Instant) -> anyhow::Result<ExitCode> {
    report.print();
    let out = serde_json::to_vec_pretty(&report.into_json())?;
    fs::write(&args.out, out).with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!(
        "bench: done in {:.0} s; figures in {}",
        started.elapsed().as_secs_f64(),
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
