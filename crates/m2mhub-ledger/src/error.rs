//! The ledger's one error type.

use m2mhub_core::{CoreError, auth::Refusal};

/// What can go wrong in the ledger.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// A submission was refused at authentication (SPEC §3.2): nothing was recorded.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// A registry change was refused (name or key taken, unknown device, …): nothing recorded.
    #[error(transparent)]
    Registry(#[from] CoreError),
    /// The store failed; the ledger stops accepting writes until it is restarted.
    #[error("storage failure: {0}")]
    Storage(String),
    /// An earlier storage failure stopped the ledger from accepting writes.
    #[error("the ledger stopped accepting writes after a storage failure; restart the hub")]
    Unavailable,
    /// The commit queue is full: nothing was queued; retry shortly.
    #[error("the hub is busy: its commit queue is full; retry shortly")]
    Busy,
    /// The data directory holds something the ledger cannot trust (failed start-up check).
    #[error("corrupt ledger: {0}")]
    Corrupt(String),
    /// A file of the data directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The thing asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A query's parameters are out of range.
    #[error("{0}")]
    BadQuery(String),
    /// A backup is refused (damaged, truncated, reordered, signed by another key, or not
    /// reproducing its signed checkpoints), or could not be written.
    #[error("backup refused: {0}")]
    Backup(String),
}

macro_rules! storage_errors {
    ($($t:ty),*) => {$(
        impl From<$t> for LedgerError {
            fn from(e: $t) -> Self {
                LedgerError::Storage(e.to_string())
            }
        }
    )*};
}

storage_errors!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);

/// The ledger's result type.
pub type Result<T, E = LedgerError> = std::result::Result<T, E>;

/// Runs `f`, turning a panic into [`LedgerError::Corrupt`]. redb trusts its own pages and
/// panics on some damaged files instead of returning an error; every path that opens or
/// replays a store an attacker may have edited goes through here, so bad bytes give a clear
/// error and never a crash.
pub fn guard_damaged<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => Err(LedgerError::Corrupt(format!(
            "{what}: the store file is damaged ({})",
            panic_message(payload.as_ref())
        ))),
    }
}

/// The text of a panic payload.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown damage".into())
}
