//! Fuzz targets: one function per decoder of bytes an attacker controls. Each must return
//! (never panic, whatever the input) and, where the input decodes, re-encode to what it came
//! from or to something that decodes to the same value.
//!
//! `fuzz/` runs them under libFuzzer (`cargo fuzz run <target>`, see its README); the tests
//! below run each over seeds and a few thousand mutations of them, so CI exercises every
//! target on every change.

use ed25519_dalek::SigningKey;
use m2mhub_core::{
    checkpoint::Checkpoint,
    entry::Entry,
    hash::Hash,
    merkle,
    message::{Message, MessageSubmission},
    note::{NoteSigner, NoteVerifier},
};
use m2mhub_ledger::{BlockRow, Page};

/// A message as a device submits it (HTTP body, MQTT payload): JSON → [`Message`].
pub fn message_json(data: &[u8]) {
    let Ok(sub) = serde_json::from_slice::<MessageSubmission>(data) else {
        return;
    };
    let Ok(m) = Message::try_from(sub) else {
        return;
    };
    let _ = m.signing_bytes();
    // What the hub would echo back must decode to the same message.
    let again = serde_json::to_vec(&m.to_submission()).expect("a message always encodes");
    let sub2: MessageSubmission = serde_json::from_slice(&again).expect("re-encoded JSON decodes");
    let m2 = Message::try_from(sub2).expect("a re-encoded message is valid");
    assert_eq!(m.signing_bytes(), m2.signing_bytes());
    assert_eq!(m.signature, m2.signature);
}

/// Entry bytes, as read from a store or a remote hub: strict, one encoding per entry.
pub fn entry_bytes(data: &[u8]) {
    if let Ok(e) = Entry::from_bytes(data) {
        assert_eq!(
            e.to_bytes(),
            data,
            "entry bytes decode but do not re-encode exactly"
        );
        let _ = merkle::leaf_hash(data);
    }
}

/// The verifier every note target checks against.
pub fn test_signer() -> NoteSigner {
    NoteSigner::new("m2mhub/fuzz", SigningKey::from_bytes(&[5; 32])).expect("a valid key name")
}

/// Signed notes and checkpoints from a hub, and verifier key lines an operator pastes.
pub fn note(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(v) = NoteVerifier::parse(text) {
        let line = v.verifier_key();
        let again = NoteVerifier::parse(&line).expect("a printed key line parses");
        assert_eq!(again.verifier_key(), line);
    }
    let verifier = test_signer().verifier();
    let _ = verifier.open(text);
    if let Ok(cp) = Checkpoint::open(text, &verifier) {
        let body = cp.to_body();
        assert_eq!(Checkpoint::parse_body(&body).ok(), Some(cp));
    }
    if let Ok(cp) = Checkpoint::parse_body(text) {
        assert_eq!(Checkpoint::parse_body(&cp.to_body()).ok(), Some(cp));
    }
}

fn hashes(data: &[u8]) -> Vec<Hash> {
    data.chunks_exact(32)
        .map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            h
        })
        .collect()
}

fn u64_at(data: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    for (i, x) in data.iter().skip(at).take(8).enumerate() {
        b[i] = *x;
    }
    u64::from_be_bytes(b)
}

/// Inclusion and consistency proofs from a remote hub: sizes, indexes and paths of any shape.
pub fn proofs(data: &[u8]) {
    let (a, b) = (u64_at(data, 0), u64_at(data, 8));
    let rest = data.get(16..).unwrap_or_default();
    let path = hashes(rest);
    let (x, y) = (
        path.first().copied().unwrap_or_default(),
        path.last().copied().unwrap_or_default(),
    );
    let _ = merkle::verify_inclusion(&x, a, b, &path, &y);
    let _ = merkle::verify_consistency(a, b, &x, &y, &path);
}

/// A page of block rows from a remote hub's `GET /v1/blocks`.
pub fn block_row_json(data: &[u8]) {
    if let Ok(page) = serde_json::from_slice::<Page<BlockRow>>(data) {
        let again = serde_json::to_vec(&page).expect("rows encode");
        let back: Page<BlockRow> = serde_json::from_slice(&again).expect("rows decode");
        assert_eq!(back, page);
        let verifier = test_signer().verifier();
        for r in page.items {
            let _ = Checkpoint::open(&r.checkpoint, &verifier);
        }
    }
}

/// A fuzz target: takes any bytes, panics only on a bug.
pub type Target = fn(&[u8]);

