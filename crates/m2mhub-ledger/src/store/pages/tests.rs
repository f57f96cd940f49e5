//! The counter-epoch index across epochs, and the migration that builds the bounded-answer
//! tables in a store made before them.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use ed25519_dalek::{Signer, SigningKey};
use m2mhub_core::{
    entry::{Entry, Registration},
    ids::TxId,
    message::{Action, Message},
    names::DeviceName,
};

use super::*;
use crate::{
    Ledger, LedgerConfig, Submission,
    block::{BlockRow, BlockWrite, IndexRows},
    datadir::DataDir,
    store::Store,
};

fn block(height: u64, entries: Vec<EntryWrite>) -> BlockWrite {
    BlockWrite {
        block: BlockRow {
            height,
            first_seq: entries.first().map_or(0, |e| e.seq),
            size: entries.len() as u64,
            tree_size: 0,
            root: String::new(),
            prev_hash: String::new(),
            hash: String::new(),
            time_ms: 0,
            time_signed: false,
            checkpoint: String::new(),
        },
        entries,
        hashes_start: 0,
        hashes: Vec::new(),
        txs: Vec::new(),
    }
}

fn message_row(seq: u64, sender: u32, counter: u64) -> EntryWrite {
    EntryWrite {
        seq,
        bytes: vec![0],
        contents: None,
        rows: IndexRows {
            tx: Some(1),
            devices: [Some(sender), None],
            counter: Some((sender, counter)),
            ..IndexRows::default()
        },
    }
}

#[test]
fn a_counter_is_found_in_its_epoch_whatever_the_number_of_epochs() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("s.redb")).unwrap();
    let span = 1u64 << super::super::EPOCH_BITS;
    // Sender 0 writes twice in each of 40 epochs (in two blocks); sender 1 in every fourth.
    let mut want = Vec::new();
    let mut height = 0;
    for e in 0..40u64 {
        for (k, off) in [5u64, 9].into_iter().enumerate() {
            let seq = e * span + off;
            let counter = 2 * e + k as u64 + 1;
            let mut rows = vec![message_row(seq, 0, counter)];
            want.push((0, counter, seq));
            if e % 4 == 0 && k == 0 {
                rows.push(message_row(seq + 1, 1, 1000 + e));
                want.push((1, 1000 + e, seq + 1));
            }
            height += 1;
            store.commit(&block(height, rows)).unwrap();
        }
    }
    let snap = store.snapshot().unwrap();
    for (sender, counter, seq) in want {
        assert_eq!(snap.seq_of_counter(sender, counter).unwrap(), Some(seq));
    }
    assert_eq!(snap.seq_of_counter(0, 0).unwrap(), None);
    assert_eq!(snap.seq_of_counter(0, 81).unwrap(), None, "beyond the last");
    assert_eq!(
        snap.seq_of_counter(1, 999).unwrap(),
        None,
        "before the first"
    );
    assert_eq!(snap.seq_of_counter(1, 1001).unwrap(), None, "a gap");
    assert_eq!(snap.seq_of_counter(2, 1).unwrap(), None, "another sender");
    // One row per sender per epoch it wrote in, not per block.
    assert_eq!(snap.counter_epoch_rows().unwrap().len(), 40 + 10);
}

fn ledger_with_history(dir: &std::path::Path) -> Ledger {
    let config = LedgerConfig {
        origin: None,
        default_origin: "m2mhub/migrate".into(),
    };
    let ledger = Ledger::open(&DataDir::create(dir).unwrap(), &config).unwrap();
    let keys: Vec<SigningKey> = (0..3)
        .map(|i| SigningKey::from_bytes(&[i + 40; 32]))
        .collect();
    let names = ["a", "b", "c"];
    for (n, k) in names.iter().zip(&keys) {
        let r = Entry::DeviceRegistered(Registration {
            name: DeviceName::new(n).unwrap(),
            clearance: 1,
            public_key: k.verifying_key().to_bytes(),
            exceptions: BTreeSet::new(),
            simulated: false,
        });
        ledger
            .append(vec![Submission::Registry(r)])
            .pop()
            .unwrap()
            .unwrap();
    }
    let mut counter = [0u64; 3];
    let mut subs = Vec::new();
    for i in 0..60usize {
        let s = i % 3;
        counter[s] += 1;
        // Begins to a known device are valid; every fifth goes to an unknown one.
        let to = if i % 5 == 0 {
            "ghost"
        } else {
            names[(s + 1) % 3]
        };
        let mut m = Message {
            sender: DeviceName::new(names[s]).unwrap(),
            receiver: DeviceName::new(to).unwrap(),
            action: if i < 3 {
                Action::Begin
            } else {
                Action::Continue
            },
            tx: TxId(if i < 3 { 0 } else { 1 + (i as u64 % 3) }),
            cause: None,
            counter: counter[s],
            contents: format!("{i}"),
            signature: [0; 64],
            form: m2mhub_core::message::Form::OneHub,
        };
        m.signature = keys[s].sign(&m.signing_bytes()).to_bytes();
        subs.push(Submission::Message(m));
    }
    for r in ledger.append(subs) {
        r.unwrap();
    }
    ledger
}

type Rows = (
    Vec<(u64, u64)>,
    (Vec<(u32, u64)>, Vec<u64>),
    Vec<((u32, u64), u32)>,
);

fn rows(store: &Store) -> Rows {
    let snap = store.snapshot().unwrap();
    (
        snap.tx_message_counts().unwrap(),
        snap.ranking_rows().unwrap(),
        snap.counter_epoch_rows().unwrap(),
    )
}

#[test]
fn a_store_made_before_the_tables_gets_them_when_opened() {
    let tmp = tempfile::tempdir().unwrap();
    drop(ledger_with_history(tmp.path()));
    let path = DataDir::create(tmp.path()).unwrap().store_path();
    let before = {
        let store = Store::open(&path).unwrap();
        let before = rows(&store);
        assert!(!before.0.is_empty() && !before.1.0.is_empty() && !before.2.is_empty());
        // What a store of the previous format holds: none of the tables, no version.
        let txn = store.db.begin_write().unwrap();
        txn.delete_table(TX_COUNTS).unwrap();
        txn.delete_table(PROVENANCE_INVALID).unwrap();
        txn.delete_table(RANKING).unwrap();
        txn.delete_table(COUNTER_EPOCHS).unwrap();
        txn.open_table(META).unwrap().remove(PAGES_KEY).unwrap();
        txn.commit().unwrap();
        before
    };
    let store = Store::open(&path).unwrap();
    assert_eq!(rows(&store), before);
    let version = store
        .snapshot()
        .unwrap()
        .table(META)
        .unwrap()
        .get(PAGES_KEY)
        .unwrap()
        .map(|v| v.value().to_owned());
    assert_eq!(version.as_deref(), Some(FORMAT_PAGES));
}
