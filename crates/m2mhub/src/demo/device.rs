//! A simulated device: it holds its own Ed25519 key and counter, signs its own messages
//! (SPEC §4.1) and submits them to the hub over the public HTTP API, like a real device.

use anyhow::{Context, bail};
use ed25519_dalek::{Signer, SigningKey};
use m2mhub_core::{
    ids::{Seq, TxId},
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
    key: SigningKey,
    counter: u64,
}

impl SimDevice {
    /// A device with a fresh random key.
    pub fn new(name: &str, clearance: u32) -> anyhow::Result<SimDevice> {
        let mut seed = [0u8; 32];
        m2mhub_ledger::datadir::random_bytes(&mut seed)?;
        Ok(SimDevice {
            name: DeviceName::new(name)?,
            clearance,
            key: SigningKey::from_bytes(&seed),
            counter: 0,
        })
    }

    /// Its public key, hex.
    pub fn public_key(&self) -> String {
        hex::encode(self.key.verifying_key().as_bytes())
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
        self.counter += 1;
        let mut m = Message {
            sender: self.name.clone(),
            receiver: DeviceName::new(to)?,
            action,
            tx: TxId(tx),
            cause: cause.map(Seq),
            counter: self.counter,
            contents: contents.to_owned(),
            signature: [0; 64],
        };
        m.signature = self.key.sign(&m.signing_bytes()).to_bytes();
        Ok(m)
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
        hub.post_message(&m).await
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

    async fn register_json(&self, name: &str, body: serde_json::Value) -> anyhow::Result<()> {
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
