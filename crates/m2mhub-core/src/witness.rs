//! The witness's judgement of C2SP tlog-witness `add-checkpoint` (<https://c2sp.org/tlog-witness>,
//! SPEC §7): reading the request, checking the checkpoint's signature by its log's key, and
//! checking it against what the witness holds of that log. Pure: the server keeps the state
//! and runs [`Opened::check`] and the write of its result in one store transaction, as the
//! spec asks (the check of the old size and the update are atomic).
//!
//! Each refusal is a [`WitnessError`] whose [`WitnessError::status`] is the HTTP status the
//! spec names: 400 malformed, 403 no valid signature by the origin's key, 404 unknown origin,
//! 409 an old size that is not the one the witness holds, 422 a proof that does not verify.

use base64::{Engine as _, engine::general_purpose::STANDARD};

use crate::checkpoint::{parse_decimal, parse_hash};
use crate::hash::Hash;
use crate::merkle::{empty_root, verify_consistency};
use crate::note::{NoteError, NoteVerifier};

/// Most consistency proof lines a request may carry (C2SP: a client sends at most 63).
pub const MAX_PROOF_LINES: usize = 63;

/// Longest request body a witness reads: a checkpoint note of a few hundred bytes with up to
/// 100 signatures, plus 63 proof lines, fits well inside it.
pub const MAX_REQUEST_LEN: usize = 64 * 1024;

/// Why a witness refuses an add-checkpoint request.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WitnessError {
    /// The request or its checkpoint is malformed, or the old size is past the checkpoint's
    /// size (400).
    #[error("malformed request: {0}")]
    BadRequest(String),
    /// The checkpoint carries no valid signature by its origin's key (403).
    #[error("{0}")]
    Forbidden(String),
    /// The witness does not witness this origin (404).
    #[error("this witness does not witness origin {0:?}")]
    UnknownOrigin(String),
    /// The old size is not the size of the checkpoint the witness last cosigned (409); the
    /// answer's body is that size.
    #[error("old size {old} is not {held}, the size this witness last cosigned")]
    Conflict {
        /// The request's old size.
        old: u64,
        /// The size the witness holds.
        held: u64,
    },
    /// The checkpoint is not consistent with what the witness holds, or an empty tree has the
    /// wrong root (422).
    #[error("{0}")]
    Unprocessable(String),
}

impl WitnessError {
    /// The HTTP status C2SP tlog-witness gives this refusal.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest(_) => 400,
            Self::Forbidden(_) => 403,
            Self::UnknownOrigin(_) => 404,
            Self::Conflict { .. } => 409,
            Self::Unprocessable(_) => 422,
        }
    }
}

fn bad(why: impl Into<String>) -> WitnessError {
    WitnessError::BadRequest(why.into())
}

/// The first three lines of a C2SP checkpoint: what a cosignature vouches for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeHead {
    /// The origin line.
    pub origin: String,
    /// The tree size.
    pub size: u64,
    /// The root hash.
    pub root: Hash,
}

impl TreeHead {
    /// Reads a checkpoint note text (C2SP tlog-checkpoint): the origin, the size in decimal
    /// without leading zeros, the root in canonical base64, then any non-empty extension
    /// lines, each line ending in a newline.
    pub fn parse(text: &str) -> Result<TreeHead, WitnessError> {
        let body = text
            .strip_suffix('\n')
            .ok_or_else(|| bad("checkpoint has no final newline"))?;
        let lines: Vec<&str> = body.split('\n').collect();
        if lines.len() < 3 {
            return Err(bad("checkpoint has fewer than three lines"));
        }
        if lines.iter().any(|l| l.is_empty()) {
            return Err(bad("checkpoint has an empty line"));
        }
        let size = parse_decimal(lines[1]).ok_or_else(|| bad("checkpoint size is not decimal"))?;
        let root = parse_hash(lines[2]).ok_or_else(|| bad("checkpoint root is not a hash"))?;
        Ok(TreeHead {
            origin: lines[0].to_owned(),
            size,
            root,
        })
    }
}

/// What a witness holds of one log: the size and root of the checkpoint it last cosigned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Held {
    /// The tree size.
    pub size: u64,
    /// The root hash.
    pub root: Hash,
}

/// An add-checkpoint request body, read but not checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddCheckpoint<'a> {
    /// The size of the checkpoint the client believes the witness holds.
    pub old_size: u64,
    /// The consistency proof from `old_size` to the checkpoint's size.
    pub proof: Vec<Hash>,
    /// The signed checkpoint note.
    pub note: &'a str,
}

impl<'a> AddCheckpoint<'a> {
    /// The request body: `old <size>`, the proof lines, an empty line, the note.
    pub fn to_body(old_size: u64, proof: &[Hash], note: &str) -> String {
        let mut s = format!("old {old_size}\n");
        for h in proof {
            s.push_str(&STANDARD.encode(h));
            s.push('\n');
        }
        s.push('\n');
        s.push_str(note);
        s
    }

