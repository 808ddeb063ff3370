//! The witness section of `lodestone bench` (issue 11, "Measured"): a ledger served with a
//! witness policy naming three local witnesses (real `add-checkpoint` over HTTP on
//! `127.0.0.1:0`, each fsyncing its state), in this same process.
//!
//! - **Receipt → witnessed.** Single submissions paced at 2,000 events/s. A sampler thread reads
//!   the published head and the latest witnessed checkpoint every millisecond; entry `i`'s
//!   receipt time is when the head first covered it (receipts are answered right after the head
//!   is published), its witnessed time when a checkpoint with the quorum (all three witnesses)
//!   first covered it. The figures are the distribution of the difference.
//! - **Ingest, witnesses on vs off, same run.** Bulk ingest in alternating phases on the same
//!   ledger — on, off, on, off — where "off" stops the cosigner; the mean of each mode.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rand_core::OsRng;

use crate::http::{self, AppState};
use crate::log::cosignature::CosignatureSigner;
use crate::log::policy::Policy;
use crate::synth::World;
use crate::witness::cosigner::{self, CosignerHandle, CosignerOptions};
use crate::witness::{server, Witness};

use super::report::{thousands, Report};
use super::{ledger, load};

/// How much to measure.
pub struct WitnessPlan {
    /// Offered rate of the paced phase.
    pub rate: f64,
    /// Its length.
    pub seconds: f64,
    /// Events per bulk phase.
    pub bulk_events: usize,
}

/// The figures.
pub struct WitnessFigures {
    /// Receipt-to-witnessed latency, ms: p50, p99, max.
    pub witnessed_ms: (f64, f64, f64),
    /// Entries measured, and how many were never witnessed within the grace period.
    pub entries: usize,
    /// Entries not witnessed within 5 s after the load.
    pub unwitnessed: usize,
    /// Receipt latency of the paced phase with witnesses on, ms: p50, p99.
    pub receipt_ms: (f64, f64),
    /// Achieved paced rate.
    pub paced_per_sec: f64,
    /// Bulk ingest, witnesses on (mean of its phases), events/s.
    pub bulk_on: f64,
    /// Bulk ingest, witnesses off, events/s.
    pub bulk_off: f64,
    /// Each bulk phase: (witnesses on, events/s).
    pub phases: Vec<(bool, f64)>,
}

impl WitnessPlan {
    /// The plan of a full run, or of a `--quick` one.
    pub fn new(quick: bool) -> WitnessPlan {
        WitnessPlan {
            rate: 2_000.0,
            seconds: if quick { 3.0 } else { 10.0 },
            bulk_events: if quick { 4_000 } else { 20_000 },
        }
    }
}

