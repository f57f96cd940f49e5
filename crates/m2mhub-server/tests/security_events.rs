//! Security events (SPEC §3.2) and metrics end to end: a real server on 127.0.0.1:0 over a
//! real data directory. Every class of refusal is kept with its fields, only the operator sees
//! them (listed, paged, streamed), the store stays within its bound across a restart, and
//! `/metrics` passes `promtool check metrics`.
#![allow(clippy::unwrap_used)]

use std::{
    path::Path,
    sync::{Arc, atomic::AtomicU64},
    time::Duration,
};

use ed25519_dalek::{Signer, SigningKey};
use futures_util::StreamExt;
use m2mhub_core::{
    ids::TxId,
    message::{Action, Message},
    names::DeviceName,
};
mod common;

use m2mhub_server::{
    AppState, Limits,
    security::{self, Bound, SecurityEvents},
};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const TOKEN: &str = "test-operator-token";

/// The tests' hub: a bounded security events store in its data directory.
struct Hub;

impl Hub {
    /// A hub on `dir` keeping at most `max_events` security events in `dir`, allowing
    /// `failures` authentication failures per source before 429.
    async fn start(dir: &Path, max_events: u64, failures: u32) -> common::Hub {
        Self::start_with(dir, max_events, failures, |s| s).await
    }

    async fn start_with(
        dir: &Path,
        max_events: u64,
        failures: u32,
        f: impl FnOnce(AppState) -> AppState,
    ) -> common::Hub {
        let ledger = common::ledger(dir, "m2mhub/security-test");
        // Every refusal its own event: these tests count them (folding has its own tests).
        let bound = Bound {
            max_events,
            fold_window: std::time::Duration::ZERO,
            ..Bound::default()
        };
        let store = SecurityEvents::open(&dir.join(security::FILE), bound).unwrap();
        let state = f(AppState::new(ledger, TOKEN.into())
            .unwrap()
            .with_failure_limit(failures, 0.001)
            .with_security_events(store));
        common::Hub::serve(state, Limits::default()).await
    }
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn signed(name: &str, key: &SigningKey, counter: u64, contents: &str) -> Value {
    let mut m = Message {
        sender: DeviceName::new(name).unwrap(),
        receiver: DeviceName::new(name).unwrap(),
        action: Action::Begin,
        tx: TxId(0),
        cause: None,
        counter,
        contents: contents.into(),
        signature: [0; 64],
        form: m2mhub_core::message::Form::OneHub,
    };
    m.signature = key.sign(&m.signing_bytes()).to_bytes();
    serde_json::to_value(m.to_submission()).unwrap()
}

async fn post(c: &Client, url: &str, body: &Value) -> (StatusCode, Value) {
    let r = c
        .post(format!("{url}/v1/messages"))
        .json(body)
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap())
}

