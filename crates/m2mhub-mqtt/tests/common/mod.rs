//! Fixtures for the MQTT tests: a ledger with registered devices, the hub on a broker, device
//! clients through the SDK, and a real Mosquitto started (and killed by PID) by the test.
#![allow(dead_code, clippy::unwrap_used)]

use std::{
    collections::BTreeSet,
    net::{SocketAddr, TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::Duration,
};

use m2mhub_client::{
    Client, Device, Transport,
    counter::Counter,
    keys::DeviceKey,
    mqtt::{BrokerConfig, MqttSettings, MqttTransport},
};
use m2mhub_core::{
    entry::{Entry, Registration},
    names::DeviceName,
};
use m2mhub_ledger::{Committer, DataDir, Ledger, LedgerConfig, MessageFilter, Record, Submission};
use m2mhub_mqtt::{HubConfig, MqttHub, Policy, RefusalHook, Release};

/// The paper's devices (SPEC §3.3): name, clearance.
pub const DEVICES: &[(&str, u32)] = &[("low_level", 1), ("mid_level", 2), ("top_level", 3)];

pub fn key_of(name: &str) -> DeviceKey {
    let mut seed = [0u8; 32];
    seed[..name.len()].copy_from_slice(name.as_bytes());
    DeviceKey::from_seed(seed)
}

/// A ledger in a temporary directory with the paper's devices registered.
pub struct Ledgered {
    pub ledger: Arc<Ledger>,
    pub committer: Committer,
    dir: tempfile::TempDir,
}

fn open(dir: &std::path::Path) -> Arc<Ledger> {
    let data = DataDir::create(&dir.join("data")).unwrap();
    let config = LedgerConfig {
        origin: Some("m2mhub/mqtt-test".into()),
        default_origin: String::new(),
    };
    Arc::new(Ledger::open(&data, &config).unwrap())
}

pub fn ledger() -> Ledgered {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open(dir.path());
    let regs = DEVICES
        .iter()
        .map(|(name, clearance)| {
            Submission::Registry(Entry::DeviceRegistered(Registration {
                name: DeviceName::new(name).unwrap(),
                clearance: *clearance,
                public_key: key_of(name).public().to_bytes(),
                exceptions: BTreeSet::new(),
                simulated: false,
            }))
        })
        .collect();
    for r in ledger.append(regs) {
        r.unwrap();
    }
    let committer = Committer::start(ledger.clone()).unwrap();
    Ledgered {
        ledger,
        committer,
        dir,
    }
}

impl Ledgered {
    /// What a hub restart does to the ledger: the committer stops, the store is closed and
    /// opened again from disk. Stop the MQTT side first.
    pub fn restart(self) -> Ledgered {
        let Ledgered {
            ledger,
            committer,
            dir,
        } = self;
        committer.stop();
        drop(ledger);
        let ledger = open(dir.path());
        let committer = Committer::start(ledger.clone()).unwrap();
        Ledgered {
            ledger,
            committer,
            dir,
        }
    }

    /// Every message recorded from or to `device`, in seq order.
    pub fn messages_of(&self, device: &str) -> Vec<Record> {
        let (mut all, mut after) = (Vec::new(), None);
        loop {
            let page = self
                .ledger
                .messages(&MessageFilter {
                    device: Some(device.into()),
                    after,
                    limit: Some(1000),
                    ..Default::default()
                })
                .unwrap();
            all.extend(page.items);
            match page.next {
                Some(n) => after = Some(n),
                None => return all,
            }
        }
    }
}

/// The hub on `broker_url`; `release` as `serve` sets it: `OnReceipt` for the embedded
/// broker, `AfterCommit` for an external one.
pub async fn hub(l: &Ledgered, broker_url: &str, policy: Policy, release: Release) -> MqttHub {
    hub_on(l, BrokerConfig::parse(broker_url).unwrap(), policy, release)
        .await
        .unwrap()
}

/// A refusal the hub reported: (code, source, claimed sender).
pub type Reported = (String, String, Option<String>);

/// [`hub`] that collects the refusals it reports.
pub async fn hub_counting(
    l: &Ledgered,
    broker_url: &str,
    release: Release,
) -> (MqttHub, Arc<std::sync::Mutex<Vec<Reported>>>) {
    let codes = Arc::new(std::sync::Mutex::new(Vec::new()));
    let c = codes.clone();
    let hub = MqttHub::start(
        HubConfig {
            broker: BrokerConfig::parse(broker_url).unwrap(),
            client_id: "m2mhub-test".into(),
            policy: Policy::Audit,
            release,
            on_refusal: RefusalHook::new(move |r| {
                c.lock().unwrap().push((
                    r.code.to_owned(),
                    r.source.to_owned(),
                    r.sender.map(str::to_owned),
                ));
            }),
            topics: Default::default(),
            forward: Default::default(),
        },
        l.committer.clone(),
    )
    .await
    .unwrap();
    (hub, codes)
}

pub async fn hub_on(
    l: &Ledgered,
    broker: BrokerConfig,
    policy: Policy,
    release: Release,
) -> Result<MqttHub, m2mhub_mqtt::MqttError> {
    MqttHub::start(
        HubConfig {
            broker,
            client_id: "m2mhub-test".into(),
            policy,
            release,
            on_refusal: RefusalHook::default(),
            topics: Default::default(),
            forward: Default::default(),
        },
        l.committer.clone(),
    )
    .await
}

pub async fn transport(broker_url: &str, name: &str, listen: bool) -> Arc<MqttTransport> {
    let settings = MqttSettings {
        ack_timeout: Duration::from_secs(2),
        max_attempts: 30,
        listen,
        hub: None,
    };
    Arc::new(
        MqttTransport::connect(
            &BrokerConfig::parse(broker_url).unwrap(),
            name,
            Some(&key_of(name)),
            settings,
        )
        .await
        .unwrap(),
    )
}

/// A device client through the SDK over MQTT.
pub async fn device(broker_url: &str, name: &str) -> Arc<Client> {
    let t = transport(broker_url, name, false).await;
    let d = Device::new(name, key_of(name), Counter::in_memory(0)).unwrap();
    Arc::new(Client::new(d, Transport::Mqtt(t)))
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A real Mosquitto broker on a free port, with a config of its own, killed by PID on drop.
pub struct Mosquitto {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
}

fn mosquitto_binary() -> Option<PathBuf> {
    let candidates = [
        "/usr/sbin/mosquitto",
        "/usr/bin/mosquitto",
        "/usr/local/sbin/mosquitto",
    ];
    candidates.iter().map(PathBuf::from).find(|p| p.exists())
}

impl Mosquitto {
    /// Starts Mosquitto, or returns `None` (with a note) when it is not installed outside CI.
    /// In CI (`CI=true`) a missing Mosquitto fails the test: `make deps` installs it.
    pub fn start() -> Option<Mosquitto> {
        Self::start_with(|_, port| format!("listener {port} 127.0.0.1\nallow_anonymous true\n"))
    }

    /// [`Mosquitto::start`] with the listener and access settings `conf` writes, given the
    /// broker's directory (for certificates, password files) and its port.
    pub fn start_with(conf: impl FnOnce(&std::path::Path, u16) -> String) -> Option<Mosquitto> {
        let Some(_) = mosquitto_binary() else {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("mosquitto is not installed (make deps installs it)");
            }
            eprintln!("mosquitto is not installed: skipping (make deps installs it)");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let listener = conf(dir.path(), port);
        std::fs::write(
            dir.path().join("mosquitto.conf"),
            format!(
                "{listener}persistence false\nmax_queued_messages 0\nmax_inflight_messages 0\n\
                 log_dest stderr\nlog_type error\n"
            ),
        )
        .unwrap();
        let mut m = Mosquitto {
            child: None,
            port,
            dir,
        };
        m.spawn();
        Some(m)
    }

    fn spawn(&mut self) {
        let child = Command::new(mosquitto_binary().unwrap())
            .arg("-c")
            .arg(self.dir.path().join("mosquitto.conf"))
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let addr: SocketAddr = ([127, 0, 0, 1], self.port).into();
        for _ in 0..500 {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("mosquitto did not start listening on {addr}");
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// Its directory (configuration, certificates).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Kills the broker (SIGKILL, by PID) and starts it again on the same port.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A hub on an embedded broker that authenticates devices (SPEC §5.2), and the refusals the
/// broker reported.
pub struct Guarded {
    pub l: Ledgered,
    pub broker: m2mhub_mqtt::EmbeddedBroker,
    pub hub: MqttHub,
    pub refusals: Arc<std::sync::Mutex<Vec<Reported>>>,
}

pub async fn guarded() -> Guarded {
    guarded_with(None).await
}

/// [`guarded`] with a failure throttle.
pub async fn guarded_with(throttle: Option<Arc<dyn m2mhub_mqtt::ConnectThrottle>>) -> Guarded {
    let l = ledger();
    let refusals = Arc::new(std::sync::Mutex::new(Vec::new()));
    let r = refusals.clone();
    let auth = m2mhub_mqtt::BrokerAuth {
        ledger: l.ledger.clone(),
        hub_client_id: "m2mhub-test".into(),
        on_refusal: RefusalHook::new(move |x| {
            r.lock().unwrap().push((
                x.code.to_owned(),
                x.source.to_owned(),
                x.sender.map(str::to_owned),
            ));
        }),
        throttle,
        topics: Default::default(),
    };
    let broker =
        m2mhub_mqtt::EmbeddedBroker::start("127.0.0.1:0".parse().unwrap(), Some(auth)).unwrap();
    let hub = hub_on(&l, broker.hub_config(), Policy::Audit, Release::OnReceipt)
        .await
        .unwrap();
    Guarded {
        l,
        broker,
        hub,
        refusals,
    }
}

impl Guarded {
    /// Waits (up to 10 s) for a refusal with `code`, claimed sender `sender` and a source
    /// starting with `source`; panics with every refusal seen if none comes.
    pub fn expect_refusal(&self, code: &str, source: &str, sender: Option<&str>) {
        for _ in 0..500 {
            let seen = self
                .refusals
                .lock()
                .unwrap()
                .iter()
                .any(|(c, s, n)| c == code && s.starts_with(source) && n.as_deref() == sender);
            if seen {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "no refusal ({code}, {source}…, {sender:?}) among {:?}",
            self.refusals.lock().unwrap()
        );
    }

    /// Records `entry` (a revocation, a re-key) and waits until it is durable.
    pub fn record(&self, entry: Entry) {
        for r in self
            .l
            .committer
            .submit_wait(vec![Submission::Registry(entry)])
        {
            r.unwrap();
        }
    }
}

/// Whether the outside MQTT clients (`mosquitto_pub`, `mosquitto_sub`, Python's paho-mqtt)
/// are here; in CI (`CI=true`) their absence fails the test: `make deps` installs them.
pub fn outside_clients() -> bool {
    let found = Command::new("mosquitto_pub").arg("--help").output().is_ok()
        && Command::new("python3")
            .args(["-c", "import paho.mqtt, cryptography"])
            .status()
            .is_ok_and(|s| s.success());
    if !found {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("mosquitto-clients or paho-mqtt is not installed (make deps installs them)");
        }
        eprintln!("mosquitto-clients or paho-mqtt is not installed: skipping (make deps)");
    }
    found
}
