//! A batch's custody history, read from the entries that touched it: made, shipped (and from
//! which country to which: a border crossing), received (and what was lost on the way),
//! processed, certified, retired — each with its date and a link to the signed entry.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde_json::Value;

use crate::audit::ProvenanceDag;
use crate::ledger::BatchRecord;
use crate::model::entry::Entry;
use crate::model::ids::{ActorId, SiteId};

use super::super::AppState;
use super::directory::Directory;
use super::layout::{country, date, esc, kg, seg};

/// The event of entry `index`, decoded; `None` if it cannot be read.
pub fn event_of(state: &AppState, index: u64) -> Option<(Entry, Value)> {
    let bytes = state.store.entry(index).ok()??;
    let entry = Entry::decode(&bytes).ok()?;
    let event = serde_json::from_slice(&entry.envelope.payload).ok()?;
    Some((entry, event))
}

fn actor_of(names: &Directory<'_>, value: &Value) -> String {
    match value.as_str().and_then(|a| a.parse::<ActorId>().ok()) {
        Some(id) => names.actor_link(&id),
        None => esc(value.as_str().unwrap_or("?")),
    }
}

fn country_of(names: &Directory<'_>, value: &Value) -> Option<String> {
    value
        .as_str()
        .and_then(|a| a.parse::<ActorId>().ok())
        .and_then(|id| names.actor_country(&id))
}

fn mass(value: &Value) -> u64 {
    value.as_u64().unwrap_or(0)
}

