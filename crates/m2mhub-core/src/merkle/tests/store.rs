//! Unit tests of the stored-hash layout, frontiers, tree heads, storage errors and ct-merkle.

use std::cell::Cell;

use super::*;

/// Go tlog's `StoredHashIndex`, loops and all, to check the closed form against.
fn go_stored_hash_index(level: u32, mut n: u64) -> u64 {
    for _ in 0..level {
        n = 2 * n + 1;
    }
    let mut i = 0;
    while n > 0 {
        i += n;
        n >>= 1;
    }
    i + u64::from(level)
}

#[test]
fn stored_layout_matches_go_and_the_tree() {
    let d = leaves(N);
    let (stored, _) = build(&d);
    assert_eq!(stored_hash_count(0), 0);
    for size in 0..=N {
        let mut count = 0;
        for i in 0..size {
            count = go_stored_hash_index(0, i) + 1;
            let mut j = i;
            while j & 1 == 1 {
                count += 1;
                j >>= 1;
            }
        }
        assert_eq!(stored_hash_count(size), count, "size {size}");
    }
    // Every complete subtree of the 100-leaf tree sits at its index, and they fill the store.
    let mut seen = vec![false; stored.len()];
    for level in 0..7 {
        for n in 0..(N >> level) {
            let index = stored_hash_index(level, n);
            assert_eq!(index, go_stored_hash_index(level, n));
            let (lo, hi) = ((n << level) as usize, ((n + 1) << level) as usize);
            assert_eq!(
                stored[index as usize],
                mth(&d[lo..hi]),
                "level {level} n {n}"
            );
            assert!(!seen[index as usize]);
            seen[index as usize] = true;
        }
    }
    assert!(seen.iter().all(|&s| s));
    // Far out, where the closed form matters: the last node of a 2^63-leaf tree.
    assert_eq!(stored_hash_index(63, 0), u64::MAX - 1);
    assert_eq!(
        stored_hash_index(0, (1 << 62) - 1),
        go_stored_hash_index(0, (1 << 62) - 1)
    );
    assert_eq!(stored_hash_count(MAX_TREE_SIZE), u64::MAX);
}

#[test]
fn hashes_are_rfc_9162() {
    // SHA-256("") and the domain-separated forms, by their definitions.
    assert_eq!(empty_root(), crate::hash::sha256(b""));
    assert_eq!(leaf_hash(b"ab"), crate::hash::sha256(b"\x00ab"));
    let (l, r) = ([1; 32], [2; 32]);
    let mut cat = vec![1u8];
    cat.extend_from_slice(&l);
    cat.extend_from_slice(&r);
    assert_eq!(node_hash(&l, &r), crate::hash::sha256(&cat));
}

#[test]
fn roots_and_frontiers() {
    let d = leaves(N);
    let (stored, frontiers) = build(&d);
    for size in 0..=N {
        let store = &stored[..stored_hash_count(size) as usize];
        let want = mth(&d[..size as usize]);
        assert_eq!(frontiers[size as usize].size(), size);
        assert_eq!(frontiers[size as usize].root(), want, "size {size}");
        assert_eq!(tree_hash(size, store), Ok(want), "size {size}");
        assert_eq!(
            Frontier::load(size, store).as_ref(),
            Ok(&frontiers[size as usize])
        );
        // A loaded frontier goes on appending exactly like the original.
        if size < N {
            let mut loaded = frontiers[size as usize].clone();
            let mut out = Vec::new();
            loaded.push(d[size as usize], &mut out);
            assert_eq!(loaded, frontiers[size as usize + 1]);
            assert_eq!(
                out,
                stored[store.len()..stored_hash_count(size + 1) as usize]
            );
        }
    }
    assert_eq!(Frontier::default(), Frontier::new());
    assert!(format!("{:?}", frontiers[5]).starts_with("Frontier { size: 5, nodes: {2: "));
}

// ---- Storage behaviour. ----

/// Counts calls, and can lie about how many hashes it returns.
struct Counting<'a> {
    store: &'a [Hash],
    calls: Cell<usize>,
    drop_one: bool,
}

