//! The index rows as `verify` reads them back: which rows an entry implies that the store
//! lacks, how many rows each index table holds, and every row with the seq it names (to find
//! the entry an extra row claims).

use redb::{ReadableTable, ReadableTableMetadata};

use super::{
    COUNTERS, DEVICE_MSGS, INVALID, REGISTRY, Snapshot, TX_MSGS, UNISSUED, epoch, investigation,
};
use crate::{block::IndexRows, error::Result};

/// One stored index row, as `verify` reads it back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexRow {
    /// `registry_entries`.
    Registry,
    /// `tx_messages`.
    Tx(u64),
    /// `device_messages`.
    Device(u32),
    /// `counters`.
    Counter(u32, u64),
    /// `invalid_messages`.
    Invalid,
    /// `unissued_tx_messages`, with the tx id named.
    Unissued(u64),
    /// `device_history`.
    History(u32),
    /// `begun_txs`.
    Begun(u32),
    /// `caused_invalid`.
    Caused(u32),
    /// `leaf_index`, with the key's hash prefix.
    Leaf(u64),
    /// A per-device row filed under another epoch than its seq's.
    Misfiled,
}

impl IndexRow {
    /// The table holding this row.
    pub fn table(&self) -> &'static str {
        match self {
            IndexRow::Registry => "registry_entries",
            IndexRow::Tx(_) => "tx_messages",
            IndexRow::Device(_) => "device_messages",
            IndexRow::Counter(..) => "counters",
            IndexRow::Invalid => "invalid_messages",
            IndexRow::Unissued(_) => "unissued_tx_messages",
            IndexRow::History(_) => "device_history",
            IndexRow::Begun(_) => "begun_txs",
            IndexRow::Caused(_) => "caused_invalid",
            IndexRow::Leaf(_) => "leaf_index",
            IndexRow::Misfiled => {
                "device_messages, counters, begun_txs, caused_invalid or leaf_index"
            }
        }
    }

    /// True when `rows` (what an entry implies) holds this row.
    pub fn implied_by(&self, rows: &IndexRows) -> bool {
        match *self {
            IndexRow::Registry => rows.is_registry,
            IndexRow::Tx(tx) => rows.tx == Some(tx),
            IndexRow::Device(d) => rows.devices.contains(&Some(d)),
            IndexRow::Counter(s, c) => rows.counter == Some((s, c)),
            IndexRow::Invalid => rows.invalid,
            IndexRow::Unissued(tx) => rows.unissued_tx == Some(tx),
            IndexRow::History(d) => rows.history.contains(&Some(d)),
            IndexRow::Begun(d) => rows.begins && rows.devices[0] == Some(d),
            IndexRow::Caused(d) => rows.culprit == Some(d),
            IndexRow::Leaf(k) => investigation::leaf_top(rows.leaf) == k,
            IndexRow::Misfiled => false,
        }
    }
}

impl Snapshot {
    /// The first row that `expected` (entries' seqs and the rows they imply) names and the
    /// store lacks, as (seq, table).
    pub fn missing_index_row(
        &self,
        expected: &[(u64, IndexRows)],
    ) -> Result<Option<(u64, &'static str)>> {
        let registry = self.table(REGISTRY)?;
        let tx_msgs = self.table(TX_MSGS)?;
        let dev_msgs = self.table(DEVICE_MSGS)?;
        let counters = self.table(COUNTERS)?;
        let invalid = self.table(INVALID)?;
        let unissued = self.table(UNISSUED)?;
        let history = self.table(investigation::HISTORY)?;
        let begun = self.table(investigation::BEGUN)?;
        let caused = self.table(investigation::CAUSED)?;
        let leaves = self.table(investigation::LEAVES)?;
        for &(seq, r) in expected {
            if leaves.get(investigation::leaf_row(seq, r.leaf))?.is_none() {
                return Ok(Some((seq, "leaf_index")));
            }
            for d in r.history.iter().flatten() {
                if history.get((*d, seq))?.is_none() {
                    return Ok(Some((seq, "device_history")));
                }
            }
            if r.begins
                && let Some(s) = r.devices[0]
                && begun.get((epoch(seq), s, seq))?.is_none()
            {
                return Ok(Some((seq, "begun_txs")));
            }
            if let Some(c) = r.culprit
                && caused.get((epoch(seq), c, seq))?.is_none()
            {
                return Ok(Some((seq, "caused_invalid")));
            }
            if r.is_registry && registry.get(seq)?.is_none() {
                return Ok(Some((seq, "registry_entries")));
            }
            if let Some(tx) = r.tx
                && tx_msgs.get((tx, seq))?.is_none()
            {
                return Ok(Some((seq, "tx_messages")));
            }
            for d in r.devices.iter().flatten() {
                if dev_msgs.get((epoch(seq), *d, seq))?.is_none() {
                    return Ok(Some((seq, "device_messages")));
                }
            }
            if let Some((sender, counter)) = r.counter
                && counters
                    .get((epoch(seq), sender, counter))?
                    .map(|v| v.value())
                    != Some(seq)
            {
                return Ok(Some((seq, "counters")));
            }
            if r.invalid && invalid.get(seq)?.is_none() {
                return Ok(Some((seq, "invalid_messages")));
            }
            if let Some(tx) = r.unissued_tx
                && unissued.get(seq)?.map(|v| v.value()) != Some(tx)
            {
                return Ok(Some((seq, "unissued_tx_messages")));
            }
        }
        Ok(None)
    }

