//! The investigator's reads (issue 12): incidents (invalid messages grouped, newest first),
//! a device's activity counts and its registry history. Every answer reads tables kept on
//! append (`store/investigation.rs`), never a scan of the ledger.

use m2mhub_core::{entry::Entry, notice::Notices, rules::TxStatus};
use serde::{Deserialize, Serialize};

use crate::{
    error::{LedgerError, Result},
    ledger::Ledger,
    lists::page_limit,
    record::format_time,
    store::{Incident, SENDER_GROUP, Snapshot},
};

/// One incident: the invalid messages of one transaction, or one sender's messages naming
/// tx ids not issued yet (SPEC §3.1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum IncidentItem {
    /// Invalid messages filed under a transaction.
    Transaction {
        /// The transaction.
        tx: u64,
        /// The device that began it.
        provenance: String,
        /// open, closed or rejected.
        state: TxStatus,
        /// Its invalid messages.
        invalid_count: u64,
        /// All its messages.
        message_count: u64,
        /// Seq of its first invalid message.
        first_invalid_seq: u64,
        /// Seq of its latest invalid message (the page cursor).
        last_invalid_seq: u64,
        /// When the block holding the latest one was sealed; null for blocks sealed before
        /// checkpoints carried a time.
        last_time: Option<String>,
        /// Every notice its invalid messages carry, in SPEC order.
        notices: Notices,
    },
    /// Messages of one sender naming tx ids not issued yet: they belong to no transaction.
    NoTransaction {
        /// The sender.
        sender: String,
        /// Its messages naming tx ids not issued yet.
        invalid_count: u64,
        /// Seq of the first.
        first_invalid_seq: u64,
        /// Seq of the latest (the page cursor).
        last_invalid_seq: u64,
        /// When the block holding the latest one was sealed (see `transaction`).
        last_time: Option<String>,
        /// Every notice they carry, in SPEC order.
        notices: Notices,
    },
}

/// `GET /v1/incidents`: one page of incidents, newest first, with the ledger's totals.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IncidentPage {
    /// This page's incidents, newest first (by their latest invalid message).
    pub items: Vec<IncidentItem>,
    /// The `last_invalid_seq` of this page's last incident when more follow: the next page
    /// (`after=next`) holds incidents whose latest invalid message is older.
    pub next: Option<u64>,
    /// Incidents in the whole ledger.
    pub total_groups: u64,
    /// Invalid messages in the whole ledger.
    pub total_invalid: u64,
}

/// A device's latest message sent: its seq and its block's time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LastSeen {
    /// Seq of the message.
    pub seq: u64,
    /// When its block was sealed; null for blocks sealed before checkpoints carried a time.
    pub time: Option<String>,
}

/// A device's activity, kept on append.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceActivity {
    /// Messages it sent.
    pub sent: u64,
    /// Messages it received (a message to itself counts as sent and received).
    pub received: u64,
    /// Invalid messages it caused: those of the transactions it began, and its own messages
    /// naming tx ids not issued yet.
    pub invalid_caused: u64,
    /// Transactions it began (its `begin` messages, valid or not).
    pub transactions_begun: u64,
    /// Its latest message sent; null when it never sent one.
    pub last_seen: Option<LastSeen>,
}

/// What a registry entry did to a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum HistoryKind {
    /// Registered.
    Register,
    /// An exception granted: the device accepts `by` despite its lower clearance, or (with
    /// `of`) `of` accepts the device.
    Grant,
    /// An exception withdrawn (as `grant`).
    Withdraw,
    /// Given a new key.
    Rekey,
    /// Revoked.
    Revoke,
}

/// One entry of a device's registry history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HistoryItem {
    /// The registry entry's seq (the page cursor).
    pub seq: u64,
    /// When its block was sealed; null for blocks sealed before checkpoints carried a time.
    pub time: Option<String>,
    /// What it did.
    pub kind: HistoryKind,
    /// grant and withdraw on the receiving device: the exception's sender.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// grant and withdraw on the exception's sender: the receiving device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub of: Option<String>,
    /// register: its clearance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clearance: Option<u32>,
    /// register and rekey: the key, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(pattern = "^[0-9a-f]{64}$"))]
    pub public_key: Option<String>,
    /// register: the exceptions it was registered with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exceptions: Option<Vec<String>>,
}

/// One bucket of `GET /v1/stats/rates`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RateBucket {
    /// Its start (the bucket covers `bucket` seconds from it).
    pub start: String,
    /// Messages recorded in blocks sealed in it (with `provenance`: the messages that device
    /// sent; null below one-hour buckets, as those are kept per hour).
    pub messages: Option<u64>,
    /// Invalid ones among them (with `provenance`: the invalid messages that device caused).
    pub invalid: u64,
}

