//! Export-control rules (issue 17, docs/COMPLIANCE.md "Export controls"): a licensing authority
//! publishes control rules and suspensions, issues and revokes licences and sets quotas, each for
//! its own registered country; a `ship` that takes a controlled item out of a jurisdiction must
//! cite a licence that covers it, and production events must stay within quotas.
//!
//! Every check reads the rules in force on the event's own `occurred_at`, from the rule book the
//! log built up to the entry before: a replay decides every past shipment exactly as it was
//! decided.

use std::collections::BTreeSet;

use crate::model::event::{
    Event, IssueLicence, PublishControls, RevokeLicence, SetQuota, Ship, SuspendControls,
};
use crate::model::ids::{ActorId, CountryCode, Grams};
use crate::model::material::{Element, QuotaStage, Role};

use super::controls_state::{
    ControlRule, ControlsError, ControlsRecord, LicenceRecord, LicenceUse, QuotaBook, QuotaRecord,
    RuleStatus, Suspension,
};
use super::custody::require_role;
use super::overlay::Overlay;
use super::state::{ActorRecord, BatchRecord, StateView};
use super::{EntryContext, LedgerError};

const LICENSING: &[Role] = &[Role::LicensingAuthority];

/// The authority acts for its own country only.
fn require_jurisdiction(
    actor: &ActorRecord,
    jurisdiction: &CountryCode,
) -> Result<(), LedgerError> {
    if &actor.country == jurisdiction {
        return Ok(());
    }
    Err(ControlsError::ForeignJurisdiction {
        actor: actor.id.clone(),
        country: actor.country.clone(),
        jurisdiction: jurisdiction.clone(),
    }
    .into())
}

fn registered<S: StateView + ?Sized>(
    state: &Overlay<'_, S>,
    id: &ActorId,
) -> Result<ActorRecord, LedgerError> {
    state
        .actor(id)?
        .ok_or_else(|| LedgerError::UnknownActor { actor: id.clone() })
}

pub(super) fn publish<S: StateView + ?Sized>(
    state: &mut Overlay<'_, S>,
    ctx: &EntryContext,
    actor: &ActorRecord,
    body: &PublishControls,
) -> Result<(), LedgerError> {
    require_role(actor, "publish_controls", LICENSING)?;
    require_jurisdiction(actor, &body.jurisdiction)?;
    let mut record = state
        .controls(&body.jurisdiction)?
        .unwrap_or(ControlsRecord {
            jurisdiction: body.jurisdiction.clone(),
            rules: Vec::new(),
        });
    if let Some(old) = record.rules.iter().find(|r| r.rule == body.rule) {
        return Err(ControlsError::RuleExists {
            jurisdiction: body.jurisdiction.clone(),
            rule: body.rule.clone(),
            index: old.published_in,
        }
        .into());
    }
    record.rules.push(ControlRule {
        rule: body.rule.clone(),
        issuer: actor.id.clone(),
        source: body.source.clone(),
        elements: body.elements.clone(),
        forms: body.forms.clone(),
        magnet_elements: body.magnet_elements.clone(),
        value_threshold_per_mille: body.value_threshold_per_mille,
        effective_from: body.effective_from.clone(),
        effective_until: body.effective_until.clone(),
        published_in: ctx.index,
        suspensions: Vec::new(),
    });
    state.put_controls(record);
    Ok(())
}

pub(super) fn suspend<S: StateView + ?Sized>(
    state: &mut Overlay<'_, S>,
    ctx: &EntryContext,
    actor: &ActorRecord,
    body: &SuspendControls,
) -> Result<(), LedgerError> {
    require_role(actor, "suspend_controls", LICENSING)?;
    require_jurisdiction(actor, &body.jurisdiction)?;
    let unknown = || ControlsError::UnknownRule {
        jurisdiction: body.jurisdiction.clone(),
        rule: body.rule.clone(),
    };
    let mut record = state.controls(&body.jurisdiction)?.ok_or_else(unknown)?;
    let rule = record
        .rules
        .iter_mut()
        .find(|r| r.rule == body.rule)
        .ok_or_else(unknown)?;
    rule.suspensions.push(Suspension {
        from: body.from.clone(),
        until: body.until.clone(),
        source: body.source.clone(),
        entry: ctx.index,
    });
    state.put_controls(record);
    Ok(())
}

