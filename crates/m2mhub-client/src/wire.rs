//! What travels between devices and the hub: the record of SPEC §5, refusals, and the MQTT
//! topics and payloads of `docs/MQTT.md` (acknowledgements and inbox deliveries).

use ed25519_dalek::VerifyingKey;
use m2mhub_core::{
    ids::{Seq, TxId},
    message::{Action, Message},
    names::DeviceName,
};
use serde::{Deserialize, Serialize};

use crate::{ClientError, Result};

/// The first level of every M2MHub topic.
pub const TOPIC_ROOT: &str = "m2m";

/// Where `sender` publishes its signed messages.
pub fn out_topic(sender: &str) -> String {
    format!("{TOPIC_ROOT}/out/{sender}")
}

/// Where the hub acknowledges `sender`'s messages.
pub fn ack_topic(sender: &str) -> String {
    format!("{TOPIC_ROOT}/ack/{sender}")
}

/// Where the hub delivers messages addressed to `receiver`.
pub fn in_topic(receiver: &str) -> String {
    format!("{TOPIC_ROOT}/in/{receiver}")
}

/// The filter the hub subscribes to: every device's outbox.
pub const OUT_FILTER: &str = "m2m/out/+";

/// The device name at the end of `topic` if it is `m2m/{kind}/{name}`.
pub fn device_of_topic<'a>(topic: &'a str, kind: &str) -> Option<&'a str> {
    Topics::default().device_of(topic, kind)
}

/// One hub's topics: `m2m/{kind}/{name}` for a hub on its own broker (docs/MQTT.md), and
/// `m2m/{hub}/{kind}/{name}` on a broker (or bridged brokers) that a federation's hubs share
/// (SPEC §7), where each hub subscribes only to `m2m/{its name}/out/+`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Topics {
    hub: Option<String>,
}

impl Topics {
    /// The topics of hub `hub` in a federation; `None`: a hub on its own.
    pub fn of(hub: Option<&str>) -> Topics {
        Topics {
            hub: hub.map(str::to_owned),
        }
    }

    /// The hub these topics carry, if any.
    pub fn hub(&self) -> Option<&str> {
        self.hub.as_deref()
    }

    fn prefix(&self) -> String {
        match &self.hub {
            Some(h) => format!("{TOPIC_ROOT}/{h}"),
            None => TOPIC_ROOT.to_owned(),
        }
    }

    /// Where device `name` publishes its signed messages.
    pub fn out(&self, name: &str) -> String {
        format!("{}/out/{name}", self.prefix())
    }

    /// Where the hub acknowledges `name`'s messages.
    pub fn ack(&self, name: &str) -> String {
        format!("{}/ack/{name}", self.prefix())
    }

    /// Where the hub delivers messages addressed to `name`.
    pub fn inbox(&self, name: &str) -> String {
        format!("{}/in/{name}", self.prefix())
    }

    /// The filter the hub subscribes to: its devices' outboxes.
    pub fn out_filter(&self) -> String {
        format!("{}/out/+", self.prefix())
    }

    /// The device name at the end of `topic` if it is this hub's `…/{kind}/{name}`.
    pub fn device_of<'a>(&self, topic: &'a str, kind: &str) -> Option<&'a str> {
        let rest = topic.strip_prefix(&self.prefix())?.strip_prefix('/')?;
        let name = rest.strip_prefix(kind)?.strip_prefix('/')?;
        (!name.is_empty() && !name.contains('/')).then_some(name)
    }
}

/// A recorded message (SPEC §5 "record").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Its index in the ledger.
    pub seq: u64,
    /// Its transaction.
    pub tx: u64,
    /// The transaction's provenance device; null when the transaction is unknown.
    pub provenance: Option<String>,
    /// Sender.
    pub sender: String,
    /// Receiver.
    pub receiver: String,
    /// begin, continue or end.
    pub action: Action,
    /// The seq of the message that caused it.
    pub cause: Option<u64>,
    /// The sender's counter.
    pub counter: u64,
    /// The contents (null in MQTT acknowledgements and once pruned).
    #[serde(default)]
    pub contents: Option<String>,
    /// True when no notice.
    pub valid: bool,
    /// Failed checks (SPEC §3.3 codes), in order.
    pub notices: Vec<String>,
    /// Height of the block that holds it.
    pub block: u64,
    /// When that block was sealed, as its signed checkpoint says; null for blocks sealed
    /// before checkpoints carried a time.
    #[serde(default)]
    pub time: Option<String>,
    /// Its Merkle leaf hash, hex.
    pub leaf_hash: String,
    /// True when this answers an exact resubmission of a recorded message.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
}

/// A refusal (SPEC §3.2 and §5 errors): nothing was recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// The stable code: `malformed`, `unknown_sender`, `bad_signature`, `stale_counter`, …
    pub error: String,
    /// What went wrong, for people.
    pub message: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.message)
    }
}

impl Refusal {
    /// True for hub-side failures that say nothing about the message: it may be sent again.
    pub fn is_transient(&self) -> bool {
        matches!(self.error.as_str(), "unavailable" | "internal")
    }
}

