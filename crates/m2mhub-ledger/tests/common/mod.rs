//! Shared test helpers: devices with keys that sign their own messages.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeSet;

use ed25519_dalek::{Signer, SigningKey};
use m2mhub_core::{
    entry::{Entry, Registration},
    ids::{Seq, TxId},
    message::{Action, Message},
    names::DeviceName,
};
use m2mhub_ledger::{Appended, Ledger, Record, Submission};

pub fn name(s: &str) -> DeviceName {
    DeviceName::new(s).unwrap()
}

/// Devices with keys and counters.
#[derive(Default)]
pub struct Devices {
    pub keys: Vec<(String, SigningKey, u64)>,
    /// Re-keys so far (each gets a key no registration here uses).
    pub rekeys: u8,
}

impl Devices {
    pub fn registration(&mut self, n: &str, clearance: u32) -> Entry {
        let key = SigningKey::from_bytes(&[self.keys.len() as u8 + 10; 32]);
        let e = Entry::DeviceRegistered(Registration {
            name: name(n),
            clearance,
            public_key: key.verifying_key().to_bytes(),
            exceptions: BTreeSet::new(),
            simulated: false,
        });
        self.keys.push((n.to_owned(), key, 0));
        e
    }

    pub fn message(
        &mut self,
        from: &str,
        to: &str,
        action: Action,
        tx: u64,
        cause: Option<u64>,
    ) -> Message {
        let (_, key, counter) = self.keys.iter_mut().find(|k| k.0 == from).unwrap();
        *counter += 1;
        let mut m = Message {
            sender: name(from),
            receiver: name(to),
            action,
            tx: TxId(tx),
            cause: cause.map(Seq),
            counter: *counter,
            contents: format!("{from} says {action} to {to}"),
            signature: [0; 64],
            form: m2mhub_core::message::Form::OneHub,
        };
        m.signature = key.sign(&m.signing_bytes()).to_bytes();
        m
    }
}

impl Devices {
    /// A re-key of `n` to a fresh key, which its later messages are signed with; returns the
    /// entry and the retired key.
    pub fn rekey(&mut self, n: &str) -> (Entry, SigningKey) {
        self.rekeys += 1;
        let fresh = SigningKey::from_bytes(&[self.rekeys.wrapping_add(200); 32]);
        let public_key = fresh.verifying_key().to_bytes();
        let slot = self.keys.iter_mut().find(|k| k.0 == n).unwrap();
        let retired = std::mem::replace(&mut slot.1, fresh);
        let e = Entry::DeviceRekeyed {
            device: name(n),
            public_key,
        };
        (e, retired)
    }

    /// A begin from `from` to itself with its next counter, signed with `key`.
    pub fn begin_signed_by(&mut self, from: &str, key: &SigningKey) -> Message {
        let mut m = self.message(from, from, Action::Begin, 0, None);
        m.signature = key.sign(&m.signing_bytes()).to_bytes();
        m
    }
}

pub fn record(r: m2mhub_ledger::Result<Appended>) -> Record {
    match r.unwrap() {
        Appended::Message(r) => r,
        other => panic!("not a message: {other:?}"),
    }
}

pub fn register_all(ledger: &Ledger, devices: &mut Devices, list: &[(&str, u32)]) {
    let subs = list
        .iter()
        .map(|(n, c)| Submission::Registry(devices.registration(n, *c)))
        .collect();
    for r in ledger.append(subs) {
        r.unwrap();
    }
}

/// The paper's eight messages (SPEC §3.3), as (message, expected notices, expected tx).
pub fn paper_scenario(d: &mut Devices) -> Vec<(Message, Vec<&'static str>, u64)> {
    use Action::*;
    vec![
        (
            d.message("top_level", "low_level", Begin, 0, None),
            vec![],
            1,
        ),
        (
            d.message("low_level", "top_level", Continue, 1, None),
            vec![],
            1,
        ),
        (d.message("top_level", "low_level", End, 1, None), vec![], 1),
        (
            d.message("top_level", "low_level", Continue, 1, None),
            vec!["transaction_closed"],
            1,
        ),
        (
            d.message("low_level", "top_level", Begin, 0, None),
            vec!["insufficient_clearance"],
            2,
        ),
        (
            d.message("top_level", "mid_level", Continue, 6000, None),
            vec!["unknown_transaction"],
            6000,
        ),
        (
            d.message("mid_level", "low_level", Begin, 0, None),
            vec![],
            3,
        ),
        (
            d.message("low_level", "top_level", Continue, 3, None),
            vec!["insufficient_clearance"],
            3,
        ),
    ]
}

pub const PAPER_DEVICES: [(&str, u32); 3] = [("low_level", 1), ("mid_level", 2), ("top_level", 3)];
