//! The RFC 9162 (RFC 6962) Merkle tree of the ledger: hashes, stored hashes, proofs and checks.
//!
//! # Design
//!
//! The layout follows Go's `golang.org/x/mod/sumdb/tlog` (`tlog.go`): the hash of every
//! *complete* subtree (2^level leaves, aligned) is stored once, at a "stored hash index"
//! ([`stored_hash_index`]) that grows monotonically as leaves are appended. Appending leaf `n`
//! writes the leaf hash and the hash of every subtree that leaf completes, at indexes
//! `stored_hash_count(n) .. stored_hash_count(n + 1)`, so the store is append-only and the hash
//! of any range the RFC recursion splits off is either one stored hash or a short fold of them.
//! Tree heads and proofs therefore cost `O(log n)` hash reads, and the provers collect every
//! index they need first and issue a single [`HashReader::read_hashes`] call, as Go does.
//!
//! Appending does not read the store at all: the sequencer keeps a [`Frontier`] (the hashes of
//! the complete subtrees along the right edge), which also yields the root after each append.
//!
//! The verifiers ([`verify_inclusion`], [`verify_consistency`]) are the bit-walking algorithms of
//! RFC 9162 §2.1.3.2 and §2.1.4.2, written independently of the recursive provers so that a bug
//! in one is not mirrored by the other. RFC 9162 and RFC 6962 define the same tree and proofs.
//!
//! This is hand-written rather than taken from the `tlog_tiles` crate because that crate pulls
//! in duplicate, older versions of `ed25519-dalek` and `sha2` next to the ones this crate uses.
//!
//! # Limits
//!
//! Trees hold at most [`MAX_TREE_SIZE`] (2^63) leaves: that keeps every stored hash index, about
//! `2n`, inside a `u64`. Functions given a larger tree size fail with
//! [`MerkleError::BadSizes`].

mod proof;
mod stored;
#[cfg(test)]
mod tests;
mod tiles;
mod verify;

pub use proof::{prove_consistency, prove_inclusion};
pub use stored::{Frontier, MAX_TREE_SIZE, stored_hash_count, stored_hash_index, tree_hash};
pub use tiles::{TILE_WIDTH, TileBuilder, partial_width};
pub use verify::{verify_consistency, verify_inclusion};

use crate::hash::{Hash, sha256, sha256_parts};

/// Domain-separation prefix of leaf hashes (RFC 9162 §2.1.1).
const LEAF_PREFIX: [u8; 1] = [0x00];
/// Domain-separation prefix of interior node hashes (RFC 9162 §2.1.1).
const NODE_PREFIX: [u8; 1] = [0x01];

/// The hash of a leaf, `SHA-256(0x00 || entry_bytes)` (RFC 9162 §2.1.1, `MTH({d(0)})`).
///
/// The prefix keeps a leaf from ever hashing like an interior node, which would allow second
/// preimages built from subtrees.
pub fn leaf_hash(entry_bytes: &[u8]) -> Hash {
    sha256_parts(&[&LEAF_PREFIX, entry_bytes])
}

/// The hash of an interior node, `SHA-256(0x01 || left || right)` (RFC 9162 §2.1.1).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    sha256_parts(&[&NODE_PREFIX, left, right])
}

/// The root of the empty tree, `SHA-256("")` (RFC 9162 §2.1.1, `MTH({})`).
pub fn empty_root() -> Hash {
    sha256(&[])
}

/// What can go wrong in the Merkle code: bad input, a proof that does not check, or storage.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    /// A leaf index at or past the tree size; every index is out of range in an empty tree.
    #[error("leaf index {index} is out of range for tree size {tree_size}")]
    IndexOutOfRange {
        /// The leaf index asked for.
        index: u64,
        /// The size of the tree it was asked in.
        tree_size: u64,
    },
    /// Tree sizes no consistency proof relates (RFC 9162 §2.1.4 requires `0 < old <= new`),
    /// or a tree size past [`MAX_TREE_SIZE`] (then both fields may carry that size).
    #[error("bad tree sizes: old size {old_size}, new size {new_size}")]
    BadSizes {
        /// The older (smaller) tree size.
        old_size: u64,
        /// The newer (larger) tree size.
        new_size: u64,
    },
    /// The proof has the right length but does not lead to the given root(s).
    #[error("proof does not verify")]
    ProofMismatch,
    /// The proof has the wrong number of hashes for the given index and sizes.
    #[error("proof has the wrong number of hashes")]
    ProofLength,
    /// A [`HashReader`] failed, or returned a different number of hashes than asked for.
    #[error("reading stored hashes: {0}")]
    Storage(String),
}

/// Reads stored hashes by stored-hash index (from a store, or memory in tests).
///
/// The hash at index `i` is the one [`Frontier::push`] emitted as the `i`-th hash overall; see
/// [`stored_hash_index`] for the layout.
pub trait HashReader {
    /// Returns the hashes at `indexes`, in the same order (indexes need not be sorted).
    ///
    /// An implementation fails with [`MerkleError::Storage`] when a hash is missing; callers
    /// also reject a result whose length differs from `indexes.len()`.
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError>;
}

/// Memory-backed stored hashes: the hash at stored index `i` is `self[i]`.
impl HashReader for [Hash] {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        indexes
            .iter()
            .map(|&index| {
                usize::try_from(index)
                    .ok()
                    .and_then(|i| self.get(i))
                    .copied()
                    .ok_or_else(|| {
                        MerkleError::Storage(format!(
                            "stored hash {index} is missing ({} stored)",
                            self.len()
                        ))
                    })
            })
            .collect()
    }
}

/// Memory-backed stored hashes: the hash at stored index `i` is `self[i]`.
impl HashReader for Vec<Hash> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        self.as_slice().read_hashes(indexes)
    }
}

/// A reference reads like what it points to, so readers can be passed on by reference.
impl<R: HashReader + ?Sized> HashReader for &R {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        (**self).read_hashes(indexes)
    }
}

/// Reads `indexes` in one call and checks the reader kept its contract on the count, so that
/// the folds after it can take hashes positionally. Like Go, no call is made for no indexes.
fn read_exact(r: &(impl HashReader + ?Sized), indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
    if indexes.is_empty() {
        return Ok(Vec::new());
    }
    let hashes = r.read_hashes(indexes)?;
    if hashes.len() != indexes.len() {
        return Err(MerkleError::Storage(format!(
            "asked for {} hashes, got {}",
            indexes.len(),
            hashes.len()
        )));
    }
    Ok(hashes)
}
