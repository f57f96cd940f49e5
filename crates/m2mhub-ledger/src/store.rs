//! The embedded store: one redb database holding entries, contents, stored Merkle hashes,
//! blocks and the indexes queries need. A block is one write transaction committed with
//! `Durability::Immediate`: it is all on disk or none of it is, and it is on disk once
//! [`Store::commit`] returns.
//!
//! Every key grows with seq, tx id or stored-hash index, so B-tree inserts land at the right
//! edge (random keys would cost 36–70× write amplification; see ARCHITECTURE.md).

use std::path::Path;

use m2mhub_core::{
    hash::Hash,
    merkle::{HashReader, MerkleError},
    rules::TxState,
};
use redb::{
    Database, Durability, ReadOnlyTable, ReadTransaction, ReadableDatabase, ReadableTable,
    ReadableTableMetadata, StorageBackend, TableDefinition,
};

use crate::{
    block::{BlockRow, BlockWrite},
    error::{LedgerError, Result},
    fs::{DirFs, RealFs, parent, remove_if_exists},
    txcodec,
};

mod investigation;
mod packed;
mod pages;
mod rates;
mod rows;
pub use investigation::{
    Activity, Aggregates, Incident, InvestigationRows, SENDER_GROUP, TX_GROUP, incident_group,
};
pub use pages::{FORMAT_PAGES, ScanEnd, Visit, rank_key};
pub use rates::{HOUR_MS, MINUTE_MS, RateRows};
pub use rows::IndexRow;

/// seq → canonical entry bytes.
pub(crate) const ENTRIES: TableDefinition<u64, &[u8]> = TableDefinition::new("entries");
/// seq → message contents (prunable; the tree commits to their hash).
const CONTENTS: TableDefinition<u64, &str> = TableDefinition::new("contents");
/// first stored-hash index of a row → up to [`HASH_ROW`] consecutive stored hashes.
const HASHES: TableDefinition<u64, &[u8]> = TableDefinition::new("hashes");

/// Stored hashes per row of `hashes`: a row fits one 4 KiB page, so a proof's ~2 log n hash
/// reads each touch one small page. (One row per block, up to 256 KiB, made every proof
/// copy megabytes once the file outgrew the cache: 1.4 ms per proof at 10M entries.)
pub const HASH_ROW: usize = 112;
/// height → block row (JSON).
const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");
/// seq of a block's first entry → height (finds the block of a seq).
const BLOCK_STARTS: TableDefinition<u64, u64> = TableDefinition::new("block_starts");
/// (tx, seq) for every message naming or opening tx.
pub(crate) const TX_MSGS: TableDefinition<(u64, u64), ()> = TableDefinition::new("tx_messages");
/// (epoch, device id, seq) for every message a registered device sent or received.
const DEVICE_MSGS: TableDefinition<(u32, u32, u64), ()> = TableDefinition::new("device_messages");
/// seq of every invalid message.
pub(crate) const INVALID: TableDefinition<u64, ()> = TableDefinition::new("invalid_messages");
/// seq → the tx id a message named before that id was issued (SPEC §3.1): such messages belong
/// to no transaction and are kept out of `tx_messages`.
pub(crate) const UNISSUED: TableDefinition<u64, u64> = TableDefinition::new("unissued_tx_messages");
/// (epoch, sender id, counter) → seq, to recognise exact resubmissions.
const COUNTERS: TableDefinition<(u32, u32, u64), u64> = TableDefinition::new("counters");
/// sender id → the last counter it recorded.
const LAST_COUNTERS: TableDefinition<u32, u64> = TableDefinition::new("last_counters");

/// Per-device index rows are keyed by the epoch of their seq first: a block's rows then land
/// in the current epoch's few hundred leaves whatever the ledger's size, instead of in one
/// leaf per device (with 5,000 devices that was 5,000 pages rewritten per block, and the
/// append rate fell as the ledger grew). Queries walk epochs; there are ~300 at 10M entries.
const EPOCH_BITS: u32 = 15;

