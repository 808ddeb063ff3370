//! The overview (`/`), search (`/search`), the batch list (`/batches`, paged and filterable by
//! form) and the company list (`/actors`).
//!
//! Search matches any part of an id or a name, in any case. Batch ids are read in id order
//! without their records, and at most [`SCAN_BUDGET`] of them per request: a search that runs
//! out says so and how to narrow it, instead of holding the server.

use std::fmt::Write as _;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use crate::ledger::StateView;
use crate::model::ids::BatchId;

use super::super::AppState;
use super::custody::event_of;
use super::directory::Directory;
use super::layout::{country, date, esc, kg, page, search_form, seg, thousands, words};

/// Batch ids one search or filtered list reads at most.
pub const SCAN_BUDGET: usize = 200_000;
/// Rows per page of a list.
pub const PAGE: usize = 50;

fn batch_link(id: &str) -> String {
    format!(
        "<a class=\"id\" href=\"/batches/{}\">{}</a>",
        seg(id),
        esc(id)
    )
}

/// `GET /`.
pub fn overview(state: &AppState) -> Response {
    let head = state.sequencer.head();
    let names = Directory::new(&state.store);
    let witnesses = match state.witnessing.as_ref().and_then(|w| w.latest()) {
        Some(w) => format!(
            "{} entries cosigned by {}",
            thousands(w.size),
            esc(&w.cosigned.join(", "))
        ),
        None if state.witnessing.is_some() => "waiting for a quorum".into(),
        None => "none configured".into(),
    };
    let mut body = format!(
        "<h1>Rare-earth provenance ledger</h1>\
         <p>Every event — extracted, processed, shipped, received, certified, retired — is signed by the \
         participant that made it, checked against custody and mass-balance rules, and appended to a Merkle \
         log with signed checkpoints. Anyone with the log key can check it.</p>{}\
         <dl class=\"facts\"><div><dt>Log</dt><dd>{}</dd></div><div><dt>Entries</dt><dd>{}</dd></div>\
         <div><dt>Witnesses</dt><dd>{witnesses}</dd></div><div><dt>Checkpoint</dt><dd><a href=\"/log\">signed checkpoints</a></dd></div></dl>",
        search_form(""),
        esc(state.verifier.name()),
        thousands(head.size),
    );
    body.push_str("<h2>Magnets and products</h2><p><a href=\"/batches?form=magnet\">All magnets</a> · <a href=\"/batches?form=product\">all products</a> · <a href=\"/batches?form=component\">components</a> · <a href=\"/batches\">every batch</a></p>");
    // The latest batches made, newest first, from the log's tail.
    body.push_str("<h2>Latest batches</h2><table class=\"stack\"><thead><tr><th>Batch</th><th>Form</th><th>Made by</th><th>Date</th></tr></thead><tbody>");
    let start = head.size.saturating_sub(200);
    let mut shown = 0;
    for index in (start..head.size).rev() {
        if shown >= 15 {
            break;
        }
        let Some((_, event)) = event_of(state, index) else {
            continue;
        };
        let made: Vec<(String, String)> = match event["kind"].as_str() {
            Some("extract") => vec![(
                event["batch"].as_str().unwrap_or("").to_owned(),
                event["form"].as_str().unwrap_or("").to_owned(),
            )],
            Some("transform") => event["outputs"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|o| {
                    (
                        o["batch"].as_str().unwrap_or("").to_owned(),
                        o["form"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect(),
            _ => Vec::new(),
        };
        for (batch, form) in made {
            shown += 1;
            let who = event["actor"]
                .as_str()
                .and_then(|a| a.parse().ok())
                .map_or_else(String::new, |a| names.actor_link(&a));
            let _ = write!(
                body,
                "<tr><td data-label=\"Batch\">{}</td><td data-label=\"Form\">{}</td><td data-label=\"Made by\">{who}</td><td data-label=\"Date\">{}</td></tr>",
                batch_link(&batch),
                esc(&form.replace('_', " ")),
                esc(&date(event["occurred_at"].as_str().unwrap_or("")))
            );
        }
    }
    body.push_str("</tbody></table>");
    body.push_str(&companies(state, &names));
    page(StatusCode::OK, "Overview", &body, None)
}

fn companies(state: &AppState, names: &Directory<'_>) -> String {
    let mut out = String::from("<h2>Companies</h2><table class=\"stack\"><thead><tr><th>Company</th><th>Country</th><th>Roles</th><th>Sites</th></tr></thead><tbody>");
    for actor in state.store.actors().unwrap_or_default() {
        let roles: Vec<String> = actor.roles.iter().map(words).collect();
        let sites: Vec<String> = actor.sites.iter().map(|s| names.site_link(s)).collect();
        let _ = write!(
            out,
            "<tr><td data-label=\"Company\"><a href=\"/actors/{}\">{}</a></td><td data-label=\"Country\">{}</td><td data-label=\"Roles\">{}</td><td data-label=\"Sites\">{}</td></tr>",
            seg(actor.id.as_str()),
            esc(&actor.name),
            esc(&country(actor.country.as_str())),
            esc(&roles.join(", ")),
            sites.join(", ")
        );
    }
    out.push_str("</tbody></table>");
    out
}

/// `GET /actors`.
pub fn actors(state: &AppState) -> Response {
    let names = Directory::new(&state.store);
    let body = format!("{}{}", search_form(""), companies(state, &names));
    page(StatusCode::OK, "Companies", &body, None)
}

/// `GET /search?q=`.
pub fn search(state: &AppState, q: &str) -> Response {
    let q = q.trim();
    if q.is_empty() {
        let body = format!("<h1>Search</h1>{}", search_form(""));
        return page(StatusCode::OK, "Search", &body, None);
    }
    // An exact id (in any case) goes straight to its batch.
    for candidate in [q.to_owned(), q.to_uppercase()] {
        if let Ok(id) = candidate.parse::<BatchId>() {
            if let Ok(Some(_)) = state.store.batch(&id) {
                return Redirect::to(&format!("/batches/{}", seg(id.as_str()))).into_response();
            }
        }
    }
    let needle = q.to_lowercase();
    let names = Directory::new(&state.store);
    let mut body = format!("<h1>Search: {}</h1>{}", esc(q), search_form(q));
    let mut found = 0;
    // Forms ("magnet", "oxide").
    let forms = [
        "ore",
        "concentrate",
        "mixed compound",
        "oxide",
        "metal",
        "alloy",
        "magnet",
        "component",
        "product",
        "scrap",
    ];
    for form in forms
        .iter()
        .filter(|f| f.contains(&needle) || needle.contains(*f))
    {
        found += 1;
        let _ = write!(
            body,
            "<p>Products of form <a href=\"/batches?form={}\">{}</a></p>",
            seg(&form.replace(' ', "_")),
            esc(form)
        );
    }
    // Companies and sites.
    let mut rows = String::new();
    for actor in state.store.actors().unwrap_or_default() {
        if actor.name.to_lowercase().contains(&needle)
            || actor.id.as_str().to_lowercase().contains(&needle)
        {
            found += 1;
            let _ = write!(rows, "<li>Company: {}</li>", names.actor_link(&actor.id));
        }
        for site in &actor.sites {
            let hit = site.as_str().to_lowercase().contains(&needle)
                || names
                    .site(site)
                    .is_some_and(|s| s.name.to_lowercase().contains(&needle));
            if hit {
                found += 1;
                let _ = write!(
                    rows,
                    "<li>Site: {} — {}</li>",
                    names.site_link(site),
                    esc(&actor.name)
                );
            }
        }
    }
    if !rows.is_empty() {
        let _ = write!(body, "<h2>Companies and sites</h2><ul>{rows}</ul>");
    }
    // Batch ids containing the text.
    let (ids, complete) = scan_ids(state, |id| id.to_lowercase().contains(&needle), PAGE);
    if !ids.is_empty() {
        found += ids.len();
        body.push_str("<h2>Batches</h2><ul>");
        for id in &ids {
            let _ = write!(body, "<li>{}</li>", batch_link(id));
        }
        body.push_str("</ul>");
    }
    if !complete {
        let _ = write!(
            body,
            "<p class=\"muted\">Searched the first {} batch ids; type more of the id to narrow it.</p>",
            thousands(SCAN_BUDGET as u64)
        );
    }
    if found == 0 {
        body.push_str("<p>Nothing matches. Try part of a batch id (<code>MAG</code>), a company (<code>Lynas</code>), a site (<code>Mount Weld</code>) or a form (<code>magnet</code>).</p>");
    }
    page(StatusCode::OK, &format!("Search {q}"), &body, None)
}

/// Batch ids in id order that pass `keep`, up to `want`, reading at most [`SCAN_BUDGET`] ids;
/// and whether the scan reached the end of the ids.
fn scan_ids(
    state: &AppState,
    mut keep: impl FnMut(&str) -> bool,
    want: usize,
) -> (Vec<String>, bool) {
    scan_ids_from(state, "", |id| keep(id.as_str()), want).0
}

/// As [`scan_ids`], from `from`, with the id to continue at.
fn scan_ids_from(
    state: &AppState,
    from: &str,
    mut keep: impl FnMut(&BatchId) -> bool,
    want: usize,
) -> ((Vec<String>, bool), Option<String>) {
    let mut found = Vec::new();
    let mut cursor = from.to_owned();
    let mut read = 0;
    loop {
        let ids = state
            .store
            .batch_ids_from(&cursor, 1000)
            .unwrap_or_default();
        let last = ids.len() < 1000;
        for id in &ids {
            if id.as_str() == cursor && read > 0 {
                continue;
            }
            read += 1;
            if keep(id) {
                if found.len() == want {
                    return ((found, false), Some(id.as_str().to_owned()));
                }
                found.push(id.as_str().to_owned());
            }
        }
        match ids.last() {
            Some(id) if !last && read < SCAN_BUDGET => cursor = id.as_str().to_owned(),
            Some(id) if !last => return ((found, false), Some(id.as_str().to_owned())),
            _ => return ((found, true), None),
        }
    }
}

/// `GET /batches?from=&form=`.
pub fn batches(state: &AppState, from: &str, form: &str) -> Response {
    let names = Directory::new(&state.store);
    let form = form.trim().to_lowercase();
    let mut records = Vec::new();
    let ((ids, _), next) = scan_ids_from(
        state,
        from,
        |id| {
            if form.is_empty() {
                return true;
            }
            match state.store.batch(id) {
                Ok(Some(r)) if words(&r.form).replace(' ', "_") == form => {
                    records.push(r);
                    true
                }
                _ => false,
            }
        },
        PAGE,
    );
    if form.is_empty() {
        for id in &ids {
            if let Ok(Some(r)) = id
                .parse::<BatchId>()
                .map_or(Ok(None), |id| state.store.batch(&id))
            {
                records.push(r);
            }
        }
    }
    let title = if form.is_empty() {
        "Batches".to_owned()
    } else {
        format!("Batches: {}", form.replace('_', " "))
    };
    let mut body = format!(
        "{}<h1>{}</h1><table class=\"stack\"><thead><tr><th>Batch</th><th>Form</th><th class=\"n\">Made</th><th>Holder</th><th>Date</th></tr></thead><tbody>",
        search_form(""),
        esc(&title)
    );
    for r in records.iter().take(PAGE) {
        let _ = write!(
            body,
            "<tr><td data-label=\"Batch\">{}</td><td data-label=\"Form\">{}</td><td class=\"n\" data-label=\"Made\">{}</td><td data-label=\"Holder\">{}</td><td data-label=\"Date\">{}</td></tr>",
            batch_link(r.id.as_str()),
            esc(&words(&r.form)),
            kg(r.created_g.get()),
            names.actor_link(&r.custodian),
            esc(&date(r.created_at.as_str()))
        );
    }
    body.push_str("</tbody></table><nav class=\"pager\" aria-label=\"Pages\">");
    if !from.is_empty() {
        let _ = write!(
            body,
            "<a href=\"/batches?form={}\">First page</a>",
            seg(&form)
        );
    }
    if let Some(next) = next {
        let _ = write!(
            body,
            "<a href=\"/batches?form={}&amp;from={}\">Next page</a>",
            seg(&form),
            seg(&next)
        );
    }
    body.push_str("</nav>");
    if records.is_empty() {
        body.push_str("<p>No batches here.</p>");
    }
    page(StatusCode::OK, &title, &body, None)
}
