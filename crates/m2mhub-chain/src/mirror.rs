//! `--chain-mode full`: every ledger entry (registry change or message) mirrored to
//! `M2MHubLedger`, in seq order, one transaction each — the paper's design, done with constant
//! gas. The contract recomputes each message's verdict; the mirror compares it with the
//! ledger's and stops on any difference (the chain and the hub would then disagree on a rule).
//!
//! Like the anchorer it keeps no state: the contract's `entryCount()` is where to resume.

use std::{sync::Arc, time::Duration};

use alloy::{
    primitives::{Address, B256},
    providers::DynProvider,
    sol_types::SolEvent,
};
use m2mhub_core::{
    entry::{Entry, MessageEntry},
    notice::{Notice, Notices},
};
use m2mhub_ledger::Ledger;

use crate::{
    ChainError, Result,
    contracts::M2MHubLedger::{self, M2MHubLedgerErrors},
    device_id,
    rpc::{confirmed, rpc_err},
};

/// Entries read from the ledger per round.
const PAGE: usize = 256;
/// Longest wait between attempts after repeated errors.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// The contract's notice bits for `notices`: bit i is SPEC §3.3's i-th notice.
pub fn notice_bits(notices: Notices) -> u16 {
    notices
        .iter()
        .map(|n| 1u16 << Notice::ALL.iter().position(|a| *a == n).unwrap_or(15))
        .fold(0, |a, b| a | b)
}

/// The contract's view of a recorded message.
pub fn message_call(m: &MessageEntry) -> M2MHubLedger::Message {
    let (r, s) = m.signature.split_at(32);
    M2MHubLedger::Message {
        sender: device_id(m.sender.as_str()),
        receiver: device_id(m.receiver.as_str()),
        action: m.action.code(),
        tx: m.signed_tx().0,
        causePlusOne: m.cause.map_or(0, |c| c.0 + 1),
        counter: m.counter,
        contentsHash: B256::from(m.contents_hash),
        signatureR: B256::from_slice(r),
        signatureS: B256::from_slice(s),
    }
}

/// Mirrors one ledger's entries to one `M2MHubLedger`.
#[derive(Clone, Debug)]
pub struct Mirror {
    ledger: Arc<Ledger>,
    provider: DynProvider,
    contract: Address,
}

impl Mirror {
    /// A mirror of `ledger` through `provider` (which signs as the contract's owner).
    pub fn new(ledger: Arc<Ledger>, provider: DynProvider, contract: Address) -> Self {
        Self {
            ledger,
            provider,
            contract,
        }
    }

    /// Mirrors up to one page of entries the contract does not have yet; returns how many.
    pub async fn round(&self) -> Result<u64> {
        let c = M2MHubLedger::new(self.contract, &self.provider);
        let next = c.entryCount().call().await.map_err(rpc_err)?;
        let ledger = self.ledger.clone();
        let after = next.checked_sub(1);
        let page = tokio::task::spawn_blocking(move || ledger.entries_after(after, PAGE))
            .await
            .map_err(|e| ChainError::Rpc(e.to_string()))??;
        let mut done = 0;
        for (seq, bytes) in page {
            if seq != next + done {
                return Err(ChainError::Mismatch(format!(
                    "expected entry {} from the ledger, got {seq}",
                    next + done
                )));
            }
            let entry = Entry::from_bytes(&bytes)
                .map_err(|e| ChainError::Mismatch(format!("entry {seq}: {e}")))?;
            self.send(seq, &entry).await?;
            done += 1;
        }
        Ok(done)
    }

    async fn send(&self, seq: u64, entry: &Entry) -> Result<()> {
        let c = M2MHubLedger::new(self.contract, &self.provider);
        let _one_at_a_time = crate::rpc::SEND_LOCK.lock().await;
        let sent = match entry {
            Entry::DeviceRegistered(r) => {
                let accepts = r.exceptions.iter().map(|n| device_id(n.as_str())).collect();
                c.register(
                    r.name.to_string(),
                    r.clearance,
                    B256::from(r.public_key),
                    accepts,
                )
                .send()
                .await
            }
            Entry::ExceptionGranted { device, sender } => {
                c.grantException(device_id(device.as_str()), device_id(sender.as_str()))
                    .send()
                    .await
            }
            Entry::ExceptionWithdrawn { device, sender } => {
                c.withdrawException(device_id(device.as_str()), device_id(sender.as_str()))
                    .send()
                    .await
            }
            Entry::DeviceRevoked { device } => c.revoke(device_id(device.as_str())).send().await,
            Entry::DeviceRekeyed { device, public_key } => {
                c.rekey(device_id(device.as_str()), B256::from(*public_key))
                    .send()
                    .await
            }
            Entry::Message(m) => c.record(message_call(m)).send().await,
            // The contract numbers entries as the ledger does, so one it cannot record stops
            // the mirror rather than shift every later seq.
            Entry::FederationMembership(_) | Entry::Import(_) => {
                return Err(ChainError::Mismatch(format!(
                    "entry {seq} is a federation entry ({}), which M2MHubLedger cannot record: \
                     a federated hub anchors its checkpoints (--chain-mode anchor) instead",
                    entry.kind().as_str()
                )));
            }
        };
        let pending =
            sent.map_err(
                |e| match e.as_decoded_interface_error::<M2MHubLedgerErrors>() {
                    Some(err) => ChainError::Reverted(format!("entry {seq}: {err:?}")),
                    None => rpc_err(e),
                },
            )?;
        let receipt = confirmed(pending).await?;
        if let Entry::Message(m) = entry {
            let recorded = receipt
                .inner
                .logs()
                .iter()
                .find_map(|l| M2MHubLedger::Recorded::decode_log(&l.inner).ok())
                .ok_or_else(|| ChainError::Rpc(format!("entry {seq}: no Recorded event")))?;
            // A message naming an unissued tx id belongs to no transaction: tx 0 on chain.
            let tx = m.transaction().map_or(0, |t| t.0);
            let want = (seq, tx, notice_bits(m.notices));
            let got = (recorded.seq, recorded.tx, recorded.notices);
            if want != got {
                return Err(ChainError::Mismatch(format!(
                    "entry {seq}: the ledger recorded (seq, tx, notices) {want:?}, the contract {got:?}"
                )));
            }
        }
        Ok(())
    }

    /// Mirrors continuously: a round whenever there may be more, else every `every`; errors
    /// are logged and retried with exponential backoff. A verdict mismatch stops the mirror.
    pub async fn run(self, every: Duration) {
        let mut wait = every;
        loop {
            match self.round().await {
                Ok(n) if n as usize == PAGE => {
                    wait = every;
                    continue;
                }
                Ok(n) => {
                    if n > 0 {
                        tracing::info!("mirrored {n} entries to M2MHubLedger");
                    }
                    wait = every;
                }
                Err(ChainError::Mismatch(m)) => {
                    tracing::error!("mirroring stopped: {m}");
                    return;
                }
                Err(e) => {
                    wait = (wait * 2).min(MAX_BACKOFF).max(every);
                    tracing::warn!("mirroring failed: {e}; retrying in {wait:?}");
                }
            }
            tokio::time::sleep(wait).await;
        }
    }
}
