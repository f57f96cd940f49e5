//! Authentication (SPEC §3.2): the refusals that leave no ledger entry; and a device's
//! MQTT CONNECT (SPEC §5.2), signed like its messages.

use crate::{
    hash::Hash,
    ids::Seq,
    message::Message,
    names::DeviceName,
    registry::{Device, Registry},
    signing::connect_signing_bytes,
};

/// Why a submission was refused without being recorded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Schema, sizes or encodings are wrong (400 `malformed`).
    #[error("{0}")]
    Malformed(String),
    /// The sender is not registered (401 `unknown_sender`).
    #[error("sender {0:?} is not registered")]
    UnknownSender(String),
    /// The signature does not verify with the sender's key (401 `bad_signature`).
    #[error("the signature does not verify with {0:?}'s key")]
    BadSignature(String),
    /// The counter is not above the sender's last recorded counter (409 `stale_counter`).
    #[error("counter {counter} is not greater than the last recorded counter {last}")]
    StaleCounter {
        /// The submitted counter.
        counter: u64,
        /// The sender's last recorded counter.
        last: u64,
    },
}

impl Refusal {
    /// The error code of SPEC §3.2.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Malformed(_) => "malformed",
            Refusal::UnknownSender(_) => "unknown_sender",
            Refusal::BadSignature(_) => "bad_signature",
            Refusal::StaleCounter { .. } => "stale_counter",
        }
    }
}

/// Looks up the sender of `msg`, after checking that this hub's ledger may record it
/// ([`check_recording_hub`]). The device's `name` is the sender as this ledger writes it.
pub fn sender<'r>(registry: &'r Registry, msg: &Message) -> Result<&'r Device, Refusal> {
    check_recording_hub(registry, msg)?;
    registry
        .party(msg.sender.as_str())
        .ok_or_else(|| Refusal::UnknownSender(msg.sender.to_string()))
}

/// A federated message (SPEC §7) may be recorded only by the hub its signature names: the
/// sender's hub for a `begin`, the transaction's home hub otherwise. Another hub forwards it
/// (the server does) or refuses it; a hub outside any federation refuses every federated
/// message.
pub fn check_recording_hub(registry: &Registry, msg: &Message) -> Result<(), Refusal> {
    let Some(home) = msg.recording_hub() else {
        return Ok(());
    };
    match registry.hub() {
        None => Err(Refusal::Malformed(
            "a federated message (name@hub) reached a hub in no federation".into(),
        )),
        Some(here) if here == home => Ok(()),
        Some(here) => Err(Refusal::Malformed(format!(
            "this message is recorded by hub {home:?}, not {here:?} (SPEC §7)"
        ))),
    }
}

/// What this hub decides about a federated message another member records (SPEC §7): the
/// sender must be this hub's own device, and the message must pass SPEC §3.2 here (the
/// signature with the sender's current key, a counter above the last one this ledger
/// recorded) before the hub forwards it. Returns the member that records it.
pub fn check_forward<'m>(registry: &Registry, msg: &'m Message) -> Result<&'m str, Refusal> {
    let (Some(home), Some(here)) = (msg.recording_hub(), registry.hub()) else {
        return Err(Refusal::Malformed("not a message for another hub".into()));
    };
    if home == here {
        return Err(Refusal::Malformed("this hub records this message".into()));
    }
    if msg.sender.split().1 != Some(here) {
        return Err(Refusal::Malformed(format!(
            "this message is recorded by hub {home:?}: only the sender's own hub forwards it"
        )));
    }
    let device = registry
        .party(msg.sender.as_str())
        .ok_or_else(|| Refusal::UnknownSender(msg.sender.to_string()))?;
    if !verify_signature(device, msg, &msg.contents_hash()) {
        return Err(Refusal::BadSignature(msg.sender.to_string()));
    }
    check_counter(device, msg.counter)?;
    Ok(home)
}

/// Verifies one message's signature with `device`'s key, under ZIP 215 (SPEC §3.2.1,
/// [`crate::sig`]).
pub fn verify_signature(device: &Device, msg: &Message, contents_hash: &Hash) -> bool {
    let bytes = msg.signing_bytes_for(contents_hash);
    device.key.verify(&bytes, &msg.signature)
}

