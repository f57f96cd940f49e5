//! Floods of forged and replayed messages: capped per source, while well-behaved devices
//! still get through.
#![allow(clippy::unwrap_used)]

use m2mhub_core::message::Action;

mod common;
mod fixture;
use fixture::*;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_forgeries_is_capped_per_source_and_devices_still_get_through() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = Hub::start_with(tmp.path(), |s| s.with_failure_limit(5, 0.01)).await;
    let url = hub.url.clone();
    let device_client = Client::new();
    // The forger connects from another loopback address: another source.
    let forger = Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let mut lamp = device("lamp", 1);
    let mut switch = device("switch", 2);
    register(&device_client, &url, &lamp, 1).await;
    register(&device_client, &url, &switch, 1).await;
    let before = tree_size(&device_client, &url).await;

    let mut forged = device("lamp", 66); // the lamp's name, someone else's key
    for i in 0..5 {
        let (s, r) = send(
            &forger,
            &url,
            &sign(&mut forged, "switch", Action::Begin, 0, None),
        )
        .await;
        assert_eq!(
            (s, r["error"].clone()),
            (StatusCode::UNAUTHORIZED, json!("bad_signature")),
            "forgery {i}"
        );
    }
    // Its allowance is spent: refused before any signature check, even when well signed,
    // and whole batches too.
    let (s, r) = send(
        &forger,
        &url,
        &sign(&mut forged, "switch", Action::Begin, 0, None),
    )
    .await;
    assert_eq!(
        (s, r["error"].clone()),
        (StatusCode::TOO_MANY_REQUESTS, json!("too_many_failures"))
    );
    let (s, _) = send(
        &forger,
        &url,
        &sign(&mut switch, "lamp", Action::Begin, 0, None),
    )
    .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    let r = forger
        .post(format!("{url}/v1/messages/batch"))
        .json(&json!([sign(&mut switch, "lamp", Action::Begin, 0, None)]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // Garbage counts too.
    let r = Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 3]))
        .build()
        .unwrap();
    for _ in 0..5 {
        let x = r
            .post(format!("{url}/v1/messages"))
            .header("content-type", "application/json")
            .body("{")
            .send()
            .await
            .unwrap();
        assert_eq!(x.status(), StatusCode::BAD_REQUEST);
    }
    let x = r
        .post(format!("{url}/v1/messages"))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(x.status(), StatusCode::TOO_MANY_REQUESTS);

    // The real device, from its own address, is not starved.
    let (s, r) = send(
        &device_client,
        &url,
        &sign(&mut lamp, "switch", Action::Begin, 0, None),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(
        tree_size(&device_client, &url).await,
        before + 1,
        "only the lamp's message is recorded"
    );
    let m = device_client
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        m.contains("m2mhub_refusals_total{code=\"too_many_failures\"} 4"),
        "{m}"
    );
    hub.stop().await;
}

/// Records are public, so anyone can replay them: each is answered with its original, but a
/// request that records nothing new takes one failure from its source's allowance, so a replay
/// flood from one source is capped like a forgery flood; a batch that records something, and a
/// device's occasional retry, are not charged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_replays_is_capped_per_source() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = Hub::start_with(tmp.path(), |s| s.with_failure_limit(5, 0.01)).await;
    let url = hub.url.clone();
    let device_client = Client::new();
    let from = |last: u8| {
        Client::builder()
            .local_address(std::net::IpAddr::from([127, 0, 0, last]))
            .build()
            .unwrap()
    };
    let mut lamp = device("lamp", 1);
    let switch = device("switch", 2);
    register(&device_client, &url, &lamp, 1).await;
    register(&device_client, &url, &switch, 1).await;
    let recorded = sign(&mut lamp, "switch", Action::Begin, 0, None);
    let (s, original) = send(&device_client, &url, &recorded).await;
    assert_eq!(s, StatusCode::OK);

    let replayer = from(4);
    for i in 0..5 {
        let (s, r) = send(&replayer, &url, &recorded).await;
        assert_eq!(s, StatusCode::OK, "replay {i}");
        assert_eq!(
            (&r["seq"], &r["duplicate"]),
            (&original["seq"], &json!(true))
        );
    }
    let (s, r) = send(&replayer, &url, &recorded).await;
    assert_eq!(
        (s, r["error"].clone()),
        (StatusCode::TOO_MANY_REQUESTS, json!("too_many_failures"))
    );

    // Batches: one that records something is not charged, one of copies only is.
    let gateway = from(5);
    let batch = |c: &Client, items: Value| {
        c.post(format!("{url}/v1/messages/batch"))
            .json(&items)
            .send()
    };
    for _ in 0..8 {
        let fresh = sign(&mut lamp, "switch", Action::Begin, 0, None);
        let r = batch(&gateway, json!([recorded, fresh])).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    for _ in 0..5 {
        let r = batch(&gateway, json!([recorded, recorded])).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    let r = batch(&gateway, json!([recorded])).await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);

    // The device's own retry, from its own address, is answered.
    let (s, r) = send(&device_client, &url, &recorded).await;
    assert_eq!((s, &r["duplicate"]), (StatusCode::OK, &json!(true)));
    hub.stop().await;
}
