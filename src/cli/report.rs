//! `lodestone report`: a batch's compliance verdicts (docs/COMPLIANCE.md) as JSON, CSV or
//! Markdown, computed here from the batch's bundle — its proven entries only — so that a policy
//! file the server does not know works as well as a built-in, and the numbers are the ones
//! `verify-bundle --compliance` recomputes offline.

use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Args;

use crate::audit::bundle::verify_bundle_json_full;
use crate::audit::compliance::{self, Outcome, Policy, Verdict};
use crate::log::note::NoteVerifier;

use super::client::Client;

/// Output formats.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Format {
    /// The verdicts as a JSON array.
    Json,
    /// One row per reason: policy, verdict, outcome, stage, site, company, country, entry, element, message.
    Csv,
    /// A table per policy, for people.
    Markdown,
}

/// `lodestone report`: a batch's compliance verdicts, or (`report flows`) an actor's monthly
/// flow report. A batch literally named `flows` is not reachable here; use the HTTP API.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ReportArgs {
    /// Another report than a batch's verdicts.
    #[command(subcommand)]
    pub other: Option<OtherReport>,
    /// The batch id.
    #[arg(required = true)]
    pub batch: Option<String>,
    /// The server to fetch the batch's bundle from.
    #[arg(
        long,
        default_value = "http://127.0.0.1:8080",
        env = "LODESTONE_SERVER"
    )]
    pub server: String,
    /// A built-in compliance policy (dfars-2027, dfars-2026, friend-shore, crma-recycled, and the
    /// dated cn-mofcom-61) or a policy file (JSON, docs/COMPLIANCE.md); repeat for several;
    /// none: the four undated built-ins.
    #[arg(long = "policy", value_name = "NAME|FILE")]
    pub policies: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "markdown")]
    pub format: Format,
    /// The log's verifier key; without it, the key the server announces at /v1/log is used
    /// (and the report says so).
    #[arg(long, env = "LODESTONE_LOG_KEY")]
    pub log_key: Option<String>,
    /// The date dated policies (cn-mofcom-61) are evaluated on: YYYY-MM-DD or RFC 3339 UTC;
    /// default now.
    #[arg(long, value_name = "DATE")]
    pub at: Option<String>,
}

/// Reports other than a batch's compliance verdicts.
#[derive(clap::Subcommand, Debug)]
pub enum OtherReport {
    /// An actor's monthly flow report (MIIT): produced, received, shipped, consumed, held at
    /// month end, each line with its entry.
    #[command(
        after_help = "Examples:\n  lodestone report flows --actor northern-rare-earth --month 2026-03\n  lodestone report flows --actor lynas --month 2026-03 --format csv --server http://127.0.0.1:8080\n  lodestone report flows --actor lynas --month 2026-03 --format json --data ./lodestone-data"
    )]
    Flows(super::flows::FlowsArgs),
}

/// `--at`: a day (its midnight UTC) or an RFC 3339 time; absent: now.
pub fn evaluation_date(raw: Option<&str>) -> anyhow::Result<crate::model::ids::Timestamp> {
    use crate::model::ids::Timestamp;
    match raw {
        None => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0);
            Timestamp::from_unix_millis(now).context("the clock is out of range")
        }
        Some(day) if day.len() == 10 => Timestamp::parse(&format!("{day}T00:00:00Z"))
            .with_context(|| format!("--at {day}: expected YYYY-MM-DD or an RFC 3339 UTC time")),
        Some(time) => Timestamp::parse(time)
            .with_context(|| format!("--at {time}: expected YYYY-MM-DD or an RFC 3339 UTC time")),
    }
}

/// A built-in name or a policy file, evaluated now (dated rules; see [`evaluation_date`]).
pub fn load_compliance_policy(spec: &str) -> anyhow::Result<Policy> {
    let mut policy = load_undated(spec)?;
    policy.at = Some(evaluation_date(None)?);
    Ok(policy)
}

fn load_undated(spec: &str) -> anyhow::Result<Policy> {
    if compliance::BUILTIN_NAMES.contains(&spec) {
        return Ok(compliance::builtin(spec)?);
    }
    let bytes = std::fs::read(spec).with_context(|| {
        format!(
            "`{spec}` is neither a built-in compliance policy ({}) nor a readable file",
            compliance::BUILTIN_NAMES.join(", ")
        )
    })?;
    Policy::from_json(&bytes).with_context(|| format!("the compliance policy {spec}"))
}

