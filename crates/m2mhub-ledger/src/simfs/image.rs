//! One simulated file: what reads see (the page cache) and enough of the synced image to say
//! what survives a power cut.

use std::collections::BTreeMap;

/// The unit a disk writes atomically (one sector). A power cut keeps or loses each unsynced
/// sector whole; redb assumes less (only single bytes are atomic), so this is within its
/// contract, and it is what disks do.
pub const SECTOR: u64 = 512;

/// A file's bytes as reads see them, its synced length, and the synced bytes of every sector
/// changed since the last sync (saved before its first change), so a sync costs nothing to
/// copy and a cut rebuilds the survivor from the changed sectors alone.
#[derive(Clone, Debug, Default)]
pub struct Image {
    data: Vec<u8>,
    synced_len: u64,
    /// sector → its synced bytes (clipped to `synced_len`), for sectors starting below
    /// `synced_len` changed since the last sync. Sectors at or past `synced_len` hold no
    /// synced bytes and are always unsynced.
    undo: BTreeMap<u64, Vec<u8>>,
}

impl Image {
    /// The length reads see.
    pub fn len(&self) -> u64 {
        self.data.len() as u64
    }

    /// Reads `out.len()` bytes at `offset`; `None` past the end.
    pub fn read(&self, offset: u64, out: &mut [u8]) -> Option<()> {
        let start = usize::try_from(offset).ok()?;
        let end = start.checked_add(out.len())?;
        out.copy_from_slice(self.data.get(start..end)?);
        Some(())
    }

    /// The whole file.
    pub fn bytes(&self) -> &[u8] {
        &self.data
    }

    /// Saves the synced bytes of the sectors overlapping `start..end` before they change.
    fn save(&mut self, start: u64, end: u64) {
        let last = end.min(self.synced_len).div_ceil(SECTOR);
        for s in start / SECTOR..last {
            self.undo.entry(s).or_insert_with(|| {
                let from = (s * SECTOR) as usize;
                let to = ((s + 1) * SECTOR).min(self.synced_len) as usize;
                // Unchanged since the sync, so the bytes there are the synced ones.
                self.data[from..to].to_vec()
            });
        }
    }

    /// Writes `bytes` at `offset`, growing the file with zeros if needed.
    pub fn write(&mut self, offset: u64, bytes: &[u8]) {
        let end = offset + bytes.len() as u64;
        self.save(offset, end);
        if end > self.len() {
            self.save(self.len(), end);
            self.data.resize(end as usize, 0);
        }
        self.data[offset as usize..end as usize].copy_from_slice(bytes);
    }

    /// Sets the length; new bytes are zero.
    pub fn set_len(&mut self, len: u64) {
        let old = self.len();
        self.save(old.min(len), old.max(len));
        self.data.resize(len as usize, 0);
    }

    /// Makes everything durable (`fsync`/`fdatasync`).
    pub fn sync(&mut self) {
        self.undo.clear();
        self.synced_len = self.len();
    }

    /// What survives a power cut. `keep` is asked, for the length and then for each unsynced
    /// sector in order, whether that change reached the disk; `|| false` gives exactly the
    /// image as of the last sync.
    pub fn survivor(&self, keep: &mut dyn FnMut() -> bool) -> Image {
        let len = if self.len() != self.synced_len && keep() {
            self.len()
        } else {
            self.synced_len
        };
        let mut out = vec![0u8; len as usize];
        for s in 0..len.div_ceil(SECTOR) {
            let from = (s * SECTOR) as usize;
            let to = ((s + 1) * SECTOR).min(len) as usize;
            let synced: Option<&[u8]> = match self.undo.get(&s) {
                Some(old) => Some(old),
                None if s * SECTOR >= self.synced_len => Some(&[]),
                None => None,
            };
            let src: &[u8] = match synced {
                // Unsynced: the new bytes if the sector reached the disk, else the synced ones.
                Some(old) if !keep() => old,
                _ => self.data.get(from..).unwrap_or(&[]),
            };
            let n = (to - from).min(src.len());
            out[from..from + n].copy_from_slice(&src[..n]);
        }
        Image {
            data: out,
            synced_len: len,
            undo: BTreeMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn image(bytes: &[u8]) -> Image {
        let mut i = Image::default();
        i.write(0, bytes);
        i.sync();
        i
    }

    #[test]
    fn a_cut_keeps_exactly_the_synced_image_when_nothing_unsynced_survives() {
        let mut i = image(&[1; 1500]);
        i.write(100, &[2; 600]);
        i.write(1400, &[3; 1000]);
        let s = i.survivor(&mut || false);
        assert_eq!(s.bytes(), &[1; 1500][..]);
        i.set_len(10);
        assert_eq!(i.survivor(&mut || false).bytes(), &[1; 1500][..]);
        i.sync();
        assert_eq!(i.survivor(&mut || false).bytes(), &[1; 10][..]);
    }

    #[test]
    fn a_cut_keeping_everything_gives_what_reads_saw() {
        let mut i = image(&[1; 1500]);
        i.write(100, &[2; 600]);
        i.set_len(700);
        i.write(2000, &[3; 10]);
        assert_eq!(i.survivor(&mut || true).bytes(), i.bytes());
    }

    #[test]
    fn a_torn_cut_keeps_or_loses_whole_sectors() {
        let mut i = image(&[1; 1024]);
        i.write(0, &[2; 1024 + 512]);
        // length kept, sector 0 kept, sector 1 lost, sector 2 (new) kept.
        let mut answers = [true, true, false, true].into_iter();
        let s = i.survivor(&mut || answers.next().unwrap());
        let mut want = vec![2u8; 512];
        want.extend([1u8; 512]);
        want.extend([2u8; 512]);
        assert_eq!(s.bytes(), &want[..]);
        // Length lost: the file ends where the synced one did.
        let mut answers = [false, true, true].into_iter();
        assert_eq!(i.survivor(&mut || answers.next().unwrap()).len(), 1024);
    }

    #[test]
    fn a_sector_changed_twice_reverts_to_its_synced_bytes() {
        let mut i = image(&[1; 600]);
        i.write(10, &[2; 5]);
        i.set_len(5);
        i.write(0, &[3; 700]);
        assert_eq!(i.survivor(&mut || false).bytes(), &[1; 600][..]);
    }
}
