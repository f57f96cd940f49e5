//! SPEC §3.1: a `continue`/`end` naming a tx id not issued yet belongs to no transaction. It
//! never shows in the transaction that later takes the id (view, message filter,
//! investigation), stays findable by seq, device and among invalid messages, and a store
//! written before the rule (format v3) is migrated on open.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use m2mhub_core::message::Action;
use m2mhub_ledger::{
    DataDir, Ledger, LedgerConfig, MessageFilter, Submission,
    store::{Index, Store, Visit},
    verify::verify_snapshot,
};

fn open(dir: &std::path::Path, origin: &str) -> Ledger {
    let config = LedgerConfig {
        origin: None,
        default_origin: origin.into(),
    };
    Ledger::open(&DataDir::create(dir).unwrap(), &config).unwrap()
}

fn send(ledger: &Ledger, d: &mut Devices, from: &str, to: &str, action: Action, tx: u64) -> u64 {
    let m = d.message(from, to, action, tx, None);
    record(ledger.append(vec![Submission::Message(m)]).remove(0)).seq
}

/// Checks the squatter at `squat` (named tx 4) is kept out of tx 4, which `genuine` hold.
fn assert_not_in_tx_4(ledger: &Ledger, squat: u64, genuine: &[u64]) {
    let squatter = ledger.record(squat).unwrap();
    assert_eq!((squatter.tx, squatter.provenance.as_deref()), (4, None));
    let codes: Vec<&str> = squatter.notices.iter().map(|n| n.code()).collect();
    assert_eq!(codes, ["unknown_transaction"]);

    let view = ledger.transaction(4, None, None).unwrap();
    assert_eq!(view.message_count, genuine.len() as u64);
    let seqs: Vec<u64> = view.messages.iter().map(|r| r.seq).collect();
    assert_eq!(
        seqs, genuine,
        "the view of tx 4 lists only its own messages"
    );

    let by_tx = ledger
        .messages(&MessageFilter {
            tx: Some(4),
            ..Default::default()
        })
        .unwrap()
        .items;
    assert!(by_tx.iter().all(|r| r.seq != squat), "?tx=4 never lists it");

    // Still findable: by device, among invalid messages, and in its own index.
    let by_device = ledger
        .messages(&MessageFilter {
            device: Some("low_level".into()),
            valid: Some(false),
            ..Default::default()
        })
        .unwrap()
        .items;
    assert!(by_device.iter().any(|r| r.seq == squat));
    let snap = ledger.snapshot().unwrap();
    let mut apart = Vec::new();
    snap.scan_index(Index::Unissued, 0, u64::MAX, false, 10, |seq| {
        apart.push(seq);
        Ok(Visit::More)
    })
    .unwrap();
    assert_eq!(apart, [squat]);

    // The receiver's investigation groups it under no transaction, not under tx 4.
    let reached = ledger
        .device_transactions("top_level", None, None)
        .unwrap()
        .items;
    let none = reached.iter().find(|t| t.tx.is_none()).unwrap();
    assert_eq!((none.provenance.as_deref(), none.state), (None, None));
    assert_eq!((none.messages_to_device, none.last_seq), (1, squat));
    assert!(reached.iter().all(|t| t.tx != Some(4)));
}

#[test]
fn a_continue_naming_an_unissued_tx_never_joins_the_tx_that_later_takes_the_id() {
    let tmp = tempfile::tempdir().unwrap();
    let mut d = Devices::default();
    let ledger = open(tmp.path(), "m2mhub/test");
    register_all(
        &ledger,
        &mut d,
        &[("low_level", 1), ("mid_level", 2), ("top_level", 3)],
    );
    send(&ledger, &mut d, "top_level", "low_level", Action::Begin, 0);
    // The attack: last tx id + 3, before anyone began it.
    let squat = send(
        &ledger,
        &mut d,
        "low_level",
        "top_level",
        Action::Continue,
        4,
    );
    send(&ledger, &mut d, "top_level", "mid_level", Action::Begin, 0);
    send(&ledger, &mut d, "top_level", "low_level", Action::Begin, 0);
    let begin = send(&ledger, &mut d, "mid_level", "low_level", Action::Begin, 0);
    assert_eq!(ledger.record(begin).unwrap().tx, 4);
    let reply = send(
        &ledger,
        &mut d,
        "low_level",
        "mid_level",
        Action::Continue,
        4,
    );
    assert!(ledger.record(reply).unwrap().valid);
    assert_not_in_tx_4(&ledger, squat, &[begin, reply]);
    drop(ledger);
    verify(tmp.path(), "m2mhub/test");
}

fn verify(dir: &std::path::Path, origin: &str) {
    let key = DataDir::create(dir)
        .unwrap()
        .existing_hub_key()
        .unwrap()
        .unwrap();
    let key = m2mhub_core::note::NoteSigner::new(origin, key)
        .unwrap()
        .verifier();
    let store = Store::open(&dir.join("ledger.redb")).unwrap();
    verify_snapshot(&store.snapshot().unwrap(), key).unwrap();
}

/// `testdata/stores/v3-squatter` was written by the hub at commit 8b20693 (store format v3,
/// which listed the squatter under tx 4): entries 0–2 register low/mid/top_level, 3 begins tx
/// 1, 4 is low_level's `continue` naming tx 4, 5–7 begin tx 2–4, 8 continues tx 4.
#[test]
fn a_v3_store_is_migrated_on_open_and_then_verifies() {
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/stores/v3-squatter");
    let tmp = tempfile::tempdir().unwrap();
    for f in ["hub-key", "ledger.redb"] {
        std::fs::copy(fixture.join(f), tmp.path().join(f)).unwrap();
    }
    for _ in 0..2 {
        // Opened twice: the second open finds v4 and leaves it alone.
        let ledger = open(tmp.path(), "m2mhub/v3-fixture");
        assert_not_in_tx_4(&ledger, 4, &[7, 8]);
    }
    verify(tmp.path(), "m2mhub/v3-fixture");
}
