//! Lineage rules: no upstream event at a listed stage in a covered country (DFARS 252.225-7052,
//! 10 U.S.C. 4872; docs/COMPLIANCE.md "dfars-2027, dfars-2026").
//!
//! Any touch counts, whatever its mass: a magnet whose alloy was melted in China fails, even if
//! 1 % of its alloy went through that plant. A touch placed only by the operator's registered
//! country (the transform named no site) fails if that country is covered, and otherwise
//! cannot tell: the registration does not prove where the work was done.

use std::collections::BTreeSet;

use crate::model::ids::CountryCode;
use crate::model::material::Form;

use super::super::lineage::{PlaceBasis, Stage};
use super::{Analysis, Outcome, Reason};

pub(super) fn evaluate(
    countries: &BTreeSet<CountryCode>,
    stages: &BTreeSet<Stage>,
    forms: &[Form],
    analysis: &Analysis,
) -> Vec<Reason> {
    let mut reasons = Vec::new();
    if !forms.is_empty() && !forms.contains(&analysis.form) {
        reasons.push(Reason::new(
            Outcome::Pass,
            format!(
                "note: the rule is written for {}; {} is {}",
                forms
                    .iter()
                    .map(|f| f.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                analysis.batch,
                analysis.form
            ),
        ));
    }
    let mut clear = 0usize;
    for touch in analysis.lineage.touches_in(stages) {
        let place = touch
            .site_name
            .as_deref()
            .map_or_else(|| "no site named".to_owned(), str::to_owned);
        if countries.contains(&touch.country) {
            reasons.push(Reason::at(
                Outcome::Fail,
                format!(
                    "{} of {} by {} in {} ({place}), entry {}: a covered country",
                    touch.event, touch.batch, touch.company_name, touch.country, touch.entry
                ),
                touch,
            ));
        } else if touch.place == PlaceBasis::OperatorRegistration {
            reasons.push(Reason::at(
                Outcome::CannotTell,
                format!(
                    "{} of {} by {}, entry {}, names no site: only the operator's registered country ({}) is known",
                    touch.event, touch.batch, touch.company_name, touch.entry, touch.country
                ),
                touch,
            ));
        } else {
            clear += 1;
        }
    }
    let stage_names: Vec<&str> = stages.iter().map(|s| s.as_str()).collect();
    if clear > 0 && reasons.iter().all(|r| r.outcome == Outcome::Pass) {
        let touched: BTreeSet<&CountryCode> = analysis
            .lineage
            .touches_in(stages)
            .map(|t| &t.country)
            .collect();
        reasons.push(Reason::new(
            Outcome::Pass,
            format!(
                "{clear} upstream events at {} happened in {}, none a covered country ({})",
                stage_names.join(", "),
                touched
                    .into_iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                countries
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    if clear == 0 && reasons.iter().all(|r| r.outcome == Outcome::Pass) {
        reasons.push(Reason::new(
            Outcome::CannotTell,
            format!(
                "no upstream event at {} is on the ledger",
                stage_names.join(", ")
            ),
        ));
    }
    reasons
}
