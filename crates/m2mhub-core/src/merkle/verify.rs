//! Proof verification, the bit-walking algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2.
//!
//! These deliberately share nothing with the provers but the node hash: they follow the RFC's
//! steps on the binary expansions of the indexes (`fn`, `sn` in the RFC, `f_n`, `s_n` here)
//! rather than recursing over leaf ranges, so a wrong split in one would not hide a wrong
//! split in the other. Neither allocates.

use super::{MerkleError, node_hash};
use crate::hash::Hash;

/// Right-shifts `f_n` and `s_n` together until `f_n` is odd or zero: skips the levels where
/// the node is the right edge of the tree and has no sibling (RFC 9162 §2.1.3.2 step 4.b.ii).
fn skip_lone_levels(f_n: &mut u64, s_n: &mut u64) {
    while *f_n & 1 == 0 && *f_n != 0 {
        *f_n >>= 1;
        *s_n >>= 1;
    }
}

/// Checks that `path` proves `leaf` (a [`super::leaf_hash`]) is the leaf at `index` in the tree
/// of `tree_size` leaves whose root is `root`: the RFC 9162 §2.1.3.2 verification algorithm,
/// implemented independently of the prover.
///
/// Fails with [`MerkleError::IndexOutOfRange`] unless `index < tree_size`, with
/// [`MerkleError::ProofLength`] if `path` has too many or too few hashes for that index and
/// size, and with [`MerkleError::ProofMismatch`] if it does not lead to `root`.
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    tree_size: u64,
    path: &[Hash],
    root: &Hash,
) -> Result<(), MerkleError> {
    // Step 1.
    if index >= tree_size {
        return Err(MerkleError::IndexOutOfRange { index, tree_size });
    }
    // Steps 2 and 3: `f_n` walks the node's index up the tree, `s_n` the last node's index.
    let mut f_n = index;
    let mut s_n = tree_size - 1;
    let mut r = *leaf;
    // Step 4.
    for p in path {
        // 4.a: past the root with hashes left over.
        if s_n == 0 {
            return Err(MerkleError::ProofLength);
        }
        // 4.b: a right child, or the last node of its level (then its sibling is to the left
        // once the lone levels above it are skipped).
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            skip_lone_levels(&mut f_n, &mut s_n);
        } else {
            r = node_hash(&r, p);
        }
        // 4.c.
        f_n >>= 1;
        s_n >>= 1;
    }
    // Step 5: the walk must end at the root, and there match it.
    if s_n != 0 {
        return Err(MerkleError::ProofLength);
    }
    if r != *root {
        return Err(MerkleError::ProofMismatch);
    }
    Ok(())
}

/// Checks that `path` proves the tree of `old_size` leaves with root `old_root` is a prefix of
/// the tree of `new_size` leaves with root `new_root`: the RFC 9162 §2.1.4.2 verification
/// algorithm, implemented independently of the prover.
///
/// RFC 9162 requires `0 < old_size`, so `old_size == 0` (or `old_size > new_size`) fails with
/// [`MerkleError::BadSizes`]. For `old_size == new_size` only the empty path is valid, and only
/// if the roots are equal. Otherwise fails with [`MerkleError::ProofLength`] if `path` has the
/// wrong number of hashes for the sizes, and with [`MerkleError::ProofMismatch`] if it does not
/// lead to both roots.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    path: &[Hash],
) -> Result<(), MerkleError> {
    if old_size == 0 || old_size > new_size {
        return Err(MerkleError::BadSizes { old_size, new_size });
    }
    if old_size == new_size {
        if !path.is_empty() {
            return Err(MerkleError::ProofLength);
        }
        return if old_root == new_root {
            Ok(())
        } else {
            Err(MerkleError::ProofMismatch)
        };
    }
    // From here 0 < old_size < new_size, as the RFC's algorithm assumes.
    // Step 1.
    let Some((first, rest)) = path.split_first() else {
        return Err(MerkleError::ProofLength);
    };
    // Step 2: when the old tree is a complete subtree the proof omits its hash (the verifier
    // has it); prepending it is the same as starting from it, without copying the path.
    let (start, rest) = if old_size.is_power_of_two() {
        (old_root, path)
    } else {
        (first, rest)
    };
    // Step 3.
    let mut f_n = old_size - 1;
    let mut s_n = new_size - 1;
    // Step 4: climb to the highest node whose subtree ends with the old tree's last leaf; the
    // first path hash (or the old root) is that node's hash.
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    // Step 5: `fr` rebuilds the old root, `sr` the new one.
    let mut fr = *start;
    let mut sr = *start;
    // Step 6.
    for c in rest {
        // 6.a.
        if s_n == 0 {
            return Err(MerkleError::ProofLength);
        }
        // 6.b: a left sibling is part of both trees; a right sibling only of the new one.
        if f_n & 1 == 1 || f_n == s_n {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            skip_lone_levels(&mut f_n, &mut s_n);
        } else {
            sr = node_hash(&sr, c);
        }
        // 6.c.
        f_n >>= 1;
        s_n >>= 1;
    }
    // Step 7.
    if s_n != 0 {
        return Err(MerkleError::ProofLength);
    }
    if fr != *old_root || sr != *new_root {
        return Err(MerkleError::ProofMismatch);
    }
    Ok(())
}
