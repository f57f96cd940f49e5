//! The embedded broker with device authentication (SPEC §5.2) against MQTT clients M2MHub did
//! not write, in MQTT 3.1.1 and MQTT 5 on the same port: Mosquitto's `mosquitto_pub` and
//! `mosquitto_sub`, and Python's paho-mqtt (`tests/paho_device.py`, which computes the
//! password itself from the spec). Each publishes a real signed message and gets its
//! acknowledgement and the delivery; a wrong password, a stale time, a revoked device and
//! another device's topics are refused, and every refusal reaches the security-event hook.
#![allow(clippy::unwrap_used)]

mod common;

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

use common::{Guarded, guarded, key_of, outside_clients};
use m2mhub_client::{Device, counter::Counter, mqtt::connect_password};
use m2mhub_core::{entry::Entry, message::Action, names::DeviceName};

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn seed_hex(name: &str) -> String {
    hex::encode(key_of(name).signing_key().to_bytes())
}

fn password(name: &str) -> String {
    connect_password(&key_of(name), name, now_s())
}

/// A signed `begin` from top_level to low_level, as JSON, and its counter.
fn signed_message(top: &mut Device, contents: &str) -> (String, u64) {
    let m = top
        .sign("low_level", Action::Begin, 0, None, contents)
        .unwrap();
    (
        serde_json::to_string(&m.to_submission()).unwrap(),
        m.counter,
    )
}

