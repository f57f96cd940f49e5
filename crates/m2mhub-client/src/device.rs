//! A device's identity and signing (SPEC §4.1), and transaction handles.

use std::path::Path;

use ed25519_dalek::Signer;
use m2mhub_core::{
    ids::{Seq, TxId},
    message::{Action, Message},
    names::DeviceName,
};

use crate::{
    Result,
    counter::Counter,
    keys::{DeviceKey, with_suffix},
    wire::{Delivery, Record},
};

/// A device: its name, key and counter. It signs; a [`crate::Client`] sends.
#[derive(Debug)]
pub struct Device {
    name: DeviceName,
    key: DeviceKey,
    counter: Counter,
}

impl Device {
    /// A device from its parts.
    pub fn new(name: &str, key: DeviceKey, counter: Counter) -> Result<Device> {
        Ok(Device {
            name: DeviceName::new(name)?,
            key,
            counter,
        })
    }

    /// The device whose key is `PREFIX.key`, with its counter in `PREFIX.counter`.
    pub fn open(name: &str, prefix: &Path) -> Result<Device> {
        Self::open_with_reserve(name, prefix, crate::counter::DEFAULT_RESERVE)
    }

    /// [`Device::open`] reserving `reserve` counter values per write of the counter file: 1
    /// for a process that sends one message and exits (no values skipped), more for a
    /// long-running device (one fsync per `reserve` messages).
    pub fn open_with_reserve(name: &str, prefix: &Path, reserve: u64) -> Result<Device> {
        let key = DeviceKey::load(prefix)?;
        let counter = Counter::open_with_reserve(&with_suffix(prefix, "counter"), reserve)?;
        Device::new(name, key, counter)
    }

    /// Its name.
    pub fn name(&self) -> &DeviceName {
        &self.name
    }

    /// Its key.
    pub fn key(&self) -> &DeviceKey {
        &self.key
    }

    /// Signs a message to `to` with the next counter value.
    pub fn sign(
        &mut self,
        to: &str,
        action: Action,
        tx: u64,
        cause: Option<u64>,
        contents: &str,
    ) -> Result<Message> {
        let mut m = Message {
            sender: self.name.clone(),
            receiver: DeviceName::new(to)?,
            action,
            tx: TxId(if action == Action::Begin { 0 } else { tx }),
            cause: cause.map(Seq),
            counter: 0,
            contents: contents.to_owned(),
            signature: [0; 64],
            form: m2mhub_core::message::Form::OneHub,
        };
        self.stamp(&mut m)?;
        Ok(m)
    }

    /// Signs a message in the federation form (SPEC §7) with the next counter value: this
    /// device is `name@home_hub`, `to` is `name@hub`, and `tx_hub` names the transaction's
    /// home hub (ignored for a `begin`, whose home is this device's hub). Send it to this
    /// device's own hub, which records it or forwards it to `tx_hub`.
    #[allow(clippy::too_many_arguments)] // the message's own fields
    pub fn sign_federated(
        &mut self,
        home_hub: &str,
        to: &str,
        action: Action,
        tx: u64,
        tx_hub: &str,
        cause: Option<u64>,
        contents: &str,
    ) -> Result<Message> {
        let hub = DeviceName::new(home_hub)?;
        let receiver = DeviceName::party(to)?;
        if receiver.split().1.is_none() {
            return Err(m2mhub_core::CoreError::Malformed(format!(
                "receiver {to:?} must be name@hub in a federation"
            ))
            .into());
        }
        let begin = action == Action::Begin;
        let mut m = Message {
            sender: DeviceName::qualified(self.name.as_str(), hub.as_str()),
            receiver,
            action,
            tx: TxId(if begin { 0 } else { tx }),
            cause: cause.map(Seq),
            counter: 0,
            contents: contents.to_owned(),
            signature: [0; 64],
            form: m2mhub_core::message::Form::Federated {
                tx_hub: if begin {
                    None
                } else {
                    Some(DeviceName::new(tx_hub)?)
                },
            },
        };
        self.stamp(&mut m)?;
        Ok(m)
    }

    /// Gives `m` (one of this device's messages) the next counter value and signs it again:
    /// how a message that was refused as stale is sent anew.
    pub fn resign(&mut self, m: &Message) -> Result<Message> {
        let mut m = m.clone();
        self.stamp(&mut m)?;
        Ok(m)
    }

    fn stamp(&mut self, m: &mut Message) -> Result<()> {
        m.counter = self.counter.next_value()?;
        m.signature = self.key.signing_key().sign(&m.signing_bytes()).to_bytes();
        Ok(())
    }
}

/// A transaction as a device carries it on: its id, and the seq of the message the next
/// `continue`/`end` answers (its cause).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxHandle {
    /// The transaction id the hub assigned to the `begin`.
    pub tx: u64,
    /// The seq of the latest message of the transaction this device knows of.
    pub cause: Option<u64>,
}

impl TxHandle {
    /// The handle a recorded message gives: its tx, and itself as the next cause.
    pub fn after(r: &Record) -> TxHandle {
        TxHandle {
            tx: r.tx,
            cause: Some(r.seq),
        }
    }

    /// The handle for answering a delivered message.
    pub fn answering(d: &Delivery) -> TxHandle {
        TxHandle::after(&d.record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counter::Counter;

    #[test]
    fn signs_verifiable_messages_with_growing_counters() {
        let key = DeviceKey::from_seed([7; 32]);
        let mut d = Device::new("door", key.clone(), Counter::in_memory(0)).unwrap();
        let a = d.sign("hub", Action::Begin, 99, None, "open").unwrap();
        assert_eq!(a.tx, TxId(0), "a begin carries no tx");
        let b = d.resign(&a).unwrap();
        assert_eq!((a.counter, b.counter), (1, 2));
        for m in [&a, &b] {
            let public = key.public().to_bytes();
            assert!(m2mhub_core::sig::verify(
                &public,
                &m.signing_bytes(),
                &m.signature
            ));
        }
        assert!(d.sign("not a name", Action::Begin, 0, None, "").is_err());
    }

    #[test]
    fn signs_the_federation_form_with_qualified_names() {
        let key = DeviceKey::from_seed([8; 32]);
        let mut d = Device::new("meter", key.clone(), Counter::in_memory(0)).unwrap();
        let m = d
            .sign_federated(
                "home",
                "controller@grid",
                Action::Continue,
                4,
                "grid",
                Some(2),
                "kW",
            )
            .unwrap();
        assert_eq!(m.sender.as_str(), "meter@home");
        assert_eq!(m.recording_hub(), Some("grid"));
        // What the hub parses from the JSON is what was signed.
        let parsed = Message::try_from(m.to_submission()).unwrap();
        assert_eq!(parsed, m);
        let public = key.public().to_bytes();
        assert!(m2mhub_core::sig::verify(
            &public,
            &parsed.signing_bytes(),
            &m.signature
        ));
        assert!(parsed.signing_bytes().starts_with(b"m2mhub/message/v2\n"));
        let b = d
            .sign_federated("home", "meter@home", Action::Begin, 9, "grid", None, "")
            .unwrap();
        assert_eq!((b.tx, b.recording_hub()), (TxId(0), Some("home")));
        assert!(
            d.sign_federated("home", "controller", Action::Begin, 0, "", None, "")
                .is_err()
        );
    }
}
