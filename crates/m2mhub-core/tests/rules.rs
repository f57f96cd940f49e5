//! SPEC §3 through the public API: the paper's scenario as a table, one test per notice, the
//! skipping rules, transaction ids and participants, and the refusals of §3.2.

#![allow(clippy::unwrap_used, clippy::type_complexity)]

use std::collections::BTreeSet;

use ed25519_dalek::{Signer, SigningKey};
use m2mhub_core::{
    auth::Refusal,
    entry::{Entry, MessageEntry, Registration},
    ids::{Seq, TxId},
    machine::Machine,
    message::{Action, Message},
    names::DeviceName,
    notice::Notice,
    rules::TxStatus,
};

/// A test network: devices with keys and counters, over the reference machine.
struct Net {
    m: Machine,
    keys: Vec<(String, SigningKey, u64)>,
}

fn name(s: &str) -> DeviceName {
    DeviceName::new(s).unwrap()
}

impl Net {
    fn new(devices: &[(&str, u32)]) -> Net {
        let mut net = Net {
            m: Machine::new(),
            keys: Vec::new(),
        };
        for (n, c) in devices {
            net.register(n, *c, &[]);
        }
        net
    }

    fn register(&mut self, n: &str, clearance: u32, exceptions: &[&str]) {
        let seed = [self.keys.len() as u8 + 1; 32];
        let key = SigningKey::from_bytes(&seed);
        self.m
            .apply_registry(&Entry::DeviceRegistered(Registration {
                name: name(n),
                clearance,
                public_key: key.verifying_key().to_bytes(),
                exceptions: exceptions.iter().map(|e| name(e)).collect::<BTreeSet<_>>(),
                simulated: false,
            }))
            .unwrap();
        self.keys.push((n.to_owned(), key, 0));
    }

    fn message(
        &mut self,
        from: &str,
        to: &str,
        action: Action,
        tx: u64,
        cause: Option<u64>,
    ) -> Message {
        let (_, key, counter) = self.keys.iter_mut().find(|k| k.0 == from).unwrap();
        *counter += 1;
        let mut m = Message {
            sender: name(from),
            receiver: name(to),
            action,
            tx: TxId(tx),
            cause: cause.map(Seq),
            counter: *counter,
            contents: format!("{from} to {to}"),
            signature: [0; 64],
            form: m2mhub_core::message::Form::OneHub,
        };
        m.signature = key.sign(&m.signing_bytes()).to_bytes();
        m
    }

    fn send(
        &mut self,
        from: &str,
        to: &str,
        action: Action,
        tx: u64,
        cause: Option<u64>,
    ) -> MessageEntry {
        let m = self.message(from, to, action, tx, cause);
        self.m.submit(&m).unwrap()
    }

    fn revoke(&mut self, n: &str) {
        self.m
            .apply_registry(&Entry::DeviceRevoked { device: name(n) })
            .unwrap();
    }
}

fn codes(e: &MessageEntry) -> Vec<&'static str> {
    e.notices.iter().map(Notice::code).collect()
}

use Action::{Begin, Continue, End};

#[test]
fn the_papers_eight_messages() {
    let mut net = Net::new(&[("low_level", 1), ("mid_level", 2), ("top_level", 3)]);
    // (from, to, action, tx, expected notices, expected tx, expected provenance)
    let table: [(&str, &str, Action, u64, &[&str], u64, Option<&str>); 8] = [
        (
            "top_level",
            "low_level",
            Begin,
            0,
            &[],
            1,
            Some("top_level"),
        ),
        (
            "low_level",
            "top_level",
            Continue,
            1,
            &[],
            1,
            Some("top_level"),
        ),
        ("top_level", "low_level", End, 1, &[], 1, Some("top_level")),
        (
            "top_level",
            "low_level",
            Continue,
            1,
            &["transaction_closed"],
            1,
            Some("top_level"),
        ),
        (
            "low_level",
            "top_level",
            Begin,
            0,
            &["insufficient_clearance"],
            2,
            Some("low_level"),
        ),
        (
            "top_level",
            "mid_level",
            Continue,
            6000,
            &["unknown_transaction"],
            6000,
            None,
        ),
        (
            "mid_level",
            "low_level",
            Begin,
            0,
            &[],
            3,
            Some("mid_level"),
        ),
        (
            "low_level",
            "top_level",
            Continue,
            3,
            &["insufficient_clearance"],
            3,
            Some("mid_level"),
        ),
    ];
    for (i, (from, to, action, tx, want, want_tx, want_prov)) in table.into_iter().enumerate() {
        let e = net.send(from, to, action, tx, None);
        assert_eq!(codes(&e), want, "message {}", i + 1);
        assert_eq!(e.tx, TxId(want_tx), "message {}", i + 1);
        assert_eq!(
            e.provenance.as_ref().map(|p| p.as_str()),
            want_prov,
            "message {}",
            i + 1
        );
        assert_eq!(e.valid(), want.is_empty());
    }
    assert_eq!(net.m.transaction(TxId(1)).unwrap().status, TxStatus::Closed);
    assert_eq!(
        net.m.transaction(TxId(2)).unwrap().status,
        TxStatus::Rejected
    );
    assert_eq!(net.m.transaction(TxId(3)).unwrap().status, TxStatus::Open);
    assert!(net.m.transaction(TxId(6000)).is_none());
}

