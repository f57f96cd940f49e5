//! The bench's workload: a fleet of devices with keys, and a stream of signed messages whose
//! seqs and tx ids are known in advance on a fresh ledger — transactions of four messages
//! (begin, continue, continue, end) between devices of one clearance class, and optionally one
//! long transaction (tx 1) of a given length whose messages are spread through the stream, for
//! the trace benchmark.

use std::collections::BTreeSet;

use anyhow::Context;
use ed25519_dalek::{Signer, SigningKey};
use m2mhub_core::{
    entry::{Entry, Registration},
    ids::{Seq, TxId},
    message::{Action, Message},
    names::DeviceName,
};
use m2mhub_ledger::{Ledger, Submission};

/// Devices with keys.
#[derive(Debug)]
pub struct Fleet {
    /// Signing keys, by device index.
    pub keys: Vec<SigningKey>,
    /// Names, by device index (`dev-00000`, …).
    pub names: Vec<DeviceName>,
}

impl Fleet {
    /// `n` devices with keys derived from their index.
    pub fn new(n: usize) -> anyhow::Result<Fleet> {
        let keys = (0..n)
            .map(|i| {
                let mut seed = [0u8; 32];
                seed[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
                SigningKey::from_bytes(&seed)
            })
            .collect();
        let names = (0..n)
            .map(|i| DeviceName::new(&format!("dev-{i:05}")))
            .collect::<Result<_, _>>()?;
        Ok(Fleet { keys, names })
    }

    /// Registers every device of the fleet in `ledger`, in one block.
    pub fn register(&self, ledger: &Ledger) -> anyhow::Result<()> {
        let regs = self.registrations().into_iter();
        for r in ledger.append(regs.map(Submission::Registry).collect()) {
            r.context("registering the bench devices")?;
        }
        Ok(())
    }

    /// Registration entries for every device (clearance = index mod 4).
    pub fn registrations(&self) -> Vec<Entry> {
        (0..self.keys.len())
            .map(|i| {
                Entry::DeviceRegistered(Registration {
                    name: self.names[i].clone(),
                    clearance: (i % 4) as u32,
                    public_key: self.keys[i].verifying_key().to_bytes(),
                    exceptions: BTreeSet::new(),
                    simulated: false,
                })
            })
            .collect()
    }

    /// Signs `msgs` (sender index, message) on every core.
    pub fn sign_all(&self, msgs: &mut [(usize, Message)]) {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let per = msgs.len().div_ceil(threads).max(1);
        std::thread::scope(|s| {
            for chunk in msgs.chunks_mut(per) {
                s.spawn(move || {
                    for (from, m) in chunk {
                        m.signature = self.keys[*from].sign(&m.signing_bytes()).to_bytes();
                    }
                });
            }
        });
    }
}

/// Plans the message stream, chunk by chunk, for a fresh ledger whose first message gets seq
/// `first_seq` (the number of registrations before it).
#[derive(Debug)]
pub struct Planner {
    devices: usize,
    names: Vec<DeviceName>,
    counters: Vec<u64>,
    next_seq: u64,
    last_tx: u64,
    groups: u64,
    /// The long transaction: messages still to send, every how many groups, last seq.
    long: Option<(u64, u64, u64)>,
}

impl Planner {
    /// A planner over `fleet`. With `long = Some((len, every))`, tx 1 is a transaction of
    /// `len` messages, one more of them after every `every` groups of four.
    pub fn new(fleet: &Fleet, first_seq: u64, long: Option<(u64, u64)>) -> Planner {
        Planner {
            devices: fleet.names.len(),
            names: fleet.names.clone(),
            counters: vec![0; fleet.names.len()],
            next_seq: first_seq,
            last_tx: 0,
            groups: 0,
            long: long.map(|(len, every)| (len, every.max(1), 0)),
        }
    }

    fn message(
        &mut self,
        from: usize,
        to: usize,
        action: Action,
        tx: u64,
        cause: Option<u64>,
    ) -> (usize, Message) {
        self.counters[from] += 1;
        self.next_seq += 1;
        if action == Action::Begin {
            self.last_tx += 1;
        }
        (
            from,
            Message {
                sender: self.names[from].clone(),
                receiver: self.names[to].clone(),
                action,
                tx: TxId(if action == Action::Begin { 0 } else { tx }),
                cause: cause.map(Seq),
                counter: self.counters[from],
                contents: format!("{{\"reading\":{},\"unit\":\"C\"}}", self.next_seq % 40),
                signature: [0; 64],
                form: m2mhub_core::message::Form::OneHub,
            },
        )
    }

