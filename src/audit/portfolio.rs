//! Portfolio reports (issue 12, EU 2024/1252 Art. 24; docs/COMPLIANCE.md "Portfolio"): for the
//! batches an actor received in a period, where their rare earths were extracted, processed and
//! recycled, with grams per element, and the concentration of each stage by country against
//! the Union benchmark (no single third country above 65 %).
//!
//! **Which batches.** A batch belongs to the portfolio of actor `A` for `[from, to)` if `A` is
//! its custodian (it holds it, or used it up or retired it), it was made by someone else (the
//! mine's owner, or the holder of the transform's inputs, is not `A`: material `A` made itself
//! from received material would count twice), and its latest move — its receipt, or the use or
//! retirement after it (`last_event_at`) — falls in the period. Material `A` received and shipped
//! on is not in it (its custodian changed).
//!
//! **Grams per stage.** Extraction and recycling are mass balance: each batch's per-element
//! origin shares by country of the mine, and by country of the recycling. Processing (the
//! `processing`, `metal_making`, `alloy_melting` and `magnet_production` stages) is lineage: a
//! batch's content counts in full for every country where any of its upstream processing at
//! that stage happened, so a stage's shares are over what was counted. A batch without known
//! element content is listed under `cannot_tell` and counted nowhere.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::ledger::{BatchOrigin, BatchRecord, StateView};
use crate::model::ids::{ActorId, BatchId, CountryCode, Timestamp};
use crate::model::material::{Element, Form};

use super::compliance::analyze;
use super::lineage::Stage;
use super::AuditError;

/// The Union benchmark of Reg. (EU) 2024/1252 Art. 5(2)(d): at most 65 % from one third country
/// at any stage of the value chain.
pub const BENCHMARK_PERCENT: u8 = 65;

/// One batch of the portfolio.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortfolioBatch {
    /// The batch.
    pub batch: BatchId,
    /// Its form.
    pub form: Form,
    /// Its mass at creation.
    pub created_g: u64,
    /// Rare-earth grams in it (0 when not known).
    pub rare_earth_g: u64,
    /// Its latest move.
    pub last_event_at: Timestamp,
}

/// Grams of one country at one stage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CountryGrams {
    /// The country.
    pub country: CountryCode,
    /// Grams per element.
    pub elements: BTreeMap<Element, u64>,
    /// Their total.
    pub grams: u64,
    /// `grams / stage total`, for display.
    pub share: f64,
}

/// One stage of the Art. 24 map.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageMap {
    /// `mining`, `processing`, `metal_making`, `alloy_melting`, `magnet_production`,
    /// `recycling`.
    pub stage: Stage,
    /// Grams counted at this stage.
    pub total_g: u64,
    /// By country, largest first.
    pub countries: Vec<CountryGrams>,
    /// The largest country's share in whole basis points (1/100 %), exact (floor).
    pub top_share_bp: u32,
    /// The largest country.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_country: Option<CountryCode>,
    /// Whether the largest country is above the 65 % benchmark.
    pub above_benchmark: bool,
}

/// An actor's portfolio for a period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Portfolio {
    /// The actor.
    pub actor: ActorId,
    /// Period start (inclusive).
    pub from: Timestamp,
    /// Period end (exclusive).
    pub to: Timestamp,
    /// The benchmark, whole percent.
    pub benchmark_percent: u8,
    /// The batches.
    pub batches: Vec<PortfolioBatch>,
    /// The map, stage by stage, in chain order (stages with nothing counted are left out).
    pub stages: Vec<StageMap>,
    /// Batches whose content is not known, and why.
    pub cannot_tell: Vec<String>,
}

/// Whether `actor` made `batch` itself (it mined it, or held the transform's first input).
fn made_by<S: StateView + ?Sized>(
    state: &S,
    batch: &BatchRecord,
    actor: &ActorId,
) -> Result<bool, AuditError> {
    Ok(match &batch.origin {
        BatchOrigin::Extracted { site } => state.site(site)?.is_some_and(|s| &s.owner == actor),
        BatchOrigin::Transformed { inputs, .. } => match inputs.first() {
            Some((input, _)) => state.batch(input)?.is_some_and(|b| &b.custodian == actor),
            None => false,
        },
    })
}

