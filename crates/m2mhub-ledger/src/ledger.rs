//! The ledger: opening a data directory (with its start-up check), the state the sequencer
//! keeps between blocks, and what it publishes to readers after each block.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard, RwLock},
    time::{SystemTime, UNIX_EPOCH},
};

use m2mhub_core::{
    checkpoint::Checkpoint,
    entry::Entry,
    hash::Hash,
    merkle::{self, Frontier},
    note::NoteSigner,
    registry::Registry,
    rules::TxState,
};

use crate::{
    block::{BlockRow, BlockWrite},
    datadir::DataDir,
    error::{LedgerError, Result},
    record::Record,
    store::{Snapshot, Store, StoreOptions},
};

/// How to open a ledger.
#[derive(Clone, Debug, Default)]
pub struct LedgerConfig {
    /// The checkpoint origin (and note key name). `None`: keep the ledger's, or for a new ledger
    /// use `default_origin`.
    pub origin: Option<String>,
    /// The origin of a new ledger when none is given.
    pub default_origin: String,
}

/// The registry as readers see it: devices and their internal ids.
#[derive(Clone, Debug, Default)]
pub struct RegistryView {
    /// The devices.
    pub registry: Registry,
    /// Device name ↔ internal id, used by the indexes (this hub's devices in registration
    /// order, then other members' as imported).
    pub ids: crate::parties::PartyIds,
}

/// What readers see: replaced as a whole after each block.
#[derive(Clone, Debug)]
pub struct View {
    /// The registry after the last block that changed it.
    pub registry: Arc<RegistryView>,
    /// The last block.
    pub head: Arc<BlockRow>,
}

/// What a committed block tells listeners (the SSE stream, metrics).
#[derive(Clone, Debug)]
pub struct Committed {
    /// The block.
    pub block: Arc<BlockRow>,
    /// Its message records.
    pub records: Vec<Record>,
    /// Its registry entries: (seq, entry).
    pub registry: Vec<(u64, Entry)>,
}

type Listener = Box<dyn Fn(&Committed) + Send + Sync>;

/// The sequencer's state between blocks. Guarded by `Ledger::writer`: one block at a time.
pub(crate) struct Writer {
    pub(crate) registry: RegistryView,
    pub(crate) registry_changed: bool,
    /// Transaction states read or written recently (all persisted after each block).
    pub(crate) txs: HashMap<u64, TxState>,
    pub(crate) next_tx: u64,
    pub(crate) frontier: Frontier,
    pub(crate) height: u64,
    pub(crate) prev_hash: Hash,
    /// The last block's time: the next block's is no earlier (SPEC §5).
    pub(crate) prev_time_ms: u64,
    /// Set when a commit failed: the on-disk state is unknown, so no more writes.
    pub(crate) failed: bool,
}

/// Transaction states kept in memory before the cache is emptied (they are all on disk; a
/// miss costs one B-tree read). Small enough that memory stays flat under a long load.
const TX_CACHE_MAX: usize = 1 << 14;

