//! Stored-hash layout (Go tlog's `StoredHashIndex`), the right-edge [`Frontier`] and tree heads.

use std::fmt;

use super::{HashReader, MerkleError, empty_root, node_hash, read_exact};
use crate::hash::Hash;

/// The largest tree size supported: 2^63 leaves.
///
/// A tree of `n` leaves has `2n - popcount(n)` stored hashes, which fits in a `u64` exactly up
/// to `n = 2^63`; past it stored hash indexes would wrap.
pub const MAX_TREE_SIZE: u64 = 1 << 63;

/// The stored-hash index of the complete subtree at `level` whose leftmost leaf is
/// `n << level` (leaves are level 0, `n` counts subtrees of that level from the left).
///
/// Hashes are stored in the order appends produce them (Go tlog's `StoredHashIndex`): leaf `m`
/// is followed by the hashes of the subtrees it completes, lowest level first. So the node
/// `(level, n)` is stored `level` slots after its last leaf `m = (n + 1) * 2^level - 1`, and
/// leaf `m` itself sits after everything stored for leaves `0..m`, which Go counts as
/// `m + m/2 + m/4 + ...`; that sum is `2m - popcount(m)`, computed here without the loops.
///
/// Defined for nodes of trees of at most [`MAX_TREE_SIZE`] leaves (`level < 64` and
/// `(n + 1) << level <= 2^63`); other inputs give a meaningless value, without panicking.
pub fn stored_hash_index(level: u32, n: u64) -> u64 {
    let last_leaf = n.wrapping_add(1).wrapping_shl(level).wrapping_sub(1);
    last_leaf
        .wrapping_mul(2)
        .wrapping_sub(u64::from(last_leaf.count_ones()))
        .wrapping_add(u64::from(level))
}

/// The number of stored hashes of a tree of `tree_size` leaves (Go tlog's `StoredHashCount`):
/// one per complete subtree, `2n - popcount(n)`.
///
/// Exact for `tree_size <= MAX_TREE_SIZE` (at `2^63` the count is `u64::MAX`, computed with
/// wrapping arithmetic whose result is exact whenever the true value fits).
pub fn stored_hash_count(tree_size: u64) -> u64 {
    tree_size
        .wrapping_mul(2)
        .wrapping_sub(u64::from(tree_size.count_ones()))
}

/// Fails with [`MerkleError::BadSizes`] for a tree size past [`MAX_TREE_SIZE`].
pub(super) fn check_size(tree_size: u64) -> Result<(), MerkleError> {
    if tree_size > MAX_TREE_SIZE {
        return Err(MerkleError::BadSizes {
            old_size: tree_size,
            new_size: tree_size,
        });
    }
    Ok(())
}

/// The largest power of two strictly below `n`, for `n >= 2`: where RFC 9162 §2.1.1 splits
/// `D[n]` into `D[0:k]` and `D[k:n]` (Go tlog's `maxpow2`).
pub(super) fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (n - 1).ilog2()
}

/// Appends the stored indexes of the complete subtrees that make up leaves `[lo, hi)`, largest
/// (leftmost) first (Go tlog's `subTreeIndex`).
///
/// Callers only pass ranges the RFC recursion produces: `lo` is 0 or a multiple of a power of
/// two at least `hi - lo`, so greedily taking the largest power of two that fits always yields
/// aligned, complete subtrees, `popcount(hi - lo)` of them.
pub(super) fn push_subtree_indexes(mut lo: u64, hi: u64, need: &mut Vec<u64>) {
    while lo < hi {
        let level = (hi - lo).ilog2();
        debug_assert!(lo.trailing_zeros() >= level, "unaligned subtree range");
        need.push(stored_hash_index(level, lo >> level));
        lo += 1 << level;
    }
}

/// The hash of leaves `[lo, hi)` (`lo < hi`) from the hashes of its complete subtrees, taken off
/// the front of `hashes` in [`push_subtree_indexes`] order (Go tlog's `subTreeHash`).
///
/// The RFC splits off the largest power of two on the left at every step, so the subtrees nest
/// to the right: folding from the rightmost (smallest) one leftwards rebuilds `MTH(D[lo:hi])`.
pub(super) fn subtree_hash(lo: u64, hi: u64, hashes: &mut &[Hash]) -> Result<Hash, MerkleError> {
    let count = (hi - lo).count_ones() as usize;
    let (mine, rest) = hashes
        .split_at_checked(count)
        .ok_or_else(|| MerkleError::Storage("too few stored hashes for a subtree".into()))?;
    *hashes = rest;
    let mut subtrees = mine.iter().rev();
    let mut hash = *subtrees
        .next()
        .ok_or_else(|| MerkleError::Storage("empty subtree range".into()))?;
    for left in subtrees {
        hash = node_hash(left, &hash);
    }
    Ok(hash)
}

