//! `POST /v1/devices/{name}/rekey` end to end (SPEC §3.2.2): operator only, every refusal
//! code, the key history on the device, the entry's decoded fields, and messages checked with
//! the key in force (an exact copy of one signed with the retired key stays a duplicate).
#![allow(clippy::unwrap_used)]

use ed25519_dalek::{Signer, SigningKey};
use m2mhub_core::{
    ids::TxId,
    message::{Action, Message},
    names::DeviceName,
};
use m2mhub_server::{AppState, Limits};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

mod common;

const TOKEN: &str = "rekey-operator-token";

fn public(seed: u8) -> String {
    hex::encode(
        SigningKey::from_bytes(&[seed; 32])
            .verifying_key()
            .as_bytes(),
    )
}

fn message(from: &str, counter: u64, seed: u8) -> Value {
    let mut m = Message {
        sender: DeviceName::new(from).unwrap(),
        receiver: DeviceName::new(from).unwrap(),
        action: Action::Begin,
        tx: TxId(0),
        cause: None,
        counter,
        contents: format!("{from} #{counter}"),
        signature: [0; 64],
        form: m2mhub_core::message::Form::OneHub,
    };
    m.signature = SigningKey::from_bytes(&[seed; 32])
        .sign(&m.signing_bytes())
        .to_bytes();
    serde_json::to_value(m.to_submission()).unwrap()
}

async fn post(c: &Client, url: &str, token: Option<&str>, body: &Value) -> (StatusCode, Value) {
    let mut r = c.post(url).json(body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let r = r.send().await.unwrap();
    (r.status(), r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rekeying_a_device_over_http() {
    let tmp = tempfile::tempdir().unwrap();
    let ledger = common::ledger(tmp.path(), "m2mhub/rekey-test");
    let state = AppState::new(ledger, TOKEN.into())
        .unwrap()
        .with_simulated_keys(&tmp.path().join("simulated"))
        .unwrap();
    let hub = common::Hub::serve(state, Limits::default()).await;
    let url = hub.url.clone();
    let c = Client::new();
    let op = Some(TOKEN);
    for (n, seed) in [("a", 1), ("b", 2)] {
        let body = json!({"name": n, "clearance": 1, "public_key": public(seed)});
        let (s, _) = post(&c, &format!("{url}/v1/devices"), op, &body).await;
        assert_eq!(s, StatusCode::CREATED);
    }
    let (s, _) = post(
        &c,
        &format!("{url}/v1/devices"),
        op,
        &json!({"name": "sim", "clearance": 1, "simulated": true}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    // seq 3: a's first message, signed with its first key.
    let first = message("a", 1, 1);
    let (s, rec) = post(&c, &format!("{url}/v1/messages"), None, &first).await;
    assert_eq!((s, rec["seq"].clone()), (StatusCode::OK, json!(3)));

    let rekey = |n: &str| format!("{url}/v1/devices/{n}/rekey");
    let mut small_order = [0u8; 32];
    small_order[0] = 1;
    let refusals = [
        (
            "a",
            None,
            public(3),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        (
            "a",
            Some("wrong"),
            public(3),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        (
            "a",
            op,
            "zz".repeat(32),
            StatusCode::BAD_REQUEST,
            "malformed",
        ),
        (
            "a",
            op,
            hex::encode(small_order),
            StatusCode::BAD_REQUEST,
            "malformed",
        ),
        (
            "ghost",
            op,
            public(3),
            StatusCode::NOT_FOUND,
            "unknown_device",
        ),
        ("a", op, public(2), StatusCode::CONFLICT, "key_taken"),
        ("a", op, public(1), StatusCode::CONFLICT, "key_taken"),
        (
            "sim",
            op,
            public(3),
            StatusCode::CONFLICT,
            "simulated_device",
        ),
    ];
    for (n, token, key, status, code) in refusals {
        let (s, body) = post(&c, &rekey(n), token, &json!({"public_key": key})).await;
        assert_eq!(
            (s, body["error"].as_str().unwrap()),
            (status, code),
            "{n} {key}"
        );
    }
    let (s, body) = post(
        &c,
        &rekey("a"),
        op,
        &json!({"public_key": public(3), "extra": 1}),
    )
    .await;
    assert_eq!(
        (s, body["error"].clone()),
        (StatusCode::BAD_REQUEST, json!("malformed"))
    );

    // seq 4: the re-key.
    let (s, dev) = post(&c, &rekey("a"), op, &json!({"public_key": public(3)})).await;
    assert_eq!(s, StatusCode::OK, "{dev}");
    assert_eq!(dev["public_key"], json!(public(3)));
    let history = json!([
        {"public_key": public(1), "from_seq": 0},
        {"public_key": public(3), "from_seq": 4},
    ]);
    assert_eq!(dev["keys"], history);
    let shown: Value = c
        .get(format!("{url}/v1/devices/a"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["keys"], history);
    let entry: Value = c
        .get(format!("{url}/v1/entries/4"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            entry["kind"].clone(),
            entry["device"].clone(),
            entry["public_key"].clone()
        ),
        (json!("device_rekeyed"), json!("a"), json!(public(3)))
    );
    // Retired and current keys are both taken now, for re-keys and registrations.
    for key in [public(1), public(3)] {
        let (s, body) = post(&c, &rekey("b"), op, &json!({"public_key": key})).await;
        assert_eq!(
            (s, body["error"].clone()),
            (StatusCode::CONFLICT, json!("key_taken"))
        );
        let reg = json!({"name": "c", "clearance": 1, "public_key": key});
        let (s, body) = post(&c, &format!("{url}/v1/devices"), op, &reg).await;
        assert_eq!(
            (s, body["error"].clone()),
            (StatusCode::CONFLICT, json!("key_taken"))
        );
    }

    // The retired key no longer signs; the new one does; an exact copy of the message signed
    // with the retired key is still its duplicate.
    let (s, body) = post(&c, &format!("{url}/v1/messages"), None, &message("a", 2, 1)).await;
    assert_eq!(
        (s, body["error"].clone()),
        (StatusCode::UNAUTHORIZED, json!("bad_signature"))
    );
    let (s, rec) = post(&c, &format!("{url}/v1/messages"), None, &message("a", 2, 3)).await;
    assert_eq!((s, rec["valid"].clone()), (StatusCode::OK, json!(true)));
    let (s, dup) = post(&c, &format!("{url}/v1/messages"), None, &first).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (dup["seq"].clone(), dup["duplicate"].clone()),
        (json!(3), json!(true))
    );
    let (s, answers) = post(
        &c,
        &format!("{url}/v1/messages/batch"),
        None,
        &json!([first]),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(answers[0]["duplicate"], json!(true));

    // A revoked device keeps its keys.
    let (s, _) = post(&c, &format!("{url}/v1/devices/b/revoke"), op, &json!({})).await;
    assert_eq!(s, StatusCode::OK);
    let (s, body) = post(&c, &rekey("b"), op, &json!({"public_key": public(4)})).await;
    assert_eq!(
        (s, body["error"].clone()),
        (StatusCode::CONFLICT, json!("device_revoked"))
    );
    hub.stop().await;
}
