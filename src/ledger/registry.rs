//! Registry rules: `genesis`, `register_actor`, `update_actor`, `revoke_key` (docs/EVENTS.md).
//! Only an `authority` writes the registry; genesis is self-signed by the key it names.

use std::collections::BTreeSet;

use crate::model::event::{Event, Genesis, RegisterActor, RevokeKey, SiteDeclaration, UpdateActor};
use crate::model::ids::{ActorId, BatchPrefix};
use crate::model::keys::{KeyId, PublicKey};
use crate::model::material::{Role, REGISTRY_ROLES};

use super::custody::require_role;
use super::overlay::Overlay;
use super::state::{ActorRecord, GenesisRecord, KeyRecord, PrefixRecord, SiteRecord, StateView};
use super::{EntryContext, InvalidReason, LedgerError, Signatures, DEFAULT_BACKFILL_DAYS};

pub(super) fn genesis<S: StateView + ?Sized>(
    state: &mut Overlay<'_, S>,
    ctx: &EntryContext,
    event: &Event,
    body: &Genesis,
    signatures: &dyn Signatures,
) -> Result<(), LedgerError> {
    if !signatures.signed_by(&body.public_key) {
        return Err(LedgerError::BadSignature {
            actor: event.actor.clone(),
        });
    }
    let key = key_record(&event.actor, body.public_key, ctx.index);
    state.put_actor(ActorRecord {
        id: event.actor.clone(),
        name: body.name.clone(),
        country: body.country.clone(),
        roles: BTreeSet::from([Role::Authority]),
        sites: Vec::new(),
        keys: vec![key.clone()],
        entries: vec![ctx.index],
        prefixes: Vec::new(),
        registered_at: event.occurred_at.clone(),
    });
    state.put_key(key);
    state.put_genesis(GenesisRecord {
        origin: body.origin.clone(),
        authority: event.actor.clone(),
        public_key: body.public_key,
        index: ctx.index,
        backfill_days: body.backfill_days.unwrap_or(DEFAULT_BACKFILL_DAYS),
    });
    Ok(())
}

pub(super) fn register_actor<S: StateView + ?Sized>(
    state: &mut Overlay<'_, S>,
    ctx: &EntryContext,
    event: &Event,
    signer: &ActorRecord,
    body: &RegisterActor,
) -> Result<(), LedgerError> {
    require_role(signer, "register_actor", REGISTRY_ROLES)?;
    if state.actor(&body.subject)?.is_some() {
        return Err(LedgerError::ActorExists {
            actor: body.subject.clone(),
        });
    }
    if body.roles.is_empty() {
        return Err(InvalidReason::NoRoles.into());
    }
    if body.public_keys.is_empty() {
        return Err(InvalidReason::NoKeys.into());
    }
    check_new_keys(state, &body.public_keys)?;
    check_new_sites(state, &body.sites)?;
    check_new_prefixes(state, body.prefixes.iter())?;

    let keys: Vec<KeyRecord> = body
        .public_keys
        .iter()
        .map(|k| key_record(&body.subject, *k, ctx.index))
        .collect();
    state.put_actor(ActorRecord {
        id: body.subject.clone(),
        name: body.name.clone(),
        country: body.country.clone(),
        roles: body.roles.clone(),
        sites: body.sites.iter().map(|s| s.id.clone()).collect(),
        keys: keys.clone(),
        entries: vec![ctx.index],
        prefixes: body.prefixes.iter().cloned().collect(),
        registered_at: event.occurred_at.clone(),
    });
    keys.into_iter().for_each(|k| state.put_key(k));
    put_sites(state, &body.subject, &body.sites);
    put_prefixes(state, &body.subject, body.prefixes.iter())?;
    Ok(())
}

pub(super) fn update_actor<S: StateView + ?Sized>(
    state: &mut Overlay<'_, S>,
    ctx: &EntryContext,
    signer: &ActorRecord,
    body: &UpdateActor,
) -> Result<(), LedgerError> {
    require_role(signer, "update_actor", REGISTRY_ROLES)?;
    let mut subject = state
        .actor(&body.subject)?
        .ok_or_else(|| LedgerError::UnknownActor {
            actor: body.subject.clone(),
        })?;
    if body.name.is_none()
        && body.country.is_none()
        && body.roles.is_none()
        && body.add_sites.is_empty()
        && body.add_public_keys.is_empty()
        && body.add_prefixes.is_empty()
    {
        return Err(InvalidReason::NoChange.into());
    }
    if body.roles.as_ref().is_some_and(BTreeSet::is_empty) {
        return Err(InvalidReason::NoRoles.into());
    }
    check_new_keys(state, &body.add_public_keys)?;
    check_new_sites(state, &body.add_sites)?;
    check_new_prefixes(state, body.add_prefixes.iter())?;

    if let Some(name) = &body.name {
        subject.name = name.clone();
    }
    if let Some(country) = &body.country {
        subject.country = country.clone();
    }
    if let Some(roles) = &body.roles {
        subject.roles = roles.clone();
    }
    subject
        .sites
        .extend(body.add_sites.iter().map(|s| s.id.clone()));
    for key in &body.add_public_keys {
        let record = key_record(&body.subject, *key, ctx.index);
        subject.keys.push(record.clone());
        state.put_key(record);
    }
    subject.entries.push(ctx.index);
    subject.prefixes.extend(body.add_prefixes.iter().cloned());
    put_sites(state, &body.subject, &body.add_sites);
    put_prefixes(state, &body.subject, body.add_prefixes.iter())?;
    state.put_actor(subject);
    Ok(())
}

