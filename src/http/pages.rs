//! Web pages for people: an overview of the log (`GET /`) and a batch's provenance
//! (`GET /batches/{id}`), rendered on the server as plain HTML — no scripts, every value escaped.
//! Machines use the JSON routes; these pages link to them.

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::audit::{self, NodeCreation, Provenance, MAX_DAG_NODES};
use crate::model::entry::Entry;
use crate::model::ids::BatchId;

use super::extract::{P, Q};
use super::{ApiError, AppState};

/// Escapes text for HTML element content and attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a batch id for a path segment.
fn seg(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// The JSON name of a domain enum (`magnet_maker`, `separation`, `oxide`).
fn name<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn grams(g: u64) -> String {
    if g >= 1_000_000 {
        format!("{:.3} t", g as f64 / 1_000_000.0)
    } else if g >= 1_000 {
        format!("{:.3} kg", g as f64 / 1_000.0)
    } else {
        format!("{g} g")
    }
}

fn page(title: &str, body: &str) -> Response {
    let html = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Lodestone</title>
<style>
body{{font:15px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:70rem;padding:0 1rem;color:#1d2433}}
h1{{font-size:1.5rem}} h2{{font-size:1.15rem;margin-top:2rem}}
table{{border-collapse:collapse;width:100%;margin:.5rem 0}} td,th{{border-bottom:1px solid #dde;padding:.3rem .5rem;text-align:left;vertical-align:top}}
th{{background:#f3f4f8}} td.n{{text-align:right;font-variant-numeric:tabular-nums}}
code,pre{{font:13px ui-monospace,monospace;background:#f3f4f8;padding:.1rem .3rem}} pre{{padding:.6rem;overflow-x:auto}}
.bar{{background:#3b6fd8;height:.7rem;display:inline-block}} a{{color:#2452b5}} nav a{{margin-right:1rem}}
</style></head><body>
<nav><a href="/">Lodestone</a><a href="/v1/log">/v1/log</a><a href="/checkpoint">/checkpoint</a><a href="/v1/actors">/v1/actors</a></nav>
{body}
</body></html>"#,
        title = esc(title),
    );
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
}

/// `GET /?batch=ID`; other parameters are ignored (a page for people).
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Lookup {
    /// A batch id: redirects to its page.
    batch: Option<String>,
}

/// `GET /`: what this log is, where it stands, the participants and the latest entries.
#[utoipa::path(get, path = "/", tag = "pages", operation_id = "overview_page",
    summary = "Web page: the log, its participants, the latest entries",
    params(Lookup),
    responses(
        (status = 200, description = "HTML", content_type = "text/html", body = String),
        (status = 303, description = "`?batch=ID`: to the batch's page",
         headers(("location" = String, description = "`/batches/{id}`")))),
    extensions(("x-problems" = json!(["bad_query"]))))]
pub async fn overview(
    State(state): State<AppState>,
    Q(lookup): Q<Lookup>,
) -> Result<Response, ApiError> {
    if let Some(batch) = lookup.batch.filter(|b| !b.is_empty()) {
        return Ok(
            axum::response::Redirect::to(&format!("/batches/{}", seg(&batch))).into_response(),
        );
    }
    let head = state.sequencer.head();
    let mut body = String::new();
    let _ = write!(
        body,
        "<h1>Rare-earth provenance ledger</h1>\
         <p>Every batch event — extracted, processed, shipped, received, certified, retired — is \
         signed by the participant that made it, checked against the custody and mass-balance \
         rules, and appended to a Merkle log whose checkpoints are signed. Anyone with the log key \
         can verify it.</p>\
         <table><tr><th>Log</th><td><code>{}</code></td></tr>\
         <tr><th>Entries</th><td>{}</td></tr>\
         <tr><th>Root</th><td><code>{}</code></td></tr>\
         <tr><th>Log key</th><td><code>{}</code></td></tr></table>\
         <form action=\"/\"><label>Batch id <input name=\"batch\" size=\"40\"></label> \
         <button>Show provenance</button></form>",
        esc(state.verifier.name()),
        head.size,
        head.root.to_base64(),
        esc(&state.verifier.to_text()),
    );
    body.push_str("<h2>Participants</h2><table><tr><th>Actor</th><th>Name</th><th>Country</th><th>Roles</th><th>Sites</th></tr>");
    for actor in state.store.actors().map_err(ApiError::internal)? {
        let roles: Vec<String> = actor.roles.iter().map(name).collect();
        let sites: Vec<String> = actor.sites.iter().map(|s| esc(s.as_str())).collect();
        let _ = write!(
            body,
            "<tr><td><a href=\"/v1/actors/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            seg(actor.id.as_str()),
            esc(actor.id.as_str()),
            esc(&actor.name),
            esc(actor.country.as_str()),
            esc(&roles.join(", ")),
            sites.join(", "),
        );
    }
    body.push_str("</table><h2>Latest entries</h2><table><tr><th>#</th><th>Kind</th><th>Event</th><th>Actor</th><th>Batches</th></tr>");
    let start = head.size.saturating_sub(25);
    for (offset, bytes) in state
        .store
        .entries(start, head.size)
        .map_err(ApiError::internal)?
        .into_iter()
        .enumerate()
        .rev()
    {
        let index = start + offset as u64;
        let Ok(entry) = Entry::decode(&bytes) else {
            continue;
        };
        let event: serde_json::Value =
            serde_json::from_slice(&entry.envelope.payload).unwrap_or_default();
        let mut batches: Vec<String> = Vec::new();
        for key in ["batch"] {
            if let Some(b) = event[key].as_str() {
                batches.push(b.to_owned());
            }
        }
        for list in ["inputs", "outputs"] {
            for item in event[list].as_array().into_iter().flatten() {
                if let Some(b) = item["batch"].as_str() {
                    batches.push(b.to_owned());
                }
            }
        }
        let links: Vec<String> = batches
            .iter()
            .map(|b| format!("<a href=\"/batches/{}\">{}</a>", seg(b), esc(b)))
            .collect();
        let _ = write!(
            body,
            "<tr><td><a href=\"/v1/entries/{index}\">{index}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(event["kind"].as_str().unwrap_or("?")),
            esc(event["id"].as_str().unwrap_or("?")),
            esc(event["actor"].as_str().unwrap_or("?")),
            links.join(", "),
        );
    }
    body.push_str("</table>");
    Ok(page("Overview", &body))
}

fn share_rows(rows: impl Iterator<Item = (String, u64, f64)>) -> String {
    let mut out =
        String::from("<table><tr><th>Source</th><th>Grams</th><th>Share of the batch</th></tr>");
    for (label, g, share) in rows {
        let _ = write!(
            out,
            "<tr><td>{label}</td><td class=\"n\">{}</td><td><span class=\"bar\" style=\"width:{:.1}%\"></span> {:.2}%</td></tr>",
            grams(g),
            (share * 100.0).clamp(0.0, 100.0) * 0.6,
            share * 100.0
        );
    }
    out.push_str("</table>");
    out
}

fn provenance_body(p: &Provenance) -> String {
    let id = p.batch.as_str();
    let o = &p.origins;
    let mut body = format!(
        "<h1>Batch <code>{}</code></h1>\
         <p><a href=\"/v1/batches/{s}\">state (JSON)</a> · <a href=\"/v1/batches/{s}/provenance\">provenance (JSON)</a> · \
         <a href=\"/v1/batches/{s}/downstream\">downstream</a> · <a href=\"/v1/batches/{s}/bundle\">offline bundle</a></p>\
         <p>{} at creation, {} now. Traced to mines: {}; recycled: {}; untracked additives: {}.</p>",
        esc(id),
        grams(o.basis_g),
        grams(o.remaining_g),
        grams(o.mined_g),
        grams(o.recycled_g),
        grams(o.untracked_g),
        s = seg(id),
    );
    body.push_str("<h2>Origin by country of the mine</h2>");
    body.push_str(&share_rows(
        o.origins_by_country
            .iter()
            .map(|c| (esc(c.country.as_str()), c.grams, c.share)),
    ));
    body.push_str("<h2>Origin by mine</h2>");
    body.push_str(&share_rows(o.origins_by_site.iter().map(|s| {
        (
            format!(
                "{} — {} ({})",
                esc(&s.name),
                esc(&s.owner_name),
                esc(s.country.as_str())
            ),
            s.grams,
            s.share,
        )
    })));
    if !o.recycled_by.is_empty() {
        body.push_str("<h2>Recycled material</h2>");
        body.push_str(&share_rows(
            o.recycled_by
                .iter()
                .map(|r| (esc(&r.name), r.grams, r.share)),
        ));
    }
    body.push_str("<h2>Upstream, from the mines to this batch</h2><table><tr><th>Batch</th><th>Form</th><th>Made by</th><th>Mass</th><th>Holder</th><th>Certificates</th></tr>");
    for node in &p.dag.nodes {
        let made = match &node.creation {
            NodeCreation::Extract { site } => format!("extracted at {}", esc(site.as_str())),
            NodeCreation::Transform {
                process, operator, ..
            } => {
                format!("{} by {}", esc(&name(process)), esc(operator.as_str()))
            }
        };
        let inputs: Vec<String> = p
            .dag
            .edges
            .iter()
            .filter(|e| e.to == node.batch)
            .map(|e| {
                format!(
                    "{} from <a href=\"/batches/{}\">{}</a>",
                    grams(e.taken_g),
                    seg(e.from.as_str()),
                    esc(e.from.as_str())
                )
            })
            .collect();
        let certs: Vec<String> = node
            .certificates
            .iter()
            .map(|c| format!("{} by {}", esc(&c.statement), esc(c.certifier.as_str())))
            .collect();
        let _ = write!(
            body,
            "<tr><td><a href=\"/batches/{}\">{}</a></td><td>{}</td><td>{}{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td></tr>",
            seg(node.batch.as_str()),
            esc(node.batch.as_str()),
            esc(&name(&node.form)),
            made,
            if inputs.is_empty() { String::new() } else { format!("<br><small>{}</small>", inputs.join("<br>")) },
            grams(node.created_g),
            esc(node.custodian.as_str()),
            certs.join("<br>"),
        );
    }
    body.push_str("</table>");
    let _ = write!(
        body,
        "<h2>Check it yourself</h2><pre>curl -s $SERVER/v1/batches/{s}/bundle &gt; batch.bundle.json\n\
         lodestone verify-bundle batch.bundle.json --log-key \"$(curl -s $SERVER/v1/log | jq -r .verifier_key)\"</pre>",
        s = seg(id)
    );
    body
}

/// `GET /batches/{id}`: a batch's provenance as a page.
#[utoipa::path(get, path = "/batches/{id}", tag = "pages", operation_id = "batch_page",
    summary = "Web page: a batch's provenance",
    params(("id" = String, Path, description = "Batch id (percent-encode `/` and `:`)",
            pattern = "^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$", example = "MP-MAG-2026-0001")),
    responses((status = 200, description = "HTML", content_type = "text/html", body = String)),
    extensions(("x-problems" = json!(["bad_id", "not_found", "dag_too_large"]))))]
pub async fn batch(State(state): State<AppState>, P(id): P<String>) -> Result<Response, ApiError> {
    let id: BatchId = id
        .parse()
        .map_err(|e| ApiError::bad_request("bad_id", format!("batch id `{id}`: {e}")))?;
    let store = state.store.clone();
    let provenance =
        tokio::task::spawn_blocking(move || audit::provenance(&store, &id, MAX_DAG_NODES))
            .await
            .map_err(ApiError::internal)??;
    let title = format!("Batch {}", provenance.batch);
    Ok(page(&title, &provenance_body(&provenance)))
}
