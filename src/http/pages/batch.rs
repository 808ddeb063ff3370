//! A batch's page: what it is and where it stands, the drawn supply chain, its custody history,
//! where its mass came from as one 100 % bar (mines by country, company and mine, recycled,
//! untracked), certificates, the upstream table, and a box that checks its offline bundle in
//! the browser. The same data also renders as a certificate of origin for printing and as CSV.
//!
//! Per-element origin and compliance verdicts come from the audit layer ([`Extras`]); they are
//! rendered when the audit supplies them.

use std::fmt::Write as _;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use crate::audit::{self, NodeCreation, NodeStatus, Provenance, MAX_DAG_NODES};
use crate::ledger::{BatchRecord, StateView};
use crate::model::ids::BatchId;

use super::super::AppState;
use super::custody::{chain_rows, custody_rows};
use super::directory::Directory;
use super::drawing;
use super::layout::{
    self, country, date, esc, kg, page, percent, search_form, seg, thousands, words,
};

/// The embedded in-browser verifier.
const VERIFY_JS: &str = include_str!("assets/verify.js");

/// How to render the batch.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// The page.
    Page,
    /// The certificate of origin, for printing.
    Print,
    /// `shares.csv`.
    SharesCsv,
    /// `upstream.csv`.
    UpstreamCsv,
}

/// One row of a share table: label (HTML), grams, share of the batch.
pub type ShareRow = (String, u64, f64);

/// The element-level sections: per-element origin and compliance verdicts (docs/COMPLIANCE.md).
/// `None` leaves a section out.
#[derive(Default)]
pub struct Extras {
    /// Per element: its name and its sources (label, grams, share).
    pub elements: Option<Vec<(String, Vec<ShareRow>)>>,
    /// Policy (title and source), outcome (`pass`, `fail`, `cannot_tell`), and the reasons.
    pub verdicts: Option<Vec<(String, &'static str, Vec<String>)>>,
}

impl Extras {
    /// The sections of `provenance`'s batch: its per-element shares and its verdicts under the
    /// built-in policies. A batch without a known element content shows the verdicts only (they
    /// say `cannot_tell` and why).
    pub fn of(state: &AppState, provenance: &Provenance) -> Extras {
        use crate::audit::compliance;
        let elements = &provenance.elements.elements;
        let element_rows = (!elements.is_empty()).then(|| {
            elements
                .iter()
                .map(|e| {
                    let whole = e.grams.max(1) as f64;
                    let mut rows: Vec<ShareRow> = e
                        .by_country
                        .iter()
                        .map(|part| {
                            (
                                format!("mined in {}", layout::country(&part.id)),
                                part.grams,
                                part.grams as f64 / whole,
                            )
                        })
                        .collect();
                    for (label, grams) in [
                        ("recycled, pre-consumer scrap", e.recycled_pre_consumer_g),
                        ("recycled, post-consumer scrap", e.recycled_post_consumer_g),
                        ("from inputs without a declared composition", e.undeclared_g),
                    ] {
                        if grams > 0 {
                            rows.push((label.to_owned(), grams, grams as f64 / whole));
                        }
                    }
                    (
                        format!("{} ({} g)", e.element.as_str(), thousands(e.grams)),
                        rows,
                    )
                })
                .collect()
        });
        let verdicts = compliance::analyze_dag(&state.store, &provenance.dag)
            .ok()
            .map(|analysis| {
                compliance::report(analysis, &compliance::builtins())
                    .verdicts
                    .into_iter()
                    .map(|v| {
                        (
                            format!("{} ({})", v.title, v.source),
                            v.verdict.as_str(),
                            v.reasons.into_iter().map(|r| r.message).collect(),
                        )
                    })
                    .collect()
            });
        Extras {
            elements: element_rows,
            verdicts,
        }
    }
}

/// Finds a batch by the id as typed; a near miss (case, spaces) redirects to the real id.
pub fn resolve(state: &AppState, raw: &str, suffix: &str) -> Result<BatchRecord, Box<Response>> {
    if let Ok(id) = raw.parse::<BatchId>() {
        if let Ok(Some(record)) = state.store.batch(&id) {
            return Ok(record);
        }
    }
    let tidy: String = raw
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_uppercase();
    if tidy != raw {
        if let Ok(id) = tidy.parse::<BatchId>() {
            if let Ok(Some(_)) = state.store.batch(&id) {
                return Err(Box::new(
                    Redirect::to(&format!("/batches/{}{suffix}", seg(id.as_str()))).into_response(),
                ));
            }
        }
    }
    Err(Box::new(layout::not_found("batch", raw)))
}

/// Renders batch `raw` as `view`.
pub fn render(state: &AppState, raw: &str, view: View) -> Response {
    let suffix = match view {
        View::Page => "",
        View::Print => "/print",
        View::SharesCsv => "/shares.csv",
        View::UpstreamCsv => "/upstream.csv",
    };
    let record = match resolve(state, raw, suffix) {
        Ok(r) => r,
        Err(response) => return *response,
    };
    let provenance = match audit::provenance(&state.store, &record.id, MAX_DAG_NODES) {
        Ok(p) => p,
        Err(e) => return layout::failed(e),
    };
    let names = Directory::new(&state.store);
    match view {
        View::Page => {
            let extras = Extras::of(state, &provenance);
            let body = body(state, &record, &provenance, &names, &extras);
            page(
                StatusCode::OK,
                &format!("{} {}", words(&record.form), record.id),
                &body,
                Some(VERIFY_JS),
            )
        }
        View::Print => page(
            StatusCode::OK,
            &format!("Certificate of origin {}", record.id),
            &certificate(state, &record, &provenance, &names),
            None,
        ),
        View::SharesCsv => csv(&record.id, "shares", &shares_csv(&provenance, &names)),
        View::UpstreamCsv => csv(&record.id, "upstream", &upstream_csv(&provenance, &names)),
    }
}

fn csv(id: &BatchId, what: &str, text: &str) -> Response {
    let name = format!("{}.{what}.csv", id.as_str().replace(['/', ':', '"'], "_"));
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        text.to_owned(),
    )
        .into_response()
}