/// The epoch of `seq`.
pub(crate) fn epoch(seq: u64) -> u32 {
    u32::try_from(seq >> EPOCH_BITS).unwrap_or(u32::MAX)
}
/// seq of every registry entry, to rebuild the registry at start-up.
const REGISTRY: TableDefinition<u64, ()> = TableDefinition::new("registry_entries");
/// tx → encoded transaction state.
pub(crate) const TXS: TableDefinition<u64, &[u8]> = TableDefinition::new("transactions");
/// Format version and settings.
pub(crate) const META: TableDefinition<&str, &str> = TableDefinition::new("meta");

/// `meta` key: contents of seqs below this were pruned on purpose.
const PRUNED_BELOW: &str = "contents_pruned_below";

/// The layout version of the tables above.
pub const STORE_FORMAT: &str = "m2mhub-store-v6";

/// An index that message queries page through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Index {
    /// Messages naming a tx.
    Tx(u64),
    /// Messages a device (by internal id) sent or received.
    Device(u32),
    /// Invalid messages.
    Invalid,
    /// Messages that named a tx id not issued yet (SPEC §3.1).
    Unissued,
    /// The `begin` messages a device (by internal id) sent.
    Begun(u32),
    /// The invalid messages a device (by internal id) caused ([`crate::block::IndexRows::culprit`]).
    Caused(u32),
    /// Every entry.
    All,
}

/// The redb store. Cheap to share: reads run concurrently with the one writer (MVCC).
#[derive(Debug)]
pub struct Store {
    db: Database,
}

/// How to open a store.
#[derive(Clone, Debug, Default)]
pub struct StoreOptions {
    /// Page cache size (redb's default, 1 GiB, when `None`).
    pub cache_bytes: Option<usize>,
    /// Check the checksum of every page before trusting the file (redb's integrity check; it
    /// reads the whole file). A file edited behind redb's back is then refused with an error;
    /// without the check redb trusts its pages, and some damage makes it panic (turned into an
    /// error) or abort the process. redb runs the check by itself after an unclean shutdown.
    pub check_integrity: bool,
    /// Start a new ledger in a directory that holds a hub key but no ledger (normally refused:
    /// the ledger was deleted or moved). For an operator who moved it away on purpose.
    pub new_ledger: bool,
}

/// A consistent snapshot for reads.
pub struct Snapshot {
    txn: ReadTransaction,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Snapshot")
    }
}

impl Store {
    /// Opens (or creates) the store file at `path`. A new store is created beside it and
    /// renamed into place once initialized, so a crash during creation leaves no half-made
    /// file that would later read as a corrupt ledger.
    pub fn open(path: &Path) -> Result<Store> {
        Self::open_with(path, &StoreOptions::default())
    }

    /// [`Store::open`] with options.
    pub fn open_with(path: &Path, o: &StoreOptions) -> Result<Store> {
        Self::open_in(&RealFs, path, o)
    }

    /// [`Store::open_with`] through a data directory's file operations (the power-cut tests
    /// pass a simulated file system).
    pub fn open_in(fs: &dyn DirFs, path: &Path, o: &StoreOptions) -> Result<Store> {
        crate::error::guard_damaged("opening the store", || {
            Self::open_unguarded(fs, path, o.cache_bytes, o.check_integrity)
        })
    }

    /// Opens an existing store after checking the checksum of every page (see
    /// [`StoreOptions::check_integrity`]); `verify` opens stores this way.
    pub fn open_checked(path: &Path) -> Result<Store> {
        if !path.exists() {
            return Err(LedgerError::NotFound(format!(
                "{} does not exist",
                path.display()
            )));
        }
        Self::open_with(
            path,
            &StoreOptions {
                check_integrity: true,
                ..StoreOptions::default()
            },
        )
    }

