//! Backup and restore end to end, through the binary: `m2mhub backup` of a hub while devices
//! keep sending over HTTP, `m2mhub restore` into a new data directory, `verify --data` passes,
//! the restored hub continues the same log with the same key, and proofs taken before the
//! backup still verify against its new checkpoints; a truncated backup is refused and leaves
//! nothing. With anvil: `serve` refuses a restore older than the tree anchored on chain, and
//! serves one that covers it. In CI a missing anvil fails the test instead of skipping it.
#![allow(clippy::unwrap_used)]

mod common;

use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use common::{TOKEN, m2mhub, serve, serve_with, stop};
use ed25519_dalek::SigningKey;
use m2mhub_core::{
    checkpoint::Checkpoint, hash::Hash, merkle, message::Action, note::NoteVerifier,
};
use serde_json::Value;

const DEVICES: usize = 4;

fn device_key(i: usize) -> SigningKey {
    SigningKey::from_bytes(&[40 + i as u8; 32])
}

fn get_text(url: &str) -> String {
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async { reqwest::get(url).await.unwrap().text().await.unwrap() })
}

fn get_json(url: &str) -> Value {
    serde_json::from_str(&get_text(url)).unwrap()
}

/// The hub's current checkpoint, opened with its key.
fn checkpoint(url: &str) -> (Checkpoint, String, String) {
    let key = get_text(&format!("{url}/v1/key")).trim().to_owned();
    let note = get_text(&format!("{url}/v1/checkpoint"));
    let cp = Checkpoint::open(&note, &NoteVerifier::parse(&key).unwrap()).unwrap();
    (cp, note, key)
}

fn hashes(v: &Value) -> Vec<Hash> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|h| {
            hex::decode(h.as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap()
        })
        .collect()
}

fn hash(v: &Value) -> Hash {
    hex::decode(v.as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap()
}

/// Registers the devices, each allowed to reach the others.
fn register(url: &str) {
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let c = reqwest::Client::new();
        for i in 0..DEVICES {
            common::register(&c, url, &format!("d{i}"), &device_key(i), 1).await;
        }
    });
}

/// Devices sending begin messages to each other over HTTP until `stop`; counts the records
/// acknowledged and returns each device's last counter.
fn load(url: String, stop: Arc<AtomicBool>, acked: Arc<AtomicU64>) -> Vec<u64> {
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async move {
            let tasks: Vec<_> = (0..DEVICES)
                .map(|i| {
                    let (url, stop, acked) = (url.clone(), stop.clone(), acked.clone());
                    tokio::spawn(async move {
                        let c = reqwest::Client::new();
                        let mut counter = 0;
                        while !stop.load(Ordering::Relaxed) {
                            counter += 1;
                            let to = format!("d{}", (i + 1) % DEVICES);
                            let m = common::signed(
                                &device_key(i),
                                &format!("d{i}"),
                                &to,
                                Action::Begin,
                                0,
                                None,
                                counter,
                            );
                            let r = c.post(format!("{url}/v1/messages")).json(&m).send().await;
                            assert_eq!(r.unwrap().status(), 200);
                            acked.fetch_add(1, Ordering::Relaxed);
                        }
                        counter
                    })
                })
                .collect();
            let mut last = Vec::new();
            for t in tasks {
                last.push(t.await.unwrap());
            }
            last
        })
}

