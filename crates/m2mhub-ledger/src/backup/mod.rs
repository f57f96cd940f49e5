//! Backups of a ledger: the file format (this module), writing one from a read snapshot
//! while the hub keeps appending ([`Ledger::backup`](crate::Ledger::backup), `dump.rs`), and
//! restoring one into a fresh data directory that continues the same log (`restore.rs`).
//!
//! # Format `m2mhub-backup v1`
//!
//! ```text
//! "m2mhub-backup v1\n"                          the header line (ASCII)
//! record*                                       framed records, in this order:
//!   H  header     JSON Header                   first, once
//!   per block, by height from the genesis block:
//!     E  entry    u64 seq ‖ entry bytes           each entry of the block, by seq
//!     C  contents u64 seq ‖ UTF-8 contents        right after its message's E, unless pruned
//!     B  block    JSON BlockRow                   after the block's entries
//!   T  trailer    JSON Trailer                  last; the file ends right after it
//! record = u8 tag ‖ u32 payload length (big-endian) ‖ payload
//! ```
//!
//! Integers are big-endian. A record's payload is at most [`MAX_RECORD`] bytes. The header
//! names the origin, the hub's verifier key line (SPEC §4.3), the store format, the prune mark
//! (contents of seqs below it may be missing on purpose; above it every message has its C) and
//! the tree size and height the backup covers. The trailer repeats the last block's signed
//! checkpoint, so the whole file can be checked against a signed tree head the reader already
//! trusts (the same checkpoint, or a later one with a consistency proof), and holds the record
//! counts and the SHA-256 of every byte before the trailer record (which catches accidental
//! damage; the signatures and roots catch deliberate damage). The hub's key files are never in
//! a backup: the operator copies them.

mod dump;
mod restore;

use std::io::{Read, Write};

use m2mhub_core::hash::Hash;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use dump::BackupSummary;
pub use restore::{RestoreSummary, restore, restore_into};

use crate::{LedgerError, Result, block::BlockRow};

/// The first line of every backup.
pub const MAGIC: &[u8] = b"m2mhub-backup v1\n";
/// The file a backup directory holds.
pub const BACKUP_FILE: &str = "ledger.m2mbackup";
/// Largest payload of one record: an entry or contents is at most ~17 KiB (SPEC §3.4), a
/// block row a few KiB; the cap keeps a damaged length from asking for gigabytes.
pub const MAX_RECORD: usize = 1 << 20;

const TAG_HEADER: u8 = b'H';
const TAG_ENTRY: u8 = b'E';
const TAG_CONTENTS: u8 = b'C';
const TAG_BLOCK: u8 = b'B';
const TAG_TRAILER: u8 = b'T';

/// What a backup says about itself before its records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// The checkpoint origin (and note key name).
    pub origin: String,
    /// The hub's verifier key line.
    pub key: String,
    /// The store format of the hub that wrote it.
    pub store_format: String,
    /// Contents of messages below this seq may have been pruned; above it every message has
    /// them.
    pub contents_pruned_below: u64,
    /// Entries covered.
    pub tree_size: u64,
    /// Height of the last block covered.
    pub height: u64,
    /// When the snapshot was taken, ms since the Unix epoch.
    pub created_ms: u64,
}

/// The last record of a backup.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trailer {
    /// E records.
    pub entries: u64,
    /// C records.
    pub contents: u64,
    /// B records.
    pub blocks: u64,
    /// The last block's signed checkpoint.
    pub checkpoint: String,
    /// SHA-256 (hex) of every byte of the file before the trailer record.
    pub sha256: String,
}

/// One record of a backup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// The header.
    Header(Header),
    /// An entry: seq and bytes.
    Entry(u64, Vec<u8>),
    /// A message's contents: seq and text.
    Contents(u64, String),
    /// A block row.
    Block(BlockRow),
    /// The trailer, and the digest of every byte before it as read.
    Trailer(Trailer, Hash),
}

fn bad(what: impl std::fmt::Display) -> LedgerError {
    LedgerError::Backup(what.to_string())
}

/// Writes a backup's records, hashing every byte.
pub struct Writer<W: Write> {
    out: W,
    digest: Sha256,
    counts: [u64; 3],
}

impl<W: Write> std::fmt::Debug for Writer<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("backup::Writer").finish_non_exhaustive()
    }
}

