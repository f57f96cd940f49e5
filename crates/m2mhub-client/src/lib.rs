//! M2MHub's device SDK: what a device links to talk to a hub.
//!
//! - [`keys`]: an Ed25519 key pair in two files (`PREFIX.key`, mode 0600, and `PREFIX.pub`).
//! - [`counter`]: the per-device message counter (SPEC §3.2), persisted so that it only ever
//!   grows, even across restarts.
//! - [`device`]: signing (SPEC §4.1) and transaction handles: `begin` opens a transaction,
//!   `continue`/`end` carry its id and the seq of the message that caused them.
//! - [`http`] and [`mqtt`]: the two transports (SPEC §5 `POST /v1/messages`; `docs/MQTT.md`).
//! - [`client`]: a device bound to a transport, with retries that keep at-least-once delivery
//!   from recording anything twice.
//! - [`verifier`]: an outside auditor's checks (checkpoint signature, inclusion and
//!   consistency proofs) through the public HTTP API only.
//!
//! It does not hold any rule: verdicts come from the hub, and where it checks a device's
//! signature itself (a delivery's, [`wire::Delivery::verify_signature`]) it applies the hub's
//! rule from `m2mhub_core::sig` (ZIP 215, SPEC §3.2.1). It pulls in no server, store or
//! broker code.

pub mod client;
pub mod counter;
pub mod device;
pub mod http;
pub mod keys;
pub mod mqtt;
pub mod verifier;
pub mod wire;

pub use client::{Client, Transport};
pub use device::{Device, TxHandle};
pub use wire::{Delivery, Record, Refusal};

/// What can go wrong in the SDK.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A key, counter or other local file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What went wrong.
        source: std::io::Error,
    },
    /// A local file or argument is not what it should be.
    #[error("{0}")]
    Invalid(String),
    /// The hub refused the submission (SPEC §3.2): nothing was recorded.
    #[error("refused: {0}")]
    Refused(Refusal),
    /// The hub could not be reached or answered something unexpected.
    #[error("transport: {0}")]
    Transport(String),
    /// No acknowledgement arrived in time, after every retry.
    #[error("no acknowledgement for counter {counter} after {attempts} attempts")]
    Timeout {
        /// The message's counter.
        counter: u64,
        /// How many times it was published.
        attempts: u32,
    },
    /// A proof, signature or checkpoint from the hub does not verify.
    #[error("verification failed: {0}")]
    Verification(String),
}

impl From<m2mhub_core::CoreError> for ClientError {
    fn from(e: m2mhub_core::CoreError) -> Self {
        ClientError::Invalid(e.to_string())
    }
}

/// The SDK's result type.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

pub(crate) fn io_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> ClientError + '_ {
    move |source| ClientError::Io {
        path: path.display().to_string(),
        source,
    }
}
