//! The record of SPEC §5: a message entry as the API shows it.

use m2mhub_core::{entry::MessageEntry, hash::Hash, message::Action, notice::Notices};
use serde::{Deserialize, Serialize};

/// A recorded message, as returned by `POST /v1/messages` and the message queries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Record {
    /// Its index in the ledger.
    pub seq: u64,
    /// Its transaction.
    pub tx: u64,
    /// The transaction's provenance device; null when the transaction is unknown.
    pub provenance: Option<String>,
    /// Sender.
    pub sender: String,
    /// Receiver.
    pub receiver: String,
    /// begin, continue or end.
    pub action: Action,
    /// The seq of the message that caused it.
    pub cause: Option<u64>,
    /// The sender's counter.
    pub counter: u64,
    /// The contents; null once pruned by the retention policy.
    pub contents: Option<String>,
    /// True when no notice.
    pub valid: bool,
    /// Failed checks, in SPEC order.
    pub notices: Notices,
    /// Height of the block that holds it.
    pub block: u64,
    /// When that block was sealed, as its signed checkpoint says (`YYYY-MM-DDTHH:MM:SS.sssZ`);
    /// null for blocks sealed before checkpoints carried a time.
    pub time: Option<String>,
    /// Its Merkle leaf hash, hex.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[0-9a-f]{64}$"))]
    pub leaf_hash: String,
    /// True when this answers an exact resubmission of an already recorded message.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
}

impl Record {
    /// The record of message entry `m` at `seq`, in block `block` sealed at `time_ms` (signed).
    pub fn new(
        seq: u64,
        m: &MessageEntry,
        contents: Option<String>,
        (block, time_ms): (u64, Option<u64>),
        leaf: &Hash,
    ) -> Record {
        Record {
            seq,
            tx: m.tx.0,
            provenance: m.provenance.as_ref().map(|p| p.to_string()),
            sender: m.sender.to_string(),
            receiver: m.receiver.to_string(),
            action: m.action,
            cause: m.cause.map(|c| c.0),
            counter: m.counter,
            contents,
            valid: m.valid(),
            notices: m.notices,
            block,
            time: time_ms.map(format_time),
            leaf_hash: hex::encode(leaf),
            duplicate: false,
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS.sssZ` (RFC 3339, UTC, milliseconds), as SPEC §5 shows block times.
pub fn format_time(ms: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    humantime::format_rfc3339_millis(t).to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_block_times_as_the_spec_shows_them() {
        assert_eq!(super::format_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            super::format_time(1_764_450_000_123),
            "2025-11-29T21:00:00.123Z"
        );
    }
}