    /// Rows in each index table, by table name.
    pub fn index_row_counts(&self) -> Result<Vec<(&'static str, u64)>> {
        Ok(vec![
            ("registry_entries", self.table(REGISTRY)?.len()?),
            ("tx_messages", self.table(TX_MSGS)?.len()?),
            ("device_messages", self.table(DEVICE_MSGS)?.len()?),
            ("counters", self.table(COUNTERS)?.len()?),
            ("invalid_messages", self.table(INVALID)?.len()?),
            ("unissued_tx_messages", self.table(UNISSUED)?.len()?),
            ("device_history", self.table(investigation::HISTORY)?.len()?),
            ("begun_txs", self.table(investigation::BEGUN)?.len()?),
            ("caused_invalid", self.table(investigation::CAUSED)?.len()?),
            ("leaf_index", self.table(investigation::LEAVES)?.len()?),
        ])
    }

    /// Calls `f(seq, row)` for every row of the index tables (only on `verify`'s slow path,
    /// to name the entry an extra row claims).
    pub fn for_each_index_row(&self, mut f: impl FnMut(u64, IndexRow)) -> Result<()> {
        for r in self.table(REGISTRY)?.iter()? {
            f(r?.0.value(), IndexRow::Registry);
        }
        for r in self.table(TX_MSGS)?.iter()? {
            let (tx, seq) = r?.0.value();
            f(seq, IndexRow::Tx(tx));
        }
        for r in self.table(DEVICE_MSGS)?.iter()? {
            let (e, d, seq) = r?.0.value();
            // A row filed under the wrong epoch is an extra row of its seq.
            f(
                seq,
                if e == epoch(seq) {
                    IndexRow::Device(d)
                } else {
                    IndexRow::Misfiled
                },
            );
        }
        for r in self.table(COUNTERS)?.iter()? {
            let (k, v) = r?;
            let (e, s, c) = k.value();
            let seq = v.value();
            f(
                seq,
                if e == epoch(seq) {
                    IndexRow::Counter(s, c)
                } else {
                    IndexRow::Misfiled
                },
            );
        }
        for r in self.table(INVALID)?.iter()? {
            f(r?.0.value(), IndexRow::Invalid);
        }
        for r in self.table(UNISSUED)?.iter()? {
            let (k, v) = r?;
            f(k.value(), IndexRow::Unissued(v.value()));
        }
        for r in self.table(investigation::HISTORY)?.iter()? {
            let (d, seq) = r?.0.value();
            f(seq, IndexRow::History(d));
        }
        for (def, row) in [
            (investigation::BEGUN, IndexRow::Begun as fn(u32) -> IndexRow),
            (investigation::CAUSED, IndexRow::Caused),
        ] {
            for r in self.table(def)?.iter()? {
                let (e, d, seq) = r?.0.value();
                f(
                    seq,
                    if e == epoch(seq) {
                        row(d)
                    } else {
                        IndexRow::Misfiled
                    },
                );
            }
        }
        for r in self.table(investigation::LEAVES)?.iter()? {
            let (seq, top) = investigation::leaf_row_parts(r?.0.value());
            f(seq, IndexRow::Leaf(top));
        }
        Ok(())
    }
}
