//! The investigator's tables (issue 12): incidents, device activity, registry history, the
//! transactions a device began and the invalid messages it caused are kept on append, checked
//! by `verify`, and backfilled when a store of format v4 is opened.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use m2mhub_core::{entry::Entry, message::Action};
use m2mhub_ledger::{
    DataDir, DeviceActivity, HistoryKind, IncidentItem, LastSeen, Ledger, LedgerConfig,
    MessageFilter, Submission, store::Store, verify::verify_snapshot,
};

fn open(dir: &std::path::Path, origin: &str) -> Ledger {
    let config = LedgerConfig {
        origin: None,
        default_origin: origin.into(),
    };
    Ledger::open(&DataDir::create(dir).unwrap(), &config).unwrap()
}

fn append(ledger: &Ledger, subs: Vec<Submission>) {
    for r in ledger.append(subs) {
        r.unwrap();
    }
}

/// What `testdata/stores/v4-investigation` holds, written by the hub at commit 6fd14bf (store
/// format v4), one `append` per block:
/// 0–2 register low/mid/top_level; 3–6 the paper's first four messages (tx 1, 6 invalid);
/// 7–10 the next four (7 tx 2 invalid, 8 names unissued tx 6000, 10 tx 3 invalid); 11 grants
/// top_level an exception for low_level; 12 low_level begins tx 4; 13 withdraws it and 14
/// re-keys mid_level; 15 mid_level begins tx 5 (invalid) and 16 low_level names unissued tx
/// 9000; 17 revokes mid_level; 18 top_level begins tx 6 to the revoked mid_level (invalid).
fn scenario(ledger: &Ledger) {
    let mut d = Devices::default();
    register_all(ledger, &mut d, &PAPER_DEVICES);
    let sc = paper_scenario(&mut d);
    let (a, b) = sc.split_at(4);
    for part in [a, b] {
        append(
            ledger,
            part.iter()
                .map(|(m, _, _)| Submission::Message(m.clone()))
                .collect(),
        );
    }
    let grant = Entry::ExceptionGranted {
        device: name("top_level"),
        sender: name("low_level"),
    };
    append(ledger, vec![Submission::Registry(grant)]);
    let m = d.message("low_level", "top_level", Action::Begin, 0, None);
    append(ledger, vec![Submission::Message(m)]);
    let withdraw = Entry::ExceptionWithdrawn {
        device: name("top_level"),
        sender: name("low_level"),
    };
    let rekey = d.rekey("mid_level").0;
    append(
        ledger,
        vec![Submission::Registry(withdraw), Submission::Registry(rekey)],
    );
    let m = d.message("mid_level", "top_level", Action::Begin, 0, None);
    let m2 = d.message("low_level", "mid_level", Action::Continue, 9000, None);
    append(
        ledger,
        vec![Submission::Message(m), Submission::Message(m2)],
    );
    let revoke = Entry::DeviceRevoked {
        device: name("mid_level"),
    };
    append(ledger, vec![Submission::Registry(revoke)]);
    let m = d.message("top_level", "mid_level", Action::Begin, 0, None);
    append(ledger, vec![Submission::Message(m)]);
}

/// (kind, tx or sender, provenance, state, invalid, messages, first, last, notices).
type Row = (
    &'static str,
    String,
    Option<String>,
    Option<String>,
    u64,
    Option<u64>,
    u64,
    u64,
    Vec<&'static str>,
);

fn incident_rows(items: &[IncidentItem]) -> Vec<Row> {
    items
        .iter()
        .map(|i| match i {
            IncidentItem::Transaction {
                tx,
                provenance,
                state,
                invalid_count,
                message_count,
                first_invalid_seq,
                last_invalid_seq,
                last_time,
                notices,
            } => {
                assert!(last_time.is_some());
                (
                    "transaction",
                    tx.to_string(),
                    Some(provenance.clone()),
                    Some(format!("{state:?}")),
                    *invalid_count,
                    Some(*message_count),
                    *first_invalid_seq,
                    *last_invalid_seq,
                    notices.iter().map(|n| n.code()).collect(),
                )
            }
            IncidentItem::NoTransaction {
                sender,
                invalid_count,
                first_invalid_seq,
                last_invalid_seq,
                last_time,
                notices,
            } => {
                assert!(last_time.is_some());
                (
                    "no_transaction",
                    sender.clone(),
                    None,
                    None,
                    *invalid_count,
                    None,
                    *first_invalid_seq,
                    *last_invalid_seq,
                    notices.iter().map(|n| n.code()).collect(),
                )
            }
        })
        .collect()
}

