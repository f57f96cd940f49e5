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
use m2mhub_ledger::Page;
use serde::{Deserialize, Serialize};
use tokio_stream::{StreamExt, wrappers::BroadcastStream};
use utoipa::{IntoParams, ToSchema};

use crate::{
    error::{ApiError, ApiResult},
    extract::{Operator, Params},
    security::SecurityEvent,
    state::AppState,
};

/// `GET /v1/security-events` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only ids greater than this (the previous page's `next`).
    after: Option<u64>,
    /// At most this many items (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

/// A security event as the API shows it: its fields and its time written out.
#[derive(Debug, Serialize, ToSchema)]
pub struct SecurityEventJson {
    /// The kept event.
    #[serde(flatten)]
    pub event: SecurityEvent,
    /// When it was refused, `YYYY-MM-DDTHH:MM:SS.sssZ`.
    pub time: String,
}

impl SecurityEventJson {
    /// `e` with its time written out.
    pub fn new(e: &SecurityEvent) -> Self {
        let time = std::time::UNIX_EPOCH + Duration::from_millis(e.time_ms);
        SecurityEventJson {
            event: e.clone(),
            time: humantime::format_rfc3339_millis(time).to_string(),
        }
    }
}

/// `GET /v1/security-events?after=&limit=`: `{"items": [event…], "next": id | null}`, oldest
/// first; the next page is `?after=<next>`.
#[utoipa::path(get, path = "/v1/security-events", operation_id = "list_security_events", tag = "security",
    summary = "Refused submissions kept as security events (SPEC §3.2), oldest first: {items, next}",
    security(("operator" = [])), params(ListQuery),
    responses((status = 200, description = "one page", body = Page<SecurityEventJson>)))]
pub async fn list(
    _: Operator,
    State(s): State<AppState>,
    Params(q): Params<ListQuery>,
) -> ApiResult<Json<Page<SecurityEventJson>>> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::malformed("limit must be between 1 and 1000"));
    }
    let store = s.security.clone();
    let (items, next) = tokio::task::spawn_blocking(move || store.list(q.after, limit))
        .await
        .map_err(|_| ApiError::from(LedgerError::Unavailable))??;
    Ok(Json(Page {
        items: items.iter().map(SecurityEventJson::new).collect(),
        next,
        rows_read: 0,
    }))
}

/// `GET /v1/security-events/stream`: one `security` event per refusal, as it is recorded,
/// with the event's id as the SSE `id:`. A subscriber that falls behind skips what it missed
/// (the list has it).
#[utoipa::path(get, path = "/v1/security-events/stream", operation_id = "security_event_stream", tag = "security",
    summary = "Server-Sent Events: `security` per refused submission, as it is refused (never ends)",
    security(("operator" = [])),
    responses((status = 200, description = "an SSE stream; each event's data is a security event", body = String, content_type = "text/event-stream")))]
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
