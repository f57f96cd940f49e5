//! The federation membership entry (SPEC §7): recorded when it changes and only then, kept
//! across a restart, replayed by `verify`, refused when it misnames this hub.
#![allow(clippy::unwrap_used)]

use ed25519_dalek::SigningKey;
use m2mhub_core::{
    entry::Entry,
    federation::{Federation, FederationFile, MemberFile, WitnessSection},
    note::NoteSigner,
};
use m2mhub_ledger::{DataDir, Ledger, LedgerConfig, store::Store, verify::verify_snapshot};

/// The hub's verifier key under `origin` (its own origin, or another for a misnamed member).
fn hub_key_as(dir: &std::path::Path, origin: &str) -> String {
    let key = DataDir::create(dir)
        .unwrap()
        .existing_hub_key()
        .unwrap()
        .unwrap();
    NoteSigner::new(origin, key).unwrap().verifier_key()
}

fn open(dir: &std::path::Path) -> Ledger {
    let config = LedgerConfig {
        origin: None,
        default_origin: "m2mhub/home".into(),
    };
    Ledger::open(&DataDir::create(dir).unwrap(), &config).unwrap()
}

fn other(name: &str, seed: u8) -> MemberFile {
    let origin = format!("m2mhub/{name}");
    MemberFile {
        name: name.into(),
        key: NoteSigner::new(&origin, SigningKey::from_bytes(&[seed; 32]))
            .unwrap()
            .verifier_key(),
        origin,
        url: format!("http://127.0.0.1:80{seed:02}"),
        anchor: None,
    }
}

fn federation(dir: &std::path::Path, cosignatures: usize, home_origin: &str) -> Federation {
    let home = MemberFile {
        name: "home".into(),
        origin: home_origin.into(),
        key: hub_key_as(dir, home_origin),
        url: "http://127.0.0.1:8000".into(),
        anchor: None,
    };
    let file = FederationFile {
        witness: WitnessSection { cosignatures },
        member: vec![other("street", 1), home, other("grid", 2)],
    };
    Federation::new(file).unwrap()
}

#[test]
fn a_membership_is_recorded_when_it_changes_and_survives_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let first_seq;
    {
        let ledger = open(tmp.path());
        let m = federation(tmp.path(), 1, "m2mhub/home")
            .membership("home")
            .unwrap();
        first_seq = ledger.record_membership(m.clone()).unwrap().unwrap();
        assert_eq!(
            ledger.record_membership(m).unwrap(),
            None,
            "unchanged: nothing new"
        );
    }
    let ledger = open(tmp.path());
    let m = federation(tmp.path(), 1, "m2mhub/home")
        .membership("home")
        .unwrap();
    let (seq, recorded) = ledger
        .view()
        .registry
        .registry
        .membership()
        .cloned()
        .unwrap();
    assert_eq!(
        (seq.0, &recorded),
        (first_seq, &m),
        "the registry replays it on open"
    );
    assert_eq!(ledger.record_membership(m).unwrap(), None);
    let stricter = federation(tmp.path(), 2, "m2mhub/home")
        .membership("home")
        .unwrap();
    let second = ledger.record_membership(stricter.clone()).unwrap().unwrap();
    assert!(second > first_seq);
    let names: Vec<_> = stricter.members.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["grid", "home", "street"], "sorted by name");
    let bytes = ledger.snapshot().unwrap().entry(second).unwrap().unwrap();
    assert_eq!(
        Entry::from_bytes(&bytes).unwrap(),
        Entry::FederationMembership(stricter)
    );
    drop(ledger);
    let hub_key = DataDir::create(tmp.path())
        .unwrap()
        .existing_hub_key()
        .unwrap()
        .unwrap();
    let key = NoteSigner::new("m2mhub/home", hub_key).unwrap().verifier();
    let store = Store::open(&tmp.path().join("ledger.redb")).unwrap();
    verify_snapshot(&store.snapshot().unwrap(), key).unwrap();
}

#[test]
fn a_membership_that_misnames_this_hub_is_refused_and_records_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let ledger = open(tmp.path());
    let size = ledger.view().head.tree_size;
    let wrong = federation(tmp.path(), 1, "m2mhub/not-home")
        .membership("home")
        .unwrap();
    let e = ledger.record_membership(wrong).unwrap_err().to_string();
    assert!(e.contains("this hub signs as \"m2mhub/home\""), "{e}");
    assert_eq!(ledger.view().head.tree_size, size);
}
