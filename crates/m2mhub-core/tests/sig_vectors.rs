//! Known answers of the signature rule (SPEC §3.2.1, ZIP 215): every case of
//! `testdata/sig-vectors.json`, written by the independent Python model
//! `testdata/gen_sig_vectors.py`, checked alone and as a batch of one. (Batches of honest
//! messages and thread counts: `crates/m2mhub-ledger/tests/signatures.rs`.)
#![allow(clippy::unwrap_used)]

use getrandom::{SysRng, rand_core::UnwrapErr};
use m2mhub_core::sig::{self, PublicKey, SigCheck};
use serde::Deserialize;

#[derive(Deserialize)]
struct Vectors {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    group: String,
    public_key: String,
    message: String,
    signature: String,
    valid: bool,
    cofactorless: bool,
}

fn vectors() -> Vec<Case> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/sig-vectors.json"
    );
    let text = std::fs::read_to_string(path).expect("read sig-vectors.json");
    serde_json::from_str::<Vectors>(&text)
        .expect("parse sig-vectors.json")
        .cases
}

fn array<const N: usize>(h: &str) -> [u8; N] {
    hex::decode(h).unwrap().try_into().unwrap()
}

#[test]
fn every_vector_gets_its_zip215_verdict_alone_and_in_a_batch_of_one() {
    let cases = vectors();
    let count = |g: &str| cases.iter().filter(|c| c.group == g).count();
    assert_eq!((count("taming"), count("zip215")), (12, 196));
    for c in &cases {
        let (key, sig) = (array::<32>(&c.public_key), array::<64>(&c.signature));
        let message = hex::decode(&c.message).unwrap();
        assert_eq!(sig::verify(&key, &message, &sig), c.valid, "{}", c.name);
        // Every key in the file is a curve point (ZIP 215 decodes non-canonical ones).
        let key = PublicKey::from_bytes(&key).unwrap();
        let check = SigCheck {
            key,
            message,
            signature: sig,
        };
        let batch = sig::verify_batch(std::slice::from_ref(&check), UnwrapErr(SysRng));
        assert_eq!(batch, [c.valid], "{} in a batch of one", c.name);
    }
}

/// The cases where the cofactored and cofactorless equations disagree are the ones whose
/// verdict used to depend on the batch; the file must hold some of each kind.
#[test]
fn the_vectors_cover_both_disagreements_and_both_verdicts() {
    let cases = vectors();
    let has = |valid: bool, cofactorless: bool| {
        cases
            .iter()
            .any(|c| c.valid == valid && c.cofactorless == cofactorless)
    };
    assert!(
        has(true, false),
        "cofactored only (R or A with a torsion component)"
    );
    assert!(has(false, true), "S out of range");
    assert!(has(true, true) && has(false, false));
}
