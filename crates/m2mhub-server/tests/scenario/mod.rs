//! The investigator's test ledger, built through the API, and an HTTP client for it (shared
//! by `investigation.rs` and `stats.rs`).
#![allow(dead_code, clippy::unwrap_used)]

use ed25519_dalek::{Signer, SigningKey};
use m2mhub_core::{
    ids::TxId,
    message::{Action, Message},
    names::DeviceName,
};
use m2mhub_server::{AppState, Limits};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

pub const TOKEN: &str = "investigation-test-token";

pub struct Dev {
    name: &'static str,
    key: SigningKey,
    counter: u64,
}

impl Dev {
    pub fn sign(&mut self, to: &str, action: Action, tx: u64) -> Value {
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
            form: m2mhub_core::message::Form::OneHub,
        };
        m.signature = self.key.sign(&m.signing_bytes()).to_bytes();
        serde_json::to_value(m.to_submission()).unwrap()
    }
}

pub struct Api {
    pub c: Client,
    pub url: String,
}

impl Api {
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let r = self
            .c
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        (r.status(), r.json().await.unwrap())
    }

    pub async fn ok(&self, path: &str) -> Value {
        let (s, v) = self.get(path).await;
        assert_eq!(s, StatusCode::OK, "{path}: {v}");
        v
    }

    pub async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
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

    pub async fn batch(&self, msgs: Vec<Value>) {
        let answers = self
            .send(reqwest::Method::POST, "/v1/messages/batch", json!(msgs))
            .await;
        for a in answers.as_array().unwrap() {
            assert!(a["seq"].is_u64(), "{a}");
        }
    }

    /// Every item of a list, following `next` (`path` holds a query already); returns the
    /// items and each page's `next`.
    pub async fn pages(&self, path: &str, limit: usize) -> (Vec<Value>, Vec<Option<u64>>) {
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
pub async fn build(api: &Api) {
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

pub async fn serve() -> (tempfile::TempDir, super::common::Hub, Api) {
    let tmp = tempfile::tempdir().unwrap();
    let ledger = super::common::ledger(tmp.path(), "m2mhub/investigation-test");
    let state = AppState::new(ledger, TOKEN.into()).unwrap();
    let hub = super::common::Hub::serve(state, Limits::default()).await;
    let api = Api {
        c: Client::new(),
        url: hub.url.clone(),
    };
    build(&api).await;
    (tmp, hub, api)
}

pub fn seqs(items: &[Value]) -> Vec<u64> {
    items.iter().map(|r| r["seq"].as_u64().unwrap()).collect()
}

/// Checks a 400 `malformed` whose message names `words`.
pub async fn malformed(api: &Api, path: &str, words: &str) {
    let (s, v) = api.get(path).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{path}: {v}");
    assert_eq!(v["error"], "malformed", "{path}: {v}");
    assert!(
        v["message"].as_str().unwrap().contains(words),
        "{path}: {v}"
    );
}
