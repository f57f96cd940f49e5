//! The hub's MQTT answerer: for each committed, forwarded or refused submission, in order, the
//! acknowledgement to its sender (`…/ack/{sender}`), the delivery to its receiver's own hub's
//! inbox under the [`Policy`], then the release of the device's publish (PUBACK).

use m2mhub_client::wire::Topics;
use m2mhub_core::names::DeviceName;
use m2mhub_ledger::{Appended, LedgerError, Record};
use rumqttc::v5::{AsyncClient, mqttbytes::QoS};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::{
    federation::delivery_topic,
    hub::{Done, MqttRefusal, Outcome, Policy, RefusalHook},
};

/// The acknowledgement of a refused submission.
#[derive(Serialize)]
struct RefusedAck<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    counter: Option<u64>,
    error: &'a str,
    message: &'a str,
}

/// A delivery: the record with its contents and the sender's signature; for a federated
/// message, the hub that recorded it (SPEC §7).
#[derive(Serialize)]
struct DeliveryOut<'a> {
    #[serde(flatten)]
    record: &'a Record,
    signature: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    hub: Option<&'a str>,
}

/// Publishes acknowledgements and deliveries, then releases the device's publish (PUBACK).
pub(crate) async fn answer(
    client: AsyncClient,
    mut done: mpsc::UnboundedReceiver<Done>,
    (policy, topics): (Policy, Topics),
    on_refusal: RefusalHook,
) {
    while let Some(d) = done.recv().await {
        if let Err(e) = answer_one(&client, d, (policy, &topics), &on_refusal).await {
            tracing::warn!("mqtt: answering: {e}");
        }
    }
}

async fn answer_one(
    client: &AsyncClient,
    d: Done,
    (policy, topics): (Policy, &Topics),
    on_refusal: &RefusalHook,
) -> Result<(), String> {
    let topic = String::from_utf8_lossy(&d.publish.topic);
    let topic_sender = d.sender.as_ref().map(DeviceName::as_str);
    if let Outcome::Refused {
        refusal, claimed, ..
    } = &d.outcome
    {
        on_refusal.call(&MqttRefusal {
            source: &topic,
            sender: claimed.as_deref().or(topic_sender),
            code: &refusal.error,
            message: &refusal.message,
        });
    }
    let Some(sender) = &d.sender else {
        // Nobody to answer: release it so the broker does not send it again.
        if d.released {
            return Ok(());
        }
        return client.ack(&d.publish).await.map_err(|e| e.to_string());
    };
    let release = match d.outcome {
        Outcome::Refused {
            counter, refusal, ..
        } => {
            let ack = RefusedAck {
                counter,
                error: &refusal.error,
                message: &refusal.message,
            };
            publish(client, topics.ack(sender.as_str()), to_json(&ack)?).await?;
            true
        }
        Outcome::Appended {
            signature,
            federated,
            result: Ok(Appended::Message(record)),
            ..
        } => {
            let hub = topics.hub().filter(|_| federated);
            deliver(client, record, (signature, hub), (policy, topics), sender).await?;
            true
        }
        Outcome::Forwarded {
            signature,
            hub,
            result: Ok(record),
            ..
        } => {
            deliver(
                client,
                record,
                (signature, Some(&hub)),
                (policy, topics),
                sender,
            )
            .await?;
            true
        }
        Outcome::Forwarded {
            counter,
            result: Err(refusal),
            ..
        } => {
            // The recording member's refusal, or this hub's when it would not forward.
            let transient = matches!(
                refusal.error.as_str(),
                "busy" | "hub_unavailable" | "unavailable"
            );
            if transient {
                // Not the message's fault: keep it with the broker, the device sends again.
                tracing::warn!(
                    "mqtt: a forwarded message of {sender} was not recorded: {}: {}",
                    refusal.error,
                    refusal.message
                );
            } else {
                on_refusal.call(&MqttRefusal {
                    source: &topic,
                    sender: topic_sender,
                    code: &refusal.error,
                    message: &refusal.message,
                });
            }
            let ack = RefusedAck {
                counter: Some(counter),
                error: &refusal.error,
                message: &refusal.message,
            };
            publish(client, topics.ack(sender.as_str()), to_json(&ack)?).await?;
            !transient
        }
        Outcome::Appended {
            counter, result, ..
        } => {
            let (code, message, release) = match result {
                Err(LedgerError::Refused(r)) => {
                    let message = r.to_string();
                    on_refusal.call(&MqttRefusal {
                        source: &topic,
                        sender: topic_sender,
                        code: r.code(),
                        message: &message,
                    });
                    (r.code(), message, true)
                }
                Err(e) => {
                    // Not recorded for a reason that is not the message's: keep it with the
                    // broker (no PUBACK) and tell the device to try again.
                    tracing::error!("mqtt: cannot record: {e}");
                    ("unavailable", e.to_string(), false)
                }
                Ok(_) => ("internal", "not a message".into(), true),
            };
            let ack = RefusedAck {
                counter: Some(counter),
                error: code,
                message: &message,
            };
            publish(client, topics.ack(sender.as_str()), to_json(&ack)?).await?;
            release
        }
    };
    if release && !d.released {
        client.ack(&d.publish).await.map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Delivers `record` to its receiver (under the policy) with the sender's `signature` and, for
/// a federated message, the recording `hub`; then acknowledges it to `sender` (without its
/// contents).
async fn deliver(
    client: &AsyncClient,
    record: Record,
    (signature, hub): ([u8; 64], Option<&str>),
    (policy, topics): (Policy, &Topics),
    sender: &DeviceName,
) -> Result<(), String> {
    if policy == Policy::Audit || record.valid {
        let delivery = DeliveryOut {
            record: &record,
            signature: hex::encode(signature),
            hub,
        };
        let to = delivery_topic(topics, hub, &record.receiver);
        publish(client, to, to_json(&delivery)?).await?;
    }
    let mut ack = record;
    ack.contents = None;
    publish(client, topics.ack(sender.as_str()), to_json(&ack)?).await
}

async fn publish(client: &AsyncClient, topic: String, payload: Vec<u8>) -> Result<(), String> {
    client
        .publish(topic, QoS::AtLeastOnce, false, payload)
        .await
        .map_err(|e| e.to_string())
}

fn to_json<T: Serialize>(v: &T) -> Result<Vec<u8>, String> {
    serde_json::to_vec(v).map_err(|e| e.to_string())
}
