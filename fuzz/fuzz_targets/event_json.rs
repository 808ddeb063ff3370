#![no_main]
//! cargo-fuzz target: see `lodestone::fuzzing::event_json`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| lodestone::fuzzing::event_json(data));
