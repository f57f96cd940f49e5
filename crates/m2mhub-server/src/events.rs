//! Server-Sent Events (`GET /v1/events`): one `entry` event per new entry and one `block`
//! event per committed block, each with the tree size after it as its `id:` (SPEC §5). A client
//! that reconnects with `Last-Event-ID: N` first gets the entries from seq N on (at most
//! [`REPLAY_MAX`]); when it missed more than that, or the bus dropped events because it was too
//! slow, it gets a `reset` event and pages the API instead.

use std::{convert::Infallible, sync::Arc, time::Duration};

use axum::{
    extract::State,
    http::HeaderMap,
    response::sse::{Event as SseEvent, KeepAlive, Sse},
};
use futures_util::Stream;
use m2mhub_core::entry::Entry;
use m2mhub_ledger::{Committed, Logged, Record};
use serde_json::json;
use tokio_stream::{
    StreamExt,
    wrappers::{BroadcastStream, errors::BroadcastStreamRecvError},
};

use crate::{routes::devices::entry_json, state::AppState};

/// Most entries replayed to a client that reconnects with `Last-Event-ID`.
pub const REPLAY_MAX: usize = 1000;

/// An event, already serialized (serialized once, sent to every subscriber).
#[derive(Clone, Debug)]
pub struct Event {
    /// `entry` or `block`.
    pub kind: &'static str,
    /// The tree size after the event: an entry's seq + 1, a block's tree size.
    pub id: u64,
    /// JSON data.
    pub data: Arc<str>,
}

impl Event {
    fn message(r: &Record) -> Event {
        Event {
            kind: "entry",
            id: r.seq + 1,
            data: Arc::from(json!({"kind": "message", "record": r}).to_string()),
        }
    }

    fn entry(seq: u64, e: &Entry) -> Event {
        Event {
            kind: "entry",
            id: seq + 1,
            data: Arc::from(entry_json(seq, e).to_string()),
        }
    }

    /// The events of one committed block: its entries in seq order, then the block.
    pub fn of_block(c: &Committed) -> Vec<Event> {
        let mut out: Vec<Event> = c
            .records
            .iter()
            .map(Event::message)
            .chain(c.registry.iter().map(|(seq, e)| Event::entry(*seq, e)))
            .collect();
        out.sort_by_key(|e| e.id);
        out.push(Event {
            kind: "block",
            id: c.block.tree_size,
            data: Arc::from(json!(&*c.block).to_string()),
        });
        out
    }

    fn sse(&self) -> SseEvent {
        SseEvent::default()
            .id(self.id.to_string())
            .event(self.kind)
            .data(&*self.data)
    }
}

/// `reset`: the client missed entries it will not get on this stream; it pages the API.
fn reset(reason: &str) -> SseEvent {
    SseEvent::default()
        .event("reset")
        .data(json!({ "reason": reason }).to_string())
}

/// What a client reconnecting with `Last-Event-ID: last` gets before the live events, and the
/// tree size below which live entry events are duplicates of those.
async fn catch_up(s: &AppState, last: &str) -> (Vec<SseEvent>, u64) {
    let Ok(from) = last.trim().parse::<u64>() else {
        return (vec![reset("unknown_event_id")], 0);
    };
    let ledger = s.ledger.clone();
    let read = tokio::task::spawn_blocking(move || ledger.logged_from(from, REPLAY_MAX)).await;
    let (entries, size) = match read {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            tracing::warn!("events: replaying from {from}: {e}");
            return (vec![reset("unavailable")], 0);
        }
        Err(_) => return (vec![reset("unavailable")], 0),
    };
    if from > size {
        // Not an id of this ledger's history (another hub's, or a restored older copy).
        return (vec![reset("unknown_event_id")], size);
    }
    let mut out: Vec<SseEvent> = entries
        .iter()
        .map(|(seq, l)| match l {
            Logged::Message(r) => Event::message(r),
            Logged::Entry(e) => Event::entry(*seq, e),
        })
        .map(|e| e.sse())
        .collect();
    if from.saturating_add(entries.len() as u64) < size {
        out.push(reset("too_far_behind"));
    }
    (out, size)
}

/// `GET /v1/events`.
#[utoipa::path(get, path = "/v1/events", operation_id = "events", tag = "ledger",
    summary = "Server-Sent Events: `entry` per new entry, `block` per block (never ends)",
    description = "Each event's `id:` is the tree size after it. A client reconnecting with `Last-Event-ID: N` first gets the entries from seq N on, at most 1,000; when it missed more (or was too slow for the live bus), or N is no position of this ledger, it gets a `reset` event (`{\"reason\": …}`) and pages /v1/entries instead.",
    params(("Last-Event-ID" = Option<String>, Header, description = "the id of the last event received")),
    responses((status = 200, description = "an SSE stream", body = String, content_type = "text/event-stream")))]
pub async fn stream(
    State(s): State<AppState>,
    headers: HeaderMap,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    // Subscribed before reading what was missed, so nothing falls between the two.
    let rx = s.events.subscribe();
    // An empty id is no id (an EventSource never sends one).
    let (replay, seen) = match headers.get("last-event-id").filter(|v| !v.is_empty()) {
        None => (Vec::new(), 0),
        Some(v) => catch_up(&s, v.to_str().unwrap_or("")).await,
    };
    let mut closing = s.closing.clone();
    let watching = s.metrics.sse_client("events");
    // A subscriber too slow to keep up skips what it missed and is told so (`reset`) rather
    // than holding the bus back.
    let live = BroadcastStream::new(rx).filter_map(move |r| {
        let _counted = &watching;
        match r {
            Ok(e) if e.kind == "entry" && e.id <= seen => None,
            Ok(e) => Some(Ok(e.sse())),
            Err(BroadcastStreamRecvError::Lagged(_)) => Some(Ok(reset("lagged"))),
        }
    });
    let stream = tokio_stream::iter(replay.into_iter().map(Ok)).chain(live);
    let stream = futures_util::StreamExt::take_until(stream, async move {
        let _ = closing.wait_for(|c| *c).await;
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
