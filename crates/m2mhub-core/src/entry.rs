//! Ledger entries and their canonical, versioned byte encoding (the Merkle leaves).
//!
//! Encoding v1 (all integers big-endian; `name` is `u16 length ‖ ASCII bytes`):
//! ```text
//! u8 version = 1
//! u8 kind
//! kind 1 device_registered:   name, u32 clearance, [32] public key,
//!                             u16 count, count × name (exceptions, sorted, unique)
//! kind 2 exception_granted:   name device, name sender
//! kind 3 exception_withdrawn: name device, name sender
//! kind 4 device_revoked:      name device
//! kind 5 message:             name sender, name receiver, u8 action, u64 tx (assigned),
//!                             u64 cause + 1 (0 when absent), u64 counter,
//!                             [32] SHA-256(contents), [64] Ed25519 signature,
//!                             u16 len ‖ provenance name (len 0: unknown),
//!                             u16 notices (bit i = i-th notice of SPEC §3.3)
//! kind 6 simulated_device_registered: as kind 1, for a device whose key the hub itself
//!                             holds (`serve --simulated`): its messages prove only that the
//!                             hub signed them
//! kind 7 device_rekeyed:      name device, [32] new public key (SPEC §3.2.2: from this
//!                             entry's seq on, the device's messages are checked with it)
//! kind 8 federation_membership: name hub (this hub's member name), u16 cosignatures,
//!                             u16 count, count × (name member, str origin, str verifier key)
//!                             (SPEC §7; members sorted by name and unique, each key a
//!                             canonical verifier key named by its origin, `hub` among them,
//!                             cosignatures < count; `str` is `u16 length ‖ UTF-8 bytes`)
//! kind 9 import:              str origin, u64 seq, u32 len ‖ foreign entry bytes (a registry
//!                             entry, kinds 1–4, 6, 7), u8 count ‖ count × [32] inclusion proof,
//!                             u32 len ‖ the source's checkpoint note, cosignatures included
//!                             (SPEC §7; at most 64 proof hashes and 64 KiB of note)
//! kind 10 federated_message:  as kind 5, for a message signed in the federation form (SPEC
//!                             §7): sender and receiver are `name@hub` for another member's
//!                             devices, bare for this hub's own; the device signed them all
//!                             qualified, with `tx_hub` this hub's name (empty for a begin),
//!                             this hub being the member named by the membership in force
//! ```
//! Decoding is strict: exactly one byte string decodes to a given entry, so the leaf hash of
//! a decoded-then-encoded entry is the leaf hash of the stored bytes.

use std::collections::BTreeSet;

pub use crate::federation::{MemberRecord, Membership};
pub use crate::import::Import;
use crate::{
    CoreError,
    hash::Hash,
    ids::{Seq, TxId},
    message::Action,
    names::{DeviceName, is_valid_name, is_valid_party},
    notice::Notices,
};

/// The entry encoding version this code writes and reads.
pub const ENTRY_VERSION: u8 = 1;

/// One record of the ledger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// An operator registered a device.
    DeviceRegistered(Registration),
    /// Receiver `device` now accepts `sender` despite lower clearance.
    ExceptionGranted {
        /// The receiver that lists the exception.
        device: DeviceName,
        /// The sender it lets through.
        sender: DeviceName,
    },
    /// An exception was withdrawn.
    ExceptionWithdrawn {
        /// The receiver that listed the exception.
        device: DeviceName,
        /// The sender it let through.
        sender: DeviceName,
    },
    /// A device was revoked, for good.
    DeviceRevoked {
        /// The revoked device.
        device: DeviceName,
    },
    /// An authenticated message and its verdict.
    Message(MessageEntry),
    /// A device's key changed (SPEC §3.2.2): its messages from this entry's seq on are checked
    /// with `public_key`; earlier ones keep the key in force at their seq.
    DeviceRekeyed {
        /// The device.
        device: DeviceName,
        /// Its new Ed25519 public key.
        public_key: [u8; 32],
    },
    /// The federation this hub belongs to (SPEC §7), recorded at start and whenever it
    /// changes, so that the ledger alone says whose checkpoints its imports trust.
    FederationMembership(Membership),
    /// A registry change of another member hub, with its proof (SPEC §7).
    Import(Import),
}

