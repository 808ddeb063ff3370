//! Export-control event kinds (issue 17, docs/EVENTS.md "Export controls"): a licensing authority
//! publishes a jurisdiction's control rules and their suspensions, issues and revokes export
//! licences, and sets production quotas. Their strict parse lives here, beside the
//! [`super::wire`] parse of the original kinds, with the same rules (unknown fields, `null` and
//! repeated set members are refused).

use std::collections::BTreeSet;

use serde::Serialize;

use crate::model::ids::{ActorId, CountryCode, EventId, Grams, Timestamp};
use crate::model::material::{Element, Form, QuotaStage};

use super::wire::{EventError, Fields};
use super::EventBody;

/// `publish_controls`: a control rule of one jurisdiction, in force from a date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublishControls {
    /// The rule's id, unique within the jurisdiction (`mofcom-2025-18`).
    pub rule: EventId,
    /// The country whose exports it controls: the country of the exporter's site.
    pub jurisdiction: CountryCode,
    /// The legal source (announcement, article), 1 to 280 characters.
    pub source: String,
    /// Controlled elements, in any of `forms` (non-empty).
    pub elements: BTreeSet<Element>,
    /// The forms in which `elements` are controlled (empty: none; magnets go through
    /// `magnet_elements`).
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub forms: BTreeSet<Form>,
    /// Magnets containing any of these elements are controlled.
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub magnet_elements: BTreeSet<Element>,
    /// Set for an extraterritorial rule (items made abroad whose content from the jurisdiction
    /// is worth this many thousandths of their value or more): the compliance policy
    /// `cn-mofcom-61` evaluates it; the ledger does not enforce it on `ship`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_threshold_per_mille: Option<u32>,
    /// In force from.
    pub effective_from: Timestamp,
    /// In force until (exclusive; absent: open-ended).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective_until: Option<Timestamp>,
}

/// `suspend_controls`: a published rule does not apply between two dates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SuspendControls {
    /// The jurisdiction of the rule.
    pub jurisdiction: CountryCode,
    /// The rule suspended.
    pub rule: EventId,
    /// Suspended from.
    pub from: Timestamp,
    /// Suspended until (exclusive; absent: until further notice).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,
    /// The legal source of the suspension.
    pub source: String,
}

/// `issue_licence`: an export licence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IssueLicence {
    /// The licence id, unique in the ledger.
    pub licence: EventId,
    /// Who may export under it.
    pub exporter: ActorId,
    /// To whom.
    pub consignee: ActorId,
    /// The consignee's country.
    pub destination: CountryCode,
    /// The controlled elements it covers (non-empty).
    pub elements: BTreeSet<Element>,
    /// The forms it covers (empty: any form).
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub forms: BTreeSet<Form>,
    /// The total mass it allows, over all shipments.
    pub quantity_g: Grams,
    /// Valid from.
    pub valid_from: Timestamp,
    /// Valid until (exclusive).
    pub valid_until: Timestamp,
    /// The declared end use, 1 to 280 characters.
    pub end_use: String,
}

/// `revoke_licence`: the issuer withdraws a licence from the next entry on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RevokeLicence {
    /// The licence.
    pub licence: EventId,
    /// Why (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `set_quota`: an actor's production quota for one stage and calendar year (replaces an
/// earlier one for the same stage and year; what was used stays used).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetQuota {
    /// The producer.
    pub subject: ActorId,
    /// The stage.
    pub stage: QuotaStage,
    /// The calendar year (UTC) of `occurred_at` of the events it counts.
    pub year: u16,
    /// The quota (REO-equivalent grams for mining).
    pub quota_g: Grams,
    /// The legal source (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// Parses the body of one of this module's kinds; `None` for any other kind.
pub(super) fn parse(kind: &str, f: Fields) -> Option<Result<EventBody, EventError>> {
    let result = match kind {
        "publish_controls" => publish(f),
        "suspend_controls" => suspend(f),
        "issue_licence" => issue(f),
        "revoke_licence" => revoke(f),
        "set_quota" => quota(f),
        _ => return None,
    };
    Some(result)
}

/// A kind's field list: the common fields, then its own.
macro_rules! expected {
    ($($name:literal),*) => {{
        const LIST: &[&str] = &["kind", "id", "actor", "log", "occurred_at", $($name),*];
        LIST
    }};
}