/// A CSV field: quoted when it holds a separator, a quote or a line break; a leading `=`, `+`,
/// `-` or `@` is prefixed with `'` so a spreadsheet does not run it as a formula.
fn field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// Every part of the batch's mass: mines (by site, with company and country), recycled, untracked.
fn shares_csv(p: &Provenance, names: &Directory<'_>) -> String {
    let mut out = String::from("part,source,company,country,grams,share\n");
    for s in &p.origins.origins_by_site {
        let _ = writeln!(
            out,
            "mined,{},{},{},{},{:.6}",
            field(&s.name),
            field(&s.owner_name),
            field(&country(s.country.as_str())),
            s.grams,
            s.share
        );
    }
    for r in &p.origins.recycled_by {
        let _ = writeln!(
            out,
            "recycled,{},{},{},{},{:.6}",
            field(&r.name),
            field(&names.actor_name(&r.recycler)),
            field(
                &names
                    .actor_country(&r.recycler)
                    .map(|c| country(&c))
                    .unwrap_or_default()
            ),
            r.grams,
            r.share
        );
    }
    let o = &p.origins;
    let _ = writeln!(
        out,
        "untracked,additives,,,{},{:.6}",
        o.untracked_g, o.untracked_share
    );
    out
}

fn upstream_csv(p: &Provenance, names: &Directory<'_>) -> String {
    let mut out = String::from("batch,form,made_by,process,country,created_at,created_g,inputs\n");
    for node in &p.dag.nodes {
        let (who, process, place) = match &node.creation {
            NodeCreation::Extract { site } => {
                let s = names.site(site);
                (
                    s.as_ref()
                        .map_or_else(|| site.as_str().to_owned(), |s| s.name.clone()),
                    "extract".to_owned(),
                    s.map(|s| country(s.country.as_str())).unwrap_or_default(),
                )
            }
            NodeCreation::Transform {
                process, operator, ..
            } => (
                names.actor_name(operator),
                words(process),
                names
                    .actor_country(operator)
                    .map(|c| country(&c))
                    .unwrap_or_default(),
            ),
        };
        let inputs: Vec<String> = p
            .dag
            .edges
            .iter()
            .filter(|e| e.to == node.batch)
            .map(|e| format!("{} g from {}", e.taken_g, e.from.as_str()))
            .collect();
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{}",
            field(node.batch.as_str()),
            field(&words(&node.form)),
            field(&who),
            field(&process),
            field(&place),
            field(node.created_at.as_str()),
            node.created_g,
            field(&inputs.join("; "))
        );
    }
    out
}

