//! A simulated device: it holds its own Ed25519 key and counter (the device SDK's), signs its
//! own messages (SPEC §4.1) and submits them to the hub over the public HTTP API, or over MQTT
//! through the SDK's transport once connected, like a real device.

use std::sync::Arc;

use anyhow::{Context, bail};
use m2mhub_client::{
    Device,
    counter::Counter,
    keys::DeviceKey,
    mqtt::{BrokerConfig, MqttSettings, MqttTransport},
};
use m2mhub_core::{
    message::{Action, Message},
    names::DeviceName,
};
use m2mhub_ledger::Record;

/// One device of the demo network.
#[derive(Debug)]
pub struct SimDevice {
    /// Its name.
    pub name: DeviceName,
    /// Its clearance.
    pub clearance: u32,
    device: Device,
    mqtt: Option<Arc<MqttTransport>>,
}

impl SimDevice {
    /// A device with a fresh random key.
    pub fn new(name: &str, clearance: u32) -> anyhow::Result<SimDevice> {
        Ok(SimDevice {
            name: DeviceName::new(name)?,
            clearance,
            device: Device::new(name, DeviceKey::generate()?, Counter::in_memory(0))?,
            mqtt: None,
        })
    }

    /// From now on, sends over MQTT through `broker` instead of HTTP.
    pub async fn connect_mqtt(&mut self, broker: &BrokerConfig) -> anyhow::Result<()> {
        let key = self.device.key().clone();
        let t = MqttTransport::connect(
            broker,
            self.name.as_str(),
            Some(&key),
            MqttSettings::default(),
        )
        .await
        .with_context(|| format!("connecting {} to the broker", self.name))?;
        self.mqtt = Some(Arc::new(t));
        Ok(())
    }

    /// Its public key, hex.
    pub fn public_key(&self) -> String {
        self.device.key().public_hex()
    }

    /// Signs a message to `to`.
    pub fn sign(
        &mut self,
        to: &str,
        action: Action,
        tx: u64,
        cause: Option<u64>,
        contents: &str,
    ) -> anyhow::Result<Message> {
        Ok(self.device.sign(to, action, tx, cause, contents)?)
    }

    /// Signs and sends a message; returns the hub's record.
    pub async fn send(
        &mut self,
        hub: &Hub,
        to: &str,
        action: Action,
        tx: u64,
        cause: Option<u64>,
        contents: &str,
    ) -> anyhow::Result<Record> {
        let m = self.sign(to, action, tx, cause, contents)?;
        match &self.mqtt {
            Some(t) => {
                // The SDK's record and the ledger's have the same JSON shape (SPEC §5).
                let r = t.submit(m).await?;
                Ok(serde_json::from_value(serde_json::to_value(r)?)?)
            }
            None => hub.post_message(&m).await,
        }
    }
}

/// The hub as the demo's devices and operator reach it.
#[derive(Clone, Debug)]
pub struct Hub {
    /// Base URL.
    pub url: String,
    token: String,
    http: reqwest::Client,
}

impl Hub {
    /// A client for the hub at `url`, with the operator token for registrations.
    pub fn new(url: &str, token: &str) -> Hub {
        Hub {
            url: url.to_owned(),
            token: token.to_owned(),
            http: reqwest::Client::new(),
        }
    }

    /// Submits a signed message.
    pub async fn post_message(&self, m: &Message) -> anyhow::Result<Record> {
        let r = self
            .http
            .post(format!("{}/v1/messages", self.url))
            .json(&m.to_submission())
            .send()
            .await?;
        if !r.status().is_success() {
            bail!(
                "{} refused a message from {}: {}",
                self.url,
                m.sender,
                r.text().await.unwrap_or_default()
            );
        }
        r.json().await.context("decoding a record")
    }

    /// Registers a device whose key the hub makes and holds (operator).
    pub async fn register_simulated(&self, name: &str, clearance: u32) -> anyhow::Result<()> {
        self.register_json(
            name,
            serde_json::json!({"name": name, "clearance": clearance, "simulated": true}),
        )
        .await
    }

    /// Registers a device (operator).
    pub async fn register(&self, d: &SimDevice, exceptions: &[&str]) -> anyhow::Result<()> {
        let body = serde_json::json!({"name": d.name, "clearance": d.clearance, "public_key": d.public_key(), "exceptions": exceptions});
        self.register_json(d.name.as_str(), body).await
    }

    /// Registers a device from its JSON body (operator).
    pub async fn register_json(&self, name: &str, body: serde_json::Value) -> anyhow::Result<()> {
        let r = self
            .http
            .post(format!("{}/v1/devices", self.url))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("registering {name}: {}", r.text().await.unwrap_or_default());
        }
        Ok(())
    }
}
