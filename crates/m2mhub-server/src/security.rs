//! Security events (SPEC §3.2): every refused submission, kept for the operator in a bounded
//! store apart from the ledger (never an entry, never on the public `/v1/events`).
//!
//! The store is its own redb file (`DIR/security-events.redb`), keyed by an id that grows by
//! one per event, so inserts append and the oldest rows are at the front. It keeps the newest
//! [`Bound::max_events`] events younger than [`Bound::max_age_ms`], whichever is fewer; older
//! rows are deleted at most [`PRUNE_CHUNK`] per write transaction, so pruning never holds the
//! writer for long.
//!
//! Recording never blocks the caller: [`SecurityEvents::record`] hands the event to a bounded
//! channel and one writer thread commits what has gathered, at most one commit (one fsync) per
//! [`MIN_COMMIT_INTERVAL`], so a flood of forgeries cannot spend the disk the ledger needs. When
//! the channel is full the event is dropped and `record` says so (the caller counts it). New
//! events are also broadcast, as they are recorded, to the operator's SSE stream.

use std::{
    collections::HashMap,
    path::Path,
    sync::{
        Arc, Mutex,
        mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use m2mhub_ledger::{LedgerError, now_ms};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// The store's file name in the data directory.
pub const FILE: &str = "security-events.redb";

/// id → (time in unix ms, the event as JSON).
const EVENTS: TableDefinition<u64, (u64, &[u8])> = TableDefinition::new("security_events");

/// Most events waiting for the writer; past it, events are dropped (and counted).
pub const CHANNEL_DEPTH: usize = 8192;
/// Most events one write transaction inserts.
const MAX_BATCH: usize = 4096;
/// Most old events one write transaction deletes.
pub const PRUNE_CHUNK: usize = 1000;
/// Shortest time between two commits of the writer.
pub const MIN_COMMIT_INTERVAL: Duration = Duration::from_millis(50);
/// How often an idle writer looks for events that aged out.
const IDLE_PRUNE_EVERY: Duration = Duration::from_secs(60);
/// Most (transport, source, code) keys folded at once; past it, new keys are kept unfolded.
const MAX_FOLDS: usize = 10_000;
/// Longest claimed sender, source and message kept (longer ones are cut at a char boundary):
/// what a refused submission claims is the attacker's text, so it is capped.
const MAX_FIELD_BYTES: usize = 512;

/// How much the store keeps: the newest `max_events`, none older than `max_age_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bound {
    /// Most events kept.
    pub max_events: u64,
    /// Oldest event kept, in milliseconds before now.
    pub max_age_ms: u64,
    /// How long repeats of a kept event are folded into one (zero: never folded).
    pub fold_window: Duration,
}

impl Default for Bound {
    /// SPEC §3.2: the newest 100,000 or 30 days, whichever is smaller.
    fn default() -> Self {
        Bound {
            max_events: 100_000,
            max_age_ms: 30 * 24 * 3600 * 1000,
            fold_window: Duration::from_secs(1),
        }
    }
}

/// How a refused submission arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// HTTP: the source is the peer's IP address.
    Http,
    /// MQTT: the source is what the hub knows of the publisher (see `m2mhub-mqtt`).
    Mqtt,
}

/// A refusal, as the code that refused it sees it.
#[derive(Clone, Copy, Debug)]
pub struct Refusal<'a> {
    /// How it arrived.
    pub transport: Transport,
    /// Who sent it: the peer address (HTTP) or the MQTT publisher.
    pub source: Option<&'a str>,
    /// The sender the submission claimed, if it named one.
    pub sender: Option<&'a str>,
    /// The error code answered (SPEC §3.2, or `too_many_failures`).
    pub code: &'a str,
    /// The error message answered.
    pub message: &'a str,
}

