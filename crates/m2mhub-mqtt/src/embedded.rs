//! The embedded broker: rumqttd running inside the hub's process, so one binary is a whole
//! hub. It keeps sessions and queues in memory: a restart of the hub is a restart of the
//! broker, and the devices' retries (see `docs/MQTT.md`) carry messages across it.
//!
//! One port serves MQTT 3.1.1 and MQTT 5 (the patched rumqttd's `v4_v5` listener picks each
//! connection's codec by its CONNECT's protocol level). With [`BrokerAuth`], devices sign
//! their CONNECT and keep to their own topics (SPEC §5.2, `auth.rs`).

use std::{collections::HashMap, net::SocketAddr, sync::Arc, time::Duration};

use m2mhub_client::{mqtt::BrokerConfig, wire::Topics};
use rumqttd::{Broker, Config, ConnectionSettings, RouterConfig, SegmentConfig, ServerSettings};

use crate::{MqttError, auth::BrokerAuth, auth::HUB_USERNAME};

/// A running embedded broker. rumqttd has no way to stop, so it runs until the process ends.
#[derive(Debug)]
pub struct EmbeddedBroker {
    addr: SocketAddr,
    /// The hub's own password, when devices must authenticate.
    hub_secret: Option<String>,
}

impl EmbeddedBroker {
    /// Starts a broker for MQTT 3.1.1 and 5 listening on `listen` and returns once it accepts
    /// connections. Port 0 picks a free port. With `auth`, every client but the hub must
    /// authenticate as a device (SPEC §5.2); without it, anyone may do anything.
    pub fn start(
        listen: SocketAddr,
        auth: Option<BrokerAuth>,
    ) -> Result<EmbeddedBroker, MqttError> {
        Self::start_with_topics(listen, auth, &Topics::default())
    }

    /// [`EmbeddedBroker::start`] for a hub whose topics are `topics` (a federation member's
    /// carry its name, SPEC §7); `auth`'s own topics should be the same.
    pub fn start_with_topics(
        listen: SocketAddr,
        auth: Option<BrokerAuth>,
        topics: &Topics,
    ) -> Result<EmbeddedBroker, MqttError> {
        let addr = if listen.port() == 0 {
            // rumqttd does not report the port it bound, so pick one here.
            let probe = std::net::TcpListener::bind(listen)
                .map_err(|e| MqttError::Embedded(format!("binding {listen}: {e}")))?;
            probe
                .local_addr()
                .map_err(|e| MqttError::Embedded(e.to_string()))?
        } else {
            // Fail early and clearly when the port is taken: rumqttd only logs it.
            drop(
                std::net::TcpListener::bind(listen)
                    .map_err(|e| MqttError::Embedded(format!("binding {listen}: {e}")))?,
            );
            listen
        };
        let hub_secret = match auth {
            Some(_) => {
                let mut secret = [0u8; 32];
                getrandom::fill(&mut secret)
                    .map_err(|e| MqttError::Embedded(format!("no randomness from the OS: {e}")))?;
                Some(hex::encode(secret))
            }
            None => None,
        };
        let handler = auth.zip(hub_secret.clone()).map(|(auth, secret)| {
            let handler: rumqttd::ConnectHandler =
                Arc::new(move |req: &rumqttd::ConnectRequest<'_>| auth.connect(req, &secret));
            handler
        });
        let mut broker = Broker::new(config(addr, handler, &topics.out_filter()));
        std::thread::Builder::new()
            .name("m2mhub-broker".into())
            .spawn(move || {
                if let Err(e) = broker.start() {
                    tracing::error!("embedded broker stopped: {e}");
                }
            })
            .map_err(|e| MqttError::Embedded(format!("starting its thread: {e}")))?;
        // Ready once it accepts a TCP connection.
        for _ in 0..250 {
            if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                return Ok(EmbeddedBroker { addr, hub_secret });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(MqttError::Embedded(format!("not listening on {addr}")))
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its URL, for devices' `BrokerConfig::parse`.
    pub fn url(&self) -> String {
        format!("mqtt://{}", self.addr)
    }

    /// Whether devices must authenticate (SPEC §5.2).
    pub fn authenticates(&self) -> bool {
        self.hub_secret.is_some()
    }

    /// How the hub joins it: its address and, when devices must authenticate, the hub's own
    /// credentials.
    pub fn hub_config(&self) -> BrokerConfig {
        BrokerConfig {
            host: self.addr.ip().to_string(),
            port: self.addr.port(),
            tls: false,
            username: self.hub_secret.as_ref().map(|_| HUB_USERNAME.to_owned()),
            password: self.hub_secret.clone(),
            ca_file: None,
        }
    }
}

fn config(
    addr: SocketAddr,
    connect_handler: Option<rumqttd::ConnectHandler>,
    out_filter: &str,
) -> Config {
    let connections = ConnectionSettings {
        connection_timeout_ms: 60_000,
        max_payload_size: m2mhub_client::mqtt::MAX_PACKET_BYTES as usize,
        max_inflight_count: 1024,
        auth: None,
        external_auth: None,
        dynamic_filters: true,
        connect_handler,
    };
    let server = ServerSettings {
        name: "m2mhub-mqtt".into(),
        listen: addr,
        tls: None,
        next_connection_delay_ms: 0,
        connections,
    };
    Config {
        id: 0,
        router: RouterConfig {
            max_connections: 10_010,
            max_outgoing_packet_count: 1024,
            // Every subscription keeps a log of what was published to it, in memory, in
            // segments; past the count the oldest is dropped (a subscriber that far behind skips
            // ahead). A device's acknowledgements and deliveries get 2 × 256 KiB: a thousand or
            // more messages it has not read yet, and at most 1 MiB per device for its two
            // subscriptions (32 MiB before, which a busy fleet would fill). Smaller segments cost
            // throughput: at 2 × 64 KiB, 256 acknowledgements in flight per device crossed a
            // segment so often that `bench mqtt` fell to ~6,000 msg/s in most runs. The hub's
            // subscription to every outbox gets 4 × 4 MiB.
            max_segment_size: 256 * 1024,
            max_segment_count: 2,
            custom_segment: Some(HashMap::from([(
                out_filter.to_owned(),
                SegmentConfig {
                    max_segment_size: 4 * 1024 * 1024,
                    max_segment_count: 4,
                },
            )])),
            ..RouterConfig::default()
        },
        v4_v5: Some(HashMap::from([("m2mhub".to_owned(), server)])),
        ..Config::default()
    }
}