/// What one event did to `batch`, in words (HTML).
fn describe(event: &Value, batch: &str, names: &Directory<'_>, held_g: &mut u64) -> String {
    let actor = actor_of(names, &event["actor"]);
    match event["kind"].as_str().unwrap_or("") {
        "extract" => {
            *held_g = mass(&event["mass_g"]);
            let site = match event["site"]
                .as_str()
                .and_then(|s| s.parse::<SiteId>().ok())
            {
                Some(site) => names.site_link(&site),
                None => "?".into(),
            };
            format!("Extracted at {site} by {actor}: {}", kg(*held_g))
        }
        "transform" => {
            let process = esc(&event["process"].as_str().unwrap_or("?").replace('_', " "));
            let as_output = event["outputs"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|o| o["batch"] == batch);
            if let Some(output) = as_output {
                *held_g = mass(&output["mass_g"]);
                let n = event["inputs"].as_array().map_or(0, Vec::len);
                format!(
                    "Made by {process} by {actor} from {n} input batch{}: {}",
                    if n == 1 { "" } else { "es" },
                    kg(*held_g)
                )
            } else {
                let taken = event["inputs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|i| i["batch"] == batch)
                    .map_or(0, |i| mass(&i["mass_g"]));
                *held_g = held_g.saturating_sub(taken);
                let outputs: Vec<String> = event["outputs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|o| o["batch"].as_str())
                    .map(|b| {
                        format!(
                            "<a class=\"id\" href=\"/batches/{}\">{}</a>",
                            seg(b),
                            esc(b)
                        )
                    })
                    .collect();
                format!(
                    "{} taken into {process} by {actor}, making {}",
                    kg(taken),
                    outputs.join(", ")
                )
            }
        }
        "ship" => {
            let from = country_of(names, &event["actor"]);
            let to = country_of(names, &event["to"]);
            let crossing = match (from, to) {
                (Some(a), Some(b)) if a != b => format!(
                    " — <strong>border crossing: {} → {}</strong>",
                    esc(&country(&a)),
                    esc(&country(&b))
                ),
                _ => String::new(),
            };
            format!(
                "Shipped by {actor} to {}: {}{crossing}",
                actor_of(names, &event["to"]),
                kg(*held_g)
            )
        }
        "receive" => {
            let received = mass(&event["mass_g"]);
            let lost = held_g.saturating_sub(received);
            *held_g = received;
            if lost > 0 {
                format!(
                    "Received by {actor}: {}; <strong>lost in transit: {}</strong>",
                    kg(received),
                    kg(lost)
                )
            } else {
                format!("Received by {actor}: {}, nothing lost", kg(received))
            }
        }
        "certify" => format!(
            "Certified by {actor}: {} — “{}”, document SHA-256 <code class=\"id\">{}</code>",
            esc(&event["claim"].as_str().unwrap_or("?").replace('_', " ")),
            esc(event["statement"].as_str().unwrap_or("")),
            esc(event["document_sha256"].as_str().unwrap_or(""))
        ),
        "retire" => format!(
            "Retired by {actor} ({}) with {}",
            esc(event["reason"].as_str().unwrap_or("?")),
            kg(*held_g)
        ),
        other => format!("{} by {actor}", esc(other)),
    }
}

/// The history table of `record`.
pub fn custody_rows(state: &AppState, record: &BatchRecord, names: &Directory<'_>) -> String {
    let mut out = String::from(
        "<table class=\"stack\"><thead><tr><th>Date</th><th>What happened</th><th>Entry</th></tr></thead><tbody>",
    );
    let mut held_g = 0u64;
    for &index in &record.history {
        let Some((_, event)) = event_of(state, index) else {
            let _ = write!(
                out,
                "<tr><td>?</td><td>entry {index} could not be read</td><td>{index}</td></tr>"
            );
            continue;
        };
        let what = describe(&event, record.id.as_str(), names, &mut held_g);
        let _ = write!(
            out,
            "<tr><td data-label=\"Date\">{}</td><td data-label=\"What\">{what}</td><td data-label=\"Entry\"><a href=\"/entries/{index}\">#{index}</a></td></tr>",
            esc(&date(event["occurred_at"].as_str().unwrap_or("")))
        );
    }
    out.push_str("</tbody></table>");
    out
}

/// Most entries read for the movements along the chain; a larger graph points to the tables.
pub const MAX_CHAIN_ENTRIES: usize = 400;

/// Shipments and receipts of the batches upstream of `dag.root` (the root's own are in its
/// history): where the material crossed borders and what was lost on the way.
pub fn chain_rows(state: &AppState, dag: &ProvenanceDag, names: &Directory<'_>) -> String {
    if dag.entries.len() > MAX_CHAIN_ENTRIES {
        return format!(
            "<p>{} entries along this chain: too many to list here; each upstream batch's page has its own history.</p>",
            dag.entries.len()
        );
    }
    let mut held: HashMap<String, u64> = HashMap::new();
    let mut rows = String::new();
    for &index in &dag.entries {
        let Some((_, event)) = event_of(state, index) else {
            continue;
        };
        match event["kind"].as_str().unwrap_or("") {
            "extract" => {
                if let Some(b) = event["batch"].as_str() {
                    held.insert(b.to_owned(), mass(&event["mass_g"]));
                }
            }
            "transform" => {
                for input in event["inputs"].as_array().into_iter().flatten() {
                    if let Some(g) = input["batch"].as_str().and_then(|b| held.get_mut(b)) {
                        *g = g.saturating_sub(mass(&input["mass_g"]));
                    }
                }
                for output in event["outputs"].as_array().into_iter().flatten() {
                    if let Some(b) = output["batch"].as_str() {
                        held.insert(b.to_owned(), mass(&output["mass_g"]));
                    }
                }
            }
            "ship" | "receive" => {
                let Some(batch) = event["batch"].as_str() else {
                    continue;
                };
                let mut g = held.get(batch).copied().unwrap_or(0);
                let what = describe(&event, batch, names, &mut g);
                held.insert(batch.to_owned(), g);
                if batch == dag.root.as_str() {
                    continue;
                }
                let _ = write!(
                    rows,
                    "<tr><td data-label=\"Date\">{}</td><td data-label=\"Batch\"><a class=\"id\" href=\"/batches/{}\">{}</a></td><td data-label=\"What\">{what}</td><td data-label=\"Entry\"><a href=\"/entries/{index}\">#{index}</a></td></tr>",
                    esc(&date(event["occurred_at"].as_str().unwrap_or(""))),
                    seg(batch),
                    esc(batch),
                );
            }
            _ => {}
        }
    }
    if rows.is_empty() {
        return "<p>No shipments upstream: the material stayed with the companies that made it.</p>".into();
    }
    format!(
        "<table class=\"stack\"><thead><tr><th>Date</th><th>Batch</th><th>What happened</th><th>Entry</th></tr></thead><tbody>{rows}</tbody></table>"
    )
}
