//! The tables behind the investigator's console (issue 12): incidents (invalid messages
//! grouped by transaction, or by sender for messages naming a tx id not issued yet), each
//! device's activity counts, its registry history, the transactions it began and the invalid
//! messages it caused. Each block's write transaction keeps them ([`write_block`]); a store
//! made before them is backfilled from its entries when opened ([`backfill`]).
//!
//! Keys follow the store's rule (every insert near the right edge): the incident order is
//! keyed by the seq of a group's latest invalid message, per-device lists by epoch first. The
//! per-device counts (`device_activity`) are packed 64 devices to a row ([`packed`]), rewritten
//! by the blocks they are in.

use std::collections::BTreeMap;

use m2mhub_core::entry::Entry;
use redb::{ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction};

use super::{
    BLOCK_STARTS, BLOCKS, BlockSpan, ENTRIES, INVALID, REGISTRY, Snapshot, corrupt, epoch, packed,
};
use crate::{
    block::{EntryWrite, IndexRows},
    error::Result,
};

/// (group kind, id) → [invalid messages, first invalid seq, last invalid seq, notice bits].
/// Kind [`TX_GROUP`]: id is the tx; kind [`SENDER_GROUP`]: id is the sender's device id.
pub(super) const INCIDENTS: TableDefinition<(u8, u64), [u64; 4]> =
    TableDefinition::new("incidents");
/// The seq of a group's latest invalid message → the group: incidents newest first.
pub(super) const INCIDENT_ORDER: TableDefinition<u64, (u8, u64)> =
    TableDefinition::new("incident_order");
/// Row of [`packed`] devices → each one's [`Activity`] as [sent, received, messages, invalid
/// caused, transactions begun, seq of its last message sent + 1 (0: none)].
pub(super) const ACTIVITY: TableDefinition<u32, &[u8]> = TableDefinition::new("device_activity");
/// Counters per device in [`ACTIVITY`].
const ACTIVITY_W: usize = 6;
/// (device id, seq) for every registry entry of a device's history.
pub(super) const HISTORY: TableDefinition<(u32, u64), ()> = TableDefinition::new("device_history");
/// (epoch, device id, seq) for every `begin` a device sent.
pub(super) const BEGUN: TableDefinition<(u32, u32, u64), ()> = TableDefinition::new("begun_txs");
/// (epoch, culprit device id, seq) for every invalid message (see [`IndexRows::culprit`]).
pub(super) const CAUSED: TableDefinition<(u32, u32, u64), ()> =
    TableDefinition::new("caused_invalid");

/// ([`leaf_epoch`], [`leaf_row`]'s packed key) for every entry: finds an entry by its leaf
/// hash epoch by epoch, newest first. A block's rows are random only within the current leaf
/// epoch, never across the whole table. 12 bytes a row (it was 20: the index was most of
/// what the investigation tables add to the store, and a block's fsync writes every byte).
pub(super) const LEAVES: TableDefinition<(u32, u64), ()> = TableDefinition::new("leaf_index");

/// Seqs per leaf epoch, as a power of two. Smaller than the per-device [`epoch`]s: hash keys
/// are random within an epoch, so a block rewrites every leaf page of the epochs it writes
/// in; 8,192 rows (about 50 pages) keep that to what the block's own rows fill (a
/// 4,096-entry block writes half an epoch), at one probe per 8,192 entries on lookup
/// (~1,200 at 10M entries).
const LEAF_EPOCH_BITS: u32 = 13;

/// The leaf epoch of `seq`.
pub(super) fn leaf_epoch(seq: u64) -> u32 {
    u32::try_from(seq >> LEAF_EPOCH_BITS).unwrap_or(u32::MAX)
}

const LEAF_OFFSET_MASK: u64 = (1 << LEAF_EPOCH_BITS) - 1;

/// The [`LEAVES`] key of the entry at `seq` with leaf key `leaf` ([`crate::block::leaf_key`]):
/// its leaf epoch, then the leaf key's top 51 bits above the seq's offset in the epoch.
pub(super) fn leaf_row(seq: u64, leaf: u64) -> (u32, u64) {
    (
        leaf_epoch(seq),
        (leaf & !LEAF_OFFSET_MASK) | (seq & LEAF_OFFSET_MASK),
    )
}