    /// Reads a request body strictly: a canonical `old` line, at most [`MAX_PROOF_LINES`]
    /// canonical base64 hashes, an empty line, then the note (not yet checked).
    pub fn parse(body: &'a str) -> Result<Self, WitnessError> {
        if body.len() > MAX_REQUEST_LEN {
            return Err(bad(format!("body is longer than {MAX_REQUEST_LEN} bytes")));
        }
        let (first, mut rest) = body
            .split_once('\n')
            .ok_or_else(|| bad("no old size line"))?;
        let old_size = first
            .strip_prefix("old ")
            .and_then(parse_decimal)
            .ok_or_else(|| bad("first line is not `old <size>` in decimal"))?;
        let mut proof = Vec::new();
        loop {
            let (line, after) = rest
                .split_once('\n')
                .ok_or_else(|| bad("no empty line before the checkpoint"))?;
            rest = after;
            if line.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_LINES {
                return Err(bad(format!("more than {MAX_PROOF_LINES} proof lines")));
            }
            proof.push(parse_hash(line).ok_or_else(|| bad("a proof line is not a base64 hash"))?);
        }
        Ok(AddCheckpoint {
            old_size,
            proof,
            note: rest,
        })
    }

    /// Checks the note's signature by its origin's key (`key_of` gives the key of each origin
    /// this witness witnesses) and the sizes: 404, 403 and 400 of the spec.
    pub fn open<'k>(
        self,
        key_of: impl FnOnce(&str) -> Option<&'k NoteVerifier>,
    ) -> Result<Opened<'a>, WitnessError> {
        let (origin, _) = self
            .note
            .split_once('\n')
            .ok_or_else(|| bad("checkpoint has no origin line"))?;
        let key = key_of(origin).ok_or_else(|| WitnessError::UnknownOrigin(origin.to_owned()))?;
        let text = key.open(self.note).map_err(|e| match e {
            NoteError::BadSignature(_) | NoteError::NotSigned(_) => {
                WitnessError::Forbidden(e.to_string())
            }
            _ => bad(e.to_string()),
        })?;
        let head = TreeHead::parse(text)?;
        if self.old_size > head.size {
            return Err(bad(format!(
                "old size {} is past the checkpoint's size {}",
                self.old_size, head.size
            )));
        }
        Ok(Opened {
            head,
            text,
            note: self.note,
            old_size: self.old_size,
            proof: self.proof,
        })
    }
}

/// A request whose checkpoint is signed by its log: what is left is the check against state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opened<'a> {
    /// The checkpoint's tree head.
    pub head: TreeHead,
    /// The checkpoint's note text (what a cosignature signs, after its two header lines).
    pub text: &'a str,
    /// The whole signed note as submitted.
    pub note: &'a str,
    /// The request's old size.
    pub old_size: u64,
    /// The request's consistency proof.
    pub proof: Vec<Hash>,
}

impl Opened<'_> {
    /// Checks the checkpoint against `held`, what the witness holds of its log (`None` if it
    /// never cosigned one), and returns what it holds once it cosigns: the 409 and 422 of the
    /// spec. Run it and store its result atomically.
    pub fn check(&self, held: Option<&Held>) -> Result<Held, WitnessError> {
        let held_size = held.map_or(0, |h| h.size);
        if self.old_size != held_size {
            return Err(WitnessError::Conflict {
                old: self.old_size,
                held: held_size,
            });
        }
        let unprocessable = |why: &str| Err(WitnessError::Unprocessable(why.to_owned()));
        let new = Held {
            size: self.head.size,
            root: self.head.root,
        };
        if new.size == 0 && new.root != empty_root() {
            return unprocessable("a checkpoint of size 0 must have the empty tree's root");
        }
        let Some(held) = held.filter(|_| self.old_size > 0) else {
            // From nothing (or the empty tree) every tree is consistent: no proof is needed.
            return if self.proof.is_empty() {
                Ok(new)
            } else {
                unprocessable("old size 0 takes no consistency proof")
            };
        };
        match verify_consistency(held.size, new.size, &held.root, &new.root, &self.proof) {
            Ok(()) => Ok(new),
            Err(e) if held.size == new.size => Err(WitnessError::Unprocessable(format!(
                "the checkpoint's root differs from the one this witness holds at size {} ({e})",
                held.size
            ))),
            Err(e) => Err(WitnessError::Unprocessable(format!(
                "the consistency proof from {} to {} does not verify: {e}",
                held.size, new.size
            ))),
        }
    }
}

#[cfg(test)]
#[path = "witness_tests.rs"]
mod tests;
