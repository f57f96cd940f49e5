//! Bounded lists (SPEC §5 "Bounded answers"): every list is a [`Page`] of `{items, next}`,
//! `limit` is 1–1,000 (default 100), and one request reads at most [`SCAN_FACTOR`] × `limit`
//! index rows, so a page may hold fewer items than `limit`, even none, while `next` is set.
//! Nothing here walks a whole index: filters that the index does not answer (a device's
//! invalid messages) cost the budget, not the ledger's size.

use m2mhub_core::{registry::Device, rules::TxStatus};
use serde::{Deserialize, Serialize};

use crate::{
    block::BlockRow,
    error::{LedgerError, Result},
    ledger::Ledger,
    query::record_with,
    record::Record,
    store::{Index, Visit},
};

/// Most items one page holds.
pub const MAX_PAGE: usize = 1000;
/// Items per page when the caller does not say.
pub const DEFAULT_PAGE: usize = 100;
/// Index rows one request may read, per item of `limit`.
pub const SCAN_FACTOR: u64 = 10;

/// One page of a list: `{"items": […], "next": cursor | null}`. The next page is asked for
/// with `after=<next>` (with `before=<next>` for a message list paged with `before`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page<T> {
    /// This page's items.
    pub items: Vec<T>,
    /// Where the next page starts; `None` once the list is exhausted.
    pub next: Option<u64>,
    /// Index rows this request read (not part of the answer: tests and metrics read it).
    #[serde(skip)]
    pub rows_read: u64,
}

impl<T> Page<T> {
    /// The page of up to `limit + 1` items read in list order: an extra item only says that
    /// more follow, and `next` is then the cursor (`key`) of the last item kept.
    fn trimmed(mut items: Vec<T>, limit: usize, key: impl Fn(&T) -> u64) -> Page<T> {
        let more = items.len() > limit;
        items.truncate(limit);
        let next = more.then(|| items.last().map(&key)).flatten();
        let read = items.len() as u64 + u64::from(more);
        Page::new(items, next, read)
    }

    fn new(items: Vec<T>, next: Option<u64>, rows_read: u64) -> Page<T> {
        Page {
            items,
            next,
            rows_read,
        }
    }
}

/// The page size a caller asked for: 100 when unsaid, and 1–1,000 or a bad query.
pub fn page_limit(limit: Option<usize>) -> Result<usize> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(l) if (1..=MAX_PAGE).contains(&l) => Ok(l),
        Some(l) => Err(LedgerError::BadQuery(format!(
            "limit must be between 1 and {MAX_PAGE}, not {l}"
        ))),
    }
}

fn budget(limit: usize) -> u64 {
    SCAN_FACTOR * limit as u64
}

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
    /// Only seqs smaller than this; the page then runs newest first and `next` is the next
    /// page's `before`.
    pub before: Option<u64>,
    /// Newest first (`order=desc`): `after` then means seqs smaller than it.
    pub newest_first: bool,
    /// Only messages in blocks sealed at or after this time (ms since the Unix epoch).
    pub from_ms: Option<u64>,
    /// Only messages in blocks sealed at or before this time (ms since the Unix epoch).
    pub to_ms: Option<u64>,
    /// Only the invalid messages this device caused (its transactions' and its own naming
    /// tx ids not issued yet); needs `valid: Some(false)`.
    pub provenance: Option<String>,
    /// Only the message with this leaf hash, found through the leaf-hash index; no other
    /// filter may be given with it.
    pub leaf_hash: Option<m2mhub_core::hash::Hash>,
    /// At most this many (see [`page_limit`]).
    pub limit: Option<usize>,
}

/// A page of `GET /v1/messages`: `{items, next, total}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessagePage {
    /// This page's records.
    pub items: Vec<Record>,
    /// Where the next page starts (its `after`, or its `before` when paged with `before`);
    /// `None` once the list is exhausted.
    pub next: Option<u64>,
    /// Messages matching the filters in the whole ledger, when a counter kept on append
    /// knows it (no filter, `tx`, `device`, `valid`, `provenance` with `valid=false`);
    /// null otherwise (filters combined, a time range).
    pub total: Option<u64>,
    /// Index rows this request read (not part of the answer).
    #[serde(skip)]
    pub rows_read: u64,
}

