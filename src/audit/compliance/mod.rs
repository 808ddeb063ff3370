//! Compliance verdicts (issue 12, docs/COMPLIANCE.md): a [`Policy`] applied to one batch's
//! lineage by stage and per-element origin shares gives a [`Verdict`] — `pass`, `fail` or
//! `cannot_tell` — with reasons that name the stage, site, company, country and entry index,
//! and the exceptions the ledger cannot see, stated rather than guessed.
//!
//! Pure: [`analyze`] reads the state through [`StateView`] (so the HTTP server, the CLI and an
//! offline bundle verifier, which replays a bundle into memory, get the same verdict), and
//! [`evaluate`] is a function of the analysis and the policy.

mod crma;
mod dfars;
mod friendshore;
mod mofcom;
pub mod policy;

use serde::Serialize;

use crate::ledger::{ControlRule, StateView};
use crate::model::ids::{ActorId, BatchId, CountryCode, SiteId};
use crate::model::material::{Element, Form};

use super::elements::{element_mixes, element_report, ElementReport, Names};
use super::lineage::{lineage, Lineage, Stage, StageTouch};
use super::provenance::provenance_dag;
use super::AuditError;

pub use policy::{
    builtin, builtins, Policy, PolicyError, PolicySuspension, PriceTable, Rule, BUILTIN_NAMES,
    DEFAULT_NAMES,
};

/// A verdict's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The rule holds on what the ledger proves.
    Pass,
    /// The ledger proves the rule broken.
    Fail,
    /// The ledger lacks what the rule needs (a composition, a site).
    CannotTell,
}

impl Outcome {
    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::CannotTell => "cannot_tell",
        }
    }
}

/// One reason of a verdict, with what it rests on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reason {
    /// Which outcome it supports.
    pub outcome: Outcome,
    /// In words.
    pub message: String,
    /// The stage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<Stage>,
    /// The site.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<SiteId>,
    /// The company.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company: Option<ActorId>,
    /// The country.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<CountryCode>,
    /// The entry that proves it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry: Option<u64>,
    /// The batch that entry made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<BatchId>,
    /// The element, for per-element rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub element: Option<Element>,
}

impl Reason {
    fn new(outcome: Outcome, message: String) -> Reason {
        Reason {
            outcome,
            message,
            stage: None,
            site: None,
            company: None,
            country: None,
            entry: None,
            batch: None,
            element: None,
        }
    }

    fn at(outcome: Outcome, message: String, touch: &StageTouch) -> Reason {
        Reason {
            stage: Some(touch.stage),
            site: touch.site.clone(),
            company: Some(touch.company.clone()),
            country: Some(touch.country.clone()),
            entry: Some(touch.entry),
            batch: Some(touch.batch.clone()),
            ..Reason::new(outcome, message)
        }
    }

    fn element(outcome: Outcome, message: String, element: Element) -> Reason {
        Reason {
            element: Some(element),
            ..Reason::new(outcome, message)
        }
    }
}

/// A figure a verdict computed (a share against its threshold), exact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Figure {
    /// What it is (`rare_earth_content`, `Nd post-consumer` ...).
    pub name: String,
    /// Grams that count.
    pub grams: u64,
    /// Out of.
    pub of_g: u64,
    /// Grams whose origin is not known (they may or may not count).
    pub unknown_g: u64,
    /// The threshold, whole percent, if the rule has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_percent: Option<u8>,
}

/// A policy's verdict on one batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// The policy's name.
    pub policy: String,
    /// What it checks.
    pub title: String,
    /// Its legal source.
    pub source: String,
    /// The batch.
    pub batch: BatchId,
    /// `pass`, `fail` or `cannot_tell`.
    pub verdict: Outcome,
    /// Why, each naming what it rests on. Failures first.
    pub reasons: Vec<Reason>,
    /// Figures computed (shares against thresholds).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub figures: Vec<Figure>,
    /// What the ledger cannot see and the verdict does not guess.
    pub exceptions: Vec<String>,
    /// For a dated value rule (`cn-mofcom-61`): `licence_needed`, `not_needed`, `suspended`,
    /// `not_in_force` or `cannot_tell`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finding: Option<&'static str>,
    /// The date a dated rule was evaluated on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<crate::model::ids::Timestamp>,
}

/// What the verdicts of one batch rest on: its form, lineage by stage and element shares.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analysis {
    /// The batch.
    pub batch: BatchId,
    /// Its form.
    pub form: Form,
    /// Lineage by stage.
    pub lineage: Lineage,
    /// Per-element origin shares.
    pub elements: ElementReport,
    /// Its mass at creation (the item's mass for value rules).
    #[serde(skip)]
    pub mass_g: u64,
    /// The value-share rules (`publish_controls` with a value threshold, with the suspensions
    /// published since) that the jurisdictions of the batch's mines published in the log, by
    /// jurisdiction. Where one covers a `content_value` policy's origin country it governs the
    /// rule's elements, threshold, dates and suspensions; the policy gives only the prices.
    #[serde(skip)]
    pub published_value_rules: Vec<(CountryCode, ControlRule)>,
}

/// Analyses `batch` (visiting at most `max_nodes` batches).
pub fn analyze<S: StateView + ?Sized>(
    state: &S,
    batch: &BatchId,
    max_nodes: usize,
) -> Result<Analysis, AuditError> {
    let dag = provenance_dag(state, batch, max_nodes)?;
    analyze_dag(state, &dag)
}

