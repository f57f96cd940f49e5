//! Device authentication and topic permissions on the embedded broker (SPEC §5.2), through
//! the Rust SDK and a raw MQTT 5 client: the SDK's signed CONNECT works and follows re-keys;
//! wrong keys, no password, revoked devices, borrowed client ids and the hub's username are
//! refused; a device cannot subscribe to or publish on another device's topics; every
//! refusal reaches the security-event hook.
#![allow(clippy::unwrap_used)]

mod common;

use std::{
    net::IpAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use common::{guarded, guarded_with, key_of, transport};
use m2mhub_client::{
    Client, Device, Transport,
    counter::Counter,
    keys::DeviceKey,
    mqtt::{BrokerConfig, MqttSettings, MqttTransport, connect_password},
};
use m2mhub_core::{entry::Entry, names::DeviceName};
use m2mhub_mqtt::ConnectThrottle;
use rumqttc::v5::{
    AsyncClient, ConnectionError, Event, EventLoop, MqttOptions,
    mqttbytes::{
        QoS,
        v5::{ConnectReturnCode, LastWill, Packet, SubscribeReasonCode},
    },
};

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn settings() -> MqttSettings {
    MqttSettings {
        ack_timeout: Duration::from_secs(2),
        max_attempts: 3,
        listen: false,
        hub: None,
    }
}

async fn sdk(url: &str, name: &str, key: Option<&DeviceKey>) -> Result<MqttTransport, String> {
    let broker = BrokerConfig::parse(url).unwrap();
    MqttTransport::connect(&broker, name, key, settings())
        .await
        .map_err(|e| e.to_string())
}

/// A raw MQTT 5 client: connects and returns its first event (the CONNACK or the refusal).
async fn raw(
    port: u16,
    client_id: &str,
    login: (&str, &str),
) -> (AsyncClient, EventLoop, Result<(), ConnectReturnCode>) {
    raw_with_will(port, client_id, login, None).await
}

async fn raw_with_will(
    port: u16,
    client_id: &str,
    login: (&str, &str),
    will: Option<&str>,
) -> (AsyncClient, EventLoop, Result<(), ConnectReturnCode>) {
    let mut o = MqttOptions::new(client_id, "127.0.0.1", port);
    o.set_credentials(login.0, login.1);
    if let Some(topic) = will {
        o.set_last_will(LastWill::new(topic, "{}", QoS::AtLeastOnce, false, None));
    }
    o.set_keep_alive(Duration::from_secs(30));
    let (client, mut eventloop) = AsyncClient::new(o, 16);
    let first = tokio::time::timeout(Duration::from_secs(10), eventloop.poll())
        .await
        .unwrap();
    let outcome = match first {
        Ok(Event::Incoming(Packet::ConnAck(_))) => Ok(()),
        Err(ConnectionError::ConnectionRefused(code)) => Err(code),
        other => panic!("{client_id}: {other:?}"),
    };
    (client, eventloop, outcome)
}

/// The next SUBACK's reason codes.
async fn suback(eventloop: &mut EventLoop) -> Vec<SubscribeReasonCode> {
    loop {
        let e = tokio::time::timeout(Duration::from_secs(10), eventloop.poll())
            .await
            .unwrap();
        if let Ok(Event::Incoming(Packet::SubAck(ack))) = e {
            return ack.return_codes;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_signs_its_connect_and_follows_rekeys() {
    let g = guarded().await;
    let url = g.broker.url();
    // A signed CONNECT: the paper's first message goes through and is delivered.
    let top = Device::new("top_level", key_of("top_level"), Counter::in_memory(0)).unwrap();
    let top_t = sdk(&url, "top_level", Some(&key_of("top_level")))
        .await
        .unwrap();
    let top = Client::new(top, Transport::Mqtt(std::sync::Arc::new(top_t)));
    let low_inbox_t = transport(&url, "low_level", true).await;
    let mut low_inbox = low_inbox_t.take_inbox().unwrap();
    let (_, r) = top.begin("low_level", "unlock").await.unwrap();
    assert!(r.valid, "{r:?}");
    let d = low_inbox.recv().await.unwrap();
    assert_eq!(
        (d.record.seq, d.record.contents.as_deref()),
        (r.seq, Some("unlock"))
    );

    // Another device's key, no key at all: refused.
    let e = sdk(&url, "top_level", Some(&key_of("low_level")))
        .await
        .unwrap_err();
    assert!(e.contains("BadUserNamePassword"), "{e}");
    g.expect_refusal("bad_signature", "top_level:", Some("top_level"));
    let e = sdk(&url, "top_level", None).await.unwrap_err();
    assert!(e.contains("BadUserNamePassword"), "{e}");
    g.expect_refusal("malformed", "top_level:", None);

    // Re-keyed: the old key no longer connects, the new one does.
    let new_key = DeviceKey::from_seed([42; 32]);
    g.record(Entry::DeviceRekeyed {
        device: DeviceName::new("top_level").unwrap(),
        public_key: new_key.public().to_bytes(),
    });
    sdk(&url, "top_level", Some(&key_of("top_level")))
        .await
        .unwrap_err();
    sdk(&url, "top_level", Some(&new_key)).await.unwrap();

    // Revoked: refused, whatever its key.
    g.record(Entry::DeviceRevoked {
        device: DeviceName::new("mid_level").unwrap(),
    });
    let e = sdk(&url, "mid_level", Some(&key_of("mid_level")))
        .await
        .unwrap_err();
    assert!(e.contains("Banned"), "{e}");
    g.expect_refusal("sender_revoked", "mid_level:", Some("mid_level"));
    // Unknown: refused.
    sdk(&url, "ghost", Some(&key_of("ghost")))
        .await
        .unwrap_err();
    g.expect_refusal("unknown_sender", "ghost:", Some("ghost"));
    g.hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_ids_usernames_and_topics_stay_with_their_device() {
    let g = guarded().await;
    let port = g.broker.addr().port();
    let low = connect_password(&key_of("low_level"), "low_level", now_s());
    let login = ("low_level", low.as_str());

    // Client ids are bound to the name: another device's, or the hub's, is refused.
    for id in ["top_level", "top_level:x", "low_levelx", "m2mhub-test"] {
        let (_, _, outcome) = raw(port, id, login).await;
        assert_eq!(
            outcome,
            Err(ConnectReturnCode::ClientIdentifierNotValid),
            "{id}"
        );
        g.expect_refusal("bad_client_id", id, Some("low_level"));
    }
    // The hub's username needs the hub's secret.
    let (_, _, outcome) = raw(port, "m2mhub-test", (m2mhub_mqtt::HUB_USERNAME, &low)).await;
    assert_eq!(outcome, Err(ConnectReturnCode::BadUserNamePassword));
    // A stale password: refused.
    let stale = connect_password(&key_of("low_level"), "low_level", now_s() - 301);
    let (_, _, outcome) = raw(port, "low_level", ("low_level", &stale)).await;
    assert_eq!(outcome, Err(ConnectReturnCode::BadUserNamePassword));
    g.expect_refusal("stale_time", "low_level", Some("low_level"));

    // Connected as low_level: its own topics only.
    let (client, mut events, outcome) = raw(port, "low_level:raw", login).await;
    outcome.unwrap();
    for (filter, allowed) in [
        ("m2m/in/low_level", true),
        ("m2m/ack/low_level", true),
        ("m2m/in/top_level", false),
        ("m2m/ack/top_level", false),
        ("m2m/out/+", false),
        ("m2m/#", false),
        ("$share/g/m2m/in/top_level", false),
    ] {
        client.subscribe(filter, QoS::AtLeastOnce).await.unwrap();
        let codes = suback(&mut events).await;
        let want = if allowed {
            SubscribeReasonCode::Success(QoS::AtLeastOnce)
        } else {
            SubscribeReasonCode::NotAuthorized
        };
        assert_eq!(codes, vec![want], "{filter}");
        if !allowed {
            g.expect_refusal("forbidden_topic", "low_level:raw", Some("low_level"));
        }
    }
    // A forged acknowledgement for another device: the connection is closed.
    client
        .publish("m2m/ack/top_level", QoS::AtLeastOnce, false, "{}")
        .await
        .unwrap();
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(10), events.poll()).await {
            Ok(Ok(Event::Incoming(Packet::Disconnect(d)))) => break format!("{d:?}"),
            Ok(Err(e)) => break e.to_string(),
            Ok(Ok(_)) => {}
            Err(_) => panic!("still connected after publishing on another device's topic"),
        }
    };
    assert!(!closed.is_empty());
    g.expect_refusal("forbidden_topic", "low_level:raw", Some("low_level"));
    g.hub.stop().await;
}

/// Allows `allowance` failures per address, and counts what it was asked.
#[derive(Default)]
struct Allowance {
    allowance: usize,
    failures: Mutex<Vec<IpAddr>>,
}

impl ConnectThrottle for Allowance {
    fn allows(&self, peer: IpAddr) -> bool {
        self.failures
            .lock()
            .unwrap()
            .iter()
            .filter(|p| **p == peer)
            .count()
            < self.allowance
    }

    fn failed(&self, peer: IpAddr) {
        self.failures.lock().unwrap().push(peer);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wills_elsewhere_are_refused_and_failures_are_throttled() {
    let throttle = Arc::new(Allowance {
        allowance: 2,
        ..Allowance::default()
    });
    let g = guarded_with(Some(throttle.clone())).await;
    let port = g.broker.addr().port();
    let low = connect_password(&key_of("low_level"), "low_level", now_s());
    let login = ("low_level", low.as_str());
    // A last will may go only to the device's own outbox.
    let (_, _, outcome) = raw_with_will(port, "low_level", login, Some("m2m/ack/top_level")).await;
    assert_eq!(outcome, Err(ConnectReturnCode::NotAuthorized));
    g.expect_refusal("forbidden_topic", "low_level", Some("low_level"));
    let (_, _, outcome) = raw_with_will(port, "low_level", login, Some("m2m/out/low_level")).await;
    outcome.unwrap();
    // Two failures charged to 127.0.0.1 (the will, then a wrong key) spend its allowance:
    // even a good password is refused now, before its signature is checked.
    let wrong = connect_password(&key_of("top_level"), "low_level", now_s());
    let (_, _, outcome) = raw(port, "low_level:2", ("low_level", &wrong)).await;
    assert_eq!(outcome, Err(ConnectReturnCode::BadUserNamePassword));
    let (_, _, outcome) = raw(port, "low_level:3", login).await;
    assert_eq!(outcome, Err(ConnectReturnCode::ServerBusy));
    g.expect_refusal("too_many_failures", "low_level:3", Some("low_level"));
    let localhost: IpAddr = [127, 0, 0, 1].into();
    assert_eq!(*throttle.failures.lock().unwrap(), vec![localhost; 2]);
    g.hub.stop().await;
}