/// The Merkle tree hash `MTH(D[tree_size])` (RFC 9162 §2.1.1) of the first `tree_size` leaves,
/// from their stored hashes in one read of at most `1 + log2(tree_size)` hashes (Go tlog's
/// `TreeHash`). The empty tree's hash is [`empty_root`].
pub fn tree_hash(tree_size: u64, r: &(impl HashReader + ?Sized)) -> Result<Hash, MerkleError> {
    check_size(tree_size)?;
    if tree_size == 0 {
        return Ok(empty_root());
    }
    let mut need = Vec::with_capacity(tree_size.count_ones() as usize);
    push_subtree_indexes(0, tree_size, &mut need);
    let hashes = read_exact(r, &need)?;
    subtree_hash(0, tree_size, &mut hashes.as_slice())
}

/// The right edge of the tree (compact range): lets the sequencer append without reads.
///
/// For a tree of `size` leaves it holds, for every set bit `l` of `size`, the hash of the
/// complete subtree of `2^l` leaves that bit stands for; together they are the whole tree.
/// Appending merges equal-sized subtrees like binary addition carries, which is exactly the
/// set of new complete subtrees the store must record.
#[derive(Clone, PartialEq, Eq)]
pub struct Frontier {
    /// Number of leaves.
    size: u64,
    /// `nodes[l]` is the subtree hash for bit `l` of `size`; slots of clear bits stay all-zero
    /// so that two frontiers of the same tree compare equal however they were built. A fixed
    /// array (2 KiB) rather than a `Vec` keeps [`Frontier::push`] free of allocation.
    nodes: [Hash; 64],
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Self {
        Frontier {
            size: 0,
            nodes: [[0; 32]; 64],
        }
    }

    /// Rebuilds the frontier of the first `tree_size` leaves from their stored hashes, in one
    /// read of `popcount(tree_size)` hashes (the same ones [`tree_hash`] reads).
    pub fn load(tree_size: u64, r: &(impl HashReader + ?Sized)) -> Result<Self, MerkleError> {
        check_size(tree_size)?;
        let mut need = Vec::with_capacity(tree_size.count_ones() as usize);
        push_subtree_indexes(0, tree_size, &mut need);
        let hashes = read_exact(r, &need)?;
        let mut frontier = Frontier::new();
        frontier.size = tree_size;
        // The subtrees come largest first, i.e. from the highest set bit of the size down.
        let mut bits = tree_size;
        for hash in hashes {
            let level = bits.ilog2();
            frontier.nodes[level as usize] = hash;
            bits ^= 1 << level;
        }
        Ok(frontier)
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The Merkle tree hash of the tree (RFC 9162 §2.1.1); [`empty_root`] for size 0.
    pub fn root(&self) -> Hash {
        if self.size == 0 {
            return empty_root();
        }
        // Fold from the smallest subtree (rightmost, lowest set bit) leftwards, as in
        // `subtree_hash`.
        let mut bits = self.size;
        let mut hash = self.nodes[bits.trailing_zeros() as usize];
        bits &= bits - 1;
        while bits != 0 {
            hash = node_hash(&self.nodes[bits.trailing_zeros() as usize], &hash);
            bits &= bits - 1;
        }
        hash
    }

    /// Appends a leaf hash; pushes onto `out` the new stored hashes, in stored-index order
    /// (they get indexes `stored_hash_count(old_size) .. stored_hash_count(old_size + 1)`):
    /// the leaf hash, then one hash per subtree the leaf completes (Go tlog's `StoredHashes`,
    /// with the sibling hashes taken from the frontier instead of read back).
    ///
    /// Makes `1 + trailing_ones(old_size)` node hashes at most and allocates nothing beyond
    /// what `out` needs to grow.
    ///
    /// # Panics
    ///
    /// If the tree already holds [`MAX_TREE_SIZE`] leaves (2^63, unreachable in practice).
    pub fn push(&mut self, leaf: Hash, out: &mut Vec<Hash>) {
        assert!(self.size < MAX_TREE_SIZE, "merkle tree is full");
        out.push(leaf);
        let mut hash = leaf;
        let mut level = 0;
        // Each trailing one bit of the old size is a complete subtree of the same size as the
        // one ending at the new leaf: they merge into a subtree one level up.
        while (self.size >> level) & 1 == 1 {
            hash = node_hash(&self.nodes[level], &hash);
            self.nodes[level] = [0; 32];
            out.push(hash);
            level += 1;
        }
        self.nodes[level] = hash;
        self.size += 1;
    }
}

impl Default for Frontier {
    fn default() -> Self {
        Frontier::new()
    }
}

/// Shows the size and only the live subtree hashes (level: hex), not 64 arrays of bytes.
impl fmt::Debug for Frontier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Frontier {{ size: {}, nodes: {{", self.size)?;
        let mut sep = "";
        for level in (0..64).rev().filter(|&l| (self.size >> l) & 1 == 1) {
            write!(f, "{sep}{level}: ")?;
            self.nodes[level]
                .iter()
                .try_for_each(|b| write!(f, "{b:02x}"))?;
            sep = ", ";
        }
        write!(f, "}} }}")
    }
}
