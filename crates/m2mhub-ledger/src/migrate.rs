//! Store format migrations: what changes an older store needs to read as the current format.
//! Each runs inside the write transaction that opens the store, so a crash mid-way leaves the
//! old format whole and the next start migrates again.

use m2mhub_core::entry::Entry;
use redb::{ReadableTable, WriteTransaction};

use crate::{
    error::{LedgerError, Result},
    store::{ENTRIES, INVALID, META, STORE_FORMAT, TX_MSGS, TXS, UNISSUED},
    txcodec,
};

/// v3 listed a message that named a tx id not issued yet under that id in `tx_messages`, so
/// the transaction that later took the id showed it (SPEC §3.1); v4 keeps such messages in
/// `unissued_tx_messages` instead. v3 also counted a transaction's participants in a `u16`;
/// v4 in a `u32`.
const V3: &str = "m2mhub-store-v3";
/// v5 adds the tables behind the investigator's console (`store/investigation.rs`): v4 has
/// none of them, so they are filled from the entries.
const V4: &str = "m2mhub-store-v4";
/// v6 packs the per-device rows of `device_activity` and `device_rates_hour` 64 devices to a
/// row (`store/packed.rs`): v5's investigation tables are deleted and filled anew.
const V5: &str = "m2mhub-store-v5";

/// True when a store of format `format` can be migrated to [`STORE_FORMAT`].
pub(crate) fn can_migrate(format: &str) -> bool {
    format == V3 || format == V4 || format == V5
}

/// Migrates a store of format `format` to [`STORE_FORMAT`] inside `txn`.
pub(crate) fn migrate(txn: &WriteTransaction, format: &str) -> Result<()> {
    match format {
        V3 => {
            v3_to_v4(txn)?;
            widen_participant_counts(txn)?;
        }
        V4 => {}
        V5 => crate::store::delete_investigation(txn)?,
        _ => {
            return Err(LedgerError::Corrupt(format!(
                "store format {format:?}, this hub reads {STORE_FORMAT:?}"
            )));
        }
    }
    crate::store::backfill_investigation(txn)?;
    txn.open_table(META)?.insert("format", STORE_FORMAT)?;
    Ok(())
}

/// Moves every message that named an unissued tx id out of `tx_messages`. Such a message is
/// invalid (`unknown_transaction`), so only the invalid index is walked.
fn v3_to_v4(txn: &WriteTransaction) -> Result<()> {
    let invalid = txn.open_table(INVALID)?;
    let entries = txn.open_table(ENTRIES)?;
    let mut tx_msgs = txn.open_table(TX_MSGS)?;
    let mut unissued = txn.open_table(UNISSUED)?;
    for row in invalid.iter()? {
        let seq = row?.0.value();
        let Some(bytes) = entries.get(seq)? else {
            return Err(LedgerError::Corrupt(format!(
                "invalid_messages names seq {seq}, which has no entry"
            )));
        };
        let entry = Entry::from_bytes(bytes.value())
            .map_err(|e| LedgerError::Corrupt(format!("entry {seq}: {e}")))?;
        if let Entry::Message(m) = entry
            && m.transaction().is_none()
        {
            tx_msgs.remove((m.tx.0, seq))?;
            unissued.insert(seq, m.tx.0)?;
        }
    }
    Ok(())
}

/// Rewrites every transaction state row with a `u32` participant count.
fn widen_participant_counts(txn: &WriteTransaction) -> Result<()> {
    let mut txs = txn.open_table(TXS)?;
    let mut rows = Vec::new();
    for row in txs.iter()? {
        let (tx, state) = row?;
        let state = txcodec::decode_v3(state.value())
            .map_err(|e| LedgerError::Corrupt(format!("transaction {}: {e}", tx.value())))?;
        rows.push((tx.value(), txcodec::encode(&state)));
    }
    for (tx, state) in rows {
        txs.insert(tx, state.as_slice())?;
    }
    Ok(())
}
