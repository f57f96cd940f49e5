//! Reads: records, transactions, entries, proofs, checkpoints and blocks. Every query runs on
//! one store snapshot and walks an index: nothing scans the ledger except the unfiltered
//! message listing, which pages by seq.

use m2mhub_core::{entry::Entry, hash::Hash, merkle, rules::TxStatus};
use serde::{Deserialize, Serialize};

use crate::{
    block::BlockRow,
    error::{LedgerError, Result},
    ledger::{Ledger, parse_hash},
    record::Record,
    store::{Index, RecordReader, Snapshot, StoredEntry},
};

/// Most records one page returns.
pub const MAX_PAGE: usize = 1000;
/// Records per page when the caller does not say.
pub const DEFAULT_PAGE: usize = 100;

/// Filters of `GET /v1/messages`.
#[derive(Clone, Debug, Default)]
pub struct MessageFilter {
    /// Only messages naming this tx.
    pub tx: Option<u64>,
    /// Only messages this device sent or received.
    pub device: Option<String>,
    /// Only valid (true) or invalid (false) messages.
    pub valid: Option<bool>,
    /// Only seqs greater than this.
    pub after: Option<u64>,
    /// Only seqs smaller than this; the page then holds the newest such records, newest first.
    pub before: Option<u64>,
    /// At most this many (capped at [`MAX_PAGE`]).
    pub limit: Option<usize>,
}

/// A transaction as `GET /v1/transactions/{tx}` shows it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TransactionView {
    /// Its id.
    pub tx: u64,
    /// The device that began it.
    pub provenance: String,
    /// open, closed or rejected.
    pub state: TxStatus,
    /// Every message naming it, by seq.
    pub messages: Vec<Record>,
    /// Provenance and every sender and receiver of a valid message, sorted.
    pub participants: Vec<String>,
}

/// An entry as `GET /v1/entries/{seq}` shows it (before the decoded fields).
#[derive(Clone, Debug)]
pub struct EntryView {
    /// Its seq.
    pub seq: u64,
    /// Canonical bytes.
    pub bytes: Vec<u8>,
    /// Decoded.
    pub entry: Entry,
    /// Merkle leaf hash.
    pub leaf_hash: Hash,
    /// Block holding it.
    pub block: u64,
    /// Contents of a message, unless pruned.
    pub contents: Option<String>,
}

/// `GET /v1/proof/inclusion`.
#[derive(Clone, Debug, Serialize)]
pub struct InclusionProof {
    /// The entry.
    pub seq: u64,
    /// The tree the proof is for.
    pub tree_size: u64,
    /// The entry's leaf hash, hex.
    pub leaf_hash: String,
    /// RFC 9162 inclusion path, hex.
    pub path: Vec<String>,
}

/// `GET /v1/proof/consistency`.
#[derive(Clone, Debug, Serialize)]
pub struct ConsistencyProof {
    /// The older tree size.
    pub from: u64,
    /// The newer tree size.
    pub to: u64,
    /// RFC 9162 consistency path, hex.
    pub path: Vec<String>,
}

fn not_found(what: String) -> LedgerError {
    LedgerError::NotFound(what)
}

impl Ledger {
    /// The record of the message at `seq`.
    pub fn record(&self, seq: u64) -> Result<Record> {
        let snap = self.snapshot()?;
        record_at(&snap, seq)?.ok_or_else(|| not_found(format!("no message at seq {seq}")))
    }

    /// The entry at `seq`.
    pub fn entry(&self, seq: u64) -> Result<EntryView> {
        let snap = self.snapshot()?;
        let bytes = snap
            .entry(seq)?
            .ok_or_else(|| not_found(format!("no entry at seq {seq}")))?;
        let entry = decode(seq, &bytes)?;
        let contents = match entry {
            Entry::Message(_) => snap.contents(seq)?,
            _ => None,
        };
        Ok(EntryView {
            seq,
            leaf_hash: merkle::leaf_hash(&bytes),
            block: snap.block_of(seq)?.unwrap_or(0),
            bytes,
            entry,
            contents,
        })
    }

