//! Known-answer tests of the federation entries' bytes (SPEC §7, kind 8
//! `federation_membership`, kind 9 `import` and kind 10 `federated_message`):
//! `testdata/entry-federation-vectors.json`, written by the independent Python model
//! `testdata/gen_entry_vectors.py`. Every good case decodes to its fields and encodes back to
//! its bytes; every bad case is refused; every good import passes [`Import::check`] against the
//! membership, and the refused ones fail it; every federated message's v2 signing bytes, rebuilt
//! for its hub, are the model's and carry its signature.

use m2mhub_core::entry::{Entry, Import, MemberRecord, Membership, MessageEntry};
use m2mhub_core::ids::{Seq, TxId};
use m2mhub_core::message::Action;
use m2mhub_core::names::DeviceName;
use m2mhub_core::notice::{Notice, Notices};
use serde::Deserialize;

#[derive(Deserialize)]
struct Vectors {
    good: Vec<Good>,
    imports: Vec<ImportCase>,
    bad: Vec<Bad>,
    imports_refused_by_check: Vec<Bad>,
    federated_messages: FederatedMessages,
}

#[derive(Deserialize)]
struct FederatedMessages {
    good: Vec<FederatedMessage>,
    bad: Vec<Bad>,
}

#[derive(Deserialize)]
struct FederatedMessage {
    name: String,
    hub: String,
    kind: String,
    sender: String,
    receiver: String,
    action: String,
    tx: u64,
    cause: Option<u64>,
    counter: u64,
    contents: String,
    contents_sha256: String,
    provenance: Option<String>,
    notices: Vec<String>,
    signature: String,
    public_key: String,
    signing_bytes: String,
    bytes: String,
    leaf_hash: String,
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

fn party(s: &str) -> DeviceName {
    DeviceName::party(s).expect("a valid name or name@hub in the vectors")
}

/// The entry a federated-message case describes, built from its fields alone.
fn federated_entry(c: &FederatedMessage) -> MessageEntry {
    let notices: Notices = c
        .notices
        .iter()
        .map(|n| Notice::from_code(n).expect("a known notice in the vectors"))
        .collect();
    MessageEntry {
        sender: party(&c.sender),
        receiver: party(&c.receiver),
        action: Action::parse(&c.action).expect("an action in the vectors"),
        tx: TxId(c.tx),
        cause: c.cause.map(Seq),
        counter: c.counter,
        contents_hash: hash(&c.contents_sha256),
        signature: hex::decode(&c.signature)
            .expect("hex")
            .try_into()
            .expect("64 bytes"),
        provenance: c.provenance.as_deref().map(name),
        notices,
        federated: true,
    }
}

#[test]
fn federated_messages_decode_encode_and_hash_as_the_model_says() {
    let v = vectors();
    assert!(v.federated_messages.good.len() >= 5);
    for c in &v.federated_messages.good {
        let bytes = hex::decode(&c.bytes).expect("hex");
        let want = Entry::Message(federated_entry(c));
        let got = Entry::from_bytes(&bytes).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        assert_eq!(got, want, "{}", c.name);
        assert_eq!(want.to_bytes(), bytes, "{}", c.name);
        assert_eq!(got.kind().as_str(), c.kind, "{}", c.name);
        assert_eq!(c.kind, "federated_message");
        assert_eq!(
            hex::encode(m2mhub_core::merkle::leaf_hash(&bytes)),
            c.leaf_hash,
            "{}",
            c.name
        );
        assert_eq!(
            hex::encode(m2mhub_core::hash::sha256(c.contents.as_bytes())),
            c.contents_sha256,
            "{}",
            c.name
        );
    }
}

#[test]
fn federated_messages_are_signed_over_the_v2_bytes_of_their_hub() {
    let v = vectors();
    for c in &v.federated_messages.good {
        let m = federated_entry(c);
        let key: [u8; 32] = hex::decode(&c.public_key)
            .expect("hex")
            .try_into()
            .expect("32 bytes");
        let signed = m.signing_bytes(Some(&c.hub)).expect("a hub is given");
        assert_eq!(hex::encode(&signed), c.signing_bytes, "{}", c.name);
        assert!(
            m2mhub_core::sig::verify(&key, &signed, &m.signature),
            "{}: the signature does not verify",
            c.name
        );
        // The signature names the ledger: rebuilt for another hub, the bytes no longer carry
        // it, and without a hub there are no bytes to check.
        let elsewhere = m.signing_bytes(Some("elsewhere")).expect("a hub is given");
        assert!(
            !m2mhub_core::sig::verify(&key, &elsewhere, &m.signature),
            "{}: verifies for another hub",
            c.name
        );
        assert_eq!(m.signing_bytes(None), None, "{}", c.name);
        // Nor does it pass as a one-hub (kind 5) message's.
        let one_hub = m.signed_fields().signing_bytes();
        assert!(
            !m2mhub_core::sig::verify(&key, &one_hub, &m.signature),
            "{}: verifies as v1",
            c.name
        );
    }
}

#[test]
fn malformed_names_in_messages_are_refused() {
    let v = vectors();
    assert!(v.federated_messages.bad.len() >= 8);
    for c in &v.federated_messages.bad {
        let bytes = hex::decode(&c.bytes).expect("hex");
        assert!(
            Entry::from_bytes(&bytes).is_err(),
            "accepted the bad case {:?}",
            c.name
        );
    }
}
