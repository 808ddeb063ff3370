#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = lodestone::model::event::Event::from_json(data);
});
