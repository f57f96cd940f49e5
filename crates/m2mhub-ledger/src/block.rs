//! What one block writes, and the block row the store keeps for each block.

use m2mhub_core::{entry::Entry, hash::Hash, message::Action};
use serde::{Deserialize, Serialize};

/// A committed block: the entries `first_seq .. first_seq + size` and the checkpoint sealing
/// them. Block 0 is the genesis block of every ledger: no entries, tree size 0.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    #[cfg_attr(feature = "openapi", schema(pattern = "^[0-9a-f]{64}$"))]
    pub root: String,
    /// Hash of the previous block's checkpoint body, hex (zeros for the genesis block).
    #[cfg_attr(feature = "openapi", schema(pattern = "^[0-9a-f]{64}$"))]
    pub prev_hash: String,
    /// Hash of this block's checkpoint body, hex: what the next block's `prev` names.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[0-9a-f]{64}$"))]
    pub hash: String,
    /// When the block was sealed, milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// True when `time_ms` is the `time` line of the signed checkpoint (SPEC §5); false for
    /// blocks sealed before blocks carried a signed time, whose `time_ms` is unsigned.
    #[serde(default)]
    pub time_signed: bool,
    /// The signed checkpoint (C2SP signed note).
    pub checkpoint: String,
}

/// One entry of a block being written, with the index rows it needs.
#[derive(Clone, Debug)]
pub struct EntryWrite {
    /// Its seq.
    pub seq: u64,
    /// Canonical entry bytes.
    pub bytes: Vec<u8>,
    /// Message contents, stored beside the tree.
    pub contents: Option<String>,
    /// The index rows the entry implies.
    pub rows: IndexRows,
}

/// The index rows one entry implies. The writer and `verify` derive them with the same
/// function, [`IndexRows::of`], so a store whose indexes differ from its entries is caught.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IndexRows {
    /// Registry entries are indexed so the registry can be rebuilt at start-up.
    pub is_registry: bool,
    /// For messages: the tx the message belongs to (named or assigned). `None` for a message
    /// naming a tx id not issued yet: it belongs to no transaction (SPEC §3.1).
    pub tx: Option<u64>,
    /// For a message naming a tx id not issued yet: that id. Indexed apart from `tx`, so the
    /// transaction that later takes the id never lists it.
    pub unissued_tx: Option<u64>,
    /// For messages: device ids of the sender and (if registered and not the sender) the
    /// receiver.
    pub devices: [Option<u32>; 2],
    /// For messages: (sender id, counter), to find exact resubmissions.
    pub counter: Option<(u32, u64)>,
    /// For messages: true when invalid.
    pub invalid: bool,
    /// For invalid messages: the id of their transaction's provenance device, counted in the
    /// provenance ranking.
    pub provenance_invalid: Option<u32>,
    /// For messages: the receiver's id (also when it is the sender).
    pub receiver: Option<u32>,
    /// For invalid messages: the device that caused it, the provenance device of its
    /// transaction, or the sender of a message naming a tx id not issued yet (incidents,
    /// `invalid_caused`, `GET /v1/messages?provenance=`).
    pub culprit: Option<u32>,
    /// For messages: the notices, as bits (an incident keeps the union of its messages').
    pub notices: u16,
    /// For messages: true for a `begin` (it began transaction `tx`).
    pub begins: bool,
    /// For registry entries: the devices whose history holds it: the device it changes and,
    /// for an exception, the exception's sender.
    pub history: [Option<u32>; 2],
    /// The first 8 bytes of the entry's leaf hash, big-endian ([`IndexRows::with_leaf`]):
    /// its key in the leaf-hash index.
    pub leaf: u64,
}

impl IndexRows {
    /// The rows `entry` implies, given the internal ids of the devices registered up to it,
    /// itself included (ids are given in registration order: 0, 1, 2, …).
    pub fn of(entry: &Entry, id: impl Fn(&str) -> Option<u32>) -> IndexRows {
        match entry {
            Entry::Message(m) => {
                let sender = id(m.sender.as_str());
                let invalid = !m.notices.is_empty();
                let provenance_invalid = m
                    .provenance
                    .as_ref()
                    .filter(|_| invalid)
                    .and_then(|p| id(p.as_str()));
                IndexRows {
                    is_registry: false,
                    tx: m.transaction().map(|t| t.0),
                    unissued_tx: m.transaction().is_none().then_some(m.tx.0),
                    devices: [
                        sender,
                        id(m.receiver.as_str()).filter(|r| Some(*r) != sender),
                    ],
                    counter: sender.map(|s| (s, m.counter)),
                    invalid,
                    provenance_invalid,
                    receiver: id(m.receiver.as_str()),
                    culprit: match m.transaction() {
                        Some(_) => provenance_invalid,
                        None => sender.filter(|_| invalid),
                    },
                    notices: m.notices.bits(),
                    begins: m.action == Action::Begin,
                    history: [None, None],
                    leaf: 0,
                }
            }
            Entry::DeviceRegistered(r) => IndexRows::registry([id(r.name.as_str()), None]),
            Entry::ExceptionGranted { device, sender }
            | Entry::ExceptionWithdrawn { device, sender } => {
                let d = id(device.as_str());
                IndexRows::registry([d, id(sender.as_str()).filter(|s| Some(*s) != d)])
            }
            Entry::DeviceRevoked { device } | Entry::DeviceRekeyed { device, .. } => {
                IndexRows::registry([id(device.as_str()), None])
            }
            Entry::FederationMembership(_) | Entry::Import(_) => IndexRows::registry([None, None]),
        }
    }

    /// These rows with the leaf-hash key of the entry whose bytes are `bytes`.
    pub fn with_leaf(mut self, bytes: &[u8]) -> IndexRows {
        self.leaf = leaf_key(&m2mhub_core::merkle::leaf_hash(bytes));
        self
    }

    fn registry(history: [Option<u32>; 2]) -> IndexRows {
        IndexRows {
            is_registry: true,
            history,
            ..IndexRows::default()
        }
    }
}

/// The leaf-hash index's key of a leaf hash: its first 8 bytes, big-endian.
pub fn leaf_key(leaf: &Hash) -> u64 {
    let mut k = [0u8; 8];
    k.copy_from_slice(&leaf[..8]);
    u64::from_be_bytes(k)
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
