//! The front door against hostile clients, over raw sockets: slowloris heads and idle sockets
//! are closed, a request that never sends its body times out, connections past the cap wait,
//! a throttled source is refused before its body is read, oversized and over-long bodies are
//! refused (and count against their source), a full commit queue answers 503, and a wrong
//! method gets a JSON error. Timeouts here are short limits given to the server; the test
//! itself asserts only on what the server does, never on how fast.
#![allow(clippy::unwrap_used)]

use std::{path::Path, time::Duration};

use ed25519_dalek::{Signer, SigningKey};
use m2mhub_core::{
    ids::TxId,
    message::{Action, Message},
    names::DeviceName,
};
use m2mhub_server::{AppState, Limits};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

mod common;

const TOKEN: &str = "frontdoor-token";
/// Longest a test waits for something the server must do (a bound, not a measurement).
const PATIENCE: Duration = Duration::from_secs(30);

async fn hub(
    dir: &Path,
    limits: Limits,
    queue: usize,
    f: impl FnOnce(AppState) -> AppState,
) -> common::Hub {
    let ledger = common::ledger(dir, "m2mhub/frontdoor-test");
    let state = f(AppState::with_commit_queue(ledger, TOKEN.into(), queue).unwrap());
    common::Hub::serve(state, limits).await
}

fn short() -> Limits {
    Limits {
        header_read_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(2),
        ..Limits::default()
    }
}

/// Reads until the server closes the connection; returns what it sent, or `None` if it kept
/// the connection open for all of [`PATIENCE`].
async fn read_to_close(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut all = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(PATIENCE, read).await.ok()?;
    Some(all)
}

/// Reads one HTTP response (head and a Content-Length body) without waiting for the close.
async fn read_response(s: &mut TcpStream) -> String {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        loop {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed before a whole response");
            all.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&all).to_string();
            if let Some(head_end) = text.find("\r\n\r\n") {
                let len = text[..head_end]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap())
                    })
                    .unwrap_or(0);
                if all.len() >= head_end + 4 + len {
                    return text;
                }
            }
        }
    };
    tokio::time::timeout(PATIENCE, read)
        .await
        .expect("no response")
}

#[tokio::test]
async fn a_slowloris_head_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let h = hub(dir.path(), short(), 1000, |s| s).await;
    let mut s = TcpStream::connect(h.addr).await.unwrap();
    let head = b"GET /v1/key HTTP/1.1\r\nHost: hub\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut closed = false;
    // One byte every 100 ms: the head never completes; a server without a header-read
    // timeout keeps reading for as long as bytes come.
    for b in head.iter().cycle().take(300) {
        if s.write_all(&[*b]).await.is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 256];
        // Any read that completes is the server closing (it never answers a head it lacks).
        if tokio::time::timeout(Duration::from_millis(100), s.read(&mut buf))
            .await
            .is_ok()
        {
            closed = true;
            break;
        }
    }
    assert!(
        closed,
        "the server kept reading a head sent a byte at a time"
    );
}

#[tokio::test]
async fn idle_sockets_are_closed_fresh_or_kept_alive() {
    let dir = tempfile::tempdir().unwrap();
    let h = hub(dir.path(), short(), 1000, |s| s).await;
    let mut fresh = TcpStream::connect(h.addr).await.unwrap();
    assert!(
        read_to_close(&mut fresh).await.is_some(),
        "a socket that sent nothing stayed open"
    );
    let mut kept = TcpStream::connect(h.addr).await.unwrap();
    kept.write_all(b"GET /v1/key HTTP/1.1\r\nHost: hub\r\n\r\n")
        .await
        .unwrap();
    let answer = read_response(&mut kept).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        read_to_close(&mut kept).await.is_some(),
        "an idle kept-alive socket stayed open"
    );
}

