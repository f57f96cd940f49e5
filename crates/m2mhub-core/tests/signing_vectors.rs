//! Known-answer tests of the signing bytes: the vectors of `testdata/signing-vectors.json`
//! (v1, SPEC §4.1) and `testdata/signing-v2-vectors.json` (the federated v2 of SPEC §7, with
//! `tx_hub`; the C and Python SDKs run the same file), written by the independent Python model
//! `testdata/gen_signing_vectors.py`.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use m2mhub_core::hash::{Hash, sha256};
use m2mhub_core::signing::{FederatedFields, MESSAGE_DOMAIN, MESSAGE_DOMAIN_V2, SignedFields};
use serde::Deserialize;

#[derive(Deserialize)]
struct Vectors {
    domain: String,
    big_contents_rule: String,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    sender: String,
    receiver: String,
    action: String,
    tx: u64,
    /// v2 only: the transaction's home hub.
    #[serde(default)]
    tx_hub: Option<String>,
    cause: Option<u64>,
    counter: u64,
    contents: String,
    contents_sha256: String,
    signing_bytes: String,
    seed: String,
    public_key: String,
    signature: String,
}

fn read(file: &str) -> Vectors {
    let path = format!("{}/../../testdata/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).expect("read the vectors");
    serde_json::from_str(&text).expect("parse the vectors")
}

fn vectors() -> Vectors {
    read("signing-vectors.json")
}

/// The contents' bytes: their UTF-8, or for "BIG" the 16 KiB text of `big_contents_rule`.
fn contents(case: &Case) -> Vec<u8> {
    match case.contents.as_str() {
        "BIG" => (0..16 * 1024).map(|i| b'a' + (i % 26) as u8).collect(),
        text => text.as_bytes().to_vec(),
    }
}

/// The action's code in the signing bytes.
fn action(case: &Case) -> u8 {
    match case.action.as_str() {
        "begin" => 0,
        "continue" => 1,
        "end" => 2,
        other => panic!("{}: unknown action {other:?}", case.name),
    }
}

fn array<const N: usize>(h: &str) -> [u8; N] {
    hex::decode(h).expect("hex").try_into().expect("length")
}

#[test]
fn domain_and_rule_match() {
    let v = vectors();
    assert_eq!(v.domain.as_bytes(), MESSAGE_DOMAIN);
    assert_eq!(v.big_contents_rule, "16384 chars: chr(ord('a') + i % 26)");
}

#[test]
fn cover_the_edges() {
    let v = vectors();
    assert!(v.cases.len() >= 12);
    let lens: Vec<usize> = v
        .cases
        .iter()
        .flat_map(|c| [c.sender.len(), c.receiver.len()])
        .collect();
    assert!(lens.contains(&1) && lens.contains(&64));
    for code in 0..=2 {
        assert!(v.cases.iter().any(|c| action(c) == code));
    }
    assert!(v.cases.iter().any(|c| c.cause.is_none()));
    assert!(v.cases.iter().any(|c| c.cause == Some(0)));
    assert!(v.cases.iter().any(|c| c.counter == u64::MAX));
    assert!(v.cases.iter().any(|c| c.contents.is_empty()));
    assert!(v.cases.iter().any(|c| contents(c).len() == 16384));
}

#[test]
fn signing_bytes_match() {
    for case in vectors().cases {
        let contents = contents(&case);
        let h: Hash = sha256(&contents);
        assert_eq!(hex::encode(h), case.contents_sha256, "{}", case.name);
        let fields = SignedFields {
            sender: &case.sender,
            receiver: &case.receiver,
            action: action(&case),
            tx: case.tx,
            cause: case.cause,
            counter: case.counter,
            contents_hash: &h,
        };
        let want = hex::decode(&case.signing_bytes).expect("signing bytes hex");
        assert_eq!(fields.signing_bytes(), want, "{}", case.name);
        assert_eq!(fields.signing_len(), want.len(), "{}", case.name);
        let mut out = vec![0xAA];
        fields.write_signing_bytes(&mut out);
        assert_eq!(out[1..], want[..], "{}", case.name);
    }
}

#[test]
fn signatures_match_byte_for_byte() {
    for case in vectors().cases {
        let key = SigningKey::from_bytes(&array(&case.seed));
        let public = key.verifying_key();
        assert_eq!(
            hex::encode(public.as_bytes()),
            case.public_key,
            "{}",
            case.name
        );
        let bytes = hex::decode(&case.signing_bytes).expect("signing bytes hex");
        let sig = key.sign(&bytes);
        assert_eq!(hex::encode(sig.to_bytes()), case.signature, "{}", case.name);
        // And the published signature verifies, strictly, under the published key.
        let vk = VerifyingKey::from_bytes(&array(&case.public_key)).expect("public key");
        let sig = Signature::from_bytes(&array(&case.signature));
        vk.verify_strict(&bytes, &sig).expect("signature verifies");
        let mut bad = bytes.clone();
        *bad.last_mut().expect("non-empty") ^= 1;
        assert!(vk.verify_strict(&bad, &sig).is_err(), "{}", case.name);
    }
}

#[test]
fn v2_signing_bytes_and_signatures_match() {
    let v = read("signing-v2-vectors.json");
    assert_eq!(v.domain.as_bytes(), MESSAGE_DOMAIN_V2);
    assert_ne!(MESSAGE_DOMAIN_V2, MESSAGE_DOMAIN);
    assert!(v.cases.iter().any(|c| c.tx_hub.as_deref() == Some("")));
    assert!(
        v.cases
            .iter()
            .any(|c| c.tx_hub.as_deref().is_some_and(|h| !h.is_empty()))
    );
    for case in v.cases {
        let h: Hash = sha256(&contents(&case));
        assert_eq!(hex::encode(h), case.contents_sha256, "{}", case.name);
        let fields = FederatedFields {
            fields: SignedFields {
                sender: &case.sender,
                receiver: &case.receiver,
                action: action(&case),
                tx: case.tx,
                cause: case.cause,
                counter: case.counter,
                contents_hash: &h,
            },
            tx_hub: case.tx_hub.as_deref().expect("v2 cases name tx_hub"),
        };
        let bytes = fields.signing_bytes();
        assert_eq!(hex::encode(&bytes), case.signing_bytes, "{}", case.name);
        assert_eq!(fields.signing_len(), bytes.len(), "{}", case.name);
        let key = SigningKey::from_bytes(&array(&case.seed));
        assert_eq!(hex::encode(key.verifying_key().as_bytes()), case.public_key);
        assert_eq!(
            hex::encode(key.sign(&bytes).to_bytes()),
            case.signature,
            "{}",
            case.name
        );
        let vk = VerifyingKey::from_bytes(&array(&case.public_key)).expect("public key");
        let sig = Signature::from_bytes(&array(&case.signature));
        vk.verify_strict(&bytes, &sig).expect("signature verifies");
        // The same fields under v1 give other bytes: a v1 signature never passes as v2.
        assert_ne!(fields.fields.signing_bytes(), bytes, "{}", case.name);
    }
}
