//! Recording the federation this hub belongs to (SPEC §7): at start, and whenever the
//! federation file changes, the membership (names, origins, keys, policy) becomes an entry of
//! the hub's own ledger, so that the ledger alone says whose checkpoints its imports trust.

use m2mhub_core::{CoreError, entry::Entry, federation::Membership};

use crate::{
    Ledger,
    append::{Appended, Submission},
    error::{LedgerError, Result},
};

impl Ledger {
    /// Records `m` unless it is the membership last recorded; the new entry's seq, or `None`
    /// when nothing changed. `m` must list this hub under its own origin and key.
    pub fn record_membership(&self, m: Membership) -> Result<Option<u64>> {
        let me = m
            .members
            .iter()
            .find(|r| r.name == m.hub)
            .ok_or_else(|| CoreError::Malformed(format!("hub {:?} is not a member", m.hub)))?;
        if me.origin != self.origin() || me.key != self.verifier_key() {
            return Err(CoreError::Malformed(format!(
                "the federation gives member {:?} the origin {:?} and key {}, but this hub \
                 signs as {:?} with {}",
                m.hub.as_str(),
                me.origin,
                me.key,
                self.origin(),
                self.verifier_key()
            ))
            .into());
        }
        let recorded = self.view().registry.registry.membership().cloned();
        if recorded.is_some_and(|(_, old)| old == m) {
            return Ok(None);
        }
        let entry = Entry::FederationMembership(m);
        match self.append(vec![Submission::Registry(entry)]).pop() {
            Some(Ok(Appended::Registry { seq, .. })) => Ok(Some(seq)),
            Some(Err(e)) => Err(e),
            _ => Err(LedgerError::Unavailable),
        }
    }
}