/// A backup file (`m2mhub restore`'s input): the framing reader must refuse what is not a
/// whole backup and never panic; what it reads must write back to records that read the same.
pub fn backup_file(data: &[u8]) {
    use m2mhub_ledger::backup::{Reader, Record, Writer, scan};
    let Ok(scanned) = scan(data) else {
        return;
    };
    let mut r = Reader::new(data);
    let mut records = Vec::new();
    while let Some(rec) = r.next().expect("a scanned backup reads again") {
        records.push(rec);
    }
    let mut w = Writer::new(Vec::new(), &scanned.header).expect("a header writes");
    for rec in &records {
        match rec {
            Record::Entry(seq, b) => w.entry(*seq, b).expect("writes"),
            Record::Contents(seq, t) => w.contents(*seq, t).expect("writes"),
            Record::Block(b) => w.block(b).expect("writes"),
            Record::Header(_) | Record::Trailer(..) => {}
        }
    }
    let again = w.finish(&scanned.trailer.checkpoint).expect("finishes");
    let mut r2 = Reader::new(again.as_slice());
    for rec in &records {
        let got = r2.next().expect("reads").expect("a record");
        match (rec, &got) {
            (Record::Trailer(a, _), Record::Trailer(b, _)) => {
                assert_eq!(
                    (a.entries, a.contents, a.blocks),
                    (b.entries, b.contents, b.blocks)
                );
            }
            _ => assert_eq!(rec, &got),
        }
    }
}

/// Every target, by name (the fuzz/ binaries and the tests share this list).
pub const TARGETS: [(&str, Target); 6] = [
    ("message_json", message_json),
    ("entry_bytes", entry_bytes),
    ("note", note),
    ("proofs", proofs),
    ("block_row_json", block_row_json),
    ("backup_file", backup_file),
];

/// Valid inputs for every target, to start fuzzing from (and to mutate in the tests).
pub fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    use m2mhub_core::{
        entry::Registration,
        ids::{Seq, TxId},
        message::Action,
        names::DeviceName,
    };
    let key = SigningKey::from_bytes(&[3; 32]);
    let mut m = Message {
        sender: DeviceName::new("smart_tv").expect("valid name"),
        receiver: DeviceName::new("voice_assistant").expect("valid name"),
        action: Action::Continue,
        tx: TxId(7),
        cause: Some(Seq(41)),
        counter: 12,
        contents: "{\"say\":\"preheat the oven\"}".into(),
        signature: [0; 64],
        form: m2mhub_core::message::Form::OneHub,
    };
    m.signature = ed25519_dalek::Signer::sign(&key, &m.signing_bytes()).to_bytes();
    let json = serde_json::to_vec(&m.to_submission()).expect("encodes");
    let reg = Entry::DeviceRegistered(Registration {
        name: DeviceName::new("oven").expect("valid name"),
        clearance: 3,
        public_key: key.verifying_key().to_bytes(),
        exceptions: [DeviceName::new("phone").expect("valid name")].into(),
        simulated: false,
    });
    let signer = test_signer();
    let cp = Checkpoint {
        origin: "m2mhub/fuzz".into(),
        tree_size: 1234,
        root: [9; 32],
        block: 17,
        prev_block_hash: [1; 32],
        time_ms: Some(1_764_450_000_000),
    };
    let note = cp.sign(&signer).expect("signs");
    let row = BlockRow {
        height: 17,
        first_seq: 1200,
        size: 34,
        tree_size: 1234,
        root: "09".repeat(32),
        prev_hash: "01".repeat(32),
        hash: "00".repeat(32),
        time_ms: 1_764_450_000_000,
        time_signed: true,
        checkpoint: note.clone(),
    };
    let mut proof = Vec::new();
    proof.extend(5u64.to_be_bytes());
    proof.extend(13u64.to_be_bytes());
    for i in 0..4u8 {
        proof.extend([i; 32]);
    }
    let backup = {
        use m2mhub_ledger::backup::{Header, Writer};
        let header = Header {
            origin: "m2mhub/fuzz".into(),
            key: signer.verifier_key(),
            store_format: m2mhub_ledger::store::STORE_FORMAT.into(),
            contents_pruned_below: 0,
            tree_size: 1234,
            height: 17,
            created_ms: 1_764_450_000_000,
        };
        let mut w = Writer::new(Vec::new(), &header).expect("writes");
        w.entry(1200, &reg.to_bytes()).expect("writes");
        w.entry(1201, &reg.to_bytes()).expect("writes");
        w.contents(1201, "preheat").expect("writes");
        w.block(&row).expect("writes");
        w.finish(&row.checkpoint).expect("writes")
    };
    vec![
        ("backup_file", backup),
        ("message_json", json),
        ("entry_bytes", reg.to_bytes()),
        ("note", note.into_bytes()),
        ("note", signer.verifier_key().into_bytes()),
        ("proofs", proof),
        (
            "block_row_json",
            serde_json::to_vec(&vec![row]).expect("encodes"),
        ),
    ]
}
