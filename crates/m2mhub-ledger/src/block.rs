//! What one block writes, and the block row the store keeps for each block.

use m2mhub_core::hash::Hash;
use serde::{Deserialize, Serialize};

/// A committed block: the entries `first_seq .. first_seq + size` and the checkpoint sealing
/// them. Block 0 is the genesis block of every ledger: no entries, tree size 0.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRow {
    /// Height: 0, 1, 2, …
    pub height: u64,
    /// Seq of the block's first entry.
    pub first_seq: u64,
    /// Number of entries in the block.
    pub size: u64,
    /// Tree size after the block.
    pub tree_size: u64,
    /// Merkle root after the block, hex.
    pub root: String,
    /// Hash of the previous block's checkpoint body, hex (zeros for the genesis block).
    pub prev_hash: String,
    /// Hash of this block's checkpoint body, hex: what the next block's `prev` names.
    pub hash: String,
    /// When the block was committed, milliseconds since the Unix epoch (not signed).
    pub time_ms: u64,
    /// The signed checkpoint (C2SP signed note).
    pub checkpoint: String,
}

/// One entry of a block being written, with the index keys it needs.
#[derive(Clone, Debug)]
pub struct EntryWrite {
    /// Its seq.
    pub seq: u64,
    /// Canonical entry bytes.
    pub bytes: Vec<u8>,
    /// Message contents, stored beside the tree.
    pub contents: Option<String>,
    /// Registry entries are indexed so the registry can be rebuilt at start-up.
    pub is_registry: bool,
    /// For messages: the tx the message names or got.
    pub tx: Option<u64>,
    /// For messages: device ids of the sender and (if registered) the receiver.
    pub devices: [Option<u32>; 2],
    /// For messages: (sender id, counter), to find exact resubmissions.
    pub counter: Option<(u32, u64)>,
    /// For messages: true when invalid.
    pub invalid: bool,
}

/// Everything one block commits, atomically.
#[derive(Clone, Debug)]
pub struct BlockWrite {
    /// The entries, in seq order.
    pub entries: Vec<EntryWrite>,
    /// Stored-hash index of `hashes[0]`.
    pub hashes_start: u64,
    /// New stored Merkle hashes, in stored-index order.
    pub hashes: Vec<Hash>,
    /// Changed transaction states: (tx, encoded state).
    pub txs: Vec<(u64, Vec<u8>)>,
    /// The block row.
    pub block: BlockRow,
}
