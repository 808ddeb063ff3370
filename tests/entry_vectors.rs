//! Golden entry vectors (`fixtures/vectors/entries/chain.json`): the exact bincode bytes of three
//! chained entries, their RFC 6962 leaf hashes and the Merkle root. They pin the entry encoding
//! (docs/FORMAT.md): any change of layout, integer encoding or field order fails here. The DSSE
//! PAE vector from the DSSE protocol document is checked here too.
//!
//! To regenerate after a deliberate format change (a new entry version):
//! `LODESTONE_WRITE_VECTORS=1 cargo test --test entry_vectors`.

use ed25519_dalek::SigningKey;
use serde_json::{json, Value};

use lodestone::log::hash::leaf_hash;
use lodestone::log::tree::{root_hash, MemoryHashes};
use lodestone::log::Hash;
use lodestone::model::entry::Entry;
use lodestone::model::envelope::{pae, Envelope};

const PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/vectors/entries/chain.json"
);

/// The three entries, built from fixed keys (Ed25519 signatures are deterministic).
fn build_chain() -> Vec<Entry> {
    let authority = SigningKey::from_bytes(&[1; 32]);
    let miner = SigningKey::from_bytes(&[2; 32]);
    let payloads: [(&SigningKey, String); 3] = [
        (&authority, json!({"kind":"genesis","id":"genesis","actor":"authority","occurred_at":"2026-01-01T00:00:00Z","origin":"vectors.lodestone.example/log","name":"Vector Registry","country":"CH","public_key": lodestone::model::PublicKey::new(authority.verifying_key())}).to_string()),
        (&authority, json!({"kind":"register_actor","id":"reg-mine","actor":"authority","occurred_at":"2026-01-01T00:01:00Z","subject":"vector-mining","name":"Vector Mining","country":"AU","roles":["miner"],"sites":[{"id":"vector-mine","name":"Vector mine","country":"AU","kind":"mine"}],"public_keys":[lodestone::model::PublicKey::new(miner.verifying_key())]}).to_string()),
        (&miner, json!({"kind":"extract","id":"ev-ore-1","actor":"vector-mining","occurred_at":"2026-01-02T00:00:00Z","site":"vector-mine","batch":"VEC-ORE-1","form":"ore","mass_g":250000000000u64}).to_string()),
    ];
    let mut prev = Hash::default();
    payloads
        .into_iter()
        .enumerate()
        .map(|(i, (key, payload))| {
            let entry = Entry {
                index: i as u64,
                prev,
                logged_at_ms: 1_767_225_600_000 + 1000 * i as u64,
                envelope: Envelope::sign(payload.into_bytes(), &[key]).unwrap(),
            };
            prev = entry.leaf_hash().unwrap();
            entry
        })
        .collect()
}

fn describe(entries: &[Entry]) -> Value {
    let leaves: Vec<Hash> = entries.iter().map(|e| e.leaf_hash().unwrap()).collect();
    let tree = MemoryHashes::from_leaves(leaves.iter().copied());
    json!({
        "about": "Golden Lodestone log entries (bincode 2.0.1, standard config) — see docs/FORMAT.md. Keys are the fixed seeds [1;32] (authority) and [2;32] (miner).",
        "root_hex": root_hash(entries.len() as u64, &tree).unwrap().to_hex(),
        "entries": entries.iter().zip(&leaves).map(|(e, leaf)| json!({
            "index": e.index,
            "prev_hex": e.prev.to_hex(),
            "logged_at_ms": e.logged_at_ms,
            "envelope": e.envelope.to_json_value(),
            "bytes_hex": hex::encode(e.encode().unwrap()),
            "leaf_hash_hex": leaf.to_hex(),
        })).collect::<Vec<_>>(),
    })
}

#[test]
fn golden_entries_are_byte_exact() {
    let entries = build_chain();
    if std::env::var_os("LODESTONE_WRITE_VECTORS").is_some() {
        std::fs::create_dir_all(std::path::Path::new(PATH).parent().unwrap()).unwrap();
        let text = serde_json::to_string_pretty(&describe(&entries)).unwrap();
        std::fs::write(PATH, text + "\n").unwrap();
    }
    let golden: Value = serde_json::from_str(&std::fs::read_to_string(PATH).unwrap()).unwrap();
    let golden_entries = golden["entries"].as_array().unwrap();
    assert_eq!(golden_entries.len(), 3);
    let mut prev = Hash::default();
    let mut tree = MemoryHashes::new();
    for (built, vector) in entries.iter().zip(golden_entries) {
        let bytes = hex::decode(vector["bytes_hex"].as_str().unwrap()).unwrap();
        // Encoding the described entry gives exactly the golden bytes ...
        assert_eq!(
            built.encode().unwrap(),
            bytes,
            "entry {} encoding changed",
            built.index
        );
        // ... and decoding the golden bytes gives the described entry.
        let decoded = Entry::decode(&bytes).unwrap();
        assert_eq!(decoded.index, vector["index"].as_u64().unwrap());
        assert_eq!(
            decoded.logged_at_ms,
            vector["logged_at_ms"].as_u64().unwrap()
        );
        assert_eq!(decoded.prev, prev, "hash chain");
        let envelope_json = serde_json::to_vec(&vector["envelope"]).unwrap();
        assert_eq!(
            decoded.envelope,
            Envelope::from_json(&envelope_json).unwrap()
        );
        let leaf = leaf_hash(&bytes);
        assert_eq!(leaf.to_hex(), vector["leaf_hash_hex"].as_str().unwrap());
        prev = leaf;
        tree.push_leaf(leaf);
    }
    assert_eq!(
        root_hash(3, &tree).unwrap().to_hex(),
        golden["root_hex"].as_str().unwrap()
    );
}

#[test]
fn first_bytes_follow_the_documented_layout() {
    // docs/FORMAT.md walks through these bytes: version 1, index 0 (one varint byte), 32 zero
    // bytes of prev, logged_at_ms as a 9-byte varint (tag 253 + u64 LE), then the envelope's
    // payload type as a varint length (39) and its bytes.
    let bytes = build_chain()[0].encode().unwrap();
    assert_eq!(bytes[0], 1);
    assert_eq!(bytes[1], 0);
    assert_eq!(&bytes[2..34], &[0u8; 32]);
    assert_eq!(bytes[34], 253);
    assert_eq!(&bytes[35..43], &1_767_225_600_000u64.to_le_bytes());
    assert_eq!(bytes[43], 39);
    assert_eq!(&bytes[44..83], b"application/vnd.lodestone.event.v1+json");
}

#[test]
fn dsse_pae_vector() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/vectors/dsse/pae.json"
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let got = pae(
        v["payload_type"].as_str().unwrap(),
        v["payload"].as_str().unwrap().as_bytes(),
    );
    assert_eq!(got, v["pae"].as_str().unwrap().as_bytes());
}
