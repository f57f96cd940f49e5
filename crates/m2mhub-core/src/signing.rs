//! What a device signs (SPEC §4.1): a domain line, then the message's fields in fixed-width
//! big-endian form, with the contents committed by SHA-256.

use crate::hash::Hash;

/// The first bytes of every signed message: the domain and format version.
pub const MESSAGE_DOMAIN: &[u8] = b"m2mhub/message/v1\n";

/// The fields a device signs, borrowed.
#[derive(Clone, Copy, Debug)]
pub struct SignedFields<'a> {
    /// Sender name (at most 64 bytes, validated by the caller).
    pub sender: &'a str,
    /// Receiver name.
    pub receiver: &'a str,
    /// 0 begin, 1 continue, 2 end.
    pub action: u8,
    /// The named transaction; 0 for begin.
    pub tx: u64,
    /// The cause's seq; `u64::MAX` cannot be encoded (it is refused as malformed earlier).
    pub cause: Option<u64>,
    /// The sender's counter.
    pub counter: u64,
    /// SHA-256 of the contents.
    pub contents_hash: &'a Hash,
}

impl SignedFields<'_> {
    /// The exact bytes of SPEC §4.1.
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MESSAGE_DOMAIN.len() + 4 + self.sender.len() + self.receiver.len() + 57);
        self.write_signing_bytes(&mut out);
        out
    }

    /// Appends the bytes of SPEC §4.1 to `out`.
    pub fn write_signing_bytes(&self, out: &mut Vec<u8>) {
        debug_assert!(self.cause != Some(u64::MAX), "cause + 1 overflows");
        out.extend_from_slice(MESSAGE_DOMAIN);
        // Names are at most 64 bytes, so their lengths fit a u16.
        out.extend_from_slice(&(self.sender.len() as u16).to_be_bytes());
        out.extend_from_slice(self.sender.as_bytes());
        out.extend_from_slice(&(self.receiver.len() as u16).to_be_bytes());
        out.extend_from_slice(self.receiver.as_bytes());
        out.push(self.action);
        out.extend_from_slice(&self.tx.to_be_bytes());
        out.extend_from_slice(&self.cause.map_or(0, |c| c.wrapping_add(1)).to_be_bytes());
        out.extend_from_slice(&self.counter.to_be_bytes());
        out.extend_from_slice(self.contents_hash);
    }
}