/// The seq and the leaf key's top 51 bits (as [`leaf_top`] gives them) of a [`LEAVES`] key.
pub(super) fn leaf_row_parts((e, k): (u32, u64)) -> (u64, u64) {
    (
        (u64::from(e) << LEAF_EPOCH_BITS) | (k & LEAF_OFFSET_MASK),
        k & !LEAF_OFFSET_MASK,
    )
}

/// The part of a leaf key the index keeps.
pub(super) fn leaf_top(leaf: u64) -> u64 {
    leaf & !LEAF_OFFSET_MASK
}

/// Incident group of invalid messages of one transaction.
pub const TX_GROUP: u8 = 0;
/// Incident group of one sender's messages naming tx ids not issued yet (SPEC §3.1).
pub const SENDER_GROUP: u8 = 1;

/// An incident group as stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Incident {
    /// [`TX_GROUP`] or [`SENDER_GROUP`].
    pub kind: u8,
    /// The tx, or the sender's device id.
    pub id: u64,
    /// Invalid messages in it.
    pub invalid: u64,
    /// Seq of its first invalid message.
    pub first: u64,
    /// Seq of its latest invalid message.
    pub last: u64,
    /// The union of its messages' notices, as bits.
    pub notices: u16,
}

/// A device's activity counts, kept on append.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Activity {
    /// Messages it sent.
    pub sent: u64,
    /// Messages it received.
    pub received: u64,
    /// Messages it sent or received (once when both).
    pub messages: u64,
    /// Invalid messages it caused ([`IndexRows::culprit`]).
    pub invalid_caused: u64,
    /// Transactions it began (its `begin` messages).
    pub begun: u64,
    /// Seq of the last message it sent.
    pub last_sent: Option<u64>,
}

impl Activity {
    fn to_row(self) -> [u64; 6] {
        [
            self.sent,
            self.received,
            self.messages,
            self.invalid_caused,
            self.begun,
            self.last_sent.map_or(0, |s| s + 1),
        ]
    }

    fn from_row(r: [u64; 6]) -> Activity {
        Activity {
            sent: r[0],
            received: r[1],
            messages: r[2],
            invalid_caused: r[3],
            begun: r[4],
            last_sent: r[5].checked_sub(1),
        }
    }

    fn add(&mut self, o: &Activity) {
        self.sent += o.sent;
        self.received += o.received;
        self.messages += o.messages;
        self.invalid_caused += o.invalid_caused;
        self.begun += o.begun;
        self.last_sent = self.last_sent.max(o.last_sent);
    }
}

/// The incident group an entry's rows put it in, if invalid.
pub fn incident_group(r: &IndexRows) -> Option<(u8, u64)> {
    if !r.invalid {
        return None;
    }
    match (r.tx, r.unissued_tx, r.devices[0]) {
        (Some(tx), _, _) => Some((TX_GROUP, tx)),
        (None, Some(_), Some(sender)) => Some((SENDER_GROUP, u64::from(sender))),
        _ => None,
    }
}

/// What a run of entries (in seq order) adds to the aggregate tables: incident groups and
/// device activity. `verify` derives the same with it.
#[derive(Debug, Default)]
pub struct Aggregates {
    /// Incident groups, by (kind, id).
    pub incidents: BTreeMap<(u8, u64), Incident>,
    /// Activity, by device id.
    pub activity: BTreeMap<u32, Activity>,
}

impl Aggregates {
    /// Adds the entry at `seq` (after every earlier one).
    pub fn note(&mut self, seq: u64, r: &IndexRows) {
        if let Some((kind, id)) = incident_group(r) {
            let g = self.incidents.entry((kind, id)).or_insert(Incident {
                kind,
                id,
                first: seq,
                ..Incident::default()
            });
            g.invalid += 1;
            g.last = seq;
            g.notices |= r.notices;
        }
        if r.is_registry {
            return;
        }
        if let Some(s) = r.devices[0] {
            let a = self.activity.entry(s).or_default();
            a.sent += 1;
            a.messages += 1;
            a.last_sent = Some(seq);
            a.begun += u64::from(r.begins);
        }
        if let Some(rc) = r.receiver {
            let a = self.activity.entry(rc).or_default();
            a.received += 1;
            a.messages += u64::from(r.devices[0] != Some(rc));
        }
        if let Some(c) = r.culprit {
            self.activity.entry(c).or_default().invalid_caused += 1;
        }
    }
}