/// Checks the counter rule: `Ok` when `counter` is above the last recorded one. A counter at
/// or below it is either an exact resubmission (the caller looks up the original by
/// sender and counter) or stale.
pub fn check_counter(device: &Device, counter: u64) -> Result<(), Refusal> {
    match device.last_counter {
        Some(last) if counter <= last => Err(Refusal::StaleCounter { counter, last }),
        _ => Ok(()),
    }
}

/// An exact resubmission: same sender, counter and signature as the recorded entry at `seq`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Duplicate(pub Seq);

/// How far a CONNECT's time may lie from the hub's clock, either way, in seconds (SPEC §5.2).
pub const CONNECT_WINDOW_S: u64 = 300;

/// Why a device's MQTT CONNECT was refused (SPEC §5.2).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConnectRefusal {
    /// No username or password, or a password not of the form `<unix seconds>.<hex
    /// signature>`, or a username that is no device name.
    #[error("{0}")]
    Malformed(String),
    /// The username names no registered device.
    #[error("device {0:?} is not registered")]
    UnknownDevice(String),
    /// The device is revoked.
    #[error("device {0:?} is revoked")]
    Revoked(String),
    /// The password's time is more than [`CONNECT_WINDOW_S`] from the hub's clock.
    #[error("the password's time {unix_s} is more than 300 s from the hub's clock ({now_s})")]
    StaleTime {
        /// The time the password carries.
        unix_s: u64,
        /// The hub's clock.
        now_s: u64,
    },
    /// The signature does not verify with the device's current key.
    #[error("the signature does not verify with {0:?}'s current key")]
    BadSignature(String),
}

impl ConnectRefusal {
    /// The code a refused CONNECT is kept under as a security event (SPEC §3.2's codes where
    /// they mean the same).
    pub fn code(&self) -> &'static str {
        match self {
            ConnectRefusal::Malformed(_) => "malformed",
            ConnectRefusal::UnknownDevice(_) => "unknown_sender",
            ConnectRefusal::Revoked(_) => "sender_revoked",
            ConnectRefusal::StaleTime { .. } => "stale_time",
            ConnectRefusal::BadSignature(_) => "bad_signature",
        }
    }
}

/// A CONNECT password: `<unix seconds>.<hex signature>` (SPEC §5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectPassword {
    /// When it was signed, in unix seconds.
    pub unix_s: u64,
    /// Ed25519 over [`connect_signing_bytes`] of the device's name and `unix_s`.
    pub signature: [u8; 64],
}

impl ConnectPassword {
    /// Parses a password strictly: the seconds in canonical decimal (no sign, no leading
    /// zero), one `.`, then 128 hex digits.
    pub fn parse(s: &str) -> Result<ConnectPassword, ConnectRefusal> {
        let bad = || {
            ConnectRefusal::Malformed(
                "the password must be <unix seconds>.<128 hex digits of signature>".into(),
            )
        };
        let (secs, sig) = s.split_once('.').ok_or_else(bad)?;
        let canonical = !secs.is_empty()
            && secs.bytes().all(|b| b.is_ascii_digit())
            && (secs == "0" || !secs.starts_with('0'));
        if !canonical || sig.len() != 128 {
            return Err(bad());
        }
        let unix_s = secs.parse().map_err(|_| bad())?;
        let mut signature = [0u8; 64];
        hex::decode_to_slice(sig, &mut signature).map_err(|_| bad())?;
        Ok(ConnectPassword { unix_s, signature })
    }
}

impl std::fmt::Display for ConnectPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.unix_s, hex::encode(self.signature))
    }
}

