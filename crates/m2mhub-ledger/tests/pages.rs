//! Bounded answers in the ledger (SPEC §5): every list reads at most 10 × `limit` index rows
//! (counted by the store's scan), pages join up to the whole list, `limit` outside 1–1,000 is
//! refused, the provenance ranking kept on append equals one recomputed from the records,
//! and chunked pruning leaves a ledger that verifies.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use m2mhub_core::message::Action;
use m2mhub_ledger::{
    DataDir, Ledger, LedgerConfig, LedgerError, MessageFilter, SCAN_FACTOR, Submission,
    store::Store, verify::verify_snapshot,
};

fn open(dir: &std::path::Path) -> Ledger {
    let config = LedgerConfig {
        origin: None,
        default_origin: "m2mhub/pages".into(),
    };
    Ledger::open(&DataDir::create(dir).unwrap(), &config).unwrap()
}

/// alpha and beta (clearance 1); beta receives `valid` valid messages in tx 1, then one
/// invalid one; alpha begins `alpha_bad` invalid transactions and beta `beta_bad`.
fn fill(ledger: &Ledger, valid: usize, alpha_bad: usize, beta_bad: usize) -> Devices {
    let mut d = Devices::default();
    register_all(ledger, &mut d, &[("alpha", 1), ("beta", 1)]);
    let mut subs = vec![Submission::Message(d.message(
        "alpha",
        "beta",
        Action::Begin,
        0,
        None,
    ))];
    for _ in 1..valid {
        subs.push(Submission::Message(d.message(
            "alpha",
            "beta",
            Action::Continue,
            1,
            None,
        )));
    }
    subs.push(Submission::Message(d.message(
        "alpha",
        "beta",
        Action::Continue,
        999,
        None,
    )));
    for _ in 0..alpha_bad {
        subs.push(Submission::Message(d.message(
            "alpha",
            "ghost",
            Action::Begin,
            0,
            None,
        )));
    }
    for _ in 0..beta_bad {
        subs.push(Submission::Message(d.message(
            "beta",
            "ghost",
            Action::Begin,
            0,
            None,
        )));
    }
    for r in ledger.append(subs) {
        record(r);
    }
    d
}

#[test]
fn a_filtered_list_reads_a_bounded_number_of_index_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let ledger = open(tmp.path());
    fill(&ledger, 300, 0, 0);
    // beta's one invalid message comes after 300 valid ones.
    for limit in [1usize, 3, 10] {
        let mut after = None;
        let mut found = Vec::new();
        let mut pages = 0;
        loop {
            let page = ledger
                .messages(&MessageFilter {
                    device: Some("beta".into()),
                    valid: Some(false),
                    after,
                    limit: Some(limit),
                    ..MessageFilter::default()
                })
                .unwrap();
            assert!(
                page.rows_read <= SCAN_FACTOR * limit as u64,
                "limit {limit}: {} rows read",
                page.rows_read
            );
            assert!(page.items.len() <= limit);
            if pages == 0 {
                assert!(page.items.is_empty() && page.next.is_some(), "{page:?}");
            }
            found.extend(page.items.iter().map(|r| r.seq));
            pages += 1;
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        assert_eq!(found, [302], "limit {limit}");
        assert!(pages > 300 / (10 * limit), "limit {limit}: {pages} pages");
    }
    // Newest first with `before`: the same budget.
    let page = ledger
        .messages(&MessageFilter {
            valid: Some(true),
            before: Some(u64::MAX),
            limit: Some(5),
            ..MessageFilter::default()
        })
        .unwrap();
    assert_eq!(
        page.items.iter().map(|r| r.seq).collect::<Vec<_>>(),
        [301, 300, 299, 298, 297]
    );
    assert_eq!(page.next, Some(297));
    assert!(page.rows_read <= 50);
}

