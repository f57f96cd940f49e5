//! `GET /v1/stats/rates` through HTTP, on the investigator's test ledger (`scenario/`):
//! counts per bucket of block time, for the ledger and for one device, defaults and errors.
#![allow(clippy::unwrap_used)]

mod common;
mod scenario;

use reqwest::StatusCode;
use scenario::{malformed, serve};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rates_count_messages_per_bucket_of_block_time() {
    let (_tmp, hub, api) = serve().await;
    let invalid = [6u64, 7, 8, 10, 15, 16, 18];
    let top_sent = [3u64, 5, 6, 8, 18];
    let top_caused = [6u64, 8, 18];
    let blocks = api.ok("/v1/blocks?limit=1000").await;
    let blocks = blocks["items"].as_array().unwrap().clone();
    // seq → its block's time.
    let time_of = |seq: u64| {
        let b = blocks
            .iter()
            .find(|b| {
                let f = b["first_seq"].as_u64().unwrap();
                (f..f + b["size"].as_u64().unwrap()).contains(&seq)
            })
            .unwrap();
        b["time_ms"].as_u64().unwrap()
    };
    let messages: Vec<u64> = vec![3, 4, 5, 6, 7, 8, 9, 10, 12, 15, 16, 18];
    let iso = m2mhub_ledger::record::format_time;
    let (t0, t1) = (time_of(3), time_of(18));
    for bucket in [60u64, 300, 3600, 86_400] {
        let ms = bucket * 1000;
        let q = format!(
            "/v1/stats/rates?from={}&to={}&bucket={bucket}",
            iso(t0),
            iso(t1)
        );
        let r = api.ok(&q).await;
        assert_eq!(
            (r["bucket"].as_u64(), r["from"].as_str(), r["to"].as_str()),
            (Some(bucket), Some(iso(t0).as_str()), Some(iso(t1).as_str()))
        );
        let first = t0 / ms * ms;
        let want: Vec<Value> = (0..=(t1 / ms - t0 / ms))
            .map(|i| {
                let start = first + i * ms;
                let inside = |s: &&u64| (start..start + ms).contains(&time_of(**s));
                let n = messages.iter().filter(inside).count();
                let bad = invalid.iter().filter(inside).count();
                json!({"start": iso(start), "messages": n, "invalid": bad})
            })
            .collect();
        assert_eq!(r["items"], json!(want), "{q}");

        let q = format!("{q}&provenance=top_level");
        let r = api.ok(&q).await;
        let want: Vec<Value> = (0..=(t1 / ms - t0 / ms))
            .map(|i| {
                let start = first + i * ms;
                let inside = |s: &&u64| (start..start + ms).contains(&time_of(**s));
                let sent = top_sent.iter().filter(inside).count();
                let caused = top_caused.iter().filter(inside).count();
                let sent = if bucket >= 3600 {
                    json!(sent)
                } else {
                    Value::Null
                };
                json!({"start": iso(start), "messages": sent, "invalid": caused})
            })
            .collect();
        assert_eq!(r["items"], json!(want), "{q}");
    }
    // Defaults: the last hour to now, in minutes (61 buckets whatever the alignment).
    let r = api.ok("/v1/stats/rates").await;
    assert_eq!(
        (r["bucket"].as_u64(), r["items"].as_array().unwrap().len()),
        (Some(60), 61)
    );
    let total: u64 = r["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["messages"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 12);
    let r = api
        .ok("/v1/stats/rates?from=2026-01-01T00:00:00Z&to=2026-01-03T00:00:00Z")
        .await;
    assert_eq!(
        (r["bucket"].as_u64(), r["items"].as_array().unwrap().len()),
        (Some(3600), 49)
    );

    malformed(
        &api,
        "/v1/stats/rates?bucket=61",
        "bucket must be 60, 300, 3600 or 86400",
    )
    .await;
    malformed(
        &api,
        "/v1/stats/rates?from=2026-01-01T00:00:00Z&to=2026-01-03T00:00:00Z&bucket=60",
        "at most 1440",
    )
    .await;
    malformed(
        &api,
        "/v1/stats/rates?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
        "from is later than to",
    )
    .await;
    malformed(&api, "/v1/stats/rates?to=noon", "to must be a UTC time").await;
    let (s, v) = api.get("/v1/stats/rates?provenance=nobody").await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("unknown_device"))
    );
    hub.stop().await;
}
