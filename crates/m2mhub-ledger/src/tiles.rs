//! The ledger as a C2SP tlog-tiles log (SPEC §7): its Merkle tree as tiles of 256 hashes and
//! its entries as bundles, each read from one snapshot with O(1) row reads.
//!
//! A tile's hashes are stored hashes already (Go tlog's layout, `m2mhub_core::merkle::stored`):
//! hash `i` of tile `(L, N)` is the root of the complete subtree at height `8L` whose index is
//! `N * 256 + i`, so serving a tile reads at most 256 stored hashes (a few 4 KiB rows) and
//! hashes nothing. Partial tiles (width `W` < 256) are served whenever the tree holds their
//! hashes: they are as immutable as full ones, since a tile of width `W` means the same bytes
//! in every tree that contains it.

use m2mhub_core::merkle::{HashReader, stored_hash_index};

use crate::{
    error::{LedgerError, Result},
    ledger::Ledger,
};

/// Hashes (or entries) in a full tile.
pub const TILE_WIDTH: u64 = 256;

/// What a `tile/…` path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tile {
    /// `tile/<L>/<N>[.p/<W>]`: hashes of level `L`.
    Hashes {
        /// The tile's level (0: leaf hashes).
        level: u8,
        /// Its index within the level.
        index: u64,
        /// Hashes it holds: 256 for a full tile.
        width: u16,
    },
    /// `tile/entries/<N>[.p/<W>]`: an entry bundle.
    Entries {
        /// Its index (entries `256 N ..`).
        index: u64,
        /// Entries it holds: 256 for a full bundle.
        width: u16,
    },
}

/// A decimal number with no leading zeroes ("0" itself allowed), within `max`.
fn decimal(s: &str, max: u64) -> Option<u64> {
    if s.is_empty() || (s.len() > 1 && s.starts_with('0')) || !s.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    s.parse::<u64>().ok().filter(|&v| v <= max)
}

impl Tile {
    /// Parses the part of a URL after `tile/`, exactly as C2SP tlog-tiles writes it: `<L>` or
    /// `entries`, then `<N>` in zero-padded 3-digit elements, all but the last prefixed with
    /// `x`, then optionally `.p/<W>` with `W` in 1..=255. Anything else is `None`.
    pub fn parse(path: &str) -> Option<Tile> {
        let (head, rest) = path.split_once('/')?;
        let (index_part, width) = match rest.split_once(".p/") {
            Some((n, w)) => (n, u16::try_from(decimal(w, 255).filter(|&w| w >= 1)?).ok()?),
            None => (rest, TILE_WIDTH as u16),
        };
        let elements: Vec<&str> = index_part.split('/').collect();
        // u64 needs at most seven 3-digit elements.
        if elements.len() > 7 {
            return None;
        }
        let (last, firsts) = elements.split_last()?;
        let mut index: u64 = 0;
        for (i, e) in firsts
            .iter()
            .map(|e| e.strip_prefix('x'))
            .chain([Some(*last)])
            .enumerate()
        {
            let e = e?;
            if e.len() != 3 || !e.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            // The first element may not be all zeroes when more follow ("x000/001" is "001").
            if i == 0 && !firsts.is_empty() && e == "000" {
                return None;
            }
            // An index past u64 names a tile no tree holds: kept as u64::MAX, which
            // `needs_leaves` finds beyond every tree (404, not a malformed path).
            let group = e.parse::<u64>().ok()?;
            index = index
                .checked_mul(1000)
                .and_then(|i| i.checked_add(group))
                .unwrap_or(u64::MAX);
        }
        if head == "entries" {
            return Some(Tile::Entries { index, width });
        }
        let level = u8::try_from(decimal(head, 63)?).ok()?;
        Some(Tile::Hashes {
            level,
            index,
            width,
        })
    }

    /// The path after `tile/`, the inverse of [`Tile::parse`].
    pub fn path(&self) -> String {
        let (head, index, width) = match *self {
            Tile::Hashes {
                level,
                index,
                width,
            } => (level.to_string(), index, width),
            Tile::Entries { index, width } => ("entries".to_owned(), index, width),
        };
        let digits = index.to_string();
        let pad = (3 - digits.len() % 3) % 3;
        let padded = format!("{}{digits}", "0".repeat(pad));
        let groups: Vec<&str> = padded
            .as_bytes()
            .chunks(3)
            .map(|c| std::str::from_utf8(c).unwrap_or(""))
            .collect();
        let (last, firsts) = groups
            .split_last()
            .map_or(("000", &[][..]), |(l, f)| (*l, f));
        let mut out = head;
        for g in firsts {
            out.push_str("/x");
            out.push_str(g);
        }
        out.push('/');
        out.push_str(last);
        if u64::from(width) != TILE_WIDTH {
            out.push_str(&format!(".p/{width}"));
        }
        out
    }

    /// True for a full tile or bundle (256 wide): immutable and cacheable for ever.
    pub fn is_full(&self) -> bool {
        let (Tile::Hashes { width, .. } | Tile::Entries { width, .. }) = *self;
        u64::from(width) == TILE_WIDTH
    }

