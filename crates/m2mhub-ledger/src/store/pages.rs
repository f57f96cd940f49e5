//! The tables behind bounded answers (SPEC §5): per-transaction message counts, the
//! provenance ranking kept on append, and the epoch of each sender's counters (so finding an
//! exact resubmission costs O(log n) whatever the number of epochs); their rows in a block
//! write, the migration that builds them in a store made before them, and the bounded index
//! scan every list pages through.
//!
//! Kept apart from `store.rs` so the store's own format changes merge without touching them.

use std::collections::{BTreeMap, HashSet};

use m2mhub_core::entry::Entry;
use redb::{ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction};

use super::{
    COUNTERS, DEVICE_MSGS, ENTRIES, INVALID, Index, META, REGISTRY, Snapshot, TX_MSGS, corrupt,
    epoch,
};
use crate::{
    block::EntryWrite,
    error::{LedgerError, Result},
};

/// tx → the number of `tx_messages` rows under it (a transaction view's `message_count`).
const TX_COUNTS: TableDefinition<u64, u64> = TableDefinition::new("tx_message_counts");
/// Provenance device id → invalid messages in its transactions.
const PROVENANCE_INVALID: TableDefinition<u32, u64> = TableDefinition::new("provenance_invalid");
/// [`rank_key`] → (): the provenance ranking in order, most invalid messages first.
const RANKING: TableDefinition<u64, ()> = TableDefinition::new("provenance_ranking");
/// (sender id, the sender's first counter in an epoch) → that epoch. Counters grow with seq,
/// so the last row at or below a counter names the only epoch that can hold it. One row per
/// sender per epoch it sends in: a few random inserts per epoch, not per block.
const COUNTER_EPOCHS: TableDefinition<(u32, u64), u32> = TableDefinition::new("counter_epochs");

/// `meta` key of the version of the tables above.
const PAGES_KEY: &str = "format_pages";
/// The version of the tables above (a store without the key is migrated when opened).
pub const FORMAT_PAGES: &str = "pages-v1";

/// The ranking's key: most invalid messages first, then registration order. Counts past
/// `u32::MAX` rank as `u32::MAX` (the stored count stays exact). The key is also the cursor.
pub fn rank_key(invalid: u64, device: u32) -> u64 {
    let c = u32::try_from(invalid).unwrap_or(u32::MAX);
    (u64::from(u32::MAX - c) << 32) | u64::from(device)
}

/// Creates the tables, and fills them from the other tables in a store made before them.
pub(super) fn migrate(txn: &WriteTransaction) -> Result<()> {
    txn.open_table(TX_COUNTS)?;
    txn.open_table(PROVENANCE_INVALID)?;
    txn.open_table(RANKING)?;
    txn.open_table(COUNTER_EPOCHS)?;
    let version = txn
        .open_table(META)?
        .get(PAGES_KEY)?
        .map(|v| v.value().to_owned());
    match version.as_deref() {
        Some(FORMAT_PAGES) => return Ok(()),
        Some(other) => {
            return Err(LedgerError::Corrupt(format!(
                "bounded-answer tables {other:?}, this hub reads {FORMAT_PAGES:?}"
            )));
        }
        None => {}
    }
    if txn.open_table(ENTRIES)?.last()?.is_some() {
        if !txn.open_table(TX_COUNTS)?.is_empty()? {
            return Err(corrupt("bounded-answer tables hold rows but no version"));
        }
        build_counter_epochs(txn)?;
        build_tx_counts(txn)?;
        build_ranking(txn)?;
    }
    txn.open_table(META)?.insert(PAGES_KEY, FORMAT_PAGES)?;
    Ok(())
}

fn build_counter_epochs(txn: &WriteTransaction) -> Result<()> {
    let mut firsts = Vec::new();
    {
        let counters = txn.open_table(COUNTERS)?;
        let mut last = None;
        for r in counters.iter()? {
            let (e, s, c) = r?.0.value();
            if last != Some((e, s)) {
                firsts.push(((s, c), e));
                last = Some((e, s));
            }
        }
    }
    let mut t = txn.open_table(COUNTER_EPOCHS)?;
    for (k, e) in firsts {
        t.insert(k, e)?;
    }
    Ok(())
}

