//! The export-control state records (issue 17): a jurisdiction's published control rules with
//! their suspensions, export licences with what is left of them, and production quotas with
//! what was used — and the errors of the rules that read them.
//!
//! Records are bincode-serde like the others ([`super::state`]): plain structs, `Option`, `Vec`
//! and sets; enums by their pinned numbers. They are new records under new store key prefixes
//! (`J`, `L`, `Q`; src/store/records.rs), so no existing record changes its bytes.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::model::ids::{ActorId, BatchId, CountryCode, EventId, Grams, Timestamp};
use crate::model::material::{Element, Form, QuotaStage};

/// A period during which a published rule does not apply.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Suspension {
    /// From (inclusive).
    pub from: Timestamp,
    /// Until (exclusive); `None`: until further notice.
    pub until: Option<Timestamp>,
    /// The legal source of the suspension.
    pub source: String,
    /// The `suspend_controls` entry.
    pub entry: u64,
}

/// One published control rule, as its `publish_controls` event stated it, with the suspensions
/// published since.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ControlRule {
    /// Its id, unique within the jurisdiction.
    pub rule: EventId,
    /// The licensing authority that published it.
    pub issuer: ActorId,
    /// The legal source.
    pub source: String,
    /// Controlled elements.
    pub elements: BTreeSet<Element>,
    /// The forms in which they are controlled.
    pub forms: BTreeSet<Form>,
    /// Magnets containing any of these are controlled.
    pub magnet_elements: BTreeSet<Element>,
    /// Set for an extraterritorial value rule (not enforced on `ship`).
    pub value_threshold_per_mille: Option<u32>,
    /// In force from (inclusive).
    pub effective_from: Timestamp,
    /// In force until (exclusive).
    pub effective_until: Option<Timestamp>,
    /// The `publish_controls` entry.
    pub published_in: u64,
    /// Suspensions, in entry order.
    pub suspensions: Vec<Suspension>,
}

/// Where a rule stands on a date.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleStatus<'a> {
    /// Not yet or no longer in force.
    NotInForce,
    /// In force, but suspended by this suspension.
    Suspended(&'a Suspension),
    /// In force.
    InForce,
}

impl ControlRule {
    /// Where the rule stands at `at`.
    pub fn status_at(&self, at: &Timestamp) -> RuleStatus<'_> {
        let t = at.unix_nanos();
        let before = |end: &Option<Timestamp>| end.as_ref().is_none_or(|e| t < e.unix_nanos());
        if t < self.effective_from.unix_nanos() || !before(&self.effective_until) {
            return RuleStatus::NotInForce;
        }
        match self
            .suspensions
            .iter()
            .find(|s| s.from.unix_nanos() <= t && before(&s.until))
        {
            Some(s) => RuleStatus::Suspended(s),
            None => RuleStatus::InForce,
        }
    }

    /// The controlled elements of a batch of `form` containing `elements` under this rule
    /// (empty: the batch is not controlled by it).
    pub fn controlled(&self, form: Form, elements: &BTreeSet<Element>) -> BTreeSet<Element> {
        let mut hit: BTreeSet<Element> = BTreeSet::new();
        if self.forms.contains(&form) {
            hit.extend(elements.intersection(&self.elements));
        }
        if form == Form::Magnet {
            hit.extend(elements.intersection(&self.magnet_elements));
        }
        hit
    }
}

/// Every control rule published for one jurisdiction, in entry order: the versioned rule book
/// a replay reads (a decision is checked against the rules in force on its own date).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ControlsRecord {
    /// The jurisdiction.
    pub jurisdiction: CountryCode,
    /// Its rules.
    pub rules: Vec<ControlRule>,
}

/// One shipment made under a licence.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct LicenceUse {
    /// The `ship` entry.
    pub entry: u64,
    /// The batch shipped.
    pub batch: BatchId,
    /// The mass it consumed from the licence.
    pub mass_g: Grams,
}

