//! Who may connect to the embedded broker and what they may do there (SPEC §5.2).
//!
//! A device connects with username = its name and password = `<unix seconds>.<hex
//! signature>`, checked by `m2mhub_core::auth::check_connect` (the ZIP 215 rule, the
//! device's current key, ±300 s of the hub's clock) against the registry the ledger has
//! published. Once connected it may publish only on `m2m/out/{name}` and subscribe only to
//! `m2m/ack/{name}` and `m2m/in/{name}`: the broker asks [`DeviceTopics`] about every publish
//! and every subscription filter of the connection, so no client can get around it.
//!
//! The hub itself connects with [`HUB_USERNAME`] and a secret drawn at start-up, which is never
//! written anywhere; `$` is no character of a device name, so no device can claim that
//! username. Client ids are bound to names, so that no client takes over another's session
//! (its subscriptions, its queued messages): a device's client id is its name or its name, `:`
//! and any suffix (several connections of one device), or empty (the broker assigns a random
//! one); the hub's client id is the hub's alone.
//!
//! Every refusal is told to the [`RefusalHook`] (a security event, SPEC §3.2) with the client
//! id as its source, and charged to the peer's address in the [`ConnectThrottle`]; while that
//! address has spent its allowance, its CONNECTs are refused before any signature is checked.

use std::{
    net::IpAddr,
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use m2mhub_client::wire::Topics;
use m2mhub_core::auth::{ConnectRefusal, check_connect};
use m2mhub_ledger::Ledger;
use rumqttd::{Authorizer, ConnectRequest, protocol::ConnectReturnCode};
use subtle::ConstantTimeEq;

use crate::{MqttRefusal, RefusalHook};

/// The username the hub connects to its embedded broker with.
pub const HUB_USERNAME: &str = "$m2mhub";

/// Failures per source address: the HTTP API's authentication-failure throttle, shared.
pub trait ConnectThrottle: Send + Sync {
    /// Whether `peer` may still try (its allowance is not spent).
    fn allows(&self, peer: IpAddr) -> bool;
    /// Charges one failure to `peer`.
    fn failed(&self, peer: IpAddr);
}

/// What the embedded broker checks CONNECTs against.
#[derive(Clone)]
pub struct BrokerAuth {
    /// Whose registry (published at each block) names the devices and their current keys.
    pub ledger: Arc<Ledger>,
    /// The hub's client id: no device may take it.
    pub hub_client_id: String,
    /// Told of every refusal.
    pub on_refusal: RefusalHook,
    /// Charged with every refusal, if any.
    pub throttle: Option<Arc<dyn ConnectThrottle>>,
    /// The topics devices get: `m2m/{hub}/…` for a federation member (SPEC §7).
    pub topics: Topics,
}

impl std::fmt::Debug for BrokerAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerAuth")
            .field("hub_client_id", &self.hub_client_id)
            .field("throttle", &self.throttle.is_some())
            .finish_non_exhaustive()
    }
}

/// A refusal on its way to the hook and the throttle.
struct Refused<'a> {
    client_id: &'a str,
    sender: Option<&'a str>,
    code: &'static str,
    message: String,
}