#[test]
fn sender_revoked() {
    let mut net = Net::new(&[("a", 2), ("b", 1)]);
    net.revoke("a");
    assert_eq!(
        codes(&net.send("a", "b", Begin, 0, None)),
        ["sender_revoked"]
    );
}

#[test]
fn unknown_receiver_skips_the_clearance_check() {
    let mut net = Net::new(&[("a", 0)]);
    let e = net.send("a", "ghost", Begin, 0, None);
    assert_eq!(codes(&e), ["unknown_receiver"]);
    assert_eq!(e.tx, TxId(1), "an invalid begin consumes a tx id");
}

#[test]
fn receiver_revoked() {
    let mut net = Net::new(&[("a", 2), ("b", 1)]);
    net.revoke("b");
    assert_eq!(
        codes(&net.send("a", "b", Begin, 0, None)),
        ["receiver_revoked"]
    );
}

#[test]
fn unknown_transaction_skips_participant_clearance_and_cause() {
    let mut net = Net::new(&[("low", 1), ("high", 9)]);
    let e = net.send("low", "high", Continue, 42, Some(999));
    assert_eq!(codes(&e), ["unknown_transaction"]);
    assert_eq!(e.provenance, None);
    assert_eq!(
        codes(&net.send("low", "high", End, 42, None)),
        ["unknown_transaction"]
    );
}

#[test]
fn a_continue_or_end_without_a_tx_is_recorded_as_unknown_transaction() {
    let mut net = Net::new(&[("a", 2), ("b", 1)]);
    net.send("a", "b", Begin, 0, None);
    let e = net.send("a", "b", Continue, 0, None);
    assert_eq!((codes(&e), e.tx), (vec!["unknown_transaction"], TxId(0)));
    assert_eq!(
        codes(&net.send("a", "b", End, 0, None)),
        ["unknown_transaction"]
    );
}

#[test]
fn transaction_rejected() {
    let mut net = Net::new(&[("low", 1), ("high", 2), ("peer", 1)]);
    assert_eq!(
        codes(&net.send("low", "high", Begin, 0, None)),
        ["insufficient_clearance"]
    );
    // The provenance (a participant) continues its rejected tx towards a peer it may reach.
    assert_eq!(
        codes(&net.send("low", "peer", Continue, 1, None)),
        ["transaction_rejected"]
    );
    assert_eq!(
        codes(&net.send("low", "peer", End, 1, None)),
        ["transaction_rejected"]
    );
    assert_eq!(
        net.m.transaction(TxId(1)).unwrap().status,
        TxStatus::Rejected
    );
}

#[test]
fn transaction_closed_for_continue_and_end() {
    let mut net = Net::new(&[("a", 2), ("b", 1)]);
    net.send("a", "b", Begin, 0, None);
    assert!(net.send("b", "a", End, 1, None).valid());
    assert_eq!(
        codes(&net.send("a", "b", Continue, 1, None)),
        ["transaction_closed"]
    );
    assert_eq!(
        codes(&net.send("a", "b", End, 1, None)),
        ["transaction_closed"]
    );
}

