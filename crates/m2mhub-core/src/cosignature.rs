//! C2SP tlog-cosignature/v1 with Ed25519 (<https://c2sp.org/tlog-cosignature>): the witness
//! statement "as of time T, this is the largest consistent tree I have seen of this log"
//! (SPEC §7). A hub cosigns the other members' checkpoints with its own hub key, under its
//! own key name (its origin), so a member's one verifier key in the federation file checks
//! both its checkpoints (type 0x01) and its cosignatures (type 0x04).
//!
//! A cosignature is a signed-note signature line `— <name> base64(key id ‖ u64 BE timestamp ‖
//! Ed25519 signature)` whose key id is `SHA-256(name ‖ "\n" ‖ 0x04 ‖ public key)[:4]` and
//! whose signature covers `cosignature/v1\ntime <T>\n` followed by the checkpoint's note text.
//! `testdata/cosignature-vectors.json` holds vectors from the independent Python model
//! `testdata/gen_cosignature_vectors.py`.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

use crate::hash::sha256_parts;
use crate::note::{
    MAX_SIGNATURES, MAX_TEXT_LEN, NoteError, NoteVerifier, SIG_PREFIX, has_control,
    is_valid_key_name, parse_signature_line,
};

/// Signature type of timestamped Ed25519 cosignatures (C2SP tlog-cosignature, signed-note).
pub const ALG_COSIGNATURE_V1: u8 = 0x04;

/// Largest timestamp a cosignature may carry (C2SP: "MUST NOT exceed 2^63 - 1").
pub const MAX_TIMESTAMP: u64 = i64::MAX as u64;

/// Bytes after the key id: the u64 timestamp and the Ed25519 signature.
const BLOB_LEN: usize = 8 + 64;

/// What can go wrong making or checking a cosignature. All of it is bad input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CosignatureError {
    /// A key name, a note's framing or a signature line is bad (see [`NoteError`]).
    #[error(transparent)]
    Note(#[from] NoteError),
    /// A timestamp past [`MAX_TIMESTAMP`] was asked to be signed.
    #[error("cosignature timestamp {0} is past 2^63 - 1")]
    BadTimestamp(u64),
    /// A line names our key (name and id) but is not a valid cosignature: wrong length, a
    /// timestamp past 2^63 - 1, or a signature that does not verify. Holds `<name>+<key id>`.
    #[error("invalid cosignature by key {0}")]
    BadSignature(String),
    /// No signature line names our key (name and id). Holds `<name>+<key id>`.
    #[error("no cosignature by key {0}")]
    NotCosigned(String),
}

/// The key id of a cosigner key: `SHA-256(name ‖ 0x0A ‖ 0x04 ‖ public key)[:4]`.
pub fn key_id(name: &str, key: &VerifyingKey) -> [u8; 4] {
    let h = sha256_parts(&[
        name.as_bytes(),
        b"\n",
        &[ALG_COSIGNATURE_V1],
        key.as_bytes(),
    ]);
    [h[0], h[1], h[2], h[3]]
}

/// The message a cosignature signs: `cosignature/v1\ntime <timestamp>\n` and the note text.
pub fn signed_message(body: &str, timestamp: u64) -> String {
    format!("cosignature/v1\ntime {timestamp}\n{body}")
}

/// Splits a signed note at its last blank line into its text (final newline kept) and its
/// signature lines (each ending in a newline), as C2SP signed-note frames it.
pub fn split_note(note: &str) -> Result<(&str, &str), NoteError> {
    if has_control(note) {
        return Err(NoteError::Malformed("ASCII control character"));
    }
    let split = note
        .rfind("\n\n")
        .ok_or(NoteError::Malformed("no blank line before the signatures"))?;
    let (text, sigs) = (&note[..split + 1], &note[split + 2..]);
    if sigs.is_empty() {
        return Err(NoteError::Malformed("no signature lines"));
    }
    if !sigs.ends_with('\n') {
        return Err(NoteError::Malformed("no final newline"));
    }
    if text.len() > MAX_TEXT_LEN {
        return Err(NoteError::TooLong);
    }
    Ok((text, sigs))
}

/// Signs cosignatures with one Ed25519 key under one key name.
#[derive(Clone)]
pub struct Cosigner {
    name: String,
    key_id: [u8; 4],
    key: SigningKey,
}

impl std::fmt::Debug for Cosigner {
    // Written by hand so that no secret can reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cosigner")
            .field("name", &self.name)
            .field("key_id", &hex::encode(self.key_id))
            .finish_non_exhaustive()
    }
}

