//! Replay verification: recomputes every verdict, leaf, root, checkpoint signature and block
//! link from the entries alone, and names the first entry (or block) that differs. The same
//! [`Verifier`] serves the offline check of a data directory and the check of a running hub
//! through its public API; only the source of entries and blocks differs.

use std::fmt;

use ed25519_dalek::{Signature, VerifyingKey};
use m2mhub_core::{
    checkpoint::Checkpoint,
    entry::Entry,
    hash::{Hash, sha256},
    machine::{Machine, ReplayError},
    merkle::{self, Frontier},
    note::NoteVerifier,
};

use crate::{
    block::BlockRow,
    sigverify::{SigCheck, verify_all},
    store::Snapshot,
};

/// Where verification found the first difference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The first bad entry, when an entry is to blame.
    pub seq: Option<u64>,
    /// The block, when a block or checkpoint is to blame.
    pub block: Option<u64>,
    /// What differs.
    pub reason: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.seq, self.block) {
            (Some(s), _) => write!(f, "first bad seq {s}: {}", self.reason),
            (None, Some(b)) => write!(f, "block {b}: {}", self.reason),
            (None, None) => f.write_str(&self.reason),
        }
    }
}

impl std::error::Error for Failure {}

fn at_seq(seq: u64, reason: impl Into<String>) -> Failure {
    Failure {
        seq: Some(seq),
        block: None,
        reason: reason.into(),
    }
}

fn at_block(block: u64, reason: impl Into<String>) -> Failure {
    Failure {
        seq: None,
        block: Some(block),
        reason: reason.into(),
    }
}

/// What a successful verification covered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Entries replayed.
    pub entries: u64,
    /// Blocks checked (the genesis block included).
    pub blocks: u64,
    /// Messages whose contents were still present and matched their hash.
    pub contents_checked: u64,
    /// The final root.
    pub root: Hash,
}

/// An entry to verify: its seq, canonical bytes and (unless pruned) contents.
#[derive(Clone, Debug)]
pub struct EntryIn {
    /// Seq.
    pub seq: u64,
    /// Bytes.
    pub bytes: Vec<u8>,
    /// Contents of a message, if still stored.
    pub contents: Option<String>,
}

/// Incremental replay verifier: feed each block's entries, then the block.
#[derive(Debug)]
pub struct Verifier {
    key: NoteVerifier,
    machine: Machine,
    frontier: Frontier,
    scratch: Vec<Hash>,
    prev_hash: Hash,
    next_height: u64,
    summary: Summary,
}

impl Verifier {
    /// A verifier trusting checkpoints signed by `key`.
    pub fn new(key: NoteVerifier) -> Verifier {
        Verifier {
            key,
            machine: Machine::new(),
            frontier: Frontier::new(),
            scratch: Vec::new(),
            prev_hash: [0; 32],
            next_height: 0,
            summary: Summary::default(),
        }
    }

    /// The number of entries verified so far.
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// Replays `entries`, which must continue the ledger in seq order.
    pub fn push_entries(&mut self, entries: &[EntryIn]) -> Result<(), Failure> {
        let mut decoded = Vec::with_capacity(entries.len());
        for e in entries {
            if e.seq != self.frontier.size() + decoded.len() as u64 {
                return Err(at_seq(
                    self.frontier.size() + decoded.len() as u64,
                    format!("entry missing (next entry present is seq {})", e.seq),
                ));
            }
            let entry =
                Entry::from_bytes(&e.bytes).map_err(|err| at_seq(e.seq, err.to_string()))?;
            decoded.push(entry);
        }
        let sig_ok = self.check_signatures(&decoded);
        for ((e, entry), ok) in entries.iter().zip(&decoded).zip(sig_ok) {
            let replay = match entry {
                Entry::Message(m) => {
                    if !ok {
                        return Err(at_seq(
                            e.seq,
                            format!("signature by {} does not verify", m.sender),
                        ));
                    }
                    if let Some(c) = &e.contents {
                        if sha256(c.as_bytes()) != m.contents_hash {
                            return Err(at_seq(e.seq, "contents do not match their hash"));
                        }
                        self.summary.contents_checked += 1;
                    }
                    self.machine.replay_verified(m)
                }
                other => self.machine.replay(other),
            };
            replay.map_err(|err: ReplayError| at_seq(e.seq, err.to_string()))?;
            self.scratch.clear();
            self.frontier
                .push(merkle::leaf_hash(&e.bytes), &mut self.scratch);
        }
        self.summary.entries += entries.len() as u64;
        Ok(())
    }

