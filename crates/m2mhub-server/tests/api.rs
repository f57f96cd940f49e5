//! The HTTP API end to end: a real server on 127.0.0.1:0 over a real data directory. Registers
//! devices, sends the paper's scenario, fetches proofs and verifies
//! them against the signed checkpoint, then restarts on the same directory and finds
//! everything again.
#![allow(clippy::unwrap_used)]

use m2mhub_core::{
    checkpoint::Checkpoint, hash::Hash, merkle, message::Action, note::NoteVerifier,
};

mod common;
mod fixture;
use fixture::*;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = Hub::start(tmp.path()).await;
    let url = hub.url.clone();
    let c = Client::new();
    let mut low = device("low_level", 1);
    let mut mid = device("mid_level", 2);
    let mut top = device("top_level", 3);

    // Operator routes need the token.
    let reg = |d: &Device, clearance: u32| json!({"name": d.name, "clearance": clearance, "public_key": hex::encode(d.key.verifying_key().as_bytes())});
    let r = c
        .post(format!("{url}/v1/devices"))
        .json(&reg(&low, 1))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "unauthorized");
    let r = c
        .post(format!("{url}/v1/devices"))
        .bearer_auth("wrong")
        .json(&reg(&low, 1))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    for (d, cl) in [(&low, 1), (&mid, 2), (&top, 3)] {
        let r = c
            .post(format!("{url}/v1/devices"))
            .bearer_auth(TOKEN)
            .json(&reg(d, cl))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["name"], d.name);
        assert_eq!(body["status"], "active");
    }
    let post_device = |body: Value| {
        c.post(format!("{url}/v1/devices"))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
    };
    let r = post_device(reg(&low, 5)).await.unwrap();
    assert_eq!(
        (
            r.status(),
            r.json::<Value>().await.unwrap()["error"].clone()
        ),
        (StatusCode::CONFLICT, json!("name_taken"))
    );
    let mut same_key = reg(&low, 1);
    same_key["name"] = json!("twin");
    let r = post_device(same_key).await.unwrap();
    assert_eq!(
        (
            r.status(),
            r.json::<Value>().await.unwrap()["error"].clone()
        ),
        (StatusCode::CONFLICT, json!("key_taken"))
    );
    for bad in [
        json!({"name": "x y", "clearance": 1, "public_key": "00"}),
        json!({"name": "ok", "clearance": -1, "public_key": "00"}),
        json!({"name": "ok", "clearance": 1, "public_key": "zz"}),
    ] {
        let r = post_device(bad).await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "malformed");
    }
    let devices = get(&c, &format!("{url}/v1/devices")).await;
    assert_eq!(devices["items"].as_array().unwrap().len(), 3);
    assert_eq!(devices["next"], Value::Null);

    // The paper's eight messages (SPEC §3.3).
    let scenario = [
        sign(&mut top, "low_level", Action::Begin, 0, None),
        sign(&mut low, "top_level", Action::Continue, 1, None),
        sign(&mut top, "low_level", Action::End, 1, None),
        sign(&mut top, "low_level", Action::Continue, 1, None),
        sign(&mut low, "top_level", Action::Begin, 0, None),
        sign(&mut top, "mid_level", Action::Continue, 6000, None),
        sign(&mut mid, "low_level", Action::Begin, 0, None),
        sign(&mut low, "top_level", Action::Continue, 3, None),
    ];
    let want: [(&[&str], u64, Value); 8] = [
        (&[], 1, json!("top_level")),
        (&[], 1, json!("top_level")),
        (&[], 1, json!("top_level")),
        (&["transaction_closed"], 1, json!("top_level")),
        (&["insufficient_clearance"], 2, json!("low_level")),
        (&["unknown_transaction"], 6000, Value::Null),
        (&[], 3, json!("mid_level")),
        (&["insufficient_clearance"], 3, json!("mid_level")),
    ];
    let mut records = Vec::new();
    for (body, (notices, tx, prov)) in scenario.iter().zip(want) {
        let (s, r) = send(&c, &url, body).await;
        assert_eq!(s, StatusCode::OK, "{r}");
        assert_eq!(r["notices"], json!(notices), "{r}");
        assert_eq!(r["valid"], json!(notices.is_empty()));
        assert_eq!(r["tx"], json!(tx));
        assert_eq!(r["provenance"], prov);
        assert!(r.get("duplicate").is_none());
        records.push(r);
    }

    // Refusals of SPEC §3.2: nothing recorded.
    let size_before = get(&c, &format!("{url}/v1/blocks?limit=1000")).await["items"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()["tree_size"]
        .clone();
    let (s, r) = send(&c, &url, &scenario[0]).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(r["duplicate"], json!(true));
    assert_eq!(r["seq"], records[0]["seq"]);
    let mut stale = scenario[0].clone();
    stale["contents"] = json!("changed");
    let (s, r) = send(&c, &url, &stale).await;
    assert_eq!(
        (s, r["error"].clone()),
        (StatusCode::UNAUTHORIZED, json!("bad_signature"))
    );
    let mut replay = sign(&mut top, "low_level", Action::Begin, 0, None);
    top.counter -= 1;
    let (s, _) = send(&c, &url, &replay).await;
    assert_eq!(s, StatusCode::OK);
    replay = sign(&mut top, "mid_level", Action::Begin, 0, None); // same counter, new message
    let (s, r) = send(&c, &url, &replay).await;
    assert_eq!(
        (s, r["error"].clone()),
        (StatusCode::CONFLICT, json!("stale_counter"))
    );
    let mut ghost = device("ghost", 9);
    let (s, r) = send(
        &c,
        &url,
        &sign(&mut ghost, "low_level", Action::Begin, 0, None),
    )
    .await;
    assert_eq!(
        (s, r["error"].clone()),
        (StatusCode::UNAUTHORIZED, json!("unknown_sender"))
    );
    let r = c
        .post(format!("{url}/v1/messages"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "malformed");
    let huge = "x".repeat(m2mhub_server::BODY_LIMIT + 1);
    let r = c
        .post(format!("{url}/v1/messages"))
        .header("content-type", "application/json")
        .body(format!("\"{huge}\""))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let mut begin_with_tx = sign(&mut top, "low_level", Action::Begin, 0, None);
    begin_with_tx["tx"] = json!(5);
    let (s, r) = send(&c, &url, &begin_with_tx).await;
    assert_eq!(
        (s, r["error"].clone()),
        (StatusCode::BAD_REQUEST, json!("malformed"))
    );
    let blocks = get(&c, &format!("{url}/v1/blocks?limit=1000")).await;
    assert_eq!(
        blocks["items"].as_array().unwrap().last().unwrap()["tree_size"]
            .as_u64()
            .unwrap(),
        size_before.as_u64().unwrap() + 1,
        "only the one fresh begin was recorded"
    );

    // Batch: one answer per item, in order, copies of recorded messages among them (answered
    // from the store, the rest by the committer).
    let batch = json!([
        scenario[1],
        sign(&mut mid, "low_level", Action::Begin, 0, None),
        {"sender": "mid_level"},
        stale,
        scenario[0],
    ]);
    let r: Value = c
        .post(format!("{url}/v1/messages/batch"))
        .json(&batch)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        r[0],
        json!(records[1].clone().as_object().cloned().map(|mut o| {
            o.insert("duplicate".into(), json!(true));
            o
        }))
    );
    assert_eq!(r[1]["valid"], json!(true));
    assert!(r[1].get("duplicate").is_none());
    assert_eq!(r[2]["error"], json!("malformed"));
    assert_eq!(r[3]["error"], json!("bad_signature"));
    assert_eq!(
        (r[4]["seq"].clone(), r[4]["duplicate"].clone()),
        (records[0]["seq"].clone(), json!(true))
    );

    // Queries.
    let tx1 = get(&c, &format!("{url}/v1/messages?tx=1")).await;
    assert_eq!(tx1["items"].as_array().unwrap().len(), 4);
    let back = get(
        &c,
        &format!("{url}/v1/messages?before={}&limit=2", records[3]["seq"]),
    )
    .await;
    assert_eq!(
        back,
        json!({"items": [records[2], records[1]], "next": records[1]["seq"], "total": 10}),
        "pages back newest first (total: every message, before= only pages)"
    );
    let invalid = get(&c, &format!("{url}/v1/messages?valid=false")).await;
    assert_eq!(invalid["items"].as_array().unwrap().len(), 4);
    let t = get(&c, &format!("{url}/v1/transactions/1")).await;
    assert_eq!(
        (t["provenance"].clone(), t["state"].clone()),
        (json!("top_level"), json!("closed"))
    );
    assert_eq!(t["participants"], json!(["low_level", "top_level"]));
    assert_eq!(
        (t["message_count"].clone(), t["next"].clone()),
        (json!(4), Value::Null)
    );
    let t2 = get(&c, &format!("{url}/v1/transactions/2")).await;
    assert_eq!(t2["state"], "rejected");
    let r = c
        .get(format!("{url}/v1/transactions/6000"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let g = get(&c, &format!("{url}/v1/transactions/1/graph")).await;
    assert_eq!(g["nodes"].as_array().unwrap().len(), 4);
    let dot = c
        .get(format!("{url}/v1/transactions/1/graph?format=dot"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        dot.starts_with("digraph tx1 {") && dot.contains("color=red"),
        "{dot}"
    );
    let prov = get(&c, &format!("{url}/v1/transactions/1/graph?format=prov")).await;
    assert!(prov["entity"]["m2m:transaction/1"].is_object());
    assert_eq!(
        get(&c, &format!("{url}/v1/messages/{}", records[3]["seq"])).await,
        records[3]
    );

    // Proofs against the signed checkpoint, with nothing but the public API.
    let key = c
        .get(format!("{url}/v1/key"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let verifier = NoteVerifier::parse(key.trim()).unwrap();
    let note = c
        .get(format!("{url}/v1/checkpoint"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let cp = Checkpoint::open(&note, &verifier).unwrap();
    assert_eq!(cp.origin, "m2mhub/api-test");
    for seq in 0..cp.tree_size {
        let e = get(&c, &format!("{url}/v1/entries/{seq}")).await;
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(e["entry_bytes"].as_str().unwrap())
            .unwrap();
        let leaf = merkle::leaf_hash(&bytes);
        assert_eq!(hash(&e["leaf_hash"]), leaf);
        let p = get(
            &c,
            &format!(
                "{url}/v1/proof/inclusion?seq={seq}&tree_size={}",
                cp.tree_size
            ),
        )
        .await;
        let path: Vec<Hash> = p["path"].as_array().unwrap().iter().map(hash).collect();
        merkle::verify_inclusion(&leaf, seq, cp.tree_size, &path, &cp.root).unwrap();
    }
    let first = &blocks["items"].as_array().unwrap()[1];
    let first_cp = Checkpoint::open(first["checkpoint"].as_str().unwrap(), &verifier).unwrap();
    let p = get(
        &c,
        &format!(
            "{url}/v1/proof/consistency?from={}&to={}",
            first_cp.tree_size, cp.tree_size
        ),
    )
    .await;
    let path: Vec<Hash> = p["path"].as_array().unwrap().iter().map(hash).collect();
    merkle::verify_consistency(
        first_cp.tree_size,
        cp.tree_size,
        &first_cp.root,
        &cp.root,
        &path,
    )
    .unwrap();
    let r = c
        .get(format!("{url}/v1/proof/consistency?from=0"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // Metrics.
    let m = c
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        m.contains("m2mhub_messages_total{valid=\"false\"} 4"),
        "{m}"
    );
    assert!(
        m.contains("m2mhub_refusals_total{code=\"stale_counter\"} 1"),
        "{m}"
    );

    // Restart on the same directory: everything is there.
    hub.stop().await;
    let hub = Hub::start(tmp.path()).await;
    let url = hub.url.clone();
    for r in &records {
        assert_eq!(
            &get(&c, &format!("{url}/v1/messages/{}", r["seq"])).await,
            r
        );
    }
    let note2 = c
        .get(format!("{url}/v1/checkpoint"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(note2, note, "the same signed checkpoint after a restart");
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_stream_new_entries_and_blocks() {
    use futures_util::StreamExt;
    let tmp = tempfile::tempdir().unwrap();
    let hub = Hub::start(tmp.path()).await;
    let c = Client::new();
    let mut events = c
        .get(format!("{}/v1/events", hub.url))
        .send()
        .await
        .unwrap()
        .bytes_stream();
    let d = device("sensor", 7);
    let body = json!({"name": d.name, "clearance": 1, "public_key": hex::encode(d.key.verifying_key().as_bytes())});
    let r = c
        .post(format!("{}/v1/devices", hub.url))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let mut seen = String::new();
    while !(seen.contains("event: entry") && seen.contains("event: block")) {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), events.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("\"kind\":\"device_registered\""), "{seen}");
    drop(events);
    hub.stop().await;
}
