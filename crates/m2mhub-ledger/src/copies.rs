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

use m2mhub_core::{entry::Entry, message::Message};

use crate::{
    error::{LedgerError, Result},
    ledger::Ledger,
    query::record_with,
    record::Record,
};

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
            let Some(&id) = view.registry.ids.get(m.sender.as_str()) else {
                out.push(None);
                continue;
            };
            if snap.last_counter(id)?.is_none_or(|last| m.counter > last) {
                out.push(None);
                continue;
            }
            let Some(seq) = snap.seq_of_counter(id, m.counter)? else {
                out.push(None);
                continue;
            };
            let bytes = snap
                .entry(seq)?
                .ok_or_else(|| LedgerError::Corrupt(format!("entry {seq} missing")))?;
            let same = match Entry::from_bytes(&bytes) {
                Ok(Entry::Message(orig)) => {
                    orig.signature == m.signature
                        && orig.signed_fields().signing_bytes() == m.signing_bytes()
                }
                _ => false,
            };
            if !same {
                out.push(None);
                continue;
            }
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
