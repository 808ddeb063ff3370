//! Value-share rules (MOFCOM Announcement No. 61 of 2025; docs/COMPLIANCE.md "cn-mofcom-61"):
//! the value of the controlled elements of an item that were mined in the origin countries,
//! against the item's value, on an evaluation date.
//!
//! Exact, in minor currency units times grams per kilogram (integers): for each controlled
//! element `e` with `C_e` grams of listed origin and `U_e` grams of unknown origin, at price
//! `p_e` per kg, `V = Σ C_e × p_e` and `W = Σ U_e × p_e`; the item is worth `I = m × q` (its
//! mass times the per-kg value of its form). A licence is needed if `1000 × V ≥ t × I`, not
//! needed if even `1000 × (V + W) < t × I`, and otherwise it cannot be told. Before the rule is
//! in force, after it ends, or while it is suspended, no licence is needed under it on that date.
//!
//! The rule itself — elements, threshold, dates, suspensions — is the one the jurisdiction
//! published in the log when it did ([`evaluate_published`]): signed by the authority and dated,
//! so a verdict on any date is replayed under the rule as it stood then. The policy file's own
//! copy governs only when the log holds none (a ledger or a bundle without the authority's
//! events), and its prices always apply.

use std::collections::BTreeSet;

use crate::model::ids::{CountryCode, Timestamp};
use crate::model::material::Element;

use super::policy::{PolicySuspension, PriceTable};
use super::{Analysis, Outcome, Reason};
use crate::ledger::ControlRule;

/// What a value-share verdict found, beside the pass/fail outcome.
pub(super) enum Finding {
    /// A licence is needed to re-export the item (outcome `fail`).
    LicenceNeeded,
    /// None is needed (outcome `pass`).
    NotNeeded,
    /// The rule is suspended on the date (outcome `pass`).
    Suspended,
    /// The rule is not in force on the date (outcome `pass`).
    NotInForce,
    /// The ledger lacks what the rule needs (outcome `cannot_tell`).
    CannotTell,
}

impl Finding {
    /// How strongly it binds, for combining several rules: a licence needed by one rule is
    /// needed; what cannot be told outranks every "no licence".
    fn rank(&self) -> u8 {
        match self {
            Finding::LicenceNeeded => 4,
            Finding::CannotTell => 3,
            Finding::NotNeeded => 2,
            Finding::Suspended => 1,
            Finding::NotInForce => 0,
        }
    }

    pub(super) fn as_str(&self) -> &'static str {
        match self {
            Finding::LicenceNeeded => "licence_needed",
            Finding::NotNeeded => "not_needed",
            Finding::Suspended => "suspended",
            Finding::NotInForce => "not_in_force",
            Finding::CannotTell => "cannot_tell",
        }
    }
}

/// The parameters of a `content_value` rule.
pub(super) struct ContentValue<'a> {
    pub origin_countries: &'a BTreeSet<CountryCode>,
    pub elements: &'a BTreeSet<Element>,
    pub threshold_per_mille: u32,
    pub effective_from: &'a Timestamp,
    pub effective_until: Option<&'a Timestamp>,
    pub suspensions: &'a [PolicySuspension],
    pub currency: &'a str,
    pub prices: &'a [PriceTable],
}

/// `minor × grams / 1000` (a value in minor units × g per kg) as `12.34 USD`.
fn money(minor_g: u128, currency: &str) -> String {
    let minor = minor_g / 1000;
    format!("{}.{:02} {currency}", minor / 100, minor % 100)
}

/// A per-kg price in minor units as `350.00 USD/kg`.
fn per_kg(minor: u64, currency: &str) -> String {
    format!("{}.{:02} {currency}/kg", minor / 100, minor % 100)
}

/// `part / whole` as a percentage with three decimals.
fn share(part: u128, whole: u128) -> String {
    if whole == 0 {
        return "0%".into();
    }
    let milli_percent = part * 100_000 / whole;
    format!("{}.{:03}%", milli_percent / 1000, milli_percent % 1000)
}

/// [`evaluate`] under the value rules the log holds for `policy`'s origin countries (each with
/// the policy's prices; the strictest finding wins), or under the policy's own rule when the log
/// holds none. Each published rule adds a reason naming it and its entry.
pub(super) fn evaluate_published(
    policy: &ContentValue<'_>,
    at: Option<&Timestamp>,
    analysis: &Analysis,
) -> (Vec<Reason>, Finding) {
    let published: Vec<&(CountryCode, ControlRule)> = analysis
        .published_value_rules
        .iter()
        .filter(|(country, _)| policy.origin_countries.contains(country))
        .collect();
    if published.is_empty() {
        return evaluate(policy, at, analysis);
    }
    let mut reasons = Vec::new();
    let mut strictest: Option<Finding> = None;
    for (country, rule) in published {
        let suspensions: Vec<PolicySuspension> = rule
            .suspensions
            .iter()
            .map(|s| PolicySuspension {
                from: s.from.clone(),
                until: s.until.clone(),
                source: format!("{} (entry {})", s.source, s.entry),
            })
            .collect();
        let as_published = ContentValue {
            elements: &rule.elements,
            threshold_per_mille: rule
                .value_threshold_per_mille
                .unwrap_or(policy.threshold_per_mille),
            effective_from: &rule.effective_from,
            effective_until: rule.effective_until.as_ref(),
            suspensions: &suspensions,
            ..*policy
        };
        let (found_reasons, found) = evaluate(&as_published, at, analysis);
        reasons.extend(found_reasons);
        let mut named = Reason::new(
            Outcome::Pass,
            format!(
                "rule `{}` as {country} published it in this log: {} (entry {}); prices from the policy",
                rule.rule, rule.source, rule.published_in
            ),
        );
        named.entry = Some(rule.published_in);
        reasons.push(named);
        if strictest.as_ref().is_none_or(|s| found.rank() > s.rank()) {
            strictest = Some(found);
        }
    }
    (reasons, strictest.unwrap_or(Finding::CannotTell))
}

