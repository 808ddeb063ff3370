#![no_main]
//! cargo-fuzz target: see `lodestone::fuzzing::envelope_json`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| lodestone::fuzzing::envelope_json(data));
