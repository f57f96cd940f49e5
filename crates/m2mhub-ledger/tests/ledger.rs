//! The ledger through its public API: the paper's scenario, durability across restarts,
//! exact resubmissions, proofs against signed checkpoints, pruning, and verification.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use m2mhub_core::{checkpoint::Checkpoint, merkle, message::Action};
use m2mhub_ledger::{
    DataDir, Ledger, LedgerConfig, LedgerError, MessageFilter, Submission, store::Store,
    verify::verify_snapshot,
};

fn config() -> LedgerConfig {
    LedgerConfig {
        origin: None,
        default_origin: "m2mhub/test".into(),
    }
}

fn open(dir: &std::path::Path) -> Ledger {
    Ledger::open(&DataDir::create(dir).unwrap(), &config()).unwrap()
}

fn hex32(s: &str) -> [u8; 32] {
    let mut h = [0u8; 32];
    hex::decode_to_slice(s, &mut h).unwrap();
    h
}

#[test]
fn the_papers_scenario_survives_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let mut d = Devices::default();
    let recorded;
    {
        let ledger = open(tmp.path());
        register_all(&ledger, &mut d, &PAPER_DEVICES);
        // Half in one block, half message by message.
        let scenario = paper_scenario(&mut d);
        let (first, rest) = scenario.split_at(4);
        let subs = first
            .iter()
            .map(|(m, _, _)| Submission::Message(m.clone()))
            .collect();
        let mut records: Vec<_> = ledger.append(subs).into_iter().map(record).collect();
        for (m, _, _) in rest {
            records.push(record(
                ledger
                    .append(vec![Submission::Message(m.clone())])
                    .pop()
                    .unwrap(),
            ));
        }
        for ((_, want, tx), r) in scenario.iter().zip(&records) {
            let got: Vec<&str> = r.notices.iter().map(|n| n.code()).collect();
            assert_eq!(&got, want, "seq {}", r.seq);
            assert_eq!(r.tx, *tx);
        }
        assert_eq!(records[0].seq, 3, "three registrations come first");
        recorded = records;
    }
    // Restart: everything is there, byte for byte, and numbering continues.
    let ledger = open(tmp.path());
    for r in &recorded {
        assert_eq!(&ledger.record(r.seq).unwrap(), r);
    }
    let t = ledger.transaction(1, None, None).unwrap();
    assert_eq!(t.provenance, "top_level");
    assert_eq!(t.messages.len(), 4);
    assert_eq!(format!("{:?}", t.state), "Closed");
    let next = record(
        ledger
            .append(vec![Submission::Message(d.message(
                "top_level",
                "mid_level",
                Action::Begin,
                0,
                None,
            ))])
            .pop()
            .unwrap(),
    );
    assert_eq!((next.seq, next.tx), (11, 4));
    assert_eq!(ledger.view().registry.registry.len(), 3);
}

#[test]
fn exact_resubmission_returns_the_original_and_records_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let ledger = open(tmp.path());
    let mut d = Devices::default();
    register_all(&ledger, &mut d, &PAPER_DEVICES);
    let m = d.message("top_level", "low_level", Action::Begin, 0, None);
    let first = record(
        ledger
            .append(vec![Submission::Message(m.clone())])
            .pop()
            .unwrap(),
    );
    let size = ledger.view().head.tree_size;
    let again = record(
        ledger
            .append(vec![Submission::Message(m.clone())])
            .pop()
            .unwrap(),
    );
    assert!(again.duplicate);
    assert_eq!(again.seq, first.seq);
    assert_eq!(ledger.view().head.tree_size, size);
    // Twice in the same batch: recorded once.
    let m2 = d.message("top_level", "low_level", Action::Begin, 0, None);
    let rs: Vec<_> = ledger
        .append(vec![
            Submission::Message(m2.clone()),
            Submission::Message(m2),
        ])
        .into_iter()
        .map(record)
        .collect();
    assert_eq!(rs[0].seq, rs[1].seq);
    assert!(!rs[0].duplicate && rs[1].duplicate);
    // Same counter, different signature: stale.
    let mut forged = m.clone();
    forged.contents.push('x');
    let e = ledger
        .append(vec![Submission::Message(forged)])
        .pop()
        .unwrap()
        .unwrap_err();
    assert!(matches!(e, LedgerError::Refused(_)), "{e}");
}

