//! `verify --data`: the offline check of a data directory's store. Its entries are replayed
//! by [`Verifier`]; everything else the store keeps about them (the Merkle hash rows proofs are
//! built from, the index tables queries read, the block-start index, the transaction states,
//! the tables behind bounded answers) is read back and compared with what the entries imply.

use std::collections::HashMap;

use m2mhub_core::{entry::Entry, machine::Machine, merkle, note::NoteVerifier};

use super::{EntryIn, Failure, Summary, Verifier, at_block, at_seq, derived};
use crate::{
    block::{BlockRow, IndexRows},
    parties::PartyIds,
    store::{HASH_ROW, Snapshot},
};

/// The stored projections (transaction states, the invalid-message index) must be what the
/// replay computed, or queries would answer wrongly about a sound ledger.
fn check_projections(snap: &Snapshot, m: &Machine) -> Result<(), Failure> {
    let index = |reason: String| Failure {
        seq: None,
        block: None,
        reason,
    };
    let storage = |e: crate::LedgerError| index(e.to_string());
    let mut stored = 0usize;
    snap.for_each_tx(|tx, state| {
        stored += 1;
        if m.transaction(m2mhub_core::ids::TxId(tx)) != Some(&state) {
            return Err(crate::LedgerError::Corrupt(format!(
                "stored state of tx {tx} differs from the replay"
            )));
        }
        Ok(())
    })
    .map_err(storage)?;
    if stored != m.transaction_count() {
        return Err(index(format!(
            "{stored} transaction states stored, the replay made {}",
            m.transaction_count()
        )));
    }
    let invalid = snap.invalid_count().map_err(storage)?;
    if invalid != m.invalid_count() {
        return Err(index(format!(
            "the invalid-message index holds {invalid} messages, the replay found {}",
            m.invalid_count()
        )));
    }
    Ok(())
}

/// Verifies a data directory's store offline, block by block: the entries (as
/// [`Verifier`] does), and every copy the store keeps of what they imply — the stored Merkle
/// hashes proofs are built from, the index tables queries read, the block-start index and the
/// transaction states.
///
/// A store too damaged to read (redb panics on some damaged pages) fails at the first seq not
/// yet verified.
pub fn verify_snapshot(snap: &Snapshot, key: NoteVerifier) -> Result<Summary, Failure> {
    let progress = std::cell::Cell::new(0u64);
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        verify_store(snap, key, &progress)
    })) {
        Ok(r) => r,
        Err(payload) => Err(at_seq(
            progress.get(),
            format!(
                "the store file is damaged here ({})",
                crate::error::panic_message(payload.as_ref())
            ),
        )),
    }
}

