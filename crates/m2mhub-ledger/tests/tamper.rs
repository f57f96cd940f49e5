//! Tamper evidence across the store: every kind of row `verify` can be lied to with (entries,
//! contents, stored Merkle hashes, blocks, every index) is edited behind the hub's back, and
//! `verify` must fail naming the first bad seq; then bytes of the file itself are flipped,
//! zeroed, truncated and pages swapped at random, and every change that alters what the store
//! holds must be reported (a change the store never reads, in free space, may pass).
//!
//! CI runs 200 random file edits; `M2MHUB_TAMPER_EDITS=5000 cargo test --release -p
//! m2mhub-ledger --test tamper` is the long run. `M2MHUB_TAMPER_SEED` replays one.
#![allow(clippy::unwrap_used)]

mod common;

use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    path::Path,
};

use common::*;
use m2mhub_core::{hash::sha256, message::Action};
use m2mhub_ledger::{
    Ledger, LedgerConfig, Submission, store::Store, verify::Failure, verify::verify_snapshot,
};
use redb::{ReadableTable, TableDefinition};

const KEY: [u8; 32] = [42; 32];

fn config() -> LedgerConfig {
    LedgerConfig {
        origin: Some("m2mhub/tamper".into()),
        default_origin: String::new(),
    }
}

fn key() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&KEY)
}

fn verifier() -> m2mhub_core::note::NoteVerifier {
    m2mhub_core::note::NoteSigner::new("m2mhub/tamper", key())
        .unwrap()
        .verifier()
}

/// A ledger of a few blocks: six devices, valid chains and invalid messages.
fn build(path: &Path) {
    let ledger = Ledger::open_store(Store::open(path).unwrap(), key(), &config()).unwrap();
    let mut d = Devices::default();
    let devices = [("a", 1), ("b", 1), ("c", 2), ("d", 2), ("e", 3), ("f", 3)];
    register_all(&ledger, &mut d, &devices);
    let mut tx = 0;
    for round in 0..6 {
        let mut subs = Vec::new();
        for i in 0..6 {
            let (from, to) = (devices[i].0, devices[(i + round + 1) % 6].0);
            subs.push(Submission::Message(d.message(
                from,
                to,
                Action::Begin,
                0,
                None,
            )));
        }
        for r in ledger.append(subs) {
            let r = record(r);
            tx = tx.max(r.tx);
        }
        // Continue the last tx (some senders are not participants: invalid rows too).
        let subs = (0..6)
            .map(|i| Submission::Message(d.message(devices[i].0, "a", Action::Continue, tx, None)))
            .collect();
        for r in ledger.append(subs) {
            record(r);
        }
    }
}

fn verify(path: &Path) -> Result<u64, Failure> {
    let store = Store::open_checked(path).map_err(|e| Failure {
        seq: None,
        block: None,
        reason: format!("open: {e}"),
    })?;
    let snap = store.snapshot().map_err(|e| Failure {
        seq: None,
        block: None,
        reason: format!("snapshot: {e}"),
    })?;
    verify_snapshot(&snap, verifier()).map(|s| s.entries)
}

/// Edits a copy of the store through redb, as an attacker with file access would.
fn edit(
    original: &Path,
    dir: &Path,
    f: impl FnOnce(&redb::WriteTransaction),
) -> std::path::PathBuf {
    let path = dir.join("edited.redb");
    std::fs::copy(original, &path).unwrap();
    let db = redb::Database::open(&path).unwrap();
    let txn = db.begin_write().unwrap();
    f(&txn);
    txn.commit().unwrap();
    path
}

const ENTRIES: TableDefinition<u64, &[u8]> = TableDefinition::new("entries");
const CONTENTS: TableDefinition<u64, &str> = TableDefinition::new("contents");
const HASHES: TableDefinition<u64, &[u8]> = TableDefinition::new("hashes");
const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");
const BLOCK_STARTS: TableDefinition<u64, u64> = TableDefinition::new("block_starts");
const TX_MSGS: TableDefinition<(u64, u64), ()> = TableDefinition::new("tx_messages");
const DEVICE_MSGS: TableDefinition<(u32, u32, u64), ()> = TableDefinition::new("device_messages");
const INVALID: TableDefinition<u64, ()> = TableDefinition::new("invalid_messages");
const COUNTERS: TableDefinition<(u32, u32, u64), u64> = TableDefinition::new("counters");
const LAST_COUNTERS: TableDefinition<u32, u64> = TableDefinition::new("last_counters");
const REGISTRY: TableDefinition<u64, ()> = TableDefinition::new("registry_entries");

