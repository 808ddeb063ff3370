//! The write routes: `POST /v1/entries` (one envelope) and `POST /v1/entries:batch` (many, with
//! per-envelope results). Shape and payload are checked here, before the sequencer; signatures
//! and ledger rules in the sequencer. A rejected envelope writes nothing.
//!
//! The batch body is parsed as it streams in ([`super::stream`]): envelopes are gathered into
//! groups of at most [`GROUP_BYTES`] of payload and handed to the sequencer group by group, so a
//! batch holds at most one group in memory whatever its size. A batch under that size (every
//! batch of ordinary events) is one group, submitted only once the whole body has been read and
//! checked.

use std::collections::HashMap;
use std::io::Write as _;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::model::envelope::Envelope;
use crate::model::event::{Event, EventBody};
use crate::sequencer::{Client, Receipt, SequencerError, Submission};
use crate::store::Store;

use super::extract::Body;
use super::server::ClientAddr;
use super::stream::{self, Progress, Stop};
use super::{
    receipt, ApiError, AppState, ReceiptBody, BODY_TIMEOUT, MAX_BATCH_BODY, MAX_BATCH_ENVELOPES,
    MAX_ENVELOPE_JSON,
};

/// Weight gathered before a group of a batch goes to the sequencer: the payload bytes, plus
/// 200 per signature and 256 per envelope for what is held besides (the parsed event, the
/// signatures).
pub const GROUP_BYTES: usize = 12 * 1024 * 1024;
/// Weight of one signature in a group.
const SIGNATURE_WEIGHT: usize = 200;
/// Weight of one envelope in a group besides its payload and signatures.
const ENVELOPE_WEIGHT: usize = 256;
/// Read buffer of the streaming parser; the per-element bound is counted in its steps.
const READ_BUFFER: usize = 8 * 1024;

/// The client's address, as the connection layer recorded it.
pub fn client_addr(request: &Request) -> ClientAddr {
    request
        .extensions()
        .get::<ClientAddr>()
        .copied()
        .unwrap_or_default()
}

fn client_of(request: &Request) -> Client {
    Client::Remote(client_addr(request).0)
}

fn parse(bytes: &[u8]) -> Result<Submission, ApiError> {
    submission(Envelope::from_json(bytes)?)
}

fn submission(envelope: Envelope) -> Result<Submission, ApiError> {
    let event = Event::from_json(&envelope.payload)?;
    if matches!(event.body, EventBody::Genesis(_)) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "genesis_not_allowed",
            "a genesis event is written by `lodestone init`, never over HTTP",
        ));
    }
    Ok(Submission { envelope, event })
}

/// `POST /v1/entries`: `201` and a receipt, or `200` and the original receipt for an identical
/// retry.
#[utoipa::path(post, path = "/v1/entries", tag = "write", operation_id = "submit_entry",
    summary = "Submit one signed envelope",
    request_body = ref("#/components/schemas/Envelope"),
    responses(
        (status = 201, description = "Appended and durable: the receipt",
         body = ref("#/components/schemas/Receipt")),
        (status = 200, description = "An identical retry: the original receipt",
         body = ref("#/components/schemas/Receipt"))),
    extensions(("x-problems" = json!(["body_too_large", "bad_body",
        "malformed_envelope", "bad_base64", "bad_payload_type", "payload_too_large",
        "bad_signature_format", "malformed_event", "genesis_not_allowed", "entry_too_large",
        "busy", "rate_limited", "unavailable", "storage_unavailable", "read_only",
        "ledger_rules"]))))]