/// Status in words, with the mass it concerns.
pub fn status_words(record: &BatchRecord, names: &Directory<'_>) -> String {
    match NodeStatus::from(&record.status) {
        NodeStatus::Active => format!(
            "held by {}: {} left",
            names.actor_name(&record.custodian),
            kg(record.remaining_g.get())
        ),
        NodeStatus::InTransit { to, shipped_g } => format!(
            "in transit from {} to {}: {}",
            names.actor_name(&record.custodian),
            names.actor_name(&to),
            kg(shipped_g)
        ),
        NodeStatus::Consumed => "consumed: all of it went into processing".to_owned(),
        NodeStatus::Retired { reason } => format!(
            "retired ({}) by {} with {}",
            words(&reason),
            names.actor_name(&record.custodian),
            kg(record.remaining_g.get())
        ),
    }
}

const PALETTE: &[&str] = &[
    "#1f4e9c", "#c2410c", "#0f766e", "#7c3aed", "#a16207", "#be123c", "#155e75", "#4d7c0f",
];

/// The 100 % bar: mines by country, then recycled, then untracked; a legend with the same
/// colours, masses and shares.
fn origin_bar(p: &Provenance, names: &Directory<'_>) -> String {
    let o = &p.origins;
    let mut parts: Vec<(String, u64, f64, &str)> = o
        .origins_by_country
        .iter()
        .enumerate()
        .map(|(i, c)| {
            (
                format!("mined in {}", country(c.country.as_str())),
                c.grams,
                c.share,
                PALETTE[i % PALETTE.len()],
            )
        })
        .collect();
    for r in &o.recycled_by {
        parts.push((
            format!("recycled by {}", names.actor_name(&r.recycler)),
            r.grams,
            r.share,
            "#15803d",
        ));
    }
    parts.push((
        "untracked additives".into(),
        o.untracked_g,
        o.untracked_share,
        "#9ca3af",
    ));
    let mut bar =
        String::from("<div class=\"bar\" role=\"img\" aria-label=\"Origin of the batch's mass\">");
    let mut legend = String::from("<ul class=\"legend\">");
    for (label, g, share, colour) in &parts {
        if *g == 0 {
            continue;
        }
        let _ = write!(
            bar,
            "<span style=\"width:{:.3}%;background:{colour}\" title=\"{}\"></span>",
            share * 100.0,
            esc(&format!("{label}: {}", percent(*share)))
        );
        let _ = write!(
            legend,
            "<li><span class=\"swatch\" style=\"background:{colour}\"></span>{}: {} ({})</li>",
            esc(label),
            kg(*g),
            percent(*share)
        );
    }
    format!("{bar}</div>{legend}</ul>")
}

fn share_table(caption: &str, rows: &[(String, u64, f64)]) -> String {
    let mut out = format!(
        "<table class=\"stack\"><caption class=\"muted\">{}</caption><thead><tr><th>Source</th><th class=\"n\">Mass</th><th class=\"n\">Share</th></tr></thead><tbody>",
        esc(caption)
    );
    for (label, g, share) in rows {
        let _ = write!(
            out,
            "<tr><td data-label=\"Source\">{label}</td><td class=\"n\" data-label=\"Mass\">{}</td><td class=\"n\" data-label=\"Share\">{}</td></tr>",
            kg(*g),
            percent(*share)
        );
    }
    out.push_str("</tbody></table>");
    out
}

