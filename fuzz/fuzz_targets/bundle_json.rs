#![no_main]
//! cargo-fuzz target: see `lodestone::fuzzing::bundle_json`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| lodestone::fuzzing::bundle_json(data));
