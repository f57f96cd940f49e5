//! The device registry (SPEC §1, §2.1): who exists, their clearance, key, exceptions and
//! status, and each sender's last recorded counter. Rebuilt by replaying registry entries.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;

use crate::{
    CoreError,
    entry::{Entry, Import, Membership, Registration},
    ids::Seq,
    names::DeviceName,
    sig::PublicKey,
};

/// Most exceptions one device may list at registration (the entry encodes a u16 count).
pub const MAX_EXCEPTIONS_AT_REGISTRATION: usize = 4096;

/// Whether a device may still act.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum DeviceStatus {
    /// Registered and not revoked.
    Active,
    /// Revoked for good; its messages are recorded with `sender_revoked`.
    Revoked,
}

/// A registered device.
#[derive(Clone, Debug)]
pub struct Device {
    /// Unique name.
    pub name: DeviceName,
    /// Clearance; higher is more privileged.
    pub clearance: u32,
    /// The Ed25519 key its messages are signed with now (checked under ZIP 215, SPEC §3.2.1).
    pub key: PublicKey,
    /// Every key it has had, oldest first: the registration's, then each re-key's (SPEC
    /// §3.2.2). The last one is `key`.
    pub keys: Vec<KeyInForce>,
    /// Senders this device accepts despite their lower clearance.
    pub exceptions: BTreeSet<DeviceName>,
    /// Active or revoked.
    pub status: DeviceStatus,
    /// Seq of its registration entry.
    pub registered_seq: Seq,
    /// The counter of its last recorded message, if any.
    pub last_counter: Option<u64>,
    /// True when the hub holds its key (registered as simulated).
    pub simulated: bool,
}

/// A key of a device and the seq from which it is in force (until the next one's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyInForce {
    /// The key.
    pub key: PublicKey,
    /// The seq of the entry that gave the device this key (registration or re-key).
    pub from_seq: Seq,
}

impl Device {
    /// The key in force at `seq` (SPEC §3.2.2): the last one given at or before it. A seq
    /// before the registration gets the registration's key.
    pub fn key_at(&self, seq: Seq) -> PublicKey {
        self.keys
            .iter()
            .rev()
            .find(|k| k.from_seq <= seq)
            .map_or(self.key, |k| k.key)
    }

    /// True once revoked.
    pub fn is_revoked(&self) -> bool {
        self.status == DeviceStatus::Revoked
    }

    /// True when this device accepts `sender` despite a lower clearance.
    pub fn has_exception_for(&self, sender: &str) -> bool {
        self.exceptions.contains(sender)
    }
}

/// Parses a public key for registration (SPEC §3.2.1): the canonical encoding of an Ed25519
/// point that is not of small order ([`PublicKey::for_registration`]).
pub fn parse_public_key(bytes: &[u8; 32]) -> Result<PublicKey, CoreError> {
    PublicKey::for_registration(bytes)
}

