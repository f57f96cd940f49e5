//! The witness's durable state (C2SP tlog-witness, SPEC §7), in its own redb file
//! (`DIR/witness.redb`): per witnessed origin, the size, root and cosigned note of the
//! checkpoint it last cosigned; and, for this hub as a log, the newest of its own checkpoints
//! that met the federation's policy, with its cosignatures, so `/tlog/checkpoint` survives a
//! restart.
//!
//! Contract: [`WitnessStore::add_checkpoint`] checks a request against the held state and
//! stores the new state in one write transaction, committed durably (redb fsyncs on commit)
//! before it returns the cosignature, so a witness never cosigns what it could forget, and two
//! racing requests cannot roll a log back (the spec's race: redb serialises write
//! transactions, and each reads the state it replaces).

use std::path::Path;

use m2mhub_core::{
    hash::Hash,
    witness::{Held, Opened, WitnessError},
};
use m2mhub_ledger::LedgerError;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

/// The store's file name in the data directory.
pub const FILE: &str = "witness.redb";

/// Origin → size (u64 BE) ‖ root (32 bytes) ‖ the cosigned note (UTF-8).
const WITNESSED: TableDefinition<&str, &[u8]> = TableDefinition::new("witnessed");
/// `"checkpoint"` → this hub's newest checkpoint note that met the policy, cosignatures included.
const OWN: TableDefinition<&str, &str> = TableDefinition::new("own_witnessed");

fn storage(e: impl std::fmt::Display) -> LedgerError {
    LedgerError::Storage(format!("witness state: {e}"))
}

/// Why [`WitnessStore::add_checkpoint`] did not cosign.
#[derive(Debug)]
pub enum AddError {
    /// The request breaks the protocol (its status is the spec's).
    Refused(WitnessError),
    /// The store failed: nothing was cosigned.
    Storage(LedgerError),
}

/// What a witness holds of one origin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Witnessed {
    /// Size and root.
    pub held: Held,
    /// The checkpoint note with the log's signature(s) and this witness's cosignature.
    pub note: String,
}

fn encode(w: &Witnessed) -> Vec<u8> {
    let mut v = Vec::with_capacity(40 + w.note.len());
    v.extend_from_slice(&w.held.size.to_be_bytes());
    v.extend_from_slice(&w.held.root);
    v.extend_from_slice(w.note.as_bytes());
    v
}

fn decode(v: &[u8]) -> Result<Witnessed, LedgerError> {
    let bad = || storage("a witnessed row is damaged");
    let size = u64::from_be_bytes(v.get(..8).ok_or_else(bad)?.try_into().map_err(|_| bad())?);
    let root: Hash = v
        .get(8..40)
        .ok_or_else(bad)?
        .try_into()
        .map_err(|_| bad())?;
    let note = std::str::from_utf8(&v[40..]).map_err(|_| bad())?.to_owned();
    Ok(Witnessed {
        held: Held { size, root },
        note,
    })
}

/// The witness state store.
#[derive(Debug)]
pub struct WitnessStore {
    db: Database,
}

impl WitnessStore {
    /// Opens (or creates) the store at `path`, usually `DIR/witness.redb`.
    pub fn open(path: &Path) -> Result<WitnessStore, LedgerError> {
        let db = Database::create(path).map_err(storage)?;
        let w = db.begin_write().map_err(storage)?;
        w.open_table(WITNESSED).map_err(storage)?;
        w.open_table(OWN).map_err(storage)?;
        w.commit().map_err(storage)?;
        Ok(WitnessStore { db })
    }

    /// Checks `req` against what is held of its origin, then stores the new state with the
    /// cosignature line `cosign` makes from the checkpoint's note text, durably, and returns
    /// that line. Blocking: call it off the async threads.
    pub fn add_checkpoint(
        &self,
        req: &Opened<'_>,
        cosign: impl FnOnce(&str) -> String,
    ) -> Result<String, AddError> {
        fn st(e: impl std::fmt::Display) -> AddError {
            AddError::Storage(storage(e))
        }
        let w = self.db.begin_write().map_err(st)?;
        let line = {
            let mut t = w.open_table(WITNESSED).map_err(st)?;
            let held = match t.get(req.head.origin.as_str()).map_err(st)? {
                Some(v) => Some(decode(v.value()).map_err(AddError::Storage)?.held),
                None => None,
            };
            let new = req.check(held.as_ref()).map_err(AddError::Refused)?;
            let line = cosign(req.text);
            let row = Witnessed {
                held: new,
                note: format!("{}{line}", req.note),
            };
            t.insert(req.head.origin.as_str(), encode(&row).as_slice())
                .map_err(st)?;
            line
        };
        w.commit().map_err(st)?;
        Ok(line)
    }

    /// What is held of `origin`, if anything.
    pub fn witnessed(&self, origin: &str) -> Result<Option<Witnessed>, LedgerError> {
        let r = self.db.begin_read().map_err(storage)?;
        let t = r.open_table(WITNESSED).map_err(storage)?;
        t.get(origin)
            .map_err(storage)?
            .map(|v| decode(v.value()))
            .transpose()
    }

    /// Everything held, by origin.
    pub fn all(&self) -> Result<Vec<(String, Witnessed)>, LedgerError> {
        let r = self.db.begin_read().map_err(storage)?;
        let t = r.open_table(WITNESSED).map_err(storage)?;
        let mut out = Vec::new();
        for row in t.iter().map_err(storage)? {
            let (k, v) = row.map_err(storage)?;
            out.push((k.value().to_owned(), decode(v.value())?));
        }
        Ok(out)
    }

    /// This hub's newest checkpoint that met the policy, as last stored.
    pub fn own(&self) -> Result<Option<String>, LedgerError> {
        let r = self.db.begin_read().map_err(storage)?;
        let t = r.open_table(OWN).map_err(storage)?;
        Ok(t.get("checkpoint")
            .map_err(storage)?
            .map(|v| v.value().to_owned()))
    }

    /// Stores `note` as this hub's newest witnessed checkpoint.
    pub fn set_own(&self, note: &str) -> Result<(), LedgerError> {
        let w = self.db.begin_write().map_err(storage)?;
        w.open_table(OWN)
            .map_err(storage)?
            .insert("checkpoint", note)
            .map_err(storage)?;
        w.commit().map_err(storage)
    }
}