/// A transaction as `GET /v1/transactions/{tx}?after=&limit=` shows it: one page of its
/// messages.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TransactionView {
    /// Its id.
    pub tx: u64,
    /// The device that began it.
    pub provenance: String,
    /// open, closed or rejected.
    pub state: TxStatus,
    /// Provenance and every sender and receiver of a valid message, sorted.
    pub participants: Vec<String>,
    /// Messages filed under it, in all pages.
    pub message_count: u64,
    /// This page of its messages, by seq.
    pub messages: Vec<Record>,
    /// The `after` of the next page; `None` on the last page.
    pub next: Option<u64>,
}

/// A provenance device and the invalid messages its transactions hold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProvenanceCount {
    /// The device that began the transactions.
    pub provenance: String,
    /// Invalid messages in them.
    pub invalid_messages: u64,
}

/// A transaction that reached a device, for investigations.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceTransaction {
    /// The transaction; `None` groups the messages that named a tx id not issued yet: they
    /// belong to no transaction (SPEC §3.1).
    pub tx: Option<u64>,
    /// The device that began it (`None` for a tx id that never existed).
    pub provenance: Option<String>,
    /// Its state, if it exists.
    pub state: Option<TxStatus>,
    /// Messages of it that the device received, among those this page looked at.
    pub messages_to_device: u64,
    /// Of which invalid.
    pub invalid_to_device: u64,
    /// The latest such message (with `begun`: the `begin` that began it).
    pub last_seq: u64,
    /// With `begun`: all the messages filed under the transaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_count: Option<u64>,
    /// With `begun`: the invalid ones among them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid_count: Option<u64>,
}

impl Ledger {
    /// Message records matching `f`, by seq (newest first with `before` or `newest_first`).
    pub fn messages(&self, f: &MessageFilter) -> Result<MessagePage> {
        let limit = page_limit(f.limit)?;
        if f.provenance.is_some() && f.valid != Some(false) {
            return Err(LedgerError::BadQuery(
                "provenance= lists the invalid messages a device caused: give valid=false".into(),
            ));
        }
        if f.newest_first && f.before.is_some() {
            return Err(LedgerError::BadQuery(
                "give before= or order=desc, not both".into(),
            ));
        }
        if let (Some(a), Some(b)) = (f.from_ms, f.to_ms)
            && a > b
        {
            return Err(LedgerError::BadQuery("from is later than to".into()));
        }
        if let Some(leaf) = &f.leaf_hash {
            return self.message_by_leaf(f, leaf);
        }
        let caused_by = match &f.provenance {
            Some(name) => Some(self.device_id(name)?),
            None => None,
        };
        let snap = self.snapshot()?;
        let device_id = match &f.device {
            Some(name) => match self.view().registry.ids.get(name.as_str()) {
                Some(id) => Some(id),
                None => {
                    let total = message_total(&snap, f, Some(0), None)?;
                    return Ok(MessagePage::new(Page::new(Vec::new(), None, 0), total));
                }
            },
            None => None,
        };
        let index = match (caused_by, f.tx, device_id) {
            (Some(id), _, _) => Index::Caused(id),
            (None, Some(tx), _) => Index::Tx(tx),
            (None, None, Some(id)) => Index::Device(id),
            (None, None, None) if f.valid == Some(false) => Index::Invalid,
            (None, None, None) => Index::All,
        };
        let newest_first = f.before.is_some() || f.newest_first;
        let (mut lo, mut hi) = match (f.before, newest_first) {
            (Some(b), _) => (f.after.map_or(0, |a| a.saturating_add(1)), b),
            (None, true) => (0, f.after.unwrap_or(u64::MAX)),
            (None, false) => (f.after.map_or(0, |a| a.saturating_add(1)), u64::MAX),
        };
        if f.from_ms.is_some() || f.to_ms.is_some() {
            let (tlo, thi) = snap.seq_range_of_times(f.from_ms, f.to_ms)?;
            lo = lo.max(tlo);
            hi = hi.min(thi);
        }
        let device_total = match device_id {
            Some(id) => Some(snap.activity(id)?.messages),
            None => None,
        };
        let caused = match caused_by {
            Some(id) => Some(snap.activity(id)?.invalid_caused),
            None => None,
        };
        let total = message_total(&snap, f, device_total, caused)?;
        let mut items = Vec::with_capacity(limit);
        let mut reader = snap.record_reader()?;
        let end = snap.scan_index(index, lo, hi, newest_first, budget(limit), |seq| {
            let Some(r) = record_with(&mut reader, seq)? else {
                return Ok(Visit::More);
            };
            let keep = f.valid.is_none_or(|v| r.valid == v)
                && f.tx.is_none_or(|t| r.tx == t)
                && f.device
                    .as_ref()
                    .is_none_or(|d| r.sender == *d || r.receiver == *d)
                && f.provenance
                    .as_ref()
                    .is_none_or(|p| r.provenance.as_ref().unwrap_or(&r.sender) == p);
            if keep {
                items.push(r);
            }
            Ok(if items.len() == limit {
                Visit::Full
            } else {
                Visit::More
            })
        })?;
        Ok(MessagePage::new(
            Page::new(items, end.resume, end.rows_read),
            total,
        ))
    }

