//! `M2MHubAnchor` in an in-process EVM: every function, RFC 9162 consistency proofs from the
//! Rust prover accepted on chain for every pair of small tree sizes, every one-bit change of a
//! proof rejected, and the adversarial cases (non-owner, replayed anchor, smaller tree,
//! forked history, wrong proof length).

use alloy::primitives::{Address, B256};
use m2mhub_chain::{
    contracts::M2MHubAnchor::{self, M2MHubAnchorErrors},
    evm::{CallError, Evm, account},
};
use m2mhub_core::{
    hash::Hash,
    merkle::{Frontier, leaf_hash, prove_consistency, tree_hash},
};

const HUB: u8 = 1;

/// Stored hashes of a tree whose leaf `i` is `i` as 8 bytes, or `fork` from leaf `fork_at` on.
fn tree(n: u64, fork_at: Option<u64>) -> Vec<Hash> {
    let mut stored = Vec::new();
    let mut f = Frontier::new();
    for i in 0..n {
        let mut leaf = i.to_be_bytes().to_vec();
        if fork_at.is_some_and(|at| i >= at) {
            leaf.push(0xff);
        }
        f.push(leaf_hash(&leaf), &mut stored);
    }
    stored
}

fn root(stored: &Vec<Hash>, n: u64) -> B256 {
    B256::from(tree_hash(n, stored).expect("root"))
}

fn proof(stored: &Vec<Hash>, from: u64, to: u64) -> Vec<B256> {
    prove_consistency(from, to, stored)
        .expect("proof")
        .into_iter()
        .map(B256::from)
        .collect()
}

fn deploy(evm: &mut Evm) -> Address {
    evm.deploy(
        account(HUB),
        &M2MHubAnchor::BYTECODE,
        &M2MHubAnchor::constructorCall { hub: account(HUB) },
    )
    .expect("deploy")
    .0
}

fn anchor(
    evm: &mut Evm,
    c: Address,
    from: u64,
    to: u64,
    root: B256,
    proof: Vec<B256>,
) -> Result<u64, CallError> {
    evm.call(
        account(HUB),
        c,
        &M2MHubAnchor::anchorCall {
            fromSize: from,
            newSize: to,
            newRoot: root,
            proof,
        },
    )
    .map(|c| c.gas)
}

fn latest(evm: &mut Evm, c: Address) -> (u64, B256, u32) {
    let r = evm
        .call(account(9), c, &M2MHubAnchor::latestCall {})
        .expect("latest")
        .ret;
    (r.treeSize, r.root, r.count)
}

fn error(e: CallError) -> M2MHubAnchorErrors {
    e.decode::<M2MHubAnchorErrors>()
        .unwrap_or_else(|| panic!("not an M2MHubAnchor error: {e}"))
}

#[test]
fn every_consistency_proof_up_to_33_leaves_verifies_and_every_bit_flip_is_rejected() {
    let stored = tree(33, None);
    let mut evm = Evm::new();
    let c = deploy(&mut evm);
    for new in 2..=33u64 {
        for old in 1..new {
            let p = proof(&stored, old, new);
            let call = |p: Vec<B256>| M2MHubAnchor::verifyConsistencyCall {
                oldSize: old,
                newSize: new,
                oldRoot: root(&stored, old),
                newRoot: root(&stored, new),
                proof: p,
            };
            evm.call(account(9), c, &call(p.clone()))
                .unwrap_or_else(|e| panic!("{old} → {new}: {e}"));
            for i in 0..p.len() {
                for bit in [0usize, 77, 255] {
                    let mut bad = p.clone();
                    bad[i].0[bit / 8] ^= 1 << (bit % 8);
                    let e = evm
                        .call(account(9), c, &call(bad))
                        .expect_err("flipped bit");
                    assert!(matches!(
                        error(e),
                        M2MHubAnchorErrors::InconsistentHistory(_)
                    ));
                }
            }
            // One hash too few or too many.
            let mut short = p.clone();
            short.pop();
            assert!(evm.call(account(9), c, &call(short)).is_err());
            let mut long = p.clone();
            long.push(B256::ZERO);
            assert!(evm.call(account(9), c, &call(long)).is_err());
        }
    }
}

#[test]
fn anchors_chain_with_proofs_and_the_latest_is_readable() {
    let stored = tree(1000, None);
    let mut evm = Evm::new();
    let c = deploy(&mut evm);
    assert_eq!(latest(&mut evm, c), (0, B256::ZERO, 0));
    let mut prev = 0;
    for (i, size) in [1u64, 2, 7, 8, 100, 513, 1000].into_iter().enumerate() {
        let p = if prev == 0 {
            Vec::new()
        } else {
            proof(&stored, prev, size)
        };
        let called = evm
            .call(
                account(HUB),
                c,
                &M2MHubAnchor::anchorCall {
                    fromSize: prev,
                    newSize: size,
                    newRoot: root(&stored, size),
                    proof: p,
                },
            )
            .expect("anchor");
        let ev = called
            .logs
            .iter()
            .find_map(|l| {
                alloy::sol_types::SolEvent::decode_log(l)
                    .ok()
                    .map(|d: alloy::primitives::Log<M2MHubAnchor::Anchored>| d.data)
            })
            .expect("Anchored event");
        assert_eq!(ev.index, alloy::primitives::U256::from(i));
        assert_eq!((ev.treeSize, ev.root), (size, root(&stored, size)));
        assert_eq!(
            latest(&mut evm, c),
            (size, root(&stored, size), i as u32 + 1)
        );
        prev = size;
    }
}

