//! A federation anchored on one chain (SPEC §7): three `m2mhub serve` members on a real anvil,
//! each anchoring its checkpoints in its own M2MHubAnchor (named by `anchor` in its
//! `[[member]]`), each with its own dev account. `verify --federation FILE --chain-rpc` checks
//! every member's ledger against its anchors and fails, naming the member, when the file
//! points a member at another member's contract. In CI a missing anvil fails the test.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::federation::{Hub, NAMES, federation_file_with_anchors, get, grow, rt};
use m2mhub_chain::rpc::{self, Addresses};

#[test]
fn every_members_ledger_matches_the_roots_anchored_in_its_own_contract() {
    let node = m2mhub_chain::anvil::start()
        .unwrap()
        .expect("anvil is not installed (make deps installs it)");
    let tmp = tempfile::tempdir().unwrap();
    let mut hubs: Vec<Hub> = NAMES.iter().map(|n| Hub::create(tmp.path(), n)).collect();
    let mut anchors = Vec::new();
    let mut key_files = Vec::new();
    for (i, h) in hubs.iter().enumerate() {
        // One dev account per hub: three anchorers on one account would race for nonces.
        let key = node.instance.keys()[i].to_bytes();
        let key_file = tmp.path().join(format!("{}-chain-key", h.name));
        std::fs::write(&key_file, format!("0x{}\n", hex::encode(key))).unwrap();
        let (ok, out) = common::m2mhub(&[
            "chain",
            "deploy",
            "--rpc",
            &node.url,
            "--key-file",
            key_file.to_str().unwrap(),
            "--data",
            h.dir.to_str().unwrap(),
        ]);
        assert!(ok, "{out}");
        anchors.push(Addresses::load(&h.dir).unwrap().anchor.to_string());
        key_files.push(key_file);
    }
    let file = federation_file_with_anchors(
        &tmp.path().join("federation.toml"),
        &hubs.iter().collect::<Vec<_>>(),
        1,
        &anchors,
    );
    for (h, key_file) in hubs.iter_mut().zip(&key_files) {
        let chain = [
            "--chain-rpc",
            node.url.as_str(),
            "--chain-key-file",
            key_file.to_str().unwrap(),
            "--anchor-every",
            "100ms",
        ];
        h.start_with(Some(&file), &chain);
    }
    // Each member grows, then waits until its whole ledger is anchored.
    let provider = rpc::connect_read_only(&node.url).unwrap();
    rt().block_on(async {
        for (i, h) in hubs.iter().enumerate() {
            grow(&h.url, &format!("device{i}"), 80 + i as u8).await;
        }
        for (h, anchor) in hubs.iter().zip(&anchors) {
            let deadline = Instant::now() + Duration::from_secs(120);
            loop {
                let size = common::federation::size_of(&get(&h.url, "/v1/checkpoint").await.1);
                let anchored = rpc::latest_anchor(&provider, anchor.parse().unwrap())
                    .await
                    .unwrap()
                    .map_or(0, |a| a.tree_size);
                if anchored >= size && size > 0 {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{}: {anchored} of {size} anchored",
                    h.name
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });
    let file_arg = file.to_str().unwrap();
    let (ok, out) = common::m2mhub(&["verify", "--federation", file_arg, "--chain-rpc", &node.url]);
    assert!(ok, "{out}");
    assert!(
        out.contains("3 members' anchors match their ledgers"),
        "{out}"
    );

    // A file that points grid at street's contract: grid's ledger does not match those roots.
    let mut swapped = anchors.clone();
    swapped[2] = anchors[1].clone();
    let bad = federation_file_with_anchors(
        &tmp.path().join("swapped.toml"),
        &hubs.iter().collect::<Vec<_>>(),
        1,
        &swapped,
    );
    let (ok, out) = common::m2mhub(&[
        "verify",
        "--federation",
        bad.to_str().unwrap(),
        "--chain-rpc",
        &node.url,
    ]);
    assert!(!ok, "{out}");
    assert!(out.contains("member grid:\nFAILED: chain"), "{out}");
}
