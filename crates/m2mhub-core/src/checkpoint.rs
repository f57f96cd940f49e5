//! C2SP tlog checkpoints (https://github.com/C2SP/C2SP/blob/main/tlog-checkpoint.md) in
//! signed notes, with M2MHub's one extension line `block <height> prev <base64 hash>` that
//! links each block to the previous one (SPEC §4.3).

use base64::{Engine, engine::general_purpose::STANDARD};

use crate::{
    hash::{Hash, sha256},
    note::{NoteError, NoteSigner, NoteVerifier},
};

/// What is wrong with a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The signed note is bad.
    #[error(transparent)]
    Note(#[from] NoteError),
    /// The body is not origin, size, root and the block line.
    #[error("malformed checkpoint: {0}")]
    Malformed(&'static str),
    /// The origin differs from the signing key's name.
    #[error("checkpoint origin {0:?} is not the key name {1:?}")]
    WrongOrigin(String, String),
}

/// A checkpoint: the ledger's size and root after a block, and the block's link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin (also the note key name).
    pub origin: String,
    /// Number of entries.
    pub tree_size: u64,
    /// Merkle root.
    pub root: Hash,
    /// Block height.
    pub block: u64,
    /// Hash of the previous block's checkpoint body (zeros for block 0).
    pub prev_block_hash: Hash,
}

fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() || (s.len() > 1 && s.starts_with('0')) || !s.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    s.parse().ok()
}

fn parse_hash(s: &str) -> Option<Hash> {
    let raw = STANDARD.decode(s).ok()?;
    if STANDARD.encode(&raw) != s {
        return None;
    }
    raw.try_into().ok()
}

impl Checkpoint {
    /// The signed text: `origin\nsize\nroot\nblock N prev B64\n`.
    pub fn to_body(&self) -> String {
        format!(
            "{}\n{}\n{}\nblock {} prev {}\n",
            self.origin,
            self.tree_size,
            STANDARD.encode(self.root),
            self.block,
            STANDARD.encode(self.prev_block_hash)
        )
    }

    /// Parses a body strictly: canonical numbers and base64, exactly one block line.
    pub fn parse_body(text: &str) -> Result<Self, CheckpointError> {
        let body = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::Malformed("no final newline"))?;
        let lines: Vec<&str> = body.split('\n').collect();
        let [origin, size, root, ext] = lines[..] else {
            return Err(CheckpointError::Malformed("expected 4 lines"));
        };
        if origin.is_empty() {
            return Err(CheckpointError::Malformed("empty origin"));
        }
        let tree_size = parse_u64(size).ok_or(CheckpointError::Malformed("tree size"))?;
        let root = parse_hash(root).ok_or(CheckpointError::Malformed("root hash"))?;
        let mut words = ext.split(' ');
        let (Some("block"), Some(h), Some("prev"), Some(p), None) = (
            words.next(),
            words.next(),
            words.next(),
            words.next(),
            words.next(),
        ) else {
            return Err(CheckpointError::Malformed("block line"));
        };
        let block = parse_u64(h).ok_or(CheckpointError::Malformed("block height"))?;
        let prev_block_hash =
            parse_hash(p).ok_or(CheckpointError::Malformed("previous block hash"))?;
        Ok(Checkpoint {
            origin: origin.to_owned(),
            tree_size,
            root,
            block,
            prev_block_hash,
        })
    }

    /// Signs the checkpoint: the whole signed note.
    pub fn sign(&self, signer: &NoteSigner) -> Result<String, CheckpointError> {
        if self.origin != signer.name() {
            return Err(CheckpointError::WrongOrigin(
                self.origin.clone(),
                signer.name().to_owned(),
            ));
        }
        Ok(signer.sign(&self.to_body())?)
    }

    /// Verifies a signed checkpoint note and parses it; its origin must be the key's name.
    pub fn open(note: &str, verifier: &NoteVerifier) -> Result<Self, CheckpointError> {
        let cp = Self::parse_body(verifier.open(note)?)?;
        if cp.origin != verifier.name() {
            return Err(CheckpointError::WrongOrigin(
                cp.origin,
                verifier.name().to_owned(),
            ));
        }
        Ok(cp)
    }

    /// SHA-256 of the body: the hash the next block's `prev` names.
    pub fn block_hash(&self) -> Hash {
        sha256(self.to_body().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;

    use super::*;

    fn cp() -> Checkpoint {
        Checkpoint {
            origin: "m2mhub/host".into(),
            tree_size: 42,
            root: [3; 32],
            block: 7,
            prev_block_hash: [9; 32],
        }
    }

    #[test]
    fn round_trips_through_a_signed_note() {
        let signer = NoteSigner::new("m2mhub/host", SigningKey::from_bytes(&[1; 32])).unwrap();
        let note = cp().sign(&signer).unwrap();
        assert!(note.starts_with(
            "m2mhub/host\n42\nAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=\nblock 7 prev "
        ));
        assert_eq!(Checkpoint::open(&note, &signer.verifier()).unwrap(), cp());
        assert_eq!(cp().block_hash(), sha256(cp().to_body().as_bytes()));
    }

    #[test]
    fn strict_bodies() {
        let good = cp().to_body();
        assert_eq!(Checkpoint::parse_body(&good).unwrap(), cp());
        let bad = [
            good.replace("\n42\n", "\n042\n"),
            good.replace("\n42\n", "\n-1\n"),
            good.replace("block 7", "block 07"),
            good.replace("block 7", "height 7"),
            good.replace("AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=", "AwMD"),
            good.trim_end().to_owned(),
            format!("{good}extra\n"),
            good.replacen("m2mhub/host", "", 1),
        ];
        for b in bad {
            assert!(Checkpoint::parse_body(&b).is_err(), "{b:?}");
        }
    }

    #[test]
    fn origin_must_be_the_key_name() {
        let signer = NoteSigner::new("someone-else", SigningKey::from_bytes(&[1; 32])).unwrap();
        assert!(matches!(
            cp().sign(&signer),
            Err(CheckpointError::WrongOrigin(..))
        ));
    }
}
