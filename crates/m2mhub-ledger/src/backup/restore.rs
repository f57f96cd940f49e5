//! Restoring a backup: every entry is replayed through the same [`Verifier`] that `verify`
//! uses (signatures, verdicts, leaves, roots, checkpoint signatures, block links and times),
//! block by block, and each verified block is written to a new store with the index rows the
//! sequencer would have written ([`IndexRows::of`], as `verify` derives them). The result is
//! then checked once more as `verify --data` checks a stopped hub, and only then moved into
//! place: a refused backup leaves no data directory behind.

use std::{
    collections::BTreeSet,
    io::Read,
    path::{Path, PathBuf},
};

use ed25519_dalek::SigningKey;
use m2mhub_core::{
    entry::Entry,
    ids::TxId,
    merkle,
    note::{NoteSigner, NoteVerifier},
};

use super::{Header, Reader, Record, bad, check_trailer};
use crate::{
    LedgerError, Result,
    block::{BlockRow, BlockWrite, EntryWrite, IndexRows},
    datadir::{HUB_KEY_FILE, STORE_FILE},
    fs::{DirFs, RealFs, create_dir_all, parent, with_suffix, write_durably},
    store::{STORE_FORMAT, Store},
    txcodec,
    verify::{EntryIn, Failure, Verifier, verify_snapshot},
};

/// Most entries one block of a backup may hold (the committer seals at most 8,192): bounds
/// the memory a hostile file can make a restore take.
const MAX_BLOCK_ENTRIES: usize = 1 << 20;
/// Blocks written between two durable commits (the others are not synced one by one; the
/// restore syncs at the end and renames the directory into place only after that).
const SYNC_EVERY_BLOCKS: u64 = 1024;

/// What a restore rebuilt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestoreSummary {
    /// The origin.
    pub origin: String,
    /// Entries replayed.
    pub entries: u64,
    /// Blocks (the genesis block included).
    pub blocks: u64,
    /// Contents restored (and checked against their hashes).
    pub contents: u64,
    /// The last block's checkpoint, as the trailer gives it.
    pub checkpoint: String,
}

