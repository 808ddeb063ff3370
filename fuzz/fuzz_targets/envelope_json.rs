#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = lodestone::model::envelope::Envelope::from_json(data);
});