    /// Checks the next block: its checkpoint's signature, size, root, height and link.
    pub fn check_block(&mut self, b: &BlockRow) -> Result<(), Failure> {
        let h = self.next_height;
        if b.height != h {
            return Err(at_block(
                h,
                format!("block missing (next block present is {})", b.height),
            ));
        }
        let cp = Checkpoint::open(&b.checkpoint, &self.key)
            .map_err(|e| at_block(h, format!("checkpoint: {e}")))?;
        let first_bad = || Some(b.first_seq);
        if cp.block != h || cp.tree_size != b.tree_size || b.first_seq + b.size != b.tree_size {
            return Err(at_block(
                h,
                "checkpoint and block row disagree on height or size",
            ));
        }
        if cp.tree_size != self.frontier.size() {
            return Err(Failure {
                seq: first_bad().filter(|_| cp.tree_size > self.frontier.size()),
                block: Some(h),
                reason: format!(
                    "checkpoint covers {} entries, replay reached {}",
                    cp.tree_size,
                    self.frontier.size()
                ),
            });
        }
        if cp.prev_block_hash != self.prev_hash || b.prev_hash != hex::encode(self.prev_hash) {
            return Err(at_block(h, "previous block hash does not match"));
        }
        if cp.root != self.frontier.root() || b.root != hex::encode(cp.root) {
            return Err(Failure {
                seq: first_bad().filter(|_| b.size > 0),
                block: Some(h),
                reason: "Merkle root of the entries differs from the signed checkpoint".into(),
            });
        }
        self.prev_hash = cp.block_hash();
        if b.hash != hex::encode(self.prev_hash) {
            return Err(at_block(h, "block hash does not match its checkpoint"));
        }
        self.next_height += 1;
        self.summary.blocks += 1;
        self.summary.root = cp.root;
        Ok(())
    }

    /// Ends verification.
    pub fn finish(self) -> Summary {
        self.summary
    }

    /// The rule state the replay reached (to compare a store's projections with).
    pub fn machine(&self) -> &Machine {
        &self.machine
    }

    fn check_signatures(&self, entries: &[Entry]) -> Vec<bool> {
        // Keys come from the registry as of this batch plus registrations inside it; a
        // message from a device registered later in the batch fails replay as unknown.
        let mut pending_keys: Vec<(&str, VerifyingKey)> = Vec::new();
        let mut checks = Vec::new();
        let mut at = Vec::with_capacity(entries.len());
        for entry in entries {
            match entry {
                Entry::DeviceRegistered(r) => {
                    if let Ok(k) = VerifyingKey::from_bytes(&r.public_key) {
                        pending_keys.push((r.name.as_str(), k));
                    }
                    at.push(None);
                }
                Entry::Message(m) => {
                    let key = self
                        .machine
                        .registry()
                        .get(m.sender.as_str())
                        .map(|d| d.key)
                        .or_else(|| {
                            pending_keys
                                .iter()
                                .find(|(n, _)| *n == m.sender.as_str())
                                .map(|(_, k)| *k)
                        });
                    at.push(key.map(|key| {
                        let fields = m.signed_fields();
                        checks.push(SigCheck {
                            key,
                            message: fields.signing_bytes(),
                            signature: Signature::from_bytes(&m.signature),
                        });
                        checks.len() - 1
                    }));
                }
                _ => at.push(None),
            }
        }
        let ok = verify_all(&checks);
        // Entries without a check are registry entries (true: nothing to check) or messages
        // from an unknown sender (true here: replay reports the unknown sender).
        at.into_iter().map(|i| i.is_none_or(|i| ok[i])).collect()
    }
}

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

/// Verifies a data directory's store offline, block by block.
pub fn verify_snapshot(snap: &Snapshot, key: NoteVerifier) -> Result<Summary, Failure> {
    let storage = |e: crate::LedgerError| Failure {
        seq: None,
        block: None,
        reason: e.to_string(),
    };
    let mut v = Verifier::new(key);
    let size = snap.size().map_err(storage)?;
    let mut after = None;
    loop {
        let blocks = snap.blocks(after, 256).map_err(storage)?;
        let Some(last) = blocks.last() else { break };
        after = Some(last.height);
        for b in &blocks {
            let start = v.size();
            let end = b.tree_size.max(start);
            for chunk_start in (start..end).step_by(4096) {
                let chunk_end = (chunk_start + 4096).min(end);
                let mut batch = Vec::with_capacity((chunk_end - chunk_start) as usize);
                for (seq, bytes) in snap.entries(chunk_start, chunk_end).map_err(storage)? {
                    let contents = snap.contents(seq).map_err(storage)?;
                    batch.push(EntryIn {
                        seq,
                        bytes,
                        contents,
                    });
                }
                if batch.len() as u64 != chunk_end - chunk_start {
                    let have: Vec<u64> = batch.iter().map(|e| e.seq).collect();
                    let missing = (chunk_start..chunk_end)
                        .find(|s| !have.contains(s))
                        .unwrap_or(chunk_start);
                    return Err(at_seq(missing, "entry missing"));
                }
                v.push_entries(&batch)?;
            }
            v.check_block(b)?;
        }
    }
    if v.size() != size {
        return Err(at_seq(
            v.size(),
            format!("{} entries after the last block", size - v.size()),
        ));
    }
    check_projections(snap, v.machine())?;
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
