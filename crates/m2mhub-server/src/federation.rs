//! A federation member's shared state (SPEC §7): the checked federation file, this hub's
//! name and cosigner key, its witness store, and the cosignatures other members gave its own
//! checkpoints (gathered by the binary's background submitters, served by `/v1/checkpoint`
//! and, once they meet `[witness] cosignatures`, by `/tlog/checkpoint`).
//!
//! Gathered cosignatures of recent checkpoints live in memory behind one mutex (`gathered`);
//! the newest checkpoint that met the policy is also written to the witness store, so after a
//! restart `/tlog/checkpoint` still serves it until a newer one is witnessed. Cosignatures of
//! checkpoints that had not met the policy when the hub stopped are forgotten: the submitters
//! ask again for the newest checkpoint.

use std::{
    collections::{BTreeMap, VecDeque},
    sync::{Arc, Mutex},
    time::{SystemTime, UNIX_EPOCH},
};

use ed25519_dalek::SigningKey;
use m2mhub_core::{
    cosignature::{CosignatureVerifier, Cosigner, split_note},
    federation::{Federation, Member},
    witness::TreeHead,
};

use crate::witness_store::WitnessStore;

/// How many recent checkpoints keep their gathered cosignatures in memory.
const RECENT: usize = 64;

/// A federation member's state. Shared (`Arc`) by the routes and the submitters.
#[derive(Debug)]
pub struct Federated {
    /// The checked federation file.
    pub federation: Federation,
    /// This hub's `[[member]]`.
    pub me: Member,
    /// This hub's cosigner: its hub key under its origin, type 0x04 (SPEC §7).
    pub cosigner: Cosigner,
    /// What this hub holds as a witness of the others, and its own witnessed checkpoint.
    pub store: WitnessStore,
    /// Guards the cosignatures gathered for this hub's recent checkpoints.
    gathered: Mutex<Gathered>,
}

#[derive(Debug, Default)]
struct Gathered {
    /// Note text → (tree size, signed note, witness name → cosignature line), oldest first.
    recent: VecDeque<(String, u64, String, BTreeMap<String, String>)>,
    /// The newest checkpoint that met the policy: (tree size, note with cosignatures).
    witnessed: Option<(u64, String)>,
}

impl Federated {
    /// The state of member `me` of `federation`, whose hub key is `hub_key` and whose ledger
    /// signs as `origin`: refused unless the federation file names this hub with this origin
    /// and this key, so a hub never cosigns under a name the others do not trust.
    pub fn new(
        federation: Federation,
        me: &str,
        hub_key: SigningKey,
        origin: &str,
        store: WitnessStore,
    ) -> Result<Federated, String> {
        let member = federation
            .member(me)
            .ok_or_else(|| format!("the federation file has no member named {me:?}"))?
            .clone();
        if member.origin != origin {
            return Err(format!(
                "member {me:?} has origin {:?}, but this hub's ledger signs as {origin:?}",
                member.origin
            ));
        }
        if member.key.public_key() != &hub_key.verifying_key() {
            return Err(format!(
                "member {me:?}'s key in the federation file is not this hub's key (see GET /v1/key)"
            ));
        }
        let cosigner = Cosigner::new(origin, hub_key).map_err(|e| e.to_string())?;
        let witnessed = store
            .own()
            .map_err(|e| e.to_string())?
            .and_then(|n| Some((size_of(&n)?, n)));
        Ok(Federated {
            federation,
            me: member,
            cosigner,
            store,
            gathered: Mutex::new(Gathered {
                recent: VecDeque::new(),
                witnessed,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Gathered> {
        self.gathered.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The other members: the witnesses of this hub, and the logs it witnesses.
    pub fn others(&self) -> impl Iterator<Item = &Member> {
        self.federation.others(&self.me.name)
    }

    /// The cosignature line of this hub on the note text `body`, timestamped now.
    pub fn cosign(&self, body: &str) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        // The body was parsed as a checkpoint note text, which is all `cosign` asks.
        self.cosigner.cosign(body, now).unwrap_or_default()
    }

    /// Checks the cosignature `line` by member `witness` on this hub's signed checkpoint
    /// `note` and keeps it. When this made the note the newest checkpoint to meet the policy,
    /// stores it (with all its cosignatures) durably, under the lock so that two submitters
    /// cannot store an older one last, and returns true. Blocking: call it off the async
    /// threads.
    pub fn add_cosignature(
        &self,
        note: &str,
        witness: &Member,
        line: &str,
    ) -> Result<bool, String> {
        let (text, _) = split_note(note).map_err(|e| e.to_string())?;
        let size = TreeHead::parse(text).map_err(|e| e.to_string())?.size;
        CosignatureVerifier::of_member(&witness.key)
            .verify(text, line)
            .map_err(|e| e.to_string())?;
        let mut g = self.lock();
        let i = match g.recent.iter().position(|(t, ..)| t == text) {
            Some(i) => i,
            None => {
                if g.recent.len() == RECENT {
                    g.recent.pop_front();
                }
                g.recent
                    .push_back((text.to_owned(), size, note.to_owned(), BTreeMap::new()));
                g.recent.len() - 1
            }
        };
        let (_, _, note, lines) = &mut g.recent[i];
        lines.insert(witness.name.clone(), line.to_owned());
        if lines.len() < self.federation.cosignatures {
            return Ok(false);
        }
        let full = format!(
            "{note}{}",
            lines.values().map(String::as_str).collect::<String>()
        );
        if g.witnessed.as_ref().is_some_and(|(s, _)| *s > size) {
            return Ok(false);
        }
        self.store.set_own(&full).map_err(|e| e.to_string())?;
        g.witnessed = Some((size, full));
        Ok(true)
    }

    /// `note` (this hub's newest signed checkpoint) with the cosignatures gathered for it.
    pub fn with_cosignatures(&self, note: &str) -> String {
        let Ok((text, _)) = split_note(note) else {
            return note.to_owned();
        };
        let g = self.lock();
        match g.recent.iter().find(|(t, ..)| t == text) {
            Some((.., lines)) => format!(
                "{note}{}",
                lines.values().map(String::as_str).collect::<String>()
            ),
            None => note.to_owned(),
        }
    }

    /// The newest checkpoint that met the policy, with its cosignatures.
    pub fn witnessed(&self) -> Option<String> {
        self.lock().witnessed.as_ref().map(|(_, n)| n.clone())
    }
}

/// The tree size of a signed checkpoint note, if it reads as one.
fn size_of(note: &str) -> Option<u64> {
    let (text, _) = split_note(note).ok()?;
    TreeHead::parse(text).ok().map(|h| h.size)
}

/// Shared handle.
pub type SharedFederation = Arc<Federated>;
