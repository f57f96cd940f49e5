//! An outside auditor's checks through the public HTTP API only (SPEC §4.2, §4.3, §5): the
//! checkpoint's signature, that a recorded entry is in the tree the checkpoint commits to, and
//! that a later checkpoint extends an earlier one. Nothing here trusts the hub's answers: every
//! hash is recomputed here from the entry bytes and proofs.

use base64::{Engine, engine::general_purpose::STANDARD};
use m2mhub_core::{
    checkpoint::Checkpoint,
    entry::Entry,
    hash::{Hash, sha256},
    merkle::{self, verify_consistency, verify_inclusion},
    note::NoteVerifier,
};
use serde::Deserialize;

use crate::{
    ClientError, Result,
    http::HttpTransport,
    wire::{Delivery, DeviceKey, Record, key_at},
};

/// Checks a hub from outside.
#[derive(Debug)]
pub struct Verifier {
    http: HttpTransport,
    key: NoteVerifier,
}

#[derive(Deserialize)]
struct EntryJson {
    entry_bytes: String,
}

#[derive(Deserialize)]
struct DeviceJson {
    keys: Vec<DeviceKey>,
}

#[derive(Deserialize)]
struct PathJson {
    path: Vec<String>,
}

fn bad(what: impl std::fmt::Display) -> ClientError {
    ClientError::Verification(what.to_string())
}

fn parse_path(path: &[String]) -> Result<Vec<Hash>> {
    path.iter()
        .map(|h| m2mhub_core::message::parse_hex_array::<32>(h, "proof hash").map_err(bad))
        .collect()
}

impl Verifier {
    /// A verifier of the hub at `http` whose key is `key_line` (`name+id+base64`, as
    /// `GET /v1/key` gives it). Pin the line you obtained out of band; see [`Verifier::fetch_key`].
    pub fn new(http: HttpTransport, key_line: &str) -> Result<Verifier> {
        let key = NoteVerifier::parse(key_line.trim()).map_err(bad)?;
        Ok(Verifier { http, key })
    }

    /// Trust on first use: the key the hub publishes now.
    pub async fn fetch_key(http: HttpTransport) -> Result<Verifier> {
        let line = http.get_text("/v1/key").await?;
        Verifier::new(http, &line)
    }

    /// The pinned key's name (the hub's origin).
    pub fn key_name(&self) -> &str {
        self.key.name()
    }

    /// The hub's current checkpoint, its signature checked with the pinned key.
    pub async fn checkpoint(&self) -> Result<Checkpoint> {
        let note = self.http.get_text("/v1/checkpoint").await?;
        Checkpoint::open(&note, &self.key).map_err(bad)
    }

    /// Checks that entry `seq` is in the tree of `cp`; returns its leaf hash (computed here
    /// from the entry bytes).
    pub async fn verify_inclusion(&self, seq: u64, cp: &Checkpoint) -> Result<Hash> {
        Ok(self.included_entry(seq, cp).await?.0)
    }

    /// The leaf hash and bytes of entry `seq`, checked to be in the tree of `cp`.
    async fn included_entry(&self, seq: u64, cp: &Checkpoint) -> Result<(Hash, Vec<u8>)> {
        let e: EntryJson = self.http.get_json(&format!("/v1/entries/{seq}")).await?;
        let bytes = STANDARD.decode(&e.entry_bytes).map_err(bad)?;
        let leaf = merkle::leaf_hash(&bytes);
        let p: PathJson = self
            .http
            .get_json(&format!(
                "/v1/proof/inclusion?seq={seq}&tree_size={}",
                cp.tree_size
            ))
            .await?;
        verify_inclusion(&leaf, seq, cp.tree_size, &parse_path(&p.path)?, &cp.root)
            .map_err(|e| bad(format!("entry {seq}: {e}")))?;
        Ok((leaf, bytes))
    }

    /// Checks that a record the hub returned is the entry in the tree of `cp`: the entry
    /// bytes hash to a leaf the checkpoint includes, and every field of the record (sender,
    /// receiver, action, tx, cause, counter, contents by hash, provenance, verdict) is what
    /// those bytes say. A hub that shows a record other than the one it committed is caught.
    pub async fn verify_record(&self, r: &Record, cp: &Checkpoint) -> Result<()> {
        let (leaf, bytes) = self.included_entry(r.seq, cp).await?;
        if hex::encode(leaf) != r.leaf_hash {
            return Err(bad(format!(
                "record {}: its leaf hash is not the entry's",
                r.seq
            )));
        }
        check_record_fields(r, &bytes)
    }

    /// The key `device` signed with at `seq` (SPEC §3.2.2), from its key history, checked to
    /// be the key given by the registration or re-key entry at its `from_seq`, in the tree of
    /// `cp`. Trusted: that the hub's history omits no re-key between that entry and `seq`
    /// (`m2mhub verify`, which replays every entry, checks that too).
    pub async fn sender_key_at(&self, device: &str, seq: u64, cp: &Checkpoint) -> Result<[u8; 32]> {
        let d: DeviceJson = self.http.get_json(&format!("/v1/devices/{device}")).await?;
        let k =
            key_at(&d.keys, seq).ok_or_else(|| bad(format!("{device} had no key at seq {seq}")))?;
        let key = k.bytes()?;
        let (_, bytes) = self.included_entry(k.from_seq, cp).await?;
        let given = match Entry::from_bytes(&bytes).map_err(bad)? {
            Entry::DeviceRegistered(r) if r.name.as_str() == device => r.public_key,
            Entry::DeviceRekeyed {
                device: d,
                public_key,
            } if d.as_str() == device => public_key,
            _ => {
                return Err(bad(format!("entry {} gives {device} no key", k.from_seq)));
            }
        };
        if given != key {
            return Err(bad(format!(
                "entry {} gives {device} another key than the hub lists",
                k.from_seq
            )));
        }
        Ok(key)
    }

