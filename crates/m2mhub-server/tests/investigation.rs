//! The investigator's routes (issue 12) through HTTP, on a ledger the test builds through the
//! API: `GET /v1/incidents`, `GET /v1/messages` with `order`, `from`/`to`, `provenance` and
//! `total`, the devices' activity counts, `GET /v1/devices/{name}/history` and
//! `/transactions?begun=true`: exact answers, paging across pages, bounds and errors.
#![allow(clippy::unwrap_used)]

mod common;

use ed25519_dalek::{Signer, SigningKey};
use m2mhub_core::{
    ids::TxId,
    message::{Action, Message},
    names::DeviceName,
};
use m2mhub_server::{AppState, Limits};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const TOKEN: &str = "investigation-test-token";

struct Dev {
    name: &'static str,
    key: SigningKey,
    counter: u64,
}

impl Dev {
    fn sign(&mut self, to: &str, action: Action, tx: u64) -> Value {
        self.counter += 1;
        let mut m = Message {
            sender: DeviceName::new(self.name).unwrap(),
            receiver: DeviceName::new(to).unwrap(),
            action,
            tx: TxId(tx),
            cause: None,
            counter: self.counter,
            contents: format!("{} #{}", self.name, self.counter),
            signature: [0; 64],
        };
        m.signature = self.key.sign(&m.signing_bytes()).to_bytes();
        serde_json::to_value(m.to_submission()).unwrap()
    }
}

struct Api {
    c: Client,
    url: String,
}

impl Api {
    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let r = self
            .c
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        (r.status(), r.json().await.unwrap())
    }

    async fn ok(&self, path: &str) -> Value {
        let (s, v) = self.get(path).await;
        assert_eq!(s, StatusCode::OK, "{path}: {v}");
        v
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let r = self
            .c
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap()
    }

    async fn batch(&self, msgs: Vec<Value>) {
        let answers = self
            .send(reqwest::Method::POST, "/v1/messages/batch", json!(msgs))
            .await;
        for a in answers.as_array().unwrap() {
            assert!(a["seq"].is_u64(), "{a}");
        }
    }

    /// Every item of a list, following `next` (`path` holds a query already); returns the
    /// items and each page's `next`.
    async fn pages(&self, path: &str, limit: usize) -> (Vec<Value>, Vec<Option<u64>>) {
        let (mut items, mut cursors, mut after) = (Vec::new(), Vec::new(), None::<u64>);
        loop {
            let q = match after {
                Some(a) => format!("{path}&limit={limit}&after={a}"),
                None => format!("{path}&limit={limit}"),
            };
            let page = self.ok(&q).await;
            items.extend(page["items"].as_array().unwrap().iter().cloned());
            cursors.push(page["next"].as_u64());
            match page["next"].as_u64() {
                Some(n) => after = Some(n),
                None => return (items, cursors),
            }
        }
    }
}

/// Builds, one request (one block) at a time: 0–2 register low/mid/top_level; 3–6 tx 1
/// (6 continues it once closed: invalid); 7 low_level begins tx 2 to top_level (invalid:
/// clearance), 8 top_level names unissued tx 6000, 9 mid_level begins tx 3, 10 low_level
/// continues it to top_level (invalid: clearance); 11 top_level accepts low_level; 12
/// low_level begins tx 4; 13 withdraws that; 14 re-keys mid_level; 15 mid_level begins tx 5
/// to top_level (invalid), 16 low_level names unissued tx 9000; 17 revokes mid_level; 18
/// top_level begins tx 6 to it (invalid).
async fn build(api: &Api) {
    let mut low = Dev {
        name: "low_level",
        key: SigningKey::from_bytes(&[11; 32]),
        counter: 0,
    };
    let mut mid = Dev {
        name: "mid_level",
        key: SigningKey::from_bytes(&[12; 32]),
        counter: 0,
    };
    let mut top = Dev {
        name: "top_level",
        key: SigningKey::from_bytes(&[13; 32]),
        counter: 0,
    };
    for (d, clearance) in [(&low, 1), (&mid, 2), (&top, 3)] {
        let body = json!({"name": d.name, "clearance": clearance,
            "public_key": hex::encode(d.key.verifying_key().to_bytes())});
        api.send(reqwest::Method::POST, "/v1/devices", body).await;
    }
    use Action::*;
    let b = vec![
        top.sign("low_level", Begin, 0),
        low.sign("top_level", Continue, 1),
        top.sign("low_level", End, 1),
        top.sign("low_level", Continue, 1),
    ];
    api.batch(b).await;
    let b = vec![
        low.sign("top_level", Begin, 0),
        top.sign("mid_level", Continue, 6000),
        mid.sign("low_level", Begin, 0),
        low.sign("top_level", Continue, 3),
    ];
    api.batch(b).await;
    let grant = json!({"sender": "low_level"});
    api.send(
        reqwest::Method::POST,
        "/v1/devices/top_level/exceptions",
        grant,
    )
    .await;
    api.batch(vec![low.sign("top_level", Begin, 0)]).await;
    api.send(
        reqwest::Method::DELETE,
        "/v1/devices/top_level/exceptions/low_level",
        json!({}),
    )
    .await;
    mid.key = SigningKey::from_bytes(&[14; 32]);
    let rekey = json!({"public_key": hex::encode(mid.key.verifying_key().to_bytes())});
    api.send(reqwest::Method::POST, "/v1/devices/mid_level/rekey", rekey)
        .await;
    api.batch(vec![
        mid.sign("top_level", Begin, 0),
        low.sign("mid_level", Continue, 9000),
    ])
    .await;
    api.send(
        reqwest::Method::POST,
        "/v1/devices/mid_level/revoke",
        json!({}),
    )
    .await;
    api.batch(vec![top.sign("mid_level", Begin, 0)]).await;
}

async fn serve() -> (tempfile::TempDir, common::Hub, Api) {
    let tmp = tempfile::tempdir().unwrap();
    let ledger = common::ledger(tmp.path(), "m2mhub/investigation-test");
    let state = AppState::new(ledger, TOKEN.into()).unwrap();
    let hub = common::Hub::serve(state, Limits::default()).await;
    let api = Api {
        c: Client::new(),
        url: hub.url.clone(),
    };
    build(&api).await;
    (tmp, hub, api)
}

fn seqs(items: &[Value]) -> Vec<u64> {
    items.iter().map(|r| r["seq"].as_u64().unwrap()).collect()
}

/// Checks a 400 `malformed` whose message names `words`.
async fn malformed(api: &Api, path: &str, words: &str) {
    let (s, v) = api.get(path).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{path}: {v}");
    assert_eq!(v["error"], "malformed", "{path}: {v}");
    assert!(
        v["message"].as_str().unwrap().contains(words),
        "{path}: {v}"
    );
}

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
    for q in ["limit=0", "limit=1001", "after=x"] {
        let (s, _) = api.get(&format!("/v1/devices/top_level/history?{q}")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{q}");
    }
    hub.stop().await;
}

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