/// An export licence and what is left of it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct LicenceRecord {
    /// Its id.
    pub licence: EventId,
    /// The licensing authority that issued it (the only one that may revoke it).
    pub issuer: ActorId,
    /// Who may export under it.
    pub exporter: ActorId,
    /// To whom.
    pub consignee: ActorId,
    /// The consignee's country.
    pub destination: CountryCode,
    /// Elements it covers.
    pub elements: BTreeSet<Element>,
    /// Forms it covers (empty: any).
    pub forms: BTreeSet<Form>,
    /// The mass it allowed when issued.
    pub quantity_g: Grams,
    /// The mass left.
    pub remaining_g: Grams,
    /// Valid from (inclusive).
    pub valid_from: Timestamp,
    /// Valid until (exclusive).
    pub valid_until: Timestamp,
    /// The declared end use.
    pub end_use: String,
    /// The `issue_licence` entry.
    pub issued_in: u64,
    /// The `revoke_licence` entry, once revoked.
    pub revoked_in: Option<u64>,
    /// Shipments made under it, in entry order.
    pub uses: Vec<LicenceUse>,
}

/// One quota: a stage and a year.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct QuotaRecord {
    /// The stage.
    pub stage: QuotaStage,
    /// The calendar year.
    pub year: u16,
    /// The quota in force (the latest `set_quota`).
    pub quota_g: Grams,
    /// What was used so far.
    pub used_g: Grams,
    /// The legal source of the latest `set_quota`.
    pub source: Option<String>,
    /// The `set_quota` entries, in order.
    pub set_in: Vec<u64>,
    /// The entries that used it, in order.
    pub used_in: Vec<u64>,
}

/// An actor's quotas, by stage then year.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct QuotaBook {
    /// The actor.
    pub actor: ActorId,
    /// Its quotas, ordered by stage then year.
    pub quotas: Vec<QuotaRecord>,
}

impl QuotaBook {
    /// The quota for `stage` in `year`, if one was set.
    pub fn get(&self, stage: QuotaStage, year: u16) -> Option<&QuotaRecord> {
        self.quotas
            .iter()
            .find(|q| q.stage == stage && q.year == year)
    }
}