pub async fn submit_one(State(state): State<AppState>, request: Request) -> Response {
    let client = client_of(&request);
    if let Err(e) = state.sequencer.writable() {
        return refuse(&state, ApiError::from(e));
    }
    let body = match Body::read(request).await {
        Ok(body) => body,
        Err(e) => return refuse(&state, e),
    };
    let submission = match parse(&body) {
        Ok(s) => s,
        Err(e) => return refuse(&state, e),
    };
    let outcome = match state.sequencer.submit(client, vec![submission]).await {
        Ok(mut outcomes) => outcomes.pop().unwrap_or(Err(SequencerError::Stopped)),
        Err(e) => Err(e),
    };
    match outcome {
        Ok(done) => {
            let store = state.store.clone();
            let made = move || {
                if done.duplicate {
                    return receipt::build(&store, done.index);
                }
                // A fresh entry: the sequencer's checkpoint is its block's.
                let checkpoint = receipt::parse_own_checkpoint(&done.checkpoint)?;
                receipt::build_against(&store, done.index, &done.checkpoint, &checkpoint)
            };
            match tokio::task::spawn_blocking(made).await {
                Ok(Ok(body)) => {
                    let status = if done.duplicate {
                        StatusCode::OK
                    } else {
                        StatusCode::CREATED
                    };
                    (status, Json(body)).into_response()
                }
                Ok(Err(e)) => e.into_response(),
                Err(e) => ApiError::internal_error(&e).into_response(),
            }
        }
        Err(e) => refuse(&state, ApiError::from(e)),
    }
}

/// Counts a refused submission (`lodestone_events_refused_total`) and answers it.
fn refuse(state: &AppState, e: ApiError) -> Response {
    state.sequencer.metrics().refused(e.code);
    e.into_response()
}

/// `POST /v1/entries:batch` with `{"envelopes": [...]}`: one result per envelope, in order,
/// each `{"status": 201|200, "receipt": {...}}` or `{"status": 4xx, "problem": {...}}`. The
/// envelopes are appended in order (later ones may depend on earlier ones); each is accepted or
/// rejected on its own.
#[utoipa::path(post, path = "/v1/entries:batch", tag = "write", operation_id = "submit_batch",
    summary = "Submit many envelopes in order, one result each",
    request_body = ref("#/components/schemas/EnvelopeBatch"),
    responses((status = 200, description = "One result per envelope, in order",
               body = ref("#/components/schemas/BatchResults"))),
    extensions(("x-problems" = json!(["malformed_batch", "batch_too_large",
        "envelope_too_large", "body_too_large", "bad_body", "busy", "rate_limited",
        "unavailable", "storage_unavailable", "read_only"]))))]
pub async fn submit_batch(State(state): State<AppState>, request: Request) -> Response {
    let client = client_of(&request);
    if let Err(e) = state.sequencer.may_submit(client) {
        return refuse(&state, ApiError::from(e));
    }
    let _pass = match state.heavy.enter(client_addr(&request)) {
        Ok(pass) => pass,
        Err(e) => return refuse(&state, e),
    };
    if let Err(e) = stream::check_length(request.headers(), MAX_BATCH_BODY as u64) {
        return refuse(&state, e);
    }
    let reader = stream::pump(
        request.into_body(),
        MAX_BATCH_BODY as u64,
        BODY_TIMEOUT,
        // The reader runs up to a buffer ahead of the parser: allow for it, so that no envelope
        // is refused for its neighbour's bytes.
        Some((MAX_ENVELOPE_JSON + READ_BUFFER) as u64),
    );
    let runtime = tokio::runtime::Handle::current();
    let metrics = std::sync::Arc::clone(state.sequencer.metrics());
    let parsed = tokio::task::spawn_blocking(move || {
        let progress = reader.progress();
        let mut batch = Batch {
            progress: &progress,
            runtime,
            state,
            client,
            group: Vec::new(),
            group_bytes: 0,
            flushed: false,
            results: Vec::new(),
            accepted: 0,
            rejected: 0,
        };
        // Buffered: serde_json reads byte by byte. The element bound is then counted in buffer-sized
        // steps, so it holds to within 8 KiB.
        let mut deserializer = serde_json::Deserializer::from_reader(
            std::io::BufReader::with_capacity(READ_BUFFER, reader),
        );
        let outcome = BatchSeed(&mut batch)
            .deserialize(&mut deserializer)
            .and_then(|()| deserializer.end());
        match outcome {
            Ok(()) => {
                batch.flush()?;
                Ok(batch.response())
            }
            Err(e) => Err(match progress.stopped() {
                Some(stop) => stop.problem(),
                None => malformed(e.to_string()),
            }),
        }
    })
    .await;
    match parsed {
        Ok(Ok(body)) => (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
        Ok(Err(e)) => {
            metrics.refused(e.code);
            e.into_response()
        }
        Err(e) => ApiError::internal_error(&e).into_response(),
    }
}

fn malformed(detail: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(
        "malformed_batch",
        format!("expected {{\"envelopes\": [...]}}: {detail}"),
    )
}

/// A batch being read: the current group and the results so far (as JSON text).
struct Batch<'a> {
    progress: &'a Progress,
    runtime: tokio::runtime::Handle,
    state: AppState,
    client: Client,
    group: Vec<Result<Submission, ApiError>>,
    group_bytes: usize,
    /// A group went to the sequencer already: later refusals are per envelope.
    flushed: bool,
    results: Vec<u8>,
    accepted: usize,
    rejected: usize,
}

