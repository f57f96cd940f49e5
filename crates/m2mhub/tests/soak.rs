//! Soak: the hub under a steady load of signed batches and concurrent readers for a fixed
//! time, sampling its resident memory. Every request must succeed, every acknowledged message
//! must be in the ledger, the ledger must verify, and memory must level off (the store's page
//! cache and the transaction cache are bounded; nothing else may grow with the message count).
//!
//! CI runs one minute: `M2MHUB_SOAK_SECS=600 cargo test --release -p m2mhub --test soak --
//! --nocapture` is the long run.
#![allow(clippy::unwrap_used)]

mod common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use common::{m2mhub, serve_with, signed, stop};
use ed25519_dalek::SigningKey;
use m2mhub_core::message::Action;
use serde_json::Value;

const DEVICES: usize = 8;
/// Messages per device per tick: 8 devices × 12 × 20 ticks/s ≈ 1,900 msg/s offered.
const PER_TICK: usize = 12;

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

async fn device(
    url: String,
    me: usize,
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicU64>,
    last_tx: Arc<AtomicU64>,
) {
    let c = reqwest::Client::new();
    let key = SigningKey::from_bytes(&[me as u8 + 1; 32]);
    let (name, peer) = (format!("dev{me}"), format!("dev{}", (me + 1) % DEVICES));
    let mut counter = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let mut batch = Vec::new();
        for _ in 0..PER_TICK / 2 {
            counter += 1;
            batch.push(signed(&key, &name, &peer, Action::Begin, 0, None, counter));
        }
        let records = post(&c, &url, &batch).await;
        let mut ends = Vec::new();
        for r in &records {
            let (tx, seq) = (r["tx"].as_u64().unwrap(), r["seq"].as_u64().unwrap());
            last_tx.fetch_max(tx, Ordering::Relaxed);
            counter += 1;
            ends.push(signed(
                &key,
                &name,
                &peer,
                Action::End,
                tx,
                Some(seq),
                counter,
            ));
        }
        post(&c, &url, &ends).await;
        acked.fetch_add(PER_TICK as u64, Ordering::Relaxed);
    }
}

async fn post(c: &reqwest::Client, url: &str, batch: &[Value]) -> Vec<Value> {
    let r = c
        .post(format!("{url}/v1/messages/batch"))
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let records: Vec<Value> = r.json().await.unwrap();
    for r in &records {
        assert_eq!(r["valid"], true, "{r}");
    }
    records
}

async fn reader(url: String, stop: Arc<AtomicBool>, last_tx: Arc<AtomicU64>) -> u64 {
    let c = reqwest::Client::new();
    let mut n = 0;
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        i += 1;
        let tx = last_tx.load(Ordering::Relaxed).max(1);
        let paths = [
            "/v1/messages?limit=50".to_owned(),
            format!("/v1/transactions/{tx}"),
            format!("/v1/proof/inclusion?seq={}", i % (DEVICES as u64)),
            "/v1/checkpoint".to_owned(),
            format!("/v1/messages?device=dev{}&limit=20", i % DEVICES as u64),
        ];
        for p in paths {
            let r = c.get(format!("{url}{p}")).send().await.unwrap();
            assert!(r.status().is_success(), "{p}: {}", r.status());
            let _ = r.bytes().await.unwrap();
            n += 1;
        }
    }
    n
}

#[test]
fn steady_load_keeps_memory_flat_and_loses_nothing() {
    let secs: u64 = std::env::var("M2MHUB_SOAK_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // A small page cache, so a full cache is reached within the run.
    let (hub, url) = serve_with(&data, &["--cache-mb", "16"]);
    let pid = hub.id();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let stop_flag = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let last_tx = Arc::new(AtomicU64::new(0));
    let samples = rt.block_on(async {
        let c = reqwest::Client::new();
        for i in 0..DEVICES {
            let k = SigningKey::from_bytes(&[i as u8 + 1; 32]);
            common::register(&c, &url, &format!("dev{i}"), &k, 1).await;
        }
        let devices: Vec<_> = (0..DEVICES)
            .map(|i| {
                tokio::spawn(device(
                    url.clone(),
                    i,
                    stop_flag.clone(),
                    acked.clone(),
                    last_tx.clone(),
                ))
            })
            .collect();
        let readers: Vec<_> = (0..2)
            .map(|_| tokio::spawn(reader(url.clone(), stop_flag.clone(), last_tx.clone())))
            .collect();
        let started = Instant::now();
        let mut samples = Vec::new();
        while started.elapsed() < Duration::from_secs(secs) {
            tokio::time::sleep(Duration::from_secs(1)).await;
            samples.push(rss_kib(pid));
        }
        stop_flag.store(true, Ordering::Relaxed);
        for d in devices {
            d.await.unwrap();
        }
        let mut reads = 0;
        for r in readers {
            reads += r.await.unwrap();
        }
        let blocks: Vec<Value> = {
            let mut all = Vec::new();
            let mut after = None::<u64>;
            loop {
                let q = after.map_or("/v1/blocks?limit=1000".to_owned(), |a| {
                    format!("/v1/blocks?limit=1000&after={a}")
                });
                let page: Value = c
                    .get(format!("{url}{q}"))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                all.extend(page["items"].as_array().unwrap().iter().cloned());
                let Some(next) = page["next"].as_u64() else {
                    break;
                };
                after = Some(next);
            }
            all
        };
        let tree_size = blocks.last().unwrap()["tree_size"].as_u64().unwrap();
        let sent = acked.load(Ordering::Relaxed);
        assert_eq!(
            tree_size,
            DEVICES as u64 + sent,
            "every acknowledged message is recorded, nothing else"
        );
        println!(
            "soak: {secs} s, {sent} messages ({:.0}/s), {reads} reads",
            sent as f64 / secs as f64
        );
        samples
    });
    let n = samples.len();
    let mean = |s: &[u64]| s.iter().sum::<u64>() as f64 / s.len().max(1) as f64;
    // The page cache (16 MiB here) fills in the first ~20 s; compare after that.
    let early = mean(&samples[3 * n / 10..(n / 2).max(3 * n / 10 + 1)]);
    let late = mean(&samples[4 * n / 5..]);
    println!(
        "soak: RSS {:.1} MiB at 30–50% of the run, {:.1} MiB in the last 20%",
        early / 1024.0,
        late / 1024.0
    );
    println!("soak: RSS samples (KiB) {samples:?}");
    assert!(
        late <= early * 1.10 + 8.0 * 1024.0,
        "memory grew from {early:.0} KiB to {late:.0} KiB: {samples:?}"
    );
    let (ok, out) = m2mhub(&["verify", "--url", &url]);
    assert!(ok, "{out}");
    stop(hub);
}
