//! `GET /v1/events` (SPEC §5 "Live events"): every event's id is the tree size after it; a
//! client reconnecting with `Last-Event-ID: N` gets the entries from seq N on, at most 1,000,
//! then `reset` when it missed more; an id that is not a position of this ledger gets `reset`.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use ed25519_dalek::SigningKey;
use futures_util::StreamExt;
use m2mhub_core::{
    entry::{Entry, Registration},
    names::DeviceName,
};
use m2mhub_ledger::{Committer, Submission};
use m2mhub_server::{AppState, Limits};
use serde_json::Value;

/// One parsed SSE event.
#[derive(Debug)]
struct Sse {
    id: Option<u64>,
    event: String,
    data: Value,
}

fn registration(i: u32) -> Submission {
    let mut seed = [7u8; 32];
    seed[..4].copy_from_slice(&i.to_be_bytes());
    Submission::Registry(Entry::DeviceRegistered(Registration {
        name: DeviceName::new(&format!("dev{i}")).unwrap(),
        clearance: 1,
        public_key: SigningKey::from_bytes(&seed).verifying_key().to_bytes(),
        exceptions: Default::default(),
        simulated: false,
    }))
}

fn register(c: &Committer, ids: std::ops::Range<u32>) {
    for r in c.submit_wait(ids.map(registration).collect()) {
        r.unwrap();
    }
}

async fn hub(dir: &std::path::Path) -> (common::Hub, Committer) {
    let state = AppState::new(common::ledger(dir, "m2mhub/events-test"), "t".into()).unwrap();
    let committer = state.committer.clone();
    (
        common::Hub::serve(state, Limits::default()).await,
        committer,
    )
}

/// Reads events from `GET /v1/events` (with `Last-Event-ID: last`) until `done` says so.
struct Reader {
    body: std::pin::Pin<
        Box<dyn futures_util::Stream<Item = reqwest::Result<axum::body::Bytes>> + Send>,
    >,
    buf: String,
}

impl Reader {
    async fn open(url: &str, last: Option<&str>) -> Reader {
        let mut req = reqwest::Client::new().get(format!("{url}/v1/events"));
        if let Some(l) = last {
            req = req.header("last-event-id", l);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 200);
        Reader {
            body: Box::pin(r.bytes_stream()),
            buf: String::new(),
        }
    }

    /// The next event; keep-alive comments are skipped, for at most 20 s in all.
    async fn next(&mut self) -> Sse {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (None, String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        id = Some(v.parse().unwrap());
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        event = v.into();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data.push_str(v);
                    }
                }
                if event.is_empty() {
                    continue; // a keep-alive comment
                }
                return Sse {
                    id,
                    event,
                    data: serde_json::from_str(&data).unwrap(),
                };
            }
            let chunk = tokio::time::timeout_at(deadline, self.body.next())
                .await
                .expect("no event within 20 s")
                .unwrap()
                .unwrap();
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_are_tree_sizes_and_a_reconnect_replays_what_it_missed() {
    let tmp = tempfile::tempdir().unwrap();
    let (hub, c) = hub(tmp.path()).await;
    register(&c, 0..5);
    // Live: each entry's id is its seq + 1, the block's its tree size.
    let mut live = Reader::open(&hub.url, None).await;
    register(&c, 5..7);
    let (a, b, block) = (live.next().await, live.next().await, live.next().await);
    assert_eq!((a.event.as_str(), a.id), ("entry", Some(6)), "{a:?}");
    assert_eq!(a.data["name"], "dev5");
    assert_eq!((b.event.as_str(), b.id), ("entry", Some(7)), "{b:?}");
    assert_eq!((block.event.as_str(), block.id), ("block", Some(7)));
    assert_eq!(block.data["tree_size"], 7);

    // A client that saw up to id 2 gets seqs 2..7 replayed, in order, then live events
    // without duplicates.
    let mut back = Reader::open(&hub.url, Some("2")).await;
    for seq in 2..7u64 {
        let e = back.next().await;
        assert_eq!((e.event.as_str(), e.id), ("entry", Some(seq + 1)), "{e:?}");
        assert_eq!(e.data["seq"], seq);
    }
    register(&c, 7..8);
    let e = back.next().await;
    assert_eq!((e.event.as_str(), e.id), ("entry", Some(8)), "{e:?}");
    assert_eq!(back.next().await.event, "block");
    // Up to date already: nothing is replayed, the next event is live.
    let mut current = Reader::open(&hub.url, Some("8")).await;
    register(&c, 8..9);
    let e = current.next().await;
    assert_eq!((e.event.as_str(), e.id), ("entry", Some(9)), "{e:?}");
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_too_far_behind_gets_a_page_then_reset() {
    let tmp = tempfile::tempdir().unwrap();
    let (hub, c) = hub(tmp.path()).await;
    register(&c, 0..1_200);
    let mut r = Reader::open(&hub.url, Some("100")).await;
    for seq in 100..1_100u64 {
        let e = r.next().await;
        assert_eq!((e.event.as_str(), e.id), ("entry", Some(seq + 1)), "{e:?}");
    }
    let e = r.next().await;
    assert_eq!(e.event, "reset", "{e:?}");
    assert_eq!(e.id, None);
    assert_eq!(e.data["reason"], "too_far_behind");
    // Live events follow the reset.
    register(&c, 1_200..1_201);
    let e = r.next().await;
    assert_eq!((e.event.as_str(), e.id), ("entry", Some(1_201)), "{e:?}");
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_of_no_position_in_this_ledger_gets_reset() {
    let tmp = tempfile::tempdir().unwrap();
    let (hub, c) = hub(tmp.path()).await;
    register(&c, 0..3);
    for last in ["4", "18446744073709551615", "abc", "-1", "1.5"] {
        let mut r = Reader::open(&hub.url, Some(last)).await;
        let e = r.next().await;
        assert_eq!(e.event, "reset", "Last-Event-ID {last:?}: {e:?}");
        assert_eq!(e.data["reason"], "unknown_event_id");
    }
    hub.stop().await;
}
