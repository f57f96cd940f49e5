//! Device signature validity (SPEC §3.2.1): the ZIP 215 rules, defined here once for the hub,
//! `m2mhub verify` and the device SDK.
//!
//! A signature `(R, S)` by key `A` over `M` is valid exactly when `A` and `R` decode as curve
//! points (non-canonical encodings accepted), `S < L`, and `[8]([S]B − R − [k]A)` is the
//! identity, with `k = SHA-512(R ‖ A ‖ M)` over the bytes as sent (<https://zips.z.cash/zip-0215>).
//! Every RFC 8032 signature passes. What matters is that the rule is *cofactored*: batch
//! verification (a random linear combination of the same equations) then agrees with single
//! verification for every input, so a verdict never depends on which other messages share a
//! batch, on the number of cores, or on the machine that replays the ledger. The cofactorless
//! equation (`verify_strict`, ed25519-dalek's batch) disagrees with its own batch for an `R` or
//! `A` with a small-order component, which a hostile signer can always make.
//!
//! The arithmetic is `ed25519-zebra`'s (Zcash's ZIP 215 implementation, on the same
//! curve25519-dalek as the hub's signing); this module only fixes how the project calls it.
//! Registration is stricter than verification: [`PublicKey::for_registration`] refuses keys
//! that are non-canonical or of small order, so a device's key names one point and can sign.
//! Splitting a batch across threads is the caller's business (the ledger does it on rayon):
//! this crate spawns nothing and draws no randomness of its own.

use core::fmt;

use curve25519_dalek::edwards::CompressedEdwardsY;
use ed25519_zebra::{Signature, VerificationKey, VerificationKeyBytes, batch};
use rand_core::CryptoRng;

use crate::CoreError;

/// An Ed25519 public key, decoded once; what [`verify`](PublicKey::verify) checks against.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey {
    bytes: [u8; 32],
    key: VerificationKey,
}

impl PublicKey {
    /// Decodes a key under ZIP 215: any encoding of a curve point, canonical or not. `None`
    /// when the bytes encode no point.
    pub fn from_bytes(bytes: &[u8; 32]) -> Option<Self> {
        let key = VerificationKey::try_from(*bytes).ok()?;
        Some(PublicKey { bytes: *bytes, key })
    }

    /// Decodes a key offered for registration (SPEC §3.2.1): a point in its canonical
    /// encoding (y < p, and no sign bit on x = 0) and not of small order.
    pub fn for_registration(bytes: &[u8; 32]) -> Result<Self, CoreError> {
        let malformed = |why: &str| CoreError::Malformed(format!("public_key {why}"));
        let point = CompressedEdwardsY(*bytes)
            .decompress()
            .ok_or_else(|| malformed("is not a valid Ed25519 key"))?;
        if point.compress().as_bytes() != bytes {
            return Err(malformed(
                "is not the canonical encoding of its point (y ≥ p, or a sign bit on x = 0)",
            ));
        }
        if point.is_small_order() {
            return Err(malformed("is a weak (small-order) Ed25519 key"));
        }
        Self::from_bytes(bytes).ok_or_else(|| malformed("is not a valid Ed25519 key"))
    }

    /// The key's bytes, as registered.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// Whether `signature` over `message` is valid under ZIP 215.
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        self.key
            .verify(&Signature::from_bytes(signature), message)
            .is_ok()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", hex::encode(self.bytes))
    }
}

/// Whether `signature` over `message` is valid under ZIP 215 for the key encoded by `key`
/// (false when `key` encodes no point).
pub fn verify(key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    PublicKey::from_bytes(key).is_some_and(|k| k.verify(message, signature))
}

/// One signature to check.
#[derive(Clone, Debug)]
pub struct SigCheck {
    /// The signer's key.
    pub key: PublicKey,
    /// The signed bytes.
    pub message: Vec<u8>,
    /// The signature, `R ‖ S`.
    pub signature: [u8; 64],
}

