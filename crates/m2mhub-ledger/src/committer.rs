//! Group commit for concurrent callers: submissions queue up while a block is being written,
//! and the next block takes everything queued (one fsync for many messages). Two threads form
//! a pipeline: one verifies signatures as submissions arrive and adds them to the next block,
//! while the other commits the previous block, so the cores verify while the disk syncs.
//!
//! The next block is one shared slot that grows until the committing thread takes it. A
//! submission therefore waits for at most the commit in progress and its own, never for a
//! third block that was verified and sealed while it queued: at moderate rates that halves
//! the latency of a submission without shrinking the blocks at full load.
//!
//! Async callers use [`Committer::try_submit`], which never blocks: past a bound on the entries
//! in flight it answers [`LedgerError::Busy`] at once, so a backlog pushes back on clients (the
//! HTTP API answers 503) instead of freezing the caller's thread.

use std::{
    sync::{
        Arc, Condvar, Mutex, MutexGuard, OnceLock,
        atomic::{AtomicUsize, Ordering},
        mpsc::{self, Receiver, SyncSender, TrySendError},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use crate::{
    append::{Appended, Submission, Verified},
    error::{LedgerError, Result},
    ledger::Ledger,
};

/// Most entries one block takes from the queue (a single larger submission is one block).
pub const MAX_BLOCK_ENTRIES: usize = 8192;
/// Most jobs waiting before callers are pushed back.
const QUEUE_DEPTH: usize = 65_536;
/// Default cap on the entries in flight (queued, being verified or committed) beyond which
/// [`Committer::try_submit`] answers [`LedgerError::Busy`]: about half a second of full-rate
/// ingest, and at most a few hundred MiB of messages.
pub const DEFAULT_MAX_QUEUED: usize = 65_536;

type Reply = Box<dyn FnOnce(Vec<Result<Appended>>) + Send>;

enum Job {
    Append {
        subs: Vec<Submission>,
        reply: Reply,
    },
    /// Commit what is queued, then stop.
    Stop,
}

/// Verified submissions on their way to a block, with whom to answer.
#[derive(Default)]
struct Batch {
    subs: Vec<Submission>,
    verified: Verified,
    sizes: Vec<usize>,
    replies: Vec<Reply>,
}

impl Batch {
    fn push(&mut self, subs: Vec<Submission>, reply: Reply) {
        self.sizes.push(subs.len());
        self.subs.extend(subs);
        self.replies.push(reply);
    }

    fn append(&mut self, mut more: Batch) {
        self.subs.append(&mut more.subs);
        self.verified.extend(more.verified);
        self.sizes.append(&mut more.sizes);
        self.replies.append(&mut more.replies);
    }
}

/// The next block, shared by the two threads.
#[derive(Default)]
struct Next {
    batch: Batch,
    /// No more submissions will be added: commit what is here and stop.
    closed: bool,
}

#[derive(Default)]
struct Slot {
    next: Mutex<Next>,
    changed: Condvar,
}

impl Slot {
    fn lock(&self) -> MutexGuard<'_, Next> {
        self.next.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn wait<'a>(&self, g: MutexGuard<'a, Next>) -> MutexGuard<'a, Next> {
        self.changed.wait(g).unwrap_or_else(|p| p.into_inner())
    }
}

/// Called with each answered submission's size and how long it waited for its answer
/// (submission to durable outcome), for the ingest metrics.
pub type AnswerObserver = dyn Fn(usize, Duration) + Send + Sync;

/// A handle to the committing threads; clone it freely. They stop on [`Committer::stop`] or
/// when every handle is dropped.
#[derive(Clone)]
pub struct Committer {
    tx: SyncSender<Job>,
    threads: Arc<Mutex<Vec<JoinHandle<()>>>>,
    /// Entries submitted and not yet answered.
    in_flight: Arc<AtomicUsize>,
    /// [`Committer::try_submit`] refuses what would take `in_flight` past this.
    max_queued: usize,
    observer: Arc<OnceLock<Box<AnswerObserver>>>,
}

impl std::fmt::Debug for Committer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Committer")
    }
}

impl Committer {
    /// Starts the verifying and committing threads for `ledger`.
    pub fn start(ledger: Arc<Ledger>) -> Result<Committer> {
        Self::start_with(ledger, DEFAULT_MAX_QUEUED)
    }

    /// [`Committer::start`] with a cap of `max_queued` entries in flight for
    /// [`Committer::try_submit`] (a submission larger than the cap is always refused).
    pub fn start_with(ledger: Arc<Ledger>, max_queued: usize) -> Result<Committer> {
        let (tx, rx) = mpsc::sync_channel(QUEUE_DEPTH);
        let slot = Arc::new(Slot::default());
        let spawn_err = |e: std::io::Error| {
            LedgerError::Storage(format!("cannot start the commit threads: {e}"))
        };
        let (l, s) = (ledger.clone(), slot.clone());
        let verifier = std::thread::Builder::new()
            .name("m2mhub-verify".into())
            .spawn(move || gather(&l, &rx, &s))
            .map_err(spawn_err)?;
        let appender = std::thread::Builder::new()
            .name("m2mhub-commit".into())
            .spawn(move || commit(&ledger, &slot))
            .map_err(spawn_err)?;
        Ok(Committer {
            tx,
            threads: Arc::new(Mutex::new(vec![verifier, appender])),
            in_flight: Arc::new(AtomicUsize::new(0)),
            max_queued,
            observer: Arc::default(),
        })
    }

    /// Sets the [`AnswerObserver`] (once; later calls are ignored).
    pub fn observe(&self, f: impl Fn(usize, Duration) + Send + Sync + 'static) {
        let _ = self.observer.set(Box::new(f));
    }

