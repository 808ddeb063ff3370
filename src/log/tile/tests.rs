use super::*;
use crate::log::hash::leaf_hash;
use crate::log::tree::{inclusion_proof, root_hash, MemoryHashes};

fn hashes(level: u8, index: u64, width: u16) -> TilePath {
    TilePath::Hashes {
        level,
        index,
        width,
    }
}

#[test]
fn paths_round_trip() {
    let cases = [
        ("tile/0/000", hashes(0, 0, 256)),
        ("tile/0/x001/234.p/7", hashes(0, 1234, 7)),
        ("tile/3/x001/x234/067", hashes(3, 1_234_067, 256)),
        ("tile/63/999.p/255", hashes(63, 999, 255)),
        (
            "tile/entries/000",
            TilePath::Entries {
                index: 0,
                width: 256,
            },
        ),
        (
            "tile/entries/x001/000.p/1",
            TilePath::Entries {
                index: 1000,
                width: 1,
            },
        ),
        (
            "tile/0/x018/x446/x744/x073/x709/x551/615",
            hashes(0, u64::MAX, 256),
        ),
    ];
    for (path, tile) in cases {
        assert_eq!(TilePath::parse(path).unwrap(), tile, "{path}");
        assert_eq!(tile.to_path(), path);
        assert_eq!(
            TilePath::parse_relative(path.strip_prefix("tile/").unwrap()).unwrap(),
            tile
        );
    }
}

#[test]
fn malformed_paths_are_rejected() {
    for bad in [
        "",
        "tile/",
        "tile/0",
        "tile/0/",
        "0/000",
        "/tile/0/000",
        "tile/0/1",
        "tile/0/0000",
        "tile/0/001/002",
        "tile/0/x001",
        "tile/0/x000/001",
        "tile/0/X001/001",
        "tile/00/000",
        "tile/01/000",
        "tile/64/000",
        "tile/-1/000",
        "tile/+1/000",
        "tile/0/+01",
        "tile/0/000.p",
        "tile/0/000.p/",
        "tile/0/000.p/0",
        "tile/0/000.p/07",
        "tile/0/000.p/256",
        "tile/0/000.p/300",
        "tile/0/000.p.p/7",
        "tile/0/000/.p/7",
        "tile/0/000.p/7/",
        "tile/entries/000.p/256",
        "tile/entries/x000/000",
        "tile/entry/000",
        "tile/0/x018/x446/x744/x073/x709/x551/616",
        "tile/0/x1000/000",
    ] {
        assert!(TilePath::parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn tiles_for_sizes_match_the_spec_example() {
    // C2SP tlog-tiles: a tree of 70,000 has 273 full level-0 tiles and one of width 112, one
    // full level-1 tile and one of width 17, and a level-2 tile of width 1.
    let tiles = hash_tiles_for_size(70_000);
    assert_eq!(tiles.len(), 273 + 1 + 1 + 1 + 1);
    assert_eq!(tiles[273], hashes(0, 273, 112));
    assert_eq!(
        &tiles[274..],
        &[hashes(1, 0, 256), hashes(1, 1, 17), hashes(2, 0, 1)]
    );
    // A tree of 256: one full level-0 tile and a level-1 tile of width 1.
    assert_eq!(
        hash_tiles_for_size(256),
        vec![hashes(0, 0, 256), hashes(1, 0, 1)]
    );
    assert!(hash_tiles_for_size(0).is_empty());
    assert_eq!(
        entry_bundles_for_size(300),
        vec![
            TilePath::Entries {
                index: 0,
                width: 256
            },
            TilePath::Entries {
                index: 1,
                width: 44
            }
        ]
    );
    assert_eq!(tiles_for_size(300).len(), 2 + 1 + 2);
    for tile in tiles_for_size(70_000) {
        assert!(tile.is_within(70_000), "{tile}");
    }
    assert!(!hashes(0, 273, 113).is_within(70_000));
    assert!(!hashes(8, 0, 1).is_within(u64::MAX));
}

#[test]
fn tile_node_ids_cover_the_right_nodes() {
    let ids: Vec<_> = tile_node_ids(1, 2, 3).collect();
    assert_eq!(
        ids,
        vec![
            NodeId::new(8, 512),
            NodeId::new(8, 513),
            NodeId::new(8, 514)
        ]
    );
    assert_eq!(tile_node_ids(8, 0, 256).count(), 0);
    assert_eq!(tile_node_ids(0, u64::MAX, 256).count(), 0);
}

#[test]
fn entry_bundles_round_trip() {
    let big = vec![7u8; MAX_ENTRY_SIZE];
    let entries: Vec<&[u8]> = vec![b"", b"a", &big, b"xyz"];
    let bytes = encode_entry_bundle(&entries).unwrap();
    assert_eq!(&bytes[..5], &[0, 0, 0, 1, b'a']);
    assert_eq!(decode_entry_bundle(&bytes).unwrap(), entries);

    let too_big = vec![0u8; MAX_ENTRY_SIZE + 1];
    assert_eq!(
        encode_entry_bundle(&[b"ok", &too_big]),
        Err(TileError::EntryTooLarge {
            index: 1,
            len: MAX_ENTRY_SIZE + 1
        })
    );
    assert_eq!(
        decode_entry_bundle(&[0, 2, b'a']),
        Err(TileError::TruncatedBundle { offset: 0 })
    );
    assert_eq!(
        decode_entry_bundle(&[0, 0, 0]),
        Err(TileError::TruncatedBundle { offset: 2 })
    );
    let many = vec![b"".as_slice(); 257];
    assert!(encode_entry_bundle(&many).is_err());
    assert!(decode_entry_bundle(&[0u8; 2 * 257]).is_err());
}

#[test]
fn tile_hashes_answer_like_the_store() {
    let size = 70_000u64;
    let tree = MemoryHashes::from_leaves((0..size).map(|i| leaf_hash(&i.to_be_bytes())));
    let fetched: Vec<(TilePath, Vec<u8>)> = hash_tiles_for_size(size)
        .into_iter()
        .map(|t| (t, read_hash_tile(t, size, &tree).unwrap()))
        .collect();
    let tiles = TileHashes::from_tiles(fetched.iter().map(|(t, b)| (*t, b.as_slice()))).unwrap();
    assert_eq!(
        root_hash(size, &tiles).unwrap(),
        root_hash(size, &tree).unwrap()
    );
    for index in [0, 255, 256, 65_535, 65_536, 69_999] {
        assert_eq!(
            inclusion_proof(index, size, &tiles).unwrap(),
            inclusion_proof(index, size, &tree).unwrap()
        );
    }
    assert!(matches!(
        read_hash_tile(hashes(0, 273, 113), size, &tree),
        Err(TileError::BeyondTree { .. })
    ));
    assert!(matches!(
        tiles.clone().insert(hashes(0, 0, 2), &[0; 63]),
        Err(TileError::WrongTileLength { .. })
    ));
}
