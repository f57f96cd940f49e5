//! The MQTT 5 transport (`docs/MQTT.md`): a device publishes its signed message on
//! `m2m/out/{name}` at QoS 1 and waits for the hub's acknowledgement on `m2m/ack/{name}`;
//! messages for it arrive on `m2m/in/{name}`.
//!
//! At-least-once, end to end: a message not acknowledged in time is published again, byte for
//! byte, and the hub answers a resubmission with the original record (SPEC §3.2), so a lost
//! publish, a lost acknowledgement or a restarted broker or hub never records anything twice.
//! Also here: [`BrokerConfig`], the broker address, credentials and TLS settings that the hub
//! uses as well.
//!
//! The device signs its CONNECT (SPEC §5.2): username = its name, password =
//! [`connect_password`], signed afresh for every (re)connection since the hub accepts it only
//! within ±300 s of its clock. A broker URL with credentials of its own (an external broker's
//! accounts) overrides that. The client id is `{name}:{random hex}`, which the hub's broker
//! binds to the device's name.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use m2mhub_core::{auth::ConnectPassword, message::Message, signing::connect_signing_bytes};
use rumqttc::v5::{
    AsyncClient, ConnectionError, Event, EventLoop, MqttOptions,
    mqttbytes::{
        QoS,
        v5::{ConnectReturnCode, Packet, SubscribeReasonCode},
    },
};
use tokio::sync::{mpsc, oneshot};

use crate::{
    ClientError, Result,
    keys::DeviceKey,
    wire::{Ack, Delivery, Record, Topics},
};

/// Largest MQTT packet accepted: a message of 16 KiB contents, JSON-escaped, with room.
pub const MAX_PACKET_BYTES: u32 = 256 * 1024;

/// The CONNECT password of device `name` at `unix_s` (SPEC §5.2): `<unix seconds>.<hex
/// signature>`, the signature over `"m2mhub/connect/v1" 0x0A ‖ u16 len(name) ‖ name ‖ u64
/// unix seconds`.
pub fn connect_password(key: &DeviceKey, name: &str, unix_s: u64) -> String {
    use ed25519_dalek::Signer;
    let signature = key
        .signing_key()
        .sign(&connect_signing_bytes(name, unix_s))
        .to_bytes();
    ConnectPassword { unix_s, signature }.to_string()
}

/// The device's CONNECT credentials now: its name and [`connect_password`].
fn signed_login(key: &DeviceKey, name: &str) -> (String, String) {
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    (name.to_owned(), connect_password(key, name, now_s))
}

/// A broker's address, credentials and TLS settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerConfig {
    /// Host name or IP address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Whether to speak TLS (`mqtts://`).
    pub tls: bool,
    /// Username, if the broker wants one.
    pub username: Option<String>,
    /// Password, if the broker wants one.
    pub password: Option<String>,
    /// PEM file of the CA certificates to trust for TLS (default: the system's roots).
    pub ca_file: Option<PathBuf>,
}