/// Creates the tables (a new store, or before a backfill).
pub(super) fn create(txn: &WriteTransaction) -> Result<()> {
    txn.open_table(INCIDENTS)?;
    txn.open_table(INCIDENT_ORDER)?;
    txn.open_table(ACTIVITY)?;
    txn.open_table(HISTORY)?;
    txn.open_table(BEGUN)?;
    txn.open_table(CAUSED)?;
    txn.open_table(LEAVES)?;
    Ok(())
}

/// Deletes the tables (before a store of an older layout of them is backfilled anew).
pub(super) fn delete(txn: &WriteTransaction) -> Result<()> {
    txn.delete_table(INCIDENTS)?;
    txn.delete_table(INCIDENT_ORDER)?;
    txn.delete_table(ACTIVITY)?;
    txn.delete_table(HISTORY)?;
    txn.delete_table(BEGUN)?;
    txn.delete_table(CAUSED)?;
    txn.delete_table(LEAVES)?;
    Ok(())
}

/// Writes a block's rows of the tables above, in the block's write transaction.
pub(super) fn write_block(txn: &WriteTransaction, entries: &[EntryWrite]) -> Result<()> {
    let mut agg = Aggregates::default();
    for e in entries {
        agg.note(e.seq, &e.rows);
    }
    if !agg.incidents.is_empty() {
        let mut groups = txn.open_table(INCIDENTS)?;
        let mut order = txn.open_table(INCIDENT_ORDER)?;
        for (k, new) in agg.incidents {
            let merged = match groups.get(k)?.map(|v| v.value()) {
                Some([n, first, last, bits]) => {
                    order.remove(last)?;
                    [
                        n + new.invalid,
                        first,
                        new.last,
                        bits | u64::from(new.notices),
                    ]
                }
                None => [new.invalid, new.first, new.last, u64::from(new.notices)],
            };
            groups.insert(k, merged)?;
            order.insert(new.last, k)?;
        }
    }
    if !agg.activity.is_empty() {
        let mut t = txn.open_table(ACTIVITY)?;
        let mut devices = agg.activity.into_iter().peekable();
        while let Some((first, _)) = devices.peek() {
            let (row_id, _) = packed::place(*first);
            let mut row = t
                .get(row_id)?
                .map(|v| v.value().to_vec())
                .unwrap_or_default();
            while let Some((id, d)) = devices.next_if(|(id, _)| packed::place(*id).0 == row_id) {
                let slot = packed::place(id).1;
                let mut a = Activity::from_row(packed::get::<ACTIVITY_W>(&row, slot)?);
                a.add(&d);
                packed::set(&mut row, slot, a.to_row())?;
            }
            t.insert(row_id, row.as_slice())?;
        }
    }
    let mut history = txn.open_table(HISTORY)?;
    let mut begun = txn.open_table(BEGUN)?;
    let mut caused = txn.open_table(CAUSED)?;
    let mut leaves = txn.open_table(LEAVES)?;
    for e in entries {
        let r = &e.rows;
        leaves.insert(leaf_row(e.seq, r.leaf), ())?;
        for d in r.history.iter().flatten() {
            history.insert((*d, e.seq), ())?;
        }
        if r.begins
            && let Some(s) = r.devices[0]
        {
            begun.insert((epoch(e.seq), s, e.seq), ())?;
        }
        if let Some(c) = r.culprit {
            caused.insert((epoch(e.seq), c, e.seq), ())?;
        }
    }
    Ok(())
}

