//! C2SP signed notes with Ed25519 keys (<https://c2sp.org/signed-note>): key ids, verifier
//! key strings, signing and strict opening. They carry M2MHub's checkpoints (SPEC §4.3).
//!
//! A signed note is its text (ending in a newline), a blank line, and one or more signature
//! lines `— <key name> <base64(key id ‖ signature)>` (U+2014 EM DASH, then a space).
//!
//! Only signature type 0x01 (Ed25519, RFC 8032) is supported. Opening is stricter than the
//! spec requires where the spec leaves room (canonical base64, lowercase key ids, canonical
//! public keys, every signature by our key must verify) and exactly as strict where it does
//! not; `testdata/note-vectors.json` holds vectors from an independent Python model and the
//! reference example of `golang.org/x/mod/sumdb/note`.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

use crate::hash::sha256_parts;

/// Signature type identifier of Ed25519 (C2SP signed-note, "Signature types").
pub const ALG_ED25519: u8 = 0x01;

/// Longest note text [`NoteVerifier::open`] accepts (and [`NoteSigner::sign`] signs): 1 MiB.
pub const MAX_TEXT_LEN: usize = 1 << 20;

/// Most signature lines [`NoteVerifier::open`] reads. C2SP asks verifiers to accept at least
/// 16 and to bound the count; 100 is the reference implementation's bound.
pub const MAX_SIGNATURES: usize = 100;

/// Starts every signature line: U+2014 EM DASH, then a space.
pub(crate) const SIG_PREFIX: &str = "\u{2014} ";

/// What can go wrong making or opening a signed note. All of it is bad input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// A key name is empty or holds a Unicode space, a `+` or an ASCII control character
    /// (C2SP signed-note, "Format": key names).
    #[error("invalid key name {0:?}")]
    BadKeyName(String),
    /// A verifier key string is not `<name>+<8 lowercase hex digits>+<base64(0x01 ‖ key)>`
    /// with a valid Ed25519 public key; the text says which part is wrong.
    #[error("malformed verifier key: {0}")]
    BadVerifierKey(&'static str),
    /// A verifier key's id is not the one its name and public key give.
    #[error("verifier key id does not match its name and public key")]
    KeyIdMismatch,
    /// Text given to [`NoteSigner::sign`] is empty, does not end in a newline or holds an
    /// ASCII control character other than newline.
    #[error("invalid note text: {0}")]
    BadText(&'static str),
    /// A note's framing breaks C2SP signed-note; the text says where.
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    /// A note text is longer than [`MAX_TEXT_LEN`].
    #[error("note text is longer than {MAX_TEXT_LEN} bytes")]
    TooLong,
    /// A note has more than [`MAX_SIGNATURES`] signature lines.
    #[error("note has more than {MAX_SIGNATURES} signature lines")]
    TooManySignatures,
    /// A signature line names our key (name and id) but does not verify; C2SP says to reject
    /// the whole note then. Holds `<name>+<key id>`.
    #[error("invalid signature by key {0}")]
    BadSignature(String),
    /// No signature line names our key (name and id). Holds `<name>+<key id>`.
    #[error("note has no signature by key {0}")]
    NotSigned(String),
}

/// True when `name` may be a key name: non-empty, without Unicode spaces or `+` (C2SP
/// signed-note, "Format"). ASCII control characters are refused too, since a note cannot
/// carry them.
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c < ' ' || c == '+')
}

/// The key id of an Ed25519 key: `SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ public key)[:4]`
/// (C2SP signed-note, "Ed25519 signatures").
pub fn key_id(name: &str, key: &VerifyingKey) -> [u8; 4] {
    let h = sha256_parts(&[name.as_bytes(), b"\n", &[ALG_ED25519], key.as_bytes()]);
    [h[0], h[1], h[2], h[3]]
}

/// Signs note texts with one Ed25519 key under one key name.
#[derive(Clone)]
pub struct NoteSigner {
    name: String,
    key_id: [u8; 4],
    key: SigningKey,
}

impl std::fmt::Debug for NoteSigner {
    // Written by hand so that no secret can reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("key_id", &hex::encode(self.key_id))
            .finish_non_exhaustive()
    }
}

