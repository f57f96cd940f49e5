//! Crash safety: the hub runs under load and is killed with SIGKILL at random moments. After
//! every restart each acknowledged record is still there, byte for byte (same record, same leaf
//! hash), the hub passes its start-up check, and `verify` passes on the stopped data directory
//! (so no half-written entry is visible).
//!
//! CI runs 20 kills. The long run: `M2MHUB_CRASH_ROUNDS=200 cargo test --release -p m2mhub
//! --test crash`. `M2MHUB_CRASH_SEED` replays a run (the seed is printed).
#![allow(clippy::unwrap_used)]

mod common;

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use common::{
    m2mhub,
    rng::{Rng, env_u64},
    serve, signed,
};
use ed25519_dalek::SigningKey;
use m2mhub_core::message::Action;
use serde_json::Value;

const DEVICES: usize = 6;

/// Records the hub acknowledged, by seq.
type Acked = Arc<Mutex<BTreeMap<u64, Value>>>;

/// One device's sending loop: transactions of begin, continue, end in batches of 1–16
/// messages, until the hub goes away. Counters only grow, across crashes too: a message whose
/// answer was lost in a crash may or may not be recorded, and either way a later counter is
/// accepted.
async fn device_loop(
    url: String,
    me: usize,
    key: SigningKey,
    counter: Arc<Mutex<u64>>,
    acked: Acked,
    seed: u64,
) {
    let c = reqwest::Client::new();
    let mut rng = Rng(seed);
    let name = format!("dev{me}");
    let peer = format!("dev{}", (me + 1) % DEVICES);
    loop {
        let n = 1 + rng.below(16) as usize;
        let mut batch = Vec::with_capacity(n);
        // Each batch is whole transactions opened by `me`: begins first, then the rest once
        // their tx ids are known, so the batch shape does not depend on earlier answers.
        for _ in 0..n {
            let mut ctr = counter.lock().unwrap();
            *ctr += 1;
            batch.push(signed(&key, &name, &peer, Action::Begin, 0, None, *ctr));
        }
        let Some(records) = post_batch(&c, &url, &batch).await else {
            return;
        };
        let mut follow = Vec::new();
        for r in &records {
            record_ack(&acked, r);
            let (tx, seq) = (r["tx"].as_u64().unwrap(), r["seq"].as_u64().unwrap());
            let mut ctr = counter.lock().unwrap();
            *ctr += 1;
            follow.push(signed(&key, &name, &peer, Action::End, tx, Some(seq), *ctr));
        }
        let Some(records) = post_batch(&c, &url, &follow).await else {
            return;
        };
        for r in &records {
            record_ack(&acked, r);
        }
    }
}

fn record_ack(acked: &Acked, r: &Value) {
    assert_eq!(r["valid"], true, "unexpected verdict: {r}");
    let seq = r["seq"].as_u64().unwrap();
    let mut r = r.clone();
    r.as_object_mut().unwrap().remove("duplicate");
    acked.lock().unwrap().insert(seq, r);
}

/// The records of an acknowledged batch; `None` once the hub is gone (killed mid-request).
async fn post_batch(c: &reqwest::Client, url: &str, batch: &[Value]) -> Option<Vec<Value>> {
    let r = c
        .post(format!("{url}/v1/messages/batch"))
        .json(&batch)
        .send()
        .await
        .ok()?;
    let status = r.status();
    let body: Value = r.json().await.ok()?;
    assert!(status.is_success(), "batch refused: {status} {body}");
    let records = body.as_array().unwrap().clone();
    for r in &records {
        assert!(r.get("error").is_none(), "message refused: {r}");
    }
    Some(records)
}

async fn check_acked(url: &str, acked: &BTreeMap<u64, Value>) {
    // Pages of `GET /v1/messages` (the same record JSON as `GET /v1/messages/{seq}`), from the
    // first acknowledged seq on: a thousand records a request keeps 200 rounds linear.
    let c = reqwest::Client::new();
    let Some((&first, _)) = acked.first_key_value() else {
        return;
    };
    let mut after = first.checked_sub(1);
    let mut seen = std::collections::BTreeSet::new();
    loop {
        let mut page = format!("{url}/v1/messages?limit=1000");
        if let Some(a) = after {
            page.push_str(&format!("&after={a}"));
        }
        let got: Value = c.get(page).send().await.unwrap().json().await.unwrap();
        for r in got["items"].as_array().unwrap() {
            let seq = r["seq"].as_u64().unwrap();
            if let Some(want) = acked.get(&seq) {
                assert_eq!(r, want, "acknowledged record {seq} changed after a crash");
                seen.insert(seq);
            }
        }
        let Some(next) = got["next"].as_u64() else {
            break;
        };
        after = Some(next);
    }
    let missing: Vec<_> = acked.keys().filter(|s| !seen.contains(s)).take(5).collect();
    assert!(
        missing.is_empty(),
        "acknowledged records lost after a crash (first missing seqs: {missing:?})"
    );
}

#[test]
fn kill_9_under_load_loses_nothing_acknowledged() {
    let rounds = env_u64("M2MHUB_CRASH_ROUNDS").unwrap_or(20);
    let seed = env_u64("M2MHUB_CRASH_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    });
    println!("crash test: {rounds} rounds, M2MHUB_CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let keys: Vec<SigningKey> = (0..DEVICES)
        .map(|i| SigningKey::from_bytes(&[i as u8 + 1; 32]))
        .collect();
    let counters: Vec<Arc<Mutex<u64>>> = (0..DEVICES).map(|_| Arc::default()).collect();
    let acked: Acked = Arc::default();
    let rt = tokio::runtime::Runtime::new().unwrap();

    for round in 0..rounds {
        let (child, url) = serve(&data);
        let pid = child.id();
        rt.block_on(async {
            if round == 0 {
                let c = reqwest::Client::new();
                for (i, k) in keys.iter().enumerate() {
                    common::register(&c, &url, &format!("dev{i}"), k, 1).await;
                }
            }
            let before = acked.lock().unwrap().clone();
            check_acked(&url, &before).await;

            let tasks: Vec<_> = (0..DEVICES)
                .map(|i| {
                    tokio::spawn(device_loop(
                        url.clone(),
                        i,
                        keys[i].clone(),
                        counters[i].clone(),
                        acked.clone(),
                        rng.next(),
                    ))
                })
                .collect();
            // Kill at a random moment: early rounds may die before any commit, later ones in
            // the middle of group commits.
            tokio::time::sleep(Duration::from_millis(20 + rng.below(400))).await;
            let killed = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status()
                .unwrap();
            assert!(killed.success());
            for t in tasks {
                t.await.unwrap();
            }
        });
        let mut child = child;
        child.wait().unwrap();
        let (ok, out) = m2mhub(&["verify", "--data", data.to_str().unwrap()]);
        assert!(ok, "verify failed after kill {round}: {out}");
    }

    let total = acked.lock().unwrap().len();
    assert!(total > 0, "no message was acknowledged in {rounds} rounds");
    let (child, url) = serve(&data);
    let all = acked.lock().unwrap().clone();
    rt.block_on(check_acked(&url, &all));
    let (ok, out) = m2mhub(&["verify", "--url", &url]);
    assert!(ok, "{out}");
    common::stop(child);
    println!("crash test: {total} acknowledged messages survived {rounds} kills");
}