    fn open_unguarded(
        fs: &dyn DirFs,
        path: &Path,
        cache_bytes: Option<usize>,
        check: bool,
    ) -> Result<Store> {
        let builder = |check: bool| {
            let mut b = Database::builder();
            if let Some(c) = cache_bytes {
                b.set_cache_size(c);
            }
            b.set_check_integrity_on_open(check);
            b
        };
        let io = |p: &Path| {
            let path = p.display().to_string();
            move |source| LedgerError::Io { path, source }
        };
        let exists = fs.exists(path).map_err(io(path))?;
        if !exists {
            let tmp = path.with_extension("creating");
            remove_if_exists(fs, &tmp).map_err(io(&tmp))?;
            let backend = fs.open_store(&tmp, true).map_err(io(&tmp))?;
            drop(Self::init(builder(false).create_with_backend(backend)?)?);
            fs.rename(&tmp, path).map_err(io(path))?;
            // Make the rename itself durable.
            fs.sync_dir(parent(path)).map_err(io(parent(path)))?;
        }
        let backend = fs.open_store(path, false).map_err(io(path))?;
        // redb would make a new database in an empty file; a ledger's file is never empty.
        if backend.len().map_err(io(path))? == 0 {
            return Err(LedgerError::Corrupt(format!(
                "{} is empty: it holds no ledger",
                path.display()
            )));
        }
        Self::init(builder(check && exists).create_with_backend(backend)?)
    }

    /// Opens a store over any redb backend (tests inject faults this way).
    pub fn open_with_backend(backend: impl StorageBackend) -> Result<Store> {
        Self::init(Database::builder().create_with_backend(backend)?)
    }

    fn init(db: Database) -> Result<Store> {
        let txn = db.begin_write()?;
        {
            txn.open_table(ENTRIES)?;
            txn.open_table(CONTENTS)?;
            txn.open_table(HASHES)?;
            txn.open_table(BLOCKS)?;
            txn.open_table(BLOCK_STARTS)?;
            txn.open_table(TX_MSGS)?;
            txn.open_table(DEVICE_MSGS)?;
            txn.open_table(INVALID)?;
            txn.open_table(UNISSUED)?;
            txn.open_table(COUNTERS)?;
            txn.open_table(LAST_COUNTERS)?;
            txn.open_table(REGISTRY)?;
            txn.open_table(TXS)?;
            let mut meta = txn.open_table(META)?;
            let format = meta.get("format")?.map(|v| v.value().to_owned());
            match format.as_deref() {
                None => {
                    meta.insert("format", STORE_FORMAT)?;
                    drop(meta);
                    investigation::create(&txn)?;
                    rates::create(&txn)?;
                }
                Some(STORE_FORMAT) => {}
                Some(old) if crate::migrate::can_migrate(old) => {
                    drop(meta);
                    crate::migrate::migrate(&txn, old)?;
                }
                Some(other) => {
                    return Err(LedgerError::Corrupt(format!(
                        "store format {other:?}, this hub reads {STORE_FORMAT:?}"
                    )));
                }
            }
        }
        // After the format migration: the bounded-answer tables count `tx_messages` rows,
        // which the v3 → v4 migration corrects.
        pages::migrate(&txn)?;
        txn.commit()?;
        Ok(Store { db })
    }

    /// Durably commits one block: all of it or none of it.
    pub fn commit(&self, w: &BlockWrite) -> Result<()> {
        self.commit_with(w, Durability::Immediate)
    }

    /// Commits one block atomically but without syncing it: it becomes durable with the next
    /// synced commit or [`Store::sync`]. For a restore, which syncs once at the end and only
    /// then moves the store into place.
    pub fn commit_unsynced(&self, w: &BlockWrite) -> Result<()> {
        self.commit_with(w, Durability::None)
    }