/// The fields of a device registration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    /// Unique device name.
    pub name: DeviceName,
    /// Clearance; higher is more privileged.
    pub clearance: u32,
    /// Ed25519 public key.
    pub public_key: [u8; 32],
    /// Senders this device accepts despite lower clearance.
    pub exceptions: BTreeSet<DeviceName>,
    /// True when the hub holds the device's key (a simulated device, kind 6): its signatures
    /// then prove only that the hub signed, and the ledger says so.
    pub simulated: bool,
}

/// A message as recorded: what the device signed, what the hub decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageEntry {
    /// Who sent it.
    pub sender: DeviceName,
    /// To whom.
    pub receiver: DeviceName,
    /// What it does to its transaction.
    pub action: Action,
    /// The transaction: assigned for `begin`, named by the sender otherwise.
    pub tx: TxId,
    /// The message that caused it, as the sender said.
    pub cause: Option<Seq>,
    /// The sender's counter.
    pub counter: u64,
    /// SHA-256 of the contents (contents themselves live beside the tree).
    pub contents_hash: Hash,
    /// The sender's signature over the signing bytes of SPEC §4.1.
    pub signature: [u8; 64],
    /// The transaction's provenance device; `None` when the transaction is unknown.
    pub provenance: Option<DeviceName>,
    /// The verdict: valid exactly when empty.
    pub notices: Notices,
    /// True when the sender signed the federation form (SPEC §7, entry kind 10).
    pub federated: bool,
}

impl MessageEntry {
    /// The entry recording `msg` with its verdict; `sender` and `receiver` as this ledger
    /// writes them ([`crate::registry::Registry::canonical`]).
    pub fn recording(
        msg: &crate::message::Message,
        sender: DeviceName,
        receiver: DeviceName,
        contents_hash: Hash,
        verdict: crate::rules::Verdict,
    ) -> MessageEntry {
        MessageEntry {
            sender,
            receiver,
            action: msg.action,
            tx: verdict.tx,
            cause: msg.cause,
            counter: msg.counter,
            contents_hash,
            signature: msg.signature,
            provenance: verdict.provenance,
            notices: verdict.notices,
            federated: msg.is_federated(),
        }
    }

    /// True when no rule failed.
    pub fn valid(&self) -> bool {
        self.notices.is_empty()
    }

    /// The exact bytes the sender signed, given the name of the hub whose ledger records the
    /// entry (from the membership in force); `None` for a federated message without one.
    pub fn signing_bytes(&self, hub: Option<&str>) -> Option<Vec<u8>> {
        if !self.federated {
            return Some(self.signed_fields().signing_bytes());
        }
        let hub = hub?;
        let sender = self.sender.qualify(hub);
        let receiver = self.receiver.qualify(hub);
        let fields = crate::signing::SignedFields {
            sender: sender.as_str(),
            receiver: receiver.as_str(),
            ..self.signed_fields()
        };
        let tx_hub = if self.action == Action::Begin {
            ""
        } else {
            hub
        };
        Some(crate::signing::FederatedFields { fields, tx_hub }.signing_bytes())
    }

    /// The fields the sender signed (SPEC §4.1), names as recorded.
    pub fn signed_fields(&self) -> crate::signing::SignedFields<'_> {
        crate::signing::SignedFields {
            sender: self.sender.as_str(),
            receiver: self.receiver.as_str(),
            action: self.action.code(),
            tx: self.signed_tx().0,
            cause: self.cause.map(|c| c.0),
            counter: self.counter,
            contents_hash: &self.contents_hash,
        }
    }

    /// The tx the sender signed: 0 for `begin` (the hub assigns it afterwards).
    pub fn signed_tx(&self) -> TxId {
        if self.action == Action::Begin {
            TxId(0)
        } else {
            self.tx
        }
    }

    /// The transaction this message belongs to: `None` when it named a tx id not issued yet
    /// (`unknown_transaction`, SPEC §3.1). Such a message keeps the `tx` it named but belongs
    /// to no transaction, so nobody can plant evidence in a transaction before it exists.
    pub fn transaction(&self) -> Option<TxId> {
        (!self
            .notices
            .contains(crate::notice::Notice::UnknownTransaction))
        .then_some(self.tx)
    }
}

