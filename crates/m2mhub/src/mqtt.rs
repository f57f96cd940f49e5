//! The MQTT options of `serve` and `demo` (`docs/MQTT.md`), and starting the hub's MQTT side.

use std::{net::SocketAddr, path::PathBuf};

use anyhow::Context;
use m2mhub_client::mqtt::BrokerConfig;
use m2mhub_mqtt::{EmbeddedBroker, HubConfig, MqttHub, Policy, RefusalHook, Release};
use m2mhub_server::security::{Refusal, Transport};

/// MQTT options.
#[derive(Debug, Clone, clap::Args)]
pub struct MqttArgs {
    /// Run an embedded MQTT 5 broker (on --mqtt-listen) and record what devices publish on it.
    #[arg(long)]
    pub mqtt: bool,
    /// Where the embedded broker listens.
    #[arg(long, default_value = "127.0.0.1:1883")]
    pub mqtt_listen: SocketAddr,
    /// Join an external broker instead: mqtt://[user[:password]@]host[:port] or mqtts://… (TLS).
    #[arg(long, conflicts_with = "mqtt")]
    pub mqtt_connect: Option<String>,
    /// PEM file of the CA certificates to trust for mqtts:// (default: the system's roots).
    #[arg(long, requires = "mqtt_connect")]
    pub mqtt_ca: Option<PathBuf>,
    /// Username for the external broker (password from M2MHUB_MQTT_PASSWORD).
    #[arg(long, requires = "mqtt_connect")]
    pub mqtt_username: Option<String>,
    /// The hub's MQTT client id; the broker keeps its session under it.
    #[arg(long, default_value = "m2mhub")]
    pub mqtt_client_id: String,
    /// audit: deliver every message, flag invalid ones; enforce: hold invalid messages back.
    #[arg(long, default_value = "audit")]
    pub policy: Policy,
}

impl MqttArgs {
    /// The broker to use, starting the embedded one if that is the choice.
    pub fn broker(&self) -> anyhow::Result<Option<BrokerConfig>> {
        if let Some(url) = &self.mqtt_connect {
            let mut b = BrokerConfig::parse(url)?;
            b.ca_file.clone_from(&self.mqtt_ca);
            if let Some(user) = &self.mqtt_username {
                b.username = Some(user.clone());
            }
            if let Ok(pass) = std::env::var("M2MHUB_MQTT_PASSWORD") {
                b.password = Some(pass);
            }
            return Ok(Some(b));
        }
        if !self.mqtt {
            return Ok(None);
        }
        let broker = EmbeddedBroker::start(self.mqtt_listen)
            .with_context(|| format!("starting the embedded broker on {}", self.mqtt_listen))?;
        println!("mqtt broker on {} (embedded)", broker.url());
        Ok(Some(BrokerConfig::parse(&broker.url())?))
    }

    /// Starts the hub's MQTT side on the server's committer, counting refusals and keeping them
    /// as security events, if MQTT is on; returns it and its broker.
    pub async fn start(
        &self,
        state: &m2mhub_server::AppState,
    ) -> anyhow::Result<Option<(MqttHub, BrokerConfig)>> {
        let Some(broker) = self.broker()? else {
            return Ok(None);
        };
        let (host, port) = (broker.host.clone(), broker.port);
        // The embedded broker dies with the hub: holding its PUBACKs would keep nothing safer.
        let release = if self.mqtt_connect.is_some() {
            Release::AfterCommit
        } else {
            Release::OnReceipt
        };
        let hub = MqttHub::start(
            HubConfig {
                broker: broker.clone(),
                client_id: self.mqtt_client_id.clone(),
                policy: self.policy,
                release,
                on_refusal: {
                    let state = state.clone();
                    RefusalHook::new(move |r| {
                        state.refused(&Refusal {
                            transport: Transport::Mqtt,
                            source: Some(r.source),
                            sender: r.sender,
                            code: r.code,
                            message: r.message,
                        });
                    })
                },
            },
            state.committer.clone(),
        )
        .await
        .with_context(|| format!("joining the MQTT broker at {host}:{port}"))?;
        println!(
            "mqtt: recording m2m/out/+ on {host}:{port} (policy {:?})",
            self.policy
        );
        Ok(Some((hub, broker)))
    }
}
