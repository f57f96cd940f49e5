//! Unit tests of inclusion and consistency proofs: exhaustive up to 100 leaves, and tampering.
//!
//! Every proof of every tree up to [`N`] leaves is checked against the naive model and then
//! tampered with: the `*_small_trees_*` tests flip every bit for trees up to
//! [`ALL_BITS_UP_TO`] leaves, and the `*_every_bit` tests flip all 256 bits of every hash of
//! every proof up to [`N`] leaves (~10 s: the workspace builds this crate optimized in tests).

use std::ops::RangeInclusive;

use super::*;

/// Trees up to this size get every bit of every hash flipped in the default run.
const ALL_BITS_UP_TO: u64 = 24;

fn flips_for(size: u64) -> Flips {
    if size <= ALL_BITS_UP_TO {
        Flips::All
    } else {
        Flips::Sample
    }
}

#[test]
fn inclusion_small_trees_every_bit() {
    check_inclusion(0..=ALL_BITS_UP_TO, flips_for);
}

#[test]
fn inclusion_larger_trees_sampled_bits() {
    check_inclusion(ALL_BITS_UP_TO + 1..=N, flips_for);
}

#[test]
fn inclusion_every_bit() {
    check_inclusion(0..=N, |_| Flips::All);
}

#[test]
fn consistency_small_trees_every_bit() {
    check_consistency(0..=ALL_BITS_UP_TO, flips_for);
}

#[test]
fn consistency_larger_trees_sampled_bits() {
    check_consistency(ALL_BITS_UP_TO + 1..=N, flips_for);
}

#[test]
fn consistency_every_bit() {
    check_consistency(0..=N, |_| Flips::All);
}

/// Proves every leaf of every tree in `sizes`, checks the proofs equal RFC 9162's PATH and
/// verify, then tampers with them.
fn check_inclusion(sizes: RangeInclusive<u64>, flips: impl Fn(u64) -> Flips) {
    let d = leaves(*sizes.end());
    let (stored, _) = build(&d);
    for size in sizes {
        // Only the hashes stored by then: the prover must not look past its tree.
        let store = &stored[..stored_hash_count(size) as usize];
        let root = mth(&d[..size as usize]);
        let out_of_range = MerkleError::IndexOutOfRange {
            index: size,
            tree_size: size,
        };
        assert_eq!(
            prove_inclusion(size, size, store),
            Err(out_of_range.clone())
        );
        assert_eq!(
            verify_inclusion(&root, size, size, &[], &root),
            Err(out_of_range)
        );
        for index in 0..size {
            let leaf = d[index as usize];
            let p = prove_inclusion(index, size, store).expect("prove");
            assert_eq!(
                p,
                path(index as usize, &d[..size as usize]),
                "{index}/{size}"
            );
            assert_eq!(verify_inclusion(&leaf, index, size, &p, &root), Ok(()));
            tamper_inclusion(&leaf, index, size, &p, &root, flips(size));
        }
    }
}

fn tamper_inclusion(leaf: &Hash, index: u64, size: u64, p: &[Hash], root: &Hash, how: Flips) {
    let mismatch = Err(MerkleError::ProofMismatch);
    let salt = index * 31 + size;
    let mut bad = p.to_vec();
    for i in 0..p.len() {
        each_flip(&p[i], how, salt + i as u64, |x| {
            bad[i] = x;
            assert_eq!(verify_inclusion(leaf, index, size, &bad, root), mismatch);
        });
        bad[i] = p[i];
    }
    each_flip(leaf, how, salt, |x| {
        assert_eq!(verify_inclusion(&x, index, size, p, root), mismatch);
    });
    each_flip(root, how, salt + 1, |x| {
        assert_eq!(verify_inclusion(leaf, index, size, p, &x), mismatch);
    });
    // Another position in the same tree never has the same shape: always rejected.
    let others = [
        0,
        1,
        index ^ 1,
        index.wrapping_sub(1),
        index + 1,
        size / 2,
        size - 1,
    ];
    for other in others.into_iter().filter(|&o| o != index && o < size) {
        assert!(verify_inclusion(leaf, other, size, p, root).is_err());
    }
    // Other sizes: accepted exactly when the naive PATH shape rebuilds the root. (A proof can
    // fit several sizes, e.g. leaf 0 of 3 and of 4 leaves; checkpoints sign the size.)
    for other in size.saturating_sub(3)..=size + 3 {
        let got = verify_inclusion(leaf, index, other, p, root).is_ok();
        let want = naive_accepts_inclusion(leaf, index, other, p, root);
        assert_eq!(got, want, "{index}/{size} as size {other}");
    }
    let length = Err(MerkleError::ProofLength);
    if let Some((_, shorter)) = p.split_last() {
        assert_eq!(verify_inclusion(leaf, index, size, shorter, root), length);
        assert_eq!(verify_inclusion(leaf, index, size, &p[1..], root), length);
    }
    let longer = [p, &[[7; 32]]].concat();
    assert_eq!(verify_inclusion(leaf, index, size, &longer, root), length);
    let longer = [&[[7; 32]], p].concat();
    assert_eq!(verify_inclusion(leaf, index, size, &longer, root), length);
}

