//! The hub's MQTT participant: outbox in, ledger, acknowledgement and delivery out.
//!
//! Two tasks share one connection. The *reader* polls the connection, decodes each publish on
//! `m2m/out/+` and queues it with the [`Committer`] without waiting, so many messages are in
//! flight and the committer packs them into blocks. The committer's answers come back, in
//! order, to the *answerer*, which publishes the acknowledgement and the delivery and only then
//! acknowledges the device's publish to an external broker (a manual PUBACK): a hub that dies
//! before its commit leaves the message with the broker, which sends it again. See [`Release`]
//! for the embedded broker.

use std::time::Duration;

use m2mhub_client::{
    mqtt::BrokerConfig,
    wire::{Refusal, Topics},
};
use m2mhub_core::{
    message::{Message, MessageSubmission},
    names::DeviceName,
};
use m2mhub_ledger::{Appended, Committer, LedgerError, Record, Submission};
use rumqttc::v5::{
    AsyncClient, Event, EventLoop,
    mqttbytes::{
        QoS,
        v5::{Packet, Publish, SubscribeReasonCode},
    },
};
use tokio::sync::{mpsc, oneshot};

use crate::{
    MqttError,
    answer::answer,
    federation::{ForwardHook, is_outbox_owner},
};

/// What the hub delivers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Policy {
    /// Deliver every recorded message; invalid ones carry their notices (the paper's choice).
    #[default]
    Audit,
    /// Record and acknowledge invalid messages, but do not deliver them.
    Enforce,
}

impl std::str::FromStr for Policy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "audit" => Ok(Policy::Audit),
            "enforce" => Ok(Policy::Enforce),
            _ => Err(format!("policy must be audit or enforce, not {s:?}")),
        }
    }
}

/// When the hub releases a device's publish to the broker (its QoS 1 PUBACK).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Release {
    /// Once the entry is durable and the acknowledgement queued: a hub that dies before its
    /// commit leaves the message with the broker, which sends it again. For external brokers,
    /// which outlive the hub.
    #[default]
    AfterCommit,
    /// As soon as the hub has the message. For the embedded broker only: it lives and dies
    /// with the hub's process, so holding its PUBACK would keep nothing safer (the devices'
    /// retries carry a message across a hub restart), while it caps the messages the broker
    /// has in flight to the hub at rumqttd's fixed 100 per connection.
    OnReceipt,
}

/// A refused MQTT submission, as the hub saw it (SPEC §3.2: refusals are counted and kept as
/// security events).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MqttRefusal<'a> {
    /// Where it came from: for a refused submission, the topic it was published on
    /// (`m2m/out/{name}`: MQTT does not tell a subscriber the publisher's client id; with
    /// authentication on, SPEC §5.2, only the device `{name}` may publish there); for a
    /// refused CONNECT, publish or subscription on the embedded broker, the client id (the
    /// device's name when the client id is empty).
    pub source: &'a str,
    /// The sender it claimed: the payload's `sender`, else the device its topic names.
    pub sender: Option<&'a str>,
    /// The error code the device was answered (SPEC §3.2).
    pub code: &'a str,
    /// The error message the device was answered.
    pub message: &'a str,
}

/// Told of every refused submission, e.g. to count it and keep it as a security event.
#[derive(Clone, Default)]
pub struct RefusalHook(Option<std::sync::Arc<RefusalFn>>);

type RefusalFn = dyn Fn(&MqttRefusal<'_>) + Send + Sync;

impl RefusalHook {
    /// A hook calling `f` with each refusal.
    pub fn new(f: impl Fn(&MqttRefusal<'_>) + Send + Sync + 'static) -> RefusalHook {
        RefusalHook(Some(std::sync::Arc::new(f)))
    }

    pub(crate) fn call(&self, r: &MqttRefusal<'_>) {
        if let Some(f) = &self.0 {
            f(r);
        }
    }
}

impl std::fmt::Debug for RefusalHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "RefusalHook(set)"
        } else {
            "RefusalHook(none)"
        })
    }
}

/// How the hub joins its broker.
#[derive(Clone, Debug)]
pub struct HubConfig {
    /// The broker.
    pub broker: BrokerConfig,
    /// The hub's client id; its session lives on in the broker under this id.
    pub client_id: String,
    /// What to deliver.
    pub policy: Policy,
    /// When to release devices' publishes.
    pub release: Release,
    /// Told of every refusal.
    pub on_refusal: RefusalHook,
    /// The topics: `m2m/…` for a hub on its own, `m2m/{hub}/…` in a federation (SPEC §7).
    pub topics: Topics,
    /// In a federation: forwards messages that another member records.
    pub forward: ForwardHook,
}

/// How long the broker keeps the hub's session (and queues devices' messages) while the hub
/// is away, in seconds.
const SESSION_EXPIRY_S: u32 = 24 * 3600;

