//! An in-process EVM (revm) with the contracts deployed: the harness of the contract tests and
//! of `m2mhub bench gas`. Gas figures from it are real figures: revm is the EVM of reth and
//! anvil, and charges the same gas to the calldata byte.

use alloy::{
    primitives::{Address, Bytes, Log},
    sol_types::{SolCall, SolConstructor, SolInterface},
};
use revm::{
    Context, ExecuteCommitEvm, MainBuilder, MainContext,
    context::TxEnv,
    context_interface::result::{ExecutionResult, Output},
    database::{CacheDB, EmptyDB},
    handler::{MainnetContext, MainnetEvm},
    primitives::TxKind,
};

use crate::{ChainError, Result};

/// The gas limit of every transaction: far above what any call here needs, so no call fails
/// for gas (the paper's baseline grows to millions of gas per call).
const TX_GAS_LIMIT: u64 = 1_000_000_000;

/// A successful call: its decoded return value, its gas and its logs.
#[derive(Debug)]
pub struct Called<T> {
    /// What the function returned.
    pub ret: T,
    /// Gas used by the transaction, as a receipt states it (intrinsic gas and refunds included).
    pub gas: u64,
    /// The logs it emitted.
    pub logs: Vec<Log>,
}

/// An EVM with its own state, starting empty. Every call is a committed transaction from some
/// caller, with nonces tracked, at gas price zero.
pub struct Evm {
    evm: MainnetEvm<MainnetContext<CacheDB<EmptyDB>>>,
    nonces: std::collections::HashMap<Address, u64>,
}

impl std::fmt::Debug for Evm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evm").finish_non_exhaustive()
    }
}

impl Default for Evm {
    fn default() -> Self {
        Self::new()
    }
}

impl Evm {
    /// An empty chain.
    pub fn new() -> Self {
        let evm = Context::mainnet()
            .with_db(CacheDB::<EmptyDB>::default())
            .modify_cfg_chained(|cfg| cfg.tx_gas_limit_cap = Some(TX_GAS_LIMIT))
            // Base fee and gas price are zero, so callers need no balance.
            .modify_block_chained(|block| {
                block.gas_limit = TX_GAS_LIMIT;
                block.basefee = 0;
            })
            .build_mainnet();
        Self {
            evm,
            nonces: Default::default(),
        }
    }

    fn transact(&mut self, from: Address, kind: TxKind, data: Bytes) -> Result<ExecutionResult> {
        let nonce = self.nonces.entry(from).or_default();
        let tx = TxEnv::builder()
            .caller(from)
            .kind(kind)
            .data(data)
            .nonce(*nonce)
            .gas_limit(TX_GAS_LIMIT)
            .gas_price(0)
            .build()
            .map_err(|e| ChainError::Evm(format!("{e:?}")))?;
        let result = self
            .evm
            .transact_commit(tx)
            .map_err(|e| ChainError::Evm(format!("{e:?}")))?;
        *nonce += 1;
        Ok(result)
    }

    /// Deploys `creation_code` with the ABI-encoded constructor arguments; returns the
    /// contract's address and the deployment's gas.
    pub fn deploy<C: SolConstructor>(
        &mut self,
        from: Address,
        creation_code: &[u8],
        args: &C,
    ) -> Result<(Address, u64)> {
        let mut data = creation_code.to_vec();
        data.extend_from_slice(&args.abi_encode());
        let result = self.transact(from, TxKind::Create, data.into())?;
        let gas = result.tx_gas_used();
        match result {
            ExecutionResult::Success {
                output: Output::Create(_, Some(addr)),
                ..
            } => Ok((addr, gas)),
            other => Err(ChainError::Evm(format!("deployment failed: {other:?}"))),
        }
    }

    /// Calls `to` with `call` from `from` as a committed transaction.
    pub fn call<C: SolCall>(
        &mut self,
        from: Address,
        to: Address,
        call: &C,
    ) -> Result<Called<C::Return>, CallError> {
        let result = self
            .transact(from, TxKind::Call(to), call.abi_encode().into())
            .map_err(|e| CallError::Failed(e.to_string()))?;
        let gas = result.tx_gas_used();
        match result {
            ExecutionResult::Success {
                output: Output::Call(out),
                logs,
                ..
            } => {
                let ret = C::abi_decode_returns(&out)
                    .map_err(|e| CallError::Failed(format!("bad return data: {e}")))?;
                Ok(Called { ret, gas, logs })
            }
            ExecutionResult::Revert { output, .. } => Err(CallError::Reverted(output)),
            other => Err(CallError::Failed(format!("{other:?}"))),
        }
    }
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The contract reverted with this data (a custom error, `Error(string)`, or nothing).
    Reverted(Bytes),
    /// Not a revert: a halt (out of gas, invalid opcode) or an invalid transaction.
    Failed(String),
}

impl CallError {
    /// The contract error the revert data encodes, if it is one of `E`.
    pub fn decode<E: SolInterface>(&self) -> Option<E> {
        match self {
            CallError::Reverted(data) => E::abi_decode(data).ok(),
            CallError::Failed(_) => None,
        }
    }
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Reverted(data) => write!(f, "reverted with 0x{}", hex::encode(data)),
            CallError::Failed(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for CallError {}

/// A caller for tests and benches: the address `0x…00<n>` (gas is free at price zero).
pub fn account(n: u8) -> Address {
    let mut a = [0u8; 20];
    a[19] = n;
    Address::from(a)
}
