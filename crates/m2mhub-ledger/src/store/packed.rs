//! Per-device counters packed [`CHUNK`] devices to a row: slot `id % CHUNK` of row
//! `id / CHUNK` holds device `id`'s `W` counters (little-endian `u64`s; the row ends after
//! its highest slot in use). A block updates every device it names, so with one row per
//! device a block of 4,096 messages among 1,000 devices did ~4,000 B-tree reads and writes
//! for the activity and hourly-rate tables (~6% of durable ingest, measured); packed, it does
//! ~64. An all-zero slot is a device without a row.

use super::corrupt;
use crate::error::Result;

/// Devices per packed row.
pub(super) const CHUNK: u32 = 64;

/// The row and the slot of device `id`.
pub(super) fn place(id: u32) -> (u32, usize) {
    (id / CHUNK, (id % CHUNK) as usize)
}

/// Device `id` of slot `slot` of row `row`.
pub(super) fn device(row: u32, slot: usize) -> u32 {
    row * CHUNK + slot as u32
}

fn check<const W: usize>(row: &[u8]) -> Result<()> {
    if !row.len().is_multiple_of(8 * W) || row.len() > 8 * W * CHUNK as usize {
        return Err(corrupt(format!(
            "packed row of {} bytes is not whole slots of {W} counters",
            row.len()
        )));
    }
    Ok(())
}

/// The counters in `slot` of `row` (zeros past its end).
pub(super) fn get<const W: usize>(row: &[u8], slot: usize) -> Result<[u64; W]> {
    check::<W>(row)?;
    let mut out = [0; W];
    if let Some(bytes) = row.get(slot * 8 * W..(slot + 1) * 8 * W) {
        for (o, b) in out.iter_mut().zip(bytes.chunks_exact(8)) {
            let mut a = [0; 8];
            a.copy_from_slice(b);
            *o = u64::from_le_bytes(a);
        }
    }
    Ok(out)
}

/// Sets `slot` of `row` to `v`, growing the row to reach it.
pub(super) fn set<const W: usize>(row: &mut Vec<u8>, slot: usize, v: [u64; W]) -> Result<()> {
    check::<W>(row)?;
    let end = (slot + 1) * 8 * W;
    if row.len() < end {
        row.resize(end, 0);
    }
    for (i, x) in v.iter().enumerate() {
        let at = slot * 8 * W + i * 8;
        row[at..at + 8].copy_from_slice(&x.to_le_bytes());
    }
    Ok(())
}

/// Every slot of `row` that is not all zeros, with its counters, in slot order.
pub(super) fn used<const W: usize>(row: &[u8]) -> Result<Vec<(usize, [u64; W])>> {
    check::<W>(row)?;
    let mut out = Vec::new();
    for slot in 0..row.len() / (8 * W) {
        let v = get::<W>(row, slot)?;
        if v != [0; W] {
            out.push((slot, v));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_round_trip_and_grow_the_row() -> Result<()> {
        let mut row = Vec::new();
        set::<2>(&mut row, 3, [7, 9])?;
        assert_eq!(row.len(), 4 * 16);
        assert_eq!(get::<2>(&row, 3)?, [7, 9]);
        assert_eq!(get::<2>(&row, 0)?, [0, 0]);
        assert_eq!(get::<2>(&row, 63)?, [0, 0]);
        set::<2>(&mut row, 1, [1, 0])?;
        assert_eq!(used::<2>(&row)?, vec![(1, [1, 0]), (3, [7, 9])]);
        assert_eq!(place(130), (2, 2));
        assert_eq!(device(2, 2), 130);
        Ok(())
    }

    #[test]
    fn a_torn_row_is_corrupt_not_misread() {
        assert!(get::<2>(&[0; 17], 0).is_err());
        assert!(used::<6>(&[0; 47]).is_err());
        assert!(get::<1>(&vec![0; 8 * 65], 0).is_err());
    }
}
