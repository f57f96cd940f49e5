//! Point reads: records, entries, proofs, checkpoints and blocks, each on one store snapshot.
//! Lists are in `lists.rs`.

use m2mhub_core::{entry::Entry, hash::Hash, merkle};
use serde::Serialize;

use crate::{
    block::BlockRow,
    error::{LedgerError, Result},
    ledger::{Ledger, parse_hash},
    lists::MAX_PAGE,
    record::Record,
    store::{RecordReader, Snapshot, StoredEntry},
};

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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InclusionProof {
    /// The entry.
    pub seq: u64,
    /// The tree the proof is for.
    pub tree_size: u64,
    /// The entry's leaf hash, hex.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[0-9a-f]{64}$"))]
    pub leaf_hash: String,
    /// RFC 9162 inclusion path, hex.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<m2mhub_core::schema::HashHex>))]
    pub path: Vec<String>,
}

/// `GET /v1/proof/consistency`.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsistencyProof {
    /// The older tree size.
    pub from: u64,
    /// The newer tree size.
    pub to: u64,
    /// RFC 9162 consistency path, hex.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<m2mhub_core::schema::HashHex>))]
    pub path: Vec<String>,
}

/// An entry as the live events show it: a message's record, or the entry itself.
#[derive(Clone, Debug)]
pub enum Logged {
    /// A message, as its record.
    Message(Box<Record>),
    /// A registry entry.
    Entry(Entry),
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

    /// Entries from seq `from` on, at most `limit` (capped at a page), read from one snapshot,
    /// with that snapshot's tree size: what a live-event client missed (SPEC §5).
    pub fn logged_from(&self, from: u64, limit: usize) -> Result<(Vec<(u64, Logged)>, u64)> {
        let snap = self.snapshot()?;
        let size = snap.size()?;
        let end = from.saturating_add(limit.min(MAX_PAGE) as u64).min(size);
        let mut reader = snap.record_reader()?;
        let mut out = Vec::new();
        for (seq, bytes) in snap.entries(from, end)? {
            match decode(seq, &bytes)? {
                Entry::Message(_) => {
                    if let Some(r) = record_with(&mut reader, seq)? {
                        out.push((seq, Logged::Message(Box::new(r))));
                    }
                }
                e => out.push((seq, Logged::Entry(e))),
            }
        }
        Ok((out, size))
    }

    /// Entry bytes for seqs `after+1 ..`, at most `limit` (for outside verifiers).
    pub fn entries_after(&self, after: Option<u64>, limit: usize) -> Result<Vec<(u64, Vec<u8>)>> {
        let start = after.map_or(0, |a| a.saturating_add(1));
        let end = start.saturating_add(limit.min(MAX_PAGE) as u64);
        self.snapshot()?.entries(start, end)
    }

    /// An inclusion proof for `seq` in the tree of `tree_size` (default: the latest).
    pub fn inclusion_proof(&self, seq: u64, tree_size: Option<u64>) -> Result<InclusionProof> {
        let snap = self.snapshot()?;
        let size = snap.size()?;
        if tree_size == Some(0) {
            return Err(LedgerError::BadQuery("tree_size must be at least 1".into()));
        }
        let tree_size = tree_size.unwrap_or(size);
        // No such proof (a tree not grown yet, an entry past it) is a resource that does not
        // exist, 404, like an entry past the end: only a query the OpenAPI document calls
        // invalid is 400 (a tree of size 0 holds nothing to prove).
        if tree_size > size {
            return Err(not_found(format!(
                "tree_size {tree_size} is beyond the ledger's {size} entries"
            )));
        }
        if seq >= tree_size {
            return Err(not_found(format!(
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
        if from == 0 || to == Some(0) {
            return Err(LedgerError::BadQuery(format!(
                "tree sizes start at 1; got from {from}, to {to:?}"
            )));
        }
        let to = to.unwrap_or(size);
        // As for inclusion: a tree not grown yet, or from past to, has no proof (404).
        if from > to || to > size {
            return Err(not_found(format!(
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

impl Ledger {
    /// The last counter `name` recorded, if any.
    pub fn last_counter(&self, name: &str) -> Result<Option<u64>> {
        let Some(id) = self.view().registry.ids.get(name) else {
            return Ok(None);
        };
        self.snapshot()?.last_counter(id)
    }
}
