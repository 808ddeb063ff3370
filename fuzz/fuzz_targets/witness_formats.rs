#![no_main]
//! cargo-fuzz target: see `lodestone::fuzzing::witness_formats`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| lodestone::fuzzing::witness_formats(data));
