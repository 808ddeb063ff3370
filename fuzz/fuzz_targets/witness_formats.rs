#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = lodestone::witness::protocol::AddCheckpoint::parse(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = lodestone::log::policy::Policy::parse(text);
        let _ = lodestone::log::tlog_proof::TlogProof::parse(text);
        let _ = lodestone::log::cosignature::Cosignature::parse_line(text);
        let _ = lodestone::log::cosignature::CosignatureVerifier::from_text(text);
    }
});