/// The kind of an entry, as named in the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// [`Entry::DeviceRegistered`].
    DeviceRegistered = 1,
    /// [`Entry::ExceptionGranted`].
    ExceptionGranted = 2,
    /// [`Entry::ExceptionWithdrawn`].
    ExceptionWithdrawn = 3,
    /// [`Entry::DeviceRevoked`].
    DeviceRevoked = 4,
    /// [`Entry::Message`].
    Message = 5,
    /// [`Entry::DeviceRegistered`] of a device whose key the hub holds.
    SimulatedDeviceRegistered = 6,
    /// [`Entry::DeviceRekeyed`].
    DeviceRekeyed = 7,
    /// [`Entry::FederationMembership`].
    FederationMembership = 8,
    /// [`Entry::Import`].
    Import = 9,
    /// [`Entry::Message`] signed in the federation form.
    FederatedMessage = 10,
}

impl EntryKind {
    /// The kind's name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::DeviceRegistered => "device_registered",
            EntryKind::ExceptionGranted => "exception_granted",
            EntryKind::ExceptionWithdrawn => "exception_withdrawn",
            EntryKind::DeviceRevoked => "device_revoked",
            EntryKind::Message => "message",
            EntryKind::SimulatedDeviceRegistered => "simulated_device_registered",
            EntryKind::DeviceRekeyed => "device_rekeyed",
            EntryKind::FederationMembership => "federation_membership",
            EntryKind::Import => "import",
            EntryKind::FederatedMessage => "federated_message",
        }
    }
}

impl Entry {
    /// The entry's kind.
    pub fn kind(&self) -> EntryKind {
        match self {
            Entry::DeviceRegistered(r) if r.simulated => EntryKind::SimulatedDeviceRegistered,
            Entry::DeviceRegistered(_) => EntryKind::DeviceRegistered,
            Entry::ExceptionGranted { .. } => EntryKind::ExceptionGranted,
            Entry::ExceptionWithdrawn { .. } => EntryKind::ExceptionWithdrawn,
            Entry::DeviceRevoked { .. } => EntryKind::DeviceRevoked,
            Entry::Message(m) if m.federated => EntryKind::FederatedMessage,
            Entry::Message(_) => EntryKind::Message,
            Entry::DeviceRekeyed { .. } => EntryKind::DeviceRekeyed,
            Entry::FederationMembership(_) => EntryKind::FederationMembership,
            Entry::Import(_) => EntryKind::Import,
        }
    }