impl NoteSigner {
    /// A signer for `key` under the key name `name`, which must pass [`is_valid_key_name`].
    pub fn new(name: &str, key: SigningKey) -> Result<Self, NoteError> {
        if !is_valid_key_name(name) {
            return Err(NoteError::BadKeyName(name.to_owned()));
        }
        let key_id = key_id(name, &key.verifying_key());
        Ok(Self {
            name: name.to_owned(),
            key_id,
            key,
        })
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id (C2SP: the first four bytes of the key hash, big-endian).
    pub fn key_id(&self) -> [u8; 4] {
        self.key_id
    }

    /// The verifier key string `<name>+<key id in hex>+<base64(0x01 ‖ public key)>` that
    /// [`NoteVerifier::parse`] reads.
    pub fn verifier_key(&self) -> String {
        self.verifier().verifier_key()
    }

    /// The verifier of this signer's signatures.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// Signs `text` and returns the whole note: `text`, a blank line and one signature line.
    ///
    /// `text` must be non-empty, end in a newline, hold no ASCII control characters but
    /// newlines (C2SP signed-note, "Format") and be at most [`MAX_TEXT_LEN`] bytes, so that
    /// [`NoteVerifier::open`] accepts what this returns. It may contain blank lines: the
    /// note's last blank line is the separator.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        if text.is_empty() {
            return Err(NoteError::BadText("empty"));
        }
        if !text.ends_with('\n') {
            return Err(NoteError::BadText("no final newline"));
        }
        if has_control(text) {
            return Err(NoteError::BadText("ASCII control character"));
        }
        if text.len() > MAX_TEXT_LEN {
            return Err(NoteError::TooLong);
        }
        let sig = self.key.sign(text.as_bytes());
        let mut blob = Vec::with_capacity(4 + 64);
        blob.extend_from_slice(&self.key_id);
        blob.extend_from_slice(&sig.to_bytes());
        Ok(format!(
            "{text}\n{SIG_PREFIX}{} {}\n",
            self.name,
            STANDARD.encode(blob)
        ))
    }
}

/// Checks notes signed by one Ed25519 key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key_id: [u8; 4],
    key: VerifyingKey,
}

impl NoteVerifier {
    /// A verifier for `key` under the key name `name`.
    pub fn new(name: &str, key: VerifyingKey) -> Result<Self, NoteError> {
        if !is_valid_key_name(name) {
            return Err(NoteError::BadKeyName(name.to_owned()));
        }
        Ok(Self {
            name: name.to_owned(),
            key_id: key_id(name, &key),
            key,
        })
    }

    /// Reads a verifier key string `<name>+<key id>+<base64(0x01 ‖ public key)>`.
    ///
    /// Strict: the key id is exactly 8 lowercase hex digits and must be the one the name and
    /// key give, the base64 is canonical, and the public key is a canonical encoding of a
    /// point that is not of small order (such a key would "verify" forged signatures).
    pub fn parse(vkey: &str) -> Result<Self, NoteError> {
        // Names hold no '+', so the first two '+' end the name and the id; base64 may hold more.
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(key_b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(NoteError::BadVerifierKey("expected <name>+<key id>+<key>"));
        };
        if !is_valid_key_name(name) {
            return Err(NoteError::BadKeyName(name.to_owned()));
        }
        if id_hex.len() != 8
            || !id_hex
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(NoteError::BadVerifierKey(
                "key id is not 8 lowercase hex digits",
            ));
        }
        let mut id = [0u8; 4];
        hex::decode_to_slice(id_hex, &mut id)
            .map_err(|_| NoteError::BadVerifierKey("key id is not 8 lowercase hex digits"))?;
        let raw = decode_base64(key_b64)
            .ok_or(NoteError::BadVerifierKey("key is not canonical base64"))?;
        let Some((&alg, key)) = raw.split_first() else {
            return Err(NoteError::BadVerifierKey("key is empty"));
        };
        if alg != ALG_ED25519 {
            return Err(NoteError::BadVerifierKey(
                "signature type is not Ed25519 (0x01)",
            ));
        }
        let key: &[u8; 32] = key
            .try_into()
            .map_err(|_| NoteError::BadVerifierKey("Ed25519 key is not 32 bytes"))?;
        let key = VerifyingKey::from_bytes(key)
            .map_err(|_| NoteError::BadVerifierKey("Ed25519 key is not a curve point"))?;
        // from_bytes accepts y ≥ p and keeps the bytes as given: re-encode to refuse that.
        if key.to_edwards().compress().to_bytes() != *key.as_bytes() {
            return Err(NoteError::BadVerifierKey("Ed25519 key is not canonical"));
        }
        if key.is_weak() {
            return Err(NoteError::BadVerifierKey("Ed25519 key has small order"));
        }
        let v = Self::new(name, key)?;
        if v.key_id != id {
            return Err(NoteError::KeyIdMismatch);
        }
        Ok(v)
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id.
    pub fn key_id(&self) -> [u8; 4] {
        self.key_id
    }

