//! Device re-keying (SPEC §3.2.2): messages are checked with the key in force at their seq,
//! in the sequencer (even when the re-key shares a block with them) and in replay; retired
//! keys stay taken; exact copies of messages signed with a retired key stay duplicates.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, mpsc};

use common::{Devices, name, record, register_all};
use ed25519_dalek::{Signer, SigningKey};
use m2mhub_core::{
    CoreError,
    auth::Refusal,
    entry::{Entry, Registration},
    machine::Machine,
    note::{NoteSigner, NoteVerifier},
};
use m2mhub_ledger::{
    Appended, Committer, DataDir, Ledger, LedgerConfig, LedgerError, Result, Submission,
    verify::{EntryIn, Verifier, verify_snapshot},
};

fn config() -> LedgerConfig {
    LedgerConfig {
        origin: None,
        default_origin: "m2mhub/test".into(),
    }
}

fn hub_verifier(dir: &DataDir) -> NoteVerifier {
    let key = dir.existing_hub_key().unwrap().unwrap();
    NoteSigner::new("m2mhub/test", key).unwrap().verifier()
}

/// "ok", "bad_signature", "duplicate", … for each outcome.
fn codes(results: &[Result<Appended>]) -> Vec<String> {
    results
        .iter()
        .map(|r| match r {
            Ok(Appended::Message(rec)) if rec.duplicate => "duplicate".to_owned(),
            Ok(_) => "ok".to_owned(),
            Err(LedgerError::Refused(r)) => r.code().to_owned(),
            Err(LedgerError::Registry(e)) => format!("registry: {e}"),
            Err(e) => format!("{e}"),
        })
        .collect()
}

fn is_bad_signature(r: &Result<Appended>) -> bool {
    matches!(r, Err(LedgerError::Refused(Refusal::BadSignature(_))))
}

#[test]
fn a_message_sharing_a_block_with_its_senders_rekey_is_checked_in_ledger_order() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = DataDir::create(tmp.path()).unwrap();
    let ledger = Arc::new(Ledger::open(&dir, &config()).unwrap());
    let committer = Committer::start(ledger.clone()).unwrap();
    let mut d = Devices::default();
    register_all(&ledger, &mut d, &[("a", 1), ("b", 1)]);

    // Messages, then the re-key, then messages: one submission is one block.
    let a_old = d.keys[0].1.clone();
    let before_old = d.begin_signed_by("a", &a_old);
    let (rekey, _) = d.rekey("a");
    let a_new = d.keys[0].1.clone();
    let before_new = {
        let mut m = d.begin_signed_by("a", &a_new);
        // Signed with the new key but placed before the re-key: not yet in force.
        m.counter = before_old.counter;
        m.signature = a_new.sign(&m.signing_bytes()).to_bytes();
        m
    };
    let after_new = d.begin_signed_by("a", &a_new);
    // A verdict computed ahead with the published (old) key says yes to this one: it must
    // not be used once the re-key is in force.
    let after_old = d.begin_signed_by("a", &a_old);
    let block = vec![
        Submission::Message(before_new),
        Submission::Message(before_old),
        Submission::Registry(rekey),
        Submission::Message(after_old),
        Submission::Message(after_new),
    ];
    let r = committer.submit_wait(block);
    assert_eq!(
        codes(&r),
        ["bad_signature", "ok", "ok", "bad_signature", "ok"]
    );

    // The other order for `b`: the re-key first, then its messages, in one block.
    let b_old = d.keys[1].1.clone();
    let (rekey, _) = d.rekey("b");
    let b_new = d.keys[1].1.clone();
    let old = d.begin_signed_by("b", &b_old);
    let new = d.begin_signed_by("b", &b_new);
    let r = committer.submit_wait(vec![
        Submission::Registry(rekey),
        Submission::Message(old),
        Submission::Message(new),
    ]);
    assert_eq!(codes(&r), ["ok", "bad_signature", "ok"]);

    committer.stop();
    let summary = verify_snapshot(&ledger.snapshot().unwrap(), hub_verifier(&dir)).unwrap();
    assert_eq!(summary.entries, 2 + 3 + 2);
}

