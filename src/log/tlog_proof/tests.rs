use super::*;
use crate::log::checkpoint::Checkpoint;
use crate::log::cosignature::CosignatureSigner;
use crate::log::hash::leaf_hash;
use crate::log::note::NoteSigner;
use crate::log::tree::{inclusion_proof, root_hash, MemoryHashes};
use ed25519_dalek::SigningKey;

const EXAMPLE: &str = include_str!("../../../fixtures/vectors/c2sp/tlog-proof-example.txt");

#[test]
fn the_spec_example_parses_and_prints_back() {
    let proof = TlogProof::parse(EXAMPLE).unwrap();
    assert_eq!(proof.index, 73894);
    assert_eq!(proof.proof.len(), 5);
    assert_eq!(
        proof.proof[0].to_base64(),
        "gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ="
    );
    assert!(proof
        .extra
        .as_ref()
        .is_some_and(|e| e.starts_with(b"age-v1.2.1-darwin-arm64.tar.gz")));
    assert!(proof
        .checkpoint
        .starts_with("example.com/fancylog\n109482\n"));
    assert_eq!(proof.to_text(), EXAMPLE);
}

#[test]
fn a_proof_from_our_tree_verifies_with_a_quorum() {
    let log = NoteSigner::new("test.example/log", SigningKey::from_bytes(&[1; 32])).unwrap();
    let w1 = CosignatureSigner::new("w1.example", SigningKey::from_bytes(&[2; 32])).unwrap();
    let w2 = CosignatureSigner::new("w2.example", SigningKey::from_bytes(&[3; 32])).unwrap();
    let policy = Policy::parse(&format!(
        "log {}\nwitness w1 {}\nwitness w2 {}\ngroup both all w1 w2\nquorum both\n",
        log.verifier(),
        w1.verifier(),
        w2.verifier()
    ))
    .unwrap();
    let leaves: Vec<Vec<u8>> = (0..13u8).map(|i| vec![i; 5]).collect();
    let tree = MemoryHashes::from_leaves(leaves.iter().map(|l| leaf_hash(l)));
    let cp = Checkpoint::new("test.example/log", 13, root_hash(13, &tree).unwrap()).unwrap();
    let mut note = cp.sign(&log);
    note.push_str(&w1.cosign(&cp.to_text(), 100).unwrap().to_line());
    let proof = TlogProof {
        extra: Some(leaves[6].clone()),
        index: 6,
        proof: inclusion_proof(6, 13, &tree).unwrap(),
        checkpoint: note.clone(),
    };
    let parsed = TlogProof::parse(&proof.to_text()).unwrap();
    assert_eq!(parsed, proof);
    // One of two witnesses: no quorum, and the error says which one is missing.
    match parsed.verify(&leaf_hash(&leaves[6]), &policy, None) {
        Err(TlogProofError::Checkpoint(PolicyCheckError::NoQuorum { missing, .. })) => {
            assert_eq!(missing, ["w2"])
        }
        other => panic!("{other:?}"),
    }
    let mut both = proof.clone();
    both.checkpoint
        .push_str(&w2.cosign(&cp.to_text(), 101).unwrap().to_line());
    let ok = both.verify(&leaf_hash(&leaves[6]), &policy, None).unwrap();
    assert_eq!(ok.cosigned.len(), 2);
    // Another leaf, another index: refused.
    assert!(matches!(
        both.verify(&leaf_hash(&leaves[7]), &policy, None),
        Err(TlogProofError::Inclusion(_))
    ));
}

#[test]
fn malformed_proofs_are_refused() {
    let cp = "o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n— o AAAAAAA=\n";
    for bad in [
        format!("c2sp.org/tlog-proof@v2\nindex 0\n\n{cp}"),
        format!("c2sp.org/tlog-proof@v1\nindex 01\n\n{cp}"),
        format!("c2sp.org/tlog-proof@v1\nindex -1\n\n{cp}"),
        format!("c2sp.org/tlog-proof@v1\nextra !!\nindex 0\n\n{cp}"),
        format!("c2sp.org/tlog-proof@v1\nindex 0\nAAAA\n\n{cp}"),
        "c2sp.org/tlog-proof@v1\nindex 0\n\n".to_owned(),
        format!("c2sp.org/tlog-proof@v1\nindex 0\n{cp}"),
        format!(
            "c2sp.org/tlog-proof@v1\nindex 0\n{}\n{cp}",
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n".repeat(64)
        ),
    ] {
        assert!(TlogProof::parse(&bad).is_err(), "{bad:?}");
    }
}
