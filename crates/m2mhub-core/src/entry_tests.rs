//! Tests of the entry encoding: round trips, documented layouts, strict refusals.
use super::*;
use crate::notice::Notice;

fn name(s: &str) -> DeviceName {
    DeviceName::new(s).unwrap()
}

pub(crate) fn samples() -> Vec<Entry> {
    vec![
        Entry::DeviceRegistered(Registration {
            name: name("oven"),
            clearance: 3,
            public_key: [7; 32],
            exceptions: [name("a"), name("b")].into_iter().collect(),
            simulated: false,
        }),
        Entry::ExceptionGranted {
            device: name("oven"),
            sender: name("phone"),
        },
        Entry::ExceptionWithdrawn {
            device: name("oven"),
            sender: name("phone"),
        },
        Entry::DeviceRevoked {
            device: name("oven"),
        },
        Entry::DeviceRekeyed {
            device: name("oven"),
            public_key: [9; 32],
        },
        Entry::Message(MessageEntry {
            sender: name("top_level"),
            receiver: name("low_level"),
            action: Action::Continue,
            tx: TxId(6000),
            cause: Some(Seq(0)),
            counter: u64::MAX,
            contents_hash: [1; 32],
            signature: [2; 64],
            provenance: None,
            notices: [Notice::UnknownTransaction].into_iter().collect(),
            federated: false,
        }),
        Entry::Message(MessageEntry {
            sender: DeviceName::party("meter@home").unwrap(),
            receiver: name("substation"),
            action: Action::End,
            tx: TxId(3),
            cause: None,
            counter: 7,
            contents_hash: [3; 32],
            signature: [4; 64],
            provenance: Some(name("controller")),
            notices: Notices::none(),
            federated: true,
        }),
        Entry::FederationMembership(membership()),
    ]
}

fn member(hub: &str, seed: u8) -> MemberRecord {
    let origin = format!("m2mhub/{hub}");
    let signer =
        crate::note::NoteSigner::new(&origin, ed25519_dalek::SigningKey::from_bytes(&[seed; 32]))
            .unwrap();
    MemberRecord {
        name: name(hub),
        key: signer.verifier_key(),
        origin,
    }
}

fn membership() -> Membership {
    Membership {
        hub: name("home"),
        cosignatures: 1,
        members: vec![member("grid", 1), member("home", 2), member("street", 3)],
    }
}

#[test]
fn membership_layout_is_the_documented_one() {
    let m = membership();
    let b = Entry::FederationMembership(m.clone()).to_bytes();
    let mut want = vec![1, 8, 0, 4];
    want.extend_from_slice(b"home");
    want.extend_from_slice(&[0, 1, 0, 3]);
    for r in &m.members {
        for f in [r.name.as_str(), &r.origin, &r.key] {
            want.extend_from_slice(&(f.len() as u16).to_be_bytes());
            want.extend_from_slice(f.as_bytes());
        }
    }
    assert_eq!(b, want);
}

#[test]
fn a_membership_that_breaks_its_rules_is_refused() {
    let mut unsorted = membership();
    unsorted.members.swap(0, 1);
    let mut stranger = membership();
    stranger.hub = name("elsewhere");
    let mut policy = membership();
    policy.cosignatures = 3;
    let mut wrong_key = membership();
    wrong_key.members[0].origin = "m2mhub/other".into();
    let mut twice = membership();
    twice.members[1] = member("grid", 4);
    twice.members.swap(1, 2);
    for (m, why) in [
        (unsorted, "sorted"),
        (stranger, "not a member"),
        (policy, "fewer than the members"),
        (wrong_key, "canonical key named by its origin"),
        (twice, "sorted by name and unique"),
    ] {
        let b = Entry::FederationMembership(m.clone()).to_bytes();
        let e = Entry::from_bytes(&b).unwrap_err().to_string();
        assert!(e.contains(why), "{e} lacks {why:?}");
        assert!(m.check().is_err());
    }
}