/// Runs `lodestone report`.
pub fn report(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let batch = match (args.other, args.batch) {
        (Some(OtherReport::Flows(flows)), _) => return super::flows::flows(flows),
        (None, Some(batch)) => batch,
        (None, None) => bail!("name a batch, or `flows` (see lodestone report --help)"),
    };
    let at = evaluation_date(args.at.as_deref())?;
    let mut policies: Vec<Policy> = if args.policies.is_empty() {
        compliance::builtins()
    } else {
        args.policies
            .iter()
            .map(|p| load_undated(p))
            .collect::<anyhow::Result<_>>()?
    };
    for p in &mut policies {
        p.at = Some(at.clone());
    }
    let client = Client::new(&args.server);
    let (key, announced) = match &args.log_key {
        Some(k) => (k.trim().to_owned(), false),
        None => {
            let log = client.get_json("/v1/log")?;
            let key = log["verifier_key"]
                .as_str()
                .context("/v1/log has no verifier_key")?
                .to_owned();
            (key, true)
        }
    };
    let verifier = NoteVerifier::from_text(&key).context("the log key")?;
    let path = format!("/v1/batches/{}/bundle", batch.replace('/', "%2F"));
    let bundle = client
        .get_bytes(&path)?
        .with_context(|| format!("{} has no batch {}", args.server, batch))?;
    let mut verdicts: Vec<Verdict> = Vec::new();
    for policy in &policies {
        let report = verify_bundle_json_full(&bundle, &verifier, None, Some(policy));
        if !report.verified {
            bail!(
                "the bundle of {} does not verify: {}",
                batch,
                report
                    .failures
                    .iter()
                    .map(|f| format!("{}: {}", f.location, f.problem))
                    .collect::<Vec<_>>()
                    .join("; ")
            );
        }
        verdicts.extend(report.compliance);
    }
    if announced {
        eprintln!(
            "note: checked against the log key the server announces ({key}); pass --log-key to pin it"
        );
    }
    print!("{}", render(&verdicts, args.format));
    Ok(if verdicts.iter().any(|v| v.verdict == Outcome::Fail) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// The verdicts in `format`.
pub fn render(verdicts: &[Verdict], format: Format) -> String {
    use std::fmt::Write as _;
    let opt = |o: Option<String>| o.unwrap_or_default();
    let mut out = String::new();
    match format {
        Format::Json => {
            out = serde_json::to_string_pretty(verdicts).expect("verdicts serialise");
            out.push('\n');
        }
        Format::Csv => {
            out.push_str(
                "policy,batch,verdict,outcome,stage,site,company,country,entry,element,message\n",
            );
            for v in verdicts {
                for r in &v.reasons {
                    let row = [
                        v.policy.clone(),
                        v.batch.to_string(),
                        v.verdict.as_str().to_owned(),
                        r.outcome.as_str().to_owned(),
                        opt(r.stage.map(|s| s.to_string())),
                        opt(r.site.as_ref().map(|s| s.to_string())),
                        opt(r.company.as_ref().map(|s| s.to_string())),
                        opt(r.country.as_ref().map(|s| s.to_string())),
                        opt(r.entry.map(|e| e.to_string())),
                        opt(r.element.map(|e| e.to_string())),
                        r.message.clone(),
                    ];
                    let line: Vec<String> = row.iter().map(|f| csv_field(f)).collect();
                    let _ = writeln!(out, "{}", line.join(","));
                }
            }
        }
        Format::Markdown => {
            for v in verdicts {
                let _ = writeln!(
                    out,
                    "## {} — {}: **{}**\n",
                    v.policy,
                    v.batch,
                    v.verdict.as_str()
                );
                let _ = writeln!(out, "{}\n\nSource: {}\n", v.title, v.source);
                if let (Some(finding), Some(at)) = (v.finding, &v.at) {
                    let _ = writeln!(out, "Finding on {at}: **{finding}**\n");
                }
                let _ = writeln!(
                    out,
                    "| outcome | stage | site | company | country | entry | reason |"
                );
                let _ = writeln!(out, "| --- | --- | --- | --- | --- | --- | --- |");
                for r in &v.reasons {
                    let _ = writeln!(
                        out,
                        "| {} | {} | {} | {} | {} | {} | {} |",
                        r.outcome.as_str(),
                        opt(r.stage.map(|s| s.to_string())),
                        opt(r.site.as_ref().map(|s| s.to_string())),
                        opt(r.company.as_ref().map(|s| s.to_string())),
                        opt(r.country.as_ref().map(|s| s.to_string())),
                        opt(r.entry.map(|e| e.to_string())),
                        r.message.replace('|', "\\|")
                    );
                }
                if !v.exceptions.is_empty() {
                    let _ = writeln!(out, "\nNot seen by the ledger (stated, not guessed):\n");
                    for x in &v.exceptions {
                        let _ = writeln!(out, "- {x}");
                    }
                }
                out.push('\n');
            }
        }
    }
    out
}
