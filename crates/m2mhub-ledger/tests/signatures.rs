//! One signature rule whatever the batch (SPEC §3.2.1, issue 11 finding 1): every vector of
//! `testdata/sig-vectors.json` inside batches of honest signatures of every size, on 1 and 2
//! threads; the R + T signature of a registered device through the real committer, alone and
//! in blocks of up to 200 honest messages, and `verify` replaying the result; non-canonical keys
//! refused at registration.
#![allow(clippy::unwrap_used)]

mod common;

use std::{collections::BTreeSet, sync::Arc};

use common::*;
use curve25519_dalek::{Scalar, constants::EIGHT_TORSION, edwards::EdwardsPoint};
use ed25519_dalek::{Signer, SigningKey};
use m2mhub_core::{
    CoreError,
    entry::{Entry, Registration},
    message::{Action, Message},
    sig::{PublicKey, SigCheck},
};
use m2mhub_ledger::{
    Appended, Committer, DataDir, Ledger, LedgerConfig, LedgerError, Submission,
    verify::verify_snapshot, verify_all,
};
use serde::Deserialize;
use sha2::{Digest, Sha512};

#[derive(Deserialize)]
struct Vectors {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    public_key: String,
    message: String,
    signature: String,
    valid: bool,
}

fn vectors() -> Vec<Case> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/sig-vectors.json"
    );
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str::<Vectors>(&text).unwrap().cases
}

fn array<const N: usize>(h: &str) -> [u8; N] {
    hex::decode(h).unwrap().try_into().unwrap()
}

fn honest(n: usize) -> Vec<SigCheck> {
    let keys: Vec<SigningKey> = (0..8u8)
        .map(|i| SigningKey::from_bytes(&[i + 1; 32]))
        .collect();
    (0..n)
        .map(|i| {
            let key = &keys[i % keys.len()];
            let message = format!("honest message {i}").into_bytes();
            SigCheck {
                key: PublicKey::for_registration(key.verifying_key().as_bytes()).unwrap(),
                signature: key.sign(&message).to_bytes(),
                message,
            }
        })
        .collect()
}

/// Batch sizes: every size up to 64, and three past the size at which the ledger splits a
/// batch across threads.
fn sizes() -> impl Iterator<Item = usize> {
    (1..=64).chain([129, 200, 256])
}

#[test]
fn every_vector_gets_one_verdict_in_every_batch_on_one_and_two_threads() {
    let honest = honest(255);
    let pools: Vec<rayon::ThreadPool> = [1, 2]
        .iter()
        .map(|&n| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .unwrap()
        })
        .collect();
    for (i, case) in vectors().iter().enumerate() {
        let vector = SigCheck {
            key: PublicKey::from_bytes(&array(&case.public_key)).unwrap(),
            message: hex::decode(&case.message).unwrap(),
            signature: array(&case.signature),
        };
        for size in sizes() {
            let at = (size * 31 + i) % size;
            let mut batch: Vec<SigCheck> = honest[..size - 1].to_vec();
            batch.insert(at, vector.clone());
            let mut want = vec![true; size];
            want[at] = case.valid;
            for pool in &pools {
                let got = pool.install(|| verify_all(&batch));
                assert_eq!(
                    got,
                    want,
                    "{} at {at} of {size} on {} threads",
                    case.name,
                    pool.current_num_threads()
                );
            }
        }
    }
}

/// An RFC 8032 signer that adds `t` to its R: R' = rB + t, S = r + k·a with k hashed over R'.
/// [S]B − R' − [k]A = −t, so the cofactored equation holds and the cofactorless one fails.
fn sign_with_torsion(seed: &[u8; 32], message: &[u8], t: EdwardsPoint) -> [u8; 64] {
    let h: [u8; 64] = Sha512::digest(seed).into();
    let mut a = [0u8; 32];
    a.copy_from_slice(&h[..32]);
    a[0] &= 248;
    a[31] &= 127;
    a[31] |= 64;
    let a = Scalar::from_bytes_mod_order(a);
    let public = EdwardsPoint::mul_base(&a).compress();
    let wide = |parts: &[&[u8]]| {
        let mut d = Sha512::new();
        for p in parts {
            d.update(p);
        }
        Scalar::from_bytes_mod_order_wide(&d.finalize().into())
    };
    let r = wide(&[&h[32..], message]);
    let big_r = (EdwardsPoint::mul_base(&r) + t).compress();
    let k = wide(&[big_r.as_bytes(), public.as_bytes(), message]);
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(big_r.as_bytes());
    sig[32..].copy_from_slice((r + k * a).as_bytes());
    sig
}

