//! The bytes a device signs with Ed25519 for each message (SPEC §4.1), and for its MQTT
//! CONNECT (SPEC §5.2).
//!
//! The layout, integers big-endian and strings UTF-8:
//!
//! ```text
//! "m2mhub/message/v1" 0x0A
//! u16 len(sender)   sender
//! u16 len(receiver) receiver
//! u8  action            (0 begin, 1 continue, 2 end)
//! u64 tx                (0 for begin)
//! u64 cause + 1         (0 when absent)
//! u64 counter
//! 32 bytes SHA-256(contents)
//! ```
//!
//! The contents enter only through their hash, so a device can sign a large payload it has
//! streamed through SHA-256 without holding it, and the hub can check a signature from the
//! hash it stores in the entry. Every field has a fixed width or a length prefix, so no two
//! distinct field sets share signing bytes. `testdata/signing-vectors.json`, written by an
//! independent Python model, pins the layout byte for byte.

use crate::hash::Hash;

/// The domain-separation prefix: a signature over one M2MHub message can never be replayed as
/// a signature over anything else this key signs (another version, a signed note, ...).
pub const MESSAGE_DOMAIN: &[u8] = b"m2mhub/message/v1\n";

/// The largest `cause` the signing bytes can carry: `cause + 1` must fit in a u64 because 0
/// stands for "no cause". Messages whose cause is `u64::MAX` are rejected when parsed, before
/// any signing bytes are built.
pub const MAX_CAUSE: u64 = u64::MAX - 1;

/// Bytes of the fixed-width part: domain, the two length prefixes, action, tx, cause,
/// counter and contents hash.
const FIXED_LEN: usize = MESSAGE_DOMAIN.len() + 2 + 2 + 1 + 8 + 8 + 8 + 32;

/// The fields a device signs, borrowed.
#[derive(Clone, Copy, Debug)]
pub struct SignedFields<'a> {
    /// The sending device's name (validated elsewhere: 1–64 ASCII characters).
    pub sender: &'a str,
    /// The receiving device's name (validated elsewhere: 1–64 ASCII characters).
    pub receiver: &'a str,
    /// 0 begin, 1 continue, 2 end.
    pub action: u8,
    /// The transaction id, 0 for a begin.
    pub tx: u64,
    /// The seq of the message that caused this one; at most [`MAX_CAUSE`].
    pub cause: Option<u64>,
    /// The sender's message counter.
    pub counter: u64,
    /// SHA-256 of the message contents.
    pub contents_hash: &'a Hash,
}

impl SignedFields<'_> {
    /// The length of [`Self::signing_bytes`], for callers that size buffers up front.
    pub fn signing_len(&self) -> usize {
        FIXED_LEN + self.sender.len() + self.receiver.len()
    }

    /// The exact bytes the sender signs.
    ///
    /// The caller must have validated the fields: names of at most 64 characters and a cause
    /// of at most [`MAX_CAUSE`] (debug builds assert both; see [`Self::write_signing_bytes`]).
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.signing_len());
        self.write_signing_bytes(&mut out);
        out
    }

    /// Appends [`Self::signing_bytes`] to `out`, so hot paths can reuse one buffer.
    ///
    /// Takes validated fields, like [`Self::signing_bytes`]. Should a cause of `u64::MAX` slip
    /// through a release build anyway, `cause + 1` saturates instead of wrapping: wrapping
    /// would give 0, the encoding of "no cause", and let the signature pass as one over a
    /// valid cause-less message, while saturation only collides with cause `u64::MAX - 1`,
    /// which names no entry of any real ledger either.
    pub fn write_signing_bytes(&self, out: &mut Vec<u8>) {
        debug_assert!(
            self.cause != Some(u64::MAX),
            "cause u64::MAX cannot be encoded as cause + 1"
        );
        out.reserve(self.signing_len());
        out.extend_from_slice(MESSAGE_DOMAIN);
        put_str(out, self.sender);
        put_str(out, self.receiver);
        out.push(self.action);
        out.extend_from_slice(&self.tx.to_be_bytes());
        let cause = self.cause.map_or(0, |c| c.saturating_add(1));
        out.extend_from_slice(&cause.to_be_bytes());
        out.extend_from_slice(&self.counter.to_be_bytes());
        out.extend_from_slice(self.contents_hash);
    }
}

/// The domain-separation prefix of a federated message (SPEC §7): a v1 signature never passes
/// for a v2 one, nor the reverse.
pub const MESSAGE_DOMAIN_V2: &[u8] = b"m2mhub/message/v2\n";

/// The fields a device signs in a federation (SPEC §7): those of [`SignedFields`], with sender
/// and receiver fully qualified (`name@hub`), and the transaction's home hub, which names the
/// one ledger the message may be recorded in:
///
/// ```text
/// "m2mhub/message/v2" 0x0A
/// u16 len(sender) sender    u16 len(receiver) receiver    u8 action
/// u64 tx    u16 len(tx_hub) tx_hub (empty for a begin)
/// u64 cause + 1    u64 counter    32 bytes SHA-256(contents)
/// ```
///
/// `testdata/signing-v2-vectors.json`, from the same independent Python model as v1 (and run
/// by the C and Python SDKs), pins the layout.
#[derive(Clone, Copy, Debug)]
pub struct FederatedFields<'a> {
    /// The v1 fields, with `sender` and `receiver` as `name@hub`.
    pub fields: SignedFields<'a>,
    /// The transaction's home hub; empty for a `begin`.
    pub tx_hub: &'a str,
}

