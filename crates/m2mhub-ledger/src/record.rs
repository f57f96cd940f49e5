//! The record of SPEC §5: a message entry as the API shows it.

use m2mhub_core::{entry::MessageEntry, hash::Hash, message::Action, notice::Notices};
use serde::{Deserialize, Serialize};

/// A recorded message, as returned by `POST /v1/messages` and the message queries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Record {
    /// Its index in the ledger.
    pub seq: u64,
    /// Its transaction.
    pub tx: u64,
    /// The transaction's provenance device; null when the transaction is unknown.
    pub provenance: Option<String>,
    /// Sender.
    pub sender: String,
    /// Receiver.
    pub receiver: String,
    /// begin, continue or end.
    pub action: Action,
    /// The seq of the message that caused it.
    pub cause: Option<u64>,
    /// The sender's counter.
    pub counter: u64,
    /// The contents; null once pruned by the retention policy.
    pub contents: Option<String>,
    /// True when no notice.
    pub valid: bool,
    /// Failed checks, in SPEC order.
    pub notices: Notices,
    /// Height of the block that holds it.
    pub block: u64,
    /// When that block was sealed, as its signed checkpoint says (`YYYY-MM-DDTHH:MM:SS.sssZ`);
    /// null for blocks sealed before checkpoints carried a time.
    pub time: Option<String>,
    /// Its Merkle leaf hash, hex.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[0-9a-f]{64}$"))]
    pub leaf_hash: String,
    /// True when this answers an exact resubmission of an already recorded message.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
}

impl Record {
    /// The record of message entry `m` at `seq`, in block `block` sealed at `time_ms` (signed).
    pub fn new(
        seq: u64,
        m: &MessageEntry,
        contents: Option<String>,
        (block, time_ms): (u64, Option<u64>),
        leaf: &Hash,
    ) -> Record {
        Record {
            seq,
            tx: m.tx.0,
            provenance: m.provenance.as_ref().map(|p| p.to_string()),
            sender: m.sender.to_string(),
            receiver: m.receiver.to_string(),
            action: m.action,
            cause: m.cause.map(|c| c.0),
            counter: m.counter,
            contents,
            valid: m.valid(),
            notices: m.notices,
            block,
            time: time_ms.map(format_time),
            leaf_hash: hex::encode(leaf),
            duplicate: false,
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS.sssZ` (RFC 3339, UTC, milliseconds), as SPEC §5 shows block times.
pub fn format_time(ms: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    humantime::format_rfc3339_millis(t).to_string()
}

/// Parses a query time: `YYYY-MM-DDTHH:MM:SS.sssZ` as records show it (what JavaScript's
/// `Date.prototype.toISOString()` gives), or without the fraction; `what` names the parameter
/// in the error.
pub fn parse_time(what: &str, s: &str) -> crate::Result<u64> {
    let bad = || {
        crate::LedgerError::BadQuery(format!(
            "{what} must be a UTC time like 2026-01-31T09:30:00.000Z or 2026-01-31T09:30:00Z, not {s:?}"
        ))
    };
    // humantime's strict RFC 3339 parser also takes other fraction lengths and leap seconds;
    // only the two shapes above are accepted.
    let shape_ok = s.len() == 20 || (s.len() == 24 && s.as_bytes().get(19) == Some(&b'.'));
    if !shape_ok || !s.ends_with('Z') {
        return Err(bad());
    }
    let t = humantime::parse_rfc3339(s).map_err(|_| bad())?;
    let ms = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| bad())?
        .as_millis();
    u64::try_from(ms).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_query_times_in_the_two_shapes_and_nothing_else() {
        assert_eq!(
            super::parse_time("from", "2025-11-29T21:00:00.123Z").ok(),
            Some(1_764_450_000_123)
        );
        assert_eq!(
            super::parse_time("from", "2025-11-29T21:00:00Z").ok(),
            Some(1_764_450_000_000)
        );
        for bad in [
            "",
            "yesterday",
            "2025-11-29",
            "2025-11-29T21:00:00",
            "2025-11-29T21:00:00.1Z",
            "2025-11-29T21:00:00+00:00",
            "2025-13-29T21:00:00.000Z",
            "1969-12-31T23:59:59.000Z",
        ] {
            let e = super::parse_time("from", bad).err().map(|e| e.to_string());
            assert!(e.is_some_and(|m| m.contains("from must be")), "{bad:?}");
        }
    }

    #[test]
    fn formats_block_times_as_the_spec_shows_them() {
        assert_eq!(super::format_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            super::format_time(1_764_450_000_123),
            "2025-11-29T21:00:00.123Z"
        );
    }
}