/// The payload of `m2m/ack/{sender}`: the record (contents left out) or a refusal, naming the
/// counter of the message it answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Ack {
    /// Not recorded. `counter` is absent when the payload was too broken to read one.
    Refused {
        /// The refused message's counter.
        #[serde(default)]
        counter: Option<u64>,
        /// Why.
        #[serde(flatten)]
        refusal: Refusal,
    },
    /// Recorded (or found already recorded: `duplicate`).
    Recorded(Record),
}

/// A refusal as `m2m/ack` carries it, for decoding without buffering (see [`Ack::from_json`]).
#[derive(Deserialize)]
struct RefusedJson {
    #[serde(default)]
    counter: Option<u64>,
    error: String,
    message: String,
}

impl Ack {
    /// Decodes an `m2m/ack` payload. Records, by far the common case, are tried first as a
    /// plain struct: serde's untagged enums buffer the whole document before choosing.
    pub fn from_json(payload: &[u8]) -> Result<Ack> {
        if let Ok(r) = serde_json::from_slice::<Record>(payload) {
            return Ok(Ack::Recorded(r));
        }
        let r: RefusedJson = serde_json::from_slice(payload)
            .map_err(|e| ClientError::Transport(format!("undecodable acknowledgement: {e}")))?;
        Ok(Ack::Refused {
            counter: r.counter,
            refusal: Refusal {
                error: r.error,
                message: r.message,
            },
        })
    }

    /// The counter of the message this answers.
    pub fn counter(&self) -> Option<u64> {
        match self {
            Ack::Refused { counter, .. } => *counter,
            Ack::Recorded(r) => Some(r.counter),
        }
    }
}

/// One of a device's keys, as `GET /v1/devices/{name}` lists them in `keys` (SPEC §3.2.2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceKey {
    /// The Ed25519 public key, hex.
    pub public_key: String,
    /// The seq of the registration or re-key entry from which it is in force.
    pub from_seq: u64,
}

impl DeviceKey {
    /// The key's 32 bytes.
    pub fn bytes(&self) -> Result<[u8; 32]> {
        Ok(m2mhub_core::message::parse_hex_array::<32>(
            &self.public_key,
            "public_key",
        )?)
    }
}

/// The key in force at `seq` in a history ordered oldest first: the last one given at or
/// before `seq`. `None` before the first.
pub fn key_at(keys: &[DeviceKey], seq: u64) -> Option<&DeviceKey> {
    keys.iter().rev().find(|k| k.from_seq <= seq)
}

/// The payload of `m2m/in/{receiver}`: the record with its contents, plus the sender's
/// signature so the receiver can check the message end to end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The record, contents included.
    #[serde(flatten)]
    pub record: Record,
    /// The sender's Ed25519 signature over the SPEC §4.1 bytes, hex (§7's for a federated
    /// message).
    pub signature: String,
    /// For a message signed in the federation form (SPEC §7): the hub that recorded it, whose
    /// ledger writes its own devices' names bare.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hub: Option<String>,
}

impl Delivery {
    /// The message as its sender signed it. For a `begin` the signed tx is 0 (the hub
    /// assigned `record.tx` afterwards).
    pub fn message(&self) -> Result<Message> {
        let r = &self.record;
        let contents = r
            .contents
            .clone()
            .ok_or_else(|| ClientError::Invalid("delivery without contents".into()))?;
        let begin = r.action == Action::Begin;
        let (sender, receiver, form) = match &self.hub {
            None => (
                DeviceName::new(&r.sender)?,
                DeviceName::new(&r.receiver)?,
                m2mhub_core::message::Form::OneHub,
            ),
            Some(hub) => (
                DeviceName::party(&r.sender)?.qualify(hub),
                DeviceName::party(&r.receiver)?.qualify(hub),
                m2mhub_core::message::Form::Federated {
                    tx_hub: if begin {
                        None
                    } else {
                        Some(DeviceName::new(hub)?)
                    },
                },
            ),
        };
        Ok(Message {
            sender,
            receiver,
            action: r.action,
            tx: TxId(if begin { 0 } else { r.tx }),
            cause: r.cause.map(Seq),
            counter: r.counter,
            contents,
            signature: m2mhub_core::message::parse_hex_array::<64>(&self.signature, "signature")?,
            form,
        })
    }

    /// Checks the sender's signature with the sender's public key (e.g. from
    /// `GET /v1/devices/{name}`), so a receiver needs to trust the broker for nothing. The
    /// rule is the hub's (ZIP 215, SPEC §3.2.1, [`m2mhub_core::sig`]): a delivery the hub
    /// recorded as signed verifies here too.
    ///
    /// A re-keyed sender (SPEC §3.2.2) signed this delivery with the key in force at its seq,
    /// which need not be its current one: see [`Delivery::verify_signature_in_history`].
    pub fn verify_signature(&self, sender_key: &VerifyingKey) -> Result<()> {
        self.verify_with(sender_key.as_bytes())
    }

