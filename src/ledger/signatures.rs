//! Signature checking for the state machine: Ed25519 batch verification of many envelopes at
//! once (on all cores), and the [`Signatures`] answer the rules ask for ("did this envelope's
//! signer hold key K?").
//!
//! Batch verification needs each signature's public key before validation starts. The key a
//! signature names (its DSSE key id) is looked up in the state as of the start of the batch — or,
//! for `genesis`, in the event itself. A key registered inside the same batch is not known yet;
//! the rules then check that signature inline, one at a time. Either way the verdict is the one
//! single verification gives, so the sequencer and a replaying auditor agree.

use std::collections::HashMap;

use rayon::prelude::*;

use super::Signatures;
use crate::model::envelope::{verify_signatures, Envelope, SignatureCheck};
use crate::model::event::{Event, EventBody};
use crate::model::{KeyId, PublicKey};

/// Signatures verified per batch-verification call (one rayon task).
const VERIFY_CHUNK: usize = 64;

/// The signatures of one envelope: the batch verdicts plus inline checks for keys the batch did
/// not know.
pub struct EnvelopeSignatures<'a> {
    envelope: &'a Envelope,
    verified: &'a [KeyId],
}

impl<'a> EnvelopeSignatures<'a> {
    /// `verified` lists the key ids whose signatures on `envelope` already verified.
    pub fn new(envelope: &'a Envelope, verified: &'a [KeyId]) -> Self {
        EnvelopeSignatures { envelope, verified }
    }
}

impl Signatures for EnvelopeSignatures<'_> {
    fn signed_by(&self, key: &PublicKey) -> bool {
        self.verified.contains(&key.key_id()) || self.envelope.is_signed_by(key)
    }
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
