//! Architecture invariant: the device SDK is what a device links, so nothing of the server,
//! the store, the broker or a C crypto build reaches it, directly or transitively. Read from
//! the workspace's Cargo.lock (the graph every build of this tree uses).
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};

/// Package name → names of its dependencies, from Cargo.lock (all versions merged, which can
/// only over-report).
fn lock_graph() -> BTreeMap<String, BTreeSet<String>> {
    let lock =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.lock")).unwrap();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for block in lock.split("[[package]]").skip(1) {
        let name = block
            .lines()
            .find_map(|l| l.strip_prefix("name = \""))
            .and_then(|l| l.strip_suffix('"'))
            .unwrap()
            .to_owned();
        let deps = graph.entry(name).or_default();
        if let Some(start) = block.find("dependencies = [") {
            let list = &block[start..];
            let list = &list[..list.find(']').unwrap()];
            for item in list.split('"').skip(1).step_by(2) {
                deps.insert(item.split(' ').next().unwrap().to_owned());
            }
        }
    }
    graph
}

#[test]
fn the_sdk_pulls_in_no_server_store_broker_or_c_crypto() {
    let graph = lock_graph();
    let mut seen = BTreeSet::new();
    let mut todo = vec!["m2mhub-client".to_owned()];
    while let Some(p) = todo.pop() {
        if seen.insert(p.clone()) {
            todo.extend(graph.get(&p).into_iter().flatten().cloned());
        }
    }
    assert!(
        seen.contains("rumqttc") && seen.contains("reqwest"),
        "{seen:?}"
    );
    for banned in [
        "axum",
        "redb",
        "m2mhub-ledger",
        "m2mhub-server",
        "rumqttd",
        "aws-lc-sys",
        "openssl-sys",
    ] {
        assert!(!seen.contains(banned), "the device SDK depends on {banned}");
    }
}
