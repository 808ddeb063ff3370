//! Verifying RFC 9162 inclusion (§2.1.3.2) and consistency (§2.1.4.2) proofs.
//!
//! Needs nothing but the proof and the claimed roots. Before running the RFC's algorithms the
//! proof length is checked against the exact length the two sizes imply, so that padded,
//! truncated or reordered proofs fail with a precise error. The edge cases follow the
//! transparency-dev/merkle test vectors (`fixtures/vectors/rfc6962/`): in particular a
//! consistency proof from the empty tree (`size1 == 0`) is rejected, even between two empty
//! trees, because it proves nothing; a caller whose previous tree was empty has nothing to check.

use crate::log::hash::{node_hash, Hash};

/// Why a proof did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// A leaf index not below the tree size.
    #[error("leaf index {index} is out of range for a tree of size {size}")]
    IndexOutOfRange {
        /// The claimed leaf index.
        index: u64,
        /// The claimed tree size.
        size: u64,
    },
    /// The proof does not have the length the index and size(s) imply.
    #[error("proof has {got} hashes, expected {expected}")]
    WrongProofLength {
        /// The length RFC 9162 implies.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// The inclusion proof leads to a different root.
    #[error("inclusion proof leads to root {computed}, expected {expected}")]
    RootMismatch {
        /// The root the proof should reach.
        expected: Hash,
        /// The root it reaches.
        computed: Hash,
    },
    /// A consistency proof from a larger tree to a smaller one.
    #[error("tree size {size2} is smaller than the earlier size {size1}")]
    SizeOrder {
        /// The first (older) size.
        size1: u64,
        /// The second (newer) size.
        size2: u64,
    },
    /// A consistency proof from the empty tree, which proves nothing.
    #[error("consistency with the empty tree is meaningless (size2 = {size2})")]
    EmptyFirstTree {
        /// The second size.
        size2: u64,
    },
    /// The consistency proof does not reproduce the first tree's root.
    #[error("consistency proof leads to first root {computed}, expected {expected}")]
    FirstRootMismatch {
        /// The first root given.
        expected: Hash,
        /// The first root the proof reaches.
        computed: Hash,
    },
    /// The consistency proof does not reproduce the second tree's root (or, for equal sizes,
    /// the two roots differ).
    #[error("consistency proof leads to second root {computed}, expected {expected}")]
    SecondRootMismatch {
        /// The second root given.
        expected: Hash,
        /// The second root the proof reaches.
        computed: Hash,
    },
}

/// The two parts of the path from leaf `index` to the root of a tree of `size` leaves (as in
/// [`super::proof`]): `inner` siblings below the right border, and `border` left siblings on it.
fn path_shape(index: u64, size: u64) -> (u32, u32) {
    let inner = u64::BITS - (index ^ (size - 1)).leading_zeros();
    let border = (index >> inner).count_ones();
    (inner, border)
}

/// Right-shifts `fn_` and `sn` together until the low bit of `fn_` is set or `fn_` is 0.
fn skip_right_border(fn_: &mut u64, sn: &mut u64) {
    while *fn_ & 1 == 0 && *fn_ != 0 {
        *fn_ >>= 1;
        *sn >>= 1;
    }
}

/// RFC 9162 §2.1.3.2: the root that `proof` yields for `leaf` at `index` in a tree of `size`.
pub fn root_from_inclusion_proof(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
) -> Result<Hash, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let (inner, border) = path_shape(index, size);
    let expected = (inner + border) as usize;
    if proof.len() != expected {
        return Err(ProofError::WrongProofLength {
            expected,
            got: proof.len(),
        });
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        // RFC steps 4a and 5 (`sn` must hit 0 exactly at the end) cannot fail once the length
        // matches, but are kept as the RFC states them.
        if sn == 0 {
            return Err(ProofError::WrongProofLength {
                expected,
                got: proof.len(),
            });
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                skip_right_border(&mut fn_, &mut sn);
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::WrongProofLength {
            expected,
            got: proof.len(),
        });
    }
    Ok(r)
}

/// RFC 9162 §2.1.3.2: checks that `proof` proves `leaf` is at `index` in the tree of `size`
/// leaves whose root is `root`.
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    let computed = root_from_inclusion_proof(leaf, index, size, proof)?;
    if computed != *root {
        return Err(ProofError::RootMismatch {
            expected: *root,
            computed,
        });
    }
    Ok(())
}

/// RFC 9162 §2.1.4.2: checks that the tree of `size2` leaves with root `root2` extends the tree
/// of `size1` leaves with root `root1`.
///
/// Equal sizes need an empty proof and equal roots. `size1 == 0` is rejected (see the module
/// doc).
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    proof: &[Hash],
    root1: &Hash,
    root2: &Hash,
) -> Result<(), ProofError> {
    if size2 < size1 {
        return Err(ProofError::SizeOrder { size1, size2 });
    }
    if size1 == 0 {
        return Err(ProofError::EmptyFirstTree { size2 });
    }
    if size1 == size2 {
        if !proof.is_empty() {
            return Err(ProofError::WrongProofLength {
                expected: 0,
                got: proof.len(),
            });
        }
        if root1 != root2 {
            return Err(ProofError::SecondRootMismatch {
                expected: *root2,
                computed: *root1,
            });
        }
        return Ok(());
    }

    // Shape: an optional seed (the last perfect subtree of the first tree, omitted when that is
    // the whole first tree) and the seed's path up to the second root.
    let shift = size1.trailing_zeros();
    let (inner, border) = path_shape(size1 - 1, size2);
    let seeded = !size1.is_power_of_two();
    let expected = usize::from(seeded) + (inner - shift + border) as usize;
    if proof.len() != expected {
        return Err(ProofError::WrongProofLength {
            expected,
            got: proof.len(),
        });
    }

    // RFC 9162 §2.1.4.2 steps 2-7. Step 2: for a power-of-two first tree, the seed is root1.
    let (seed, rest) = if seeded {
        (proof[0], &proof[1..])
    } else {
        (*root1, proof)
    };
    let (mut fn_, mut sn) = (size1 - 1, size2 - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (seed, seed);
    for c in rest {
        if sn == 0 {
            return Err(ProofError::WrongProofLength {
                expected,
                got: proof.len(),
            });
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                skip_right_border(&mut fn_, &mut sn);
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::WrongProofLength {
            expected,
            got: proof.len(),
        });
    }
    if fr != *root1 {
        return Err(ProofError::FirstRootMismatch {
            expected: *root1,
            computed: fr,
        });
    }
    if sr != *root2 {
        return Err(ProofError::SecondRootMismatch {
            expected: *root2,
            computed: sr,
        });
    }
    Ok(())
}
