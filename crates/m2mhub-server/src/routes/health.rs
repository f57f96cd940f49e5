//! Health checks for supervisors and load balancers: `GET /healthz` (the process answers) and
//! `GET /readyz` (the hub takes writes now).

use axum::{Json, extract::State, http::StatusCode};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    error::{ApiError, ApiResult, ErrorBody},
    state::AppState,
};

/// `GET /healthz` and `GET /readyz`'s answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` (`/healthz`) or `ready` (`/readyz`).
    #[schema(value_type = String, pattern = "^(ok|ready)$")]
    pub status: &'static str,
    /// `/readyz`: the tree's size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tree_size: Option<u64>,
    /// `/readyz`: the last block's height.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u64>,
}

/// `GET /healthz`: 200 while the process serves HTTP at all. Liveness only: it reads nothing,
/// so a supervisor never restarts a hub that is merely slow or stopped on a disk fault (that
/// is `/readyz`'s to say, and a restart would not fix the disk).
#[utoipa::path(get, path = "/healthz", operation_id = "healthz", tag = "operations",
    summary = "Liveness: 200 while the process serves HTTP",
    responses((status = 200, description = "alive", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok",
        tree_size: None,
        height: None,
    })
}

/// `GET /readyz`: 200 `{"status": "ready", "tree_size", "height"}` when the hub accepts
/// writes: it is not shutting down, the store answers a read and no storage failure has
/// stopped the ledger (`Ledger::is_failed`, which lasts until a restart). Otherwise 503
/// `shutting_down` or `storage_failed`.
#[utoipa::path(get, path = "/readyz", operation_id = "readyz", tag = "operations",
    summary = "Readiness: 200 when the hub accepts writes",
    responses((status = 200, description = "ready", body = Health),
        (status = 503, description = "storage_failed (until restarted) or shutting_down", body = ErrorBody)))]
pub async fn readyz(State(s): State<AppState>) -> ApiResult<Json<Health>> {
    if *s.closing.borrow() {
        return Err(unavailable("shutting_down", "the hub is shutting down"));
    }
    // Both calls may wait for a block's commit (fsync): off the async threads.
    let ledger = s.ledger.clone();
    let storage = tokio::task::spawn_blocking(move || {
        if ledger.is_failed() {
            return Err(
                "a storage failure stopped writes; fix the disk, then restart the hub".to_owned(),
            );
        }
        ledger
            .snapshot()
            .map(|_| ())
            .map_err(|e| format!("the store does not answer: {e}"))
    })
    .await
    .map_err(|e| ApiError::internal(&e))?;
    if let Err(message) = storage {
        tracing::warn!("not ready: {message}");
        return Err(unavailable("storage_failed", message));
    }
    let head = s.ledger.view().head;
    Ok(Json(Health {
        status: "ready",
        tree_size: Some(head.tree_size),
        height: Some(head.height),
    }))
}

fn unavailable(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
}
