//! Message and invalid-message counts over time, kept on append (`GET /v1/stats/rates`): per
//! minute and per hour for the whole ledger, per hour for each device (messages it sent,
//! invalid messages it caused), and per minute for the invalid messages a device caused (rare:
//! a row per device only in minutes it caused one). Every message of a block counts at the
//! block's time, so keys (time first) only grow.

use std::collections::BTreeMap;

use redb::{ReadableTable, TableDefinition, WriteTransaction};

use super::{Snapshot, packed};
use crate::{block::EntryWrite, error::Result};

/// Minute (unix ms / 60,000) → [messages, invalid].
pub(super) const MINUTES: TableDefinition<u64, [u64; 2]> = TableDefinition::new("rates_minute");
/// Hour (unix ms / 3,600,000) → [messages, invalid].
pub(super) const HOURS: TableDefinition<u64, [u64; 2]> = TableDefinition::new("rates_hour");
/// (hour, row of [`packed`] devices) → each one's [messages it sent, invalid messages it
/// caused].
pub(super) const DEVICE_HOURS: TableDefinition<(u64, u32), &[u8]> =
    TableDefinition::new("device_rates_hour");
/// (minute, device id) → invalid messages it caused (rows only where nonzero).
pub(super) const DEVICE_MINUTES: TableDefinition<(u64, u32), u64> =
    TableDefinition::new("device_invalid_minute");

/// Milliseconds in a minute.
pub const MINUTE_MS: u64 = 60_000;
/// Milliseconds in an hour.
pub const HOUR_MS: u64 = 3_600_000;

/// The rate rows a run of blocks implies: what a block adds, and what `verify` rebuilds.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RateRows {
    /// minute → [messages, invalid].
    pub minutes: BTreeMap<u64, [u64; 2]>,
    /// hour → [messages, invalid].
    pub hours: BTreeMap<u64, [u64; 2]>,
    /// (hour, device id) → [sent, invalid caused].
    pub device_hours: BTreeMap<(u64, u32), [u64; 2]>,
    /// (minute, device id) → invalid caused.
    pub device_minutes: BTreeMap<(u64, u32), u64>,
}

impl RateRows {
    /// Adds the entries of a block sealed at `time_ms`.
    pub fn note(&mut self, time_ms: u64, rows: &crate::block::IndexRows) {
        if rows.is_registry {
            return;
        }
        let (m, h) = (time_ms / MINUTE_MS, time_ms / HOUR_MS);
        let bad = u64::from(rows.invalid);
        for (k, t) in [(m, &mut self.minutes), (h, &mut self.hours)] {
            let c = t.entry(k).or_default();
            c[0] += 1;
            c[1] += bad;
        }
        if let Some(s) = rows.devices[0] {
            self.device_hours.entry((h, s)).or_default()[0] += 1;
        }
        if let Some(c) = rows.culprit {
            self.device_hours.entry((h, c)).or_default()[1] += 1;
            *self.device_minutes.entry((m, c)).or_default() += 1;
        }
    }
}

/// Creates the tables.
pub(super) fn create(txn: &WriteTransaction) -> Result<()> {
    txn.open_table(MINUTES)?;
    txn.open_table(HOURS)?;
    txn.open_table(DEVICE_HOURS)?;
    txn.open_table(DEVICE_MINUTES)?;
    Ok(())
}

/// Deletes the tables (before a store of an older layout of them is backfilled anew).
pub(super) fn delete(txn: &WriteTransaction) -> Result<()> {
    txn.delete_table(MINUTES)?;
    txn.delete_table(HOURS)?;
    txn.delete_table(DEVICE_HOURS)?;
    txn.delete_table(DEVICE_MINUTES)?;
    Ok(())
}

