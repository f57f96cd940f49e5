//! The write path: authenticate → validate → append → commit one block, for a batch of
//! submissions at once (group commit). SPEC §3.2 refusals leave no entry; everything else
//! becomes an entry whose record is returned only once its block is durable.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use m2mhub_core::{
    auth::{self, Refusal},
    checkpoint::Checkpoint,
    entry::{Entry, MessageEntry},
    ids::{Seq, TxId},
    merkle,
    message::{Action, Message},
    rules::{self, Facts, Head, TxState},
};

use crate::{
    block::{BlockWrite, EntryWrite, IndexRows},
    error::{LedgerError, Result},
    ledger::{Committed, Ledger, RegistryView, Writer, now_ms, seal},
    record::Record,
    sigverify::{SigCheck, verify_all},
    store::Snapshot,
    txcodec,
};

/// Something to append.
#[derive(Clone, Debug)]
pub enum Submission {
    /// A device's signed message.
    Message(Message),
    /// A registry change by the operator.
    Registry(Entry),
}

/// What an append gave a submission.
#[derive(Clone, Debug)]
pub enum Appended {
    /// A message's record (`duplicate` is set for an exact resubmission).
    Message(Record),
    /// A registry entry's seq and block.
    Registry {
        /// Its seq.
        seq: u64,
        /// Its block.
        block: u64,
    },
}

/// Where a submission's answer comes from once the block is committed.
enum Slot {
    Done(Result<Appended>),
    Entry(usize),
    Duplicate(usize),
}

/// The block being built.
struct Pending {
    first_seq: u64,
    entries: Vec<EntryWrite>,
    decoded: Vec<Entry>,
    /// seq → tx for valid messages of this block (cause lookups before commit).
    valid_tx: HashMap<u64, u64>,
    /// (sender id, counter) → index in `entries` (resubmissions within one batch).
    counters: HashMap<(u32, u64), usize>,
    dirty_txs: HashSet<u64>,
}

/// Signature verdicts for a batch, from [`Ledger::verify_signatures`]: for a message whose
/// sender was known, the verdict and the key it was computed with; `None` for one to check in
/// order (sender unknown then).
#[derive(Debug, Default)]
pub struct Verified(Vec<Option<Prechecked>>);

/// One signature checked ahead of its block.
#[derive(Clone, Copy, Debug)]
struct Prechecked {
    ok: bool,
    /// The sender's key in the published registry when it was checked. The verdict is used
    /// only while that is still the sender's key at the message's seq (SPEC §3.2.2): a re-key
    /// in the same block, or in one not yet published, makes the sequencer check again.
    key: [u8; 32],
}

impl Verified {
    /// The verdicts of `subs ++ more` from those of `subs` and of `more`.
    pub(crate) fn extend(&mut self, more: Verified) {
        self.0.extend(more.0);
    }
}

impl Ledger {
    /// Appends a batch as one block and returns, in order, each submission's outcome.
    pub fn append(&self, subs: Vec<Submission>) -> Vec<Result<Appended>> {
        let verified = self.verify_signatures(&subs);
        self.append_verified(subs, verified)
    }

    /// Checks the signatures of a batch without holding the writer, so a pipeline can verify
    /// one batch while the previous one commits. Keys come from the published registry; the
    /// sequencer checks again, in ledger order, any message whose sender's key has changed
    /// since (a re-key, SPEC §3.2.2) and those of senders registered since.
    pub fn verify_signatures(&self, subs: &[Submission]) -> Verified {
        Verified(check_signatures(&self.view().registry, subs))
    }