    /// Transaction `tx` with the page of its messages after seq `after`.
    pub fn transaction(
        &self,
        tx: u64,
        after: Option<u64>,
        limit: Option<usize>,
    ) -> Result<TransactionView> {
        let limit = page_limit(limit)?;
        let snap = self.snapshot()?;
        let state = snap
            .tx_state(tx)?
            .ok_or_else(|| LedgerError::NotFound(format!("no transaction {tx}")))?;
        let mut messages = Vec::with_capacity(limit);
        let mut reader = snap.record_reader()?;
        let lo = after.map_or(0, |a| a.saturating_add(1));
        let end = snap.scan_index(Index::Tx(tx), lo, u64::MAX, false, budget(limit), |seq| {
            if let Some(r) = record_with(&mut reader, seq)? {
                messages.push(r);
            }
            Ok(if messages.len() == limit {
                Visit::Full
            } else {
                Visit::More
            })
        })?;
        // A full page that ends the transaction has no next page.
        let next = end.resume.filter(|r| !ends_tx(&snap, tx, *r));
        Ok(TransactionView {
            tx,
            provenance: state.provenance.to_string(),
            state: state.status,
            participants: state.participants.iter().map(|p| p.to_string()).collect(),
            message_count: snap.tx_message_count(tx)?,
            messages,
            next,
        })
    }

    /// Blocks after height `after`.
    pub fn blocks(&self, after: Option<u64>, limit: Option<usize>) -> Result<Page<BlockRow>> {
        let limit = page_limit(limit)?;
        let items = self.snapshot()?.blocks(after, limit + 1)?;
        Ok(Page::trimmed(items, limit, |b| b.height))
    }

    /// Raw entries after seq `after`: (seq, entry bytes).
    pub fn entries(
        &self,
        after: Option<u64>,
        limit: Option<usize>,
    ) -> Result<Page<(u64, Vec<u8>)>> {
        let limit = page_limit(limit)?;
        let start = after.map_or(0, |a| a.saturating_add(1));
        let items = self
            .snapshot()?
            .entries(start, start.saturating_add(limit as u64 + 1))?;
        Ok(Page::trimmed(items, limit, |e| e.0))
    }

    /// Registry entries (every entry but messages) after seq `after`, in seq order, through
    /// the registry index: what a federation member follows to import this hub's changes.
    pub fn registry_entries(
        &self,
        after: Option<u64>,
        limit: Option<usize>,
    ) -> Result<Page<(u64, Vec<u8>)>> {
        let limit = page_limit(limit)?;
        let start = after.map_or(0, |a| a.saturating_add(1));
        let snap = self.snapshot()?;
        let mut items = Vec::with_capacity(limit + 1);
        for seq in snap.registry_seqs_from(start, limit + 1)? {
            let bytes = snap
                .entry(seq)?
                .ok_or_else(|| LedgerError::Corrupt(format!("registry index names {seq}")))?;
            items.push((seq, bytes));
        }
        Ok(Page::trimmed(items, limit, |e| e.0))
    }