fn build_tx_counts(txn: &WriteTransaction) -> Result<()> {
    let mut counts: Vec<(u64, u64)> = Vec::new();
    for r in txn.open_table(TX_MSGS)?.iter()? {
        let (tx, _) = r?.0.value();
        match counts.last_mut() {
            Some((t, n)) if *t == tx => *n += 1,
            _ => counts.push((tx, 1)),
        }
    }
    let mut t = txn.open_table(TX_COUNTS)?;
    for (tx, n) in counts {
        t.insert(tx, n)?;
    }
    Ok(())
}

fn build_ranking(txn: &WriteTransaction) -> Result<()> {
    let entries = txn.open_table(ENTRIES)?;
    let decode = |seq: u64| -> Result<Entry> {
        let v = entries
            .get(seq)?
            .ok_or_else(|| corrupt(format!("entry {seq} missing")))?;
        Entry::from_bytes(v.value()).map_err(|e| corrupt(format!("entry {seq}: {e}")))
    };
    let mut ids = crate::parties::PartyIds::default();
    for r in txn.open_table(REGISTRY)?.iter()? {
        let seq = r?.0.value();
        ids.observe(seq, &decode(seq)?);
    }
    let mut counts: BTreeMap<u32, u64> = BTreeMap::new();
    for r in txn.open_table(INVALID)?.iter()? {
        let seq = r?.0.value();
        if let Entry::Message(m) = decode(seq)?
            && let Some(id) = m.provenance.and_then(|p| ids.get(p.as_str()))
        {
            *counts.entry(id).or_default() += 1;
        }
    }
    drop(entries);
    let mut invalid = txn.open_table(PROVENANCE_INVALID)?;
    let mut ranking = txn.open_table(RANKING)?;
    for (id, n) in counts {
        invalid.insert(id, n)?;
        ranking.insert(rank_key(n, id), ())?;
    }
    Ok(())
}

/// Writes a block's rows of the tables above. Runs in the block's write transaction before
/// its `counters` rows are inserted (it asks `counters` whether a sender already wrote in
/// the current epoch).
pub(super) fn write_block(txn: &WriteTransaction, entries: &[EntryWrite]) -> Result<()> {
    let mut tx_counts: BTreeMap<u64, u64> = BTreeMap::new();
    let mut invalid: BTreeMap<u32, u64> = BTreeMap::new();
    let mut firsts = Vec::new();
    {
        let counters = txn.open_table(COUNTERS)?;
        let mut seen = HashSet::new();
        for e in entries {
            let rows = &e.rows;
            if let Some(tx) = rows.tx {
                *tx_counts.entry(tx).or_default() += 1;
            }
            if let Some(p) = rows.provenance_invalid {
                *invalid.entry(p).or_default() += 1;
            }
            if let Some((s, c)) = rows.counter {
                let ep = epoch(e.seq);
                // The block's first counter of a sender in an epoch is its first in that
                // epoch unless an earlier block wrote one there.
                if seen.insert((ep, s))
                    && counters
                        .range((ep, s, 0)..=(ep, s, u64::MAX))?
                        .next()
                        .is_none()
                {
                    firsts.push(((s, c), ep));
                }
            }
        }
    }
    {
        let mut t = txn.open_table(TX_COUNTS)?;
        for (tx, n) in tx_counts {
            let before = t.get(tx)?.map_or(0, |v| v.value());
            t.insert(tx, before + n)?;
        }
    }
    if !invalid.is_empty() {
        let mut counts = txn.open_table(PROVENANCE_INVALID)?;
        let mut ranking = txn.open_table(RANKING)?;
        for (id, n) in invalid {
            let before = counts.get(id)?.map_or(0, |v| v.value());
            if before > 0 {
                ranking.remove(rank_key(before, id))?;
            }
            counts.insert(id, before + n)?;
            ranking.insert(rank_key(before + n, id), ())?;
        }
    }
    if !firsts.is_empty() {
        let mut t = txn.open_table(COUNTER_EPOCHS)?;
        for (k, e) in firsts {
            t.insert(k, e)?;
        }
    }
    Ok(())
}