#[test]
fn every_edited_row_is_named_by_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let original = tmp.path().join("ledger.redb");
    build(&original);
    let entries = verify(&original).unwrap();
    assert_eq!(entries, 6 + 72);

    // (what, edit, the seq verify must name)
    type Edit = Box<dyn FnOnce(&redb::WriteTransaction)>;
    let cases: Vec<(&str, Edit, Option<u64>)> = vec![
        (
            "entry deleted",
            Box::new(|t| {
                t.open_table(ENTRIES).unwrap().remove(40).unwrap();
            }),
            Some(40),
        ),
        (
            "contents edited",
            Box::new(|t| {
                t.open_table(CONTENTS)
                    .unwrap()
                    .insert(33, "forged")
                    .unwrap();
            }),
            Some(33),
        ),
        (
            "contents deleted (not pruned)",
            Box::new(|t| {
                t.open_table(CONTENTS).unwrap().remove(35).unwrap();
            }),
            Some(35),
        ),
        (
            "stored hash edited",
            Box::new(|t| {
                let mut h = t.open_table(HASHES).unwrap();
                let (k, mut v) = {
                    let (k, v) = h.iter().unwrap().nth(2).unwrap().unwrap();
                    (k.value(), v.value().to_vec())
                };
                v[40] ^= 1; // the second stored hash of the block: its first leaf's parent
                h.insert(k, v.as_slice()).unwrap();
            }),
            None, // checked below: names a seq of that block
        ),
        (
            "tx index row removed",
            Box::new(|t| {
                let mut i = t.open_table(TX_MSGS).unwrap();
                let k = i.iter().unwrap().nth(10).unwrap().unwrap().0.value();
                i.remove(k).unwrap();
            }),
            None,
        ),
        (
            "tx index row added",
            Box::new(|t| {
                t.open_table(TX_MSGS).unwrap().insert((1, 50), ()).unwrap();
            }),
            Some(50),
        ),
        (
            "device index row removed",
            Box::new(|t| {
                t.open_table(DEVICE_MSGS)
                    .unwrap()
                    .remove((0, 2, 20))
                    .unwrap();
            }),
            None,
        ),
        (
            "device index row added",
            Box::new(|t| {
                t.open_table(DEVICE_MSGS)
                    .unwrap()
                    .insert((0, 5, 7), ())
                    .unwrap();
            }),
            Some(7),
        ),
        (
            "counter index points elsewhere",
            Box::new(|t| {
                let mut c = t.open_table(COUNTERS).unwrap();
                let (k, v) = {
                    let (k, v) = c.iter().unwrap().nth(5).unwrap().unwrap();
                    (k.value(), v.value())
                };
                c.insert(k, v + 1).unwrap();
            }),
            None,
        ),
        (
            "device row filed under another epoch",
            Box::new(|t| {
                let mut d = t.open_table(DEVICE_MSGS).unwrap();
                d.remove((0, 2, 20)).unwrap();
                d.insert((1, 2, 20), ()).unwrap();
            }),
            Some(20),
        ),
        (
            "last counter edited",
            Box::new(|t| {
                let mut c = t.open_table(LAST_COUNTERS).unwrap();
                let v = c.get(3).unwrap().unwrap().value();
                c.insert(3, v + 1).unwrap();
            }),
            None,
        ),
        (
            "invalid index row added",
            Box::new(|t| {
                t.open_table(INVALID).unwrap().insert(6, ()).unwrap();
            }),
            Some(6),
        ),
        (
            "invalid index row removed",
            Box::new(|t| {
                let mut i = t.open_table(INVALID).unwrap();
                let k = i.iter().unwrap().next().unwrap().unwrap().0.value();
                i.remove(k).unwrap();
            }),
            None,
        ),
        (
            "registry index row removed",
            Box::new(|t| {
                t.open_table(REGISTRY).unwrap().remove(3).unwrap();
            }),
            Some(3),
        ),
        (
            "block start moved",
            Box::new(|t| {
                let mut b = t.open_table(BLOCK_STARTS).unwrap();
                let (k, v) = {
                    let (k, v) = b.iter().unwrap().nth(3).unwrap().unwrap();
                    (k.value(), v.value())
                };
                b.remove(k).unwrap();
                b.insert(k + 1, v).unwrap();
            }),
            None,
        ),
        (
            "checkpoint text edited",
            Box::new(|t| {
                let mut b = t.open_table(BLOCKS).unwrap();
                let mut row = b.get(4).unwrap().unwrap().value().to_vec();
                let i = row.iter().position(|c| *c == b'\\').unwrap();
                row[i + 2] ^= 1;
                b.insert(4, row.as_slice()).unwrap();
            }),
            None,
        ),
    ];
    for (what, f, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        let path = edit(&original, dir.path(), f);
        let failure = verify(&path).expect_err(what);
        if let Some(seq) = want {
            assert_eq!(failure.seq, Some(seq), "{what}: {failure}");
        } else {
            assert!(
                failure.seq.is_some() || failure.block.is_some(),
                "{what}: {failure} names neither an entry nor a block"
            );
        }
    }
}