#[test]
fn not_a_participant() {
    let mut net = Net::new(&[("a", 2), ("b", 1), ("c", 1)]);
    net.send("a", "b", Begin, 0, None);
    assert_eq!(
        codes(&net.send("c", "b", Continue, 1, None)),
        ["not_a_participant"]
    );
    // A receiver of a valid message becomes a participant and may continue.
    assert!(net.send("b", "c", Continue, 1, None).valid());
    assert!(net.send("c", "b", Continue, 1, None).valid());
    let p: Vec<_> = net
        .m
        .transaction(TxId(1))
        .unwrap()
        .participants
        .iter()
        .map(|d| d.to_string())
        .collect();
    assert_eq!(p, ["a", "b", "c"]);
}

#[test]
fn invalid_messages_do_not_make_participants() {
    let mut net = Net::new(&[("a", 2), ("b", 1), ("c", 1), ("ghost_host", 1)]);
    net.send("a", "b", Begin, 0, None);
    net.revoke("ghost_host");
    // b → ghost_host is invalid (receiver revoked): ghost_host must not join.
    assert_eq!(
        codes(&net.send("b", "ghost_host", Continue, 1, None)),
        ["receiver_revoked"]
    );
    assert!(
        !net.m
            .transaction(TxId(1))
            .unwrap()
            .is_participant("ghost_host")
    );
}

#[test]
fn insufficient_clearance_uses_the_provenance_and_exceptions() {
    let mut net = Net::new(&[("low", 1), ("mid", 2)]);
    net.register("top", 3, &["low"]);
    // Equal or lower clearance is fine.
    assert!(net.send("mid", "low", Begin, 0, None).valid());
    // top lists low: low may open a conversation with it.
    assert!(net.send("low", "top", Begin, 0, None).valid());
    // mid is not listed by top.
    assert_eq!(
        codes(&net.send("mid", "top", Begin, 0, None)),
        ["insufficient_clearance"]
    );
    // In tx 1 (provenance mid), low answering top is judged by mid's clearance, not low's.
    net.send("low", "mid", Continue, 1, None);
    assert_eq!(
        codes(&net.send("low", "top", Continue, 1, None)),
        ["insufficient_clearance"]
    );
    // Granting top an exception for mid (the provenance) lifts it.
    net.m
        .apply_registry(&Entry::ExceptionGranted {
            device: name("top"),
            sender: name("mid"),
        })
        .unwrap();
    assert!(net.send("low", "top", Continue, 1, None).valid());
    // Withdrawing puts it back.
    net.m
        .apply_registry(&Entry::ExceptionWithdrawn {
            device: name("top"),
            sender: name("mid"),
        })
        .unwrap();
    assert_eq!(
        codes(&net.send("low", "top", Continue, 1, None)),
        ["insufficient_clearance"]
    );
}

#[test]
fn bad_cause() {
    let mut net = Net::new(&[("a", 2), ("b", 1)]);
    let first = net.send("a", "b", Begin, 0, None); // seq 2, tx 1
    let other = net.send("a", "b", Begin, 0, None); // seq 3, tx 2
    assert_eq!((first.tx, other.tx), (TxId(1), TxId(2)));
    // A cause in the same tx that is a valid message: fine.
    assert!(net.send("b", "a", Continue, 1, Some(2)).valid());
    // A cause from another tx.
    assert_eq!(
        codes(&net.send("b", "a", Continue, 1, Some(3))),
        ["bad_cause"]
    );
    // A cause that is not a message at all (a registration), or does not exist.
    assert_eq!(
        codes(&net.send("b", "a", Continue, 1, Some(0))),
        ["bad_cause"]
    );
    assert_eq!(
        codes(&net.send("b", "a", Continue, 1, Some(10_000))),
        ["bad_cause"]
    );
    // A cause that is an invalid message of the same tx (seq 5 above had bad_cause).
    assert_eq!(
        codes(&net.send("b", "a", Continue, 1, Some(5))),
        ["bad_cause"]
    );
    // A begin can have no earlier message in its own, new tx.
    assert_eq!(codes(&net.send("a", "b", Begin, 0, Some(2))), ["bad_cause"]);
}

