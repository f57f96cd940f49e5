//! The embedded broker: rumqttd running inside the hub's process, so one binary is a whole
//! hub. It keeps sessions and queues in memory: a restart of the hub is a restart of the
//! broker, and the devices' retries (see `docs/MQTT.md`) carry messages across it.

use std::{collections::HashMap, net::SocketAddr, time::Duration};

use m2mhub_client::wire::OUT_FILTER;
use rumqttd::{Broker, Config, ConnectionSettings, RouterConfig, SegmentConfig, ServerSettings};

use crate::MqttError;

/// A running embedded broker. rumqttd has no way to stop, so it runs until the process ends.
#[derive(Debug)]
pub struct EmbeddedBroker {
    addr: SocketAddr,
}

impl EmbeddedBroker {
    /// Starts an MQTT 5 broker listening on `listen` and returns once it accepts connections.
    /// Port 0 picks a free port.
    pub fn start(listen: SocketAddr) -> Result<EmbeddedBroker, MqttError> {
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
        let mut broker = Broker::new(config(addr));
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
                return Ok(EmbeddedBroker { addr });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(MqttError::Embedded(format!("not listening on {addr}")))
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its URL, for `BrokerConfig::parse`.
    pub fn url(&self) -> String {
        format!("mqtt://{}", self.addr)
    }
}

fn config(addr: SocketAddr) -> Config {
    let connections = ConnectionSettings {
        connection_timeout_ms: 60_000,
        max_payload_size: m2mhub_client::mqtt::MAX_PACKET_BYTES as usize,
        max_inflight_count: 1024,
        auth: None,
        external_auth: None,
        dynamic_filters: true,
    };
    let server = ServerSettings {
        name: "m2mhub-v5".into(),
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
                OUT_FILTER.to_owned(),
                SegmentConfig {
                    max_segment_size: 4 * 1024 * 1024,
                    max_segment_count: 4,
                },
            )])),
            ..RouterConfig::default()
        },
        v5: Some(HashMap::from([("m2mhub".to_owned(), server)])),
        ..Config::default()
    }
}
