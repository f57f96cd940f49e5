//! One module per route group of SPEC §5.

pub mod backup;
pub mod devices;
pub mod federation;
pub mod health;
pub mod incidents;
pub mod investigate;
pub mod ledger;
pub mod messages;
pub mod security;
pub mod stats;
pub mod tlog;
pub mod transactions;
pub mod ui;
pub mod witness;

use crate::error::{ApiError, ApiResult};

/// Runs a ledger read (disk IO) on the blocking pool, off the async threads.
pub(crate) async fn read<T: Send + 'static>(
    f: impl FnOnce() -> m2mhub_ledger::Result<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(ApiError::from)
}