fn row(
    kind: &'static str,
    id: &str,
    prov: Option<&str>,
    state: Option<&str>,
    counts: (u64, Option<u64>),
    seqs: (u64, u64),
    notices: &[&'static str],
) -> Row {
    (
        kind,
        id.into(),
        prov.map(Into::into),
        state.map(Into::into),
        counts.0,
        counts.1,
        seqs.0,
        seqs.1,
        notices.to_vec(),
    )
}

fn activity(ledger: &Ledger, n: &str) -> (u64, u64, u64, u64, Option<u64>) {
    let a: DeviceActivity = ledger.device_activity(n).unwrap();
    if let Some(LastSeen { time, .. }) = &a.last_seen {
        assert!(time.is_some());
    }
    (
        a.sent,
        a.received,
        a.invalid_caused,
        a.transactions_begun,
        a.last_seen.map(|l| l.seq),
    )
}

/// Checks every answer the tables give about [`scenario`].
fn check(ledger: &Ledger) {
    let page = ledger.incidents(None, None).unwrap();
    assert_eq!(
        (page.total_groups, page.total_invalid, page.next),
        (7, 7, None)
    );
    let want = vec![
        row(
            "transaction",
            "6",
            Some("top_level"),
            Some("Rejected"),
            (1, Some(1)),
            (18, 18),
            &["receiver_revoked"],
        ),
        row(
            "no_transaction",
            "low_level",
            None,
            None,
            (1, None),
            (16, 16),
            &["unknown_transaction"],
        ),
        row(
            "transaction",
            "5",
            Some("mid_level"),
            Some("Rejected"),
            (1, Some(1)),
            (15, 15),
            &["insufficient_clearance"],
        ),
        row(
            "transaction",
            "3",
            Some("mid_level"),
            Some("Open"),
            (1, Some(2)),
            (10, 10),
            &["insufficient_clearance"],
        ),
        row(
            "no_transaction",
            "top_level",
            None,
            None,
            (1, None),
            (8, 8),
            &["unknown_transaction"],
        ),
        row(
            "transaction",
            "2",
            Some("low_level"),
            Some("Rejected"),
            (1, Some(1)),
            (7, 7),
            &["insufficient_clearance"],
        ),
        row(
            "transaction",
            "1",
            Some("top_level"),
            Some("Closed"),
            (1, Some(4)),
            (6, 6),
            &["transaction_closed"],
        ),
    ];
    assert_eq!(incident_rows(&page.items), want);
    // Paged by two: the cursor is the last item's latest invalid seq.
    let mut got = Vec::new();
    let mut after = None;
    let mut cursors = Vec::new();
    loop {
        let p = ledger.incidents(after, Some(2)).unwrap();
        got.extend(incident_rows(&p.items));
        cursors.push(p.next);
        match p.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(got, want);
    assert_eq!(cursors, [Some(16), Some(10), Some(7), None]);

    // (sent, received, invalid caused, begun, last seen)
    assert_eq!(activity(ledger, "low_level"), (5, 4, 2, 2, Some(16)));
    assert_eq!(activity(ledger, "mid_level"), (2, 3, 2, 2, Some(15)));
    assert_eq!(activity(ledger, "top_level"), (5, 5, 3, 2, Some(18)));

    let history = |n: &str| -> Vec<(u64, HistoryKind, Option<String>, Option<String>)> {
        let p = ledger.device_history(n, None, None).unwrap();
        assert_eq!(p.next, None);
        p.items
            .into_iter()
            .map(|h| (h.seq, h.kind, h.by, h.of))
            .collect()
    };
    use HistoryKind::*;
    let s = |x: &str| Some(x.to_string());
    assert_eq!(
        history("low_level"),
        [
            (0, Register, None, None),
            (11, Grant, None, s("top_level")),
            (13, Withdraw, None, s("top_level"))
        ]
    );
    assert_eq!(
        history("top_level"),
        [
            (2, Register, None, None),
            (11, Grant, s("low_level"), None),
            (13, Withdraw, s("low_level"), None)
        ]
    );
    assert_eq!(
        history("mid_level"),
        [
            (1, Register, None, None),
            (14, Rekey, None, None),
            (17, Revoke, None, None)
        ]
    );

    let begun = ledger.device_begun("mid_level", None, None).unwrap();
    let txs: Vec<_> = begun
        .items
        .iter()
        .map(|t| (t.tx, t.last_seq, t.message_count, t.invalid_count))
        .collect();
    assert_eq!(
        txs,
        [
            (Some(5), 15, Some(1), Some(1)),
            (Some(3), 9, Some(2), Some(1))
        ]
    );

    let caused = ledger
        .messages(&MessageFilter {
            provenance: Some("top_level".into()),
            valid: Some(false),
            ..Default::default()
        })
        .unwrap();
    let seqs: Vec<u64> = caused.items.iter().map(|r| r.seq).collect();
    assert_eq!((seqs, caused.total), (vec![6, 8, 18], Some(3)));

    // Every message is found by its leaf hash through the index.
    for r in ledger.messages(&MessageFilter::default()).unwrap().items {
        let mut leaf = [0u8; 32];
        hex::decode_to_slice(&r.leaf_hash, &mut leaf).unwrap();
        let found = ledger
            .messages(&MessageFilter {
                leaf_hash: Some(leaf),
                ..Default::default()
            })
            .unwrap();
        assert_eq!((found.items, found.total), (vec![r], Some(1)));
    }
}

#[test]
fn a_ledger_keeps_incidents_activity_and_history_and_verify_checks_them() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let ledger = open(tmp.path(), "m2mhub/v4-fixture");
        scenario(&ledger);
        check(&ledger);
    }
    verify(tmp.path(), "m2mhub/v4-fixture");
}

