//! M2MHub checkpoints: C2SP tlog-checkpoints (<https://c2sp.org/tlog-checkpoint>) carried in
//! signed notes, each one a block of the hub's hash chain (SPEC §4.3).
//!
//! The note text is exactly
//!
//! ```text
//! <origin>
//! <tree size, decimal>
//! <root hash, standard base64>
//! block <height, decimal> prev <previous block hash, standard base64>
//! time <unix milliseconds, decimal>
//! ```
//!
//! The first three lines are the C2SP checkpoint; the `block` extension line links each block
//! to the one before by the SHA-256 of that block's note text ([`Checkpoint::block_hash`]), so
//! the signed checkpoints form a chain that no one can rewrite without the log key. The `time`
//! line is when the block was sealed (SPEC §5: never decreasing along the chain); checkpoints
//! signed before that rule have no `time` line. The origin doubles as the log's key name, as
//! C2SP recommends; M2MHub requires it.

use base64::{Engine as _, engine::general_purpose::STANDARD};

use crate::hash::{Hash, sha256};
use crate::note::{NoteError, NoteSigner, NoteVerifier};

/// What can go wrong signing, opening or reading a checkpoint. All of it is bad input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The signed note around the checkpoint is bad (see [`NoteError`]).
    #[error(transparent)]
    Note(#[from] NoteError),
    /// The note text is not a checkpoint in M2MHub's exact format; the text says why.
    #[error("malformed checkpoint: {0}")]
    Malformed(&'static str),
    /// The origin line is not the name of the key that signs (or must sign) the checkpoint.
    #[error("checkpoint origin {origin:?} is not the log key name {key_name:?}")]
    OriginMismatch {
        /// The checkpoint's origin line.
        origin: String,
        /// The signer's or verifier's key name.
        key_name: String,
    },
}

/// A checkpoint of the M2MHub log: a C2SP tree head plus the block link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity, also its key name (C2SP tlog-checkpoint: the origin line).
    pub origin: String,
    /// How many entries the Merkle tree holds.
    pub tree_size: u64,
    /// The RFC 6962 / RFC 9162 Merkle tree hash at `tree_size`.
    pub root: Hash,
    /// The block height: 0 for the first checkpoint, one more for each after it.
    pub block: u64,
    /// [`Checkpoint::block_hash`] of the previous block (all zeros for block 0, by convention
    /// of the caller: this module does not check chain rules).
    pub prev_block_hash: Hash,
    /// When the block was sealed, milliseconds since the Unix epoch; `None` for checkpoints
    /// signed before blocks carried a signed time.
    pub time_ms: Option<u64>,
}

impl Checkpoint {
    /// The note text the log signs, final newline included.
    pub fn to_body(&self) -> String {
        let mut body = format!(
            "{}\n{}\n{}\nblock {} prev {}\n",
            self.origin,
            self.tree_size,
            STANDARD.encode(self.root),
            self.block,
            STANDARD.encode(self.prev_block_hash)
        );
        if let Some(t) = self.time_ms {
            body.push_str(&format!("time {t}\n"));
        }
        body
    }