impl Batch<'_> {
    fn push(&mut self, element: Value) -> Result<(), ApiError> {
        let parsed = Envelope::from_json_value(element)
            .map_err(ApiError::from)
            .and_then(submission);
        if let Ok(s) = &parsed {
            self.group_bytes += s.envelope.payload.len()
                + s.envelope.signatures.len() * SIGNATURE_WEIGHT
                + ENVELOPE_WEIGHT;
        }
        self.group.push(parsed);
        if self.group_bytes >= GROUP_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    /// Submits the current group and writes its results. A refusal of the whole first group is
    /// the answer to the whole request (nothing was written); later ones are per envelope.
    fn flush(&mut self) -> Result<(), ApiError> {
        let group = std::mem::take(&mut self.group);
        self.group_bytes = 0;
        // Move the submissions out (no copies); keep each refusal in its place.
        let mut submissions = Vec::with_capacity(group.len());
        let group: Vec<Result<(), ApiError>> = group
            .into_iter()
            .map(|p| p.map(|s| submissions.push(s)))
            .collect();
        let submitted = if submissions.is_empty() {
            Ok(Vec::new())
        } else {
            self.runtime
                .block_on(self.state.sequencer.submit(self.client, submissions))
        };
        let first = !self.flushed;
        self.flushed = true;
        let outcomes: Vec<Result<Receipt, ApiError>> = match submitted {
            Ok(outcomes) => outcomes
                .into_iter()
                .map(|o| o.map_err(ApiError::from))
                .collect(),
            Err(e) if first => return Err(ApiError::from(e)),
            Err(e) => {
                let problem = ApiError::from(e);
                group
                    .iter()
                    .filter(|p| p.is_ok())
                    .map(|_| Err(problem.clone()))
                    .collect()
            }
        };
        let mut outcomes = outcomes.into_iter();
        let merged: Vec<Result<Receipt, ApiError>> = group
            .into_iter()
            .map(|p| match p {
                Err(e) => Err(e),
                Ok(_) => outcomes
                    .next()
                    .unwrap_or_else(|| Err(ApiError::from(SequencerError::Stopped))),
            })
            .collect();
        let metrics = self.state.sequencer.metrics();
        for refused in merged.iter().filter_map(|r| r.as_ref().err()) {
            metrics.refused(refused.code);
        }
        for result in results(&self.state.store, merged) {
            if result["status"].as_u64().is_some_and(|s| s < 300) {
                self.accepted += 1;
            } else {
                self.rejected += 1;
            }
            if self.accepted + self.rejected > 1 {
                self.results.push(b',');
            }
            serde_json::to_writer(&mut self.results, &result).map_err(ApiError::internal)?;
        }
        Ok(())
    }

    fn response(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.results.len() + 64);
        let _ = write!(
            out,
            "{{\"accepted\":{},\"rejected\":{},\"results\":[",
            self.accepted, self.rejected
        );
        out.extend_from_slice(&self.results);
        out.extend_from_slice(b"]}");
        out
    }
}