impl BrokerConfig {
    /// Parses `mqtt://[user[:password]@]host[:port]` (port 1883) or `mqtts://…` (TLS,
    /// port 8883). IPv6 hosts go in brackets.
    pub fn parse(url: &str) -> Result<BrokerConfig> {
        let bad = |why: &str| ClientError::Invalid(format!("broker URL {url:?}: {why}"));
        let (tls, rest) = if let Some(r) = url.strip_prefix("mqtt://") {
            (false, r)
        } else if let Some(r) = url.strip_prefix("mqtts://") {
            (true, r)
        } else {
            return Err(bad("must start with mqtt:// or mqtts://"));
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('/') || rest.contains('?') {
            return Err(bad("no path or query allowed"));
        }
        let (userinfo, hostport) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, rest),
        };
        let (username, password) = match userinfo {
            None => (None, None),
            Some(u) => match u.split_once(':') {
                Some((user, pass)) => (Some(user.to_owned()), Some(pass.to_owned())),
                None => (Some(u.to_owned()), None),
            },
        };
        let default_port = if tls { 8883 } else { 1883 };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(|| bad("unclosed ["))?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| bad("bad port"))?,
                None if after.is_empty() => default_port,
                None => return Err(bad("junk after the host")),
            };
            (h.to_owned(), port)
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), p.parse().map_err(|_| bad("bad port"))?),
                None => (hostport.to_owned(), default_port),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        Ok(BrokerConfig {
            host,
            port,
            tls,
            username,
            password,
            ca_file: None,
        })
    }

    /// rumqttc options for a client called `client_id` of this broker.
    pub fn options(&self, client_id: &str) -> Result<MqttOptions> {
        let mut o = MqttOptions::new(client_id, self.host.clone(), self.port);
        o.set_keep_alive(Duration::from_secs(30));
        o.set_max_packet_size(Some(MAX_PACKET_BYTES));
        // Small packets that wait for each other: Nagle's algorithm would hold each one back
        // until the previous is acknowledged (tens of milliseconds with delayed ACKs).
        let mut net = rumqttc::NetworkOptions::new();
        net.set_tcp_nodelay(true);
        o.set_network_options(net);
        if let Some(user) = &self.username {
            o.set_credentials(user.clone(), self.password.clone().unwrap_or_default());
        }
        if self.tls {
            o.set_transport(rumqttc::Transport::tls_with_config(
                rumqttc::TlsConfiguration::Rustls(Arc::new(self.tls_config()?)),
            ));
        }
        Ok(o)
    }

    fn tls_config(&self) -> Result<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        match &self.ca_file {
            Some(path) => {
                use rustls::pki_types::{CertificateDer, pem::PemObject};
                for cert in CertificateDer::pem_file_iter(path)
                    .map_err(|e| ClientError::Invalid(format!("{}: {e}", path.display())))?
                {
                    let cert =
                        cert.map_err(|e| ClientError::Invalid(format!("{}: {e}", path.display())))?;
                    roots
                        .add(cert)
                        .map_err(|e| ClientError::Invalid(format!("{}: {e}", path.display())))?;
                }
            }
            None => {
                for cert in rustls_native_certs::load_native_certs().certs {
                    // A broken system certificate is skipped, as browsers do.
                    let _ = roots.add(cert);
                }
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Ok(rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ClientError::Invalid(format!("TLS: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth())
    }
}

/// How a device's MQTT transport behaves.
#[derive(Clone, Debug)]
pub struct MqttSettings {
    /// How long to wait for an acknowledgement before publishing the message again.
    pub ack_timeout: Duration,
    /// How many times to publish one message before giving up.
    pub max_attempts: u32,
    /// Subscribe to the device's inbox (`m2m/in/{name}`) and queue what arrives.
    pub listen: bool,
    /// In a federation (SPEC §7): the device's own hub. Its topics then carry the hub
    /// (`m2m/{hub}/out|ack|in/{name}`), as on a broker the federation's hubs share, and it
    /// sends messages signed in the federation form (`Device::sign_federated`).
    pub hub: Option<String>,
}

impl Default for MqttSettings {
    fn default() -> Self {
        MqttSettings {
            ack_timeout: Duration::from_secs(5),
            max_attempts: 12,
            listen: false,
            hub: None,
        }
    }
}

type Waiters = Arc<Mutex<HashMap<u64, oneshot::Sender<Ack>>>>;

/// A device's connection to the hub through a broker. Cheap to share (`Arc`); many messages
/// may be in flight at once.
#[derive(Debug)]
pub struct MqttTransport {
    client: AsyncClient,
    name: String,
    out: String,
    waiters: Waiters,
    settings: MqttSettings,
    inbox: Mutex<Option<mpsc::Receiver<Delivery>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MqttTransport {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MqttTransport {
    /// Connects device `name` to the broker, with a CONNECT signed by `key` (SPEC §5.2)
    /// unless the broker URL carries credentials of its own. Without a key the CONNECT is
    /// unsigned, for brokers that do not authenticate devices. Returns once the broker has
    /// accepted the connection and the subscriptions (so nothing published after this is
    /// missed).
    pub async fn connect(
        broker: &BrokerConfig,
        name: &str,
        key: Option<&DeviceKey>,
        settings: MqttSettings,
    ) -> Result<MqttTransport> {
        let mut suffix = [0u8; 4];
        getrandom::fill(&mut suffix)
            .map_err(|e| ClientError::Invalid(format!("no randomness from the OS: {e}")))?;
        // A random suffix lets one device run several clients (a sender, a listener).
        let client_id = format!("{name}:{}", hex::encode(suffix));
        let mut options = broker.options(&client_id)?;
        options.set_clean_start(true);
        let signer = key
            .filter(|_| broker.username.is_none())
            .map(|key| (key.clone(), name.to_owned()));
        if let Some((key, name)) = &signer {
            let (user, password) = signed_login(key, name);
            options.set_credentials(user, password);
        }
        let (client, eventloop) = AsyncClient::new(options, 1024);
        let waiters: Waiters = Arc::default();
        let (inbox_tx, inbox_rx) = mpsc::channel(4096);
        let (ready_tx, ready_rx) = oneshot::channel();
        let hub_topics = Topics::of(settings.hub.as_deref());
        let mut topics = vec![hub_topics.ack(name)];
        if settings.listen {
            topics.push(hub_topics.inbox(name));
        }
        let task = tokio::spawn(drive(
            eventloop,
            signer,
            client.clone(),
            topics,
            waiters.clone(),
            inbox_tx,
            ready_tx,
        ));
        let ready = tokio::time::timeout(settings.ack_timeout * 2, ready_rx).await;
        match ready {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => {
                task.abort();
                return Err(ClientError::Transport(e));
            }
            Ok(Err(_)) | Err(_) => {
                task.abort();
                return Err(ClientError::Transport(format!(
                    "no connection to the broker at {}:{}",
                    broker.host, broker.port
                )));
            }
        }
        Ok(MqttTransport {
            client,
            name: name.to_owned(),
            out: hub_topics.out(name),
            waiters,
            settings,
            inbox: Mutex::new(Some(inbox_rx)),
            task,
        })
    }

    /// The device's inbox (once; `None` after the first call or without `listen`).
    pub fn take_inbox(&self) -> Option<mpsc::Receiver<Delivery>> {
        if !self.settings.listen {
            return None;
        }
        self.inbox.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Publishes `m` and returns a handle that waits for its acknowledgement. Messages are
    /// published in the order of the calls, so counters reach the hub in order.
    pub async fn start(self: &Arc<Self>, m: Message) -> Result<InFlight> {
        let own = match &self.settings.hub {
            Some(hub) => m.sender.split() == (self.name.as_str(), Some(hub.as_str())),
            None => m.sender.as_str() == self.name,
        };
        if !own {
            return Err(ClientError::Invalid(format!(
                "this transport is {}'s, not {}'s",
                self.name, m.sender
            )));
        }
        let payload: bytes::Bytes = serde_json::to_vec(&m.to_submission())
            .map_err(|e| ClientError::Invalid(e.to_string()))?
            .into();
        let rx = self.wait_for(m.counter);
        if let Err(e) = self.publish(&payload).await {
            self.waiters
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&m.counter);
            return Err(e);
        }
        Ok(InFlight {
            transport: self.clone(),
            counter: m.counter,
            payload,
            rx,
        })
    }

    /// Publishes `m` and waits for its record: [`MqttTransport::start`] then [`InFlight::wait`].
    pub async fn submit(self: &Arc<Self>, m: Message) -> Result<Record> {
        self.start(m).await?.wait().await
    }

    fn wait_for(&self, counter: u64) -> oneshot::Receiver<Ack> {
        let (tx, rx) = oneshot::channel();
        self.waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(counter, tx);
        rx
    }

    async fn publish(&self, payload: &bytes::Bytes) -> Result<()> {
        // `Bytes` clones share the buffer: a retry publishes the same bytes without copying.
        self.client
            .publish(self.out.clone(), QoS::AtLeastOnce, false, payload.clone())
            .await
            .map_err(|e| ClientError::Transport(format!("publishing: {e}")))
    }

    /// Disconnects politely.
    pub async fn disconnect(&self) {
        let _ = self.client.disconnect().await;
    }
}

/// A published message waiting for its acknowledgement.
#[derive(Debug)]
pub struct InFlight {
    transport: Arc<MqttTransport>,
    counter: u64,
    payload: bytes::Bytes,
    rx: oneshot::Receiver<Ack>,
}

impl InFlight {
    /// The counter of the message.
    pub fn counter(&self) -> u64 {
        self.counter
    }

    /// Waits for the record; publishes the same bytes again after each `ack_timeout` (the
    /// hub answers a resubmission with the original record) and on transient refusals.
    pub async fn wait(mut self) -> Result<Record> {
        let t = &self.transport;
        let mut attempts = 1;
        loop {
            match tokio::time::timeout(t.settings.ack_timeout, &mut self.rx).await {
                Ok(Ok(Ack::Recorded(r))) => return Ok(r),
                Ok(Ok(Ack::Refused { refusal, .. })) if !refusal.is_transient() => {
                    return Err(ClientError::Refused(refusal));
                }
                Ok(Ok(Ack::Refused { .. })) | Err(_) => {}
                Ok(Err(_)) => {
                    return Err(ClientError::Transport("the connection task ended".into()));
                }
            }
            if attempts >= t.settings.max_attempts {
                t.waiters
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&self.counter);
                return Err(ClientError::Timeout {
                    counter: self.counter,
                    attempts,
                });
            }
            attempts += 1;
            tracing::debug!(
                "{}: no ack for counter {}, publishing again",
                t.name,
                self.counter
            );
            self.rx = t.wait_for(self.counter);
            t.publish(&self.payload).await?;
        }
    }
}

/// Polls the connection: (re)subscribes on every connection, routes acknowledgements to their
/// waiters and deliveries to the inbox, and reconnects after errors.
async fn drive(
    mut eventloop: EventLoop,
    signer: Option<(DeviceKey, String)>,
    client: AsyncClient,
    topics: Vec<String>,
    waiters: Waiters,
    inbox: mpsc::Sender<Delivery>,
    ready: oneshot::Sender<std::result::Result<(), String>>,
) {
    // The first topic is the acknowledgements' (`…/ack/{name}`), the other the inbox's.
    let ack_topic = topics.first().cloned().unwrap_or_default();
    let mut ready = Some(ready);
    let mut suback_pending = 0usize;
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                suback_pending = topics.len();
                for t in &topics {
                    if let Err(e) = client.try_subscribe(t.clone(), QoS::AtLeastOnce) {
                        tracing::warn!("subscribing to {t}: {e}");
                    }
                }
            }
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                let refused = ack
                    .return_codes
                    .iter()
                    .find(|c| !matches!(c, SubscribeReasonCode::Success(_)));
                if let Some(code) = refused {
                    let why = format!("the broker refused a subscription: {code:?}");
                    match ready.take() {
                        Some(r) => {
                            let _ = r.send(Err(why));
                            return;
                        }
                        None => tracing::error!("{why}"),
                    }
                }
                suback_pending = suback_pending.saturating_sub(1);
                if suback_pending == 0
                    && let Some(r) = ready.take()
                {
                    let _ = r.send(Ok(()));
                }
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let topic = String::from_utf8_lossy(&p.topic);
                if topic == ack_topic {
                    match Ack::from_json(&p.payload) {
                        Ok(ack) => {
                            let waiter = ack.counter().and_then(|c| {
                                waiters.lock().unwrap_or_else(|p| p.into_inner()).remove(&c)
                            });
                            // No waiter: an answer to a message already answered (a retry).
                            if let Some(w) = waiter {
                                let _ = w.send(ack);
                            }
                        }
                        Err(e) => tracing::warn!("{e}"),
                    }
                } else {
                    match serde_json::from_slice::<Delivery>(&p.payload) {
                        Ok(d) => {
                            if inbox.try_send(d).is_err() {
                                tracing::warn!("inbox full or closed: a delivery was dropped");
                            }
                        }
                        Err(e) => tracing::warn!("undecodable delivery: {e}"),
                    }
                }
            }
            Ok(_) => {}
            Err(e) => {
                if let Some(r) = ready.take() {
                    let _ = r.send(Err(format!("connecting to the broker: {}", refusal(&e))));
                    return;
                }
                tracing::debug!("broker connection: {e}; reconnecting");
                tokio::time::sleep(Duration::from_millis(200)).await;
                // A password is good for minutes only: sign a fresh one for the next CONNECT.
                if let Some((key, name)) = &signer {
                    let (user, password) = signed_login(key, name);
                    eventloop.options.set_credentials(user, password);
                }
            }
        }
    }
}