/// A kept security event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SecurityEvent {
    /// Grows by one per event; the paging cursor.
    pub id: u64,
    /// When it was refused, unix milliseconds.
    pub time_ms: u64,
    /// How it arrived.
    pub transport: Transport,
    /// Who sent it (see [`Refusal::source`]).
    pub source: Option<String>,
    /// The sender it claimed.
    pub sender: Option<String>,
    /// The error code answered.
    pub code: String,
    /// The error message answered.
    pub message: String,
    /// How many refusals this event stands for beyond itself: those with the same transport,
    /// source and code folded into it since the previous event kept for them (it shows the
    /// last one). Absent when zero.
    #[serde(default, skip_serializing_if = "is_zero")]
    #[schema(minimum = 1)]
    pub repeated: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl SecurityEvent {
    /// The event as the API shows it: its fields plus `time` as `YYYY-MM-DDTHH:MM:SS.sssZ`.
    pub fn to_json(&self) -> serde_json::Value {
        let time = std::time::UNIX_EPOCH + Duration::from_millis(self.time_ms);
        let mut v = serde_json::to_value(self).unwrap_or_default();
        v["time"] = humantime::format_rfc3339_millis(time).to_string().into();
        v
    }
}

fn capped(s: &str) -> String {
    if s.len() <= MAX_FIELD_BYTES {
        return s.to_owned();
    }
    let mut end = MAX_FIELD_BYTES;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// What [`SecurityEvents::record`] did with an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// Queued for the store (and broadcast) under this id.
    Kept(u64),
    /// A repeat of an event kept moments ago: counted into the next one kept for its source
    /// and code.
    Folded,
    /// The writer is behind (or stopped): dropped.
    Dropped,
}

/// Refusals folded since the last event kept for one (transport, source, code).
#[derive(Debug)]
struct Fold {
    kept_at: Instant,
    count: u64,
    last: Option<SecurityEvent>,
}

impl Fold {
    /// The event that stands for the folded refusals, if there were any.
    fn summary(self) -> Option<SecurityEvent> {
        let mut e = self.last?;
        e.repeated = self.count.saturating_sub(1);
        Some(e)
    }
}

type FoldKey = (Transport, Option<String>, String);

/// The next id, the writer's channel and the folds; one lock so ids enter the channel in order.
#[derive(Debug)]
struct Intake {
    next_id: u64,
    tx: Option<SyncSender<SecurityEvent>>,
    folds: HashMap<FoldKey, Fold>,
}

impl Intake {
    /// Numbers `e` and queues it for the writer and the live stream, unless the writer is
    /// behind.
    fn send(
        &mut self,
        mut e: SecurityEvent,
        live: &broadcast::Sender<Arc<SecurityEvent>>,
    ) -> Recorded {
        let Some(tx) = &self.tx else {
            return Recorded::Dropped;
        };
        e.id = self.next_id;
        let shown = Arc::new(e.clone());
        match tx.try_send(e) {
            Ok(()) => {
                self.next_id += 1;
                let id = shown.id;
                // Nobody watching is fine.
                let _ = live.send(shown);
                Recorded::Kept(id)
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => Recorded::Dropped,
        }
    }

    /// Keeps the summaries of the folds whose window ended by `now` (all of them with `None`).
    fn flush_folds(
        &mut self,
        window: Duration,
        now: Option<Instant>,
        live: &broadcast::Sender<Arc<SecurityEvent>>,
    ) {
        let ended: Vec<FoldKey> = self
            .folds
            .iter()
            .filter(|(_, f)| now.is_none_or(|n| n.duration_since(f.kept_at) >= window))
            .map(|(k, _)| k.clone())
            .collect();
        for k in ended {
            if let Some(e) = self.folds.remove(&k).and_then(Fold::summary) {
                self.send(e, live);
            }
        }
    }
}

type Shared = Arc<Mutex<Intake>>;

fn lock(intake: &Mutex<Intake>) -> std::sync::MutexGuard<'_, Intake> {
    intake.lock().unwrap_or_else(|p| p.into_inner())
}

/// The security events store. Cheap to share (`Arc`); [`SecurityEvents::close`] flushes it.
#[derive(Debug)]
pub struct SecurityEvents {
    db: Arc<Database>,
    bound: Bound,
    intake: Shared,
    live: broadcast::Sender<Arc<SecurityEvent>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

fn storage(e: impl std::fmt::Display) -> LedgerError {
    LedgerError::Storage(format!("security events: {e}"))
}

impl SecurityEvents {
    /// Opens (or creates) the store at `path`, usually `DIR/security-events.redb`.
    pub fn open(path: &Path, bound: Bound) -> Result<SecurityEvents, LedgerError> {
        let db = Database::create(path).map_err(storage)?;
        Self::start(db, bound)
    }

