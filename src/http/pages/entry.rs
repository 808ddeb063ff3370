//! One log entry (`/entries/{index}`: the signed event, who signed it with which key, its leaf
//! hash and its RFC 9162 inclusion proof against the latest checkpoint) and the log itself
//! (`/log`: the latest signed checkpoint, the witnessed one with its cosignatures, the key, and
//! the entries page by page under the signed checkpoint of the block that appended them).

use std::fmt::Write as _;

use axum::http::StatusCode;
use axum::response::Response;

use crate::ledger::StateView;
use crate::log::hash::leaf_hash;
use crate::log::tree::inclusion_proof;
use crate::model::keys::KeyId;

use super::super::AppState;
use super::custody::event_of;
use super::directory::Directory;
use super::layout::{self, date, esc, page, search_form, seg, thousands};

/// `GET /entries/{index}`.
pub fn entry(state: &AppState, raw: &str) -> Response {
    let head = state.sequencer.head();
    let Some(index) = raw.trim().parse::<u64>().ok().filter(|&i| i < head.size) else {
        return layout::not_found("entry", raw);
    };
    let Some(bytes) = state.store.entry(index).ok().flatten() else {
        return layout::not_found("entry", raw);
    };
    let Some((entry, event)) = event_of(state, index) else {
        return layout::failed(format!("entry {index} cannot be decoded"));
    };
    let names = Directory::new(&state.store);
    let proof = inclusion_proof(index, head.size, &state.store).unwrap_or_default();
    let mut body = format!(
        "{}<h1>Entry {}</h1><dl class=\"facts\"><div><dt>Kind</dt><dd>{}</dd></div>\
         <div><dt>Signed by</dt><dd>{}</dd></div><div><dt>Occurred</dt><dd>{}</dd></div>\
         <div><dt>Logged</dt><dd>{}</dd></div></dl>",
        search_form(""),
        thousands(index),
        esc(&event["kind"].as_str().unwrap_or("?").replace('_', " ")),
        event["actor"]
            .as_str()
            .and_then(|a| a.parse().ok())
            .map_or_else(|| "?".to_owned(), |a| names.actor_link(&a)),
        esc(&date(event["occurred_at"].as_str().unwrap_or(""))),
        esc(
            &chrono::DateTime::from_timestamp_millis(entry.logged_at_ms as i64)
                .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                .unwrap_or_default()
        ),
    );
    let pretty = serde_json::to_string_pretty(&event).unwrap_or_default();
    let _ = write!(
        body,
        "<h2>Event</h2><p class=\"muted\">The exact bytes the participant signed (DSSE payload <code>{}</code>), decoded:</p><pre>{}</pre>",
        esc(&entry.envelope.payload_type),
        esc(&pretty)
    );
    body.push_str("<h2>Signatures</h2><table class=\"stack\"><thead><tr><th>Key id (SHA-256)</th><th>Key of</th><th>Signature (Ed25519)</th></tr></thead><tbody>");
    for sig in &entry.envelope.signatures {
        let owner = sig
            .keyid
            .parse::<KeyId>()
            .ok()
            .and_then(|k| state.store.key(&k).ok().flatten())
            .map_or_else(|| "unknown key".to_owned(), |k| names.actor_link(&k.actor));
        let _ = write!(
            body,
            "<tr><td data-label=\"Key id\"><code class=\"id\">{}</code></td><td data-label=\"Key of\">{owner}</td><td data-label=\"Signature\"><code class=\"id\">{}</code></td></tr>",
            esc(&sig.keyid),
            esc(&hex::encode(&sig.sig))
        );
    }
    body.push_str("</tbody></table>");
    let _ = write!(
        body,
        "<h2>In the log</h2><dl class=\"facts\"><div><dt>Leaf hash (RFC 6962)</dt><dd><code class=\"id\">{}</code></dd></div>\
         <div><dt>Previous leaf hash (chain)</dt><dd><code class=\"id\">{}</code></dd></div>\
         <div><dt>Entry size</dt><dd>{} bytes</dd></div></dl>\
         <h3>Inclusion proof against the latest checkpoint ({} entries)</h3><ol>",
        esc(&leaf_hash(&bytes).to_base64()),
        esc(&entry.prev.to_base64()),
        thousands(bytes.len() as u64),
        thousands(head.size),
    );
    for h in &proof {
        let _ = write!(
            body,
            "<li><code class=\"id\">{}</code></li>",
            esc(&h.to_base64())
        );
    }
    let _ = write!(
        body,
        "</ol><p><a href=\"/log\">The checkpoint</a> · <a href=\"/v1/entries/{index}?proof={}\">entry and proof (JSON)</a> · <a href=\"/v1/entries/{index}/proof\">.tlog-proof</a></p>",
        head.size
    );
    page(StatusCode::OK, &format!("Entry {index}"), &body, None)
}

/// `GET /log`.
/// How many entries one page of `/log` lists.
const LOG_PAGE: u64 = 25;