    /// Entry bytes for seqs `after+1 ..`, at most `limit` (for outside verifiers).
    pub fn entries_after(&self, after: Option<u64>, limit: usize) -> Result<Vec<(u64, Vec<u8>)>> {
        let start = after.map_or(0, |a| a.saturating_add(1));
        let end = start.saturating_add(limit.min(MAX_PAGE) as u64);
        self.snapshot()?.entries(start, end)
    }

    /// Message records matching `f`, by seq.
    pub fn messages(&self, f: &MessageFilter) -> Result<Vec<Record>> {
        let limit = f.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
        let snap = self.snapshot()?;
        let device_id = match &f.device {
            Some(name) => match self.view().registry.ids.get(name.as_str()) {
                Some(id) => Some(*id),
                None => return Ok(Vec::new()),
            },
            None => None,
        };
        let index = match (f.tx, device_id) {
            (Some(tx), _) => Index::Tx(tx),
            (None, Some(id)) => Index::Device(id),
            (None, None) if f.valid == Some(false) => Index::Invalid,
            (None, None) => Index::All,
        };
        // Oldest first from `after`, or newest first down from `before`.
        let newest_first = f.before.is_some();
        let (mut lo, mut hi) = (
            f.after.map_or(0, |a| a.saturating_add(1)),
            f.before.unwrap_or(u64::MAX),
        );
        let mut out = Vec::with_capacity(limit);
        let page = (limit * 2).max(256);
        let mut reader = snap.record_reader()?;
        loop {
            let seqs = snap.index_page(index, lo, hi, newest_first, page)?;
            let Some(&last) = seqs.last() else { break };
            for seq in seqs {
                let Some(r) = record_with(&mut reader, seq)? else {
                    continue;
                };
                let keep = f.valid.is_none_or(|v| r.valid == v)
                    && f.tx.is_none_or(|t| r.tx == t)
                    && f.device
                        .as_ref()
                        .is_none_or(|d| r.sender == *d || r.receiver == *d);
                if keep {
                    out.push(r);
                    if out.len() == limit {
                        return Ok(out);
                    }
                }
            }
            if newest_first {
                hi = last;
            } else {
                lo = last.saturating_add(1);
            }
        }
        Ok(out)
    }

    /// A transaction with all its messages.
    pub fn transaction(&self, tx: u64) -> Result<TransactionView> {
        let snap = self.snapshot()?;
        let state = snap
            .tx_state(tx)?
            .ok_or_else(|| not_found(format!("no transaction {tx}")))?;
        let mut messages = Vec::new();
        let mut after = None;
        let mut reader = snap.record_reader()?;
        loop {
            let seqs = snap.tx_messages(tx, after, 4096)?;
            let Some(&last) = seqs.last() else { break };
            for seq in seqs {
                if let Some(r) = record_with(&mut reader, seq)? {
                    messages.push(r);
                }
            }
            after = Some(last);
        }
        Ok(TransactionView {
            tx,
            provenance: state.provenance.to_string(),
            state: state.status,
            messages,
            participants: state.participants.iter().map(|p| p.to_string()).collect(),
        })
    }

    /// An inclusion proof for `seq` in the tree of `tree_size` (default: the latest).
    pub fn inclusion_proof(&self, seq: u64, tree_size: Option<u64>) -> Result<InclusionProof> {
        let snap = self.snapshot()?;
        let size = snap.size()?;
        let tree_size = tree_size.unwrap_or(size);
        if tree_size > size {
            return Err(LedgerError::BadQuery(format!(
                "tree_size {tree_size} is beyond the ledger's {size} entries"
            )));
        }
        if seq >= tree_size {
            return Err(LedgerError::BadQuery(format!(
                "seq {seq} is not in a tree of {tree_size} entries"
            )));
        }
        let bytes = snap
            .entry(seq)?
            .ok_or_else(|| not_found(format!("no entry at seq {seq}")))?;
        let path = merkle::prove_inclusion(seq, tree_size, &snap)
            .map_err(|e| LedgerError::Storage(e.to_string()))?;
        Ok(InclusionProof {
            seq,
            tree_size,
            leaf_hash: hex::encode(merkle::leaf_hash(&bytes)),
            path: path.iter().map(hex::encode).collect(),
        })
    }

