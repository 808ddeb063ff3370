//! Golden vectors from implementations we did not write (`fixtures/vectors/`, see its README):
//! transparency-dev/merkle RFC 6962 proofs and Go `sumdb/note` signed notes.

use std::fs;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use lodestone::log::{
    consistency_proof, inclusion_proof, leaf_hash, open_note, root_hash, sign_note,
    verify_consistency, verify_inclusion, Hash, MemoryHashes, NoteError, NoteSigner, NoteVerifier,
};
use serde_json::Value;

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/vectors")
}

/// Every `.json` file under `dir`, recursively, sorted.
fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(json_files(&path));
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
    out.sort();
    out
}

fn load(path: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

fn bytes_field(value: &Value) -> Vec<u8> {
    B64.decode(value.as_str().expect("hash field is a string"))
        .unwrap()
}

/// Roots and proof elements. The vectors use placeholders (`""`, `"ZG9uJ3QgY2FyZSAx"` =
/// "don't care 1") where these should be; the reference verifier only compares roots for
/// equality and only counts proof elements. Our API takes typed 32-byte hashes, so a value that
/// is not 32 bytes is mapped to a hash no tree produces (SHA-256 of a tag and the bytes): that
/// keeps equality, and leaves the rejection of such inputs to the verifier, not to this test.
fn hash_field(value: &Value) -> Hash {
    let bytes = bytes_field(value);
    Hash::from_slice(&bytes)
        .unwrap_or_else(|_| leaf_hash(&[b"not a 32-byte hash: ".as_slice(), &bytes].concat()))
}

fn proof_field(value: &Value) -> Vec<Hash> {
    match value {
        Value::Null => Vec::new(),
        Value::Array(items) => items.iter().map(hash_field).collect(),
        other => panic!("proof is {other}"),
    }
}

fn u64_field(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("{key} missing"))
}

/// The eight leaves of the RFC 6962 reference tree that the transparency-dev vectors use.
fn reference_tree() -> MemoryHashes {
    let leaves: [&[u8]; 8] = [
        b"",
        &[0x00],
        &[0x10],
        &[0x20, 0x21],
        &[0x30, 0x31],
        &[0x40, 0x41, 0x42, 0x43],
        &[0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
        &[
            0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d,
            0x6e, 0x6f,
        ],
    ];
    MemoryHashes::from_leaves(leaves.iter().map(|l| leaf_hash(l)))
}

#[test]
fn rfc6962_inclusion_vectors() {
    let tree = reference_tree();
    let files = json_files(&vectors().join("rfc6962/inclusion"));
    let (mut accepted, mut rejected, mut regenerated, mut untyped) = (0, 0, 0, 0);
    for file in &files {
        let v = load(file);
        let index = u64_field(&v, "leafIdx");
        let size = u64_field(&v, "treeSize");
        let root = hash_field(&v["root"]);
        let proof = proof_field(&v["proof"]);
        // The reference verifier rejects a leaf hash that is not 32 bytes up front; in our API
        // such a value cannot be built at all.
        let Ok(leaf) = Hash::from_slice(&bytes_field(&v["leafHash"])) else {
            assert!(v["wantErr"].as_bool().unwrap(), "{}", file.display());
            rejected += 1;
            untyped += 1;
            continue;
        };
        let result = verify_inclusion(&leaf, index, size, &proof, &root);
        if v["wantErr"].as_bool().unwrap() {
            assert!(result.is_err(), "accepted {}", file.display());
            rejected += 1;
        } else {
            assert_eq!(result, Ok(()), "{}", file.display());
            accepted += 1;
            // Our prover must produce the same proof for the same tree.
            if size <= tree.size() && root_hash(size, &tree).unwrap() == root {
                assert_eq!(inclusion_proof(index, size, &tree).unwrap(), proof);
                regenerated += 1;
            }
        }
    }
    assert_eq!((files.len(), accepted, rejected), (98, 6, 92));
    assert_eq!(untyped, 11, "vectors whose leaf hash is not 32 bytes");
    assert_eq!(
        regenerated, 5,
        "happy paths over the RFC 6962 reference tree"
    );
}

#[test]
fn rfc6962_consistency_vectors() {
    let tree = reference_tree();
    let files = json_files(&vectors().join("rfc6962/consistency"));
    let (mut accepted, mut rejected, mut regenerated) = (0, 0, 0);
    for file in &files {
        let v = load(file);
        let (size1, size2) = (u64_field(&v, "size1"), u64_field(&v, "size2"));
        let (root1, root2) = (hash_field(&v["root1"]), hash_field(&v["root2"]));
        let proof = proof_field(&v["proof"]);
        let result = verify_consistency(size1, size2, &proof, &root1, &root2);
        if v["wantErr"].as_bool().unwrap() {
            assert!(result.is_err(), "accepted {}", file.display());
            rejected += 1;
        } else {
            assert_eq!(result, Ok(()), "{}", file.display());
            accepted += 1;
            if size2 <= tree.size()
                && root_hash(size1, &tree).unwrap() == root1
                && root_hash(size2, &tree).unwrap() == root2
            {
                assert_eq!(consistency_proof(size1, size2, &tree).unwrap(), proof);
                regenerated += 1;
            }
        }
    }
    assert_eq!((files.len(), accepted, rejected), (98, 6, 92));
    assert_eq!(
        regenerated, 5,
        "happy paths over the RFC 6962 reference tree"
    );
}

fn note_vectors() -> Value {
    load(&vectors().join("signed-note/go-sumdb-note.json"))
}

fn str_field<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key} missing"))
}

