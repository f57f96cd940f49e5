//! The stored form of a transaction's state (a projection of the ledger, rebuilt by replay).
//!
//! `u8 status (0 open, 1 closed, 2 rejected) ‖ u32 n ‖ n × (u16 len ‖ name)`, provenance first,
//! then the other participants sorted. (Store format v3 had a `u16 n`, which wrapped past
//! 65,535 participants; [`decode_v3`] reads it for the migration.)

use m2mhub_core::{
    names::DeviceName,
    rules::{TxState, TxStatus},
};

use crate::error::{LedgerError, Result};

/// Encodes a transaction state.
pub fn encode(s: &TxState) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + 16 * s.participants.len());
    out.push(match s.status {
        TxStatus::Open => 0,
        TxStatus::Closed => 1,
        TxStatus::Rejected => 2,
    });
    let others: Vec<&DeviceName> = s
        .participants
        .iter()
        .filter(|p| **p != s.provenance)
        .collect();
    // A participant is a registered device, and device ids are u32 (store.rs), so the count
    // fits.
    let n = u32::try_from(others.len() + 1).unwrap_or(u32::MAX);
    out.extend_from_slice(&n.to_be_bytes());
    for name in std::iter::once(&s.provenance).chain(others) {
        out.extend_from_slice(&(name.as_str().len() as u16).to_be_bytes());
        out.extend_from_slice(name.as_str().as_bytes());
    }
    out
}

/// Decodes a transaction state.
pub fn decode(b: &[u8]) -> Result<TxState> {
    decode_with(b, 4)
}

/// Decodes a transaction state as store format v3 wrote it (a `u16` count).
pub fn decode_v3(b: &[u8]) -> Result<TxState> {
    decode_with(b, 2)
}

/// Decodes a state whose participant count takes `count_bytes` bytes (2 or 4).
fn decode_with(b: &[u8], count_bytes: usize) -> Result<TxState> {
    let corrupt = || LedgerError::Corrupt("bad transaction state row".into());
    let (&status, rest) = b.split_first().ok_or_else(corrupt)?;
    let status = match status {
        0 => TxStatus::Open,
        1 => TxStatus::Closed,
        2 => TxStatus::Rejected,
        _ => return Err(corrupt()),
    };
    let n = rest
        .get(..count_bytes)
        .ok_or_else(corrupt)?
        .iter()
        .fold(0u64, |n, b| n << 8 | u64::from(*b));
    let mut pos = count_bytes;
    // Each name takes at least 3 bytes: a larger count is damage, not a reason to allocate.
    let mut names = Vec::with_capacity(usize::try_from(n).unwrap_or(0).min(rest.len() / 3));
    for _ in 0..n {
        let len = rest.get(pos..pos + 2).ok_or_else(corrupt)?;
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        let raw = rest.get(pos + 2..pos + 2 + len).ok_or_else(corrupt)?;
        let s = std::str::from_utf8(raw).map_err(|_| corrupt())?;
        names.push(DeviceName::party(s).map_err(|_| corrupt())?);
        pos += 2 + len;
    }
    if pos != rest.len() || names.is_empty() {
        return Err(corrupt());
    }
    let provenance = names[0].clone();
    names.sort();
    Ok(TxState {
        provenance,
        status,
        participants: names,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let n = |s: &str| DeviceName::new(s).unwrap();
        let s = TxState {
            provenance: n("m"),
            status: TxStatus::Closed,
            participants: vec![n("a"), n("m"), n("z")],
        };
        assert_eq!(decode(&encode(&s)).unwrap(), s);
        assert!(decode(&encode(&s)[..5]).is_err());
    }

    #[test]
    fn counts_more_than_65535_participants() {
        let n = |s: &str| DeviceName::new(s).unwrap();
        let mut participants: Vec<DeviceName> = (0..70_000).map(|i| n(&format!("d{i}"))).collect();
        participants.sort();
        let s = TxState {
            provenance: n("d0"),
            status: TxStatus::Open,
            participants,
        };
        assert_eq!(decode(&encode(&s)).unwrap(), s);
    }

    #[test]
    fn reads_the_v3_row() {
        // Open, 2 participants, provenance "m" first.
        let v3 = [0, 0, 2, 0, 1, b'm', 0, 1, b'a'];
        let s = decode_v3(&v3).unwrap();
        assert_eq!(s.provenance.as_str(), "m");
        assert_eq!(s.participants.len(), 2);
        assert!(decode(&v3).is_err());
    }
}