    /// Devices in registration order, after the one registered at seq `after`.
    pub fn devices(&self, after: Option<u64>, limit: Option<usize>) -> Result<Page<Device>> {
        let limit = page_limit(limit)?;
        let view = self.view();
        let reg = &view.registry;
        let seq_of = |name: &m2mhub_core::names::DeviceName| {
            reg.registry
                .get(name.as_str())
                .map_or(0, |d| d.registered_seq.0)
        };
        // Ids follow registration order, so registration seqs grow along `names`.
        let start = after.map_or(0, |a| reg.ids.local().partition_point(|n| seq_of(n) <= a));
        let mut items = Vec::with_capacity(limit);
        for n in reg.ids.local().iter().skip(start).take(limit) {
            let d = reg
                .registry
                .get(n.as_str())
                .ok_or_else(|| LedgerError::Corrupt(format!("device {n} has an id only")))?;
            items.push(d.clone());
        }
        let more = reg.ids.local().len() > start + items.len();
        let next = more
            .then(|| items.last().map(|d| d.registered_seq.0))
            .flatten();
        let read = items.len() as u64;
        Ok(Page::new(items, next, read))
    }

    /// "Who made this device act?": the transactions whose messages reached `name`, newest
    /// first, with the device that began each. `after` is the previous page's `next`: only
    /// messages below that seq. Counts cover the messages this page looked at, so a
    /// transaction can show again on a later page with its older messages.
    pub fn device_transactions(
        &self,
        name: &str,
        after: Option<u64>,
        limit: Option<usize>,
    ) -> Result<Page<DeviceTransaction>> {
        let limit = page_limit(limit)?;
        let Some(id) = self.view().registry.ids.get(name) else {
            return Err(LedgerError::NotFound(format!("no device named {name}")));
        };
        let snap = self.snapshot()?;
        let mut items: Vec<DeviceTransaction> = Vec::new();
        let mut at: std::collections::HashMap<Option<u64>, usize> =
            std::collections::HashMap::new();
        let mut reader = snap.record_reader()?;
        let hi = after.unwrap_or(u64::MAX);
        let end = snap.scan_index(Index::Device(id), 0, hi, true, budget(limit), |seq| {
            let Some(r) = record_with(&mut reader, seq)? else {
                return Ok(Visit::More);
            };
            if r.receiver != name {
                return Ok(Visit::More);
            }
            // A message that named an unissued tx id has no provenance and belongs to no
            // transaction, whatever later took that id.
            let tx = r.provenance.is_some().then_some(r.tx);
            let i = match at.get(&tx) {
                Some(i) => *i,
                None => {
                    let state = match tx {
                        Some(tx) => snap.tx_state(tx)?,
                        None => None,
                    };
                    items.push(DeviceTransaction {
                        tx,
                        provenance: state.as_ref().map(|s| s.provenance.to_string()),
                        state: state.map(|s| s.status),
                        messages_to_device: 0,
                        invalid_to_device: 0,
                        last_seq: r.seq,
                        message_count: None,
                        invalid_count: None,
                    });
                    at.insert(tx, items.len() - 1);
                    items.len() - 1
                }
            };
            items[i].messages_to_device += 1;
            items[i].invalid_to_device += u64::from(!r.valid);
            Ok(if items.len() == limit {
                Visit::Full
            } else {
                Visit::More
            })
        })?;
        Ok(Page::new(items, end.resume, end.rows_read))
    }

    /// The transactions `name` began, newest first (by their `begin`'s seq); `after` is the
    /// previous page's `next`: only `begin`s below that seq.
    pub fn device_begun(
        &self,
        name: &str,
        after: Option<u64>,
        limit: Option<usize>,
    ) -> Result<Page<DeviceTransaction>> {
        let limit = page_limit(limit)?;
        let id = self.device_id(name)?;
        let snap = self.snapshot()?;
        let mut items = Vec::with_capacity(limit);
        let mut reader = snap.record_reader()?;
        let hi = after.unwrap_or(u64::MAX);
        let end = snap.scan_index(Index::Begun(id), 0, hi, true, budget(limit), |seq| {
            let Some(r) = record_with(&mut reader, seq)? else {
                return Ok(Visit::More);
            };
            let state = snap.tx_state(r.tx)?;
            let invalid = snap
                .incident(crate::store::TX_GROUP, r.tx)?
                .map_or(0, |g| g.invalid);
            items.push(DeviceTransaction {
                tx: Some(r.tx),
                provenance: state.as_ref().map(|s| s.provenance.to_string()),
                state: state.map(|s| s.status),
                // This page looked at the `begin` only.
                messages_to_device: u64::from(r.receiver == name),
                invalid_to_device: u64::from(r.receiver == name && !r.valid),
                last_seq: r.seq,
                message_count: Some(snap.tx_message_count(r.tx)?),
                invalid_count: Some(invalid),
            });
            Ok(if items.len() == limit {
                Visit::Full
            } else {
                Visit::More
            })
        })?;
        Ok(Page::new(items, end.resume, end.rows_read))
    }

