//! Known-answer tests of tlog-cosignature/v1: the vectors of `testdata/cosignature-vectors.json`,
//! written by the independent Python model `testdata/gen_cosignature_vectors.py` from the C2SP
//! text. The Rust cosigner must reproduce every line byte for byte, and the Rust verifier must
//! accept the good ones, refuse the bad ones and ignore the lines by other keys.
#![allow(clippy::unwrap_used)]

use ed25519_dalek::SigningKey;
use m2mhub_core::cosignature::{
    CosignatureError, CosignatureVerifier, Cosigner, key_id, signed_message,
};
use m2mhub_core::note::{NoteSigner, NoteVerifier};
use serde::Deserialize;

#[derive(Deserialize)]
struct Vectors {
    cosigner: Key,
    log: LogKey,
    vectors: Vec<Vector>,
    bad: Vec<Line>,
    ignored: Vec<Line>,
}

#[derive(Deserialize)]
struct Key {
    name: String,
    seed: String,
    public_key: String,
    key_id: String,
    note_key_id: String,
}

#[derive(Deserialize)]
struct LogKey {
    name: String,
    seed: String,
}

#[derive(Deserialize)]
struct Vector {
    body: String,
    timestamp: u64,
    message: String,
    line: String,
    note: String,
}

#[derive(Deserialize)]
struct Line {
    why: String,
    line: String,
}

fn load() -> Vectors {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/cosignature-vectors.json"
    );
    let text = std::fs::read_to_string(path).expect("read the vectors");
    serde_json::from_str(&text).expect("parse the vectors")
}

fn seed(hex_seed: &str) -> SigningKey {
    let raw: [u8; 32] = hex::decode(hex_seed).unwrap().try_into().unwrap();
    SigningKey::from_bytes(&raw)
}

#[test]
fn the_cosigner_reproduces_every_line() {
    let v = load();
    let key = seed(&v.cosigner.seed);
    assert_eq!(
        hex::encode(key.verifying_key().as_bytes()),
        v.cosigner.public_key
    );
    assert_eq!(
        hex::encode(key_id(&v.cosigner.name, &key.verifying_key())),
        v.cosigner.key_id
    );
    let note_signer = NoteSigner::new(&v.cosigner.name, key.clone()).unwrap();
    assert_eq!(hex::encode(note_signer.key_id()), v.cosigner.note_key_id);
    let c = Cosigner::new(&v.cosigner.name, key).unwrap();
    let log = seed(&v.log.seed);
    for x in &v.vectors {
        assert_eq!(signed_message(&x.body, x.timestamp), x.message);
        assert_eq!(c.cosign(&x.body, x.timestamp).unwrap(), x.line);
        let origin = x.body.split('\n').next().unwrap();
        let signed = NoteSigner::new(origin, log.clone())
            .unwrap()
            .sign(&x.body)
            .unwrap();
        assert_eq!(format!("{signed}{}", x.line), x.note);
        // Go's note and ours still open the note: the cosignature is an unknown key to them.
        let vk = NoteVerifier::new(origin, log.verifying_key()).unwrap();
        assert_eq!(vk.open(&x.note), Ok(x.body.as_str()));
    }
    assert!(v.log.name.starts_with("m2mhub/"));
}

#[test]
fn the_verifier_accepts_refuses_and_ignores_as_the_model_does() {
    let v = load();
    let key = seed(&v.cosigner.seed);
    let member = NoteVerifier::new(&v.cosigner.name, key.verifying_key()).unwrap();
    let verifier = CosignatureVerifier::of_member(&member);
    for x in &v.vectors {
        assert_eq!(verifier.open(&x.note), Ok(x.timestamp), "{}", x.body);
        assert_eq!(verifier.verify(&x.body, &x.line), Ok(x.timestamp));
    }
    let body = &v.vectors[1].body;
    for b in &v.bad {
        let got = verifier.verify(body, &b.line);
        assert!(
            matches!(got, Err(CosignatureError::BadSignature(_))),
            "{}: {got:?}",
            b.why
        );
        // A bad line spoils a note that also holds a good one.
        let both = format!("{}{}", v.vectors[1].line, b.line);
        assert!(verifier.verify(body, &both).is_err(), "{}", b.why);
    }
    for i in &v.ignored {
        let got = verifier.verify(body, &i.line);
        assert!(
            matches!(got, Err(CosignatureError::NotCosigned(_))),
            "{}: {got:?}",
            i.why
        );
        let both = format!("{}{}", i.line, v.vectors[1].line);
        assert_eq!(
            verifier.verify(body, &both),
            Ok(v.vectors[1].timestamp),
            "{}",
            i.why
        );
    }
}
