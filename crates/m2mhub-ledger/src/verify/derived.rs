//! `verify`'s check of the tables behind bounded answers (per-transaction message counts,
//! the provenance ranking, the counter epochs, the incident groups and their order, each
//! device's activity counts): each is rebuilt from the entries' index rows
//! ([`IndexRows::of`]) and compared row for row with the store, naming the latest seq a wrong
//! row depends on.

use std::collections::{BTreeMap, HashMap};

use super::{Failure, at_seq};
use crate::{
    block::IndexRows,
    store::{Aggregates, MINUTE_MS, RateRows, Snapshot, epoch, rank_key},
};

/// What the entries imply for the derived tables.
#[derive(Debug, Default)]
pub(super) struct Derived {
    /// tx → (messages, seq of the last).
    tx_counts: BTreeMap<u64, (u64, u64)>,
    /// provenance id → (invalid messages, seq of the last).
    invalid: BTreeMap<u32, (u64, u64)>,
    /// (sender id, first counter in an epoch) → (epoch, seq).
    counter_epochs: BTreeMap<(u32, u64), (u32, u64)>,
    /// sender id → the last epoch it sent in.
    sender_epoch: HashMap<u32, u32>,
    /// Incident groups and device activity.
    aggregates: Aggregates,
    /// device id → the seq of the last entry that changed its activity.
    activity_seq: HashMap<u32, u64>,
    /// The rate rows, and the last seq of each minute.
    rates: RateRows,
    minute_seq: BTreeMap<u64, u64>,
}

impl Derived {
    /// Notes the rows of the entry at `seq` (entries come in seq order).
    pub(super) fn note(&mut self, seq: u64, r: &IndexRows, time_ms: u64) {
        self.aggregates.note(seq, r);
        if !r.is_registry {
            self.rates.note(time_ms, r);
            self.minute_seq.insert(time_ms / MINUTE_MS, seq);
        }
        for d in [r.devices[0], r.receiver, r.culprit].into_iter().flatten() {
            self.activity_seq.insert(d, seq);
        }
        if let Some(tx) = r.tx {
            let c = self.tx_counts.entry(tx).or_default();
            *c = (c.0 + 1, seq);
        }
        if let Some(p) = r.provenance_invalid {
            let c = self.invalid.entry(p).or_default();
            *c = (c.0 + 1, seq);
        }
        if let Some((s, counter)) = r.counter {
            let e = epoch(seq);
            if self.sender_epoch.insert(s, e) != Some(e) {
                self.counter_epochs.insert((s, counter), (e, seq));
            }
        }
    }

    /// Compares the store's derived tables with what the entries imply.
    pub(super) fn check(&self, snap: &Snapshot) -> Result<(), Failure> {
        let storage = |e: crate::LedgerError| Failure {
            seq: None,
            block: None,
            reason: format!("reading the bounded-answer tables: {e}"),
        };
        let counts = snap.tx_message_counts().map_err(storage)?;
        let want: Vec<(u64, u64)> = self.tx_counts.iter().map(|(t, (n, _))| (*t, *n)).collect();
        if counts != want {
            let tx = first_difference(&counts, &want);
            return Err(self.blame(
                self.tx_counts.get(&tx).map(|c| c.1),
                format!("the message count of tx {tx} differs from its messages"),
            ));
        }
        let (invalid, keys) = snap.ranking_rows().map_err(storage)?;
        let want: Vec<(u32, u64)> = self.invalid.iter().map(|(p, (n, _))| (*p, *n)).collect();
        if invalid != want {
            let id = first_difference(&invalid, &want);
            return Err(self.blame(
                self.invalid.get(&id).map(|c| c.1),
                format!("the invalid-message count of provenance device id {id} differs"),
            ));
        }
        let mut want_keys: Vec<u64> = want.iter().map(|(p, n)| rank_key(*n, *p)).collect();
        want_keys.sort_unstable();
        if keys != want_keys {
            return Err(self.blame(None, "the provenance ranking differs from its counts"));
        }
        let rows = snap.counter_epoch_rows().map_err(storage)?;
        let want: Vec<((u32, u64), u32)> = self
            .counter_epochs
            .iter()
            .map(|(k, (e, _))| (*k, *e))
            .collect();
        if rows != want {
            let k = first_difference(&rows, &want);
            return Err(self.blame(
                self.counter_epochs.get(&k).map(|c| c.1),
                format!(
                    "the counter-epoch index differs for device id {} (counter {})",
                    k.0, k.1
                ),
            ));
        }
        self.check_investigation(snap)
    }

