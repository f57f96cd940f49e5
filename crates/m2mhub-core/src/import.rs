//! Import entries (SPEC §7): a registry change of another member hub, recorded in this hub's
//! ledger with what proves it — the foreign entry's bytes, the source origin and seq, an
//! inclusion proof, and the source's full signed checkpoint note with its cosignatures — so
//! that this ledger replays on its own. [`Import::check`] is the whole proof check; the
//! registry applies the foreign entry under hub-qualified names (`name@hub`).

use crate::{
    CoreError,
    checkpoint::Checkpoint,
    cosignature::CosignatureVerifier,
    entry::{Entry, Membership, bad},
    hash::Hash,
    merkle::{leaf_hash, verify_inclusion},
    note::{NoteVerifier, is_valid_key_name},
};

/// Longest checkpoint note an import carries (a checkpoint with a hundred cosignatures is
/// about 10 KiB).
pub const MAX_IMPORT_NOTE: usize = 64 * 1024;
/// Most proof hashes an import carries (a tree of 2^64 leaves needs 64).
pub const MAX_IMPORT_PROOF: usize = 64;

/// A foreign registry change and its proof, as an import entry holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Import {
    /// The source hub's checkpoint origin.
    pub origin: String,
    /// The foreign entry's seq in the source ledger.
    pub seq: u64,
    /// The foreign entry's bytes: a registry entry (kinds 1–4, 6, 7).
    pub entry: Vec<u8>,
    /// Its inclusion proof in the tree of `checkpoint`.
    pub proof: Vec<Hash>,
    /// The source's signed checkpoint note, cosignatures included.
    pub checkpoint: String,
}

impl Import {
    /// The foreign entry, checked to be a registry change that may be imported.
    pub fn inner(&self) -> Result<Entry, CoreError> {
        let e = Entry::from_bytes(&self.entry)?;
        match e {
            Entry::Message(_) => Err(bad(
                "an import holds a message, not a registry change".into()
            )),
            Entry::FederationMembership(_) | Entry::Import(_) => Err(bad(
                "an import holds a membership or an import, which stay in their own ledger".into(),
            )),
            e => Ok(e),
        }
    }

    /// What the encoding itself requires (checked on decode and before encoding).
    pub fn check_form(&self) -> Result<(), CoreError> {
        if !is_valid_key_name(&self.origin) || self.origin.len() > usize::from(u16::MAX) {
            return Err(bad(format!(
                "import origin {:?} is not a key name",
                self.origin
            )));
        }
        if self.proof.len() > MAX_IMPORT_PROOF {
            return Err(bad(format!(
                "an import proof has more than {MAX_IMPORT_PROOF} hashes"
            )));
        }
        if self.checkpoint.len() > MAX_IMPORT_NOTE {
            return Err(bad(format!(
                "an import checkpoint is longer than {MAX_IMPORT_NOTE} bytes"
            )));
        }
        self.inner().map(|_| ())
    }

    /// Checks the import against the membership this ledger recorded last: the origin is
    /// another member's, the checkpoint is signed by that member's key and cosigned by as
    /// many other members as the policy asks (C2SP tlog-cosignature, each member's hub key),
    /// and the foreign entry is the leaf at `seq` of its tree. Returns the source member's hub
    /// name and the foreign entry.
    pub fn check<'m>(&self, membership: &'m Membership) -> Result<(&'m str, Entry), CoreError> {
        let inner = self.inner()?;
        let member = membership
            .members
            .iter()
            .find(|m| m.origin == self.origin)
            .ok_or_else(|| {
                bad(format!(
                    "import from {:?}, which is no member's origin",
                    self.origin
                ))
            })?;
        if member.name == membership.hub {
            return Err(bad("an import from this hub's own ledger".into()));
        }
        let key = NoteVerifier::parse(&member.key).map_err(|e| bad(e.to_string()))?;
        let cp = Checkpoint::open(&self.checkpoint, &key)
            .map_err(|e| bad(format!("import checkpoint: {e}")))?;
        let mut cosigners = 0;
        for w in membership.members.iter().filter(|w| w.name != member.name) {
            let wkey = NoteVerifier::parse(&w.key).map_err(|e| bad(e.to_string()))?;
            if CosignatureVerifier::of_member(&wkey)
                .open(&self.checkpoint)
                .is_ok()
            {
                cosigners += 1;
            }
        }
        if cosigners < membership.cosignatures {
            return Err(bad(format!(
                "import checkpoint of {} has {cosigners} member cosignature(s), the policy asks {}",
                self.origin, membership.cosignatures
            )));
        }
        verify_inclusion(
            &leaf_hash(&self.entry),
            self.seq,
            cp.tree_size,
            &self.proof,
            &cp.root,
        )
        .map_err(|e| {
            bad(format!(
                "import of {} seq {}: not in the checkpoint's tree: {e}",
                self.origin, self.seq
            ))
        })?;
        Ok((member.name.as_str(), inner))
    }
}