/// The transports' first look (`Ledger::recorded_copies`, no signature check): an exact copy
/// of a recorded message gets the same answer the committer gives it; a copy that differs in
/// any signed field, a fresh counter or an unknown sender is left to the committer.
#[test]
fn recorded_copies_answer_exact_copies_and_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let ledger = open(tmp.path());
    let mut d = Devices::default();
    register_all(&ledger, &mut d, &PAPER_DEVICES);
    let m = d.message("top_level", "low_level", Action::Begin, 0, None);
    let first = record(
        ledger
            .append(vec![Submission::Message(m.clone())])
            .remove(0),
    );
    let committed = record(
        ledger
            .append(vec![Submission::Message(m.clone())])
            .remove(0),
    );

    let mut other_contents = m.clone();
    other_contents.contents.push('x');
    let mut other_receiver = m.clone();
    other_receiver.receiver = name("top_level");
    let mut named_tx = m.clone();
    named_tx.tx = m2mhub_core::ids::TxId(first.tx);
    let mut other_signature = m.clone();
    other_signature.signature[5] ^= 1;
    let fresh = d.message("top_level", "low_level", Action::Begin, 0, None);
    let mut stranger = m.clone();
    stranger.sender = name("nobody");
    let copies = ledger
        .recorded_copies(&[
            m.clone(),
            other_contents,
            other_receiver,
            named_tx,
            other_signature,
            fresh,
            stranger,
        ])
        .unwrap();
    let found: Vec<bool> = copies.iter().map(Option::is_some).collect();
    assert_eq!(found, [true, false, false, false, false, false, false]);
    let copy = copies[0].clone().unwrap();
    assert!(copy.duplicate && committed.duplicate);
    assert_eq!(
        serde_json::to_value(&copy).unwrap(),
        serde_json::to_value(&committed).unwrap(),
        "the same answer as the committer's"
    );
}

#[test]
fn refusals_leave_the_ledger_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let ledger = open(tmp.path());
    let mut d = Devices::default();
    register_all(&ledger, &mut d, &PAPER_DEVICES);
    let before = ledger.view().head.clone();
    let mut bad_sig = d.message("top_level", "low_level", Action::Begin, 0, None);
    bad_sig.signature[0] ^= 1;
    let mut unknown = d.message("top_level", "low_level", Action::Begin, 0, None);
    unknown.sender = name("stranger");
    let rs = ledger.append(vec![
        Submission::Message(bad_sig),
        Submission::Message(unknown),
    ]);
    let codes: Vec<_> = rs
        .into_iter()
        .map(|r| match r.unwrap_err() {
            LedgerError::Refused(r) => r.code(),
            e => panic!("{e}"),
        })
        .collect();
    assert_eq!(codes, ["bad_signature", "unknown_sender"]);
    assert_eq!(
        *ledger.view().head,
        *before,
        "no block for refused submissions"
    );
    // A registry change that is refused.
    let dup = d.registration("top_level", 9);
    assert!(matches!(
        ledger
            .append(vec![Submission::Registry(dup)])
            .pop()
            .unwrap(),
        Err(LedgerError::Registry(_))
    ));
}