impl FederatedFields<'_> {
    /// The length of [`Self::signing_bytes`].
    pub fn signing_len(&self) -> usize {
        self.fields.signing_len() - MESSAGE_DOMAIN.len()
            + MESSAGE_DOMAIN_V2.len()
            + 2
            + self.tx_hub.len()
    }

    /// The exact bytes the sender signs (fields validated as for [`SignedFields`], and a hub
    /// name of at most 64 characters).
    pub fn signing_bytes(&self) -> Vec<u8> {
        let f = &self.fields;
        debug_assert!(
            f.cause != Some(u64::MAX),
            "cause u64::MAX cannot be encoded"
        );
        let mut out = Vec::with_capacity(self.signing_len());
        out.extend_from_slice(MESSAGE_DOMAIN_V2);
        put_str(&mut out, f.sender);
        put_str(&mut out, f.receiver);
        out.push(f.action);
        out.extend_from_slice(&f.tx.to_be_bytes());
        put_str(&mut out, self.tx_hub);
        // Saturating for the reason given at `SignedFields::write_signing_bytes`.
        let cause = f.cause.map_or(0, |c| c.saturating_add(1));
        out.extend_from_slice(&cause.to_be_bytes());
        out.extend_from_slice(&f.counter.to_be_bytes());
        out.extend_from_slice(f.contents_hash);
        out
    }
}

/// The domain-separation prefix of a device's MQTT CONNECT password (SPEC §5.2): a password
/// can never pass for a message signature, nor a message signature for a password.
pub const CONNECT_DOMAIN: &[u8] = b"m2mhub/connect/v1\n";

/// The bytes a device signs to connect to the hub's broker at `unix_s` (SPEC §5.2), in the
/// manner of SPEC §4.1 (integers big-endian, strings UTF-8):
///
/// ```text
/// "m2mhub/connect/v1" 0x0A
/// u16 len(name) name
/// u64 unix seconds
/// ```
///
/// `name` is a validated device name (at most 64 characters).
/// `testdata/connect-vectors.json`, from an independent Python model, pins it byte for byte.
pub fn connect_signing_bytes(name: &str, unix_s: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(CONNECT_DOMAIN.len() + 2 + name.len() + 8);
    out.extend_from_slice(CONNECT_DOMAIN);
    put_str(&mut out, name);
    out.extend_from_slice(&unix_s.to_be_bytes());
    out
}

/// Writes `u16 len(s)` then `s`. Names are validated to 64 characters long before they get
/// here, so the length always fits a u16.
fn put_str(out: &mut Vec<u8>, s: &str) {
    debug_assert!(s.len() <= usize::from(u16::MAX), "name too long to encode");
    let len = u16::try_from(s.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::sha256;

    fn fields<'a>(h: &'a Hash) -> SignedFields<'a> {
        SignedFields {
            sender: "a",
            receiver: "bc",
            action: 1,
            tx: 0x0102_0304_0506_0708,
            cause: Some(5),
            counter: 9,
            contents_hash: h,
        }
    }

    #[test]
    fn layout_is_the_spec_layout() {
        let h = sha256(b"hi");
        let mut want = b"m2mhub/message/v1\n".to_vec();
        want.extend_from_slice(&[0, 1, b'a', 0, 2, b'b', b'c', 1]);
        want.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 6]);
        want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 9]);
        want.extend_from_slice(&h);
        let f = fields(&h);
        assert_eq!(f.signing_bytes(), want);
        assert_eq!(f.signing_len(), want.len());
    }

    #[test]
    fn absent_cause_is_zero_and_cause_zero_is_one() {
        let h = sha256(b"");
        let at = MESSAGE_DOMAIN.len() + 2 + 1 + 2 + 2 + 1 + 8;
        let absent = SignedFields {
            cause: None,
            ..fields(&h)
        }
        .signing_bytes();
        let zero = SignedFields {
            cause: Some(0),
            ..fields(&h)
        }
        .signing_bytes();
        assert_eq!(absent[at..at + 8], [0; 8]);
        assert_eq!(zero[at..at + 8], [0, 0, 0, 0, 0, 0, 0, 1]);
        let max = SignedFields {
            cause: Some(MAX_CAUSE),
            ..fields(&h)
        }
        .signing_bytes();
        assert_eq!(max[at..at + 8], [0xff; 8]);
    }

    #[test]
    fn write_appends() {
        let h = sha256(b"x");
        let f = fields(&h);
        let mut out = b"prefix".to_vec();
        f.write_signing_bytes(&mut out);
        assert_eq!(&out[..6], b"prefix");
        assert_eq!(out[6..], f.signing_bytes()[..]);
    }

    #[test]
    fn moving_a_byte_between_names_changes_the_bytes() {
        // The length prefixes keep ("ab", "c") and ("a", "bc") apart.
        let h = sha256(b"");
        let one = SignedFields {
            sender: "ab",
            receiver: "c",
            ..fields(&h)
        };
        let two = SignedFields {
            sender: "a",
            receiver: "bc",
            ..fields(&h)
        };
        assert_ne!(one.signing_bytes(), two.signing_bytes());
    }

    #[test]
    fn connect_layout_is_the_spec_layout() {
        let mut want = b"m2mhub/connect/v1\n".to_vec();
        want.extend_from_slice(&[0, 3, b'a', b'-', b'1']);
        want.extend_from_slice(&[0, 0, 0, 0, 0x65, 0x53, 0xf1, 0x00]);
        assert_eq!(connect_signing_bytes("a-1", 1_700_000_000), want);
        assert_ne!(
            connect_signing_bytes("a", 1),
            connect_signing_bytes("a", 256)
        );
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "cause u64::MAX")]
    fn cause_max_is_a_caller_bug() {
        let h = sha256(b"");
        let _ = SignedFields {
            cause: Some(u64::MAX),
            ..fields(&h)
        }
        .signing_bytes();
    }
}
