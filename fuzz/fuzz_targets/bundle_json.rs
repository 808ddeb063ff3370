#![no_main]
use std::sync::OnceLock;

use lodestone::log::note::NoteSigner;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    static SIGNER: OnceLock<NoteSigner> = OnceLock::new();
    let signer = SIGNER.get_or_init(|| {
        NoteSigner::new("fuzz.example/log", ed25519_dalek::SigningKey::from_bytes(&[7; 32])).unwrap()
    });
    let report = lodestone::audit::bundle::verify_bundle_json(data, &signer.verifier());
    assert!(!report.verified, "random bytes verified as a bundle");
});