#[test]
fn adversarial_anchors_are_rejected() {
    let stored = tree(64, None);
    let forked = tree(64, Some(10));
    let mut evm = Evm::new();
    let c = deploy(&mut evm);

    // The first anchor takes no proof.
    let e = anchor(&mut evm, c, 0, 16, root(&stored, 16), vec![B256::ZERO]).expect_err("proof");
    assert!(matches!(error(e), M2MHubAnchorErrors::ProofLength(_)));
    // An empty tree is not an anchor.
    let e = anchor(&mut evm, c, 0, 0, root(&stored, 0), vec![]).expect_err("empty");
    assert!(matches!(error(e), M2MHubAnchorErrors::TreeNotLarger(_)));
    anchor(&mut evm, c, 0, 16, root(&stored, 16), vec![]).expect("first anchor");

    // Not the owner.
    let e = evm
        .call(
            account(2),
            c,
            &M2MHubAnchor::anchorCall {
                fromSize: 16,
                newSize: 20,
                newRoot: root(&stored, 20),
                proof: proof(&stored, 16, 20),
            },
        )
        .expect_err("non-owner");
    assert!(matches!(error(e), M2MHubAnchorErrors::NotOwner(_)));

    // A forked history: the first 16 leaves agree on nothing after leaf 10.
    let e = anchor(
        &mut evm,
        c,
        16,
        20,
        root(&forked, 20),
        proof(&forked, 16, 20),
    )
    .expect_err("fork");
    assert!(matches!(
        error(e),
        M2MHubAnchorErrors::InconsistentHistory(_)
    ));
    // The right proof for another root.
    let e = anchor(
        &mut evm,
        c,
        16,
        20,
        root(&forked, 20),
        proof(&stored, 16, 20),
    )
    .expect_err("wrong root");
    assert!(matches!(
        error(e),
        M2MHubAnchorErrors::InconsistentHistory(_)
    ));
    // A proof between other sizes.
    let e = anchor(
        &mut evm,
        c,
        16,
        20,
        root(&stored, 20),
        proof(&stored, 15, 20),
    )
    .expect_err("other sizes");
    assert!(matches!(
        error(e),
        M2MHubAnchorErrors::InconsistentHistory(_) | M2MHubAnchorErrors::ProofLength(_)
    ));

    anchor(
        &mut evm,
        c,
        16,
        20,
        root(&stored, 20),
        proof(&stored, 16, 20),
    )
    .expect("extends");
    // Replaying the same anchor.
    let e = anchor(
        &mut evm,
        c,
        16,
        20,
        root(&stored, 20),
        proof(&stored, 16, 20),
    )
    .expect_err("replay");
    assert!(matches!(error(e), M2MHubAnchorErrors::StaleAnchor(_)));
    // A smaller or equal tree.
    let e = anchor(&mut evm, c, 20, 12, root(&stored, 12), vec![]).expect_err("smaller");
    assert!(matches!(error(e), M2MHubAnchorErrors::TreeNotLarger(_)));
    let e = anchor(&mut evm, c, 20, 20, root(&stored, 20), vec![]).expect_err("equal");
    assert!(matches!(error(e), M2MHubAnchorErrors::TreeNotLarger(_)));
    assert_eq!(latest(&mut evm, c), (20, root(&stored, 20), 2));
}

#[test]
fn ownership_moves_only_by_the_owner() {
    let stored = tree(8, None);
    let mut evm = Evm::new();
    let c = deploy(&mut evm);
    let owner = |evm: &mut Evm| {
        evm.call(account(9), c, &M2MHubAnchor::ownerCall {})
            .expect("owner")
            .ret
    };
    assert_eq!(owner(&mut evm), account(HUB));
    let e = evm
        .call(
            account(2),
            c,
            &M2MHubAnchor::transferOwnershipCall {
                newOwner: account(2),
            },
        )
        .expect_err("non-owner");
    assert!(matches!(error(e), M2MHubAnchorErrors::NotOwner(_)));
    let e = evm
        .call(
            account(HUB),
            c,
            &M2MHubAnchor::transferOwnershipCall {
                newOwner: Address::ZERO,
            },
        )
        .expect_err("zero");
    assert!(matches!(error(e), M2MHubAnchorErrors::ZeroOwner(_)));
    evm.call(
        account(HUB),
        c,
        &M2MHubAnchor::transferOwnershipCall {
            newOwner: account(3),
        },
    )
    .expect("transfer");
    assert_eq!(owner(&mut evm), account(3));
    let e = anchor(&mut evm, c, 0, 8, root(&stored, 8), vec![]).expect_err("old owner");
    assert!(matches!(error(e), M2MHubAnchorErrors::NotOwner(_)));
    evm.call(
        account(3),
        c,
        &M2MHubAnchor::anchorCall {
            fromSize: 0,
            newSize: 8,
            newRoot: root(&stored, 8),
            proof: vec![],
        },
    )
    .expect("new owner anchors");
}
