//! The ledger state machine (DESIGN.md §3.1): validates one event against the state as of the
//! entry before it and, only if every rule holds, writes its effects. Pure: no I/O, no clock —
//! the log time comes in [`EntryContext`], signature results through [`Signatures`] — so a
//! replay of the log from entry 0 reaches exactly the same state.
//!
//! Order of the checks (the first failure is reported; docs/MODEL.md, "Order of the checks", is
//! the one description of it): shape (size limits, `log` present), genesis placement, the log the
//! event names, the actor and its signature — and only then anything that depends on what the
//! log holds: the event id (duplicate / conflict), time, then the kind's rules (roles, sites,
//! prefixes, batches, custody, masses, forms).

mod controls;
pub mod controls_state;
mod custody;
mod elements;
mod error;
pub mod overlay;
pub mod pinned;
mod registry;
pub mod signatures;
pub mod state;
mod trailer;
mod transform;

pub use controls_state::{
    ControlRule, ControlsError, ControlsRecord, LicenceRecord, LicenceUse, QuotaBook, QuotaRecord,
    RuleStatus, Suspension,
};
pub use error::{InvalidReason, LedgerError, Side, SiteProblem};
pub use overlay::{EventKey, MemState, Overlay, StateChanges};
pub use state::{
    ActorRecord, AssayComposition, BatchOrigin, BatchRecord, BatchStatus, CertificateRecord,
    EventRecord, GenesisRecord, KeyRecord, PrefixRecord, SiteRecord, StateError, StateView,
};

use crate::log::Hash;
use crate::model::event::{Event, EventBody};
use crate::model::keys::PublicKey;

/// How far `occurred_at` may run ahead of the entry's log time: clocks of participants drift.
pub const CLOCK_SKEW_MS: u64 = 5 * 60 * 1000;

/// The backfill window when genesis names none: 90 days.
pub const DEFAULT_BACKFILL_DAYS: u32 = 90;

/// One day in nanoseconds.
const DAY_NS: u128 = 86_400 * 1_000_000_000;

/// The signatures an envelope carries, already verified: "does the envelope carry a valid
/// signature by this key?" The envelope layer answers from its (batch) verification results.
pub trait Signatures {
    /// Whether a valid signature by `key` over the envelope's PAE is present.
    fn signed_by(&self, key: &PublicKey) -> bool;
}

/// What the log says about the entry being validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryContext {
    /// The entry's index in the log.
    pub index: u64,
    /// The entry's log time, Unix milliseconds.
    pub logged_at_ms: u64,
    /// SHA-256 of the envelope bytes: tells an identical retry from a reused id.
    pub envelope_digest: Hash,
}

/// Validates `event` against `state` and, if it is valid, writes its effects into `state`. On
/// error `state` is unchanged: the event is staged in an inner overlay that is merged only on
/// success.
pub fn apply<S: StateView + ?Sized>(
    state: &mut Overlay<'_, S>,
    ctx: &EntryContext,
    event: &Event,
    signatures: &dyn Signatures,
) -> Result<(), LedgerError> {
    let changes = {
        let mut staged = Overlay::new(&*state);
        stage(&mut staged, ctx, event, signatures)?;
        staged.into_changes()
    };
    state.merge(changes);
    Ok(())
}

/// The per-element balance of a transform alone (docs/MODEL.md, "Element balance"), over the
/// input records `inputs` in event order: what `apply` runs after the mass balance. Public so
/// the bench can time it apart from the other rules.
pub fn element_balance(
    body: &crate::model::event::Transform,
    inputs: &[BatchRecord],
) -> Result<(), LedgerError> {
    elements::check_balance(body, inputs)
}

/// [`apply`] straight onto an in-memory state.
pub fn apply_to_mem(
    state: &mut MemState,
    ctx: &EntryContext,
    event: &Event,
    signatures: &dyn Signatures,
) -> Result<(), LedgerError> {
    let changes = {
        let mut overlay = Overlay::new(&*state);
        apply(&mut overlay, ctx, event, signatures)?;
        overlay.into_changes()
    };
    state.apply_changes(changes);
    Ok(())
}

