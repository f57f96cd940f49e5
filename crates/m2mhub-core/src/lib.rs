//! M2MHub's pure core: the rules of SPEC §3 (the signature rule of §3.2.1, ZIP 215, in
//! [`sig`]), the encodings of SPEC §4 (signing bytes, entry bytes, Merkle tree and proofs,
//! signed checkpoints), with known-answer tests.
//!
//! This crate does no IO, spawns nothing, reads no clock and pulls in no async runtime, HTTP,
//! MQTT or Ethereum code: it cannot fail except on bad input. Storage reaches the Merkle code
//! through the one-method [`merkle::HashReader`]; the sequencer, the store and transports live
//! in other crates.

pub mod auth;
pub mod checkpoint;
pub mod cosignature;
pub mod entry;
pub mod federation;
pub mod hash;
pub mod ids;
pub mod import;
pub mod jsonint;
pub mod machine;
pub mod merkle;
pub mod message;
pub mod names;
pub mod note;
pub mod notice;
pub mod registry;
pub mod rules;
#[cfg(feature = "openapi")]
pub mod schema;
pub mod sig;
pub mod signing;
pub mod witness;

use names::DeviceName;

/// What can go wrong in the core: all of it is bad input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CoreError {
    /// A device name breaks SPEC §3.4.
    #[error("{0}")]
    BadName(String),
    /// Schema, sizes or encodings are wrong.
    #[error("{0}")]
    Malformed(String),
    /// Entry bytes are not a canonical v1 entry.
    #[error("bad entry bytes: {0}")]
    BadEntry(String),
    /// Registration under a name already registered.
    #[error("device name {0} is taken")]
    NameTaken(DeviceName),
    /// Registration with a public key already registered to a device.
    #[error("the public key is registered to another device")]
    KeyTaken,
    /// A registry change names a device that is not registered.
    #[error("no device named {0}")]
    UnknownDevice(DeviceName),
    /// A registry change to a revoked device.
    #[error("device {0} is revoked")]
    DeviceRevoked(DeviceName),
    /// Granting an exception the device already lists.
    #[error("device {0} already accepts {1}")]
    ExceptionExists(DeviceName, DeviceName),
    /// Withdrawing an exception the device does not list.
    #[error("device {0} lists no exception for {1}")]
    NoSuchException(DeviceName, DeviceName),
    /// Re-keying a simulated device: the hub holds its key, so a new key would also be the
    /// hub's and prove nothing new (register a new device instead).
    #[error("device {0} is simulated: the hub holds its key, which is not re-keyed")]
    SimulatedDevice(DeviceName),
}
