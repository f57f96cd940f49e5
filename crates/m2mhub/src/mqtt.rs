//! The MQTT options of `serve` and `demo` (`docs/MQTT.md`), and starting the hub's MQTT side.

use std::{
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    sync::Arc,
};

use anyhow::Context;
use m2mhub_client::{
    mqtt::BrokerConfig,
    wire::{Refusal as WireRefusal, Topics},
};
use m2mhub_mqtt::{
    BrokerAuth, ConnectThrottle, EmbeddedBroker, ForwardHook, Forwarded, HubConfig, MqttHub,
    Policy, RefusalHook, Release,
};
use m2mhub_server::{
    security::{Refusal, Transport},
    throttle::FailureThrottle,
};

/// MQTT options.
#[derive(Debug, Clone, clap::Args)]
pub struct MqttArgs {
    /// Run an embedded MQTT 3.1.1 and 5 broker (on --mqtt-listen) and record what devices
    /// publish on it.
    #[arg(long)]
    pub mqtt: bool,
    /// Where the embedded broker listens. Beyond loopback, devices must sign their CONNECT.
    #[arg(long, default_value = "127.0.0.1:1883")]
    pub mqtt_listen: SocketAddr,
    /// Devices must sign their CONNECT to the embedded broker and keep to their own topics
    /// (SPEC §5.2) on loopback too (always so beyond loopback).
    #[arg(long, conflicts_with = "mqtt_connect")]
    pub mqtt_auth: bool,
    /// Join an external broker instead: mqtt://[user[:password]@]host[:port] or mqtts://… (TLS).
    #[arg(long, conflicts_with = "mqtt")]
    pub mqtt_connect: Option<String>,
    /// PEM file of the CA certificates to trust for mqtts:// (default: the system's roots).
    #[arg(long, requires = "mqtt_connect")]
    pub mqtt_ca: Option<PathBuf>,
    /// Username for the external broker (password from M2MHUB_MQTT_PASSWORD).
    #[arg(long, requires = "mqtt_connect")]
    pub mqtt_username: Option<String>,
    /// The hub's MQTT client id; the broker keeps its session under it. A federation member
    /// gets `m2mhub-{its name}` by default, so members can share a broker.
    #[arg(long, default_value = "m2mhub")]
    pub mqtt_client_id: String,
    /// audit: deliver every message, flag invalid ones; enforce: hold invalid messages back.
    #[arg(long, default_value = "audit")]
    pub policy: Policy,
}

impl MqttArgs {
    /// Whether the embedded broker authenticates devices: beyond loopback always (SPEC §5.2),
    /// on loopback with --mqtt-auth.
    pub fn authenticates(&self) -> bool {
        self.mqtt_auth || !self.mqtt_listen.ip().is_loopback()
    }

    /// The broker the hub joins, starting the embedded one (checking devices' CONNECTs
    /// against `state`'s registry) if that is the choice.
    fn broker(&self, state: &m2mhub_server::AppState) -> anyhow::Result<Option<BrokerConfig>> {
        if let Some(url) = &self.mqtt_connect {
            let mut b = BrokerConfig::parse(url)?;
            b.ca_file.clone_from(&self.mqtt_ca);
            if let Some(user) = &self.mqtt_username {
                b.username = Some(user.clone());
            }
            if let Ok(pass) = std::env::var("M2MHUB_MQTT_PASSWORD") {
                b.password = Some(pass);
            }
            return Ok(Some(b));
        }
        if !self.mqtt {
            return Ok(None);
        }
        let auth = self.authenticates().then(|| BrokerAuth {
            ledger: state.ledger.clone(),
            hub_client_id: self.client_id(state),
            on_refusal: refusal_hook(state),
            throttle: Some(Arc::new(SharedThrottle(state.throttle.clone()))),
            topics: topics(state),
        });
        let broker = EmbeddedBroker::start_with_topics(self.mqtt_listen, auth, &topics(state))
            .with_context(|| format!("starting the embedded broker on {}", self.mqtt_listen))?;
        let how = if broker.authenticates() {
            "devices sign their CONNECT"
        } else {
            "no device authentication: loopback only"
        };
        println!("mqtt broker on {} (embedded; {how})", broker.url());
        Ok(Some(broker.hub_config()))
    }

    /// Starts the hub's MQTT side on the server's committer, counting refusals and keeping them
    /// as security events, if MQTT is on; returns it and its broker.
    pub async fn start(
        &self,
        state: &m2mhub_server::AppState,
    ) -> anyhow::Result<Option<(MqttHub, BrokerConfig)>> {
        let Some(broker) = self.broker(state)? else {
            return Ok(None);
        };
        let (host, port) = (broker.host.clone(), broker.port);
        // The embedded broker dies with the hub: holding its PUBACKs would keep nothing safer.
        let release = if self.mqtt_connect.is_some() {
            Release::AfterCommit
        } else {
            Release::OnReceipt
        };
        let hub = MqttHub::start(
            HubConfig {
                broker: broker.clone(),
                client_id: self.client_id(state),
                policy: self.policy,
                release,
                on_refusal: refusal_hook(state),
                topics: topics(state),
                forward: forward_hook(state),
            },
            state.committer.clone(),
        )
        .await
        .with_context(|| format!("joining the MQTT broker at {host}:{port}"))?;
        println!(
            "mqtt: recording {} on {host}:{port} (policy {:?})",
            topics(state).out_filter(),
            self.policy
        );
        Ok(Some((hub, broker)))
    }
}