    /// Reads a note text written by [`Checkpoint::to_body`], and only such a text: four or
    /// five lines, each ending in a newline; a non-empty origin without ASCII control
    /// characters; decimal numbers without sign or leading zeros (except `0` itself) that
    /// fit a u64; canonical base64 of 32 bytes; the extension line `block <N> prev <B64>`
    /// with single spaces, then optionally `time <N>`.
    pub fn parse_body(text: &str) -> Result<Self, CheckpointError> {
        let malformed = |why| Err(CheckpointError::Malformed(why));
        let Some(body) = text.strip_suffix('\n') else {
            return malformed("no final newline");
        };
        let lines: Vec<&str> = body.split('\n').collect();
        if lines.iter().any(|l| l.is_empty()) {
            // C2SP tlog-checkpoint: every line, extension lines included, is non-empty.
            return malformed("empty line");
        }
        let (origin, size, root, ext, time) = match lines[..] {
            [origin, size, root, ext] => (origin, size, root, ext, None),
            [origin, size, root, ext, time] => (origin, size, root, ext, Some(time)),
            _ if lines.len() < 4 => return malformed("fewer than four lines"),
            _ => return malformed("more than two extension lines"),
        };
        if origin.bytes().any(|b| b < 0x20) {
            return malformed("control character in origin");
        }
        let tree_size = parse_decimal(size).ok_or(CheckpointError::Malformed("bad tree size"))?;
        let root = parse_hash(root).ok_or(CheckpointError::Malformed("bad root hash"))?;
        let (block, prev) = ext
            .strip_prefix("block ")
            .and_then(|rest| rest.split_once(" prev "))
            .ok_or(CheckpointError::Malformed(
                "extension line is not `block N prev HASH`",
            ))?;
        let block = parse_decimal(block).ok_or(CheckpointError::Malformed("bad block height"))?;
        let prev_block_hash =
            parse_hash(prev).ok_or(CheckpointError::Malformed("bad previous block hash"))?;
        let time_ms = match time {
            None => None,
            Some(line) => Some(line.strip_prefix("time ").and_then(parse_decimal).ok_or(
                CheckpointError::Malformed("second extension line is not `time N`"),
            )?),
        };
        Ok(Self {
            origin: origin.to_owned(),
            tree_size,
            root,
            block,
            prev_block_hash,
            time_ms,
        })
    }

    /// Signs the checkpoint and returns the whole signed note.
    ///
    /// Refuses a checkpoint whose body [`Checkpoint::parse_body`] would not read back (an
    /// empty origin or one with a newline, say) and one whose origin is not the signer's key
    /// name.
    pub fn sign(&self, signer: &NoteSigner) -> Result<String, CheckpointError> {
        let body = self.to_body();
        Self::parse_body(&body)?;
        if self.origin != signer.name() {
            return Err(CheckpointError::OriginMismatch {
                origin: self.origin.clone(),
                key_name: signer.name().to_owned(),
            });
        }
        Ok(signer.sign(&body)?)
    }

    /// Verifies a signed checkpoint note with `verifier` (see [`NoteVerifier::open`]), reads
    /// its text with [`Checkpoint::parse_body`] and checks that the origin is the verifier's
    /// key name: a note signed by the right key for another log's origin is refused.
    pub fn open(note: &str, verifier: &NoteVerifier) -> Result<Self, CheckpointError> {
        let text = verifier.open(note)?;
        let cp = Self::parse_body(text)?;
        if cp.origin != verifier.name() {
            return Err(CheckpointError::OriginMismatch {
                origin: cp.origin,
                key_name: verifier.name().to_owned(),
            });
        }
        Ok(cp)
    }

    /// SHA-256 of [`Checkpoint::to_body`]: the hash the next block's `prev` names. The
    /// signature is left out so that the link does not depend on which signature lines a
    /// copy of the note carries (C2SP lets witnesses add cosignatures).
    pub fn block_hash(&self) -> Hash {
        sha256(self.to_body().as_bytes())
    }
}