fn verify_store(
    snap: &Snapshot,
    key: NoteVerifier,
    progress: &std::cell::Cell<u64>,
) -> Result<Summary, Failure> {
    let storage = |e: crate::LedgerError| Failure {
        seq: None,
        block: None,
        reason: e.to_string(),
    };
    let mut v = Verifier::new(key).collecting_stored_hashes();
    let size = snap.size().map_err(storage)?;
    let mut hash_index = 0u64;
    let mut hash_rows = 0u64;
    let mut expected_starts = Vec::new();
    // One thread reads the store and checks its index rows while this one replays (and
    // checks signatures on every core): on 2 cores verify is bound by the signatures.
    let expected = std::thread::scope(|scope| -> Result<_, Failure> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Read>(4);
        let reader = scope.spawn(move || read_store(snap, &tx));
        for item in rx {
            match item {
                Read::Entries(batch, index_failure) => {
                    let replayed = v.push_entries(&batch);
                    // Report whichever failure comes first in the ledger.
                    match (replayed, index_failure) {
                        (Err(a), Some(b)) => return Err(if b.seq < a.seq { b } else { a }),
                        (Err(a), None) | (Ok(()), Some(a)) => return Err(a),
                        (Ok(()), None) => {}
                    }
                    progress.set(v.size());
                }
                Read::Block(b) => {
                    v.check_block(&b)?;
                    if b.size > 0 {
                        expected_starts.push((b.first_seq, b.height));
                        hash_rows += check_hash_rows(snap, &mut v, &mut hash_index, &b)?;
                    }
                }
                Read::Failed(f) => return Err(f),
            }
        }
        // The reader panics only inside redb, on a damaged file.
        reader
            .join()
            .map_err(|_| at_seq(progress.get(), "the store file is damaged here"))
    })?;
    if v.size() != size {
        return Err(at_seq(
            v.size(),
            format!("{} entries after the last block", size - v.size()),
        ));
    }
    if snap.hash_row_count().map_err(storage)? != hash_rows {
        return Err(Failure {
            seq: None,
            block: None,
            reason: "the store holds stored-hash chunks no block wrote".into(),
        });
    }
    let starts = snap.block_starts().map_err(storage)?;
    if starts != expected_starts {
        let bad = starts
            .iter()
            .zip(&expected_starts)
            .find(|(a, b)| a != b)
            .map_or_else(
                || {
                    expected_starts
                        .get(starts.len())
                        .or(starts.get(expected_starts.len()))
                },
                |(_, b)| Some(b),
            );
        return Err(match bad {
            Some(&(seq, height)) => Failure {
                seq: Some(seq),
                block: Some(height),
                reason: "the block-start index differs from the blocks".into(),
            },
            None => at_block(0, "the block-start index differs from the blocks"),
        });
    }
    check_index_counts(snap, &expected)?;
    expected.derived.check(snap)?;
    check_projections(snap, v.machine())?;
    check_last_counters(snap, &v, &expected.ids)?;
    let summary = v.finish();
    // The stored Merkle hashes must be the recomputed ones, or proofs would lie.
    let stored_root = merkle::tree_hash(size, snap)
        .map_err(|e| at_block(0, format!("stored Merkle hashes: {e}")))?;
    if stored_root != summary.root {
        return Err(Failure {
            seq: None,
            block: None,
            reason: "stored Merkle hashes do not match the entries".into(),
        });
    }
    Ok(summary)
}

/// Each sender's stored last counter must be the replay's.
fn check_last_counters(snap: &Snapshot, v: &Verifier, ids: &DeviceIds) -> Result<(), Failure> {
    let mut want: Vec<(u32, u64)> = v
        .machine()
        .registry()
        .iter()
        .chain(v.machine().registry().foreign_devices())
        .filter_map(|d| {
            let id = ids.0.get(d.name.as_str())?;
            d.last_counter.map(|c| (id, c))
        })
        .collect();
    want.sort_unstable();
    let stored = snap
        .last_counters()
        .map_err(|e| at_block(0, format!("reading the last counters: {e}")))?;
    if stored == want {
        return Ok(());
    }
    // The first sender whose row differs, named by the seq of its last message (the counters
    // index, checked before this, finds it).
    let (id, c) = want
        .iter()
        .find(|r| !stored.contains(r))
        .or_else(|| stored.iter().find(|r| !want.contains(r)))
        .copied()
        .unwrap_or_default();
    let seq = want
        .iter()
        .find(|(i, _)| *i == id)
        .and_then(|(_, c)| snap.seq_of_counter(id, *c).ok().flatten());
    Err(Failure {
        seq,
        block: None,
        reason: format!(
            "the last-counter index differs from the replay for device id {id} (counter {c})"
        ),
    })
}

/// Internal device ids as the writer gives them ([`PartyIds`]): what index rows are keyed by.
#[derive(Debug, Default)]
struct DeviceIds(PartyIds);

impl DeviceIds {
    /// Notes an entry that may give ids.
    fn note(&mut self, seq: u64, entry: &Entry) {
        self.0.observe(seq, entry);
    }

    /// The index rows `entry` at `seq` implies, with the devices registered up to it.
    fn rows_at(&self, seq: u64, entry: &Entry) -> IndexRows {
        IndexRows::of(entry, |name| self.0.get_up_to(name, seq))
    }
}

/// What the entries imply for the store, as the reader found it.
#[derive(Debug, Default)]
struct Expected {
    /// Rows each index table should hold.
    counts: HashMap<&'static str, u64>,
    /// Device ids.
    ids: DeviceIds,
    /// The rows of the bounded-answer tables.
    derived: derived::Derived,
}

