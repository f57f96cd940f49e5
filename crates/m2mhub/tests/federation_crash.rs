//! Federation crash safety (SPEC §7): three `m2mhub serve` members under cross-hub load are
//! killed (SIGKILL) at random moments, one at a time, and restarted. Devices of home keep
//! sending local messages and messages of grid's transactions through home (forwarded);
//! grid's device keeps answering. While a member is down its transactions wait (devices are
//! answered 503 and send again), the others keep recording. At the end every acknowledged
//! record is still at its recording hub, byte for byte; `verify --federation` passes; and every
//! member's ledger replays on its own (`verify --data`).
//!
//! `make test` runs 3 kills; `make test-long` runs `M2MHUB_FED_KILLS=50`.
//! `M2MHUB_FED_SEED` replays a run (the seed is printed).
#![allow(clippy::unwrap_used)]

mod common;

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use common::{
    federation::{post_message, rt, signed_v2, start_federation, wait_imported},
    rng::{Rng, env_u64},
};
use ed25519_dalek::SigningKey;
use serde_json::Value;

/// What the members acknowledged: (recording hub's URL, the record).
type Acked = Arc<Mutex<Vec<(String, Value)>>>;

const HOME_DEVICES: usize = 3;

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// One home device: alternately a local begin (recorded by home) and a message of its grid
/// transaction (recorded by grid, through home), until told to stop. Counters only grow: a
/// message whose answer was lost may or may not be recorded.
async fn home_device(
    i: usize,
    home: String,
    grid: String,
    grid_tx: u64,
    acked: Acked,
    stop: Arc<AtomicBool>,
) {
    let me = format!("d{i}@home");
    let peer = format!("d{}@home", (i + 1) % HOME_DEVICES);
    let k = key(40 + i as u8);
    let mut counter = 1;
    while !stop.load(Ordering::Relaxed) {
        counter += 1;
        let (m, recorder) = if counter % 2 == 0 {
            (
                signed_v2(&k, &me, &peer, "begin", 0, None, None, counter),
                &home,
            )
        } else {
            let m = signed_v2(
                &k,
                &me,
                "g@grid",
                "continue",
                grid_tx,
                Some("grid"),
                None,
                counter,
            );
            (m, &grid)
        };
        match try_post(&home, &m).await {
            Some(r) => acked.lock().unwrap().push((recorder.clone(), r)),
            None => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Grid's device answers in its own transactions, recorded by grid.
async fn grid_device(grid: String, txs: Vec<u64>, acked: Acked, stop: Arc<AtomicBool>) {
    let k = key(50);
    let mut counter = 100;
    while !stop.load(Ordering::Relaxed) {
        counter += 1;
        let i = (counter as usize) % txs.len();
        let to = format!("d{i}@home");
        let m = signed_v2(
            &k,
            "g@grid",
            &to,
            "continue",
            txs[i],
            Some("grid"),
            None,
            counter,
        );
        match try_post(&grid, &m).await {
            Some(r) => acked.lock().unwrap().push((grid.clone(), r)),
            None => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// The record, when the hub recorded the message (a refusal, a 503 or a dead hub: `None`).
async fn try_post(url: &str, m: &Value) -> Option<Value> {
    let r = reqwest::Client::new()
        .post(format!("{url}/v1/messages"))
        .timeout(Duration::from_secs(15))
        .json(m)
        .send()
        .await
        .ok()?;
    if !r.status().is_success() {
        return None;
    }
    r.json().await.ok()
}

#[test]
fn members_killed_at_random_lose_nothing_acknowledged() {
    let kills = env_u64("M2MHUB_FED_KILLS").unwrap_or(3);
    let seed = env_u64("M2MHUB_FED_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    });
    println!("federation crash: {kills} kills, M2MHUB_FED_SEED={seed}");
    let mut rng = Rng(seed);
    let tmp = tempfile::tempdir().unwrap();
    let (mut hubs, file) = start_federation(tmp.path(), |_| Vec::new());
    let (home, grid) = (hubs[0].url.clone(), hubs[2].url.clone());
    let runtime = rt();
    // Devices, and one grid transaction per home device.
    let txs: Vec<u64> = runtime.block_on(async {
        let c = reqwest::Client::new();
        for i in 0..HOME_DEVICES {
            common::register(&c, &home, &format!("d{i}"), &key(40 + i as u8), 2).await;
        }
        common::register(&c, &grid, "g", &key(50), 2).await;
        wait_imported(&grid, "m2mhub/home", HOME_DEVICES).await;
        wait_imported(&home, "m2mhub/grid", 1).await;
        let mut txs = Vec::new();
        for i in 0..HOME_DEVICES {
            let m = signed_v2(
                &key(50),
                "g@grid",
                &format!("d{i}@home"),
                "begin",
                0,
                None,
                None,
                i as u64 + 1,
            );
            let (status, r) = post_message(&grid, &m).await;
            assert_eq!(status, 200, "{r}");
            txs.push(r["tx"].as_u64().unwrap());
        }
        txs
    });
    let acked: Acked = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut load = Vec::new();
    for (i, tx) in txs.iter().enumerate() {
        load.push(runtime.spawn(home_device(
            i,
            home.clone(),
            grid.clone(),
            *tx,
            acked.clone(),
            stop.clone(),
        )));
    }
    load.push(runtime.spawn(grid_device(
        grid.clone(),
        txs.clone(),
        acked.clone(),
        stop.clone(),
    )));

    for round in 0..kills {
        std::thread::sleep(Duration::from_millis(100 + rng.below(500)));
        let victim = rng.below(hubs.len() as u64) as usize;
        hubs[victim].kill();
        std::thread::sleep(Duration::from_millis(rng.below(300)));
        hubs[victim].start(Some(&file));
        println!("round {round}: killed and restarted {}", hubs[victim].name);
    }
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    runtime.block_on(async {
        for l in load {
            l.await.unwrap();
        }
    });
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 10,
        "too little was acknowledged: {}",
        acked.len()
    );
    let cross = acked
        .iter()
        .filter(|(_, r)| r["sender"].as_str().is_some_and(|s| s.ends_with("@home")))
        .count();
    assert!(cross > 0, "no forwarded message was acknowledged");
    // Every acknowledged record is at its recording hub, as acknowledged.
    runtime.block_on(async {
        for (url, r) in &acked {
            let seq = r["seq"].as_u64().unwrap();
            let (status, body) = common::federation::get(url, &format!("/v1/messages/{seq}")).await;
            assert_eq!(status, 200, "{url} seq {seq}: {body}");
            let now: Value = serde_json::from_str(&body).unwrap();
            for field in ["sender", "receiver", "counter", "tx", "leaf_hash", "valid"] {
                assert_eq!(now[field], r[field], "{url} seq {seq} {field}");
            }
        }
    });
    println!(
        "{} acknowledged records ({cross} forwarded) all present",
        acked.len()
    );
    let (ok, out) = common::m2mhub(&["verify", "--federation", file.to_str().unwrap()]);
    assert!(ok, "{out}");
    for h in &mut hubs {
        h.kill();
        let (ok, out) = common::m2mhub(&["verify", "--data", h.dir.to_str().unwrap()]);
        assert!(ok, "{}: {out}", h.name);
    }
}