/// An M2MHub ledger over one data directory.
pub struct Ledger {
    pub(crate) store: Store,
    pub(crate) signer: NoteSigner,
    pub(crate) origin: String,
    pub(crate) writer: Mutex<Writer>,
    view: RwLock<View>,
    listeners: RwLock<Vec<Listener>>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves no half-applied block behind (a block is applied
    // to the store atomically and `failed` guards the rest), so the poison can be ignored.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Ledger {
    /// Opens the ledger in `dir`, creating it if new, and runs the start-up check: the last
    /// checkpoint is signed by this hub's key, its tree size is the number of entries, and the
    /// stored Merkle hashes give its root. A ledger that fails is refused, not served.
    pub fn open(dir: &DataDir, config: &LedgerConfig) -> Result<Ledger> {
        Self::open_with(dir, config, &StoreOptions::default())
    }

    /// [`Ledger::open`] with store options: the page cache size (memory the hub may use for
    /// hot pages) and whether to check every page's checksum first.
    pub fn open_with(
        dir: &DataDir,
        config: &LedgerConfig,
        options: &StoreOptions,
    ) -> Result<Ledger> {
        // The order of first start, and what a power cut at each step leaves: datadir.rs.
        let (store, key) = dir.open_store(options)?;
        let ledger = Self::open_store(store, key.key.clone(), config)?;
        dir.keep_hub_key(&key)?;
        Ok(ledger)
    }

    /// [`Ledger::open`] over an already opened store (tests use fault-injecting backends).
    pub fn open_store(
        store: Store,
        hub_key: ed25519_dalek::SigningKey,
        config: &LedgerConfig,
    ) -> Result<Ledger> {
        crate::error::guard_damaged("start-up check", || {
            Self::check_and_open(store, hub_key, config)
        })
    }

    fn check_and_open(
        store: Store,
        hub_key: ed25519_dalek::SigningKey,
        config: &LedgerConfig,
    ) -> Result<Ledger> {
        let snap = store.snapshot()?;
        let last = snap.last_block()?;
        let origin = match (&last, &config.origin) {
            (Some(b), given) => {
                let existing = origin_of(&b.checkpoint)?;
                if let Some(g) = given.as_ref().filter(|g| **g != existing) {
                    return Err(LedgerError::Corrupt(format!(
                        "this ledger's origin is {existing:?}, not {g:?}"
                    )));
                }
                existing
            }
            (None, Some(g)) => g.clone(),
            (None, None) => config.default_origin.clone(),
        };
        let signer = NoteSigner::new(&origin, hub_key)
            .map_err(|e| LedgerError::Corrupt(format!("origin {origin:?}: {e}")))?;
        let head = match last {
            Some(b) => b,
            None => {
                if snap.size()? != 0 {
                    return Err(LedgerError::Corrupt("entries without blocks".into()));
                }
                drop(snap);
                let genesis = genesis_block(&signer, &origin)?;
                store.commit(&BlockWrite {
                    entries: Vec::new(),
                    hashes_start: 0,
                    hashes: Vec::new(),
                    txs: Vec::new(),
                    block: genesis.clone(),
                })?;
                genesis
            }
        };
        let snap = store.snapshot()?;
        let frontier = startup_check(&snap, &head, &signer)?;
        let registry = load_registry(&snap)?;
        let next_tx = snap.last_tx()? + 1;
        let prev_hash = parse_hash(&head.hash)?;
        drop(snap);
        let view = View {
            registry: Arc::new(registry.clone()),
            head: Arc::new(head.clone()),
        };
        Ok(Ledger {
            store,
            signer,
            origin,
            writer: Mutex::new(Writer {
                registry,
                registry_changed: false,
                txs: HashMap::new(),
                next_tx,
                frontier,
                height: head.height,
                prev_hash,
                prev_time_ms: head.time_ms,
                failed: false,
            }),
            view: RwLock::new(view),
            listeners: RwLock::new(Vec::new()),
        })
    }

    /// The checkpoint origin, also the note key name.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The hub's verifier key line (SPEC §4.3).
    pub fn verifier_key(&self) -> String {
        self.signer.verifier_key()
    }

    /// The current view (registry and last block).
    pub fn view(&self) -> View {
        self.view.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A consistent read snapshot of the store.
    pub fn snapshot(&self) -> Result<Snapshot> {
        self.store.snapshot()
    }

    /// True once a storage failure has stopped writes.
    pub fn is_failed(&self) -> bool {
        lock(&self.writer).failed
    }

    /// Calls `f` after every committed block, on the committing thread (keep it quick).
    pub fn on_commit(&self, f: impl Fn(&Committed) + Send + Sync + 'static) {
        self.listeners
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(Box::new(f));
    }

    pub(crate) fn lock_writer(&self) -> MutexGuard<'_, Writer> {
        lock(&self.writer)
    }

    /// Publishes a committed block to readers and listeners.
    pub(crate) fn publish(&self, w: &mut Writer, committed: Committed) {
        {
            let mut v = self.view.write().unwrap_or_else(|p| p.into_inner());
            if w.registry_changed {
                v.registry = Arc::new(w.registry.clone());
                w.registry_changed = false;
            }
            v.head = committed.block.clone();
        }
        if w.txs.len() > TX_CACHE_MAX {
            w.txs.clear();
        }
        for l in self
            .listeners
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            l(&committed);
        }
    }

    /// Deletes the contents of messages in blocks committed before `cutoff_ms`. Proofs,
    /// signatures and verdicts still verify: the tree commits to the contents' hash.
    pub fn prune_contents_before(&self, cutoff_ms: u64) -> Result<u64> {
        let snap = self.store.snapshot()?;
        // The last block committed before the cutoff, by binary search over heights (block
        // times never decrease): O(log n) block reads, whatever the retention window holds.
        let head = snap.last_block()?.map_or(0, |b| b.height);
        let (mut lo, mut hi) = (0u64, head + 1);
        let mut end = None;
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let b = snap
                .block(mid)?
                .ok_or_else(|| LedgerError::Corrupt(format!("block {mid} missing")))?;
            if b.time_ms < cutoff_ms {
                end = Some(b.first_seq + b.size);
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        drop(snap);
        let Some(end) = end.filter(|e| *e > 0) else {
            return Ok(0);
        };
        let mut total = 0;
        loop {
            let (n, done) = self
                .store
                .prune_contents_chunk(end, PRUNE_CHUNK_ROWS, false)?;
            total += n;
            if done {
                break;
            }
            // Let the sequencer take redb's writer between chunks.
            std::thread::sleep(PRUNE_PAUSE);
        }
        self.store.sync()?;
        Ok(total)
    }
}

/// Contents deleted per write transaction while pruning: each chunk holds redb's single
/// writer for about a millisecond, so a block waits at most that long behind it.
pub const PRUNE_CHUNK_ROWS: u64 = 1000;
/// Pause between prune chunks.
const PRUNE_PAUSE: std::time::Duration = std::time::Duration::from_millis(2);

/// The origin line of a checkpoint note.
fn origin_of(note: &str) -> Result<String> {
    note.lines()
        .next()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| LedgerError::Corrupt("checkpoint without origin".into()))
}

