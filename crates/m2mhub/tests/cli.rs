//! The `m2mhub` binary end to end: `serve` prints its listening line and stops on SIGTERM;
//! `verify --url`, `trace` and `export` work against it; `verify --data` passes on the stopped
//! hub's directory and names the first bad seq on a tampered copy.
#![allow(clippy::unwrap_used)]

mod common;

use std::{
    io::Write,
    path::Path,
    process::{Command, Stdio},
};

use common::{TOKEN, copy_dir, m2mhub, serve, serve_refuses, signed, stop, tool};
use ed25519_dalek::SigningKey;
use m2mhub_core::message::Action;
use serde_json::json;

fn populate(url: &str) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = reqwest::Client::new();
        let lock = SigningKey::from_bytes(&[1; 32]);
        let phone = SigningKey::from_bytes(&[2; 32]);
        for (name, key, clearance) in [("door_lock", &lock, 1), ("phone", &phone, 3)] {
            let body = json!({"name": name, "clearance": clearance, "public_key": hex::encode(key.verifying_key().as_bytes())});
            let r = c.post(format!("{url}/v1/devices")).bearer_auth(TOKEN).json(&body).send().await.unwrap();
            assert_eq!(r.status(), 201);
        }
        let msgs = [
            signed(&phone, "phone", "door_lock", Action::Begin, 0, None, 1),
            signed(&lock, "door_lock", "phone", Action::Continue, 1, Some(2), 1),
            signed(&lock, "door_lock", "phone", Action::Begin, 0, None, 2),
            signed(&phone, "phone", "door_lock", Action::End, 1, Some(2), 2),
        ];
        for m in msgs {
            let r = c.post(format!("{url}/v1/messages")).json(&m).send().await.unwrap();
            assert_eq!(r.status(), 200);
        }
    });
}

fn tamper_entry(store: &Path, seq: u64) {
    let db = redb::Database::open(store).unwrap();
    let table: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("entries");
    let txn = db.begin_write().unwrap();
    {
        let mut t = txn.open_table(table).unwrap();
        let mut bytes = redb::ReadableTable::get(&t, seq)
            .unwrap()
            .unwrap()
            .value()
            .to_vec();
        bytes[5] ^= 0x01; // a letter of the sender's name
        t.insert(seq, bytes.as_slice()).unwrap();
    }
    txn.commit().unwrap();
}

#[test]
fn serve_verify_trace_export_and_tamper() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (hub, url) = serve(&data);
    populate(&url);

    let (ok, out) = m2mhub(&["verify", "--url", &url]);
    assert!(ok, "{out}");
    assert!(out.contains("ok: 6 entries"), "{out}");

    let (ok, out) = m2mhub(&["trace", "1", "--url", &url]);
    assert!(ok, "{out}");
    assert!(
        out.contains("provenance phone") && out.contains("#3 door_lock → phone continue"),
        "{out}"
    );

    let (ok, out) = m2mhub(&["export", "--format", "jsonl", "--url", &url]);
    assert!(ok, "{out}");
    assert_eq!(out.lines().count(), 6);
    let (ok, out) = m2mhub(&["export", "--format", "dot", "--url", &url]);
    assert!(
        ok && out.contains("digraph tx1") && out.contains("digraph tx2"),
        "{out}"
    );
    // Graphviz draws each label's lines as lines: the action on a line of its own, never
    // after a literal `\n` (issue 14: labels were escaped twice).
    if let Some(dot) = tool("dot") {
        let mut child = Command::new(dot)
            .arg("-Tsvg")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(out.as_bytes())
            .unwrap();
        let drawn = child.wait_with_output().unwrap();
        assert!(drawn.status.success());
        let svg = String::from_utf8(drawn.stdout).unwrap();
        assert!(
            svg.contains(">begin</text>") && svg.contains(">end</text>") && !svg.contains("\\n"),
            "{svg}"
        );
    }

    stop(hub);
    let (ok, out) = m2mhub(&["verify", "--data", data.to_str().unwrap()]);
    assert!(ok, "{out}");

    // A copy with one entry edited behind the hub's back.
    let copy = tmp.path().join("tampered");
    copy_dir(&data, &copy);
    tamper_entry(&copy.join("ledger.redb"), 4);
    let (ok, out) = m2mhub(&["verify", "--data", copy.to_str().unwrap()]);
    assert!(!ok, "{out}");
    assert!(out.contains("first bad seq 4"), "{out}");

    // The original still verifies and the hub restarts on it.
    let (hub, url) = serve(&data);
    let (ok, out) = m2mhub(&["verify", "--url", &url]);
    assert!(ok, "{out}");
    stop(hub);
}

