#![no_main]
//! cargo-fuzz target: see `lodestone::fuzzing::epcis_document`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| lodestone::fuzzing::epcis_document(data));