#[test]
fn every_failing_check_reports_in_spec_order() {
    let mut net = Net::new(&[("a", 1), ("b", 5), ("c", 5), ("d", 1)]);
    net.send("b", "c", Begin, 0, None); // tx 1, provenance b (5)
    net.send("c", "b", End, 1, None); // closed
    net.revoke("a");
    net.revoke("c");
    // a: revoked, not a participant; c: revoked; tx closed; clearance(b)=5 ≥ 5 fine; cause bad.
    let e = net.send("a", "c", Continue, 1, Some(0));
    assert_eq!(
        codes(&e),
        [
            "sender_revoked",
            "receiver_revoked",
            "transaction_closed",
            "not_a_participant",
            "bad_cause"
        ]
    );
    // Low provenance towards a high receiver with everything else wrong too.
    net.send("d", "b", Begin, 0, None); // tx 2 rejected (insufficient clearance), provenance d
    let e = net.send("a", "b", Continue, 2, Some(1));
    assert_eq!(
        codes(&e),
        [
            "sender_revoked",
            "transaction_rejected",
            "not_a_participant",
            "insufficient_clearance",
            "bad_cause"
        ]
    );
}

#[test]
fn only_valid_messages_change_state() {
    let mut net = Net::new(&[("a", 2), ("b", 1), ("c", 1)]);
    net.send("a", "b", Begin, 0, None);
    // An invalid end (c is not a participant) does not close the tx.
    assert_eq!(
        codes(&net.send("c", "a", End, 1, None)),
        ["not_a_participant"]
    );
    assert_eq!(net.m.transaction(TxId(1)).unwrap().status, TxStatus::Open);
}

#[test]
fn refusals_leave_no_entry() {
    let mut net = Net::new(&[("a", 2), ("b", 1)]);
    let before = net.m.size();
    // Unknown sender.
    let mut m = net.message("a", "b", Begin, 0, None);
    m.sender = name("nobody");
    assert!(matches!(net.m.submit(&m), Err(Refusal::UnknownSender(_))));
    // Bad signature: any signed field changed.
    let mut m = net.message("a", "b", Begin, 0, None);
    m.contents.push('!');
    assert!(matches!(net.m.submit(&m), Err(Refusal::BadSignature(_))));
    assert_eq!(net.m.size(), before);
    // Stale counter: a counter not above the last recorded one.
    let m = net.message("a", "b", Begin, 0, None);
    net.m.submit(&m).unwrap();
    let again = net.m.submit(&m).unwrap_err();
    assert_eq!(again.code(), "stale_counter");
    assert_eq!(net.m.size(), before + 1);
}

#[test]
fn replay_accepts_what_submit_recorded_and_rejects_edits() {
    let mut net = Net::new(&[("low_level", 1), ("mid_level", 2), ("top_level", 3)]);
    let mut log: Vec<Entry> = Vec::new();
    for (n, _, _) in &net.keys {
        let _ = n;
    }
    // Rebuild the registrations the net made, then record a few messages.
    let mut replica = Machine::new();
    for (n, key, _) in &net.keys {
        log.push(Entry::DeviceRegistered(Registration {
            name: name(n),
            clearance: net.m.registry().get(n).unwrap().clearance,
            public_key: key.verifying_key().to_bytes(),
            exceptions: BTreeSet::new(),
            simulated: false,
        }));
    }
    log.push(Entry::Message(net.send(
        "top_level",
        "low_level",
        Begin,
        0,
        None,
    )));
    log.push(Entry::Message(net.send(
        "low_level",
        "top_level",
        Continue,
        1,
        Some(3),
    )));
    log.push(Entry::Message(net.send(
        "low_level",
        "top_level",
        Begin,
        0,
        None,
    )));
    for e in &log {
        replica.replay(e).unwrap();
    }
    // Now edit each verdict field in turn: replay must refuse.
    let Entry::Message(last) = log.last().unwrap().clone() else {
        panic!()
    };
    let mut edits = Vec::new();
    let mut e = last.clone();
    e.notices = Default::default();
    edits.push(e);
    let mut e = last.clone();
    e.tx = TxId(9);
    edits.push(e);
    let mut e = last.clone();
    e.provenance = Some(name("top_level"));
    edits.push(e);
    let mut e = last;
    e.counter += 1;
    edits.push(e);
    for edit in edits {
        let mut r = Machine::new();
        for e in &log[..log.len() - 1] {
            r.replay(e).unwrap();
        }
        assert!(r.replay(&Entry::Message(edit.clone())).is_err(), "{edit:?}");
    }
}