#[test]
fn signed_note_keys() {
    let v = note_vectors();
    let signer = NoteSigner::from_text(str_field(&v, "signer_key")).unwrap();
    let verifier = NoteVerifier::from_text(str_field(&v, "verifier_key")).unwrap();
    let second = NoteVerifier::from_text(str_field(&v, "second_verifier_key")).unwrap();
    assert_eq!(signer.to_text(), str_field(&v, "signer_key"));
    assert_eq!(verifier.to_text(), str_field(&v, "verifier_key"));
    assert_eq!(second.to_text(), str_field(&v, "second_verifier_key"));
    assert_eq!(signer.verifier(), verifier);
    assert_eq!(
        (signer.name(), signer.key_id()),
        ("PeterNeumann", 0xc74f20a3)
    );
    assert_eq!((second.name(), second.key_id()), ("EnochRoot", 0xaf0cfe78));

    let bad = v["bad_verifier_keys"].as_array().unwrap();
    assert_eq!(bad.len(), 2);
    for key in bad {
        let key = key.as_str().unwrap();
        assert!(NoteVerifier::from_text(key).is_err(), "accepted {key}");
    }
}

#[test]
fn signed_note_sign_and_open_byte_for_byte() {
    let v = note_vectors();
    let signer = NoteSigner::from_text(str_field(&v, "signer_key")).unwrap();
    let verifier = NoteVerifier::from_text(str_field(&v, "verifier_key")).unwrap();
    let second = NoteVerifier::from_text(str_field(&v, "second_verifier_key")).unwrap();
    let text = str_field(&v, "text");
    let signed = str_field(&v, "signed");

    assert_eq!(sign_note(text, &[&signer]).unwrap(), signed);

    let note = open_note(signed, &[&verifier]).unwrap();
    assert_eq!(note.text, text);
    assert_eq!(note.verified, ["PeterNeumann"]);

    let two = str_field(&v, "two_signatures");
    let both = open_note(two, &[&verifier, &second]).unwrap();
    assert_eq!(both.text, text);
    assert_eq!(both.verified, ["PeterNeumann", "EnochRoot"]);
    assert_eq!(both.signatures.len(), 2);
    // With one known key the other signature is ignored, not an error.
    let one = open_note(two, &[&second]).unwrap();
    assert_eq!(one.verified, ["EnochRoot"]);
    assert_eq!(one.signatures.len(), 2);
    // With no known key the note is rejected.
    let stranger = NoteSigner::generate("PeterNeumann", &mut rand_core::OsRng).unwrap();
    assert!(matches!(
        open_note(two, &[&stranger.verifier()]),
        Err(NoteError::Unverified { .. })
    ));
}

#[test]
fn signed_note_tampering_is_rejected() {
    let v = note_vectors();
    let verifier = NoteVerifier::from_text(str_field(&v, "verifier_key")).unwrap();
    let signed = str_field(&v, "signed");

    let text_changed = signed.replacen("cryptography", "Cryptography", 1);
    assert!(matches!(
        open_note(&text_changed, &[&verifier]),
        Err(NoteError::InvalidSignature { .. })
    ));

    // Flip one bit of the signature (after the 4-byte key id) and re-encode.
    let (head, line) = signed.split_at(signed.rfind("\u{2014} ").unwrap());
    let encoded = line.trim_end().rsplit(' ').next().unwrap();
    let mut blob = B64.decode(encoded).unwrap();
    blob[10] ^= 1;
    let sig_changed = format!("{head}\u{2014} PeterNeumann {}\n", B64.encode(&blob));
    assert!(matches!(
        open_note(&sig_changed, &[&verifier]),
        Err(NoteError::InvalidSignature { .. })
    ));

    let blank_line_removed = signed.replacen("\n\n", "\n", 1);
    assert!(open_note(&blank_line_removed, &[&verifier]).is_err());
    let unterminated = signed.trim_end_matches('\n');
    assert!(open_note(unterminated, &[&verifier]).is_err());
}