impl BrokerAuth {
    /// Decides one CONNECT; `hub_secret` is the password the hub's own connection carries.
    pub(crate) fn connect(
        &self,
        req: &ConnectRequest<'_>,
        hub_secret: &str,
    ) -> Result<Option<Arc<dyn Authorizer>>, ConnectReturnCode> {
        let peer = req.peer.ip();
        let user = req.login.map(|l| l.username.as_str());
        let is_hub = req.login.is_some_and(|l| {
            l.username == HUB_USERNAME
                && bool::from(l.password.as_bytes().ct_eq(hub_secret.as_bytes()))
        });
        if is_hub {
            return Ok(None);
        }
        let refuse = |code: ConnectReturnCode, r: Refused<'_>| {
            self.refused(peer, &r);
            Err(code)
        };
        if self.throttle.as_ref().is_some_and(|t| !t.allows(peer)) {
            // Not charged again: that would keep a source out for good.
            self.on_refusal.call(&MqttRefusal {
                source: req.client_id,
                sender: user,
                code: "too_many_failures",
                message: "too many refused connections from this address; try again later",
            });
            return Err(ConnectReturnCode::ServerBusy);
        }
        let Some(login) = req.login else {
            return refuse(
                ConnectReturnCode::BadUserNamePassword,
                Refused {
                    client_id: req.client_id,
                    sender: None,
                    code: "malformed",
                    message: "no username and password: the username is the device's name, \
                              the password <unix seconds>.<hex signature> (SPEC §5.2)"
                        .into(),
                },
            );
        };
        let now_s = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let view = self.ledger.view();
        let checked = check_connect(
            &view.registry.registry,
            &login.username,
            &login.password,
            now_s,
        );
        if let Err(e) = checked {
            let code = match e {
                ConnectRefusal::Revoked(_) => ConnectReturnCode::Banned,
                _ => ConnectReturnCode::BadUserNamePassword,
            };
            return refuse(
                code,
                Refused {
                    client_id: req.client_id,
                    sender: Some(&login.username),
                    code: e.code(),
                    message: e.to_string(),
                },
            );
        }
        let name = login.username.as_str();
        let bound = req.client_id.is_empty()
            || req.client_id == name
            || req
                .client_id
                .strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(':'));
        if !bound || req.client_id == self.hub_client_id {
            return refuse(
                ConnectReturnCode::ClientIdentifierNotValid,
                Refused {
                    client_id: req.client_id,
                    sender: Some(name),
                    code: "bad_client_id",
                    message: format!(
                        "device {name}'s client id must be {name}, {name}:<anything> or empty"
                    ),
                },
            );
        }
        let topics = DeviceTopics {
            name: name.to_owned(),
            client_id: req.client_id.to_owned(),
            out: self.topics.out(name),
            ack: self.topics.ack(name),
            inbox: self.topics.inbox(name),
            peer,
            auth: self.clone(),
        };
        if let Some(will) = req.will_topic
            && will != topics.out.as_bytes()
        {
            return refuse(
                ConnectReturnCode::NotAuthorized,
                Refused {
                    client_id: req.client_id,
                    sender: Some(name),
                    code: "forbidden_topic",
                    message: format!(
                        "device {name} may not leave a last will on {}",
                        String::from_utf8_lossy(will)
                    ),
                },
            );
        }
        Ok(Some(Arc::new(topics)))
    }

    fn refused(&self, peer: IpAddr, r: &Refused<'_>) {
        tracing::info!(
            client_id = r.client_id,
            %peer,
            code = r.code,
            "mqtt: refused: {}",
            r.message
        );
        let source = if r.client_id.is_empty() {
            r.sender.unwrap_or("")
        } else {
            r.client_id
        };
        self.on_refusal.call(&MqttRefusal {
            source,
            sender: r.sender,
            code: r.code,
            message: &r.message,
        });
        if let Some(t) = &self.throttle {
            t.failed(peer);
        }
    }
}

/// What a connected device may do: publish on its outbox, subscribe to its acknowledgements
/// and its inbox, exactly (no wildcards, no shared subscriptions).
struct DeviceTopics {
    name: String,
    client_id: String,
    out: String,
    ack: String,
    inbox: String,
    peer: IpAddr,
    auth: BrokerAuth,
}

impl std::fmt::Debug for DeviceTopics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeviceTopics({})", self.name)
    }
}

impl DeviceTopics {
    fn forbidden(&self, what: &str, topic: &str) {
        self.auth.refused(
            self.peer,
            &Refused {
                client_id: &self.client_id,
                sender: Some(&self.name),
                code: "forbidden_topic",
                message: format!("device {} may not {what} {topic}", self.name),
            },
        );
    }
}

impl Authorizer for DeviceTopics {
    fn may_publish(&self, topic: &str) -> bool {
        let ok = topic == self.out;
        if !ok {
            self.forbidden("publish on", topic);
        }
        ok
    }

    fn may_subscribe(&self, filter: &str) -> bool {
        let ok = filter == self.ack || filter == self.inbox;
        if !ok {
            self.forbidden("subscribe to", filter);
        }
        ok
    }
}