impl<W: Write> Writer<W> {
    /// Starts a backup: the header line and the header record.
    pub fn new(out: W, header: &Header) -> Result<Writer<W>> {
        let mut w = Writer {
            out,
            digest: Sha256::new(),
            counts: [0; 3],
        };
        w.put(MAGIC)?;
        let json = serde_json::to_vec(header).map_err(|e| bad(format!("header: {e}")))?;
        w.record(TAG_HEADER, &[&json])?;
        Ok(w)
    }

    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.digest.update(bytes);
        self.out.write_all(bytes).map_err(write_err)
    }

    fn record(&mut self, tag: u8, parts: &[&[u8]]) -> Result<()> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if len > MAX_RECORD {
            return Err(bad(format!(
                "a record of {len} bytes exceeds the format's cap"
            )));
        }
        self.put(&[tag])?;
        self.put(&(len as u32).to_be_bytes())?;
        for p in parts {
            self.put(p)?;
        }
        Ok(())
    }

    /// An entry.
    pub fn entry(&mut self, seq: u64, bytes: &[u8]) -> Result<()> {
        self.counts[0] += 1;
        self.record(TAG_ENTRY, &[&seq.to_be_bytes(), bytes])
    }

    /// The contents of the message just written.
    pub fn contents(&mut self, seq: u64, text: &str) -> Result<()> {
        self.counts[1] += 1;
        self.record(TAG_CONTENTS, &[&seq.to_be_bytes(), text.as_bytes()])
    }

    /// A block row, after its entries.
    pub fn block(&mut self, b: &BlockRow) -> Result<()> {
        self.counts[2] += 1;
        let json = serde_json::to_vec(b).map_err(|e| bad(format!("block row: {e}")))?;
        self.record(TAG_BLOCK, &[&json])
    }

    /// Ends the backup with the trailer naming `checkpoint`, and flushes.
    pub fn finish(mut self, checkpoint: &str) -> Result<W> {
        let digest: Hash = self.digest.clone().finalize().into();
        let t = Trailer {
            entries: self.counts[0],
            contents: self.counts[1],
            blocks: self.counts[2],
            checkpoint: checkpoint.to_owned(),
            sha256: hex::encode(digest),
        };
        let json = serde_json::to_vec(&t).map_err(|e| bad(format!("trailer: {e}")))?;
        self.record(TAG_TRAILER, &[&json])?;
        self.out.flush().map_err(write_err)?;
        Ok(self.out)
    }
}

fn write_err(e: std::io::Error) -> LedgerError {
    LedgerError::Backup(format!("writing the backup: {e}"))
}

/// Reads a backup's records strictly: the header line, the header first, a known tag on
/// every record, nothing after the trailer.
pub struct Reader<R: Read> {
    input: R,
    digest: Sha256,
    /// Bytes read so far (for error messages).
    offset: u64,
    started: bool,
    ended: bool,
}

impl<R: Read> std::fmt::Debug for Reader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("backup::Reader")
            .field("offset", &self.offset)
            .finish_non_exhaustive()
    }
}

impl<R: Read> Reader<R> {
    /// A reader over `input`; the header line is checked by the first [`Reader::next`].
    pub fn new(input: R) -> Reader<R> {
        Reader {
            input,
            digest: Sha256::new(),
            offset: 0,
            started: false,
            ended: false,
        }
    }

    /// Bytes read so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Fills `buf`; false on a clean end of input before its first byte.
    fn fill(&mut self, buf: &mut [u8], at_boundary: bool) -> Result<bool> {
        let mut got = 0;
        while got < buf.len() {
            match self.input.read(&mut buf[got..]) {
                Ok(0) if got == 0 && at_boundary => return Ok(false),
                Ok(0) => {
                    return Err(bad(format!(
                        "the backup is truncated: it ends inside a record at byte {}",
                        self.offset + got as u64
                    )));
                }
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(bad(format!("reading the backup: {e}"))),
            }
        }
        self.offset += got as u64;
        Ok(true)
    }

    /// The next record; `None` once the trailer was read and the input ends right after it.
    /// The input ending before the trailer is an error naming the truncation.
    #[allow(clippy::should_implement_trait)] // fallible, and `None` only after the trailer
    pub fn next(&mut self) -> Result<Option<Record>> {
        if !self.started {
            self.started = true;
            let mut magic = vec![0u8; MAGIC.len()];
            // A file too short for the header line is not a backup either.
            let whole = self.fill(&mut magic, true).unwrap_or(false);
            if !whole || magic != MAGIC {
                let line = magic.split(|b| *b == b'\n').next().unwrap_or_default();
                return Err(bad(format!(
                    "not an m2mhub backup, or an unsupported version: the first line is {:?}, \
                     this hub reads {:?}",
                    String::from_utf8_lossy(line),
                    "m2mhub-backup v1"
                )));
            }
            self.digest.update(&magic);
        }
        let at = self.offset;
        if self.ended {
            let mut more = [0u8; 1];
            return match self.fill(&mut more, true)? {
                false => Ok(None),
                true => Err(bad(format!("bytes after the trailer, at byte {at}"))),
            };
        }
        let mut head = [0u8; 5];
        if !self.fill(&mut head, true)? {
            return Err(bad(format!(
                "the backup is truncated: it ends at byte {at} without its trailer"
            )));
        }
        let [tag, l0, l1, l2, l3] = head;
        let len = u32::from_be_bytes([l0, l1, l2, l3]) as usize;
        if len > MAX_RECORD {
            return Err(bad(format!(
                "record at byte {at} claims {len} bytes, more than the format allows"
            )));
        }
        let digest_before: Hash = self.digest.clone().finalize().into();
        let mut payload = vec![0u8; len];
        self.fill(&mut payload, false)?;
        if tag != TAG_TRAILER {
            self.digest.update(head);
            self.digest.update(&payload);
        }
        let first = at == MAGIC.len() as u64;
        if first != (tag == TAG_HEADER) {
            return Err(bad(format!(
                "record at byte {at}: {} (the header must come first, once)",
                if first {
                    "the first record is not the header"
                } else {
                    "a second header"
                }
            )));
        }
        let record = decode(tag, payload, digest_before)
            .map_err(|e| bad(format!("record at byte {at}: {e}")))?;
        self.ended = matches!(record, Record::Trailer(..));
        Ok(Some(record))
    }
}

