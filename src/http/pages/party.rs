//! A company's page (`/actors/{id}`: who it is, its roles, sites and keys) and a site's page
//! (`/sites/{id}`: a mine or plant, and for a mine, where its material went — every downstream
//! batch with the mass of this mine's material it holds: recall by mine).

use std::fmt::Write as _;

use axum::http::StatusCode;
use axum::response::Response;

use crate::audit::{self, NodeStatus, MAX_DAG_NODES};
use crate::ledger::StateView;
use crate::model::ids::{ActorId, SiteId};

use super::super::AppState;
use super::directory::Directory;
use super::layout::{self, country, esc, kg, page, percent, search_form, seg, words};

/// `GET /actors/{id}`.
pub fn actor(state: &AppState, raw: &str) -> Response {
    let Some(actor) = raw
        .trim()
        .parse::<ActorId>()
        .ok()
        .and_then(|id| state.store.actor(&id).ok().flatten())
    else {
        return layout::not_found("company", raw);
    };
    let names = Directory::new(&state.store);
    let roles: Vec<String> = actor.roles.iter().map(words).collect();
    let prefixes: Vec<String> = actor
        .prefixes
        .iter()
        .map(|p| format!("<code class=\"id\">{}</code>", esc(p.as_ref())))
        .collect();
    let mut body = format!(
        "{}<h1>{}</h1><dl class=\"facts\"><div><dt>Country</dt><dd>{}</dd></div>\
         <div><dt>Roles</dt><dd>{}</dd></div><div><dt>Batch ids</dt><dd>{}</dd></div>\
         <div><dt>Registered</dt><dd>{} (<a href=\"/entries/{}\">entry</a>)</dd></div></dl>\
         <p class=\"muted\">Id <code class=\"id\">{}</code> · <a href=\"/v1/actors/{}\">JSON</a></p>",
        search_form(""),
        esc(&actor.name),
        esc(&country(actor.country.as_str())),
        esc(&roles.join(", ")),
        prefixes.join(", "),
        esc(&layout::date(actor.registered_at.as_str())),
        actor.entries.first().copied().unwrap_or(0),
        esc(actor.id.as_str()),
        seg(actor.id.as_str()),
    );
    body.push_str("<h2>Sites</h2><table class=\"stack\"><thead><tr><th>Site</th><th>Kind</th><th>Country</th></tr></thead><tbody>");
    for site in &actor.sites {
        let kind = names.site(site).map(|s| words(&s.kind)).unwrap_or_default();
        let _ = write!(
            body,
            "<tr><td data-label=\"Site\">{}</td><td data-label=\"Kind\">{}</td><td data-label=\"Country\">{}</td></tr>",
            names.site_link(site),
            esc(&kind),
            esc(&names.site(site).map(|s| country(s.country.as_str())).unwrap_or_default())
        );
    }
    body.push_str("</tbody></table><h2>Keys</h2><table class=\"stack\"><thead><tr><th>Key id (SHA-256)</th><th>Added</th><th>Revoked</th></tr></thead><tbody>");
    for key in &actor.keys {
        let _ = write!(
            body,
            "<tr><td data-label=\"Key id\"><code class=\"id\">{}</code></td><td data-label=\"Added\"><a href=\"/entries/{a}\">entry {a}</a></td><td data-label=\"Revoked\">{}</td></tr>",
            esc(&key.key_id.to_string()),
            key.revoked_at.map_or_else(|| "no".to_owned(), |r| format!("<a href=\"/entries/{r}\">entry {r}</a>")),
            a = key.added_at,
        );
    }
    body.push_str("</tbody></table>");
    quota_section(state, &actor.id, &mut body);
    page(StatusCode::OK, &actor.name, &body, None)
}

