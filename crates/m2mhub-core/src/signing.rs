//! Placeholder until the signing module lands (being written in parallel).
use crate::hash::Hash;
#[derive(Clone, Copy, Debug)]
pub struct SignedFields<'a> {
    pub sender: &'a str,
    pub receiver: &'a str,
    pub action: u8,
    pub tx: u64,
    pub cause: Option<u64>,
    pub counter: u64,
    pub contents_hash: &'a Hash,
}
impl SignedFields<'_> {
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut out = b"m2mhub/message/v1\n".to_vec();
        out.extend_from_slice(&(self.sender.len() as u16).to_be_bytes());
        out.extend_from_slice(self.sender.as_bytes());
        out.extend_from_slice(&(self.receiver.len() as u16).to_be_bytes());
        out.extend_from_slice(self.receiver.as_bytes());
        out.push(self.action);
        out.extend_from_slice(&self.tx.to_be_bytes());
        out.extend_from_slice(&self.cause.map_or(0, |c| c + 1).to_be_bytes());
        out.extend_from_slice(&self.counter.to_be_bytes());
        out.extend_from_slice(self.contents_hash);
        out
    }
}