#[test]
fn pages_join_up_and_limits_are_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let ledger = open(tmp.path());
    fill(&ledger, 37, 4, 2);
    // A transaction's pages are its messages; message_count counts them all.
    let mut seqs = Vec::new();
    let mut after = None;
    loop {
        let t = ledger.transaction(1, after, Some(10)).unwrap();
        assert_eq!(t.message_count, 37);
        assert!(t.messages.len() <= 10);
        seqs.extend(t.messages.iter().map(|r| r.seq));
        match t.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(seqs, (2..39).collect::<Vec<_>>());
    // Investigations page newest first.
    let page = ledger.device_transactions("beta", None, Some(1)).unwrap();
    // The message naming tx 999 before it existed belongs to no transaction (SPEC §3.1).
    assert_eq!(page.items[0].tx, None);
    let page = ledger
        .device_transactions("beta", page.next, Some(1))
        .unwrap();
    assert_eq!(
        (page.items[0].tx, page.items[0].provenance.as_deref()),
        (Some(1), Some("alpha"))
    );
    // Blocks, entries and devices.
    let devices = ledger.devices(None, Some(1)).unwrap();
    assert_eq!(devices.items[0].name.as_str(), "alpha");
    let devices = ledger.devices(devices.next, Some(1)).unwrap();
    assert_eq!(
        (devices.items[0].name.as_str(), devices.next),
        ("beta", None)
    );
    let entries = ledger.entries(Some(40), Some(1000)).unwrap();
    assert_eq!((entries.items.len(), entries.next), (5, None));
    // limit outside 1–1,000.
    for bad in [0, 1001] {
        let l = Some(bad);
        let refused = |r: Result<(), LedgerError>| matches!(r, Err(LedgerError::BadQuery(_)));
        assert!(refused(
            ledger
                .messages(&MessageFilter {
                    limit: l,
                    ..Default::default()
                })
                .map(drop)
        ));
        assert!(refused(ledger.transaction(1, None, l).map(drop)));
        assert!(refused(ledger.blocks(None, l).map(drop)));
        assert!(refused(ledger.entries(None, l).map(drop)));
        assert!(refused(ledger.devices(None, l).map(drop)));
        assert!(refused(
            ledger.device_transactions("beta", None, l).map(drop)
        ));
        assert!(refused(ledger.provenance_ranking(None, l).map(drop)));
    }
}

#[test]
fn the_ranking_kept_on_append_matches_the_records_and_survives_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    {
        let ledger = open(&dir);
        let mut d = fill(&ledger, 3, 5, 2);
        // A second block: beta overtakes alpha.
        let subs = (0..4)
            .map(|_| Submission::Message(d.message("beta", "ghost", Action::Begin, 0, None)))
            .collect();
        ledger.append(subs);
        let page = ledger.provenance_ranking(None, Some(1)).unwrap();
        assert_eq!(page.items[0].provenance, "beta");
        assert_eq!(page.items[0].invalid_messages, 6);
        let rest = ledger.provenance_ranking(page.next, Some(1000)).unwrap();
        assert_eq!(
            (
                rest.items[0].provenance.as_str(),
                rest.items[0].invalid_messages,
                rest.next
            ),
            ("alpha", 5, None)
        );
        // Recomputed from the invalid messages' records (the stray continue has no
        // provenance and counts for nobody).
        let invalid = ledger
            .messages(&MessageFilter {
                valid: Some(false),
                limit: Some(1000),
                ..Default::default()
            })
            .unwrap();
        let by_alpha = invalid
            .items
            .iter()
            .filter(|r| r.provenance.as_deref() == Some("alpha"))
            .count();
        assert_eq!(by_alpha, 5);
    }
    let ledger = open(&dir);
    let page = ledger.provenance_ranking(None, None).unwrap();
    assert_eq!(page.items.len(), 2);
    assert_eq!(page.items[0].provenance, "beta");
    drop(ledger);
    assert_verifies(&dir);
}

#[test]
fn pruning_in_chunks_keeps_the_ledger_verifiable() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    {
        let ledger = open(&dir);
        fill(&ledger, 2500, 0, 0);
        // More than one chunk of contents.
        let pruned = ledger.prune_contents_before(u64::MAX).unwrap();
        assert_eq!(pruned, 2501);
        assert_eq!(ledger.record(2).unwrap().contents, None);
    }
    assert_verifies(&dir);
    // A prune stopped between chunks also leaves a verifiable store.
    let dir2 = tmp.path().join("e");
    {
        let ledger = open(&dir2);
        fill(&ledger, 50, 0, 0);
    }
    {
        let store = Store::open(&DataDir::create(&dir2).unwrap().store_path()).unwrap();
        let (n, done) = store.prune_contents_chunk(u64::MAX, 7, false).unwrap();
        assert_eq!((n, done), (7, false));
        store.sync().unwrap();
    }
    assert_verifies(&dir2);
}

fn assert_verifies(dir: &std::path::Path) {
    let data = DataDir::create(dir).unwrap();
    let store = Store::open(&data.store_path()).unwrap();
    let ledger_key = data.existing_hub_key().unwrap().unwrap();
    let snap = store.snapshot().unwrap();
    let origin = snap
        .block(0)
        .unwrap()
        .unwrap()
        .checkpoint
        .lines()
        .next()
        .unwrap()
        .to_owned();
    let key = m2mhub_core::note::NoteSigner::new(&origin, ledger_key)
        .unwrap()
        .verifier();
    verify_snapshot(&snap, key).unwrap();
}