fn config() -> LedgerConfig {
    LedgerConfig {
        origin: None,
        default_origin: "m2mhub/test".into(),
    }
}

#[test]
fn a_torsion_r_signature_gets_one_verdict_in_every_block_and_in_replay() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = DataDir::create(tmp.path()).unwrap();
    let ledger = Arc::new(Ledger::open(&dir, &config()).unwrap());
    let committer = Committer::start(ledger.clone()).unwrap();
    let mut d = Devices::default();
    let honest_names: Vec<String> = (0..8).map(|i| format!("honest{i}")).collect();
    let mut regs: Vec<Submission> = honest_names
        .iter()
        .map(|n| Submission::Registry(d.registration(n, 1)))
        .collect();
    let seed = [77u8; 32];
    let mallory = SigningKey::from_bytes(&seed);
    regs.push(Submission::Registry(Entry::DeviceRegistered(
        Registration {
            name: name("mallory"),
            clearance: 1,
            public_key: mallory.verifying_key().to_bytes(),
            exceptions: BTreeSet::new(),
            simulated: false,
        },
    )));
    assert!(committer.submit_wait(regs).iter().all(|r| r.is_ok()));

    let order_2 = EIGHT_TORSION[4];
    let mut outcomes = Vec::new();
    for honest in 0..=200usize {
        let mut batch: Vec<Submission> = (0..honest)
            .map(|i| {
                let from = &honest_names[i % honest_names.len()];
                Submission::Message(d.message(from, "honest0", Action::Begin, 0, None))
            })
            .collect();
        let mut m = Message {
            sender: name("mallory"),
            receiver: name("honest0"),
            action: Action::Begin,
            tx: m2mhub_core::ids::TxId(0),
            cause: None,
            counter: honest as u64 + 1,
            contents: format!("attempt {honest}"),
            signature: [0; 64],
            form: m2mhub_core::message::Form::OneHub,
        };
        m.signature = sign_with_torsion(&seed, &m.signing_bytes(), order_2);
        // The edge case is real: RFC 8032's strict check refuses this signature.
        let sig = ed25519_dalek::Signature::from_bytes(&m.signature);
        assert!(
            mallory
                .verifying_key()
                .verify_strict(&m.signing_bytes(), &sig)
                .is_err()
        );
        let at = honest / 2;
        batch.insert(at, Submission::Message(m));
        let mut results = committer.submit_wait(batch);
        let attack = results.remove(at);
        assert!(
            results.iter().all(|r| r.is_ok()),
            "honest messages recorded"
        );
        outcomes.push(match attack {
            Ok(Appended::Message(r)) => format!("recorded, valid {}", r.valid),
            Ok(other) => format!("{other:?}"),
            Err(e) => format!("refused: {e}"),
        });
    }
    // ZIP 215: the cofactored equation holds, so the signature is valid, every time.
    assert!(
        outcomes.iter().all(|o| o == "recorded, valid true"),
        "{:?}",
        outcomes
            .iter()
            .enumerate()
            .filter(|(_, o)| *o != "recorded, valid true")
            .collect::<Vec<_>>()
    );
    committer.stop();
    // Replay re-checks every signature in its own batches and reaches the same verdicts.
    let key = dir.existing_hub_key().unwrap().unwrap();
    let verifier = m2mhub_core::note::NoteSigner::new("m2mhub/test", key)
        .unwrap()
        .verifier();
    let summary = verify_snapshot(&ledger.snapshot().unwrap(), verifier).unwrap();
    assert_eq!(summary.entries, 9 + (1..=201).sum::<u64>());
}

#[test]
fn registration_refuses_a_non_canonical_key_and_records_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(&DataDir::create(tmp.path()).unwrap(), &config()).unwrap();
    // y = p + 3: a valid encoding of the point with y = 3 (of mixed order) under ZIP 215, but
    // not its canonical one.
    let mut key = [0xff; 32];
    key[0] = 0xf0;
    key[31] = 0x7f;
    assert!(PublicKey::from_bytes(&key).is_some());
    let reg = Entry::DeviceRegistered(Registration {
        name: name("sly"),
        clearance: 1,
        public_key: key,
        exceptions: BTreeSet::new(),
        simulated: false,
    });
    let before = ledger.view().head.tree_size;
    let got = ledger
        .append(vec![Submission::Registry(reg)])
        .pop()
        .unwrap();
    match got {
        Err(LedgerError::Registry(CoreError::Malformed(why))) => {
            assert!(why.contains("canonical"), "{why}")
        }
        other => panic!("expected malformed, got {other:?}"),
    }
    assert_eq!(ledger.view().head.tree_size, before);
    assert!(ledger.view().registry.registry.get("sly").is_none());
}