/// `GET /log?before=N`: the latest checkpoint, the witnessed one, the key, and a page of entries
/// (the `LOG_PAGE` before `before`, newest first) grouped by the block that appended them, each
/// block with the checkpoint the log signed when it ended. A `before` that is not an index is
/// ignored, as are other query parameters (pages never answer a 400).
pub fn log(state: &AppState, before: &str) -> Response {
    let head = state.sequencer.head();
    let end = before
        .trim()
        .parse::<u64>()
        .ok()
        .map_or(head.size, |b| b.min(head.size));
    let start = end.saturating_sub(LOG_PAGE);
    let mut body = format!(
        "{}<h1>The log</h1><dl class=\"facts\"><div><dt>Origin</dt><dd>{}</dd></div>\
         <div><dt>Entries</dt><dd>{}</dd></div><div><dt>Root</dt><dd><code class=\"id\">{}</code></dd></div></dl>\
         <h2>Latest signed checkpoint</h2><p class=\"muted\">A C2SP signed note; the same text is served at <a href=\"/checkpoint\">/checkpoint</a> (witnessed, when the log has witnesses).</p><pre>{}</pre>",
        search_form(""),
        esc(state.verifier.name()),
        thousands(head.size),
        esc(&head.root.to_base64()),
        esc(&head.checkpoint),
    );
    match (&state.witnessing, state.witnessing.as_ref().and_then(|w| w.latest())) {
        (_, Some(w)) => {
            let _ = write!(
                body,
                "<h2>Witnessed checkpoint</h2><p>{} entries, cosigned by {} (C2SP tlog-cosignature lines after the log's own signature):</p><pre>{}</pre>",
                thousands(w.size),
                esc(&w.cosigned.join(", ")),
                esc(&w.note)
            );
        }
        (Some(_), None) => body.push_str("<h2>Witnesses</h2><p>Waiting for a quorum of witness cosignatures.</p>"),
        (None, None) => body.push_str("<h2>Witnesses</h2><p>This log runs without witnesses: compare its checkpoint with other auditors' (<code>lodestone verify</code> remembers the last one it checked).</p>"),
    }
    let _ = write!(
        body,
        "<h2>Log key</h2><p>The checkpoint verifier key this server says it uses. Pin a key from a source you trust, not from here.</p><pre>{}</pre>",
        esc(&state.verifier.to_text())
    );
    entry_blocks(state, start, end, head.size, &mut body);
    page(StatusCode::OK, "Log", &body, None)
}

/// Entries `start..end`, newest first, under the block (the checkpoint) that appended them, and
/// the links to the pages around them.
fn entry_blocks(state: &AppState, start: u64, end: u64, size: u64, body: &mut String) {
    let _ = write!(
        body,
        "<h2 id=\"entries\">Entries {}–{} and their checkpoints</h2>\
         <p class=\"muted\">The log appends entries in blocks and signs a checkpoint at the end of each; \
         every entry below is provable against the checkpoint of its block (and any later one).</p>",
        thousands(start),
        thousands(end.saturating_sub(1)),
    );
    let mut open: Option<String> = None;
    for index in (start..end).rev() {
        let checkpoint = state
            .store
            .checkpoint_covering(index)
            .ok()
            .flatten()
            .unwrap_or_default();
        if open.as_deref() != Some(checkpoint.as_str()) {
            if open.is_some() {
                body.push_str("</ul></section>");
            }
            let signed_at = checkpoint.lines().nth(1).unwrap_or("?");
            let _ = write!(
                body,
                "<section class=\"block\"><h3>Block ending at {} entries</h3>\
                 <details><summary>Its signed checkpoint</summary><pre>{}</pre></details><ul>",
                esc(&signed_at
                    .parse::<u64>()
                    .map_or_else(|_| signed_at.to_owned(), thousands)),
                esc(&checkpoint)
            );
            open = Some(checkpoint);
        }
        if let Some((_, event)) = event_of(state, index) {
            let _ = write!(
                body,
                "<li><a href=\"/entries/{index}\">#{}</a> {} {}</li>",
                thousands(index),
                esc(&event["kind"].as_str().unwrap_or("?").replace('_', " ")),
                event["batch"]
                    .as_str()
                    .map_or_else(String::new, |b| format!(
                        "<a class=\"id\" href=\"/batches/{}\">{}</a>",
                        seg(b),
                        esc(b)
                    ))
            );
        }
    }
    if open.is_some() {
        body.push_str("</ul></section>");
    }
    body.push_str("<nav class=\"pager\" aria-label=\"Entries\">");
    if end < size {
        let _ = write!(
            body,
            "<a href=\"/log#entries\">Latest entries</a><a rel=\"prev\" href=\"/log?before={}#entries\">Newer entries</a>",
            end.saturating_add(LOG_PAGE).min(size)
        );
    }
    if start > 0 {
        let _ = write!(
            body,
            "<a rel=\"next\" href=\"/log?before={start}#entries\">Older entries</a>"
        );
    }
    body.push_str("</nav>");
}