pub(super) fn evaluate(
    rule: &ContentValue<'_>,
    at: Option<&Timestamp>,
    analysis: &Analysis,
) -> (Vec<Reason>, Finding) {
    let cannot = |message: String| {
        (
            vec![Reason::new(Outcome::CannotTell, message)],
            Finding::CannotTell,
        )
    };
    let Some(at) = at else {
        return cannot("no evaluation date was given for this dated rule".into());
    };
    let t = at.unix_nanos();
    let day = &at.as_str()[..10];
    let ends_after = |end: Option<&Timestamp>| end.is_none_or(|e| t < e.unix_nanos());
    if t < rule.effective_from.unix_nanos() || !ends_after(rule.effective_until) {
        let message = format!(
            "on {day} the rule is not in force (in force from {}{}): no licence is needed under it",
            &rule.effective_from.as_str()[..10],
            rule.effective_until
                .map(|u| format!(" until {}", &u.as_str()[..10]))
                .unwrap_or_default()
        );
        return (
            vec![Reason::new(Outcome::Pass, message)],
            Finding::NotInForce,
        );
    }
    if let Some(s) = rule
        .suspensions
        .iter()
        .find(|s| s.from.unix_nanos() <= t && ends_after(s.until.as_ref()))
    {
        let message = format!(
            "on {day} the rule is suspended by {} (from {}{}): no licence is needed under it on this date",
            s.source,
            &s.from.as_str()[..10],
            s.until
                .as_ref()
                .map(|u| format!(" until {}", &u.as_str()[..10]))
                .unwrap_or_default()
        );
        return (
            vec![Reason::new(Outcome::Pass, message)],
            Finding::Suspended,
        );
    }
    let Some(table) = rule
        .prices
        .iter()
        .filter(|p| p.from.unix_nanos() <= t)
        .max_by_key(|p| p.from.unix_nanos())
    else {
        return cannot(format!("no price table is in force on {day}"));
    };
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
        return (reasons, Finding::CannotTell);
    }
    let Some(&item_price) = table.item_per_kg.get(&analysis.form) else {
        return cannot(format!(
            "the price table of {} gives no value for an item of form {}",
            &table.from.as_str()[..10],
            analysis.form
        ));
    };
    let currency = rule.currency;
    let mut reasons = Vec::new();
    let (mut listed, mut unknown) = (0u128, 0u128);
    for origin in &report.elements {
        if !rule.elements.contains(&origin.element) {
            continue;
        }
        let e = origin.element;
        let from_listed: u64 = origin
            .by_country
            .iter()
            .filter(|p| {
                p.id.parse::<CountryCode>()
                    .is_ok_and(|c| rule.origin_countries.contains(&c))
            })
            .map(|p| p.grams)
            .sum();
        let undeclared = origin.undeclared_g;
        if from_listed == 0 && undeclared == 0 {
            reasons.push(Reason::element(
                Outcome::Pass,
                format!("{e}: {} g, none of it from {}", origin.grams, names(rule)),
                e,
            ));
            continue;
        }
        let Some(&price) = table.element_per_kg.get(&e) else {
            reasons.push(Reason::element(
                Outcome::CannotTell,
                format!(
                    "{e}: the price table of {} has no price for it",
                    &table.from.as_str()[..10]
                ),
                e,
            ));
            unknown = unknown.saturating_add(u128::MAX / 4);
            continue;
        };
        let value = u128::from(from_listed) * u128::from(price);
        let value_unknown = u128::from(undeclared) * u128::from(price);
        listed += value;
        unknown += value_unknown;
        let mut message = format!(
            "{e}: {from_listed} g from {} × {} = {}",
            names(rule),
            per_kg(price, currency),
            money(value, currency)
        );
        if undeclared > 0 {
            message.push_str(&format!(
                "; {undeclared} g of unknown origin (up to {})",
                money(value_unknown, currency)
            ));
        }
        reasons.push(Reason::element(Outcome::Pass, message, e));
    }
    let mass = analysis.mass_g;
    let item = u128::from(mass) * u128::from(item_price);
    let threshold = u128::from(rule.threshold_per_mille);
    let limit = format!(
        "{}.{}%",
        rule.threshold_per_mille / 10,
        rule.threshold_per_mille % 10
    );
    let stated = format!(
        "{} of controlled rare earths from {} in an item worth {} ({mass} g × {} for {}, prices of {}) = {}",
        money(listed, currency),
        names(rule),
        money(item, currency),
        per_kg(item_price, currency),
        analysis.form,
        &table.from.as_str()[..10],
        share(listed, item)
    );
    let (outcome, finding, message) = if listed * 1000 >= threshold * item {
        (
            Outcome::Fail,
            Finding::LicenceNeeded,
            format!("{stated}, at least {limit}: re-export needs a MOFCOM licence on {day}"),
        )
    } else if listed.saturating_add(unknown).saturating_mul(1000) < threshold * item {
        (
            Outcome::Pass,
            Finding::NotNeeded,
            format!("{stated}, under {limit}: no licence is needed on {day}"),
        )
    } else {
        (
            Outcome::CannotTell,
            Finding::CannotTell,
            format!("{stated}; with the material of unknown origin it may reach {limit}"),
        )
    };
    reasons.insert(0, Reason::new(outcome, message));
    (reasons, finding)
}

fn names(rule: &ContentValue<'_>) -> String {
    rule.origin_countries
        .iter()
        .map(|c| c.as_ref())
        .collect::<Vec<_>>()
        .join(", ")
}
