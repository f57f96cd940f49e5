//! Ed25519 signature checks for a whole block at once: the ZIP 215 batch check of
//! [`m2mhub_core::sig`] split across the cores. The rule lives in the core; this file only
//! divides the work, and under ZIP 215 no division can change a verdict.
//!
//! The split runs on rayon's pool of long-lived threads. A thread spawned per batch cost more
//! than its start-up: each new thread's allocator heap starts empty, so the batch's working
//! memory was faulted in (and zeroed by the kernel) afresh every time.

use getrandom::{SysRng, rand_core::UnwrapErr};
pub use m2mhub_core::sig::SigCheck;
use m2mhub_core::sig::verify_batch;
use rayon::prelude::*;

/// Below this many signatures a batch is checked on the calling thread.
const PARALLEL_MIN: usize = 128;

/// Checks every signature; `result[i]` tells whether `checks[i]` is valid under ZIP 215, the
/// same answer [`m2mhub_core::sig::PublicKey::verify`] gives for it alone.
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

/// The batch's random coefficients come from the OS generator, so a forger cannot predict
/// them. (`UnwrapErr` panics only if the kernel's generator fails, which Linux's does not once
/// booted.)
fn verify_chunk(checks: &[SigCheck]) -> Vec<bool> {
    verify_batch(checks, UnwrapErr(SysRng))
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signer, SigningKey};
    use m2mhub_core::sig::PublicKey;

    use super::*;

    #[test]
    fn finds_each_bad_signature_in_a_large_batch() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let public = PublicKey::for_registration(key.verifying_key().as_bytes()).unwrap();
        let mut checks: Vec<SigCheck> = (0..300u32)
            .map(|i| {
                let message = i.to_be_bytes().to_vec();
                SigCheck {
                    key: public,
                    signature: key.sign(&message).to_bytes(),
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
