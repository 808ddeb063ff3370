//! HTTP load on the running server: bulk submissions, single submissions (closed loop), single
//! submissions paced at a steady offered rate (open loop, latency), and inclusion proofs.
//!
//! Clients are std threads, each with its own ureq agent (keep-alive). Request bodies are
//! encoded before the clock starts: signing and encoding are client work, not server cost.
//! Each thread sends one lane's events in order, so its events never depend on another
//! thread's (see `crate::synth`).

use std::io::Read as _;
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::model::envelope::Envelope;
use crate::synth::SplitMix64;

use super::rate;

/// Latency percentiles, milliseconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct Latencies {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Worst.
    pub max: f64,
}

impl Latencies {
    fn of(mut samples: Vec<Duration>) -> Latencies {
        if samples.is_empty() {
            return Latencies::default();
        }
        samples.sort_unstable();
        let at = |p: f64| {
            let i = ((samples.len() - 1) as f64 * p).round() as usize;
            samples[i].as_secs_f64() * 1e3
        };
        Latencies {
            p50: at(0.50),
            p99: at(0.99),
            max: at(1.0),
        }
    }
}

/// What one load run achieved.
#[derive(Debug, Default)]
pub struct Load {
    /// Requests or events that succeeded.
    pub ok: u64,
    /// Requests or events that failed.
    pub failed: u64,
    /// Wall time, seconds.
    pub seconds: f64,
    /// `ok / seconds`.
    pub per_sec: f64,
    /// Per-request latency.
    pub latency: Latencies,
    /// The first failure, for the report.
    pub first_failure: Option<String>,
    /// Paced runs only: bursts of answers slower than [`SLOW_MS`], as (seconds into the run when
    /// the first slow request was due, slow requests, worst milliseconds).
    pub stalls: Vec<(f64, usize, f64)>,
}

/// What counts as a slow answer when looking for stalls: the single-submission p99 target.
pub const SLOW_MS: f64 = 25.0;

/// Groups slow requests, given as (seconds into the run they were due, latency), into bursts
/// separated by at least 100 ms.
fn stalls(mut slow: Vec<(f64, f64)>) -> Vec<(f64, usize, f64)> {
    slow.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut bursts: Vec<(f64, usize, f64, f64)> = Vec::new();
    for (at, ms) in slow {
        match bursts.last_mut() {
            Some(b) if at - b.3 < 0.1 => {
                b.1 += 1;
                b.2 = b.2.max(ms);
                b.3 = at;
            }
            _ => bursts.push((at, 1, ms, at)),
        }
    }
    bursts
        .into_iter()
        .map(|(at, n, ms, _)| (at, n, ms))
        .collect()
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(120))
        .build()
}

/// `{"envelopes": [...]}` for `POST /v1/entries:batch`.
pub fn batch_body(envelopes: &[Envelope]) -> Vec<u8> {
    let mut body = b"{\"envelopes\":[".to_vec();
    for (i, envelope) in envelopes.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(&envelope.to_json());
    }
    body.extend_from_slice(b"]}");
    body
}

#[derive(Deserialize)]
struct BatchAnswer {
    accepted: u64,
    rejected: u64,
    results: Vec<BatchResult>,
}

#[derive(Deserialize)]
struct BatchResult {
    #[serde(default)]
    problem: Option<serde_json::Value>,
}

/// One request's outcome: events accepted, events refused, first problem.
type Outcome = (u64, u64, Option<String>);

fn post(agent: &ureq::Agent, url: &str, body: &[u8], bulk: bool) -> Outcome {
    match agent
        .post(url)
        .set("Content-Type", "application/json")
        .send_bytes(body)
    {
        Ok(response) if bulk => {
            match serde_json::from_reader::<_, BatchAnswer>(response.into_reader()) {
                Ok(answer) => {
                    let problem = answer
                        .results
                        .iter()
                        .find_map(|r| r.problem.as_ref().map(|p| p.to_string()));
                    (answer.accepted, answer.rejected, problem)
                }
                Err(e) => (0, 1, Some(format!("unreadable batch answer: {e}"))),
            }
        }
        Ok(response) => {
            let mut sink = Vec::new();
            let _ = response.into_reader().read_to_end(&mut sink);
            (1, 0, None)
        }
        Err(ureq::Error::Status(code, response)) => {
            let text = response.into_string().unwrap_or_default();
            (0, 1, Some(format!("HTTP {code}: {text}")))
        }
        Err(e) => (0, 1, Some(format!("transport: {e}"))),
    }
}

