//! Inclusion and consistency proofs from stored hashes (RFC 9162 §2.1.3.1 and §2.1.4.1).
//!
//! Each prover walks the RFC recursion top-down without reading anything, noting which leaf
//! ranges' hashes the proof needs; then it reads the stored hashes of all of them in one
//! [`HashReader::read_hashes`] call and folds them into the proof (Go tlog's `ProveRecord` and
//! `ProveTree`, which collect indexes the same way). The walk is a loop over a fixed array
//! rather than recursion: the tree is at most 63 levels deep.

use super::stored::{check_size, push_subtree_indexes, split_point, subtree_hash};
use super::{HashReader, MerkleError, read_exact};
use crate::hash::Hash;

/// Leaf ranges `[lo, hi)` whose hashes form a proof, in proof order. At most 63 siblings plus
/// one final subtree, since a tree of at most 2^63 leaves is at most 63 levels deep.
struct Ranges {
    ranges: [(u64, u64); 64],
    len: usize,
}

impl Ranges {
    fn new() -> Self {
        Ranges {
            ranges: [(0, 0); 64],
            len: 0,
        }
    }

    fn push(&mut self, lo: u64, hi: u64) {
        self.ranges[self.len] = (lo, hi);
        self.len += 1;
    }

    fn as_slice(&self) -> &[(u64, u64)] {
        &self.ranges[..self.len]
    }

    /// Reads the hashes of all ranges, in `order`, in one call and returns one hash per range.
    fn hashes<'a>(
        &self,
        order: impl Iterator<Item = &'a (u64, u64)> + Clone,
        r: &(impl HashReader + ?Sized),
    ) -> Result<Vec<Hash>, MerkleError> {
        let mut need = Vec::with_capacity(2 * self.len + 2);
        for &(lo, hi) in order.clone() {
            push_subtree_indexes(lo, hi, &mut need);
        }
        let hashes = read_exact(r, &need)?;
        let mut rest = hashes.as_slice();
        let mut proof = Vec::with_capacity(self.len + 1);
        for &(lo, hi) in order {
            proof.push(subtree_hash(lo, hi, &mut rest)?);
        }
        Ok(proof)
    }
}

/// The inclusion proof `PATH(index, D[tree_size])` of RFC 9162 §2.1.3.1 for leaf `index` in the
/// tree of the first `tree_size` leaves: the sibling subtree hashes from the leaf up to the
/// root, so the leaf's own hash is not included.
///
/// Fails with [`MerkleError::IndexOutOfRange`] unless `index < tree_size` (so always for the
/// empty tree), and with [`MerkleError::Storage`] if the reader fails.
pub fn prove_inclusion(
    index: u64,
    tree_size: u64,
    r: &(impl HashReader + ?Sized),
) -> Result<Vec<Hash>, MerkleError> {
    if index >= tree_size {
        return Err(MerkleError::IndexOutOfRange { index, tree_size });
    }
    check_size(tree_size)?;
    // Walk down from the root: at each split the proof needs the side not containing `index`.
    let mut siblings = Ranges::new();
    let (mut lo, mut hi) = (0, tree_size);
    while hi - lo > 1 {
        let mid = lo + split_point(hi - lo);
        if index < mid {
            siblings.push(mid, hi);
            hi = mid;
        } else {
            siblings.push(lo, mid);
            lo = mid;
        }
    }
    // The RFC's PATH lists the deepest sibling first (`PATH(m, D[0:k]) : MTH(D[k:n])`).
    siblings.hashes(siblings.as_slice().iter().rev(), r)
}

/// The consistency proof `PROOF(old_size, D[new_size])` of RFC 9162 §2.1.4.1 that the tree of
/// the first `old_size` leaves is a prefix of the tree of the first `new_size` leaves.
///
/// For `old_size == new_size` the proof is empty (the roots must simply be equal) and nothing
/// is read. Fails with [`MerkleError::BadSizes`] unless `0 < old_size <= new_size` (RFC 9162
/// defines no proof from the empty tree), and with [`MerkleError::Storage`] if the reader fails.
pub fn prove_consistency(
    old_size: u64,
    new_size: u64,
    r: &(impl HashReader + ?Sized),
) -> Result<Vec<Hash>, MerkleError> {
    if old_size == 0 || old_size > new_size {
        return Err(MerkleError::BadSizes { old_size, new_size });
    }
    check_size(new_size)?;
    if old_size == new_size {
        return Ok(Vec::new());
    }
    // Walk SUBPROOF(m, D[lo:hi], b) down from the root; `b` (is this subtree the whole old
    // tree as far as the verifier knows?) is true exactly while we only went left, i.e. lo == 0.
    let mut siblings = Ranges::new();
    let (mut lo, mut hi) = (0, new_size);
    let m = old_size;
    let last = loop {
        if m == hi {
            // SUBPROOF(m, D[m], false) = {MTH(D[m])}; with b true the verifier has that hash.
            break (lo != 0).then_some((lo, hi));
        }
        // Here lo < m < hi, so the range has at least two leaves to split.
        let mid = lo + split_point(hi - lo);
        if m <= mid {
            siblings.push(mid, hi);
            hi = mid;
        } else {
            siblings.push(lo, mid);
            lo = mid;
        }
    };
    // Proof order: the innermost subproof's hash first, then the siblings from the deepest up.
    siblings.hashes(last.iter().chain(siblings.as_slice().iter().rev()), r)
}