/// The portfolio of `actor` over `batches` (all batches of the ledger, in any order).
pub fn portfolio<S: StateView + ?Sized>(
    state: &S,
    batches: impl IntoIterator<Item = BatchRecord>,
    actor: &ActorId,
    from: &Timestamp,
    to: &Timestamp,
    max_nodes: usize,
) -> Result<Portfolio, AuditError> {
    let mut report = Portfolio {
        actor: actor.clone(),
        from: from.clone(),
        to: to.clone(),
        benchmark_percent: BENCHMARK_PERCENT,
        batches: Vec::new(),
        stages: Vec::new(),
        cannot_tell: Vec::new(),
    };
    let mut stages: BTreeMap<Stage, BTreeMap<CountryCode, BTreeMap<Element, u64>>> =
        BTreeMap::new();
    let mut add = |stage: Stage, country: &CountryCode, element: Element, grams: u64| {
        let slot = stages
            .entry(stage)
            .or_default()
            .entry(country.clone())
            .or_default()
            .entry(element)
            .or_insert(0);
        *slot = slot.saturating_add(grams);
    };
    for batch in batches {
        if &batch.custodian != actor
            || batch.last_event_at < *from
            || batch.last_event_at >= *to
            || made_by(state, &batch, actor)?
        {
            continue;
        }
        let analysis = analyze(state, &batch.id, max_nodes)?;
        let rare_earth_g = analysis
            .elements
            .elements
            .iter()
            .map(|e| e.grams)
            .fold(0u64, u64::saturating_add);
        if analysis.elements.content.is_none() {
            report
                .cannot_tell
                .extend(analysis.elements.cannot_tell.iter().cloned());
        }
        for e in &analysis.elements.elements {
            for part in &e.by_country {
                if let Ok(country) = part.id.parse::<CountryCode>() {
                    add(Stage::Mining, &country, e.element, part.grams);
                }
            }
            for r in &e.recycled_by {
                add(Stage::Recycling, &r.country, e.element, r.grams);
            }
            for stage in [
                Stage::Processing,
                Stage::MetalMaking,
                Stage::AlloyMelting,
                Stage::MagnetProduction,
            ] {
                if let Some(row) = analysis.lineage.stage(stage) {
                    for country in &row.countries {
                        add(stage, country, e.element, e.grams);
                    }
                }
            }
        }
        report.batches.push(PortfolioBatch {
            batch: batch.id,
            form: batch.form,
            created_g: batch.created_g.get(),
            rare_earth_g,
            last_event_at: batch.last_event_at,
        });
    }
    for (stage, countries) in stages {
        let mut rows: Vec<CountryGrams> = countries
            .into_iter()
            .map(|(country, elements)| CountryGrams {
                grams: elements.values().fold(0u64, |a, g| a.saturating_add(*g)),
                country,
                elements,
                share: 0.0,
            })
            .collect();
        let total_g = rows.iter().fold(0u64, |a, r| a.saturating_add(r.grams));
        for r in &mut rows {
            r.share = if total_g == 0 {
                0.0
            } else {
                r.grams as f64 / total_g as f64
            };
        }
        rows.sort_by(|a, b| b.grams.cmp(&a.grams).then(a.country.cmp(&b.country)));
        let top = rows.first().map(|r| (r.country.clone(), r.grams));
        let top_share_bp = match (&top, total_g) {
            (Some((_, g)), t) if t > 0 => (u128::from(*g) * 10_000 / u128::from(t)) as u32,
            _ => 0,
        };
        let above_benchmark = match (&top, total_g) {
            (Some((_, g)), t) if t > 0 => {
                u128::from(*g) * 100 > u128::from(t) * u128::from(BENCHMARK_PERCENT)
            }
            _ => false,
        };
        report.stages.push(StageMap {
            stage,
            total_g,
            countries: rows,
            top_share_bp,
            top_country: top.map(|(c, _)| c),
            above_benchmark,
        });
    }
    Ok(report)
}