/// Checks every signature; `result[i]` is [`PublicKey::verify`]'s verdict on `checks[i]`.
///
/// One batch equation first (`rng` draws its random coefficients); only when it fails are the
/// signatures checked one by one to find the culprits. Under ZIP 215 both give the same
/// verdicts, so the split only costs time, never changes an answer.
pub fn verify_batch<R: CryptoRng>(checks: &[SigCheck], rng: R) -> Vec<bool> {
    if checks.is_empty() {
        return Vec::new();
    }
    let mut batch = batch::Verifier::new();
    for c in checks {
        let key = VerificationKeyBytes::from(c.key.bytes);
        batch.queue((key, Signature::from_bytes(&c.signature), &c.message));
    }
    if batch.verify(rng).is_ok() {
        return vec![true; checks.len()];
    }
    checks
        .iter()
        .map(|c| c.key.verify(&c.message, &c.signature))
        .collect()
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signer, SigningKey};
    use getrandom::{SysRng, rand_core::UnwrapErr};

    use super::*;

    fn os_rng() -> UnwrapErr<SysRng> {
        UnwrapErr(SysRng)
    }

    fn signed(seed: u8, message: &[u8]) -> SigCheck {
        let key = SigningKey::from_bytes(&[seed; 32]);
        SigCheck {
            key: PublicKey::for_registration(key.verifying_key().as_bytes()).unwrap(),
            message: message.to_vec(),
            signature: key.sign(message).to_bytes(),
        }
    }

    #[test]
    fn rfc8032_signatures_verify_alone_and_in_a_batch() {
        let checks: Vec<SigCheck> = (0..20u8).map(|i| signed(i % 3, &[i; 7])).collect();
        assert!(
            checks
                .iter()
                .all(|c| c.key.verify(&c.message, &c.signature))
        );
        assert_eq!(verify_batch(&checks, os_rng()), vec![true; 20]);
        assert!(verify_batch(&[], os_rng()).is_empty());
    }

    #[test]
    fn a_batch_names_each_bad_signature() {
        let mut checks: Vec<SigCheck> = (0..9u8).map(|i| signed(i, &[i])).collect();
        checks[2].message.push(0);
        checks[8].signature[63] ^= 0x10;
        let want: Vec<bool> = (0..9).map(|i| i != 2 && i != 8).collect();
        assert_eq!(verify_batch(&checks, os_rng()), want);
    }

    #[test]
    fn registration_refuses_non_canonical_small_and_off_curve_keys() {
        let honest = SigningKey::from_bytes(&[9; 32]).verifying_key().to_bytes();
        assert!(PublicKey::for_registration(&honest).is_ok());
        // y = p + 3 encodes the point of y = 3, of mixed order; y = 1 with the sign bit set
        // encodes the identity (x = 0). ZIP 215 decodes both; registration refuses both.
        let mut p_plus_3 = [0xff; 32];
        p_plus_3[0] = 0xf0;
        p_plus_3[31] = 0x7f;
        let mut y1_signed = [0; 32];
        y1_signed[0] = 1;
        y1_signed[31] = 0x80;
        for bytes in [p_plus_3, y1_signed] {
            assert!(
                PublicKey::from_bytes(&bytes).is_some(),
                "ZIP 215 decodes it"
            );
            let e = PublicKey::for_registration(&bytes).unwrap_err();
            assert!(e.to_string().contains("canonical"), "{e}");
        }
        let mut identity = [0; 32];
        identity[0] = 1;
        let e = PublicKey::for_registration(&identity).unwrap_err();
        assert!(e.to_string().contains("small-order"), "{e}");
        let mut off = [0; 32];
        off[0] = 2;
        assert!(PublicKey::from_bytes(&off).is_none());
        assert!(PublicKey::for_registration(&off).is_err());
        assert!(!verify(&off, b"", &[0; 64]));
    }
}