/// Everything the store holds that answers depend on, as one digest.
fn logical_digest(path: &Path) -> [u8; 32] {
    let store = Store::open(path).unwrap();
    let snap = store.snapshot().unwrap();
    let mut h = Vec::new();
    let size = snap.size().unwrap();
    for (seq, bytes) in snap.entries(0, size).unwrap() {
        h.extend(seq.to_be_bytes());
        h.extend(sha256(&bytes));
        h.extend(snap.contents(seq).unwrap().unwrap_or_default().bytes());
    }
    for b in snap.blocks(None, 10_000).unwrap() {
        h.extend(serde_json::to_vec(&b).unwrap());
    }
    for (start, row) in snap.hash_rows(0, u64::MAX).unwrap() {
        h.extend(start.to_be_bytes());
        h.extend(row);
    }
    snap.for_each_index_row(|seq, row| h.extend(format!("{seq}{row:?}").bytes()))
        .unwrap();
    snap.for_each_tx(|tx, s| {
        h.extend(format!("{tx}{s:?}").bytes());
        Ok(())
    })
    .unwrap();
    h.extend(format!("{:?}", snap.block_starts().unwrap()).bytes());
    sha256(&h)
}

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[test]
fn random_file_edits_are_detected_or_change_nothing() {
    let edits: u64 = std::env::var("M2MHUB_TAMPER_EDITS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let seed: u64 = std::env::var("M2MHUB_TAMPER_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("tamper test: {edits} edits, M2MHUB_TAMPER_SEED={seed}");
    let tmp = tempfile::tempdir().unwrap();
    let original = tmp.path().join("ledger.redb");
    build(&original);
    let want = logical_digest(&original);
    let bytes = std::fs::read(&original).unwrap();
    let mut rng = Rng(seed);
    let (mut detected, mut harmless, mut panics) = (0, 0, 0);
    for i in 0..edits {
        let mut b = bytes.clone();
        let at = (rng.next() % b.len() as u64) as usize;
        let what = match i % 4 {
            0 => {
                b[at] ^= 1 << (rng.next() % 8);
                format!("bit flip at {at}")
            }
            1 => {
                let end = (at + 64).min(b.len());
                b[at..end].fill(0);
                format!("64 bytes zeroed at {at}")
            }
            2 => {
                b.truncate(at);
                format!("truncated to {at}")
            }
            _ => {
                let pages = b.len() / 4096;
                let (p, q) = (
                    (rng.next() % pages as u64) as usize,
                    (rng.next() % pages as u64) as usize,
                );
                for k in 0..4096 {
                    b.swap(p * 4096 + k, q * 4096 + k);
                }
                format!("pages {p} and {q} swapped")
            }
        };
        let path = tmp.path().join("edited.redb");
        std::fs::write(&path, &b).unwrap();
        // The hub's start-up check must give an answer, not a panic, whatever it finds.
        let started = catch_unwind(AssertUnwindSafe(|| {
            Store::open_checked(&path).and_then(|s| Ledger::open_store(s, key(), &config()))
        }));
        assert!(started.is_ok(), "{what}: the start-up check panicked");
        drop(started);
        std::fs::write(&path, &b).unwrap();
        let outcome = catch_unwind(AssertUnwindSafe(|| verify(&path)));
        match outcome {
            Err(_) => panics += 1,
            Ok(Err(_)) => detected += 1,
            Ok(Ok(_)) => {
                // Passed: then nothing an answer depends on may have changed.
                std::fs::write(&path, &b).unwrap();
                let got = catch_unwind(AssertUnwindSafe(|| logical_digest(&path)));
                assert!(
                    got.as_ref().is_ok_and(|d| *d == want),
                    "{what}: verify passed but the store's contents changed (seed {seed})"
                );
                harmless += 1;
            }
        }
    }
    println!("tamper test: {detected} detected, {harmless} harmless, {panics} panics");
    assert_eq!(
        panics, 0,
        "a corrupted file must give an error, not a panic"
    );
}