/// Why an export-control rule refused an event. Each variant has its own stable problem code
/// ([`ControlsError::code`]); docs/API.md lists them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlsError {
    /// A licensing authority acts only for its own registered country.
    #[error("{actor} is a licensing authority of {country}, not of {jurisdiction}")]
    ForeignJurisdiction {
        /// The authority.
        actor: ActorId,
        /// Its country.
        country: CountryCode,
        /// The jurisdiction the event is about.
        jurisdiction: CountryCode,
    },
    /// `publish_controls` with a rule id the jurisdiction already has.
    #[error("rule {rule} of {jurisdiction} is already published (entry {index}); publish a new version under a new id")]
    RuleExists {
        /// The jurisdiction.
        jurisdiction: CountryCode,
        /// The rule.
        rule: EventId,
        /// Where it was published.
        index: u64,
    },
    /// `suspend_controls` of a rule that was never published.
    #[error("{jurisdiction} has no published rule {rule}")]
    UnknownRule {
        /// The jurisdiction.
        jurisdiction: CountryCode,
        /// The rule.
        rule: EventId,
    },
    /// `issue_licence` with an id already used.
    #[error("licence {licence} already exists (entry {index})")]
    LicenceExists {
        /// The licence.
        licence: EventId,
        /// Where it was issued.
        index: u64,
    },
    /// A licence that was never issued.
    #[error("no licence {licence} was issued")]
    UnknownLicence {
        /// The licence.
        licence: EventId,
    },
    /// `revoke_licence` by someone other than the issuer.
    #[error("licence {licence} was issued by {issuer}; only it may revoke it, not {actor}")]
    NotIssuer {
        /// The licence.
        licence: EventId,
        /// Its issuer.
        issuer: ActorId,
        /// Who tried.
        actor: ActorId,
    },
    /// A shipment takes a controlled item out of a jurisdiction without citing a licence.
    #[error("shipping {batch} from {from} to {to} ({addressee}) needs an export licence: it contains {} controlled under {rule} ({legal_source})", join(elements))]
    LicenceRequired {
        /// The batch.
        batch: BatchId,
        /// The jurisdiction it leaves.
        from: CountryCode,
        /// The addressee's country.
        to: CountryCode,
        /// The addressee.
        addressee: ActorId,
        /// The rule that controls it.
        rule: EventId,
        /// The rule's legal source.
        legal_source: String,
        /// Its controlled elements.
        elements: Vec<Element>,
    },
    /// The licence is not valid on the shipment's date.
    #[error(
        "licence {licence} is valid from {valid_from} until {valid_until}, not on {occurred_at}"
    )]
    LicenceExpired {
        /// The licence.
        licence: EventId,
        /// Valid from.
        valid_from: Timestamp,
        /// Valid until.
        valid_until: Timestamp,
        /// The shipment's date.
        occurred_at: Timestamp,
    },
    /// The licence has less left than the shipment weighs.
    #[error("licence {licence} has {remaining_g} left of {quantity_g}; the shipment weighs {requested_g}")]
    LicenceExhausted {
        /// The licence.
        licence: EventId,
        /// What it allowed.
        quantity_g: Grams,
        /// What is left.
        remaining_g: Grams,
        /// The shipment's mass.
        requested_g: Grams,
    },
    /// The licence does not cover this shipment.
    #[error("licence {licence} does not cover this shipment: {field} is {licensed}, the shipment's is {actual}")]
    LicenceMismatch {
        /// The licence.
        licence: EventId,
        /// What differs: `exporter`, `consignee`, `destination`, `elements` or `form`.
        field: &'static str,
        /// What the licence says.
        licensed: String,
        /// What the shipment has.
        actual: String,
    },
    /// The licence was revoked.
    #[error("licence {licence} was revoked in entry {revoked_in}")]
    LicenceRevoked {
        /// The licence.
        licence: EventId,
        /// The `revoke_licence` entry.
        revoked_in: u64,
    },
    /// A production event would take the actor over its quota.
    #[error("{actor}'s {stage} quota for {year} is {quota_g}; {used_g} used, and this event adds {requested_g}")]
    QuotaExceeded {
        /// The producer.
        actor: ActorId,
        /// The stage.
        stage: QuotaStage,
        /// The year.
        year: u16,
        /// The quota.
        quota_g: Grams,
        /// Used so far.
        used_g: Grams,
        /// What the event adds.
        requested_g: Grams,
    },
}

fn join(elements: &[Element]) -> String {
    elements
        .iter()
        .map(|e| e.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl ControlsError {
    /// The stable problem code.
    pub fn code(&self) -> &'static str {
        match self {
            ControlsError::ForeignJurisdiction { .. } => "foreign_jurisdiction",
            ControlsError::RuleExists { .. } => "rule_exists",
            ControlsError::UnknownRule { .. } => "unknown_rule",
            ControlsError::LicenceExists { .. } => "licence_exists",
            ControlsError::UnknownLicence { .. } => "unknown_licence",
            ControlsError::NotIssuer { .. } => "not_issuer",
            ControlsError::LicenceRequired { .. } => "export_licence_required",
            ControlsError::LicenceExpired { .. } => "licence_expired",
            ControlsError::LicenceExhausted { .. } => "licence_exhausted",
            ControlsError::LicenceMismatch { .. } => "licence_mismatch",
            ControlsError::LicenceRevoked { .. } => "licence_revoked",
            ControlsError::QuotaExceeded { .. } => "quota_exceeded",
        }
    }

    /// Every code [`ControlsError::code`] can return.
    pub const CODES: &'static [&'static str] = &[
        "foreign_jurisdiction",
        "rule_exists",
        "unknown_rule",
        "licence_exists",
        "unknown_licence",
        "not_issuer",
        "export_licence_required",
        "licence_expired",
        "licence_exhausted",
        "licence_mismatch",
        "licence_revoked",
        "quota_exceeded",
    ];
}
