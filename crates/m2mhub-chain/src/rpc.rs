//! Talking to a JSON-RPC node: connecting with the hub's key, deploying the contracts, the
//! addresses file a data directory keeps, reading anchors, and checking a local ledger
//! against them.

use std::{path::Path, time::Duration};

use alloy::{
    network::EthereumWallet,
    primitives::{Address, B256},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::{Filter, TransactionReceipt},
    signers::local::PrivateKeySigner,
    sol_types::SolEvent,
};
use serde::{Deserialize, Serialize};

use crate::{
    ChainError, Result,
    contracts::{M2MHubAnchor, M2MHubLedger},
};

/// The file in a data directory that names the contracts the hub uses.
pub const ADDRESSES_FILE: &str = "chain.json";

/// How long to wait for a transaction's receipt before treating the attempt as failed (the
/// caller retries; a late inclusion is then seen as a stale anchor and skipped).
const RECEIPT_TIMEOUT: Duration = Duration::from_secs(120);

/// The deployed contracts, as `m2mhub chain deploy` writes them to `DATA/chain.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Addresses {
    /// The chain id they live on.
    pub chain_id: u64,
    /// `M2MHubAnchor`.
    pub anchor: Address,
    /// `M2MHubLedger`.
    pub ledger: Address,
    /// The block `M2MHubAnchor` was deployed in (where its events start).
    pub deployed_block: u64,
}

impl Addresses {
    /// Reads `DATA/chain.json`.
    pub fn load(data: &Path) -> Result<Addresses> {
        let p = data.join(ADDRESSES_FILE);
        let text = std::fs::read_to_string(&p)
            .map_err(|e| ChainError::Config(format!("reading {}: {e}", p.display())))?;
        serde_json::from_str(&text)
            .map_err(|e| ChainError::Config(format!("parsing {}: {e}", p.display())))
    }

    /// Writes `DATA/chain.json`.
    pub fn save(&self, data: &Path) -> Result<()> {
        let p = data.join(ADDRESSES_FILE);
        let text =
            serde_json::to_string_pretty(self).map_err(|e| ChainError::Config(e.to_string()))?;
        // Durably: a power cut leaves the old file or the new one, never a torn one.
        m2mhub_ledger::fs::replace_durably(&m2mhub_ledger::fs::RealFs, &p, (text + "\n").as_bytes())
            .map_err(|e| ChainError::Config(format!("writing {}: {e}", p.display())))
    }
}

/// Reads a private key file: 32 bytes as hex (with or without `0x`), surrounding whitespace
/// ignored. The hub signs its chain transactions with it.
pub fn read_key_file(path: &Path) -> Result<PrivateKeySigner> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ChainError::Config(format!("reading {}: {e}", path.display())))?;
    text.trim()
        .parse::<PrivateKeySigner>()
        .map_err(|e| ChainError::Config(format!("{}: not a hex private key: {e}", path.display())))
}

/// The address a key signs as.
pub fn key_address(key: &PrivateKeySigner) -> Address {
    alloy::signers::Signer::address(key)
}

/// Serializes this process's transactions from send to receipt. The anchorer and the mirror
/// sign with the same key, so they share one nonce sequence: each send asks the node for the
/// next nonce (no cached nonce that a failed send could leave with a gap), which is only
/// right if no other send of ours is in flight.
pub(crate) static SEND_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A provider for `rpc_url` that signs with `key` (gas, nonce and chain id filled in; nonces
/// read from the node for every transaction).
pub fn connect(rpc_url: &str, key: PrivateKeySigner) -> Result<DynProvider> {
    let url = rpc_url
        .parse()
        .map_err(|e| ChainError::Config(format!("bad rpc url {rpc_url}: {e}")))?;
    Ok(ProviderBuilder::new()
        .disable_recommended_fillers()
        .with_gas_estimation()
        .with_simple_nonce_management()
        .fetch_chain_id()
        .wallet(EthereumWallet::from(key))
        .connect_http(url)
        .erased())
}

/// A read-only provider for `rpc_url`.
pub fn connect_read_only(rpc_url: &str) -> Result<DynProvider> {
    let url = rpc_url
        .parse()
        .map_err(|e| ChainError::Config(format!("bad rpc url {rpc_url}: {e}")))?;
    Ok(ProviderBuilder::new().connect_http(url).erased())
}

pub(crate) fn rpc_err(e: impl std::fmt::Display) -> ChainError {
    ChainError::Rpc(e.to_string())
}

/// Waits for a sent transaction's receipt and fails unless it succeeded.
pub(crate) async fn confirmed(
    pending: alloy::providers::PendingTransactionBuilder<alloy::network::Ethereum>,
) -> Result<TransactionReceipt> {
    let receipt = pending
        .with_timeout(Some(RECEIPT_TIMEOUT))
        .get_receipt()
        .await
        .map_err(rpc_err)?;
    if !receipt.status() {
        return Err(ChainError::Reverted(format!(
            "transaction {} failed",
            receipt.transaction_hash
        )));
    }
    Ok(receipt)
}

/// Deploys `M2MHubAnchor` and `M2MHubLedger`, both owned by the provider's signer `hub`.
pub async fn deploy(provider: &DynProvider, hub: Address) -> Result<Addresses> {
    let _one_at_a_time = SEND_LOCK.lock().await;
    let chain_id = provider.get_chain_id().await.map_err(rpc_err)?;
    let anchor_tx = M2MHubAnchor::deploy_builder(provider, hub)
        .send()
        .await
        .map_err(rpc_err)?;
    let anchor = confirmed(anchor_tx).await?;
    let ledger_tx = M2MHubLedger::deploy_builder(provider, hub)
        .send()
        .await
        .map_err(rpc_err)?;
    let ledger = confirmed(ledger_tx).await?;
    Ok(Addresses {
        chain_id,
        anchor: anchor
            .contract_address
            .ok_or_else(|| ChainError::Rpc("no contract address in the receipt".into()))?,
        ledger: ledger
            .contract_address
            .ok_or_else(|| ChainError::Rpc("no contract address in the receipt".into()))?,
        deployed_block: anchor.block_number.unwrap_or(0),
    })
}

/// One anchor: the first `tree_size` entries have Merkle root `root`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Anchor {
    /// Its number: 0, 1, 2, …
    pub index: u64,
    /// Entries covered.
    pub tree_size: u64,
    /// Their Merkle root.
    pub root: B256,
}

