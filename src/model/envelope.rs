//! DSSE envelopes (secure-systems-lab/dsse, protocol v1) carrying Lodestone events.
//!
//! An actor signs the exact bytes it submits; nobody re-serialises them. The signature is Ed25519
//! over the pre-authentication encoding
//!
//! ```text
//! PAE(T, P) = "DSSEv1" SP LEN(T) SP T SP LEN(P) SP P      (LEN = ASCII decimal byte count)
//! ```
//!
//! with `T` = [`EVENT_PAYLOAD_TYPE`] and `P` the event JSON. JSON form:
//! `{"payloadType": T, "payload": base64(P), "signatures": [{"keyid": K, "sig": base64(S)}]}`
//! where `K` is the lowercase hex SHA-256 of the signer's 32-byte public key — a hint only: the
//! ledger trusts the key registered for the event's actor, never the key id.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::log::Hash;
use crate::model::keys::{KeyId, PublicKey};

/// The payload type of a Lodestone event, version 1.
pub const EVENT_PAYLOAD_TYPE: &str = "application/vnd.lodestone.event.v1+json";
/// Largest payload accepted: an entry must fit a C2SP entry bundle (65,535 bytes) with room for
/// its header and signatures. Documents travel by digest, never inline.
pub const MAX_PAYLOAD_BYTES: usize = 60 * 1024;
/// Most signatures one envelope may carry.
pub const MAX_SIGNATURES: usize = 8;

/// Why an envelope was rejected before any signature was checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// The body is not a DSSE envelope in JSON.
    #[error("malformed envelope: {detail}")]
    Malformed {
        /// What the JSON parser said.
        detail: String,
    },
    /// A base64 field does not decode.
    #[error("field `{field}` is not valid standard base64")]
    Base64 {
        /// `payload` or `signatures[i].sig`.
        field: String,
    },
    /// Not our payload type.
    #[error("payloadType must be `{expected}`, got `{got}`")]
    PayloadType {
        /// [`EVENT_PAYLOAD_TYPE`].
        expected: &'static str,
        /// What was sent (truncated).
        got: String,
    },
    /// The payload is larger than [`MAX_PAYLOAD_BYTES`].
    #[error("payload is {len} bytes; the limit is {max}")]
    PayloadTooLarge {
        /// Payload length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// No signatures, or more than [`MAX_SIGNATURES`].
    #[error("an envelope needs 1 to {max} signatures, got {count}")]
    SignatureCount {
        /// How many were sent.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A signature is not 64 bytes or its key id is not 64 lowercase hex digits.
    #[error("signature {position}: {reason}")]
    SignatureShape {
        /// Position in `signatures`.
        position: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// One DSSE signature: the signer's key id (hint) and the 64-byte Ed25519 signature.
#[derive(Clone, Debug, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct EnvelopeSignature {
    /// Lowercase hex SHA-256 of the signer's public key.
    pub keyid: String,
    /// Ed25519 signature over the PAE.
    pub sig: Vec<u8>,
}

/// A DSSE envelope. Construct with [`Envelope::sign`] or [`Envelope::from_json`]; both enforce
/// the shape rules (payload type, sizes, signature shapes), so a held `Envelope` is well formed.
#[derive(Clone, Debug, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct Envelope {
    /// The payload type `T`.
    pub payload_type: String,
    /// The payload bytes `P`, exactly as signed.
    pub payload: Vec<u8>,
    /// One or more signatures.
    pub signatures: Vec<EnvelopeSignature>,
}

/// The JSON wire form, written field by field so that reading can be strict: serde's derived
/// `Deserialize` would also accept an array of the field values in place of an object.
#[derive(Serialize)]
struct WireEnvelope {
    #[serde(rename = "payloadType")]
    payload_type: String,
    payload: String,
    signatures: Vec<WireSignature>,
}

#[derive(Serialize)]
struct WireSignature {
    keyid: String,
    sig: String,
}

fn malformed(detail: impl Into<String>) -> EnvelopeError {
    EnvelopeError::Malformed {
        detail: detail.into(),
    }
}

/// Takes the string field `name` out of a JSON object, or says what is wrong.
fn take_string(
    object: &mut serde_json::Map<String, Value>,
    name: &str,
    path: &str,
) -> Result<String, EnvelopeError> {
    match object.remove(name) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(malformed(format!("`{path}{name}` must be a string"))),
        None => Err(malformed(format!("missing field `{path}{name}`"))),
    }
}

