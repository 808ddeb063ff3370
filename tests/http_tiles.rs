//! The C2SP tlog-tiles static read API through a real server on `127.0.0.1:0` (DESIGN.md §2.5),
//! walked the way a mirroring client walks it: for log sizes that leave partial tiles, fetch
//! `/checkpoint`, open it with the log key from `GET /v1/log`, fetch every hash tile and entry
//! bundle the size needs, and recompute the root twice — from the hash tiles alone and from the
//! leaves of the entry bundles. Both must equal the signed root. Tiles are immutable (a partial
//! tile too): every tile fetched at a smaller size must come back byte-identical later, with an
//! `immutable` cache header the checkpoint must not have.

use crate::common;

use std::collections::BTreeMap;

use common::{envelope, event, Actor, TestServer, World};
use lodestone::log::checkpoint::Checkpoint;
use lodestone::log::note::NoteVerifier;
use lodestone::log::tile::{decode_entry_bundle, tiles_for_size, TileHashes, TilePath};
use lodestone::log::tree::{root_hash, MemoryHashes};
use lodestone::log::{leaf_hash, Hash};
use lodestone::model::entry::Entry;

/// Sizes to check: a lone genesis, partial first tiles, exactly one full tile, one past it, and
/// several tiles with partial tiles on two levels.
const SIZES: [u64; 6] = [1, 5, 256, 257, 300, 600];

/// Appends extracts by `miner` (in batch requests) until the log has `target` entries.
fn grow(world: &World, miner: &Actor, target: u64) {
    let size = world.server.log().size;
    let envelopes: Vec<Vec<u8>> = (size..target)
        .map(|i| {
            envelope(
                &event::extract(&format!("x-{i}"), miner, &format!("ORE-{i}"), 1 + i),
                &[&miner.key],
            )
        })
        .collect();
    for chunk in envelopes.chunks(128) {
        let body = world.submit_batch(chunk);
        assert_eq!(body["accepted"], chunk.len(), "{body}");
    }
    assert_eq!(world.server.log().size, target);
}

/// Fetches a tile or bundle: 200, octet-stream, immutable.
fn fetch(server: &TestServer, tile: &TilePath) -> Vec<u8> {
    let reply = server.get(&format!("/{}", tile.to_path()));
    assert_eq!(reply.status, 200, "{tile}: {}", reply.text());
    assert_eq!(reply.content_type, "application/octet-stream", "{tile}");
    let cache = reply.cache_control.unwrap_or_default();
    assert!(
        cache.contains("immutable") && cache.contains("max-age"),
        "{tile}: cache-control {cache:?}"
    );
    reply.body
}

/// The signed checkpoint from `/checkpoint`, opened with the log key.
fn checkpoint(server: &TestServer, verifier: &NoteVerifier) -> Checkpoint {
    let reply = server.get("/checkpoint");
    assert_eq!(reply.status, 200);
    assert!(
        reply.content_type.starts_with("text/plain"),
        "{}",
        reply.content_type
    );
    let cache = reply.cache_control.clone().unwrap_or_default();
    assert!(
        !cache.contains("immutable"),
        "the checkpoint moves: cache-control {cache:?}"
    );
    Checkpoint::open(&reply.text(), verifier).expect("checkpoint signed by the log key")
}

