//! A local anvil node for tests: the binary npm installs under `contracts/node_modules` (or
//! `$M2MHUB_ANVIL`), started on a free port and killed when dropped. In CI (`CI` set) a
//! missing anvil is an error, so chain tests can never pass by skipping.

use std::path::PathBuf;

use alloy::node_bindings::{Anvil, AnvilInstance};

use crate::{ChainError, Result};

/// Where anvil is: `$M2MHUB_ANVIL`, else the npm-installed binary in `contracts/`.
pub fn anvil_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("M2MHUB_ANVIL") {
        return Some(PathBuf::from(p));
    }
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../contracts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
    p.exists().then_some(p)
}

/// A running anvil and the hex private key of its first funded account.
#[derive(Debug)]
pub struct Node {
    /// The process; dropping it kills anvil.
    pub instance: AnvilInstance,
    /// Its HTTP JSON-RPC endpoint.
    pub url: String,
    /// The first dev account's private key, hex.
    pub key_hex: String,
}

/// Starts anvil. `Ok(None)` when it is not installed and this is not CI (the caller skips and
/// says so); an error when it is not installed in CI or fails to start.
pub fn start() -> Result<Option<Node>> {
    let Some(path) = anvil_path() else {
        if std::env::var_os("CI").is_some() {
            return Err(ChainError::Config(
                "anvil is not installed (run `make deps`); CI never skips chain tests".into(),
            ));
        }
        return Ok(None);
    };
    let instance = Anvil::at(path)
        .try_spawn()
        .map_err(|e| ChainError::Config(format!("starting anvil: {e}")))?;
    let key = instance
        .keys()
        .first()
        .ok_or_else(|| ChainError::Config("anvil has no dev accounts".into()))?;
    let key_hex = hex::encode(key.to_bytes());
    let url = instance.endpoint();
    Ok(Some(Node {
        instance,
        url,
        key_hex,
    }))
}
