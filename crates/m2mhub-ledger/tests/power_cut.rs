//! Power cuts: the hub runs on a simulated file system (`simfs`) that loses, at a random
//! instant, every write and directory change not yet synced, strictly or torn (see the
//! module doc of `m2mhub_ledger::simfs`). After each cut the hub starts again on what
//! survived, through the same `Ledger::open` and `DataDir` as in production: it must start
//! (a cut is not damage), every record it acknowledged must be there with the same seq, block
//! and leaf hash, replay verification must pass, and its key and operator token must be the
//! ones it handed out.
//!
//! CI runs 40 cuts and every cut instant of a first start. The long run:
//! `M2MHUB_POWER_CUTS=1000 cargo test --release -p m2mhub-ledger --test power_cut`;
//! `M2MHUB_POWER_CUT_SEED` replays a run (the seed is printed).
#![allow(clippy::unwrap_used)]

mod common;

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
    sync::{Arc, Mutex},
};

use common::Devices;
use m2mhub_core::{entry::Entry, message::Action, note::NoteVerifier};
use m2mhub_ledger::{
    Appended, Committer, DataDir, Ledger, LedgerConfig, Record, Submission, simfs::SimFs,
    verify::verify_snapshot,
};

const DATA: &str = "/hub/data";
const DEVICES: usize = 4;

/// splitmix64: a seeded, reproducible source of cut instants, coins and batch sizes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn config() -> LedgerConfig {
    LedgerConfig {
        origin: Some("m2mhub/power-cut".into()),
        default_origin: String::new(),
    }
}

/// What the hub handed out: its key, its operator token, its records.
#[derive(Default)]
struct Acked {
    key: Option<String>,
    token: Option<String>,
    records: BTreeMap<u64, Record>,
    devices: BTreeSet<String>,
}

/// Starts the hub on `fs` the way `serve` does: data directory, ledger, operator token.
fn start(fs: &SimFs) -> m2mhub_ledger::Result<(Ledger, String)> {
    let dir = DataDir::create_in(Arc::new(fs.clone()), Path::new(DATA))?;
    let ledger = Ledger::open(&dir, &config())?;
    let (token, _) = dir.operator_token(None)?;
    Ok((ledger, token))
}

/// Restarts after a cut and checks everything acknowledged is there and the ledger verifies.
fn restart_and_check(fs: &SimFs, acked: &Acked, what: &str) -> (Ledger, String) {
    let (ledger, token) =
        start(fs).unwrap_or_else(|e| panic!("{what}: the hub refused to start again: {e}"));
    if let Some(k) = &acked.key {
        assert_eq!(&ledger.verifier_key(), k, "{what}: the hub's key changed");
    }
    if let Some(t) = &acked.token {
        assert_eq!(&token, t, "{what}: the operator token changed");
    }
    for (seq, r) in &acked.records {
        let got = ledger
            .record(*seq)
            .unwrap_or_else(|e| panic!("{what}: acknowledged record {seq} lost: {e}"));
        assert_eq!(&got, r, "{what}: acknowledged record {seq} changed");
    }
    let view = ledger.view();
    for d in &acked.devices {
        assert!(
            view.registry.registry.get(d).is_some(),
            "{what}: acknowledged device {d} lost"
        );
    }
    let snap = ledger.snapshot().unwrap();
    assert_eq!(snap.size().unwrap(), view.head.tree_size, "{what}");
    let verifier = NoteVerifier::parse(&ledger.verifier_key()).unwrap();
    verify_snapshot(&snap, verifier).unwrap_or_else(|f| panic!("{what}: verify failed: {f}"));
    drop(snap);
    (ledger, token)
}

/// A hub's devices (keys and counters, which only grow, across cuts too: a message whose
/// answer was lost may or may not be recorded, and either way a later counter is accepted)
/// and their registrations, sent again until acknowledged.
struct Fleet {
    devices: Mutex<Devices>,
    registrations: Vec<(String, Entry)>,
}

impl Fleet {
    fn new() -> Fleet {
        let mut devices = Devices::default();
        let registrations = (0..DEVICES)
            .map(|i| {
                let n = format!("dev{i}");
                let e = devices.registration(&n, 1);
                (n, e)
            })
            .collect();
        Fleet {
            devices: Mutex::new(devices),
            registrations,
        }
    }
}

/// One life of the hub: start (or restart), register the devices not yet registered, then
/// send transactions from every device at once through the committer until `messages` are
/// acknowledged or the power goes.
fn life(fs: &SimFs, acked: &Mutex<Acked>, fleet: &Fleet, messages: usize) {
    let Ok((ledger, token)) = start(fs) else {
        return;
    };
    {
        let mut a = acked.lock().unwrap();
        a.key.get_or_insert_with(|| ledger.verifier_key());
        a.token.get_or_insert(token);
    }
    let ledger = Arc::new(ledger);
    let committer = Committer::start(ledger.clone()).unwrap();
    let registered = ledger.view().registry.clone();
    let (names, subs): (Vec<_>, Vec<_>) = fleet
        .registrations
        .iter()
        .filter(|(n, _)| registered.registry.get(n).is_none())
        .map(|(n, e)| (n.clone(), Submission::Registry(e.clone())))
        .unzip();
    for (n, r) in names.iter().zip(committer.submit_wait(subs)) {
        match r {
            Ok(_) => {
                acked.lock().unwrap().devices.insert(n.clone());
            }
            Err(_) => {
                committer.stop();
                return;
            }
        }
    }
    std::thread::scope(|s| {
        for me in 0..DEVICES {
            let (committer, devices) = (&committer, &fleet.devices);
            s.spawn(move || sender(committer, acked, devices, me, messages / DEVICES));
        }
    });
    committer.stop();
}