    fn commit_with(&self, w: &BlockWrite, durability: Durability) -> Result<()> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(durability)?;
        pages::write_block(&txn, &w.entries)?;
        investigation::write_block(&txn, &w.entries)?;
        rates::write_block(&txn, &w.entries, w.block.time_ms)?;
        {
            let mut entries = txn.open_table(ENTRIES)?;
            let mut contents = txn.open_table(CONTENTS)?;
            let mut tx_msgs = txn.open_table(TX_MSGS)?;
            let mut dev_msgs = txn.open_table(DEVICE_MSGS)?;
            let mut invalid = txn.open_table(INVALID)?;
            let mut unissued = txn.open_table(UNISSUED)?;
            let mut counters = txn.open_table(COUNTERS)?;
            // Counters only grow, so the last one of a block is each sender's last.
            let mut last = std::collections::BTreeMap::new();
            let mut registry = txn.open_table(REGISTRY)?;
            for e in &w.entries {
                entries.insert(e.seq, e.bytes.as_slice())?;
                if let Some(c) = &e.contents {
                    contents.insert(e.seq, c.as_str())?;
                }
                let rows = &e.rows;
                if rows.is_registry {
                    registry.insert(e.seq, ())?;
                }
                if let Some(tx) = rows.tx {
                    tx_msgs.insert((tx, e.seq), ())?;
                }
                if let Some(tx) = rows.unissued_tx {
                    unissued.insert(e.seq, tx)?;
                }
                for d in rows.devices.iter().flatten() {
                    dev_msgs.insert((epoch(e.seq), *d, e.seq), ())?;
                }
                if let Some((sender, counter)) = rows.counter {
                    counters.insert((epoch(e.seq), sender, counter), e.seq)?;
                    last.insert(sender, counter);
                }
                if rows.invalid {
                    invalid.insert(e.seq, ())?;
                }
            }
            let mut hashes = txn.open_table(HASHES)?;
            for (k, row) in w.hashes.chunks(HASH_ROW).enumerate() {
                let mut flat = Vec::with_capacity(32 * row.len());
                for h in row {
                    flat.extend_from_slice(h);
                }
                hashes.insert(w.hashes_start + (k * HASH_ROW) as u64, flat.as_slice())?;
            }
            let mut last_counters = txn.open_table(LAST_COUNTERS)?;
            for (sender, counter) in last {
                last_counters.insert(sender, counter)?;
            }
            let mut txs = txn.open_table(TXS)?;
            for (tx, state) in &w.txs {
                txs.insert(*tx, state.as_slice())?;
            }
            let row = serde_json::to_vec(&w.block)
                .map_err(|e| LedgerError::Storage(format!("encoding block row: {e}")))?;
            txn.open_table(BLOCKS)?
                .insert(w.block.height, row.as_slice())?;
            if w.block.size > 0 {
                txn.open_table(BLOCK_STARTS)?
                    .insert(w.block.first_seq, w.block.height)?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Deletes the contents of at most `max_rows` entries with seq < `end`, oldest first, in
    /// one write transaction; returns how many were deleted and whether none is left below
    /// `end`. A small transaction holds redb's writer only briefly, so blocks keep committing
    /// between chunks. Only a `last` chunk is synced: the others become durable with the next
    /// block (or are redone after a crash; each chunk moves the prune mark with its deletions,
    /// so any prefix of the chunks is a consistent store).
    pub fn prune_contents_chunk(&self, end: u64, max_rows: u64, last: bool) -> Result<(u64, bool)> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(if last {
            Durability::Immediate
        } else {
            Durability::None
        })?;
        let (n, done) = {
            let mut contents = txn.open_table(CONTENTS)?;
            let mut seqs = Vec::new();
            for r in contents
                .range(..end)?
                .take(usize::try_from(max_rows).unwrap_or(usize::MAX))
            {
                seqs.push(r?.0.value());
            }
            for seq in &seqs {
                contents.remove(seq)?;
            }
            let done = (seqs.len() as u64) < max_rows;
            // Below the mark, missing contents were pruned; above it, they were taken.
            let mark = match seqs.last() {
                Some(l) if !done => l + 1,
                _ => end,
            };
            let mut meta = txn.open_table(META)?;
            let before = meta
                .get(PRUNED_BELOW)?
                .and_then(|v| v.value().parse::<u64>().ok())
                .unwrap_or(0);
            meta.insert(PRUNED_BELOW, mark.max(before).to_string().as_str())?;
            (seqs.len() as u64, done)
        };
        txn.commit()?;
        Ok((n, done))
    }

    /// Sets the prune mark (for a restore: the source's mark).
    pub fn set_contents_pruned_below(&self, mark: u64) -> Result<()> {
        let txn = self.db.begin_write()?;
        txn.open_table(META)?
            .insert(PRUNED_BELOW, mark.to_string().as_str())?;
        txn.commit()?;
        Ok(())
    }

    /// Makes every commit so far durable (an empty synced write transaction).
    pub fn sync(&self) -> Result<()> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        txn.commit()?;
        Ok(())
    }

