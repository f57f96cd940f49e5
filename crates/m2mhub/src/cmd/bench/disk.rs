//! Bytes on disk: what the data directory's files occupy, the figure `du` reports.
//!
//! redb grows its file by doubling below 4 GiB with `set_len`, which leaves the untouched tail
//! as a hole that takes no disk space. The file's apparent length therefore overstates what a
//! ledger costs by up to 2×; the blocks the filesystem has allocated are what it costs. Both
//! are reported.

use std::{os::unix::fs::MetadataExt, path::Path};

/// Space taken by the files of one directory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Bytes of disk blocks allocated to the files (`du`).
    pub allocated: u64,
    /// Sum of the files' lengths (`ls -l`), holes included.
    pub apparent: u64,
}

/// The space taken by the regular files directly inside `dir`.
pub fn usage(dir: &Path) -> std::io::Result<Usage> {
    let mut u = Usage::default();
    for e in std::fs::read_dir(dir)? {
        let m = e?.metadata()?;
        if m.is_file() {
            // st_blocks counts 512-byte units whatever the filesystem's block size.
            u.allocated += m.blocks() * 512;
            u.apparent += m.len();
        }
    }
    Ok(u)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_hole_is_apparent_but_not_allocated() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let mut f = std::fs::File::create(dir.path().join("data"))?;
        f.write_all(&[7u8; 64 * 1024])?;
        f.sync_all()?;
        // A 64 MiB hole after 64 KiB of data, as redb leaves when it doubles its file.
        f.set_len(64 << 20)?;
        let u = usage(dir.path())?;
        assert_eq!(u.apparent, 64 << 20);
        assert!(u.allocated >= 64 * 1024, "{u:?}");
        assert!(u.allocated < 1 << 20, "the hole was counted: {u:?}");
        Ok(())
    }
}
