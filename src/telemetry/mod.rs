//! What an operator sees of a running ledger: metrics ([`metrics`], Prometheus text format at
//! `GET /metrics`), request ids, and the process's log output ([`init_logging`]: human-readable
//! text or one JSON object per line for log collectors). docs/OPERATIONS.md lists every metric
//! and log field.

pub mod metrics;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

pub use metrics::{Metrics, Snapshot};

/// How the process writes its log lines (to stderr).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per event, with the fields of its spans (`request_id`, `route`, ...).
    Json,
}

/// The default filter when `LODESTONE_LOG` is not set.
pub const DEFAULT_FILTER: &str = "lodestone=info,tower_http=warn";

/// Installs the process's log subscriber: `LODESTONE_LOG` (an `EnvFilter` directive, e.g.
/// `lodestone=debug`) chooses what is logged, `format` how. Calling it twice does nothing.
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LODESTONE_LOG")
        .unwrap_or_else(|_| DEFAULT_FILTER.into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}

/// A new request id: this process's random tag and a sequence number (`3f9a1c2e-000042`), so
/// ids from two processes behind one load balancer do not collide.
pub fn request_id() -> String {
    static TAG: OnceLock<u32> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let tag = TAG.get_or_init(|| {
        let mut bytes = [0u8; 4];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut bytes);
        u32::from_be_bytes(bytes)
    });
    format!("{tag:08x}-{:06}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Whether a client's `x-request-id` may be kept as ours: 1 to 64 characters of
/// `[A-Za-z0-9._:-]` (anything else could forge log lines or headers).
pub fn acceptable_request_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// The error and its causes, outermost first, each said once: what an internal error logs.
pub fn cause_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let text = inner.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = inner.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_unique_and_acceptable() {
        let (a, b) = (request_id(), request_id());
        assert_ne!(a, b);
        assert!(acceptable_request_id(&a), "{a}");
        assert!(!acceptable_request_id(""));
        assert!(!acceptable_request_id("a\nb"));
        assert!(!acceptable_request_id(&"x".repeat(65)));
    }

    #[test]
    fn cause_chain_names_every_cause_once() {
        let wrapped = crate::store::StoreError::Io {
            file: "entries",
            op: "fdatasync",
            source: std::io::Error::other("disk on fire"),
        };
        let line = cause_chain(&wrapped);
        assert!(line.contains("disk on fire"), "{line}");
        assert_eq!(line.matches("disk on fire").count(), 1, "{line}");
    }
}
