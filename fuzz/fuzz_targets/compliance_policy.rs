#![no_main]
//! cargo-fuzz target: see `lodestone::fuzzing::compliance_policy`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| lodestone::fuzzing::compliance_policy(data));