/// `GET /v1/stats/rates`: counts over time, every bucket of the range, oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rates {
    /// Bucket length, seconds: 60, 300, 3600 or 86400.
    pub bucket: u64,
    /// The range's start as asked (or defaulted).
    pub from: String,
    /// The range's end as asked (or defaulted).
    pub to: String,
    /// Every bucket from the one holding `from` to the one holding `to`.
    pub items: Vec<RateBucket>,
}

/// Bucket lengths `GET /v1/stats/rates` serves, seconds.
pub const RATE_BUCKETS: [u64; 4] = [60, 300, 3600, 86_400];
/// Most buckets one answer holds.
pub const MAX_RATE_BUCKETS: u64 = 1440;

impl Ledger {
    /// Message and invalid counts per bucket between `from_ms` (default: `to` − 1 h) and
    /// `to_ms` (default: now); `bucket` seconds (default: the smallest giving ≤ 120
    /// buckets); with `provenance`, that device's.
    pub fn rates(
        &self,
        from_ms: Option<u64>,
        to_ms: Option<u64>,
        bucket: Option<u64>,
        provenance: Option<&str>,
    ) -> Result<Rates> {
        let to = to_ms.unwrap_or_else(crate::now_ms);
        let from = from_ms.unwrap_or(to.saturating_sub(crate::store::HOUR_MS));
        if from > to {
            return Err(LedgerError::BadQuery("from is later than to".into()));
        }
        let count = |b: u64| (to / (b * 1000)) - (from / (b * 1000)) + 1;
        let bucket = match bucket {
            Some(b) if RATE_BUCKETS.contains(&b) => b,
            Some(b) => {
                return Err(LedgerError::BadQuery(format!(
                    "bucket must be 60, 300, 3600 or 86400 seconds, not {b}"
                )));
            }
            None => RATE_BUCKETS
                .into_iter()
                .find(|b| count(*b) <= 120)
                .unwrap_or(86_400),
        };
        let n = count(bucket);
        if n > MAX_RATE_BUCKETS {
            return Err(LedgerError::BadQuery(format!(
                "{n} buckets of {bucket} s: at most {MAX_RATE_BUCKETS}; ask for a shorter range or longer buckets"
            )));
        }
        let device = match provenance {
            Some(p) => Some(self.device_id(p)?),
            None => None,
        };
        let bucket_ms = bucket * 1000;
        let first = from / bucket_ms * bucket_ms;
        let counts = self.snapshot()?.rates(first, bucket_ms, n, device)?;
        let items = counts
            .into_iter()
            .enumerate()
            .map(|(i, (messages, invalid))| RateBucket {
                start: format_time(first + i as u64 * bucket_ms),
                messages,
                invalid,
            })
            .collect();
        Ok(Rates {
            bucket,
            from: format_time(from),
            to: format_time(to),
            items,
        })
    }

    /// Incidents newest first; `after` is the previous page's `next` (only incidents whose
    /// latest invalid message is older).
    pub fn incidents(&self, after: Option<u64>, limit: Option<usize>) -> Result<IncidentPage> {
        let limit = page_limit(limit)?;
        let snap = self.snapshot()?;
        let view = self.view();
        let (groups, more) = snap.incident_page(after, limit)?;
        let mut items = Vec::with_capacity(groups.len());
        for g in &groups {
            items.push(incident_item(&snap, &view.registry.ids, g)?);
        }
        let (total_groups, total_invalid) = snap.incident_totals()?;
        Ok(IncidentPage {
            next: more.then(|| groups.last().map(|g| g.last)).flatten(),
            items,
            total_groups,
            total_invalid,
        })
    }

    /// A device's activity counts.
    pub fn device_activity(&self, name: &str) -> Result<DeviceActivity> {
        let snap = self.snapshot()?;
        let id = self.device_id(name)?;
        activity_of(&snap, id)
    }

    /// The activity counts of many devices, read from one snapshot (unknown names get
    /// zeros).
    pub fn devices_activity(&self, names: &[&str]) -> Result<Vec<DeviceActivity>> {
        let snap = self.snapshot()?;
        let view = self.view();
        names
            .iter()
            .map(|n| match view.registry.ids.get(n) {
                Some(id) => activity_of(&snap, id),
                None => Ok(DeviceActivity::default()),
            })
            .collect()
    }

