//! `m2mhub status` against a real `serve` process: readiness, size, last block and its time,
//! anchoring off, disk from the hub's metrics and from `--data`, as text and as JSON; a hub
//! that is not ready fails it; a hub that does not answer and a data directory that does not
//! exist are clear errors. (An anchoring hub's lag: `chain.rs`.)
#![allow(clippy::unwrap_used)]

mod common;

use common::{TOKEN, m2mhub, serve, signed, stop};
use ed25519_dalek::SigningKey;
use m2mhub_core::message::Action;
use serde_json::{Value, json};

/// Registers two devices and sends one message: 3 entries, one block each.
fn populate(url: &str) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = reqwest::Client::new();
        let (fan, hub) = (
            SigningKey::from_bytes(&[5; 32]),
            SigningKey::from_bytes(&[6; 32]),
        );
        for (name, key) in [("fan", &fan), ("thermostat", &hub)] {
            let body = json!({"name": name, "clearance": 1,
                "public_key": hex::encode(key.verifying_key().as_bytes())});
            let r = c
                .post(format!("{url}/v1/devices"))
                .bearer_auth(TOKEN)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
        }
        let m = signed(&fan, "fan", "thermostat", Action::Begin, 0, None, 1);
        let r = c
            .post(format!("{url}/v1/messages"))
            .json(&m)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    });
}

#[test]
fn status_reports_size_last_block_anchoring_and_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let data_s = data.to_str().unwrap();
    let (hub, url) = serve(&data);
    populate(&url);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let checkpoint = rt.block_on(async {
        let r = reqwest::get(format!("{url}/v1/checkpoint")).await.unwrap();
        r.text().await.unwrap()
    });
    let block: u64 = checkpoint
        .lines()
        .find_map(|l| l.strip_prefix("block ")?.split(' ').next()?.parse().ok())
        .unwrap();

    let (ok, text) = m2mhub(&["status", "--url", &url, "--data", data_s]);
    let (ok_json, out) = m2mhub(&["status", "--url", &url, "--data", data_s, "--json"]);
    stop(hub);
    assert!(ok, "{text}");
    for want in [
        format!("hub        {url} (m2mhub/cli-test)\n"),
        "ready      yes\n".to_owned(),
        "size       3 entries\n".to_owned(),
        format!("last block {block} at 20"),
        "anchor lag anchoring off\n".to_owned(),
        format!(" in {data_s}, store "),
        " free of ".to_owned(),
    ] {
        assert!(text.contains(&want), "want {want:?} in:\n{text}");
    }
    assert!(ok_json, "{out}");
    let s: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (&s["ready"], &s["tree_size"], &s["last_block"]["height"]),
        (&json!(true), &json!(3), &json!(block)),
        "{s}"
    );
    assert_eq!(s["anchor_lag_entries"], Value::Null, "{s}");
    let n = |v: &Value| v.as_u64().unwrap_or_else(|| panic!("not a number: {s}"));
    let (store, dir, free, size) = (
        n(&s["disk"]["store_bytes"]),
        n(&s["disk"]["data_dir_bytes"]),
        n(&s["disk"]["free_bytes"]),
        n(&s["disk"]["size_bytes"]),
    );
    assert!(store > 0 && dir > 0 && free <= size, "{s}");
    assert!(
        s["last_block"]["time"].as_str().unwrap().ends_with('Z'),
        "{s}"
    );

    // The hub is gone now: a clear error, non-zero exit.
    let (ok, out) = m2mhub(&["status", "--url", &url]);
    assert!(!ok && out.contains("error: GET"), "{out}");
    // So is a data directory that is not there, before any request.
    let missing = tmp.path().join("nowhere");
    let (ok, out) = m2mhub(&["status", "--url", &url, "--data", missing.to_str().unwrap()]);
    assert!(
        !ok && out.contains("reading") && out.contains("nowhere"),
        "{out}"
    );
}

#[test]
fn status_fails_when_the_hub_is_not_ready() {
    // A hub in this process that has begun to shut down: /readyz answers 503 shutting_down.
    let tmp = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let config = m2mhub_ledger::LedgerConfig {
        origin: Some("m2mhub/status-test".into()),
        default_origin: String::new(),
    };
    let dir = m2mhub_ledger::DataDir::create(tmp.path()).unwrap();
    let ledger = std::sync::Arc::new(m2mhub_ledger::Ledger::open(&dir, &config).unwrap());
    let state = m2mhub_server::AppState::new(ledger, TOKEN.into()).unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (url, served) = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let served = tokio::spawn(m2mhub_server::run(listener, state.clone(), async {
            let _ = stop_rx.await;
        }));
        (url, served)
    });
    state.close();
    let (ok, text) = m2mhub(&["status", "--url", &url]);
    let (ok_json, out) = m2mhub(&["status", "--url", &url, "--json"]);
    let _ = stop_tx.send(());
    rt.block_on(served).unwrap().unwrap();
    assert!(
        !ok && text.contains("ready      NO (shutting_down)\n"),
        "{text}"
    );
    assert!(!ok_json, "{out}");
    let s: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (&s["ready"], &s["not_ready"]),
        (&json!(false), &json!("shutting_down")),
        "{s}"
    );
}
