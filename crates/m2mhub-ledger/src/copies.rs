//! Exact resubmissions recognised on a read snapshot, before any signature is checked.
//!
//! A resubmission of a recorded message (same sender, counter and signature, SPEC §3.2) is
//! answered with the original record. Anyone can replay any message (records are public), so
//! a flood of replays must cost the hub a few B-tree reads each, not a signature check and a
//! place in the next block: the transports ask [`Ledger::recorded_copies`] first and send
//! only the rest to the committer. The committer still recognises the copies this misses (a
//! message still in flight, or two copies in one block), so the answer never depends on which
//! path found it.
//!
//! Skipping the signature check is sound because a copy is compared with the recorded entry
//! on every field the sender signed, and that entry's signature was verified when it was
//! recorded (with the key then in force, SPEC §3.2.2).

use m2mhub_core::{
    entry::{Entry, MessageEntry},
    hash::Hash,
    message::Message,
};

use crate::{
    error::{LedgerError, Result},
    ledger::Ledger,
    query::record_with,
    record::Record,
    store::Snapshot,
};

/// True when `m` (whose contents hash to `contents_hash`) is an exact copy of the recorded
/// `orig`: the same signature over the same signed fields. Every field is compared because the
/// copy's signature may not have been checked (it may be a retired key's, SPEC §3.2.2).
/// `hub` is this hub's member name, which a federated entry's signing bytes need.
pub(crate) fn is_copy(
    orig: &MessageEntry,
    m: &Message,
    contents_hash: &Hash,
    hub: Option<&str>,
) -> bool {
    orig.signature == m.signature
        && orig.signing_bytes(hub) == Some(m.signing_bytes_for(contents_hash))
}

/// The seq of the recorded message that `m` exactly copies, if any (`sender` is its id).
pub(crate) fn copied_seq(
    snap: &Snapshot,
    sender: u32,
    m: &Message,
    contents_hash: &Hash,
    hub: Option<&str>,
) -> Result<Option<u64>> {
    let Some(seq) = snap.seq_of_counter(sender, m.counter)? else {
        return Ok(None);
    };
    let bytes = snap
        .entry(seq)?
        .ok_or_else(|| LedgerError::Corrupt(format!("entry {seq} missing")))?;
    let Ok(Entry::Message(orig)) = Entry::from_bytes(&bytes) else {
        return Err(LedgerError::Corrupt(format!(
            "entry {seq} is not a message"
        )));
    };
    Ok(is_copy(&orig, m, contents_hash, hub).then_some(seq))
}

impl Ledger {
    /// For each of `msgs`, the original record (with `duplicate` set) when it is an exact
    /// resubmission of a message already recorded, else `None`. Reads one snapshot: a sender's
    /// last counter first, so a fresh message costs one B-tree read.
    pub fn recorded_copies(&self, msgs: &[Message]) -> Result<Vec<Option<Record>>> {
        let view = self.view();
        let snap = self.snapshot()?;
        let mut reader = None;
        let mut out = Vec::with_capacity(msgs.len());
        for m in msgs {
            let registry = &view.registry.registry;
            let sender = registry.canonical(&m.sender);
            let Some(id) = view.registry.ids.get(sender.as_str()) else {
                out.push(None);
                continue;
            };
            if snap.last_counter(id)?.is_none_or(|last| m.counter > last) {
                out.push(None);
                continue;
            }
            let Some(seq) = copied_seq(&snap, id, m, &m.contents_hash(), registry.hub())? else {
                out.push(None);
                continue;
            };
            let reader = match &mut reader {
                Some(r) => r,
                None => reader.insert(snap.record_reader()?),
            };
            let mut r = record_with(reader, seq)?
                .ok_or_else(|| LedgerError::Corrupt(format!("entry {seq} is not a message")))?;
            r.duplicate = true;
            out.push(Some(r));
        }
        Ok(out)
    }
}