    /// The leaves a tree must hold for this tile to exist: `(N * 256 + W) * 256^L`, or `None`
    /// when that exceeds any tree.
    pub fn needs_leaves(&self) -> Option<u64> {
        let (level, index, width) = match *self {
            Tile::Hashes {
                level,
                index,
                width,
            } => (level, index, width),
            Tile::Entries { index, width } => (0, index, width),
        };
        let units = index
            .checked_mul(TILE_WIDTH)?
            .checked_add(u64::from(width))?;
        units.checked_mul(1u64.checked_shl(8 * u32::from(level))?)
    }
}

impl Ledger {
    /// The bytes of `tile` (C2SP tlog-tiles): 32-byte hashes, or u16-length-prefixed entry
    /// bytes; [`LedgerError::NotFound`] when the tree does not hold it yet.
    pub fn tile(&self, tile: Tile) -> Result<Vec<u8>> {
        let snap = self.snapshot()?;
        let size = snap.size()?;
        let missing = || {
            LedgerError::NotFound(format!(
                "tile/{} is not in the tree of size {size}",
                tile.path()
            ))
        };
        let needs = tile.needs_leaves().ok_or_else(missing)?;
        if needs > size {
            return Err(missing());
        }
        match tile {
            Tile::Hashes {
                level,
                index,
                width,
            } => {
                let height = 8 * u32::from(level);
                let first = index * TILE_WIDTH;
                let indexes: Vec<u64> = (first..first + u64::from(width))
                    .map(|n| stored_hash_index(height, n))
                    .collect();
                let hashes = snap
                    .read_hashes(&indexes)
                    .map_err(|e| LedgerError::Storage(e.to_string()))?;
                Ok(hashes.concat())
            }
            Tile::Entries { index, width } => {
                let first = index * TILE_WIDTH;
                let entries = snap.entries(first, first + u64::from(width))?;
                let mut out = Vec::with_capacity(entries.iter().map(|(_, e)| e.len() + 2).sum());
                for (seq, e) in entries {
                    let len = u16::try_from(e.len()).map_err(|_| {
                        LedgerError::Corrupt(format!(
                            "entry {seq} is longer than an entry bundle allows"
                        ))
                    })?;
                    out.extend_from_slice(&len.to_be_bytes());
                    out.extend_from_slice(&e);
                }
                Ok(out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip_as_c2sp_writes_them() {
        let cases = [
            (
                "0/000",
                Tile::Hashes {
                    level: 0,
                    index: 0,
                    width: 256,
                },
            ),
            (
                "1/x001/x234/067",
                Tile::Hashes {
                    level: 1,
                    index: 1_234_067,
                    width: 256,
                },
            ),
            (
                "0/272.p/112",
                Tile::Hashes {
                    level: 0,
                    index: 272,
                    width: 112,
                },
            ),
            (
                "2/000.p/1",
                Tile::Hashes {
                    level: 2,
                    index: 0,
                    width: 1,
                },
            ),
            (
                "entries/x001/000",
                Tile::Entries {
                    index: 1000,
                    width: 256,
                },
            ),
            (
                "entries/005.p/255",
                Tile::Entries {
                    index: 5,
                    width: 255,
                },
            ),
            (
                "63/999",
                Tile::Hashes {
                    level: 63,
                    index: 999,
                    width: 256,
                },
            ),
        ];
        for (path, tile) in cases {
            assert_eq!(Tile::parse(path), Some(tile), "{path}");
            assert_eq!(tile.path(), path);
        }
    }

    #[test]
    fn malformed_paths_are_refused() {
        for bad in [
            "",
            "0",
            "0/",
            "00/000",
            "64/000",
            "0/0",
            "0/0000",
            "0/x000/001",
            "0/001/002",
            "0/x01/002",
            "0/000.p/0",
            "0/000.p/256",
            "0/000.p/01",
            "0/000.p/",
            "0/abc",
            "entries/",
            "entries/12",
            "-1/000",
            "0/000.p/1/2",
            "0/x001",
            "0/X001/002",
        ] {
            assert_eq!(Tile::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_tile_needs_its_leaves() {
        let t = |level, index, width| {
            Tile::Hashes {
                level,
                index,
                width,
            }
            .needs_leaves()
        };
        // C2SP's example: a tree of 70,000 leaves has 273 full level-0 tiles, one of width 112,
        // one full level-1 tile, one level-1 tile of width 17 and one level-2 tile of width 1.
        assert_eq!(t(0, 272, 256), Some(69_888));
        assert_eq!(t(0, 273, 112), Some(70_000));
        assert_eq!(t(1, 0, 256), Some(65_536));
        assert_eq!(t(1, 0, 17), Some(17 * 256));
        assert_eq!(t(2, 0, 1), Some(65_536));
        assert_eq!(t(8, 0, 1), None);
        assert_eq!(t(0, u64::MAX, 1), None);
        // Well formed but beyond u64: a tile no tree holds.
        let huge = Tile::parse("0/x999/x999/x999/x999/x999/x999/999").unwrap();
        assert_eq!(huge.needs_leaves(), None);
    }
}
