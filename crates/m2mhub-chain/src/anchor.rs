//! The anchorer: a task that, every interval, anchors the ledger's latest tree in
//! `M2MHubAnchor` with a consistency proof from the last anchored tree.
//!
//! It keeps no state of its own: the contract's `latest()` says where to resume, so a restart
//! (or a second hub process, or a transaction that was mined after its receipt timed out)
//! needs no bookkeeping. The ledger never waits on it: it reads committed trees from
//! snapshots, and on any error it backs off exponentially and tries again.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use alloy::{
    primitives::{Address, B256},
    providers::DynProvider,
};
use m2mhub_ledger::Ledger;

use crate::{
    ChainError, Result,
    contracts::M2MHubAnchor::{self, M2MHubAnchorErrors},
    rpc::{self, confirmed, rpc_err},
};

/// Longest wait between attempts after repeated errors.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// What one anchoring round did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Round {
    /// Anchored the tree of this size (the previous anchor covered `from` entries).
    Anchored {
        /// Entries covered by the previous anchor (0: this is the first).
        from: u64,
        /// Entries covered now.
        to: u64,
    },
    /// The chain already covers the whole ledger.
    UpToDate,
}

/// Anchors one ledger's trees in one contract.
#[derive(Clone, Debug)]
pub struct Anchorer {
    ledger: Arc<Ledger>,
    provider: DynProvider,
    contract: Address,
    /// The tree size the chain is known to anchor, for whoever watches (metrics).
    anchored: Arc<AtomicU64>,
}

impl Anchorer {
    /// An anchorer for `ledger` through `provider` (which signs as the contract's owner).
    pub fn new(ledger: Arc<Ledger>, provider: DynProvider, contract: Address) -> Self {
        Self {
            ledger,
            provider,
            contract,
            anchored: Arc::default(),
        }
    }

    /// The tree size the chain was last seen to anchor (0 before the first round), kept up to
    /// date by [`Anchorer::round`]: the anchor lag is the ledger's size minus this.
    pub fn anchored(&self) -> Arc<AtomicU64> {
        self.anchored.clone()
    }

    /// One round: reads the latest anchor, and if the ledger has grown, anchors its latest
    /// tree with a consistency proof. Refuses (with [`ChainError::Mismatch`]) to anchor a
    /// ledger whose history differs from what is anchored: that needs an operator.
    pub async fn round(&self) -> Result<Round> {
        let from = rpc::latest_anchor(&self.provider, self.contract).await?;
        let ledger = self.ledger.clone();
        let from_size = from.map_or(0, |a| a.tree_size);
        self.anchored.store(from_size, Ordering::Relaxed);
        // Ledger reads are snapshot reads (they never block the sequencer) but they touch the
        // disk, so they run off the async threads.
        let plan = tokio::task::spawn_blocking(move || -> Result<Option<Plan>> {
            let size = ledger.view().head.tree_size;
            if size < from_size {
                return Err(ChainError::Mismatch(format!(
                    "the chain has anchored {from_size} entries but the ledger has {size}"
                )));
            }
            let local_old = if from_size == 0 {
                None
            } else {
                Some(B256::from(ledger.root_at(from_size)?))
            };
            if size == from_size {
                return Ok(Some(Plan {
                    size,
                    root: local_old.unwrap_or_default(),
                    proof: Vec::new(),
                    local_old,
                }));
            }
            let root = B256::from(ledger.root_at(size)?);
            let proof = if from_size == 0 {
                Vec::new()
            } else {
                ledger
                    .consistency_proof(from_size, Some(size))?
                    .path
                    .iter()
                    .map(|h| parse_hash(h))
                    .collect::<Result<Vec<_>>>()?
            };
            Ok(Some(Plan {
                size,
                root,
                proof,
                local_old,
            }))
        })
        .await
        .map_err(|e| ChainError::Ledger(m2mhub_ledger::LedgerError::Storage(e.to_string())))??;
        let Some(plan) = plan else {
            return Ok(Round::UpToDate);
        };
        // Whatever the ledger's size, its prefix must be what the chain anchored.
        if let (Some(a), Some(local)) = (from, plan.local_old)
            && a.root != local
        {
            return Err(ChainError::Mismatch(format!(
                "anchor {} says the first {} entries have root {}, the ledger says {}",
                a.index, a.tree_size, a.root, local
            )));
        }
        if plan.size == from_size {
            return Ok(Round::UpToDate);
        }
        let contract = M2MHubAnchor::new(self.contract, &self.provider);
        let _one_at_a_time = rpc::SEND_LOCK.lock().await;
        let sent = contract
            .anchor(from_size, plan.size, plan.root, plan.proof)
            .send()
            .await;
        let pending = match sent {
            Ok(p) => p,
            Err(e) => {
                // Another anchor landed since `latest()`: the next round starts from it.
                if let Some(M2MHubAnchorErrors::StaleAnchor(_)) =
                    e.as_decoded_interface_error::<M2MHubAnchorErrors>()
                {
                    return Ok(Round::UpToDate);
                }
                return Err(describe(e));
            }
        };
        confirmed(pending).await?;
        self.anchored.store(plan.size, Ordering::Relaxed);
        Ok(Round::Anchored {
            from: from_size,
            to: plan.size,
        })
    }

    /// Runs rounds every `every` until the task is dropped; errors are logged and retried with
    /// exponential backoff (from `every`, doubling, at most five minutes).
    pub async fn run(self, every: Duration) {
        let mut wait = every;
        loop {
            tokio::time::sleep(wait).await;
            match self.round().await {
                Ok(Round::Anchored { from, to }) => {
                    tracing::info!("anchored {to} entries on chain (from {from})");
                    wait = every;
                }
                Ok(Round::UpToDate) => wait = every,
                Err(e) => {
                    wait = (wait * 2).min(MAX_BACKOFF).max(every);
                    if matches!(e, ChainError::Mismatch(_)) {
                        // Not transient: the ledger is not the history the chain holds.
                        tracing::error!("anchoring refused: {e}; retrying in {wait:?}");
                    } else {
                        tracing::warn!("anchoring failed: {e}; retrying in {wait:?}");
                    }
                }
            }
        }
    }
}

struct Plan {
    size: u64,
    root: B256,
    proof: Vec<B256>,
    local_old: Option<B256>,
}

fn parse_hash(h: &str) -> Result<B256> {
    let bytes: [u8; 32] = hex::decode(h)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| ChainError::Rpc(format!("bad hash {h}")))?;
    Ok(B256::from(bytes))
}

/// A contract error with the anchor contract's error decoded when it is one.
fn describe(e: alloy::contract::Error) -> ChainError {
    match e.as_decoded_interface_error::<M2MHubAnchorErrors>() {
        Some(err) => ChainError::Reverted(format!("{err:?}")),
        None => rpc_err(e),
    }
}