/// Adds a block's messages, sealed at `time_ms`, in its write transaction.
pub(super) fn write_block(
    txn: &WriteTransaction,
    entries: &[EntryWrite],
    time_ms: u64,
) -> Result<()> {
    let mut add = RateRows::default();
    for e in entries {
        add.note(time_ms, &e.rows);
    }
    if add.minutes.is_empty() {
        return Ok(());
    }
    for (def, rows) in [(MINUTES, &add.minutes), (HOURS, &add.hours)] {
        let mut t = txn.open_table(def)?;
        for (k, [n, bad]) in rows {
            let [n0, b0] = t.get(*k)?.map_or([0, 0], |v| v.value());
            t.insert(*k, [n0 + n, b0 + bad])?;
        }
    }
    let mut t = txn.open_table(DEVICE_HOURS)?;
    let mut cells = add.device_hours.iter().peekable();
    while let Some(((hour, first), _)) = cells.peek() {
        let key = (*hour, packed::place(*first).0);
        let mut row = t.get(key)?.map(|v| v.value().to_vec()).unwrap_or_default();
        while let Some(((_, id), [n, bad])) =
            cells.next_if(|((h, id), _)| (*h, packed::place(*id).0) == key)
        {
            let slot = packed::place(*id).1;
            let [n0, b0] = packed::get::<2>(&row, slot)?;
            packed::set(&mut row, slot, [n0 + n, b0 + bad])?;
        }
        t.insert(key, row.as_slice())?;
    }
    let mut t = txn.open_table(DEVICE_MINUTES)?;
    for (k, bad) in &add.device_minutes {
        let b0 = t.get(*k)?.map_or(0, |v| v.value());
        t.insert(*k, b0 + bad)?;
    }
    Ok(())
}

impl Snapshot {
    /// [messages, invalid] per bucket of `bucket_ms` (a multiple of a minute, or of an hour
    /// when ≥ 1 h) from `first` (aligned) for `count` buckets; with `device`, [messages it
    /// sent, invalid messages it caused], the first `None` below an hour (kept per hour only).
    pub fn rates(
        &self,
        first: u64,
        bucket_ms: u64,
        count: u64,
        device: Option<u32>,
    ) -> Result<Vec<(Option<u64>, u64)>> {
        let (unit, table_is_hours) = if bucket_ms >= HOUR_MS {
            (HOUR_MS, true)
        } else {
            (MINUTE_MS, false)
        };
        let per = bucket_ms / unit;
        let start = first / unit;
        let end = start + count * per;
        let mut out = vec![(Some(0), 0); usize::try_from(count).unwrap_or(0)];
        let slot = |k: u64| usize::try_from((k - start) / per).unwrap_or(usize::MAX);
        match device {
            None => {
                let def = if table_is_hours { HOURS } else { MINUTES };
                for r in self.table(def)?.range(start..end)? {
                    let (k, v) = r?;
                    let [n, bad] = v.value();
                    if let Some(o) = out.get_mut(slot(k.value())) {
                        o.0 = o.0.map(|x| x + n);
                        o.1 += bad;
                    }
                }
            }
            Some(d) if table_is_hours => {
                let t = self.table(DEVICE_HOURS)?;
                let (row, cell) = packed::place(d);
                for k in start..end {
                    if let Some(v) = t.get((k, row))? {
                        let [n, bad] = packed::get::<2>(v.value(), cell)?;
                        if let Some(o) = out.get_mut(slot(k)) {
                            o.0 = o.0.map(|x| x + n);
                            o.1 += bad;
                        }
                    }
                }
            }
            Some(d) => {
                let t = self.table(DEVICE_MINUTES)?;
                for o in &mut out {
                    o.0 = None;
                }
                for k in start..end {
                    if let Some(v) = t.get((k, d))?
                        && let Some(o) = out.get_mut(slot(k))
                    {
                        o.1 += v.value();
                    }
                }
            }
        }
        Ok(out)
    }

    /// Every rate row (for `verify`).
    pub fn rate_rows(&self) -> Result<RateRows> {
        let mut out = RateRows::default();
        for r in self.table(MINUTES)?.iter()? {
            let (k, v) = r?;
            out.minutes.insert(k.value(), v.value());
        }
        for r in self.table(HOURS)?.iter()? {
            let (k, v) = r?;
            out.hours.insert(k.value(), v.value());
        }
        for r in self.table(DEVICE_HOURS)?.iter()? {
            let (k, v) = r?;
            let (hour, row) = k.value();
            for (slot, cell) in packed::used::<2>(v.value())? {
                out.device_hours
                    .insert((hour, packed::device(row, slot)), cell);
            }
        }
        for r in self.table(DEVICE_MINUTES)?.iter()? {
            let (k, v) = r?;
            out.device_minutes.insert(k.value(), v.value());
        }
        Ok(out)
    }
}
