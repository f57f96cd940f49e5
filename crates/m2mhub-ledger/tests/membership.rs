//! The federation membership entry (SPEC §7): recorded when it changes and only then, kept
//! across a restart, replayed by `verify`, refused when it misnames this hub. Import entries:
//! registry changes of another member's real ledger, with its proof and checkpoint, change
//! that member's registry as this hub knows it, in source order, and replay on their own.
#![allow(clippy::unwrap_used)]

mod common;

use ed25519_dalek::SigningKey;
use m2mhub_core::entry::Import;
use m2mhub_core::{
    entry::Entry,
    federation::{Federation, FederationFile, MemberFile, WitnessSection},
    note::NoteSigner,
};
use m2mhub_ledger::{
    DataDir, Ledger, LedgerConfig, Submission, store::Store, verify::verify_snapshot,
};

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
    open_as(dir, "m2mhub/home")
}

fn open_as(dir: &std::path::Path, origin: &str) -> Ledger {
    let config = LedgerConfig {
        origin: None,
        default_origin: origin.into(),
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

/// The import of `source`'s entry at `seq`, proved in its current tree.
fn import_of(source: &Ledger, seq: u64) -> Import {
    let p = source.inclusion_proof(seq, None).unwrap();
    Import {
        origin: source.origin().into(),
        seq,
        entry: source.snapshot().unwrap().entry(seq).unwrap().unwrap(),
        proof: p
            .path
            .iter()
            .map(|h| hex::decode(h).unwrap().try_into().unwrap())
            .collect(),
        checkpoint: source.checkpoint(),
    }
}

fn import(ledger: &Ledger, i: Import) -> Result<u64, String> {
    match ledger
        .append(vec![Submission::Registry(Entry::Import(i))])
        .pop()
        .unwrap()
    {
        Ok(m2mhub_ledger::Appended::Registry { seq, .. }) => Ok(seq),
        Ok(other) => panic!("{other:?}"),
        Err(e) => Err(e.to_string()),
    }
}

#[test]
fn imports_change_the_source_hubs_registry_in_order_and_replay_alone() {
    let (home_dir, street_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let street = open_as(street_dir.path(), "m2mhub/street");
    let mut d = common::Devices::default();
    common::register_all(&street, &mut d, &[("meter", 2), ("lamp", 1)]);
    street.append(vec![Submission::Registry(Entry::DeviceRevoked {
        device: common::name("lamp"),
    })]);
    let street_key = hub_key_as(street_dir.path(), "m2mhub/street");
    // What a follower reads: the registry changes only, paged through the registry index.
    let page = street.registry_entries(None, Some(2)).unwrap();
    assert_eq!(page.items.iter().map(|e| e.0).collect::<Vec<_>>(), [0, 1]);
    assert_eq!(page.next, Some(1));
    let rest = street.registry_entries(page.next, Some(2)).unwrap();
    assert_eq!((rest.items.len(), rest.items[0].0, rest.next), (1, 2, None));

    let home = open(home_dir.path());
    let early = import(&home, import_of(&street, 0)).unwrap_err();
    assert!(
        early.contains("before any federation membership"),
        "{early}"
    );
    let mut file = FederationFile {
        witness: WitnessSection { cosignatures: 0 },
        member: vec![other("street", 1), other("grid", 2)],
    };
    file.member[0].key = street_key;
    file.member.push(MemberFile {
        name: "home".into(),
        origin: "m2mhub/home".into(),
        key: hub_key_as(home_dir.path(), "m2mhub/home"),
        url: "http://127.0.0.1:8000".into(),
        anchor: None,
    });
    let m = Federation::new(file).unwrap().membership("home").unwrap();
    home.record_membership(m).unwrap().unwrap();

    // Out of order: the revocation of lamp (seq 2) before its registration (seq 1).
    let refused = import(&home, import_of(&street, 2)).unwrap_err();
    assert!(refused.contains("no device named lamp"), "{refused}");
    import(&home, import_of(&street, 0)).unwrap();
    import(&home, import_of(&street, 1)).unwrap();
    let again = import(&home, import_of(&street, 1)).unwrap_err();
    assert!(again.contains("imports go in source order"), "{again}");
    let view = home.view();
    assert!(
        !view
            .registry
            .registry
            .foreign("lamp", "street")
            .unwrap()
            .is_revoked()
    );
    let revoked_at = import(&home, import_of(&street, 2)).unwrap();
    let view = home.view();
    assert!(
        view.registry
            .registry
            .foreign("lamp", "street")
            .unwrap()
            .is_revoked()
    );
    assert!(view.registry.registry.foreign("meter", "street").is_some());
    assert!(
        view.registry.registry.get("meter").is_none(),
        "not a local device"
    );
    assert_eq!(
        view.registry.registry.last_imported("m2mhub/street"),
        Some(2)
    );

    // A tampered import: the entry's bytes changed, so its proof fails; nothing is recorded.
    let size = home.view().head.tree_size;
    let mut bad = import_of(&street, 0);
    bad.entry[5] ^= 1;
    assert!(import(&home, bad).is_err());
    assert_eq!(home.view().head.tree_size, size);

    drop(home);
    let home = open(home_dir.path());
    assert!(
        home.view()
            .registry
            .registry
            .foreign("lamp", "street")
            .unwrap()
            .is_revoked()
    );
    assert!(revoked_at < home.view().head.tree_size);
    drop(home);
    let hub_key = DataDir::create(home_dir.path())
        .unwrap()
        .existing_hub_key()
        .unwrap()
        .unwrap();
    let key = NoteSigner::new("m2mhub/home", hub_key).unwrap().verifier();
    let store = Store::open(&home_dir.path().join("ledger.redb")).unwrap();
    verify_snapshot(&store.snapshot().unwrap(), key).unwrap();
}