async fn register(c: &Client, url: &str, name: &str, key: &SigningKey) {
    let r = c
        .post(format!("{url}/v1/devices"))
        .bearer_auth(TOKEN)
        .json(&json!({"name": name, "clearance": 1,
            "public_key": hex::encode(key.verifying_key().as_bytes())}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
}

async fn page(c: &Client, url: &str, query: &str) -> (StatusCode, Value) {
    let r = c
        .get(format!("{url}/v1/security-events{query}"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap())
}

/// Every kept event, following `next` (the writer commits a moment after the refusal: waits
/// until the newest event has id `newest`).
async fn all_events(c: &Client, url: &str, newest: u64) -> Vec<Value> {
    for _ in 0..200 {
        let mut items: Vec<Value> = Vec::new();
        let mut query = "?limit=1000".to_owned();
        loop {
            let (s, p) = page(c, url, &query).await;
            assert_eq!(s, StatusCode::OK, "{p}");
            items.extend(p["items"].as_array().unwrap().iter().cloned());
            match p["next"].as_u64() {
                Some(n) => query = format!("?limit=1000&after={n}"),
                None => break,
            }
        }
        if items.last().and_then(|e| e["id"].as_u64()) == Some(newest) {
            return items;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("event {newest} was never stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_is_kept_with_its_fields_for_the_operator_only() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = Hub::start(tmp.path(), 1000, 3).await;
    let (url, c) = (hub.url.clone(), Client::new());
    let a = key(1);
    register(&c, &url, "a", &a).await;
    let (s, _) = post(&c, &url, &signed("a", &a, 1, "hello")).await;
    assert_eq!(s, StatusCode::OK);

    // One of each refusal: stale counter (not an authentication failure), then three
    // failures, which use up this source's allowance of 3, then a 429.
    let tries = [
        (
            signed("a", &a, 1, "again"),
            "a",
            StatusCode::CONFLICT,
            "stale_counter",
        ),
        (
            json!({"sender": "mallory", "counter": "x"}),
            "mallory",
            StatusCode::BAD_REQUEST,
            "malformed",
        ),
        (
            signed("ghost", &key(9), 1, "boo"),
            "ghost",
            StatusCode::UNAUTHORIZED,
            "unknown_sender",
        ),
        (
            signed("a", &key(2), 2, "forged"),
            "a",
            StatusCode::UNAUTHORIZED,
            "bad_signature",
        ),
        (
            signed("a", &a, 3, "late"),
            "",
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_failures",
        ),
    ];
    for (body, _, status, code) in &tries {
        let (s, r) = post(&c, &url, body).await;
        assert_eq!((s, r["error"].as_str().unwrap()), (*status, *code), "{r}");
    }

    // The operator only.
    let r = c
        .get(format!("{url}/v1/security-events"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = c
        .get(format!("{url}/v1/security-events"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // A wrong operator token is kept too (no token at all is a visitor, not an event).
    let events = all_events(&c, &url, 6).await;
    assert_eq!(events.len(), 6, "{events:?}");
    assert_eq!(
        (
            &events[5]["code"],
            &events[5]["sender"],
            &events[5]["source"]
        ),
        (&json!("unauthorized"), &Value::Null, &json!("127.0.0.1"))
    );
    for (i, (e, (_, sender, _, code))) in events.iter().zip(&tries).enumerate() {
        assert_eq!(e["id"], i as u64 + 1, "{e}");
        assert_eq!(e["code"], *code, "{e}");
        assert_eq!(e["transport"], "http", "{e}");
        assert_eq!(e["source"], "127.0.0.1", "{e}");
        let claimed = if sender.is_empty() {
            Value::Null
        } else {
            json!(sender)
        };
        assert_eq!(e["sender"], claimed, "{e}");
        assert!(!e["message"].as_str().unwrap().is_empty(), "{e}");
        let time = e["time"].as_str().unwrap();
        assert!(time.len() == 24 && time.ends_with('Z'), "{time}");
    }

    // Paging: limit 2 → three pages, `next` the last id of a full page, null at the end.
    let (_, p) = page(&c, &url, "?limit=2").await;
    assert_eq!(
        (p["items"].as_array().unwrap().len(), &p["next"]),
        (2, &json!(2))
    );
    let (_, p) = page(&c, &url, "?limit=2&after=2").await;
    assert_eq!(p["items"][0]["id"], 3);
    let (_, p) = page(&c, &url, "?limit=2&after=4").await;
    assert_eq!(
        (p["items"].as_array().unwrap().len(), &p["next"]),
        (2, &Value::Null)
    );
    for bad in ["?limit=0", "?limit=1001", "?after=x", "?other=1"] {
        let (s, b) = page(&c, &url, bad).await;
        assert_eq!(
            (s, b["error"].as_str().unwrap()),
            (StatusCode::BAD_REQUEST, "malformed"),
            "{bad}"
        );
    }

    // Counted per code too; nothing of it on the public stream's ledger.
    let m = c
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for (.., code) in &tries {
        assert!(
            m.contains(&format!("m2mhub_refusals_total{{code=\"{code}\"}} 1\n")),
            "{code}: {m}"
        );
    }
    let blocks: Value = c
        .get(format!("{url}/v1/messages"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!blocks.to_string().contains("forged"), "{blocks}");
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_keeps_its_bound_and_survives_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = Hub::start(tmp.path(), 5, u32::MAX).await;
    let (url, c) = (hub.url.clone(), Client::new());
    for i in 0..12 {
        let (s, _) = post(&c, &url, &json!({"sender": format!("m{i}")})).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
    }
    let events = all_events(&c, &url, 12).await;
    let ids: Vec<u64> = events.iter().map(|e| e["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, [8, 9, 10, 11, 12]);
    hub.stop().await;

    let hub = Hub::start(tmp.path(), 5, u32::MAX).await;
    let url = hub.url.clone();
    assert_eq!(
        all_events(&c, &url, 12).await,
        events,
        "kept across the restart"
    );
    post(&c, &url, &json!({"sender": "after"})).await;
    let events = all_events(&c, &url, 13).await;
    assert_eq!(events.len(), 5);
    assert_eq!(events[4]["sender"], "after");
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_stream_delivers_new_events() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = Hub::start(tmp.path(), 1000, u32::MAX).await;
    let (url, c) = (hub.url.clone(), Client::new());
    let stream_url = format!("{url}/v1/security-events/stream");
    let r = c.get(&stream_url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = c.get(&stream_url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let mut events = r.bytes_stream();
    // Subscribed once the response started: a refusal now is streamed.
    let (s, _) = post(&c, &url, &json!({"sender": "intruder", "junk": true})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let mut seen = String::new();
    while !seen.contains("\n\n") {
        let chunk = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("event: security\n"), "{seen}");
    assert!(seen.contains("id: 1\n"), "{seen}");
    let data: Value =
        serde_json::from_str(seen.lines().find_map(|l| l.strip_prefix("data: ")).unwrap()).unwrap();
    assert_eq!(
        (&data["code"], &data["sender"]),
        (&json!("malformed"), &json!("intruder"))
    );
    let m = c
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        m.contains("m2mhub_sse_clients{stream=\"security\"} 1\n"),
        "{m}"
    );
    drop(events);
    hub.stop().await;
}

/// `promtool` from Debian's `prometheus` package (`make deps` installs it). Outside CI a
/// machine without it skips the check; in CI (`CI=true`) its absence fails.
fn promtool() -> Option<&'static str> {
    let found = ["/usr/bin/promtool", "/usr/local/bin/promtool"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    if found.is_none() {
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true"),
            "promtool is not installed (make deps installs it)"
        );
        eprintln!("promtool is not installed: skipping (make deps installs it)");
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_pass_promtool_and_cover_ingest_blocks_queue_refusals_streams_and_anchors() {
    let tmp = tempfile::tempdir().unwrap();
    // Anchoring on, with the chain 1 entry behind whatever the ledger holds.
    let hub = Hub::start_with(tmp.path(), 1000, u32::MAX, |s| {
        s.metrics.anchoring(Arc::new(AtomicU64::new(1)));
        s
    })
    .await;
    let (url, c) = (hub.url.clone(), Client::new());
    let a = key(1);
    register(&c, &url, "a", &a).await;
    for i in 1..=3 {
        let (s, _) = post(&c, &url, &signed("a", &a, i, "x")).await;
        assert_eq!(s, StatusCode::OK);
    }
    post(&c, &url, &json!({"sender": "bad"})).await;
    let sse = c.get(format!("{url}/v1/events")).send().await.unwrap();

    let r = c.get(format!("{url}/metrics")).send().await.unwrap();
    assert_eq!(
        r.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let body = r.text().await.unwrap();
    for family in [
        "# TYPE m2mhub_ingest_seconds histogram",
        "# TYPE m2mhub_block_size_entries histogram",
        "# TYPE m2mhub_committer_queue_messages gauge",
        "# TYPE m2mhub_refusals_total counter",
        "# TYPE m2mhub_sse_clients gauge",
        "# TYPE m2mhub_anchor_lag_entries gauge",
        "# TYPE m2mhub_security_events_dropped_total counter",
    ] {
        assert!(body.contains(family), "{family}: {body}");
    }
    // The registration and the three messages went through the committer; the malformed
    // submission never reached it.
    assert!(body.contains("m2mhub_ingest_seconds_count 4\n"), "{body}");
    assert!(
        body.contains("m2mhub_committer_queue_messages 0\n"),
        "{body}"
    );
    assert!(
        body.contains("m2mhub_sse_clients{stream=\"events\"} 1\n"),
        "{body}"
    );
    // Four entries (a registration, three messages), one anchored.
    assert!(body.contains("m2mhub_anchor_lag_entries 3\n"), "{body}");
    assert!(!body.contains("# EOF"), "{body}");

    // OpenMetrics when asked for, under its own content type.
    let r = c
        .get(format!("{url}/metrics"))
        .header("accept", "application/openmetrics-text; version=1.0.0")
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text; version=1.0.0")
    );
    assert!(r.text().await.unwrap().ends_with("# EOF\n"));
    drop(sse);

    if let Some(promtool) = promtool() {
        use std::io::Write;
        let mut child = std::process::Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(body.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && said.is_empty(),
            "promtool: {said}\n{body}"
        );
    }
    hub.stop().await;
}
