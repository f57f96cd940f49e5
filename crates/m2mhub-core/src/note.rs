//! C2SP signed notes (https://github.com/C2SP/C2SP/blob/main/signed-note.md), Ed25519 only:
//! signing, verifier keys, and a strict parser for notes signed by a known key.

use base64::{Engine, engine::general_purpose::STANDARD};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use crate::hash::sha256_parts;

/// Signature type byte of Ed25519 keys in C2SP notes.
const ALG_ED25519: u8 = 0x01;
/// Most signature lines a note may carry.
const MAX_SIGNATURES: usize = 100;
/// Largest note text accepted.
const MAX_TEXT: usize = 1 << 20;
/// The line prefix of a signature: U+2014 EM DASH and a space.
const SIG_PREFIX: &str = "\u{2014} ";

/// What is wrong with a note or key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// A key name is empty, has spaces or `+`.
    #[error("invalid key name {0:?}")]
    BadName(String),
    /// A verifier key string is not `name+id+base64`.
    #[error("malformed verifier key")]
    BadVerifierKey,
    /// The text to sign is empty, does not end in a newline, or has a blank line.
    #[error("malformed note text")]
    BadText,
    /// The note is not text, blank line, signature lines.
    #[error("malformed note")]
    Malformed,
    /// The note is too large or has too many signatures.
    #[error("note too large")]
    TooLarge,
    /// No signature by the expected key.
    #[error("no signature by {0}")]
    Unsigned(String),
    /// A signature by the expected key does not verify.
    #[error("invalid signature by {0}")]
    BadSignature(String),
}

fn check_name(name: &str) -> Result<(), NoteError> {
    if name.is_empty() || name.contains('+') || name.chars().any(char::is_whitespace) {
        return Err(NoteError::BadName(name.to_owned()));
    }
    Ok(())
}

/// Key id: the first 4 bytes of SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key).
pub fn key_id(name: &str, key: &VerifyingKey) -> [u8; 4] {
    let h = sha256_parts(&[name.as_bytes(), b"\n", &[ALG_ED25519], key.as_bytes()]);
    [h[0], h[1], h[2], h[3]]
}

/// Signs notes under a key name.
#[derive(Clone)]
pub struct NoteSigner {
    name: String,
    key: SigningKey,
    id: [u8; 4],
}

impl std::fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl NoteSigner {
    /// A signer named `name` (also the checkpoint origin in M2MHub).
    pub fn new(name: &str, key: SigningKey) -> Result<Self, NoteError> {
        check_name(name)?;
        let id = key_id(name, &key.verifying_key());
        Ok(NoteSigner {
            name: name.to_owned(),
            key,
            id,
        })
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id.
    pub fn key_id(&self) -> [u8; 4] {
        self.id
    }

    /// The verifier key string `<name>+<id hex>+<base64(0x01 ‖ key)>`.
    pub fn verifier_key(&self) -> String {
        let mut k = vec![ALG_ED25519];
        k.extend_from_slice(self.key.verifying_key().as_bytes());
        format!(
            "{}+{}+{}",
            self.name,
            hex::encode(self.id),
            STANDARD.encode(k)
        )
    }

    /// The matching verifier.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            id: self.id,
            key: self.key.verifying_key(),
        }
    }

    /// Signs `text` (non-empty, ending in a newline, no blank line) and returns the note.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        if text.is_empty()
            || !text.ends_with('\n')
            || text.contains("\n\n")
            || text.len() > MAX_TEXT
        {
            return Err(NoteError::BadText);
        }
        let sig = self.key.sign(text.as_bytes());
        let mut blob = self.id.to_vec();
        blob.extend_from_slice(&sig.to_bytes());
        Ok(format!(
            "{text}\n{SIG_PREFIX}{} {}\n",
            self.name,
            STANDARD.encode(blob)
        ))
    }
}

/// Verifies notes signed by one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    id: [u8; 4],
    key: VerifyingKey,
}

impl NoteVerifier {
    /// Parses a verifier key string; its id must match its name and key.
    pub fn parse(vkey: &str) -> Result<Self, NoteError> {
        // The base64 key may itself contain '+': split off name and id only.
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(NoteError::BadVerifierKey);
        };
        check_name(name).map_err(|_| NoteError::BadVerifierKey)?;
        let raw = STANDARD
            .decode(b64)
            .map_err(|_| NoteError::BadVerifierKey)?;
        if STANDARD.encode(&raw) != b64 || raw.len() != 33 || raw[0] != ALG_ED25519 {
            return Err(NoteError::BadVerifierKey);
        }
        let mut kb = [0u8; 32];
        kb.copy_from_slice(&raw[1..]);
        let key = VerifyingKey::from_bytes(&kb).map_err(|_| NoteError::BadVerifierKey)?;
        let id = key_id(name, &key);
        if id_hex.len() != 8 || id_hex != hex::encode(id) {
            return Err(NoteError::BadVerifierKey);
        }
        Ok(NoteVerifier {
            name: name.to_owned(),
            id,
            key,
        })
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id.
    pub fn key_id(&self) -> [u8; 4] {
        self.id
    }