#[tokio::test]
async fn a_body_that_never_comes_times_out_with_json() {
    let dir = tempfile::tempdir().unwrap();
    let h = hub(dir.path(), short(), 1000, |s| s).await;
    let mut s = TcpStream::connect(h.addr).await.unwrap();
    s.write_all(
        b"POST /v1/messages HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    )
    .await
    .unwrap();
    let answer = read_response(&mut s).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains(r#""error":"timeout""#), "{answer}");
}

#[tokio::test]
async fn connections_past_the_cap_wait_for_a_free_one() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        header_read_timeout: Duration::from_secs(60),
        max_connections: 2,
        ..Limits::default()
    };
    let h = hub(dir.path(), limits, 1000, |s| s).await;
    let a = TcpStream::connect(h.addr).await.unwrap();
    let _b = TcpStream::connect(h.addr).await.unwrap();
    // The kernel completes the handshake; the hub takes the connection only when a slot frees.
    let mut c = TcpStream::connect(h.addr).await.unwrap();
    c.write_all(b"GET /v1/key HTTP/1.1\r\nHost: hub\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_millis(500), c.read(&mut buf)).await;
    assert!(
        early.is_err(),
        "a third connection was served past a cap of two"
    );
    drop(a);
    let answer = read_response(&mut c).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn a_wrong_method_gets_a_json_405() {
    let dir = tempfile::tempdir().unwrap();
    let h = hub(dir.path(), short(), 1000, |s| s).await;
    let r = reqwest::Client::new()
        .delete(format!("{}/v1/key", h.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert!(r.headers().contains_key("allow"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "method_not_allowed", "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
}

async fn register(c: &reqwest::Client, url: &str, name: &str, key: &SigningKey) {
    let r = c
        .post(format!("{url}/v1/devices"))
        .bearer_auth(TOKEN)
        .json(&json!({"name": name, "clearance": 1,
            "public_key": hex::encode(key.verifying_key().as_bytes())}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}

fn signed(key: &SigningKey, from: &str, counter: u64) -> Value {
    let mut m = Message {
        sender: DeviceName::new(from).unwrap(),
        receiver: DeviceName::new(from).unwrap(),
        action: Action::Begin,
        tx: TxId(0),
        cause: None,
        counter,
        contents: "reading".into(),
        signature: [0; 64],
        form: m2mhub_core::message::Form::OneHub,
    };
    m.signature = key.sign(&m.signing_bytes()).to_bytes();
    serde_json::to_value(m.to_submission()).unwrap()
}

async fn tree_size(c: &reqwest::Client, url: &str) -> String {
    let note = c
        .get(format!("{url}/v1/checkpoint"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    note.lines().nth(1).unwrap().to_owned()
}

#[tokio::test]
async fn a_full_commit_queue_answers_503_with_retry_after_and_records_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // Two entries in flight at most: a batch of three never fits.
    let h = hub(dir.path(), short(), 2, |s| s).await;
    let c = reqwest::Client::new();
    let key = SigningKey::from_bytes(&[7; 32]);
    register(&c, &h.url, "meter", &key).await;
    let before = tree_size(&c, &h.url).await;
    let batch: Vec<Value> = (1..=3).map(|i| signed(&key, "meter", i)).collect();
    let r = c
        .post(format!("{}/v1/messages/batch", h.url))
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "busy", "{body}");
    assert_eq!(
        tree_size(&c, &h.url).await,
        before,
        "a refused batch was recorded"
    );
    // What fits still goes through.
    let r = c
        .post(format!("{}/v1/messages", h.url))
        .json(&signed(&key, "meter", 1))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// A batch of `n_bytes` of `{"a":1}` objects.
fn tiny_objects(n_bytes: usize) -> Vec<u8> {
    let mut b = Vec::with_capacity(n_bytes + 8);
    b.push(b'[');
    while b.len() < n_bytes {
        b.extend_from_slice(br#"{"a":1},"#);
    }
    b.extend_from_slice(br#"{"a":1}]"#);
    b
}

#[tokio::test]
async fn a_batch_of_millions_of_tiny_objects_is_refused_at_the_cap_and_counts_against_its_source() {
    let dir = tempfile::tempdir().unwrap();
    let h = hub(dir.path(), short(), 1000, |s| {
        s.with_failure_limit(1, 0.001)
    })
    .await;
    let c = reqwest::Client::new();
    // 60 MiB, ~7.8 million objects: the item cap stops the parse at item 10,001.
    let r = c
        .post(format!("{}/v1/messages/batch", h.url))
        .header("content-type", "application/json")
        .body(tiny_objects(60 << 20))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "malformed");
    assert!(
        body["message"].as_str().unwrap().contains("at most 10000"),
        "{body}"
    );
    // The refusal used the source's one allowed failure: the next submission is throttled.
    let r = c
        .post(format!("{}/v1/messages", h.url))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    // And the hub still answers everyone else's reads.
    let r = c.get(format!("{}/v1/key", h.url)).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn an_oversized_body_is_refused_while_reading_and_counts_against_its_source() {
    let dir = tempfile::tempdir().unwrap();
    let h = hub(dir.path(), short(), 1000, |s| {
        s.with_failure_limit(1, 0.001)
    })
    .await;
    let c = reqwest::Client::new();
    let r = c
        .post(format!("{}/v1/messages", h.url))
        .header("content-type", "application/json")
        .body(vec![b' '; m2mhub_server::BODY_LIMIT + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let r = c
        .post(format!("{}/v1/messages", h.url))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        429,
        "an oversized body did not count against its source"
    );
}

#[tokio::test]
async fn a_throttled_source_is_refused_before_its_body_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let h = hub(dir.path(), short(), 1000, |s| {
        s.with_failure_limit(1, 0.001)
    })
    .await;
    let c = reqwest::Client::new();
    let r = c
        .post(format!("{}/v1/messages", h.url))
        .json(&json!({"not": "a message"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Announce 60 MiB and send none of it: the answer must not wait for the body.
    let mut s = TcpStream::connect(h.addr).await.unwrap();
    s.write_all(
        b"POST /v1/messages/batch HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\nContent-Length: 62914560\r\n\r\n",
    )
    .await
    .unwrap();
    let answer = read_response(&mut s).await;
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
    assert!(answer.contains("too_many_failures"), "{answer}");
}

/// A throttled source's refusal leaves the router marked to be held back by the front door
/// (after its concurrency permit is released): at most [`m2mhub_server::gate::TARPIT_MAX`],
/// never on an answer to a source in good standing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_refusal_is_marked_to_be_held_back() {
    use axum::{body::Body, extract::ConnectInfo, http::Request};
    use m2mhub_server::gate::{TARPIT_MAX, Tarpit};
    use tower::ServiceExt;

    let tmp = tempfile::tempdir().unwrap();
    let ledger = common::ledger(tmp.path(), "m2mhub/frontdoor-test");
    let state = AppState::new(ledger, TOKEN.into())
        .unwrap()
        .with_failure_limit(1, 0.001);
    let app = m2mhub_server::router(state);
    let from = |last: u8, body: &'static str| {
        Request::post("/v1/messages")
            .header("content-type", "application/json")
            .extension(ConnectInfo(std::net::SocketAddr::from((
                [10, 0, 0, last],
                4000,
            ))))
            .body(Body::from(body))
            .unwrap()
    };
    let first = app.clone().oneshot(from(1, "{")).await.unwrap();
    assert_eq!(first.status(), 400);
    assert_eq!(first.extensions().get::<Tarpit>(), None);
    let throttled = app.clone().oneshot(from(1, "{")).await.unwrap();
    assert_eq!(throttled.status(), 429);
    let Some(Tarpit(d)) = throttled.extensions().get::<Tarpit>().copied() else {
        panic!("a 429 of the throttle is held back");
    };
    assert!(d > Duration::ZERO && d <= TARPIT_MAX, "{d:?}");
    let other = app.oneshot(from(2, "{")).await.unwrap();
    assert_eq!(
        (other.status().as_u16(), other.extensions().get::<Tarpit>()),
        (400, None),
        "another source is answered at once"
    );
}

async fn connect_from(last: u8, hub: std::net::SocketAddr) -> TcpStream {
    let s = tokio::net::TcpSocket::new_v4().unwrap();
    s.bind(std::net::SocketAddr::from(([127, 0, 0, last], 0)))
        .unwrap();
    s.connect(hub).await.unwrap()
}

/// True when the hub answers a first request on `s` (false when it closed the connection
/// instead). Reads only the start of the answer: one call per connection.
async fn served(s: &mut TcpStream) -> bool {
    if s.write_all(b"GET /v1/key HTTP/1.1\r\nHost: hub\r\n\r\n")
        .await
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(
        tokio::time::timeout(PATIENCE, s.read(&mut buf)).await,
        Ok(Ok(n)) if n > 0 && buf.starts_with(b"HTTP/1.1 200")
    )
}

#[tokio::test]
async fn one_source_cannot_hold_more_than_its_share_of_connections() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        header_read_timeout: Duration::from_secs(60),
        max_connections_per_source: 2,
        ..Limits::default()
    };
    let h = hub(dir.path(), limits, 1000, |s| s).await;
    let mut a = connect_from(2, h.addr).await;
    let mut b = connect_from(2, h.addr).await;
    assert!(served(&mut a).await && served(&mut b).await);
    let mut third = connect_from(2, h.addr).await;
    assert!(
        read_to_close(&mut third).await.is_some(),
        "a third connection from the same address is closed"
    );
    let mut other = connect_from(3, h.addr).await;
    assert!(served(&mut other).await, "another address is served");
    // Once one of the two closes, the address may connect again.
    drop(a);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let mut again = connect_from(2, h.addr).await;
        if served(&mut again).await {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never served again");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(b);
}
