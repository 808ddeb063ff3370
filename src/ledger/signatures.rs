//! Signature checking for the state machine: Ed25519 batch verification of many envelopes at
//! once (on all cores), and the [`Signatures`] answer the rules ask for ("did this envelope's
//! signer hold key K?").
//!
//! Batch verification needs each signature's public key before validation starts. The key a
//! signature names (its DSSE key id) is looked up in the state as of the start of the batch — or,
//! for `genesis`, in the event itself. A key registered inside the same batch is not known yet;
//! the rules then check that signature inline, one at a time. Either way the verdict is the one
//! single verification gives, so the sequencer and a replaying auditor agree.
//!
//! The key id is binding, not a hint (docs/API.md, "Signatures"): a signature counts only for the
//! key its `keyid` names, only the first signature naming a key is checked, and on the write path
//! ([`pre_verify_bound`]) a signature is verified at all only when its key belongs to the event's
//! own actor. So an envelope costs at most one verification per current key of its actor (plus
//! one for a revoked key when it names no current key, to tell `revoked_key` from
//! `bad_signature`), whatever signatures it carries.

use std::collections::HashMap;

use rayon::prelude::*;

use super::Signatures;
use crate::log::Hash;
use crate::model::envelope::{verify_signatures, Envelope, SignatureCheck};
use crate::model::event::{Event, EventBody};
use crate::model::ids::ActorId;
use crate::model::{KeyId, PublicKey};

/// Signatures verified per batch-verification call (one rayon task).
const VERIFY_CHUNK: usize = 64;

/// In a verdict list, separates the key ids whose signature verified (before it) from those
/// whose signature was checked and failed (after it), which are not checked again. No public key
/// hashes to all zeros, so the marker never names a real key.
pub const FAILED: KeyId = KeyId(Hash([0; 32]));

/// The signatures of one envelope: the batch verdicts plus inline checks for keys the batch did
/// not try.
pub struct EnvelopeSignatures<'a> {
    envelope: &'a Envelope,
    verdicts: &'a [KeyId],
}

impl<'a> EnvelopeSignatures<'a> {
    /// `verdicts` lists the key ids whose signatures on `envelope` already verified, then
    /// optionally [`FAILED`] and the key ids whose signatures were checked and did not.
    pub fn new(envelope: &'a Envelope, verdicts: &'a [KeyId]) -> Self {
        EnvelopeSignatures { envelope, verdicts }
    }
}

impl Signatures for EnvelopeSignatures<'_> {
    fn signed_by(&self, key: &PublicKey) -> bool {
        let id = key.key_id();
        let split = self
            .verdicts
            .iter()
            .position(|k| *k == FAILED)
            .unwrap_or(self.verdicts.len());
        let (verified, failed) = self.verdicts.split_at(split);
        if verified.contains(&id) {
            return true;
        }
        if failed.contains(&id) {
            return false;
        }
        // Not tried in the batch (a key registered in the same block): the first signature
        // naming the key is the one that counts.
        self.envelope
            .signatures_by(key)
            .next()
            .is_some_and(|s| key.verify(&self.envelope.pae(), &s.sig))
    }
}

/// What the state knows about a key at the start of a block.
#[derive(Clone, Debug)]
pub struct KnownKey {
    /// The key.
    pub key: PublicKey,
    /// Whose it is.
    pub actor: ActorId,
    /// Not revoked.
    pub live: bool,
}

/// The write path's pre-verification: like [`pre_verify`], but a signature is tried only when
/// its key id names a key of the event's own actor (or, for `genesis`, the key the event
/// declares), only the first signature per key, and a revoked key only when the envelope names
/// no current key of the actor. Returns, per item, the verdict list [`EnvelopeSignatures`]
/// reads: verified key ids, then [`FAILED`] and the key ids that did not verify.
pub fn pre_verify_bound(
    items: &[(&Envelope, &Event)],
    mut lookup: impl FnMut(&KeyId) -> Option<KnownKey>,
) -> Vec<Vec<KeyId>> {
    let mut cache: HashMap<KeyId, Option<KnownKey>> = HashMap::new();
    // (item, key id, key, signature position)
    let mut pending = Vec::new();
    for (i, (envelope, event)) in items.iter().enumerate() {
        let mut tried: Vec<KeyId> = Vec::new();
        let mut revoked: Option<(KeyId, PublicKey, usize)> = None;
        for (position, signature) in envelope.signatures.iter().enumerate() {
            let Ok(key_id) = signature.keyid.parse::<KeyId>() else {
                continue;
            };
            if tried.contains(&key_id) || revoked.is_some_and(|(k, ..)| k == key_id) {
                continue;
            }
            if let EventBody::Genesis(g) = &event.body {
                if g.public_key.key_id() == key_id {
                    tried.push(key_id);
                    pending.push((i, key_id, g.public_key, position));
                }
                continue;
            }
            let known = cache.entry(key_id).or_insert_with(|| lookup(&key_id));
            match known {
                Some(k) if k.actor == event.actor && k.live => {
                    tried.push(key_id);
                    pending.push((i, key_id, k.key, position));
                }
                Some(k) if k.actor == event.actor && revoked.is_none() => {
                    revoked = Some((key_id, k.key, position));
                }
                _ => {}
            }
        }
        if tried.is_empty() {
            if let Some((key_id, key, position)) = revoked {
                pending.push((i, key_id, key, position));
            }
        }
    }
    let verdicts = check(items, &pending);
    let mut verified = vec![Vec::new(); items.len()];
    let mut failed = vec![Vec::new(); items.len()];
    for ((i, key_id, ..), ok) in pending.iter().zip(verdicts) {
        if ok {
            verified[*i].push(*key_id);
        } else {
            failed[*i].push(*key_id);
        }
    }
    verified
        .into_iter()
        .zip(failed)
        .map(|(mut verdicts, failed)| {
            if !failed.is_empty() {
                verdicts.push(FAILED);
                verdicts.extend(failed);
            }
            verdicts
        })
        .collect()
}