/// What the store reader hands the replay, in ledger order.
enum Read {
    /// A chunk of entries, and the first index row they imply that the store lacks.
    Entries(Vec<EntryIn>, Option<Failure>),
    /// The block sealing the entries sent before it.
    Block(BlockRow),
    /// The store could not be read here.
    Failed(Failure),
}

/// Reads blocks and entries in order for [`verify_store`], checking on the way that every
/// index row the entries imply is stored; returns how many rows each index should hold.
fn read_store(snap: &Snapshot, tx: &std::sync::mpsc::SyncSender<Read>) -> Expected {
    let mut expected = Expected::default();
    let mut next = 0u64;
    let mut after = None;
    let fail = |f: Failure| {
        let _ = tx.send(Read::Failed(f));
    };
    let pruned_below = match snap.contents_pruned_below() {
        Ok(p) => p,
        Err(e) => {
            fail(at_block(0, format!("reading the prune mark: {e}")));
            return expected;
        }
    };
    loop {
        let blocks = match snap.blocks(after, 256) {
            Ok(b) => b,
            Err(e) => {
                fail(at_block(after.map_or(0, |h| h + 1), e.to_string()));
                return expected;
            }
        };
        let Some(last) = blocks.last() else {
            return expected;
        };
        after = Some(last.height);
        for b in blocks {
            let end = b.tree_size.max(next);
            for start in (next..end).step_by(4096) {
                let stop = (start + 4096).min(end);
                let read = snap.entries(start, stop).and_then(|entries| {
                    let contents = snap.contents_range(start, stop)?;
                    Ok((entries, contents))
                });
                let (entries, contents) = match read {
                    Ok(r) => r,
                    Err(e) => {
                        fail(at_seq(start, format!("reading entries: {e}")));
                        return expected;
                    }
                };
                let mut contents = contents.into_iter().peekable();
                let mut batch = Vec::with_capacity(entries.len());
                let mut rows = Vec::with_capacity(entries.len());
                for (seq, bytes) in entries {
                    while contents.next_if(|(s, _)| *s < seq).is_some() {}
                    let c = contents.next_if(|(s, _)| *s == seq).map(|(_, c)| c);
                    // An entry that does not decode fails the replay, at its seq.
                    if let Ok(entry) = Entry::from_bytes(&bytes) {
                        if c.is_none() && seq >= pruned_below && matches!(entry, Entry::Message(_))
                        {
                            fail(at_seq(
                                seq,
                                "the message's contents are missing (not pruned)",
                            ));
                            return expected;
                        }
                        expected.ids.note(seq, &entry);
                        rows.push((seq, expected.ids.rows_at(seq, &entry).with_leaf(&bytes)));
                    }
                    batch.push(EntryIn {
                        seq,
                        bytes,
                        contents: c,
                    });
                }
                if batch.len() as u64 != stop - start {
                    let have: Vec<u64> = batch.iter().map(|e| e.seq).collect();
                    let missing = (start..stop).find(|s| !have.contains(s)).unwrap_or(start);
                    fail(at_seq(missing, "entry missing"));
                    return expected;
                }
                for (seq, r) in &rows {
                    expected.derived.note(*seq, r, b.time_ms);
                    *expected.counts.entry("registry_entries").or_default() +=
                        u64::from(r.is_registry);
                    *expected.counts.entry("tx_messages").or_default() += u64::from(r.tx.is_some());
                    *expected.counts.entry("device_messages").or_default() +=
                        r.devices.iter().flatten().count() as u64;
                    *expected.counts.entry("counters").or_default() +=
                        u64::from(r.counter.is_some());
                    *expected.counts.entry("invalid_messages").or_default() += u64::from(r.invalid);
                    *expected.counts.entry("unissued_tx_messages").or_default() +=
                        u64::from(r.unissued_tx.is_some());
                    *expected.counts.entry("device_history").or_default() +=
                        r.history.iter().flatten().count() as u64;
                    *expected.counts.entry("begun_txs").or_default() +=
                        u64::from(r.begins && r.devices[0].is_some());
                    *expected.counts.entry("caused_invalid").or_default() +=
                        u64::from(r.culprit.is_some());
                    *expected.counts.entry("leaf_index").or_default() += 1;
                }
                let index_failure = match snap.missing_index_row(&rows) {
                    Ok(None) => None,
                    Ok(Some((seq, table))) => {
                        Some(at_seq(seq, format!("index {table} lacks the entry's row")))
                    }
                    Err(e) => Some(at_seq(start, format!("reading the indexes: {e}"))),
                };
                if tx.send(Read::Entries(batch, index_failure)).is_err() {
                    return expected;
                }
            }
            next = end;
            if tx.send(Read::Block(b)).is_err() {
                return expected;
            }
        }
    }
}