    /// Checks a delivery end to end: its record is the entry in the tree of `cp`
    /// ([`Verifier::verify_record`]) and its signature verifies with the key its sender had at
    /// its seq ([`Verifier::sender_key_at`]), so a re-keyed sender's older messages still
    /// check.
    pub async fn verify_delivery(&self, d: &Delivery, cp: &Checkpoint) -> Result<()> {
        self.verify_record(&d.record, cp).await?;
        let key = self
            .sender_key_at(&d.record.sender, d.record.seq, cp)
            .await?;
        let history = [DeviceKey {
            public_key: hex::encode(key),
            from_seq: 0,
        }];
        d.verify_signature_in_history(&history)
    }

    /// Checks that `new` extends `old` (the hub rewrote nothing in between).
    pub async fn verify_consistency(&self, old: &Checkpoint, new: &Checkpoint) -> Result<()> {
        // Every tree extends the empty one; equal sizes need equal roots (no proof).
        if old.tree_size == 0 {
            return Ok(());
        }
        if old.tree_size == new.tree_size {
            return verify_consistency(old.tree_size, new.tree_size, &old.root, &new.root, &[])
                .map_err(bad);
        }
        let p: PathJson = self
            .http
            .get_json(&format!(
                "/v1/proof/consistency?from={}&to={}",
                old.tree_size, new.tree_size
            ))
            .await?;
        verify_consistency(
            old.tree_size,
            new.tree_size,
            &old.root,
            &new.root,
            &parse_path(&p.path)?,
        )
        .map_err(bad)
    }
}

/// Checks every field of `r` against the message entry `bytes` encode (SPEC §4.2).
pub fn check_record_fields(r: &Record, bytes: &[u8]) -> Result<()> {
    let differs = |field: &str| bad(format!("record {}: its {field} is not the entry's", r.seq));
    let Entry::Message(m) = Entry::from_bytes(bytes).map_err(bad)? else {
        return Err(bad(format!("entry {} is not a message", r.seq)));
    };
    let notices: Vec<&str> = m.notices.iter().map(|n| n.code()).collect();
    let checks = [
        ("sender", r.sender == m.sender.as_str()),
        ("receiver", r.receiver == m.receiver.as_str()),
        ("action", r.action == m.action),
        ("tx", r.tx == m.tx.0),
        ("cause", r.cause == m.cause.map(|c| c.0)),
        ("counter", r.counter == m.counter),
        (
            "provenance",
            r.provenance.as_deref() == m.provenance.as_ref().map(|p| p.as_str()),
        ),
        ("verdict", r.valid == m.valid() && r.notices == notices),
        (
            "contents",
            r.contents
                .as_ref()
                .is_none_or(|c| sha256(c.as_bytes()) == m.contents_hash),
        ),
    ];
    match checks.iter().find(|(_, ok)| !ok) {
        Some((field, _)) => Err(differs(field)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use m2mhub_core::{
        entry::MessageEntry,
        ids::{Seq, TxId},
        message::Action,
        names::DeviceName,
        notice::{Notice, Notices},
    };

    use super::*;

    fn entry() -> (Record, Vec<u8>) {
        let n = |s: &str| DeviceName::new(s).expect("name");
        let m = MessageEntry {
            sender: n("tv"),
            receiver: n("oven"),
            action: Action::Continue,
            tx: TxId(7),
            cause: Some(Seq(3)),
            counter: 9,
            contents_hash: sha256(b"heat"),
            signature: [1; 64],
            provenance: Some(n("phone")),
            notices: [Notice::NotAParticipant].into_iter().collect::<Notices>(),
            federated: false,
        };
        let bytes = Entry::Message(m).to_bytes();
        let r = Record {
            seq: 12,
            tx: 7,
            provenance: Some("phone".into()),
            sender: "tv".into(),
            receiver: "oven".into(),
            action: Action::Continue,
            cause: Some(3),
            counter: 9,
            contents: Some("heat".into()),
            valid: false,
            notices: vec!["not_a_participant".into()],
            block: 2,
            time: None,
            leaf_hash: hex::encode(merkle::leaf_hash(&bytes)),
            duplicate: false,
        };
        (r, bytes)
    }

    #[test]
    fn a_record_matching_its_entry_passes_and_any_changed_field_fails() {
        let (r, bytes) = entry();
        check_record_fields(&r, &bytes).expect("matches");
        type Change = (&'static str, fn(&mut Record));
        let changes: [Change; 10] = [
            ("sender", |r| r.sender = "phone".into()),
            ("receiver", |r| r.receiver = "tv".into()),
            ("action", |r| r.action = Action::End),
            ("tx", |r| r.tx = 8),
            ("cause", |r| r.cause = None),
            ("counter", |r| r.counter = 10),
            ("provenance", |r| r.provenance = Some("tv".into())),
            ("verdict", |r| r.valid = true),
            ("verdict", |r| r.notices.clear()),
            ("contents", |r| r.contents = Some("freeze".into())),
        ];
        for (field, change) in changes {
            let mut bad_record = r.clone();
            change(&mut bad_record);
            let err = check_record_fields(&bad_record, &bytes).expect_err(field);
            assert!(err.to_string().contains(field), "{field}: {err}");
        }
        // Pruned contents are not a difference.
        let pruned = Record {
            contents: None,
            ..r
        };
        check_record_fields(&pruned, &bytes).expect("pruned contents");
    }
}
