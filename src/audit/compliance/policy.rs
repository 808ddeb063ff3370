//! Compliance policies as data (docs/COMPLIANCE.md, "Policy files"): a JSON document naming the
//! policy, its legal source, the exceptions the ledger cannot see, and one rule. The built-in
//! policies are written in the same format ([`builtin`]), so a user can copy one, change a
//! threshold or a country set, and pass the file instead of the name.
//!
//! Parsing is strict, like event payloads: unknown fields are refused, percentages are whole
//! numbers 0–100 (exact arithmetic, no floats), countries are ISO 3166-1 alpha-2.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::model::ids::{CountryCode, Timestamp};
use crate::model::material::{Element, Form};

use super::super::lineage::Stage;

/// A compliance policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Its name (`dfars-2027`, or a user's own).
    pub name: String,
    /// One line saying what it checks.
    pub title: String,
    /// The legal or contractual source it implements.
    pub source: String,
    /// Exceptions the ledger cannot see (COTS items, waivers ...): stated in every verdict,
    /// never guessed.
    #[serde(default)]
    pub exceptions: Vec<String>,
    /// What it checks.
    pub rule: Rule,
    /// The date a dated rule (`content_value`) is evaluated on: not part of the file; the
    /// caller sets it (the HTTP `?at=`, `lodestone report --at`, default now).
    #[serde(skip)]
    pub at: Option<Timestamp>,
}

/// A period in which a dated rule does not apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySuspension {
    /// From (inclusive).
    pub from: Timestamp,
    /// Until (exclusive; absent: until further notice).
    #[serde(default)]
    pub until: Option<Timestamp>,
    /// Its legal source.
    pub source: String,
}

/// Prices in force from a date, in minor units of the policy's currency per kilogram.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceTable {
    /// In force from (inclusive) until the next table's `from`.
    pub from: Timestamp,
    /// Where the prices come from.
    pub source: String,
    /// Price of each controlled element per kg (elemental basis).
    pub element_per_kg: BTreeMap<Element, u64>,
    /// Value of an item per kg, by form (the denominator of the value share).
    pub item_per_kg: BTreeMap<Form, u64>,
}

/// The check a policy makes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Rule {
    /// Lineage: no upstream event at any of `stages` happened in any of `countries`.
    CoveredCountries {
        /// The covered countries.
        countries: BTreeSet<CountryCode>,
        /// The stages that count.
        stages: BTreeSet<Stage>,
        /// The forms the rule applies to (empty: any). A batch of another form gets its verdict
        /// with a note that the rule is written for these forms.
        #[serde(default)]
        forms: Vec<Form>,
    },
    /// Mass balance: at least `min_percent` of the batch's rare-earth content was mined in (or
    /// recycled in) `countries`.
    CountryShare {
        /// The countries that count (domestic and friend-shore).
        countries: BTreeSet<CountryCode>,
        /// The threshold, whole percent.
        min_percent: u8,
        /// Whether recycled grams count by the recycler's country (else they never count).
        #[serde(default)]
        recycled_counts: bool,
    },
    /// Mass balance: the post-consumer recycled share of each listed element.
    RecycledShare {
        /// The elements reported.
        elements: Vec<Element>,
        /// Minimum post-consumer share per element, whole percent (none: report only).
        #[serde(default)]
        min_post_consumer_percent: BTreeMap<Element, u8>,
        /// Materials the rule names that are not rare earths (the ledger does not track them).
        #[serde(default)]
        not_tracked: Vec<String>,
    },
    /// Value share (MOFCOM Announcement No. 61 of 2025): the value of the listed elements mined
    /// in `origin_countries`, at the price table in force on the evaluation date, against the
    /// item's value; at least `threshold_per_mille` thousandths means a licence is needed.
    ContentValue {
        /// Where the controlled material must come from to count.
        origin_countries: BTreeSet<CountryCode>,
        /// The controlled elements.
        elements: BTreeSet<Element>,
        /// The threshold, in thousandths of the item's value (1 = 0.1%).
        threshold_per_mille: u32,
        /// In force from (inclusive).
        effective_from: Timestamp,
        /// In force until (exclusive).
        #[serde(default)]
        effective_until: Option<Timestamp>,
        /// Suspensions.
        #[serde(default)]
        suspensions: Vec<PolicySuspension>,
        /// The currency of the prices (ISO 4217), whose minor unit is a hundredth.
        currency: String,
        /// Dated price tables, oldest first.
        prices: Vec<PriceTable>,
    },
}

/// Why a policy could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// Not a valid policy document.
    #[error("not a valid compliance policy: {message}")]
    Invalid {
        /// What serde said, or ours.
        message: String,
    },
    /// No built-in policy of that name.
    #[error("no built-in compliance policy `{name}`; built-ins: {}", BUILTIN_NAMES.join(", "))]
    Unknown {
        /// The name asked for.
        name: String,
    },
}

