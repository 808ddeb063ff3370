#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(entry) = lodestone::model::entry::Entry::decode(data) {
        assert_eq!(entry.encode().unwrap(), data, "decode accepted a non-canonical entry");
    }
});
