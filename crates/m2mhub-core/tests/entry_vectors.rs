//! Known-answer tests of the federation entries' bytes (SPEC §7, kind 8
//! `federation_membership`): `testdata/entry-federation-vectors.json`, written by the
//! independent Python model `testdata/gen_entry_vectors.py`. Every good case decodes to its
//! fields and encodes back to its bytes; every bad case is refused.

use m2mhub_core::entry::{Entry, MemberRecord, Membership};
use m2mhub_core::names::DeviceName;
use serde::Deserialize;

#[derive(Deserialize)]
struct Vectors {
    good: Vec<Good>,
    bad: Vec<Bad>,
}

#[derive(Deserialize)]
struct Good {
    name: String,
    hub: String,
    cosignatures: u16,
    members: Vec<Member>,
    bytes: String,
}

#[derive(Deserialize)]
struct Member {
    name: String,
    origin: String,
    key: String,
}

#[derive(Deserialize)]
struct Bad {
    name: String,
    bytes: String,
}

fn vectors() -> Vectors {
    let path = format!(
        "{}/../../testdata/entry-federation-vectors.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("read the vectors"))
        .expect("parse the vectors")
}

fn name(s: &str) -> DeviceName {
    DeviceName::new(s).expect("a valid name in the vectors")
}

#[test]
fn memberships_decode_to_their_fields_and_encode_to_their_bytes() {
    let v = vectors();
    assert!(v.good.len() >= 4);
    for c in v.good {
        let bytes = hex::decode(&c.bytes).expect("hex");
        let want = Entry::FederationMembership(Membership {
            hub: name(&c.hub),
            cosignatures: c.cosignatures,
            members: c
                .members
                .iter()
                .map(|m| MemberRecord {
                    name: name(&m.name),
                    origin: m.origin.clone(),
                    key: m.key.clone(),
                })
                .collect(),
        });
        let got = Entry::from_bytes(&bytes).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        assert_eq!(got, want, "{}", c.name);
        assert_eq!(want.to_bytes(), bytes, "{}", c.name);
        assert_eq!(got.kind().as_str(), "federation_membership");
    }
}

#[test]
fn memberships_breaking_a_rule_are_refused() {
    let v = vectors();
    assert!(v.bad.len() >= 10);
    for c in v.bad {
        let bytes = hex::decode(&c.bytes).expect("hex");
        assert!(
            Entry::from_bytes(&bytes).is_err(),
            "accepted the bad case {:?}",
            c.name
        );
    }
}
