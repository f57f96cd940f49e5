//! Re-keying end to end with the real binary (SPEC §3.2.2): a device re-keyed on a running
//! hub; `verify --url` and `verify --data` replay its messages with the key in force at each
//! seq; the SDK's outside verifier checks deliveries from before and after the re-key; a copy
//! where a message after the re-key carries a signature by the retired key fails `verify`.
#![allow(clippy::unwrap_used)]

mod common;

use common::{TOKEN, copy_dir, m2mhub, serve, signed, stop};
use ed25519_dalek::{Signer, SigningKey};
use m2mhub_client::{Delivery, http::HttpTransport, verifier::Verifier, wire::Record};
use m2mhub_core::{entry::Entry, message::Action};
use serde_json::{Value, json};

fn retired_key_signs(store: &std::path::Path, seq: u64, retired: &SigningKey) {
    let db = redb::Database::open(store).unwrap();
    let table: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("entries");
    let txn = db.begin_write().unwrap();
    {
        let mut t = txn.open_table(table).unwrap();
        let bytes = redb::ReadableTable::get(&t, seq)
            .unwrap()
            .unwrap()
            .value()
            .to_vec();
        let Entry::Message(mut m) = Entry::from_bytes(&bytes).unwrap() else {
            panic!("entry {seq} is not a message")
        };
        m.signature = retired.sign(&m.signed_fields().signing_bytes()).to_bytes();
        t.insert(seq, Entry::Message(m).to_bytes().as_slice())
            .unwrap();
    }
    txn.commit().unwrap();
}

#[test]
fn a_rekeyed_device_verifies_by_replay_and_from_outside() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (hub, url) = serve(&data);
    let lock = SigningKey::from_bytes(&[1; 32]);
    let phone_old = SigningKey::from_bytes(&[2; 32]);
    let phone_new = SigningKey::from_bytes(&[3; 32]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (begin, cont) = rt.block_on(async {
        let c = reqwest::Client::new();
        for (name, key) in [("door_lock", &lock), ("phone", &phone_old)] {
            let body = json!({"name": name, "clearance": 1, "public_key": hex::encode(key.verifying_key().as_bytes())});
            let r = c.post(format!("{url}/v1/devices")).bearer_auth(TOKEN).json(&body).send().await.unwrap();
            assert_eq!(r.status(), 201);
        }
        let send = |m: Value| {
            let c = c.clone();
            let url = url.clone();
            async move {
                let r = c.post(format!("{url}/v1/messages")).json(&m).send().await.unwrap();
                (r.status().as_u16(), r.json::<Value>().await.unwrap())
            }
        };
        // seq 2, with the first key.
        let (s, begin) = send(signed(&phone_old, "phone", "door_lock", Action::Begin, 0, None, 1)).await;
        assert_eq!(s, 200, "{begin}");
        // seq 3: the re-key, as an operator does it.
        let body = json!({"public_key": hex::encode(phone_new.verifying_key().as_bytes())});
        let r = c.post(format!("{url}/v1/devices/phone/rekey")).bearer_auth(TOKEN).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 200);
        // The retired key signs no more; seq 4 with the new one.
        let (s, _) = send(signed(&phone_old, "phone", "door_lock", Action::Continue, 1, Some(2), 2)).await;
        assert_eq!(s, 401);
        let (s, cont) = send(signed(&phone_new, "phone", "door_lock", Action::Continue, 1, Some(2), 2)).await;
        assert_eq!((s, cont["valid"].clone()), (200, json!(true)), "{cont}");
        let begin: Record = serde_json::from_value(begin).unwrap();
        let cont: Record = serde_json::from_value(cont).unwrap();
        (begin, cont)
    });
    assert_eq!((begin.seq, cont.seq), (2, 4));

    let (ok, out) = m2mhub(&["verify", "--url", &url]);
    assert!(ok, "{out}");
    assert!(out.contains("ok: 5 entries"), "{out}");

    // The SDK's outside verifier: each delivery with the key its sender had at its seq, that
    // key checked against the registration or re-key entry in the tree.
    rt.block_on(async {
        let v = Verifier::fetch_key(HttpTransport::new(&url)).await.unwrap();
        let cp = v.checkpoint().await.unwrap();
        let c = reqwest::Client::new();
        let delivery = |r: &Record, key: &SigningKey| {
            let mut d = Delivery {
                record: r.clone(),
                signature: "00".repeat(64),
                hub: None,
            };
            let m = d.message().unwrap();
            d.signature = hex::encode(key.sign(&m.signing_bytes()).to_bytes());
            d
        };
        for (r, key) in [(&begin, &phone_old), (&cont, &phone_new)] {
            // The hub's own entry carries the signature the verifier checks.
            let e: Value = c
                .get(format!("{url}/v1/entries/{}", r.seq))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let d = delivery(r, key);
            assert_eq!(e["signature"], json!(d.signature));
            v.verify_delivery(&d, &cp).await.unwrap();
            let want = key.verifying_key().to_bytes();
            assert_eq!(v.sender_key_at("phone", r.seq, &cp).await.unwrap(), want);
        }
        assert!(
            v.verify_delivery(&delivery(&begin, &phone_new), &cp)
                .await
                .is_err()
        );
        assert!(
            v.verify_delivery(&delivery(&cont, &phone_old), &cp)
                .await
                .is_err()
        );
    });

    stop(hub);
    let (ok, out) = m2mhub(&["verify", "--data", data.to_str().unwrap()]);
    assert!(ok, "{out}");

    // A copy where the message after the re-key is signed with the retired key.
    let copy = tmp.path().join("retired");
    copy_dir(&data, &copy);
    retired_key_signs(&copy.join("ledger.redb"), 4, &phone_old);
    let (ok, out) = m2mhub(&["verify", "--data", copy.to_str().unwrap()]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("first bad seq 4") && out.contains("signature"),
        "{out}"
    );
}