/// Opens a copy of the store in `testdata/stores/<name>` twice (the second open finds the
/// current format and leaves it alone): it answers as a new store and passes `verify`.
fn migrated_fixture_answers_as_new(name: &str) {
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/stores")
        .join(name);
    let tmp = tempfile::tempdir().unwrap();
    for f in ["hub-key", "ledger.redb"] {
        std::fs::copy(fixture.join(f), tmp.path().join(f)).unwrap();
    }
    for _ in 0..2 {
        let ledger = open(tmp.path(), "m2mhub/v4-fixture");
        check(&ledger);
    }
    verify(tmp.path(), "m2mhub/v4-fixture");
}

#[test]
fn a_v4_store_is_backfilled_on_open_and_answers_as_a_new_one() {
    migrated_fixture_answers_as_new("v4-investigation");
}

/// `testdata/stores/v5-investigation`: the same scenario written by the hub at commit 41ccf5b
/// (store format v5, one row per device in `device_activity` and `device_rates_hour`).
#[test]
fn a_v5_store_gets_its_per_device_rows_packed_on_open() {
    migrated_fixture_answers_as_new("v5-investigation");
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

/// The leaf-index key of the entry at `seq` (in leaf epoch 0: the low 13 bits are the seq).
fn leaf_row_of(l: &impl redb::ReadableTable<(u32, u64), ()>, seq: u64) -> (u32, u64) {
    l.iter()
        .unwrap()
        .map(|r| r.unwrap().0.value())
        .find(|k| k.0 == 0 && k.1 & 8191 == seq)
        .unwrap()
}

#[test]
fn verify_names_the_entry_behind_each_damaged_investigation_row() {
    use redb::{ReadableTable, TableDefinition};
    const INCIDENTS: TableDefinition<(u8, u64), [u64; 4]> = TableDefinition::new("incidents");
    const ORDER: TableDefinition<u64, (u8, u64)> = TableDefinition::new("incident_order");
    const ACTIVITY: TableDefinition<u32, &[u8]> = TableDefinition::new("device_activity");
    const HISTORY: TableDefinition<(u32, u64), ()> = TableDefinition::new("device_history");
    const BEGUN: TableDefinition<(u32, u32, u64), ()> = TableDefinition::new("begun_txs");
    const CAUSED: TableDefinition<(u32, u32, u64), ()> = TableDefinition::new("caused_invalid");
    const MINUTES: TableDefinition<u64, [u64; 2]> = TableDefinition::new("rates_minute");
    const LEAVES: TableDefinition<(u32, u64), ()> = TableDefinition::new("leaf_index");

    let tmp = tempfile::tempdir().unwrap();
    scenario(&open(tmp.path(), "m2mhub/v4-fixture"));
    type Edit = Box<dyn FnOnce(&redb::WriteTransaction)>;
    let cases: Vec<(&str, Edit, u64)> = vec![
        (
            "an incident's count raised",
            Box::new(|t| {
                let mut g = t.open_table(INCIDENTS).unwrap();
                let mut v = g.get((0, 3)).unwrap().unwrap().value();
                v[0] += 1;
                g.insert((0, 3), v).unwrap();
            }),
            10,
        ),
        (
            "an incident dropped from the order",
            Box::new(|t| {
                t.open_table(ORDER).unwrap().remove(15).unwrap();
            }),
            15,
        ),
        (
            "a device's sent count raised",
            Box::new(|t| {
                let mut a = t.open_table(ACTIVITY).unwrap();
                // Row 0, slot 0 (device 0): its first counter, `sent`, little-endian.
                let mut v = a.get(0).unwrap().unwrap().value().to_vec();
                v[0] += 1;
                a.insert(0, v.as_slice()).unwrap();
            }),
            16,
        ),
        (
            "a history row removed",
            Box::new(|t| {
                t.open_table(HISTORY).unwrap().remove((1, 14)).unwrap();
            }),
            14,
        ),
        (
            "a begun row removed",
            Box::new(|t| {
                t.open_table(BEGUN).unwrap().remove((0, 1, 9)).unwrap();
            }),
            9,
        ),
        (
            "the last minute's message count raised",
            Box::new(|t| {
                let mut m = t.open_table(MINUTES).unwrap();
                let (k, mut v) = {
                    let (k, v) = m.last().unwrap().unwrap();
                    (k.value(), v.value())
                };
                v[0] += 1;
                m.insert(k, v).unwrap();
            }),
            18,
        ),
        (
            "a leaf-index row removed",
            Box::new(|t| {
                let mut l = t.open_table(LEAVES).unwrap();
                let k = leaf_row_of(&l, 12);
                l.remove(k).unwrap();
            }),
            12,
        ),
        (
            "a leaf-index row's hash bits changed",
            Box::new(|t| {
                let mut l = t.open_table(LEAVES).unwrap();
                let k = leaf_row_of(&l, 9);
                l.remove(k).unwrap();
                l.insert((k.0, k.1 ^ (1 << 40)), ()).unwrap();
            }),
            9,
        ),
        (
            "a caused row added",
            Box::new(|t| {
                t.open_table(CAUSED).unwrap().insert((0, 2, 5), ()).unwrap();
            }),
            5,
        ),
    ];
    for (what, f, seq) in cases {
        let dir = tempfile::tempdir().unwrap();
        for file in ["hub-key", "ledger.redb"] {
            std::fs::copy(tmp.path().join(file), dir.path().join(file)).unwrap();
        }
        {
            let db = redb::Database::open(dir.path().join("ledger.redb")).unwrap();
            let txn = db.begin_write().unwrap();
            f(&txn);
            txn.commit().unwrap();
        }
        let key = DataDir::create(dir.path())
            .unwrap()
            .existing_hub_key()
            .unwrap()
            .unwrap();
        let key = m2mhub_core::note::NoteSigner::new("m2mhub/v4-fixture", key)
            .unwrap()
            .verifier();
        let store = Store::open_checked(&dir.path().join("ledger.redb")).unwrap();
        let failure = verify_snapshot(&store.snapshot().unwrap(), key).expect_err(what);
        assert_eq!(failure.seq, Some(seq), "{what}: {failure}");
    }
}

#[test]
fn leaf_hashes_are_found_across_leaf_epochs() {
    let tmp = tempfile::tempdir().unwrap();
    let ledger = open(tmp.path(), "m2mhub/leaf-epochs");
    let mut d = Devices::default();
    register_all(&ledger, &mut d, &[("a", 1), ("b", 1)]);
    // 9,000 messages: leaf epochs 0 and 1 (8,192 entries each).
    for _ in 0..9 {
        let subs = (0..1000)
            .map(|_| Submission::Message(d.message("a", "b", Action::Continue, 77, None)))
            .collect();
        append(&ledger, subs);
    }
    for seq in [2u64, 8191, 8192, 9001] {
        let r = ledger.record(seq).unwrap();
        let mut leaf = [0u8; 32];
        hex::decode_to_slice(&r.leaf_hash, &mut leaf).unwrap();
        let found = ledger
            .messages(&MessageFilter {
                leaf_hash: Some(leaf),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(found.items, vec![r], "seq {seq}");
    }
    drop(ledger);
    verify(tmp.path(), "m2mhub/leaf-epochs");
}
