//! The EPCIS section of the bench (issue 14): export throughput and the time to answer
//! `GET /v1/epcis/events?perPage=1000` on the bench's synthetic ledger, over HTTP against the
//! bench's own server. It pages through the log from the start, following the `Link` header, for
//! at most [`MAX_PAGES`] pages; every page is a full EPCIS 2.0 query document with event hashes.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::median;
use super::report::{thousands, Report};

/// Pages read at most (1,000 events each).
const MAX_PAGES: usize = 50;

/// Measures and reports.
pub fn section(report: &mut Report, base: &str) -> anyhow::Result<()> {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(120))
        .build();
    let mut path = "/v1/epcis/events?perPage=1000".to_owned();
    let mut page_ms = Vec::new();
    let mut events = 0usize;
    let started = Instant::now();
    for _ in 0..MAX_PAGES {
        let start = Instant::now();
        let response = agent.get(&format!("{base}{path}")).call()?;
        let next = response.header("link").and_then(|l| {
            let (a, b) = (l.find('<')?, l.find('>')?);
            Some(l[a + 1..b].to_owned())
        });
        let doc: Value = response.into_json()?;
        page_ms.push(start.elapsed().as_secs_f64() * 1e3);
        events += doc["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
            .as_array()
            .map_or(0, Vec::len);
        match next {
            Some(n) => path = n,
            None => break,
        }
    }
    let per_sec = events as f64 / started.elapsed().as_secs_f64().max(1e-9);
    let pages = page_ms.len();
    let p50 = median(page_ms.clone());
    let max = page_ms.iter().copied().fold(0.0, f64::max);
    report.section("EPCIS 2.0 export over HTTP");
    report.row(
        &format!("export, {events} events in {pages} pages"),
        format!("{} events/s", thousands(per_sec)),
        "",
        None,
    );
    report.row(
        "GET /v1/epcis/events?perPage=1000: p50, max",
        format!("{p50:.1}, {max:.1} ms"),
        "",
        None,
    );
    report.put(
        "epcis",
        json!({"events": events, "pages": pages, "events_per_sec": per_sec,
               "page_ms_p50": p50, "page_ms_max": max, "per_page": 1000}),
    );
    Ok(())
}
