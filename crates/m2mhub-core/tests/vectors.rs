//! Known-answer vectors from an independent implementation (`testdata/gen_signing_vectors.py`,
//! Python `cryptography`): signing bytes and device signatures (SPEC §4.1), key ids, verifier
//! keys, signed checkpoints and block hashes (SPEC §4.3).
#![allow(clippy::unwrap_used)]

use ed25519_dalek::{Signer, SigningKey};
use m2mhub_core::{
    checkpoint::Checkpoint,
    hash::sha256,
    ids::{Seq, TxId},
    message::{Action, Message},
    names::DeviceName,
    note::{NoteSigner, NoteVerifier},
};
use serde_json::Value;

fn load(name: &str) -> Value {
    let p = format!("{}/../../testdata/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

fn bytes32(v: &Value) -> [u8; 32] {
    let mut b = [0u8; 32];
    hex::decode_to_slice(v.as_str().unwrap(), &mut b).unwrap();
    b
}

#[test]
fn signing_bytes_and_signatures_match_the_reference() {
    let v = load("signing-vectors.json");
    let cases = v["cases"].as_array().unwrap();
    assert!(cases.len() >= 12);
    for c in cases {
        let contents = match c["contents"].as_str().unwrap() {
            "BIG" => (0..16 * 1024)
                .map(|i| (b'a' + (i % 26) as u8) as char)
                .collect(),
            s => s.to_owned(),
        };
        let m = Message {
            sender: DeviceName::new(c["sender"].as_str().unwrap()).unwrap(),
            receiver: DeviceName::new(c["receiver"].as_str().unwrap()).unwrap(),
            action: Action::parse(c["action"].as_str().unwrap()).unwrap(),
            tx: TxId(c["tx"].as_u64().unwrap()),
            cause: c["cause"].as_u64().map(Seq),
            counter: c["counter"].as_u64().unwrap(),
            contents,
            signature: [0; 64],
        };
        assert_eq!(
            hex::encode(sha256(m.contents.as_bytes())),
            c["contents_sha256"].as_str().unwrap()
        );
        let bytes = m.signing_bytes();
        assert_eq!(
            hex::encode(&bytes),
            c["signing_bytes"].as_str().unwrap(),
            "{c}"
        );
        let key = SigningKey::from_bytes(&bytes32(&c["seed"]));
        assert_eq!(
            hex::encode(key.verifying_key().as_bytes()),
            c["public_key"].as_str().unwrap()
        );
        assert_eq!(
            hex::encode(key.sign(&bytes).to_bytes()),
            c["signature"].as_str().unwrap()
        );
    }
}

#[test]
fn checkpoints_match_the_reference() {
    let v = load("note-vectors.json");
    for c in v["checkpoints"].as_array().unwrap() {
        let origin = c["origin"].as_str().unwrap();
        let signer = NoteSigner::new(origin, SigningKey::from_bytes(&bytes32(&c["seed"]))).unwrap();
        assert_eq!(hex::encode(signer.key_id()), c["key_id"].as_str().unwrap());
        assert_eq!(signer.verifier_key(), c["verifier_key"].as_str().unwrap());
        let cp = Checkpoint {
            origin: origin.to_owned(),
            tree_size: c["tree_size"].as_u64().unwrap(),
            root: bytes32(&c["root"]),
            block: c["block"].as_u64().unwrap(),
            prev_block_hash: bytes32(&c["prev_block_hash"]),
        };
        let note = c["note"].as_str().unwrap();
        assert_eq!(cp.sign(&signer).unwrap(), note);
        let verifier = NoteVerifier::parse(c["verifier_key"].as_str().unwrap()).unwrap();
        assert_eq!(Checkpoint::open(note, &verifier).unwrap(), cp);
        assert_eq!(
            hex::encode(cp.block_hash()),
            c["block_hash"].as_str().unwrap()
        );
    }
}
