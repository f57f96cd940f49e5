//! The device's message counter (SPEC §3.2: each message's counter is greater than the last
//! one the hub recorded), persisted so that a restart never reuses a value.
//!
//! Writing the file for every message would cost an fsync per message, so the counter
//! *reserves* a block of values: the file holds the highest value that may have been used,
//! written (temp file, fsync, rename) before any value of the block is handed out. After a
//! crash the device skips the rest of the block, which is fine: counters must grow, not be
//! contiguous.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use crate::{ClientError, Result, io_err};

/// How many values one write of the file reserves.
pub const DEFAULT_RESERVE: u64 = 1024;

/// A counter that only grows, kept in a file (or only in memory).
#[derive(Debug)]
pub struct Counter {
    /// The last value handed out.
    last: u64,
    /// The highest value the file allows without writing it again.
    reserved: u64,
    reserve: u64,
    path: Option<PathBuf>,
}

impl Counter {
    /// A counter kept only in memory, starting after `last` (tests, simulations).
    pub fn in_memory(last: u64) -> Counter {
        Counter {
            last,
            reserved: u64::MAX,
            reserve: DEFAULT_RESERVE,
            path: None,
        }
    }

    /// Opens (or creates, starting at 0) the counter kept in `path`.
    pub fn open(path: &Path) -> Result<Counter> {
        Self::open_with_reserve(path, DEFAULT_RESERVE)
    }

    /// [`Counter::open`] reserving `reserve` values per write (at least 1).
    pub fn open_with_reserve(path: &Path, reserve: u64) -> Result<Counter> {
        let last = match std::fs::read_to_string(path) {
            Ok(text) => text
                .trim()
                .parse::<u64>()
                .map_err(|_| ClientError::Invalid(format!("{}: not a counter", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(io_err(path)(e)),
        };
        Ok(Counter {
            last,
            reserved: last,
            reserve: reserve.max(1),
            path: Some(path.to_owned()),
        })
    }

    /// The last value handed out (or the one the file started from).
    pub fn last(&self) -> u64 {
        self.last
    }

    /// The next value; persists a new reservation first when the current one is used up.
    pub fn next_value(&mut self) -> Result<u64> {
        let next = self
            .last
            .checked_add(1)
            .ok_or_else(|| ClientError::Invalid("the counter is exhausted".into()))?;
        if next > self.reserved
            && let Some(path) = &self.path
        {
            let reserved = next.saturating_add(self.reserve - 1);
            write_durably(path, reserved)?;
            self.reserved = reserved;
        }
        self.last = next;
        Ok(next)
    }
}

/// Replaces `path` with `value` so that a crash leaves the old or the new value, never neither.
fn write_durably(path: &Path, value: u64) -> Result<()> {
    let tmp = crate::keys::with_suffix(path, "tmp");
    let mut f = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
    f.write_all(format!("{value}\n").as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err(path))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Make the rename itself durable.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_repeats_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.counter");
        let mut c = Counter::open_with_reserve(&path, 4).unwrap();
        let a: Vec<u64> = (0..6).map(|_| c.next_value().unwrap()).collect();
        assert_eq!(a, [1, 2, 3, 4, 5, 6]);
        // The file holds the reservation, so a crash now resumes above everything handed out.
        drop(c);
        let mut c = Counter::open_with_reserve(&path, 4).unwrap();
        let n = c.next_value().unwrap();
        assert!(n > 6, "{n}");
    }

    #[test]
    fn rejects_a_corrupt_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.counter");
        std::fs::write(&path, "seven").unwrap();
        assert!(Counter::open(&path).is_err());
    }
}
