//! Bench section (issue 12): the compliance verdicts of the ~1,000-node synthetic DAG over HTTP
//! — `GET /v1/batches/{id}/compliance` (all built-in policies: lineage by stage, per-element
//! shares, four verdicts) — target p50 < 10 ms. The per-element balance's cost in the append
//! path is in the stage breakdown (`breakdown.rs`, the `element balance` row).

use serde_json::{json, Value};

use super::load;
use super::report::Report;

/// Measures the compliance route on `root` and reports it; returns the JSON for `bench.json`.
pub(super) fn measure(report: &mut Report, base: &str, root: &str, nodes: usize) -> Value {
    let path = format!("/v1/batches/{}/compliance", root.replace('/', "%2F"));
    match load::get_latency(base, &path, 100) {
        Ok(l) => {
            report.row(
                &format!("compliance verdicts, {nodes}-node DAG: p50"),
                format!("{:.2} ms", l.p50),
                "< 10 ms",
                Some(l.p50 < 10.0),
            );
            report.row("  p99", format!("{:.2} ms", l.p99), "", None);
            json!({"p50_ms": l.p50, "p99_ms": l.p99, "max_ms": l.max, "requests": 100})
        }
        Err(status) => {
            report.row(
                &format!("compliance verdicts, {nodes}-node DAG"),
                format!("n/a ({status})"),
                "< 10 ms",
                None,
            );
            json!({"available": false, "status": status})
        }
    }
}