    /// A consistency proof between tree sizes `from` and `to` (default: the latest).
    pub fn consistency_proof(&self, from: u64, to: Option<u64>) -> Result<ConsistencyProof> {
        let snap = self.snapshot()?;
        let size = snap.size()?;
        let to = to.unwrap_or(size);
        if from == 0 || from > to || to > size {
            return Err(LedgerError::BadQuery(format!(
                "need 0 < from ≤ to ≤ {size} (the ledger's size); got from {from}, to {to}"
            )));
        }
        let path = merkle::prove_consistency(from, to, &snap)
            .map_err(|e| LedgerError::Storage(e.to_string()))?;
        Ok(ConsistencyProof {
            from,
            to,
            path: path.iter().map(hex::encode).collect(),
        })
    }

    /// The Merkle root of the tree of `tree_size` entries.
    pub fn root_at(&self, tree_size: u64) -> Result<Hash> {
        let snap = self.snapshot()?;
        if tree_size > snap.size()? {
            return Err(LedgerError::BadQuery(format!(
                "no tree of size {tree_size} yet"
            )));
        }
        merkle::tree_hash(tree_size, &snap).map_err(|e| LedgerError::Storage(e.to_string()))
    }

    /// The latest signed checkpoint.
    pub fn checkpoint(&self) -> String {
        self.view().head.checkpoint.clone()
    }

    /// The block at `height`.
    pub fn block(&self, height: u64) -> Result<BlockRow> {
        self.snapshot()?
            .block(height)?
            .ok_or_else(|| not_found(format!("no block {height}")))
    }

    /// Blocks after `after`, at most `limit`.
    pub fn blocks(&self, after: Option<u64>, limit: Option<usize>) -> Result<Vec<BlockRow>> {
        self.snapshot()?
            .blocks(after, limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE))
    }

    /// The latest `limit` blocks, newest first.
    pub fn latest_blocks(&self, limit: usize) -> Result<Vec<BlockRow>> {
        let head = self.view().head.height;
        self.snapshot()?
            .blocks_before(head + 1, limit.clamp(1, MAX_PAGE))
    }

    /// The hash a block's successor names.
    pub fn head_hash(&self) -> Result<Hash> {
        parse_hash(&self.view().head.hash)
    }
}

fn decode(seq: u64, bytes: &[u8]) -> Result<Entry> {
    Entry::from_bytes(bytes).map_err(|e| LedgerError::Corrupt(format!("entry {seq}: {e}")))
}

/// The record at `seq`, or `None` when that entry is not a message.
pub(crate) fn record_at(snap: &Snapshot, seq: u64) -> Result<Option<Record>> {
    record_with(&mut snap.record_reader()?, seq)
}

/// The record at `seq` through a reader that keeps its tables open across calls.
pub(crate) fn record_with(reader: &mut RecordReader, seq: u64) -> Result<Option<Record>> {
    let Some(StoredEntry {
        bytes,
        contents,
        block,
        block_time_ms,
    }) = reader.read(seq)?
    else {
        return Ok(None);
    };
    let Entry::Message(m) = decode(seq, &bytes)? else {
        return Ok(None);
    };
    Ok(Some(Record::new(
        seq,
        &m,
        contents,
        (block, block_time_ms),
        &merkle::leaf_hash(&bytes),
    )))
}

/// A provenance device and the invalid messages its transactions hold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvenanceCount {
    /// The device that began the transactions.
    pub provenance: String,
    /// Invalid messages in them.
    pub invalid_messages: u64,
}

