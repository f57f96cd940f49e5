//! The binary over MQTT: `serve --mqtt` runs the embedded broker and records what devices
//! publish; `device keygen`, `device send` (over MQTT and HTTP) and `device listen` work
//! through the device SDK against it; the SDK's outside verifier checks the records.
#![allow(clippy::unwrap_used)]

mod common;

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
};

use m2mhub_client::{http::HttpTransport, keys::DeviceKey, verifier::Verifier, wire::Record};

use common::{BIN, TOKEN, serve_with, stop};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `serve --mqtt` on free ports; returns the child, the HTTP URL and the broker URL.
fn serve(dir: &Path) -> (Child, String, String) {
    let mqtt = format!("127.0.0.1:{}", free_port());
    let (child, url) = serve_with(dir, &["--mqtt", "--mqtt-listen", &mqtt]);
    (child, url, format!("mqtt://{mqtt}"))
}

fn m2mhub(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "m2mhub {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn serve_mqtt_device_send_listen_and_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let (hub, url, broker) = serve(&tmp.path().join("data"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let http = HttpTransport::new(&url);
    for (name, clearance) in [("phone", 3), ("door_lock", 1)] {
        let prefix = tmp.path().join(name);
        let public = m2mhub(&["device", "keygen", "--out", prefix.to_str().unwrap()]);
        assert_eq!(
            public.trim(),
            DeviceKey::load(&prefix).unwrap().public_hex()
        );
        rt.block_on(http.register_device(TOKEN, name, clearance, public.trim(), &[]))
            .unwrap();
    }

    // The door lock listens; the phone opens a transaction over MQTT.
    let mut listen = Command::new(BIN)
        .args(["device", "listen", "--name", "door_lock", "--mqtt", &broker])
        .args(["--count", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // It says so on stderr once subscribed.
    let mut err = BufReader::new(listen.stderr.take().unwrap()).lines();
    assert!(
        err.next()
            .unwrap()
            .unwrap()
            .starts_with("listening to m2m/in/door_lock")
    );
    let key = tmp.path().join("phone");
    let out = m2mhub(&[
        "device",
        "send",
        "--name",
        "phone",
        "--key",
        key.to_str().unwrap(),
        "--to",
        "door_lock",
        "--contents",
        "unlock",
        "--mqtt",
        &broker,
    ]);
    let begin: Record = serde_json::from_str(out.trim()).unwrap();
    assert!(begin.valid, "{begin:?}");
    assert_eq!((begin.tx, begin.counter), (1, 1));
    let delivered = listen.wait_with_output().unwrap();
    assert!(delivered.status.success());
    let d: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&delivered.stdout).trim()).unwrap();
    assert_eq!(d["seq"], begin.seq);
    assert_eq!(d["contents"], "unlock");
    assert_eq!(d["provenance"], "phone");
    let verifier = rt
        .block_on(Verifier::fetch_key(HttpTransport::new(&url)))
        .unwrap();
    let early = rt.block_on(verifier.checkpoint()).unwrap();

    // The door lock answers over HTTP in the same transaction; the counter file moved on.
    let key = tmp.path().join("door_lock");
    let out = m2mhub(&[
        "device",
        "send",
        "--name",
        "door_lock",
        "--key",
        key.to_str().unwrap(),
        "--to",
        "phone",
        "--action",
        "continue",
        "--tx",
        "1",
        "--cause",
        &begin.seq.to_string(),
        "--contents",
        "unlocked",
        "--url",
        &url,
    ]);
    let cont: Record = serde_json::from_str(out.trim()).unwrap();
    assert!(cont.valid, "{cont:?}");
    assert_eq!((cont.tx, cont.cause), (1, Some(begin.seq)));
    let out = m2mhub(&[
        "device",
        "send",
        "--name",
        "phone",
        "--key",
        tmp.path().join("phone").to_str().unwrap(),
        "--to",
        "door_lock",
        "--action",
        "end",
        "--tx",
        "1",
        "--url",
        &url,
    ]);
    let end: Record = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(end.counter, 2, "the phone's counter persisted between runs");

    // An outside verifier checks every record against the signed checkpoint.
    rt.block_on(async {
        let v = &verifier;
        let cp = v.checkpoint().await.unwrap();
        assert!(cp.tree_size > early.tree_size);
        v.verify_consistency(&early, &cp).await.unwrap();
        for r in [&begin, &cont, &end] {
            v.verify_record(r, &cp).await.unwrap();
        }
        let mut forged = begin.clone();
        forged.leaf_hash = cont.leaf_hash.clone();
        assert!(v.verify_record(&forged, &cp).await.is_err());
    });
    stop(hub);
}