/// Fills the tables from the entries of a store made before them, block by block, inside
/// the transaction that opens it.
pub(super) fn backfill(txn: &WriteTransaction) -> Result<()> {
    create(txn)?;
    super::rates::create(txn)?;
    let mut spans = Vec::new();
    for r in txn.open_table(BLOCKS)?.iter()? {
        let (k, v) = r?;
        let h = k.value();
        let span: BlockSpan =
            serde_json::from_slice(v.value()).map_err(|e| corrupt(format!("block {h}: {e}")))?;
        if span.size > 0 {
            spans.push((span.first_seq, span.first_seq + span.size, span.time_ms));
        }
    }
    let mut ids = crate::parties::PartyIds::default();
    for (start, end, time_ms) in spans {
        let mut writes = Vec::new();
        for r in txn.open_table(ENTRIES)?.range(start..end)? {
            let (k, v) = r?;
            let seq = k.value();
            let entry =
                Entry::from_bytes(v.value()).map_err(|e| corrupt(format!("entry {seq}: {e}")))?;
            ids.observe(seq, &entry);
            writes.push(EntryWrite {
                seq,
                bytes: v.value().to_vec(),
                contents: None,
                rows: IndexRows::of(&entry, |n| ids.get(n)).with_leaf(v.value()),
            });
        }
        write_block(txn, &writes)?;
        super::rates::write_block(txn, &writes, time_ms)?;
    }
    Ok(())
}

/// Rows of the tables above as `verify` reads them back.
#[derive(Debug, Default)]
pub struct InvestigationRows {
    /// Every incident group, by key.
    pub incidents: Vec<Incident>,
    /// Every incident-order row: (last seq, group), by seq.
    pub order: Vec<(u64, (u8, u64))>,
    /// Every activity row, by device id.
    pub activity: Vec<(u32, Activity)>,
}

impl Snapshot {
    /// Incident groups newest first (by their latest invalid seq), with latest seq below
    /// `before` when given; up to `limit`, and whether more follow.
    pub fn incident_page(
        &self,
        before: Option<u64>,
        limit: usize,
    ) -> Result<(Vec<Incident>, bool)> {
        let order = self.table(INCIDENT_ORDER)?;
        let groups = self.table(INCIDENTS)?;
        let mut out = Vec::with_capacity(limit);
        for r in order.range(..before.unwrap_or(u64::MAX))?.rev() {
            if out.len() == limit {
                return Ok((out, true));
            }
            let (k, v) = r?;
            let (kind, id) = v.value();
            let row = groups
                .get((kind, id))?
                .ok_or_else(|| corrupt(format!("incident of seq {} has no group", k.value())))?;
            out.push(incident((kind, id), row.value()));
        }
        Ok((out, false))
    }

    /// The incident group (kind, id), if any message of it is invalid.
    pub fn incident(&self, kind: u8, id: u64) -> Result<Option<Incident>> {
        Ok(self
            .table(INCIDENTS)?
            .get((kind, id))?
            .map(|v| incident((kind, id), v.value())))
    }

    /// The seq of the entry whose leaf hash is `leaf`, looked up leaf epoch by leaf epoch,
    /// newest first (one B-tree probe each).
    pub fn seq_of_leaf(&self, leaf: &m2mhub_core::hash::Hash) -> Result<Option<u64>> {
        let size = self.size()?;
        if size == 0 {
            return Ok(None);
        }
        let key = crate::block::leaf_key(leaf);
        let t = self.table(LEAVES)?;
        let entries = self.table(ENTRIES)?;
        let top = leaf_top(key);
        for e in (0..=leaf_epoch(size - 1)).rev() {
            for r in t.range((e, top)..=(e, top | LEAF_OFFSET_MASK))? {
                let (seq, _) = leaf_row_parts(r?.0.value());
                // 51 bits can collide: the entry's own hash decides.
                let same = entries
                    .get(seq)?
                    .is_some_and(|b| m2mhub_core::merkle::leaf_hash(b.value()) == *leaf);
                if same {
                    return Ok(Some(seq));
                }
            }
        }
        Ok(None)
    }

    /// (incident groups, invalid messages).
    pub fn incident_totals(&self) -> Result<(u64, u64)> {
        Ok((
            self.table(INCIDENT_ORDER)?.len()?,
            self.table(INVALID)?.len()?,
        ))
    }

    /// A device's activity counts (zeros for a device that never took part in a message).
    pub fn activity(&self, device: u32) -> Result<Activity> {
        let (row, slot) = packed::place(device);
        match self.table(ACTIVITY)?.get(row)? {
            Some(v) => Ok(Activity::from_row(packed::get::<ACTIVITY_W>(
                v.value(),
                slot,
            )?)),
            None => Ok(Activity::default()),
        }
    }