fn origin_section(p: &Provenance, names: &Directory<'_>) -> String {
    let o = &p.origins;
    let mut out = format!(
        "<h2 id=\"origin\">Where its mass came from</h2><p>Of the {} this batch was made with: {} traced to mines, {} recycled, {} untracked additives (ISO 22095 mass balance).</p>{}",
        kg(o.basis_g),
        kg(o.mined_g),
        kg(o.recycled_g),
        kg(o.untracked_g),
        origin_bar(p, names)
    );
    // The rows of every table add up to the whole batch: recycled and untracked parts included.
    let rest = |_: String| {
        let mut rows = Vec::new();
        if o.recycled_g > 0 {
            rows.push(("recycled".to_owned(), o.recycled_g, o.recycled_share));
        }
        if o.untracked_g > 0 {
            rows.push((
                "untracked additives".to_owned(),
                o.untracked_g,
                o.untracked_share,
            ));
        }
        rows
    };
    let mut by_country: Vec<(String, u64, f64)> = o
        .origins_by_country
        .iter()
        .map(|c| (esc(&country(c.country.as_str())), c.grams, c.share))
        .collect();
    by_country.extend(rest("recycled and untracked".into()));
    let mut by_company: Vec<(String, u64, f64)> = o
        .origins_by_company
        .iter()
        .map(|c| (names.actor_link(&c.actor), c.grams, c.share))
        .collect();
    by_company.extend(rest("recycled and untracked".into()));
    let mut by_mine: Vec<(String, u64, f64)> = o
        .origins_by_site
        .iter()
        .map(|s| {
            (
                format!("{} — {}", names.site_link(&s.site), esc(&s.owner_name)),
                s.grams,
                s.share,
            )
        })
        .collect();
    by_mine.extend(rest("recycled and untracked".into()));
    out.push_str("<h3>By country of the mine</h3>");
    out.push_str(&share_table(
        "Shares of the whole batch; rows add up to 100 %",
        &by_country,
    ));
    out.push_str("<h3>By company</h3>");
    out.push_str(&share_table("Mining companies", &by_company));
    out.push_str("<h3>By mine</h3>");
    out.push_str(&share_table("Mines", &by_mine));
    out
}

fn extras_sections(extras: &Extras) -> String {
    let mut out = String::new();
    if let Some(elements) = &extras.elements {
        out.push_str("<h2 id=\"elements\">Origin per element</h2>");
        for (element, rows) in elements {
            let rows: Vec<(String, u64, f64)> =
                rows.iter().map(|(l, g, s)| (esc(l), *g, *s)).collect();
            out.push_str(&share_table(element, &rows));
        }
    }
    if let Some(verdicts) = &extras.verdicts {
        out.push_str(
            "<h2 id=\"compliance\">Compliance</h2><p>Verdicts from what the ledger proves \
             (mass balance, not physical segregation; exceptions such as COTS or waivers are \
             not seen by the ledger): docs/COMPLIANCE.md.</p><ul>",
        );
        for (rule, outcome, reasons) in verdicts {
            let (class, word) = match *outcome {
                "pass" => ("ok", "pass"),
                "fail" => ("bad", "fail"),
                _ => ("", "cannot tell"),
            };
            let _ = write!(
                out,
                "<li><strong class=\"{class}\">{word}</strong> {}<ul>",
                esc(rule)
            );
            for reason in reasons {
                let _ = write!(out, "<li>{}</li>", esc(reason));
            }
            out.push_str("</ul></li>");
        }
        out.push_str("</ul>");
    }
    out
}