pub(super) fn issue<S: StateView + ?Sized>(
    state: &mut Overlay<'_, S>,
    ctx: &EntryContext,
    actor: &ActorRecord,
    body: &IssueLicence,
) -> Result<(), LedgerError> {
    require_role(actor, "issue_licence", LICENSING)?;
    let exporter = registered(state, &body.exporter)?;
    registered(state, &body.consignee)?;
    require_jurisdiction(actor, &exporter.country)?;
    if let Some(old) = state.licence(&body.licence)? {
        return Err(ControlsError::LicenceExists {
            licence: body.licence.clone(),
            index: old.issued_in,
        }
        .into());
    }
    state.put_licence(LicenceRecord {
        licence: body.licence.clone(),
        issuer: actor.id.clone(),
        exporter: body.exporter.clone(),
        consignee: body.consignee.clone(),
        destination: body.destination.clone(),
        elements: body.elements.clone(),
        forms: body.forms.clone(),
        quantity_g: body.quantity_g,
        remaining_g: body.quantity_g,
        valid_from: body.valid_from.clone(),
        valid_until: body.valid_until.clone(),
        end_use: body.end_use.clone(),
        issued_in: ctx.index,
        revoked_in: None,
        uses: Vec::new(),
    });
    Ok(())
}

pub(super) fn revoke<S: StateView + ?Sized>(
    state: &mut Overlay<'_, S>,
    ctx: &EntryContext,
    actor: &ActorRecord,
    body: &RevokeLicence,
) -> Result<(), LedgerError> {
    require_role(actor, "revoke_licence", LICENSING)?;
    let mut licence =
        state
            .licence(&body.licence)?
            .ok_or_else(|| ControlsError::UnknownLicence {
                licence: body.licence.clone(),
            })?;
    if licence.issuer != actor.id {
        return Err(ControlsError::NotIssuer {
            licence: licence.licence,
            issuer: licence.issuer,
            actor: actor.id.clone(),
        }
        .into());
    }
    if let Some(revoked_in) = licence.revoked_in {
        return Err(ControlsError::LicenceRevoked {
            licence: licence.licence,
            revoked_in,
        }
        .into());
    }
    licence.revoked_in = Some(ctx.index);
    state.put_licence(licence);
    Ok(())
}

pub(super) fn set_quota<S: StateView + ?Sized>(
    state: &mut Overlay<'_, S>,
    ctx: &EntryContext,
    actor: &ActorRecord,
    body: &SetQuota,
) -> Result<(), LedgerError> {
    require_role(actor, "set_quota", LICENSING)?;
    let subject = registered(state, &body.subject)?;
    require_jurisdiction(actor, &subject.country)?;
    let mut book = state.quotas(&body.subject)?.unwrap_or(QuotaBook {
        actor: body.subject.clone(),
        quotas: Vec::new(),
    });
    match book
        .quotas
        .iter_mut()
        .find(|q| q.stage == body.stage && q.year == body.year)
    {
        Some(q) => {
            q.quota_g = body.quota_g;
            q.source = body.source.clone();
            q.set_in.push(ctx.index);
        }
        None => {
            book.quotas.push(QuotaRecord {
                stage: body.stage,
                year: body.year,
                quota_g: body.quota_g,
                used_g: Grams::ZERO,
                source: body.source.clone(),
                set_in: vec![ctx.index],
                used_in: Vec::new(),
            });
            book.quotas.sort_by_key(|q| (q.stage, q.year));
        }
    }
    state.put_quotas(book);
    Ok(())
}