    /// A consistent read snapshot.
    pub fn snapshot(&self) -> Result<Snapshot> {
        Ok(Snapshot {
            txn: self.db.begin_read()?,
        })
    }
}

fn corrupt(what: impl std::fmt::Display) -> LedgerError {
    LedgerError::Corrupt(what.to_string())
}

type Row<'a> = std::result::Result<
    (
        redb::AccessGuard<'a, u64>,
        redb::AccessGuard<'a, &'static [u8]>,
    ),
    redb::StorageError,
>;

/// Decodes one row of the blocks table.
fn block_row(r: Row<'_>) -> Result<BlockRow> {
    let (k, v) = r?;
    let h = k.value();
    serde_json::from_slice(v.value()).map_err(|e| corrupt(format!("block {h}: {e}")))
}

/// Space one table takes, from redb's own accounting.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TableSpace {
    /// Table name.
    pub name: &'static str,
    /// Bytes of keys and values.
    pub stored: u64,
    /// Bytes of branch keys and page headers.
    pub metadata: u64,
    /// Bytes lost to partly filled pages.
    pub fragmented: u64,
    /// Leaf pages.
    pub leaf_pages: u64,
}

impl Snapshot {
    /// Space used by every table, for `m2mhub bench`'s bytes-per-entry breakdown.
    pub fn table_space(&self) -> Result<Vec<TableSpace>> {
        fn one<K: redb::Key + 'static, V: redb::Value + 'static>(
            s: &Snapshot,
            name: &'static str,
            def: TableDefinition<K, V>,
        ) -> Result<TableSpace> {
            let st = s.table(def)?.stats()?;
            Ok(TableSpace {
                name,
                stored: st.stored_bytes(),
                metadata: st.metadata_bytes(),
                fragmented: st.fragmented_bytes(),
                leaf_pages: st.leaf_pages(),
            })
        }
        Ok(vec![
            one(self, "entries", ENTRIES)?,
            one(self, "contents", CONTENTS)?,
            one(self, "hashes", HASHES)?,
            one(self, "blocks", BLOCKS)?,
            one(self, "block_starts", BLOCK_STARTS)?,
            one(self, "tx_messages", TX_MSGS)?,
            one(self, "device_messages", DEVICE_MSGS)?,
            one(self, "invalid_messages", INVALID)?,
            one(self, "counters", COUNTERS)?,
            one(self, "last_counters", LAST_COUNTERS)?,
            one(self, "registry_entries", REGISTRY)?,
            one(self, "transactions", TXS)?,
            one(self, "incidents", investigation::INCIDENTS)?,
            one(self, "incident_order", investigation::INCIDENT_ORDER)?,
            one(self, "device_activity", investigation::ACTIVITY)?,
            one(self, "device_history", investigation::HISTORY)?,
            one(self, "begun_txs", investigation::BEGUN)?,
            one(self, "caused_invalid", investigation::CAUSED)?,
            one(self, "leaf_index", investigation::LEAVES)?,
            one(self, "rates_minute", rates::MINUTES)?,
            one(self, "rates_hour", rates::HOURS)?,
            one(self, "device_rates_hour", rates::DEVICE_HOURS)?,
            one(self, "device_invalid_minute", rates::DEVICE_MINUTES)?,
        ])
    }

