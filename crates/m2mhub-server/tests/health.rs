//! `GET /healthz` and `GET /readyz` on a real hub: ready over a healthy store; not ready, with
//! a JSON error, once a storage failure has stopped the ledger (a real redb file whose writes
//! start failing) and once the hub is shutting down; alive throughout.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use m2mhub_ledger::{Ledger, LedgerConfig, store::Store};
use m2mhub_server::{AppState, Limits};
use redb::{StorageBackend, backends::FileBackend};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const TOKEN: &str = "health-test-token";

async fn get(c: &Client, url: &str) -> (StatusCode, Value) {
    let r = c.get(url).send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap())
}

/// A real file under redb whose writes, length changes and syncs fail once `broken` is set:
/// a disk that fills up or goes away under a running hub.
#[derive(Debug)]
struct Breakable {
    inner: FileBackend,
    broken: Arc<AtomicBool>,
}

impl Breakable {
    fn check(&self) -> Result<(), std::io::Error> {
        if self.broken.load(Ordering::SeqCst) {
            return Err(std::io::Error::other("the disk went away"));
        }
        Ok(())
    }
}

impl StorageBackend for Breakable {
    fn len(&self) -> Result<u64, std::io::Error> {
        self.inner.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        self.inner.read(offset, out)
    }
    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        self.check()?;
        self.inner.set_len(len)
    }
    fn sync_data(&self) -> Result<(), std::io::Error> {
        self.check()?;
        self.inner.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        self.check()?;
        self.inner.write(offset, data)
    }
    fn close(&self) -> Result<(), std::io::Error> {
        self.inner.close()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_until_the_storage_fails_alive_throughout() {
    let tmp = tempfile::tempdir().unwrap();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(tmp.path().join("ledger.redb"))
        .unwrap();
    let broken = Arc::new(AtomicBool::new(false));
    let backend = Breakable {
        inner: FileBackend::new(file).unwrap(),
        broken: broken.clone(),
    };
    let store = Store::open_with_backend(backend).unwrap();
    let config = LedgerConfig {
        origin: Some("m2mhub/health-test".into()),
        default_origin: String::new(),
    };
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let ledger = Arc::new(Ledger::open_store(store, key, &config).unwrap());
    let state = AppState::new(ledger, TOKEN.into()).unwrap();
    let hub = common::Hub::serve(state, Limits::default()).await;
    let c = Client::new();

    assert_eq!(
        get(&c, &format!("{}/healthz", hub.url)).await,
        (StatusCode::OK, json!({"status": "ok"}))
    );
    let (status, ready) = get(&c, &format!("{}/readyz", hub.url)).await;
    assert_eq!(
        (status, ready["status"].clone(), ready["tree_size"].clone()),
        (StatusCode::OK, json!("ready"), json!(0))
    );

    // The disk goes away: the next block's commit fails, and the ledger refuses writes.
    broken.store(true, Ordering::SeqCst);
    let r = c
        .post(format!("{}/v1/devices", hub.url))
        .bearer_auth(TOKEN)
        .json(
            &json!({"name": "oven", "clearance": 1, "public_key": hex::encode(
            ed25519_dalek::SigningKey::from_bytes(&[9; 32]).verifying_key().as_bytes())}),
        )
        .send()
        .await
        .unwrap();
    assert!(!r.status().is_success(), "{}", r.status());
    let (status, body) = get(&c, &format!("{}/readyz", hub.url)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"], "storage_failed", "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("restart"),
        "{body}"
    );
    // Still alive: a restart is the operator's call, not the supervisor's liveness probe's.
    assert_eq!(
        get(&c, &format!("{}/healthz", hub.url)).await,
        (StatusCode::OK, json!({"status": "ok"}))
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_ready_while_shutting_down() {
    let tmp = tempfile::tempdir().unwrap();
    let ledger = common::ledger(tmp.path(), "m2mhub/health-test");
    let state = AppState::new(ledger, TOKEN.into()).unwrap();
    let hub = common::Hub::serve(state.clone(), Limits::default()).await;
    let c = Client::new();
    let (status, _) = get(&c, &format!("{}/readyz", hub.url)).await;
    assert_eq!(status, StatusCode::OK);
    // What a graceful shutdown does first (`run_with` closes the state): requests still in
    // flight or on kept-alive connections then hear that the hub is going.
    state.close();
    let (status, body) = get(&c, &format!("{}/readyz", hub.url)).await;
    assert_eq!(
        (status, body["error"].clone()),
        (StatusCode::SERVICE_UNAVAILABLE, json!("shutting_down"))
    );
    assert_eq!(
        get(&c, &format!("{}/healthz", hub.url)).await.0,
        StatusCode::OK
    );
    hub.stop().await;
}