    /// Messages submitted and not yet answered: queued, being verified or being committed.
    pub fn queued(&self) -> usize {
        self.in_flight()
    }

    /// Commits what is queued, stops the thread and waits for it, releasing its hold on the
    /// ledger. Later submissions are answered `Unavailable`. Blocks: call it off async threads.
    pub fn stop(&self) {
        let _ = self.tx.send(Job::Stop);
        let handles = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|p| p.into_inner()));
        for h in handles {
            let _ = h.join();
        }
    }

    /// Queues `subs` for the next block; `reply` gets their outcomes once it is durable.
    /// Blocks while the queue is full: call it from a thread that may block, or use
    /// [`Committer::try_submit`].
    pub fn submit(
        &self,
        subs: Vec<Submission>,
        reply: impl FnOnce(Vec<Result<Appended>>) + Send + 'static,
    ) {
        let n = subs.len();
        let job = self.job(subs, reply);
        if let Err(mpsc::SendError(Job::Append { reply, .. })) = self.tx.send(job) {
            reply((0..n).map(|_| Err(LedgerError::Unavailable)).collect());
        }
    }

    /// Queues `subs` like [`Committer::submit`] without ever blocking: when the entries in
    /// flight would exceed the cap, or the queue is full, `reply` is not kept and the answer is
    /// `Err(LedgerError::Busy)` (nothing was queued; retry later).
    pub fn try_submit(
        &self,
        subs: Vec<Submission>,
        reply: impl FnOnce(Vec<Result<Appended>>) + Send + 'static,
    ) -> Result<()> {
        let n = subs.len();
        let admitted = self
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| {
                q.checked_add(n).filter(|&t| t <= self.max_queued)
            })
            .is_ok();
        if !admitted {
            return Err(LedgerError::Busy);
        }
        // Counted above already: build the job without counting again.
        let job = Job::Append {
            subs,
            reply: self.answered(n, reply),
        };
        match self.tx.try_send(job) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => {
                self.in_flight.fetch_sub(n, Ordering::AcqRel);
                Err(LedgerError::Busy)
            }
            Err(TrySendError::Disconnected(Job::Append { reply, .. })) => {
                reply((0..n).map(|_| Err(LedgerError::Unavailable)).collect());
                Ok(())
            }
            Err(TrySendError::Disconnected(Job::Stop)) => Ok(()),
        }
    }

    /// Entries submitted and not yet answered.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    fn job(
        &self,
        subs: Vec<Submission>,
        reply: impl FnOnce(Vec<Result<Appended>>) + Send + 'static,
    ) -> Job {
        let n = subs.len();
        self.in_flight.fetch_add(n, Ordering::AcqRel);
        Job::Append {
            subs,
            reply: self.answered(n, reply),
        }
    }

    /// `reply`, which first takes its `n` entries off the count in flight.
    fn answered(
        &self,
        n: usize,
        reply: impl FnOnce(Vec<Result<Appended>>) + Send + 'static,
    ) -> Reply {
        let (in_flight, observer, since) = (
            self.in_flight.clone(),
            self.observer.clone(),
            Instant::now(),
        );
        Box::new(move |r| {
            in_flight.fetch_sub(n, Ordering::AcqRel);
            if let Some(f) = observer.get() {
                f(n, since.elapsed());
            }
            reply(r);
        })
    }

    /// Queues `subs` and waits for their outcomes (for synchronous callers).
    pub fn submit_wait(&self, subs: Vec<Submission>) -> Vec<Result<Appended>> {
        let n = subs.len();
        let (tx, rx) = mpsc::sync_channel(1);
        self.submit(subs, move |r| {
            let _ = tx.send(r);
        });
        rx.recv()
            .unwrap_or_else(|_| (0..n).map(|_| Err(LedgerError::Unavailable)).collect())
    }
}

/// Takes what is queued, verifies its signatures and adds it to the next block, waiting while
/// that block is full; closes the slot after a `Stop` or when every handle is gone.
fn gather(ledger: &Ledger, rx: &Receiver<Job>, slot: &Slot) {
    let mut stopping = false;
    while !stopping {
        let Ok(first) = rx.recv() else { break };
        let mut chunk = Batch::default();
        let mut next = Some(first);
        while let Some(job) = next.take() {
            match job {
                Job::Append { subs, reply } => chunk.push(subs, reply),
                Job::Stop => stopping = true,
            }
            if chunk.subs.len() < MAX_BLOCK_ENTRIES && !stopping {
                next = rx.try_recv().ok();
            }
        }
        if chunk.subs.is_empty() {
            // Empty submissions have nothing to wait for.
            chunk.replies.into_iter().for_each(|r| r(Vec::new()));
            continue;
        }
        chunk.verified = ledger.verify_signatures(&chunk.subs);
        let mut g = slot.lock();
        while !g.batch.subs.is_empty() && g.batch.subs.len() + chunk.subs.len() > MAX_BLOCK_ENTRIES
        {
            g = slot.wait(g);
        }
        g.batch.append(chunk);
        slot.changed.notify_all();
    }
    slot.lock().closed = true;
    slot.changed.notify_all();
}

/// Takes the next block whenever it holds something, appends it and answers its callers;
/// stops once the slot is closed and empty.
fn commit(ledger: &Ledger, slot: &Slot) {
    loop {
        let b = {
            let mut g = slot.lock();
            while g.batch.subs.is_empty() && !g.closed {
                g = slot.wait(g);
            }
            if g.batch.subs.is_empty() {
                return;
            }
            std::mem::take(&mut g.batch)
        };
        slot.changed.notify_all();
        let mut results = ledger.append_verified(b.subs, b.verified).into_iter();
        for (n, reply) in b.sizes.into_iter().zip(b.replies) {
            reply(results.by_ref().take(n).collect());
        }
    }
}
