//! Shared state of the HTTP server: the ledger, its committer, the operator token, the event
//! bus and the metrics.

use std::sync::Arc;

use m2mhub_ledger::{Committed, Committer, Ledger};
use tokio::sync::broadcast;

use crate::{
    events::Event,
    metrics::Metrics,
    security::{self, Recorded, SecurityEvents},
    simulated::SimulatedKeys,
    throttle::FailureThrottle,
};

/// Default cap on authentication failures per source: a burst of this many…
pub const FAILURE_BURST: u32 = 200;
/// …refilled at this many per second.
pub const FAILURE_RATE: f64 = 20.0;

/// Everything a handler may need. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The ledger (reads go straight to it).
    pub ledger: Arc<Ledger>,
    /// Group commit for writes.
    pub committer: Committer,
    /// The operator token (compared in constant time).
    pub token: Arc<str>,
    /// New entries and blocks, for `GET /v1/events`.
    pub events: broadcast::Sender<Event>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Keys of the simulated devices the hub signs for.
    pub simulated: Arc<SimulatedKeys>,
    /// Authentication failures per source address.
    pub throttle: Arc<FailureThrottle>,
    /// Refused submissions kept for the operator (SPEC §3.2).
    pub security: Arc<SecurityEvents>,
    /// This hub's federation (SPEC §7), when started with `--federation`.
    pub federation: Option<Arc<crate::federation::Federated>>,
    /// Where federated messages recorded by other members go (SPEC §7).
    pub forwarder: Option<Arc<crate::forward::Forwarder>>,
    /// Turns true when the server shuts down, so long-lived streams end.
    pub closing: tokio::sync::watch::Receiver<bool>,
    closer: Arc<tokio::sync::watch::Sender<bool>>,
}

impl AppState {
    /// State over `ledger`: starts its committer and hooks events and metrics to its blocks.
    pub fn new(ledger: Arc<Ledger>, token: String) -> m2mhub_ledger::Result<AppState> {
        Self::with_commit_queue(ledger, token, m2mhub_ledger::DEFAULT_MAX_QUEUED)
    }

    /// [`AppState::new`] whose committer holds at most `max_queued` entries in flight; past it
    /// submissions are answered 503 `busy` with `Retry-After`.
    pub fn with_commit_queue(
        ledger: Arc<Ledger>,
        token: String,
        max_queued: usize,
    ) -> m2mhub_ledger::Result<AppState> {
        let committer = Committer::start_with(ledger.clone(), max_queued)?;
        let (events, _) = broadcast::channel(4096);
        let metrics = Arc::new(Metrics::new());
        let m = metrics.clone();
        committer.observe(move |_, took| m.answered(took));
        let (tx, m) = (events.clone(), metrics.clone());
        ledger.on_commit(move |c: &Committed| {
            m.committed(c);
            // No receivers is fine: nobody is watching.
            for e in Event::of_block(c) {
                let _ = tx.send(e);
            }
        });
        let (closer, closing) = tokio::sync::watch::channel(false);
        Ok(AppState {
            ledger,
            committer,
            token: Arc::from(token),
            events,
            metrics,
            simulated: Arc::new(SimulatedKeys::none()),
            throttle: Arc::new(FailureThrottle::new(FAILURE_BURST, FAILURE_RATE)),
            security: Arc::new(SecurityEvents::in_memory(security::Bound::default())?),
            federation: None,
            forwarder: None,
            closing,
            closer: Arc::new(closer),
        })
    }

    /// Lets the hub hold simulated devices' keys in `dir` (usually `DATA/simulated`).
    pub fn with_simulated_keys(mut self, dir: &std::path::Path) -> Result<AppState, String> {
        self.simulated = Arc::new(SimulatedKeys::in_dir(dir)?);
        Ok(self)
    }

    /// Makes the hub a federation member: a witness of the others, its checkpoints served
    /// with their cosignatures (SPEC §7).
    /// Also starts forwarding (SPEC §7) to the other members: call it inside the runtime.
    pub fn with_federation(mut self, federation: Arc<crate::federation::Federated>) -> AppState {
        let others: Vec<(String, String)> = federation
            .others()
            .map(|m| (m.name.to_string(), m.url.clone()))
            .collect();
        let metrics = self
            .metrics
            .federation(others.iter().map(|(n, _)| n.as_str()));
        self.forwarder = Some(Arc::new(crate::forward::Forwarder::start(
            others.iter().map(|(n, u)| (n.as_str(), u.as_str())),
            metrics,
        )));
        self.federation = Some(federation);
        self
    }

    /// Caps authentication failures per source at `burst`, refilled at `per_sec`.
    pub fn with_failure_limit(mut self, burst: u32, per_sec: f64) -> AppState {
        self.throttle = Arc::new(FailureThrottle::new(burst, per_sec));
        self
    }

    /// Keeps security events in `store` (usually `DIR/security-events.redb`, see
    /// [`SecurityEvents::open`]) rather than in memory.
    pub fn with_security_events(mut self, store: SecurityEvents) -> AppState {
        self.security = Arc::new(store);
        self
    }

    /// Every refused submission, HTTP or MQTT, passes here (SPEC §3.2): counted by code and
    /// kept as a security event; an event the store's writer had no room for is counted as
    /// dropped. Never blocks.
    pub fn refused(&self, r: &security::Refusal<'_>) {
        self.metrics.refusal(r.code);
        if self.security.record(r) == Recorded::Dropped {
            self.metrics.security_event_dropped();
        }
    }

    /// Ends long-lived streams (SSE) so a graceful shutdown can finish.
    pub fn close(&self) {
        self.closer.send_replace(true);
    }
}
