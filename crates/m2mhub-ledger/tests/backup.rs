//! Backups through the library: a ledger with registrations, re-keys, valid and invalid
//! messages and pruned contents is backed up and restored; the restored store passes
//! `verify`, keeps the prune mark and continues the same tree. Then each kind of damage (a
//! flipped byte in an entry, in contents or in a checkpoint, a dropped entry, contents or
//! block record, a truncated file, a wrong trailer, a wrong key, a foreign header line) is
//! refused with an error naming it, and leaves no data directory. A backup stalled on its
//! reader holds one snapshot and never holds up appends.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::*;
use m2mhub_core::{merkle, message::Action};
use m2mhub_ledger::{
    Ledger, LedgerConfig, Submission,
    backup::{self, Reader, Record},
    store::Store,
    verify::verify_snapshot,
};

const ORIGIN: &str = "m2mhub/backup-test";

fn key() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[7; 32])
}

fn config() -> LedgerConfig {
    LedgerConfig {
        origin: Some(ORIGIN.into()),
        default_origin: String::new(),
    }
}

fn verifier() -> m2mhub_core::note::NoteVerifier {
    m2mhub_core::note::NoteSigner::new(ORIGIN, key())
        .unwrap()
        .verifier()
}

/// A ledger of several blocks; the contents of its first message blocks are pruned.
fn build(path: &Path) -> (Ledger, Devices) {
    let ledger = Ledger::open_store(Store::open(path).unwrap(), key(), &config()).unwrap();
    let mut d = Devices::default();
    register_all(
        &ledger,
        &mut d,
        &[("top_level", 3), ("mid_level", 2), ("low_level", 1)],
    );
    for (m, _, _) in paper_scenario(&mut d) {
        ledger.append(vec![Submission::Message(m)]);
        // Distinct block times, so pruning can cut between blocks.
        std::thread::sleep(std::time::Duration::from_millis(3));
    }
    let (rekey, _) = d.rekey("mid_level");
    let more = vec![
        Submission::Registry(rekey),
        Submission::Message(d.message("mid_level", "low_level", Action::Begin, 0, None)),
        Submission::Message(d.message("low_level", "mid_level", Action::Continue, 4, None)),
    ];
    for r in ledger.append(more) {
        r.unwrap();
    }
    let cutoff = ledger.block(6).unwrap().time_ms;
    assert!(ledger.prune_contents_before(cutoff).unwrap() > 0);
    (ledger, d)
}

fn backup_bytes(ledger: &Ledger) -> Vec<u8> {
    let mut out = Vec::new();
    ledger.backup(&mut out).unwrap();
    out
}

#[test]
fn a_restored_ledger_verifies_and_continues_the_same_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let (ledger, mut d) = build(&tmp.path().join("source.redb"));
    let bytes = backup_bytes(&ledger);
    let scanned = backup::scan(bytes.as_slice()).unwrap();
    assert_eq!(scanned.header.tree_size, ledger.view().head.tree_size);
    assert!(scanned.header.contents_pruned_below > 0);
    assert_eq!(scanned.trailer.checkpoint, ledger.checkpoint());

    let data = tmp.path().join("restored");
    let s = backup::restore(
        bytes.as_slice(),
        &data,
        &key(),
        &[("operator-token", b"tok\n".to_vec())],
    )
    .unwrap();
    assert_eq!(s.entries, ledger.view().head.tree_size);
    assert_eq!(
        std::fs::read_to_string(data.join("hub-key"))
            .unwrap()
            .trim(),
        hex::encode(key().to_bytes())
    );
    assert_eq!(
        std::fs::read(data.join("operator-token")).unwrap(),
        b"tok\n"
    );

    let store = Store::open(&data.join("ledger.redb")).unwrap();
    let snap = store.snapshot().unwrap();
    let source = ledger.snapshot().unwrap();
    assert_eq!(
        snap.contents_pruned_below().unwrap(),
        source.contents_pruned_below().unwrap()
    );
    assert_eq!(
        snap.blocks(None, 1000).unwrap(),
        source.blocks(None, 1000).unwrap()
    );
    assert_eq!(
        snap.contents(3).unwrap(),
        None,
        "pruned contents stay pruned"
    );
    verify_snapshot(&snap, verifier()).unwrap();
    drop(snap);

    // The restored ledger continues the log: a new block links to the backup's last one, and
    // a proof from before the backup verifies against the new root.
    let old_size = ledger.view().head.tree_size;
    let old_root = ledger.root_at(old_size).unwrap();
    let restored = Ledger::open_store(store, key(), &config()).unwrap();
    let r = record(
        restored
            .append(vec![Submission::Message(d.message(
                "top_level",
                "low_level",
                Action::Begin,
                0,
                None,
            ))])
            .pop()
            .unwrap(),
    );
    assert_eq!(r.seq, old_size);
    let new_size = restored.view().head.tree_size;
    let new_root = restored.root_at(new_size).unwrap();
    let proof = restored.consistency_proof(old_size, None).unwrap();
    let path: Vec<[u8; 32]> = proof
        .path
        .iter()
        .map(|h| hex::decode(h).unwrap().try_into().unwrap())
        .collect();
    merkle::verify_consistency(old_size, new_size, &old_root, &new_root, &path).unwrap();
    verify_snapshot(&restored.snapshot().unwrap(), verifier()).unwrap();
}