/// Everything a client needs for `size`: recomputes the root from the hash tiles and from the
/// entry bundles, checks the entries' hash chain, and records every tile fetched.
fn walk(
    server: &TestServer,
    size: u64,
    signed_root: Hash,
    fetched: &mut BTreeMap<TilePath, Vec<u8>>,
) {
    let mut tiles = TileHashes::new();
    let mut leaves = Vec::new();
    for tile in tiles_for_size(size) {
        let bytes = fetch(server, &tile);
        match tile {
            TilePath::Hashes { .. } => tiles
                .insert(tile, &bytes)
                .unwrap_or_else(|e| panic!("{tile}: {e}")),
            TilePath::Entries { index, width } => {
                let entries = decode_entry_bundle(&bytes).unwrap_or_else(|e| panic!("{tile}: {e}"));
                assert_eq!(entries.len(), usize::from(width), "{tile}");
                for (k, raw) in entries.iter().enumerate() {
                    let entry = Entry::decode(raw).unwrap_or_else(|e| panic!("{tile}[{k}]: {e}"));
                    let position = index * 256 + k as u64;
                    assert_eq!(entry.index, position);
                    let prev = leaves.last().copied().unwrap_or(Hash([0; 32]));
                    assert_eq!(entry.prev, prev, "entry {position}: prev link");
                    leaves.push(leaf_hash(raw));
                }
            }
        }
        fetched.insert(tile, bytes);
    }
    assert_eq!(leaves.len() as u64, size);
    assert_eq!(
        root_hash(size, &tiles).expect("hash tiles cover the tree"),
        signed_root,
        "root from hash tiles, size {size}"
    );
    assert_eq!(
        root_hash(size, &MemoryHashes::from_leaves(leaves)).unwrap(),
        signed_root,
        "root from entry bundles, size {size}"
    );
}

#[test]
fn tiles_rebuild_the_signed_root_at_sizes_with_partial_tiles() {
    let world = World::new();
    let verifier = world.server.log().verifier;
    let mut miner = None;
    let mut fetched: BTreeMap<TilePath, Vec<u8>> = BTreeMap::new();
    for size in SIZES {
        if size > 1 {
            let miner = miner.get_or_insert_with(|| world.miner("mine-co"));
            grow(&world, miner, size);
        }
        let signed = checkpoint(&world.server, &verifier);
        assert_eq!(signed.size, size);
        // Everything fetched at smaller sizes, partial tiles included, is still served the same.
        for (tile, bytes) in &fetched {
            assert_eq!(&fetch(&world.server, tile), bytes, "{tile} changed");
        }
        walk(&world.server, size, signed.root, &mut fetched);
    }
    assert!(fetched.contains_key(&TilePath::parse("tile/0/000.p/5").unwrap()));
    assert!(fetched.contains_key(&TilePath::parse("tile/1/000.p/2").unwrap()));
    assert!(fetched.contains_key(&TilePath::parse("tile/entries/002.p/88").unwrap()));
}

#[test]
fn bad_tile_paths_are_400_and_tiles_beyond_the_tree_404() {
    let world = World::new();
    let miner = world.miner("mine-co");
    grow(&world, &miner, 600);
    let server = &world.server;

    for path in [
        "tile/0/1",
        "tile/0/0001",
        "tile/0/00a",
        "tile/0/000.p/0",
        "tile/0/000.p/256",
        "tile/0/000.p/007",
        "tile/0/000.p/",
        "tile/0/000.p/5/6",
        "tile/0/000/",
        "tile/0/x000/001",
        "tile/0/x001",
        "tile/0/001/x002",
        "tile/00/000",
        "tile/64/000",
        "tile/-1/000",
        "tile/a/000",
        "tile/entries",
        "tile/entries/abc",
        "tile/entries/000.p/300",
        "tile/0/x999/x999/x999/x999/x999/x999/x999/999",
    ] {
        server
            .get(&format!("/{path}"))
            .assert_problem(400, "bad_tile_path");
    }

    for path in [
        "tile/0/003",
        "tile/0/002",
        "tile/0/002.p/89",
        "tile/1/000",
        "tile/1/000.p/3",
        "tile/2/000.p/1",
        "tile/63/000.p/1",
        "tile/0/x001/000",
        "tile/0/x018/x446/x744/x073/x709/x551/615",
        "tile/entries/002.p/89",
        "tile/entries/003",
        "tile/entries/x018/x446/x744/x073/x709/x551/615",
    ] {
        server
            .get(&format!("/{path}"))
            .assert_problem(404, "not_found");
    }

    // The edges that do exist at 600.
    for path in ["tile/0/002.p/88", "tile/1/000.p/2", "tile/entries/002.p/88"] {
        fetch(server, &TilePath::parse(path).unwrap());
    }
}