/// Where a bounded scan stopped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScanEnd {
    /// Index rows read (an empty epoch probed counts as one).
    pub rows_read: u64,
    /// `None`: the range was walked to its end. `Some(c)`: every seq up to `c` (oldest
    /// first) or down to `c` (newest first) was looked at; continue past it.
    pub resume: Option<u64>,
}

/// One row of the ranking: (rank key, device id, invalid messages).
pub type RankRow = (u64, u32, u64);
/// The ranking tables as `verify` reads them: (device id, invalid messages) by id, and the
/// ranking keys in order.
pub type RankingRows = (Vec<(u32, u64)>, Vec<u64>);

/// What the visitor of a scan says after each seq.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visit {
    /// Go on.
    More,
    /// The page is full: stop here.
    Full,
}

impl Snapshot {
    /// Walks `index` over seqs in `lo..hi`, oldest first or (`newest_first`) newest first,
    /// calling `f` for each seq, and stops once `f` says the page is full or `budget` index
    /// rows were read. A device's rows are filed by epoch, so its walk probes epochs; each
    /// probe counts as a read, so a device silent for a long time costs no more than the
    /// budget either.
    pub fn scan_index(
        &self,
        index: Index,
        lo: u64,
        hi: u64,
        newest_first: bool,
        budget: u64,
        mut f: impl FnMut(u64) -> Result<Visit>,
    ) -> Result<ScanEnd> {
        let mut end = ScanEnd::default();
        let hi = hi.min(self.size()?);
        if lo >= hi || budget == 0 {
            return Ok(end);
        }
        // Visits rows of one range; true when the scan must stop at `end.resume`.
        let mut walk =
            |range: &mut dyn Iterator<Item = Result<u64>>, end: &mut ScanEnd| -> Result<bool> {
                for seq in range {
                    let seq = seq?;
                    end.rows_read += 1;
                    let full = f(seq)? == Visit::Full;
                    if full || end.rows_read >= budget {
                        end.resume = Some(seq);
                        return Ok(true);
                    }
                }
                Ok(false)
            };
        fn rows<'a, K: redb::Key + 'static, V: redb::Value + 'static>(
            r: redb::Range<'a, K, V>,
            seq: impl Fn(K::SelfType<'_>) -> u64 + 'a,
            rev: bool,
        ) -> Box<dyn Iterator<Item = Result<u64>> + 'a> {
            let map = move |x: std::result::Result<
                (redb::AccessGuard<'_, K>, redb::AccessGuard<'_, V>),
                redb::StorageError,
            >| { x.map(|(k, _)| seq(k.value())).map_err(LedgerError::from) };
            if rev {
                Box::new(r.rev().map(map))
            } else {
                Box::new(r.map(map))
            }
        }
        match index {
            Index::Tx(tx) => {
                let t = self.table(TX_MSGS)?;
                let mut r = rows(t.range((tx, lo)..(tx, hi))?, |k| k.1, newest_first);
                walk(&mut r, &mut end)?;
            }
            Index::Invalid => {
                let t = self.table(INVALID)?;
                let mut r = rows(t.range(lo..hi)?, |k| k, newest_first);
                walk(&mut r, &mut end)?;
            }
            Index::Unissued => {
                let t = self.table(super::UNISSUED)?;
                let mut r = rows(t.range(lo..hi)?, |k| k, newest_first);
                walk(&mut r, &mut end)?;
            }
            Index::All => {
                let t = self.table(ENTRIES)?;
                let mut r = rows(t.range(lo..hi)?, |k| k, newest_first);
                walk(&mut r, &mut end)?;
            }
            Index::Device(_) | Index::Begun(_) | Index::Caused(_) => {
                let (def, d) = match index {
                    Index::Begun(d) => (super::investigation::BEGUN, d),
                    Index::Caused(d) => (super::investigation::CAUSED, d),
                    Index::Device(d) => (DEVICE_MSGS, d),
                    _ => return Ok(end),
                };
                let t = self.table(def)?;
                let (first, last) = (epoch(lo), epoch(hi - 1));
                let epochs: Box<dyn Iterator<Item = u32>> = if newest_first {
                    Box::new((first..=last).rev())
                } else {
                    Box::new(first..=last)
                };
                for e in epochs {
                    let before = end.rows_read;
                    let mut r = rows(t.range((e, d, lo)..(e, d, hi))?, |k| k.2, newest_first);
                    if walk(&mut r, &mut end)? {
                        break;
                    }
                    if end.rows_read == before {
                        end.rows_read += 1;
                    }
                    if end.rows_read >= budget {
                        // Everything in this epoch was looked at.
                        let span = 1u64 << super::EPOCH_BITS;
                        let resume = if newest_first {
                            (u64::from(e) * span).max(lo)
                        } else {
                            (u64::from(e) * span + span - 1).min(hi - 1)
                        };
                        let done = if newest_first {
                            resume <= lo
                        } else {
                            resume >= hi - 1
                        };
                        end.resume = (!done).then_some(resume);
                        break;
                    }
                }
            }
        }
        Ok(end)
    }

    /// The number of messages filed under `tx` in `tx_messages`.
    pub fn tx_message_count(&self, tx: u64) -> Result<u64> {
        Ok(self.table(TX_COUNTS)?.get(tx)?.map_or(0, |v| v.value()))
    }

    /// Up to `limit` ranking rows after the cursor `after`, and whether more follow:
    /// ((rank key, device id, invalid messages), more).
    pub fn ranking_page(&self, after: Option<u64>, limit: usize) -> Result<(Vec<RankRow>, bool)> {
        let ranking = self.table(RANKING)?;
        let counts = self.table(PROVENANCE_INVALID)?;
        let start = after.map_or(0, |a| a.saturating_add(1));
        let mut out = Vec::with_capacity(limit);
        for r in ranking.range(start..)?.take(limit + 1) {
            let key = r?.0.value();
            if out.len() == limit {
                return Ok((out, true));
            }
            let id = (key & u64::from(u32::MAX)) as u32;
            let n = counts
                .get(id)?
                .map(|v| v.value())
                .ok_or_else(|| corrupt(format!("ranked device id {id} has no count")))?;
            out.push((key, id, n));
        }
        Ok((out, false))
    }

    /// The epoch that holds `sender`'s message with `counter`, if it sent one.
    pub(super) fn counter_epoch(&self, sender: u32, counter: u64) -> Result<Option<u32>> {
        let t = self.table(COUNTER_EPOCHS)?;
        let found = t.range((sender, 0)..=(sender, counter))?.next_back();
        Ok(found.transpose()?.map(|(_, v)| v.value()))
    }

    /// Every stored message count: (tx, count), by tx (for `verify`).
    pub fn tx_message_counts(&self) -> Result<Vec<(u64, u64)>> {
        let mut out = Vec::new();
        for r in self.table(TX_COUNTS)?.iter()? {
            let (k, v) = r?;
            out.push((k.value(), v.value()));
        }
        Ok(out)
    }

    /// Every stored provenance count, by device id, and every ranking key, in order (for
    /// `verify`).
    pub fn ranking_rows(&self) -> Result<RankingRows> {
        let mut counts = Vec::new();
        for r in self.table(PROVENANCE_INVALID)?.iter()? {
            let (k, v) = r?;
            counts.push((k.value(), v.value()));
        }
        let mut keys = Vec::new();
        for r in self.table(RANKING)?.iter()? {
            keys.push(r?.0.value());
        }
        Ok((counts, keys))
    }

    /// Every counter-epoch row: ((sender id, first counter), epoch), in key order (for
    /// `verify`).
    pub fn counter_epoch_rows(&self) -> Result<Vec<((u32, u64), u32)>> {
        let mut out = Vec::new();
        for r in self.table(COUNTER_EPOCHS)?.iter()? {
            let (k, v) = r?;
            out.push((k.value(), v.value()));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
