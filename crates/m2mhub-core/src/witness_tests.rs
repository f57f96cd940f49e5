//! Tests of the witness's judgement: every status of C2SP tlog-witness, from real trees.

use ed25519_dalek::SigningKey;

use super::*;
use crate::hash::sha256;
use crate::merkle::{Frontier, leaf_hash, prove_consistency, tree_hash};
use crate::note::NoteSigner;

const ORIGIN: &str = "m2mhub/home";

/// Stored hashes of a tree of `n` leaves.
fn tree(n: u64) -> Vec<Hash> {
    let (mut f, mut out) = (Frontier::new(), Vec::new());
    for i in 0..n {
        f.push(leaf_hash(&i.to_be_bytes()), &mut out);
    }
    out
}

fn signer() -> NoteSigner {
    NoteSigner::new(ORIGIN, SigningKey::from_bytes(&[9; 32])).unwrap()
}

fn note(size: u64, root: &Hash) -> String {
    let text = format!(
        "{ORIGIN}\n{size}\n{}\nblock 1 prev x\n",
        STANDARD.encode(root)
    );
    signer().sign(&text).unwrap()
}

fn head(size: u64) -> (Held, String) {
    let root = tree_hash(size, &tree(size)).unwrap();
    (Held { size, root }, note(size, &root))
}

fn judge(body: &str, held: Option<&Held>) -> Result<Held, WitnessError> {
    let key = signer().verifier();
    AddCheckpoint::parse(body)?
        .open(|o| (o == ORIGIN).then_some(&key))?
        .check(held)
}

fn status(body: &str, held: Option<&Held>) -> u16 {
    judge(body, held).map_or_else(|e| e.status(), |_| 200)
}

#[test]
fn consistent_checkpoints_are_accepted_from_every_size() {
    let stored = tree(20);
    for old in 1..=20u64 {
        let (held, _) = head(old);
        for new in old..=20 {
            let (want, n) = head(new);
            let proof = prove_consistency(old, new, &stored).unwrap();
            let body = AddCheckpoint::to_body(old, &proof, &n);
            assert_eq!(judge(&body, Some(&held)), Ok(want), "{old} → {new}");
            // Every flipped bit of every proof hash is a 422.
            for i in 0..proof.len() {
                let mut p = proof.clone();
                p[i][i % 32] ^= 1;
                let body = AddCheckpoint::to_body(old, &p, &n);
                assert_eq!(status(&body, Some(&held)), 422, "{old} → {new} #{i}");
            }
        }
    }
    let (want, n) = head(5);
    assert_eq!(judge(&AddCheckpoint::to_body(0, &[], &n), None), Ok(want));
}

#[test]
fn every_refusal_has_its_status() {
    let (held, n7) = head(7);
    let (_, n9) = head(9);
    let proof = prove_consistency(7, 9, &tree(9)).unwrap();
    let good = AddCheckpoint::to_body(7, &proof, &n9);
    assert_eq!(status(&good, Some(&held)), 200);
    // 400: framing, sizes.
    for body in [
        "",
        "old 7",
        "old 07\n\n",
        "old -1\n\n",
        "olds 7\n\n",
        "old 7\nnot base64\n\n",
        "old 7\nAAAA\n\n",
        &good.replacen("\n\n", "\n", 1),
        &AddCheckpoint::to_body(10, &[], &n9),
        &AddCheckpoint::to_body(7, &vec![[0; 32]; 64], &n9),
        &format!("old 7\n\n{}", n9.replace("\n\n", "\n")),
    ] {
        assert_eq!(status(body, Some(&held)), 400, "{body:?}");
    }
    // 404: an origin this witness does not witness.
    let other = NoteSigner::new("m2mhub/grid", SigningKey::from_bytes(&[9; 32])).unwrap();
    let foreign = other.sign("m2mhub/grid\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n");
    let foreign = AddCheckpoint::to_body(0, &[], &foreign.unwrap());
    assert_eq!(status(&foreign, None), 404);
    // 403: signed by another key under the origin's name, or a bad signature by its key.
    let stranger = NoteSigner::new(ORIGIN, SigningKey::from_bytes(&[8; 32])).unwrap();
    let text = n9.split("\n\n").next().unwrap().to_owned() + "\n";
    let forged = AddCheckpoint::to_body(7, &proof, &stranger.sign(&text).unwrap());
    assert_eq!(status(&forged, Some(&held)), 403);
    let tampered = good.replace("block 1", "block 2");
    assert_eq!(status(&tampered, Some(&held)), 403);
    // 409: an old size that is not the held one, with the held size.
    let stale = AddCheckpoint::to_body(5, &[], &n9);
    assert_eq!(
        judge(&stale, Some(&held)),
        Err(WitnessError::Conflict { old: 5, held: 7 })
    );
    assert_eq!(
        judge(&AddCheckpoint::to_body(0, &[], &n9), Some(&held)),
        Err(WitnessError::Conflict { old: 0, held: 7 })
    );
    assert_eq!(status(&good, None), 409);
    // 422: same size, other root; a proof after old 0; an empty tree with a wrong root.
    let fork = note(7, &sha256(b"fork"));
    assert_eq!(
        status(&AddCheckpoint::to_body(7, &[], &fork), Some(&held)),
        422
    );
    assert_eq!(
        status(&AddCheckpoint::to_body(7, &[], &n7), Some(&held)),
        200
    );
    assert_eq!(status(&AddCheckpoint::to_body(0, &proof, &n9), None), 422);
    let empty_bad = AddCheckpoint::to_body(0, &[], &note(0, &[0; 32]));
    assert_eq!(status(&empty_bad, None), 422);
    let empty = AddCheckpoint::to_body(0, &[], &note(0, &empty_root()));
    assert_eq!(status(&empty, None), 200);
}

#[test]
fn the_request_round_trips() {
    let (_, n) = head(3);
    let proof = vec![[1; 32], [2; 32]];
    let body = AddCheckpoint::to_body(2, &proof, &n);
    let r = AddCheckpoint::parse(&body).unwrap();
    assert_eq!((r.old_size, r.proof, r.note), (2, proof, n.as_str()));
    let long = "x".repeat(MAX_REQUEST_LEN + 1);
    assert_eq!(
        AddCheckpoint::parse(&long).map_err(|e| e.status()),
        Err(400)
    );
}
