//! `lodestone epcis import`: converts a GS1 EPCIS 2.0 capture document into ledger events under
//! the import profile (docs/EPCIS.md, "Import"), signs each with its participant's key and
//! submits them in order as one `POST /v1/entries:batch`. If any event is outside the profile,
//! every refusal is printed (position, JSON path, why) and nothing is submitted.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use clap::{Args, Subcommand};
use ed25519_dalek::SigningKey;
use serde_json::{json, Value};

use crate::epcis::import::{import_document, ImportProfile, Refusal};
use crate::epcis::Names;
use crate::model::envelope::Envelope;
use crate::model::ids::ActorId;

use super::client::Client;
use super::{keys, output, DEFAULT_SERVER};

/// `lodestone epcis …`.
#[derive(Subcommand, Debug)]
pub enum EpcisCommand {
    /// Import an EPCIS 2.0 capture document: convert, sign with the participants' keys, submit.
    #[command(after_help = "Examples:\n  \
        lodestone epcis import capture.jsonld --key mp-materials.key --server http://127.0.0.1:8080\n  \
        lodestone epcis import capture.jsonld --key mp-materials.key --dry-run\n  \
        lodestone epcis import chain.jsonld --key mp.key --key lynas.key --key gm.key\n\n\
        Export is on the server: GET /v1/batches/{id}/epcis and GET /v1/epcis/events (docs/EPCIS.md).")]
    Import(ImportArgs),
}

/// `epcis import`.
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The EPCIS 2.0 document (JSON-LD), or `-` for standard input.
    pub document: PathBuf,
    /// A participant's key file (repeat for several participants). Events are signed by the key
    /// of their actor (`lodestone:actor`, or the only key's actor when events name none).
    #[arg(long = "key", required = true)]
    pub keys: Vec<PathBuf>,
    /// The Lodestone server.
    #[arg(long, default_value = DEFAULT_SERVER, env = "LODESTONE_SERVER")]
    pub server: String,
    /// The log's checkpoint origin; default: the server's (`GET /v1/log`).
    #[arg(long = "log")]
    pub log: Option<String>,
    /// Print the ledger events that would be submitted, and submit nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print results (or refusals) as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `epcis …`.
pub fn epcis(command: EpcisCommand) -> anyhow::Result<ExitCode> {
    match command {
        EpcisCommand::Import(args) => import(args),
    }
}

fn import(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let text = if args.document.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading the document from standard input")?;
        s
    } else {
        std::fs::read_to_string(&args.document)
            .with_context(|| format!("cannot read {}", args.document.display()))?
    };
    let doc: Value = serde_json::from_str(&text).context("the document is not JSON")?;

    let mut signers: BTreeMap<ActorId, SigningKey> = BTreeMap::new();
    let mut unnamed = None;
    for path in &args.keys {
        let (file, key) = keys::load(path)?;
        match file.actor {
            Some(actor) => {
                let actor: ActorId = actor
                    .parse()
                    .with_context(|| format!("{}: actor", path.display()))?;
                signers.insert(actor, key);
            }
            None if args.keys.len() == 1 => unnamed = Some(key),
            None => bail!(
                "{} names no actor; with several keys, each key file must name its actor",
                path.display()
            ),
        }
    }
    let default_actor = match (signers.len(), &unnamed) {
        (1, None) => signers.keys().next().cloned(),
        _ => None,
    };

    let log = match &args.log {
        Some(log) => log.clone(),
        None => Client::new(&args.server)
            .get_json("/v1/log")
            .context("asking the server for its log origin (or give --log)")?["origin"]
            .as_str()
            .map(str::to_owned)
            .context("the server's GET /v1/log has no origin")?,
    };
    let profile = ImportProfile {
        names: Names::new(&log),
        log,
        default_actor,
    };
    let events = match import_document(&doc, &profile) {
        Ok(events) => events,
        Err(refusals) => return refused(&refusals, &args, count(&doc)),
    };

    // Sign each with its actor's key; an actor without a key is a refusal like any other.
    let mut envelopes = Vec::with_capacity(events.len());
    let mut refusals = Vec::new();
    for imported in &events {
        let event = &imported.event;
        let key = signers.get(&event.actor).or(unnamed.as_ref());
        match key {
            Some(key) => envelopes
                .push(Envelope::sign(event.to_json(), &[key]).context("cannot sign an event")?),
            None => refusals.push(Refusal {
                position: Some(imported.position),
                path: format!(
                    "$.epcisBody.eventList[{}].lodestone:actor",
                    imported.position
                ),
                reason: format!("no --key was given for actor {}", event.actor),
            }),
        }
    }
    if !refusals.is_empty() {
        return refused(&refusals, &args, events.len());
    }

    if args.dry_run {
        output::json(&Value::Array(
            events.iter().map(|e| json!(e.event)).collect(),
        ));
        return Ok(ExitCode::SUCCESS);
    }
    let body =
        json!({ "envelopes": envelopes.iter().map(Envelope::to_json_value).collect::<Vec<_>>() });
    let (_, answer) =
        Client::new(&args.server).post_json("/v1/entries:batch", &serde_json::to_vec(&body)?)?;
    let rejected = answer["rejected"].as_u64().unwrap_or(0);
    if args.json {
        output::json(&answer);
    } else {
        output::fields(&[
            ("events", events.len().to_string()),
            ("accepted", answer["accepted"].to_string()),
            ("rejected", rejected.to_string()),
        ]);
        for (imported, result) in events
            .iter()
            .zip(answer["results"].as_array().into_iter().flatten())
        {
            if let Some(code) = result.get("code").and_then(Value::as_str) {
                crate::say!(
                    "event {} ({}): refused by the ledger: {code}: {}",
                    imported.position,
                    imported.event.id,
                    result.get("detail").and_then(Value::as_str).unwrap_or("")
                );
            }
        }
    }
    Ok(if rejected == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn count(doc: &Value) -> usize {
    doc.pointer("/epcisBody/eventList")
        .and_then(Value::as_array)
        .map_or(0, Vec::len)
}

/// Prints the refusals and fails: nothing was submitted.
fn refused(refusals: &[Refusal], args: &ImportArgs, total: usize) -> anyhow::Result<ExitCode> {
    if args.json {
        output::json(&json!({ "submitted": 0, "refusals": refusals }));
    } else {
        for r in refusals {
            eprintln!("refused: {r}");
        }
    }
    bail!(
        "{} of {total} events refused; nothing was submitted",
        refusals
            .iter()
            .filter(|r| r.position.is_some())
            .count()
            .max(1)
    )
}
