//! Model test: random sequences of registry changes and signed messages go through the real
//! ledger (in batches, as the committer sends them) and through a small reference model of
//! SPEC §3 written here from the spec's text alone. Every outcome must agree: refusals and
//! their codes, exact resubmissions, tx ids, provenance, every notice.
//!
//! More cases: `PROPTEST_CASES=2000 cargo test --release -p m2mhub-ledger --test model`.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet, HashSet};

use ed25519_dalek::{Signer, SigningKey};
use m2mhub_core::{
    entry::{Entry, Registration},
    ids::{Seq, TxId},
    message::{Action, Message},
    names::DeviceName,
};
use m2mhub_ledger::{Appended, Ledger, LedgerConfig, LedgerError, Submission, store::Store};
use proptest::prelude::*;

/// Device names: 0..8 can be registered, 8 never is.
const NAMES: [&str; 9] = ["d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7", "ghost"];

#[derive(Clone, Debug)]
enum Op {
    Register { dev: u8, clearance: u8 },
    Revoke { dev: u8 },
    Grant { dev: u8, sender: u8 },
    Withdraw { dev: u8, sender: u8 },
    Rekey { dev: u8 },
    Send(Send),
}

#[derive(Clone, Debug)]
struct Send {
    from: u8,
    to: u8,
    action: u8,
    tx: u8,
    cause: u8,
    counter: u8,
    sig_ok: bool,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0u8..8, 0u8..4).prop_map(|(dev, clearance)| Op::Register { dev, clearance }),
        1 => (0u8..8).prop_map(|dev| Op::Revoke { dev }),
        1 => (0u8..8, 0u8..9).prop_map(|(dev, sender)| Op::Grant { dev, sender }),
        1 => (0u8..8, 0u8..9).prop_map(|(dev, sender)| Op::Withdraw { dev, sender }),
        1 => (0u8..8).prop_map(|dev| Op::Rekey { dev }),
        12 => (0u8..9, 0u8..9, 0u8..3, any::<u8>(), any::<u8>(), any::<u8>(), prop::bool::weighted(0.9))
            .prop_map(|(from, to, action, tx, cause, counter, sig_ok)| Op::Send(Send {
                from, to, action, tx, cause, counter, sig_ok
            })),
    ]
}

/// Device `dev`'s key after `generation` re-keys (0: the registration's).
fn key(dev: usize, generation: u8) -> SigningKey {
    let mut seed = [dev as u8 + 1; 32];
    seed[31] ^= generation;
    SigningKey::from_bytes(&seed)
}

fn name(i: usize) -> DeviceName {
    DeviceName::new(NAMES[i]).unwrap()
}

// ---- The reference model: SPEC §3, nothing else. ----

#[derive(Debug)]
struct Dev {
    clearance: u32,
    revoked: bool,
    exceptions: BTreeSet<String>,
    last_counter: Option<u64>,
    /// Re-keys so far: its key is `key(dev, generation)` (SPEC §3.2.2).
    generation: u8,
    /// Recorded messages by counter: (message, seq).
    recorded: BTreeMap<u64, (Message, u64)>,
}

#[derive(Debug, PartialEq)]
enum Status {
    Open,
    Closed,
    Rejected,
}

#[derive(Debug)]
struct Tx {
    provenance: String,
    status: Status,
    participants: BTreeSet<String>,
    valid_seqs: HashSet<u64>,
}

#[derive(Debug, Default)]
struct Model {
    devices: BTreeMap<String, Dev>,
    txs: BTreeMap<u64, Tx>,
    next_seq: u64,
    last_tx: u64,
    /// Each recorded message's (tx, provenance, notices), to answer exact resubmissions.
    verdicts: BTreeMap<u64, (u64, Option<String>, Vec<String>)>,
}

/// What the model expects of one submission.
#[derive(Debug, PartialEq)]
enum Outcome {
    Refused(String),
    Registered,
    Recorded {
        seq: u64,
        tx: u64,
        provenance: Option<String>,
        notices: Vec<String>,
        duplicate: bool,
    },
}

impl Model {
    fn recorded_verdict(&self, seq: u64) -> (u64, Option<String>, Vec<String>) {
        self.verdicts[&seq].clone()
    }

    fn active(&self, n: &str) -> bool {
        self.devices.get(n).is_some_and(|d| !d.revoked)
    }

    fn generation(&self, dev: usize) -> u8 {
        self.devices.get(NAMES[dev]).map_or(0, |d| d.generation)
    }