    /// Checks the sender's signature with the key in force at the delivery's seq, taken from
    /// the sender's key history (`keys` of `GET /v1/devices/{name}`, oldest first).
    pub fn verify_signature_in_history(&self, keys: &[DeviceKey]) -> Result<()> {
        let k = key_at(keys, self.record.seq).ok_or_else(|| {
            ClientError::Verification(format!("the sender had no key at seq {}", self.record.seq))
        })?;
        self.verify_with(&k.bytes()?)
    }

    fn verify_with(&self, sender_key: &[u8; 32]) -> Result<()> {
        let m = self.message()?;
        if m2mhub_core::sig::verify(sender_key, &m.signing_bytes(), &m.signature) {
            Ok(())
        } else {
            Err(ClientError::Verification(
                "the sender's signature does not verify".into(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_is_checked_with_the_key_in_force_at_its_seq() {
        use ed25519_dalek::{Signer, SigningKey};
        let (old, new) = (
            SigningKey::from_bytes(&[1; 32]),
            SigningKey::from_bytes(&[2; 32]),
        );
        let keys = [
            DeviceKey {
                public_key: hex::encode(old.verifying_key().as_bytes()),
                from_seq: 3,
            },
            DeviceKey {
                public_key: hex::encode(new.verifying_key().as_bytes()),
                from_seq: 10,
            },
        ];
        let delivery = |seq: u64, key: &SigningKey| {
            let mut d = Delivery {
                record: Record {
                    seq,
                    tx: 1,
                    provenance: Some("tv".into()),
                    sender: "tv".into(),
                    receiver: "oven".into(),
                    action: Action::Begin,
                    cause: None,
                    counter: seq,
                    contents: Some("heat".into()),
                    valid: true,
                    notices: Vec::new(),
                    block: 1,
                    time: None,
                    leaf_hash: String::new(),
                    duplicate: false,
                },
                signature: "00".repeat(64),
                hub: None,
            };
            let m = d.message().expect("message");
            d.signature = hex::encode(key.sign(&m.signing_bytes()).to_bytes());
            d
        };
        for (seq, key, ok) in [
            (9, &old, true),
            (9, &new, false),
            (10, &new, true),
            (10, &old, false),
            (2, &old, false),
        ] {
            let got = delivery(seq, key).verify_signature_in_history(&keys);
            assert_eq!(got.is_ok(), ok, "seq {seq}: {got:?}");
        }
    }

    #[test]
    fn a_federations_topics_carry_the_hub() {
        let t = Topics::of(Some("home"));
        assert_eq!(t.out("meter"), "m2m/home/out/meter");
        assert_eq!(t.ack("meter"), "m2m/home/ack/meter");
        assert_eq!(t.inbox("meter"), "m2m/home/in/meter");
        assert_eq!(t.out_filter(), "m2m/home/out/+");
        assert_eq!(t.device_of("m2m/home/out/meter", "out"), Some("meter"));
        assert_eq!(t.device_of("m2m/grid/out/meter", "out"), None);
        assert_eq!(t.device_of("m2m/out/meter", "out"), None);
        assert_eq!(Topics::default().out("meter"), out_topic("meter"));
        assert_eq!(Topics::default().out_filter(), OUT_FILTER);
    }

    #[test]
    fn topics_round_trip() {
        assert_eq!(out_topic("door"), "m2m/out/door");
        assert_eq!(device_of_topic("m2m/out/door", "out"), Some("door"));
        assert_eq!(device_of_topic("m2m/ack/door", "out"), None);
        assert_eq!(device_of_topic("m2m/out/", "out"), None);
        assert_eq!(device_of_topic("m2m/out/a/b", "out"), None);
        assert_eq!(device_of_topic("x/out/a", "out"), None);
    }

    #[test]
    fn acks_decode_as_records_or_refusals() {
        let refused: Ack =
            serde_json::from_str(r#"{"counter":4,"error":"bad_signature","message":"no"}"#)
                .unwrap();
        assert_eq!(refused.counter(), Some(4));
        assert!(
            matches!(refused, Ack::Refused { ref refusal, .. } if refusal.error == "bad_signature")
        );
        let rec: Ack = serde_json::from_str(
            r#"{"seq":9,"tx":2,"provenance":"a","sender":"a","receiver":"b","action":"begin","cause":null,"counter":5,"contents":null,"valid":true,"notices":[],"block":3,"leaf_hash":"00"}"#,
        )
        .unwrap();
        assert!(matches!(rec, Ack::Recorded(ref r) if r.tx == 2 && r.seq == 9));
        let json = serde_json::to_string(&refused).unwrap();
        assert_eq!(serde_json::from_str::<Ack>(&json).unwrap(), refused);
        assert_eq!(Ack::from_json(json.as_bytes()).unwrap(), refused);
        let json = serde_json::to_string(&rec).unwrap();
        assert_eq!(Ack::from_json(json.as_bytes()).unwrap(), rec);
        assert!(Ack::from_json(b"{\"seq\":1}").is_err());
    }
}