    /// "Who is misbehaving": provenance devices by the invalid messages their transactions
    /// hold, most first (ties in registration order). The ranking is kept up to date as
    /// blocks are written; a page reads `limit` of its rows.
    pub fn provenance_ranking(
        &self,
        after: Option<u64>,
        limit: Option<usize>,
    ) -> Result<Page<ProvenanceCount>> {
        let limit = page_limit(limit)?;
        let view = self.view();
        let (rows, more) = self.snapshot()?.ranking_page(after, limit)?;
        let mut items = Vec::with_capacity(rows.len());
        for (_, id, n) in &rows {
            let name = view.registry.ids.name(*id).ok_or_else(|| {
                LedgerError::Corrupt(format!("ranked device id {id} is not registered"))
            })?;
            items.push(ProvenanceCount {
                provenance: name.to_string(),
                invalid_messages: *n,
            });
        }
        let next = more.then(|| rows.last().map(|r| r.0)).flatten();
        Ok(Page::new(items, next, rows.len() as u64 + u64::from(more)))
    }
}

impl Ledger {
    /// The message whose leaf hash is `leaf` (a page of 0 or 1 item).
    fn message_by_leaf(
        &self,
        f: &MessageFilter,
        leaf: &m2mhub_core::hash::Hash,
    ) -> Result<MessagePage> {
        let others = f.tx.is_some()
            || f.device.is_some()
            || f.valid.is_some()
            || f.provenance.is_some()
            || f.after.is_some()
            || f.before.is_some()
            || f.from_ms.is_some()
            || f.to_ms.is_some();
        if others {
            return Err(LedgerError::BadQuery(
                "leaf_hash names one message: give it alone (with limit and order at most)".into(),
            ));
        }
        let snap = self.snapshot()?;
        let items: Vec<Record> = match snap.seq_of_leaf(leaf)? {
            Some(seq) => crate::query::record_at(&snap, seq)?.into_iter().collect(),
            None => Vec::new(),
        };
        Ok(MessagePage {
            total: Some(items.len() as u64),
            items,
            next: None,
            rows_read: 1,
        })
    }
}

impl MessagePage {
    fn new(p: Page<Record>, total: Option<u64>) -> MessagePage {
        MessagePage {
            items: p.items,
            next: p.next,
            total,
            rows_read: p.rows_read,
        }
    }
}

/// The number of messages matching `f` over the whole ledger, when a counter knows it
/// (`device`: the filtered device's message count; `caused`: the invalid messages the
/// `provenance` device caused).
fn message_total(
    snap: &crate::store::Snapshot,
    f: &MessageFilter,
    device: Option<u64>,
    caused: Option<u64>,
) -> Result<Option<u64>> {
    if f.from_ms.is_some() || f.to_ms.is_some() {
        return Ok(None);
    }
    Ok(match (f.tx, &f.device, f.valid, &f.provenance) {
        (None, None, None, None) => Some(snap.message_count()?),
        (Some(tx), None, None, None) => Some(snap.tx_message_count(tx)?),
        (None, Some(_), None, None) => device,
        (None, None, Some(false), None) => Some(snap.invalid_count()?),
        (None, None, Some(true), None) => {
            Some(snap.message_count()?.saturating_sub(snap.invalid_count()?))
        }
        (None, None, Some(false), Some(_)) => caused,
        _ => None,
    })
}

/// True when `seq` is the transaction's last message.
fn ends_tx(snap: &crate::store::Snapshot, tx: u64, seq: u64) -> bool {
    let mut last = true;
    let probe = snap.scan_index(
        Index::Tx(tx),
        seq.saturating_add(1),
        u64::MAX,
        false,
        1,
        |_| {
            last = false;
            Ok(Visit::Full)
        },
    );
    probe.is_ok() && last
}