    /// Seqs of a device's registry history after `after`, oldest first: up to `limit`, and
    /// whether more follow.
    pub fn history_page(
        &self,
        device: u32,
        after: Option<u64>,
        limit: usize,
    ) -> Result<(Vec<u64>, bool)> {
        let t = self.table(HISTORY)?;
        let lo = after.map_or(0, |a| a.saturating_add(1));
        let mut out = Vec::with_capacity(limit);
        for r in t.range((device, lo)..=(device, u64::MAX))? {
            if out.len() == limit {
                return Ok((out, true));
            }
            out.push(r?.0.value().1);
        }
        Ok((out, false))
    }

    /// Messages in the ledger (entries that are not registry changes).
    pub fn message_count(&self) -> Result<u64> {
        let entries = self.table(ENTRIES)?.len()?;
        Ok(entries.saturating_sub(self.table(REGISTRY)?.len()?))
    }

    /// The seqs `lo..hi` of the entries in blocks sealed between `from_ms` and `to_ms`
    /// (inclusive; either open when `None`), found by binary search over the blocks' times,
    /// which never decrease (SPEC §5): O(log n) block reads.
    pub fn seq_range_of_times(
        &self,
        from_ms: Option<u64>,
        to_ms: Option<u64>,
    ) -> Result<(u64, u64)> {
        let blocks = self.table(BLOCKS)?;
        let Some(last) = blocks.last()? else {
            return Ok((0, 0));
        };
        let top = last.0.value();
        let span = |h: u64| -> Result<BlockSpan> {
            let row = blocks
                .get(h)?
                .ok_or_else(|| corrupt(format!("no block {h}")))?;
            serde_json::from_slice(row.value()).map_err(|e| corrupt(format!("block {h}: {e}")))
        };
        let end = {
            let s = span(top)?;
            s.first_seq + s.size
        };
        // The first height whose time makes `past` true (`past` is monotone), or `None`.
        let first = |past: &dyn Fn(u64) -> bool| -> Result<Option<BlockSpan>> {
            let (mut lo, mut hi) = (0u64, top + 1);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if past(span(mid)?.time_ms) {
                    hi = mid;
                } else {
                    lo = mid + 1;
                }
            }
            if lo > top {
                Ok(None)
            } else {
                span(lo).map(Some)
            }
        };
        let lo = match from_ms {
            Some(f) => first(&|t| t >= f)?.map_or(end, |s| s.first_seq),
            None => 0,
        };
        let hi = match to_ms {
            Some(t) => first(&|bt| bt > t)?.map_or(end, |s| s.first_seq),
            None => end,
        };
        Ok((lo, hi))
    }

    /// When the block holding `seq` was sealed, if its checkpoint signs the time.
    pub fn signed_time_of(&self, seq: u64) -> Result<Option<u64>> {
        let Some(found) = self.table(BLOCK_STARTS)?.range(..=seq)?.next_back() else {
            return Ok(None);
        };
        let h = found?.1.value();
        let Some(row) = self.table(BLOCKS)?.get(h)? else {
            return Err(corrupt(format!("no block {h}")));
        };
        let span: BlockSpan =
            serde_json::from_slice(row.value()).map_err(|e| corrupt(format!("block {h}: {e}")))?;
        Ok(span.time_signed.then_some(span.time_ms))
    }

    /// The incident, order and activity tables in key order (for `verify`).
    pub fn investigation_rows(&self) -> Result<InvestigationRows> {
        let mut out = InvestigationRows::default();
        for r in self.table(INCIDENTS)?.iter()? {
            let (k, v) = r?;
            out.incidents.push(incident(k.value(), v.value()));
        }
        for r in self.table(INCIDENT_ORDER)?.iter()? {
            let (k, v) = r?;
            out.order.push((k.value(), v.value()));
        }
        for r in self.table(ACTIVITY)?.iter()? {
            let (k, v) = r?;
            for (slot, a) in packed::used::<ACTIVITY_W>(v.value())? {
                out.activity
                    .push((packed::device(k.value(), slot), Activity::from_row(a)));
            }
        }
        Ok(out)
    }
}

fn incident((kind, id): (u8, u64), [n, first, last, bits]: [u64; 4]) -> Incident {
    Incident {
        kind,
        id,
        invalid: n,
        first,
        last,
        notices: u16::try_from(bits).unwrap_or(u16::MAX),
    }
}