/// `demo --mqtt --once`: the demo's devices run over the embedded broker through the SDK and
/// the investigation still finds the smart TV.
#[test]
fn demo_over_mqtt_finds_the_smart_tv() {
    let mqtt = format!("127.0.0.1:{}", free_port());
    let out = Command::new(BIN)
        .args(["demo", "--once", "--listen", "127.0.0.1:0", "--mqtt"])
        .args(["--mqtt-listen", &mqtt])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("mqtt broker on mqtt://{mqtt}")),
        "{stdout}"
    );
    assert!(stdout.contains("root cause: smart_tv"), "{stdout}");
}

/// `serve --mqtt-connect … --policy enforce` against a real Mosquitto: an invalid message is
/// recorded and acknowledged with its verdict but not delivered; the valid one after it is.
#[test]
fn serve_mqtt_connect_enforce() {
    let Some(m) = common::mosquitto::Mosquitto::start("") else {
        return;
    };
    let broker = format!("mqtt://127.0.0.1:{}", m.port);
    let tmp = tempfile::tempdir().unwrap();
    let (hub, url) = serve_with(
        &tmp.path().join("data"),
        &["--mqtt-connect", &broker, "--policy", "enforce"],
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let http = HttpTransport::new(&url);
    for (name, clearance) in [("sensor", 1), ("gateway", 4)] {
        let prefix = tmp.path().join(name);
        let public = m2mhub(&["device", "keygen", "--out", prefix.to_str().unwrap()]);
        rt.block_on(http.register_device(TOKEN, name, clearance, public.trim(), &[]))
            .unwrap();
    }
    let mut listen = Command::new(BIN)
        .args([
            "device", "listen", "--name", "gateway", "--mqtt", &broker, "--count", "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(listen.stderr.take().unwrap()).lines();
    assert!(
        err.next()
            .unwrap()
            .unwrap()
            .starts_with("listening to m2m/in/gateway")
    );
    let send = |name: &str, to: &str, contents: &str| -> Record {
        let key = tmp.path().join(name);
        let out = m2mhub(&[
            "device",
            "send",
            "--name",
            name,
            "--key",
            key.to_str().unwrap(),
            "--to",
            to,
            "--contents",
            contents,
            "--mqtt",
            &broker,
        ]);
        serde_json::from_str(out.trim()).unwrap()
    };
    // A sensor may not open a conversation with the gateway: recorded, flagged, held back.
    let bad = send("sensor", "gateway", "let me in");
    assert_eq!(bad.notices, ["insufficient_clearance"]);
    let good = send("gateway", "gateway", "self test");
    assert!(good.valid, "{good:?}");
    let delivered = listen.wait_with_output().unwrap();
    let d: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&delivered.stdout).trim()).unwrap();
    assert_eq!(d["seq"], good.seq, "the invalid message was delivered");
    stop(hub);
}

/// The security events of `url` (operator token), once the newest has id `newest`.
fn security_events(url: &str, newest: u64) -> Vec<serde_json::Value> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let c = reqwest::Client::new();
    for _ in 0..200 {
        let page: serde_json::Value = rt.block_on(async {
            c.get(format!("{url}/v1/security-events"))
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap()
        });
        let items = page["items"].as_array().unwrap().clone();
        if items.last().and_then(|e| e["id"].as_u64()) == Some(newest) {
            return items;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("security event {newest} never showed at {url}");
}

/// A submission refused over MQTT is kept as a security event with the topic it came on and
/// the sender it claimed, in the data directory: it is still there after a restart.
#[test]
fn serve_mqtt_keeps_refusals_as_security_events() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (hub, url, broker) = serve(&data);
    let prefix = tmp.path().join("ghost");
    m2mhub(&["device", "keygen", "--out", prefix.to_str().unwrap()]);
    let out = Command::new(BIN)
        .args(["device", "send", "--name", "ghost", "--key"])
        .arg(&prefix)
        .args(["--to", "ghost", "--contents", "boo", "--mqtt", &broker])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && said.contains("unknown_sender"),
        "{said}"
    );
    let events = security_events(&url, 1);
    let e = &events[0];
    assert_eq!(
        (&e["transport"], &e["source"], &e["sender"], &e["code"]),
        (
            &serde_json::json!("mqtt"),
            &serde_json::json!("m2m/out/ghost"),
            &serde_json::json!("ghost"),
            &serde_json::json!("unknown_sender")
        ),
        "{e}"
    );
    stop(hub);
    assert!(data.join("security-events.redb").exists());
    let (hub, url) = serve_with(&data, &[]);
    assert_eq!(security_events(&url, 1), events);
    stop(hub);
}