/// Checks a device's CONNECT (SPEC §5.2): `username` must name a registered, active device,
/// `password` carry a time within [`CONNECT_WINDOW_S`] of `now_s` and a signature that is
/// valid (ZIP 215, SPEC §3.2.1) under the device's current key. Returns the device.
pub fn check_connect<'r>(
    registry: &'r Registry,
    username: &str,
    password: &str,
    now_s: u64,
) -> Result<&'r Device, ConnectRefusal> {
    let name = DeviceName::new(username).map_err(|e| {
        ConnectRefusal::Malformed(format!("the username must be a device name: {e}"))
    })?;
    let password = ConnectPassword::parse(password)?;
    let device = registry
        .get(name.as_str())
        .ok_or_else(|| ConnectRefusal::UnknownDevice(name.to_string()))?;
    if device.is_revoked() {
        return Err(ConnectRefusal::Revoked(name.to_string()));
    }
    if password.unix_s.abs_diff(now_s) > CONNECT_WINDOW_S {
        return Err(ConnectRefusal::StaleTime {
            unix_s: password.unix_s,
            now_s,
        });
    }
    let bytes = connect_signing_bytes(name.as_str(), password.unix_s);
    if !device.key.verify(&bytes, &password.signature) {
        return Err(ConnectRefusal::BadSignature(name.to_string()));
    }
    Ok(device)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use ed25519_dalek::{Signer, SigningKey};

    use super::*;
    use crate::entry::{Entry, Registration};

    const NOW: u64 = 1_700_000_000;

    fn signer(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn password(seed: u8, name: &str, unix_s: u64) -> String {
        let signature = signer(seed)
            .sign(&connect_signing_bytes(name, unix_s))
            .to_bytes();
        ConnectPassword { unix_s, signature }.to_string()
    }

    fn registry() -> Registry {
        let mut r = Registry::new();
        for (seq, (name, seed)) in [("a", 1u8), ("b", 2)].into_iter().enumerate() {
            let entry = Entry::DeviceRegistered(Registration {
                name: DeviceName::new(name).unwrap(),
                clearance: 1,
                public_key: signer(seed).verifying_key().to_bytes(),
                exceptions: BTreeSet::new(),
                simulated: false,
            });
            r.apply(Seq(seq as u64), &entry).unwrap();
        }
        r
    }

    fn code(r: &Registry, user: &str, pass: &str) -> &'static str {
        match check_connect(r, user, pass, NOW) {
            Ok(_) => "ok",
            Err(e) => e.code(),
        }
    }

    #[test]
    fn accepts_a_signed_connect_within_the_window_only() {
        let r = registry();
        for t in [NOW - 300, NOW, NOW + 300] {
            assert_eq!(code(&r, "a", &password(1, "a", t)), "ok", "{t}");
        }
        for t in [NOW - 301, NOW + 301, 0, u64::MAX] {
            assert_eq!(code(&r, "a", &password(1, "a", t)), "stale_time", "{t}");
        }
    }

    #[test]
    fn refuses_other_keys_names_and_unknown_or_revoked_devices() {
        let mut r = registry();
        // b's key, b's name, signed for a: all refused.
        assert_eq!(code(&r, "a", &password(2, "a", NOW)), "bad_signature");
        assert_eq!(code(&r, "a", &password(1, "b", NOW)), "bad_signature");
        assert_eq!(code(&r, "b", &password(1, "a", NOW)), "bad_signature");
        assert_eq!(code(&r, "c", &password(1, "c", NOW)), "unknown_sender");
        let revoke = Entry::DeviceRevoked {
            device: DeviceName::new("b").unwrap(),
        };
        r.apply(Seq(2), &revoke).unwrap();
        assert_eq!(code(&r, "b", &password(2, "b", NOW)), "sender_revoked");
    }

    #[test]
    fn only_the_current_key_connects_after_a_rekey() {
        let mut r = registry();
        let rekey = Entry::DeviceRekeyed {
            device: DeviceName::new("a").unwrap(),
            public_key: signer(3).verifying_key().to_bytes(),
        };
        r.apply(Seq(2), &rekey).unwrap();
        assert_eq!(code(&r, "a", &password(1, "a", NOW)), "bad_signature");
        assert_eq!(code(&r, "a", &password(3, "a", NOW)), "ok");
    }

    #[test]
    fn parses_passwords_strictly() {
        let good = password(1, "a", NOW);
        let (secs, sig) = good.split_once('.').unwrap();
        assert_eq!(ConnectPassword::parse(&good).unwrap().to_string(), good);
        let upper = format!("{secs}.{}", sig.to_uppercase());
        assert_eq!(code(&registry(), "a", &upper), "ok");
        for bad in [
            String::new(),
            secs.to_owned(),
            format!("0{good}"),
            format!("+{good}"),
            format!("{secs}.{}", &sig[2..]),
            format!("{secs}.{sig}00"),
            format!("{secs}.{}zz", &sig[2..]),
            format!("{secs},{sig}"),
            format!("{secs}..{sig}"),
            format!("99999999999999999999999.{sig}"),
            format!(".{sig}"),
        ] {
            assert!(ConnectPassword::parse(&bad).is_err(), "{bad:?}");
        }
        assert_eq!(code(&registry(), "a b", &good), "malformed");
        assert_eq!(code(&registry(), "", &good), "malformed");
    }
}