impl Cosigner {
    /// A cosigner for `key` under the key name `name` (see [`is_valid_key_name`]).
    pub fn new(name: &str, key: SigningKey) -> Result<Self, CosignatureError> {
        if !is_valid_key_name(name) {
            return Err(NoteError::BadKeyName(name.to_owned()).into());
        }
        Ok(Self {
            name: name.to_owned(),
            key_id: key_id(name, &key.verifying_key()),
            key,
        })
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The cosignature key id.
    pub fn key_id(&self) -> [u8; 4] {
        self.key_id
    }

    /// The verifier of this cosigner's cosignatures.
    pub fn verifier(&self) -> CosignatureVerifier {
        CosignatureVerifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// The signature line (newline included) cosigning the note text `body` at `timestamp`
    /// (seconds since the Unix epoch). `body` must be a note text: non-empty, ending in a
    /// newline, without ASCII control characters but newlines, at most [`MAX_TEXT_LEN`].
    pub fn cosign(&self, body: &str, timestamp: u64) -> Result<String, CosignatureError> {
        if body.is_empty() {
            return Err(NoteError::BadText("empty").into());
        }
        if !body.ends_with('\n') {
            return Err(NoteError::BadText("no final newline").into());
        }
        if has_control(body) {
            return Err(NoteError::BadText("ASCII control character").into());
        }
        if body.len() > MAX_TEXT_LEN {
            return Err(NoteError::TooLong.into());
        }
        if timestamp > MAX_TIMESTAMP {
            return Err(CosignatureError::BadTimestamp(timestamp));
        }
        let sig = self.key.sign(signed_message(body, timestamp).as_bytes());
        let mut blob = Vec::with_capacity(4 + BLOB_LEN);
        blob.extend_from_slice(&self.key_id);
        blob.extend_from_slice(&timestamp.to_be_bytes());
        blob.extend_from_slice(&sig.to_bytes());
        Ok(format!(
            "{SIG_PREFIX}{} {}\n",
            self.name,
            STANDARD.encode(blob)
        ))
    }
}

/// Checks cosignatures by one Ed25519 cosigner key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CosignatureVerifier {
    name: String,
    key_id: [u8; 4],
    key: VerifyingKey,
}

impl CosignatureVerifier {
    /// A verifier for `key` under the key name `name`.
    pub fn new(name: &str, key: VerifyingKey) -> Result<Self, CosignatureError> {
        if !is_valid_key_name(name) {
            return Err(NoteError::BadKeyName(name.to_owned()).into());
        }
        Ok(Self {
            name: name.to_owned(),
            key_id: key_id(name, &key),
            key,
        })
    }

    /// The cosigner key of a federation member: its note verifier's name and public key,
    /// under type 0x04 (SPEC §7: a hub cosigns with its own hub key).
    pub fn of_member(key: &NoteVerifier) -> Self {
        Self {
            name: key.name().to_owned(),
            key_id: key_id(key.name(), key.public_key()),
            key: *key.public_key(),
        }
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The cosignature key id.
    pub fn key_id(&self) -> [u8; 4] {
        self.key_id
    }

    /// `<name>+<key id>`, how errors name the key.
    fn label(&self) -> String {
        format!("{}+{}", self.name, hex::encode(self.key_id))
    }

    /// Checks the signature lines `sigs` (each ending in a newline) on the note text `body`
    /// and returns the newest timestamp of this key's cosignatures.
    ///
    /// Lines by other keys (another name or another id, e.g. the log's own type 0x01
    /// signature under the same name) are ignored, as C2SP asks; every line by this key must
    /// be a valid cosignature, and there must be one. Every line must be a well-formed
    /// signature line, and at most [`MAX_SIGNATURES`] are read.
    pub fn verify(&self, body: &str, sigs: &str) -> Result<u64, CosignatureError> {
        if sigs.bytes().filter(|&b| b == b'\n').count() > MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures.into());
        }
        let mut newest = None;
        for line in sigs.split_terminator('\n') {
            let (name, id, blob) = parse_signature_line(line)?;
            if name != self.name || id != self.key_id {
                continue;
            }
            let t = self.check(body, &blob)?;
            newest = newest.max(Some(t));
        }
        newest.ok_or_else(|| CosignatureError::NotCosigned(self.label()))
    }

    /// [`CosignatureVerifier::verify`] on a whole signed note.
    pub fn open(&self, note: &str) -> Result<u64, CosignatureError> {
        let (body, sigs) = split_note(note)?;
        self.verify(body, sigs)
    }