/// The running MQTT side of the hub.
#[derive(Debug)]
pub struct MqttHub {
    client: AsyncClient,
    reader: tokio::task::JoinHandle<()>,
    answerer: tokio::task::JoinHandle<()>,
}

/// A committed (or refused) submission on its way to the answerer.
pub(crate) struct Done {
    pub(crate) publish: Publish,
    /// Already released to the broker ([`Release::OnReceipt`]).
    pub(crate) released: bool,
    /// Where to acknowledge: the device named by the topic.
    pub(crate) sender: Option<DeviceName>,
    pub(crate) outcome: Outcome,
}

/// What the reader shares with its spawned forwards.
#[derive(Clone)]
struct Reading {
    committer: Committer,
    release: Release,
    topics: Topics,
    forward: ForwardHook,
    done: mpsc::UnboundedSender<Done>,
}

pub(crate) enum Outcome {
    Refused {
        counter: Option<u64>,
        /// The payload's `sender`, when it has one.
        claimed: Option<String>,
        refusal: Refusal,
    },
    Appended {
        counter: u64,
        signature: [u8; 64],
        /// Signed in the federation form (the delivery then names the recording hub).
        federated: bool,
        result: Result<Appended, LedgerError>,
    },
    /// Recorded by another member (SPEC §7), whose answer this is.
    Forwarded {
        counter: u64,
        signature: [u8; 64],
        /// The member that recorded it.
        hub: String,
        result: Result<Record, Refusal>,
    },
}

impl MqttHub {
    /// Connects to the broker, subscribes to the outboxes, and starts recording. Returns once
    /// the subscription is in place.
    pub async fn start(config: HubConfig, committer: Committer) -> Result<MqttHub, MqttError> {
        let mut options = config.broker.options(&config.client_id)?;
        options.set_clean_start(false);
        options.set_session_expiry_interval(Some(SESSION_EXPIRY_S));
        options.set_manual_acks(true);
        // Many publishes wait for their block at once: let the broker send that many.
        options.set_receive_maximum(Some(u16::MAX));
        let (client, eventloop) = AsyncClient::new(options, 65_536);
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = oneshot::channel();
        let reading = Reading {
            committer,
            release: config.release,
            topics: config.topics.clone(),
            forward: config.forward,
            done: done_tx,
        };
        let reader = tokio::spawn(read(eventloop, client.clone(), reading, ready_tx));
        let answerer = tokio::spawn(answer(
            client.clone(),
            done_rx,
            (config.policy, config.topics),
            config.on_refusal,
        ));
        match tokio::time::timeout(Duration::from_secs(10), ready_rx).await {
            Ok(Ok(Ok(()))) => Ok(MqttHub {
                client,
                reader,
                answerer,
            }),
            Ok(Ok(Err(e))) => {
                reader.abort();
                answerer.abort();
                Err(MqttError::Broker(e))
            }
            Ok(Err(_)) | Err(_) => {
                reader.abort();
                answerer.abort();
                Err(MqttError::Broker(format!(
                    "no connection to {}:{}",
                    config.broker.host, config.broker.port
                )))
            }
        }
    }

    /// Disconnects. Messages not yet acknowledged stay with the broker (or the devices) and
    /// come back when the hub does.
    pub async fn stop(self) {
        let _ = self.client.disconnect().await;
        // Give the disconnect a moment to reach the broker before the tasks go.
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.reader.abort();
        self.answerer.abort();
    }
}

/// Polls the connection: subscribes on every (re)connection and queues each publish.
async fn read(
    mut eventloop: EventLoop,
    client: AsyncClient,
    reading: Reading,
    ready: oneshot::Sender<Result<(), String>>,
) {
    let mut ready = Some(ready);
    let filter = reading.topics.out_filter();
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                tracing::info!("mqtt: connected; subscribing to {filter}");
                if let Err(e) = client.try_subscribe(&filter, QoS::AtLeastOnce) {
                    tracing::error!("mqtt: subscribing to {filter}: {e}");
                }
            }
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                let refused = ack
                    .return_codes
                    .iter()
                    .find(|c| !matches!(c, SubscribeReasonCode::Success(_)));
                match (refused, ready.take()) {
                    (None, Some(r)) => {
                        let _ = r.send(Ok(()));
                    }
                    (Some(code), Some(r)) => {
                        let _ = r.send(Err(format!(
                            "the broker refused the subscription to {filter}: {code:?}"
                        )));
                        return;
                    }
                    (Some(code), None) => {
                        tracing::error!("mqtt: the broker refused {filter} again: {code:?}");
                    }
                    (None, None) => {}
                }
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let released = reading.release == Release::OnReceipt;
                if released && let Err(e) = client.try_ack(&p) {
                    tracing::warn!("mqtt: releasing a publish: {e}");
                }
                receive(p, released, &reading).await;
            }
            Ok(_) => {}
            Err(e) => {
                if let Some(r) = ready.take() {
                    let _ = r.send(Err(format!("connecting: {e}")));
                    return;
                }
                tracing::warn!("mqtt: broker connection: {e}; reconnecting");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
}