/// What a refused CONNECT means for a device, in words (docs/MQTT.md lists the codes).
fn refusal(e: &ConnectionError) -> String {
    let ConnectionError::ConnectionRefused(code) = e else {
        return e.to_string();
    };
    let why = match code {
        ConnectReturnCode::BadUserNamePassword => {
            "the hub refused the device's signed login: unknown device, a key that is not its \
             current one, or a clock more than 300 s from the hub's (SPEC §5.2)"
        }
        ConnectReturnCode::Banned => "the device is revoked",
        ConnectReturnCode::ClientIdentifierNotValid => {
            "the client id is not the device's name (or `name:suffix`)"
        }
        ConnectReturnCode::NotAuthorized => "not authorized (a last will outside its outbox?)",
        ConnectReturnCode::ServerBusy => {
            "too many failed logins from this address: wait, then try again"
        }
        _ => return format!("refused by the broker: {code:?}"),
    };
    format!("refused by the broker ({code:?}): {why}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_explained() {
        let e = ConnectionError::ConnectionRefused(ConnectReturnCode::Banned);
        assert_eq!(
            refusal(&e),
            "refused by the broker (Banned): the device is revoked"
        );
    }

    #[test]
    fn signs_the_connect_as_the_vectors_say() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../testdata/connect-vectors.json"
        );
        let text = std::fs::read_to_string(path).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let cases = v["cases"].as_array().unwrap();
        assert!(!cases.is_empty());
        for case in cases {
            let seed: [u8; 32] = hex::decode(case["seed"].as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap();
            let key = DeviceKey::from_seed(seed);
            let name = case["device"].as_str().unwrap();
            let unix_s = case["unix_s"].as_u64().unwrap();
            assert_eq!(
                connect_password(&key, name, unix_s),
                case["password"].as_str().unwrap()
            );
        }
    }

    #[test]
    fn parses_broker_urls() {
        let c = BrokerConfig::parse("mqtt://127.0.0.1").unwrap();
        assert_eq!((c.host.as_str(), c.port, c.tls), ("127.0.0.1", 1883, false));
        let c = BrokerConfig::parse("mqtts://hub:secret@broker.example:9000/").unwrap();
        assert_eq!(
            (c.host.as_str(), c.port, c.tls),
            ("broker.example", 9000, true)
        );
        assert_eq!(c.username.as_deref(), Some("hub"));
        assert_eq!(c.password.as_deref(), Some("secret"));
        let c = BrokerConfig::parse("mqtts://[::1]").unwrap();
        assert_eq!((c.host.as_str(), c.port), ("::1", 8883));
        for bad in [
            "http://x",
            "mqtt://",
            "mqtt://h:port",
            "mqtt://h/topic",
            "mqtt://[::1",
            "mqtt://h:1?x=1",
        ] {
            assert!(BrokerConfig::parse(bad).is_err(), "{bad}");
        }
    }
}