impl HashReader for Counting<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        self.calls.set(self.calls.get() + 1);
        let mut hashes = self.store.read_hashes(indexes)?;
        if self.drop_one {
            hashes.pop();
        }
        Ok(hashes)
    }
}

#[test]
fn one_read_per_proof_and_storage_errors() {
    let d = leaves(1000);
    let (stored, _) = build(&d);
    let r = Counting {
        store: &stored,
        calls: Cell::new(0),
        drop_one: false,
    };
    for (index, size) in [(0, 1000), (999, 1000), (517, 777), (3, 5)] {
        r.calls.set(0);
        prove_inclusion(index, size, &r).expect("prove");
        assert_eq!(r.calls.get(), 1);
    }
    for (old, new) in [(1, 1000), (999, 1000), (517, 777), (3, 5), (512, 1000)] {
        r.calls.set(0);
        prove_consistency(old, new, &r).expect("prove");
        assert_eq!(r.calls.get(), 1);
    }
    // Nothing to read: one-leaf trees and equal sizes make no call at all.
    r.calls.set(0);
    assert_eq!(prove_inclusion(0, 1, &r), Ok(Vec::new()));
    assert_eq!(prove_consistency(7, 7, &r), Ok(Vec::new()));
    assert_eq!(tree_hash(0, &r), Ok(empty_root()));
    assert_eq!(r.calls.get(), 0);

    // A short store or a reader returning too few hashes is a storage error, not a panic.
    let short = &stored[..10];
    assert!(matches!(
        prove_inclusion(0, 1000, short),
        Err(MerkleError::Storage(_))
    ));
    assert!(matches!(
        tree_hash(1000, short),
        Err(MerkleError::Storage(_))
    ));
    let liar = Counting {
        drop_one: true,
        ..r
    };
    assert!(matches!(
        prove_consistency(3, 1000, &liar),
        Err(MerkleError::Storage(_))
    ));
    assert!(matches!(
        Frontier::load(1000, &liar),
        Err(MerkleError::Storage(_))
    ));
    // Sizes past the maximum are refused before any index arithmetic.
    let too_big = MAX_TREE_SIZE + 1;
    assert!(matches!(
        tree_hash(too_big, &stored),
        Err(MerkleError::BadSizes { .. })
    ));
    assert!(matches!(
        prove_inclusion(0, too_big, &stored),
        Err(MerkleError::BadSizes { .. })
    ));
    assert!(matches!(
        prove_consistency(1, too_big, &stored),
        Err(MerkleError::BadSizes { .. })
    ));
}

#[test]
fn error_messages() {
    let e = MerkleError::IndexOutOfRange {
        index: 5,
        tree_size: 5,
    };
    assert_eq!(
        e.to_string(),
        "leaf index 5 is out of range for tree size 5"
    );
    assert_eq!(
        MerkleError::ProofMismatch.to_string(),
        "proof does not verify"
    );
}

// ---- Cross-check against an independent implementation. ----

#[test]
fn agrees_with_ct_merkle() {
    use ct_merkle::mem_backed_tree::MemoryBackedTree;
    let sizes = [1u64, 2, 3, 5, 8, 13, 64, 100, 257];
    for size in sizes {
        let entries: Vec<[u8; 8]> = (0..size).map(u64::to_le_bytes).collect();
        let mut theirs = MemoryBackedTree::<sha2::Sha256, [u8; 8]>::new();
        let mut ours = Frontier::new();
        let mut stored = Vec::new();
        for e in &entries {
            theirs.push(*e);
            ours.push(leaf_hash(e), &mut stored);
        }
        assert_eq!(theirs.root().as_bytes().as_slice(), ours.root());
        for index in [0, size / 3, size / 2, size - 1] {
            let p = prove_inclusion(index, size, &stored).expect("prove");
            assert_eq!(
                theirs.prove_inclusion(index as usize).as_bytes(),
                p.concat()
            );
        }
        for old in [1, size / 3, size / 2, size - 1]
            .into_iter()
            .filter(|&m| 0 < m && m < size)
        {
            let p = prove_consistency(old, size, &stored).expect("prove");
            let their_p = theirs.prove_consistency((size - old) as usize);
            assert_eq!(their_p.as_bytes(), p.concat(), "{old}->{size}");
        }
    }
}