    fn registry(&mut self, e: &Entry) -> Outcome {
        let ok = match e {
            Entry::DeviceRegistered(r) => !self.devices.contains_key(r.name.as_str()),
            Entry::DeviceRevoked { device } => self.active(device.as_str()),
            // Every generation's key is new: a re-key is refused only for a device that is
            // not active.
            Entry::DeviceRekeyed { device, .. } => self.active(device.as_str()),
            Entry::ExceptionGranted { device, sender } => {
                self.active(device.as_str())
                    && !self.devices[device.as_str()]
                        .exceptions
                        .contains(sender.as_str())
            }
            Entry::ExceptionWithdrawn { device, sender } => {
                self.active(device.as_str())
                    && self.devices[device.as_str()]
                        .exceptions
                        .contains(sender.as_str())
            }
            // The model drives devices only.
            Entry::Message(_) | Entry::FederationMembership(_) | Entry::Import(_) => unreachable!(),
        };
        if !ok {
            return Outcome::Refused("registry".into());
        }
        match e {
            Entry::DeviceRegistered(r) => {
                self.devices.insert(
                    r.name.as_str().to_owned(),
                    Dev {
                        clearance: r.clearance,
                        revoked: false,
                        exceptions: BTreeSet::new(),
                        last_counter: None,
                        generation: 0,
                        recorded: BTreeMap::new(),
                    },
                );
            }
            Entry::DeviceRevoked { device } => {
                self.devices.get_mut(device.as_str()).unwrap().revoked = true;
            }
            Entry::DeviceRekeyed { device, .. } => {
                self.devices.get_mut(device.as_str()).unwrap().generation += 1;
            }
            Entry::ExceptionGranted { device, sender } => {
                let d = self.devices.get_mut(device.as_str()).unwrap();
                d.exceptions.insert(sender.as_str().to_owned());
            }
            Entry::ExceptionWithdrawn { device, sender } => {
                let d = self.devices.get_mut(device.as_str()).unwrap();
                d.exceptions.remove(sender.as_str());
            }
            Entry::Message(_) | Entry::FederationMembership(_) | Entry::Import(_) => unreachable!(),
        }
        self.next_seq += 1;
        Outcome::Registered
    }

    /// `sig_ok` says whether the signature is the sender's (when the sender is registered).
    fn message(&mut self, m: &Message, sig_ok: bool) -> Outcome {
        let s = m.sender.as_str();
        let Some(sender) = self.devices.get(s) else {
            return Outcome::Refused("unknown_sender".into());
        };
        if !sig_ok {
            return Outcome::Refused("bad_signature".into());
        }
        if sender.last_counter.is_some_and(|last| m.counter <= last) {
            return match sender.recorded.get(&m.counter) {
                Some((orig, seq)) if orig.signature == m.signature => {
                    let (tx, provenance, notices) = self.recorded_verdict(*seq);
                    Outcome::Recorded {
                        seq: *seq,
                        tx,
                        provenance,
                        notices,
                        duplicate: true,
                    }
                }
                _ => Outcome::Refused("stale_counter".into()),
            };
        }
        let r = m.receiver.as_str();
        let receiver = self.devices.get(r);
        let mut notices = Vec::new();
        if sender.revoked {
            notices.push("sender_revoked");
        }
        if receiver.is_none() {
            notices.push("unknown_receiver");
        }
        if receiver.is_some_and(|d| d.revoked) {
            notices.push("receiver_revoked");
        }
        let seq = self.next_seq;
        let (tx, provenance) = if m.action == Action::Begin {
            self.last_tx += 1;
            (self.last_tx, Some(s.to_owned()))
        } else {
            (m.tx.0, self.txs.get(&m.tx.0).map(|t| t.provenance.clone()))
        };
        let cleared = |prov: &str| {
            let pc = self.devices[prov].clearance;
            receiver.is_none_or(|rd| pc >= rd.clearance || rd.exceptions.contains(prov))
        };
        match (m.action, self.txs.get(&tx)) {
            (Action::Begin, _) => {
                if !cleared(s) {
                    notices.push("insufficient_clearance");
                }
                if m.cause.is_some() {
                    notices.push("bad_cause");
                }
            }
            (_, None) => notices.push("unknown_transaction"),
            (_, Some(t)) => {
                if t.status == Status::Rejected {
                    notices.push("transaction_rejected");
                }
                if t.status == Status::Closed {
                    notices.push("transaction_closed");
                }
                if !t.participants.contains(s) {
                    notices.push("not_a_participant");
                }
                if !cleared(&t.provenance) {
                    notices.push("insufficient_clearance");
                }
                if m.cause.is_some_and(|c| !t.valid_seqs.contains(&c.0)) {
                    notices.push("bad_cause");
                }
            }
        }
        let valid = notices.is_empty();
        match m.action {
            Action::Begin => {
                self.txs.insert(
                    tx,
                    Tx {
                        provenance: s.to_owned(),
                        status: if valid {
                            Status::Open
                        } else {
                            Status::Rejected
                        },
                        participants: if valid {
                            [s.to_owned(), r.to_owned()].into()
                        } else {
                            [s.to_owned()].into()
                        },
                        valid_seqs: if valid { [seq].into() } else { HashSet::new() },
                    },
                );
            }
            _ if valid => {
                let t = self.txs.get_mut(&tx).unwrap();
                t.participants.insert(s.to_owned());
                t.participants.insert(r.to_owned());
                t.valid_seqs.insert(seq);
                if m.action == Action::End {
                    t.status = Status::Closed;
                }
            }
            _ => {}
        }
        let d = self.devices.get_mut(s).unwrap();
        d.last_counter = Some(m.counter);
        d.recorded.insert(m.counter, (m.clone(), seq));
        self.next_seq += 1;
        self.verdicts.insert(
            seq,
            (
                tx,
                provenance.clone(),
                notices.iter().map(|n| n.to_string()).collect(),
            ),
        );
        Outcome::Recorded {
            seq,
            tx,
            provenance,
            notices: notices.into_iter().map(str::to_owned).collect(),
            duplicate: false,
        }
    }
}