fn certificates(p: &Provenance, names: &Directory<'_>) -> String {
    let certs: Vec<_> = p.dag.certificates().collect();
    if certs.is_empty() {
        return "<h2 id=\"certificates\">Certificates</h2><p>No certificates along this chain.</p>"
            .into();
    }
    let mut out = String::from("<h2 id=\"certificates\">Certificates</h2><table class=\"stack\"><thead><tr><th>Batch</th><th>Claim</th><th>Statement</th><th>By</th><th>Date</th><th>Document SHA-256</th></tr></thead><tbody>");
    for (batch, c) in certs {
        let _ = write!(
            out,
            "<tr><td data-label=\"Batch\"><a class=\"id\" href=\"/batches/{}\">{}</a></td><td data-label=\"Claim\">{}</td><td data-label=\"Statement\">{}</td><td data-label=\"By\">{}</td><td data-label=\"Date\">{}</td><td data-label=\"Digest\"><code class=\"id\">{}</code> <a href=\"/entries/{}\">entry {}</a></td></tr>",
            seg(batch.as_str()),
            esc(batch.as_str()),
            esc(&words(&c.claim)),
            esc(&c.statement),
            names.actor_link(&c.certifier),
            esc(&date(c.occurred_at.as_str())),
            esc(&c.document_sha256.to_string()),
            c.index,
            c.index
        );
    }
    out.push_str("</tbody></table>");
    out
}

fn upstream_table(p: &Provenance, names: &Directory<'_>) -> String {
    let mut out = format!(
        "<details{}><summary>Every upstream batch ({})</summary><table class=\"stack\"><thead><tr><th>Batch</th><th>Form</th><th>Made</th><th class=\"n\">Mass</th><th>Inputs</th></tr></thead><tbody>",
        if p.dag.nodes.len() <= 20 { " open" } else { "" },
        p.dag.nodes.len()
    );
    for node in &p.dag.nodes {
        let made = match &node.creation {
            NodeCreation::Extract { site } => format!("extracted at {}", names.site_link(site)),
            NodeCreation::Transform {
                process, operator, ..
            } => format!("{} by {}", esc(&words(process)), names.actor_link(operator)),
        };
        let inputs: Vec<String> = p
            .dag
            .edges
            .iter()
            .filter(|e| e.to == node.batch)
            .map(|e| {
                format!(
                    "{} of <a class=\"id\" href=\"/batches/{}\">{}</a>",
                    kg(e.taken_g),
                    seg(e.from.as_str()),
                    esc(e.from.as_str())
                )
            })
            .collect();
        let _ = write!(
            out,
            "<tr><td data-label=\"Batch\"><a class=\"id\" href=\"/batches/{}\">{}</a></td><td data-label=\"Form\">{}</td><td data-label=\"Made\">{}, {}</td><td class=\"n\" data-label=\"Mass\">{}</td><td data-label=\"Inputs\">{}</td></tr>",
            seg(node.batch.as_str()),
            esc(node.batch.as_str()),
            esc(&words(&node.form)),
            made,
            esc(&date(node.created_at.as_str())),
            kg(node.created_g),
            inputs.join("<br>")
        );
    }
    out.push_str("</tbody></table></details>");
    out
}

fn verify_box(record: &BatchRecord) -> String {
    format!(
        "<section id=\"verify\" hidden data-bundle=\"/v1/batches/{s}/bundle\"><h2>Check it in this browser</h2>\
         <p>Your browser checks this batch's <a href=\"/v1/batches/{s}/bundle\">offline bundle</a> itself: the \
         checkpoint's Ed25519 signature and every entry's inclusion proof, against a log key <em>you</em> pin. \
         Take the key from a source you trust (the registry's publication, <code>log.pub</code>), not from this page's server.</p>\
         <label for=\"log-key\">Log key (name+keyid+base64)</label>\
         <input id=\"log-key\" autocomplete=\"off\" spellcheck=\"false\" style=\"width:100%\">\
         <p><button id=\"verify-run\">Verify the bundle</button> <button id=\"forget-key\" class=\"secondary\">Forget the key</button></p>\
         <details><summary>Or verify a bundle you paste</summary><label for=\"bundle-text\">Bundle JSON</label>\
         <textarea id=\"bundle-text\" rows=\"6\"></textarea><p><button id=\"verify-paste\">Verify the pasted bundle</button></p></details>\
         <p id=\"verify-result\" role=\"status\" aria-live=\"polite\">Not checked yet.</p></section>",
        s = seg(record.id.as_str())
    )
}