/// Proves every old size `1..=new` for every new size in `sizes`, checks the proofs equal
/// RFC 9162's PROOF and verify, then tampers with them.
fn check_consistency(sizes: RangeInclusive<u64>, flips: impl Fn(u64) -> Flips) {
    let d = leaves(*sizes.end());
    let (stored, _) = build(&d);
    let roots: Vec<Hash> = (0..=d.len()).map(|s| mth(&d[..s])).collect();
    let bad_sizes = |old_size, new_size| MerkleError::BadSizes { old_size, new_size };
    for new in sizes {
        let store = &stored[..stored_hash_count(new) as usize];
        let new_root = &roots[new as usize];
        assert_eq!(prove_consistency(0, new, store), Err(bad_sizes(0, new)));
        assert_eq!(
            prove_consistency(new + 1, new, store),
            Err(bad_sizes(new + 1, new))
        );
        let empty = &roots[0];
        assert_eq!(
            verify_consistency(0, new, empty, new_root, &[]),
            Err(bad_sizes(0, new))
        );
        assert_eq!(
            verify_consistency(new + 1, new, new_root, new_root, &[]),
            Err(bad_sizes(new + 1, new))
        );
        for old in 1..=new {
            let p = prove_consistency(old, new, store).expect("prove");
            let old_root = &roots[old as usize];
            if old < new {
                assert_eq!(
                    p,
                    subproof(old as usize, &d[..new as usize], true),
                    "{old}->{new}"
                );
            } else {
                assert!(p.is_empty());
            }
            assert_eq!(verify_consistency(old, new, old_root, new_root, &p), Ok(()));
            tamper_consistency(old, new, old_root, new_root, &p, flips(new));
        }
    }
}

fn tamper_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    p: &[Hash],
    how: Flips,
) {
    let mismatch = Err(MerkleError::ProofMismatch);
    let verify = |m, n, a: &Hash, b: &Hash, p: &[Hash]| verify_consistency(m, n, a, b, p);
    let salt = old * 31 + new;
    let mut bad = p.to_vec();
    for i in 0..p.len() {
        each_flip(&p[i], how, salt + i as u64, |x| {
            bad[i] = x;
            assert_eq!(verify(old, new, old_root, new_root, &bad), mismatch);
        });
        bad[i] = p[i];
    }
    // With equal sizes the roots must simply be equal, so flipping either one also fails.
    each_flip(old_root, how, salt, |x| {
        assert_eq!(verify(old, new, &x, new_root, p), mismatch);
    });
    each_flip(new_root, how, salt + 1, |x| {
        assert_eq!(verify(old, new, old_root, &x, p), mismatch);
    });
    // Other sizes nearby: accepted exactly when the naive SUBPROOF shape rebuilds both roots.
    for m in old.saturating_sub(2)..=old + 2 {
        for n in new.saturating_sub(2)..=new + 2 {
            let got = verify(m, n, old_root, new_root, p).is_ok();
            let want = naive_accepts_consistency(m, n, old_root, new_root, p);
            assert_eq!(got, want, "{old}->{new} as {m}->{n}");
        }
    }
    let length = Err(MerkleError::ProofLength);
    if let Some((_, shorter)) = p.split_last() {
        assert_eq!(verify(old, new, old_root, new_root, shorter), length);
        assert_eq!(verify(old, new, old_root, new_root, &p[1..]), length);
    }
    let longer = [p, &[[7; 32]]].concat();
    assert_eq!(verify(old, new, old_root, new_root, &longer), length);
    let longer = [&[[7; 32]], p].concat();
    assert_eq!(verify(old, new, old_root, new_root, &longer), length);
}