    /// The canonical bytes of this entry.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(224);
        self.write_bytes(&mut out);
        out
    }

    /// Appends the canonical bytes of this entry to `out`.
    pub fn write_bytes(&self, out: &mut Vec<u8>) {
        out.push(ENTRY_VERSION);
        out.push(self.kind() as u8);
        match self {
            Entry::DeviceRegistered(r) => {
                put_name(out, r.name.as_str());
                out.extend_from_slice(&r.clearance.to_be_bytes());
                out.extend_from_slice(&r.public_key);
                // Exceptions are unbounded in number but each add is an operator action; a
                // registration with more than u16::MAX of them is refused before it gets here.
                out.extend_from_slice(&(r.exceptions.len() as u16).to_be_bytes());
                for e in &r.exceptions {
                    put_name(out, e.as_str());
                }
            }
            Entry::ExceptionGranted { device, sender }
            | Entry::ExceptionWithdrawn { device, sender } => {
                put_name(out, device.as_str());
                put_name(out, sender.as_str());
            }
            Entry::DeviceRevoked { device } => put_name(out, device.as_str()),
            Entry::DeviceRekeyed { device, public_key } => {
                put_name(out, device.as_str());
                out.extend_from_slice(public_key);
            }
            Entry::Message(m) => {
                put_name(out, m.sender.as_str());
                put_name(out, m.receiver.as_str());
                out.push(m.action.code());
                out.extend_from_slice(&m.tx.0.to_be_bytes());
                out.extend_from_slice(&m.cause.map_or(0, |c| c.0 + 1).to_be_bytes());
                out.extend_from_slice(&m.counter.to_be_bytes());
                out.extend_from_slice(&m.contents_hash);
                out.extend_from_slice(&m.signature);
                put_name(out, m.provenance.as_ref().map_or("", |p| p.as_str()));
                out.extend_from_slice(&m.notices.bits().to_be_bytes());
            }
            Entry::FederationMembership(f) => {
                put_name(out, f.hub.as_str());
                out.extend_from_slice(&f.cosignatures.to_be_bytes());
                // A federation file with more than u16::MAX members is refused before here.
                out.extend_from_slice(&(f.members.len() as u16).to_be_bytes());
                for m in &f.members {
                    put_name(out, m.name.as_str());
                    put_name(out, &m.origin);
                    put_name(out, &m.key);
                }
            }
            // Lengths are bounded by `Import::check_form`, which every import passes before
            // it is built into an entry or after it is decoded from one.
            Entry::Import(i) => {
                put_name(out, &i.origin);
                out.extend_from_slice(&i.seq.to_be_bytes());
                out.extend_from_slice(&(i.entry.len() as u32).to_be_bytes());
                out.extend_from_slice(&i.entry);
                out.push(i.proof.len() as u8);
                for h in &i.proof {
                    out.extend_from_slice(h);
                }
                out.extend_from_slice(&(i.checkpoint.len() as u32).to_be_bytes());
                out.extend_from_slice(i.checkpoint.as_bytes());
            }
        }
    }

    /// Decodes canonical entry bytes; anything else is an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<Entry, CoreError> {
        let mut r = Reader { bytes, pos: 0 };
        let version = r.u8()?;
        if version != ENTRY_VERSION {
            return Err(bad(format!("unknown entry version {version}")));
        }
        let kind = r.u8()?;
        let entry = match kind {
            1 | 6 => {
                let name = r.name()?;
                let clearance = r.u32()?;
                let public_key = r.array::<32>()?;
                let count = r.u16()?;
                let mut exceptions = BTreeSet::new();
                let mut last: Option<DeviceName> = None;
                for _ in 0..count {
                    let e = r.name()?;
                    if last.as_ref().is_some_and(|l| *l >= e) {
                        return Err(bad("exceptions are not sorted and unique".into()));
                    }
                    last = Some(e.clone());
                    exceptions.insert(e);
                }
                Entry::DeviceRegistered(Registration {
                    name,
                    clearance,
                    public_key,
                    exceptions,
                    simulated: kind == 6,
                })
            }
            2 | 3 => {
                let device = r.name()?;
                let sender = r.name()?;
                if kind == 2 {
                    Entry::ExceptionGranted { device, sender }
                } else {
                    Entry::ExceptionWithdrawn { device, sender }
                }
            }
            4 => Entry::DeviceRevoked { device: r.name()? },
            7 => Entry::DeviceRekeyed {
                device: r.name()?,
                public_key: r.array::<32>()?,
            },
            5 | 10 => {
                // Only a federated message names another member's devices (`name@hub`); a
                // provenance is always this hub's device: its begin was recorded here.
                let federated = kind == 10;
                let sender = if federated { r.party()? } else { r.name()? };
                let receiver = if federated { r.party()? } else { r.name()? };
                let action = Action::from_code(r.u8()?).ok_or_else(|| bad("bad action".into()))?;
                let tx = TxId(r.u64()?);
                let cause = r.u64()?.checked_sub(1).map(Seq);
                let counter = r.u64()?;
                let contents_hash = r.array::<32>()?;
                let signature = r.array::<64>()?;
                let provenance = r.optional_name()?;
                let notices =
                    Notices::from_bits(r.u16()?).ok_or_else(|| bad("unknown notice bit".into()))?;
                Entry::Message(MessageEntry {
                    sender,
                    receiver,
                    action,
                    tx,
                    cause,
                    counter,
                    contents_hash,
                    signature,
                    provenance,
                    notices,
                    federated,
                })
            }
            8 => {
                let hub = r.name()?;
                let cosignatures = r.u16()?;
                let mut members = Vec::new();
                for _ in 0..r.u16()? {
                    members.push(MemberRecord {
                        name: r.name()?,
                        origin: r.text()?,
                        key: r.text()?,
                    });
                }
                let f = Membership {
                    hub,
                    cosignatures,
                    members,
                };
                f.check()?;
                Entry::FederationMembership(f)
            }
            9 => {
                let origin = r.text()?;
                let seq = r.u64()?;
                let len = r.u32()? as usize;
                let entry = r.take(len)?.to_vec();
                let mut proof = Vec::new();
                for _ in 0..r.u8()? {
                    proof.push(r.array::<32>()?);
                }
                let len = r.u32()? as usize;
                let checkpoint = std::str::from_utf8(r.take(len)?)
                    .map_err(|_| bad("an import checkpoint is not UTF-8".into()))?
                    .to_owned();
                let i = Import {
                    origin,
                    seq,
                    entry,
                    proof,
                    checkpoint,
                };
                i.check_form()?;
                Entry::Import(i)
            }
            k => return Err(bad(format!("unknown entry kind {k}"))),
        };
        if r.pos != bytes.len() {
            return Err(bad(format!(
                "{} trailing bytes after the entry",
                bytes.len() - r.pos
            )));
        }
        Ok(entry)
    }
}

