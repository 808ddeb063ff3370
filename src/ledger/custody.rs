//! Batch rules outside transforms: `extract`, `ship`, `receive`, `certify`, `retire`
//! (docs/EVENTS.md), and the checks transforms share: roles, sites, custody, status, time.

use crate::model::event::{Certify, Event, Extract, Receive, Retire, Ship};
use crate::model::ids::{ActorId, BatchId, Grams, SiteId, Timestamp};
use crate::model::material::{
    Role, SiteKind, CERTIFYING_ROLES, EXTRACTED_FORMS, EXTRACTING_ROLES, HOLDING_ROLES,
};

use super::overlay::Overlay;
use super::state::{
    ActorRecord, AssayComposition, BatchOrigin, BatchRecord, BatchStatus, CertificateRecord,
    StateView,
};
use super::{EntryContext, InvalidReason, LedgerError, SiteProblem};

/// The actor needs one of `needed` to do `action` (an event kind or a process name).
pub(super) fn require_role(
    actor: &ActorRecord,
    action: &'static str,
    needed: &'static [Role],
) -> Result<(), LedgerError> {
    if actor.has_any_role(needed) {
        Ok(())
    } else {
        Err(LedgerError::RoleNotAllowed {
            actor: actor.id.clone(),
            action,
            roles: actor.roles.iter().copied().collect(),
            needed,
        })
    }
}

/// The site exists, belongs to the actor and, if `kind` is given, is of that kind.
pub(super) fn require_own_site<S: StateView + ?Sized>(
    state: &Overlay<'_, S>,
    actor: &ActorId,
    site: &SiteId,
    kind: Option<SiteKind>,
) -> Result<(), LedgerError> {
    let foreign = |problem| LedgerError::ForeignSite {
        actor: actor.clone(),
        site: site.clone(),
        problem,
    };
    let record = state
        .site(site)?
        .ok_or_else(|| foreign(SiteProblem::Unknown))?;
    if &record.owner != actor {
        return Err(foreign(SiteProblem::OwnedBy(record.owner)));
    }
    match kind {
        Some(kind) if record.kind != kind => Err(foreign(SiteProblem::NotAMine(record.kind))),
        _ => Ok(()),
    }
}

pub(super) fn load_batch<S: StateView + ?Sized>(
    state: &Overlay<'_, S>,
    id: &BatchId,
) -> Result<BatchRecord, LedgerError> {
    state
        .batch(id)?
        .ok_or_else(|| LedgerError::UnknownBatch { batch: id.clone() })
}

pub(super) fn require_new_batch<S: StateView + ?Sized>(
    state: &Overlay<'_, S>,
    id: &BatchId,
) -> Result<(), LedgerError> {
    match state.batch(id)? {
        Some(_) => Err(LedgerError::BatchExists { batch: id.clone() }),
        None => Ok(()),
    }
}

/// The actor holds the batch and may use it now: it is active (not in transit, retired or used
/// up). `requested` is the mass asked of it, for the double-spend message.
pub(super) fn require_usable(
    batch: &BatchRecord,
    actor: &ActorId,
    requested_g: u128,
) -> Result<(), LedgerError> {
    // The addressee of a shipment is not the custodian yet; "in transit" tells it what to do.
    if let BatchStatus::InTransit { to, .. } = &batch.status {
        if to == actor || &batch.custodian == actor {
            return Err(LedgerError::InTransit {
                batch: batch.id.clone(),
                to: to.clone(),
            });
        }
    }
    if &batch.custodian != actor {
        return Err(LedgerError::NotCustodian {
            batch: batch.id.clone(),
            custodian: batch.custodian.clone(),
            actor: actor.clone(),
        });
    }
    match &batch.status {
        BatchStatus::Active => Ok(()),
        BatchStatus::InTransit { to, .. } => Err(LedgerError::InTransit {
            batch: batch.id.clone(),
            to: to.clone(),
        }),
        BatchStatus::Retired { reason } => Err(LedgerError::Retired {
            batch: batch.id.clone(),
            reason: *reason,
        }),
        BatchStatus::Consumed => Err(LedgerError::DoubleSpend {
            batch: batch.id.clone(),
            remaining_g: batch.remaining_g,
            requested_g,
        }),
    }
}

