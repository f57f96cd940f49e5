//! Validation notices (SPEC §3.3) and the ordered set of them a verdict carries.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why an authenticated message is invalid. Declared in SPEC §3.3's order, which is also the
/// order notices are reported in and their bit positions in entry bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Notice {
    /// The sender is revoked.
    SenderRevoked,
    /// The receiver is not registered.
    UnknownReceiver,
    /// The receiver is revoked.
    ReceiverRevoked,
    /// `continue`/`end` names a tx id that does not exist.
    UnknownTransaction,
    /// … names a tx whose `begin` was invalid.
    TransactionRejected,
    /// … names a closed tx.
    TransactionClosed,
    /// … and the sender is not a participant of that tx.
    NotAParticipant,
    /// clearance(provenance) < clearance(receiver) and the receiver has no exception for it.
    InsufficientClearance,
    /// `cause` is given but is not the seq of a valid message of the same tx.
    BadCause,
}

impl Notice {
    /// Every notice, in SPEC order.
    pub const ALL: [Notice; 9] = [
        Notice::SenderRevoked,
        Notice::UnknownReceiver,
        Notice::ReceiverRevoked,
        Notice::UnknownTransaction,
        Notice::TransactionRejected,
        Notice::TransactionClosed,
        Notice::NotAParticipant,
        Notice::InsufficientClearance,
        Notice::BadCause,
    ];

    /// The notice's code in the API.
    pub fn code(self) -> &'static str {
        match self {
            Notice::SenderRevoked => "sender_revoked",
            Notice::UnknownReceiver => "unknown_receiver",
            Notice::ReceiverRevoked => "receiver_revoked",
            Notice::UnknownTransaction => "unknown_transaction",
            Notice::TransactionRejected => "transaction_rejected",
            Notice::TransactionClosed => "transaction_closed",
            Notice::NotAParticipant => "not_a_participant",
            Notice::InsufficientClearance => "insufficient_clearance",
            Notice::BadCause => "bad_cause",
        }
    }

    /// The notice for a code, if any.
    pub fn from_code(code: &str) -> Option<Notice> {
        Notice::ALL.into_iter().find(|n| n.code() == code)
    }

    /// A sentence for people (UI, CLI).
    pub fn describe(self) -> &'static str {
        match self {
            Notice::SenderRevoked => "the sender is revoked",
            Notice::UnknownReceiver => "the receiver is not registered",
            Notice::ReceiverRevoked => "the receiver is revoked",
            Notice::UnknownTransaction => "the transaction does not exist",
            Notice::TransactionRejected => "the transaction's begin was invalid",
            Notice::TransactionClosed => "the transaction is closed",
            Notice::NotAParticipant => "the sender is not a participant of the transaction",
            Notice::InsufficientClearance => {
                "the provenance device's clearance is below the receiver's, with no exception"
            }
            Notice::BadCause => "the cause is not a valid message of the same transaction",
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Notice {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

/// A set of notices; iterates in SPEC order. Empty means valid.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Notices(u16);

impl Notices {
    /// Bits that name a notice; any other bit in entry bytes is an encoding error.
    pub const KNOWN_BITS: u16 = (1 << Notice::ALL.len()) - 1;

    /// No notice: the verdict is valid.
    pub fn none() -> Self {
        Self(0)
    }

    /// Adds a notice.
    pub fn add(&mut self, n: Notice) {
        self.0 |= n.bit();
    }

    /// True when `n` is in the set.
    pub fn contains(self, n: Notice) -> bool {
        self.0 & n.bit() != 0
    }

    /// True when there is no notice (the message is valid).
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The set as bits (entry encoding).
    pub fn bits(self) -> u16 {
        self.0
    }

    /// The set for `bits`, or `None` when a bit names no notice.
    pub fn from_bits(bits: u16) -> Option<Self> {
        (bits & !Self::KNOWN_BITS == 0).then_some(Self(bits))
    }

    /// The notices in SPEC order.
    pub fn iter(self) -> impl Iterator<Item = Notice> {
        Notice::ALL.into_iter().filter(move |n| self.contains(*n))
    }
}

impl FromIterator<Notice> for Notices {
    fn from_iter<I: IntoIterator<Item = Notice>>(iter: I) -> Self {
        let mut s = Notices::none();
        for n in iter {
            s.add(n);
        }
        s
    }
}

impl Serialize for Notices {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for Notices {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let codes = Vec::<String>::deserialize(d)?;
        codes
            .iter()
            .map(|c| {
                Notice::from_code(c)
                    .ok_or_else(|| serde::de::Error::custom(format!("unknown notice {c:?}")))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iterates_in_spec_order_whatever_the_insertion_order() {
        let set: Notices = [
            Notice::BadCause,
            Notice::SenderRevoked,
            Notice::InsufficientClearance,
        ]
        .into_iter()
        .collect();
        let codes: Vec<_> = set.iter().map(Notice::code).collect();
        assert_eq!(
            codes,
            ["sender_revoked", "insufficient_clearance", "bad_cause"]
        );
    }

    #[test]
    fn codes_round_trip_and_unknown_bits_are_refused() {
        for n in Notice::ALL {
            assert_eq!(Notice::from_code(n.code()), Some(n));
        }
        assert!(Notices::from_bits(1 << 9).is_none());
        assert_eq!(
            Notices::from_bits(0b1_0000_0001).map(|s| s.iter().count()),
            Some(2)
        );
    }
}