/// One result object per envelope: receipts (with proofs) built in parallel.
fn results(store: &Store, merged: Vec<Result<Receipt, ApiError>>) -> Vec<Value> {
    use rayon::prelude::*;
    // Fresh entries share their block's checkpoint: parse each once.
    let mut checkpoints = HashMap::new();
    for done in merged.iter().flatten().filter(|d| !d.duplicate) {
        checkpoints
            .entry(done.size)
            .or_insert_with(|| receipt::parse_own_checkpoint(&done.checkpoint));
    }
    // Every fresh receipt's nodes in one read; whatever that misses is read as it comes.
    let ahead = receipt::ReceiptNodes::read(
        store,
        merged
            .iter()
            .flatten()
            .filter(|d| !d.duplicate)
            .map(|d| (d.index, d.size)),
    )
    .unwrap_or_default();
    let make = |reader: &mut receipt::MemoReader<'_>, done: Receipt| {
        if done.duplicate {
            return Ok((receipt::build(store, done.index)?, true));
        }
        let checkpoint = match checkpoints.get(&done.size) {
            Some(Ok(checkpoint)) => checkpoint,
            Some(Err(e)) => return Err(e.clone()),
            None => return Err(ApiError::internal("a receipt without its checkpoint")),
        };
        let body = receipt::build_against(&*reader, done.index, &done.checkpoint, checkpoint)?;
        Ok((body, false))
    };
    merged
        .into_par_iter()
        .map_init(
            || receipt::MemoReader::new(store, &ahead),
            |reader, r| r.and_then(|done| make(reader, done)),
        )
        .map(|r: Result<(ReceiptBody, bool), ApiError>| match r {
            Ok((receipt, duplicate)) => serde_json::json!({
                "status": if duplicate { 200 } else { 201 },
                "receipt": receipt,
            }),
            Err(e) => serde_json::json!({
                "status": e.status.as_u16(),
                "problem": e.problem(),
            }),
        })
        .collect()
}

/// `{"envelopes": [...]}` and nothing else, read element by element.
struct BatchSeed<'a, 'b>(&'a mut Batch<'b>);

impl<'de> DeserializeSeed<'de> for BatchSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for BatchSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object {\"envelopes\": [...]}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        use serde::de::Error as _;
        let mut seen = false;
        while let Some(key) = map.next_key::<String>()? {
            if key != "envelopes" {
                return Err(A::Error::custom(format!("unknown field `{key}`")));
            }
            if seen {
                return Err(A::Error::custom("duplicate field `envelopes`"));
            }
            seen = true;
            map.next_value_seed(Envelopes(&mut *self.0))?;
        }
        if !seen {
            return Err(A::Error::custom("missing field `envelopes`"));
        }
        Ok(())
    }
}

/// The `envelopes` array: each element parsed on its own, at most [`MAX_BATCH_ENVELOPES`].
struct Envelopes<'a, 'b>(&'a mut Batch<'b>);

impl<'de> DeserializeSeed<'de> for Envelopes<'_, '_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Envelopes<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("`envelopes` as an array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        use serde::de::Error as _;
        let batch = self.0;
        for _ in 0..MAX_BATCH_ENVELOPES {
            batch.progress.mark();
            let Some(element) = seq.next_element::<Value>()? else {
                return Ok(());
            };
            if let Err(e) = batch.push(element) {
                batch.progress.stop(Stop::Refused(e));
                return Err(A::Error::custom("refused"));
            }
        }
        batch.progress.mark();
        if seq.next_element::<IgnoredAny>()?.is_some() {
            batch.progress.stop(Stop::TooMany {
                limit: MAX_BATCH_ENVELOPES,
            });
            return Err(A::Error::custom("too many envelopes"));
        }
        Ok(())
    }
}