/// The byte spans of a backup's records, with each record.
fn records(bytes: &[u8]) -> Vec<(std::ops::Range<usize>, Record)> {
    let mut r = Reader::new(bytes);
    let mut out = Vec::new();
    let mut start = backup::MAGIC.len();
    while let Some(rec) = r.next().unwrap() {
        let end = r.offset() as usize;
        out.push((start..end, rec));
        start = end;
    }
    out
}

fn without(bytes: &[u8], span: &std::ops::Range<usize>) -> Vec<u8> {
    [&bytes[..span.start], &bytes[span.end..]].concat()
}

fn span_of(
    recs: &[(std::ops::Range<usize>, Record)],
    pick: impl Fn(&Record) -> bool,
) -> std::ops::Range<usize> {
    recs.iter().find(|(_, r)| pick(r)).unwrap().0.clone()
}

#[test]
fn damaged_backups_are_refused_by_name_and_leave_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (ledger, _) = build(&tmp.path().join("source.redb"));
    let good = backup_bytes(&ledger);
    let recs = records(&good);
    // Seq 10 is a message whose contents were not pruned (the prune mark is below it).
    let entry = span_of(&recs, |r| matches!(r, Record::Entry(10, _)));
    let contents = span_of(&recs, |r| matches!(r, Record::Contents(10, _)));
    let rekey = span_of(&recs, |r| matches!(r, Record::Entry(11, _)));
    let block = span_of(&recs, |r| matches!(r, Record::Block(b) if b.height == 3));
    let trailer = span_of(&recs, |r| matches!(r, Record::Trailer(..)));
    let flip = |at: usize| {
        let mut b = good.clone();
        b[at] ^= 0x01;
        b
    };
    let earlier = ledger.block(3).unwrap().checkpoint;
    let wrong_trailer = {
        let text = String::from_utf8_lossy(&good[trailer.start + 5..trailer.end]).into_owned();
        let mut t: backup::Trailer = serde_json::from_str(&text).unwrap();
        t.checkpoint = earlier;
        let json = serde_json::to_vec(&t).unwrap();
        let mut b = good[..trailer.start].to_vec();
        b.push(b'T');
        b.extend_from_slice(&(json.len() as u32).to_be_bytes());
        b.extend_from_slice(&json);
        b
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "flipped entry byte",
            flip(entry.end - 1),
            "first bad seq 10",
        ),
        (
            "flipped contents byte",
            flip(contents.end - 1),
            "contents do not match their hash",
        ),
        ("flipped checkpoint byte", flip(block.end - 20), "block 3"),
        (
            "dropped entry",
            without(&good, &rekey),
            "first bad seq 11: entry missing",
        ),
        (
            "dropped message",
            without(&good, &entry),
            "contents of seq 10 do not follow the entry",
        ),
        (
            "dropped contents",
            without(&good, &contents),
            "seq 10: the message's contents are missing",
        ),
        ("dropped block", without(&good, &block), "block missing"),
        (
            "truncated inside a record",
            good[..entry.end - 3].to_vec(),
            "truncated",
        ),
        (
            "truncated before the trailer",
            good[..trailer.start].to_vec(),
            "without its trailer",
        ),
        (
            "wrong trailer",
            wrong_trailer,
            "the trailer's checkpoint is not the last block's",
        ),
        (
            "bytes after the trailer",
            [good.as_slice(), b"x"].concat(),
            "after the trailer",
        ),
        (
            "foreign header line",
            [
                b"m2mhub-backup v9\n".as_slice(),
                &good[backup::MAGIC.len()..],
            ]
            .concat(),
            "not an m2mhub backup",
        ),
        ("empty file", Vec::new(), "not an m2mhub backup"),
        ("short file", b"m2m".to_vec(), "not an m2mhub backup"),
    ];
    for (what, bytes, want) in cases {
        let data = tmp.path().join("data");
        let e = backup::restore(bytes.as_slice(), &data, &key(), &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{what}: {e}");
        assert!(!data.exists(), "{what}: a data directory was left");
        assert!(
            !tmp.path().join("data.restoring").exists(),
            "{what}: the staging directory was left"
        );
    }

    let other = ed25519_dalek::SigningKey::from_bytes(&[8; 32]);
    let data = tmp.path().join("data");
    let e = backup::restore(good.as_slice(), &data, &other, &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("not the key of this backup"), "{e}");
    assert!(!data.exists());

    // A target that holds anything is never written over.
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("keep"), b"mine").unwrap();
    let e = backup::restore(good.as_slice(), &data, &key(), &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("is not empty"), "{e}");
    assert_eq!(std::fs::read(data.join("keep")).unwrap(), b"mine");
    // An empty one is filled.
    std::fs::remove_file(data.join("keep")).unwrap();
    backup::restore(good.as_slice(), &data, &key(), &[]).unwrap();
    assert!(data.join("ledger.redb").is_file());
}