    /// The incident groups, their order and the devices' activity counts.
    fn check_investigation(&self, snap: &Snapshot) -> Result<(), Failure> {
        let stored = snap.investigation_rows().map_err(|e| Failure {
            seq: None,
            block: None,
            reason: format!("reading the investigation tables: {e}"),
        })?;
        let want: Vec<_> = self.aggregates.incidents.values().copied().collect();
        if stored.incidents != want {
            let bad = stored
                .incidents
                .iter()
                .zip(&want)
                .find(|(a, b)| a != b)
                .map(|(_, b)| *b)
                .or_else(|| want.get(stored.incidents.len()).copied())
                .or_else(|| stored.incidents.get(want.len()).copied())
                .unwrap_or_default();
            return Err(self.blame(
                Some(bad.last),
                format!(
                    "the incident group of {} {} differs from its invalid messages",
                    if bad.kind == crate::store::TX_GROUP {
                        "tx"
                    } else {
                        "device id"
                    },
                    bad.id
                ),
            ));
        }
        let mut order: Vec<(u64, (u8, u64))> =
            want.iter().map(|g| (g.last, (g.kind, g.id))).collect();
        order.sort_unstable();
        if stored.order != order {
            let seq = stored
                .order
                .iter()
                .zip(&order)
                .find(|(a, b)| a != b)
                .map(|(a, b)| a.0.min(b.0))
                .or_else(|| order.get(stored.order.len()).map(|r| r.0))
                .or_else(|| stored.order.get(order.len()).map(|r| r.0));
            return Err(self.blame(seq, "the incident order differs from the incident groups"));
        }
        let want: Vec<_> = self
            .aggregates
            .activity
            .iter()
            .map(|(d, a)| (*d, *a))
            .collect();
        if stored.activity != want {
            let id = first_difference(&stored.activity, &want);
            return Err(self.blame(
                self.activity_seq.get(&id).copied(),
                format!("the activity counts of device id {id} differ from its messages"),
            ));
        }
        self.check_rates(snap)
    }

    /// The message rates: a wrong row is named by the last message of its minute (or, for an
    /// hour's row, of the hour's last minute with messages).
    fn check_rates(&self, snap: &Snapshot) -> Result<(), Failure> {
        let stored = snap.rate_rows().map_err(|e| Failure {
            seq: None,
            block: None,
            reason: format!("reading the rate tables: {e}"),
        })?;
        if stored == self.rates {
            return Ok(());
        }
        let want = &self.rates;
        let minute = |s: &RateRows, w: &RateRows| -> Option<(u64, &'static str)> {
            let a: Vec<_> = s.minutes.iter().map(|(k, v)| (*k, *v)).collect();
            let b: Vec<_> = w.minutes.iter().map(|(k, v)| (*k, *v)).collect();
            if a != b {
                return Some((first_difference(&a, &b), "rates_minute"));
            }
            let a: Vec<_> = s.hours.iter().map(|(k, v)| (*k * 60 + 59, *v)).collect();
            let b: Vec<_> = w.hours.iter().map(|(k, v)| (*k * 60 + 59, *v)).collect();
            if a != b {
                return Some((first_difference(&a, &b), "rates_hour"));
            }
            let a: Vec<_> = s
                .device_hours
                .iter()
                .map(|(k, v)| ((k.0 * 60 + 59, k.1), *v))
                .collect();
            let b: Vec<_> = w
                .device_hours
                .iter()
                .map(|(k, v)| ((k.0 * 60 + 59, k.1), *v))
                .collect();
            if a != b {
                return Some((first_difference(&a, &b).0, "device_rates_hour"));
            }
            let a: Vec<_> = s.device_minutes.iter().map(|(k, v)| (*k, *v)).collect();
            let b: Vec<_> = w.device_minutes.iter().map(|(k, v)| (*k, *v)).collect();
            Some((first_difference(&a, &b).0, "device_invalid_minute"))
        };
        let (m, table) = minute(&stored, want).unwrap_or((0, "rates"));
        let seq = self
            .minute_seq
            .range(..=m)
            .next_back()
            .or_else(|| self.minute_seq.iter().next())
            .map(|(_, s)| *s);
        Err(self.blame(
            seq,
            format!("{table} differs from the messages' block times"),
        ))
    }

    fn blame(&self, seq: Option<u64>, reason: impl Into<String>) -> Failure {
        match seq {
            Some(s) => at_seq(s, reason),
            None => Failure {
                seq: None,
                block: None,
                reason: reason.into(),
            },
        }
    }
}

/// The key of the first row where two sorted row lists differ.
fn first_difference<K: Copy + Ord + Default, V: PartialEq>(a: &[(K, V)], b: &[(K, V)]) -> K {
    let mut i = 0;
    while i < a.len() && i < b.len() && a[i] == b[i] {
        i += 1;
    }
    match (a.get(i), b.get(i)) {
        (Some(x), Some(y)) => x.0.min(y.0),
        (Some(x), None) | (None, Some(x)) => x.0,
        (None, None) => K::default(),
    }
}
