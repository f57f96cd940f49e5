//! Every fuzz target over its seeds, random bytes, and mutations of the seeds (bytes flipped,
//! inserted, deleted, truncated): a quick, repeatable fuzz run in every `cargo test`. The long
//! run is `cargo fuzz` in `fuzz/`.
#![allow(clippy::unwrap_used)]

use m2mhub_fuzz::{TARGETS, seeds};
use proptest::prelude::*;

fn target(name: &str) -> fn(&[u8]) {
    TARGETS.iter().find(|(n, _)| *n == name).unwrap().1
}

#[test]
fn every_target_has_a_seed_that_decodes() {
    for (name, _) in TARGETS {
        assert!(
            seeds().iter().any(|(n, _)| *n == name),
            "no seed for {name}"
        );
    }
    for (name, seed) in seeds() {
        target(name)(&seed);
    }
    // The backup target returns early on what is not a whole backup: its seed must be one.
    let (_, backup) = seeds()
        .into_iter()
        .find(|(n, _)| *n == "backup_file")
        .unwrap();
    m2mhub_ledger::backup::scan(backup.as_slice()).unwrap();
}

#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(i, b)| Edit::Flip(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<usize>().prop_map(Edit::Delete),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn mutated_seeds_never_panic(
        which in any::<prop::sample::Index>(),
        edits in prop::collection::vec(edit(), 1..6),
    ) {
        let all = seeds();
        let (name, seed) = &all[which.index(all.len())];
        let mut b = seed.clone();
        for e in edits {
            let len = b.len().max(1);
            match e {
                Edit::Flip(i, x) => if !b.is_empty() { b[i % len] ^= x },
                Edit::Insert(i, x) => b.insert(i % (b.len() + 1), x),
                Edit::Delete(i) => if !b.is_empty() { b.remove(i % len); },
                Edit::Truncate(i) => b.truncate(i % len),
            }
        }
        target(name)(&b);
    }

    #[test]
    fn random_bytes_never_panic(which in 0usize..TARGETS.len(), bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        (TARGETS[which].1)(&bytes);
    }
}
