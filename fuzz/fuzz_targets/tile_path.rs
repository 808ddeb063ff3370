#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(path) = std::str::from_utf8(data) {
        if let Ok(tile) = lodestone::log::tile::TilePath::parse(path) {
            assert_eq!(tile.to_path(), path, "a tile path has one canonical form");
        }
    }
    let _ = lodestone::log::tile::decode_entry_bundle(data);
});