/// Rejects fields other than the expected ones (DSSE envelopes are closed objects here).
fn no_other_fields(
    object: &serde_json::Map<String, Value>,
    path: &str,
) -> Result<(), EnvelopeError> {
    match object.keys().next() {
        Some(extra) => Err(malformed(format!("unknown field `{path}{extra}`"))),
        None => Ok(()),
    }
}

/// DSSE v1 pre-authentication encoding.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload_type.len() + payload.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

impl Envelope {
    /// Signs `payload` as a Lodestone event with every key given (one signature each).
    pub fn sign(payload: Vec<u8>, signers: &[&SigningKey]) -> Result<Envelope, EnvelopeError> {
        let message = pae(EVENT_PAYLOAD_TYPE, &payload);
        let signatures = signers
            .iter()
            .map(|key| EnvelopeSignature {
                keyid: PublicKey::new(key.verifying_key()).key_id().to_string(),
                sig: key.sign(&message).to_bytes().to_vec(),
            })
            .collect();
        let envelope = Envelope {
            payload_type: EVENT_PAYLOAD_TYPE.to_owned(),
            payload,
            signatures,
        };
        envelope.check_shape()?;
        Ok(envelope)
    }

    /// Parses the JSON wire form and checks its shape. Signatures are not verified here.
    pub fn from_json(bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| malformed(e.to_string()))?;
        Envelope::from_json_value(value)
    }

    /// Reads an envelope from parsed JSON: an object with exactly `payloadType`, `payload` and
    /// `signatures` (an array of objects with `keyid` and `sig`), then checks its shape.
    pub fn from_json_value(value: Value) -> Result<Envelope, EnvelopeError> {
        let Value::Object(mut object) = value else {
            return Err(malformed("an envelope must be a JSON object"));
        };
        let payload_type = take_string(&mut object, "payloadType", "")?;
        let payload = take_string(&mut object, "payload", "")?;
        let signatures = match object.remove("signatures") {
            Some(Value::Array(items)) => items,
            Some(_) => return Err(malformed("`signatures` must be an array")),
            None => return Err(malformed("missing field `signatures`")),
        };
        no_other_fields(&object, "")?;
        let payload = B64.decode(&payload).map_err(|_| EnvelopeError::Base64 {
            field: "payload".into(),
        })?;
        let signatures = signatures
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                let path = format!("signatures[{i}].");
                let Value::Object(mut object) = item else {
                    return Err(malformed(format!("`signatures[{i}]` must be an object")));
                };
                let keyid = match object.remove("keyid") {
                    None => String::new(),
                    Some(Value::String(s)) => s,
                    Some(_) => return Err(malformed(format!("`{path}keyid` must be a string"))),
                };
                let sig = take_string(&mut object, "sig", &path)?;
                no_other_fields(&object, &path)?;
                let sig = B64.decode(&sig).map_err(|_| EnvelopeError::Base64 {
                    field: format!("{path}sig"),
                })?;
                Ok(EnvelopeSignature { keyid, sig })
            })
            .collect::<Result<Vec<_>, EnvelopeError>>()?;
        let envelope = Envelope {
            payload_type,
            payload,
            signatures,
        };
        envelope.check_shape()?;
        Ok(envelope)
    }

    /// The JSON wire form.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(&self.to_wire()).expect("serialising plain strings cannot fail")
    }

    /// The JSON wire form as a `serde_json::Value` (for embedding in larger documents).
    pub fn to_json_value(&self) -> serde_json::Value {
        serde_json::to_value(self.to_wire()).expect("serialising plain strings cannot fail")
    }

    fn to_wire(&self) -> WireEnvelope {
        WireEnvelope {
            payload_type: self.payload_type.clone(),
            payload: B64.encode(&self.payload),
            signatures: self
                .signatures
                .iter()
                .map(|s| WireSignature {
                    keyid: s.keyid.clone(),
                    sig: B64.encode(&s.sig),
                })
                .collect(),
        }
    }

    /// Enforces payload type, sizes and signature shapes.
    pub fn check_shape(&self) -> Result<(), EnvelopeError> {
        if self.payload_type != EVENT_PAYLOAD_TYPE {
            return Err(EnvelopeError::PayloadType {
                expected: EVENT_PAYLOAD_TYPE,
                got: self.payload_type.chars().take(100).collect(),
            });
        }
        if self.payload.len() > MAX_PAYLOAD_BYTES {
            return Err(EnvelopeError::PayloadTooLarge {
                len: self.payload.len(),
                max: MAX_PAYLOAD_BYTES,
            });
        }
        if self.signatures.is_empty() || self.signatures.len() > MAX_SIGNATURES {
            return Err(EnvelopeError::SignatureCount {
                count: self.signatures.len(),
                max: MAX_SIGNATURES,
            });
        }
        for (position, s) in self.signatures.iter().enumerate() {
            if s.sig.len() != Signature::BYTE_SIZE {
                return Err(EnvelopeError::SignatureShape {
                    position,
                    reason: "an Ed25519 signature is 64 bytes",
                });
            }
            if s.keyid.parse::<KeyId>().is_err() {
                return Err(EnvelopeError::SignatureShape {
                    position,
                    reason: "keyid must be the lowercase hex SHA-256 of the public key",
                });
            }
        }
        Ok(())
    }

    /// The bytes every signature covers.
    pub fn pae(&self) -> Vec<u8> {
        pae(&self.payload_type, &self.payload)
    }

    /// Identity of the envelope for idempotent retries: SHA-256 over payload type, payload and
    /// signatures in their canonical bincode form. Two submissions are "the same envelope" when
    /// this matches, whatever the JSON whitespace or field order.
    pub fn digest(&self) -> Hash {
        let bytes = bincode::encode_to_vec(self, bincode::config::standard())
            .expect("encoding to a Vec cannot fail");
        Hash(Sha256::digest(bytes).into())
    }

    /// The signatures whose key id names `key`.
    pub fn signatures_by<'a>(
        &'a self,
        key: &PublicKey,
    ) -> impl Iterator<Item = &'a EnvelopeSignature> + 'a {
        let id = key.key_id().to_string();
        self.signatures.iter().filter(move |s| s.keyid == id)
    }

    /// True when a signature named for `key` verifies under it.
    pub fn is_signed_by(&self, key: &PublicKey) -> bool {
        let message = self.pae();
        self.signatures_by(key)
            .any(|s| key.verify(&message, &s.sig))
    }
}