pub(crate) fn parse_hash(hex_str: &str) -> Result<Hash> {
    let mut h = [0u8; 32];
    hex::decode_to_slice(hex_str, &mut h)
        .map_err(|_| LedgerError::Corrupt(format!("bad hash {hex_str:?}")))?;
    Ok(h)
}

fn genesis_block(signer: &NoteSigner, origin: &str) -> Result<BlockRow> {
    let cp = Checkpoint {
        origin: origin.to_owned(),
        tree_size: 0,
        root: merkle::empty_root(),
        block: 0,
        prev_block_hash: [0; 32],
        time_ms: Some(now_ms()),
    };
    seal(signer, &cp, 0, 0)
}

/// Signs `cp` and makes the block row for it.
pub(crate) fn seal(
    signer: &NoteSigner,
    cp: &Checkpoint,
    first_seq: u64,
    size: u64,
) -> Result<BlockRow> {
    let note = cp
        .sign(signer)
        .map_err(|e| LedgerError::Storage(format!("signing checkpoint: {e}")))?;
    Ok(BlockRow {
        height: cp.block,
        first_seq,
        size,
        tree_size: cp.tree_size,
        root: hex::encode(cp.root),
        prev_hash: hex::encode(cp.prev_block_hash),
        hash: hex::encode(cp.block_hash()),
        time_ms: cp.time_ms.unwrap_or_else(now_ms),
        time_signed: cp.time_ms.is_some(),
        checkpoint: note,
    })
}

/// The start-up check: returns the Merkle frontier for appending.
fn startup_check(snap: &Snapshot, head: &BlockRow, signer: &NoteSigner) -> Result<Frontier> {
    let size = snap.size()?;
    let cp = Checkpoint::open(&head.checkpoint, &signer.verifier()).map_err(|e| {
        LedgerError::Corrupt(format!("last checkpoint (block {}): {e}", head.height))
    })?;
    if cp.tree_size != size || cp.tree_size != head.tree_size || cp.block != head.height {
        return Err(LedgerError::Corrupt(format!(
            "last checkpoint covers {} entries at block {}, the store holds {size}",
            cp.tree_size, cp.block
        )));
    }
    let frontier = Frontier::load(size, snap)
        .map_err(|e| LedgerError::Corrupt(format!("merkle hashes: {e}")))?;
    if frontier.root() != cp.root {
        return Err(LedgerError::Corrupt(
            "stored Merkle hashes do not give the checkpoint's root".into(),
        ));
    }
    if size > 0 {
        // The last entry must hash to the last leaf the tree holds.
        let last = snap
            .entry(size - 1)?
            .ok_or_else(|| LedgerError::Corrupt("last entry missing".into()))?;
        let leaf = merkle::prove_inclusion(size - 1, size, snap).and_then(|path| {
            merkle::verify_inclusion(&merkle::leaf_hash(&last), size - 1, size, &path, &cp.root)
        });
        leaf.map_err(|e| LedgerError::Corrupt(format!("entry {}: {e}", size - 1)))?;
    }
    Ok(frontier)
}

/// Rebuilds the registry from the registry entries and the counters index.
fn load_registry(snap: &Snapshot) -> Result<RegistryView> {
    let mut view = RegistryView::default();
    for seq in snap.registry_seqs()? {
        let bytes = snap
            .entry(seq)?
            .ok_or_else(|| LedgerError::Corrupt(format!("registry entry {seq} missing")))?;
        let entry = Entry::from_bytes(&bytes)
            .map_err(|e| LedgerError::Corrupt(format!("entry {seq}: {e}")))?;
        view.registry
            .apply(m2mhub_core::ids::Seq(seq), &entry)
            .map_err(|e| LedgerError::Corrupt(format!("entry {seq}: {e}")))?;
        view.ids.observe(seq, &entry);
    }
    let ids: Vec<_> = view.ids.iter().map(|(n, id)| (n.clone(), id)).collect();
    for (name, id) in ids {
        if let Some(c) = snap.last_counter(id)? {
            view.registry.note_counter(name.as_str(), c);
        }
    }
    Ok(view)
}