fn body(
    state: &AppState,
    record: &BatchRecord,
    p: &Provenance,
    names: &Directory<'_>,
    extras: &Extras,
) -> String {
    let s = seg(record.id.as_str());
    let (svg, collapsed) = drawing::svg(&p.dag, names);
    let elements: Vec<String> = record.elements.iter().map(words).collect();
    let mut out = format!(
        "{}<h1>{} <span class=\"id\">{}</span></h1>\
         <dl class=\"facts\"><div><dt>Status</dt><dd>{}</dd></div>\
         <div><dt>Made</dt><dd>{} on {}</dd></div>\
         <div><dt>Holder</dt><dd>{}</dd></div>\
         <div><dt>Elements declared</dt><dd>{}</dd></div></dl>\
         <p class=\"no-print\"><a href=\"/batches/{s}/print\">Certificate of origin (print)</a> · <a href=\"/batches/{s}/label\">label (ore producers)</a> · \
         <a href=\"/batches/{s}/shares.csv\">shares (CSV)</a> · <a href=\"/batches/{s}/upstream.csv\">upstream (CSV)</a> · \
         <a href=\"/v1/batches/{s}/bundle\">offline bundle</a> · <a href=\"/v1/batches/{s}/provenance\">provenance (JSON)</a></p>\
         <h2 id=\"graph\">Supply chain</h2><p class=\"muted\">{}</p><div class=\"graph\">{svg}</div>",
        search_form(""),
        esc(&words(&record.form)),
        esc(record.id.as_str()),
        esc(&status_words(record, names)),
        kg(record.created_g.get()),
        esc(&date(record.created_at.as_str())),
        names.actor_link(&record.custodian),
        esc(&if elements.is_empty() { "not declared".to_owned() } else { elements.join(", ") }),
        if collapsed {
            format!("{} batches, drawn by stage; every batch is in the table below.", p.dag.nodes.len())
        } else {
            "From the mines (left) to this batch (right, outlined). Select a box to open that batch.".to_owned()
        }
    );
    out.push_str("<h2 id=\"custody\">Custody history</h2>");
    out.push_str(&custody_rows(state, record, names));
    out.push_str("<h3>Shipments along the chain</h3>");
    out.push_str(&chain_rows(state, &p.dag, names));
    out.push_str(&origin_section(p, names));
    out.push_str(&extras_sections(extras));
    out.push_str(&certificates(p, names));
    out.push_str("<h2 id=\"upstream\">Upstream batches</h2>");
    out.push_str(&upstream_table(p, names));
    out.push_str(&verify_box(record));
    out
}

fn certificate(
    state: &AppState,
    record: &BatchRecord,
    p: &Provenance,
    names: &Directory<'_>,
) -> String {
    let head = state.sequencer.head();
    let file = format!(
        "{}.bundle.json",
        record.id.as_str().replace(['/', ':'], "_")
    );
    let mut out = format!(
        "<h1>Certificate of origin</h1><p>{} <span class=\"id\">{}</span>, {} made on {} — {}.</p>",
        esc(&words(&record.form)),
        esc(record.id.as_str()),
        kg(record.created_g.get()),
        esc(&date(record.created_at.as_str())),
        esc(&status_words(record, names)),
    );
    out.push_str(&origin_section(p, names));
    out.push_str(&certificates(p, names));
    let _ = write!(
        out,
        "<h2>Checkpoint</h2><p>These figures are read from log <code>{}</code> at {} entries. Its signed checkpoint:</p><pre>{}</pre>\
         <h2>Re-verify offline</h2><p>With the bundle of this batch (<code>/v1/batches/{}/bundle</code> on the ledger's server) and the log key from a source you trust:</p>\
         <pre>lodestone verify-bundle {} --log-key '{}'</pre><p class=\"muted\">Compare the key with the one the registry publishes; \
         <code>lodestone</code> is <code>cargo run --release --</code> from a clone of Lodestone.</p>",
        esc(state.verifier.name()),
        layout::thousands(head.size),
        esc(&head.checkpoint),
        seg(record.id.as_str()),
        esc(&file),
        esc(&state.verifier.to_text()),
    );
    out
}