    /// [`Ledger::append`] for a batch whose signatures [`Ledger::verify_signatures`] checked.
    pub fn append_verified(
        &self,
        subs: Vec<Submission>,
        verified: Verified,
    ) -> Vec<Result<Appended>> {
        let mut w = self.lock_writer();
        if w.failed {
            return subs.iter().map(|_| Err(LedgerError::Unavailable)).collect();
        }
        let snap = match self.store.snapshot() {
            Ok(s) => s,
            Err(e) => {
                return subs
                    .iter()
                    .map(|_| Err(LedgerError::Storage(e.to_string())))
                    .collect();
            }
        };
        let mut sig_ok = verified.0;
        sig_ok.resize(subs.len(), None);
        let mut p = Pending {
            first_seq: w.frontier.size(),
            entries: Vec::with_capacity(subs.len()),
            decoded: Vec::with_capacity(subs.len()),
            valid_tx: HashMap::new(),
            counters: HashMap::new(),
            dirty_txs: HashSet::new(),
        };
        let mut slots = Vec::with_capacity(subs.len());
        for (sub, sig) in subs.into_iter().zip(sig_ok) {
            let slot = match sub {
                Submission::Registry(e) => registry_change(&mut w, &mut p, e),
                Submission::Message(m) => message(&mut w, &mut p, &snap, m, sig),
            };
            slots.push(slot.unwrap_or_else(|e| Slot::Done(Err(e))));
        }
        drop(snap);
        if p.entries.is_empty() {
            return slots
                .into_iter()
                .map(|s| match s {
                    Slot::Done(r) => r,
                    // Entries and duplicates of entries only exist when `p.entries` is not empty.
                    Slot::Entry(_) | Slot::Duplicate(_) => Err(LedgerError::Unavailable),
                })
                .collect();
        }
        match self.commit(&mut w, p) {
            Ok(records) => slots
                .into_iter()
                .map(|s| match s {
                    Slot::Done(r) => r,
                    Slot::Entry(i) => Ok(records[i].clone()),
                    Slot::Duplicate(i) => Ok(match records[i].clone() {
                        Appended::Message(mut r) => {
                            r.duplicate = true;
                            Appended::Message(r)
                        }
                        other => other,
                    }),
                })
                .collect(),
            Err(e) => {
                tracing::error!("commit failed, the ledger stops accepting writes: {e}");
                w.failed = true;
                let msg = e.to_string();
                slots
                    .into_iter()
                    .map(|s| match s {
                        Slot::Done(Err(e)) => Err(e),
                        _ => Err(LedgerError::Storage(msg.clone())),
                    })
                    .collect()
            }
        }
    }

    /// Hashes, signs and durably commits the pending block; returns each entry's outcome.
    fn commit(&self, w: &mut Writer, mut p: Pending) -> Result<Vec<Appended>> {
        let hashes_start = merkle::stored_hash_count(w.frontier.size());
        let mut hashes = Vec::with_capacity(2 * p.entries.len() + 8);
        let mut leaves = Vec::with_capacity(p.entries.len());
        for e in &mut p.entries {
            let leaf = merkle::leaf_hash(&e.bytes);
            e.rows.leaf = crate::block::leaf_key(&leaf);
            w.frontier.push(leaf, &mut hashes);
            leaves.push(leaf);
        }
        let height = w.height + 1;
        // SPEC §5: a block's time never decreases, whatever the clock does.
        let time_ms = now_ms().max(w.prev_time_ms);
        let cp = Checkpoint {
            origin: self.origin.clone(),
            tree_size: w.frontier.size(),
            root: w.frontier.root(),
            block: height,
            prev_block_hash: w.prev_hash,
            time_ms: Some(time_ms),
        };
        let row = seal(&self.signer, &cp, p.first_seq, p.entries.len() as u64)?;
        let mut txs = Vec::with_capacity(p.dirty_txs.len());
        for tx in &p.dirty_txs {
            if let Some(s) = w.txs.get(tx) {
                txs.push((*tx, txcodec::encode(s)));
            }
        }
        txs.sort_unstable_by_key(|(tx, _)| *tx);
        let write = BlockWrite {
            entries: p.entries,
            hashes_start,
            hashes,
            txs,
            block: row,
        };
        self.store.commit(&write)?;
        w.height = height;
        w.prev_hash = cp.block_hash();
        w.prev_time_ms = time_ms;

        let mut outcomes = Vec::with_capacity(write.entries.len());
        let mut records = Vec::new();
        let mut registry = Vec::new();
        for ((e, decoded), leaf) in write.entries.into_iter().zip(p.decoded).zip(&leaves) {
            match decoded {
                Entry::Message(m) => {
                    let r = Record::new(e.seq, &m, e.contents, (height, Some(time_ms)), leaf);
                    records.push(r.clone());
                    outcomes.push(Appended::Message(r));
                }
                other => {
                    registry.push((e.seq, other));
                    outcomes.push(Appended::Registry {
                        seq: e.seq,
                        block: height,
                    });
                }
            }
        }
        self.publish(
            w,
            Committed {
                block: Arc::new(write.block),
                records,
                registry,
            },
        );
        Ok(outcomes)
    }
}

