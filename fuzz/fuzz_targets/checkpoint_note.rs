#![no_main]
//! cargo-fuzz target: see `lodestone::fuzzing::checkpoint_note`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| lodestone::fuzzing::checkpoint_note(data));
