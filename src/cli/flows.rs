//! `lodestone report flows`: an actor's monthly flow report (MIIT; docs/COMPLIANCE.md, "Monthly
//! flow reports and labels") as JSON, CSV or Markdown — from a server
//! (`GET /v1/actors/{id}/flows`) or computed here from a data directory (`--data`, with the
//! ledger not being served: the state is opened for reading and writing).

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;
use serde_json::Value;

use crate::audit::flows::{monthly_flows, ActorEntries, Month};
use crate::model::ids::ActorId;
use crate::store::Store;

use super::client::Client;
use super::report::Format;

/// `lodestone report flows`.
#[derive(Args, Debug)]
pub struct FlowsArgs {
    /// The actor (e.g. northern-rare-earth).
    #[arg(long)]
    pub actor: String,
    /// The month, YYYY-MM (UTC, by the events' occurred_at).
    #[arg(long)]
    pub month: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "markdown")]
    pub format: Format,
    /// The server to ask.
    #[arg(long, env = "LODESTONE_SERVER", conflicts_with = "data")]
    pub server: Option<String>,
    /// A data directory to compute the report from instead (stop its server first).
    #[arg(long)]
    pub data: Option<PathBuf>,
}

/// Runs `lodestone report flows`.
pub fn flows(args: FlowsArgs) -> anyhow::Result<std::process::ExitCode> {
    let month: Month = args.month.parse()?;
    let actor: ActorId = args
        .actor
        .parse()
        .with_context(|| format!("actor id `{}`", args.actor))?;
    let report: Value = match &args.data {
        Some(dir) => {
            let store = Store::open(dir).with_context(|| {
                format!("cannot open {} (stop the server first)", dir.display())
            })?;
            let size = store.head()?.map_or(0, |h| h.size);
            let mut index = ActorEntries::default();
            index.catch_up(size, |start, end| {
                store.entries(start, end).map_err(|e| e.to_string())
            })?;
            let report = monthly_flows(&store, &actor, month, index.of(&actor), size)?;
            if let Format::Csv = args.format {
                print!("{}", report.to_csv());
                return Ok(std::process::ExitCode::SUCCESS);
            }
            serde_json::to_value(&report)?
        }
        None => {
            let server = args
                .server
                .clone()
                .unwrap_or_else(|| super::DEFAULT_SERVER.to_owned());
            let client = Client::new(&server);
            let path = format!("/v1/actors/{actor}/flows?month={month}");
            if let Format::Csv = args.format {
                print!("{}", client.get_text(&format!("{path}&format=csv"))?);
                return Ok(std::process::ExitCode::SUCCESS);
            }
            client.get_json(&path)?
        }
    };
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Format::Markdown => print!("{}", markdown(&report)?),
        Format::Csv => unreachable!("CSV was printed above"),
    }
    Ok(std::process::ExitCode::SUCCESS)
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.replace('|', "\\|"),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn parts(v: &Value) -> String {
    match v.as_object() {
        Some(map) if map.is_empty() => "none".into(),
        Some(map) => map
            .iter()
            .map(|(e, g)| format!("{e} {g} g"))
            .collect::<Vec<_>>()
            .join(", "),
        None => "not declared".into(),
    }
}

fn table(out: &mut String, title: &str, rows: &Value, columns: &[(&str, &str)]) {
    let _ = writeln!(out, "## {title}\n");
    let rows = rows.as_array().map(Vec::as_slice).unwrap_or(&[]);
    if rows.is_empty() {
        out.push_str("None.\n\n");
        return;
    }
    let heads: Vec<&str> = columns.iter().map(|(h, _)| *h).collect();
    let _ = writeln!(out, "| {} |", heads.join(" | "));
    let _ = writeln!(out, "|{}", " --- |".repeat(columns.len()));
    for row in rows {
        let cells: Vec<String> = columns
            .iter()
            .map(|(_, field)| match *field {
                "elements" => parts(&row[*field]),
                f => s(&row[f]),
            })
            .collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out.push('\n');
}

/// The report for people: a heading with the period and due date, one table per section, the
/// totals.
fn markdown(r: &Value) -> anyhow::Result<String> {
    if !r.is_object() {
        bail!("the server's report is not a JSON object");
    }
    let mut out = format!(
        "# Monthly flow report — {} ({}, {}), {}\n\nPeriod {} to {} (UTC, by occurred_at); due to the MIIT traceability system by {}. \
         Log size {}: every line names the entry that proves it.\n\n",
        s(&r["name"]),
        s(&r["actor"]),
        s(&r["country"]),
        s(&r["month"]),
        s(&r["from"]),
        s(&r["to"]),
        s(&r["report_due"]),
        s(&r["log_size"]),
    );
    let common = [
        ("entry", "entry"),
        ("date", "occurred_at"),
        ("batch", "batch"),
        ("form", "form"),
        ("grams", "grams"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut c = common.to_vec();
        c.extend_from_slice(extra);
        c
    };
    table(
        &mut out,
        "Produced",
        &r["produced"],
        &with(&[
            ("activity", "activity"),
            ("site", "site"),
            ("elements", "elements"),
        ]),
    );
    table(
        &mut out,
        "Received",
        &r["received"],
        &with(&[
            ("from", "from"),
            ("country", "from_country"),
            ("ship entry", "ship_entry"),
        ]),
    );
    table(
        &mut out,
        "Shipped",
        &r["shipped"],
        &with(&[
            ("to", "to"),
            ("country", "to_country"),
            ("licence", "licence"),
        ]),
    );
    table(
        &mut out,
        "Consumed",
        &r["consumed"],
        &with(&[("activity", "activity")]),
    );
    table(
        &mut out,
        "Held at month end",
        &r["held"],
        &[
            ("entry", "entry"),
            ("since entry", "since_entry"),
            ("batch", "batch"),
            ("form", "form"),
            ("grams", "grams"),
            ("elements", "elements"),
        ],
    );
    let t = &r["totals"];
    let _ = writeln!(
        out,
        "## Totals\n\n- produced by form: {}\n- produced by element: {} (undeclared {} g)\n- received {} g, shipped {} g, consumed {} g\n- held at month end by form: {}\n- held by element: {}",
        parts(&t["produced_by_form"]),
        parts(&t["produced_by_element"]),
        s(&t["produced_undeclared_g"]),
        s(&t["received_g"]),
        s(&t["shipped_g"]),
        s(&t["consumed_g"]),
        parts(&t["held_by_form"]),
        parts(&t["held_by_element"]),
    );
    Ok(out)
}