/// Analyses the root of a DAG already walked.
pub fn analyze_dag<S: StateView + ?Sized>(
    state: &S,
    dag: &super::ProvenanceDag,
) -> Result<Analysis, AuditError> {
    let names = Names::read(state, dag)?;
    let mixes = element_mixes(dag)?;
    let (form, mass_g) = dag
        .node(&dag.root)
        .map(|n| (n.form, n.created_g))
        .ok_or_else(|| AuditError::UnknownBatch {
            batch: dag.root.clone(),
        })?;
    let mine_countries: std::collections::BTreeSet<&CountryCode> = names
        .sites
        .values()
        .map(|(_, country, _)| country)
        .collect();
    let mut published_value_rules = Vec::new();
    for country in mine_countries {
        if let Some(book) = state.controls(country)? {
            published_value_rules.extend(
                book.rules
                    .into_iter()
                    .filter(|r| r.value_threshold_per_mille.is_some())
                    .map(|r| (country.clone(), r)),
            );
        }
    }
    Ok(Analysis {
        batch: dag.root.clone(),
        form,
        lineage: lineage(dag, &names),
        elements: element_report(dag, &mixes, &names),
        mass_g,
        published_value_rules,
    })
}

/// The per-element origin report of `batch`.
pub fn element_shares<S: StateView + ?Sized>(
    state: &S,
    dag: &super::ProvenanceDag,
) -> Result<ElementReport, AuditError> {
    let names = Names::read(state, dag)?;
    let mixes = element_mixes(dag)?;
    Ok(element_report(dag, &mixes, &names))
}

/// `policy`'s verdict on the analysed batch.
pub fn evaluate(policy: &Policy, analysis: &Analysis) -> Verdict {
    let mut finding = None;
    let (mut reasons, figures) = match &policy.rule {
        Rule::CoveredCountries {
            countries,
            stages,
            forms,
        } => (
            dfars::evaluate(countries, stages, forms, analysis),
            Vec::new(),
        ),
        Rule::CountryShare {
            countries,
            min_percent,
            recycled_counts,
        } => friendshore::evaluate(countries, *min_percent, *recycled_counts, analysis),
        Rule::RecycledShare {
            elements,
            min_post_consumer_percent,
            not_tracked,
        } => crma::evaluate(elements, min_post_consumer_percent, not_tracked, analysis),
        Rule::ContentValue {
            origin_countries,
            elements,
            threshold_per_mille,
            effective_from,
            effective_until,
            suspensions,
            currency,
            prices,
        } => {
            let rule = mofcom::ContentValue {
                origin_countries,
                elements,
                threshold_per_mille: *threshold_per_mille,
                effective_from,
                effective_until: effective_until.as_ref(),
                suspensions,
                currency,
                prices,
            };
            let (reasons, found) = mofcom::evaluate_published(&rule, policy.at.as_ref(), analysis);
            finding = Some(found.as_str());
            (reasons, Vec::new())
        }
    };
    // Any failure fails; else anything unknown cannot tell; else pass.
    let verdict = reasons
        .iter()
        .map(|r| r.outcome)
        .fold(Outcome::Pass, |acc, o| match (acc, o) {
            (Outcome::Fail, _) | (_, Outcome::Fail) => Outcome::Fail,
            (Outcome::CannotTell, _) | (_, Outcome::CannotTell) => Outcome::CannotTell,
            _ => Outcome::Pass,
        });
    // Failures first, then what cannot be told, then passes; stable within.
    reasons.sort_by_key(|r| match r.outcome {
        Outcome::Fail => 0,
        Outcome::CannotTell => 1,
        Outcome::Pass => 2,
    });
    Verdict {
        policy: policy.name.clone(),
        title: policy.title.clone(),
        source: policy.source.clone(),
        batch: analysis.batch.clone(),
        verdict,
        reasons,
        figures,
        exceptions: policy.exceptions.clone(),
        finding,
        at: match policy.rule {
            Rule::ContentValue { .. } => policy.at.clone(),
            _ => None,
        },
    }
}

/// Everything `GET /v1/batches/{id}/compliance` answers: the verdicts of the policies asked
/// for (all built-ins by default) and the analysis they rest on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComplianceReport {
    /// The batch.
    pub batch: BatchId,
    /// One verdict per policy.
    pub verdicts: Vec<Verdict>,
    /// Lineage by stage.
    pub lineage: Lineage,
    /// Per-element origin shares.
    pub elements: ElementReport,
}

/// The compliance report of an analysed batch under `policies`.
pub fn report(analysis: Analysis, policies: &[Policy]) -> ComplianceReport {
    let verdicts = policies.iter().map(|p| evaluate(p, &analysis)).collect();
    ComplianceReport {
        batch: analysis.batch,
        verdicts,
        lineage: analysis.lineage,
        elements: analysis.elements,
    }
}

/// `numerator / denominator ≥ percent / 100`, exactly.
fn at_least(numerator: u64, denominator: u64, percent: u8) -> bool {
    u128::from(numerator) * 100 >= u128::from(denominator) * u128::from(percent)
}

/// `grams / of` as a percentage with two decimals, for messages.
fn percent(grams: u64, of: u64) -> String {
    if of == 0 {
        return "0%".into();
    }
    let basis_points = u128::from(grams) * 10_000 / u128::from(of);
    format!("{}.{:02}%", basis_points / 100, basis_points % 100)
}
