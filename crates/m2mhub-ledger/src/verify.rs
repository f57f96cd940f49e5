//! Replay verification: recomputes every verdict, leaf, root, checkpoint signature and block
//! link from the entries alone, and names the first entry (or block) that differs. The same
//! [`Verifier`] serves the offline check of a data directory and the check of a running hub
//! through its public API; only the source of entries and blocks differs.

use std::fmt;

use m2mhub_core::{
    checkpoint::Checkpoint,
    entry::{Entry, Registration},
    hash::{Hash, sha256},
    machine::{Machine, ReplayError},
    merkle::{self, Frontier},
    note::NoteVerifier,
    sig::PublicKey,
};

mod derived;
mod store;

pub use store::verify_snapshot;

use crate::{
    block::BlockRow,
    sigverify::{SigCheck, verify_all},
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
    /// The last signed block time seen (SPEC §5: block times never decrease).
    prev_time_ms: Option<u64>,
    next_height: u64,
    summary: Summary,
    /// Offline only: the stored Merkle hashes the entries imply since the last block, each
    /// with the seq whose leaf completed it, to compare with the store's.
    stored_hashes: Option<Vec<(u64, Hash)>>,
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
            prev_time_ms: None,
            next_height: 0,
            summary: Summary::default(),
            stored_hashes: None,
        }
    }

    /// Also collects the stored hashes the entries imply, so a store's copies can be compared
    /// with them ([`verify_snapshot`] does).
    pub(crate) fn collecting_stored_hashes(mut self) -> Verifier {
        self.stored_hashes = Some(Vec::new());
        self
    }

    /// The stored hashes collected since the last call, each with the seq that completed it.
    pub(crate) fn take_stored_hashes(&mut self) -> Vec<(u64, Hash)> {
        self.stored_hashes
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
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
                    // Not checked in the batch: checked in order, with the registry as of it.
                    let Some(ok) = ok else {
                        self.machine
                            .replay(entry)
                            .map_err(|err| at_seq(e.seq, err.to_string()))?;
                        self.frontier_push(e);
                        continue;
                    };
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
            self.frontier_push(e);
        }
        self.summary.entries += entries.len() as u64;
        Ok(())
    }

    fn frontier_push(&mut self, e: &EntryIn) {
        self.scratch.clear();
        self.frontier
            .push(merkle::leaf_hash(&e.bytes), &mut self.scratch);
        if let Some(s) = &mut self.stored_hashes {
            s.extend(self.scratch.iter().map(|h| (e.seq, *h)));
        }
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
        self.check_time(h, &cp, b)?;
        self.prev_hash = cp.block_hash();
        if b.hash != hex::encode(self.prev_hash) {
            return Err(at_block(h, "block hash does not match its checkpoint"));
        }
        self.next_height += 1;
        self.summary.blocks += 1;
        self.summary.root = cp.root;
        Ok(())
    }

    /// SPEC §5: a block's signed time never decreases, and once blocks carry one every later
    /// block does; the block row shows the signed time.
    fn check_time(&mut self, h: u64, cp: &Checkpoint, b: &BlockRow) -> Result<(), Failure> {
        match (cp.time_ms, self.prev_time_ms) {
            (None, Some(_)) => Err(at_block(
                h,
                "the checkpoint has no time line although an earlier block's has",
            )),
            (Some(t), Some(prev)) if t < prev => Err(at_block(
                h,
                format!("block time {t} ms is before the previous block's {prev} ms"),
            )),
            (Some(t), _) if !b.time_signed || b.time_ms != t => Err(at_block(
                h,
                "the block row's time differs from its signed checkpoint",
            )),
            (None, None) if b.time_signed => Err(at_block(
                h,
                "the block row claims a signed time its checkpoint lacks",
            )),
            (t, _) => {
                self.prev_time_ms = t.or(self.prev_time_ms);
                Ok(())
            }
        }
    }

    /// Ends verification.
    pub fn finish(self) -> Summary {
        self.summary
    }

    /// The rule state the replay reached (to compare a store's projections with).
    pub fn machine(&self) -> &Machine {
        &self.machine
    }

    /// The batch check of the messages' signatures: `Some(verdict)`, or `None` for a message
    /// left to the in-order replay (a federated one after a membership or an import in the
    /// same batch, which may change the keys and names it is checked with).
    fn check_signatures(&self, entries: &[Entry]) -> Vec<Option<bool>> {
        // Keys come from the registry as of this batch, overridden by the registrations and
        // re-keys inside it in ledger order: the latest one before a message is the key in
        // force at its seq (SPEC §3.2.2). A message from a device registered later in the
        // batch fails replay as unknown.
        let mut pending_keys: Vec<(&str, PublicKey)> = Vec::new();
        let registry = self.machine.registry();
        let mut federation_changed = false;
        let mut checks = Vec::new();
        let mut at = Vec::with_capacity(entries.len());
        let mut unchecked = Vec::new();
        for entry in entries {
            match entry {
                Entry::DeviceRegistered(Registration {
                    name: device,
                    public_key,
                    ..
                })
                | Entry::DeviceRekeyed { device, public_key } => {
                    if let Some(k) = PublicKey::from_bytes(public_key) {
                        pending_keys.push((device.as_str(), k));
                    }
                    at.push(None);
                }
                Entry::FederationMembership(_) | Entry::Import(_) => {
                    federation_changed = true;
                    at.push(None);
                }
                Entry::Message(m) if m.federated && federation_changed => {
                    at.push(None);
                    unchecked.push(at.len() - 1);
                }
                Entry::Message(m) => {
                    let key = pending_keys
                        .iter()
                        .rev()
                        .find(|(n, _)| *n == m.sender.as_str())
                        .map(|(_, k)| *k)
                        .or_else(|| registry.party(m.sender.as_str()).map(|d| d.key));
                    let bytes = m.signing_bytes(registry.hub());
                    at.push(key.zip(bytes).map(|(key, message)| {
                        checks.push(SigCheck {
                            key,
                            message,
                            signature: m.signature,
                        });
                        checks.len() - 1
                    }));
                }
                _ => at.push(None),
            }
        }
        let ok = verify_all(&checks);
        // Entries without a check are registry entries (true: nothing to check), messages
        // from an unknown sender (true here: replay reports the unknown sender), and those
        // left to the in-order replay (`None`).
        let mut out: Vec<Option<bool>> = at
            .into_iter()
            .map(|i| Some(i.is_none_or(|i| ok[i])))
            .collect();
        for i in unchecked {
            out[i] = None;
        }
        out
    }
}