#[test]
fn device_keygen_writes_an_owner_only_key() {
    let tmp = tempfile::tempdir().unwrap();
    let prefix = tmp.path().join("oven");
    let (ok, out) = m2mhub(&["device", "keygen", "--out", prefix.to_str().unwrap()]);
    assert!(ok, "{out}");
    let public = std::fs::read_to_string(prefix.with_extension("pub")).unwrap();
    assert_eq!(public.trim().len(), 64);
    assert!(out.contains(public.trim()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(prefix.with_extension("key"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }
    let (ok, _) = m2mhub(&["device", "keygen", "--out", prefix.to_str().unwrap()]);
    assert!(!ok, "keygen must not overwrite a key");
}

#[test]
fn demo_finds_the_device_that_switched_the_oven_on() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("demo");
    let (ok, out) = m2mhub(&[
        "demo",
        "--once",
        "--listen",
        "127.0.0.1:0",
        "--data",
        data.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    assert!(out.contains("root cause: smart_tv (clearance 1)"), "{out}");
    assert!(out.contains("smart_tv           3 invalid"), "{out}");
    // What the demo recorded verifies.
    let (ok, out) = m2mhub(&["verify", "--data", data.to_str().unwrap()]);
    assert!(ok, "{out}");
}

#[test]
fn every_file_of_the_data_directory_is_guarded() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (hub, url) = serve(&data);
    populate(&url);
    stop(hub);
    let case = |name: &str, damage: &dyn Fn(&Path)| -> (String, String) {
        let copy = tmp.path().join(name);
        copy_dir(&data, &copy);
        damage(&copy);
        let refused = serve_refuses(&copy);
        let (ok, verified) = m2mhub(&["verify", "--data", copy.to_str().unwrap()]);
        assert!(!ok, "{name}: verify passed: {verified}");
        (refused, verified)
    };
    let (refused, _) = case("no-ledger", &|d| {
        std::fs::remove_file(d.join("ledger.redb")).unwrap()
    });
    assert!(refused.contains("deleted or moved"), "{refused}");
    let (refused, verified) = case("no-key", &|d| {
        std::fs::remove_file(d.join("hub-key")).unwrap()
    });
    assert!(
        refused.contains("signature") || refused.contains("key"),
        "{refused}"
    );
    assert!(verified.contains("hub-key"), "{verified}");
    let (refused, verified) = case("other-key", &|d| {
        let other = tempfile::tempdir().unwrap();
        let (hub, _) = serve(other.path());
        stop(hub);
        std::fs::copy(other.path().join("hub-key"), d.join("hub-key")).unwrap();
    });
    assert!(
        !refused.is_empty() && verified.contains("FAILED"),
        "{verified}"
    );
    let (_, verified) = case("truncated", &|d| {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(d.join("ledger.redb"))
            .unwrap();
        let len = f.metadata().unwrap().len();
        f.set_len(len / 2).unwrap();
    });
    assert!(!verified.contains("ok:"), "{verified}");
    // The undamaged original still serves.
    let (hub, _) = serve(&data);
    stop(hub);
}

#[test]
fn no_secret_reaches_the_logs_even_at_trace_level() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut child = std::process::Command::new(common::BIN)
        .args([
            "serve",
            "--data",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .env("M2MHUB_OPERATOR_TOKEN", TOKEN)
        .env("M2MHUB_LOG", "trace")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let err_log = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::BufReader::new(stderr), &mut s).unwrap();
        s
    });
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut printed = String::new();
    let url = loop {
        let mut line = String::new();
        assert!(
            std::io::BufRead::read_line(&mut out, &mut line).unwrap() > 0,
            "{printed}"
        );
        printed.push_str(&line);
        if let Some(u) = line.trim().strip_prefix("listening on ") {
            break u.to_owned();
        }
    };
    populate(&url); // operator calls with the token, device messages
    // A wrong token too: the refusal must not echo what was sent.
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let r = reqwest::Client::new()
            .post(format!("{url}/v1/devices"))
            .bearer_auth("not-the-token-but-secret-too")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    });
    stop(child);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    printed.push_str(&rest);
    let logs = format!("{printed}{}", err_log.join().unwrap());
    assert!(!logs.is_empty());
    let key = std::fs::read(data.join("hub-key")).unwrap();
    for secret in [
        TOKEN.to_owned(),
        "not-the-token-but-secret-too".to_owned(),
        String::from_utf8_lossy(&key).trim().to_owned(),
        hex::encode(&key),
    ] {
        assert!(!logs.contains(&secret), "a secret reached the logs");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join("hub-key")), 0o600);
    }
}
