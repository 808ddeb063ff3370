//! The ledger state machine (DESIGN.md §3.1): validates one event against the state as of the
//! entry before it and, only if every rule holds, writes its effects. Pure: no I/O, no clock —
//! the log time comes in [`EntryContext`], signature results through [`Signatures`] — so a
//! replay of the log from entry 0 reaches exactly the same state.
//!
//! Order of the checks (the first failure is reported): event id (duplicate / conflict), size
//! limits, genesis placement, the actor and its signature, then the kind's rules: roles, sites,
//! custody, status, masses, forms, times. docs/MODEL.md lists the rules and their codes.

mod custody;
mod error;
pub mod overlay;
mod registry;
pub mod state;
mod transform;

pub use error::{InvalidReason, LedgerError, Side, SiteProblem};
pub use overlay::{MemState, Overlay, StateChanges};
pub use state::{
    ActorRecord, BatchOrigin, BatchRecord, BatchStatus, CertificateRecord, EventRecord,
    GenesisRecord, KeyRecord, SiteRecord, StateError, StateView,
};

use crate::log::Hash;
use crate::model::event::{Event, EventBody};
use crate::model::keys::PublicKey;

/// How far `occurred_at` may run ahead of the entry's log time: clocks of participants drift.
pub const CLOCK_SKEW_MS: u64 = 5 * 60 * 1000;

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
    if let Some(used) = state.event(&event.id)? {
        return Err(if used.envelope_digest == ctx.envelope_digest {
            LedgerError::Duplicate {
                event: event.id.clone(),
                index: used.index,
            }
        } else {
            LedgerError::Conflict {
                event: event.id.clone(),
                index: used.index,
            }
        });
    }
    event.check_limits().map_err(InvalidReason::Limits)?;

    let genesis = state.genesis()?;
    match &event.body {
        EventBody::Genesis(body) => {
            if ctx.index != 0 || genesis.is_some() {
                return Err(LedgerError::GenesisExists { index: ctx.index });
            }
            check_not_future(ctx, event)?;
            registry::genesis(state, ctx, event, body, signatures)?;
        }
        body => {
            if ctx.index == 0 || genesis.is_none() {
                return Err(LedgerError::NotGenesis {
                    index: ctx.index,
                    kind: body.kind_name(),
                });
            }
            let actor = state
                .actor(&event.actor)?
                .ok_or_else(|| LedgerError::UnknownActor {
                    actor: event.actor.clone(),
                })?;
            authenticate(&actor, signatures)?;
            check_not_future(ctx, event)?;
            match body {
                // Genesis was dispatched above; this arm only keeps the match exhaustive.
                EventBody::Genesis(_) => {
                    return Err(LedgerError::GenesisExists { index: ctx.index })
                }
                EventBody::RegisterActor(b) => registry::register_actor(state, ctx, &actor, b)?,
                EventBody::UpdateActor(b) => registry::update_actor(state, ctx, &actor, b)?,
                EventBody::RevokeKey(b) => registry::revoke_key(state, ctx, &actor, b)?,
                EventBody::Extract(b) => custody::extract(state, ctx, event, &actor, b)?,
                EventBody::Transform(b) => transform::transform(state, ctx, event, &actor, b)?,
                EventBody::Ship(b) => custody::ship(state, ctx, event, &actor, b)?,
                EventBody::Receive(b) => custody::receive(state, ctx, event, &actor, b)?,
                EventBody::Certify(b) => custody::certify(state, ctx, event, &actor, b)?,
                EventBody::Retire(b) => custody::retire(state, ctx, event, &actor, b)?,
            }
        }
    }
    state.put_event(
        event.id.clone(),
        EventRecord {
            index: ctx.index,
            envelope_digest: ctx.envelope_digest,
        },
    );
    Ok(())
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
