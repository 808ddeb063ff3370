#![no_main]
//! cargo-fuzz target: see `lodestone::fuzzing::entry_decode`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| lodestone::fuzzing::entry_decode(data));