#[test]
fn every_kind_round_trips() {
    for e in samples() {
        let b = e.to_bytes();
        assert_eq!(Entry::from_bytes(&b).unwrap(), e);
    }
}

#[test]
fn message_layout_is_the_documented_one() {
    let Entry::Message(m) = &samples()[5] else {
        panic!()
    };
    let b = Entry::Message(m.clone()).to_bytes();
    let len = 2 + (2 + 9) + (2 + 9) + 1 + 8 + 8 + 8 + 32 + 64 + 2 + 2;
    assert_eq!(b.len(), len);
    assert_eq!(&b[..2], &[1, 5]);
    // cause 0 is encoded as 1 (0 means absent)
    assert_eq!(&b[33..41], &1u64.to_be_bytes());
    assert_eq!(&b[len - 2..], &(1u16 << 3).to_be_bytes());
}

#[test]
fn rekey_layout_is_the_documented_one() {
    let e = Entry::DeviceRekeyed {
        device: name("oven"),
        public_key: [9; 32],
    };
    let mut want = vec![1, 7, 0, 4];
    want.extend_from_slice(b"oven");
    want.extend_from_slice(&[9; 32]);
    assert_eq!(e.to_bytes(), want);
    assert_eq!(e.kind().as_str(), "device_rekeyed");
}

#[test]
fn truncation_trailing_bytes_and_unknown_codes_are_refused() {
    for e in samples() {
        let b = e.to_bytes();
        for cut in 0..b.len() {
            assert!(Entry::from_bytes(&b[..cut]).is_err(), "{e:?} cut at {cut}");
        }
        let mut long = b.clone();
        long.push(0);
        assert!(Entry::from_bytes(&long).is_err());
        let mut v = b.clone();
        v[0] = 2;
        assert!(Entry::from_bytes(&v).is_err());
        let mut k = b;
        k[1] = 9;
        assert!(Entry::from_bytes(&k).is_err());
    }
}

#[test]
fn unsorted_exceptions_and_bad_names_are_refused() {
    let mut b = vec![1, 1, 0, 1, b'x', 0, 0, 0, 1];
    b.extend_from_slice(&[0; 32]);
    b.extend_from_slice(&[0, 2, 0, 1, b'b', 0, 1, b'a']);
    assert!(Entry::from_bytes(&b).is_err());
    let bad_name = [1u8, 4, 0, 1, b' '];
    assert!(Entry::from_bytes(&bad_name).is_err());
}

#[test]
fn only_a_federated_message_names_another_hubs_device() {
    let Entry::Message(fed) = &samples()[6] else {
        panic!()
    };
    let b = Entry::Message(fed.clone()).to_bytes();
    assert_eq!(&b[..2], &[1, 10]);
    assert_eq!(
        Entry::Message(fed.clone()).kind().as_str(),
        "federated_message"
    );
    // The same bytes as kind 5 are refused: a one-hub message names bare devices only.
    let mut one_hub = b.clone();
    one_hub[1] = 5;
    assert!(Entry::from_bytes(&one_hub).is_err());
    // A provenance is this hub's device: never name@hub.
    let e = Entry::Message(MessageEntry {
        provenance: Some(DeviceName::party("controller@grid").unwrap()),
        ..fed.clone()
    });
    assert!(Entry::from_bytes(&e.to_bytes()).is_err());
}

#[test]
fn a_federated_entry_is_signed_with_every_name_qualified() {
    let Entry::Message(fed) = &samples()[6] else {
        panic!()
    };
    assert_eq!(fed.signing_bytes(None), None);
    let fields = crate::signing::SignedFields {
        sender: "meter@home",
        receiver: "substation@grid",
        ..fed.signed_fields()
    };
    let want = crate::signing::FederatedFields {
        fields,
        tx_hub: "grid",
    }
    .signing_bytes();
    assert_eq!(fed.signing_bytes(Some("grid")), Some(want));
    let Entry::Message(one_hub) = &samples()[5] else {
        panic!()
    };
    assert_eq!(
        one_hub.signing_bytes(Some("grid")),
        Some(one_hub.signed_fields().signing_bytes())
    );
}