/// Waits (a generous deadline, not a timing assertion) until `acked` passes `n`.
fn wait_acked(acked: &AtomicU64, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.load(Ordering::Relaxed) < n {
        assert!(Instant::now() < deadline, "the load stalled");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn backup_cmd(url: &str, to: &Path, token_file: &Path) -> (bool, String) {
    m2mhub(&[
        "backup",
        "--url",
        url,
        "--to",
        to.to_str().unwrap(),
        "--token-file",
        token_file.to_str().unwrap(),
    ])
}

fn tree_size_of(backup_dir: &Path) -> u64 {
    let f = std::fs::File::open(backup_dir.join("ledger.m2mbackup")).unwrap();
    m2mhub_ledger::backup::scan(std::io::BufReader::new(f))
        .unwrap()
        .header
        .tree_size
}

#[test]
fn backup_under_load_restore_verify_and_continue_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("hub");
    let token_file = tmp.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let (hub, url) = serve(&data);
    register(&url);
    let (stop_load, acked) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let sender = {
        let (url, stop, acked) = (url.clone(), stop_load.clone(), acked.clone());
        std::thread::spawn(move || load(url, stop, acked))
    };
    wait_acked(&acked, 300);
    // A checkpoint and an inclusion proof from before the backup.
    let (cp0, _, key) = checkpoint(&url);
    let seq = DEVICES as u64 + 3;
    let incl0 = get_json(&format!(
        "{url}/v1/proof/inclusion?seq={seq}&tree_size={}",
        cp0.tree_size
    ));
    let leaf = hash(&incl0["leaf_hash"]);
    merkle::verify_inclusion(
        &leaf,
        seq,
        cp0.tree_size,
        &hashes(&incl0["path"]),
        &cp0.root,
    )
    .unwrap();

    let bdir = tmp.path().join("backup");
    let (ok, out) = backup_cmd(&url, &bdir, &token_file);
    assert!(ok, "{out}");
    assert!(out.contains("copy DATA/hub-key"), "{out}");
    // The devices kept sending after the snapshot.
    let after = acked.load(Ordering::Relaxed);
    wait_acked(&acked, after + 20);
    stop_load.store(true, Ordering::Relaxed);
    let counters = sender.join().unwrap();
    stop(hub);
    let backed_up = tree_size_of(&bdir);
    let source = m2mhub_ledger::store::Store::open(&data.join("ledger.redb"))
        .unwrap()
        .snapshot()
        .unwrap()
        .size()
        .unwrap();
    assert!(
        cp0.tree_size <= backed_up && backed_up < source,
        "{} {backed_up} {source}",
        cp0.tree_size
    );

    // Without the hub's key nothing is restored; with it copied beside the backup, it is.
    let restored = tmp.path().join("restored");
    let rs = restored.to_str().unwrap();
    let from = bdir.to_str().unwrap();
    let (ok, out) = m2mhub(&["restore", "--from", from, "--data", rs]);
    assert!(!ok && out.contains("hub-key"), "{out}");
    assert!(!restored.exists());
    std::fs::copy(data.join("hub-key"), bdir.join("hub-key")).unwrap();
    let (ok, out) = m2mhub(&["restore", "--from", from, "--data", rs]);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("restored {backed_up} entries")),
        "{out}"
    );
    let (ok, out) = m2mhub(&["verify", "--data", rs]);
    assert!(ok, "{out}");
    assert!(out.contains(&format!("ok: {backed_up} entries")), "{out}");

    // The restored hub continues the log: same key, the backup's last checkpoint, then new
    // blocks chained onto it.
    let (hub, url) = serve(&restored);
    let (cp1, _, key1) = checkpoint(&url);
    assert_eq!((key1, cp1.tree_size), (key, backed_up));
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let c = reqwest::Client::new();
        for (i, last) in counters.iter().enumerate() {
            let m = common::signed(
                &device_key(i),
                &format!("d{i}"),
                "d0",
                Action::Begin,
                0,
                None,
                last + 1,
            );
            let r = c
                .post(format!("{url}/v1/messages"))
                .json(&m)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let rec: Value = r.json().await.unwrap();
            assert!(rec["seq"].as_u64().unwrap() >= backed_up, "{rec}");
        }
    });
    let (cp2, _, _) = checkpoint(&url);
    assert_eq!(cp2.tree_size, backed_up + DEVICES as u64);
    // The first new block links to the backup's last one.
    let next = get_json(&format!("{url}/v1/blocks/{}", cp1.block + 1));
    assert_eq!(next["prev_hash"], hex::encode(cp1.block_hash()));
    // The proof from before the backup: its tree is a prefix of the new one, and the entry is
    // in the new tree under the same leaf hash.
    let cons = get_json(&format!(
        "{url}/v1/proof/consistency?from={}&to={}",
        cp0.tree_size, cp2.tree_size
    ));
    merkle::verify_consistency(
        cp0.tree_size,
        cp2.tree_size,
        &cp0.root,
        &cp2.root,
        &hashes(&cons["path"]),
    )
    .unwrap();
    let incl2 = get_json(&format!(
        "{url}/v1/proof/inclusion?seq={seq}&tree_size={}",
        cp2.tree_size
    ));
    assert_eq!(hash(&incl2["leaf_hash"]), leaf);
    merkle::verify_inclusion(
        &leaf,
        seq,
        cp2.tree_size,
        &hashes(&incl2["path"]),
        &cp2.root,
    )
    .unwrap();
    stop(hub);
    let (ok, out) = m2mhub(&["verify", "--data", rs]);
    assert!(ok, "{out}");

    // A truncated backup is refused by name and leaves no data directory.
    let cut = tmp.path().join("cut");
    std::fs::create_dir_all(&cut).unwrap();
    let bytes = std::fs::read(bdir.join("ledger.m2mbackup")).unwrap();
    std::fs::write(cut.join("ledger.m2mbackup"), &bytes[..bytes.len() / 2]).unwrap();
    std::fs::copy(data.join("hub-key"), cut.join("hub-key")).unwrap();
    let target = tmp.path().join("from-cut");
    let (ok, out) = m2mhub(&[
        "restore",
        "--from",
        cut.to_str().unwrap(),
        "--data",
        target.to_str().unwrap(),
    ]);
    assert!(!ok && out.contains("truncated"), "{out}");
    assert!(!target.exists());
    // And a target that is not empty is never written over.
    let (ok, out) = m2mhub(&["restore", "--from", from, "--data", data.to_str().unwrap()]);
    assert!(!ok && out.contains("is not empty"), "{out}");
}

