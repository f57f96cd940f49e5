//! The record of SPEC §5: a message entry as the API shows it.

use m2mhub_core::{entry::MessageEntry, hash::Hash, message::Action, notice::Notices};
use serde::{Deserialize, Serialize};

/// A recorded message, as returned by `POST /v1/messages` and the message queries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Its Merkle leaf hash, hex.
    pub leaf_hash: String,
    /// True when this answers an exact resubmission of an already recorded message.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
}

impl Record {
    /// The record of message entry `m` at `seq`.
    pub fn new(
        seq: u64,
        m: &MessageEntry,
        contents: Option<String>,
        block: u64,
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
            leaf_hash: hex::encode(leaf),
            duplicate: false,
        }
    }
}