#[test]
fn messages_queued_right_after_a_rekey_are_checked_with_the_new_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = DataDir::create(tmp.path()).unwrap();
    let ledger = Arc::new(Ledger::open(&dir, &config()).unwrap());
    let committer = Committer::start(ledger.clone()).unwrap();
    let mut d = Devices::default();
    register_all(&ledger, &mut d, &[("a", 1)]);
    for round in 0..20 {
        let old = d.keys[0].1.clone();
        let (rekey, _) = d.rekey("a");
        let new = d.keys[0].1.clone();
        let stale = d.begin_signed_by("a", &old);
        let fresh = d.begin_signed_by("a", &new);
        // Three submissions queued back to back: they may share a block or not, and the
        // messages' signatures may be checked ahead with the key published before the re-key.
        let (tx, rx) = mpsc::channel();
        for (i, sub) in [
            Submission::Registry(rekey),
            Submission::Message(stale),
            Submission::Message(fresh),
        ]
        .into_iter()
        .enumerate()
        {
            let tx = tx.clone();
            committer.submit(vec![sub], move |mut r| {
                tx.send((i, r.pop().unwrap())).unwrap();
            });
        }
        drop(tx);
        let mut got: Vec<(usize, Result<Appended>)> = rx.iter().collect();
        got.sort_by_key(|(i, _)| *i);
        let got: Vec<Result<Appended>> = got.into_iter().map(|(_, r)| r).collect();
        assert_eq!(codes(&got), ["ok", "bad_signature", "ok"], "round {round}");
    }
    committer.stop();
    verify_snapshot(&ledger.snapshot().unwrap(), hub_verifier(&dir)).unwrap();
}

#[test]
fn exact_copies_of_messages_signed_with_a_retired_key_are_duplicates() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = DataDir::create(tmp.path()).unwrap();
    let ledger = Ledger::open(&dir, &config()).unwrap();
    let mut d = Devices::default();
    register_all(&ledger, &mut d, &[("a", 1)]);
    let old = d.keys[0].1.clone();
    let first = d.begin_signed_by("a", &old);
    let original = record(
        ledger
            .append(vec![Submission::Message(first.clone())])
            .remove(0),
    );
    let (rekey, _) = d.rekey("a");
    ledger.append(vec![Submission::Registry(rekey)])[0]
        .as_ref()
        .unwrap();

    // The read-snapshot fast path.
    let copies = ledger
        .recorded_copies(std::slice::from_ref(&first))
        .unwrap();
    let copy = copies[0].as_ref().expect("recognised as a copy");
    assert!(copy.duplicate);
    assert_eq!(copy.seq, original.seq);

    // The sequencer's path (a copy the fast path missed), twice in one block.
    let r = ledger.append(vec![
        Submission::Message(first.clone()),
        Submission::Message(first.clone()),
    ]);
    assert_eq!(codes(&r), ["duplicate", "duplicate"]);
    assert_eq!(record(r.into_iter().next().unwrap()).seq, original.seq);

    // Not a copy: same counter, other contents, signed with the retired key.
    let mut forged = first.clone();
    forged.contents = "something else".into();
    forged.signature = old.sign(&forged.signing_bytes()).to_bytes();
    assert!(ledger.recorded_copies(&[forged.clone()]).unwrap()[0].is_none());
    let r = ledger.append(vec![Submission::Message(forged)]);
    assert!(is_bad_signature(&r[0]), "{:?}", codes(&r));

    // The same counter signed with the current key is a stale counter, as before.
    let new = d.keys[0].1.clone();
    let mut again = first;
    again.signature = new.sign(&again.signing_bytes()).to_bytes();
    let r = ledger.append(vec![Submission::Message(again)]);
    assert_eq!(codes(&r), ["stale_counter"]);
}