pub(crate) fn bad(msg: String) -> CoreError {
    CoreError::BadEntry(msg)
}

fn put_name(out: &mut Vec<u8>, name: &str) {
    // Names are at most 64 bytes (validated at construction), so the length fits a u16.
    out.extend_from_slice(&(name.len() as u16).to_be_bytes());
    out.extend_from_slice(name.as_bytes());
}

/// A bounds-checked cursor over untrusted bytes.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CoreError> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.bytes.len());
        let end = end.ok_or_else(|| bad("entry is truncated".into()))?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], CoreError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, CoreError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, CoreError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, CoreError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, CoreError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn optional_name(&mut self) -> Result<Option<DeviceName>, CoreError> {
        let len = usize::from(self.u16()?);
        if len == 0 {
            return Ok(None);
        }
        self.name_of_len(len).map(Some)
    }

    fn name(&mut self) -> Result<DeviceName, CoreError> {
        let len = usize::from(self.u16()?);
        self.name_of_len(len)
    }

    fn text(&mut self) -> Result<String, CoreError> {
        let len = usize::from(self.u16()?);
        let raw = self.take(len)?;
        std::str::from_utf8(raw)
            .map(str::to_owned)
            .map_err(|_| bad("a string is not UTF-8".into()))
    }

    fn party(&mut self) -> Result<DeviceName, CoreError> {
        let len = usize::from(self.u16()?);
        let raw = self.take(len)?;
        let s = std::str::from_utf8(raw)
            .ok()
            .filter(|s| is_valid_party(s))
            .ok_or_else(|| bad("invalid device name or name@hub".into()))?;
        DeviceName::party(s)
    }

    fn name_of_len(&mut self, len: usize) -> Result<DeviceName, CoreError> {
        let raw = self.take(len)?;
        let s = std::str::from_utf8(raw)
            .ok()
            .filter(|s| is_valid_name(s))
            .ok_or_else(|| bad("invalid device name".into()))?;
        DeviceName::new(s)
    }
}

#[cfg(test)]
#[path = "entry_tests.rs"]
mod tests;
