//! The "abuse" section of `lodestone bench` (issue 10): what hostile clients cost the server.
//!
//! The server runs as a child process (`lodestone serve` on a ledger with the synthetic world
//! registered), so its memory is its own: a sampler reads its `VmRSS` every 10 ms. Clients
//! connect from distinct loopback addresses (127.0.0.x), because the server's fair shares are
//! per client address. Measured:
//!
//! 1. peak server RSS under 8 concurrent maximal requests on each heavy route: batches of 10,000
//!    envelopes with 8 signatures each; batches of envelopes of the largest size (60 KiB
//!    payloads); 64 MiB bundles to verify;
//! 2. a real writer's latency (single submissions, one at a time) alone, then while two
//!    connections flood 10,000-envelope batches whose 8 signatures are random bytes tagged with
//!    a registered actor's key id;
//! 3. time to answer `GET /healthz` with 1,000 idle connections open.

use std::ffi::OsStr;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::child::ChildServer;
use super::report::{mib, Report};
use super::{ledger, load};
use crate::model::envelope::{
    Envelope, EnvelopeSignature, EVENT_PAYLOAD_TYPE, MAX_PAYLOAD_BYTES, MAX_SIGNATURES,
};
use crate::synth::{SplitMix64, World};

/// Concurrent requests per route in the memory phase.
const CONCURRENT: usize = 8;
/// How long the flood phase runs.
const FLOOD: Duration = Duration::from_secs(10);
/// How long the writer runs alone first.
const ALONE: Duration = Duration::from_secs(3);
/// Idle connections held while `/healthz` is timed.
const IDLE: usize = 1_000;

fn start_server(data: &Path) -> anyhow::Result<ChildServer> {
    ChildServer::start(&[OsStr::new("--data"), data.as_os_str()])
}

