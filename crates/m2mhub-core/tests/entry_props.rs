//! Property tests of the entry encoding: every entry round-trips, and decoding is canonical
//! (bytes that decode re-encode to themselves, so one entry has one leaf hash).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use m2mhub_core::{
    entry::{Entry, MessageEntry, Registration},
    ids::{Seq, TxId},
    message::Action,
    names::DeviceName,
    notice::Notices,
};
use proptest::prelude::*;

fn name() -> impl Strategy<Value = DeviceName> {
    "[A-Za-z0-9_.-]{1,64}".prop_map(|s| DeviceName::new(&s).unwrap())
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        Just(Action::Begin),
        Just(Action::Continue),
        Just(Action::End)
    ]
}

fn message() -> impl Strategy<Value = Entry> {
    (
        (
            name(),
            name(),
            action(),
            any::<u64>(),
            proptest::option::of(0..u64::MAX),
        ),
        (
            any::<u64>(),
            any::<[u8; 32]>(),
            proptest::collection::vec(any::<u8>(), 64),
            proptest::option::of(name()),
            0u16..(1 << 9),
        ),
    )
        .prop_map(
            |(
                (sender, receiver, action, tx, cause),
                (counter, contents_hash, sig, provenance, bits),
            )| {
                let mut signature = [0u8; 64];
                signature.copy_from_slice(&sig);
                Entry::Message(MessageEntry {
                    sender,
                    receiver,
                    action,
                    tx: TxId(tx),
                    cause: cause.map(Seq),
                    counter,
                    contents_hash,
                    signature,
                    provenance,
                    notices: Notices::from_bits(bits).unwrap(),
                    federated: false,
                })
            },
        )
}

fn entry() -> impl Strategy<Value = Entry> {
    prop_oneof![
        (
            name(),
            any::<u32>(),
            any::<[u8; 32]>(),
            proptest::collection::btree_set(name(), 0..5),
            any::<bool>()
        )
            .prop_map(
                |(name, clearance, public_key, exceptions, simulated): (
                    DeviceName,
                    u32,
                    [u8; 32],
                    BTreeSet<DeviceName>,
                    bool
                )| {
                    Entry::DeviceRegistered(Registration {
                        name,
                        clearance,
                        public_key,
                        exceptions,
                        simulated,
                    })
                }
            ),
        (name(), name()).prop_map(|(device, sender)| Entry::ExceptionGranted { device, sender }),
        (name(), name()).prop_map(|(device, sender)| Entry::ExceptionWithdrawn { device, sender }),
        name().prop_map(|device| Entry::DeviceRevoked { device }),
        (name(), any::<[u8; 32]>())
            .prop_map(|(device, public_key)| Entry::DeviceRekeyed { device, public_key }),
        message(),
    ]
}

proptest! {
    #[test]
    fn entries_round_trip(e in entry()) {
        let bytes = e.to_bytes();
        prop_assert_eq!(Entry::from_bytes(&bytes).unwrap(), e);
    }

    #[test]
    fn decoding_is_canonical(e in entry(), flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4)) {
        let mut bytes = e.to_bytes();
        for (at, x) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= x;
        }
        if let Ok(decoded) = Entry::from_bytes(&bytes) {
            prop_assert_eq!(decoded.to_bytes(), bytes);
        }
    }
}
