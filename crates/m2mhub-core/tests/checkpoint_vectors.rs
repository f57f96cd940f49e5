//! Known-answer tests of signed notes and checkpoints: the vectors of
//! `testdata/note-vectors.json`, written by the independent Python model
//! `testdata/gen_note_vectors.py` from C2SP signed-note and tlog-checkpoint, including the
//! published example of `golang.org/x/mod/sumdb/note`.

use ed25519_dalek::SigningKey;
use m2mhub_core::checkpoint::{Checkpoint, CheckpointError};
use m2mhub_core::hash::Hash;
use m2mhub_core::note::{NoteSigner, NoteVerifier, key_id};
use serde::Deserialize;

#[derive(Deserialize)]
struct Vectors {
    log_key: Key,
    witness_key: Key,
    keys: Vec<Key>,
    reference: Reference,
    notes: Vec<Note>,
    checkpoints: Vec<Cp>,
    cosigned: Note2,
    bad_checkpoints: Vec<Bad>,
}

#[derive(Deserialize)]
struct Key {
    name: String,
    seed: String,
    public_key: String,
    key_id: String,
    verifier_key: String,
}

#[derive(Deserialize)]
struct Reference {
    key: Key,
    text: String,
    note: String,
}

#[derive(Deserialize)]
struct Note {
    text: String,
    note: String,
}

#[derive(Deserialize)]
struct Note2 {
    body: String,
    note: String,
}

#[derive(Deserialize)]
struct Cp {
    origin: String,
    tree_size: u64,
    root: String,
    block: u64,
    prev_block_hash: String,
    /// The `time` line, absent from checkpoints sealed before blocks carried a time.
    time_ms: Option<u64>,
    body: String,
    block_hash: String,
    note: String,
}

#[derive(Deserialize)]
struct Bad {
    why: String,
    refused_by: String,
    note: String,
}

fn vectors() -> Vectors {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/note-vectors.json"
    );
    let text = std::fs::read_to_string(path).expect("read note-vectors.json");
    serde_json::from_str(&text).expect("parse note-vectors.json")
}

fn array<const N: usize>(h: &str) -> [u8; N] {
    hex::decode(h).expect("hex").try_into().expect("length")
}

fn signer(k: &Key) -> NoteSigner {
    NoteSigner::new(&k.name, SigningKey::from_bytes(&array(&k.seed))).expect("signer")
}

fn checkpoint(c: &Cp) -> Checkpoint {
    Checkpoint {
        origin: c.origin.clone(),
        tree_size: c.tree_size,
        root: array(&c.root),
        block: c.block,
        prev_block_hash: array(&c.prev_block_hash),
        time_ms: c.time_ms,
    }
}

#[test]
fn key_ids_and_verifier_keys_match() {
    let v = vectors();
    for k in v.keys.iter().chain([&v.reference.key]) {
        let s = signer(k);
        assert_eq!(hex::encode(s.key_id()), k.key_id, "{}", k.name);
        assert_eq!(s.verifier_key(), k.verifier_key, "{}", k.name);
        let public = s.verifier();
        assert_eq!(hex::encode(public.public_key().as_bytes()), k.public_key);
        assert_eq!(hex::encode(key_id(&k.name, public.public_key())), k.key_id);
        let parsed = NoteVerifier::parse(&k.verifier_key).expect("verifier key parses");
        assert_eq!(parsed, public, "{}", k.name);
        assert_eq!(
            (parsed.name(), parsed.key_id()),
            (k.name.as_str(), s.key_id())
        );
    }
}

#[test]
fn reference_note_is_reproduced() {
    let r = vectors().reference;
    assert_eq!(signer(&r.key).sign(&r.text).expect("sign"), r.note);
    let v = NoteVerifier::parse(&r.key.verifier_key).expect("verifier key");
    assert_eq!(v.open(&r.note), Ok(r.text.as_str()));
}

#[test]
fn notes_match_byte_for_byte() {
    let v = vectors();
    let s = signer(&v.log_key);
    let verifier = NoteVerifier::parse(&v.log_key.verifier_key).expect("verifier key");
    for n in &v.notes {
        assert_eq!(s.sign(&n.text).expect("sign"), n.note, "{:?}", n.text);
        assert_eq!(verifier.open(&n.note), Ok(n.text.as_str()));
    }
}

#[test]
fn checkpoints_match_byte_for_byte() {
    let v = vectors();
    let s = signer(&v.log_key);
    let verifier = NoteVerifier::parse(&v.log_key.verifier_key).expect("verifier key");
    for c in &v.checkpoints {
        let cp = checkpoint(c);
        assert_eq!(cp.to_body(), c.body);
        assert_eq!(Checkpoint::parse_body(&c.body), Ok(cp.clone()));
        assert_eq!(hex::encode(cp.block_hash()), c.block_hash);
        assert_eq!(cp.sign(&s).expect("sign"), c.note, "block {}", c.block);
        assert_eq!(Checkpoint::open(&c.note, &verifier), Ok(cp));
    }
}

#[test]
fn checkpoints_form_a_chain() {
    let cps: Vec<Checkpoint> = vectors().checkpoints[..4].iter().map(checkpoint).collect();
    assert_eq!(cps[0].prev_block_hash, Hash::default());
    for (height, pair) in cps.windows(2).enumerate() {
        assert_eq!(pair[1].block, height as u64 + 1);
        assert_eq!(pair[1].prev_block_hash, pair[0].block_hash());
    }
}

#[test]
fn cosigned_checkpoint() {
    let v = vectors();
    let log = NoteVerifier::parse(&v.log_key.verifier_key).expect("log key");
    let witness = NoteVerifier::parse(&v.witness_key.verifier_key).expect("witness key");
    let cp = Checkpoint::open(&v.cosigned.note, &log).expect("opens with the log key");
    assert_eq!(cp.to_body(), v.cosigned.body);
    // The witness's signature verifies, but its name is not the origin.
    assert_eq!(witness.open(&v.cosigned.note), Ok(v.cosigned.body.as_str()));
    assert!(matches!(
        Checkpoint::open(&v.cosigned.note, &witness),
        Err(CheckpointError::OriginMismatch { .. })
    ));
}

#[test]
fn bad_checkpoints_are_refused() {
    let v = vectors();
    let log = NoteVerifier::parse(&v.log_key.verifier_key).expect("log key");
    assert!(v.bad_checkpoints.len() >= 10);
    for bad in &v.bad_checkpoints {
        let err = Checkpoint::open(&bad.note, &log).expect_err(&bad.why);
        match bad.refused_by.as_str() {
            "note" => assert!(
                matches!(err, CheckpointError::Note(_)),
                "{}: {err}",
                bad.why
            ),
            "body" => assert!(
                matches!(err, CheckpointError::Malformed(_)),
                "{}: {err}",
                bad.why
            ),
            other => panic!("unknown refused_by {other:?}"),
        }
    }
}