/// The calendar year (UTC) of an event: the text is RFC 3339 UTC, so its first four digits.
fn year_of(event: &Event) -> u16 {
    event.occurred_at.as_str()[..4].parse().unwrap_or(0)
}

/// Counts `grams` against the actor's `stage` quota for the event's year, if one is set:
/// refused if it would go over.
pub(super) fn use_quota<S: StateView + ?Sized>(
    state: &mut Overlay<'_, S>,
    ctx: &EntryContext,
    event: &Event,
    stage: QuotaStage,
    grams: Grams,
) -> Result<(), LedgerError> {
    let Some(mut book) = state.quotas(&event.actor)? else {
        return Ok(());
    };
    let year = year_of(event);
    let Some(quota) = book
        .quotas
        .iter_mut()
        .find(|q| q.stage == stage && q.year == year)
    else {
        return Ok(());
    };
    let exceeded = || ControlsError::QuotaExceeded {
        actor: event.actor.clone(),
        stage,
        year,
        quota_g: quota.quota_g,
        used_g: quota.used_g,
        requested_g: grams,
    };
    let used = quota.used_g.checked_add(grams).ok_or_else(exceeded)?;
    if used > quota.quota_g {
        return Err(exceeded().into());
    }
    quota.used_g = used;
    quota.used_in.push(ctx.index);
    state.put_quotas(book);
    Ok(())
}

/// Element to oxide mass ratios, in parts per 10,000, for REO-equivalent grams (La₂O₃, CeO₂,
/// Pr₆O₁₁, Nd₂O₃, Pm₂O₃, Sm₂O₃, Eu₂O₃, Gd₂O₃, Tb₄O₇, Dy₂O₃, Ho₂O₃, Er₂O₃, Tm₂O₃, Yb₂O₃, Lu₂O₃,
/// Sc₂O₃, Y₂O₃), in the order of [`Element::ALL`].
const OXIDE_FACTOR: [u64; 17] = [
    11728, 12284, 12082, 11664, 11655, 11596, 11579, 11526, 11762, 11477, 11455, 11435, 11421,
    11387, 11372, 15338, 12699,
];

/// REO-equivalent grams of an extract: each declared element's grams times its oxide factor,
/// rounded up; without a declared composition, the whole mass (an upper bound: a miner that
/// declares no composition uses its quota by mass).
pub(super) fn reo_equivalent(
    composition: Option<&crate::model::Composition>,
    mass: Grams,
) -> Grams {
    match composition {
        None => mass,
        Some(c) => {
            let total: u128 = c
                .iter()
                .map(|(e, g)| {
                    let factor = OXIDE_FACTOR[usize::from(e.number())];
                    (u128::from(g) * u128::from(factor)).div_ceil(10_000)
                })
                .sum();
            Grams(u64::try_from(total).unwrap_or(u64::MAX))
        }
    }
}