/// Measures and reports the section, on ledgers under `scratch`.
pub fn section(
    report: &mut Report,
    world: &World,
    scratch: &Path,
    plan: &WitnessPlan,
) -> anyhow::Result<()> {
    eprintln!("bench: witnessed checkpoints (3 local witnesses)");
    let figures = measure(world, &scratch.join("witnessed"), plan)?;
    self::report(report, plan, &figures);
    Ok(())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// First time at which `series` (non-decreasing sizes) exceeds `index`.
fn covered_at(series: &[(f64, u64)], index: u64) -> Option<f64> {
    let at = series.partition_point(|(_, size)| *size <= index);
    series.get(at).map(|(t, _)| *t)
}

/// Runs the section on a fresh ledger in `dir`.
pub fn measure(world: &World, dir: &Path, plan: &WitnessPlan) -> anyhow::Result<WitnessFigures> {
    let main = ledger::create(&dir.join("ledger"), world)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("bench-witnessed")
        .build()?;

    // Three witnesses, each with its own state directory and port.
    let mut policy_text = format!("log {}\n", main.service.verifier.to_text());
    let mut stops = Vec::new();
    for i in 1..=3 {
        let signer = CosignatureSigner::generate(&format!("bench-witness{i}.example"), &mut OsRng)?;
        let vkey = signer.verifier().to_text();
        let witness = Arc::new(Witness::open(
            signer,
            vec![main.service.verifier.clone()],
            &dir.join(format!("witness{i}")),
        )?);
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        policy_text.push_str(&format!(
            "witness w{i} {vkey} http://{}\n",
            listener.local_addr()?
        ));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        runtime.spawn(server::serve(listener, witness, async {
            let _ = stopped.await;
        }));
        stops.push(stop);
    }
    policy_text.push_str("group all3 all w1 w2 w3\nquorum all3\n");
    let policy = Policy::parse(&policy_text).context("the bench policy")?;

    let handle = main.service.handle();
    let start_cosigner = || -> CosignerHandle {
        let _guard = runtime.enter();
        cosigner::spawn(
            policy.clone(),
            handle.clone(),
            main.service.store.clone(),
            CosignerOptions::default(),
        )
    };
    let first = start_cosigner();
    let state = AppState::new(&main.service).with_witnessing(first.clone());
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = runtime.spawn(http::serve(listener, state, async {
        let _ = stopped.await;
    }));

    // Paced single submissions, with the sampler running.
    let lanes = 40;
    let per_lane = (plan.rate * plan.seconds) as usize / lanes;
    let bodies: Vec<Vec<Vec<u8>>> = (0..lanes as u32)
        .map(|l| {
            world
                .lane(600 + l)
                .signed(per_lane)
                .iter()
                .map(crate::model::envelope::Envelope::to_json)
                .collect()
        })
        .collect();
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let sampling = Arc::clone(&sampling);
        let handle = handle.clone();
        let cosigner = first.clone();
        std::thread::spawn(move || {
            let clock = Instant::now();
            let (mut heads, mut witnessed) = (Vec::new(), Vec::new());
            while sampling.load(Ordering::Relaxed) {
                let t = clock.elapsed().as_secs_f64();
                let size = handle.head().size;
                if heads.last().is_none_or(|&(_, s)| s < size) {
                    heads.push((t, size));
                }
                let w = cosigner.latest().map_or(0, |h| h.size);
                if witnessed.last().is_none_or(|&(_, s)| s < w) {
                    witnessed.push((t, w));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            (heads, witnessed)
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let before = handle.head().size;
    let paced = load::paced(&base, &bodies, plan.rate);
    let after = handle.head().size;
    // Grace period for the last entries to be witnessed.
    let deadline = Instant::now() + Duration::from_secs(5);
    while first.latest().map_or(0, |h| h.size) < after && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    sampling.store(false, Ordering::Relaxed);
    let (heads, witnessed) = sampler
        .join()
        .map_err(|_| anyhow::anyhow!("sampler thread"))?;
    let mut latencies = Vec::new();
    let mut unwitnessed = 0;
    for index in before..after {
        match (covered_at(&heads, index), covered_at(&witnessed, index)) {
            (Some(receipt), Some(seen)) => latencies.push((seen - receipt).max(0.0) * 1e3),
            _ => unwitnessed += 1,
        }
    }
    latencies.sort_by(f64::total_cmp);

    // Bulk ingest, alternating witnesses on and off.
    let mut phases = Vec::new();
    let mut active = first.clone();
    for (k, on) in [true, false, true, false].into_iter().enumerate() {
        if on && k > 0 {
            active = start_cosigner();
        }
        let lanes = 4;
        let bodies: Vec<Vec<Vec<u8>>> = (0..lanes as u32)
            .map(|l| {
                world
                    .lane(700 + 10 * k as u32 + l)
                    .signed(plan.bulk_events / lanes)
                    .chunks(1_000)
                    .map(load::batch_body)
                    .collect()
            })
            .collect();
        let bulk = load::bulk(&base, &bodies);
        phases.push((on, bulk.per_sec));
        if on {
            active.shutdown();
        }
    }

    let _ = stop.send(());
    runtime.block_on(served)??;
    for stop in stops {
        let _ = stop.send(());
    }
    runtime.shutdown_timeout(Duration::from_secs(5));
    drop(handle);
    main.service.shutdown();
    let mode = |on: bool| {
        let rates: Vec<f64> = phases.iter().filter(|p| p.0 == on).map(|p| p.1).collect();
        rates.iter().sum::<f64>() / rates.len().max(1) as f64
    };
    Ok(WitnessFigures {
        witnessed_ms: (
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99),
            latencies.last().copied().unwrap_or(0.0),
        ),
        entries: latencies.len() + unwitnessed,
        unwitnessed,
        receipt_ms: (paced.latency.p50, paced.latency.p99),
        paced_per_sec: paced.per_sec,
        bulk_on: mode(true),
        bulk_off: mode(false),
        phases,
    })
}

/// Adds the section to the report.
pub fn report(report: &mut Report, plan: &WitnessPlan, f: &WitnessFigures) {
    report.section("witnessed checkpoints (3 local witnesses, quorum: all three)");
    report.row(
        &format!("receipt → witnessed, at {} ev/s: p50", plan.rate),
        format!("{:.0} ms", f.witnessed_ms.0),
        "",
        None,
    );
    report.row(
        "  p99",
        format!("{:.0} ms", f.witnessed_ms.1),
        "≤ 1,000 ms",
        Some(f.witnessed_ms.1 <= 1_000.0 && f.unwitnessed == 0),
    );
    report.row(
        "  max; entries never witnessed",
        format!(
            "{:.0} ms; {} of {}",
            f.witnessed_ms.2, f.unwitnessed, f.entries
        ),
        "",
        None,
    );
    report.row(
        "  receipts meanwhile: p50, p99",
        format!("{:.1}, {:.1} ms", f.receipt_ms.0, f.receipt_ms.1),
        "",
        None,
    );
    let ratio = f.bulk_on / f.bulk_off.max(1e-9);
    report.row(
        "bulk ingest, witnesses on / off",
        format!("{} / {} ev/s", thousands(f.bulk_on), thousands(f.bulk_off)),
        "",
        None,
    );
    report.row(
        "  on ÷ off",
        format!("{ratio:.3}"),
        "≥ 0.95",
        Some(ratio >= 0.95),
    );
    report.put(
        "witnessed",
        serde_json::json!({
            "witnesses": 3, "quorum": "all",
            "offered_per_sec": plan.rate, "paced_seconds": plan.seconds,
            "achieved_per_sec": f.paced_per_sec,
            "receipt_to_witnessed_ms": {"p50": f.witnessed_ms.0, "p99": f.witnessed_ms.1, "max": f.witnessed_ms.2},
            "entries": f.entries, "unwitnessed": f.unwitnessed,
            "receipt_ms": {"p50": f.receipt_ms.0, "p99": f.receipt_ms.1},
            "bulk_events_per_phase": plan.bulk_events,
            "bulk_on_per_sec": f.bulk_on, "bulk_off_per_sec": f.bulk_off, "on_to_off": ratio,
            "phases": f.phases.iter().map(|(on, r)| serde_json::json!({"witnesses": on, "per_sec": r})).collect::<Vec<_>>(),
        }),
    );
}