/// Runs one thread per lane; each sends its bodies in order, waiting for every answer.
/// `pace` gives, per lane and body, when it is due (open loop); latency is counted from then.
fn drive(
    url: &str,
    lanes: &[Vec<Vec<u8>>],
    bulk: bool,
    due: impl Fn(usize, usize) -> Option<Duration> + Sync,
) -> Load {
    let barrier = Barrier::new(lanes.len() + 1);
    let (outcomes, start, end) = thread::scope(|scope| {
        let workers: Vec<_> = lanes
            .iter()
            .enumerate()
            .map(|(lane, bodies)| {
                let barrier = &barrier;
                let due = &due;
                scope.spawn(move || {
                    let agent = agent();
                    barrier.wait();
                    let start = Instant::now();
                    let mut out = Vec::with_capacity(bodies.len());
                    for (k, body) in bodies.iter().enumerate() {
                        let scheduled = match due(lane, k) {
                            Some(at) => {
                                let at = start + at;
                                if let Some(wait) = at.checked_duration_since(Instant::now()) {
                                    thread::sleep(wait);
                                }
                                at
                            }
                            None => Instant::now(),
                        };
                        let outcome = post(&agent, url, body, bulk);
                        let due_at = scheduled.saturating_duration_since(start).as_secs_f64();
                        out.push((outcome, scheduled.elapsed(), due_at));
                    }
                    (out, Instant::now())
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        let results: Vec<_> = workers
            .into_iter()
            .map(|w| w.join().expect("client thread"))
            .collect();
        let end = results.iter().map(|(_, t)| *t).max().unwrap_or(start);
        (results, start, end)
    });
    let mut load = Load::default();
    let mut latencies = Vec::new();
    let mut slow = Vec::new();
    for ((ok, failed, problem), latency, due_at) in outcomes.into_iter().flat_map(|(o, _)| o) {
        load.ok += ok;
        load.failed += failed;
        if load.first_failure.is_none() {
            load.first_failure = problem;
        }
        let ms = latency.as_secs_f64() * 1e3;
        if ms > SLOW_MS {
            slow.push((due_at, ms));
        }
        latencies.push(latency);
    }
    load.stalls = stalls(slow);
    let elapsed = end.saturating_duration_since(start);
    load.seconds = elapsed.as_secs_f64();
    load.per_sec = rate(load.ok as usize, elapsed);
    load.latency = Latencies::of(latencies);
    load
}

/// Bulk ingest: each lane's request bodies (`batch_body`) posted in order.
pub fn bulk(base: &str, lanes: &[Vec<Vec<u8>>]) -> Load {
    let mut load = drive(&format!("{base}/v1/entries:batch"), lanes, true, |_, _| {
        None
    });
    // Closed loop: there is no schedule to fall behind.
    load.stalls.clear();
    load
}

/// Single submissions, closed loop: each lane posts its envelopes one after another.
pub fn single(base: &str, lanes: &[Vec<Vec<u8>>]) -> Load {
    let mut load = drive(&format!("{base}/v1/entries"), lanes, false, |_, _| None);
    load.stalls.clear();
    load
}

/// Single submissions offered at `per_sec` in total, open loop: lane `i` of `n` sends its
/// `k`-th event at `(k·n + i) / per_sec` seconds; latency runs from that moment, so a slow
/// answer that delays the next send counts against the server, not the schedule.
pub fn paced(base: &str, lanes: &[Vec<Vec<u8>>], per_sec: f64) -> Load {
    let n = lanes.len();
    drive(
        &format!("{base}/v1/entries"),
        lanes,
        false,
        move |lane, k| Some(Duration::from_secs_f64((k * n + lane) as f64 / per_sec)),
    )
}

/// Inclusion proofs for random entries of a log of `size`, by `clients` threads for `seconds`.
pub fn proofs(base: &str, size: u64, clients: usize, seconds: f64) -> Load {
    let deadline = Duration::from_secs_f64(seconds);
    let barrier = Barrier::new(clients + 1);
    let (results, elapsed) = thread::scope(|scope| {
        let workers: Vec<_> = (0..clients)
            .map(|c| {
                let barrier = &barrier;
                scope.spawn(move || {
                    let agent = agent();
                    let mut rng = SplitMix64::new(c as u64 + 1);
                    let mut latencies = Vec::new();
                    let (mut ok, mut failed, mut first) = (0u64, 0u64, None);
                    barrier.wait();
                    let start = Instant::now();
                    while start.elapsed() < deadline {
                        let url = format!(
                            "{base}/v1/proofs/inclusion?index={}&size={size}",
                            rng.below(size)
                        );
                        let sent = Instant::now();
                        match agent.get(&url).call() {
                            Ok(response) => {
                                let mut body = Vec::new();
                                let _ = response.into_reader().read_to_end(&mut body);
                                ok += 1;
                            }
                            Err(e) => {
                                failed += 1;
                                first.get_or_insert_with(|| e.to_string());
                            }
                        }
                        latencies.push(sent.elapsed());
                    }
                    (ok, failed, first, latencies)
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        let results: Vec<_> = workers
            .into_iter()
            .map(|w| w.join().expect("client thread"))
            .collect();
        (results, start.elapsed())
    });
    let mut load = Load {
        seconds: elapsed.as_secs_f64(),
        ..Load::default()
    };
    let mut latencies = Vec::new();
    for (ok, failed, first, lat) in results {
        load.ok += ok;
        load.failed += failed;
        if load.first_failure.is_none() {
            load.first_failure = first;
        }
        latencies.extend(lat);
    }
    load.per_sec = rate(load.ok as usize, elapsed);
    load.latency = Latencies::of(latencies);
    load
}

/// `GET` latencies of one path, `count` times on one keep-alive connection. `None` when the
/// server does not have the route (404 from the fallback), with the status it gave.
pub fn get_latency(base: &str, path: &str, count: usize) -> Result<Latencies, String> {
    let agent = agent();
    let url = format!("{base}{path}");
    let mut samples = Vec::with_capacity(count);
    for _ in 0..count {
        let sent = Instant::now();
        match agent.get(&url).call() {
            Ok(response) => {
                let mut body = Vec::new();
                let _ = response.into_reader().read_to_end(&mut body);
            }
            Err(ureq::Error::Status(code, _)) => return Err(format!("HTTP {code}")),
            Err(e) => return Err(e.to_string()),
        }
        samples.push(sent.elapsed());
    }
    Ok(Latencies::of(samples))
}