#[test]
fn proofs_verify_against_signed_checkpoints() {
    let tmp = tempfile::tempdir().unwrap();
    let ledger = open(tmp.path());
    let mut d = Devices::default();
    register_all(&ledger, &mut d, &PAPER_DEVICES);
    let mut roots = vec![];
    for (m, _, _) in paper_scenario(&mut d) {
        ledger.append(vec![Submission::Message(m)]);
        let cp = Checkpoint::open(
            &ledger.checkpoint(),
            &m2mhub_core::note::NoteVerifier::parse(&ledger.verifier_key()).unwrap(),
        )
        .unwrap();
        roots.push((cp.tree_size, cp.root));
    }
    let (size, root) = *roots.last().unwrap();
    for seq in 0..size {
        let p = ledger.inclusion_proof(seq, None).unwrap();
        let path: Vec<[u8; 32]> = p.path.iter().map(|h| hex32(h)).collect();
        let leaf = merkle::leaf_hash(&ledger.entry(seq).unwrap().bytes);
        assert_eq!(hex::encode(leaf), p.leaf_hash);
        merkle::verify_inclusion(&leaf, seq, size, &path, &root).unwrap();
    }
    for (old, old_root) in &roots {
        let p = ledger.consistency_proof(*old, None).unwrap();
        let path: Vec<[u8; 32]> = p.path.iter().map(|h| hex32(h)).collect();
        merkle::verify_consistency(*old, size, old_root, &root, &path).unwrap();
    }
    assert!(ledger.consistency_proof(0, None).is_err());
    assert!(ledger.inclusion_proof(size, None).is_err());
    // Blocks are hash-linked.
    let blocks = ledger.blocks(None, None).unwrap().items;
    for pair in blocks.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash);
    }
}

#[test]
fn queries_use_the_filters() {
    let tmp = tempfile::tempdir().unwrap();
    let ledger = open(tmp.path());
    let mut d = Devices::default();
    register_all(&ledger, &mut d, &PAPER_DEVICES);
    let subs = paper_scenario(&mut d)
        .into_iter()
        .map(|(m, _, _)| Submission::Message(m))
        .collect();
    ledger.append(subs);
    let q = |f: MessageFilter| {
        ledger
            .messages(&f)
            .unwrap()
            .items
            .iter()
            .map(|r| r.seq)
            .collect::<Vec<_>>()
    };
    assert_eq!(q(MessageFilter::default()), (3..11).collect::<Vec<_>>());
    assert_eq!(
        q(MessageFilter {
            tx: Some(1),
            ..Default::default()
        }),
        [3, 4, 5, 6]
    );
    assert_eq!(
        q(MessageFilter {
            valid: Some(false),
            ..Default::default()
        }),
        [6, 7, 8, 10]
    );
    assert_eq!(
        q(MessageFilter {
            valid: Some(true),
            ..Default::default()
        }),
        [3, 4, 5, 9]
    );
    assert_eq!(
        q(MessageFilter {
            device: Some("mid_level".into()),
            ..Default::default()
        }),
        [8, 9]
    );
    // Naming tx 6000 before it exists puts a message in no transaction (SPEC §3.1).
    assert_eq!(
        q(MessageFilter {
            tx: Some(6000),
            ..Default::default()
        }),
        [] as [u64; 0]
    );
    assert_eq!(
        q(MessageFilter {
            after: Some(8),
            limit: Some(1),
            ..Default::default()
        }),
        [9]
    );
    assert_eq!(
        q(MessageFilter {
            device: Some("nobody".into()),
            ..Default::default()
        }),
        Vec::<u64>::new()
    );
}

#[test]
fn pruned_contents_still_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    {
        let ledger = open(&dir);
        let mut d = Devices::default();
        register_all(&ledger, &mut d, &PAPER_DEVICES);
        let subs = paper_scenario(&mut d)
            .into_iter()
            .map(|(m, _, _)| Submission::Message(m))
            .collect();
        ledger.append(subs);
        let pruned = ledger.prune_contents_before(u64::MAX).unwrap();
        assert_eq!(pruned, 8);
        assert_eq!(ledger.record(3).unwrap().contents, None);
    }
    assert_verifies(&dir);
}

fn verifier(dir: &std::path::Path) -> m2mhub_core::note::NoteVerifier {
    let key = DataDir::create(dir)
        .unwrap()
        .existing_hub_key()
        .unwrap()
        .unwrap();
    m2mhub_core::note::NoteSigner::new("m2mhub/test", key)
        .unwrap()
        .verifier()
}

fn assert_verifies(dir: &std::path::Path) -> u64 {
    let store = Store::open(&dir.join("ledger.redb")).unwrap();
    let snap = store.snapshot().unwrap();
    verify_snapshot(&snap, verifier(dir)).unwrap().entries
}

