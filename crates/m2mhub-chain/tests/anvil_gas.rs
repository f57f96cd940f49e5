//! The same calls on a real anvil node (started by the test) and in the in-process EVM cost
//! the same gas, so `m2mhub bench gas` figures are what a chain charges. Also: deployment and
//! the anchor contract's views through JSON-RPC. In CI a missing anvil fails the test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use alloy::primitives::B256;
use m2mhub_chain::{
    contracts::{M2MHubAnchor, M2MHubLedger},
    device_id,
    evm::{Evm, account},
    rpc,
};
use m2mhub_core::{
    hash::Hash,
    merkle::{Frontier, leaf_hash, prove_consistency, tree_hash},
};

fn tree(n: u64) -> Vec<Hash> {
    let mut stored = Vec::new();
    let mut f = Frontier::new();
    for i in 0..n {
        f.push(leaf_hash(&i.to_be_bytes()), &mut stored);
    }
    stored
}

#[tokio::test(flavor = "multi_thread")]
async fn anvil_charges_what_revm_measures() {
    let Some(node) = m2mhub_chain::anvil::start().unwrap() else {
        eprintln!("SKIPPED: anvil is not installed (make deps); in CI this fails");
        return;
    };
    let key: alloy::signers::local::PrivateKeySigner = node.key_hex.parse().unwrap();
    let hub = rpc::key_address(&key);
    let provider = rpc::connect(&node.url, key).unwrap();
    let addrs = rpc::deploy(&provider, hub).await.unwrap();
    assert_eq!(addrs.chain_id, 31337);
    assert_eq!(
        rpc::latest_anchor(&provider, addrs.anchor).await.unwrap(),
        None
    );

    let stored = tree(20);
    let root = |n| B256::from(tree_hash(n, &stored).unwrap());
    let proof: Vec<B256> = prove_consistency(8, 20, &stored)
        .unwrap()
        .into_iter()
        .map(B256::from)
        .collect();

    // On anvil.
    let anchor = M2MHubAnchor::new(addrs.anchor, &provider);
    let first = anchor.anchor(0, 8, root(8), vec![]).send().await.unwrap();
    let first = first.get_receipt().await.unwrap().gas_used;
    let second = anchor
        .anchor(8, 20, root(20), proof.clone())
        .send()
        .await
        .unwrap();
    let second = second.get_receipt().await.unwrap().gas_used;
    let latest = rpc::latest_anchor(&provider, addrs.anchor)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (latest.index, latest.tree_size, latest.root),
        (1, 20, root(20))
    );
    assert_eq!(
        rpc::all_anchors(&provider, addrs.anchor, 0)
            .await
            .unwrap()
            .len(),
        2
    );
    let ledger = M2MHubLedger::new(addrs.ledger, &provider);
    let reg = ledger
        .register("oven".into(), 2, B256::repeat_byte(7), vec![])
        .send()
        .await
        .unwrap();
    let reg = reg.get_receipt().await.unwrap().gas_used;
    let msg = M2MHubLedger::Message {
        sender: device_id("oven"),
        receiver: device_id("oven"),
        action: 0,
        tx: 0,
        causePlusOne: 0,
        counter: 1,
        contentsHash: B256::repeat_byte(1),
        signatureR: B256::repeat_byte(2),
        signatureS: B256::repeat_byte(3),
    };
    let rec = ledger.record(msg.clone()).send().await.unwrap();
    let rec = rec.get_receipt().await.unwrap().gas_used;

    // In revm.
    let mut evm = Evm::new();
    let h = account(1);
    let (a, _) = evm
        .deploy(
            h,
            &M2MHubAnchor::BYTECODE,
            &M2MHubAnchor::constructorCall { hub: h },
        )
        .unwrap();
    let (l, _) = evm
        .deploy(
            h,
            &M2MHubLedger::BYTECODE,
            &M2MHubLedger::constructorCall { hub: h },
        )
        .unwrap();
    let call = |evm: &mut Evm, from: u64, to: u64, r: B256, p: Vec<B256>| {
        evm.call(
            h,
            a,
            &M2MHubAnchor::anchorCall {
                fromSize: from,
                newSize: to,
                newRoot: r,
                proof: p,
            },
        )
        .unwrap()
        .gas
    };
    let revm_first = call(&mut evm, 0, 8, root(8), vec![]);
    let revm_second = call(&mut evm, 8, 20, root(20), proof);
    let revm_reg = evm
        .call(
            h,
            l,
            &M2MHubLedger::registerCall {
                name: "oven".into(),
                clearance: 2,
                publicKey: B256::repeat_byte(7),
                accepts: vec![],
            },
        )
        .unwrap()
        .gas;
    let revm_rec = evm
        .call(h, l, &M2MHubLedger::recordCall { m: msg })
        .unwrap()
        .gas;
    assert_eq!(
        (first, second, reg, rec),
        (revm_first, revm_second, revm_reg, revm_rec)
    );
}
