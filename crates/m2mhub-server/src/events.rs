//! Server-Sent Events (`GET /v1/events`): one `entry` event per new entry and one `block`
//! event per committed block.

use std::{convert::Infallible, sync::Arc, time::Duration};

use axum::{
    extract::State,
    response::sse::{Event as SseEvent, KeepAlive, Sse},
};
use futures_util::Stream;
use m2mhub_ledger::Committed;
use serde_json::json;
use tokio_stream::{StreamExt, wrappers::BroadcastStream};

use crate::{routes::devices::entry_json, state::AppState};

/// An event, already serialized (serialized once, sent to every subscriber).
#[derive(Clone, Debug)]
pub struct Event {
    /// `entry` or `block`.
    pub kind: &'static str,
    /// JSON data.
    pub data: Arc<str>,
}

impl Event {
    /// The events of one committed block: its entries in seq order, then the block.
    pub fn of_block(c: &Committed) -> Vec<Event> {
        let mut entries: Vec<(u64, serde_json::Value)> = c
            .records
            .iter()
            .map(|r| (r.seq, json!({"kind": "message", "record": r})))
            .chain(
                c.registry
                    .iter()
                    .map(|(seq, e)| (*seq, entry_json(*seq, e))),
            )
            .collect();
        entries.sort_by_key(|(s, _)| *s);
        let mut out: Vec<Event> = entries
            .into_iter()
            .map(|(_, v)| Event {
                kind: "entry",
                data: Arc::from(v.to_string()),
            })
            .collect();
        out.push(Event {
            kind: "block",
            data: Arc::from(json!(&*c.block).to_string()),
        });
        out
    }
}

/// `GET /v1/events`.
#[utoipa::path(get, path = "/v1/events", operation_id = "events", tag = "ledger",
    summary = "Server-Sent Events: `entry` per new entry, `block` per block (never ends)",
    description = "Events carry no id and a reconnecting client is not replayed what it missed: it pages /v1/entries from where it was.",
    responses((status = 200, description = "an SSE stream", body = String, content_type = "text/event-stream")))]
pub async fn stream(
    State(s): State<AppState>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let rx = s.events.subscribe();
    let mut closing = s.closing.clone();
    // A subscriber too slow to keep up skips what it missed (it can page the API) rather
    // than holding the bus back.
    let watching = s.metrics.sse_client("events");
    let stream = BroadcastStream::new(rx).filter_map(move |r| {
        let _counted = &watching;
        r.ok()
            .map(|e| Ok(SseEvent::default().event(e.kind).data(&*e.data)))
    });
    let stream = futures_util::StreamExt::take_until(stream, async move {
        let _ = closing.wait_for(|c| *c).await;
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