/// The latest anchor, or `None` when nothing is anchored yet.
pub async fn latest_anchor(provider: &DynProvider, anchor: Address) -> Result<Option<Anchor>> {
    let r = M2MHubAnchor::new(anchor, provider)
        .latest()
        .call()
        .await
        .map_err(rpc_err)?;
    Ok(u64::from(r.count).checked_sub(1).map(|index| Anchor {
        index,
        tree_size: r.treeSize,
        root: r.root,
    }))
}

/// Every anchor, from the contract's `Anchored` events since `from_block`.
pub async fn all_anchors(
    provider: &DynProvider,
    anchor: Address,
    from_block: u64,
) -> Result<Vec<Anchor>> {
    let filter = Filter::new()
        .address(anchor)
        .event_signature(M2MHubAnchor::Anchored::SIGNATURE_HASH)
        .from_block(from_block);
    let logs = provider.get_logs(&filter).await.map_err(rpc_err)?;
    let mut out = Vec::with_capacity(logs.len());
    for log in logs {
        let ev = M2MHubAnchor::Anchored::decode_log(&log.inner).map_err(rpc_err)?;
        out.push(Anchor {
            index: ev.data.index.to::<u64>(),
            tree_size: ev.data.treeSize,
            root: ev.data.root,
        });
    }
    Ok(out)
}

/// What [`check_ledger`] found.
#[derive(Clone, Debug, Serialize)]
pub struct AnchorCheck {
    /// Anchors checked (the latest, plus every one whose event the node returned).
    pub anchors: Vec<Anchor>,
    /// True when the node refused the event query, so only the latest anchor was checked.
    /// (That suffices: every anchor was proven on chain to extend the one before.)
    pub events_unavailable: bool,
}

/// Checks a local ledger against the chain: the latest anchor, and every earlier one from the
/// contract's events, must be the local ledger's root at that size. `local_size` is the local
/// ledger's size and `root_at` its root at a size.
pub async fn check_ledger(
    provider: &DynProvider,
    addresses: &Addresses,
    local_size: u64,
    root_at: impl Fn(u64) -> Result<B256>,
) -> Result<AnchorCheck> {
    let Some(latest) = latest_anchor(provider, addresses.anchor).await? else {
        return Ok(AnchorCheck {
            anchors: Vec::new(),
            events_unavailable: false,
        });
    };
    let (mut anchors, events_unavailable) =
        match all_anchors(provider, addresses.anchor, addresses.deployed_block).await {
            Ok(a) => (a, false),
            Err(e) => {
                tracing::warn!("reading the anchor events failed ({e}); checking the latest only");
                (Vec::new(), true)
            }
        };
    if !anchors.contains(&latest) {
        anchors.push(latest);
    }
    for a in &anchors {
        if a.tree_size > local_size {
            return Err(ChainError::Mismatch(format!(
                "anchor {} covers {} entries but the local ledger has only {local_size}",
                a.index, a.tree_size
            )));
        }
        let local = root_at(a.tree_size)?;
        if local != a.root {
            return Err(ChainError::Mismatch(format!(
                "anchor {}: the chain's root of the first {} entries is {}, the local ledger's is {}",
                a.index, a.tree_size, a.root, local
            )));
        }
    }
    Ok(AnchorCheck {
        anchors,
        events_unavailable,
    })
}