pub(super) fn revoke_key<S: StateView + ?Sized>(
    state: &mut Overlay<'_, S>,
    ctx: &EntryContext,
    signer: &ActorRecord,
    body: &RevokeKey,
) -> Result<(), LedgerError> {
    require_role(signer, "revoke_key", REGISTRY_ROLES)?;
    let mut subject = state
        .actor(&body.subject)?
        .ok_or_else(|| LedgerError::UnknownActor {
            actor: body.subject.clone(),
        })?;
    let unknown = || LedgerError::UnknownKey {
        actor: body.subject.clone(),
        key_id: body.key_id,
    };
    let mut key = state.key(&body.key_id)?.ok_or_else(unknown)?;
    if key.actor != body.subject {
        return Err(unknown());
    }
    if let Some(revoked_at) = key.revoked_at {
        return Err(InvalidReason::KeyAlreadyRevoked {
            key_id: body.key_id,
            revoked_at,
        }
        .into());
    }
    if subject.live_keys().count() < 2 {
        return Err(InvalidReason::LastLiveKey {
            actor: body.subject.clone(),
        }
        .into());
    }
    key.revoked_at = Some(ctx.index);
    for k in subject.keys.iter_mut().filter(|k| k.key_id == body.key_id) {
        k.revoked_at = Some(ctx.index);
    }
    subject.entries.push(ctx.index);
    state.put_key(key);
    state.put_actor(subject);
    Ok(())
}

fn key_record(actor: &ActorId, public_key: PublicKey, index: u64) -> KeyRecord {
    KeyRecord {
        key_id: public_key.key_id(),
        public_key,
        actor: actor.clone(),
        added_at: index,
        revoked_at: None,
    }
}

/// Keys are distinct in the event and new to the ledger: a key belongs to one actor, so that a
/// signature names its signer.
fn check_new_keys<S: StateView + ?Sized>(
    state: &Overlay<'_, S>,
    keys: &[PublicKey],
) -> Result<(), LedgerError> {
    let mut seen = BTreeSet::<KeyId>::new();
    for key in keys {
        let key_id = key.key_id();
        if !seen.insert(key_id) {
            return Err(InvalidReason::DuplicateKey { key_id }.into());
        }
        if let Some(existing) = state.key(&key_id)? {
            return Err(LedgerError::KeyExists {
                key_id,
                owner: existing.actor,
            });
        }
    }
    Ok(())
}

/// Sites are distinct in the event and new to the ledger.
fn check_new_sites<S: StateView + ?Sized>(
    state: &Overlay<'_, S>,
    sites: &[SiteDeclaration],
) -> Result<(), LedgerError> {
    let mut seen = BTreeSet::new();
    for site in sites {
        if !seen.insert(&site.id) {
            return Err(InvalidReason::DuplicateSite {
                site: site.id.clone(),
            }
            .into());
        }
        if state.site(&site.id)?.is_some() {
            return Err(LedgerError::SiteExists {
                site: site.id.clone(),
            });
        }
    }
    Ok(())
}

/// No prefix of the event starts another (of the event or the ledger), nor is it the start of
/// one: who created a batch is then told by its id alone. Sets of prefixes arrive sorted, so a
/// prefix that starts another of the same event comes first and the clash shows at the second.
fn check_new_prefixes<'a, S: StateView + ?Sized>(
    state: &Overlay<'_, S>,
    prefixes: impl Iterator<Item = &'a BatchPrefix>,
) -> Result<(), LedgerError> {
    let mut seen: Vec<&BatchPrefix> = Vec::new();
    for prefix in prefixes {
        if let Some(earlier) = seen
            .iter()
            .find(|p| prefix.as_str().starts_with(p.as_str()))
        {
            return Err(InvalidReason::OverlappingPrefixes {
                prefix: prefix.clone(),
                other: (*earlier).clone(),
            }
            .into());
        }
        // Equal to, or the beginning of, a registered prefix.
        if let Some(record) = state.prefix(prefix)? {
            return Err(LedgerError::PrefixTaken {
                prefix: prefix.clone(),
                owner: record.owner,
            });
        }
        // A registered prefix is the beginning of this one.
        for beginning in prefix.beginnings() {
            if let Some(record) = state.prefix(&beginning)?.filter(|r| r.exact) {
                return Err(LedgerError::PrefixTaken {
                    prefix: prefix.clone(),
                    owner: record.owner,
                });
            }
        }
        seen.push(prefix);
    }
    Ok(())
}

/// Records each prefix (exact) and every beginning of it not recorded yet.
fn put_prefixes<'a, S: StateView + ?Sized>(
    state: &mut Overlay<'_, S>,
    owner: &ActorId,
    prefixes: impl Iterator<Item = &'a BatchPrefix>,
) -> Result<(), LedgerError> {
    for prefix in prefixes {
        for beginning in prefix.beginnings() {
            if state.prefix(&beginning)?.is_none() {
                state.put_prefix(
                    beginning,
                    PrefixRecord {
                        owner: owner.clone(),
                        exact: false,
                    },
                );
            }
        }
        state.put_prefix(
            prefix.clone(),
            PrefixRecord {
                owner: owner.clone(),
                exact: true,
            },
        );
    }
    Ok(())
}

fn put_sites<S: StateView + ?Sized>(
    state: &mut Overlay<'_, S>,
    owner: &ActorId,
    sites: &[SiteDeclaration],
) {
    for site in sites {
        state.put_site(SiteRecord {
            id: site.id.clone(),
            owner: owner.clone(),
            name: site.name.clone(),
            country: site.country.clone(),
            kind: site.kind,
        });
    }
}
