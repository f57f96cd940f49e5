//! Ed25519 signature checks for a whole block at once: batch verification split across the
//! cores, falling back to one-by-one checks only when a batch fails, to find the culprits.
//!
//! The split runs on rayon's pool of long-lived threads. A thread spawned per batch cost more
//! than its start-up: each new thread's allocator heap starts empty, so the batch's working
//! memory was faulted in (and zeroed by the kernel) afresh every time.

use ed25519_dalek::{Signature, VerifyingKey};
use rayon::prelude::*;

/// One signature to check.
#[derive(Debug)]
pub struct SigCheck {
    /// The signer's key.
    pub key: VerifyingKey,
    /// The signed bytes.
    pub message: Vec<u8>,
    /// The signature.
    pub signature: Signature,
}

/// Below this many signatures a batch is checked on the calling thread.
const PARALLEL_MIN: usize = 128;

/// Checks every signature; `result[i]` tells whether `checks[i]` verifies.
pub fn verify_all(checks: &[SigCheck]) -> Vec<bool> {
    let threads = rayon::current_num_threads();
    if threads < 2 || checks.len() < PARALLEL_MIN {
        return verify_chunk(checks);
    }
    let per = checks.len().div_ceil(threads);
    checks
        .par_chunks(per)
        .map(verify_chunk)
        .collect::<Vec<_>>()
        .concat()
}

fn verify_chunk(checks: &[SigCheck]) -> Vec<bool> {
    if checks.is_empty() {
        return Vec::new();
    }
    let messages: Vec<&[u8]> = checks.iter().map(|c| c.message.as_slice()).collect();
    let sigs: Vec<Signature> = checks.iter().map(|c| c.signature).collect();
    let keys: Vec<VerifyingKey> = checks.iter().map(|c| c.key).collect();
    if ed25519_dalek::verify_batch(&messages, &sigs, &keys).is_ok() {
        return vec![true; checks.len()];
    }
    checks
        .iter()
        .map(|c| c.key.verify_strict(&c.message, &c.signature).is_ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signer, SigningKey};

    use super::*;

    #[test]
    fn finds_each_bad_signature_in_a_large_batch() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let mut checks: Vec<SigCheck> = (0..300u32)
            .map(|i| {
                let message = i.to_be_bytes().to_vec();
                SigCheck {
                    key: key.verifying_key(),
                    signature: key.sign(&message),
                    message,
                }
            })
            .collect();
        assert!(verify_all(&checks).iter().all(|ok| *ok));
        checks[7].message.push(0);
        checks[299].message[0] ^= 1;
        let r = verify_all(&checks);
        let bad: Vec<usize> = r
            .iter()
            .enumerate()
            .filter(|(_, ok)| !**ok)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(bad, [7, 299]);
    }
}
