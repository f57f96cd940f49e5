//! Architecture invariant: the device SDK is what a device links, so nothing of the server,
//! the store, the broker or a C crypto build reaches it, directly or transitively. Read from
//! `cargo tree` for the SDK alone (Cargo.lock merges every member's features: alloy's TLS
//! build shows there, though a device build never compiles it).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

/// The crates a build of the SDK alone compiles (normal dependencies, features as resolved for
/// it alone: other workspace members' features do not leak in, as they would in Cargo.lock).
fn sdk_dependencies() -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args([
            "tree",
            "-p",
            "m2mhub-client",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--locked",
            "--offline",
            "--manifest-path",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.toml"),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo tree: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

#[test]
fn the_sdk_pulls_in_no_server_store_broker_or_c_crypto() {
    let seen = sdk_dependencies();
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