/// Counts every MQTT refusal and keeps it as a security event (SPEC §3.2).
fn refusal_hook(state: &m2mhub_server::AppState) -> RefusalHook {
    let state = state.clone();
    RefusalHook::new(move |r| {
        state.refused(&Refusal {
            transport: Transport::Mqtt,
            source: Some(r.source),
            sender: r.sender,
            code: r.code,
            message: r.message,
        });
    })
}

/// The HTTP API's authentication-failure throttle, charged by refused CONNECTs too: a source
/// that floods one door is slowed at both.
struct SharedThrottle(Arc<FailureThrottle>);

impl ConnectThrottle for SharedThrottle {
    fn allows(&self, peer: IpAddr) -> bool {
        self.0.check(Some(peer)).is_ok()
    }

    fn failed(&self, peer: IpAddr) {
        self.0.failed(Some(peer), 1);
    }
}

impl MqttArgs {
    /// The hub's client id: a federation member's default is `m2mhub-{its name}`, since the
    /// members may share a broker and a broker keeps one session per client id.
    fn client_id(&self, state: &m2mhub_server::AppState) -> String {
        match &state.federation {
            Some(f) if self.mqtt_client_id == "m2mhub" => format!("m2mhub-{}", f.me.name),
            _ => self.mqtt_client_id.clone(),
        }
    }
}

/// The hub's topics: `m2m/{its name}/…` in a federation (SPEC §7), else `m2m/…`.
fn topics(state: &m2mhub_server::AppState) -> Topics {
    Topics::of(state.federation.as_ref().map(|f| f.me.name.as_str()))
}

/// In a federation, messages another member records are authenticated here and forwarded
/// (SPEC §7); the device is answered with that member's record or refusal.
fn forward_hook(state: &m2mhub_server::AppState) -> ForwardHook {
    if state.forwarder.is_none() {
        return ForwardHook::default();
    }
    let s = state.clone();
    ForwardHook::new(move |m, json| {
        let refused = |e: m2mhub_server::error::ApiError| -> Forwarded {
            let r = WireRefusal {
                error: e.code.to_owned(),
                message: e.message,
            };
            Box::pin(async move { Err(r) })
        };
        let home = match m2mhub_server::forward::recording_member(&s, m) {
            Ok(None) => return None,
            Ok(Some(home)) => home,
            Err(e) => return Some(refused(e)),
        };
        let forwarder = s.forwarder.clone()?;
        let raw = match std::str::from_utf8(json)
            .ok()
            .and_then(|j| serde_json::value::RawValue::from_string(j.to_owned()).ok())
        {
            Some(raw) => raw,
            None => {
                return Some(refused(m2mhub_server::error::ApiError::malformed(
                    "the payload is not one JSON value",
                )));
            }
        };
        let answer = forwarder.forward_owned(home, raw);
        Some(Box::pin(async move {
            match answer.await {
                Ok((status, body)) if status.is_success() => serde_json::from_slice::<
                    m2mhub_ledger::Record,
                >(&body)
                .map_err(|e| WireRefusal {
                    error: "unavailable".into(),
                    message: format!("the recording hub's answer is no record: {e}"),
                }),
                Ok((_, body)) => Err(serde_json::from_slice::<WireRefusal>(&body).unwrap_or(
                    WireRefusal {
                        error: "unavailable".into(),
                        message: "the recording hub's answer is no error body".into(),
                    },
                )),
                Err(e) => Err(WireRefusal {
                    error: e.code.to_owned(),
                    message: e.message,
                }),
            }
        }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(listen: &str, mqtt_auth: bool) -> MqttArgs {
        MqttArgs {
            mqtt: true,
            mqtt_listen: listen.parse().unwrap(),
            mqtt_auth,
            mqtt_connect: None,
            mqtt_ca: None,
            mqtt_username: None,
            mqtt_client_id: "m2mhub".into(),
            policy: Policy::Audit,
        }
    }

    #[test]
    fn devices_authenticate_beyond_loopback_always_and_on_loopback_on_request() {
        for listen in ["0.0.0.0:1883", "[::]:1883", "192.0.2.7:1883"] {
            assert!(args(listen, false).authenticates(), "{listen}");
        }
        for listen in ["127.0.0.1:1883", "[::1]:1883"] {
            assert!(!args(listen, false).authenticates(), "{listen}");
            assert!(args(listen, true).authenticates(), "{listen}");
        }
    }
}