    /// The next `n` messages, unsigned.
    pub fn plan(&mut self, n: usize) -> Vec<(usize, Message)> {
        let mut out = Vec::with_capacity(n);
        let d = self.devices;
        while out.len() < n {
            // The long transaction: its begin first, then one message every `every` groups.
            if let Some((left, every, last)) = self.long
                && left > 0
                && (last == 0 || self.groups.is_multiple_of(every))
            {
                let (a, b) = (0, 4 % d);
                let seq = self.next_seq;
                let m = if last == 0 && self.last_tx == 0 {
                    self.message(a, b, Action::Begin, 0, None)
                } else {
                    let from = if left % 2 == 0 { a } else { b };
                    self.message(
                        from,
                        if from == a { b } else { a },
                        Action::Continue,
                        1,
                        Some(last),
                    )
                };
                out.push(m);
                self.long = Some((left - 1, every, seq));
                if out.len() == n {
                    break;
                }
            }
            self.groups += 1;
            let tx = self.last_tx + 1;
            let a = (tx as usize * 7) % d;
            let b = (a + 4) % d; // same clearance class: a may always begin with b
            let begin = self.next_seq;
            let steps = [
                (a, b, Action::Begin, None),
                (b, a, Action::Continue, Some(begin)),
                (a, b, Action::Continue, Some(begin + 1)),
                (b, a, Action::End, Some(begin + 2)),
            ];
            for (from, to, action, cause) in steps {
                if out.len() == n {
                    break;
                }
                out.push(self.message(from, to, action, tx, cause));
            }
        }
        out
    }
}

/// Latencies of an open-loop run: each message is timed from when it was due, not from when
/// it left, so a slow answer delays nobody's clock.
#[derive(Debug, Default)]
pub struct OpenLoop {
    /// Milliseconds from due to answered, sorted.
    pub latencies_ms: Vec<f64>,
    /// Requests without a success answer.
    pub errors: u64,
}

impl OpenLoop {
    /// Posts each of `bodies` to `url` at `rate` per second, on time whatever the answers, and
    /// waits for every answer; `on_due(i)` runs as message `i` falls due.
    pub async fn run(
        client: &reqwest::Client,
        url: &str,
        bodies: Vec<Vec<u8>>,
        rate: u64,
        on_due: impl FnMut(usize),
    ) -> anyhow::Result<OpenLoop> {
        let tagged = bodies.into_iter().map(|b| (0, b)).collect();
        let mut runs = Self::run_tagged(client, url, tagged, 1, rate, on_due).await?;
        Ok(runs.pop().unwrap_or_default())
    }

    /// [`OpenLoop::run`] over bodies tagged `0..classes`: one result per class, from one
    /// interleaved stream (so every class sees the same load).
    pub async fn run_tagged(
        client: &reqwest::Client,
        url: &str,
        bodies: Vec<(usize, Vec<u8>)>,
        classes: usize,
        rate: u64,
        mut on_due: impl FnMut(usize),
    ) -> anyhow::Result<Vec<OpenLoop>> {
        let start = tokio::time::Instant::now() + std::time::Duration::from_millis(100);
        let interval = std::time::Duration::from_secs_f64(1.0 / rate.max(1) as f64);
        let mut tasks = Vec::with_capacity(bodies.len());
        for (i, (class, body)) in bodies.into_iter().enumerate() {
            let due = start + interval * i as u32;
            tokio::time::sleep_until(due).await;
            on_due(i);
            let (client, url) = (client.clone(), url.to_owned());
            tasks.push(tokio::spawn(async move {
                let r = client
                    .post(url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await;
                let ok = match r {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                (class, due.elapsed(), ok)
            }));
        }
        let mut out: Vec<OpenLoop> = (0..classes.max(1)).map(|_| OpenLoop::default()).collect();
        for t in tasks {
            let (class, d, ok) = t.await?;
            let o = &mut out[class.min(classes.max(1) - 1)];
            o.errors += u64::from(!ok);
            o.latencies_ms.push(d.as_secs_f64() * 1000.0);
        }
        for o in &mut out {
            o.latencies_ms.sort_by(f64::total_cmp);
        }
        Ok(out)
    }

    /// The `p` quantile (0..=1), in ms; 0 when nothing was sent.
    pub fn quantile(&self, p: f64) -> f64 {
        let n = self.latencies_ms.len();
        if n == 0 {
            return 0.0;
        }
        self.latencies_ms[((n as f64 * p) as usize).min(n - 1)]
    }
}