    fn table<K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        def: TableDefinition<K, V>,
    ) -> Result<ReadOnlyTable<K, V>> {
        Ok(self.txn.open_table(def)?)
    }

    /// A reader for many messages' stored parts.
    pub fn record_reader(&self) -> Result<RecordReader> {
        Ok(RecordReader {
            entries: self.table(ENTRIES)?,
            contents: self.table(CONTENTS)?,
            starts: self.table(BLOCK_STARTS)?,
            blocks: self.table(BLOCKS)?,
            block: None,
        })
    }

    /// Number of entries.
    pub fn size(&self) -> Result<u64> {
        let t = self.table(ENTRIES)?;
        match t.last()? {
            None => Ok(0),
            Some((k, _)) => k
                .value()
                .checked_add(1)
                .ok_or_else(|| corrupt("an entry has seq u64::MAX")),
        }
    }

    /// Entry bytes at `seq`.
    pub fn entry(&self, seq: u64) -> Result<Option<Vec<u8>>> {
        Ok(self.table(ENTRIES)?.get(seq)?.map(|v| v.value().to_vec()))
    }

    /// Entry bytes for `seq` in `start..end`, in order.
    pub fn entries(&self, start: u64, end: u64) -> Result<Vec<(u64, Vec<u8>)>> {
        let t = self.table(ENTRIES)?;
        let mut out = Vec::new();
        for r in t.range(start..end)? {
            let (k, v) = r?;
            out.push((k.value(), v.value().to_vec()));
        }
        Ok(out)
    }

    /// Calls `f` for every entry from `start`, in order, without loading them all.
    pub fn for_each_entry(
        &self,
        start: u64,
        mut f: impl FnMut(u64, &[u8]) -> Result<()>,
    ) -> Result<()> {
        let t = self.table(ENTRIES)?;
        for r in t.range(start..)? {
            let (k, v) = r?;
            f(k.value(), v.value())?;
        }
        Ok(())
    }

    /// Contents of the message at `seq`, unless pruned.
    pub fn contents(&self, seq: u64) -> Result<Option<String>> {
        Ok(self
            .table(CONTENTS)?
            .get(seq)?
            .map(|v| v.value().to_owned()))
    }

    /// Contents of messages below this seq may have been pruned; above it every message has
    /// them (0 when nothing was ever pruned).
    pub fn contents_pruned_below(&self) -> Result<u64> {
        Ok(self
            .table(META)?
            .get(PRUNED_BELOW)?
            .and_then(|v| v.value().parse().ok())
            .unwrap_or(0))
    }

    /// Contents of the messages in `start..end` that still have them, in seq order.
    pub fn contents_range(&self, start: u64, end: u64) -> Result<Vec<(u64, String)>> {
        let t = self.table(CONTENTS)?;
        let mut out = Vec::new();
        for r in t.range(start..end)? {
            let (k, v) = r?;
            out.push((k.value(), v.value().to_owned()));
        }
        Ok(out)
    }

    /// The block with `height`.
    pub fn block(&self, height: u64) -> Result<Option<BlockRow>> {
        self.table(BLOCKS)?
            .get(height)?
            .map(|v| {
                serde_json::from_slice(v.value())
                    .map_err(|e| corrupt(format!("block {height}: {e}")))
            })
            .transpose()
    }

    /// The last block, if any.
    pub fn last_block(&self) -> Result<Option<BlockRow>> {
        let t = self.table(BLOCKS)?;
        let Some((k, v)) = t.last()? else {
            return Ok(None);
        };
        let height = k.value();
        serde_json::from_slice(v.value())
            .map(Some)
            .map_err(|e| corrupt(format!("block {height}: {e}")))
    }

    /// Blocks with height > `after` (all when `None`), at most `limit`.
    pub fn blocks(&self, after: Option<u64>, limit: usize) -> Result<Vec<BlockRow>> {
        let t = self.table(BLOCKS)?;
        let start = after.map_or(0, |a| a.saturating_add(1));
        t.range(start..)?.take(limit).map(block_row).collect()
    }

    /// Blocks with height < `before`, newest first, at most `limit`.
    pub fn blocks_before(&self, before: u64, limit: usize) -> Result<Vec<BlockRow>> {
        let t = self.table(BLOCKS)?;
        t.range(..before)?
            .rev()
            .take(limit)
            .map(block_row)
            .collect()
    }

    /// Height of the block holding `seq`.
    pub fn block_of(&self, seq: u64) -> Result<Option<u64>> {
        let t = self.table(BLOCK_STARTS)?;
        Ok(t.range(..=seq)?
            .next_back()
            .transpose()?
            .map(|(_, v)| v.value()))
    }

    /// Seqs of up to `n` registry entries from seq `start` on, in order.
    pub fn registry_seqs_from(&self, start: u64, n: usize) -> Result<Vec<u64>> {
        let mut out = Vec::with_capacity(n.min(1024));
        for r in self.table(REGISTRY)?.range(start..)?.take(n) {
            out.push(r?.0.value());
        }
        Ok(out)
    }

    /// Seqs of registry entries, in order.
    pub fn registry_seqs(&self) -> Result<Vec<u64>> {
        let t = self.table(REGISTRY)?;
        let mut out = Vec::new();
        for r in t.iter()? {
            out.push(r?.0.value());
        }
        Ok(out)
    }

    /// The seq of `sender`'s message with `counter`: two B-tree lookups, whatever the number
    /// of epochs (the counter-epoch index names the one epoch that can hold it).
    pub fn seq_of_counter(&self, sender: u32, counter: u64) -> Result<Option<u64>> {
        let Some(e) = self.counter_epoch(sender, counter)? else {
            return Ok(None);
        };
        Ok(self
            .table(COUNTERS)?
            .get((e, sender, counter))?
            .map(|v| v.value()))
    }

    /// The highest counter `sender` has recorded.
    pub fn last_counter(&self, sender: u32) -> Result<Option<u64>> {
        Ok(self.table(LAST_COUNTERS)?.get(sender)?.map(|v| v.value()))
    }

    /// Every sender's last counter: (sender id, counter).
    pub fn last_counters(&self) -> Result<Vec<(u32, u64)>> {
        let mut out = Vec::new();
        for r in self.table(LAST_COUNTERS)?.iter()? {
            let (k, v) = r?;
            out.push((k.value(), v.value()));
        }
        Ok(out)
    }

    /// A transaction's state.
    pub fn tx_state(&self, tx: u64) -> Result<Option<TxState>> {
        self.table(TXS)?
            .get(tx)?
            .map(|v| txcodec::decode(v.value()))
            .transpose()
    }

    /// Calls `f` for every stored transaction state, by tx.
    pub fn for_each_tx(&self, mut f: impl FnMut(u64, TxState) -> Result<()>) -> Result<()> {
        let t = self.table(TXS)?;
        for r in t.iter()? {
            let (k, v) = r?;
            f(k.value(), txcodec::decode(v.value())?)?;
        }
        Ok(())
    }

    /// The highest tx id assigned so far (0 when none).
    pub fn last_tx(&self) -> Result<u64> {
        Ok(self.table(TXS)?.last()?.map_or(0, |(k, _)| k.value()))
    }

    /// Number of transactions.
    pub fn tx_count(&self) -> Result<u64> {
        Ok(self.table(TXS)?.len()?)
    }

    /// Number of invalid messages.
    pub fn invalid_count(&self) -> Result<u64> {
        Ok(self.table(INVALID)?.len()?)
    }
}

