//! Known-answer tests of the federation entries' bytes (SPEC §7, kind 8
//! `federation_membership` and kind 9 `import`): `testdata/entry-federation-vectors.json`,
//! written by the independent Python model `testdata/gen_entry_vectors.py`. Every good case
//! decodes to its fields and encodes back to its bytes; every bad case is refused; every good
//! import passes [`Import::check`] against the membership, and the refused ones fail it.

use m2mhub_core::entry::{Entry, Import, MemberRecord, Membership};
use m2mhub_core::names::DeviceName;
use serde::Deserialize;

#[derive(Deserialize)]
struct Vectors {
    good: Vec<Good>,
    imports: Vec<ImportCase>,
    bad: Vec<Bad>,
    imports_refused_by_check: Vec<Bad>,
}

#[derive(Deserialize)]
struct ImportCase {
    name: String,
    origin: String,
    seq: u64,
    entry: String,
    proof: Vec<String>,
    checkpoint: String,
    bytes: String,
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

fn hash(h: &str) -> [u8; 32] {
    hex::decode(h).expect("hex").try_into().expect("32 bytes")
}

fn membership(v: &Vectors) -> Membership {
    let bytes = hex::decode(&v.good[1].bytes).expect("hex");
    match Entry::from_bytes(&bytes) {
        Ok(Entry::FederationMembership(m)) => m,
        other => panic!("good[1] is not a membership: {other:?}"),
    }
}

#[test]
fn imports_decode_encode_and_pass_the_check_against_the_membership() {
    let v = vectors();
    let m = membership(&v);
    assert!(v.imports.len() >= 3);
    for c in &v.imports {
        let bytes = hex::decode(&c.bytes).expect("hex");
        let want = Import {
            origin: c.origin.clone(),
            seq: c.seq,
            entry: hex::decode(&c.entry).expect("hex"),
            proof: c.proof.iter().map(|h| hash(h)).collect(),
            checkpoint: c.checkpoint.clone(),
        };
        let got = Entry::from_bytes(&bytes).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        assert_eq!(got, Entry::Import(want.clone()), "{}", c.name);
        assert_eq!(Entry::Import(want.clone()).to_bytes(), bytes, "{}", c.name);
        let (hub, inner) = want.check(&m).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        assert_eq!(hub, "street");
        assert_eq!(inner.to_bytes(), want.entry);
    }
}

#[test]
fn imports_with_a_bad_proof_key_or_origin_fail_the_check() {
    let v = vectors();
    let m = membership(&v);
    assert!(v.imports_refused_by_check.len() >= 5);
    for c in &v.imports_refused_by_check {
        let bytes = hex::decode(&c.bytes).expect("hex");
        let Ok(Entry::Import(i)) = Entry::from_bytes(&bytes) else {
            panic!("{}: does not decode as an import", c.name)
        };
        assert!(i.check(&m).is_err(), "{}: passed the check", c.name);
    }
}
