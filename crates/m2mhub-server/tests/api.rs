//! The HTTP API end to end: a real server on 127.0.0.1:0 over a real data directory. Registers
//! devices, sends the paper's scenario, checks every error class, fetches proofs and verifies
//! them against the signed checkpoint, then restarts on the same directory and finds
//! everything again.
#![allow(clippy::unwrap_used)]

use std::{path::Path, sync::Arc};

use ed25519_dalek::{Signer, SigningKey};
use m2mhub_core::{
    checkpoint::Checkpoint,
    hash::Hash,
    ids::{Seq, TxId},
    merkle,
    message::{Action, Message},
    names::DeviceName,
    note::NoteVerifier,
};
use m2mhub_server::{AppState, Limits};

mod common;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const TOKEN: &str = "test-operator-token";

/// The tests' hub: simulated devices on, the default limits.
struct Hub;

impl Hub {
    async fn start(dir: &Path) -> common::Hub {
        Self::start_with(dir, |s| s).await
    }

    async fn start_with(dir: &Path, f: impl FnOnce(AppState) -> AppState) -> common::Hub {
        let ledger = common::ledger(dir, "m2mhub/api-test");
        let state = AppState::new(ledger, TOKEN.into())
            .unwrap()
            .with_simulated_keys(&dir.join("simulated"))
            .unwrap();
        common::Hub::serve(f(state), Limits::default()).await
    }
}

struct Device {
    name: &'static str,
    key: SigningKey,
    counter: u64,
}

fn device(name: &'static str, seed: u8) -> Device {
    Device {
        name,
        key: SigningKey::from_bytes(&[seed; 32]),
        counter: 0,
    }
}

fn sign(d: &mut Device, to: &str, action: Action, tx: u64, cause: Option<u64>) -> Value {
    d.counter += 1;
    let mut m = Message {
        sender: DeviceName::new(d.name).unwrap(),
        receiver: DeviceName::new(to).unwrap(),
        action,
        tx: TxId(tx),
        cause: cause.map(Seq),
        counter: d.counter,
        contents: format!("{} → {to}: {action}", d.name),
        signature: [0; 64],
    };
    m.signature = d.key.sign(&m.signing_bytes()).to_bytes();
    serde_json::to_value(m.to_submission()).unwrap()
}

async fn send(c: &Client, url: &str, body: &Value) -> (StatusCode, Value) {
    let r = c
        .post(format!("{url}/v1/messages"))
        .json(body)
        .send()
        .await
        .unwrap();
    let s = r.status();
    (s, r.json().await.unwrap())
}

async fn get(c: &Client, url: &str) -> Value {
    let r = c.get(url).send().await.unwrap();
    assert!(r.status().is_success(), "{url}: {}", r.status());
    r.json().await.unwrap()
}

fn hash(s: &Value) -> Hash {
    let mut h = [0u8; 32];
    hex::decode_to_slice(s.as_str().unwrap(), &mut h).unwrap();
    h
}

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

async fn tree_size(c: &Client, url: &str) -> u64 {
    let b = get(c, &format!("{url}/v1/blocks?limit=1000")).await;
    b["items"].as_array().unwrap().last().unwrap()["tree_size"]
        .as_u64()
        .unwrap()
}

async fn register(c: &Client, url: &str, d: &Device, clearance: u32) {
    let body = json!({"name": d.name, "clearance": clearance,
        "public_key": hex::encode(d.key.verifying_key().as_bytes())});
    let r = c
        .post(format!("{url}/v1/devices"))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
}

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
