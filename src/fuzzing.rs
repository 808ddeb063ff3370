//! The fuzz targets' bodies: every parser of outside bytes, with the property each must keep
//! (never panic; round trips where a format has one canonical form). `fuzz/fuzz_targets/*.rs`
//! (cargo-fuzz, libFuzzer) call these, and `tests/fuzz_corpus.rs` runs the kept corpus
//! (`fuzz/corpus/<target>/`) through the same functions on stable Rust, so whatever fuzzing
//! found stays a regression test (docs/OPERATIONS.md, "Fuzzing").

use std::sync::OnceLock;

use crate::log::note::NoteSigner;

/// A target's body: panics on a failure.
pub type Target = fn(&[u8]);

/// Every target, by the name of its `fuzz/fuzz_targets/<name>.rs` and corpus directory.
pub const TARGETS: &[(&str, Target)] = &[
    ("entry_decode", entry_decode),
    ("envelope_json", envelope_json),
    ("event_json", event_json),
    ("checkpoint_note", checkpoint_note),
    ("tile_path", tile_path),
    ("bundle_json", bundle_json),
    ("witness_formats", witness_formats),
    ("epcis_document", epcis_document),
    ("compliance_policy", compliance_policy),
];

/// A bincode entry: whatever decodes re-encodes to the same bytes.
pub fn entry_decode(data: &[u8]) {
    if let Ok(entry) = crate::model::entry::Entry::decode(data) {
        assert_eq!(
            entry.encode().ok().as_deref(),
            Some(data),
            "decode accepted a non-canonical entry"
        );
    }
}

/// A DSSE envelope's JSON.
pub fn envelope_json(data: &[u8]) {
    let _ = crate::model::envelope::Envelope::from_json(data);
}

/// An event's JSON (the envelope payload).
pub fn event_json(data: &[u8]) {
    let _ = crate::model::event::Event::from_json(data);
}

/// A checkpoint note, and a verifier key's text form.
pub fn checkpoint_note(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crate::log::checkpoint::Checkpoint::parse(text);
        let _ = crate::log::note::NoteVerifier::from_text(text);
    }
}

/// A tile path (one canonical form) and an entry bundle.
pub fn tile_path(data: &[u8]) {
    if let Ok(path) = std::str::from_utf8(data) {
        if let Ok(tile) = crate::log::tile::TilePath::parse(path) {
            assert_eq!(tile.to_path(), path, "a tile path has one canonical form");
        }
    }
    let _ = crate::log::tile::decode_entry_bundle(data);
}

/// An offline bundle: random bytes never verify.
pub fn bundle_json(data: &[u8]) {
    static SIGNER: OnceLock<Option<NoteSigner>> = OnceLock::new();
    let signer = SIGNER.get_or_init(|| {
        NoteSigner::new(
            "fuzz.example/log",
            ed25519_dalek::SigningKey::from_bytes(&[7; 32]),
        )
        .ok()
    });
    if let Some(signer) = signer {
        let report = crate::audit::bundle::verify_bundle_json(data, &signer.verifier());
        assert!(!report.verified, "random bytes verified as a bundle");
    }
}

/// The witness protocol's request, tlog policies, tlog proofs, cosignature lines and keys.
pub fn witness_formats(data: &[u8]) {
    let _ = crate::witness::protocol::AddCheckpoint::parse(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crate::log::policy::Policy::parse(text);
        let _ = crate::log::tlog_proof::TlogProof::parse(text);
        let _ = crate::log::cosignature::Cosignature::parse_line(text);
        let _ = crate::log::cosignature::CosignatureVerifier::from_text(text);
    }
}

/// An EPCIS 2.0 capture document through the import profile, and EPCIS query parameters: either
/// converted or refused with located reasons, never a panic.
pub fn epcis_document(data: &[u8]) {
    use crate::epcis::import::{import_document, ImportProfile};
    if let Ok(document) = serde_json::from_slice::<serde_json::Value>(data) {
        let profile = ImportProfile {
            names: crate::epcis::vocab::Names::new("fuzz.example/log"),
            log: "fuzz.example/log".to_owned(),
            default_actor: "fuzz-co".parse().ok(),
        };
        if let Err(refusals) = import_document(&document, &profile) {
            assert!(!refusals.is_empty(), "a refusal without a reason");
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let pairs: Vec<(String, String)> = text
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let _ = crate::epcis::query::EventQuery::parse(&pairs);
    }
}

/// A compliance policy file (docs/COMPLIANCE.md): parsed or refused, never a panic; whatever
/// parses has a name.
pub fn compliance_policy(data: &[u8]) {
    if let Ok(policy) = crate::audit::compliance::Policy::from_json(data) {
        assert!(!policy.name.is_empty(), "a policy without a name");
    }
}
