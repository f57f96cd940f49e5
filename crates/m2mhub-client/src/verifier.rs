//! An outside auditor's checks through the public HTTP API only (SPEC §4.2, §4.3, §5): the
//! checkpoint's signature, that a recorded entry is in the tree the checkpoint commits to, and
//! that a later checkpoint extends an earlier one. Nothing here trusts the hub's answers: every
//! hash is recomputed here from the entry bytes and proofs.

use base64::{Engine, engine::general_purpose::STANDARD};
use m2mhub_core::{
    checkpoint::Checkpoint,
    hash::Hash,
    merkle::{self, verify_consistency, verify_inclusion},
    note::NoteVerifier,
};
use serde::Deserialize;

use crate::{ClientError, Result, http::HttpTransport, wire::Record};

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

    /// The hub's latest checkpoint, its signature checked.
    pub async fn checkpoint(&self) -> Result<Checkpoint> {
        let note = self.http.get_text("/v1/checkpoint").await?;
        Checkpoint::open(&note, &self.key).map_err(bad)
    }

    /// Checks that entry `seq` is in the tree of `cp`; returns its leaf hash (computed here
    /// from the entry bytes).
    pub async fn verify_inclusion(&self, seq: u64, cp: &Checkpoint) -> Result<Hash> {
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
        Ok(leaf)
    }

    /// Checks that a record the hub returned is the entry in the tree of `cp`.
    pub async fn verify_record(&self, r: &Record, cp: &Checkpoint) -> Result<()> {
        let leaf = self.verify_inclusion(r.seq, cp).await?;
        if hex::encode(leaf) != r.leaf_hash {
            return Err(bad(format!(
                "record {}: its leaf hash is not the entry's",
                r.seq
            )));
        }
        Ok(())
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
