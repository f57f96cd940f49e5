//! Authentication (SPEC §3.2): the refusals that leave no ledger entry.

use crate::{
    hash::Hash,
    ids::Seq,
    message::Message,
    registry::{Device, Registry},
};

/// Why a submission was refused without being recorded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Schema, sizes or encodings are wrong (400 `malformed`).
    #[error("{0}")]
    Malformed(String),
    /// The sender is not registered (401 `unknown_sender`).
    #[error("sender {0:?} is not registered")]
    UnknownSender(String),
    /// The signature does not verify with the sender's key (401 `bad_signature`).
    #[error("the signature does not verify with {0:?}'s key")]
    BadSignature(String),
    /// The counter is not above the sender's last recorded counter (409 `stale_counter`).
    #[error("counter {counter} is not greater than the last recorded counter {last}")]
    StaleCounter {
        /// The submitted counter.
        counter: u64,
        /// The sender's last recorded counter.
        last: u64,
    },
}

impl Refusal {
    /// The error code of SPEC §3.2.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Malformed(_) => "malformed",
            Refusal::UnknownSender(_) => "unknown_sender",
            Refusal::BadSignature(_) => "bad_signature",
            Refusal::StaleCounter { .. } => "stale_counter",
        }
    }
}

/// Looks up the sender of `msg`.
pub fn sender<'r>(registry: &'r Registry, msg: &Message) -> Result<&'r Device, Refusal> {
    registry
        .get(msg.sender.as_str())
        .ok_or_else(|| Refusal::UnknownSender(msg.sender.to_string()))
}

/// Verifies one message's signature with `device`'s key, under ZIP 215 (SPEC §3.2.1,
/// [`crate::sig`]).
pub fn verify_signature(device: &Device, msg: &Message, contents_hash: &Hash) -> bool {
    let bytes = msg.signed_fields(contents_hash).signing_bytes();
    device.key.verify(&bytes, &msg.signature)
}

/// Checks the counter rule: `Ok` when `counter` is above the last recorded one. A counter at
/// or below it is either an exact resubmission (the caller looks up the original by
/// sender and counter) or stale.
pub fn check_counter(device: &Device, counter: u64) -> Result<(), Refusal> {
    match device.last_counter {
        Some(last) if counter <= last => Err(Refusal::StaleCounter { counter, last }),
        _ => Ok(()),
    }
}

/// An exact resubmission: same sender, counter and signature as the recorded entry at `seq`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Duplicate(pub Seq);