/// Waits for `child` up to 30 s (then kills it, by its PID) and returns its output.
fn finish(mut child: Child) -> Output {
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(30) {
            child.kill().unwrap();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Reads `child`'s stdout until a line containing `marker` (30 s at most).
fn wait_for_line(child: &mut Child, marker: &str) -> BufReader<std::process::ChildStdout> {
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        line.clear();
        if out.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if line.contains(marker) {
            return out;
        }
    }
    panic!("no line with {marker:?}");
}

/// The first JSON object among the remaining lines.
fn json_line(out: BufReader<std::process::ChildStdout>, mut child: Child) -> serde_json::Value {
    let found = out
        .lines()
        .map_while(Result::ok)
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON line"));
    let _ = finish_killed(&mut child);
    serde_json::from_str(&found).unwrap()
}

fn finish_killed(child: &mut Child) -> std::io::Result<()> {
    if child.try_wait()?.is_none() {
        child.kill()?;
    }
    child.wait().map(|_| ())
}

fn mqtt_args(g: &Guarded, version: &str, id: &str, user: &str, pass: &str) -> Vec<String> {
    let port = g.broker.addr().port().to_string();
    [
        "-h",
        "127.0.0.1",
        "-p",
        &port,
        "-V",
        version,
        "-q",
        "1",
        "-i",
        id,
        "-u",
        user,
        "-P",
        pass,
    ]
    .map(str::to_owned)
    .to_vec()
}

fn mosquitto_pub(
    g: &Guarded,
    version: &str,
    user: &str,
    pass: &str,
    topic: &str,
    m: &str,
) -> Output {
    let child = Command::new("mosquitto_pub")
        .args(mqtt_args(g, version, user, user, pass))
        .args(["-t", topic, "-m", m])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    finish(child)
}

fn spawn_sub(g: &Guarded, version: &str, id: &str, user: &str, pass: &str, topic: &str) -> Child {
    // Line-buffered: mosquitto_sub buffers its debug lines (the SUBACK) in a pipe otherwise.
    Command::new("stdbuf")
        .args(["-oL", "mosquitto_sub"])
        .args(mqtt_args(g, version, id, user, pass))
        .args(["-t", topic, "-C", "1", "-W", "30", "-d"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_clients_in_both_versions() {
    if !outside_clients() {
        return;
    }
    let g = guarded().await;
    g.record(Entry::DeviceRevoked {
        device: DeviceName::new("mid_level").unwrap(),
    });
    let mut top = Device::new("top_level", key_of("top_level"), Counter::in_memory(0)).unwrap();
    for version in ["mqttv311", "mqttv5"] {
        // The receiver's inbox and the sender's acknowledgements, subscribed first.
        let mut inbox = spawn_sub(
            &g,
            version,
            "low_level:in",
            "low_level",
            &password("low_level"),
            "m2m/in/low_level",
        );
        let inbox_out = wait_for_line(&mut inbox, "SUBACK");
        let mut acks = spawn_sub(
            &g,
            version,
            "top_level:acks",
            "top_level",
            &password("top_level"),
            "m2m/ack/top_level",
        );
        let acks_out = wait_for_line(&mut acks, "SUBACK");
        let contents = format!("unlock over {version}");
        let (m, counter) = signed_message(&mut top, &contents);
        let out = mosquitto_pub(
            &g,
            version,
            "top_level",
            &password("top_level"),
            "m2m/out/top_level",
            &m,
        );
        assert!(out.status.success(), "{version}: {out:?}");
        let ack = json_line(acks_out, acks);
        assert_eq!(ack["counter"], counter, "{version}: {ack}");
        assert_eq!(ack["valid"], true, "{version}: {ack}");
        let delivery = json_line(inbox_out, inbox);
        assert_eq!(
            delivery["contents"],
            contents.as_str(),
            "{version}: {delivery}"
        );
        assert_eq!(delivery["seq"], ack["seq"], "{version}");

        // Refused CONNECTs: another device's key, a stale time, a revoked device.
        let wrong = connect_password(&key_of("low_level"), "top_level", now_s());
        let stale = connect_password(&key_of("top_level"), "top_level", now_s() - 600);
        let revoked = password("mid_level");
        for (user, pass, code) in [
            ("top_level", wrong.as_str(), "bad_signature"),
            ("top_level", stale.as_str(), "stale_time"),
            ("mid_level", revoked.as_str(), "sender_revoked"),
        ] {
            let out = mosquitto_pub(&g, version, user, pass, &format!("m2m/out/{user}"), "{}");
            assert!(!out.status.success(), "{version} {code}: {out:?}");
            let said = String::from_utf8_lossy(&out.stderr).to_lowercase();
            // 3.1.1: "Connection Refused: …"; 5: "Connection error: Bad User Name…".
            let refused = said.contains("connection refused") || said.contains("connection error");
            assert!(refused, "{version} {code}: {said}");
            g.expect_refusal(code, user, Some(user));
        }
        g.refusals.lock().unwrap().clear();

        // Another device's topics: its inbox refused in the SUBACK, a publish on its
        // acknowledgements closes the connection.
        let sub = spawn_sub(
            &g,
            version,
            "top_level:spy",
            "top_level",
            &password("top_level"),
            "m2m/in/low_level",
        );
        let out = finish(sub);
        let said = String::from_utf8_lossy(&out.stdout).to_lowercase()
            + &String::from_utf8_lossy(&out.stderr).to_lowercase();
        assert!(said.contains("suback"), "{version}: {said}");
        assert!(!said.contains("\"contents\""), "{version}: {said}");
        g.expect_refusal("forbidden_topic", "top_level:spy", Some("top_level"));
        let _ = mosquitto_pub(
            &g,
            version,
            "top_level",
            &password("top_level"),
            "m2m/ack/low_level",
            "{\"counter\":1,\"error\":\"forged\",\"message\":\"forged\"}",
        );
        g.expect_refusal("forbidden_topic", "top_level", Some("top_level"));
        g.refusals.lock().unwrap().clear();
    }
    g.hub.stop().await;
}

fn paho(g: &Guarded, version: &str, scenario: &str, name: &str, arg: Option<&str>) -> Child {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/paho_device.py");
    let port = g.broker.addr().port().to_string();
    Command::new("python3")
        .args([
            script,
            "127.0.0.1",
            &port,
            version,
            scenario,
            name,
            &seed_hex(name),
        ])
        .args(arg)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

fn paho_result(child: Child) -> serde_json::Value {
    let out = finish(child);
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_in_both_versions() {
    if !outside_clients() {
        return;
    }
    let g = guarded().await;
    g.record(Entry::DeviceRevoked {
        device: DeviceName::new("mid_level").unwrap(),
    });
    let mut top = Device::new("top_level", key_of("top_level"), Counter::in_memory(0)).unwrap();
    for version in ["311", "5"] {
        let mut inbox = paho(&g, version, "receive", "low_level", None);
        let inbox_out = wait_for_line(&mut inbox, "subscribed");
        let contents = format!("unlock over paho {version}");
        let (m, counter) = signed_message(&mut top, &contents);
        let sent = paho_result(paho(&g, version, "send", "top_level", Some(&m)));
        assert_eq!(sent["topic"], "m2m/ack/top_level", "{version}: {sent}");
        assert_eq!(sent["payload"]["counter"], counter, "{version}: {sent}");
        assert_eq!(sent["payload"]["valid"], true, "{version}: {sent}");
        let delivered = json_line(inbox_out, inbox);
        assert_eq!(
            delivered["payload"]["contents"],
            contents.as_str(),
            "{version}"
        );

        // The refusals run side by side: each is a process of its own.
        let refusals = [
            ("top_level", "wrong", "bad_signature"),
            ("top_level", "-400", "stale_time"),
            ("top_level", "400", "stale_time"),
            ("mid_level", "0", "sender_revoked"),
        ];
        let connects: Vec<Child> = std::iter::once(("top_level", "0", "ok"))
            .chain(refusals)
            .map(|(name, arg, _)| paho(&g, version, "connect", name, Some(arg)))
            .collect();
        let subs: Vec<Child> = ["m2m/in/top_level", "m2m/in/low_level"]
            .into_iter()
            .map(|f| paho(&g, version, "subscribe", "top_level", Some(f)))
            .collect();
        let said = |r: serde_json::Value, field: &str| {
            r[field].as_str().unwrap_or_default().to_lowercase()
        };
        let connacks: Vec<String> = connects
            .into_iter()
            .map(|c| said(paho_result(c), "connack"))
            .collect();
        assert_eq!(connacks[0], "success", "{version}");
        for ((name, _, code), connack) in refusals.iter().zip(&connacks[1..]) {
            assert!(
                connack != "success" && !connack.is_empty(),
                "{version} {code}: {connack}"
            );
            g.expect_refusal(code, name, Some(name));
        }
        let subacks: Vec<String> = subs
            .into_iter()
            .map(|c| said(paho_result(c), "suback"))
            .collect();
        assert!(subacks[0].starts_with("granted"), "{version}: {subacks:?}");
        let refused = &subacks[1];
        assert!(
            !refused.starts_with("granted") && !refused.is_empty(),
            "{version}: {refused}"
        );
        g.expect_refusal("forbidden_topic", "top_level:paho", Some("top_level"));
        g.refusals.lock().unwrap().clear();
    }
    g.hub.stop().await;
}