fn decode(tag: u8, payload: Vec<u8>, digest_before: Hash) -> std::result::Result<Record, String> {
    let seq_and_rest = |p: &[u8]| -> std::result::Result<(u64, Vec<u8>), String> {
        let (seq, rest) = p.split_first_chunk::<8>().ok_or("shorter than its seq")?;
        Ok((u64::from_be_bytes(*seq), rest.to_vec()))
    };
    Ok(match tag {
        TAG_HEADER => {
            Record::Header(serde_json::from_slice(&payload).map_err(|e| format!("header: {e}"))?)
        }
        TAG_ENTRY => {
            let (seq, bytes) = seq_and_rest(&payload)?;
            Record::Entry(seq, bytes)
        }
        TAG_CONTENTS => {
            let (seq, text) = seq_and_rest(&payload)?;
            let text =
                String::from_utf8(text).map_err(|_| format!("contents of seq {seq}: not UTF-8"))?;
            Record::Contents(seq, text)
        }
        TAG_BLOCK => {
            Record::Block(serde_json::from_slice(&payload).map_err(|e| format!("block row: {e}"))?)
        }
        TAG_TRAILER => Record::Trailer(
            serde_json::from_slice(&payload).map_err(|e| format!("trailer: {e}"))?,
            digest_before,
        ),
        other => return Err(format!("unknown record type {:?}", char::from(other))),
    })
}

/// What [`scan`] found: the framing, the counts and the digest hold together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scanned {
    /// The header.
    pub header: Header,
    /// The trailer.
    pub trailer: Trailer,
    /// Bytes in the file.
    pub bytes: u64,
}

/// Reads a whole backup and checks its framing, its counts and its digest, without replaying
/// it (that is [`restore`]'s job): what `m2mhub backup` checks of the file it received.
pub fn scan(input: impl Read) -> Result<Scanned> {
    let mut r = Reader::new(input);
    let mut header = None;
    let mut counts = [0u64; 3];
    let mut trailer = None;
    let mut last_checkpoint = None;
    while let Some(rec) = r.next()? {
        match rec {
            Record::Header(h) => header = Some(h),
            Record::Entry(..) => counts[0] += 1,
            Record::Contents(..) => counts[1] += 1,
            Record::Block(b) => {
                counts[2] += 1;
                last_checkpoint = Some(b.checkpoint);
            }
            Record::Trailer(t, digest) => {
                check_trailer(&t, &digest, counts, last_checkpoint.as_deref())?;
                trailer = Some(t);
            }
        }
    }
    match (header, trailer) {
        (Some(header), Some(trailer)) => Ok(Scanned {
            header,
            trailer,
            bytes: r.offset(),
        }),
        _ => Err(bad("the backup has no header or no trailer")),
    }
}

/// The trailer must count what was read, hash what was read, and repeat the last block's
/// checkpoint.
fn check_trailer(t: &Trailer, digest: &Hash, counts: [u64; 3], last: Option<&str>) -> Result<()> {
    let read = [
        ("entry", counts[0], t.entries),
        ("contents", counts[1], t.contents),
        ("block", counts[2], t.blocks),
    ];
    for (what, got, want) in read {
        if got != want {
            return Err(bad(format!(
                "the trailer counts {want} {what} records, the backup holds {got}"
            )));
        }
    }
    if t.sha256 != hex::encode(digest) {
        return Err(bad(
            "the trailer's SHA-256 differs from the bytes before it: the file was damaged",
        ));
    }
    if Some(t.checkpoint.as_str()) != last {
        return Err(bad("the trailer's checkpoint is not the last block's"));
    }
    Ok(())
}