/// The stored hashes a block added must be the ones its entries give, in rows of
/// [`HASH_ROW`] starting at the block's first stored-hash index; returns the rows checked.
fn check_hash_rows(
    snap: &Snapshot,
    v: &mut Verifier,
    hash_index: &mut u64,
    b: &BlockRow,
) -> Result<u64, Failure> {
    let Some(stored) = &mut v.stored_hashes else {
        return Ok(0);
    };
    let new = std::mem::take(stored);
    let end = *hash_index + new.len() as u64;
    let rows = snap
        .hash_rows(*hash_index, end)
        .map_err(|e| at_seq(b.first_seq, format!("reading stored hashes: {e}")))?;
    let want_rows = new.len().div_ceil(HASH_ROW);
    for (k, chunk) in new.chunks(HASH_ROW).enumerate() {
        let key = *hash_index + (k * HASH_ROW) as u64;
        let Some((_, stored)) = rows.iter().find(|(start, _)| *start == key) else {
            return Err(at_seq(chunk[0].0, "stored Merkle hashes are missing"));
        };
        for (i, (seq, h)) in chunk.iter().enumerate() {
            if stored.get(32 * i..32 * i + 32) != Some(h.as_slice()) {
                return Err(at_seq(
                    *seq,
                    "a stored Merkle hash differs from the entries",
                ));
            }
        }
        if stored.len() != 32 * chunk.len() {
            return Err(at_seq(
                chunk[0].0,
                "a row of stored Merkle hashes has extra bytes",
            ));
        }
    }
    if rows.len() != want_rows {
        return Err(at_seq(
            b.first_seq,
            "the block's stored Merkle hashes hold extra rows",
        ));
    }
    *hash_index = end;
    Ok(want_rows as u64)
}

/// No index may hold rows beyond those the entries imply; name the entry an extra row claims.
fn check_index_counts(snap: &Snapshot, expected: &Expected) -> Result<(), Failure> {
    let storage = |e: crate::LedgerError| at_block(0, format!("reading the indexes: {e}"));
    let counts = snap.index_row_counts().map_err(storage)?;
    if counts
        .iter()
        .all(|(t, n)| expected.counts.get(t).copied().unwrap_or(0) == *n)
    {
        return Ok(());
    }
    // Slow path: find the smallest seq an extra row names.
    let mut worst: Option<(u64, &'static str)> = None;
    let mut err = None;
    snap.for_each_index_row(|seq, row| {
        if worst.is_some_and(|(w, _)| w <= seq) {
            return;
        }
        let rows = match snap.entry(seq) {
            Ok(Some(bytes)) => Entry::from_bytes(&bytes)
                .ok()
                .map(|e| expected.ids.rows_at(seq, &e).with_leaf(&bytes)),
            Ok(None) => None,
            Err(e) => {
                err = Some(e);
                None
            }
        };
        if !rows.is_some_and(|r| row.implied_by(&r)) && worst.is_none_or(|(w, _)| seq < w) {
            worst = Some((seq, row.table()));
        }
    })
    .map_err(storage)?;
    if let Some(e) = err {
        return Err(storage(e));
    }
    Err(match worst {
        Some((seq, table)) => at_seq(
            seq,
            format!("index {table} holds a row the entry does not imply"),
        ),
        None => at_block(0, "an index holds more rows than the entries imply"),
    })
}