#[test]
fn a_key_once_registered_stays_taken_and_only_active_real_devices_rekey() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = DataDir::create(tmp.path()).unwrap();
    let ledger = Ledger::open(&dir, &config()).unwrap();
    let mut d = Devices::default();
    register_all(&ledger, &mut d, &[("a", 1), ("b", 1)]);
    let a_first = d.keys[0].1.verifying_key().to_bytes();
    let b_key = d.keys[1].1.verifying_key().to_bytes();
    let (rekey, _) = d.rekey("a");
    ledger.append(vec![Submission::Registry(rekey)])[0]
        .as_ref()
        .unwrap();
    let registry_err = |e: Entry| match ledger.append(vec![Submission::Registry(e)]).remove(0) {
        Err(LedgerError::Registry(c)) => c,
        other => panic!("not refused: {other:?}"),
    };
    let rekey_to = |n: &str, k: [u8; 32]| Entry::DeviceRekeyed {
        device: name(n),
        public_key: k,
    };
    // Back to the retired key, or to another device's key: taken.
    assert_eq!(registry_err(rekey_to("a", a_first)), CoreError::KeyTaken);
    assert_eq!(registry_err(rekey_to("a", b_key)), CoreError::KeyTaken);
    // A new device with the retired key: taken.
    let reg = Entry::DeviceRegistered(Registration {
        name: name("c"),
        clearance: 1,
        public_key: a_first,
        exceptions: Default::default(),
        simulated: false,
    });
    assert_eq!(registry_err(reg), CoreError::KeyTaken);
    let fresh = SigningKey::from_bytes(&[42; 32]).verifying_key().to_bytes();
    assert!(matches!(
        registry_err(rekey_to("ghost", fresh)),
        CoreError::UnknownDevice(_)
    ));
    let mut small_order = [0u8; 32];
    small_order[0] = 1;
    assert!(matches!(
        registry_err(rekey_to("a", small_order)),
        CoreError::Malformed(_)
    ));
    let sim = Entry::DeviceRegistered(Registration {
        name: name("sim"),
        clearance: 1,
        public_key: SigningKey::from_bytes(&[43; 32]).verifying_key().to_bytes(),
        exceptions: Default::default(),
        simulated: true,
    });
    ledger.append(vec![Submission::Registry(sim)])[0]
        .as_ref()
        .unwrap();
    assert!(matches!(
        registry_err(rekey_to("sim", fresh)),
        CoreError::SimulatedDevice(_)
    ));
    ledger.append(vec![Submission::Registry(Entry::DeviceRevoked {
        device: name("b"),
    })])[0]
        .as_ref()
        .unwrap();
    assert!(matches!(
        registry_err(rekey_to("b", fresh)),
        CoreError::DeviceRevoked(_)
    ));
    // The history survives a restart: the registry is rebuilt from the entries.
    drop(ledger);
    let ledger = Ledger::open(&dir, &config()).unwrap();
    let view = ledger.view();
    let a = view.registry.registry.get("a").unwrap();
    assert_eq!(a.keys.len(), 2);
    assert_eq!(a.keys[0].key.as_bytes(), &a_first);
    assert_eq!(a.keys[1].from_seq.0, 2);
    assert_eq!(a.key.as_bytes(), &d.keys[0].1.verifying_key().to_bytes());
    let old = SigningKey::from_bytes(&[10; 32]);
    let stale = d.begin_signed_by("a", &old);
    assert!(is_bad_signature(
        &ledger.append(vec![Submission::Message(stale)])[0]
    ));
    let new = d.keys[0].1.clone();
    let fresh_msg = d.begin_signed_by("a", &new);
    record(
        ledger
            .append(vec![Submission::Message(fresh_msg)])
            .remove(0),
    );
    verify_snapshot(&ledger.snapshot().unwrap(), hub_verifier(&dir)).unwrap();
}

/// Entries of a ledger built by the rules (a registration, a re-key, messages), for replay.
fn entries(messages_after: &[&SigningKey]) -> (Vec<EntryIn>, NoteVerifier) {
    let old = SigningKey::from_bytes(&[10; 32]);
    let new = SigningKey::from_bytes(&[11; 32]);
    let mut machine = Machine::new();
    let mut d = Devices::default();
    let reg = d.registration("a", 1);
    let mut out = Vec::new();
    let mut push = |e: &Entry| {
        out.push(EntryIn {
            seq: out.len() as u64,
            bytes: e.to_bytes(),
            contents: None,
        })
    };
    machine.apply_registry(&reg).unwrap();
    push(&reg);
    let before = d.begin_signed_by("a", &old);
    push(&Entry::Message(machine.submit(&before).unwrap()));
    let rekey = Entry::DeviceRekeyed {
        device: name("a"),
        public_key: new.verifying_key().to_bytes(),
    };
    machine.apply_registry(&rekey).unwrap();
    push(&rekey);
    for key in messages_after {
        // The verdict does not depend on the key: judge it as signed with the new key, then
        // record the signature `key` made.
        let mut m = d.begin_signed_by("a", &new);
        let mut e = machine.submit(&m).unwrap();
        m.signature = key.sign(&m.signing_bytes()).to_bytes();
        e.signature = m.signature;
        push(&Entry::Message(e));
    }
    let hub = NoteSigner::new("m2mhub/test", SigningKey::from_bytes(&[1; 32])).unwrap();
    (out, hub.verifier())
}

#[test]
fn replay_checks_each_message_with_the_key_in_force_at_its_seq() {
    let old = SigningKey::from_bytes(&[10; 32]);
    let new = SigningKey::from_bytes(&[11; 32]);
    // Old key before the re-key, new key after: replays, in one batch or one entry at a time.
    let (good, hub) = entries(&[&new, &new]);
    Verifier::new(hub.clone()).push_entries(&good).unwrap();
    let mut v = Verifier::new(hub.clone());
    for e in &good {
        v.push_entries(std::slice::from_ref(e)).unwrap();
    }
    // A message signed with the retired key after the re-key: the first bad seq is its own.
    let (bad, hub) = entries(&[&new, &old]);
    let f = Verifier::new(hub.clone()).push_entries(&bad).unwrap_err();
    assert_eq!(f.seq, Some(4), "{f}");
    assert!(f.reason.contains("signature"), "{f}");
    let mut v = Verifier::new(hub);
    v.push_entries(&bad[..3]).unwrap();
    let f = v.push_entries(&bad[3..]).unwrap_err();
    assert_eq!(f.seq, Some(4), "{f}");
}
