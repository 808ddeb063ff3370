//! Property tests of the transparency-log core against a plain reference: RFC 9162's recursive
//! definition of the Merkle Tree Hash and of the audit path, written here as directly as
//! possible and independently of the library's iterative code.

use ed25519_dalek::SigningKey;
use lodestone::log::tile::{hash_tiles_for_size, read_hash_tile};
use lodestone::log::{
    consistency_proof, empty_root, inclusion_proof, leaf_hash, node_hash,
    root_from_inclusion_proof, root_hash, verify_consistency, verify_inclusion, Checkpoint,
    Frontier, Hash, HashReader, MemoryHashes, NodeId, NoteSigner, TileHashes,
};
use proptest::prelude::*;

/// RFC 9162 §2.1.1: the largest power of two smaller than `n` (for n > 1).
fn split_point(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// RFC 9162 §2.1.1 `MTH(D[n])`, recursively.
fn reference_root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split_point(n);
            node_hash(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
        }
    }
}

/// RFC 9162 §2.1.3.1 `PATH(m, D[n])`, recursively.
fn reference_path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    let n = leaves.len();
    if n <= 1 {
        return Vec::new();
    }
    let k = split_point(n);
    if m < k {
        let mut path = reference_path(m, &leaves[..k]);
        path.push(reference_root(&leaves[k..]));
        path
    } else {
        let mut path = reference_path(m - k, &leaves[k..]);
        path.push(reference_root(&leaves[..k]));
        path
    }
}

/// The left/right turns of `PATH(m, D[n])`: true where the sibling is on the left.
fn path_shape(m: u64, n: u64) -> Vec<bool> {
    if n <= 1 {
        return Vec::new();
    }
    let k = split_point(n as usize) as u64;
    let (mut shape, left) = if m < k {
        (path_shape(m, k), false)
    } else {
        (path_shape(m - k, n - k), true)
    };
    shape.push(left);
    shape
}

/// RFC 9162 §2.1.4.1 `SUBPROOF(m, D[n], b)`, recursively.
fn reference_subproof(m: usize, leaves: &[Hash], b: bool) -> Vec<Hash> {
    let n = leaves.len();
    if m == n {
        return if b {
            Vec::new()
        } else {
            vec![reference_root(leaves)]
        };
    }
    let k = split_point(n);
    if m <= k {
        let mut proof = reference_subproof(m, &leaves[..k], b);
        proof.push(reference_root(&leaves[k..]));
        proof
    } else {
        let mut proof = reference_subproof(m - k, &leaves[k..], false);
        proof.push(reference_root(&leaves[..k]));
        proof
    }
}

fn leaves(n: u64, seed: u64) -> Vec<Hash> {
    (0..n)
        .map(|i| leaf_hash(&[seed.to_be_bytes(), i.to_be_bytes()].concat()))
        .collect()
}

fn flip(hash: &Hash, bit: usize) -> Hash {
    let mut out = *hash;
    out.0[bit / 8 % 32] ^= 1 << (bit % 8);
    out
}

/// A tree of `n` leaves, a size within it and a leaf within that size.
fn tree_size_index() -> impl Strategy<Value = (u64, u64, u64, u64)> {
    (1u64..300, any::<u64>()).prop_flat_map(|(n, seed)| {
        (1..=n).prop_flat_map(move |size| (Just(n), Just(size), 0..size, Just(seed)))
    })
}