    /// Checks one cosignature blob (after the key id) on `body` and returns its timestamp.
    fn check(&self, body: &str, blob: &[u8]) -> Result<u64, CosignatureError> {
        let bad = || CosignatureError::BadSignature(self.label());
        let blob: &[u8; BLOB_LEN] = blob.try_into().map_err(|_| bad())?;
        let (t, sig) = blob.split_at(8);
        let t = u64::from_be_bytes(t.try_into().map_err(|_| bad())?);
        if t > MAX_TIMESTAMP {
            return Err(bad());
        }
        let sig = Signature::from_slice(sig).map_err(|_| bad())?;
        self.key
            .verify_strict(signed_message(body, t).as_bytes(), &sig)
            .map_err(|_| bad())?;
        Ok(t)
    }
}

/// Decodes a cosignature line's blob without checking it: `(key name, key id, timestamp)`,
/// for a reader that wants to show who cosigned and when before checking anything.
pub fn peek_line(line: &str) -> Option<(&str, [u8; 4], u64)> {
    let (name, id, blob) = parse_signature_line(line.trim_end_matches('\n')).ok()?;
    let t: [u8; 8] = blob.get(..8)?.try_into().ok()?;
    (blob.len() == BLOB_LEN).then_some((name, id, u64::from_be_bytes(t)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::note::NoteSigner;

    const BODY: &str = "example.com/log\n7\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";

    fn cosigner(seed: u8) -> Cosigner {
        Cosigner::new("m2mhub/home", SigningKey::from_bytes(&[seed; 32])).unwrap()
    }

    #[test]
    fn key_id_differs_from_the_note_key_id() {
        let c = cosigner(1);
        let k = SigningKey::from_bytes(&[1; 32]).verifying_key();
        assert_ne!(c.key_id(), crate::note::key_id("m2mhub/home", &k));
        let n = NoteSigner::new("m2mhub/home", SigningKey::from_bytes(&[1; 32])).unwrap();
        assert_eq!(CosignatureVerifier::of_member(&n.verifier()), c.verifier());
    }

    #[test]
    fn round_trip_and_the_log_signature_is_ignored() {
        let c = cosigner(2);
        let line = c.cosign(BODY, 1_700_000_000).unwrap();
        assert_eq!(c.verifier().verify(BODY, &line), Ok(1_700_000_000));
        // The hub's own 0x01 signature under the same name is another key: ignored.
        let log = NoteSigner::new("m2mhub/home", SigningKey::from_bytes(&[2; 32])).unwrap();
        let note = log.sign(BODY).unwrap();
        let label = format!("m2mhub/home+{}", hex::encode(c.key_id()));
        assert_eq!(
            c.verifier().open(&note),
            Err(CosignatureError::NotCosigned(label))
        );
        assert_eq!(
            c.verifier().open(&format!("{note}{line}")),
            Ok(1_700_000_000)
        );
        assert_eq!(
            peek_line(&line),
            Some(("m2mhub/home", c.key_id(), 1_700_000_000))
        );
    }

    #[test]
    fn rejections() {
        let c = cosigner(3);
        let v = c.verifier();
        let line = c.cosign(BODY, 5).unwrap();
        let bad = Err(CosignatureError::BadSignature(format!(
            "m2mhub/home+{}",
            hex::encode(c.key_id())
        )));
        // Another body, another timestamp in the blob, a short blob.
        assert_eq!(v.verify(&BODY.replace('7', "8"), &line), bad);
        let text = line.trim_end().rsplit(' ').next().unwrap();
        let mut blob = crate::note::decode_base64(text).unwrap();
        blob[11] ^= 1;
        let moved = format!("\u{2014} m2mhub/home {}\n", STANDARD.encode(&blob));
        assert_eq!(v.verify(BODY, &moved), bad);
        blob[4] = 0x80; // timestamp ≥ 2^63
        let big = format!("\u{2014} m2mhub/home {}\n", STANDARD.encode(&blob));
        assert_eq!(v.verify(BODY, &big), bad);
        let short = format!("\u{2014} m2mhub/home {}\n", STANDARD.encode(&blob[..70]));
        assert_eq!(v.verify(BODY, &short), bad);
        // A good cosignature does not excuse a bad one by the same key.
        assert_eq!(v.verify(BODY, &format!("{line}{moved}")), bad);
        assert_eq!(
            c.cosign(BODY, MAX_TIMESTAMP + 1),
            Err(CosignatureError::BadTimestamp(MAX_TIMESTAMP + 1))
        );
        assert!(c.cosign("no newline", 1).is_err());
        assert!(c.cosign("a\rb\n", 1).is_err());
        // Every flipped bit of the line is caught.
        for i in 0..line.len() {
            for bit in 0..8 {
                let mut b = line.clone().into_bytes();
                b[i] ^= 1 << bit;
                if let Ok(l) = String::from_utf8(b) {
                    assert!(v.verify(BODY, &l).is_err(), "byte {i} bit {bit}");
                }
            }
        }
    }
}
