//! Writing a backup from one read snapshot: the hub keeps appending meanwhile (redb's MVCC
//! readers never hold the writer), and the backup is exactly the ledger as of one block.

use std::io::Write;

use super::{Header, Writer};
use crate::{
    Ledger, LedgerError, Result,
    ledger::now_ms,
    store::{STORE_FORMAT, Snapshot},
};

/// Entries read from the snapshot at a time: memory stays bounded whatever the ledger's size.
const CHUNK: u64 = 256;
/// Block rows read at a time.
const BLOCK_PAGE: usize = 256;

/// What a backup covered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupSummary {
    /// Entries written.
    pub entries: u64,
    /// Blocks written (the genesis block included).
    pub blocks: u64,
    /// The last block's checkpoint.
    pub checkpoint: String,
}

impl Ledger {
    /// Writes a backup of the ledger as of now (one read snapshot) to `out`, in the format of
    /// [`crate::backup`]. Reads in chunks: memory does not grow with the ledger. Run it off
    /// async threads; a slow `out` holds only the snapshot (the store file cannot reuse pages
    /// freed meanwhile until it ends), never the writer.
    pub fn backup(&self, out: impl Write) -> Result<BackupSummary> {
        let snap = self.snapshot()?;
        crate::error::guard_damaged("backing up the store", || {
            write_snapshot(&snap, &self.origin, &self.verifier_key(), out)
        })
    }
}

fn write_snapshot(
    snap: &Snapshot,
    origin: &str,
    key: &str,
    out: impl Write,
) -> Result<BackupSummary> {
    let last = snap
        .last_block()?
        .ok_or_else(|| LedgerError::Corrupt("the ledger has no genesis block".into()))?;
    let header = Header {
        origin: origin.to_owned(),
        key: key.to_owned(),
        store_format: STORE_FORMAT.to_owned(),
        contents_pruned_below: snap.contents_pruned_below()?,
        tree_size: last.tree_size,
        height: last.height,
        created_ms: now_ms(),
    };
    let mut w = Writer::new(out, &header)?;
    let mut after = None;
    let mut blocks = 0u64;
    loop {
        let page = snap.blocks(after, BLOCK_PAGE)?;
        let Some(end) = page.last() else { break };
        after = Some(end.height);
        for b in page {
            let end = b.first_seq + b.size;
            let mut start = b.first_seq;
            while start < end {
                let stop = (start + CHUNK).min(end);
                let entries = snap.entries(start, stop)?;
                if entries.len() as u64 != stop - start {
                    return Err(LedgerError::Corrupt(format!(
                        "block {} lacks some of the entries {start}..{stop}",
                        b.height
                    )));
                }
                let mut contents = snap.contents_range(start, stop)?.into_iter().peekable();
                for (seq, bytes) in entries {
                    w.entry(seq, &bytes)?;
                    if let Some((_, text)) = contents.next_if(|(s, _)| *s == seq) {
                        w.contents(seq, &text)?;
                    }
                }
                start = stop;
            }
            w.block(&b)?;
            blocks += 1;
        }
    }
    w.finish(&last.checkpoint)?;
    Ok(BackupSummary {
        entries: last.tree_size,
        blocks,
        checkpoint: last.checkpoint,
    })
}
