//! One log entry (`/entries/{index}`: the signed event, who signed it with which key, its leaf
//! hash and its RFC 9162 inclusion proof against the latest checkpoint) and the log itself
//! (`/log`: the latest signed checkpoint, the witnessed one with its cosignatures, the key).

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
pub fn log(state: &AppState, _before: &str) -> Response {
    let head = state.sequencer.head();
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
        "<h2>Log key</h2><p>The checkpoint verifier key this server says it uses. Pin a key from a source you trust, not from here.</p><pre>{}</pre>\
         <h2>Latest entries</h2><ul>",
        esc(&state.verifier.to_text())
    );
    for index in (head.size.saturating_sub(20)..head.size).rev() {
        if let Some((_, event)) = event_of(state, index) {
            let _ = write!(
                body,
                "<li><a href=\"/entries/{index}\">#{index}</a> {} {}</li>",
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
    body.push_str("</ul>");
    page(StatusCode::OK, "Log", &body, None)
}
