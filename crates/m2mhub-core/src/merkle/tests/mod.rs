//! Unit tests: every tree up to 100 leaves against a naive RFC 9162 model, tampering, ct-merkle.
//!
//! This file holds the naive model (the RFC's recursive definitions, over slices) that the
//! tests in `proofs` and `store` compare the stored-hash code against.

mod proofs;
mod store;

use super::*;

/// Largest tree size checked exhaustively.
const N: u64 = 100;

fn leaves(n: u64) -> Vec<Hash> {
    (0..n).map(|i| leaf_hash(&i.to_le_bytes())).collect()
}

/// The stored hashes of `leaves`, appended by [`Frontier::push`], and the frontier after each
/// append (`frontiers[s]` is the tree of `s` leaves).
fn build(leaves: &[Hash]) -> (Vec<Hash>, Vec<Frontier>) {
    let mut stored = Vec::new();
    let mut frontier = Frontier::new();
    let mut frontiers = vec![frontier.clone()];
    for leaf in leaves {
        let before = stored.len() as u64;
        assert_eq!(before, stored_hash_count(frontier.size()));
        frontier.push(*leaf, &mut stored);
        assert_eq!(stored.len() as u64, stored_hash_count(frontier.size()));
        frontiers.push(frontier.clone());
    }
    (stored, frontiers)
}

// ---- The naive model: RFC 9162 §2.1 definitions, recursively, over slices. ----

/// The largest power of two smaller than `n` (`n > 1`), found by counting, not bit tricks.
fn naive_k(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// MTH, RFC 9162 §2.1.1.
fn mth(d: &[Hash]) -> Hash {
    match d.len() {
        0 => empty_root(),
        1 => d[0],
        n => {
            let k = naive_k(n);
            node_hash(&mth(&d[..k]), &mth(&d[k..]))
        }
    }
}

/// PATH(m, D[n]), RFC 9162 §2.1.3.1.
fn path(m: usize, d: &[Hash]) -> Vec<Hash> {
    let n = d.len();
    if n == 1 {
        return Vec::new();
    }
    let k = naive_k(n);
    let (mut p, sibling) = if m < k {
        (path(m, &d[..k]), mth(&d[k..]))
    } else {
        (path(m - k, &d[k..]), mth(&d[..k]))
    };
    p.push(sibling);
    p
}

/// The shape of PATH(m, D[n]): for each hash, whether that sibling is on the right.
fn path_shape(m: usize, n: usize) -> Vec<bool> {
    if n == 1 {
        return Vec::new();
    }
    let k = naive_k(n);
    let mut shape = if m < k {
        path_shape(m, k)
    } else {
        path_shape(m - k, n - k)
    };
    shape.push(m < k);
    shape
}

/// SUBPROOF(m, D[n], b), RFC 9162 §2.1.4.1.
fn subproof(m: usize, d: &[Hash], b: bool) -> Vec<Hash> {
    let n = d.len();
    if m == n {
        return if b { Vec::new() } else { vec![mth(d)] };
    }
    let k = naive_k(n);
    let (mut p, sibling) = if m <= k {
        (subproof(m, &d[..k], b), mth(&d[k..]))
    } else {
        (subproof(m - k, &d[k..], false), mth(&d[..k]))
    };
    p.push(sibling);
    p
}

/// The shape of SUBPROOF(m, D[n], b): whether it starts with the hash of the subtree the old
/// tree ends in (else the verifier starts from the old root), and each sibling's side.
fn subproof_shape(m: usize, n: usize, b: bool) -> (bool, Vec<bool>) {
    if m == n {
        return (!b, Vec::new());
    }
    let k = naive_k(n);
    let (start, mut shape) = if m <= k {
        subproof_shape(m, k, b)
    } else {
        subproof_shape(m - k, n - k, false)
    };
    shape.push(m <= k);
    (start, shape)
}

/// Whether the naive model accepts an inclusion proof: recompute the root along PATH's shape.
fn naive_accepts_inclusion(leaf: &Hash, index: u64, size: u64, p: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let shape = path_shape(index as usize, size as usize);
    if shape.len() != p.len() {
        return false;
    }
    let got = p.iter().zip(shape).fold(*leaf, |r, (h, right)| {
        if right {
            node_hash(&r, h)
        } else {
            node_hash(h, &r)
        }
    });
    got == *root
}

/// Whether the naive model accepts a consistency proof: rebuild both roots along SUBPROOF's
/// shape (a left sibling is in both trees, a right one only in the new tree).
fn naive_accepts_consistency(m: u64, n: u64, old: &Hash, new: &Hash, p: &[Hash]) -> bool {
    if m == 0 || m > n {
        return false;
    }
    let (starts_with_subtree, shape) = subproof_shape(m as usize, n as usize, true);
    let (start, rest) = match (starts_with_subtree, p.split_first()) {
        (false, _) => (*old, p),
        (true, Some((first, rest))) => (*first, rest),
        (true, None) => return false,
    };
    if rest.len() != shape.len() {
        return false;
    }
    let (mut fr, mut sr) = (start, start);
    for (c, right) in rest.iter().zip(shape) {
        if right {
            sr = node_hash(&sr, c);
        } else {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
        }
    }
    fr == *old && sr == *new
}

/// Which single-bit flips of a hash to try.
#[derive(Clone, Copy, Debug)]
enum Flips {
    /// All 256.
    All,
    /// Eight, one in each 32-bit word, at positions that move with `salt` so that a sweep over
    /// many proofs still touches every bit position.
    Sample,
}

/// Calls `f` with single-bit flips of `h`.
fn each_flip(h: &Hash, how: Flips, salt: u64, mut f: impl FnMut(Hash)) {
    let mut flip = |bit: usize| {
        let mut x = *h;
        x[bit / 8] ^= 1 << (bit % 8);
        f(x);
    };
    match how {
        Flips::All => (0..256).for_each(&mut flip),
        Flips::Sample => (0..8).for_each(|w| flip(w * 32 + ((salt as usize + 7 * w) % 32))),
    }
}
