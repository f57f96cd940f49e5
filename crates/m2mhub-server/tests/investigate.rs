//! Simulated devices (the hub signs with keys it holds) and the investigation routes:
//! which transactions reached a device, who began them, the misbehaving ranking.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

mod common;
mod fixture;
use fixture::*;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_devices_and_investigations() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = Hub::start(tmp.path()).await;
    let url = hub.url.clone();
    let c = Client::new();
    let post = |path: &str, body: Value| {
        c.post(format!("{url}{path}"))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
    };
    // Two devices whose keys the hub holds, one real device.
    for (name, clearance) in [("tv", 1), ("oven", 3)] {
        let r = post(
            "/v1/devices",
            json!({"name": name, "clearance": clearance, "simulated": true}),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let d: Value = r.json().await.unwrap();
        assert_eq!(d["simulated"], true);
        assert_eq!(d["key_fingerprint"].as_str().unwrap().len(), 16);
    }
    let real = device("phone", 5);
    let r = post("/v1/devices", json!({"name": "phone", "clearance": 3, "public_key": hex::encode(real.key.verifying_key().as_bytes())})).await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = post(
        "/v1/devices",
        json!({"name": "x", "clearance": 3, "public_key": "00", "simulated": true}),
    )
    .await
    .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "key and simulated are exclusive"
    );
    let r = post(
        "/v1/devices",
        json!({"name": "tv", "clearance": 3, "simulated": true}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    // Only the operator may send as a simulated device; the hub signs with its counter.
    let r = c
        .post(format!("{url}/v1/devices/tv/send"))
        .json(&json!({"receiver": "oven", "action": "begin", "contents": "oven on"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let first: Value = post(
        "/v1/devices/tv/send",
        json!({"receiver": "oven", "action": "begin", "contents": "oven on"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(first["notices"], json!(["insufficient_clearance"]));
    assert_eq!(first["counter"], 1);
    let next: Value = post("/v1/devices/oven/send", json!({"receiver": "tv", "action": "continue", "tx": first["tx"], "cause": first["seq"], "contents": "heating"})).await.unwrap().json().await.unwrap();
    assert_eq!(
        next["notices"],
        json!(["transaction_rejected", "not_a_participant", "bad_cause"])
    );
    let again: Value = post(
        "/v1/devices/tv/send",
        json!({"receiver": "phone", "action": "begin", "contents": "hello"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(
        (again["counter"].clone(), again["valid"].clone()),
        (json!(2), json!(false))
    );
    let r = post(
        "/v1/devices/phone/send",
        json!({"receiver": "tv", "action": "begin", "contents": "x"}),
    )
    .await
    .unwrap();
    assert_eq!(
        (
            r.status(),
            r.json::<Value>().await.unwrap()["error"].clone()
        ),
        (StatusCode::CONFLICT, json!("not_simulated"))
    );
    // The device list marks them.
    let list = get(&c, &format!("{url}/v1/devices")).await;
    let sims: Vec<_> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["simulated"] == true)
        .map(|d| d["name"].clone())
        .collect();
    assert_eq!(sims, [json!("tv"), json!("oven")]);
    // The ledger itself says the hub holds their keys: registration entries of their own kind.
    for (name, kind) in [
        ("tv", "simulated_device_registered"),
        ("phone", "device_registered"),
    ] {
        let d = get(&c, &format!("{url}/v1/devices/{name}")).await;
        let e = get(&c, &format!("{url}/v1/entries/{}", d["registered_seq"])).await;
        assert_eq!(e["kind"], kind, "{name}");
    }
    // Investigations: who made the oven act, and who misbehaves.
    let txs = get(&c, &format!("{url}/v1/devices/oven/transactions")).await;
    assert_eq!(txs["items"][0]["provenance"], "tv");
    assert_eq!(txs["items"][0]["invalid_to_device"], 1);
    let ranking = get(&c, &format!("{url}/v1/provenance/ranking")).await;
    assert_eq!(
        ranking["items"][0],
        json!({"provenance": "tv", "invalid_messages": 3})
    );
    let r = c
        .get(format!("{url}/v1/devices/ghost/transactions"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    hub.stop().await;
    // The hub keeps the keys: after a restart it still signs for them, counters continuing.
    let hub = Hub::start(tmp.path()).await;
    let r: Value = c
        .post(format!("{}/v1/devices/tv/send", hub.url))
        .bearer_auth(TOKEN)
        .json(&json!({"receiver": "tv", "action": "begin", "contents": "self"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (r["counter"].clone(), r["valid"].clone()),
        (json!(3), json!(true))
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(tmp.path().join("simulated/tv.key"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }
    hub.stop().await;
}

#[tokio::test]
async fn a_hub_started_without_simulated_devices_holds_no_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = Hub::start_with(tmp.path(), |mut s| {
        s.simulated = Arc::new(m2mhub_server::simulated::SimulatedKeys::none());
        s
    })
    .await;
    let r = Client::new()
        .post(format!("{}/v1/devices", hub.url))
        .bearer_auth(TOKEN)
        .json(&json!({"name": "tv", "clearance": 1, "simulated": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "simulated_disabled"
    );
    hub.stop().await;
}
