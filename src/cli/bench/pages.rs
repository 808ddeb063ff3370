//! The console section of `lodestone bench` (issue 13, "Measured"): the batch page of the deep
//! synthetic DAG's root (1,026 batches, drawn by stage), served by the running bench server.
//!
//! - **Server time**: `GET /batches/{root}` 50 times in a row, p50 (target < 30 ms).
//! - **Page weight**: the bytes of that page (target < 600 KB).
//! - **Time to draw** in headless Chromium (when `chromium` and `chromedriver` are installed):
//!   navigation start to the end of the load event, median of 5 loads (target < 1 s); reported as
//!   "skipped: no chromium" otherwise.

use serde_json::json;

use crate::model::ids::BatchId;
use crate::webdriver::{Driver, WebDriverError};

use super::load;
use super::report::{thousands, Report};

fn path_of(root: &BatchId) -> String {
    format!("/batches/{}", root.as_ref().replace('/', "%2F"))
}

/// Median load time (ms) of `url` in headless Chromium, or why it could not be measured.
fn draw_ms(url: &str) -> Result<f64, WebDriverError> {
    let driver = Driver::start()?;
    let session = driver.session(1280, 900)?;
    let mut samples = Vec::new();
    for _ in 0..5 {
        session.goto(url)?;
        let ms = session.execute(
            "const n = performance.getEntriesByType('navigation')[0]; return n.loadEventEnd - n.startTime;",
            vec![],
        )?;
        samples.push(ms.as_f64().unwrap_or(f64::NAN));
    }
    samples.sort_by(f64::total_cmp);
    Ok(samples[samples.len() / 2])
}

/// Measures and reports the batch page of `root` on the server at `base`.
pub fn section(report: &mut Report, base: &str, root: &BatchId, nodes: usize) {
    let path = path_of(root);
    report.section("console (batch page of the deep DAG)");
    let server = load::get_latency(base, &path, 50);
    let weight = ureq::get(&format!("{base}{path}"))
        .call()
        .ok()
        .and_then(|r| r.into_string().ok())
        .map(|body| body.len());
    match &server {
        Ok(l) => report.row(
            &format!("batch page, {nodes}-node DAG: server p50"),
            format!("{:.2} ms", l.p50),
            "< 30 ms",
            Some(l.p50 < 30.0),
        ),
        Err(status) => report.row(
            "batch page: server p50",
            format!("n/a ({status})"),
            "< 30 ms",
            None,
        ),
    }
    match weight {
        Some(bytes) => report.row(
            "  page weight",
            format!("{} KB", thousands((bytes / 1000) as f64)),
            "< 600 KB",
            Some(bytes < 600_000),
        ),
        None => report.row("  page weight", "n/a".into(), "< 600 KB", None),
    }
    let draw = draw_ms(&format!("{base}{path}"));
    match &draw {
        Ok(ms) => report.row(
            "  time to draw, headless Chromium (median of 5)",
            format!("{ms:.0} ms"),
            "< 1 s",
            Some(*ms < 1000.0),
        ),
        Err(WebDriverError::Missing { .. }) => report.row(
            "  time to draw, headless Chromium",
            "skipped: no chromium".into(),
            "< 1 s",
            None,
        ),
        Err(e) => report.row(
            "  time to draw, headless Chromium",
            format!("n/a ({e})"),
            "< 1 s",
            None,
        ),
    }
    report.put(
        "console",
        json!({
            "batch_page": {
                "root": root.to_string(),
                "nodes": nodes,
                "server_ms": server.as_ref().ok().map(|l| json!({"p50": l.p50, "p99": l.p99})),
                "bytes": weight,
                "draw_ms": draw.as_ref().ok(),
                "draw_skipped": draw.as_ref().err().map(ToString::to_string),
            }
        }),
    );
}