/// Verifies `pending` (item, key id, key, signature position) in parallel chunks.
fn check(items: &[(&Envelope, &Event)], pending: &[(usize, KeyId, PublicKey, usize)]) -> Vec<bool> {
    let mut messages: HashMap<usize, Vec<u8>> = HashMap::new();
    for (i, ..) in pending {
        messages.entry(*i).or_insert_with(|| items[*i].0.pae());
    }
    pending
        .par_chunks(VERIFY_CHUNK)
        .flat_map_iter(|chunk| {
            let checks: Vec<SignatureCheck<'_>> = chunk
                .iter()
                .map(|(i, _, key, position)| SignatureCheck {
                    message: &messages[i],
                    key: key.verifying_key(),
                    signature: &items[*i].0.signatures[*position].sig,
                })
                .collect();
            verify_signatures(&checks)
        })
        .collect()
}

/// Batch-verifies every signature of `items` whose key `lookup` knows (plus genesis keys named
/// by their own event), in parallel. Returns, per item, the key ids whose signatures verified.
pub fn pre_verify<'a>(
    items: &[(&'a Envelope, &'a Event)],
    mut lookup: impl FnMut(&KeyId) -> Option<PublicKey>,
) -> Vec<Vec<KeyId>> {
    let mut cache: HashMap<KeyId, Option<PublicKey>> = HashMap::new();
    let messages: Vec<Vec<u8>> = items.iter().map(|(envelope, _)| envelope.pae()).collect();
    // (item, key id, key, signature position)
    let mut pending = Vec::new();
    for (i, (envelope, event)) in items.iter().enumerate() {
        for (position, signature) in envelope.signatures.iter().enumerate() {
            let Ok(key_id) = signature.keyid.parse::<KeyId>() else {
                continue;
            };
            let key = match &event.body {
                EventBody::Genesis(g) if g.public_key.key_id() == key_id => Some(g.public_key),
                _ => *cache.entry(key_id).or_insert_with(|| lookup(&key_id)),
            };
            if let Some(key) = key {
                pending.push((i, key_id, key, position));
            }
        }
    }
    let verdicts: Vec<bool> = pending
        .par_chunks(VERIFY_CHUNK)
        .flat_map_iter(|chunk| {
            let checks: Vec<SignatureCheck<'_>> = chunk
                .iter()
                .map(|(i, _, key, position)| SignatureCheck {
                    message: &messages[*i],
                    key: key.verifying_key(),
                    signature: &items[*i].0.signatures[*position].sig,
                })
                .collect();
            verify_signatures(&checks)
        })
        .collect();
    let mut verified = vec![Vec::new(); items.len()];
    for ((i, key_id, ..), ok) in pending.iter().zip(verdicts) {
        if ok {
            verified[*i].push(*key_id);
        }
    }
    verified
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::envelope::EnvelopeSignature;
    use ed25519_dalek::SigningKey;

    fn key(seed: u8) -> (SigningKey, PublicKey) {
        let signing = SigningKey::from_bytes(&[seed; 32]);
        let public = PublicKey::new(signing.verifying_key());
        (signing, public)
    }

    fn signed(actor: &str, signers: &[&SigningKey]) -> (Envelope, Event) {
        let payload = serde_json::to_vec(&serde_json::json!({
            "kind": "extract", "id": "ev-1", "actor": actor, "occurred_at": "2026-03-01T08:00:00Z",
            "log": "lodestone.example/rare-earths", "site": "mine", "batch": "B-1", "form": "ore", "mass_g": 10, "elements": ["Nd"],
        }))
        .unwrap();
        let envelope = Envelope::sign(payload, signers).unwrap();
        let event = Event::from_json(&envelope.payload).unwrap();
        (envelope, event)
    }

    #[test]
    fn only_keys_of_the_events_actor_are_tried_once_each() {
        let (sa, pa) = key(1);
        let (sb, pb) = key(2);
        let lookup = |id: &KeyId| {
            [(pa, "alpha"), (pb, "beta")]
                .into_iter()
                .find(|(k, _)| k.key_id() == *id)
                .map(|(key, actor)| KnownKey {
                    key,
                    actor: actor.parse().unwrap(),
                    live: true,
                })
        };
        // Good: alpha's own key.
        let good = signed("alpha", &[&sa]);
        // Beta's valid signature on an event of alpha's: not tried at all.
        let foreign = signed("alpha", &[&sb]);
        // Eight bogus signatures all naming alpha's key: tried once.
        let (mut bogus, bogus_event) = signed("alpha", &[&sa]);
        bogus.signatures = (0..8u8)
            .map(|i| EnvelopeSignature {
                keyid: pa.key_id().to_string(),
                sig: vec![i; 64],
            })
            .collect();
        let items = [
            (&good.0, &good.1),
            (&foreign.0, &foreign.1),
            (&bogus, &bogus_event),
        ];
        let verdicts = pre_verify_bound(&items, lookup);
        assert_eq!(verdicts[0], vec![pa.key_id()]);
        assert_eq!(verdicts[1], Vec::<KeyId>::new());
        assert_eq!(verdicts[2], vec![FAILED, pa.key_id()]);
        // A key tried and failed is not checked again by the rules.
        assert!(!EnvelopeSignatures::new(&bogus, &verdicts[2]).signed_by(&pa));
        assert!(EnvelopeSignatures::new(&good.0, &verdicts[0]).signed_by(&pa));
    }
}