impl Policy {
    /// Parses a policy file (JSON), strictly.
    pub fn from_json(bytes: &[u8]) -> Result<Policy, PolicyError> {
        let policy: Policy = serde_json::from_slice(bytes).map_err(|e| PolicyError::Invalid {
            message: e.to_string(),
        })?;
        policy.check()?;
        Ok(policy)
    }

    fn check(&self) -> Result<(), PolicyError> {
        let bad = |message: String| Err(PolicyError::Invalid { message });
        if self.name.is_empty() || self.name.len() > 64 {
            return bad("`name` has 1 to 64 characters".into());
        }
        match &self.rule {
            Rule::CountryShare { min_percent, .. } if *min_percent > 100 => {
                bad(format!("`min_percent` is {min_percent}; at most 100"))
            }
            Rule::RecycledShare {
                min_post_consumer_percent,
                ..
            } if min_post_consumer_percent.values().any(|p| *p > 100) => {
                bad("`min_post_consumer_percent` values are at most 100".into())
            }
            Rule::CoveredCountries { stages, .. } if stages.is_empty() => {
                bad("`stages` lists at least one stage".into())
            }
            Rule::ContentValue {
                threshold_per_mille,
                elements,
                prices,
                ..
            } if *threshold_per_mille == 0 || elements.is_empty() || prices.is_empty() => bad(
                "`threshold_per_mille` is at least 1, `elements` and `prices` are not empty".into(),
            ),
            _ => Ok(()),
        }
    }
}

/// The names of the built-in policies.
pub const BUILTIN_NAMES: &[&str] = &[
    "dfars-2027",
    "dfars-2026",
    "friend-shore",
    "crma-recycled",
    "cn-mofcom-61",
];

/// The built-ins a report applies when none is named: the dated `cn-mofcom-61` is asked for by
/// name, with its evaluation date.
pub const DEFAULT_NAMES: &[&str] = &["dfars-2027", "dfars-2026", "friend-shore", "crma-recycled"];

const DFARS_2027: &str = include_str!("builtin/dfars-2027.json");
const DFARS_2026: &str = include_str!("builtin/dfars-2026.json");
const FRIEND_SHORE: &str = include_str!("builtin/friend-shore.json");
const CRMA_RECYCLED: &str = include_str!("builtin/crma-recycled.json");
const CN_MOFCOM_61: &str = include_str!("builtin/cn-mofcom-61.json");

/// A built-in policy by name.
pub fn builtin(name: &str) -> Result<Policy, PolicyError> {
    let text = match name {
        "dfars-2027" => DFARS_2027,
        "dfars-2026" => DFARS_2026,
        "friend-shore" => FRIEND_SHORE,
        "crma-recycled" => CRMA_RECYCLED,
        "cn-mofcom-61" => CN_MOFCOM_61,
        _ => {
            return Err(PolicyError::Unknown {
                name: name.chars().take(64).collect(),
            })
        }
    };
    Policy::from_json(text.as_bytes())
}

/// The default built-in policies ([`DEFAULT_NAMES`]).
pub fn builtins() -> Vec<Policy> {
    DEFAULT_NAMES
        .iter()
        .filter_map(|n| builtin(n).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_parse_and_cite_their_source() {
        assert_eq!(builtins().len(), DEFAULT_NAMES.len());
        for name in BUILTIN_NAMES {
            assert_eq!(builtin(name).unwrap().name, *name);
        }
        for p in builtins() {
            assert!(BUILTIN_NAMES.contains(&p.name.as_str()));
            assert!(!p.source.is_empty());
        }
        assert!(builtin("dfars-2027")
            .unwrap()
            .source
            .contains("252.225-7052"));
        assert!(matches!(builtin("nope"), Err(PolicyError::Unknown { .. })));
    }

    #[test]
    fn policy_files_are_strict() {
        let ok = br#"{"name":"fs-60","title":"t","source":"s","rule":{"kind":"country_share","countries":["US","AU"],"min_percent":60}}"#;
        assert!(Policy::from_json(ok).is_ok());
        for bad in [
            r#"{"name":"x","title":"t","source":"s","rule":{"kind":"country_share","countries":["US"],"min_percent":101}}"#,
            r#"{"name":"x","title":"t","source":"s","extra":1,"rule":{"kind":"country_share","countries":["US"],"min_percent":1}}"#,
            r#"{"name":"x","title":"t","source":"s","rule":{"kind":"country_share","countries":["usa"],"min_percent":1}}"#,
            r#"{"name":"x","title":"t","source":"s","rule":{"kind":"covered_countries","countries":["CN"],"stages":[]}}"#,
        ] {
            assert!(Policy::from_json(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