    /// A store in memory, lost when the process ends (for hubs without a data directory to
    /// spare, such as benchmarks).
    pub fn in_memory(bound: Bound) -> Result<SecurityEvents, LedgerError> {
        let db = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(storage)?;
        Self::start(db, bound)
    }

    fn start(db: Database, bound: Bound) -> Result<SecurityEvents, LedgerError> {
        let w = db.begin_write().map_err(storage)?;
        let last = {
            let t = w.open_table(EVENTS).map_err(storage)?;
            t.last().map_err(storage)?.map(|(k, _)| k.value())
        };
        w.commit().map_err(storage)?;
        let db = Arc::new(db);
        let (tx, rx) = mpsc::sync_channel(CHANNEL_DEPTH);
        let intake: Shared = Arc::new(Mutex::new(Intake {
            next_id: last.map_or(1, |l| l + 1),
            tx: Some(tx),
            folds: HashMap::new(),
        }));
        let live = broadcast::channel(1024).0;
        let (d, i, l) = (db.clone(), intake.clone(), live.clone());
        let writer = std::thread::Builder::new()
            .name("m2mhub-security".into())
            .spawn(move || write_loop(&d, &rx, bound, (&i, &l)))
            .map_err(storage)?;
        Ok(SecurityEvents {
            db,
            bound,
            intake,
            live,
            writer: Mutex::new(Some(writer)),
        })
    }

    /// Keeps `r` as an event, without waiting: queued for the writer and broadcast to the
    /// live stream, folded into the next event of its source and code when it repeats one kept
    /// less than [`Bound::fold_window`] ago, or dropped when the writer is [`CHANNEL_DEPTH`]
    /// events behind.
    pub fn record(&self, r: &Refusal<'_>) -> Recorded {
        let e = SecurityEvent {
            id: 0,
            time_ms: now_ms(),
            transport: r.transport,
            source: r.source.map(capped),
            sender: r.sender.map(capped),
            code: capped(r.code),
            message: capped(r.message),
            repeated: 0,
        };
        let window = self.bound.fold_window;
        let now = Instant::now();
        let key: FoldKey = (e.transport, e.source.clone(), e.code.clone());
        let mut intake = lock(&self.intake);
        if intake.tx.is_none() {
            return Recorded::Dropped;
        }
        if let Some(f) = intake.folds.get_mut(&key)
            && now.duration_since(f.kept_at) < window
        {
            f.count += 1;
            f.last = Some(e);
            return Recorded::Folded;
        }
        // The refusals folded in an ended window are kept before this one.
        if let Some(summary) = intake.folds.remove(&key).and_then(Fold::summary) {
            intake.send(summary, &self.live);
        }
        let kept = intake.send(e, &self.live);
        if !window.is_zero() && intake.folds.len() < MAX_FOLDS {
            intake.folds.insert(
                key,
                Fold {
                    kept_at: now,
                    count: 0,
                    last: None,
                },
            );
        }
        kept
    }

    /// New events as they are recorded.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<SecurityEvent>> {
        self.live.subscribe()
    }