#[test]
fn verify_replays_everything_and_refuses_a_changed_hub_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    {
        let ledger = open(&dir);
        let mut d = Devices::default();
        register_all(&ledger, &mut d, &PAPER_DEVICES);
        for (m, _, _) in paper_scenario(&mut d) {
            ledger.append(vec![Submission::Message(m)]);
        }
    }
    assert_eq!(assert_verifies(&dir), 11);
    // A hub started with another key must refuse the ledger rather than serve it.
    std::fs::remove_file(dir.join("hub-key")).unwrap();
    let e = Ledger::open(&DataDir::create(&dir).unwrap(), &config()).unwrap_err();
    assert!(matches!(e, LedgerError::Corrupt(_)), "{e}");
}

#[test]
fn the_committer_pipeline_records_concurrent_submissions_once_each() {
    let tmp = tempfile::tempdir().unwrap();
    let ledger = std::sync::Arc::new(open(tmp.path()));
    let committer = m2mhub_ledger::Committer::start(ledger.clone()).unwrap();
    let mut d = Devices::default();
    // A registration and a message from the new device in the same queue: the message's
    // signature is checked in order, after the registration.
    let reg = Submission::Registry(d.registration("top_level", 3));
    let reg2 = Submission::Registry(d.registration("low_level", 1));
    let first = Submission::Message(d.message("top_level", "low_level", Action::Begin, 0, None));
    let rs = committer.submit_wait(vec![reg, reg2, first]);
    assert!(rs.iter().all(|r| r.is_ok()), "{rs:?}");
    // Four devices on four threads submit 50 messages each, one at a time (each device's
    // counters in order, the devices interleaved).
    let senders = ["s0", "s1", "s2", "s3"];
    let regs = senders
        .iter()
        .map(|s| Submission::Registry(d.registration(s, 3)))
        .collect();
    assert!(committer.submit_wait(regs).iter().all(|r| r.is_ok()));
    let batches: Vec<Vec<_>> = senders
        .iter()
        .map(|s| {
            (0..50)
                .map(|_| d.message(s, "low_level", Action::Begin, 0, None))
                .collect()
        })
        .collect();
    let handles: Vec<_> = batches
        .into_iter()
        .map(|msgs| {
            let c = committer.clone();
            std::thread::spawn(move || {
                msgs.into_iter()
                    .map(|m| record(c.submit_wait(vec![Submission::Message(m)]).pop().unwrap()))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut seqs: Vec<u64> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .map(|r| r.seq)
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (7..207).collect::<Vec<_>>());
    committer.stop();
    assert!(matches!(
        committer
            .submit_wait(vec![Submission::Message(d.message(
                "top_level",
                "low_level",
                Action::Begin,
                0,
                None
            ))])
            .pop()
            .unwrap(),
        Err(LedgerError::Unavailable)
    ));
    assert_eq!(ledger.view().head.tree_size, 207);
}

#[test]
fn the_committer_answers_every_submission_even_empty_ones_and_those_queued_before_stop() {
    let tmp = tempfile::tempdir().unwrap();
    let ledger = std::sync::Arc::new(open(tmp.path()));
    let committer = m2mhub_ledger::Committer::start(ledger.clone()).unwrap();
    let mut d = Devices::default();
    let regs = ["a", "b"]
        .iter()
        .map(|s| Submission::Registry(d.registration(s, 3)))
        .collect();
    assert!(committer.submit_wait(regs).iter().all(|r| r.is_ok()));
    assert!(committer.submit_wait(Vec::new()).is_empty());
    // Forty submissions queued with callbacks, then a stop: every one is answered, recorded.
    let (tx, rx) = std::sync::mpsc::channel();
    for _ in 0..40 {
        let tx = tx.clone();
        let m = d.message("a", "b", Action::Begin, 0, None);
        committer.submit(vec![Submission::Message(m)], move |r| {
            let _ = tx.send(r);
        });
    }
    drop(tx);
    committer.stop();
    let answers: Vec<_> = rx.iter().collect();
    assert_eq!(answers.len(), 40);
    assert!(answers.iter().flatten().all(|r| r.is_ok()), "{answers:?}");
    assert_eq!(ledger.view().head.tree_size, 42);
}