/// The actor may create `batch`: its id starts with one of the actor's prefixes.
pub(super) fn require_own_prefix(actor: &ActorRecord, batch: &BatchId) -> Result<(), LedgerError> {
    if actor.owns_batch_id(batch) {
        return Ok(());
    }
    Err(LedgerError::ForeignPrefix {
        actor: actor.id.clone(),
        batch: batch.clone(),
        prefixes: actor.prefixes.clone(),
    })
}

/// An event cannot happen before the latest event of a batch it uses: a receive follows its
/// ship, a transform its inputs' last move, a certificate the batch's creation and moves.
pub(super) fn require_not_before(
    batch: &BatchRecord,
    occurred_at: &Timestamp,
) -> Result<(), LedgerError> {
    if occurred_at.unix_nanos() < batch.last_event_at.unix_nanos() {
        return Err(LedgerError::BeforeInputs {
            batch: batch.id.clone(),
            last_event_at: batch.last_event_at.clone(),
            occurred_at: occurred_at.clone(),
        });
    }
    Ok(())
}

/// Records that the entry `index`, dated `occurred_at`, moved or used the batch.
pub(super) fn touch(batch: &mut BatchRecord, index: u64, occurred_at: &Timestamp) {
    if batch.history.last() != Some(&index) {
        batch.history.push(index);
    }
    batch.last_event_at = occurred_at.clone();
}

pub(super) fn extract<S: StateView + ?Sized>(
    state: &mut Overlay<'_, S>,
    ctx: &EntryContext,
    event: &Event,
    actor: &ActorRecord,
    body: &Extract,
) -> Result<(), LedgerError> {
    require_role(actor, "extract", EXTRACTING_ROLES)?;
    require_own_site(state, &actor.id, &body.site, Some(SiteKind::Mine))?;
    require_own_prefix(actor, &body.batch)?;
    require_new_batch(state, &body.batch)?;
    if !EXTRACTED_FORMS.contains(&body.form) {
        return Err(LedgerError::ExtractForm {
            batch: body.batch.clone(),
            form: body.form,
        });
    }
    if body.mass_g.is_zero() {
        return Err(InvalidReason::ZeroMass {
            batch: body.batch.clone(),
        }
        .into());
    }
    super::controls::use_quota(
        state,
        ctx,
        event,
        crate::model::material::QuotaStage::Mining,
        super::controls::reo_equivalent(body.composition.as_ref(), body.mass_g),
    )?;
    state.put_batch(BatchRecord {
        id: body.batch.clone(),
        form: body.form,
        elements: match &body.composition {
            Some(c) if body.elements.is_empty() => c.elements().collect(),
            _ => body.elements.clone(),
        },
        created_g: body.mass_g,
        remaining_g: body.mass_g,
        custodian: actor.id.clone(),
        status: BatchStatus::Active,
        created_at: event.occurred_at.clone(),
        created_in: ctx.index,
        origin: BatchOrigin::Extracted {
            site: body.site.clone(),
        },
        children: Vec::new(),
        history: vec![ctx.index],
        certificates: Vec::new(),
        transit_loss_g: Grams::ZERO,
        last_event_at: event.occurred_at.clone(),
        composition: body.composition.clone(),
        assays: Vec::new(),
        made_at: None,
    });
    Ok(())
}

pub(super) fn ship<S: StateView + ?Sized>(
    state: &mut Overlay<'_, S>,
    ctx: &EntryContext,
    event: &Event,
    actor: &ActorRecord,
    body: &Ship,
) -> Result<(), LedgerError> {
    require_role(actor, "ship", HOLDING_ROLES)?;
    let mut batch = load_batch(state, &body.batch)?;
    require_usable(&batch, &actor.id, u128::from(batch.remaining_g.get()))?;
    if body.to == actor.id {
        return Err(InvalidReason::ShipToSelf.into());
    }
    let to = state
        .actor(&body.to)?
        .ok_or_else(|| LedgerError::UnknownActor {
            actor: body.to.clone(),
        })?;
    // An addressee that may not receive would leave the batch in transit for ever.
    require_role(&to, "receive", HOLDING_ROLES)?;
    if batch.remaining_g.is_zero() {
        return Err(InvalidReason::ZeroMass { batch: batch.id }.into());
    }
    require_not_before(&batch, &event.occurred_at)?;
    super::controls::check_export(state, ctx, event, actor, &to, &batch, body)?;
    batch.status = BatchStatus::InTransit {
        to: body.to.clone(),
        shipped_g: batch.remaining_g,
    };
    touch(&mut batch, ctx.index, &event.occurred_at);
    state.put_batch(batch);
    Ok(())
}

