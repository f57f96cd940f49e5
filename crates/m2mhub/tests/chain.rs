//! The hub on a real Ethereum node (anvil, started by the test): `chain deploy`, `serve
//! --chain-rpc … --chain-mode full` anchors and mirrors, is killed (SIGKILL) and restarted,
//! anchors again from where the chain says it stopped; `verify --chain-rpc` passes (on the
//! running hub through its API, and offline on its data directory); a history rewritten with
//! the hub's own key (which `verify --data` alone accepts) and a tampered copy both fail it,
//! and a hub serving the rewritten ledger refuses to anchor it. In CI a missing anvil fails
//! the test instead of skipping it.
#![allow(clippy::unwrap_used)]

mod common;

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use common::{copy_dir, m2mhub};
use ed25519_dalek::{Signer, SigningKey};
use m2mhub_chain::{
    contracts::M2MHubLedger,
    rpc::{self, Addresses},
};
use m2mhub_core::{
    ids::TxId,
    message::{Action, Message},
    names::DeviceName,
};
use serde_json::json;

use common::{BIN, TOKEN};

/// A hub process (and its log lines), killed if the test fails before stopping it.
struct Hub(Child, std::sync::mpsc::Receiver<String>);

impl Drop for Hub {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn serve(dir: &Path, chain: &[&str]) -> (Hub, String) {
    let mut args = vec![
        "serve",
        "--data",
        dir.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--origin",
        "m2mhub/chain-test",
    ];
    args.extend_from_slice(chain);
    let mut child = Command::new(BIN)
        .args(&args)
        .env("M2MHUB_OPERATOR_TOKEN", TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, logs) = std::sync::mpsc::channel();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let url = common::listening_url(&mut child);
    (Hub(child, logs), url)
}

fn signal(hub: &mut Hub, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &hub.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    hub.0.wait().unwrap();
}

/// Registers `devices` (name, key seed, clearance) and sends `n` begin messages between the
/// first two, counters from `first_counter`.
fn populate(url: &str, devices: &[(&str, u8, u32)], n: u64, first_counter: u64) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = reqwest::Client::new();
        for (name, seed, clearance) in devices {
            let key = SigningKey::from_bytes(&[*seed; 32]);
            let body = json!({"name": name, "clearance": clearance, "public_key": hex::encode(key.verifying_key().as_bytes())});
            let r = c.post(format!("{url}/v1/devices")).bearer_auth(TOKEN).json(&body).send().await.unwrap();
            assert_eq!(r.status(), 201);
        }
        let key = SigningKey::from_bytes(&[1; 32]);
        for counter in first_counter..first_counter + n {
            let mut m = Message {
                sender: DeviceName::new("phone").unwrap(),
                receiver: DeviceName::new("door_lock").unwrap(),
                action: if counter % 2 == 0 { Action::Begin } else { Action::Continue },
                tx: TxId(if counter % 2 == 0 { 0 } else { counter / 2 + 1 }),
                cause: None,
                counter,
                contents: format!("unlock #{counter}"),
                signature: [0; 64],
                form: m2mhub_core::message::Form::OneHub,
            };
            m.signature = key.sign(&m.signing_bytes()).to_bytes();
            let body = serde_json::to_value(m.to_submission()).unwrap();
            let r = c.post(format!("{url}/v1/messages")).json(&body).send().await.unwrap();
            assert_eq!(r.status(), 200);
        }
    });
}

/// Re-keys `name` to the key of `seed` through the operator route.
fn rekey(url: &str, name: &str, seed: u8) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let key = SigningKey::from_bytes(&[seed; 32]);
        let body = json!({"public_key": hex::encode(key.verifying_key().as_bytes())});
        let r = reqwest::Client::new()
            .post(format!("{url}/v1/devices/{name}/rekey"))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    });
}