/// Reads the stored parts of many messages (entry bytes, contents, block) with the tables
/// opened once: a 1,000-message trace makes 1,000 reads, not 3,000 table opens.
pub struct RecordReader {
    entries: ReadOnlyTable<u64, &'static [u8]>,
    contents: ReadOnlyTable<u64, &'static str>,
    starts: ReadOnlyTable<u64, u64>,
    blocks: ReadOnlyTable<u64, &'static [u8]>,
    /// The block last found: seqs `start..end` are in block `height`, sealed at a signed
    /// time or not.
    block: Option<(u64, u64, u64, Option<u64>)>,
}

impl std::fmt::Debug for RecordReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordReader").finish_non_exhaustive()
    }
}

/// What the store holds for one entry besides its indexes.
#[derive(Clone, Debug)]
pub struct StoredEntry {
    /// Entry bytes.
    pub bytes: Vec<u8>,
    /// Contents, unless pruned (messages only).
    pub contents: Option<String>,
    /// Height of the block holding it.
    pub block: u64,
    /// When that block was sealed, if its checkpoint signs the time.
    pub block_time_ms: Option<u64>,
}

/// The fields of a stored [`BlockRow`] a record needs; the others are skipped unparsed.
#[derive(serde::Deserialize)]
struct BlockSpan {
    first_seq: u64,
    size: u64,
    time_ms: u64,
    #[serde(default)]
    time_signed: bool,
}