/// One device's loop: batches of begins, then an end for each acknowledged begin.
fn sender(c: &Committer, acked: &Mutex<Acked>, devices: &Mutex<Devices>, me: usize, n: usize) {
    let (from, to) = (format!("dev{me}"), format!("dev{}", (me + 1) % DEVICES));
    let mut sent = 0;
    let mut rng = Rng(me as u64);
    while sent < n {
        let k = 1 + rng.below(4) as usize;
        let begins = (0..k)
            .map(|_| {
                let m = devices
                    .lock()
                    .unwrap()
                    .message(&from, &to, Action::Begin, 0, None);
                Submission::Message(m)
            })
            .collect();
        let Some(records) = submit(c, acked, begins) else {
            return;
        };
        let ends = records
            .iter()
            .map(|r| {
                let m = devices
                    .lock()
                    .unwrap()
                    .message(&from, &to, Action::End, r.tx, Some(r.seq));
                Submission::Message(m)
            })
            .collect();
        if submit(c, acked, ends).is_none() {
            return;
        }
        sent += 2 * k;
    }
}

/// Submits and records what was acknowledged; `None` once the hub failed.
fn submit(c: &Committer, acked: &Mutex<Acked>, subs: Vec<Submission>) -> Option<Vec<Record>> {
    let mut records = Vec::new();
    for r in c.submit_wait(subs) {
        match r {
            Ok(Appended::Message(r)) => records.push(r),
            Ok(other) => panic!("not a message: {other:?}"),
            Err(_) => return None,
        }
    }
    let mut a = acked.lock().unwrap();
    for r in &records {
        assert!(r.valid, "unexpected verdict: {r:?}");
        a.records.insert(r.seq, r.clone());
    }
    Some(records)
}

/// What survives: strict (only what was synced) or torn (each unsynced change by a coin).
fn survivor(fs: &SimFs, torn: bool, rng: &mut Rng) -> SimFs {
    if torn {
        fs.survivor(&mut || rng.next() & 1 == 1)
    } else {
        fs.survivor(&mut || false)
    }
}

const LIVES_PER_HUB: u64 = 5;
const MESSAGES_PER_LIFE: usize = 48;

#[test]
fn acknowledged_records_survive_power_cuts() {
    let cuts = env_u64("M2MHUB_POWER_CUTS").unwrap_or(40);
    let seed = env_u64("M2MHUB_POWER_CUT_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    });
    println!("power cuts: {cuts}, M2MHUB_POWER_CUT_SEED={seed}");
    let mut rng = Rng(seed);

    // How many storage calls a first life makes: cuts fall anywhere in that range, and a
    // little past it (the power then goes after the life's last call).
    let ops = {
        let fs = SimFs::new();
        let acked = Mutex::default();
        life(&fs, &acked, &Fleet::new(), MESSAGES_PER_LIFE);
        let n = acked.lock().unwrap().records.len();
        assert!(n >= MESSAGES_PER_LIFE, "only {n} messages acknowledged");
        fs.ops()
    };
    assert!(ops > 50, "a life made only {ops} storage calls");
    println!("power cuts: a first life makes {ops} storage calls");

    let mut total = 0;
    let mut cut = 0;
    while cut < cuts {
        // A new hub from scratch every few cuts, so that cuts also fall in first starts.
        let (mut fs, acked, fleet) = (SimFs::new(), Mutex::default(), Fleet::new());
        for _ in 0..LIVES_PER_HUB.min(cuts - cut) {
            let at = 1 + rng.below(ops + ops / 8);
            let torn = cut % 2 == 1;
            // Every other pair of cuts, the call that loses the power takes effect first.
            let landed = cut % 4 >= 2;
            if landed {
                fs.cut_after_landing(at);
            } else {
                fs.cut_after(at);
            }
            life(&fs, &acked, &fleet, MESSAGES_PER_LIFE);
            fs = survivor(&fs, torn, &mut rng);
            let what = format!(
                "cut {cut} ({}, at storage call {at}, landed: {landed}, seed {seed})",
                if torn { "torn" } else { "strict" }
            );
            let a = acked.lock().unwrap();
            // The check's own start makes writes (repair, perhaps a genesis block): the next
            // life starts from them, and its cut may undo what of them was not synced.
            drop(restart_and_check(&fs, &a, &what));
            total += a.records.len();
            cut += 1;
        }
    }
    println!("power cuts: {cuts} cuts, {total} acknowledged records checked after them");
}

/// Every instant of a first start (data directory, staged key, store, genesis block, key
/// renamed, operator token), cut strictly and torn: the next start always succeeds, and
/// with the key and token the first one handed out if it got that far.
#[test]
fn a_first_start_cut_at_any_instant_starts_again_with_what_it_handed_out() {
    let mut rng = Rng(7);
    let mut calls = 1;
    loop {
        let mut done = false;
        for landed in [false, true] {
            let fs = SimFs::new();
            if landed {
                fs.cut_after_landing(calls);
            } else {
                fs.cut_after(calls);
            }
            let first = start(&fs);
            let acked = Acked {
                key: first.as_ref().ok().map(|(l, _)| l.verifier_key()),
                token: first.as_ref().ok().map(|(_, t)| t.clone()),
                ..Acked::default()
            };
            done = first.is_ok() && !fs.is_cut();
            drop(first);
            for torn in [false, true, true, true] {
                let after = survivor(&fs, torn, &mut rng);
                let what =
                    format!("first start cut at call {calls} (landed: {landed}, torn: {torn})");
                restart_and_check(&after, &acked, &what);
            }
        }
        if done {
            break;
        }
        calls += 1;
    }
    assert!(calls > 10, "a first start made only {calls} storage calls");
    println!("a first start cut at each of its {calls} storage calls");
}