impl Ledger {
    /// "Who is misbehaving": provenance devices ranked by the invalid messages their
    /// transactions hold (walks the invalid-message index).
    pub fn provenance_ranking(&self) -> Result<Vec<ProvenanceCount>> {
        let snap = self.snapshot()?;
        let mut counts: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
        let mut after = None;
        let mut reader = snap.record_reader()?;
        loop {
            let seqs = snap.invalid_messages(after, 4096)?;
            let Some(&last) = seqs.last() else { break };
            for seq in seqs {
                if let Some(r) = record_with(&mut reader, seq)?
                    && let Some(p) = r.provenance
                {
                    *counts.entry(p).or_default() += 1;
                }
            }
            after = Some(last);
        }
        let mut out: Vec<ProvenanceCount> = counts
            .into_iter()
            .map(|(provenance, invalid_messages)| ProvenanceCount {
                provenance,
                invalid_messages,
            })
            .collect();
        out.sort_by(|a, b| {
            b.invalid_messages
                .cmp(&a.invalid_messages)
                .then(a.provenance.cmp(&b.provenance))
        });
        Ok(out)
    }
}

/// A transaction that reached a device, for investigations.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceTransaction {
    /// The transaction; `None` groups the messages that named a tx id not issued yet: they
    /// belong to no transaction (SPEC §3.1).
    pub tx: Option<u64>,
    /// The device that began it (`None` for a tx id that never existed).
    pub provenance: Option<String>,
    /// Its state, if it exists.
    pub state: Option<TxStatus>,
    /// Messages of it that the device received.
    pub messages_to_device: u64,
    /// Of which invalid.
    pub invalid_to_device: u64,
    /// The latest such message.
    pub last_seq: u64,
}

/// Messages an investigation looks at, at most, per query.
const INVESTIGATION_SCAN: usize = 100_000;

impl Ledger {
    /// The last counter `name` recorded, if any.
    pub fn last_counter(&self, name: &str) -> Result<Option<u64>> {
        let Some(&id) = self.view().registry.ids.get(name) else {
            return Ok(None);
        };
        self.snapshot()?.last_counter(id)
    }

    /// The transactions whose messages reached `name`, newest first, at most `limit`, with
    /// the device that began each: "who made this device act?".
    pub fn device_transactions(&self, name: &str, limit: usize) -> Result<Vec<DeviceTransaction>> {
        let Some(&id) = self.view().registry.ids.get(name) else {
            return Err(not_found(format!("no device named {name}")));
        };
        let snap = self.snapshot()?;
        let mut out: Vec<DeviceTransaction> = Vec::new();
        let mut index: std::collections::HashMap<Option<u64>, usize> =
            std::collections::HashMap::new();
        let mut before = None;
        let mut scanned = 0;
        let mut reader = snap.record_reader()?;
        'scan: while scanned < INVESTIGATION_SCAN {
            let seqs = snap.device_messages_rev(id, before, 4096)?;
            let Some(&last) = seqs.last() else { break };
            for seq in seqs {
                scanned += 1;
                let Some(r) = record_with(&mut reader, seq)? else {
                    continue;
                };
                if r.receiver != name {
                    continue;
                }
                // A message that named an unissued tx id has no provenance and belongs to
                // no transaction, whatever later took that id.
                let tx = r.provenance.is_some().then_some(r.tx);
                let i = match index.get(&tx) {
                    Some(i) => *i,
                    None => {
                        if out.len() == limit.clamp(1, MAX_PAGE) {
                            break 'scan;
                        }
                        let state = match tx {
                            Some(tx) => snap.tx_state(tx)?,
                            None => None,
                        };
                        out.push(DeviceTransaction {
                            tx,
                            provenance: state.as_ref().map(|s| s.provenance.to_string()),
                            state: state.map(|s| s.status),
                            messages_to_device: 0,
                            invalid_to_device: 0,
                            last_seq: r.seq,
                        });
                        index.insert(tx, out.len() - 1);
                        out.len() - 1
                    }
                };
                out[i].messages_to_device += 1;
                out[i].invalid_to_device += u64::from(!r.valid);
            }
            before = Some(last);
        }
        Ok(out)
    }
}