/// `mqtt-auth = true` in the config file: the embedded broker takes only signed CONNECTs
/// (SPEC §5.2). `device send` signs its CONNECT with the device's key and gets through; a
/// listener without a key, and a sender with another device's key, are refused, and each
/// refusal is a security event with the client id as its source.
#[test]
fn serve_mqtt_auth_from_the_config_file() {
    let tmp = tempfile::tempdir().unwrap();
    let mqtt = format!("127.0.0.1:{}", free_port());
    let config = tmp.path().join("hub.toml");
    std::fs::write(
        &config,
        format!("mqtt = true\nmqtt-listen = \"{mqtt}\"\nmqtt-auth = true\n"),
    )
    .unwrap();
    let (hub, url) = serve_with(
        &tmp.path().join("data"),
        &["--config", config.to_str().unwrap()],
    );
    let broker = format!("mqtt://{mqtt}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let http = HttpTransport::new(&url);
    for (name, clearance) in [("phone", 3), ("door_lock", 1)] {
        let prefix = tmp.path().join(name);
        let public = m2mhub(&["device", "keygen", "--out", prefix.to_str().unwrap()]);
        rt.block_on(http.register_device(TOKEN, name, clearance, public.trim(), &[]))
            .unwrap();
    }
    let send = |name: &str, key: &str| {
        Command::new(BIN)
            .args(["device", "send", "--name", name, "--key"])
            .arg(tmp.path().join(key))
            .args(["--to", "door_lock", "--contents", "open", "--mqtt", &broker])
            .output()
            .unwrap()
    };
    let sent = send("phone", "phone");
    assert!(sent.status.success(), "{sent:?}");
    let record: Record = serde_json::from_slice(&sent.stdout).unwrap();
    assert!(record.valid, "{record:?}");

    let unsigned = Command::new(BIN)
        .args(["device", "listen", "--name", "door_lock", "--mqtt", &broker])
        .output()
        .unwrap();
    assert!(!unsigned.status.success(), "{unsigned:?}");
    let forged = send("phone", "door_lock");
    assert!(!forged.status.success(), "{forged:?}");
    let events = security_events(&url, 2);
    let seen: Vec<(&str, &str, &str)> = events
        .iter()
        .map(|e| {
            (
                e["transport"].as_str().unwrap(),
                e["code"].as_str().unwrap(),
                e["source"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(seen[0].0, "mqtt");
    assert_eq!(seen[0].1, "malformed");
    assert!(seen[0].2.starts_with("door_lock:"), "{seen:?}");
    assert_eq!(seen[1].1, "bad_signature");
    assert!(seen[1].2.starts_with("phone:"), "{seen:?}");
    assert_eq!(events[1]["sender"], "phone");
    stop(hub);
}
