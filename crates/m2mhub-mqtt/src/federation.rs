//! The MQTT side of a federation (SPEC §7): on a broker the members share, topics carry the
//! hub (`m2m/{hub}/out|ack|in/{name}`, [`Topics`]), a hub reads only its own devices'
//! outboxes, and delivers a record on the receiver's own hub's inbox topic. A message that
//! another member records goes through a [`ForwardHook`] (the server's forwarder) and its
//! device is answered with that member's record.

use std::{future::Future, pin::Pin, sync::Arc};

use m2mhub_client::wire::{Refusal, Topics};
use m2mhub_core::{message::Message, names::split_party};
use m2mhub_ledger::Record;

/// What the member that records a forwarded message answered: its record, or its refusal.
pub type Forwarded = Pin<Box<dyn Future<Output = Result<Record, Refusal>> + Send>>;

type ForwardFn = dyn Fn(&Message, &[u8]) -> Option<Forwarded> + Send + Sync;

/// Decides, for each decoded message (and its JSON as published), whether another member
/// records it: `None` to record it here, or the answer to come from that member (a refusal
/// at once when this hub, as the sender's hub, refuses to forward it). Queues the message
/// before it returns, so messages keep their order.
#[derive(Clone, Default)]
pub struct ForwardHook(Option<Arc<ForwardFn>>);

impl ForwardHook {
    /// A hook calling `f`.
    pub fn new(f: impl Fn(&Message, &[u8]) -> Option<Forwarded> + Send + Sync + 'static) -> Self {
        ForwardHook(Some(Arc::new(f)))
    }

    pub(crate) fn call(&self, m: &Message, json: &[u8]) -> Option<Forwarded> {
        self.0.as_ref().and_then(|f| f(m, json))
    }
}

impl std::fmt::Debug for ForwardHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "ForwardHook(set)"
        } else {
            "ForwardHook(none)"
        })
    }
}

/// The topic that delivers a record to its receiver: the receiver's own hub's inbox. A bare
/// receiver is a device of `recorded_by`, the hub whose ledger wrote the record (this hub when
/// `None`).
pub fn delivery_topic(topics: &Topics, recorded_by: Option<&str>, receiver: &str) -> String {
    let Some(here) = topics.hub() else {
        return topics.inbox(receiver);
    };
    let (name, hub) = split_party(receiver);
    let hub = hub.or(recorded_by).unwrap_or(here);
    Topics::of(Some(hub)).inbox(name)
}

/// True when `sender` (as a message names it) is the device `name` whose outbox carried it:
/// `name` itself for a hub on its own, `name@hub` (or bare `name`, a one-hub message) when
/// the topics carry the hub.
pub fn is_outbox_owner(topics: &Topics, sender: &str, name: &str) -> bool {
    match (split_party(sender), topics.hub()) {
        ((n, None), _) => n == name,
        ((n, Some(h)), Some(here)) => n == name && h == here,
        ((_, Some(_)), None) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_go_to_the_receivers_own_hub() {
        let home = Topics::of(Some("home"));
        assert_eq!(delivery_topic(&home, None, "tv"), "m2m/home/in/tv");
        assert_eq!(delivery_topic(&home, None, "lamp@grid"), "m2m/grid/in/lamp");
        // A record written by grid names grid's own devices bare.
        assert_eq!(
            delivery_topic(&home, Some("grid"), "lamp"),
            "m2m/grid/in/lamp"
        );
        assert_eq!(
            delivery_topic(&home, Some("grid"), "tv@home"),
            "m2m/home/in/tv"
        );
        assert_eq!(delivery_topic(&Topics::default(), None, "tv"), "m2m/in/tv");
    }

    #[test]
    fn only_the_outbox_owner_publishes_there() {
        let home = Topics::of(Some("home"));
        assert!(is_outbox_owner(&home, "tv@home", "tv"));
        assert!(is_outbox_owner(&home, "tv", "tv"));
        assert!(!is_outbox_owner(&home, "tv@grid", "tv"));
        assert!(!is_outbox_owner(&home, "radio@home", "tv"));
        assert!(!is_outbox_owner(&Topics::default(), "tv@home", "tv"));
    }
}