/// ASCII decimal without sign or leading zeros (except "0"), fitting a u64 (C2SP
/// tlog-checkpoint: the tree size format, used for the block height too).
pub(crate) fn parse_decimal(s: &str) -> Option<u64> {
    // u64::from_str alone would take "+7" and "007".
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

/// Canonical standard base64 (RFC 4648 §4, padded) of exactly 32 bytes.
pub(crate) fn parse_hash(s: &str) -> Option<Hash> {
    let raw = STANDARD
        .decode(s)
        .ok()
        .filter(|raw| STANDARD.encode(raw) == s)?;
    raw.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    const ORIGIN: &str = "m2mhub.example/log";

    fn cp() -> Checkpoint {
        Checkpoint {
            origin: ORIGIN.into(),
            tree_size: 20852163,
            root: sha256(b"root"),
            block: 7,
            prev_block_hash: sha256(b"prev"),
            time_ms: Some(1_764_450_000_123),
        }
    }

    fn signer(name: &str) -> NoteSigner {
        NoteSigner::new(name, SigningKey::from_bytes(&[9; 32])).unwrap()
    }

    fn malformed(why: &'static str) -> Result<Checkpoint, CheckpointError> {
        Err(CheckpointError::Malformed(why))
    }

    /// `cp()`'s body with line `i` (0-based) replaced by `with`.
    fn body_with(i: usize, with: &str) -> String {
        let body = cp().to_body();
        let mut lines: Vec<&str> = body.lines().collect();
        lines[i] = with;
        lines.iter().map(|l| format!("{l}\n")).collect()
    }

    #[test]
    fn body_layout() {
        let c = Checkpoint {
            tree_size: 0,
            block: 0,
            root: [0; 32],
            prev_block_hash: [0xff; 32],
            ..cp()
        };
        let want = "m2mhub.example/log\n0\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\
                    block 0 prev //////////////////////////////////////////8=\n\
                    time 1764450000123\n";
        assert_eq!(c.to_body(), want);
        assert_eq!(Checkpoint::parse_body(want), Ok(c.clone()));
        assert_eq!(c.block_hash(), sha256(want.as_bytes()));
        // Checkpoints signed before blocks carried a time have no `time` line.
        let old = Checkpoint { time_ms: None, ..c };
        let (old_body, _) = want.split_at(want.find("time").unwrap());
        assert_eq!(old.to_body(), old_body);
        assert_eq!(Checkpoint::parse_body(old_body), Ok(old));
    }

    #[test]
    fn the_time_line_is_strict() {
        let p = |t: &str| Checkpoint::parse_body(t);
        for bad in [
            "time",
            "time ",
            "time 007",
            "time -1",
            "time  1",
            "time 1 ",
            "tiem 1",
            "time 18446744073709551616",
        ] {
            assert_eq!(
                p(&body_with(4, bad)),
                malformed("second extension line is not `time N`"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn round_trips() {
        let s = signer(ORIGIN);
        for c in [
            cp(),
            Checkpoint {
                tree_size: u64::MAX,
                block: u64::MAX,
                ..cp()
            },
            Checkpoint {
                origin: "x".into(),
                ..cp()
            },
        ] {
            assert_eq!(Checkpoint::parse_body(&c.to_body()), Ok(c.clone()));
            if c.origin == ORIGIN {
                let note = c.sign(&s).unwrap();
                assert_eq!(note, s.sign(&c.to_body()).unwrap());
                assert_eq!(Checkpoint::open(&note, &s.verifier()), Ok(c));
            }
        }
    }

    #[test]
    fn parse_rejections() {
        let p = |t: &str| Checkpoint::parse_body(t);
        let body = cp().to_body();
        assert_eq!(p(body.trim_end()), malformed("no final newline"));
        assert_eq!(p(""), malformed("no final newline"));
        assert_eq!(p(&format!("{body}\n")), malformed("empty line"));
        assert_eq!(p(&body_with(0, "")), malformed("empty line"));
        assert_eq!(p(&body_with(3, "")), malformed("empty line"));
        let three: String = body.lines().take(3).map(|l| format!("{l}\n")).collect();
        assert_eq!(p(&three), malformed("fewer than four lines"));
        assert_eq!(
            p(&format!("{body}more\n")),
            malformed("more than two extension lines")
        );
        let ext = body.lines().nth(3).unwrap();
        assert_eq!(
            p(&format!("{body}{ext}\n")),
            malformed("more than two extension lines")
        );
        assert_eq!(
            p(&body_with(0, "a\u{7}b")),
            malformed("control character in origin")
        );
        for bad in [
            "007",
            "00",
            "+7",
            "-7",
            "7 ",
            " 7",
            "0x7",
            "18446744073709551616",
            "٣",
        ] {
            assert_eq!(p(&body_with(1, bad)), malformed("bad tree size"), "{bad:?}");
            let ext = format!("block {bad} prev {}", STANDARD.encode(sha256(b"prev")));
            assert_eq!(
                p(&body_with(3, &ext)),
                malformed("bad block height"),
                "{bad:?}"
            );
        }
        let b64 = STANDARD.encode(sha256(b"root"));
        let short = STANDARD.encode([1u8; 31]);
        let long = STANDARD.encode([1u8; 33]);
        let bits = format!("{}B=", &b64[..b64.len() - 2]); // nonzero trailing bits
        for bad in [
            &b64[..b64.len() - 1],
            &short,
            &long,
            &bits,
            &b64.replace('=', ""),
            &format!(" {b64}"),
            "-_==",
            &hex::encode(sha256(b"root")),
        ] {
            assert_eq!(p(&body_with(2, bad)), malformed("bad root hash"), "{bad:?}");
            assert_eq!(
                p(&body_with(3, &format!("block 7 prev {bad}"))),
                malformed("bad previous block hash"),
                "{bad:?}"
            );
        }
        let prev = STANDARD.encode(sha256(b"prev"));
        let not_ext = malformed("extension line is not `block N prev HASH`");
        for bad in [
            format!("Block 7 prev {prev}"),
            format!("block 7 Prev {prev}"),
            format!("block 7 {prev}"),
            format!("block 7prev {prev}"),
            "block 7".into(),
            format!("prev {prev}"),
        ] {
            assert_eq!(p(&body_with(3, &bad)), not_ext, "{bad:?}");
        }
        assert_eq!(
            p(&body_with(3, &format!("block  7 prev {prev}"))),
            malformed("bad block height")
        );
        assert_eq!(
            p(&body_with(3, &format!("block 7 prev  {prev}"))),
            malformed("bad previous block hash")
        );
        assert_eq!(
            p(&body_with(3, &format!("block 7 prev {prev} "))),
            malformed("bad previous block hash")
        );
    }

    #[test]
    fn sign_and_open_rejections() {
        let s = signer(ORIGIN);
        let other = signer("m2mhub.example/other");
        let mismatch = |key: &str| CheckpointError::OriginMismatch {
            origin: ORIGIN.into(),
            key_name: key.into(),
        };
        assert_eq!(cp().sign(&other), Err(mismatch("m2mhub.example/other")));
        let bad = Checkpoint {
            origin: "a\nb".into(),
            ..cp()
        };
        assert_eq!(
            bad.sign(&s),
            Err(CheckpointError::Malformed("more than two extension lines"))
        );
        let empty = Checkpoint {
            origin: String::new(),
            ..cp()
        };
        assert_eq!(
            empty.sign(&s),
            Err(CheckpointError::Malformed("empty line"))
        );
        // Right key, other origin: the note verifies but names another log.
        let note = other.sign(&cp().to_body()).unwrap();
        assert_eq!(
            Checkpoint::open(&note, &other.verifier()),
            Err(mismatch("m2mhub.example/other"))
        );
        // Signed by the log key, but the text is no checkpoint.
        let note = s.sign("m2mhub.example/log\n1\n").unwrap();
        assert_eq!(
            Checkpoint::open(&note, &s.verifier()),
            Err(CheckpointError::Malformed("fewer than four lines"))
        );
        // Note errors come through as they are.
        let note = cp().sign(&s).unwrap();
        let stranger = NoteSigner::new(ORIGIN, SigningKey::from_bytes(&[8; 32]))
            .unwrap()
            .verifier();
        assert!(matches!(
            Checkpoint::open(&note, &stranger),
            Err(CheckpointError::Note(NoteError::NotSigned(_)))
        ));
        assert!(matches!(
            Checkpoint::open(note.trim_end(), &s.verifier()),
            Err(CheckpointError::Note(NoteError::Malformed(_)))
        ));
    }

    #[test]
    fn every_flipped_bit_is_caught() {
        let s = signer(ORIGIN);
        let note = cp().sign(&s).unwrap();
        for i in 0..note.len() {
            for bit in 0..8 {
                let mut b = note.clone().into_bytes();
                b[i] ^= 1 << bit;
                if let Ok(m) = String::from_utf8(b) {
                    assert!(
                        Checkpoint::open(&m, &s.verifier()).is_err(),
                        "byte {i} bit {bit}"
                    );
                }
            }
        }
    }

    #[test]
    fn block_hash_links_blocks() {
        let first = Checkpoint {
            block: 0,
            tree_size: 0,
            prev_block_hash: [0; 32],
            ..cp()
        };
        let second = Checkpoint {
            block: 1,
            prev_block_hash: first.block_hash(),
            ..cp()
        };
        assert_ne!(first.block_hash(), second.block_hash());
        assert_eq!(
            Checkpoint::parse_body(&second.to_body())
                .unwrap()
                .prev_block_hash,
            first.block_hash()
        );
    }
}