/// The export check of a `ship` (docs/COMPLIANCE.md, "Export controls"): when the batch leaves
/// the shipper's jurisdiction for another country and a rule in force there controls it, the
/// shipment must cite a licence that covers it; a cited licence is checked and consumed
/// whether or not a rule requires it.
pub(super) fn check_export<S: StateView + ?Sized>(
    state: &mut Overlay<'_, S>,
    ctx: &EntryContext,
    event: &Event,
    actor: &ActorRecord,
    to: &ActorRecord,
    batch: &BatchRecord,
    body: &Ship,
) -> Result<(), LedgerError> {
    let from = shipping_country(state, actor, batch)?;
    let elements: BTreeSet<Element> = match &batch.composition {
        Some(c) => batch.elements.iter().copied().chain(c.elements()).collect(),
        None => batch.elements.clone(),
    };
    let mut required: Option<(&ControlRule, BTreeSet<Element>)> = None;
    let controls = if from != to.country {
        state.controls(&from)?
    } else {
        None
    };
    if let Some(controls) = &controls {
        for rule in &controls.rules {
            if rule.value_threshold_per_mille.is_some()
                || rule.status_at(&event.occurred_at) != RuleStatus::InForce
            {
                continue;
            }
            let hit = rule.controlled(batch.form, &elements);
            if !hit.is_empty() {
                match &mut required {
                    Some((_, all)) => all.extend(hit),
                    None => required = Some((rule, hit)),
                }
            }
        }
    }
    let Some(id) = &body.licence else {
        return match required {
            None => Ok(()),
            Some((rule, hit)) => Err(ControlsError::LicenceRequired {
                batch: batch.id.clone(),
                from,
                to: to.country.clone(),
                addressee: to.id.clone(),
                rule: rule.rule.clone(),
                legal_source: rule.source.clone(),
                elements: hit.into_iter().collect(),
            }
            .into()),
        };
    };
    let mut licence = state
        .licence(id)?
        .ok_or_else(|| ControlsError::UnknownLicence {
            licence: id.clone(),
        })?;
    if let Some(revoked_in) = licence.revoked_in {
        return Err(ControlsError::LicenceRevoked {
            licence: id.clone(),
            revoked_in,
        }
        .into());
    }
    let t = event.occurred_at.unix_nanos();
    if t < licence.valid_from.unix_nanos() || t >= licence.valid_until.unix_nanos() {
        return Err(ControlsError::LicenceExpired {
            licence: id.clone(),
            valid_from: licence.valid_from.clone(),
            valid_until: licence.valid_until.clone(),
            occurred_at: event.occurred_at.clone(),
        }
        .into());
    }
    let mismatch = |field: &'static str, licensed: String, actual: String| {
        Err(ControlsError::LicenceMismatch {
            licence: id.clone(),
            field,
            licensed,
            actual,
        }
        .into())
    };
    if licence.exporter != actor.id {
        return mismatch(
            "exporter",
            licence.exporter.to_string(),
            actor.id.to_string(),
        );
    }
    if licence.consignee != to.id {
        return mismatch(
            "consignee",
            licence.consignee.to_string(),
            to.id.to_string(),
        );
    }
    if licence.destination != to.country {
        return mismatch(
            "destination",
            licence.destination.to_string(),
            to.country.to_string(),
        );
    }
    if let Some((_, hit)) = &required {
        if !hit.is_subset(&licence.elements) {
            return mismatch("elements", names(&licence.elements), names(hit));
        }
    }
    if !licence.forms.is_empty() && !licence.forms.contains(&batch.form) {
        return mismatch(
            "form",
            licence
                .forms
                .iter()
                .map(|f| f.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            batch.form.to_string(),
        );
    }
    let mass = batch.remaining_g;
    licence.remaining_g =
        licence
            .remaining_g
            .checked_sub(mass)
            .ok_or_else(|| ControlsError::LicenceExhausted {
                licence: id.clone(),
                quantity_g: licence.quantity_g,
                remaining_g: licence.remaining_g,
                requested_g: mass,
            })?;
    licence.uses.push(LicenceUse {
        entry: ctx.index,
        batch: batch.id.clone(),
        mass_g: mass,
    });
    state.put_licence(licence);
    Ok(())
}

fn names(elements: &BTreeSet<Element>) -> String {
    elements
        .iter()
        .map(|e| e.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where a shipment leaves from: the country of the site where the shipper made the batch (its
/// mine for an extract, the plant a transform named), else the shipper's registered country.
fn shipping_country<S: StateView + ?Sized>(
    state: &Overlay<'_, S>,
    actor: &ActorRecord,
    batch: &BatchRecord,
) -> Result<CountryCode, LedgerError> {
    let site = match &batch.origin {
        super::state::BatchOrigin::Extracted { site } => Some(site),
        super::state::BatchOrigin::Transformed { .. } => batch.made_at.as_ref(),
    };
    if let Some(site) = site {
        if let Some(record) = state.site(site)? {
            if record.owner == actor.id {
                return Ok(record.country);
            }
        }
    }
    Ok(actor.country.clone())
}