    /// The public key.
    pub fn public_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// Checks that `note` carries a valid signature by this key and returns its text
    /// (final newline included). Signatures by other keys are ignored, as C2SP says.
    pub fn open<'a>(&self, note: &'a str) -> Result<&'a str, NoteError> {
        if note.len() > MAX_TEXT + MAX_SIGNATURES * 256 {
            return Err(NoteError::TooLarge);
        }
        let split = note.rfind("\n\n").ok_or(NoteError::Malformed)?;
        let (text, sigs) = (&note[..split + 1], &note[split + 2..]);
        if text.contains("\n\n") || !sigs.ends_with('\n') || text.len() > MAX_TEXT {
            return Err(NoteError::Malformed);
        }
        let lines: Vec<&str> = sigs[..sigs.len() - 1].split('\n').collect();
        if lines.len() > MAX_SIGNATURES {
            return Err(NoteError::TooLarge);
        }
        let mut found = false;
        for line in lines {
            let rest = line.strip_prefix(SIG_PREFIX).ok_or(NoteError::Malformed)?;
            let (name, b64) = rest.split_once(' ').ok_or(NoteError::Malformed)?;
            check_name(name).map_err(|_| NoteError::Malformed)?;
            let blob = STANDARD.decode(b64).map_err(|_| NoteError::Malformed)?;
            if STANDARD.encode(&blob) != b64 || blob.len() < 5 {
                return Err(NoteError::Malformed);
            }
            if name != self.name || blob[..4] != self.id {
                continue;
            }
            let sig = Signature::from_slice(&blob[4..])
                .map_err(|_| NoteError::BadSignature(self.name.clone()))?;
            self.key
                .verify_strict(text.as_bytes(), &sig)
                .map_err(|_| NoteError::BadSignature(self.name.clone()))?;
            found = true;
        }
        if found {
            Ok(text)
        } else {
            Err(NoteError::Unsigned(self.name.clone()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> NoteSigner {
        NoteSigner::new("example.com/log", SigningKey::from_bytes(&[7; 32])).unwrap()
    }

    #[test]
    fn signs_and_opens() {
        let s = signer();
        let note = s.sign("hello\nworld\n").unwrap();
        assert!(note.starts_with("hello\nworld\n\n\u{2014} example.com/log "));
        let v = NoteVerifier::parse(&s.verifier_key()).unwrap();
        assert_eq!(v, s.verifier());
        assert_eq!(v.open(&note).unwrap(), "hello\nworld\n");
    }

    #[test]
    fn any_flipped_byte_is_refused() {
        let s = signer();
        let note = s.sign("a\nb\n").unwrap();
        let v = s.verifier();
        let bytes = note.as_bytes();
        for i in 0..bytes.len() {
            let mut b = bytes.to_vec();
            b[i] ^= 1;
            if let Ok(t) = std::str::from_utf8(&b) {
                assert!(v.open(t).is_err(), "flip at {i} accepted");
            }
        }
    }

    #[test]
    fn other_keys_signatures_are_ignored_but_one_of_ours_is_needed() {
        let s = signer();
        let other = NoteSigner::new("other", SigningKey::from_bytes(&[8; 32])).unwrap();
        let note = s.sign("x\n").unwrap();
        let both = format!(
            "{}{}",
            note,
            other.sign("x\n").unwrap().split_once("\n\n").unwrap().1
        );
        assert_eq!(s.verifier().open(&both).unwrap(), "x\n");
        assert_eq!(
            other.verifier().open(&note),
            Err(NoteError::Unsigned("other".into()))
        );
    }

    #[test]
    fn verifier_keys_whose_base64_holds_a_plus_parse() {
        for seed in 0..=255u8 {
            let s = NoteSigner::new("m2mhub/x", SigningKey::from_bytes(&[seed; 32])).unwrap();
            assert_eq!(
                NoteVerifier::parse(&s.verifier_key()).unwrap(),
                s.verifier()
            );
        }
    }

    #[test]
    fn strict_parsing() {
        let s = signer();
        for bad in [
            "",
            "no blank line\n",
            "a\n\n",
            "a\n\nnot a signature\n",
            "a\n\n\u{2014} example.com/log AAAA\n",
        ] {
            assert!(s.verifier().open(bad).is_err(), "{bad:?}");
        }
        for bad_text in ["", "no newline", "a\n\nb\n"] {
            assert_eq!(s.sign(bad_text), Err(NoteError::BadText));
        }
        for bad_key in [
            "",
            "a+b",
            "a+00000000+AQ==",
            &s.verifier_key().replace('+', "+0"),
            &format!("{}x", s.verifier_key()),
        ] {
            assert!(NoteVerifier::parse(bad_key).is_err(), "{bad_key}");
        }
        assert!(NoteSigner::new("has space", SigningKey::from_bytes(&[1; 32])).is_err());
    }
}