impl RecordReader {
    /// Entry bytes, contents and block of the entry at `seq`.
    pub fn read(&mut self, seq: u64) -> Result<Option<StoredEntry>> {
        let Some(bytes) = self.entries.get(seq)?.map(|v| v.value().to_vec()) else {
            return Ok(None);
        };
        let contents = self.contents.get(seq)?.map(|v| v.value().to_owned());
        let (height, time) = match self.block {
            Some((start, end, h, t)) if (start..end).contains(&seq) => (h, t),
            _ => {
                let found = self.starts.range(..=seq)?.next_back().transpose()?;
                let h = found.map_or(0, |(_, v)| v.value());
                let row = self
                    .blocks
                    .get(h)?
                    .ok_or_else(|| corrupt(format!("no block {h}")))?;
                // Only the span and the time: a trace may read one block row per record, and
                // the whole row's hex strings and checkpoint note are not needed here.
                let span: BlockSpan = serde_json::from_slice(row.value())
                    .map_err(|e| corrupt(format!("block {h}: {e}")))?;
                let t = span.time_signed.then_some(span.time_ms);
                let end = span.first_seq.saturating_add(span.size);
                self.block = Some((span.first_seq, end, h, t));
                (h, t)
            }
        };
        Ok(Some(StoredEntry {
            bytes,
            contents,
            block: height,
            block_time_ms: time,
        }))
    }
}

impl Snapshot {
    /// The rows of stored hashes whose first index is in `start..end`: (first index, hashes).
    pub fn hash_rows(&self, start: u64, end: u64) -> Result<Vec<(u64, Vec<u8>)>> {
        let mut out = Vec::new();
        for r in self.table(HASHES)?.range(start..end)? {
            let (k, v) = r?;
            out.push((k.value(), v.value().to_vec()));
        }
        Ok(out)
    }

    /// Number of rows of stored hashes.
    pub fn hash_row_count(&self) -> Result<u64> {
        Ok(self.table(HASHES)?.len()?)
    }

    /// Every `block_starts` row: (first seq, height).
    pub fn block_starts(&self) -> Result<Vec<(u64, u64)>> {
        let mut out = Vec::new();
        for r in self.table(BLOCK_STARTS)?.iter()? {
            let (k, v) = r?;
            out.push((k.value(), v.value()));
        }
        Ok(out)
    }
}

impl HashReader for Snapshot {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        let t = self
            .table(HASHES)
            .map_err(|e| MerkleError::Storage(e.to_string()))?;
        let mut out = Vec::with_capacity(indexes.len());
        for &i in indexes {
            let found = t
                .range(..=i)
                .and_then(|mut r| r.next_back().transpose())
                .map_err(|e| MerkleError::Storage(e.to_string()))?;
            let (start, chunk) =
                found.ok_or_else(|| MerkleError::Storage(format!("stored hash {i} missing")))?;
            let off = usize::try_from(i - start.value())
                .map_err(|_| MerkleError::Storage(format!("stored hash {i} missing")))?
                * 32;
            let bytes = chunk
                .value()
                .get(off..off + 32)
                .ok_or_else(|| MerkleError::Storage(format!("stored hash {i} missing")))?;
            let mut h = [0u8; 32];
            h.copy_from_slice(bytes);
            out.push(h);
        }
        Ok(out)
    }
}

/// Fills the investigation tables of a store made before them (store format v4).
pub(crate) fn backfill_investigation(txn: &redb::WriteTransaction) -> Result<()> {
    investigation::backfill(txn)
}

/// Deletes the investigation and rate tables, so that [`backfill_investigation`] writes them
/// anew in the current layout.
pub(crate) fn delete_investigation(txn: &redb::WriteTransaction) -> Result<()> {
    investigation::delete(txn)?;
    rates::delete(txn)
}
