//! Security event routes (SPEC §3.2), operator only: the kept refusals, paged, and their live
//! stream.

use std::{convert::Infallible, time::Duration};

use axum::{
    Json,
    extract::State,
    response::sse::{Event as SseEvent, KeepAlive, Sse},
};
use futures_util::Stream;
use m2mhub_ledger::LedgerError;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_stream::{StreamExt, wrappers::BroadcastStream};

use crate::{
    error::{ApiError, ApiResult},
    extract::{Operator, Params},
    state::AppState,
};

/// `GET /v1/security-events` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    after: Option<u64>,
    limit: Option<usize>,
}

/// `GET /v1/security-events?after=&limit=`: `{"items": [event…], "next": id | null}`, oldest
/// first; the next page is `?after=<next>`.
pub async fn list(
    _: Operator,
    State(s): State<AppState>,
    Params(q): Params<ListQuery>,
) -> ApiResult<Json<Value>> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::malformed("limit must be between 1 and 1000"));
    }
    let store = s.security.clone();
    let (items, next) = tokio::task::spawn_blocking(move || store.list(q.after, limit))
        .await
        .map_err(|_| ApiError::from(LedgerError::Unavailable))??;
    let items: Vec<Value> = items.iter().map(|e| e.to_json()).collect();
    Ok(Json(json!({"items": items, "next": next})))
}

/// `GET /v1/security-events/stream`: one `security` event per refusal, as it is recorded,
/// with the event's id as the SSE `id:`. A subscriber that falls behind skips what it missed
/// (the list has it).
pub async fn stream(
    _: Operator,
    State(s): State<AppState>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let rx = s.security.subscribe();
    let mut closing = s.closing.clone();
    let watching = s.metrics.sse_client("security");
    let stream = BroadcastStream::new(rx).filter_map(move |r| {
        let _counted = &watching;
        r.ok().map(|e| {
            Ok(SseEvent::default()
                .event("security")
                .id(e.id.to_string())
                .data(e.to_json().to_string()))
        })
    });
    let stream = futures_util::StreamExt::take_until(stream, async move {
        let _ = closing.wait_for(|c| *c).await;
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