fn stage<S: StateView + ?Sized>(
    state: &mut Overlay<'_, S>,
    ctx: &EntryContext,
    event: &Event,
    signatures: &dyn Signatures,
) -> Result<(), LedgerError> {
    // 1. Shape: size limits and `log` (the parser checks them too; events built in code may not
    // have been parsed).
    event.check_limits().map_err(InvalidReason::Limits)?;

    let genesis = state.genesis()?;
    match &event.body {
        EventBody::Genesis(body) => {
            // 2. Placement, then the signature by the key genesis names.
            if ctx.index != 0 || genesis.is_some() {
                return Err(LedgerError::GenesisExists { index: ctx.index });
            }
            registry::genesis(state, ctx, event, body, signatures)?;
            check_not_future(ctx, event)?;
        }
        body => {
            // 2. Placement and the log the event is meant for: public facts about this log.
            let Some(genesis) = genesis.filter(|_| ctx.index != 0) else {
                return Err(LedgerError::NotGenesis {
                    index: ctx.index,
                    kind: body.kind_name(),
                });
            };
            if event.log.as_deref() != Some(genesis.origin.as_str()) {
                return Err(LedgerError::WrongLog {
                    log: event.log.clone().unwrap_or_default(),
                    expected: genesis.origin,
                });
            }
            // 3. Authentication: a registered actor (the registry is public) and a valid
            // signature by one of its current keys. Nothing before this point depends on what
            // the log holds beyond the registry, so an envelope without a valid signature learns
            // nothing about event ids, batches or masses.
            let actor = state
                .actor(&event.actor)?
                .ok_or_else(|| LedgerError::UnknownActor {
                    actor: event.actor.clone(),
                })?;
            authenticate(&actor, signatures)?;
            // 4. The event id, per actor: an identical retry or a reused id.
            check_event_id(state, ctx, event)?;
            // 5. Time against the log clock and the signer's registration.
            check_not_future(ctx, event)?;
            check_backfill(event, &actor, &genesis)?;
            // 6. The kind's rules.
            match body {
                // Genesis was dispatched above; this arm only keeps the match exhaustive.
                EventBody::Genesis(_) => {
                    return Err(LedgerError::GenesisExists { index: ctx.index })
                }
                EventBody::RegisterActor(b) => {
                    registry::register_actor(state, ctx, event, &actor, b)?
                }
                EventBody::UpdateActor(b) => registry::update_actor(state, ctx, &actor, b)?,
                EventBody::RevokeKey(b) => registry::revoke_key(state, ctx, &actor, b)?,
                EventBody::Extract(b) => custody::extract(state, ctx, event, &actor, b)?,
                EventBody::Transform(b) => transform::transform(state, ctx, event, &actor, b)?,
                EventBody::Ship(b) => custody::ship(state, ctx, event, &actor, b)?,
                EventBody::Receive(b) => custody::receive(state, ctx, event, &actor, b)?,
                EventBody::Certify(b) => custody::certify(state, ctx, event, &actor, b)?,
                EventBody::Retire(b) => custody::retire(state, ctx, event, &actor, b)?,
                EventBody::PublishControls(b) => controls::publish(state, ctx, &actor, b)?,
                EventBody::SuspendControls(b) => controls::suspend(state, ctx, &actor, b)?,
                EventBody::IssueLicence(b) => controls::issue(state, ctx, &actor, b)?,
                EventBody::RevokeLicence(b) => controls::revoke(state, ctx, &actor, b)?,
                EventBody::SetQuota(b) => controls::set_quota(state, ctx, &actor, b)?,
            }
        }
    }
    state.put_event(
        event.actor.clone(),
        event.id.clone(),
        EventRecord {
            index: ctx.index,
            envelope_digest: ctx.envelope_digest,
        },
    );
    Ok(())
}

/// `(actor, id)` is new — or this is the byte-identical envelope again (an idempotent retry).
fn check_event_id<S: StateView + ?Sized>(
    state: &Overlay<'_, S>,
    ctx: &EntryContext,
    event: &Event,
) -> Result<(), LedgerError> {
    match state.event(&event.actor, &event.id)? {
        None => Ok(()),
        Some(used) if used.envelope_digest == ctx.envelope_digest => Err(LedgerError::Duplicate {
            event: event.id.clone(),
            index: used.index,
        }),
        Some(used) => Err(LedgerError::Conflict {
            event: event.id.clone(),
            index: used.index,
        }),
    }
}

/// The actor's current key must be among the signers. Revocation takes effect from the entry
/// after the `revoke_key`, which is what "the state as of the entry before" gives for free.
fn authenticate(actor: &ActorRecord, signatures: &dyn Signatures) -> Result<(), LedgerError> {
    if actor
        .live_keys()
        .any(|k| signatures.signed_by(&k.public_key))
    {
        return Ok(());
    }
    let revoked = actor.keys.iter().find_map(|k| {
        k.revoked_at
            .filter(|_| signatures.signed_by(&k.public_key))
            .map(|at| (k.key_id, at))
    });
    Err(match revoked {
        Some((key_id, revoked_at)) => LedgerError::RevokedKey {
            actor: actor.id.clone(),
            key_id,
            revoked_at,
        },
        None => LedgerError::BadSignature {
            actor: actor.id.clone(),
        },
    })
}

/// An actor may date its events at most the genesis backfill window before its registration:
/// records of material it held before joining, not of any time it likes.
fn check_backfill(
    event: &Event,
    actor: &ActorRecord,
    genesis: &GenesisRecord,
) -> Result<(), LedgerError> {
    let window_ns = u128::from(genesis.backfill_days) * DAY_NS;
    let earliest_ns = actor.registered_at.unix_nanos().saturating_sub(window_ns);
    if event.occurred_at.unix_nanos() < earliest_ns {
        return Err(LedgerError::BeforeRegistration {
            actor: actor.id.clone(),
            occurred_at: event.occurred_at.clone(),
            registered_at: actor.registered_at.clone(),
            backfill_days: genesis.backfill_days,
        });
    }
    Ok(())
}

fn check_not_future(ctx: &EntryContext, event: &Event) -> Result<(), LedgerError> {
    if event.occurred_at.unix_millis() > ctx.logged_at_ms.saturating_add(CLOCK_SKEW_MS) {
        return Err(LedgerError::FutureEvent {
            occurred_at: event.occurred_at.clone(),
            logged_at_ms: ctx.logged_at_ms,
            skew_ms: CLOCK_SKEW_MS,
        });
    }
    Ok(())
}