/// Verifies, for the whole batch at once, the signatures of messages whose sender is known.
/// `None`: the sender is not (yet) registered; checked again in order.
fn check_signatures(registry: &RegistryView, subs: &[Submission]) -> Vec<Option<Prechecked>> {
    let mut checks = Vec::new();
    let mut at = Vec::with_capacity(subs.len());
    for s in subs {
        let found = match s {
            Submission::Message(m) => registry.registry.party(m.sender.as_str()).map(|d| (d, m)),
            Submission::Registry(_) => None,
        };
        at.push(found.map(|(d, m)| {
            let h = m.contents_hash();
            checks.push(SigCheck {
                key: d.key,
                message: m.signing_bytes_for(&h),
                signature: m.signature,
            });
            checks.len() - 1
        }));
    }
    let ok = verify_all(&checks);
    at.into_iter()
        .map(|i| {
            i.map(|i| Prechecked {
                ok: ok[i],
                key: *checks[i].key.as_bytes(),
            })
        })
        .collect()
}

fn registry_change(w: &mut Writer, p: &mut Pending, e: Entry) -> Result<Slot> {
    let seq = p.first_seq + p.entries.len() as u64;
    w.registry.registry.apply(Seq(seq), &e)?;
    w.registry.ids.observe(seq, &e);
    w.registry_changed = true;
    p.entries.push(EntryWrite {
        seq,
        bytes: e.to_bytes(),
        contents: None,
        rows: IndexRows::of(&e, |name| w.registry.ids.get(name)),
    });
    p.decoded.push(e);
    Ok(Slot::Entry(p.entries.len() - 1))
}

fn message(
    w: &mut Writer,
    p: &mut Pending,
    snap: &Snapshot,
    m: Message,
    pre: Option<Prechecked>,
) -> Result<Slot> {
    let seq = p.first_seq + p.entries.len() as u64;
    let contents_hash = m.contents_hash();
    let registry = &w.registry.registry;
    // `device.key` is the key in force at `seq`: registry changes before it, this block's
    // included, are applied in ledger order. A verdict computed with another key is stale.
    // `device.name` is the sender as this ledger writes it (SPEC §7: bare for this hub's own).
    let device = auth::sender(registry, &m)?;
    let sender = device.name.clone();
    let sender_id = w
        .registry
        .ids
        .get(sender.as_str())
        .ok_or_else(|| no_id(&m))?;
    let sig_ok = match pre {
        Some(c) if c.key == *device.key.as_bytes() => c.ok,
        _ => auth::verify_signature(device, &m, &contents_hash),
    };
    if let Err(stale) = auth::check_counter(device, m.counter) {
        // An exact copy of a recorded message is answered whatever key signed it: it may
        // be a retired one (SPEC §3.2.2), verified when the original was recorded.
        let refusal = if sig_ok {
            stale
        } else {
            Refusal::BadSignature(m.sender.to_string())
        };
        let hub = registry.hub();
        return resubmission(p, snap, sender_id, &m, &contents_hash, hub, refusal);
    }
    if !sig_ok {
        return Err(Refusal::BadSignature(m.sender.to_string()).into());
    }

    let head = Head {
        action: m.action,
        tx: m.tx,
        cause: m.cause,
    };
    let prior = match m.action {
        Action::Begin => None,
        _ => tx_state(w, snap, m.tx.0)?,
    };
    let cause_tx = match m.cause {
        Some(c) => cause_tx(p, snap, c.0)?,
        None => None,
    };
    let registry = &w.registry.registry;
    let device = registry.party(sender.as_str()).ok_or_else(|| no_id(&m))?;
    let receiver = registry.canonical(&m.receiver);
    let facts = Facts {
        sender: device,
        receiver: registry.party(receiver.as_str()),
        tx: prior.as_ref(),
        provenance: prior
            .as_ref()
            .and_then(|t| registry.party(t.provenance.as_str())),
        cause_tx,
        hub: registry.hub(),
    };
    let verdict = rules::judge(head, TxId(w.next_tx), &facts);
    if let Some(next) = rules::next_tx_state(head, &sender, &receiver, &verdict, prior.as_ref()) {
        w.txs.insert(verdict.tx.0, next);
        p.dirty_txs.insert(verdict.tx.0);
    }
    if m.action == Action::Begin {
        w.next_tx += 1;
    }
    w.registry.registry.note_counter(sender.as_str(), m.counter);
    if verdict.valid() {
        p.valid_tx.insert(seq, verdict.tx.0);
    }
    let entry = Entry::Message(MessageEntry::recording(
        &m,
        sender,
        receiver,
        contents_hash,
        verdict,
    ));
    p.counters.insert((sender_id, m.counter), p.entries.len());
    let rows = IndexRows::of(&entry, |name| w.registry.ids.get(name));
    debug_assert_eq!(rows.counter, Some((sender_id, m.counter)));
    p.entries.push(EntryWrite {
        seq,
        bytes: entry.to_bytes(),
        contents: Some(m.contents),
        rows,
    });
    p.decoded.push(entry);
    Ok(Slot::Entry(p.entries.len() - 1))
}

