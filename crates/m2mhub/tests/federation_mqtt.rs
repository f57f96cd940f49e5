//! Federated messages over a broker cluster (SPEC §7): two real Mosquitto brokers bridged to
//! each other (`m2m/#` both ways), home on one and grid on the other, on hub-qualified topics.
//! Home's meter publishes on `m2m/home/out/meter` a message of grid's transaction; home
//! authenticates and forwards it, acknowledges it on `m2m/home/ack/meter` with grid's record,
//! and delivers it on `m2m/grid/in/controller`, which the bridge carries to the grid's broker
//! where the controller listens; the controller checks the meter's signature end to end. Then
//! home's broker stops and comes back: the meter's message published meanwhile is recorded
//! once.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{
    federation::{free_port, post_message, rt, signed_v2, start_federation, wait_imported},
    mosquitto::Mosquitto,
};
use m2mhub_client::{
    Device,
    counter::Counter,
    keys::DeviceKey,
    mqtt::{BrokerConfig, MqttSettings, MqttTransport},
};
use m2mhub_core::message::Action;

#[test]
fn a_message_crosses_hubs_and_bridged_brokers_on_hub_qualified_topics() {
    let a_port = free_port();
    let Some(b) = Mosquitto::start("") else {
        return;
    };
    let bridge = format!(
        "connection to-b\naddress 127.0.0.1:{}\ntopic m2m/# both 1\ncleansession true\n",
        b.port
    );
    let Some(a) = Mosquitto::start_on(a_port, &bridge) else {
        return;
    };
    let mut a = Some(a);
    let tmp = tempfile::tempdir().unwrap();
    // Home and street on broker A, grid on broker B.
    let (hubs, _file) = start_federation(tmp.path(), |h| {
        let broker = if h.name == "grid" {
            b.url()
        } else {
            format!("mqtt://127.0.0.1:{a_port}")
        };
        vec!["--mqtt-connect".into(), broker]
    });
    let (home, grid) = (hubs[0].url.clone(), hubs[2].url.clone());
    let meter_key = DeviceKey::from_seed([21; 32]);
    let controller_key = DeviceKey::from_seed([22; 32]);
    rt().block_on(async {
        let c = reqwest::Client::new();
        let sk = |k: &DeviceKey| ed25519_dalek::SigningKey::from_bytes(&k.signing_key().to_bytes());
        common::register(&c, &home, "meter", &sk(&meter_key), 2).await;
        common::register(&c, &grid, "controller", &sk(&controller_key), 2).await;
        wait_imported(&grid, "m2mhub/home", 1).await;
        wait_imported(&home, "m2mhub/grid", 1).await;

        // The controller listens on grid's broker, on grid's topics.
        let listen = MqttSettings {
            listen: true,
            hub: Some("grid".into()),
            ..MqttSettings::default()
        };
        let broker_b = BrokerConfig::parse(&b.url()).unwrap();
        let controller =
            MqttTransport::connect(&broker_b, "controller", Some(&controller_key), listen)
                .await
                .unwrap();
        let mut inbox = controller.take_inbox().unwrap();
        // Grid's transaction, begun over HTTP by the controller.
        let begin = signed_v2(
            &sk(&controller_key),
            "controller@grid",
            "meter@home",
            "begin",
            0,
            None,
            None,
            1,
        );
        let (status, r) = post_message(&grid, &begin).await;
        assert_eq!(status, 200, "{r}");
        let (tx, cause) = (r["tx"].as_u64().unwrap(), r["seq"].as_u64().unwrap());

        // The meter answers over MQTT through home's broker.
        let broker_a = BrokerConfig::parse(&format!("mqtt://127.0.0.1:{a_port}")).unwrap();
        let settings = MqttSettings {
            hub: Some("home".into()),
            ..MqttSettings::default()
        };
        let meter_mqtt = std::sync::Arc::new(
            MqttTransport::connect(&broker_a, "meter", Some(&meter_key), settings)
                .await
                .unwrap(),
        );
        let mut meter = Device::new("meter", meter_key.clone(), Counter::in_memory(0)).unwrap();
        let m = meter
            .sign_federated(
                "home",
                "controller@grid",
                Action::Continue,
                tx,
                "grid",
                Some(cause),
                "2.1 kW",
            )
            .unwrap();
        let record = meter_mqtt.start(m).await.unwrap().wait().await.unwrap();
        assert_eq!((record.tx, record.valid), (tx, true), "{record:?}");
        assert_eq!(record.sender, "meter@home");
        // Recorded by grid, at the seq its ack names.
        let (_, at_grid) =
            common::federation::get(&grid, &format!("/v1/messages/{}", record.seq)).await;
        assert!(at_grid.contains("\"sender\":\"meter@home\""), "{at_grid}");

        // Delivered across the bridge, and checkable end to end with the meter's key.
        let d = tokio::time::timeout(Duration::from_secs(20), inbox.recv())
            .await
            .expect("no delivery on m2m/grid/in/controller")
            .unwrap();
        assert_eq!(d.hub.as_deref(), Some("grid"));
        assert_eq!(d.record.seq, record.seq);
        let msg = d.message().unwrap();
        assert!(m2mhub_core::sig::verify(
            &meter_key.public().to_bytes(),
            &msg.signing_bytes(),
            &msg.signature
        ));

        // Home's broker stops. What the meter publishes meanwhile, its SDK publishes again
        // once the broker is back (and home has subscribed again): grid records it once.
        drop(a.take());
        let m2 = meter
            .sign_federated(
                "home",
                "controller@grid",
                Action::Continue,
                tx,
                "grid",
                Some(cause),
                "0.9 kW",
            )
            .unwrap();
        let counter = m2.counter;
        let t = meter_mqtt.clone();
        let pending = tokio::spawn(async move { t.start(m2).await?.wait().await });
        tokio::time::sleep(Duration::from_secs(1)).await;
        let restarted = Mosquitto::start_on(a_port, &bridge).unwrap();
        let r2 = pending.await.unwrap().unwrap();
        assert_eq!((r2.counter, r2.sender.as_str()), (counter, "meter@home"));
        let (_, page) =
            common::federation::get(&grid, "/v1/messages?device=meter@home&limit=1000").await;
        let page: serde_json::Value = serde_json::from_str(&page).unwrap();
        let copies = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["sender"] == "meter@home" && r["counter"] == counter)
            .count();
        assert_eq!(copies, 1, "{page}");

        // A C device of home (the C SDK's MQTT example over libmosquitto) sends in grid's
        // transaction through broker A, signed in the federation form and on home's topics:
        // acknowledged with grid's record.
        if let Some(c_mqtt) = c_example() {
            let seed = [23u8; 32];
            let prefix = tmp.path().join("c_meter");
            std::fs::write(prefix.with_extension("key"), hex::encode(seed)).unwrap();
            let c = reqwest::Client::new();
            let k = ed25519_dalek::SigningKey::from_bytes(&seed);
            common::register(&c, &home, "c_meter", &k, 2).await;
            wait_imported(&grid, "m2mhub/home", 2).await;
            let port = a_port.to_string();
            let tx_s = tx.to_string();
            let args = [
                "--host",
                "127.0.0.1",
                "--port",
                &port,
                "--name",
                "c_meter",
                "--key",
                prefix.to_str().unwrap(),
                "--hub",
                "home",
                "--tx-hub",
                "grid",
                "--to",
                "controller@grid",
                "--action",
                "continue",
                "--tx",
                &tx_s,
                "--contents",
                "C: 1.1 kW",
                "--seconds",
                "60",
            ];
            let out = std::process::Command::new(c_mqtt)
                .args(args)
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let ack: serde_json::Value =
                serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
            assert_eq!(ack["sender"], "c_meter@home", "{ack}");
            // Recorded by grid (the signature checked there too): not yet a participant.
            assert_eq!(ack["tx"].as_u64(), Some(tx), "{ack}");
            assert_eq!(
                ack["notices"],
                serde_json::json!(["not_a_participant"]),
                "{ack}"
            );
        }
        drop(restarted);
    });
    drop(b);
}

/// The C SDK's MQTT example, built here with `make -C sdk/c` (its compiler and libraries come
/// with `make deps`); `None` outside CI when it cannot be built.
fn c_example() -> Option<std::path::PathBuf> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../sdk/c");
    let built = std::process::Command::new("make")
        .args(["-C", dir, "build/m2mhub-mqtt"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !built {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "the C SDK's MQTT example does not build (make deps installs its tools)"
        );
        eprintln!("the C SDK's MQTT example does not build: skipping its part");
        return None;
    }
    Some(std::path::Path::new(dir).join("build/m2mhub-mqtt"))
}
