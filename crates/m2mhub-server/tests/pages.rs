//! Bounded answers through HTTP (SPEC §5): every list is `{items, next}`, `limit` outside
//! 1–1,000 is 400 `malformed`, a filtered list stops after a bounded number of index rows
//! (a page may be empty while `next` is set), transactions page their messages and graphs
//! say when they are truncated, and the provenance ranking pages.
#![allow(clippy::unwrap_used)]

use std::{path::Path, sync::Arc};

use ed25519_dalek::{Signer, SigningKey};
use m2mhub_core::{
    ids::TxId,
    message::{Action, Message},
    names::DeviceName,
};
use m2mhub_ledger::{DataDir, Ledger, LedgerConfig};
use m2mhub_server::AppState;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const TOKEN: &str = "pages-test-token";

async fn start(dir: &Path) -> (String, tokio::sync::oneshot::Sender<()>) {
    let config = LedgerConfig {
        origin: None,
        default_origin: "m2mhub/pages-test".into(),
    };
    let ledger = Arc::new(Ledger::open(&DataDir::create(dir).unwrap(), &config).unwrap());
    let state = AppState::new(ledger, TOKEN.into()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        m2mhub_server::run(listener, state, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    (url, stop)
}

struct Device {
    name: &'static str,
    key: SigningKey,
    counter: u64,
}

impl Device {
    fn sign(&mut self, to: &str, action: Action, tx: u64) -> Value {
        self.counter += 1;
        let mut m = Message {
            sender: DeviceName::new(self.name).unwrap(),
            receiver: DeviceName::new(to).unwrap(),
            action,
            tx: TxId(tx),
            cause: None,
            counter: self.counter,
            contents: format!("#{}", self.counter),
            signature: [0; 64],
            form: m2mhub_core::message::Form::OneHub,
        };
        m.signature = self.key.sign(&m.signing_bytes()).to_bytes();
        serde_json::to_value(m.to_submission()).unwrap()
    }
}

async fn get(c: &Client, url: &str) -> Value {
    let r = c.get(url).send().await.unwrap();
    assert!(r.status().is_success(), "{url}: {}", r.status());
    r.json().await.unwrap()
}

/// Every item of a list, following `next`; checks each page's size.
async fn all_pages(c: &Client, url: &str, limit: usize) -> (Vec<Value>, usize) {
    let (mut items, mut pages, mut after) = (Vec::new(), 0, None::<u64>);
    loop {
        let q = match after {
            Some(a) => format!("{url}&limit={limit}&after={a}"),
            None => format!("{url}&limit={limit}"),
        };
        let page = get(c, &q).await;
        let got = page["items"].as_array().unwrap();
        assert!(got.len() <= limit, "{q}: {} items", got.len());
        items.extend(got.iter().cloned());
        pages += 1;
        match page["next"].as_u64() {
            Some(n) => after = Some(n),
            None => return (items, pages),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_are_bounded_pages() {
    let tmp = tempfile::tempdir().unwrap();
    let (url, stop) = start(tmp.path()).await;
    let c = Client::new();
    let mut a = Device {
        name: "alpha",
        key: SigningKey::from_bytes(&[7; 32]),
        counter: 0,
    };
    let mut b = Device {
        name: "beta",
        key: SigningKey::from_bytes(&[8; 32]),
        counter: 0,
    };
    for d in [&a, &b] {
        let r = c
            .post(format!("{url}/v1/devices"))
            .bearer_auth(TOKEN)
            .json(&json!({"name": d.name, "clearance": 1,
                "public_key": hex::encode(d.key.verifying_key().to_bytes())}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    // tx 1: 25 valid messages to beta; then one invalid message to beta (a tx that does
    // not exist), 30 invalid begins by alpha and 2 by beta (an unknown receiver).
    let mut batch = vec![a.sign("beta", Action::Begin, 0)];
    batch.extend((0..24).map(|_| a.sign("beta", Action::Continue, 1)));
    batch.push(a.sign("beta", Action::Continue, 9999));
    batch.extend((0..30).map(|_| a.sign("ghost", Action::Begin, 0)));
    batch.extend((0..2).map(|_| b.sign("ghost", Action::Begin, 0)));
    let answers: Value = c
        .post(format!("{url}/v1/messages/batch"))
        .json(&batch)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let seqs: Vec<u64> = answers
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["seq"].as_u64().unwrap())
        .collect();
    // beta's invalid messages: the stray continue and its two begins.
    let beta_invalid = json!([seqs[25], seqs[56], seqs[57]]);

    // A filtered list reads at most 10 × limit index rows: beta's invalid messages come
    // after 25 valid ones, so the first page of one is empty but says where to go on.
    let first = get(
        &c,
        &format!("{url}/v1/messages?device=beta&valid=false&limit=1"),
    )
    .await;
    assert_eq!(first["items"], json!([]), "{first}");
    assert!(first["next"].is_u64(), "{first}");
    let (found, pages) =
        all_pages(&c, &format!("{url}/v1/messages?device=beta&valid=false"), 1).await;
    let found: Vec<Value> = found.iter().map(|r| r["seq"].clone()).collect();
    assert_eq!(Value::Array(found), beta_invalid);
    assert!(pages >= 3, "{pages} pages");

    // A transaction pages its messages; the pages are exactly its messages.
    let t = get(&c, &format!("{url}/v1/transactions/1?limit=10")).await;
    assert_eq!(t["message_count"], json!(25));
    assert_eq!(t["messages"].as_array().unwrap().len(), 10);
    let mut got: Vec<Value> = t["messages"].as_array().unwrap().clone();
    let mut next = t["next"].as_u64();
    while let Some(n) = next {
        let t = get(&c, &format!("{url}/v1/transactions/1?limit=10&after={n}")).await;
        got.extend(t["messages"].as_array().unwrap().iter().cloned());
        next = t["next"].as_u64();
    }
    let listed = get(&c, &format!("{url}/v1/messages?tx=1&limit=1000")).await;
    assert_eq!(Value::Array(got), listed["items"]);
    let g = get(&c, &format!("{url}/v1/transactions/1/graph?limit=10")).await;
    assert_eq!(
        (g["truncated"].clone(), g["nodes"].as_array().unwrap().len()),
        (json!(true), 10)
    );
    let g = get(&c, &format!("{url}/v1/transactions/1/graph")).await;
    assert_eq!(
        (g["truncated"].clone(), g["nodes"].as_array().unwrap().len()),
        (json!(false), 25)
    );

    // The ranking, one page at a time.
    let r = get(&c, &format!("{url}/v1/provenance/ranking?limit=1")).await;
    assert_eq!(
        r["items"],
        json!([{"provenance": "alpha", "invalid_messages": 30}])
    );
    let r = get(
        &c,
        &format!("{url}/v1/provenance/ranking?limit=1&after={}", r["next"]),
    )
    .await;
    assert_eq!(
        r["items"],
        json!([{"provenance": "beta", "invalid_messages": 2}])
    );
    assert_eq!(r["next"], Value::Null);

    // Every list: {items, next}; limit outside 1–1,000 is malformed.
    for list in [
        "/v1/messages",
        "/v1/messages?device=beta&valid=false",
        "/v1/blocks",
        "/v1/entries",
        "/v1/devices",
        "/v1/devices/beta/transactions",
        "/v1/provenance/ranking",
        "/v1/transactions/1",
        "/v1/transactions/1/graph",
    ] {
        let sep = if list.contains('?') { '&' } else { '?' };
        for bad in ["0", "1001"] {
            let r = c
                .get(format!("{url}{list}{sep}limit={bad}"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{list} limit={bad}");
            assert_eq!(r.json::<Value>().await.unwrap()["error"], "malformed");
        }
        let page = get(&c, &format!("{url}{list}{sep}limit=1000")).await;
        if !list.starts_with("/v1/transactions") {
            assert!(
                page["items"].is_array() && page.get("next").is_some(),
                "{list}: {page}"
            );
        }
    }
    let (devices, pages) = all_pages(&c, &format!("{url}/v1/devices?"), 1).await;
    assert_eq!((devices.len(), pages), (2, 2));
    let (blocks, _) = all_pages(&c, &format!("{url}/v1/blocks?"), 1).await;
    assert_eq!(blocks.len(), 4, "genesis, two registrations, the batch");
    let _ = stop.send(());
}
