//! Country-share rules (docs/COMPLIANCE.md "friend-shore"): the share of a batch's rare-earth
//! content — all 17 elements, in grams — mined in (or, if the policy says so, recycled in) a set
//! of countries, against a whole-percent threshold.
//!
//! Exact: with `G` grams of content, `F` grams from listed countries and `U` grams of unknown
//! origin (undeclared inputs upstream), the rule passes if `100 × F ≥ p × G`, fails if even
//! `100 × (F + U) < p × G`, and otherwise cannot tell.

use std::collections::BTreeSet;

use crate::model::ids::CountryCode;

use super::{at_least, percent, Analysis, Figure, Outcome, Reason};

pub(super) fn evaluate(
    countries: &BTreeSet<CountryCode>,
    min_percent: u8,
    recycled_counts: bool,
    analysis: &Analysis,
) -> (Vec<Reason>, Vec<Figure>) {
    let report = &analysis.elements;
    if report.content.is_none() {
        let mut reasons: Vec<Reason> = report
            .cannot_tell
            .iter()
            .map(|m| Reason::new(Outcome::CannotTell, m.clone()))
            .collect();
        if reasons.is_empty() {
            reasons.push(Reason::new(
                Outcome::CannotTell,
                format!("{} has no known element content", analysis.batch),
            ));
        }
        return (reasons, Vec::new());
    }
    let (mut total, mut listed, mut unknown) = (0u64, 0u64, 0u64);
    let mut by_country: std::collections::BTreeMap<CountryCode, u64> = Default::default();
    for e in &report.elements {
        total = total.saturating_add(e.grams);
        unknown = unknown.saturating_add(e.undeclared_g);
        for part in &e.by_country {
            if let Ok(c) = part.id.parse::<CountryCode>() {
                *by_country.entry(c).or_insert(0) += part.grams;
            }
        }
        if recycled_counts {
            for r in &e.recycled_by {
                *by_country.entry(r.country.clone()).or_insert(0) += r.grams;
            }
        }
    }
    for (country, g) in &by_country {
        if countries.contains(country) {
            listed = listed.saturating_add(*g);
        }
    }
    let figure = Figure {
        name: "rare_earth_content".into(),
        grams: listed,
        of_g: total,
        unknown_g: unknown,
        min_percent: Some(min_percent),
    };
    let detail = by_country
        .iter()
        .map(|(c, g)| format!("{c} {g} g"))
        .collect::<Vec<_>>()
        .join(", ");
    let reason = if at_least(listed, total, min_percent) {
        Reason::new(
            Outcome::Pass,
            format!(
                "{listed} of {total} g of rare-earth content ({}) is from listed countries, at least {min_percent}% (by country: {detail})",
                percent(listed, total)
            ),
        )
    } else if !at_least(listed.saturating_add(unknown), total, min_percent) {
        Reason::new(
            Outcome::Fail,
            format!(
                "only {listed} of {total} g of rare-earth content ({}) is from listed countries, under {min_percent}% (by country: {detail})",
                percent(listed, total)
            ),
        )
    } else {
        Reason::new(
            Outcome::CannotTell,
            format!(
                "{listed} of {total} g ({}) is from listed countries and {unknown} g has no known origin: the {min_percent}% threshold may or may not be met",
                percent(listed, total)
            ),
        )
    };
    (vec![reason], vec![figure])
}
