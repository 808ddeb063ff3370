//! The telemetry section of `lodestone bench` (issue 16, "Measured"): what metrics and request
//! tracing cost on the append path. One ledger, served twice in this process — one listener with
//! request telemetry (spans, request ids, HTTP metrics; the process's log subscriber installed as
//! `serve` has it) and one without, whose sequencer metrics are switched off for its phases —
//! and ingest in alternating phases, on, off, on, off, on, off: single submissions (closed loop,
//! where a per-request cost shows most) and bulk batches. The figure is the median of each
//! mode's phases, and on ÷ off.

use std::path::Path;
use std::time::Duration;

use crate::http::{self, AppState, Telemetry};
use crate::synth::World;

use super::report::{thousands, Report};
use super::{ledger, load};

/// Phases per mode.
const ROUNDS: usize = 3;

/// How much to measure.
pub struct TelemetryPlan {
    /// Single submissions per phase (over 16 closed-loop clients).
    pub single_events: usize,
    /// Events per bulk phase (4 clients, 1,000 per request).
    pub bulk_events: usize,
}

impl TelemetryPlan {
    /// The full or the quick plan.
    pub fn new(quick: bool) -> TelemetryPlan {
        TelemetryPlan {
            single_events: if quick { 800 } else { 6_400 },
            bulk_events: if quick { 4_000 } else { 40_000 },
        }
    }
}

/// Events per second of each phase, by mode.
#[derive(Default)]
struct Phases {
    single: Vec<(Telemetry, f64)>,
    bulk: Vec<(Telemetry, f64)>,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

fn mode(phases: &[(Telemetry, f64)], which: Telemetry) -> f64 {
    median(
        phases
            .iter()
            .filter(|(t, _)| *t == which)
            .map(|(_, r)| *r)
            .collect(),
    )
}

/// Runs the section on a fresh ledger under `scratch` and adds it to the report.
pub fn section(
    report: &mut Report,
    world: &World,
    scratch: &Path,
    plan: &TelemetryPlan,
) -> anyhow::Result<()> {
    eprintln!("bench: telemetry on vs off");
    let main = ledger::create(&scratch.join("telemetry").join("ledger"), world)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let state = AppState::new(&main.service);
    let metrics = std::sync::Arc::clone(main.service.handle().metrics());
    let mut bases = Vec::new();
    let mut stops = Vec::new();
    let mut served = Vec::new();
    for telemetry in [Telemetry::On, Telemetry::Off] {
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        bases.push((telemetry, format!("http://{}", listener.local_addr()?)));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        served.push(runtime.spawn(http::serve_telemetry(
            listener,
            state.clone(),
            telemetry,
            async {
                let _ = stopped.await;
            },
        )));
        stops.push(stop);
    }
    drop(state);

    let mut phases = Phases::default();
    let mut lane = 900u32;
    for round in 0..ROUNDS * 2 {
        let (telemetry, base) = &bases[round % 2];
        metrics.set_enabled(*telemetry == Telemetry::On);
        let singles: Vec<Vec<Vec<u8>>> = (0..16)
            .map(|_| {
                lane += 1;
                world
                    .lane(lane)
                    .signed(plan.single_events / 16)
                    .iter()
                    .map(crate::model::envelope::Envelope::to_json)
                    .collect()
            })
            .collect();
        let single = load::single(base, &singles);
        phases.single.push((*telemetry, single.per_sec));
        let bulks: Vec<Vec<Vec<u8>>> = (0..4)
            .map(|_| {
                lane += 1;
                world
                    .lane(lane)
                    .signed(plan.bulk_events / 4)
                    .chunks(1_000)
                    .map(load::batch_body)
                    .collect()
            })
            .collect();
        let bulk = load::bulk(base, &bulks);
        phases.bulk.push((*telemetry, bulk.per_sec));
    }
    metrics.set_enabled(true);

    for stop in stops {
        let _ = stop.send(());
    }
    for serving in served {
        runtime.block_on(serving)??;
    }
    runtime.shutdown_timeout(Duration::from_secs(5));
    main.service.shutdown();

    report.section("telemetry (metrics + request spans) on vs off, same ledger, alternating");
    let mut json = serde_json::Map::new();
    for (name, phases) in [
        ("single submissions, 16 clients", &phases.single),
        ("bulk ingest, 4 clients × 1,000", &phases.bulk),
    ] {
        let (on, off) = (mode(phases, Telemetry::On), mode(phases, Telemetry::Off));
        let ratio = on / off.max(1e-9);
        report.row(
            &format!("{name}: on / off (median of {ROUNDS})"),
            format!("{} / {} ev/s", thousands(on), thousands(off)),
            "",
            None,
        );
        report.row(
            "  on ÷ off",
            format!("{ratio:.3}"),
            "≥ 0.97",
            Some(ratio >= 0.97),
        );
        json.insert(
            name.to_owned(),
            serde_json::json!({
                "on_per_sec": on, "off_per_sec": off, "on_to_off": ratio,
                "phases": phases.iter().map(|(t, r)| serde_json::json!({
                    "telemetry": *t == Telemetry::On, "per_sec": r,
                })).collect::<Vec<_>>(),
            }),
        );
    }
    report.put("telemetry", serde_json::Value::Object(json));
    Ok(())
}