/// The actor's production quotas and their use (issue 17), when any are set.
fn quota_section(state: &AppState, actor: &ActorId, body: &mut String) {
    let Ok(Some(book)) = state.store.quotas(actor) else {
        return;
    };
    body.push_str("<h2>Production quotas</h2><table class=\"stack\"><thead><tr><th>Stage</th><th>Year</th><th>Quota</th><th>Used</th><th>Left</th></tr></thead><tbody>");
    for q in &book.quotas {
        let left = q.quota_g.get().saturating_sub(q.used_g.get());
        let _ = write!(
            body,
            "<tr><td data-label=\"Stage\">{}</td><td data-label=\"Year\">{}</td><td data-label=\"Quota\">{}</td><td data-label=\"Used\">{} ({})</td><td data-label=\"Left\">{}</td></tr>",
            esc(&words(&q.stage)),
            q.year,
            kg(q.quota_g.get()),
            kg(q.used_g.get()),
            percent(if q.quota_g.is_zero() {
                0.0
            } else {
                q.used_g.get() as f64 / q.quota_g.get() as f64
            }),
            kg(left),
        );
    }
    let _ = write!(
        body,
        "</tbody></table><p class=\"muted\">Mining in REO-equivalent grams · <a href=\"/v1/actors/{}/quotas\">JSON</a></p>",
        seg(actor.as_str())
    );
}

/// `GET /sites/{id}`.
pub fn site(state: &AppState, raw: &str) -> Response {
    let Some(site) = raw
        .trim()
        .parse::<SiteId>()
        .ok()
        .and_then(|id| state.store.site(&id).ok().flatten())
    else {
        return layout::not_found("site", raw);
    };
    let names = Directory::new(&state.store);
    let mut body = format!(
        "{}<h1>{}</h1><dl class=\"facts\"><div><dt>Kind</dt><dd>{}</dd></div>\
         <div><dt>Country</dt><dd>{}</dd></div><div><dt>Owner</dt><dd>{}</dd></div></dl>",
        search_form(""),
        esc(&site.name),
        esc(&words(&site.kind)),
        esc(&country(site.country.as_str())),
        names.actor_link(&site.owner),
    );
    let extracted = state.store.extracts_at(&site.id).unwrap_or_default();
    if extracted.is_empty() {
        body.push_str("<p>Nothing has been extracted here.</p>");
        return page(StatusCode::OK, &site.name, &body, None);
    }
    match audit::downstream_of_site(&state.store, &site.id, &extracted, MAX_DAG_NODES) {
        Ok(found) => {
            let _ = write!(
                body,
                "<h2>Where its material went</h2><p>{} batches extracted here; every batch made from them, \
                 with the mass of this mine's material each holds (mass balance).</p>\
                 <table class=\"stack\"><thead><tr><th>Batch</th><th>Form</th><th>Holder</th><th>Status</th><th class=\"n\">From this mine</th><th class=\"n\">Share</th></tr></thead><tbody>",
                extracted.len()
            );
            for b in &found.batches {
                let status = match &b.status {
                    NodeStatus::Active => "active".to_owned(),
                    NodeStatus::InTransit { to, .. } => {
                        format!("in transit to {}", names.actor_name(to))
                    }
                    NodeStatus::Consumed => "consumed".to_owned(),
                    NodeStatus::Retired { reason } => format!("retired ({})", words(reason)),
                };
                let _ = write!(
                    body,
                    "<tr><td data-label=\"Batch\"><a class=\"id\" href=\"/batches/{}\">{}</a></td><td data-label=\"Form\">{}</td><td data-label=\"Holder\">{}</td><td data-label=\"Status\">{}</td><td class=\"n\" data-label=\"From this mine\">{}</td><td class=\"n\" data-label=\"Share\">{}</td></tr>",
                    seg(b.batch.as_str()),
                    esc(b.batch.as_str()),
                    esc(&words(&b.form)),
                    names.actor_link(&b.custodian),
                    esc(&status),
                    kg(b.contains_g),
                    percent(b.share)
                );
            }
            body.push_str("</tbody></table>");
        }
        Err(e) => {
            let _ = write!(
                body,
                "<p class=\"bad\">The downstream graph could not be drawn: {}</p>",
                esc(&e.to_string())
            );
        }
    }
    page(StatusCode::OK, &site.name, &body, None)
}