/// Restores the backup read from `backup` into a new data directory `data`, which must not
/// exist or be empty, with the hub's key `hub_key` (the one that signed the backup's
/// checkpoints) and `files` (name and bytes: the operator token, `chain.json`) written beside
/// it, owner-only. Built in `DATA.restoring` beside `data`, synced, then renamed into place;
/// on any failure nothing is left at `data`.
pub fn restore(
    backup: impl Read,
    data: &Path,
    hub_key: &SigningKey,
    files: &[(&str, Vec<u8>)],
) -> Result<RestoreSummary> {
    let fs = RealFs;
    let io = |p: &Path| {
        let path = p.display().to_string();
        move |source| LedgerError::Io { path, source }
    };
    let empty = match std::fs::read_dir(data) {
        Ok(mut d) => d.next().is_none(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        Err(e) => return Err(io(data)(e)),
    };
    if !empty {
        return Err(bad(format!(
            "{} is not empty: restore builds a new data directory and never writes over one",
            data.display()
        )));
    }
    let tmp = staging_dir(data);
    if fs.exists(&tmp).map_err(io(&tmp))? {
        // Left by a restore that was interrupted: it was never moved into place.
        std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    create_dir_all(&fs, &tmp).map_err(io(&tmp))?;
    let built = (|| {
        let summary = restore_into(backup, &tmp, hub_key)?;
        for (name, bytes) in std::iter::once((HUB_KEY_FILE, key_text(hub_key)))
            .chain(files.iter().map(|(n, b)| (*n, b.clone())))
        {
            let p = tmp.join(name);
            write_durably(&fs, &p, &bytes).map_err(io(&p))?;
        }
        fs.sync_dir(&tmp).map_err(io(&tmp))?;
        // An empty target directory is replaced by the rename (POSIX allows it).
        fs.rename(&tmp, data).map_err(io(data))?;
        fs.sync_dir(parent(data)).map_err(io(parent(data)))?;
        Ok(summary)
    })();
    if built.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    built
}

/// Where [`restore`] builds `data` before renaming it into place.
fn staging_dir(data: &Path) -> PathBuf {
    let trimmed: PathBuf = data.components().collect();
    with_suffix(&trimmed, ".restoring")
}

fn key_text(key: &SigningKey) -> Vec<u8> {
    format!("{}\n", hex::encode(key.to_bytes())).into_bytes()
}

/// Replays the backup read from `backup` and writes the store it holds to `dir/ledger.redb`
/// (`dir` must exist and hold no store). Refuses (with [`LedgerError::Backup`]) a backup
/// signed by another key than `hub_key`, one whose entries do not reproduce its signed
/// checkpoints or its trailer, and one damaged, truncated or reordered anywhere.
pub fn restore_into(backup: impl Read, dir: &Path, hub_key: &SigningKey) -> Result<RestoreSummary> {
    let store_path = dir.join(STORE_FILE);
    if store_path.exists() {
        return Err(bad(format!("{} exists already", store_path.display())));
    }
    let mut reader = Reader::new(backup);
    let Some(Record::Header(header)) = reader.next()? else {
        return Err(bad("the backup has no header"));
    };
    let verifier = check_header(&header, hub_key)?;
    let store = Store::open(&store_path)?;
    let mut r = Replay::new(store, verifier.clone(), header.contents_pruned_below);
    let summary = loop {
        let rec = reader
            .next()?
            .ok_or_else(|| bad("the backup has no trailer"))?;
        match rec {
            Record::Header(_) => return Err(bad("a second header")),
            Record::Entry(seq, bytes) => r.entry(seq, bytes)?,
            Record::Contents(seq, text) => r.contents(seq, text)?,
            Record::Block(b) => r.block(b)?,
            Record::Trailer(t, digest) => {
                if !r.pending.is_empty() {
                    return Err(bad(format!(
                        "entries from seq {} are not sealed by any block",
                        r.pending[0].seq
                    )));
                }
                check_trailer(&t, &digest, r.counts, r.last_checkpoint.as_deref())?;
                break RestoreSummary {
                    origin: header.origin.clone(),
                    entries: r.v.size(),
                    blocks: r.counts[2],
                    contents: r.counts[1],
                    checkpoint: t.checkpoint,
                };
            }
        }
    };
    if reader.next()?.is_some() {
        return Err(bad("records after the trailer"));
    }
    if (summary.entries, summary.blocks) != (header.tree_size, header.height + 1) {
        return Err(bad(format!(
            "the header announces {} entries in {} blocks, the backup holds {} in {}",
            header.tree_size,
            header.height + 1,
            summary.entries,
            summary.blocks
        )));
    }
    r.store
        .set_contents_pruned_below(header.contents_pruned_below)?;
    r.store.sync()?;
    // The store as written must pass what `verify --data` checks (indexes, stored hashes,
    // projections), or the restore wrote something the hub would serve wrongly.
    let snap = r.store.snapshot()?;
    verify_snapshot(&snap, verifier)
        .map_err(|f| bad(format!("the restored store fails verification: {f}")))?;
    Ok(summary)
}

/// The key must be the backup's, and the store format one this hub writes or one whose
/// backups carry the same records (v4 and v5: the tables v5 adds and v6 packs are derived, and
/// restore rebuilds every derived table from the entries).
fn check_header(h: &Header, hub_key: &SigningKey) -> Result<NoteVerifier> {
    if ![STORE_FORMAT, "m2mhub-store-v5", "m2mhub-store-v4"].contains(&h.store_format.as_str()) {
        return Err(bad(format!(
            "the backup comes from a store of format {:?}; this hub writes {STORE_FORMAT:?}",
            h.store_format
        )));
    }
    let signer = NoteSigner::new(&h.origin, hub_key.clone())
        .map_err(|e| bad(format!("origin {:?}: {e}", h.origin)))?;
    if signer.verifier_key() != h.key {
        return Err(bad(format!(
            "the hub key given is not the key of this backup (its checkpoints are signed by \
             {}): copy the hub-key of the hub the backup came from",
            h.key
        )));
    }
    Ok(signer.verifier())
}

/// The replay, and what it writes, between blocks.
struct Replay {
    store: Store,
    v: Verifier,
    pruned_below: u64,
    /// Internal device ids, as the sequencer gives them.
    ids: crate::parties::PartyIds,
    /// The entries of the block being read.
    pending: Vec<EntryIn>,
    /// E, C and B records read.
    counts: [u64; 3],
    last_checkpoint: Option<String>,
}

fn failed(f: Failure) -> LedgerError {
    bad(format!(
        "{f}: the backup does not reproduce its signed checkpoints"
    ))
}

impl Replay {
    fn new(store: Store, key: NoteVerifier, pruned_below: u64) -> Replay {
        Replay {
            store,
            v: Verifier::new(key).collecting_stored_hashes(),
            pruned_below,
            ids: crate::parties::PartyIds::default(),
            pending: Vec::new(),
            counts: [0; 3],
            last_checkpoint: None,
        }
    }

    fn entry(&mut self, seq: u64, bytes: Vec<u8>) -> Result<()> {
        if self.pending.len() >= MAX_BLOCK_ENTRIES {
            return Err(bad(format!(
                "more than {MAX_BLOCK_ENTRIES} entries without a block (at seq {seq})"
            )));
        }
        self.counts[0] += 1;
        self.pending.push(EntryIn {
            seq,
            bytes,
            contents: None,
        });
        Ok(())
    }

    fn contents(&mut self, seq: u64, text: String) -> Result<()> {
        self.counts[1] += 1;
        match self.pending.last_mut() {
            Some(e) if e.seq == seq && e.contents.is_none() => {
                e.contents = Some(text);
                Ok(())
            }
            _ => Err(bad(format!(
                "contents of seq {seq} do not follow the entry they belong to"
            ))),
        }
    }

    fn block(&mut self, b: BlockRow) -> Result<()> {
        self.counts[2] += 1;
        let entries = std::mem::take(&mut self.pending);
        self.v.push_entries(&entries).map_err(failed)?;
        self.v.check_block(&b).map_err(failed)?;
        let hashes_start = merkle::stored_hash_count(b.first_seq);
        let hashes = self
            .v
            .take_stored_hashes()
            .into_iter()
            .map(|(_, h)| h)
            .collect();
        let mut writes = Vec::with_capacity(entries.len());
        let mut touched = BTreeSet::new();
        for e in entries {
            // Decoded once already by the verifier, which refused what does not decode.
            let entry =
                Entry::from_bytes(&e.bytes).map_err(|err| bad(format!("seq {}: {err}", e.seq)))?;
            // A registration's rows name the device it registers: its id comes first.
            self.ids.observe(e.seq, &entry);
            let rows = IndexRows::of(&entry, |n| self.ids.get(n)).with_leaf(&e.bytes);
            match &entry {
                Entry::Message(m) => {
                    if e.contents.is_none() && e.seq >= self.pruned_below {
                        return Err(bad(format!(
                            "seq {}: the message's contents are missing (a record was \
                             dropped: contents are pruned only below seq {})",
                            e.seq, self.pruned_below
                        )));
                    }
                    touched.insert(m.tx.0);
                }
                _ => {
                    if e.contents.is_some() {
                        return Err(bad(format!(
                            "seq {}: contents for an entry that is not a message",
                            e.seq
                        )));
                    }
                }
            }
            writes.push(EntryWrite {
                seq: e.seq,
                bytes: e.bytes,
                contents: e.contents,
                rows,
            });
        }
        // The states of the transactions this block touched, as the replay left them (the
        // sequencer writes the ones that changed; the others are written unchanged).
        let txs = touched
            .into_iter()
            .filter_map(|tx| {
                self.v
                    .machine()
                    .transaction(TxId(tx))
                    .map(|s| (tx, txcodec::encode(s)))
            })
            .collect();
        let height = b.height;
        self.last_checkpoint = Some(b.checkpoint.clone());
        self.store.commit_unsynced(&BlockWrite {
            entries: writes,
            hashes_start,
            hashes,
            txs,
            block: b,
        })?;
        if height % SYNC_EVERY_BLOCKS == SYNC_EVERY_BLOCKS - 1 {
            self.store.sync()?;
        }
        Ok(())
    }
}
