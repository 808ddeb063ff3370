#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = lodestone::log::checkpoint::Checkpoint::parse(text);
        let _ = lodestone::log::note::NoteVerifier::from_text(text);
    }
});
