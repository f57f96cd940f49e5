//! Group commit for concurrent callers: submissions queue up while a block is being written,
//! and the next block takes everything queued (one fsync for many messages).

use std::sync::{
    Arc,
    mpsc::{self, Receiver, SyncSender},
};

use crate::{
    append::{Appended, Submission},
    error::{LedgerError, Result},
    ledger::Ledger,
};

/// Most entries one block takes from the queue.
pub const MAX_BLOCK_ENTRIES: usize = 8192;
/// Most jobs waiting before callers are pushed back.
const QUEUE_DEPTH: usize = 65_536;

type Reply = Box<dyn FnOnce(Vec<Result<Appended>>) + Send>;

struct Job {
    subs: Vec<Submission>,
    reply: Reply,
}

/// A handle to the committing thread; clone it freely. The thread stops when every handle
/// is dropped.
#[derive(Clone)]
pub struct Committer {
    tx: SyncSender<Job>,
}

impl std::fmt::Debug for Committer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Committer")
    }
}

impl Committer {
    /// Starts the committing thread for `ledger`.
    pub fn start(ledger: Arc<Ledger>) -> Result<Committer> {
        let (tx, rx) = mpsc::sync_channel(QUEUE_DEPTH);
        std::thread::Builder::new()
            .name("m2mhub-commit".into())
            .spawn(move || run(&ledger, &rx))
            .map_err(|e| LedgerError::Storage(format!("cannot start the commit thread: {e}")))?;
        Ok(Committer { tx })
    }

    /// Queues `subs` for the next block; `reply` gets their outcomes once it is durable.
    pub fn submit(&self, subs: Vec<Submission>, reply: impl FnOnce(Vec<Result<Appended>>) + Send + 'static) {
        let n = subs.len();
        if let Err(mpsc::SendError(job)) = self.tx.send(Job { subs, reply: Box::new(reply) }) {
            (job.reply)((0..n).map(|_| Err(LedgerError::Unavailable)).collect());
        }
    }

    /// Queues `subs` and waits for their outcomes (for synchronous callers).
    pub fn submit_wait(&self, subs: Vec<Submission>) -> Vec<Result<Appended>> {
        let n = subs.len();
        let (tx, rx) = mpsc::sync_channel(1);
        self.submit(subs, move |r| {
            let _ = tx.send(r);
        });
        rx.recv().unwrap_or_else(|_| (0..n).map(|_| Err(LedgerError::Unavailable)).collect())
    }
}

fn run(ledger: &Ledger, rx: &Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        let mut total = jobs[0].subs.len();
        while total < MAX_BLOCK_ENTRIES {
            match rx.try_recv() {
                Ok(job) => {
                    total += job.subs.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        let mut all = Vec::with_capacity(total);
        let mut sizes = Vec::with_capacity(jobs.len());
        let mut replies = Vec::with_capacity(jobs.len());
        for job in jobs {
            sizes.push(job.subs.len());
            all.extend(job.subs);
            replies.push(job.reply);
        }
        let mut results = ledger.append(all).into_iter();
        for (n, reply) in sizes.into_iter().zip(replies) {
            reply(results.by_ref().take(n).collect());
        }
    }
}
