//! `GET /batches/{id}/label`: the batch label for printing (issue 17; docs/CONSOLE.md) — batch,
//! form, mass, elements, producer and holder, and the producers of the ore (mining companies and
//! mines with their countries and mass shares), each with the entries that prove it. The figures
//! are those of `GET /v1/batches/{id}/label` (`audit::label`).

use std::fmt::Write as _;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::batch::resolve;
use super::layout::{self, country, esc, kg, page, percent, seg, words};
use super::{render, Id};
use crate::audit::label::{batch_label, BatchLabel, LabelParty};
use crate::audit::MAX_DAG_NODES;
use crate::http::AppState;

/// `GET /batches/{id}/label`.
#[utoipa::path(get, path = "/batches/{id}/label", tag = "pages", operation_id = "batch_label_page",
    summary = "Web page: the batch label naming the ore producers, for printing",
    params(("id" = String, Path, description = "Batch id (percent-encode `/` and `:`)", example = "MP-MAG-2026-0001")),
    responses(
        (status = 200, description = "HTML", content_type = "text/html", body = String),
        (status = 303, description = "To the canonical page (an id in another case or with spaces)"),
        (status = 404, description = "HTML page with a search box", content_type = "text/html", body = String)))]
pub async fn batch_label_page(State(state): State<AppState>, id: Id) -> Response {
    let id = id.map(|Path(id)| id).unwrap_or_default();
    render(move || label_page(&state, &id)).await
}

fn label_page(state: &AppState, raw: &str) -> Response {
    let record = match resolve(state, raw, "/label") {
        Ok(r) => r,
        Err(response) => return *response,
    };
    match batch_label(&state.store, &record.id, MAX_DAG_NODES) {
        Ok(label) => page(
            StatusCode::OK,
            &format!("Label {}", label.batch),
            &body(&label),
            None,
        ),
        Err(e) => layout::failed(e),
    }
}

fn party(p: &LabelParty) -> String {
    format!(
        "<a href=\"/actors/{}\">{}</a> ({})",
        seg(p.actor.as_str()),
        esc(&p.name),
        esc(&p
            .country
            .as_ref()
            .map(|c| country(c.as_str()))
            .unwrap_or_default())
    )
}

fn entry_link(index: u64) -> String {
    format!("<a href=\"/entries/{index}\">entry {index}</a>")
}

fn body(l: &BatchLabel) -> String {
    let elements = match &l.elements {
        Some(parts) => parts
            .iter()
            .map(|(e, g)| format!("{e} {}", kg(*g)))
            .collect::<Vec<_>>()
            .join(", "),
        None if l.element_names.is_empty() => "not declared".into(),
        None => l
            .element_names
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join(", "),
    };
    let s = seg(l.batch.as_str());
    let mut out = format!(
        "<h1>Label <span class=\"id\">{}</span></h1>\
         <dl class=\"facts\"><div><dt>Form</dt><dd>{}</dd></div>\
         <div><dt>Mass</dt><dd>{} made; {} now</dd></div>\
         <div><dt>Rare earths</dt><dd>{}</dd></div>\
         <div><dt>Producer</dt><dd>{} — {}</dd></div>\
         <div><dt>Holder</dt><dd>{}</dd></div></dl>\
         <p class=\"no-print\"><a href=\"/batches/{s}\">the batch</a> · \
         <a href=\"/v1/batches/{s}/label\">this label (JSON)</a> · <a href=\"/batches/{s}/print\">certificate of origin</a></p>\
         <h2>Producers of the ore</h2>",
        esc(l.batch.as_str()),
        esc(&words(&l.form)),
        kg(l.basis_g),
        kg(l.remaining_g),
        esc(&elements),
        party(&l.producer),
        entry_link(l.created_in),
        party(&l.holder),
    );
    if l.ore_producers.is_empty() {
        out.push_str("<p>No mined material: this batch's mass is recycled or untracked.</p>");
    } else {
        out.push_str("<table class=\"stack\"><thead><tr><th>Mining company</th><th>Mine</th><th>Country</th><th class=\"n\">Mass</th><th class=\"n\">Share</th><th>Extractions</th></tr></thead><tbody>");
        for p in &l.ore_producers {
            for m in &p.mines {
                let entries: Vec<String> =
                    m.extract_entries.iter().map(|&i| entry_link(i)).collect();
                let _ = write!(
                    out,
                    "<tr><td data-label=\"Company\"><a href=\"/actors/{}\">{}</a></td><td data-label=\"Mine\"><a href=\"/sites/{}\">{}</a></td>\
                     <td data-label=\"Country\">{}</td><td class=\"n\" data-label=\"Mass\">{}</td><td class=\"n\" data-label=\"Share\">{}</td><td data-label=\"Extractions\">{}</td></tr>",
                    seg(p.actor.as_str()),
                    esc(&p.name),
                    seg(m.site.as_str()),
                    esc(&m.name),
                    esc(&country(m.country.as_str())),
                    kg(m.grams),
                    esc(&percent(m.share)),
                    entries.join(", ")
                );
            }
        }
        out.push_str("</tbody></table>");
    }
    if l.recycled_g > 0 || l.untracked_g > 0 {
        let _ = write!(
            out,
            "<p>Not from ore: {} recycled, {} additives (untracked).</p>",
            kg(l.recycled_g),
            kg(l.untracked_g)
        );
    }
    out.push_str("<p class=\"muted\">Shares follow the mass-balance model of ISO 22095 over the batch's signed provenance; every entry named here is in the log and can be checked with its inclusion proof.</p>");
    out
}