/// A tree of `n` leaves and two sizes `size1 <= size2` within it.
fn tree_two_sizes() -> impl Strategy<Value = (u64, u64, u64, u64)> {
    (1u64..300, any::<u64>()).prop_flat_map(|(n, seed)| {
        (1..=n).prop_flat_map(move |size2| (Just(n), 1..=size2, Just(size2), Just(seed)))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn roots_and_inclusion_proofs_match_the_reference((n, size, index, seed) in tree_size_index()) {
        let all = leaves(n, seed);
        let tree = MemoryHashes::from_leaves(all.iter().copied());
        let prefix = &all[..size as usize];
        let root = reference_root(prefix);
        prop_assert_eq!(root_hash(size, &tree).unwrap(), root);

        let proof = inclusion_proof(index, size, &tree).unwrap();
        prop_assert_eq!(&proof, &reference_path(index as usize, prefix));
        prop_assert_eq!(verify_inclusion(&all[index as usize], index, size, &proof, &root), Ok(()));
    }

    #[test]
    fn tampered_inclusion_proofs_fail(
        (n, size, index, seed) in tree_size_index(),
        bit in 0usize..256,
        pick in any::<prop::sample::Index>(),
        other in any::<prop::sample::Index>(),
    ) {
        let all = leaves(n, seed);
        let tree = MemoryHashes::from_leaves(all.iter().copied());
        let leaf = all[index as usize];
        let root = root_hash(size, &tree).unwrap();
        let proof = inclusion_proof(index, size, &tree).unwrap();

        prop_assert!(verify_inclusion(&flip(&leaf, bit), index, size, &proof, &root).is_err());
        prop_assert!(verify_inclusion(&leaf, index, size, &proof, &flip(&root, bit)).is_err());
        if !proof.is_empty() {
            let mut bad = proof.clone();
            let j = pick.index(bad.len());
            bad[j] = flip(&bad[j], bit);
            prop_assert!(verify_inclusion(&leaf, index, size, &bad, &root).is_err());
            prop_assert!(verify_inclusion(&leaf, index, size, &proof[1..], &root).is_err());
        }
        let mut longer = proof.clone();
        longer.push(leaf);
        prop_assert!(verify_inclusion(&leaf, index, size, &longer, &root).is_err());

        // Another index of the same tree never verifies.
        let index2 = other.index(size as usize) as u64;
        if index2 != index {
            prop_assert!(verify_inclusion(&leaf, index2, size, &proof, &root).is_err());
        }
        // Another size verifies only if the path has exactly the same shape (the proof does not
        // bind the size; the signed checkpoint does).
        let size2 = 1 + other.index(n as usize) as u64;
        if size2 != size && index < size2 {
            let same_shape = path_shape(index, size2) == path_shape(index, size);
            prop_assert_eq!(
                verify_inclusion(&leaf, index, size2, &proof, &root).is_ok(),
                same_shape
            );
        }
        prop_assert!(root_from_inclusion_proof(&leaf, size, size, &proof).is_err());
    }

    #[test]
    fn consistency_proofs_match_the_reference((n, size1, size2, seed) in tree_two_sizes()) {
        let all = leaves(n, seed);
        let tree = MemoryHashes::from_leaves(all.iter().copied());
        let root1 = reference_root(&all[..size1 as usize]);
        let root2 = reference_root(&all[..size2 as usize]);
        let proof = consistency_proof(size1, size2, &tree).unwrap();
        let expected = if size1 == size2 {
            Vec::new()
        } else {
            reference_subproof(size1 as usize, &all[..size2 as usize], true)
        };
        prop_assert_eq!(&proof, &expected);
        prop_assert_eq!(verify_consistency(size1, size2, &proof, &root1, &root2), Ok(()));
    }

    #[test]
    fn tampered_consistency_proofs_fail(
        (n, size1, size2, seed) in tree_two_sizes(),
        bit in 0usize..256,
        pick in any::<prop::sample::Index>(),
    ) {
        let all = leaves(n, seed);
        let tree = MemoryHashes::from_leaves(all.iter().copied());
        let root1 = root_hash(size1, &tree).unwrap();
        let root2 = root_hash(size2, &tree).unwrap();
        let proof = consistency_proof(size1, size2, &tree).unwrap();

        prop_assert!(verify_consistency(size1, size2, &proof, &flip(&root1, bit), &root2).is_err());
        prop_assert!(verify_consistency(size1, size2, &proof, &root1, &flip(&root2, bit)).is_err());
        if !proof.is_empty() {
            let mut bad = proof.clone();
            let j = pick.index(bad.len());
            bad[j] = flip(&bad[j], bit);
            prop_assert!(verify_consistency(size1, size2, &bad, &root1, &root2).is_err());
            prop_assert!(verify_consistency(size1, size2, &proof[1..], &root1, &root2).is_err());
        }
        let mut longer = proof.clone();
        longer.push(root1);
        prop_assert!(verify_consistency(size1, size2, &longer, &root1, &root2).is_err());
        if size1 != size2 {
            // The roots swapped, or the sizes: a log can never go backwards.
            prop_assert!(verify_consistency(size1, size2, &proof, &root2, &root1).is_err());
            prop_assert!(verify_consistency(size2, size1, &proof, &root2, &root1).is_err());
        }
        prop_assert!(verify_consistency(0, size2, &[], &empty_root(), &root2).is_err());
    }

    #[test]
    fn frontier_matches_the_store(n in 0u64..300, seed in any::<u64>()) {
        let all = leaves(n, seed);
        let mut tree = MemoryHashes::new();
        let mut frontier = Frontier::new();
        let mut new_nodes = Vec::new();
        for (i, leaf) in all.iter().enumerate() {
            new_nodes.clear();
            frontier.append(*leaf, &mut new_nodes);
            tree.push_leaf(*leaf);
            let size = i as u64 + 1;
            prop_assert_eq!(frontier.size(), size);
            prop_assert_eq!(frontier.root(), root_hash(size, &tree).unwrap());
            prop_assert_eq!(&Frontier::from_reader(size, &tree).unwrap(), &frontier);
            // Exactly the perfect nodes the new leaf completes: the leaf and one per trailing
            // one bit of the old size.
            prop_assert_eq!(new_nodes.len() as u32, 1 + (size - 1).trailing_ones());
            for (id, hash) in &new_nodes {
                prop_assert_eq!(tree.node(*id), Some(*hash));
                prop_assert!(id.exists_in(size) && !id.exists_in(size - 1));
            }
        }
        prop_assert_eq!(frontier.root(), reference_root(&all));
        prop_assert_eq!(frontier.peaks().len() as u32, n.count_ones());
        let json = serde_json::to_string(&frontier).unwrap();
        prop_assert_eq!(serde_json::from_str::<Frontier>(&json).unwrap(), frontier);
    }

    #[test]
    fn checkpoints_of_one_log_are_consistent(
        (n, size1, size2, seed) in tree_two_sizes(),
        key in any::<[u8; 32]>(),
    ) {
        let signer = NoteSigner::new("example.com/log", SigningKey::from_bytes(&key)).unwrap();
        let verifier = signer.verifier();
        let tree = MemoryHashes::from_leaves(leaves(n, seed));
        let sign = |size| {
            let checkpoint = Checkpoint::new("example.com/log", size, root_hash(size, &tree).unwrap())
                .unwrap();
            (checkpoint.sign(&signer), checkpoint)
        };
        let (note1, cp1) = sign(size1);
        let (note2, cp2) = sign(size2);
        let old = Checkpoint::open(&note1, &verifier).unwrap();
        let new = Checkpoint::open(&note2, &verifier).unwrap();
        prop_assert_eq!(&old, &cp1);
        prop_assert_eq!(&new, &cp2);
        let proof = consistency_proof(old.size, new.size, &tree).unwrap();
        prop_assert_eq!(verify_consistency(old.size, new.size, &proof, &old.root, &new.root), Ok(()));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn tile_hashes_reproduce_roots_and_proofs(
        n in 1u64..2_000,
        seed in any::<u64>(),
        a in any::<prop::sample::Index>(),
        b in any::<prop::sample::Index>(),
    ) {
        let tree = MemoryHashes::from_leaves(leaves(n, seed));
        let fetched: Vec<_> = hash_tiles_for_size(n)
            .into_iter()
            .map(|tile| (tile, read_hash_tile(tile, n, &tree).unwrap()))
            .collect();
        let tiles = TileHashes::from_tiles(fetched.iter().map(|(t, bytes)| (*t, bytes.as_slice()))).unwrap();

        let size = 1 + a.index(n as usize) as u64;
        let index = b.index(size as usize) as u64;
        prop_assert_eq!(root_hash(n, &tiles).unwrap(), root_hash(n, &tree).unwrap());
        prop_assert_eq!(root_hash(size, &tiles).unwrap(), root_hash(size, &tree).unwrap());
        prop_assert_eq!(
            inclusion_proof(index, size, &tiles).unwrap(),
            inclusion_proof(index, size, &tree).unwrap()
        );
        prop_assert_eq!(
            consistency_proof(size, n, &tiles).unwrap(),
            consistency_proof(size, n, &tree).unwrap()
        );
        // Every perfect node of the tree can be read from the tiles.
        for level in 0..=n.ilog2() as u8 {
            let ids: Vec<NodeId> = (0..n >> level).map(|i| NodeId::new(level, i)).collect();
            prop_assert_eq!(tiles.read_hashes(&ids).unwrap(), tree.read_hashes(&ids).unwrap());
        }
    }
}
