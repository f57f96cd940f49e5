//! SPEC §5: every block's time is signed in its checkpoint (`time <unix ms>`), never
//! decreases, and every record shows it; `verify` fails on a decrease.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::*;
use m2mhub_core::{
    checkpoint::Checkpoint,
    message::Action,
    note::{NoteSigner, NoteVerifier},
};
use m2mhub_ledger::{
    Ledger, LedgerConfig, Submission, block::BlockRow, record::format_time, store::Store,
    verify::verify_snapshot,
};
use redb::{ReadableTable, TableDefinition};

const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");
const ORIGIN: &str = "m2mhub/time";

fn key() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[7; 32])
}

fn signer() -> NoteSigner {
    NoteSigner::new(ORIGIN, key()).unwrap()
}

fn verifier() -> NoteVerifier {
    signer().verifier()
}

fn open(path: &Path) -> Ledger {
    let config = LedgerConfig {
        origin: Some(ORIGIN.into()),
        default_origin: String::new(),
    };
    Ledger::open_store(Store::open(path).unwrap(), key(), &config).unwrap()
}

fn send(ledger: &Ledger, d: &mut Devices) -> m2mhub_ledger::Record {
    let m = d.message("b", "a", Action::Begin, 0, None);
    record(ledger.append(vec![Submission::Message(m)]).remove(0))
}

/// Re-signs the last block with `time_ms`, as a hub holding its key could.
fn resign_last_block(path: &Path, time_ms: u64) {
    let db = redb::Database::open(path).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let mut blocks = txn.open_table(BLOCKS).unwrap();
        let (height, mut row) = {
            let (k, v) = blocks.last().unwrap().unwrap();
            let row: BlockRow = serde_json::from_slice(v.value()).unwrap();
            (k.value(), row)
        };
        move_rates(&txn, row.time_ms, time_ms);
        let mut cp = Checkpoint::open(&row.checkpoint, &verifier()).unwrap();
        cp.time_ms = Some(time_ms);
        row.checkpoint = cp.sign(&signer()).unwrap();
        row.hash = hex::encode(cp.block_hash());
        row.time_ms = time_ms;
        blocks
            .insert(height, serde_json::to_vec(&row).unwrap().as_slice())
            .unwrap();
    }
    txn.commit().unwrap();
}

/// Moves the rate rows of the last block's one message (a valid `begin` from "b", whose
/// device id is 1) from `old_ms` to `new_ms`, as if the block had been sealed then: the
/// rates are kept per minute and hour of block time, and `verify` checks them against it.
fn move_rates(txn: &redb::WriteTransaction, old_ms: u64, new_ms: u64) {
    const MINUTES: TableDefinition<u64, [u64; 2]> = TableDefinition::new("rates_minute");
    const HOURS: TableDefinition<u64, [u64; 2]> = TableDefinition::new("rates_hour");
    const DEVICE_HOURS: TableDefinition<(u64, u32), [u64; 2]> =
        TableDefinition::new("device_rates_hour");
    fn shift<K: redb::Key + 'static>(
        t: &mut redb::Table<'_, K, [u64; 2]>,
        old: K::SelfType<'_>,
        new: K::SelfType<'_>,
    ) where
        for<'a> K::SelfType<'a>: Copy,
    {
        let [n, bad] = t.get(old).unwrap().unwrap().value();
        if n == 1 {
            t.remove(old).unwrap();
        } else {
            t.insert(old, [n - 1, bad]).unwrap();
        }
        let [n, bad] = t.get(new).unwrap().map_or([0, 0], |v| v.value());
        t.insert(new, [n + 1, bad]).unwrap();
    }
    let (m, h) = (60_000, 3_600_000);
    shift(
        &mut txn.open_table(MINUTES).unwrap(),
        old_ms / m,
        new_ms / m,
    );
    shift(&mut txn.open_table(HOURS).unwrap(), old_ms / h, new_ms / h);
    shift(
        &mut txn.open_table(DEVICE_HOURS).unwrap(),
        (old_ms / h, 1),
        (new_ms / h, 1),
    );
}

fn verify(path: &Path) -> Result<u64, m2mhub_ledger::verify::Failure> {
    let store = Store::open(path).unwrap();
    verify_snapshot(&store.snapshot().unwrap(), verifier()).map(|s| s.entries)
}

#[test]
fn records_show_their_blocks_signed_time() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("ledger.redb");
    let ledger = open(&path);
    let mut d = Devices::default();
    register_all(&ledger, &mut d, &[("a", 1), ("b", 2)]);
    let r = send(&ledger, &mut d);
    let block = ledger.block(r.block).unwrap();
    let cp = Checkpoint::open(&block.checkpoint, &verifier()).unwrap();
    let t = cp.time_ms.unwrap();
    assert!(block.time_signed && block.time_ms == t);
    assert_eq!(r.time, Some(format_time(t)));
    // Read back, the record shows the same time.
    assert_eq!(ledger.record(r.seq).unwrap().time, r.time);
    drop(ledger);
    verify(&path).unwrap();
}

#[test]
fn block_time_never_decreases_and_verify_names_a_decrease() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("ledger.redb");
    let mut d = Devices::default();
    {
        let ledger = open(&path);
        register_all(&ledger, &mut d, &[("a", 1), ("b", 2)]);
        send(&ledger, &mut d);
    }
    // The last block says it was sealed a day from now, as if the clock jumped ahead.
    let ahead = m2mhub_ledger::now_ms() + 86_400_000;
    resign_last_block(&path, ahead);
    verify(&path).unwrap();
    {
        // The clock is back to now: the next block still takes the later time.
        let ledger = open(&path);
        let r = send(&ledger, &mut d);
        assert_eq!(r.time, Some(format_time(ahead)));
    }
    verify(&path).unwrap();
    // A hub that signs an earlier time for a later block is caught.
    resign_last_block(&path, ahead - 1);
    let failure = verify(&path).unwrap_err();
    assert!(
        failure.reason.contains("before the previous block"),
        "{failure}"
    );
}