/// A writer that stops at its first write until told to go on.
struct Paused {
    first: bool,
    paused: std::sync::mpsc::SyncSender<()>,
    resume: std::sync::mpsc::Receiver<()>,
    bytes: Vec<u8>,
}

impl std::io::Write for Paused {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if self.first {
            self.first = false;
            self.paused.send(()).unwrap();
            self.resume.recv().unwrap();
        }
        self.bytes.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_backup_is_one_snapshot_and_never_holds_up_appends() {
    let tmp = tempfile::tempdir().unwrap();
    let (ledger, mut d) = build(&tmp.path().join("source.redb"));
    let before = ledger.view().head.tree_size;
    let (paused_tx, paused) = std::sync::mpsc::sync_channel(1);
    let (resume, resume_rx) = std::sync::mpsc::sync_channel(1);
    let mut out = Paused {
        first: true,
        paused: paused_tx,
        resume: resume_rx,
        bytes: Vec::new(),
    };
    std::thread::scope(|s| {
        let backup = s.spawn(|| {
            ledger.backup(&mut out).unwrap();
        });
        // The backup has its snapshot and is stalled on its reader: blocks still commit.
        paused.recv().unwrap();
        let m = d.message("top_level", "low_level", Action::Begin, 0, None);
        let r = record(ledger.append(vec![Submission::Message(m)]).pop().unwrap());
        assert_eq!(r.seq, before);
        resume.send(()).unwrap();
        backup.join().unwrap();
    });
    let scanned = backup::scan(out.bytes.as_slice()).unwrap();
    assert_eq!(scanned.header.tree_size, before);
    assert_eq!(ledger.view().head.tree_size, before + 1);
    let data = tmp.path().join("restored");
    let s = backup::restore(out.bytes.as_slice(), &data, &key(), &[]).unwrap();
    assert_eq!(s.entries, before);
}
