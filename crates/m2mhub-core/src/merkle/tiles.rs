//! C2SP tlog-tiles built from leaf hashes (SPEC §7): what a mirror or an outside verifier
//! computes to check the tiles a hub serves, independently of the hub's stored hashes.
//!
//! A tile at level `L` holds up to 256 hashes, each the root of a complete subtree of `256^L`
//! leaves; a full tile at level `L` is, hashed as a perfect tree, one hash of level `L + 1`.
//! [`TileBuilder`] keeps the rightmost (partial) tile of every level, at most 255 hashes
//! each, hands out every tile that fills, and computes the tree's root from the partial ones
//! (RFC 9162's split points fall on tile boundaries, because the complete subtrees of a level
//! are all the same power of two and the remainder is smaller than one).

use super::{empty_root, node_hash};
use crate::hash::Hash;

/// Hashes in a full tile.
pub const TILE_WIDTH: usize = 256;

/// The root of a perfect tree over `hashes` (a power-of-two count, at least one).
fn perfect_root(hashes: &[Hash]) -> Hash {
    debug_assert!(hashes.len().is_power_of_two());
    let mut level: Vec<Hash> = hashes.to_vec();
    while level.len() > 1 {
        level = level.chunks(2).map(|p| node_hash(&p[0], &p[1])).collect();
    }
    level[0]
}

/// The largest power of two smaller than `n` (`n` ≥ 2).
fn split(n: usize) -> usize {
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// Builds the tiles of a growing tree from its leaf hashes; see the module documentation.
#[derive(Clone, Debug, Default)]
pub struct TileBuilder {
    size: u64,
    /// `partial[l]`: the hashes of the rightmost, not yet full tile of level `l`.
    partial: Vec<Vec<Hash>>,
}

impl TileBuilder {
    /// The builder of the empty tree.
    pub fn new() -> TileBuilder {
        TileBuilder::default()
    }

    /// The builder of the tree of `size` leaves whose partial tiles are `partial` (level 0
    /// first; level `l` must hold `(size / 256^l) % 256` hashes, and none above the top).
    /// `None` when the widths do not fit `size`.
    pub fn resume(size: u64, partial: Vec<Vec<Hash>>) -> Option<TileBuilder> {
        let b = TileBuilder { size, partial };
        (b.partial.len() <= 8
            && (0..8).all(|l| b.partial.get(l).map_or(0, Vec::len) == partial_width(size, l)))
        .then_some(b)
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash; calls `full(level, index, hashes)` for every tile it fills, lowest
    /// level first.
    pub fn push(&mut self, leaf: Hash, mut full: impl FnMut(u8, u64, &[Hash])) {
        let mut hash = leaf;
        let mut level = 0usize;
        loop {
            if self.partial.len() == level {
                self.partial.push(Vec::with_capacity(TILE_WIDTH));
            }
            self.partial[level].push(hash);
            if self.partial[level].len() < TILE_WIDTH {
                break;
            }
            let tiles = std::mem::take(&mut self.partial[level]);
            // Tiles filled at this level so far: the new size divided by 256^(level + 1).
            let index = (self.size + 1) >> (8 * (level + 1)) as u32;
            full(level as u8, index - 1, &tiles);
            hash = perfect_root(&tiles);
            level += 1;
        }
        self.size += 1;
    }

    /// The partial (non-empty, less than 256 wide) tiles of the tree, `(level, index,
    /// hashes)`, lowest level first.
    pub fn partial_tiles(&self) -> impl Iterator<Item = (u8, u64, &[Hash])> + '_ {
        self.partial
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.is_empty())
            .map(|(l, p)| (l as u8, self.size >> (8 * (l + 1)) as u32, p.as_slice()))
    }

    /// The tree's root (RFC 9162 MTH); [`empty_root`] for the empty tree.
    pub fn root(&self) -> Hash {
        let mut below: Option<Hash> = None;
        for p in &self.partial {
            let mut items = p.clone();
            items.extend(below);
            below = (!items.is_empty()).then(|| mth_items(&items));
        }
        below.unwrap_or_else(empty_root)
    }
}

/// RFC 9162's MTH over `items`, taking each item as an already hashed subtree (at least one).
fn mth_items(items: &[Hash]) -> Hash {
    if items.len() == 1 {
        return items[0];
    }
    let k = split(items.len());
    node_hash(&mth_items(&items[..k]), &mth_items(&items[k..]))
}

/// The width of the partial tile of level `level` in a tree of `size` leaves.
pub fn partial_width(size: u64, level: usize) -> usize {
    u32::try_from(8 * level)
        .ok()
        .and_then(|s| size.checked_shr(s))
        .map_or(0, |v| (v % TILE_WIDTH as u64) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{Frontier, leaf_hash};

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    #[test]
    fn roots_match_the_frontier_at_every_size_and_across_levels() {
        let all = leaves(66_000);
        let mut b = TileBuilder::new();
        let mut f = Frontier::new();
        let mut scratch = Vec::new();
        let mut full = Vec::new();
        assert_eq!(b.root(), f.root());
        for (i, leaf) in all.iter().enumerate() {
            b.push(*leaf, |l, n, h| full.push((l, n, h.len())));
            f.push(*leaf, &mut scratch);
            let size = i as u64 + 1;
            if size < 600 || size.is_multiple_of(997) || size >= 65_530 {
                assert_eq!(b.root(), f.root(), "size {size}");
            }
        }
        // 257 full tiles at level 0 (66,000 / 256), 1 at level 1 (65,536 leaves).
        assert_eq!(full.iter().filter(|t| t.0 == 0).count(), 257);
        assert_eq!(
            full.iter().filter(|t| t.0 == 1).collect::<Vec<_>>(),
            [&(1, 0, 256)]
        );
        assert_eq!(full[255], (0, 255, 256));
        let partial: Vec<(u8, u64, usize)> =
            b.partial_tiles().map(|(l, n, h)| (l, n, h.len())).collect();
        // 66,000 = 257 × 256 + 208: level 0 tile 257 of width 208, level 1 tile 1 of width 1
        // (tile 0 of level 1 is full: its hash went to level 2), level 2 tile 0 of width 1.
        assert_eq!(partial, [(0, 257, 208), (1, 1, 1), (2, 0, 1)]);
        // Resuming from the partial tiles gives the same tree, and it grows the same.
        let copy: Vec<Vec<Hash>> = (0..3).map(|l| b.partial[l].clone()).collect();
        let mut r = TileBuilder::resume(66_000, copy).unwrap();
        assert_eq!(r.root(), b.root());
        r.push(all[0], |_, _, _| {});
        b.push(all[0], |_, _, _| {});
        assert_eq!(r.root(), b.root());
        assert!(TileBuilder::resume(66_000, vec![vec![[0; 32]; 207]]).is_none());
    }

    #[test]
    fn splits_are_the_largest_power_of_two_below() {
        assert_eq!(split(2), 1);
        assert_eq!(split(3), 2);
        assert_eq!(split(256), 128);
        assert_eq!(split(257), 256);
    }
}