fn publish(mut f: Fields) -> Result<EventBody, EventError> {
    let b = PublishControls {
        rule: f.required("rule")?,
        jurisdiction: f.required("jurisdiction")?,
        source: f.required("source")?,
        elements: f.set("elements", true)?.unwrap_or_default(),
        forms: f.set("forms", false)?.unwrap_or_default(),
        magnet_elements: f.set("magnet_elements", false)?.unwrap_or_default(),
        value_threshold_per_mille: f.optional("value_threshold_per_mille")?,
        effective_from: f.required("effective_from")?,
        effective_until: f.optional("effective_until")?,
    };
    f.finish(expected!(
        "rule",
        "jurisdiction",
        "source",
        "elements",
        "forms",
        "magnet_elements",
        "value_threshold_per_mille",
        "effective_from",
        "effective_until"
    ))?;
    if b.elements.is_empty() {
        return Err(invalid("elements", "list at least one element"));
    }
    if let Some(until) = &b.effective_until {
        if until <= &b.effective_from {
            return Err(invalid("effective_until", "must be after effective_from"));
        }
    }
    if b.value_threshold_per_mille == Some(0) {
        return Err(invalid(
            "value_threshold_per_mille",
            "must be at least 1 (leave it out for a rule on direct exports)",
        ));
    }
    Ok(EventBody::PublishControls(b))
}

fn suspend(mut f: Fields) -> Result<EventBody, EventError> {
    let b = SuspendControls {
        jurisdiction: f.required("jurisdiction")?,
        rule: f.required("rule")?,
        from: f.required("from")?,
        until: f.optional("until")?,
        source: f.required("source")?,
    };
    f.finish(expected!("jurisdiction", "rule", "from", "until", "source"))?;
    if let Some(until) = &b.until {
        if until <= &b.from {
            return Err(invalid("until", "must be after from"));
        }
    }
    Ok(EventBody::SuspendControls(b))
}

fn issue(mut f: Fields) -> Result<EventBody, EventError> {
    let b = IssueLicence {
        licence: f.required("licence")?,
        exporter: f.required("exporter")?,
        consignee: f.required("consignee")?,
        destination: f.required("destination")?,
        elements: f.set("elements", true)?.unwrap_or_default(),
        forms: f.set("forms", false)?.unwrap_or_default(),
        quantity_g: f.required("quantity_g")?,
        valid_from: f.required("valid_from")?,
        valid_until: f.required("valid_until")?,
        end_use: f.required("end_use")?,
    };
    f.finish(expected!(
        "licence",
        "exporter",
        "consignee",
        "destination",
        "elements",
        "forms",
        "quantity_g",
        "valid_from",
        "valid_until",
        "end_use"
    ))?;
    if b.elements.is_empty() {
        return Err(invalid("elements", "list at least one element"));
    }
    if b.valid_until <= b.valid_from {
        return Err(invalid("valid_until", "must be after valid_from"));
    }
    if b.quantity_g.is_zero() {
        return Err(invalid("quantity_g", "must be more than 0 g"));
    }
    Ok(EventBody::IssueLicence(b))
}

fn revoke(mut f: Fields) -> Result<EventBody, EventError> {
    let b = RevokeLicence {
        licence: f.required("licence")?,
        reason: f.optional("reason")?,
    };
    f.finish(expected!("licence", "reason"))?;
    Ok(EventBody::RevokeLicence(b))
}

fn quota(mut f: Fields) -> Result<EventBody, EventError> {
    let b = SetQuota {
        subject: f.required("subject")?,
        stage: f.required("stage")?,
        year: f.required("year")?,
        quota_g: f.required("quota_g")?,
        source: f.optional("source")?,
    };
    f.finish(expected!("subject", "stage", "year", "quota_g", "source"))?;
    if !(1970..=9999).contains(&b.year) {
        return Err(invalid("year", "must be 1970 to 9999"));
    }
    Ok(EventBody::SetQuota(b))
}

fn invalid(path: &str, message: &str) -> EventError {
    EventError::InvalidField {
        path: path.to_owned(),
        message: message.to_owned(),
    }
}