    /// The Ed25519 public key.
    pub fn public_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// The verifier key string `<name>+<key id in hex>+<base64(0x01 ‖ public key)>`.
    pub fn verifier_key(&self) -> String {
        let mut raw = [0u8; 33];
        raw[0] = ALG_ED25519;
        raw[1..].copy_from_slice(self.key.as_bytes());
        format!(
            "{}+{}+{}",
            self.name,
            hex::encode(self.key_id),
            STANDARD.encode(raw)
        )
    }

    /// `<name>+<key id>`, how errors name the key.
    fn label(&self) -> String {
        format!("{}+{}", self.name, hex::encode(self.key_id))
    }

    /// Checks `note` and returns its text, final newline included.
    ///
    /// Following C2SP signed-note: the note is UTF-8 (given, as a `&str`) without ASCII
    /// control characters but newlines; its last blank line separates the text (which keeps
    /// its final newline) from the signature lines, all of which must be well-formed. Signature lines whose key name or key id differ from ours
    /// are ignored; every line with both ours must verify (with `verify_strict`), and at
    /// least one must be there. Notes with text over [`MAX_TEXT_LEN`] bytes or more than
    /// [`MAX_SIGNATURES`] signature lines are refused before any signature is checked.
    pub fn open<'a>(&self, note: &'a str) -> Result<&'a str, NoteError> {
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
        // Count first, so that a flood of lines costs no signature checks.
        if sigs.bytes().filter(|&b| b == b'\n').count() > MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures);
        }
        let mut verified = false;
        for line in sigs.split_terminator('\n') {
            let (name, id, sig) = parse_signature_line(line)?;
            if name != self.name || id != self.key_id {
                continue; // C2SP: ignore unknown keys, even if they share our name or id.
            }
            let sig =
                <[u8; 64]>::try_from(sig).map_err(|_| NoteError::BadSignature(self.label()))?;
            self.key
                .verify_strict(text.as_bytes(), &Signature::from_bytes(&sig))
                .map_err(|_| NoteError::BadSignature(self.label()))?;
            verified = true;
        }
        if verified {
            Ok(text)
        } else {
            Err(NoteError::NotSigned(self.label()))
        }
    }
}

/// Splits `— <name> <base64(key id ‖ signature)>` into name, key id and signature bytes.
pub(crate) fn parse_signature_line(line: &str) -> Result<(&str, [u8; 4], Vec<u8>), NoteError> {
    let rest = line.strip_prefix(SIG_PREFIX).ok_or(NoteError::Malformed(
        "signature line does not start with an em dash and a space",
    ))?;
    let (name, b64) = rest.split_once(' ').ok_or(NoteError::Malformed(
        "signature line has no space after the key name",
    ))?;
    if !is_valid_key_name(name) {
        return Err(NoteError::Malformed("invalid key name in a signature line"));
    }
    let mut blob =
        decode_base64(b64).ok_or(NoteError::Malformed("signature is not canonical base64"))?;
    // C2SP: 4 bytes of key id, then at least one byte of signature.
    if blob.len() < 5 {
        return Err(NoteError::Malformed("signature shorter than 5 bytes"));
    }
    let sig = blob.split_off(4);
    let id = [blob[0], blob[1], blob[2], blob[3]];
    Ok((name, id, sig))
}