/// How long the reader waits before offering a message again to a committer that is full.
const BUSY_RETRY: Duration = Duration::from_millis(5);

/// Decodes one publish and queues it with the committer (or straight for a refusal). A full
/// committer pushes back on the reader without blocking its thread: it waits, then offers the
/// message again, and meanwhile the broker holds what devices publish.
async fn receive(publish: Publish, released: bool, reading: &Reading) {
    let (committer, done) = (&reading.committer, &reading.done);
    let topic = std::str::from_utf8(&publish.topic).unwrap_or("");
    let sender = reading
        .topics
        .device_of(topic, "out")
        .and_then(|n| DeviceName::new(n).ok());
    match decode(&publish.payload, sender.as_ref(), &reading.topics) {
        Ok(m) => {
            let (counter, signature) = (m.counter, m.signature);
            if let Some(answer) = reading.forward.call(&m, &publish.payload) {
                // Another member records it: wait for its answer off the reader.
                let hub = m.recording_hub().unwrap_or_default().to_owned();
                let done = done.clone();
                tokio::spawn(async move {
                    let result = answer.await;
                    let _ = done.send(Done {
                        publish,
                        released,
                        sender,
                        outcome: Outcome::Forwarded {
                            counter,
                            signature,
                            hub,
                            result,
                        },
                    });
                });
                return;
            }
            let federated = m.is_federated();
            loop {
                let (done, publish, sender) = (done.clone(), publish.clone(), sender.clone());
                let queued = committer.try_submit(
                    vec![Submission::Message(m.clone())],
                    move |mut results| {
                        let result = results.pop().unwrap_or(Err(LedgerError::Unavailable));
                        let _ = done.send(Done {
                            publish,
                            released,
                            sender,
                            outcome: Outcome::Appended {
                                counter,
                                signature,
                                federated,
                                result,
                            },
                        });
                    },
                );
                if queued.is_ok() {
                    break;
                }
                tokio::time::sleep(BUSY_RETRY).await;
            }
        }
        Err(message) => {
            let v = serde_json::from_slice::<serde_json::Value>(&publish.payload).ok();
            let field = |name: &str| v.as_ref().and_then(|v| v.get(name));
            let counter = field("counter").and_then(serde_json::Value::as_u64);
            let claimed = field("sender")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned);
            let _ = done.send(Done {
                publish,
                released,
                sender,
                outcome: Outcome::Refused {
                    counter,
                    claimed,
                    refusal: Refusal {
                        error: "malformed".into(),
                        message,
                    },
                },
            });
        }
    }
}

/// A publish's payload as a message from the device its topic names.
fn decode(
    payload: &[u8],
    topic_sender: Option<&DeviceName>,
    topics: &Topics,
) -> Result<Message, String> {
    let Some(topic_sender) = topic_sender else {
        return Err(format!("the topic must be {}", topics.out("{sender}")));
    };
    let sub: MessageSubmission = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
    let m = Message::try_from(sub).map_err(|e| e.to_string())?;
    if !is_outbox_owner(topics, m.sender.as_str(), topic_sender.as_str()) {
        return Err(format!(
            "a message from {} published on {topic_sender}'s outbox",
            m.sender
        ));
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const SIG: &str = "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000";

    fn payload(sender: &str) -> Vec<u8> {
        format!(
            r#"{{"sender":"{sender}","receiver":"b","action":"begin","counter":1,"contents":"hi","signature":"{SIG}"}}"#
        )
        .into_bytes()
    }

    #[test]
    fn decodes_a_message_from_the_outbox_owner_only() {
        let a = DeviceName::new("a").unwrap();
        let t = Topics::default();
        let m = decode(&payload("a"), Some(&a), &t).unwrap();
        assert_eq!((m.sender.as_str(), m.counter), ("a", 1));
        let e = decode(&payload("mallory"), Some(&a), &t).unwrap_err();
        assert!(
            e.contains("a message from mallory published on a's outbox"),
            "{e}"
        );
        assert!(decode(&payload("a"), None, &t).is_err());
        assert!(decode(b"{", Some(&a), &t).is_err());
        assert!(decode(br#"{"sender":"a"}"#, Some(&a), &t).is_err());
    }

    #[test]
    fn parses_policies() {
        assert_eq!("audit".parse::<Policy>().unwrap(), Policy::Audit);
        assert_eq!("enforce".parse::<Policy>().unwrap(), Policy::Enforce);
        assert!("drop".parse::<Policy>().is_err());
    }
}