/// Turns a generated op into a submission, given the model's state (to pick existing txs,
/// causes and resubmissions); `None` when the op makes no sense now.
fn submission(model: &Model, counters: &mut [u64; 9], op: &Op) -> Option<(Submission, bool)> {
    Some(match op {
        Op::Register { dev, clearance } => {
            let d = *dev as usize;
            (
                Submission::Registry(Entry::DeviceRegistered(Registration {
                    name: name(d),
                    clearance: u32::from(*clearance),
                    public_key: key(d, 0).verifying_key().to_bytes(),
                    exceptions: BTreeSet::new(),
                    simulated: false,
                })),
                true,
            )
        }
        Op::Revoke { dev } => (
            Submission::Registry(Entry::DeviceRevoked {
                device: name(*dev as usize),
            }),
            true,
        ),
        Op::Rekey { dev } => {
            let d = *dev as usize;
            (
                Submission::Registry(Entry::DeviceRekeyed {
                    device: name(d),
                    public_key: key(d, model.generation(d) + 1).verifying_key().to_bytes(),
                }),
                true,
            )
        }
        Op::Grant { dev, sender } => (
            Submission::Registry(Entry::ExceptionGranted {
                device: name(*dev as usize),
                sender: name(*sender as usize),
            }),
            true,
        ),
        Op::Withdraw { dev, sender } => (
            Submission::Registry(Entry::ExceptionWithdrawn {
                device: name(*dev as usize),
                sender: name(*sender as usize),
            }),
            true,
        ),
        Op::Send(s) => {
            let from = s.from as usize;
            // Exact resubmission of something recorded, when asked for and possible.
            if s.counter % 4 == 3
                && let Some(dev) = model.devices.get(NAMES[from])
                && !dev.recorded.is_empty()
            {
                let k = s.tx as usize % dev.recorded.len();
                let (m, _) = dev.recorded.values().nth(k).unwrap();
                return Some((Submission::Message(m.clone()), true));
            }
            let action = [Action::Begin, Action::Continue, Action::End][s.action as usize];
            // Half the continues and ends come from the latest tx's participants, as real
            // conversations do; the rest probe every way of getting it wrong.
            let follow = action != Action::Begin && s.to % 2 == 0;
            let (from, to) = match model.txs.get(&model.last_tx) {
                Some(t) if follow => {
                    let p: Vec<&String> = t.participants.iter().collect();
                    let idx = |n: &String| NAMES.iter().position(|x| *x == n.as_str()).unwrap();
                    (
                        idx(p[s.from as usize % p.len()]),
                        idx(p[(s.from as usize + 1) % p.len()]),
                    )
                }
                _ => (from, s.to as usize),
            };
            let tx = if follow {
                model.last_tx
            } else if action == Action::Begin {
                0
            } else {
                match s.tx % 4 {
                    0 => 0,
                    1 => model.last_tx,
                    2 => 1 + u64::from(s.tx / 4) % model.last_tx.max(1),
                    _ => model.last_tx + 1 + u64::from(s.tx / 4),
                }
            };
            let cause = match s.cause % 4 {
                0 => None,
                1 => model
                    .txs
                    .get(&tx)
                    .and_then(|t| t.valid_seqs.iter().max().copied()),
                2 => Some(u64::from(s.cause / 4) % model.next_seq.max(1)),
                _ => Some(model.next_seq + 1000),
            };
            let counter = match s.counter % 4 {
                2 => counters[from], // stale (or 0 before any message)
                _ => counters[from] + 1,
            };
            counters[from] = counters[from].max(counter);
            let mut m = Message {
                sender: name(from),
                receiver: name(to),
                action,
                tx: TxId(tx),
                cause: cause.map(Seq),
                counter,
                contents: format!("{}:{}", s.cause, s.counter),
                signature: [0; 64],
                form: m2mhub_core::message::Form::OneHub,
            };
            // A wrong signature is another device's or, once re-keyed, this device's
            // retired key's.
            let generation = model.generation(from);
            let signer = match (s.sig_ok, generation) {
                (true, g) => key(from, g),
                (false, g) if g > 0 && s.cause % 2 == 0 => key(from, g - 1),
                (false, _) => key((from + 1) % 8, 0),
            };
            m.signature = signer.sign(&m.signing_bytes()).to_bytes();
            (Submission::Message(m), s.sig_ok)
        }
    })
}

