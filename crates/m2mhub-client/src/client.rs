//! A device bound to a transport: signs in order, sends, and carries transactions on.

use std::sync::Arc;

use m2mhub_core::message::{Action, Message};
use tokio::sync::Mutex;

use crate::{
    ClientError, Result,
    device::{Device, TxHandle},
    http::HttpTransport,
    mqtt::{InFlight, MqttTransport},
    wire::Record,
};

/// How many times a message refused as `stale_counter` is signed again with a fresh counter.
///
/// Over MQTT, a publish lost in a broker restart can be overtaken by later messages of the
/// same device; when it is published again the hub finds its counter stale, which proves it
/// was never recorded (an exact resubmission would have returned the original record), so
/// signing it again with the next counter records it exactly once.
const RESIGN_ATTEMPTS: u32 = 3;

/// How a device reaches the hub.
#[derive(Clone, Debug)]
pub enum Transport {
    /// `POST /v1/messages`.
    Http(HttpTransport),
    /// `m2m/out/{name}` through a broker.
    Mqtt(Arc<MqttTransport>),
}

/// A device talking to a hub. Methods take `&self`: share it in an `Arc` to keep many MQTT
/// messages in flight at once (signing and publishing stay in counter order).
#[derive(Debug)]
pub struct Client {
    device: Mutex<Device>,
    transport: Transport,
}

/// A message on its way: wait for its record with [`Sent::record`].
#[derive(Debug)]
pub struct Sent {
    message: Message,
    state: SentState,
}

#[derive(Debug)]
enum SentState {
    Done(Result<Record>),
    Mqtt(InFlight),
}

impl Sent {
    /// The message as signed.
    pub fn message(&self) -> &Message {
        &self.message
    }

    /// Waits for the record.
    pub async fn record(self) -> Result<Record> {
        match self.state {
            SentState::Done(r) => r,
            SentState::Mqtt(f) => f.wait().await,
        }
    }
}

impl Client {
    /// `device` talking over `transport`.
    pub fn new(device: Device, transport: Transport) -> Client {
        Client {
            device: Mutex::new(device),
            transport,
        }
    }

    /// The transport.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Signs a message and hands it to the transport; over MQTT it returns once published,
    /// over HTTP once answered. Calls are serialised, so counters reach the hub in order.
    pub async fn start(
        &self,
        to: &str,
        action: Action,
        tx: u64,
        cause: Option<u64>,
        contents: &str,
    ) -> Result<Sent> {
        let mut device = self.device.lock().await;
        let m = device.sign(to, action, tx, cause, contents)?;
        self.dispatch(m).await
    }

    async fn dispatch(&self, m: Message) -> Result<Sent> {
        let state = match &self.transport {
            Transport::Http(h) => SentState::Done(h.submit(&m).await),
            Transport::Mqtt(t) => SentState::Mqtt(t.start(m.clone()).await?),
        };
        Ok(Sent { message: m, state })
    }

    /// Waits for `sent`'s record; signs it again with a fresh counter when the hub found its
    /// counter stale (see [`RESIGN_ATTEMPTS`]).
    pub async fn finish(&self, sent: Sent) -> Result<Record> {
        let mut sent = sent;
        let mut tries = 0;
        loop {
            let message = sent.message.clone();
            match sent.record().await {
                Err(ClientError::Refused(r))
                    if r.error == "stale_counter" && tries < RESIGN_ATTEMPTS =>
                {
                    tries += 1;
                    let mut device = self.device.lock().await;
                    let m = device.resign(&message)?;
                    sent = self.dispatch(m).await?;
                }
                other => return other,
            }
        }
    }

    /// Signs, sends and waits for the record.
    pub async fn send(
        &self,
        to: &str,
        action: Action,
        tx: u64,
        cause: Option<u64>,
        contents: &str,
    ) -> Result<Record> {
        let sent = self.start(to, action, tx, cause, contents).await?;
        self.finish(sent).await
    }

    /// Opens a transaction with `to`; the handle carries its tx id and this message as cause.
    pub async fn begin(&self, to: &str, contents: &str) -> Result<(TxHandle, Record)> {
        let r = self.send(to, Action::Begin, 0, None, contents).await?;
        Ok((TxHandle::after(&r), r))
    }

    /// Continues transaction `tx` towards `to`, caused by `tx.cause`; returns the handle moved
    /// on to this message.
    pub async fn continue_tx(
        &self,
        tx: &TxHandle,
        to: &str,
        contents: &str,
    ) -> Result<(TxHandle, Record)> {
        let r = self
            .send(to, Action::Continue, tx.tx, tx.cause, contents)
            .await?;
        Ok((TxHandle::after(&r), r))
    }

    /// Ends transaction `tx` with a message to `to`, caused by `tx.cause`.
    pub async fn end(&self, tx: &TxHandle, to: &str, contents: &str) -> Result<Record> {
        self.send(to, Action::End, tx.tx, tx.cause, contents).await
    }
}