fn entries(url: &str) -> u64 {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let b: serde_json::Value = reqwest::get(format!("{url}/v1/blocks?limit=1000"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        // A new hub has fewer than 1,000 blocks: one page.
        b["items"]
            .as_array()
            .and_then(|a| a.last())
            .and_then(|l| l["tree_size"].as_u64())
            .unwrap()
    })
}

/// Waits (up to a generous deadline: this is not a timing assertion) until the chain has
/// anchored `size` entries and, in full mode, mirrored them.
fn wait_for_chain(rpc_url: &str, addrs: &Addresses, size: u64, mirrored: bool) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let provider = rpc::connect_read_only(rpc_url).unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (anchored, count) = rt.block_on(async {
            let a = rpc::latest_anchor(&provider, addrs.anchor).await.unwrap();
            let c = M2MHubLedger::new(addrs.ledger, &provider)
                .entryCount()
                .call()
                .await
                .unwrap();
            (a.map_or(0, |a| a.tree_size), c)
        });
        if anchored == size && (!mirrored || count == size) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "chain has {anchored} anchored, {count} mirrored; want {size}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The hub's `/metrics` text.
fn metrics_of(url: &str) -> String {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        reqwest::get(format!("{url}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    })
}

/// Waits (up to a generous deadline) until the hub's `m2mhub_anchor_lag_entries` is `lag`.
fn wait_for_anchor_lag(url: &str, lag: u64) {
    let want = format!("\nm2mhub_anchor_lag_entries {lag}\n");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let m = metrics_of(url);
        if m.contains(&want) {
            return;
        }
        assert!(Instant::now() < deadline, "want lag {lag}:\n{m}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn anchor_kill_restart_anchor_verify_and_detect_a_rewritten_history() {
    let Some(node) = m2mhub_chain::anvil::start().unwrap() else {
        eprintln!("SKIPPED: anvil is not installed (make deps); in CI this fails");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("hub");
    let key_file: PathBuf = tmp.path().join("chain-key");
    std::fs::write(&key_file, format!("0x{}\n", node.key_hex)).unwrap();
    let key = key_file.to_str().unwrap();
    let data_s = data.to_str().unwrap();

    let (ok, out) = m2mhub(&[
        "chain",
        "deploy",
        "--rpc",
        &node.url,
        "--key-file",
        key,
        "--data",
        data_s,
    ]);
    assert!(ok, "{out}");
    assert!(out.contains("M2MHubAnchor"), "{out}");
    let addrs = Addresses::load(&data).unwrap();

    let chain = [
        "--chain-rpc",
        node.url.as_str(),
        "--chain-key-file",
        key,
        "--anchor-every",
        "100ms",
        "--chain-mode",
        "full",
    ];
    let devices = [("phone", 1u8, 3u32), ("door_lock", 2, 1)];
    let (mut hub, url) = serve(&data, &chain);
    populate(&url, &devices, 4, 1);
    let size = entries(&url);
    assert_eq!(size, 6);
    wait_for_chain(&node.url, &addrs, size, true);
    // Killed, not stopped: nothing of the chain's progress lives in the hub.
    signal(&mut hub, "-KILL");

    let (mut hub, url) = serve(&data, &chain);
    // A re-key (SPEC §3.2.2) is a registry entry the mirror relays too.
    rekey(&url, "door_lock", 5);
    populate(&url, &[], 5, 5);
    let size = entries(&url);
    assert_eq!(size, 12);
    wait_for_chain(&node.url, &addrs, size, true);
    // The anchor lag metric follows the anchorer: nothing left to anchor.
    wait_for_anchor_lag(&url, 0);
    // An anchoring hub shows every metric deploy/alerts.yml names but a federation member's
    // (deploy.rs checks the others on a hub that does not anchor, federation_messages.rs the
    // federation's on a member).
    let names: Vec<String> = common::alert_metric_names()
        .into_iter()
        .filter(|n| !n.starts_with("m2mhub_federation_"))
        .collect();
    let metrics = metrics_of(&url);
    let missing = common::missing_metrics(&names, &metrics);
    assert!(
        missing.is_empty(),
        "not on /metrics: {missing:?}\n{metrics}"
    );
    // `status` reports the lag.
    let (ok, out) = m2mhub(&["status", "--url", &url, "--json"]);
    assert!(ok, "{out}");
    let status: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (&status["anchor_lag_entries"], &status["tree_size"]),
        (&json!(0), &json!(12)),
        "{status}"
    );
    // From outside, through the running hub's public API.
    let anchor = addrs.anchor.to_string();
    let (ok, out) = m2mhub(&[
        "verify",
        "--url",
        &url,
        "--chain-rpc",
        &node.url,
        "--chain-anchor",
        &anchor,
    ]);
    assert!(ok, "{out}");
    assert!(out.contains("chain ok"), "{out}");
    signal(&mut hub, "-TERM");

    let (ok, out) = m2mhub(&["verify", "--data", data_s, "--chain-rpc", &node.url]);
    assert!(ok, "{out}");
    assert!(out.contains("chain ok"), "{out}");

    // A rewritten history: same hub key and origin, other entries, as long as the anchored
    // one. Its own signatures and replay check out; only the chain can tell.
    let forged = tmp.path().join("forged");
    std::fs::create_dir_all(&forged).unwrap();
    std::fs::copy(data.join("hub-key"), forged.join("hub-key")).unwrap();
    std::fs::copy(data.join("chain.json"), forged.join("chain.json")).unwrap();
    // The hub refuses a directory that holds its key but lost its ledger unless told to start
    // a new one: the attacker with the key says so.
    let (mut hub, url) = serve(&forged, &["--new-ledger"]);
    populate(&url, &[("phone", 1, 3), ("door_lock", 2, 3)], 10, 1);
    assert_eq!(entries(&url), 12);
    signal(&mut hub, "-TERM");
    let forged_s = forged.to_str().unwrap();
    let (ok, out) = m2mhub(&["verify", "--data", forged_s]);
    assert!(ok, "the forged ledger is self-consistent: {out}");
    let (ok, out) = m2mhub(&["verify", "--data", forged_s, "--chain-rpc", &node.url]);
    assert!(!ok, "{out}");
    assert!(out.contains("FAILED: chain"), "{out}");
    // Serving the forged ledger with anchoring on: the hub refuses to anchor it.
    let (hub, _) = serve(&forged, &chain[..6]);
    let refused = loop {
        // A deadline, not a timing assertion: the refusal comes within one anchoring round.
        let line = hub
            .1
            .recv_timeout(Duration::from_secs(120))
            .expect("the hub logs its refusal");
        if line.contains("anchoring refused") {
            break line;
        }
    };
    assert!(refused.contains("mismatch"), "{refused}");
    drop(hub);
    let provider = rpc::connect_read_only(&node.url).unwrap();
    let latest = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(rpc::latest_anchor(&provider, addrs.anchor))
        .unwrap()
        .unwrap();
    assert_eq!(latest.tree_size, 12);

    // A tampered copy of the real ledger fails too.
    let tampered = tmp.path().join("tampered");
    copy_dir(&data, &tampered);
    {
        let db = redb::Database::open(tampered.join("ledger.redb")).unwrap();
        let table: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("entries");
        let txn = db.begin_write().unwrap();
        {
            let mut t = txn.open_table(table).unwrap();
            let mut bytes = redb::ReadableTable::get(&t, 3u64)
                .unwrap()
                .unwrap()
                .value()
                .to_vec();
            bytes[5] ^= 0x01;
            t.insert(3u64, bytes.as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }
    let (ok, out) = m2mhub(&[
        "verify",
        "--data",
        tampered.to_str().unwrap(),
        "--chain-rpc",
        &node.url,
    ]);
    assert!(!ok, "{out}");
}