fn no_id(m: &Message) -> LedgerError {
    LedgerError::Corrupt(format!("device {} has no id", m.sender))
}

/// A counter at or below the sender's last: an exact resubmission (same signature over the
/// same signed fields) returns the original record, anything else is refused with `stale`
/// (a stale counter, or a bad signature when it does not verify with the current key).
fn resubmission(
    p: &Pending,
    snap: &Snapshot,
    sender: u32,
    m: &Message,
    contents_hash: &m2mhub_core::hash::Hash,
    hub: Option<&str>,
    stale: Refusal,
) -> Result<Slot> {
    if let Some(&i) = p.counters.get(&(sender, m.counter)) {
        if let Entry::Message(orig) = &p.decoded[i]
            && crate::copies::is_copy(orig, m, contents_hash, hub)
        {
            return Ok(Slot::Duplicate(i));
        }
        return Err(stale.into());
    }
    let Some(seq) = crate::copies::copied_seq(snap, sender, m, contents_hash, hub)? else {
        return Err(stale.into());
    };
    let mut r = crate::query::record_at(snap, seq)?
        .ok_or_else(|| LedgerError::Corrupt(format!("entry {seq} is not a message")))?;
    r.duplicate = true;
    Ok(Slot::Done(Ok(Appended::Message(r))))
}

fn tx_state(w: &mut Writer, snap: &Snapshot, tx: u64) -> Result<Option<TxState>> {
    if let Some(s) = w.txs.get(&tx) {
        return Ok(Some(s.clone()));
    }
    let s = snap.tx_state(tx)?;
    if let Some(s) = &s {
        w.txs.insert(tx, s.clone());
    }
    Ok(s)
}

/// The tx of message `seq` if it is a valid message, else `None`.
fn cause_tx(p: &Pending, snap: &Snapshot, seq: u64) -> Result<Option<TxId>> {
    if seq >= p.first_seq {
        return Ok(p.valid_tx.get(&seq).copied().map(TxId));
    }
    let Some(bytes) = snap.entry(seq)? else {
        return Ok(None);
    };
    match Entry::from_bytes(&bytes) {
        Ok(Entry::Message(m)) if m.valid() => Ok(Some(m.tx)),
        Ok(_) => Ok(None),
        Err(e) => Err(LedgerError::Corrupt(format!("entry {seq}: {e}"))),
    }
}