    /// Up to `limit` events with ids above `after`, oldest first, and the cursor of the next
    /// page (`None` when these are the newest). Reads at most `limit + 1` rows; it sees what
    /// the writer has committed, a moment after [`SecurityEvents::record`].
    pub fn list(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> Result<(Vec<SecurityEvent>, Option<u64>), LedgerError> {
        let r = self.db.begin_read().map_err(storage)?;
        let t = r.open_table(EVENTS).map_err(storage)?;
        let from = after.map_or(0, |a| a.saturating_add(1));
        let mut items = Vec::with_capacity(limit.min(1000));
        let mut more = false;
        for row in t.range(from..).map_err(storage)? {
            let (_, v) = row.map_err(storage)?;
            if items.len() == limit {
                more = true;
                break;
            }
            let (_, json) = v.value();
            items.push(serde_json::from_slice::<SecurityEvent>(json).map_err(storage)?);
        }
        let next = if more {
            items.last().map(|e| e.id)
        } else {
            None
        };
        Ok((items, next))
    }

    /// Stops taking events, writes what is queued and waits for the writer. Blocks: call it
    /// off async threads. Later events are dropped.
    pub fn close(&self) {
        {
            let mut intake = lock(&self.intake);
            intake.flush_folds(self.bound.fold_window, None, &self.live);
            intake.tx = None;
        }
        let handle = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(h) = handle {
            let _ = h.join();
        }
    }
}

impl Drop for SecurityEvents {
    fn drop(&mut self) {
        self.close();
    }
}

/// The writer thread: gathers events, keeps the summaries of ended fold windows, commits,
/// prunes; ends when the channel closes.
fn write_loop(
    db: &Database,
    rx: &Receiver<SecurityEvent>,
    bound: Bound,
    (intake, live): (&Mutex<Intake>, &broadcast::Sender<Arc<SecurityEvent>>),
) {
    let mut backlog = true; // prune what aged out while the hub was stopped
    let mut last_commit: Option<Instant> = None;
    let mut last_prune = Instant::now();
    // Folds end on time even when nothing else arrives.
    let tick = if bound.fold_window.is_zero() {
        IDLE_PRUNE_EVERY
    } else {
        bound.fold_window.min(IDLE_PRUNE_EVERY)
    };
    loop {
        let wait = if backlog { Duration::ZERO } else { tick };
        let (mut batch, mut open) = match rx.recv_timeout(wait) {
            Ok(e) => (vec![e], true),
            Err(RecvTimeoutError::Timeout) => (Vec::new(), true),
            Err(RecvTimeoutError::Disconnected) => (Vec::new(), false),
        };
        if open {
            lock(intake).flush_folds(bound.fold_window, Some(Instant::now()), live);
            while batch.len() < MAX_BATCH
                && let Ok(e) = rx.try_recv()
            {
                batch.push(e);
            }
        }
        if !batch.is_empty() {
            // At most one commit per interval: under a flood, events gather meanwhile.
            let until = last_commit.map(|t| t + MIN_COMMIT_INTERVAL);
            while open && batch.len() < MAX_BATCH {
                let left = until.map_or(Duration::ZERO, |u| {
                    u.saturating_duration_since(Instant::now())
                });
                match rx.recv_timeout(left) {
                    Ok(e) => batch.push(e),
                    Err(RecvTimeoutError::Timeout) => break,
                    Err(RecvTimeoutError::Disconnected) => open = false,
                }
            }
        } else if open && !backlog && last_prune.elapsed() < IDLE_PRUNE_EVERY {
            continue;
        }
        last_prune = Instant::now();
        match write(db, &batch, bound, now_ms()) {
            Ok(Written { committed, more }) => {
                backlog = more;
                if committed {
                    last_commit = Some(Instant::now());
                }
            }
            Err(e) => {
                backlog = false;
                tracing::warn!("{e}");
            }
        }
        if !open {
            return;
        }
    }
}

struct Written {
    committed: bool,
    /// More rows are past the bound than one chunk deleted.
    more: bool,
}

/// Inserts `batch` and deletes at most [`PRUNE_CHUNK`] rows past `bound`, in one transaction.
fn write(
    db: &Database,
    batch: &[SecurityEvent],
    bound: Bound,
    now_ms: u64,
) -> Result<Written, LedgerError> {
    let w = db.begin_write().map_err(storage)?;
    let doomed = {
        let mut t = w.open_table(EVENTS).map_err(storage)?;
        for e in batch {
            let json = serde_json::to_vec(e).map_err(storage)?;
            t.insert(e.id, (e.time_ms, json.as_slice()))
                .map_err(storage)?;
        }
        let newest = t.last().map_err(storage)?.map_or(0, |(k, _)| k.value());
        let keep_from = newest.saturating_add(1).saturating_sub(bound.max_events);
        let cutoff = now_ms.saturating_sub(bound.max_age_ms);
        let mut doomed = Vec::new();
        for row in t.iter().map_err(storage)?.take(PRUNE_CHUNK) {
            let (k, v) = row.map_err(storage)?;
            let (id, (time_ms, _)) = (k.value(), v.value());
            if id >= keep_from && time_ms >= cutoff {
                break;
            }
            doomed.push(id);
        }
        for id in &doomed {
            t.remove(id).map_err(storage)?;
        }
        doomed
    };
    if batch.is_empty() && doomed.is_empty() {
        w.abort().map_err(storage)?;
        return Ok(Written {
            committed: false,
            more: false,
        });
    }
    w.commit().map_err(storage)?;
    Ok(Written {
        committed: true,
        more: doomed.len() == PRUNE_CHUNK,
    })
}

#[cfg(test)]
mod tests;