    /// A device's registry history after seq `after`, oldest first.
    pub fn device_history(
        &self,
        name: &str,
        after: Option<u64>,
        limit: Option<usize>,
    ) -> Result<crate::Page<HistoryItem>> {
        let limit = page_limit(limit)?;
        let id = self.device_id(name)?;
        let snap = self.snapshot()?;
        let (seqs, more) = snap.history_page(id, after, limit)?;
        let mut items = Vec::with_capacity(seqs.len());
        for &seq in &seqs {
            let bytes = snap
                .entry(seq)?
                .ok_or_else(|| LedgerError::Corrupt(format!("history names seq {seq}")))?;
            let entry = Entry::from_bytes(&bytes)
                .map_err(|e| LedgerError::Corrupt(format!("entry {seq}: {e}")))?;
            let time = snap.signed_time_of(seq)?.map(format_time);
            items.push(history_item(seq, time, name, entry)?);
        }
        let next = more.then(|| seqs.last().copied()).flatten();
        Ok(crate::Page {
            items,
            next,
            rows_read: seqs.len() as u64 + u64::from(more),
        })
    }

    /// The internal id of device `name`; `NotFound` when no device has that name.
    pub(crate) fn device_id(&self, name: &str) -> Result<u32> {
        self.view()
            .registry
            .ids
            .get(name)
            .ok_or_else(|| LedgerError::NotFound(format!("no device named {name}")))
    }
}

fn activity_of(snap: &Snapshot, id: u32) -> Result<DeviceActivity> {
    let a = snap.activity(id)?;
    let last_seen = match a.last_sent {
        Some(seq) => Some(LastSeen {
            seq,
            time: snap.signed_time_of(seq)?.map(format_time),
        }),
        None => None,
    };
    Ok(DeviceActivity {
        sent: a.sent,
        received: a.received,
        invalid_caused: a.invalid_caused,
        transactions_begun: a.begun,
        last_seen,
    })
}

fn incident_item(
    snap: &Snapshot,
    ids: &crate::parties::PartyIds,
    g: &Incident,
) -> Result<IncidentItem> {
    let last_time = snap.signed_time_of(g.last)?.map(format_time);
    let notices = Notices::from_bits(g.notices)
        .ok_or_else(|| LedgerError::Corrupt(format!("incident of seq {}: bad notices", g.last)))?;
    if g.kind == SENDER_GROUP {
        let sender = u32::try_from(g.id)
            .ok()
            .and_then(|i| ids.name(i))
            .ok_or_else(|| LedgerError::Corrupt(format!("incident names device id {}", g.id)))?;
        return Ok(IncidentItem::NoTransaction {
            sender: sender.to_string(),
            invalid_count: g.invalid,
            first_invalid_seq: g.first,
            last_invalid_seq: g.last,
            last_time,
            notices,
        });
    }
    let state = snap
        .tx_state(g.id)?
        .ok_or_else(|| LedgerError::Corrupt(format!("incident names tx {}, unknown", g.id)))?;
    Ok(IncidentItem::Transaction {
        tx: g.id,
        provenance: state.provenance.to_string(),
        state: state.status,
        invalid_count: g.invalid,
        message_count: snap.tx_message_count(g.id)?,
        first_invalid_seq: g.first,
        last_invalid_seq: g.last,
        last_time,
        notices,
    })
}

fn history_item(seq: u64, time: Option<String>, name: &str, e: Entry) -> Result<HistoryItem> {
    let mut item = HistoryItem {
        seq,
        time,
        kind: HistoryKind::Register,
        by: None,
        of: None,
        clearance: None,
        public_key: None,
        exceptions: None,
    };
    match &e {
        Entry::DeviceRegistered(r) => {
            item.clearance = Some(r.clearance);
            item.public_key = Some(hex::encode(r.public_key));
            item.exceptions = Some(r.exceptions.iter().map(|x| x.to_string()).collect());
        }
        Entry::ExceptionGranted { device, sender }
        | Entry::ExceptionWithdrawn { device, sender } => {
            item.kind = if matches!(e, Entry::ExceptionGranted { .. }) {
                HistoryKind::Grant
            } else {
                HistoryKind::Withdraw
            };
            if device.as_str() == name {
                item.by = Some(sender.to_string());
            } else {
                item.of = Some(device.to_string());
            }
        }
        Entry::DeviceRekeyed { public_key, .. } => {
            item.kind = HistoryKind::Rekey;
            item.public_key = Some(hex::encode(public_key));
        }
        Entry::DeviceRevoked { .. } => item.kind = HistoryKind::Revoke,
        Entry::Message(_) | Entry::FederationMembership(_) | Entry::Import(_) => {
            return Err(LedgerError::Corrupt(format!(
                "device history names entry {seq}, which is not about a device"
            )));
        }
    }
    Ok(item)
}