/// Sends `n` begin messages from d0 with counters from `first`.
fn send(url: &str, first: u64, n: u64) {
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let c = reqwest::Client::new();
        for counter in first..first + n {
            let m = common::signed(&device_key(0), "d0", "d1", Action::Begin, 0, None, counter);
            let r = c
                .post(format!("{url}/v1/messages"))
                .json(&m)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
    });
}

/// Waits (a generous deadline, not a timing assertion) until the chain anchors `size`.
fn wait_anchored(rpc_url: &str, data: &Path, size: u64) {
    use m2mhub_chain::rpc;
    let addrs = rpc::Addresses::load(data).unwrap();
    let provider = rpc::connect_read_only(rpc_url).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let a = rt
            .block_on(rpc::latest_anchor(&provider, addrs.anchor))
            .unwrap();
        if a.is_some_and(|a| a.tree_size == size) {
            return;
        }
        assert!(Instant::now() < deadline, "anchored {a:?}, want {size}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn serve_refuses_a_restore_older_than_the_anchored_tree() {
    let Some(node) = m2mhub_chain::anvil::start().unwrap() else {
        eprintln!("SKIPPED: anvil is not installed (make deps); in CI this fails");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("hub");
    let key_file = tmp.path().join("chain-key");
    std::fs::write(&key_file, format!("0x{}\n", node.key_hex)).unwrap();
    let token_file = tmp.path().join("token");
    std::fs::write(&token_file, TOKEN).unwrap();
    let (ok, out) = m2mhub(&[
        "chain",
        "deploy",
        "--rpc",
        &node.url,
        "--key-file",
        key_file.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    let chain = [
        "--chain-rpc",
        node.url.as_str(),
        "--chain-key-file",
        key_file.to_str().unwrap(),
        "--anchor-every",
        "100ms",
    ];
    let (hub, url) = serve_with(&data, &chain);
    register(&url);
    send(&url, 1, 2);
    let old = tmp.path().join("old");
    let (ok, out) = backup_cmd(&url, &old, &token_file);
    assert!(ok, "{out}");
    send(&url, 3, 3);
    let size = DEVICES as u64 + 5;
    wait_anchored(&node.url, &data, size);
    let new = tmp.path().join("new");
    let (ok, out) = backup_cmd(&url, &new, &token_file);
    assert!(ok, "{out}");
    stop(hub);

    let restore = |from: &Path, to: &Path| {
        for f in ["hub-key", "chain.json"] {
            std::fs::copy(data.join(f), from.join(f)).unwrap();
        }
        let (ok, out) = m2mhub(&[
            "restore",
            "--from",
            from.to_str().unwrap(),
            "--data",
            to.to_str().unwrap(),
        ]);
        assert!(ok, "{out}");
    };
    // The old backup restores (it is a sound prefix of the log) but must not be served with
    // anchoring on: appending to it would fork the anchored history.
    let from_old = tmp.path().join("from-old");
    restore(&old, &from_old);
    let text = common::serve_refuses_with(&from_old, &chain);
    assert!(
        text.contains("refusing to serve")
            && text.contains(&format!("anchored a tree of {size} entries")),
        "{text}"
    );
    // A restore that covers the anchored tree serves, with anchoring on.
    let from_new = tmp.path().join("from-new");
    restore(&new, &from_new);
    let (hub, _) = serve_with(&from_new, &chain);
    stop(hub);
}
