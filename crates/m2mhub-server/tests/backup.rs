//! `GET /v1/backup` on a real hub: operator only (401 without the token or with a wrong one,
//! and a JSON error, not a byte of the ledger); with the token, a backup whose framing,
//! counts and digest hold and whose trailer is the hub's checkpoint, without the hub's key.
#![allow(clippy::unwrap_used)]

mod common;

use m2mhub_ledger::backup;
use m2mhub_server::{AppState, Limits};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const TOKEN: &str = "backup-test-token";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backup_route_is_the_operators_and_serves_a_whole_backup() {
    let tmp = tempfile::tempdir().unwrap();
    let ledger = common::ledger(tmp.path(), "m2mhub/backup-route");
    let hub = common::Hub::serve(
        AppState::new(ledger.clone(), TOKEN.into()).unwrap(),
        Limits::default(),
    )
    .await;
    let c = Client::new();
    let key = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
    let r = c
        .post(format!("{}/v1/devices", hub.url))
        .bearer_auth(TOKEN)
        .json(&json!({"name": "lamp", "clearance": 1,
            "public_key": hex::encode(key.verifying_key().as_bytes())}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);

    let url = format!("{}/v1/backup", hub.url);
    for req in [c.get(&url), c.get(&url).bearer_auth("not-the-token")] {
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "unauthorized", "{body}");
    }

    let r = c.get(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
    let bytes = r.bytes().await.unwrap();
    let scanned = backup::scan(bytes.as_ref()).unwrap();
    assert_eq!(scanned.header.tree_size, 1);
    assert_eq!(scanned.header.origin, "m2mhub/backup-route");
    assert_eq!(scanned.trailer.checkpoint, ledger.checkpoint());
    // The hub's signing key is the operator's to copy, never served.
    let secret = std::fs::read_to_string(tmp.path().join("hub-key")).unwrap();
    let secret = secret.trim();
    assert_eq!(secret.len(), 64);
    let body = String::from_utf8_lossy(&bytes);
    assert!(!body.contains(secret) && !body.contains(&secret.to_uppercase()));
    hub.stop().await;
}
