#![no_main]
//! cargo-fuzz target: see `lodestone::fuzzing::tile_path`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| lodestone::fuzzing::tile_path(data));
