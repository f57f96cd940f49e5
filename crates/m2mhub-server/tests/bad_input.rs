//! Every class of bad input gets a clear error and records nothing.
#![allow(clippy::unwrap_used)]

use ed25519_dalek::SigningKey;
use m2mhub_core::message::Action;

mod common;
mod fixture;
use fixture::*;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_class_of_bad_input_gets_a_clear_error_and_records_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = Hub::start(tmp.path()).await;
    let url = hub.url.clone();
    let c = Client::new();
    let mut a = device("a", 1);
    let b = device("b", 2);
    register(&c, &url, &a, 1).await;
    register(&c, &url, &b, 1).await;
    let before = tree_size(&c, &url).await;
    let good = sign(&mut a, "b", Action::Begin, 0, None);
    let with = |field: &str, v: Value| {
        let mut m = good.clone();
        m[field] = v;
        m
    };
    let without = |field: &str| {
        let mut m = good.clone();
        m.as_object_mut().unwrap().remove(field);
        m
    };
    let raw = |body: &str| body.to_owned();
    // 400 malformed, each of them.
    let malformed: Vec<(&str, String)> = vec![
        ("empty body", raw("")),
        ("not JSON", raw("{\"sender\":")),
        ("null", raw("null")),
        ("an array", raw("[]")),
        ("deeply nested", "[".repeat(100_000)),
        ("counter as string", with("counter", json!("1")).to_string()),
        ("negative counter", with("counter", json!(-1)).to_string()),
        (
            "counter 2^64",
            good.to_string()
                .replace("\"counter\":1", "\"counter\":18446744073709551616"),
        ),
        (
            "fractional counter",
            with("counter", json!(1.5)).to_string(),
        ),
        (
            "unknown action",
            with("action", json!("explode")).to_string(),
        ),
        ("action number 7", with("action", json!(7)).to_string()),
        (
            "short signature",
            with("signature", json!("00")).to_string(),
        ),
        (
            "non-hex signature",
            with("signature", json!("zz".repeat(64))).to_string(),
        ),
        ("missing signature", without("signature").to_string()),
        ("missing sender", without("sender").to_string()),
        ("missing counter", without("counter").to_string()),
        ("accented name", with("sender", json!("dévice")).to_string()),
        ("emoji name", with("receiver", json!("🔒")).to_string()),
        ("NUL in name", with("receiver", json!("b\u{0}")).to_string()),
        (
            "right-to-left override",
            with("receiver", json!("b\u{202e}")).to_string(),
        ),
        ("empty name", with("sender", json!("")).to_string()),
        (
            "65-character name",
            with("receiver", json!("x".repeat(65))).to_string(),
        ),
        (
            "contents over 16 KiB",
            with("contents", json!("x".repeat(16 * 1024 + 1))).to_string(),
        ),
        (
            "lone surrogate in contents",
            good.to_string()
                .replace("\"contents\":\"", "\"contents\":\"\\ud800"),
        ),
        ("cause as string", with("cause", json!("3")).to_string()),
    ];
    let mut cases: Vec<(&str, String, StatusCode, &str)> = malformed
        .into_iter()
        .map(|(w, b)| (w, b, StatusCode::BAD_REQUEST, "malformed"))
        .collect();
    cases.extend([
        (
            "body over the cap",
            format!("\"{}\"", "x".repeat(m2mhub_server::BODY_LIMIT)),
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
        ),
        (
            "contents edited after signing",
            with("contents", json!("other")).to_string(),
            StatusCode::UNAUTHORIZED,
            "bad_signature",
        ),
        (
            "a name with another's key",
            with("sender", json!("b")).to_string(),
            StatusCode::UNAUTHORIZED,
            "bad_signature",
        ),
        (
            "unknown sender",
            with("sender", json!("nobody")).to_string(),
            StatusCode::UNAUTHORIZED,
            "unknown_sender",
        ),
    ]);
    for (what, body, status, code) in cases {
        let r = c
            .post(format!("{url}/v1/messages"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let got_status = r.status();
        let body: Value = r
            .json()
            .await
            .unwrap_or_else(|e| panic!("{what}: error body is not JSON: {e}"));
        assert_eq!(
            (got_status, body["error"].as_str().unwrap_or("")),
            (status, code),
            "{what}: {body}"
        );
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: no message"
        );
    }
    // Registration: the operator token and the registry's own rules.
    let reg = |body: Value, token: Option<&str>| {
        let mut r = c.post(format!("{url}/v1/devices")).json(&body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    let pk = hex::encode(SigningKey::from_bytes(&[7; 32]).verifying_key().as_bytes());
    for (what, body, token, status, code) in [
        (
            "no token",
            json!({"name": "c", "clearance": 1, "public_key": pk}),
            None,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        (
            "wrong token",
            json!({"name": "c", "clearance": 1, "public_key": pk}),
            Some("nope"),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        (
            "token prefix",
            json!({"name": "c", "clearance": 1, "public_key": pk}),
            Some(&TOKEN[..4]),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        (
            "clearance 2^32",
            json!({"name": "c", "clearance": 4_294_967_296u64, "public_key": pk}),
            Some(TOKEN),
            StatusCode::BAD_REQUEST,
            "malformed",
        ),
        (
            "31-byte key",
            json!({"name": "c", "clearance": 1, "public_key": &pk[2..]}),
            Some(TOKEN),
            StatusCode::BAD_REQUEST,
            "malformed",
        ),
        (
            "unicode name",
            json!({"name": "ça", "clearance": 1, "public_key": pk}),
            Some(TOKEN),
            StatusCode::BAD_REQUEST,
            "malformed",
        ),
        (
            "bad exception name",
            json!({"name": "c", "clearance": 1, "public_key": pk, "exceptions": ["a b"]}),
            Some(TOKEN),
            StatusCode::BAD_REQUEST,
            "malformed",
        ),
        (
            "unknown field",
            json!({"name": "c", "clearance": 1, "public_key": pk, "admin": true}),
            Some(TOKEN),
            StatusCode::BAD_REQUEST,
            "malformed",
        ),
    ] {
        let r = reg(body, token).await.unwrap();
        let got = r.status();
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            (got, body["error"].as_str().unwrap_or("")),
            (status, code),
            "{what}: {body}"
        );
    }
    // Query strings and paths.
    for (path, status) in [
        ("/v1/messages?limit=abc", StatusCode::BAD_REQUEST),
        ("/v1/messages?tx=-1", StatusCode::BAD_REQUEST),
        ("/v1/messages?bogus=1", StatusCode::BAD_REQUEST),
        ("/v1/messages/18446744073709551616", StatusCode::BAD_REQUEST),
        ("/v1/messages/99999", StatusCode::NOT_FOUND),
        // No such proof: 404, as the OpenAPI document says (only what it calls invalid is 400).
        (
            "/v1/proof/inclusion?seq=5&tree_size=2",
            StatusCode::NOT_FOUND,
        ),
        ("/v1/proof/consistency?from=9&to=2", StatusCode::NOT_FOUND),
        ("/v1/proof/consistency?from=0&to=2", StatusCode::BAD_REQUEST),
        (
            "/v1/proof/inclusion?seq=0&tree_size=0",
            StatusCode::BAD_REQUEST,
        ),
        ("/v1/devices/%F0%9F%94%92", StatusCode::NOT_FOUND),
    ] {
        let r = c.get(format!("{url}{path}")).send().await.unwrap();
        let got = r.status();
        let body: Value = r.json().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(got, status, "{path}: {body}");
        assert!(body["error"].is_string(), "{path}: {body}");
    }
    assert_eq!(
        tree_size(&c, &url).await,
        before,
        "bad input recorded something"
    );
    // And the hub still takes good input.
    let (s, _) = send(&c, &url, &good).await;
    assert_eq!(s, StatusCode::OK);
    hub.stop().await;
}