/// Standard base64 with padding (RFC 4648 §4), canonical only: one text per byte string.
/// The engine already refuses bad padding and stray trailing bits; the re-encoding check
/// makes canonicity this function's guarantee rather than an engine setting's.
pub(crate) fn decode_base64(s: &str) -> Option<Vec<u8>> {
    STANDARD
        .decode(s)
        .ok()
        .filter(|raw| STANDARD.encode(raw) == s)
}

/// True when `s` holds an ASCII control character other than newline (C2SP signed-note,
/// "Format": forbidden in signed notes).
pub(crate) fn has_control(s: &str) -> bool {
    s.bytes().any(|b| b < 0x20 && b != b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    // The reference example of golang.org/x/mod/sumdb/note (note_test.go): its seed comes
    // from "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz".
    const PETER_SEED: &str = "810a1402d5146c8d84f2443330f54080ebf98ee17d9c74f6252fc5d5c7283173";
    const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const PETER_B64: &str = "ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                        then you don't know what your problem is.\n";
    const PETER_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    const ENOCH_SIG: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

    #[test]
    fn verifier_keys_whose_base64_holds_a_plus_parse() {
        // Standard base64 uses '+': about one key in four has one. Parsing must not split there.
        for seed in 0..=255u8 {
            let s = NoteSigner::new("m2mhub/x", SigningKey::from_bytes(&[seed; 32])).unwrap();
            assert_eq!(
                NoteVerifier::parse(&s.verifier_key()).unwrap(),
                s.verifier()
            );
        }
    }

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn peter() -> NoteSigner {
        let seed: [u8; 32] = hex::decode(PETER_SEED).unwrap().try_into().unwrap();
        NoteSigner::new("PeterNeumann", SigningKey::from_bytes(&seed)).unwrap()
    }

    /// `TEXT` signed by the lines `sigs`.
    fn with(sigs: &str) -> String {
        format!("{TEXT}\n{sigs}")
    }

    fn open(note: &str) -> Result<&str, NoteError> {
        peter().verifier().open(note)
    }

    /// A verifier key string with name "a" and key bytes `0x01 ‖ key`.
    fn vkey_of(key: &[u8]) -> String {
        format!("a+00000000+{}", STANDARD.encode([&[1u8][..], key].concat()))
    }

    #[test]
    fn reproduces_the_reference_example() {
        let s = peter();
        assert_eq!(s.key_id(), [0xc7, 0x4f, 0x20, 0xa3]);
        assert_eq!(s.verifier_key(), PETER_VKEY);
        assert_eq!(s.sign(TEXT).unwrap(), with(PETER_SIG));
        assert_eq!(NoteVerifier::parse(PETER_VKEY), Ok(s.verifier()));
        assert_eq!(open(&with(PETER_SIG)), Ok(TEXT));
    }

    #[test]
    fn key_id_is_the_c2sp_hash() {
        let k = key(7).verifying_key();
        let mut pre = b"log.example/a\n\x01".to_vec();
        pre.extend_from_slice(k.as_bytes());
        assert_eq!(key_id("log.example/a", &k), crate::hash::sha256(&pre)[..4]);
        assert_ne!(key_id("log.example/b", &k), key_id("log.example/a", &k));
    }

    #[test]
    fn key_names() {
        for good in ["a", "log.example/x", "é", "a-b_c~!"] {
            assert!(NoteSigner::new(good, key(1)).is_ok(), "{good:?}");
        }
        let spaces = ["a b", "a\tb", "a\nb", "a\u{a0}b", "a\u{3000}b"];
        for bad in ["", "a+b", "a\u{1}b"].iter().chain(&spaces) {
            let want = NoteError::BadKeyName(bad.to_string());
            assert_eq!(NoteSigner::new(bad, key(1)).unwrap_err(), want);
            assert_eq!(NoteVerifier::new(bad, key(1).verifying_key()), Err(want));
        }
    }

    #[test]
    fn verifier_key_rejections() {
        let (mut off_curve, mut y_above_p, mut identity) = ([0u8; 32], [0xff; 32], [0u8; 32]);
        off_curve[0] = 2; // y = 2 has no x on the curve
        (y_above_p[0], y_above_p[31]) = (0xee, 0x7f); // p + 1: y = 1, not canonically
        identity[0] = 1; // y = 1: the identity, a small-order point
        // Peter's key with its id and key replaced by `rest`, where K stands for his key.
        let pk = |rest: &str| format!("PeterNeumann+{}", rest.replace('K', PETER_B64));
        let form = "expected <name>+<key id>+<key>";
        let hex8 = "key id is not 8 lowercase hex digits";
        let b64 = "key is not canonical base64";
        let len = "Ed25519 key is not 32 bytes";
        let alg = "signature type is not Ed25519 (0x01)";
        let cases = [
            (pk(""), form),
            (pk("c74f20a3"), form),
            (pk("c74f20a+K"), hex8),
            (pk("c74f20a30+K"), hex8),
            (pk("C74F20A3+K"), hex8),
            (pk("c74f20g3+K"), hex8),
            (pk(&format!("c74f20a3+{}", &PETER_B64[..43])), b64),
            (pk("c74f20a3+K="), b64),
            (pk("c74f20a3+K "), b64),
            (pk("c74f20a3+AR=="), b64), // nonzero trailing bits
            (pk("c74f20a3+"), "key is empty"),
            // From Go's test: signature type 0x65, with the key id adjusted.
            (PETER_VKEY.replace("c74f20a3+A", "173116ae+Z"), alg),
            (vkey_of(&[9; 31]), len),
            (vkey_of(&[9; 33]), len),
            (vkey_of(&off_curve), "Ed25519 key is not a curve point"),
            (vkey_of(&y_above_p), "Ed25519 key is not canonical"),
            (vkey_of(&identity), "Ed25519 key has small order"),
        ];
        for (vkey, why) in cases {
            let got = NoteVerifier::parse(&vkey);
            assert_eq!(got, Err(NoteError::BadVerifierKey(why)), "{vkey:?}");
        }
        let parse = |s: &str| NoteVerifier::parse(s).unwrap_err();
        let bad_name = |s: &str| NoteError::BadKeyName(s.into());
        assert_eq!(parse(&format!("+c74f20a3+{PETER_B64}")), bad_name(""));
        assert_eq!(parse(&format!("P N+c74f20a3+{PETER_B64}")), bad_name("P N"));
        let mismatch = NoteError::KeyIdMismatch;
        assert_eq!(parse(&PETER_VKEY.replace("a3+", "a4+")), mismatch);
        assert_eq!(parse(&PETER_VKEY.replace("Neumann", "Neuman")), mismatch);
    }

    #[test]
    fn sign_rejections() {
        let s = peter();
        assert_eq!(s.sign(""), Err(NoteError::BadText("empty")));
        assert_eq!(s.sign("abc"), Err(NoteError::BadText("no final newline")));
        let control = Err(NoteError::BadText("ASCII control character"));
        assert_eq!(s.sign("a\rb\n"), control);
        let long = format!("{}\n", "a".repeat(MAX_TEXT_LEN));
        assert_eq!(s.sign(&long), Err(NoteError::TooLong));
    }

    #[test]
    fn round_trips_odd_texts() {
        let s = NoteSigner::new("log.example/x", key(3)).unwrap();
        let v = NoteVerifier::parse(&s.verifier_key()).unwrap();
        let max = format!("{}\n", "x".repeat(MAX_TEXT_LEN - 1));
        for text in ["\n", "a\n\nb\n", "a\n\n", "\u{2014} x AAAA\n", "π\n", &max] {
            assert_eq!(v.open(&s.sign(text).unwrap()), Ok(text), "{text:?}");
        }
    }

    #[test]
    fn limits() {
        let long = format!("{}\n\n{PETER_SIG}", "x".repeat(MAX_TEXT_LEN));
        assert_eq!(open(&long), Err(NoteError::TooLong));
        assert_eq!(open(&with(&PETER_SIG.repeat(MAX_SIGNATURES))), Ok(TEXT));
        let many = with(&PETER_SIG.repeat(MAX_SIGNATURES + 1));
        assert_eq!(open(&many), Err(NoteError::TooManySignatures));
    }

    #[test]
    fn framing_rejections() {
        let ctl = "ASCII control character";
        let no_blank = "no blank line before the signatures";
        let no_dash = "signature line does not start with an em dash and a space";
        let bad_name = "invalid key name in a signature line";
        let b64 = "signature is not canonical base64";
        let short = "signature shorter than 5 bytes";
        let sig = |from: &str, to: &str| with(&PETER_SIG.replace(from, to));
        let cases = [
            (format!("\u{1}{}", with(PETER_SIG)), ctl),
            (format!("a\rb\n\n{PETER_SIG}"), ctl),
            (TEXT.into(), no_blank),
            (format!("{TEXT}{PETER_SIG}"), no_blank),
            (with(""), "no signature lines"),
            (with(PETER_SIG.trim_end()), "no final newline"),
            (with(&format!("{PETER_SIG}Unexpected line.\n")), no_dash),
            (sig("\u{2014}", "-"), no_dash),
            (sig("\u{2014} ", "\u{2014}"), no_dash),
            (
                with("\u{2014} PeterNeumann\n"),
                "signature line has no space after the key name",
            ),
            (with("\u{2014} a+b AAAAAAA=\n"), bad_name),
            (with("\u{2014}  AAAAAAA=\n"), bad_name),
            (sig("AM=", "AM"), b64),
            (sig("AM=", "AN="), b64),
            (sig("x08", "x 08"), b64),
            (sig("Neumann ", "Neumann  "), b64),
            (with("\u{2014} PeterNeumann x08gow==\n"), short),
            // A malformed line by an unknown key spoils even a well-signed note.
            (with(&format!("{PETER_SIG}\u{2014} Other AAAA\n")), short),
        ];
        for (note, why) in cases {
            assert_eq!(open(&note), Err(NoteError::Malformed(why)), "{note:?}");
        }
    }

    #[test]
    fn signature_rejections() {
        let bad = Err(NoteError::BadSignature("PeterNeumann+c74f20a3".into()));
        let unsigned = Err(NoteError::NotSigned("PeterNeumann+c74f20a3".into()));
        // From Go's test: four base64 characters inserted into the signature.
        let abcd = format!("{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
        assert_eq!(open(&with(&abcd)), bad);
        // A good signature does not excuse a bad one by the same key.
        assert_eq!(open(&with(&format!("{PETER_SIG}{abcd}"))), bad);
        let blob = STANDARD.encode([&[0xc7, 0x4f, 0x20, 0xa3][..], &[0; 63]].concat());
        assert_eq!(open(&with(&format!("\u{2014} PeterNeumann {blob}\n"))), bad);
        assert_eq!(open(&with(ENOCH_SIG)), unsigned);
        // Same name, other id; same id, other name: unknown keys, ignored (C2SP).
        let other_id = PETER_SIG.replace("x08go", "x08gp");
        assert_eq!(open(&with(&other_id)), unsigned);
        let other_name = PETER_SIG.replace("PeterNeumann", "PeterNeuman");
        assert_eq!(open(&with(&other_name)), unsigned);
        // C2SP: signatures by unknown keys are ignored, wherever they stand.
        let sigs = [ENOCH_SIG, PETER_SIG, &other_id, &other_name, PETER_SIG].concat();
        assert_eq!(open(&with(&sigs)), Ok(TEXT));
        let stranger = NoteSigner::new("PeterNeumann", key(5)).unwrap().verifier();
        assert!(matches!(
            stranger.open(&with(PETER_SIG)),
            Err(NoteError::NotSigned(_))
        ));
    }

    #[test]
    fn every_flipped_bit_is_caught() {
        let note = with(PETER_SIG);
        let mut checked = 0;
        for i in 0..note.len() {
            for bit in 0..8 {
                let mut b = note.clone().into_bytes();
                b[i] ^= 1 << bit;
                if let Ok(m) = String::from_utf8(b) {
                    assert!(open(&m).is_err(), "byte {i} bit {bit}: {m:?}");
                    checked += 1;
                }
            }
        }
        assert!(checked > note.len() * 6);
    }
}