fn outcome(r: &Result<Appended, LedgerError>) -> Outcome {
    match r {
        Ok(Appended::Registry { .. }) => Outcome::Registered,
        Ok(Appended::Message(rec)) => Outcome::Recorded {
            seq: rec.seq,
            tx: rec.tx,
            provenance: rec.provenance.clone(),
            notices: rec.notices.iter().map(|n| n.code().to_owned()).collect(),
            duplicate: rec.duplicate,
        },
        Err(LedgerError::Refused(r)) => Outcome::Refused(r.code().to_owned()),
        Err(LedgerError::Registry(_)) => Outcome::Refused("registry".into()),
        Err(e) => panic!("unexpected ledger error: {e}"),
    }
}

fn config() -> LedgerConfig {
    LedgerConfig {
        origin: Some("m2mhub/model".into()),
        default_origin: String::new(),
    }
}

/// Runs one generated sequence through the ledger and the model; returns every outcome.
fn run(ops: Vec<Op>, batch: usize) -> Result<Vec<Outcome>, TestCaseError> {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("ledger.redb")).unwrap();
    let ledger = Ledger::open_store(store, SigningKey::from_bytes(&[9; 32]), &config()).unwrap();
    let mut model = Model::default();
    let mut counters = [0u64; 9];
    // Registrations come first so messages have someone to talk to.
    let mut ops = ops;
    ops.insert(
        0,
        Op::Register {
            dev: 0,
            clearance: 2,
        },
    );
    ops.insert(
        1,
        Op::Register {
            dev: 1,
            clearance: 1,
        },
    );
    let mut seen = Vec::new();
    for chunk in ops.chunks(batch) {
        let mut subs = Vec::new();
        let mut expected = Vec::new();
        for op in chunk {
            let Some((sub, sig_ok)) = submission(&model, &mut counters, op) else {
                continue;
            };
            let want = match &sub {
                Submission::Registry(e) => model.registry(e),
                Submission::Message(m) => model.message(m, sig_ok),
            };
            subs.push(sub);
            expected.push(want);
        }
        let results = ledger.append(subs.clone());
        for ((sub, want), got) in subs.iter().zip(expected).zip(&results) {
            let got = outcome(got);
            prop_assert_eq!(&want, &got, "submission {:?}", sub);
            if let (Submission::Message(m), Outcome::Recorded { notices, .. }) = (sub, &got)
                && notices.is_empty()
            {
                seen.push(Outcome::Refused(format!("valid {}", m.action)));
            }
            seen.push(got);
        }
    }
    Ok(seen)
}

#[test]
fn the_hub_agrees_with_the_spec_model() {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases,
        ..ProptestConfig::default()
    });
    let coverage = std::cell::RefCell::new(BTreeMap::<String, u64>::new());
    let strategy = (prop::collection::vec(op(), 1..120), 1usize..8);
    let result = runner.run(&strategy, |(ops, batch)| {
        for o in run(ops, batch)? {
            let keys = match o {
                Outcome::Refused(code) => vec![code],
                Outcome::Registered => vec!["registered".into()],
                Outcome::Recorded {
                    notices, duplicate, ..
                } => {
                    let mut k = notices;
                    if duplicate {
                        k.push("duplicate".into());
                    }
                    k
                }
            };
            for k in keys {
                *coverage.borrow_mut().entry(k).or_default() += 1;
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    // The generator must reach every outcome SPEC §3 names, or agreement proves little.
    let coverage = coverage.into_inner();
    println!("outcomes: {coverage:?}");
    for k in [
        "registered",
        "registry",
        "unknown_sender",
        "bad_signature",
        "stale_counter",
        "duplicate",
        "valid begin",
        "valid continue",
        "valid end",
        "sender_revoked",
        "unknown_receiver",
        "receiver_revoked",
        "unknown_transaction",
        "transaction_rejected",
        "transaction_closed",
        "not_a_participant",
        "insufficient_clearance",
        "bad_cause",
    ] {
        assert!(
            coverage.contains_key(k),
            "no case reached {k}: {coverage:?}"
        );
    }
}
