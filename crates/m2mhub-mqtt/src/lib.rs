//! M2MHub on MQTT (`docs/MQTT.md`): the hub as an MQTT 5 participant. It subscribes to every
//! device's outbox (`m2m/out/+`), records each message through the ledger's [`Committer`],
//! acknowledges it on `m2m/ack/{sender}` once durable, and delivers it on `m2m/in/{receiver}`
//! under the chosen [`Policy`].
//!
//! Two ways to have a broker: [`EmbeddedBroker`] runs rumqttd inside the hub's process (the
//! single-binary default; MQTT 3.1.1 and 5 on one port, devices authenticated and kept to
//! their own topics by [`BrokerAuth`], SPEC §5.2), or the hub joins an external broker or cluster (Mosquitto, EMQX,
//! HiveMQ) through [`m2mhub_client::mqtt::BrokerConfig`]. The hub speaks to both the same way,
//! as an ordinary client.
//!
//! No rule lives here: this crate decodes, calls the ledger, encodes. It does not persist
//! anything itself; durability is the ledger's, redelivery the broker's and the devices'.
//!
//! [`Committer`]: m2mhub_ledger::Committer

mod answer;
mod auth;
mod embedded;
mod federation;
mod hub;

pub use auth::{BrokerAuth, ConnectThrottle, HUB_USERNAME};
pub use embedded::EmbeddedBroker;
pub use federation::{ForwardHook, Forwarded, delivery_topic};
pub use hub::{HubConfig, MqttHub, MqttRefusal, Policy, RefusalHook, Release};

/// What can go wrong in the MQTT hub.
#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    /// The broker could not be reached, or refused the hub.
    #[error("broker: {0}")]
    Broker(String),
    /// The embedded broker could not start.
    #[error("embedded broker: {0}")]
    Embedded(String),
    /// A setting is wrong (broker URL, TLS files, …).
    #[error("{0}")]
    Config(String),
}

impl From<m2mhub_client::ClientError> for MqttError {
    fn from(e: m2mhub_client::ClientError) -> Self {
        MqttError::Config(e.to_string())
    }
}
