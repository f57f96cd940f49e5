//! The internal ids that index rows name devices by: this hub's devices get 0, 1, 2, … in
//! registration order; another member's devices (SPEC §7), which a federated message may name
//! as `name@hub`, get [`FOREIGN_BASE`], `FOREIGN_BASE + 1`, … in the order their imported
//! registrations were recorded. Both follow ledger order only, so the writer, start-up,
//! `verify`, restore and the store migrations all derive the same ids from the entries.

use std::collections::HashMap;

use m2mhub_core::{entry::Entry, names::DeviceName};

/// The first id of another member's device. Ids below it are this hub's devices, whose ids
/// stay dense (the device list pages through them in registration order).
pub const FOREIGN_BASE: u32 = 1 << 31;

/// Device name (as this ledger writes it) → internal id, and back.
#[derive(Clone, Debug, Default)]
pub struct PartyIds {
    /// Name → (id, seq of the entry that gave the id).
    ids: HashMap<DeviceName, (u32, u64)>,
    /// This hub's devices, by id.
    local: Vec<DeviceName>,
    /// Other members' devices, by id − [`FOREIGN_BASE`].
    foreign: Vec<DeviceName>,
    /// Member origin → member name, from the membership last recorded.
    hubs: HashMap<String, String>,
}

impl PartyIds {
    /// Gives ids to the devices `entry`, recorded at `seq`, brings in: a registration's, or an
    /// imported registration's (as `name@hub`). The entry is one the registry accepted.
    pub fn observe(&mut self, seq: u64, entry: &Entry) {
        match entry {
            Entry::DeviceRegistered(r) => {
                let id = self.local.len() as u32;
                self.local.push(r.name.clone());
                self.ids.insert(r.name.clone(), (id, seq));
            }
            Entry::FederationMembership(m) => {
                self.hubs = m
                    .members
                    .iter()
                    .map(|r| (r.origin.clone(), r.name.to_string()))
                    .collect();
            }
            Entry::Import(i) => {
                let Some(hub) = self.hubs.get(&i.origin) else {
                    return;
                };
                if let Ok(Entry::DeviceRegistered(r)) = i.inner() {
                    let name = DeviceName::qualified(r.name.as_str(), hub);
                    let id = FOREIGN_BASE + self.foreign.len() as u32;
                    self.foreign.push(name.clone());
                    self.ids.insert(name, (id, seq));
                }
            }
            _ => {}
        }
    }

    /// The id of `name` (bare for this hub's devices, `name@hub` for another member's).
    pub fn get(&self, name: &str) -> Option<u32> {
        self.ids.get(name).map(|(id, _)| *id)
    }

    /// The id of `name` if it was given at or before `seq`.
    pub fn get_up_to(&self, name: &str, seq: u64) -> Option<u32> {
        self.ids
            .get(name)
            .filter(|(_, given)| *given <= seq)
            .map(|(id, _)| *id)
    }

    /// The device of `id`.
    pub fn name(&self, id: u32) -> Option<&DeviceName> {
        match id.checked_sub(FOREIGN_BASE) {
            Some(i) => self.foreign.get(i as usize),
            None => self.local.get(id as usize),
        }
    }

    /// This hub's devices in registration order (their ids are their positions).
    pub fn local(&self) -> &[DeviceName] {
        &self.local
    }

    /// Every (name, id).
    pub fn iter(&self) -> impl Iterator<Item = (&DeviceName, u32)> {
        self.ids.iter().map(|(n, (id, _))| (n, *id))
    }
}
