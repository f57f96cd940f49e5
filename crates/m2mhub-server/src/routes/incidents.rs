//! The incidents route: invalid messages grouped by transaction (or, for messages naming a tx
//! id not issued yet, by sender), newest first, from tables kept on append.

use axum::{Json, extract::State};
use m2mhub_ledger::IncidentPage;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::{error::ApiResult, extract::Params, state::AppState};

/// `GET /v1/incidents` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IncidentQuery {
    /// The previous page's `next`: only incidents whose latest invalid message is older.
    after: Option<u64>,
    /// At most this many items (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

/// `GET /v1/incidents?after=&limit=`.
#[utoipa::path(get, path = "/v1/incidents", operation_id = "list_incidents", tag = "investigation",
    summary = "Invalid messages grouped by transaction (or by sender, for tx ids not issued yet), newest first: {items, next, total_groups, total_invalid}",
    description = "Kept up to date on append. next is the last item's last_invalid_seq; the next page holds incidents whose latest invalid message is older.",
    params(IncidentQuery),
    responses((status = 200, description = "one page", body = IncidentPage)))]
pub async fn list(
    State(s): State<AppState>,
    Params(q): Params<IncidentQuery>,
) -> ApiResult<Json<IncidentPage>> {
    let ledger = s.ledger.clone();
    super::read(move || ledger.incidents(q.after, q.limit))
        .await
        .map(Json)
}
