//! The investigator's routes (issue 12) through HTTP, on a ledger the test builds through the
//! API (`scenario/`): `GET /v1/incidents`, `GET /v1/messages` with `order`, `from`/`to`,
//! `provenance`, `leaf_hash` and `total`, the devices' activity counts,
//! `GET /v1/devices/{name}/history` and `/transactions?begun=true`: exact answers, paging
//! across pages, bounds and errors.
#![allow(clippy::unwrap_used)]

mod common;
mod scenario;

use reqwest::StatusCode;
use scenario::{malformed, seqs, serve};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_group_invalid_messages_newest_first_and_page() {
    let (_tmp, hub, api) = serve().await;
    let page = api.ok("/v1/incidents").await;
    assert_eq!(
        (
            page["total_groups"].as_u64(),
            page["total_invalid"].as_u64()
        ),
        (Some(7), Some(7))
    );
    assert_eq!(page["next"], Value::Null);
    let items = page["items"].as_array().unwrap();
    for i in items {
        assert!(i["last_time"].as_str().unwrap().ends_with('Z'), "{i}");
    }
    let strip = |i: &Value| {
        let mut i = i.clone();
        i.as_object_mut().unwrap().remove("last_time");
        i
    };
    let got: Vec<Value> = items.iter().map(strip).collect();
    let tx = |tx: u64, prov: &str, state: &str, mc: u64, seq: u64, notice: &str| {
        json!({"kind": "transaction", "tx": tx, "provenance": prov, "state": state,
            "invalid_count": 1, "message_count": mc, "first_invalid_seq": seq,
            "last_invalid_seq": seq, "notices": [notice]})
    };
    let none = |sender: &str, seq: u64| {
        json!({"kind": "no_transaction", "sender": sender, "invalid_count": 1,
            "first_invalid_seq": seq, "last_invalid_seq": seq,
            "notices": ["unknown_transaction"]})
    };
    let want = vec![
        tx(6, "top_level", "rejected", 1, 18, "receiver_revoked"),
        none("low_level", 16),
        tx(5, "mid_level", "rejected", 1, 15, "insufficient_clearance"),
        tx(3, "mid_level", "open", 2, 10, "insufficient_clearance"),
        none("top_level", 8),
        tx(2, "low_level", "rejected", 1, 7, "insufficient_clearance"),
        tx(1, "top_level", "closed", 4, 6, "transaction_closed"),
    ];
    assert_eq!(got, want);
    let (paged, cursors) = api.pages("/v1/incidents?", 3).await;
    assert_eq!(paged.iter().map(strip).collect::<Vec<_>>(), want);
    assert_eq!(cursors, [Some(15), Some(7), None]);
    let one = api.ok("/v1/incidents?after=16&limit=1").await;
    assert_eq!(
        (one["items"][0]["tx"].as_u64(), one["next"].as_u64()),
        (Some(5), Some(15))
    );
    for bad in ["limit=0", "limit=1001", "after=-1", "before=3"] {
        let (s, _) = api.get(&format!("/v1/incidents?{bad}")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
    }
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_page_newest_first_by_time_and_provenance_with_totals() {
    let (_tmp, hub, api) = serve().await;
    let all: Vec<u64> = vec![3, 4, 5, 6, 7, 8, 9, 10, 12, 15, 16, 18];
    let page = api.ok("/v1/messages").await;
    assert_eq!(
        (
            seqs(page["items"].as_array().unwrap()),
            page["total"].as_u64()
        ),
        (all.clone(), Some(12))
    );
    // Newest first, paged by 5: `after` is then "older than".
    let (items, cursors) = api.pages("/v1/messages?order=desc", 5).await;
    let mut rev = all.clone();
    rev.reverse();
    assert_eq!(seqs(&items), rev);
    assert_eq!(cursors, [Some(10), Some(5), None]);
    let (items, _) = api.pages("/v1/messages?order=asc", 5).await;
    assert_eq!(seqs(&items), all);

    // Totals come from counters when one knows them; null otherwise.
    for (q, total) in [
        ("tx=1", Some(4)),
        ("device=mid_level", Some(5)),
        ("device=nobody", Some(0)),
        ("valid=false", Some(7)),
        ("valid=true", Some(5)),
        ("provenance=top_level&valid=false", Some(3)),
        ("tx=3&valid=false", None),
        ("device=low_level&valid=true", None),
    ] {
        let p = api.ok(&format!("/v1/messages?{q}")).await;
        assert_eq!(p["total"].as_u64(), total, "{q}: {p}");
    }
    let caused = api
        .ok("/v1/messages?provenance=top_level&valid=false&order=desc")
        .await;
    assert_eq!(seqs(caused["items"].as_array().unwrap()), [18, 8, 6]);
    let (items, cursors) = api
        .pages("/v1/messages?provenance=mid_level&valid=false", 1)
        .await;
    assert_eq!(
        (seqs(&items), cursors),
        (vec![10, 15], vec![Some(10), Some(15), None])
    );

    // A time range keeps the blocks sealed in it: each block's own time selects it alone
    // or with blocks sealed in the same millisecond.
    let blocks = api.ok("/v1/blocks?limit=1000").await;
    let blocks = blocks["items"].as_array().unwrap();
    let time = |b: &Value| b["time_ms"].as_u64().unwrap();
    let iso = |ms: u64| m2mhub_ledger::record::format_time(ms);
    for b in blocks.iter().filter(|b| b["size"].as_u64() > Some(0)) {
        let t = time(b);
        let want: Vec<u64> = all
            .iter()
            .copied()
            .filter(|s| {
                blocks.iter().any(|o| {
                    time(o) == t
                        && (o["first_seq"].as_u64().unwrap()
                            ..o["first_seq"].as_u64().unwrap() + o["size"].as_u64().unwrap())
                            .contains(s)
                })
            })
            .collect();
        let p = api
            .ok(&format!("/v1/messages?from={}&to={}", iso(t), iso(t)))
            .await;
        assert_eq!(
            seqs(p["items"].as_array().unwrap()),
            want,
            "block {}",
            b["height"]
        );
        assert_eq!(p["total"], Value::Null);
    }
    let last = time(blocks.last().unwrap());
    let p = api
        .ok(&format!("/v1/messages?from={}", iso(last + 1)))
        .await;
    assert_eq!(p["items"], json!([]));
    let first = time(&blocks[0]);
    let seconds = iso(first - first % 1000).replace(".000Z", "Z");
    let p = api
        .ok(&format!("/v1/messages?from={seconds}&order=desc&limit=2"))
        .await;
    assert_eq!(
        (seqs(p["items"].as_array().unwrap()), p["next"].as_u64()),
        (vec![18, 16], Some(16))
    );

    malformed(
        &api,
        "/v1/messages?from=yesterday",
        "from must be a UTC time like",
    )
    .await;
    malformed(
        &api,
        "/v1/messages?to=2026-01-31T09:30:00",
        "to must be a UTC time",
    )
    .await;
    malformed(
        &api,
        "/v1/messages?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
        "from is later than to",
    )
    .await;
    malformed(
        &api,
        "/v1/messages?provenance=top_level",
        "give valid=false",
    )
    .await;
    malformed(&api, "/v1/messages?order=desc&before=5", "not both").await;
    malformed(&api, "/v1/messages?order=sideways", "order").await;
    malformed(&api, "/v1/messages?limit=0", "limit").await;
    malformed(&api, "/v1/messages?limit=1001", "limit").await;
    // A leaf hash finds its message through the index, alone.
    let r10 = api.ok("/v1/messages/10").await;
    let leaf = r10["leaf_hash"].as_str().unwrap();
    let found = api.ok(&format!("/v1/messages?leaf_hash={leaf}")).await;
    assert_eq!(found, json!({"items": [r10], "next": null, "total": 1}));
    let upper = api
        .ok(&format!("/v1/messages?leaf_hash={}", leaf.to_uppercase()))
        .await;
    assert_eq!(upper["items"][0]["seq"], 10);
    let registry = api.ok("/v1/entries/1").await;
    let none = format!(
        "/v1/messages?leaf_hash={}",
        registry["leaf_hash"].as_str().unwrap()
    );
    assert_eq!(
        api.ok(&none).await,
        json!({"items": [], "next": null, "total": 0})
    );
    let zeros = api
        .ok(&format!("/v1/messages?leaf_hash={}", "0".repeat(64)))
        .await;
    assert_eq!(zeros["items"], json!([]));
    for other in [
        "tx=3",
        "valid=false",
        "device=low_level",
        "after=2",
        "from=2026-01-01T00:00:00Z",
    ] {
        malformed(
            &api,
            &format!("/v1/messages?leaf_hash={leaf}&{other}"),
            "give it alone",
        )
        .await;
    }
    malformed(
        &api,
        "/v1/messages?leaf_hash=abc",
        "leaf_hash must be 32 bytes",
    )
    .await;
    malformed(
        &api,
        &format!("/v1/messages?leaf_hash={}", "g".repeat(64)),
        "leaf_hash is not valid hex",
    )
    .await;
    let (s, v) = api.get("/v1/messages?provenance=nobody&valid=false").await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("unknown_device"))
    );
    hub.stop().await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_show_activity_history_and_the_transactions_they_began() {
    let (_tmp, hub, api) = serve().await;
    let counts = |d: &Value| {
        json!([
            d["sent"],
            d["received"],
            d["invalid_caused"],
            d["transactions_begun"],
            d["last_seen"]["seq"]
        ])
    };
    let want = [
        ("low_level", json!([5, 4, 2, 2, 16])),
        ("mid_level", json!([2, 3, 2, 2, 15])),
        ("top_level", json!([5, 5, 3, 2, 18])),
    ];
    let list = api.ok("/v1/devices").await;
    for (i, (name, c)) in want.iter().enumerate() {
        let d = api.ok(&format!("/v1/devices/{name}")).await;
        assert_eq!(counts(&d), *c, "{name}");
        assert!(d["last_seen"]["time"].as_str().unwrap().ends_with('Z'));
        assert_eq!(counts(&list["items"][i]), *c, "{name} in the list");
    }

    let (items, cursors) = api.pages("/v1/devices/top_level/history?", 2).await;
    assert_eq!(cursors, [Some(11), None]);
    for i in &items {
        assert!(i["time"].as_str().unwrap().ends_with('Z'));
    }
    let mut items = items;
    for i in &mut items {
        i.as_object_mut().unwrap().remove("time");
        if let Some(k) = i.get_mut("public_key") {
            *k = json!("key");
        }
    }
    assert_eq!(
        json!(items),
        json!([
            {"seq": 2, "kind": "register", "clearance": 3, "public_key": "key", "exceptions": []},
            {"seq": 11, "kind": "grant", "by": "low_level"},
            {"seq": 13, "kind": "withdraw", "by": "low_level"},
        ])
    );
    let low = api.ok("/v1/devices/low_level/history?after=0").await;
    let kinds: Vec<Value> = low["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| json!([i["seq"], i["kind"], i["of"]]))
        .collect();
    assert_eq!(
        json!(kinds),
        json!([[11, "grant", "top_level"], [13, "withdraw", "top_level"]])
    );
    let mid = api.ok("/v1/devices/mid_level/history").await;
    let rekey = &mid["items"][1];
    assert_eq!(
        (
            rekey["kind"].as_str(),
            rekey["public_key"].as_str().map(str::len)
        ),
        (Some("rekey"), Some(64))
    );
    assert_eq!(mid["items"][2]["kind"], "revoke");

    let (begun, cursors) = api
        .pages("/v1/devices/mid_level/transactions?begun=true", 1)
        .await;
    let got: Vec<Value> = begun
        .iter()
        .map(|t| {
            json!([
                t["tx"],
                t["state"],
                t["last_seq"],
                t["message_count"],
                t["invalid_count"]
            ])
        })
        .collect();
    assert_eq!(
        json!(got),
        json!([[5, "rejected", 15, 1, 1], [3, "open", 9, 2, 1]])
    );
    assert_eq!(cursors, [Some(15), Some(9), None]);
    let reached = api.ok("/v1/devices/mid_level/transactions").await;
    assert!(reached["items"][0].get("message_count").is_none());

    for path in [
        "/v1/devices/nobody",
        "/v1/devices/nobody/history",
        "/v1/devices/nobody/transactions?begun=true",
    ] {
        let (s, v) = api.get(path).await;
        assert_eq!(
            (s, v["error"].as_str()),
            (StatusCode::NOT_FOUND, Some("unknown_device")),
            "{path}"
        );
    }
    // The schema's maxItems holds, duplicates or not (schemathesis found 4,000+ copies of one
    // name accepted).
    let body = json!({"name": "crowded", "clearance": 1, "simulated": true,
        "exceptions": vec!["low_level"; 4097]});
    let r = api
        .c
        .post(format!("{}/v1/devices", api.url))
        .bearer_auth(scenario::TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("at most 4096 exceptions"),
        "{v}"
    );
    for q in ["limit=0", "limit=1001", "after=x"] {
        let (s, _) = api.get(&format!("/v1/devices/top_level/history?{q}")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{q}");
    }
    hub.stop().await;
}
