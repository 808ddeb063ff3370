//! Large bodies read as a stream: the batch route and the bundle verifier parse while the body
//! arrives, never holding the whole body or a `serde_json::Value` of it.
//!
//! An async task pumps the body's frames into a small channel, counting bytes against the
//! route's limit and the body deadline; a blocking task reads them through [`BodyReader`] (a
//! `std::io::Read`) with `serde_json`. For batches, the reader also bounds each element of
//! `envelopes` to [`MAX_ENVELOPE_JSON`](super::MAX_ENVELOPE_JSON) bytes, so one element costs at
//! most that much memory, and the parser stops at the 10,001st element.

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, StatusCode};
use http_body_util::BodyExt as _;
use tokio::sync::mpsc;

use super::ApiError;

/// Why reading stopped before the end of the body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    /// More bytes than the route's limit.
    BodyTooLarge { limit: u64 },
    /// The body did not arrive within the deadline.
    Timeout,
    /// One element of `envelopes` is larger than an envelope can be.
    EnvelopeTooLarge { limit: u64 },
    /// More elements than a batch may hold.
    TooMany { limit: usize },
    /// The batch was refused as a whole by the intake (nothing written).
    Refused(ApiError),
    /// The connection failed.
    Read(String),
}

impl Stop {
    /// The problem answered for it.
    pub fn problem(&self) -> ApiError {
        match self {
            Stop::BodyTooLarge { limit } => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("the request body is larger than this route accepts ({limit} bytes); see docs/API.md"),
            ),
            Stop::Timeout => ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "timeout",
                format!(
                    "the request body did not arrive within {} s",
                    super::BODY_TIMEOUT.as_secs()
                ),
            ),
            Stop::EnvelopeTooLarge { limit } => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "envelope_too_large",
                format!("an element of `envelopes` is larger than the largest envelope ({limit} bytes of JSON)"),
            ),
            Stop::TooMany { limit } => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "batch_too_large",
                format!("more than {limit} envelopes; at most {limit} per request"),
            ),
            Stop::Refused(e) => e.clone(),
            Stop::Read(detail) => ApiError::bad_request("bad_body", detail.clone()),
        }
    }
}

/// What the reader and the parser share: bytes read, where the current element started, and
/// why reading stopped.
#[derive(Default)]
pub struct Progress {
    read: AtomicU64,
    /// Offset the per-element bound counts from.
    mark: AtomicU64,
    stop: Mutex<Option<Stop>>,
}

impl Progress {
    /// Starts the per-element bound at the current offset.
    pub fn mark(&self) {
        self.mark
            .store(self.read.load(Ordering::Acquire), Ordering::Release);
    }

    /// Records why parsing stops (the first reason wins).
    pub fn stop(&self, stop: Stop) {
        let mut slot = self.stop.lock().unwrap_or_else(|e| e.into_inner());
        slot.get_or_insert(stop);
    }

    /// Why reading stopped, if it did.
    pub fn stopped(&self) -> Option<Stop> {
        self.stop.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The body as a blocking reader (use on a blocking thread only).
pub struct BodyReader {
    frames: mpsc::Receiver<Result<Bytes, Stop>>,
    chunk: Bytes,
    progress: Arc<Progress>,
    element_limit: Option<u64>,
}

impl BodyReader {
    /// What the parser shares with this reader.
    pub fn progress(&self) -> Arc<Progress> {
        Arc::clone(&self.progress)
    }
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.chunk.is_empty() {
            match self.frames.blocking_recv() {
                Some(Ok(bytes)) => self.chunk = bytes,
                Some(Err(stop)) => {
                    self.progress.stop(stop);
                    return Err(std::io::Error::other("body stopped"));
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        let _ = self.chunk.split_to(n);
        let read = self.progress.read.fetch_add(n as u64, Ordering::AcqRel) + n as u64;
        if let Some(limit) = self.element_limit {
            let mark = self.progress.mark.load(Ordering::Acquire);
            if read.saturating_sub(mark) > limit {
                self.progress.stop(Stop::EnvelopeTooLarge { limit });
                return Err(std::io::Error::other("element too large"));
            }
        }
        Ok(n)
    }
}

/// Refuses a declared `content-length` over `limit` before reading anything.
pub fn check_length(headers: &HeaderMap, limit: u64) -> Result<(), ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(length) if length > limit => Err(Stop::BodyTooLarge { limit }.problem()),
        _ => Ok(()),
    }
}

/// Starts pumping `body` (at most `limit` bytes, within `deadline`) and returns its reader.
/// `element_limit` bounds the bytes between two [`Progress::mark`]s.
pub fn pump(body: Body, limit: u64, deadline: Duration, element_limit: Option<u64>) -> BodyReader {
    let (tx, frames) = mpsc::channel(4);
    tokio::spawn(async move {
        let mut body = body;
        let mut total = 0u64;
        let until = tokio::time::Instant::now() + deadline;
        loop {
            let frame = match tokio::time::timeout_at(until, body.frame()).await {
                Err(_) => Err(Stop::Timeout),
                Ok(None) => return,
                Ok(Some(Err(e))) => Err(Stop::Read(format!("the body could not be read: {e}"))),
                Ok(Some(Ok(frame))) => match frame.into_data() {
                    Ok(bytes) => {
                        total += bytes.len() as u64;
                        if total > limit {
                            Err(Stop::BodyTooLarge { limit })
                        } else {
                            Ok(bytes)
                        }
                    }
                    // Trailers carry nothing we read.
                    Err(_) => continue,
                },
            };
            let last = frame.is_err();
            if tx.send(frame).await.is_err() || last {
                // The parser is done (or failed): stop reading; the connection closes after the
                // answer instead of draining an unwanted body.
                return;
            }
        }
    });
    BodyReader {
        frames,
        chunk: Bytes::new(),
        progress: Arc::new(Progress::default()),
        element_limit,
    }
}