/// One signature to check in a batch.
pub struct SignatureCheck<'a> {
    /// The signed message (a PAE).
    pub message: &'a [u8],
    /// The key it should verify under.
    pub key: &'a VerifyingKey,
    /// The 64 signature bytes.
    pub signature: &'a [u8],
}

/// Verifies many signatures at once with Ed25519 batch verification, falling back to single
/// verification to find the bad ones when the batch fails. Returns one verdict per check.
///
/// Batch verification accepts exactly what single verification accepts for keys that passed
/// [`PublicKey::from_bytes`] (no small-order keys), so replaying with single checks reaches the
/// same verdicts.
pub fn verify_signatures(checks: &[SignatureCheck<'_>]) -> Vec<bool> {
    let mut messages = Vec::with_capacity(checks.len());
    let mut signatures = Vec::with_capacity(checks.len());
    let mut keys = Vec::with_capacity(checks.len());
    let mut shape_ok = true;
    for check in checks {
        match Signature::from_slice(check.signature) {
            Ok(sig) => {
                messages.push(check.message);
                signatures.push(sig);
                keys.push(*check.key);
            }
            Err(_) => shape_ok = false,
        }
    }
    if shape_ok
        && !checks.is_empty()
        && ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok()
    {
        return vec![true; checks.len()];
    }
    checks
        .iter()
        .map(|c| {
            Signature::from_slice(c.signature)
                .map(|sig| ed25519_dalek::Verifier::verify(c.key, c.message, &sig).is_ok())
                .unwrap_or(false)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn json_round_trip_and_signature() {
        let signer = key(7);
        let env = Envelope::sign(br#"{"kind":"x"}"#.to_vec(), &[&signer]).unwrap();
        let back = Envelope::from_json(&env.to_json()).unwrap();
        assert_eq!(back, env);
        let public = PublicKey::new(signer.verifying_key());
        assert!(back.is_signed_by(&public));
        assert!(!back.is_signed_by(&PublicKey::new(key(8).verifying_key())));
    }

    #[test]
    fn tampered_payload_fails() {
        let signer = key(7);
        let mut env = Envelope::sign(b"{}".to_vec(), &[&signer]).unwrap();
        env.payload = b"{ }".to_vec();
        assert!(!env.is_signed_by(&PublicKey::new(signer.verifying_key())));
    }

    #[test]
    fn shape_errors() {
        let wrong_type = br#"{"payloadType":"text/plain","payload":"e30=","signatures":[]}"#;
        assert!(matches!(
            Envelope::from_json(wrong_type),
            Err(EnvelopeError::PayloadType { .. })
        ));
        let bad_b64 =
            format!(r#"{{"payloadType":"{EVENT_PAYLOAD_TYPE}","payload":"!!","signatures":[]}}"#);
        assert!(matches!(
            Envelope::from_json(bad_b64.as_bytes()),
            Err(EnvelopeError::Base64 { .. })
        ));
        let no_sigs =
            format!(r#"{{"payloadType":"{EVENT_PAYLOAD_TYPE}","payload":"e30=","signatures":[]}}"#);
        assert!(matches!(
            Envelope::from_json(no_sigs.as_bytes()),
            Err(EnvelopeError::SignatureCount { count: 0, .. })
        ));
        assert!(matches!(
            Envelope::from_json(b"{not json"),
            Err(EnvelopeError::Malformed { .. })
        ));
        // serde's derive would take the field values as an array; DSSE says object.
        let env = Envelope::sign(b"{}".to_vec(), &[&key(1)]).unwrap();
        let wire = env.to_json_value();
        let as_array = serde_json::json!([
            wire["payloadType"],
            wire["payload"],
            [[wire["signatures"][0]["keyid"], wire["signatures"][0]["sig"]]]
        ]);
        assert!(matches!(
            Envelope::from_json(as_array.to_string().as_bytes()),
            Err(EnvelopeError::Malformed { .. })
        ));
        let mut extra = wire.clone();
        extra["signatures"][0]["note"] = serde_json::json!("x");
        assert!(matches!(
            Envelope::from_json(extra.to_string().as_bytes()),
            Err(EnvelopeError::Malformed { .. })
        ));
    }

    #[test]
    fn batch_verification_finds_the_bad_one() {
        let a = key(1);
        let b = key(2);
        let ea = Envelope::sign(b"{\"a\":1}".to_vec(), &[&a]).unwrap();
        let eb = Envelope::sign(b"{\"b\":2}".to_vec(), &[&b]).unwrap();
        let (pa, pb) = (ea.pae(), eb.pae());
        let (ka, kb) = (a.verifying_key(), b.verifying_key());
        let good = [
            SignatureCheck {
                message: &pa,
                key: &ka,
                signature: &ea.signatures[0].sig,
            },
            SignatureCheck {
                message: &pb,
                key: &kb,
                signature: &eb.signatures[0].sig,
            },
        ];
        assert_eq!(verify_signatures(&good), vec![true, true]);
        let mixed = [
            SignatureCheck {
                message: &pa,
                key: &ka,
                signature: &ea.signatures[0].sig,
            },
            SignatureCheck {
                message: &pb,
                key: &ka,
                signature: &eb.signatures[0].sig,
            },
        ];
        assert_eq!(verify_signatures(&mixed), vec![true, false]);
    }

    #[test]
    fn digest_ignores_json_layout() {
        let env = Envelope::sign(b"{}".to_vec(), &[&key(3)]).unwrap();
        let pretty = serde_json::to_vec_pretty(&env.to_json_value()).unwrap();
        assert_eq!(Envelope::from_json(&pretty).unwrap().digest(), env.digest());
    }
}
