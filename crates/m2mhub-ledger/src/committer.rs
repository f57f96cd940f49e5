//! Group commit for concurrent callers: submissions queue up while a block is being written,
//! and the next block takes everything queued (one fsync for many messages). Two threads form
//! a pipeline: one gathers a batch and verifies its signatures while the other commits the
//! previous batch, so the cores verify while the disk syncs.

use std::{
    sync::{
        Arc, Mutex,
        mpsc::{self, Receiver, SyncSender},
    },
    thread::JoinHandle,
};

use crate::{
    append::{Appended, Submission, Verified},
    error::{LedgerError, Result},
    ledger::Ledger,
};

/// Most entries one block takes from the queue.
pub const MAX_BLOCK_ENTRIES: usize = 8192;
/// Most jobs waiting before callers are pushed back.
const QUEUE_DEPTH: usize = 65_536;

type Reply = Box<dyn FnOnce(Vec<Result<Appended>>) + Send>;

enum Job {
    Append {
        subs: Vec<Submission>,
        reply: Reply,
    },
    /// Commit what is queued, then stop.
    Stop,
}

/// A verified batch on its way to the appending thread.
struct Batch {
    subs: Vec<Submission>,
    verified: Verified,
    sizes: Vec<usize>,
    replies: Vec<Reply>,
}

/// A handle to the committing threads; clone it freely. They stop on [`Committer::stop`] or
/// when every handle is dropped.
#[derive(Clone)]
pub struct Committer {
    tx: SyncSender<Job>,
    threads: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl std::fmt::Debug for Committer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Committer")
    }
}

impl Committer {
    /// Starts the verifying and committing threads for `ledger`.
    pub fn start(ledger: Arc<Ledger>) -> Result<Committer> {
        let (tx, rx) = mpsc::sync_channel(QUEUE_DEPTH);
        // One verified batch may wait while another commits: enough to overlap the two.
        let (batch_tx, batch_rx) = mpsc::sync_channel::<Batch>(1);
        let spawn_err = |e: std::io::Error| {
            LedgerError::Storage(format!("cannot start the commit threads: {e}"))
        };
        let l = ledger.clone();
        let verifier = std::thread::Builder::new()
            .name("m2mhub-verify".into())
            .spawn(move || gather(&l, &rx, &batch_tx))
            .map_err(spawn_err)?;
        let appender = std::thread::Builder::new()
            .name("m2mhub-commit".into())
            .spawn(move || commit(&ledger, &batch_rx))
            .map_err(spawn_err)?;
        Ok(Committer {
            tx,
            threads: Arc::new(Mutex::new(vec![verifier, appender])),
        })
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
    pub fn submit(
        &self,
        subs: Vec<Submission>,
        reply: impl FnOnce(Vec<Result<Appended>>) + Send + 'static,
    ) {
        let n = subs.len();
        if let Err(mpsc::SendError(Job::Append { reply, .. })) = self.tx.send(Job::Append {
            subs,
            reply: Box::new(reply),
        }) {
            reply((0..n).map(|_| Err(LedgerError::Unavailable)).collect());
        }
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

/// Gathers queued jobs into batches and verifies their signatures; stops after a `Stop`.
fn gather(ledger: &Ledger, rx: &Receiver<Job>, out: &SyncSender<Batch>) {
    let mut stopping = false;
    while !stopping {
        let Ok(first) = rx.recv() else { return };
        let mut batch = Batch {
            subs: Vec::new(),
            verified: Verified::default(),
            sizes: Vec::new(),
            replies: Vec::new(),
        };
        let mut next = Some(first);
        while let Some(job) = next.take() {
            match job {
                Job::Append { subs, reply } => {
                    batch.sizes.push(subs.len());
                    batch.subs.extend(subs);
                    batch.replies.push(reply);
                }
                Job::Stop => stopping = true,
            }
            if batch.subs.len() < MAX_BLOCK_ENTRIES && !stopping {
                next = rx.try_recv().ok();
            }
        }
        if batch.subs.is_empty() {
            continue;
        }
        batch.verified = ledger.verify_signatures(&batch.subs);
        if let Err(mpsc::SendError(b)) = out.send(batch) {
            answer_unavailable(b);
            return;
        }
    }
}

/// Appends verified batches in order and answers their callers.
fn commit(ledger: &Ledger, rx: &Receiver<Batch>) {
    while let Ok(b) = rx.recv() {
        let mut results = ledger.append_verified(b.subs, b.verified).into_iter();
        for (n, reply) in b.sizes.into_iter().zip(b.replies) {
            reply(results.by_ref().take(n).collect());
        }
    }
}

fn answer_unavailable(b: Batch) {
    for (n, reply) in b.sizes.into_iter().zip(b.replies) {
        reply((0..n).map(|_| Err(LedgerError::Unavailable)).collect());
    }
}