/// All devices, by name and by key.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    devices: HashMap<DeviceName, Device>,
    by_key: HashMap<[u8; 32], DeviceName>,
    /// The federation as last recorded, and the seq of its entry (SPEC §7).
    membership: Option<(Seq, Membership)>,
    /// Other members' registries as imported (SPEC §7), by hub name: each one a registry of
    /// that hub's bare names, changed by its own entries at their source seqs.
    foreign: HashMap<String, Registry>,
    /// Source origin → seq of the last entry imported from it (imports go in source order).
    imported: HashMap<String, u64>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The federation membership last recorded, with its entry's seq.
    pub fn membership(&self) -> Option<&(Seq, Membership)> {
        self.membership.as_ref()
    }

    /// The device `name` of member hub `hub`, as imported (SPEC §7: `name@hub`). Its
    /// `name` is `name@hub`; its exceptions are as its own hub writes them; its key history's
    /// seqs are its own hub's.
    pub fn foreign(&self, name: &str, hub: &str) -> Option<&Device> {
        self.foreign.get(hub)?.get(name)
    }

    /// Every other member's device imported so far, named `name@hub`.
    pub fn foreign_devices(&self) -> impl Iterator<Item = &Device> {
        self.foreign.values().flat_map(|r| r.devices.values())
    }

    /// This hub's member name, once a federation membership is recorded.
    pub fn hub(&self) -> Option<&str> {
        self.membership.as_ref().map(|(_, m)| m.hub.as_str())
    }

    /// `name` as this ledger writes it: bare for this hub's own devices (`name@<this hub>`
    /// included), `name@hub` for another member's.
    pub fn canonical(&self, name: &DeviceName) -> DeviceName {
        match name.split() {
            (bare, Some(hub)) if Some(hub) == self.hub() => {
                DeviceName::new(bare).unwrap_or_else(|_| name.clone())
            }
            _ => name.clone(),
        }
    }

    /// The device a message names: this hub's own by bare name or `name@<this hub>`, another
    /// member's (as imported) by `name@hub`.
    pub fn party(&self, name: &str) -> Option<&Device> {
        match crate::names::split_party(name) {
            (bare, None) => self.get(bare),
            (bare, Some(hub)) if Some(hub) == self.hub() => self.get(bare),
            (bare, Some(hub)) => self.foreign(bare, hub),
        }
    }

    /// The seq in `origin`'s ledger of the last entry imported from it.
    pub fn last_imported(&self, origin: &str) -> Option<u64> {
        self.imported.get(origin).copied()
    }

    /// The device called `name`.
    pub fn get(&self, name: &str) -> Option<&Device> {
        self.devices.get(name)
    }

    /// The device holding `key`.
    pub fn by_key(&self, key: &[u8; 32]) -> Option<&Device> {
        self.by_key.get(key).and_then(|n| self.devices.get(n))
    }

    /// Number of devices, revoked ones included.
    pub fn len(&self) -> usize {
        self.devices.len()
    }

    /// True when no device is registered.
    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }

    /// All devices, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Device> {
        self.devices.values()
    }

    /// Checks that a registry `entry` may be applied now; the error says why not.
    pub fn check(&self, entry: &Entry) -> Result<(), CoreError> {
        match entry {
            Entry::DeviceRegistered(r) => {
                if self.devices.contains_key(r.name.as_str()) {
                    return Err(CoreError::NameTaken(r.name.clone()));
                }
                if self.by_key.contains_key(&r.public_key) {
                    return Err(CoreError::KeyTaken);
                }
                if r.exceptions.len() > MAX_EXCEPTIONS_AT_REGISTRATION {
                    return Err(CoreError::Malformed(format!(
                        "at most {MAX_EXCEPTIONS_AT_REGISTRATION} exceptions at registration"
                    )));
                }
                parse_public_key(&r.public_key).map(|_| ())
            }
            Entry::ExceptionGranted { device, sender } => {
                let d = self.active(device)?;
                if d.exceptions.contains(sender) {
                    return Err(CoreError::ExceptionExists(device.clone(), sender.clone()));
                }
                Ok(())
            }
            Entry::ExceptionWithdrawn { device, sender } => {
                let d = self.active(device)?;
                if !d.exceptions.contains(sender) {
                    return Err(CoreError::NoSuchException(device.clone(), sender.clone()));
                }
                Ok(())
            }
            Entry::DeviceRevoked { device } => self.active(device).map(|_| ()),
            Entry::DeviceRekeyed { device, public_key } => {
                let d = self.active(device)?;
                if d.simulated {
                    return Err(CoreError::SimulatedDevice(device.clone()));
                }
                // Retired keys stay in `by_key`: a key once registered is taken forever.
                if self.by_key.contains_key(public_key) {
                    return Err(CoreError::KeyTaken);
                }
                parse_public_key(public_key).map(|_| ())
            }
            Entry::FederationMembership(m) => {
                m.check()?;
                if self.membership.as_ref().is_some_and(|(_, old)| old == m) {
                    return Err(CoreError::Malformed(
                        "the membership is the one already recorded".into(),
                    ));
                }
                Ok(())
            }
            Entry::Import(i) => self.check_import(i).map(|_| ()),
            Entry::Message(_) => Err(CoreError::Malformed("not a registry entry".into())),
        }
    }

    /// Checks an import against the recorded membership, the source order and the source
    /// hub's registry as imported so far; the source hub's name and the foreign entry.
    fn check_import(&self, i: &Import) -> Result<(String, Entry), CoreError> {
        let (_, membership) = self.membership.as_ref().ok_or_else(|| {
            CoreError::Malformed("an import before any federation membership".into())
        })?;
        let (hub, inner) = i.check(membership)?;
        if let Some(last) = self.imported.get(&i.origin)
            && i.seq <= *last
        {
            return Err(CoreError::Malformed(format!(
                "import of {} seq {} after its seq {last}: imports go in source order",
                i.origin, i.seq
            )));
        }
        match self.foreign.get(hub) {
            Some(r) => r.check(&inner)?,
            None => Registry::default().check(&inner)?,
        }
        Ok((hub.to_owned(), inner))
    }

    fn active(&self, name: &DeviceName) -> Result<&Device, CoreError> {
        let d = self
            .devices
            .get(name.as_str())
            .ok_or_else(|| CoreError::UnknownDevice(name.clone()))?;
        if d.is_revoked() {
            return Err(CoreError::DeviceRevoked(name.clone()));
        }
        Ok(d)
    }

    /// Checks and applies a registry entry recorded at `seq`.
    pub fn apply(&mut self, seq: Seq, entry: &Entry) -> Result<(), CoreError> {
        if let Entry::Import(i) = entry {
            // Checked once here: `check` would verify its signatures a second time.
            let (hub, inner) = self.check_import(i)?;
            let registry = self.foreign.entry(hub.clone()).or_default();
            registry.apply(Seq(i.seq), &inner)?;
            // Seen from here, the device is `name@hub` (its map key stays the bare name).
            if let Entry::DeviceRegistered(r) = &inner
                && let Some(d) = registry.devices.get_mut(r.name.as_str())
            {
                d.name = DeviceName::qualified(r.name.as_str(), &hub);
            }
            self.imported.insert(i.origin.clone(), i.seq);
            return Ok(());
        }
        self.check(entry)?;
        match entry {
            Entry::DeviceRegistered(Registration {
                name,
                clearance,
                public_key,
                exceptions,
                simulated,
            }) => {
                let key = parse_public_key(public_key)?;
                self.by_key.insert(*public_key, name.clone());
                self.devices.insert(
                    name.clone(),
                    Device {
                        name: name.clone(),
                        clearance: *clearance,
                        key,
                        keys: vec![KeyInForce { key, from_seq: seq }],
                        exceptions: exceptions.clone(),
                        status: DeviceStatus::Active,
                        registered_seq: seq,
                        last_counter: None,
                        simulated: *simulated,
                    },
                );
            }
            Entry::ExceptionGranted { device, sender } => {
                if let Some(d) = self.devices.get_mut(device.as_str()) {
                    d.exceptions.insert(sender.clone());
                }
            }
            Entry::ExceptionWithdrawn { device, sender } => {
                if let Some(d) = self.devices.get_mut(device.as_str()) {
                    d.exceptions.remove(sender.as_str());
                }
            }
            Entry::DeviceRevoked { device } => {
                if let Some(d) = self.devices.get_mut(device.as_str()) {
                    d.status = DeviceStatus::Revoked;
                }
            }
            Entry::DeviceRekeyed { device, public_key } => {
                let key = parse_public_key(public_key)?;
                self.by_key.insert(*public_key, device.clone());
                if let Some(d) = self.devices.get_mut(device.as_str()) {
                    d.key = key;
                    d.keys.push(KeyInForce { key, from_seq: seq });
                }
            }
            Entry::FederationMembership(m) => self.membership = Some((seq, m.clone())),
            Entry::Import(_) | Entry::Message(_) => {}
        }
        Ok(())
    }

    /// Records that `sender` (as this ledger writes it: bare, or `name@hub` for another
    /// member's device) sent a message with `counter` recorded here, valid or not.
    pub fn note_counter(&mut self, sender: &str, counter: u64) {
        let d = match crate::names::split_party(sender) {
            (bare, None) => self.devices.get_mut(bare),
            (bare, Some(hub)) => self
                .foreign
                .get_mut(hub)
                .and_then(|r| r.devices.get_mut(bare)),
        };
        if let Some(d) = d {
            d.last_counter = Some(counter);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> DeviceName {
        DeviceName::new(s).unwrap()
    }

    fn key(seed: u8) -> [u8; 32] {
        ed25519_dalek::SigningKey::from_bytes(&[seed; 32])
            .verifying_key()
            .to_bytes()
    }

    fn reg(n: &str, seed: u8) -> Entry {
        Entry::DeviceRegistered(Registration {
            name: name(n),
            clearance: 1,
            public_key: key(seed),
            exceptions: BTreeSet::new(),
            simulated: false,
        })
    }

    #[test]
    fn names_and_keys_are_unique() {
        let mut r = Registry::new();
        r.apply(Seq(0), &reg("a", 1)).unwrap();
        assert!(matches!(
            r.check(&reg("a", 2)),
            Err(CoreError::NameTaken(_))
        ));
        assert!(matches!(r.check(&reg("b", 1)), Err(CoreError::KeyTaken)));
        assert_eq!(r.by_key(&key(1)).map(|d| d.name.as_str()), Some("a"));
    }

    #[test]
    fn exceptions_are_granted_once_and_withdrawn_once() {
        let mut r = Registry::new();
        r.apply(Seq(0), &reg("a", 1)).unwrap();
        let grant = Entry::ExceptionGranted {
            device: name("a"),
            sender: name("z"),
        };
        let withdraw = Entry::ExceptionWithdrawn {
            device: name("a"),
            sender: name("z"),
        };
        assert!(matches!(
            r.check(&withdraw),
            Err(CoreError::NoSuchException(..))
        ));
        r.apply(Seq(1), &grant).unwrap();
        assert!(r.get("a").unwrap().has_exception_for("z"));
        assert!(matches!(
            r.check(&grant),
            Err(CoreError::ExceptionExists(..))
        ));
        r.apply(Seq(2), &withdraw).unwrap();
        assert!(!r.get("a").unwrap().has_exception_for("z"));
    }

    #[test]
    fn revocation_is_final_and_unknown_devices_are_named() {
        let mut r = Registry::new();
        r.apply(Seq(0), &reg("a", 1)).unwrap();
        let revoke = Entry::DeviceRevoked { device: name("a") };
        r.apply(Seq(1), &revoke).unwrap();
        assert!(r.get("a").unwrap().is_revoked());
        assert!(matches!(r.check(&revoke), Err(CoreError::DeviceRevoked(_))));
        let other = Entry::DeviceRevoked {
            device: name("ghost"),
        };
        assert!(matches!(r.check(&other), Err(CoreError::UnknownDevice(_))));
    }

    fn rekey(n: &str, seed: u8) -> Entry {
        Entry::DeviceRekeyed {
            device: name(n),
            public_key: key(seed),
        }
    }

    #[test]
    fn rekeying_keeps_the_history_and_every_key_taken() {
        let mut r = Registry::new();
        r.apply(Seq(0), &reg("a", 1)).unwrap();
        r.apply(Seq(3), &rekey("a", 2)).unwrap();
        let d = r.get("a").unwrap();
        assert_eq!(d.key.as_bytes(), &key(2));
        assert_eq!(d.key_at(Seq(0)).as_bytes(), &key(1));
        assert_eq!(d.key_at(Seq(2)).as_bytes(), &key(1));
        assert_eq!(d.key_at(Seq(3)).as_bytes(), &key(2));
        assert_eq!(d.keys.len(), 2);
        // The retired key and the current one are both taken, for a rekey or a registration.
        for seed in [1, 2] {
            assert!(matches!(
                r.check(&rekey("a", seed)),
                Err(CoreError::KeyTaken)
            ));
            assert!(matches!(r.check(&reg("b", seed)), Err(CoreError::KeyTaken)));
        }
        assert_eq!(r.by_key(&key(1)).map(|d| d.name.as_str()), Some("a"));
    }

    #[test]
    fn rekeying_refuses_unknown_revoked_simulated_devices_and_weak_keys() {
        let mut r = Registry::new();
        r.apply(Seq(0), &reg("a", 1)).unwrap();
        assert!(matches!(
            r.check(&rekey("ghost", 2)),
            Err(CoreError::UnknownDevice(_))
        ));
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let weak = Entry::DeviceRekeyed {
            device: name("a"),
            public_key: identity,
        };
        assert!(matches!(r.check(&weak), Err(CoreError::Malformed(_))));
        let mut sim = reg("s", 3);
        if let Entry::DeviceRegistered(x) = &mut sim {
            x.simulated = true;
        }
        r.apply(Seq(1), &sim).unwrap();
        assert!(matches!(
            r.check(&rekey("s", 4)),
            Err(CoreError::SimulatedDevice(_))
        ));
        r.apply(Seq(2), &Entry::DeviceRevoked { device: name("a") })
            .unwrap();
        assert!(matches!(
            r.check(&rekey("a", 5)),
            Err(CoreError::DeviceRevoked(_))
        ));
    }

    #[test]
    fn invalid_and_weak_keys_are_refused() {
        // The identity point is a small-order (weak) key.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(parse_public_key(&identity).is_err());
        // y = 2 is not on the curve for either sign of x.
        let mut off = [0u8; 32];
        off[0] = 2;
        assert!(parse_public_key(&off).is_err());
    }
}
