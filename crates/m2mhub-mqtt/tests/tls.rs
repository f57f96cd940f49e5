//! The hub and a device joining an external broker over TLS with username and password: a
//! real Mosquitto with a certificate from a CA made here (with the `openssl` command), trusted
//! through `ca_file`, and the topic ACLs `docs/MQTT.md` recommends; wrong credentials and an
//! untrusted CA are refused.
#![allow(clippy::unwrap_used)]

mod common;

use std::{path::Path, process::Command, sync::Arc, time::Duration};

use common::{Mosquitto, hub_on, key_of, ledger};
use m2mhub_client::{
    Client, Device, Transport,
    counter::Counter,
    mqtt::{BrokerConfig, MqttSettings, MqttTransport},
};
use m2mhub_mqtt::{Policy, Release};

fn run(dir: &Path, args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", args[0]));
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, a server certificate for 127.0.0.1 signed by it, and a password file with the
/// hub's and a device's credentials.
fn tls_listener(dir: &Path, port: u16) -> String {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["openssl", "req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=m2mhub test CA",
    ]);
    run(dir, &ca);
    let mut csr = vec!["openssl", "req"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    run(dir, &csr);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    run(
        dir,
        &[
            "openssl",
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
    run(
        dir,
        &[
            "mosquitto_passwd",
            "-b",
            "-c",
            "passwd",
            "hub",
            "hub-secret",
        ],
    );
    run(
        dir,
        &[
            "mosquitto_passwd",
            "-b",
            "passwd",
            "top_level",
            "device-secret",
        ],
    );
    run(
        dir,
        &[
            "mosquitto_passwd",
            "-b",
            "passwd",
            "intruder",
            "intruder-secret",
        ],
    );
    // The ACLs docs/MQTT.md asks for: the hub reads outboxes and writes acks and inboxes; a
    // device writes its outbox and reads its ack topic and inbox.
    std::fs::write(
        dir.join("acl"),
        "user hub\ntopic read m2m/out/+\ntopic write m2m/ack/+\ntopic write m2m/in/+\n\n\
         user top_level\ntopic write m2m/out/top_level\ntopic read m2m/ack/top_level\n\
         topic read m2m/in/top_level\n",
    )
    .unwrap();
    // Mosquitto started as root reads these as the `mosquitto` user: make them readable.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let open =
            |p: &Path, mode| std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode));
        open(dir, 0o755).unwrap();
        for f in ["ca.crt", "server.crt", "server.key", "passwd", "acl"] {
            open(&dir.join(f), 0o644).unwrap();
        }
    }
    let d = dir.display();
    format!(
        "listener {port} 127.0.0.1\ncafile {d}/ca.crt\ncertfile {d}/server.crt\n\
         keyfile {d}/server.key\nallow_anonymous false\npassword_file {d}/passwd\n\
         acl_file {d}/acl\n"
    )
}

fn broker(m: &Mosquitto, user: &str, password: &str) -> BrokerConfig {
    let mut b =
        BrokerConfig::parse(&format!("mqtts://{user}:{password}@127.0.0.1:{}", m.port)).unwrap();
    b.ca_file = Some(m.dir().join("ca.crt"));
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_and_device_over_tls_with_passwords() {
    let Some(m) = Mosquitto::start_with(tls_listener) else {
        return;
    };
    let l = ledger();

    // Wrong password, and the right one without trusting the CA: refused.
    let wrong = hub_on(
        &l,
        broker(&m, "hub", "nope"),
        Policy::Audit,
        Release::AfterCommit,
    )
    .await;
    let Err(e) = wrong else {
        panic!("a wrong password was accepted")
    };
    let e = e.to_string();
    assert!(e.contains("refused"), "{e}");
    let mut untrusted = broker(&m, "hub", "hub-secret");
    untrusted.ca_file = Some(m.dir().join("server.crt"));
    let r = hub_on(&l, untrusted, Policy::Audit, Release::AfterCommit).await;
    assert!(
        r.is_err(),
        "a certificate from an untrusted CA was accepted"
    );

    let hub = hub_on(
        &l,
        broker(&m, "hub", "hub-secret"),
        Policy::Audit,
        Release::AfterCommit,
    )
    .await
    .unwrap();
    let settings = MqttSettings {
        ack_timeout: Duration::from_secs(2),
        max_attempts: 10,
        listen: false,
        hub: None,
    };
    let t = MqttTransport::connect(
        &broker(&m, "top_level", "device-secret"),
        "top_level",
        Some(&key_of("top_level")),
        settings,
    )
    .await
    .unwrap();
    let d = Device::new("top_level", key_of("top_level"), Counter::in_memory(0)).unwrap();
    let client = Client::new(d, Transport::Mqtt(Arc::new(t)));
    let (tx, r) = client.begin("low_level", "over TLS").await.unwrap();
    assert!(r.valid, "{r:?}");
    assert_eq!(tx.tx, 1);
    assert_eq!(l.messages_of("top_level").len(), 1);
    hub.stop().await;
}