/// Samples a process's resident memory; `take_peak` returns the peak since the last call.
struct RssSampler {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl RssSampler {
    fn start(pid: u32) -> RssSampler {
        let peak = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (Arc::clone(&peak), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Some(kib) = rss_kib(pid) {
                    p.fetch_max(kib, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        RssSampler { peak, stop }
    }

    fn take_peak(&self) -> u64 {
        self.peak.swap(0, Ordering::Relaxed)
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// One HTTP/1.1 request on a fresh connection from `from`; answers status and body.
async fn request(
    from: IpAddr,
    to: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
) -> std::io::Result<(u16, Vec<u8>)> {
    request_with(from, to, method, path, body, false).await
}

/// [`request`], optionally with `Expect: 100-continue`: the body is sent only once the server
/// asks for it, so a refusal costs neither side the body (what a flooder on another machine
/// would not pay either: here clients and server share the cores).
async fn request_with(
    from: IpAddr,
    to: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    expect_continue: bool,
) -> std::io::Result<(u16, Vec<u8>)> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    let mut stream = socket.connect(to).await?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nhost: bench\r\nconnection: close\r\n");
    if let Some(body) = body {
        head.push_str(&format!(
            "content-type: application/json\r\ncontent-length: {}\r\n",
            body.len()
        ));
        if expect_continue {
            head.push_str("expect: 100-continue\r\n");
        }
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    let mut answer = Vec::new();
    if let Some(body) = body {
        if expect_continue {
            let mut buf = [0u8; 4096];
            while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = stream.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                answer.extend_from_slice(&buf[..n]);
            }
            if answer.starts_with(b"HTTP/1.1 100") {
                answer.clear();
                let _ = stream.write_all(body).await;
            }
        } else {
            // A server that answers early (a refusal) may close while we still write.
            let _ = stream.write_all(body).await;
        }
    }
    let _ = stream.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer[..answer.len().min(12)]).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let start = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(answer.len(), |p| p + 4);
    Ok((status, answer[start..].to_vec()))
}

fn loopback(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// `count` envelopes of real events by registered actors, each with `MAX_SIGNATURES` random
/// signatures tagged with its actor's key id: they parse, and cost the server its signature
/// checks before it refuses them.
fn bogus_batch(world: &World, lane: u32, count: usize) -> Vec<u8> {
    let mut rng = SplitMix64::new(u64::from(lane));
    let envelopes: Vec<Envelope> = world
        .lane(lane)
        .take(count)
        .map(|draft| {
            let keyid = world.actors()[draft.signer]
                .public_key()
                .key_id()
                .to_string();
            Envelope {
                payload_type: EVENT_PAYLOAD_TYPE.to_owned(),
                payload: draft.event.to_json(),
                signatures: (0..MAX_SIGNATURES)
                    .map(|_| EnvelopeSignature {
                        keyid: keyid.clone(),
                        sig: (0..8).flat_map(|_| rng.next_u64().to_le_bytes()).collect(),
                    })
                    .collect(),
            }
        })
        .collect();
    load::batch_body(&envelopes)
}

/// A batch of `count` envelopes of the largest size: 60 KiB payloads (not events) and eight
/// signatures each.
fn widest_batch(count: usize) -> Vec<u8> {
    let envelope = json!({
        "payloadType": EVENT_PAYLOAD_TYPE,
        "payload": B64.encode(vec![b'x'; MAX_PAYLOAD_BYTES]),
        "signatures": (0..MAX_SIGNATURES)
            .map(|_| json!({"keyid": "0".repeat(64), "sig": B64.encode([7u8; 64])}))
            .collect::<Vec<_>>(),
    });
    serde_json::to_vec(&json!({ "envelopes": vec![envelope; count] })).unwrap_or_default()
}

/// A 64 MiB bundle-shaped body: entries with 60 KiB leaves (its checkpoint does not verify).
fn big_bundle() -> Vec<u8> {
    let leaf = B64.encode(vec![1u8; MAX_PAYLOAD_BYTES]);
    let count = (crate::http::MAX_BUNDLE_BODY - 4096) / (leaf.len() + 40);
    let entries: Vec<Value> = (0..count)
        .map(|i| json!({"index": i, "leaf": leaf, "proof": []}))
        .collect();
    serde_json::to_vec(&json!({
        "format": "lodestone-bundle/v1", "batch": "X-1",
        "checkpoint": "bench\n1\nAAAA\n\n— bench AAAA\n", "entries": entries,
    }))
    .unwrap_or_default()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Runs the section; adds its rows and its JSON to `report`.
pub fn run(world: &World, scratch: &Path, report: &mut Report) -> anyhow::Result<()> {
    eprintln!("bench: abuse (server in a child process)");
    let ledger = ledger::create(&scratch.join("abuse"), world)?;
    let data = ledger.dir.root().to_path_buf();
    ledger.service.shutdown();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;

    // 1. Memory under 8 concurrent maximal requests per heavy route.
    let mut memory = Vec::new();
    let bodies: Vec<(&str, &str, Vec<u8>)> = vec![
        (
            "batch: 10,000 envelopes × 8 signatures",
            "/v1/entries:batch",
            bogus_batch(world, 1, crate::http::MAX_BATCH_ENVELOPES),
        ),
        (
            "batch: 780 envelopes of 60 KiB",
            "/v1/entries:batch",
            widest_batch(780),
        ),
        ("verify: 64 MiB bundle", "/v1/verify", big_bundle()),
    ];
    let mut idle_rss = 0;
    for (label, path, body) in &bodies {
        // A fresh server each time: memory an allocator kept from one phase is not the next's.
        let server = start_server(&data)?;
        let rss = RssSampler::start(server.child.id());
        let to = server.addr;
        std::thread::sleep(Duration::from_millis(200));
        idle_rss = idle_rss.max(rss.take_peak());
        let started = Instant::now();
        let statuses: Vec<u16> = runtime.block_on(async {
            let tasks: Vec<_> = (0..CONCURRENT)
                .map(|i| {
                    let body = body.clone();
                    let path = path.to_string();
                    tokio::spawn(async move {
                        request(loopback(10 + i as u8), to, "POST", &path, Some(&body))
                            .await
                            .map_or(0, |(status, _)| status)
                    })
                })
                .collect();
            let mut statuses = Vec::new();
            for task in tasks {
                statuses.push(task.await.unwrap_or(0));
            }
            statuses
        });
        let peak = rss.take_peak();
        let seconds = started.elapsed().as_secs_f64();
        eprintln!("bench:   {label}: {statuses:?} in {seconds:.1} s");
        memory.push(json!({
            "request": label, "body_bytes": body.len(), "statuses": statuses,
            "peak_rss_kib": peak, "seconds": seconds,
        }));
        report.row(
            &format!("  8 × {label} ({:.0} MB)", body.len() as f64 / 1e6),
            format!("{:.0} MiB", mib(Some(peak))),
            "< 400 MiB",
            Some(mib(Some(peak)) < 400.0),
        );
    }
    drop(bodies);
    let server = start_server(&data)?;
    let to = server.addr;

    // 2. A real writer alone, then under a flood of bogus-signature batches.
    let drafts: Vec<_> = world.lane(7).take(8_000).collect();
    let honest: Vec<Vec<u8>> = world
        .sign_all(&drafts)
        .iter()
        .map(Envelope::to_json)
        .collect();
    let flood_body = Arc::new(bogus_batch(world, 2, crate::http::MAX_BATCH_ENVELOPES));
    let (alone, flooded, flood_statuses) = runtime.block_on(async {
        let mut next = honest.iter();
        let alone = write_for(&mut next, to, ALONE).await;
        let stop = Arc::new(AtomicBool::new(false));
        let flooders: Vec<_> = (0..2u8)
            .map(|i| {
                let stop = Arc::clone(&stop);
                let body = Arc::clone(&flood_body);
                tokio::spawn(async move {
                    let mut statuses = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let status = request_with(
                            loopback(2 + i),
                            to,
                            "POST",
                            "/v1/entries:batch",
                            Some(&body),
                            true,
                        )
                        .await
                        .map_or(0, |(s, _)| s);
                        statuses.push(status);
                    }
                    statuses
                })
            })
            .collect();
        // Let the flood reach the server first.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let flooded = write_for(&mut next, to, FLOOD).await;
        stop.store(true, Ordering::Relaxed);
        let mut statuses = Vec::new();
        for f in flooders {
            statuses.extend(f.await.unwrap_or_default());
        }
        (alone, flooded, statuses)
    });
    let flood_429 = flood_statuses.iter().filter(|&&s| s == 429).count();
    let (alone_p50, alone_p99) = (percentile(&alone.0, 50.0), percentile(&alone.0, 99.0));
    let (flood_p50, flood_p99) = (percentile(&flooded.0, 50.0), percentile(&flooded.0, 99.0));
    report.row(
        "  writer alone: p50, p99",
        format!("{alone_p50:.1}, {alone_p99:.1} ms"),
        "",
        None,
    );
    report.row(
        "  writer under 2 bogus-signature floods: p50, p99",
        format!(
            "{flood_p50:.1}, {flood_p99:.1} ms ({flood_429} of {} flood requests 429)",
            flood_statuses.len()
        ),
        "p99 ≤ 50 ms",
        Some(flood_p99 <= 50.0),
    );

    // 3. /healthz with 1,000 idle connections open.
    let healthz = runtime.block_on(async {
        let mut idle = Vec::with_capacity(IDLE);
        for i in 0..IDLE {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind(SocketAddr::new(loopback(100 + (i % 100) as u8), 0))?;
            idle.push(socket.connect(to).await?);
        }
        let mut times = Vec::new();
        for _ in 0..100 {
            let sent = Instant::now();
            let (status, _) = request(loopback(1), to, "GET", "/healthz", None).await?;
            if status == 200 {
                times.push(sent.elapsed().as_secs_f64() * 1e3);
            }
        }
        drop(idle);
        times.sort_by(f64::total_cmp);
        std::io::Result::Ok(times)
    })?;
    report.row(
        "  /healthz with 1,000 idle connections: p50, max",
        format!(
            "{:.2}, {:.1} ms ({} of 100 answered)",
            percentile(&healthz, 50.0),
            healthz.last().copied().unwrap_or(0.0),
            healthz.len()
        ),
        "",
        None,
    );
    report.put(
        "abuse",
        json!({
            "server_rss_idle_kib": idle_rss,
            "memory": memory,
            "writer_alone_ms": {"p50": alone_p50, "p99": alone_p99, "count": alone.0.len(), "failed": alone.1},
            "writer_flooded_ms": {"p50": flood_p50, "p99": flood_p99, "count": flooded.0.len(), "failed": flooded.1},
            "flood_request_statuses": flood_statuses,
            "healthz_with_idle_ms": {"p50": percentile(&healthz, 50.0), "max": healthz.last(), "answered": healthz.len()},
        }),
    );
    Ok(())
}

/// Submits `envelopes` one at a time from 127.0.0.1 for `span`; latencies (sorted, ms) and the
/// number of non-201 answers.
async fn write_for(
    envelopes: &mut std::slice::Iter<'_, Vec<u8>>,
    to: SocketAddr,
    span: Duration,
) -> (Vec<f64>, usize) {
    let started = Instant::now();
    let mut latencies = Vec::new();
    let mut failed = 0;
    while started.elapsed() < span {
        let Some(body) = envelopes.next() else {
            break;
        };
        let sent = Instant::now();
        match request(loopback(1), to, "POST", "/v1/entries", Some(body)).await {
            Ok((201 | 200, _)) => latencies.push(sent.elapsed().as_secs_f64() * 1e3),
            _ => failed += 1,
        }
    }
    latencies.sort_by(f64::total_cmp);
    (latencies, failed)
}
