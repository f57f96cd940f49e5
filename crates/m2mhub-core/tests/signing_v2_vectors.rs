//! Known-answer tests of the federated (v2, SPEC §7) signing bytes: the vectors of
//! `testdata/signing-v2-vectors.json`, written by the independent Python model
//! `testdata/gen_signing_vectors.py` (the C and Python SDKs run the same file).

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use m2mhub_core::hash::{Hash, sha256};
use m2mhub_core::signing::{FederatedFields, MESSAGE_DOMAIN, MESSAGE_DOMAIN_V2, SignedFields};
use serde::Deserialize;

#[derive(Deserialize)]
struct Vectors {
    domain: String,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    sender: String,
    receiver: String,
    action: String,
    tx: u64,
    tx_hub: String,
    cause: Option<u64>,
    counter: u64,
    contents: String,
    contents_sha256: String,
    signing_bytes: String,
    seed: String,
    public_key: String,
    signature: String,
}

fn vectors() -> Vectors {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/signing-v2-vectors.json"
    );
    let text = std::fs::read_to_string(path).expect("read signing-v2-vectors.json");
    serde_json::from_str(&text).expect("parse signing-v2-vectors.json")
}

fn contents(case: &Case) -> Vec<u8> {
    match case.contents.as_str() {
        "BIG" => (0..16 * 1024).map(|i| b'a' + (i % 26) as u8).collect(),
        text => text.as_bytes().to_vec(),
    }
}

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
fn the_domain_differs_from_v1() {
    let v = vectors();
    assert_eq!(v.domain.as_bytes(), MESSAGE_DOMAIN_V2);
    assert_ne!(MESSAGE_DOMAIN_V2, MESSAGE_DOMAIN);
    assert!(v.cases.iter().any(|c| c.tx_hub.is_empty()));
    assert!(v.cases.iter().any(|c| !c.tx_hub.is_empty()));
}

#[test]
fn signing_bytes_and_signatures_match() {
    for case in vectors().cases {
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
            tx_hub: &case.tx_hub,
        };
        let bytes = fields.signing_bytes();
        assert_eq!(hex::encode(&bytes), case.signing_bytes, "{}", case.name);
        assert_eq!(fields.signing_len(), bytes.len(), "{}", case.name);

        let key = SigningKey::from_bytes(&array(&case.seed));
        assert_eq!(hex::encode(key.verifying_key().as_bytes()), case.public_key);
        let sig = key.sign(&bytes);
        assert_eq!(hex::encode(sig.to_bytes()), case.signature, "{}", case.name);
        let public = VerifyingKey::from_bytes(&array(&case.public_key)).expect("key");
        let theirs = Signature::from_bytes(&array(&case.signature));
        assert!(public.verify(&bytes, &theirs).is_ok(), "{}", case.name);
        // The same fields under v1 give other bytes: a v1 signature never passes as v2.
        assert_ne!(fields.fields.signing_bytes(), bytes, "{}", case.name);
    }
}
