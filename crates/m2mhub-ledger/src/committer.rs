//! Group commit for concurrent callers: submissions queue up while a block is being written,
//! and the next block takes everything queued (one fsync for many messages).

use std::{
    sync::{
        Arc, Mutex,
        mpsc::{self, Receiver, SyncSender},
    },
    thread::JoinHandle,
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

enum Job {
    Append {
        subs: Vec<Submission>,
        reply: Reply,
    },
    /// Commit what is queued, then stop.
    Stop,
}

/// A handle to the committing thread; clone it freely. The thread stops on [`Committer::stop`]
/// or when every handle is dropped.
#[derive(Clone)]
pub struct Committer {
    tx: SyncSender<Job>,
    thread: Arc<Mutex<Option<JoinHandle<()>>>>,
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
        let thread = std::thread::Builder::new()
            .name("m2mhub-commit".into())
            .spawn(move || run(&ledger, &rx))
            .map_err(|e| LedgerError::Storage(format!("cannot start the commit thread: {e}")))?;
        Ok(Committer {
            tx,
            thread: Arc::new(Mutex::new(Some(thread))),
        })
    }

    /// Commits what is queued, stops the thread and waits for it, releasing its hold on the
    /// ledger. Later submissions are answered `Unavailable`. Blocks: call it off async threads.
    pub fn stop(&self) {
        let _ = self.tx.send(Job::Stop);
        let handle = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(h) = handle {
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

fn run(ledger: &Ledger, rx: &Receiver<Job>) {
    let mut stopping = false;
    while !stopping {
        let Ok(first) = rx.recv() else { return };
        let mut all = Vec::new();
        let mut sizes = Vec::new();
        let mut replies = Vec::new();
        let mut next = Some(first);
        while let Some(job) = next.take() {
            match job {
                Job::Append { subs, reply } => {
                    sizes.push(subs.len());
                    all.extend(subs);
                    replies.push(reply);
                }
                Job::Stop => stopping = true,
            }
            if all.len() < MAX_BLOCK_ENTRIES && !stopping {
                next = rx.try_recv().ok();
            }
        }
        if all.is_empty() {
            continue;
        }
        let mut results = ledger.append(all).into_iter();
        for (n, reply) in sizes.into_iter().zip(replies) {
            reply(results.by_ref().take(n).collect());
        }
    }
}
