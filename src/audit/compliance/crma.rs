//! Recycled-share rules (EU 2024/1252 Art. 29; docs/COMPLIANCE.md "crma-recycled"): the share of
//! each listed element recovered from post-consumer waste.
//!
//! For element `e` with `G` grams in the batch, `P` post-consumer grams and `U` grams of unknown
//! origin: with a minimum `p`, pass if `100 × P ≥ p × G`, fail if `100 × (P + U) < p × G`, else
//! cannot tell. Without a minimum (Art. 29 sets none yet) the share is stated: pass when
//! `U = 0`, cannot tell otherwise. An element the batch does not contain is stated as absent.

use std::collections::BTreeMap;

use crate::model::material::Element;

use super::{at_least, percent, Analysis, Figure, Outcome, Reason};

pub(super) fn evaluate(
    elements: &[Element],
    minimum: &BTreeMap<Element, u8>,
    not_tracked: &[String],
    analysis: &Analysis,
) -> (Vec<Reason>, Vec<Figure>) {
    let report = &analysis.elements;
    let mut reasons = Vec::new();
    let mut figures = Vec::new();
    if report.content.is_none() {
        for m in &report.cannot_tell {
            reasons.push(Reason::new(Outcome::CannotTell, m.clone()));
        }
        if reasons.is_empty() {
            reasons.push(Reason::new(
                Outcome::CannotTell,
                format!("{} has no known element content", analysis.batch),
            ));
        }
        return (reasons, figures);
    }
    for &element in elements {
        let Some(o) = report.elements.iter().find(|o| o.element == element) else {
            reasons.push(Reason::element(
                Outcome::Pass,
                format!("{element}: none in {}", analysis.batch),
                element,
            ));
            continue;
        };
        let post = o.recycled_post_consumer_g;
        let min = minimum.get(&element).copied();
        figures.push(Figure {
            name: format!("{element} post-consumer"),
            grams: post,
            of_g: o.grams,
            unknown_g: o.undeclared_g,
            min_percent: min,
        });
        let stated = format!(
            "{element}: {post} of {} g ({}) recovered from post-consumer waste; {} g pre-consumer, {} g mined, {} g of unknown origin",
            o.grams,
            percent(post, o.grams),
            o.recycled_pre_consumer_g,
            o.mined_g,
            o.undeclared_g
        );
        let outcome = match min {
            Some(p) if at_least(post, o.grams, p) => Outcome::Pass,
            Some(p) if !at_least(post.saturating_add(o.undeclared_g), o.grams, p) => Outcome::Fail,
            _ if o.undeclared_g > 0 => Outcome::CannotTell,
            Some(_) => Outcome::CannotTell,
            None => Outcome::Pass,
        };
        let message = match min {
            Some(p) => format!("{stated}; minimum {p}%"),
            None => stated,
        };
        reasons.push(Reason::element(outcome, message, element));
    }
    if !not_tracked.is_empty() {
        reasons.push(Reason::new(
            Outcome::Pass,
            format!(
                "note: {} are named by the rule but are not rare earths; the ledger does not track them",
                not_tracked.join(", ")
            ),
        ));
    }
    (reasons, figures)
}
