//! M2MHub on Ethereum (SPEC §2 item 5): the contracts' bindings (`contracts/out`), anchoring of
//! the ledger's checkpoints in `M2MHubAnchor` with on-chain consistency proofs, mirroring of
//! every entry to `M2MHubLedger` (`--chain-mode full`), checking a ledger against its anchors,
//! and an in-process EVM (revm) for the contract tests and the gas figures.
//!
//! It speaks only standard JSON-RPC, so any EVM node works (anvil, geth, reth, a public
//! chain). It does not decide anything about messages: the verdicts come from `m2mhub-core`'s
//! rules (the `M2MHubLedger` contract recomputes them on chain, and the tests check they
//! agree). The ledger never waits on the chain: anchoring and mirroring read committed
//! checkpoints and entries, one way, and retry on their own.

pub mod anchor;
pub mod anvil;
pub mod contracts;
pub mod evm;
pub mod gas;
pub mod mirror;
pub mod rpc;

pub use alloy::primitives::{Address, B256};

/// What can go wrong talking to a chain or running a contract.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The JSON-RPC node failed or refused a request.
    #[error("rpc: {0}")]
    Rpc(String),
    /// A contract call reverted; the text names the contract error when known.
    #[error("reverted: {0}")]
    Reverted(String),
    /// The in-process EVM failed (not a revert: a halt or an invalid transaction).
    #[error("evm: {0}")]
    Evm(String),
    /// The local ledger could not be read.
    #[error("ledger: {0}")]
    Ledger(#[from] m2mhub_ledger::LedgerError),
    /// A key file, address file or argument is not usable.
    #[error("{0}")]
    Config(String),
    /// The local ledger disagrees with what is anchored on chain.
    #[error("mismatch: {0}")]
    Mismatch(String),
}

/// Results of this crate.
pub type Result<T, E = ChainError> = std::result::Result<T, E>;

/// A device's on-chain id: `keccak256(name)` (names are up to 64 bytes; ids are `bytes32`).
pub fn device_id(name: &str) -> B256 {
    alloy::primitives::keccak256(name.as_bytes())
}
