//! The ledger's metrics, in the Prometheus text exposition format (served at `GET /metrics`).
//!
//! One [`Metrics`] per running ledger — owned by its sequencer, shared with its HTTP server —
//! rather than a process-wide recorder, so two ledgers in one process (tests, a witness beside a
//! log) never mix their counts. Names follow the Prometheus conventions: a `lodestone_` prefix,
//! `_total` on counters, base units (`_seconds`, `_bytes`) in the name. Every metric is listed,
//! with what it means for an operator, in docs/OPERATIONS.md.
//!
//! Values that are facts about the ledger rather than counts of what happened (log size, free
//! disk, witness lag, intake depth) are read when scraped: see [`Metrics::render`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

/// The content type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Labels of a refused event.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    code: String,
}

/// Labels of an HTTP request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: u16,
}

/// Labels of a request's latency (no status: one histogram per route and method).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    method: String,
}

/// Labels of a witness.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WitnessLabels {
    witness: String,
}

/// Latency buckets from 100 µs to about 52 s (factor 2): a receipt waits for a sync, a page
/// can take a second, a timeout is a minute.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_1, 2.0, 20))
}

/// What the log, its sequencer and its HTTP server count.
pub struct Metrics {
    /// Off: every recording method returns at once (the bench's telemetry-off phases).
    enabled: AtomicBool,
    registry: Registry,
    entries_appended: Counter,
    events_refused: Family<CodeLabels, Counter>,
    block_entries: Histogram,
    block_commit: Histogram,
    receipt: Histogram,
    http_requests: Family<RequestLabels, Counter>,
    http_duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
    intake_depth: Gauge,
    log_size: Gauge,
    disk_free: Gauge,
    witness_lag: Family<WitnessLabels, Gauge>,
    witness_size: Family<WitnessLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// A fresh set of metrics, all zero.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("lodestone");
        let metrics = Metrics {
            enabled: AtomicBool::new(true),
            registry: Registry::default(),
            entries_appended: Counter::default(),
            events_refused: Family::default(),
            block_entries: Histogram::new(exponential_buckets(1.0, 2.0, 14)),
            block_commit: latency_histogram(),
            receipt: latency_histogram(),
            http_requests: Family::default(),
            http_duration: Family::new_with_constructor(latency_histogram),
            intake_depth: Gauge::default(),
            log_size: Gauge::default(),
            disk_free: Gauge::default(),
            witness_lag: Family::default(),
            witness_size: Family::default(),
        };
        registry.register(
            "entries_appended",
            "Entries appended to the log (durable) since the server started",
            metrics.entries_appended.clone(),
        );
        registry.register(
            "events_refused",
            "Submitted envelopes refused, by problem code (docs/API.md)",
            metrics.events_refused.clone(),
        );
        registry.register(
            "block_entries",
            "Entries per committed block (group commit)",
            metrics.block_entries.clone(),
        );
        registry.register_with_unit(
            "block_commit",
            "Time to make one block durable: write and fdatasync of the log files and its checkpoint",
            Unit::Seconds,
            metrics.block_commit.clone(),
        );
        registry.register_with_unit(
            "receipt",
            "Time from a submission's admission to its receipts (one observation per submission request)",
            Unit::Seconds,
            metrics.receipt.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests answered, by matched route, method and status",
            metrics.http_requests.clone(),
        );
        registry.register_with_unit(
            "http_request_duration",
            "Time to answer an HTTP request (head to response head), by matched route and method",
            Unit::Seconds,
            metrics.http_duration.clone(),
        );
        registry.register(
            "intake_envelopes",
            "Envelopes admitted and not yet answered (the intake's depth)",
            metrics.intake_depth.clone(),
        );
        registry.register(
            "log_entries",
            "Entries in the log (the size of its latest durable checkpoint)",
            metrics.log_size.clone(),
        );
        registry.register_with_unit(
            "disk_free",
            "Space left on the file system of the data directory",
            Unit::Bytes,
            metrics.disk_free.clone(),
        );
        registry.register(
            "witness_lag_entries",
            "Entries the log holds beyond the latest checkpoint each witness cosigned",
            metrics.witness_lag.clone(),
        );
        registry.register(
            "witness_cosigned_size",
            "Tree size of the latest checkpoint each witness cosigned",
            metrics.witness_size.clone(),
        );
        Metrics {
            registry,
            ..metrics
        }
    }

    /// Turns recording on or off (on by default); what was counted stays.
    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Relaxed);
    }

    fn on(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// A block of `entries` entries was made durable in `took`.
    pub fn block_committed(&self, entries: usize, took: Duration) {
        if !self.on() {
            return;
        }
        self.entries_appended.inc_by(entries as u64);
        self.block_entries.observe(entries as f64);
        self.block_commit.observe(took.as_secs_f64());
    }

    /// A submission request got its receipts (or refusals) after `took`.
    pub fn receipted(&self, took: Duration) {
        if !self.on() {
            return;
        }
        self.receipt.observe(took.as_secs_f64());
    }

    /// An envelope was refused with problem `code`.
    pub fn refused(&self, code: &str) {
        if !self.on() {
            return;
        }
        self.events_refused
            .get_or_create(&CodeLabels {
                code: code.to_owned(),
            })
            .inc();
    }

    /// An HTTP request to `route` (the matched pattern, or `unmatched`) was answered.
    pub fn request(&self, route: &str, method: &str, status: u16, took: Duration) {
        if !self.on() {
            return;
        }
        self.http_requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                method: method.to_owned(),
                status,
            })
            .inc();
        self.http_duration
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
                method: method.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    /// The text exposition of every metric, with the values read at scrape time set first.
    pub fn render(&self, now: &Snapshot) -> String {
        self.intake_depth.set(clamp(now.intake_envelopes));
        self.log_size.set(clamp(now.log_entries));
        if let Some(free) = now.disk_free_bytes {
            self.disk_free.set(clamp(free));
        }
        for (witness, cosigned) in &now.witnesses {
            let labels = WitnessLabels {
                witness: witness.clone(),
            };
            let cosigned = cosigned.unwrap_or(0);
            self.witness_size
                .get_or_create(&labels)
                .set(clamp(cosigned));
            self.witness_lag
                .get_or_create(&labels)
                .set(clamp(now.log_entries.saturating_sub(cosigned)));
        }
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// Facts read when the metrics are scraped.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Envelopes in the intake.
    pub intake_envelopes: u64,
    /// Size of the latest durable checkpoint.
    pub log_entries: u64,
    /// Free bytes where the data lives (`None` for an in-memory store).
    pub disk_free_bytes: Option<u64>,
    /// Per witness of the policy: the size of the latest checkpoint it cosigned, if any.
    pub witnesses: Vec<(String, Option<u64>)>,
}

fn clamp(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prometheus_conventions() {
        let metrics = Metrics::new();
        metrics.block_committed(3, Duration::from_millis(2));
        metrics.refused("bad_signature");
        metrics.refused("bad_signature");
        metrics.request("/v1/entries", "POST", 201, Duration::from_millis(5));
        let text = metrics.render(&Snapshot {
            intake_envelopes: 7,
            log_entries: 10,
            disk_free_bytes: Some(1 << 30),
            witnesses: vec![("w1.example".into(), Some(8))],
        });
        for line in [
            "lodestone_entries_appended_total 3",
            "lodestone_events_refused_total{code=\"bad_signature\"} 2",
            "lodestone_http_requests_total{route=\"/v1/entries\",method=\"POST\",status=\"201\"} 1",
            "lodestone_block_commit_seconds_count 1",
            "lodestone_block_entries_sum 3.0",
            "lodestone_intake_envelopes 7",
            "lodestone_log_entries 10",
            "lodestone_disk_free_bytes 1073741824",
            "lodestone_witness_lag_entries{witness=\"w1.example\"} 2",
            "lodestone_witness_cosigned_size{witness=\"w1.example\"} 8",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        assert!(text.contains("# TYPE lodestone_http_request_duration_seconds histogram"));
    }
}