pub(super) fn receive<S: StateView + ?Sized>(
    state: &mut Overlay<'_, S>,
    ctx: &EntryContext,
    event: &Event,
    actor: &ActorRecord,
    body: &Receive,
) -> Result<(), LedgerError> {
    require_role(actor, "receive", HOLDING_ROLES)?;
    let mut batch = load_batch(state, &body.batch)?;
    let (to, shipped_g) = match &batch.status {
        BatchStatus::InTransit { to, shipped_g } => (to.clone(), *shipped_g),
        BatchStatus::Retired { reason } => {
            return Err(LedgerError::Retired {
                batch: batch.id,
                reason: *reason,
            })
        }
        BatchStatus::Active | BatchStatus::Consumed => {
            return Err(LedgerError::NotInTransit { batch: batch.id })
        }
    };
    if to != actor.id {
        return Err(LedgerError::NotAddressee {
            batch: batch.id,
            addressee: to,
            actor: actor.id.clone(),
        });
    }
    let loss = shipped_g
        .checked_sub(body.mass_g)
        .ok_or_else(|| LedgerError::ReceivedTooMuch {
            batch: batch.id.clone(),
            shipped_g,
            received_g: body.mass_g,
        })?;
    require_not_before(&batch, &event.occurred_at)?;
    // Remaining mass only shrinks, so the losses of a batch's life add up to at most its created
    // mass: this cannot overflow, but a checked sum costs nothing.
    batch.transit_loss_g =
        batch
            .transit_loss_g
            .checked_add(loss)
            .ok_or(InvalidReason::MassOverflow {
                what: "transit losses",
                total_g: u128::from(batch.transit_loss_g.get()) + u128::from(loss.get()),
            })?;
    batch.remaining_g = body.mass_g;
    batch.custodian = actor.id.clone();
    batch.status = BatchStatus::Active;
    touch(&mut batch, ctx.index, &event.occurred_at);
    state.put_batch(batch);
    Ok(())
}

pub(super) fn certify<S: StateView + ?Sized>(
    state: &mut Overlay<'_, S>,
    ctx: &EntryContext,
    event: &Event,
    actor: &ActorRecord,
    body: &Certify,
) -> Result<(), LedgerError> {
    require_role(actor, "certify", CERTIFYING_ROLES)?;
    let mut batch = load_batch(state, &body.batch)?;
    require_not_before(&batch, &event.occurred_at)?;
    if let Some(composition) = &body.composition {
        // The parser admits a composition on assays only; what it measured must fit the batch.
        if !composition.fits(batch.created_g) {
            return Err(InvalidReason::AssayTooHeavy {
                batch: batch.id.clone(),
                composition_g: composition.total(),
                created_g: batch.created_g,
            }
            .into());
        }
        batch.assays.push(AssayComposition {
            index: ctx.index,
            composition: composition.clone(),
        });
    }
    batch.certificates.push(CertificateRecord {
        index: ctx.index,
        certifier: actor.id.clone(),
        claim: body.claim,
        statement: body.statement.clone(),
        document_sha256: body.document_sha256,
        occurred_at: event.occurred_at.clone(),
    });
    // A certificate attests; it does not move the batch, so it leaves `last_event_at` alone
    // (a certifier cannot hold up the custodian by dating its claim ahead).
    if batch.history.last() != Some(&ctx.index) {
        batch.history.push(ctx.index);
    }
    state.put_batch(batch);
    Ok(())
}

pub(super) fn retire<S: StateView + ?Sized>(
    state: &mut Overlay<'_, S>,
    ctx: &EntryContext,
    event: &Event,
    actor: &ActorRecord,
    body: &Retire,
) -> Result<(), LedgerError> {
    require_role(actor, "retire", HOLDING_ROLES)?;
    let mut batch = load_batch(state, &body.batch)?;
    require_usable(&batch, &actor.id, u128::from(batch.remaining_g.get()))?;
    require_not_before(&batch, &event.occurred_at)?;
    batch.status = BatchStatus::Retired {
        reason: body.reason,
    };
    touch(&mut batch, ctx.index, &event.occurred_at);
    state.put_batch(batch);
    Ok(())
}
