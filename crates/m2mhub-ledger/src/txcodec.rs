//! The stored form of a transaction's state (a projection of the ledger, rebuilt by replay).
//!
//! `u8 status (0 open, 1 closed, 2 rejected) ‖ u16 n ‖ n × (u16 len ‖ name)`, provenance first,
//! then the other participants sorted.

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
    out.extend_from_slice(&((others.len() + 1) as u16).to_be_bytes());
    for name in std::iter::once(&s.provenance).chain(others) {
        out.extend_from_slice(&(name.as_str().len() as u16).to_be_bytes());
        out.extend_from_slice(name.as_str().as_bytes());
    }
    out
}

/// Decodes a transaction state.
pub fn decode(b: &[u8]) -> Result<TxState> {
    let corrupt = || LedgerError::Corrupt("bad transaction state row".into());
    let (&status, rest) = b.split_first().ok_or_else(corrupt)?;
    let status = match status {
        0 => TxStatus::Open,
        1 => TxStatus::Closed,
        2 => TxStatus::Rejected,
        _ => return Err(corrupt()),
    };
    let n = u16::from_be_bytes(
        rest.get(..2)
            .ok_or_else(corrupt)?
            .try_into()
            .map_err(|_| corrupt())?,
    );
    let mut pos = 2;
    let mut names = Vec::with_capacity(usize::from(n));
    for _ in 0..n {
        let len = rest.get(pos..pos + 2).ok_or_else(corrupt)?;
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        let raw = rest.get(pos + 2..pos + 2 + len).ok_or_else(corrupt)?;
        let s = std::str::from_utf8(raw).map_err(|_| corrupt())?;
        names.push(DeviceName::new(s).map_err(|_| corrupt())?);
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
}
